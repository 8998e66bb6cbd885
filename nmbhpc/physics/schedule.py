"""Time dependence of the self-interaction strength mu(t).

mu is in units of omega0 and t in units of 1/omega0. Solvers that step with a
piecewise-constant Hamiltonian (the exact many-body engine) evaluate mu at the
midpoint of each sub-step no longer than ``max_step``; that exponential
midpoint rule is second-order accurate in the sub-step.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def bulb_geometric_factor(r: np.ndarray, radius: float) -> np.ndarray:
    """Single-angle bulb-model factor ``D(r) = (1 - sqrt(1 - (R/r)^2))^2 / 2``.

    Duan, Fuller, Carlson & Qian, PRD 74, 105014 (2006), Eq. (8): the
    neutrino-neutrino coupling above a neutrinosphere of radius R falls like
    D(r), i.e. ~ R^4 / (8 r^4) at large r.
    """
    x = np.clip(radius / np.asarray(r, dtype=np.float64), 0.0, 1.0)
    return 0.5 * (1.0 - np.sqrt(1.0 - x * x)) ** 2


@dataclass(frozen=True)
class MuSchedule:
    """mu(t) in units of omega0.

    kind : "constant" | "table" | "bulb"
        constant: ``mu(t) = mu0``.
        table: linear interpolation in (``times``, ``values``), held constant
        outside the table.
        bulb: ``mu(t) = mu0 * D(r0 + t) / D(r0)`` with D the bulb geometric
        factor for neutrinosphere radius ``radius`` (lengths in 1/omega0, c = 1).
    max_step : float
        Longest sub-step over which a stepping solver may hold mu constant
        (ignored for constant mu).
    """

    kind: str = "constant"
    mu0: float = 0.0
    times: tuple = ()
    values: tuple = ()
    r0: float = 1.0
    radius: float = 1.0
    max_step: float = 0.05

    @property
    def is_constant(self) -> bool:
        return self.kind == "constant"

    def __call__(self, t) -> np.ndarray | float:
        t = np.asarray(t, dtype=np.float64)
        if self.kind == "constant":
            out = np.full(t.shape, float(self.mu0))
        elif self.kind == "table":
            out = np.interp(t, np.asarray(self.times), np.asarray(self.values))
        elif self.kind == "bulb":
            d0 = bulb_geometric_factor(self.r0, self.radius)
            out = self.mu0 * bulb_geometric_factor(self.r0 + t, self.radius) / d0
        else:  # validated at the config edge; this is a programming error
            raise ValueError(f"unknown mu schedule kind {self.kind!r}")
        return float(out) if out.ndim == 0 else out

    def substeps(self, t0: float, t1: float) -> list[tuple[float, float, float]]:
        """Split [t0, t1] into (start, dt, mu) pieces with mu held at the midpoint."""
        if t1 <= t0:
            return []
        if self.is_constant:
            return [(t0, t1 - t0, float(self.mu0))]
        n = max(1, int(np.ceil((t1 - t0) / self.max_step - 1e-12)))
        edges = np.linspace(t0, t1, n + 1)
        mids = 0.5 * (edges[1:] + edges[:-1])
        mus = self(mids)
        return [(float(a), float(b - a), float(m)) for a, b, m in zip(edges[:-1], edges[1:], np.atleast_1d(mus))]
