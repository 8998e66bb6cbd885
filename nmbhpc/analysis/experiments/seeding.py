"""Eqs. (26)-(29): seeding by vacuum mixing versus quantum noise.

Input runs (one or more directories, one model up to theta and N):
* classical runs (solver ``meanfield``) with mixing angle ``theta0 > 0``: the
  conversion time ``tau(theta0)`` (conversion fraction > f) is fitted as
  ``tau = A + B ln theta0``; Eq. (29) predicts ``B = -1/Omega`` (Omega of the
  theta = 0 fixed point), reported as the ratio ``-B Omega``;
* quantum runs (solver ``manybody``, theta = 0) at several N: ``tau_q(N)``, same f.
For each N the equivalent angle ``theta0*(N)`` solves ``A + B ln theta0* = tau_q(N)``
(error propagated from the fit covariance); when ``tau_q`` lies inside the measured
scan, ``theta0*`` is instead interpolated in the runs' own ``(tau, ln theta0)`` points
(column ``method``), so larger angles where Eq. (29) bends are still exact;
``c = theta0* sqrt(N)``; ``c_small_angle`` always uses the line (the N -> infinity
limit, where theta0* -> 0 lies on it); a power-law fit
``theta0* = c N^e`` tests e = -1/2. Times in 1/omega0, angles in rad. Not collective.
"""
from __future__ import annotations

import os

import numpy as np

from . import measures, report
from .fits import fit_line, fit_power_law


def analyze(runs, outdir: str, f_conv: float = 0.1, fit_min_n: int = 100,
            fit_max_theta: float = 1e-2) -> dict:
    """Fit ``tau = A + B ln theta0`` against Eq. (29) (``B = -1/Omega``) and match the
    quantum runs to equivalent angles ``theta0* = c/sqrt(N)`` (the ``c sqrt(N)`` fluctuation
    of Eq. (21)); write ``seeding_*.csv``, ``seeding.md``, ``seeding.png``; return the tables."""
    classical = [r for r in runs if r.solver == "meanfield" and r.theta > 0]
    # the same exact run may be found in two directories (e.g. the logN runs): one per N
    quantum = list({r.n_total: r for r in runs if r.solver == "manybody" and r.theta == 0}.values())
    if len(classical) < 3:
        raise ValueError(f"need >= 3 mean-field runs with theta > 0, got {len(classical)}")
    kinds = {r.model_key[1:] for r in classical + quantum}   # everything but theta
    if len(kinds) > 1:
        raise ValueError(f"the runs hold {len(kinds)} different models (mu, omegas, beam fractions, "
                         "coupling); seeding compares one model at different theta0 and N")
    omega = measures.growth_rate_at_theta0(classical[0].model)
    crows = []
    for r in sorted(classical, key=lambda r: r.theta):
        crows.append({"run": r.name, "theta0": r.theta,
                      "tau_conv": measures.first_crossing(r.time, measures.conversion(r), f_conv)})
    pts = [(c["theta0"], c["tau_conv"]) for c in crows
           if c["tau_conv"] is not None and c["theta0"] <= fit_max_theta]
    if len(pts) < 3:
        raise ValueError("fewer than 3 mean-field runs reached the conversion fraction")
    th, tau = np.array(pts).T
    fit = fit_line(np.log(th), tau)
    fits = [{"A": fit.a, "sigma_A": fit.sigma_a, "B": fit.b, "sigma_B": fit.sigma_b,
             "B_pred_-1/Omega": -1.0 / omega, "ratio_-B*Omega": -fit.b * omega,
             "sigma_ratio": fit.sigma_b * omega, "Omega": omega, "points": len(pts)}]
    reached = [c for c in crows if c["tau_conv"] is not None]
    all_th = np.array([c["theta0"] for c in reached])
    all_tau = np.array([c["tau_conv"] for c in reached])
    qrows = []
    for r in sorted(quantum, key=lambda r: r.n_total):
        tq = measures.first_crossing(r.time, measures.conversion(r), f_conv)
        row = {"run": r.name, "N": r.n_total, "tau_q": tq, "theta0_equiv": None,
               "sigma_ln_theta0": None, "c=theta0*sqrt(N)": None, "method": None,
               "c_small_angle": None}
        if tq is not None:
            ln_th, s_ln = fit.solve_for_x(tq)
            c_small = float(np.exp(ln_th) * np.sqrt(r.n_total))
            method = "fit"
            if all_tau.size >= 2 and all_tau.min() <= tq <= all_tau.max():
                # inside the measured scan: interpolate the run data themselves (exact
                # even where tau(ln theta0) bends away from the small-angle line)
                order = np.argsort(all_tau)
                ln_th, s_ln, method = float(np.interp(tq, all_tau[order], np.log(all_th[order]))), None, \
                    "interpolated"
            row.update({"theta0_equiv": float(np.exp(ln_th)), "sigma_ln_theta0": s_ln,
                        "c=theta0*sqrt(N)": float(np.exp(ln_th) * np.sqrt(r.n_total)), "method": method,
                        "c_small_angle": c_small})
        qrows.append(row)
    use = [q for q in qrows if q["theta0_equiv"] is not None and q["N"] >= fit_min_n]
    summary = {}
    if use:
        cs = np.array([q["c=theta0*sqrt(N)"] for q in use])
        csa = np.array([q["c_small_angle"] for q in use])
        summary = {"c_mean": float(cs.mean()), "c_std": float(cs.std(ddof=1)) if len(cs) > 1 else None,
                   "c_at_N_max": float(cs[-1]), "c_small_angle_at_N_max": float(csa[-1]),
                   "N_max": int(use[-1]["N"]), "points": len(use)}
        if len(use) >= 3:
            pl = fit_power_law([q["N"] for q in use], [q["theta0_equiv"] for q in use])
            summary.update({"exponent": pl.exponent, "sigma_exponent": pl.sigma_exponent,
                            "prefactor": pl.prefactor})
    os.makedirs(outdir, exist_ok=True)
    report.write_csv(os.path.join(outdir, "seeding_meanfield.csv"), crows)
    report.write_csv(os.path.join(outdir, "seeding_fit.csv"), fits)
    if qrows:
        report.write_csv(os.path.join(outdir, "seeding_equivalent_theta.csv"), qrows)
    with open(os.path.join(outdir, "seeding.md"), "w") as fh:
        fh.write(f"# Seeding: vacuum mixing vs quantum noise (Eqs. 26-29)\n\nf = {f_conv:g} "
                 f"(conversion fraction); Omega(theta=0) = {omega:.6g}; fit tau = A + B ln theta0 over "
                 f"theta0 <= {fit_max_theta:g}; c statistics over N >= {fit_min_n}.\n\n"
                 "## Mean field\n\n" + report.markdown_table(crows) + "\n"
                 + report.markdown_table(fits) + "\n## Equivalent mixing angle per N\n\n"
                 + report.markdown_table(qrows) + "\n"
                 + (report.markdown_table([summary]) if summary else "") + "\n")
    from ...plots import experiments as figures

    figures.seeding(crows, fit, omega, qrows, summary, os.path.join(outdir, "seeding.png"))
    return {"meanfield": crows, "fit": fits, "quantum": qrows, "summary": summary}
