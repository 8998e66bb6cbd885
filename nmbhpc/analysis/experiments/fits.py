"""Ordinary least-squares fits with parameter covariances (numpy only).

``fit_line(x, y)`` fits ``y = a + b x``. Without ``sigma`` the covariance is
``s^2 (X^T X)^-1`` with ``s^2 = RSS / (n - 2)`` (the scatter of the points sets
the error, as ``scipy.optimize.curve_fit`` with ``absolute_sigma=False``); with
``sigma`` the fit is weighted and the covariance is ``(X^T W X)^-1``
(``absolute_sigma=True``). ``fit_power_law(x, y)`` fits ``log y = log A + p log x``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np


@dataclass(frozen=True)
class LineFit:
    """``y = a + b x``; ``cov`` is the 2x2 covariance of ``(a, b)``."""

    a: float
    b: float
    cov: np.ndarray
    n: int
    rss: float

    @property
    def sigma_a(self) -> float:
        return float(np.sqrt(self.cov[0, 0]))

    @property
    def sigma_b(self) -> float:
        return float(np.sqrt(self.cov[1, 1]))

    def __call__(self, x):
        return self.a + self.b * np.asarray(x, dtype=np.float64)

    def solve_for_x(self, y: float) -> tuple[float, float]:
        """``x`` with ``a + b x = y`` and its standard error (linear propagation of cov)."""
        x = (y - self.a) / self.b
        grad = np.array([-1.0 / self.b, -(y - self.a) / self.b ** 2])
        return float(x), float(np.sqrt(max(grad @ self.cov @ grad, 0.0)))


def fit_line(x, y, sigma: Optional[np.ndarray] = None) -> LineFit:
    """Least-squares ``y = a + b x`` with covariance (module docstring). Needs >= 3 points
    without ``sigma`` (to estimate the scatter), >= 2 with it."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-d of equal length, got {x.shape} and {y.shape}")
    n = len(x)
    if n < (2 if sigma is not None else 3) or np.ptp(x) == 0:
        raise ValueError(f"need at least {2 if sigma is not None else 3} points with distinct x, got {n}")
    X = np.stack([np.ones(n), x], axis=1)
    w = np.ones(n) if sigma is None else 1.0 / np.asarray(sigma, dtype=np.float64) ** 2
    XtWX = X.T @ (w[:, None] * X)
    coef = np.linalg.solve(XtWX, X.T @ (w * y))
    resid = y - X @ coef
    rss = float(np.sum(w * resid ** 2))
    cov = np.linalg.inv(XtWX)
    if sigma is None:
        cov = cov * rss / (n - 2)
    return LineFit(float(coef[0]), float(coef[1]), cov, n, rss)


@dataclass(frozen=True)
class PowerLawFit:
    """``y = A x^p`` from a line fit in log-log: ``log y = log A + p log x``."""

    line: LineFit

    @property
    def exponent(self) -> float:
        return self.line.b

    @property
    def sigma_exponent(self) -> float:
        return self.line.sigma_b

    @property
    def prefactor(self) -> float:
        return float(np.exp(self.line.a))

    def __call__(self, x):
        return np.exp(self.line(np.log(x)))


def fit_power_law(x, y) -> PowerLawFit:
    """Fit ``y = A x^p`` (x, y > 0) by least squares in log-log."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if np.any(x <= 0) or np.any(y <= 0):
        raise ValueError("power-law fit needs positive x and y")
    return PowerLawFit(fit_line(np.log(x), np.log(y)))
