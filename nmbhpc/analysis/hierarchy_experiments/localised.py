"""Experiment C: localised vs homogeneous initial states in the kinetic solver.

The many-body literature evolves x-independent states (Sec. III of Johns,
arXiv:2305.04916: their Wigner function has no x dependence, so there are no
localised excitations for quantum kinetics to describe); physical neutrinos are
wave packets. Here the *same mean densities* are prepared two ways in a
periodic box of length L (:mod:`nmbhpc.kinetics`, public API):

* homogeneous: nu_e and nubar_e with n = nbar = 1 everywhere;
* localised: both species in one Gaussian packet centred at L/2 on a floor,
  ``n(x) = f + (1 - f) g(x) / <g>_x`` with ``g = exp(-(x - L/2)^2 / (2 sigma^2))``
  and f = ``FLOOR`` (the floor keeps the packet's tails away from zero density,
  where the positivity limiter would have to act first), so the
  domain averages are identical (to rounding) and only the x-profile differs.

Physics: two directions v = +-1/sqrt(3) (Gauss-Legendre n_dir = 2), one energy
bin omega = -1 (inverted ordering), mixing angle theta, self-interaction mu:
the homogeneous box is the bipolar flavor pendulum; in the packet each x-point
starts as a pendulum with the local density mu n(x), and the two beams stream
apart at relative speed 2/sqrt(3).

Observables (domain averages): the nu_e survival probability
``P_ee(t) = n_nu,e(t) / n_nu,e(0)`` (same for nubar_e), and the difference
metric ``D = max_t |P_ee^loc(t) - P_ee^hom(t)|`` plus its time average.
"""
from __future__ import annotations

import math

import numpy as np

from ...kinetics.grid import cell_centres
from ...kinetics.settings import (GridSettings, KineticSettings, PerturbationSettings,
                                 PhysicsSettings, SpeciesInit, TimeSettings)
from .common import pyplot, save_figure, write_table

NAME = "C"
HOMOGENEOUS = 0.0     # sigma_over_L value that stands for the x-independent state
FLOOR = 0.1

SIZES = {
    # default/large: 25 cells per sigma of the narrowest packet; the packets' flavor structure
    # cascades to finer scales, and domain-averaged P_ee(t <= 10) at nx = 512 is within 0.04
    # of nx = 1024 (0.09 at nx = 128; docs/experiments-hierarchy.md, C)
    "tiny": dict(sigma=(HOMOGENEOUS, 0.2), mu=(5.0,), nx=30, t_end=2.0),
    "default": dict(sigma=(HOMOGENEOUS, 0.2, 0.1, 0.05), mu=(1.0, 5.0), nx=512, t_end=10.0),
    "large": dict(sigma=(HOMOGENEOUS, 0.3, 0.2, 0.1, 0.05, 0.025), mu=(1.0, 5.0, 20.0), nx=1024,
                  t_end=20.0),
}


def parameter_table(size: str = "default", theta: float = 0.05, length: float = 20.0) -> list[dict]:
    """Rows: mu, sigma_over_L (0 = homogeneous), length, nx, theta, t_end."""
    s = SIZES[size]
    return [dict(mu=float(mu), sigma_over_L=float(sg), length=length, nx=s["nx"], theta=theta,
                 t_end=s["t_end"]) for mu in s["mu"] for sg in s["sigma"]]


def settings(row: dict) -> KineticSettings:
    t_end = float(row["t_end"])
    return KineticSettings(
        grid=GridSettings(nx=int(row["nx"]), length=float(row["length"]), n_dir=2),
        physics=PhysicsSettings(omega=(-1.0,), theta=float(row["theta"]), mu=float(row["mu"])),
        nu=SpeciesInit(n_e=1.0), nubar=SpeciesInit(n_e=1.0),
        perturbation=PerturbationSettings(kind="none", amplitude=0.0),
        time=TimeSettings(t_end=t_end, output_interval=t_end / 200))


def profile(row: dict, start: int, stop: int) -> np.ndarray:
    """Density factor n(x)/n_mean of cells start..stop-1 (mean over the whole box = 1)."""
    grid = settings(row).grid
    sigma = float(row["sigma_over_L"]) * grid.length
    if sigma == HOMOGENEOUS:
        return np.ones(stop - start)
    x_all = cell_centres(grid, 0, grid.nx)
    g_all = np.exp(-0.5 * ((x_all - 0.5 * grid.length) / sigma) ** 2)
    return FLOOR + (1.0 - FLOOR) * g_all[start:stop] / g_all.mean()


