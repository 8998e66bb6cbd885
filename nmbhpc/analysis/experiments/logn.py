"""Eqs. (20)-(25): departure time tau(N) from an unstable fixed point, seeded by quantum
fluctuations only; fit ``tau = a + b log N`` and compare ``b`` with ``1/(2 Omega)``.

Input: runs of one model (any solvers: manybody, twa, cumulant) at several N whose
initial state is a mean-field fixed point (e.g. bipolar, inverted, theta = 0).
Per run: ``tau_dep`` (deviation from the fixed point > ``f_dep``) and ``tau_conv``
(conversion fraction > ``f_conv``), see :mod:`.measures`. Per solver and measure: the
line fit over runs with ``N >= fit_min_n`` (natural log), the predicted slope
``1/(2 Omega)`` and the ratio ``b * 2 Omega``. Times in 1/omega0. Not collective.
"""
from __future__ import annotations

import os

import numpy as np

from . import measures, report
from .fits import fit_line

MEASURES = ("tau_dep", "tau_conv")


def run_table(runs, f_dep: float, f_conv: float) -> list[dict]:
    """One row per run: solver, N, tau_dep, tau_conv (None: not reached in the run); the
    tau of Eqs. (23)-(25) with the fractions f_dep, f_conv."""
    rows = []
    for r in sorted(runs, key=lambda r: (r.solver, r.n_total)):
        rows.append({"run": r.name, "solver": r.solver, "N": r.n_total,
                     "tau_dep": measures.first_crossing(r.time, measures.deviation(r), f_dep),
                     "tau_conv": measures.first_crossing(r.time, measures.conversion(r), f_conv),
                     "t_final": float(r.time[-1])})
    return rows


def fit_table(rows: list[dict], omega: float, fit_min_n: int) -> list[dict]:
    """Fits ``tau = a + b ln N`` per solver and measure (solvers with >= 3 usable points).

    Eq. (25) predicts ``b = 1/(2 Omega)`` (Omega of Eq. (22)); the ratio ``b * 2 Omega``
    is reported."""
    out = []
    for solver in sorted({r["solver"] for r in rows}):
        for m in MEASURES:
            pts = [(r["N"], r[m]) for r in rows
                   if r["solver"] == solver and r[m] is not None and r["N"] >= fit_min_n]
            if len(pts) < 3:
                continue
            n, tau = np.array(pts, dtype=np.float64).T
            fit = fit_line(np.log(n), tau)
            pred = 1.0 / (2.0 * omega) if omega > 0 else float("nan")
            out.append({"solver": solver, "measure": m, "points": len(pts),
                        "N_min": int(n.min()), "N_max": int(n.max()),
                        "a": fit.a, "sigma_a": fit.sigma_a, "b": fit.b, "sigma_b": fit.sigma_b,
                        "b_pred_1/(2Omega)": pred, "ratio_b*2Omega": fit.b / pred,
                        "sigma_ratio": fit.sigma_b / pred})
    return out


def analyze(runs, outdir: str, f_dep: float = 0.01, f_conv: float = 0.1,
            fit_min_n: int = 100) -> dict:
    """Write ``logN_runs.csv``, ``logN_fits.csv``, ``logN.md``, ``logN.png``; return the tables."""
    if not runs:
        raise ValueError("no completed runs")
    keys = {r.model_key for r in runs}
    if len(keys) > 1:
        raise ValueError(f"the runs hold {len(keys)} different models (theta, mu, omegas, beam "
                         "fractions, coupling); a log N scan varies N only")
    omega = measures.growth_rate(runs[0].model)
    rows = run_table(runs, f_dep, f_conv)
    fits = fit_table(rows, omega, fit_min_n)
    os.makedirs(outdir, exist_ok=True)
    report.write_csv(os.path.join(outdir, "logN_runs.csv"), rows)
    report.write_csv(os.path.join(outdir, "logN_fits.csv"), fits or [{"note": "fewer than 3 points"}])
    with open(os.path.join(outdir, "logN.md"), "w") as fh:
        fh.write(f"# log N scaling (Eqs. 20-25)\n\nModel of {runs[0].name}: theta = {runs[0].theta:g}, "
                 f"mu = {runs[0].mu:g}; linear stability Omega = {omega:.6g} (1/(2 Omega) = "
                 f"{0.5 / omega if omega > 0 else float('nan'):.6g}). f_dep = {f_dep:g} "
                 f"(deviation from the fixed point), f_conv = {f_conv:g} (conversion fraction); "
                 f"fits over N >= {fit_min_n}, tau = a + b ln N, 1-sigma errors from the scatter.\n\n"
                 "## Runs\n\n" + report.markdown_table(rows) + "\n## Fits\n\n"
                 + report.markdown_table(fits) + "\n")
    from ...plots import experiments as figures

    figures.logn(runs, rows, fits, omega, f_conv, os.path.join(outdir, "logN.png"))
    return {"runs": rows, "fits": fits, "omega": omega}
