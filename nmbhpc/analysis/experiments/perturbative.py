"""Eq. (19): the many-body minus mean-field deviation at fixed ``g = mu t`` versus N.

Input: exact (``manybody``) runs of one or more models whose initial state is a
mean-field fixed point (reference = initial state, :mod:`.measures`), e.g. the
bipolar model at theta = 0 in the normal (stable) and inverted (unstable)
hierarchy. For each model and each requested g the deviation
``D(t = g/mu) = max_p |P_p - P_p^MF|`` is fitted as ``D = A N^p`` (runs with
``N >= fit_min_n``). A stable model gives p = -1 (Friedland-Lunardini); an unstable
one gives p = -1 only while ``exp(2 Omega t) << N`` and p -> 0 once
``t >~ ln N / (2 Omega)`` (the log N regime). Not collective.
"""
from __future__ import annotations

import os

import numpy as np

from . import measures, report
from .fits import fit_power_law


def analyze(runs, outdir: str, g_values=(1.0, 5.0, 10.0, 20.0), fit_min_n: int = 10,
            floor: float = 1e-13) -> dict:
    """Fit ``D = A N^p`` at each fixed ``g = mu t`` (Eq. (19)'s expansion parameter per pair is
    ``mu t/(2N)``, docs/hierarchy.md); write ``perturbative_*.csv``, ``perturbative.md``,
    ``perturbative.png``."""
    exact = [r for r in runs if r.solver == "manybody"]
    if not exact:
        raise ValueError("no manybody runs")
    groups: dict = {}
    for r in exact:
        groups.setdefault(r.model_key, []).append(r)
    rows, fits, labels = [], [], {}
    for key, rs in groups.items():
        rs.sort(key=lambda r: r.n_total)
        om = measures.growth_rate(rs[0].model)
        label = (f"{'unstable' if om > 0 else 'stable'} mu={rs[0].mu:g} "
                 f"omega={tuple(float(w) for w in rs[0].model.omegas)}")
        labels[key] = (label, om)
        devs = {r.name: measures.deviation(r) for r in rs}
        for g in g_values:
            t = g / rs[0].mu
            pts = []
            for r in rs:
                d = measures.value_at(r.time, devs[r.name], t)
                rows.append({"model": label, "Omega": om, "g": g, "t": t, "N": r.n_total,
                             "deviation": d, "N*deviation": d * r.n_total})
                if np.isfinite(d) and d > floor and r.n_total >= fit_min_n:
                    pts.append((r.n_total, d))
            if len(pts) >= 3:
                pl = fit_power_law(*np.array(pts).T)
                fits.append({"model": label, "Omega": om, "g": g, "t": t,
                             "2*Omega*t": 2 * om * t, "ln N range": f"{np.log(pts[0][0]):.2f}-"
                             f"{np.log(pts[-1][0]):.2f}", "points": len(pts),
                             "exponent": pl.exponent, "sigma_exponent": pl.sigma_exponent,
                             "prefactor": pl.prefactor})
    os.makedirs(outdir, exist_ok=True)
    report.write_csv(os.path.join(outdir, "perturbative_points.csv"), rows)
    report.write_csv(os.path.join(outdir, "perturbative_fits.csv"), fits or [{"note": "no fits"}])
    with open(os.path.join(outdir, "perturbative.md"), "w") as fh:
        fh.write("# Perturbative regime (Eq. 19): exact minus mean field at fixed g = mu t\n\n"
                 f"D = max_p |P_p - P_p^MF| fitted as A N^p over N >= {fit_min_n}.\n\n"
                 + report.markdown_table(fits) + "\n")
    from ...plots import experiments as figures

    figures.perturbative(groups, labels, g_values, os.path.join(outdir, "perturbative.png"))
    return {"points": rows, "fits": fits}
