"""The scale hierarchy of a run, in code units (frequencies in omega0, times in 1/omega0).

The flavor Hamiltonian ``H = sum_p omega_p B.J_p + (mu/N) sum_{p<q} c_pq J_p.J_q``
(Eq. (1) of Johns, arXiv:2305.04916) has ``mu/N = 2 sqrt(2) G_F / V``, so

* the forward-scattering (self-energy) rate of one neutrino in the others' mean
  field is ``Sigma = (mu/2) c_eff`` with ``c_eff = max_p sum_q c_pq n_q / N``
  (all others aligned; ``c_eff -> 1`` for a large single-angle gas), and
  ``tau_mfp^fs = 1/Sigma``;
* the per-pair parameter of Eq. (19) is ``g = sqrt(2) G_F t / V = mu t / (2N)``
  (for time-dependent mu: the integral of mu/(2N) over the run).

What the flavor-only model does *not* contain: a kinetic term, hence no
interaction time tau_int and no collisions. To place a run on the physical
hierarchy the run's clock is matched to physics by identifying its
``tau_mfp^fs`` with the physical ``hbar/Sigma`` of some
:class:`~nmbhpc.hierarchy.physical.Conditions` (default: the supernova preset);
the physical dimensionless ratios then give
``tau_int = (Sigma/E) tau_mfp^fs`` and ``tau_mfp^c = tau_mfp^fs / (tau_mfp^fs/tau_mfp^c)``
in units of 1/omega0. A run with collisions (a collision rate Gamma in omega0)
uses ``tau_mfp^c = 1/Gamma`` instead.

Finite-N time: O(1/sqrt(N)) quantum fluctuations (Eq. 21) amplified at a rate
Lambda reach O(1) after ``t_lnN = ln(N) / (2 Lambda)``. Unless the caller gives a
growth rate (e.g. from the linear stability analysis, Eq. 22), Lambda is the
order-of-magnitude scale ``max(Sigma, sqrt(max|omega| Sigma))`` (fast- and
slow-instability scales), not a computed rate.

Nothing here is collective: every function is plain arithmetic on the config.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from .physical import PRESETS, Conditions
from .eq17 import eq17_inequalities, eq17_rows, eq17_warnings
from .eq17 import ieee_div as _div
from .table import DEFAULT_THRESHOLD, Inequality, Row

#: Solvers that evolve one-body quantities without correlations (first-order kinetics).
MEAN_FIELD_SOLVERS = ("meanfield",)

#: Above this g(t) each pair's accumulated interaction is O(1) (Sec. IV).
G_LIMIT = 1.0

_MU_SAMPLES = 2001


def _is_kinetic(config) -> bool:
    """Whether ``config`` runs a solver of the kinetics section (the solver registry says)."""
    from ..solvers import REGISTRY

    spec = REGISTRY.get(getattr(config, "solver", None))
    return spec is not None and spec.section == "kinetics"


def _collision_rate(config, collision_rate: Optional[float]) -> Optional[float]:
    """Gamma in omega0: the argument, else ``config.<solver settings>.collision_rate``."""
    if collision_rate is not None:
        return float(collision_rate)
    section = getattr(config, str(getattr(config, "solver", "")), None)
    rate = getattr(section, "collision_rate", None)
    return None if rate is None else float(rate)


def _mu_over_run(model, t0: float, t1: float) -> tuple[float, float]:
    """(max |mu|, integral of |mu| dt) over [t0, t1] (mu in omega0)."""
    if model.mu.is_constant or t1 <= t0:
        mu = abs(float(model.mu.mu0))
        return mu, mu * max(t1 - t0, 0.0)
    ts = np.linspace(t0, t1, _MU_SAMPLES)
    with np.errstate(over="ignore", invalid="ignore"):  # inf: check_window reports it
        mus = np.abs(np.asarray(model.mu(ts), dtype=np.float64))
        integral = float(np.sum(0.5 * (mus[1:] + mus[:-1]) * np.diff(ts)))
    return float(mus.max()), integral


def effective_angular_factor(model) -> float:
    """c_eff = max_p sum_q c_pq n_q / N: the largest mean-field weight one mode can feel.

    In O(M), without the M x M coupling matrix (a million modes would need
    7 TiB for it): with ``c_pq = 1 - d_p.d_q`` (or the single-angle factor)
    for q != p, ``sum_q c_pq n_q = (N - n_p) - d_p.(F - n_p d_p)``,
    ``F = sum_q n_q d_q``.
    """
    if model.n_total == 0:
        return 0.0
    counts = model.counts.astype(np.float64)
    others = counts.sum() - counts                      # sum over q != p of n_q
    if model.single_angle:
        weight = float(model.single_angle_factor) * others
    else:
        d = model.directions
        flux = counts @ d
        weight = others - (d @ flux - counts * np.einsum("ij,ij->i", d, d))
    return float(np.max(weight) / model.n_total)


def run_hierarchy(config, conditions: Optional[Conditions] = None,
                  collision_rate: Optional[float] = None,
                  growth_rate: Optional[float] = None) -> list[Row]:
    """The run's scales and Eq. (17) ratios in code units (see the module docstring).

    config : :class:`~nmbhpc.settings.RunConfig`.
    conditions : physical conditions that set tau_int/tau_mfp^fs and
        tau_mfp^fs/tau_mfp^c (default: the supernova preset).
    collision_rate : Gamma in omega0 if the run has collisions (default: looked up
        as ``config.<solver>.collision_rate``; None = collisionless).
    growth_rate : instability growth rate in omega0 for t_lnN (default: the scale Lambda).

    A kinetics config (:class:`~nmbhpc.kinetics.settings.KineticSettings`) gets
    its own table, :func:`nmbhpc.hierarchy.kinetic.kinetic_hierarchy`.
    """
    if _is_kinetic(config):
        from .kinetic import kinetic_hierarchy

        return kinetic_hierarchy(config, conditions, collision_rate)
    cond = PRESETS["supernova"] if conditions is None else conditions
    model = config.model
    times = np.asarray(config.output.times, dtype=np.float64)
    t0, t1 = float(times[0]), float(times[-1])
    t = t1 - t0
    n_total = model.n_total
    mu_max, mu_int = _mu_over_run(model, t0, t1)
    c_eff = effective_angular_factor(model)
    omega_max = float(np.max(np.abs(model.omegas))) if model.n_modes else 0.0
    sigma = 0.5 * mu_max * c_eff
    fs_phase = 0.5 * c_eff * mu_int                       # integral of Sigma dt = t/tau_fs
    gamma = _collision_rate(config, collision_rate)

    rate = growth_rate if growth_rate is not None else max(sigma, math.sqrt(omega_max * sigma))
    if n_total >= 2 and rate > 0:
        t_lnn = _div(math.log(n_total), 2.0 * rate)
    else:
        t_lnn = math.inf
    lam_formula = "given growth rate" if growth_rate is not None else \
        "Lambda = max(Sigma, sqrt(max|omega| Sigma)) (scale, not a computed rate)"

    rows = [
        Row("N", float(n_total), "1", "total neutrino number"),
        Row("M", float(model.n_modes), "1", "modes"),
        Row("t", t, "1/omega0", "elapsed: output.times[-1] - output.times[0]"),
        Row("max|omega|", omega_max, "omega0", "fastest vacuum frequency"),
        Row("max mu", mu_max, "omega0", "largest mu(t) in the run"),
        Row("c_eff", c_eff, "1", "max_p sum_q c_pq n_q / N"),
        Row("Sigma", sigma, "omega0", "(mu/2) c_eff: mean-field precession rate"),
        Row("mu/max|omega|", _div(mu_max, omega_max) if omega_max else
            (math.inf if mu_max > 0 else math.nan), "1",
            "self-interaction vs vacuum"),
        Row("omega t", omega_max * t, "1", "vacuum phase"),
        Row("mu t", mu_int, "1", "integral of mu dt"),
        *eq17_rows(cond, t, sigma, omega_max, gamma, "1 / Gamma (the run's collision rate)",
                   fs_phase, "integral of Sigma dt (Eq. 17)", "H_MB"),
        Row("g(t)", _div(mu_int, 2.0 * n_total) if n_total else math.nan, "1",
            "integral of mu/(2N) dt = sqrt(2) G_F t/V (Eq. 19)"),
        Row("t_lnN", t_lnn, "1/omega0", f"ln(N) / (2 Lambda), {lam_formula}"),
        Row("t/t_lnN", _div(t, t_lnn), "1", "finite-N deviations possible when >~ 1 (Sec. IV)"),
    ]
    return rows


def run_inequalities(rows: list[Row], threshold: float = DEFAULT_THRESHOLD) -> list[Inequality]:
    """Eq. (17) for a run table from :func:`run_hierarchy` (or a kinetic table)."""
    return eq17_inequalities(rows, threshold)


def check_window(config, conditions: Optional[Conditions] = None,
                 collision_rate: Optional[float] = None,
                 growth_rate: Optional[float] = None,
                 threshold: float = DEFAULT_THRESHOLD) -> list[str]:
    """Warnings when the run's elapsed time leaves its solver's window of validity.

    * an inequality of Eq. (17) that fails (:func:`~nmbhpc.hierarchy.eq17.eq17_warnings`):
      tau_int << t; tau_mfp^fs << tau_mfp^c, i.e. Gamma/Sigma not below
      ``threshold`` for a run with collisions (the collision term's derivation
      assumes it) or the mapped ratio of ``conditions`` for a collisionless one;
    * collisionless run longer than tau_mfp^c (mapped from ``conditions``);
    * mean-field solver run past t_lnN (exact N-body evolution of the same N may
      differ at O(1));
    * g(t) = mu t/(2N) >= 1: every pair has interacted at O(1), far outside the
      physical g ~ sqrt(2) G_F E^2 ~ 1e-9 of Eq. (19).

    The t << tau_mfp^fs inequality itself is not a warning: collective flavor
    evolution needs Sigma t >> 1 and molecular chaos extends first-order kinetics
    past it (Sec. III); the table reports it with that note
    (:data:`~nmbhpc.hierarchy.eq17.NOT_WARNED`).

    Kinetics configs: :func:`nmbhpc.hierarchy.kinetic.kinetic_window`.
    """
    if _is_kinetic(config):
        from .kinetic import kinetic_window

        return kinetic_window(config, conditions, collision_rate, threshold)
    rows = run_hierarchy(config, conditions, collision_rate, growth_rate)
    v = {r.name: r.value for r in rows}
    solver = str(config.solver)
    gamma = _collision_rate(config, collision_rate)
    out = []
    if not all(math.isfinite(v[k]) for k in ("max mu", "mu t", "Sigma", "omega t")):
        out.append(f"mu = {v['max mu']:.3g}, integral of mu dt = {v['mu t']:.3g}, "
                   f"max|omega| t = {v['omega t']:.3g}: beyond the float64 range, the scales "
                   "derived from them are inf or 0")
    out += eq17_warnings(rows, gamma, solver, threshold)
    if solver in MEAN_FIELD_SOLVERS and v["t/t_lnN"] > 1.0:
        out.append(f"mean-field run longer than t_lnN ~ {v['t_lnN']:.3g}/omega0 "
                   f"(N = {int(v['N'])}): the exact evolution of the same N may differ at O(1) "
                   "(Sec. IV, Eqs. 20-21)")
    if v["g(t)"] >= G_LIMIT:
        out.append(f"g(t) = mu t/(2N) = {v['g(t)']:.3g} >= {G_LIMIT:g}: each pair's accumulated "
                   "interaction is O(1), whereas physically g ~ sqrt(2) G_F E^2 ~ 1e-9 (Eq. 19): "
                   "this model is outside the regime quantum kinetics is meant for, so its "
                   "departures from mean field say nothing about quantum kinetics (Sec. IV)")
    return out
