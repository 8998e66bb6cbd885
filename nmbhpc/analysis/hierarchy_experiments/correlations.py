"""Experiment A (paper Sec. V's alternative test): exact many-body vs mean field vs
second-order cumulant on the same models, scanning N and mu t.

Models (single-angle coupling, the same :class:`~nmbhpc.physics.model.Model` for all three solvers):

* ``bipolar``: two collective modes of N/2 neutrinos each, omega = -1 (nu_e,
  isospin +z) and +1 (nubar_e, flipped isospin -z), inverted ordering,
  mixing angle ``theta``. With theta = 0 the mean-field state is an unstable
  equilibrium; the exact state moves by quantum fluctuations after
  ~ ln(N)/(2 Omega) (Eq. (25)) with Omega = sqrt(-w (w + mu/2)) at w = -1 (bipolar
  growth rate of docs/meanfield.md, single-angle c = 1).
* ``spectrum``: ``modes`` collective modes with omega_p = p (p = 1..modes) of
  N/modes neutrinos each, the lower half nu_e and the upper half nu_x
  (Pehlivan et al. 2011 spectrum model, with j_p = N/(2 modes)).

Per (model, N) one run evolves the three solvers to ``t_end`` and records the
flavor-frame polarisations ``P_p(t)`` at ``n_out`` times; mu t is scanned by the
output times (mu is constant). Deviation of solver s from exact at time t:
``d_s(t) = max_p |P_p^s(t) - P_p^exact(t)|`` (Euclidean norm, so 2 is the maximum).
The failure time ``mu t_fail(s)`` is the first mu t where ``d_s > tol`` (default 0.1).
"""
from __future__ import annotations

import math

import numpy as np

from ...physics.model import Mode, Model
from ...physics.schedule import MuSchedule
from ...settings import MeanFieldSettings, OutputSettings, RunConfig
from .common import pyplot, save_figure, write_table

NAME = "A"
SOLVERS = ("meanfield", "cumulant")
FAIL_TOL = 0.1

SIZES = {
    # (bipolar N list, spectrum N list, n_out); the spectrum model uses 4 modes
    "tiny": ((4, 64), (4, 8), 101),
    "default": ((8, 32, 128, 512, 2048), (4, 8, 16, 32, 64), 201),
    "large": ((8, 32, 128, 512, 2048, 8192, 32768), (4, 8, 16, 32, 64, 128, 256), 401),
}


def parameter_table(size: str = "default", theta: float = 0.0) -> list[dict]:
    """Rows: model, N, modes, mu, theta, t_end, n_out."""
    bip, spec, n_out = SIZES[size]
    rows = [dict(model="bipolar", N=n, modes=2, mu=10.0, theta=theta, t_end=5.0, n_out=n_out)
            for n in bip]
    rows += [dict(model="spectrum", N=n, modes=4, mu=4.0, theta=theta, t_end=10.0, n_out=n_out)
             for n in spec]
    return rows


