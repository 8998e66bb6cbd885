"""Figures of the ``nmbhpc experiment`` studies (nmbhpc.analysis.experiments): log N
departure times (Eqs. (20)-(25)), the perturbative regime (Eq. (19)) and
seeding (Eqs. (26)-(29)). Times in 1/omega0. Each function writes ``path``
(PNG, PDF or SVG by the suffix). Not collective.
"""
from __future__ import annotations

import numpy as np

from ..analysis.experiments import measures
from . import style


def logn(runs, rows, fits, omega, f_conv, path, dpi=None) -> str:
    """Departure (open) and conversion (filled) times vs N with their fits and the
    predicted slope 1/(2 Omega); the exact conversion fraction C(t) per N."""
    with style.context() as plt:
        fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(13, 4.8), constrained_layout=True)
        marks = {"tau_dep": "o", "tau_conv": "s"}  # the measures of experiments.logn
        for solver in sorted({r["solver"] for r in rows}):
            c = style.solver_color(solver)
            for m in marks:
                pts = [(r["N"], r[m]) for r in rows if r["solver"] == solver and r[m] is not None]
                if not pts:
                    continue
                n, tau = np.array(pts, dtype=np.float64).T
                ax0.semilogx(n, tau, marks[m], color=c, mfc="none" if m == "tau_dep" else c,
                             label=f"{style.SOLVER_LABELS.get(solver, solver)} {m}")
                fit = next((f for f in fits if f["solver"] == solver and f["measure"] == m), None)
                if fit:
                    nn = np.geomspace(n.min(), n.max(), 50)
                    ax0.semilogx(nn, fit["a"] + fit["b"] * np.log(nn), "-", color=c, lw=0.8)
        if omega > 0 and rows:
            n_all = np.array([r["N"] for r in rows], dtype=np.float64)
            nn = np.geomspace(n_all.min(), n_all.max(), 50)
            ref = [f for f in fits if f["solver"] == "manybody" and f["measure"] == "tau_conv"]
            a0 = ref[0]["a"] if ref else 0.0
            ax0.semilogx(nn, a0 + np.log(nn) / (2 * omega), ":", color="0.4", lw=1,
                         label=r"slope $1/(2\Omega)$" + (" (through exact a)" if ref else ""))
        ax0.set_xlabel("N")
        ax0.set_ylabel(r"$\tau\ [1/\omega_0]$")
        ax0.set_title("departure (open) and conversion (filled) times", fontsize="small")
        ax0.legend(loc="best", fontsize="x-small")
        exact = sorted((r for r in runs if r.solver == "manybody"), key=lambda r: r.n_total)
        shades = np.linspace(0.0, 0.75, max(len(exact), 1))
        for r, g in zip(exact, shades):
            ax1.semilogy(r.time, np.maximum(measures.conversion(r), 1e-16), lw=1,
                         color=str(g), label=f"N={r.n_total}")
        ax1.axhline(f_conv, color="0.4", ls="--", lw=0.8, label=f"f_conv = {f_conv:g}")
        ax1.set_xlabel(style.TIME_LABEL)
        ax1.set_ylabel("conversion fraction C(t) (exact)")
        ax1.legend(loc="best", fontsize="x-small", ncol=2 if len(exact) > 8 else 1)
        return style.save(fig, path, dpi)


