"""Experiment B: kinetic flavor instabilities as the scale separation closes.

Three scans with the quantum-kinetic solver (:mod:`nmbhpc.kinetics`, public API
only), each comparing the growth rate measured in a run (least-squares slope of
log of the rms off-diagonal amplitude, summed over species) with predictions:

* ``collisional``: homogeneous isotropic nu_e and nubar_e with equal densities
  n = nbar = 1 (no vacuum term, mu = 1) and absorption rates gamma = Gamma,
  gammabar = Gamma/3 (equilibria = the initial state), Gamma/mu from 1e-4 to 1.
  Predictions: the full linear dispersion relation at k = 0
  (:func:`nmbhpc.kinetics.dispersion.growth_rate`, = the closed form
  ``collisional_isotropic``), and its leading order in Gamma/mu, the formula one
  derives *under* the hierarchy tau_mfp^fs << tau_mfp^c of Eq. (17):
  ``Re lambda ~ sqrt(A a) - g`` with A = mu (n + nbar)/2, a = (gamma -
  gammabar)/4, g = (gamma + gammabar)/4 (expand ``sqrt(a^2 + 2 i A a)`` for a << A).
* ``fast``: the fast instability of isotropic nu_e (n = 1) against a
  forward-peaked nubar_e (``linear``, n = 0.8, a = 0.9; mu = 1, omega = 0), in a
  box of one wavelength of its fastest mode k*, one Fourier mode seeded, with
  absorption of neutrinos only (gamma_e = gamma_x = Gamma for nu, 0 for nubar;
  equilibrium = initial state). Predictions: the full dispersion relation at k*
  and first-order perturbation theory in Gamma, ``lambda0 - Gamma <l|D|r>/<l|r>``
  (l, r the left/right eigenvectors of M(k*) at Gamma = 0, D the projector on
  the neutrino unknowns).
* ``box``: the same fast instability without collisions, random seed, in boxes
  L = f lambda*, f = 1/4 .. 4. Predictions: the fastest mode the box allows
  (max over k = 2 pi m / L) and the infinite-medium rate.

Growth rates are in omega0 (units of mu when mu = 1).
"""
from __future__ import annotations

import math

import numpy as np

from ...kinetics import dispersion
from ...kinetics.settings import (CollisionSettings, GridSettings, KineticSettings,
                                 PerturbationSettings, PhysicsSettings, SpeciesInit, TimeSettings)
from .common import pyplot, save_figure, write_table

NAME = "B"
SEED = 1e-10
AMPLIFICATION = 1e7      # runs stop when the seed has grown by this factor (linear regime)
FFI_NU = SpeciesInit(n_e=1.0)
FFI_NUBAR = SpeciesInit(n_e=0.8, shape="linear", parameter=0.9)
FFI_NDIR = 8
CELLS_PER_WAVELENGTH = 24
T_MAX_COLLISIONAL = 5000.0   # homogeneous: steps are long (no CFL limit)
T_MAX_FAST = 150.0

SIZES = {
    "tiny": dict(collisional=(1e-1, 1.0), fast=(1e-1,), box=(1.0,)),
    "default": dict(collisional=(1e-4, 1e-3, 1e-2, 1e-1, 1.0),
                    fast=(1e-4, 1e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0),
                    box=(0.25, 0.5, 1.0, 2.0, 4.0)),
}
SIZES["large"] = dict(collisional=tuple(np.logspace(-4, 0, 13)),
                      fast=tuple(np.logspace(-4, 0, 13)), box=(0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0))


def parameter_table(size: str = "default") -> list[dict]:
    """Rows: scan, gamma_over_mu, box_over_wavelength."""
    s = SIZES[size]
    rows = [dict(scan="collisional", gamma_over_mu=float(g), box_over_wavelength=math.nan)
            for g in s["collisional"]]
    rows += [dict(scan="fast", gamma_over_mu=float(g), box_over_wavelength=1.0) for g in s["fast"]]
    rows += [dict(scan="box", gamma_over_mu=0.0, box_over_wavelength=float(f)) for f in s["box"]]
    return rows