def build_model(row: dict) -> Model:
    """The Model of one table row (see the module docstring)."""
    n, m = int(row["N"]), int(row["modes"])
    if n % m:
        raise ValueError(f"N = {n} is not a multiple of modes = {m}")
    mu = MuSchedule(kind="constant", mu0=float(row["mu"]))
    up, down = (0.0, 0.0, 1.0), (0.0, 0.0, -1.0)
    if row["model"] == "bipolar":
        modes = (Mode(n // 2, -1.0, polarization=up, species="nu"),
                 Mode(n // 2, 1.0, polarization=down, species="nubar"))
    elif row["model"] == "spectrum":
        modes = tuple(Mode(n // m, float(p + 1), polarization=up if p < (m + 1) // 2 else down)
                      for p in range(m))
    else:
        raise ValueError(f"unknown model {row['model']!r}")
    return Model(modes=modes, theta=float(row["theta"]), mu=mu, single_angle=True,
                 name=f"{row['model']}-N{n}")


def run_config(row: dict, solver: str) -> RunConfig:
    times = np.linspace(0.0, float(row["t_end"]), int(row["n_out"]))
    return RunConfig(model=build_model(row), output=OutputSettings(times=times), solver=solver,
                     meanfield=MeanFieldSettings(rtol=1e-10, atol=1e-12))


def evolve(config, comm) -> tuple[np.ndarray, np.ndarray]:
    """Collective. (times[T], polarization[T, M, 3]) of one solver run."""
    from ...solvers import solver_class

    solver = solver_class(config.solver)(config, comm)
    recs = list(solver.records())
    if hasattr(solver, "destroy"):
        solver.destroy()
    return np.array([r.time for r in recs]), np.array([r.polarization for r in recs])


def run_one(row: dict, comm) -> dict:
    """Collective. Exact, mean-field and cumulant polarisations of one row."""
    out = {}
    for name in ("manybody",) + SOLVERS:
        t, pol = evolve(run_config(row, name), comm)
        out["time"] = t
        out[f"pol_{name}"] = pol
    for name in SOLVERS:
        out[f"dev_{name}"] = deviation(out[f"pol_{name}"], out["pol_manybody"])
    return out


def deviation(pol: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """d(t) = max_p |P_p(t) - P_p^exact(t)|, float[T]."""
    return np.linalg.norm(pol - exact, axis=-1).max(axis=-1)


def failure_time(mut: np.ndarray, dev: np.ndarray, tol: float = FAIL_TOL) -> float:
    """First mu t with dev > tol (inf if never within the run)."""
    idx = np.flatnonzero(dev > tol)
    return float(mut[idx[0]]) if idx.size else math.inf


def bipolar_rate(mu: float) -> float:
    """Omega of Eq. (22), sqrt(-w (w + mu/2)) at w = -1 (docs/meanfield.md, single angle c = 1)."""
    return math.sqrt(max(0.0, 1.0 * (-1.0 + mu / 2.0)))


MUT_SAMPLES = (1.0, 5.0, 10.0, 20.0, 40.0)


def analyse(rows: list[dict], results: list, directory: str) -> dict:
    """Write results.{csv,md} and deviation.png, failure_time.png; return the table rows."""
    cols = ["model", "N", "ln N/(2 Omega) [mu t]", "mu t_fail MF", "mu t_fail cumulant"] + \
        [f"d_MF(mu t={m:g})" for m in MUT_SAMPLES] + [f"d_cum(mu t={m:g})" for m in MUT_SAMPLES]
    table = []
    for row, res in zip(rows, results):
        if res is None:
            continue
        mut = row["mu"] * res["time"]
        t_ln = math.log(row["N"]) / (2 * bipolar_rate(row["mu"])) * row["mu"] \
            if row["model"] == "bipolar" else math.nan
        line = [row["model"], row["N"], t_ln] + \
            [failure_time(mut, res[f"dev_{s}"]) for s in SOLVERS]
        for s in SOLVERS:
            line += [float(np.interp(m, mut, res[f"dev_{s}"])) if m <= mut[-1] else math.nan
                     for m in MUT_SAMPLES]
        table.append(line)
    write_table(directory, "results", cols, table,
                f"Experiment A: deviation from exact, max_p |P_p - P_p^exact| (fail: > {FAIL_TOL:g})")
    fit = failure_fits(rows, results)
    write_table(directory, "failure_fit", ["model", "solver", "runs", "d(mu t_fail)/d ln N",
                                           "mu t_fail at N_min", "mu t_fail at N_max"], fit,
                "Experiment A: least-squares slope of mu t_fail against ln N")
    _plots(rows, results, directory)
    return {"columns": cols, "table": table, "fit": fit}


def failure_fits(rows: list[dict], results: list) -> list[list]:
    """Per (model, solver): slope of mu t_fail vs ln N over the runs that failed within t_end."""
    out = []
    for model in sorted({r["model"] for r in rows}):
        sel = sorted(((r, res) for r, res in zip(rows, results)
                      if res is not None and r["model"] == model), key=lambda x: x[0]["N"])
        for s in SOLVERS:
            pts = [(math.log(r["N"]), failure_time(r["mu"] * res["time"], res[f"dev_{s}"]))
                   for r, res in sel]
            pts = [p for p in pts if math.isfinite(p[1])]
            slope = float(np.polyfit(*zip(*pts), 1)[0]) if len(pts) >= 2 else math.nan
            out.append([model, s, len(pts), slope, pts[0][1] if pts else math.nan,
                        pts[-1][1] if pts else math.nan])
    return out


def _plots(rows, results, directory):
    plt = pyplot()
    models = sorted({r["model"] for r in rows})
    fig, axes = plt.subplots(len(models), 2, figsize=(10, 3.6 * len(models)), squeeze=False)
    for i, model in enumerate(models):
        sel = [(r, res) for r, res in zip(rows, results) if res is not None and r["model"] == model]
        cmap = plt.get_cmap("viridis")
        for j, s in enumerate(SOLVERS):
            ax = axes[i, j]
            for k, (r, res) in enumerate(sel):
                ax.semilogy(r["mu"] * res["time"], np.maximum(res[f"dev_{s}"], 1e-16),
                            color=cmap(k / max(1, len(sel) - 1)), label=f"N={r['N']}")
            ax.axhline(FAIL_TOL, color="k", ls=":", lw=0.8)
            ax.set_title(f"{model}: {'mean field' if s == 'meanfield' else '2nd-order cumulant'}")
            ax.set_xlabel("mu t")
            ax.set_ylabel("max_p |P - P_exact|")
            ax.set_ylim(1e-8, 3)
            ax.legend(fontsize=7)
    save_figure(fig, directory, "deviation.png")

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for model, mk in zip(models, "os^"):
        sel = [(r, res) for r, res in zip(rows, results) if res is not None and r["model"] == model]
        ns = [r["N"] for r, _ in sel]
        for s, ls in zip(SOLVERS, ("-", "--")):
            tf = [failure_time(r["mu"] * res["time"], res[f"dev_{s}"]) for r, res in sel]
            tf = [x if math.isfinite(x) else np.nan for x in tf]
            ax.semilogx(ns, tf, ls, marker=mk, label=f"{model}, {s}")
    ax.set_xlabel("N")
    ax.set_ylabel(f"mu t_fail (first d > {FAIL_TOL:g})")
    ax.legend(fontsize=7)
    save_figure(fig, directory, "failure_time.png")