def perturbative(groups, labels, g_values, path, dpi=None) -> str:
    """N times the exact-minus-mean-field deviation vs g = mu t per model, and the
    deviation at fixed g vs N against 1/N."""
    with style.context() as plt:
        fig, axes = plt.subplots(1, len(groups) + 1, figsize=(5.5 * (len(groups) + 1), 4.6),
                                 constrained_layout=True, squeeze=False)
        axes = axes[0]
        for k, (key, rs) in enumerate(groups.items()):
            label, om = labels[key]
            for r in rs:
                d = measures.deviation(r)
                axes[k].semilogy(r.mu * r.time, np.maximum(d * r.n_total, 1e-16), lw=1,
                                 label=f"N={r.n_total}")
            axes[k].set_xlabel(r"$g = \mu t$ (dimensionless)")
            axes[k].set_ylabel(r"$N\,\cdot$ max$_p\,|P_p - P_p^{\rm MF}|$")
            axes[k].set_title(label, fontsize="small")
            axes[k].legend(fontsize="x-small", ncol=2, loc="best")
            for g in g_values:
                ns = np.array([r.n_total for r in rs], dtype=np.float64)
                ds = np.array([measures.value_at(r.time, measures.deviation(r), g / r.mu)
                               for r in rs])
                ok = np.isfinite(ds) & (ds > 0)
                axes[-1].loglog(ns[ok], ds[ok], "o-" if om > 0 else "s--", ms=3, lw=0.8,
                                label=f"{'unstable' if om > 0 else 'stable'} g={g:g}")
        n = np.geomspace(min(r.n_total for rs in groups.values() for r in rs),
                         max(r.n_total for rs in groups.values() for r in rs), 20)
        axes[-1].loglog(n, 1.0 / n, ":", color="0.4", label="1/N")
        axes[-1].set_xlabel("N")
        axes[-1].set_ylabel(r"max$_p\,|P_p - P_p^{\rm MF}|$ at fixed g")
        axes[-1].legend(loc="best", fontsize="x-small")
        return style.save(fig, path, dpi)


def seeding(crows, fit, omega, qrows, summary, path, dpi=None) -> str:
    """Mean-field conversion time vs the seed angle theta0 with its fit and the slope
    -1/Omega, the exact quantum tau(N) placed at their equivalent angles, and
    theta0*(N) against c/sqrt(N)."""
    mf, exact = style.solver_color("meanfield"), style.solver_color("manybody")
    with style.context() as plt:
        fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(13, 4.8), constrained_layout=True)
        th = np.array([c["theta0"] for c in crows if c["tau_conv"] is not None])
        tau = np.array([c["tau_conv"] for c in crows if c["tau_conv"] is not None])
        ax0.semilogx(th, tau, "o", color=mf, label="mean field")
        tt = np.geomspace(th.min(), th.max(), 50)
        ax0.semilogx(tt, fit(np.log(tt)), "-", color=mf, lw=0.8,
                     label=f"fit B = {fit.b:.4g} ± {fit.sigma_b:.2g}")
        ax0.semilogx(tt, fit.a + fit.b * np.log(tt[0]) - (np.log(tt) - np.log(tt[0])) / omega,
                     ":", color="0.4", label=r"slope $-1/\Omega$")
        shown = False
        for q in qrows:
            if q["theta0_equiv"] is not None:
                ax0.axhline(q["tau_q"], color="0.8", lw=0.6)
                ax0.plot(q["theta0_equiv"], q["tau_q"], "s", color=exact, ms=5,
                         label=None if shown else r"exact $\tau(N)$ at its equivalent $\theta_0$")
                shown = True
        ax0.set_xlabel(r"$\theta_0$ [rad]")
        ax0.set_ylabel(r"$\tau\ [1/\omega_0]$")
        ax0.set_title("conversion time vs seed angle (grey lines: exact tau(N))", fontsize="small")
        ax0.legend(loc="best", fontsize="x-small")
        q = [q for q in qrows if q["theta0_equiv"] is not None]
        if q:
            n = np.array([x["N"] for x in q], dtype=np.float64)
            ax1.loglog(n, [x["theta0_equiv"] for x in q], "s", color=exact, label=r"$\theta_0^*(N)$")
            if "c_small_angle_at_N_max" in summary:
                c = summary["c_small_angle_at_N_max"]
                ax1.loglog(n, c / np.sqrt(n), ":", color="0.4",
                           label=rf"$c/\sqrt{{N}}$, c = {c:.3g} (small-angle fit, N max)")
            ax1.set_xlabel("N")
            ax1.set_ylabel(r"equivalent $\theta_0$ [rad]")
            ax1.legend(loc="best", fontsize="x-small")
        return style.save(fig, path, dpi)