# --- set-ups ------------------------------------------------------------------------
def collisional_settings(gamma: float, t_end: float = 1.0, dt_out: float = 0.1,
                         dt: float | None = None) -> KineticSettings:
    """Homogeneous isotropic collisional set-up (module docstring), mu = 1."""
    col = CollisionSettings(gamma=((gamma, 0.0), (gamma / 3.0, 0.0)),
                            equilibrium=((1.0, 0.0), (1.0, 0.0)))
    return KineticSettings(
        grid=GridSettings(nx=12, length=1000.0, n_dir=2),
        physics=PhysicsSettings(omega=(0.0,), mu=1.0, collisions=col),
        nu=SpeciesInit(n_e=1.0), nubar=SpeciesInit(n_e=1.0),
        perturbation=PerturbationSettings(kind="none", amplitude=0.0),
        time=TimeSettings(t_end=t_end, output_interval=dt_out, dt=dt))


def ffi_settings(gamma: float, length: float, nx: int, seed_kind: str = "mode",
                 t_end: float = 1.0, dt_out: float = 0.1) -> KineticSettings:
    """Fast-instability set-up (module docstring) with neutrino absorption gamma."""
    col = CollisionSettings(gamma=((gamma, gamma), (0.0, 0.0)),
                            equilibrium=((FFI_NU.n_e, FFI_NU.n_x), (0.0, 0.0)))
    return KineticSettings(
        grid=GridSettings(nx=nx, length=length, n_dir=FFI_NDIR),
        physics=PhysicsSettings(omega=(0.0,), mu=1.0, collisions=col),
        nu=FFI_NU, nubar=FFI_NUBAR,
        perturbation=PerturbationSettings(kind=seed_kind, amplitude=SEED, mode=1, seed=7),
        time=TimeSettings(t_end=t_end, output_interval=dt_out))


def ffi_fastest(k_max: float = 3.0, n: int = 241) -> tuple[float, float]:
    """(k*, growth rate) of the collisionless fast instability (k* > 0)."""
    s = ffi_settings(0.0, 1.0, 24)
    ks = np.linspace(0.0, k_max, n)
    g = dispersion.scan(s, ks)
    i = int(np.argmax(g))
    return float(ks[i]), float(g[i])


# --- predictions --------------------------------------------------------------------
def collisional_leading_order(gamma: float, mu: float = 1.0, n: float = 1.0) -> float:
    """sqrt(A a) - g for n = nbar (module docstring); gammabar = gamma/3."""
    A, a, g = mu * n, (gamma - gamma / 3.0) / 4.0, (gamma + gamma / 3.0) / 4.0
    return math.sqrt(A * a) - g


def ffi_first_order(k: float, gamma: float) -> float:
    """Re of lambda0 - gamma <l|D|r>/<l|r> at wavenumber k (first order in gamma)."""
    m0 = dispersion.stability_matrix(ffi_settings(0.0, 1.0, 24), k)
    lam, vl, vr = _eig_lr(m0)
    i = int(np.argmax(lam.real))
    nd = FFI_NDIR
    proj = np.zeros(m0.shape[0])
    proj[:nd] = 1.0                                   # unknowns ordered (species, energy, dir)
    l, r = vl[:, i], vr[:, i]
    shift = (l.conj() @ (proj * r)) / (l.conj() @ r)
    return float((lam[i] - gamma * shift).real)


def _eig_lr(m):
    import scipy.linalg

    lam, vl, vr = scipy.linalg.eig(m, left=True, right=True)
    return lam, vl, vr


