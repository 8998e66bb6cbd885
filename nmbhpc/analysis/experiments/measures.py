"""Per-run measurements shared by the experiments (times in 1/omega0).

For a run with flavor-frame polarisations ``P_p(t)`` and a mean-field reference
trajectory ``R_p(t)``:

* deviation   ``D(t) = max_p |P_p(t) - R_p(t)|``; departure time ``tau_dep`` = first
  time ``D > f_dep`` (Eq. (23); :func:`nmbhpc.analysis.compare.departure_time`);
* conversion  ``C(t) = max_p (1 - P_p(t).P_p(0)) / 2``, the fraction of mode p's
  neutrinos that left their initial flavor state; ``tau_conv`` = first time ``C > f``.

Reference: when the initial product state is a mean-field fixed point (every
``h_p x P_p = 0``, e.g. the bipolar model at theta = 0) the mean-field trajectory
is the constant initial state, so no mean-field run is needed. Otherwise the
experiment must supply a mean-field run of the same model. Not collective.
"""
from __future__ import annotations

import dataclasses
import glob
import logging
import os
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..compare import departure_time, interpolate_series

log = logging.getLogger("nmbhpc.analysis.experiments")


@dataclass
class RunInfo:
    """A finished run and what the experiments need from its config."""

    path: str
    name: str
    solver: str
    n_total: int
    theta: float
    mu: float
    model: object          # nmbhpc.physics.model.Model
    time: np.ndarray       # [T]
    polarization: np.ndarray  # [T, M, 3]

    @property
    def model_key(self) -> tuple:
        """Identifies the model up to N and the solver (mode ratios, frequencies, coupling)."""
        m = self.model
        frac = tuple(np.round(m.counts / m.n_total, 12))
        return (round(self.theta, 15), round(self.mu, 12), tuple(np.round(m.omegas, 12)), frac,
                bool(m.single_angle), round(float(m.single_angle_factor), 12))


def load_runs(rundir: str) -> list[RunInfo]:
    """Every completed ``*.h5`` run in ``rundir`` (others skipped with a warning), by name."""
    from ...config import load_config_text
    from ...io import read_run

    out = []
    for path in sorted(glob.glob(os.path.join(rundir, "*.h5"))):
        try:
            run = read_run(path)
        except Exception as exc:  # a foreign or broken file must not stop the analysis
            log.warning("skipping %s: %s", path, exc)
            continue
        if run.status != "completed" or run.n_records < 2:
            log.warning("skipping %s: status %s, %d records", path, run.status, run.n_records)
            continue
        cfg = load_config_text(run.config_toml, source_path=path)
        model = cfg.model
        out.append(RunInfo(path, os.path.splitext(os.path.basename(path))[0], cfg.solver,
                           int(model.n_total), float(model.theta), float(model.mu.mu0),
                           model, run.time, run.polarization))
    return out


def is_fixed_point(model, tol: float = 1e-12) -> bool:
    """True if the initial product state is a mean-field equilibrium (all ``h_p x P_p = 0``).

    Only meaningful for a constant mu (checked at t = 0)."""
    s = model.initial_polarizations * (model.counts / 2.0)[:, None]
    h = model.omegas[:, None] * model.b_vector()[None, :] \
        + (float(model.mu(0.0)) / model.n_total) * (model.couplings() @ s)
    torque = np.cross(h, s)
    scale = max(1.0, float(np.abs(h).max()) * float(np.abs(s).max()))
    return bool(np.abs(torque).max() <= tol * scale)


def growth_rate(model) -> float:
    """Omega of Eq. (22) about the initial state (``nmbhpc.meanfield.stability``), 1/omega0."""
    from ...meanfield.stability import linear_stability

    return float(linear_stability(model).growth_rate)


def growth_rate_at_theta0(model) -> float:
    """Omega of the same model with theta = 0 (the unstable fixed point that mixing seeds)."""
    return growth_rate(dataclasses.replace(model, theta=0.0))


def deviation(run: RunInfo, reference: Optional[RunInfo] = None) -> np.ndarray:
    """``D(t) = max_p |P_p(t) - R_p(t)|`` on the run's times; ``reference=None`` requires a
    fixed point (the reference is then the initial state)."""
    if reference is None:
        if not is_fixed_point(run.model):
            raise ValueError(f"{run.path}: the initial state is not a mean-field fixed point; "
                             "a mean-field reference run of the same model is needed")
        ref = run.polarization[:1]
    else:
        if reference.time[-1] < run.time[-1] - 1e-9 * max(1.0, run.time[-1]):
            raise ValueError(f"reference {reference.path} ends before {run.path}")
        ref = interpolate_series(reference.time, reference.polarization, run.time)
    return np.linalg.norm(run.polarization - ref, axis=-1).max(axis=1)


def conversion(run: RunInfo) -> np.ndarray:
    """``C(t) = max_p (1 - P_p(t).P_p(0)) / 2``; its first crossing of f is the tau of Eq. (23)."""
    p0 = run.polarization[0]
    return (0.5 * (1.0 - np.einsum("tpa,pa->tp", run.polarization, p0))).max(axis=1)


def first_crossing(time: np.ndarray, series: np.ndarray, level: float) -> Optional[float]:
    """First time ``series`` exceeds ``level`` (linear interpolation), None if never."""
    return departure_time(np.asarray(time), np.asarray(series), level)


def value_at(time: np.ndarray, series: np.ndarray, t: float) -> float:
    """``series`` linearly interpolated at ``t`` (NaN outside the run's time range)."""
    if t < time[0] - 1e-12 or t > time[-1] + 1e-12:
        return float("nan")
    return float(np.interp(t, time, series))
