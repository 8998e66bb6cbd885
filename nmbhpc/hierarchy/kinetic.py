"""The scale hierarchy of a quantum-kinetic run (:mod:`nmbhpc.kinetics`), in code units.

Frequencies in omega0, times and lengths in 1/omega0 (hbar = c = 1), occupations
in units of n_ref with ``mu = sqrt(2) G_F n_ref`` (docs/kinetics.md).

* Forward scattering: a neutrino scatters forward on every neutrino and
  antineutrino, so its rate is ``Sigma = mu n_tot`` with ``n_tot`` the initial
  number density of both species and both flavors (units of n_ref; the
  ``1 - v.v'`` factor of the self-interaction is 1 on angular average).
  ``tau_mfp^fs = 1/Sigma``. The nu - nubar cancellation in the refractive
  potential ``mu D`` is a coherent effect, not fewer scattering events.
* Collisions: the run's own rates, ``Gamma = max(gamma_{s,f}, scattering)``,
  ``tau_mfp^c = 1/Gamma``. A collisionless run gets ``tau_mfp^c`` mapped from
  physical conditions (default: the supernova preset) exactly as
  :mod:`nmbhpc.hierarchy.runs` does for the flavor-only solvers:
  ``tau_mfp^c = tau_mfp^fs / (tau_mfp^fs/tau_mfp^c)_phys``.
* ``tau_int = (Sigma/E)_phys tau_mfp^fs``: the kinetic equations have no
  interaction time either (they are its t >> tau_int limit).
* Kinetic scales: box length L, cell width dx, crossing time ``L/max|v|``,
  vacuum time ``1/max|omega|``.

The row names ``t``, ``tau_int``, ``tau_mfp^fs``, ``tau_mfp^c``,
``t/tau_mfp^fs`` are those of :func:`nmbhpc.hierarchy.runs.run_hierarchy`, so
:func:`~nmbhpc.hierarchy.runs.run_inequalities` tests Eq. (17) on either table.
Nothing here is collective.
"""
from __future__ import annotations

from typing import Optional

from .physical import PRESETS, Conditions
from .eq17 import eq17_rows, eq17_warnings
from .table import DEFAULT_THRESHOLD, Row


def total_density(settings) -> float:
    """n_nu + n_nubar over both flavors (units of n_ref) of the initial homogeneous state."""
    return float(sum(s.n_e + s.n_x for s in (settings.nu, settings.nubar)))


def collision_rate(settings) -> Optional[float]:
    """The fastest collision rate (omega0), or None for a collisionless run."""
    c = settings.physics.collisions
    rate = max([g for row in c.gamma for g in row] + [c.scattering])
    return rate if rate > 0 else None


def kinetic_hierarchy(settings, conditions: Optional[Conditions] = None,
                      collision_rate_override: Optional[float] = None) -> list[Row]:
    """The kinetic run's scales and Eq. (17) ratios in code units (module docstring).

    settings : :class:`~nmbhpc.kinetics.settings.KineticSettings`.
    conditions : physical conditions for tau_int (and tau_mfp^c of a
        collisionless run); default the supernova preset.
    collision_rate_override : Gamma in omega0 instead of the config's rates.
    """
    cond = PRESETS["supernova"] if conditions is None else conditions
    ph, g, tm = settings.physics, settings.grid, settings.time
    t = float(tm.t_end)  # a kinetic run starts at t = 0 (a snapshot restart continues it)
    n_tot = total_density(settings)
    sigma = abs(ph.mu) * n_tot
    omega_max = max(abs(w) for w in ph.omega)
    gamma = collision_rate_override if collision_rate_override is not None \
        else collision_rate(settings)
    # the longest side and the finest cell over the resolved axes (1D: z, as always)
    length = max(g.lengths[a] for a in g.axes)
    dx = min(g.lengths[a] / g.shape[a] for a in g.axes)
    return [
        Row("t", t, "1/omega0", "elapsed: kinetics.time.t_end"),
        Row("L", length, "1/omega0", "periodic box length (longest resolved side)"),
        Row("dx", dx, "1/omega0", "L / nx (finest resolved axis)"),
        Row("t_cross", length, "1/omega0", "L / max|v| (|v| <= 1): box crossing time"),
        Row("max|omega|", omega_max, "omega0", "fastest vacuum frequency"),
        Row("mu", abs(ph.mu), "omega0", "sqrt(2) G_F n_ref"),
        Row("lambda", ph.lam, "omega0", "matter potential sqrt(2) G_F n_e"),
        Row("n_tot", n_tot, "n_ref", "initial n_nu + n_nubar, both flavors"),
        Row("Sigma", sigma, "omega0", "mu n_tot: forward-scattering rate"),
        *eq17_rows(cond, t, sigma, omega_max, gamma,
                   "1 / Gamma, Gamma = max(gamma_nu, gamma_nubar, scattering)",
                   t * sigma, "Sigma t (Eq. 17)", "kinetics"),
        Row("t/t_cross", t / length, "1", "box crossings of a v = 1 particle"),
    ]


def kinetic_window(settings, conditions: Optional[Conditions] = None,
                   collision_rate_override: Optional[float] = None,
                   threshold: float = DEFAULT_THRESHOLD) -> list[str]:
    """Warnings when a kinetic run leaves the window of first-order kinetics.

    * an inequality of Eq. (17) that fails, except t << tau_mfp^fs
      (:func:`~nmbhpc.hierarchy.eq17.eq17_warnings`): in particular a run with
      collisions whose Gamma/Sigma is not below ``threshold`` (the collision
      term assumes tau_mfp^fs << tau_mfp^c);
    * collisionless run longer than the (mapped) tau_mfp^c.
    """
    rows = kinetic_hierarchy(settings, conditions, collision_rate_override)
    gamma = collision_rate_override if collision_rate_override is not None \
        else collision_rate(settings)
    return eq17_warnings(rows, gamma, "kinetics", threshold)
