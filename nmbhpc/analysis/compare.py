"""Compare the one-body trajectories of two or more runs (any solvers).

For a reference run A and another run B, on A's output times inside the
common time range (B linearly interpolated in time):

    d_p(t)  = |P_p^A(t) - P_p^B(t)|        (per mode, flavor-frame polarisations)
    D(t)    = max_p d_p(t)
    tau     = first t with D(t) > f        (the departure time of Eq. (23):
                                            the deviation has grown to a fraction f)

``tau`` is refined by linear interpolation of D between the bracketing output
times; None if D never exceeds f. Times in 1/omega0. Not collective.

Runs that already differ by more than f at the first common time have
``tau = t0`` (:attr:`Comparison.starts_apart`): that is not a departure. The usual
cause is a TWA run with few samples: its records are sample means, whose noise
at t0 is about ``1/sqrt(2 j S)`` per component for S samples of spin-j modes
(0.35 for j = 1/2, S = 8), so f must exceed it (or S must grow) for tau to mean
anything.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np


@dataclass(frozen=True)
class Comparison:
    """Deviation of run ``other`` from run ``reference`` (see module docstring)."""

    reference: str
    other: str
    time: np.ndarray            # [T] common times (reference's)
    deviation: np.ndarray       # [T, M] |P_A - P_B| per mode
    max_deviation: np.ndarray   # [T]
    fraction: float
    departure_time: Optional[float]

    @property
    def starts_apart(self) -> bool:
        """D(t0) > f already at the first common time: ``departure_time`` is t0 and
        measures no departure (module docstring)."""
        return bool(self.max_deviation[0] > self.fraction)


def interpolate_series(t_src: np.ndarray, values: np.ndarray, t_dst: np.ndarray) -> np.ndarray:
    """Linear interpolation along axis 0 of ``values[T_src, ...]`` to ``t_dst`` (inside the range)."""
    t_src = np.asarray(t_src, dtype=np.float64)
    flat = np.asarray(values, dtype=np.float64).reshape(len(t_src), -1)
    idx = np.clip(np.searchsorted(t_src, t_dst, side="right") - 1, 0, max(len(t_src) - 2, 0))
    if len(t_src) == 1:
        return np.repeat(flat, len(t_dst), axis=0).reshape((len(t_dst),) + values.shape[1:])
    w = ((t_dst - t_src[idx]) / (t_src[idx + 1] - t_src[idx]))[:, None]
    out = (1.0 - w) * flat[idx] + w * flat[idx + 1]
    return out.reshape((len(t_dst),) + values.shape[1:])


def departure_time(time: np.ndarray, max_dev: np.ndarray, fraction: float) -> Optional[float]:
    """First time ``max_dev`` exceeds ``fraction`` (linear interpolation); None if never."""
    above = np.nonzero(max_dev > fraction)[0]
    if above.size == 0:
        return None
    k = int(above[0])
    if k == 0:
        return float(time[0])
    d0, d1 = max_dev[k - 1], max_dev[k]
    return float(time[k - 1] + (fraction - d0) / (d1 - d0) * (time[k] - time[k - 1]))


def compare_polarizations(time_a, pol_a, time_b, pol_b, fraction: float,
                          reference: str = "A", other: str = "B") -> Comparison:
    """Deviation of trajectory B from trajectory A (arrays ``[T, M, 3]``)."""
    time_a = np.asarray(time_a, dtype=np.float64)
    time_b = np.asarray(time_b, dtype=np.float64)
    if pol_a.shape[1:] != pol_b.shape[1:]:
        raise ValueError(f"{other}: {pol_b.shape[1]} modes, but {reference} has {pol_a.shape[1]}")
    lo, hi = max(time_a[0], time_b[0]), min(time_a[-1], time_b[-1])
    keep = (time_a >= lo - 1e-12 * max(1.0, abs(lo))) & (time_a <= hi + 1e-12 * max(1.0, abs(hi)))
    if not keep.any():
        raise ValueError(f"{reference} and {other} have no common time range")
    t = time_a[keep]
    pb = interpolate_series(time_b, pol_b, np.clip(t, time_b[0], time_b[-1]))
    dev = np.linalg.norm(np.asarray(pol_a, dtype=np.float64)[keep] - pb, axis=-1)
    dmax = dev.max(axis=1)
    return Comparison(reference, other, t, dev, dmax, float(fraction), departure_time(t, dmax, fraction))


def compare_runs(runs, fraction: float) -> list[Comparison]:
    """Compare each of ``runs[1:]`` (RunData) with ``runs[0]``."""
    ref = runs[0]
    return [compare_polarizations(ref.time, ref.polarization, r.time, r.polarization, fraction,
                                  ref.path, r.path) for r in runs[1:]]

