"""The time-scale hierarchy of Eq. (17) of Johns, arXiv:2305.04916, on a run's clock.

    tau_vac, tau_int  <<  tau_mfp^fs  <<  tau_mfp^c    (and the run time t against them)

One function builds these rows for every solver's table: the spin solvers'
(:mod:`nmbhpc.hierarchy.runs`) and the kinetic solver's
(:mod:`nmbhpc.hierarchy.kinetic`). Code units: frequencies in omega0, times in 1/omega0.
"""
from __future__ import annotations

import math
from typing import Optional

from .physical import Conditions, tau_collision, tau_forward, tau_int
import numpy as np

from .table import Inequality, Row, value

#: Eq. (17) inequalities whose failure the tables report but the window checks do
#: not warn about, and why (printed under the failing row).
NOT_WARNED = {
    "t << tau_mfp^fs": "not a window warning: collective flavor evolution needs Sigma t >> 1, "
                       "and molecular chaos extends first-order kinetics past tau_mfp^fs "
                       "(Sec. III, after Eq. 17)",
}


def ieee_div(a: float, b: float) -> float:
    """a / b in IEEE arithmetic (inf or nan, never ZeroDivisionError) for extreme runs."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return float(np.float64(a) / np.float64(b))


def eq17_rows(cond: Conditions, t: float, sigma: float, omega_max: float,
              gamma: Optional[float], gamma_formula: str, fs_phase: float,
              fs_phase_formula: str, solver_name: str) -> list[Row]:
    """The rows tau_vac ... t/tau_mfp^c shared by every solver's table (code units).

    ``sigma`` is the forward-scattering rate, ``gamma`` the run's collision rate
    (None: collisionless, tau_mfp^c then comes from ``cond``'s ratio),
    ``fs_phase`` = t / tau_mfp^fs. The physical ratios Sigma/E and
    tau_mfp^fs / tau_mfp^c of ``cond`` are carried onto the run's clock.
    """
    tau_fs = math.inf if sigma == 0 else ieee_div(1.0, sigma)
    sigma_over_e = tau_int(cond) / tau_forward(cond)
    fs_over_c = tau_forward(cond) / tau_collision(cond)
    t_int = sigma_over_e * tau_fs if sigma > 0 else math.nan   # no clock to map onto
    if gamma is not None:
        tau_c = math.inf if gamma == 0 else ieee_div(1.0, gamma)
        tau_c_formula = gamma_formula
    else:
        tau_c = ieee_div(tau_fs, fs_over_c) if fs_over_c > 0 else math.inf
        tau_c_formula = f"tau_mfp^fs / {fs_over_c:.3g} (collisionless run; ratio from {cond.label})"
    return [
        Row("tau_vac", ieee_div(1.0, omega_max) if omega_max else math.inf, "1/omega0", "1 / max|omega|"),
        Row("tau_mfp^fs", tau_fs, "1/omega0", "1 / Sigma"),
        Row("tau_int", t_int, "1/omega0",
            f"(Sigma/E = {sigma_over_e:.3g}, {cond.label}) tau_mfp^fs; absent from {solver_name}"),
        Row("tau_mfp^c", tau_c, "1/omega0", tau_c_formula),
        Row("Gamma/Sigma", (ieee_div(gamma, sigma) if sigma else math.inf) if gamma is not None
            else math.nan, "1", "collision vs forward-scattering rate (runs with collisions)"),
        Row("t/tau_mfp^fs", fs_phase, "1", fs_phase_formula),
        Row("tau_int/t", ieee_div(t_int, t) if t > 0 else math.inf * t_int, "1", "Eq. (17)"),
        Row("t/tau_mfp^c", ieee_div(t, tau_c), "1", "collisions matter when >~ 1"),
    ]


def eq17_inequalities(rows: list[Row], threshold: float) -> list[Inequality]:
    """Eq. (17), tau_int << t << tau_mfp^fs << tau_mfp^c, on a table holding
    :func:`eq17_rows` and ``t``; a failure in :data:`NOT_WARNED` carries its note."""
    t = value(rows, "t")
    fs_phase = value(rows, "t/tau_mfp^fs")
    name = "t << tau_mfp^fs"
    return [
        Inequality.test("tau_int << t", value(rows, "tau_int"), t, threshold),
        Inequality(name, fs_phase, threshold, bool(fs_phase < threshold), NOT_WARNED[name]),
        Inequality.test("tau_mfp^fs << tau_mfp^c", value(rows, "tau_mfp^fs"),
                        value(rows, "tau_mfp^c"), threshold),
    ]


def eq17_warnings(rows: list[Row], gamma: Optional[float], solver_name: str,
                  threshold: float) -> list[str]:
    """Window warnings from the Eq. (17) rows: every inequality of
    :func:`eq17_inequalities` that fails (except those in :data:`NOT_WARNED`) and a
    collisionless run longer than tau_mfp^c. ``gamma`` as for :func:`eq17_rows`."""
    v = {r.name: r.value for r in rows}
    ineq = {i.name: i for i in eq17_inequalities(rows, threshold)}
    out = []
    if ineq["tau_int << t"].holds is False:
        out.append(f"tau_int/t = {ineq['tau_int << t'].ratio:.3g} is not << 1 (threshold "
                   f"{threshold:g}): tau_int << t of Eq. (17) fails, the run is not long "
                   "compared with the interaction time (the kinetic and mean-field equations "
                   "are its t >> tau_int limit)")
    if gamma is None and v["t/tau_mfp^c"] > 1.0:
        out.append(f"elapsed time t = {v['t']:.4g}/omega0 exceeds the collision time "
                   f"tau_mfp^c ~ {v['tau_mfp^c']:.3g}/omega0 but the {solver_name} run has "
                   "no collisions")
    if gamma is None and ineq["tau_mfp^fs << tau_mfp^c"].holds is False:
        out.append(f"tau_mfp^fs/tau_mfp^c = {ineq['tau_mfp^fs << tau_mfp^c'].ratio:.3g} of the "
                   f"physical conditions is not << 1 (threshold {threshold:g}): tau_mfp^fs << "
                   "tau_mfp^c of Eq. (17) fails, collisions are not rare next to forward "
                   "scattering and the run has none")
    if gamma is not None and gamma > 0 and not v["Gamma/Sigma"] < threshold:
        out.append(f"Gamma/Sigma = {v['Gamma/Sigma']:.3g} is not << 1 (threshold {threshold:g}): "
                   "tau_mfp^fs << tau_mfp^c of Eq. (17) fails, which the collision term assumes")
    return out