def run_one(row: dict, comm, kinetic_settings: KineticSettings | None = None) -> dict:
    """Collective. Survival probabilities of one initial state.

    ``kinetic_settings`` replaces ``settings(row)`` (numerics/time-step checks); its grid
    must be the row's.
    """
    from ...kinetics.solver import KineticSolver

    s = kinetic_settings or settings(row)
    solver = KineticSolver(s, comm)
    # the initial state is flavor-diagonal and unseeded: scaling all components is exact
    solver.field[...] *= profile(row, solver.xs, solver.xe)[:, None, None, None, None]
    solver.dt = solver.stable_dt()           # the packet's peak density shortens the step
    recs = solver.run()
    solver.destroy()
    dens = np.array([r.number_density for r in recs])          # [T, species, flavor]
    return {"time": np.array([r.time for r in recs]),
            "pee_nu": dens[:, 0, 0] / dens[0, 0, 0], "pee_nubar": dens[:, 1, 0] / dens[0, 1, 0],
            "number_density": dens, "trace_margin": np.array([r.trace_margin for r in recs]),
            # cumulative (matrices limited, overshoot removed, ELN - XLN change) of the limiter
            "limiter": np.array([r.limiter for r in recs])}


def limiter_totals(res: dict) -> tuple:
    """(matrices limited, sum of |P| - P0 removed) over the whole run; NaN for result
    files written before the limiter existed."""
    if "limiter" not in res:
        return math.nan, math.nan
    last = np.asarray(res["limiter"])[-1]
    return int(last[0]), float(last[1])


def analyse(rows: list[dict], results: list, directory: str) -> dict:
    """results.{csv,md} (difference metrics vs the homogeneous run of the same mu) and
    survival.png."""
    cols = ["mu", "sigma/L", "peak n/<n>", "min P_ee", "P_ee(t_end)", "max_t |dP_ee|",
            "<|dP_ee|>_t", "rel. density drift", "min(P0 - |P|)", "limited", "overshoot"]
    table = []
    by_mu = {}
    for row, res in zip(rows, results):
        if res is not None:
            by_mu.setdefault(row["mu"], []).append((row, res))
    for mu, runs in sorted(by_mu.items()):
        hom = next((res for r, res in runs if r["sigma_over_L"] == HOMOGENEOUS), None)
        for row, res in runs:
            peak = float(profile(row, 0, int(row["nx"])).max())
            drift = float(np.abs(res["number_density"].sum(axis=2)
                                 / res["number_density"][0].sum(axis=1) - 1).max())
            if hom is not None and len(hom["pee_nu"]) == len(res["pee_nu"]):
                d = np.abs(res["pee_nu"] - hom["pee_nu"])
                dmax, dmean = float(d.max()), float(d.mean())
            else:
                dmax = dmean = math.nan
            table.append([mu, row["sigma_over_L"] if row["sigma_over_L"] else "homogeneous", peak,
                          float(res["pee_nu"].min()), float(res["pee_nu"][-1]), dmax, dmean, drift,
                          float(res["trace_margin"].min()), *limiter_totals(res)])
    write_table(directory, "results", cols, table,
                "Experiment C: nu_e survival, localised packets vs the homogeneous state "
                "(same mean densities)")
    plt = pyplot()
    fig, axes = plt.subplots(1, max(1, len(by_mu)), figsize=(5.5 * max(1, len(by_mu)), 4), squeeze=False)
    for ax, (mu, runs) in zip(axes[0], sorted(by_mu.items())):
        for row, res in runs:
            sg = row["sigma_over_L"]
            lab = "homogeneous" if sg == HOMOGENEOUS else f"sigma/L = {sg:g}"
            ax.plot(res["time"], res["pee_nu"], label=lab)
        ax.set_xlabel("t [1/omega0]")
        ax.set_ylabel("domain-averaged P_ee (nu)")
        ax.set_title(f"mu = {mu:g}")
        ax.legend(fontsize=7)
    save_figure(fig, directory, "survival.png")
    return {"columns": cols, "table": table}