def box_prediction(length: float, nx: int) -> float:
    """Largest growth rate among the wavenumbers 2 pi m / L the box allows (|m| <= nx/2)."""
    s = ffi_settings(0.0, length, nx)
    ks = 2 * np.pi * np.arange(-(nx // 2), nx // 2 + 1) / length
    return float(dispersion.scan(s, ks).max())


# --- runs ---------------------------------------------------------------------------
def _spectral_radius(s: KineticSettings, k: float) -> float:
    return float(np.abs(dispersion.eigenvalues(s, k)).max())


def fit_growth(t: np.ndarray, amp: np.ndarray, seed: float = SEED) -> float:
    """Slope of log(amp) vs t over amp in [1e3 seed, 1e7 seed] (the window of the kinetics
    verification tests: transients of the non-growing modes have died out), else over the
    second half of the run (decay, slow growth)."""
    t, amp = np.asarray(t), np.asarray(amp)
    sel = (amp >= 1e3 * seed) & (amp <= 1e7 * seed) & (t > 0)
    if sel.sum() < 6:
        sel = t >= 0.5 * t[-1]
    return float(np.polyfit(t[sel], np.log(amp[sel]), 1)[0])


def _t_end(rate: float, t_max: float) -> float:
    """Time for the seed to grow by AMPLIFICATION, at most t_max (stable or slow cases)."""
    return math.log(AMPLIFICATION) / rate if rate > math.log(AMPLIFICATION) / t_max else t_max


def run_one(row: dict, comm) -> dict:
    """Collective. One growth-rate measurement (module docstring)."""
    from ...kinetics.solver import KineticSolver

    scan, gamma = row["scan"], float(row["gamma_over_mu"])
    if scan == "collisional":
        pred = dispersion.growth_rate(collisional_settings(gamma), 0.0)
        approx = collisional_leading_order(gamma)
        t_end = _t_end(pred, T_MAX_COLLISIONAL)
        dt = min(0.2 / _spectral_radius(collisional_settings(gamma), 0.0), t_end / 200)
        s = collisional_settings(gamma, t_end, t_end / 100, dt=t_end / 100 / math.ceil(t_end / 100 / dt))
        k, extra = 0.0, {}
    else:
        k_star, rate0 = ffi_fastest()
        length = float(row["box_over_wavelength"]) * 2 * np.pi / k_star
        nx = max(24, int(round(CELLS_PER_WAVELENGTH * float(row["box_over_wavelength"]))))
        if scan == "fast":
            k = 2 * np.pi / length
            pred = dispersion.growth_rate(ffi_settings(gamma, length, nx), k)
            approx = ffi_first_order(k, gamma)
            kind = "mode"
        else:
            k = k_star
            pred = box_prediction(length, nx)
            approx = rate0                                # infinite medium
            kind = "random"
        t_end = _t_end(pred, T_MAX_FAST)
        s = ffi_settings(gamma, length, nx, kind, t_end, t_end / 100)
        extra = {"length": length, "nx": nx, "k_star": k_star}
    solver = KineticSolver(s, comm)
    if scan == "collisional":
        solver.field[..., 1] += SEED                      # homogeneous isotropic seed
    recs = solver.run()
    solver.destroy()
    t = np.array([r.time for r in recs])
    amp = np.array([r.offdiag_amplitude.sum() for r in recs])
    out = {"time": t, "amplitude": amp, "measured": fit_growth(t, amp), "predicted": pred,
           "approximation": approx, "k": k, "t_end": t_end}
    out.update(extra)
    return out


# --- analysis -----------------------------------------------------------------------
def analyse(rows: list[dict], results: list, directory: str) -> dict:
    """results.{csv,md} and growth_rates.png."""
    cols = ["scan", "Gamma/mu", "L/lambda*", "measured", "dispersion", "approximation",
            "meas-disp", "approx-disp", "|meas-disp|/disp", "|approx-disp|/disp"]
    table = []
    for row, res in zip(rows, results):
        if res is None:
            continue
        m, p, a = res["measured"], res["predicted"], res["approximation"]
        rel = abs(p) > 1e-3 * abs(a)       # relative errors only where the prediction is not ~0
        table.append([row["scan"], row["gamma_over_mu"], row["box_over_wavelength"], m, p, a,
                      m - p, a - p, abs(m - p) / abs(p) if rel else math.nan,
                      abs(a - p) / abs(p) if rel else math.nan])
    write_table(directory, "results", cols, table,
                "Experiment B: growth rates (omega0 = mu units). 'approximation': leading order in "
                "Gamma/mu (collisional), first order in Gamma (fast), infinite medium (box)")
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for ax, scan in zip(axes, ("collisional", "fast", "box")):
        sel = [(r, res) for r, res in zip(rows, results) if res is not None and r["scan"] == scan]
        if not sel:
            continue
        key = "box_over_wavelength" if scan == "box" else "gamma_over_mu"
        x = np.array([r[key] for r, _ in sel])
        for name, lab, st in (("measured", "measured (run)", "o"), ("predicted", "dispersion relation", "-"),
                              ("approximation", {"collisional": "leading order in Gamma/mu",
                                                 "fast": "1st order in Gamma",
                                                 "box": "infinite medium"}[scan], "--")):
            ax.plot(x, [res[name] for _, res in sel], st, label=lab)
        ax.set_xscale("log")
        if scan == "collisional":
            ax.set_yscale("symlog", linthresh=1e-3)
        ax.set_xlabel("L / lambda*" if scan == "box" else "Gamma / mu")
        ax.set_ylabel("growth rate [mu]")
        ax.set_title(scan)
        ax.axhline(0, color="k", lw=0.5)
        ax.legend(fontsize=7)
    save_figure(fig, directory, "growth_rates.png")
    return {"columns": cols, "table": table}
