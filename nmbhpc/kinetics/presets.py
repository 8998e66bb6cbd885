"""Published kinetic set-ups, as KineticSettings in nmbhpc units.

``richers2022_fiducial``: the "Fiducial" fast-flavor test problem of the code
comparison of Richers et al., Phys. Rev. D 106, 043011 (2022) (arXiv:2205.06282),
first used in 3D by Richers, Willcox & Ford, PRD 104, 103023 (2021). Two
flavors; nu_e and nubar_e only, with equal number densities
n = 4.891290819e32 cm^-3, each with the linear ("moment-interpolated")
angular distribution of flux factor 1/3, nu_e flux along +z and nubar_e along
-z: f_nu ~ 1 + cos(theta), f_nubar ~ 1 - cos(theta); no vacuum or matter
term (delta m^2 = 0 in two flavors), a periodic box of 64 cm along z.
The numbers are those of the public Emu inputs for this problem
(AMReX-Astro/Emu: Scripts/initial_conditions/st4_linear_moment_ffi.py,
sample_inputs/inputs_1d_fiducial); the paper's text was not available to us.

Units (docs/kinetics.md): omega0 = mu = sqrt(2) G_F n, so occupations are
n_e = 1 for both species. For this n, mu = 9.418e10 s^-1 = pi cm^-1 (times c),
so lengths in 1/omega0 are cm * MU_PER_CM and times are s * MU_PER_S.
With p ~ exp(i k x) only k < 0 grows (nmbhpc.kinetics.dispersion: fastest
|k| = 0.91 mu, growth rate 0.6896 mu, independent of n_dir >= 8).

``richers2022_two_thirds``: the "TwoThirds" variant of the same papers, the
Fiducial set-up with the nubar_e density reduced to 2/3 of the nu_e density
(a net ELN, so the unstable band is narrower and shifted). Its numbers
(nbar = 2 n / 3, everything else as Fiducial) are from the set-up's name and
the papers' abstracts/our recollection of Table I of Richers, Willcox & Ford
(2021); Emu's public inputs for it were not found (docs/kinetics.md).
The "90Degree" variant (nubar_e flux perpendicular to the box axis) can be
expressed now (``GridSettings.n_phi > 1``, ``SpeciesInit.axis``), but its
parameters were not found in Emu's public inputs, the stored paper pages or
the code search (docs/kinetics.md lists what was searched), so there is no
preset for it: we do not guess them.
"""
from __future__ import annotations

import math

from .settings import (GridSettings, KineticSettings, PerturbationSettings, PhysicsSettings,
                       SpeciesInit, TimeSettings)

# physical constants (PDG): G_F in GeV^-2, hbar c in GeV cm, hbar in GeV s, c in cm/s
G_F = 1.1663787e-5
HBARC = 1.973269804e-14
HBAR = 6.582119569e-25
C_LIGHT = 2.99792458e10

FIDUCIAL_DENSITY = 4.891290819e32       # cm^-3, nu_e and nubar_e each
FIDUCIAL_BOX_CM = 64.0
FIDUCIAL_END_S = 5.0e-9                  # Emu's end time for the 1D Fiducial run


def self_interaction_rate(density_cm3: float) -> float:
    """mu = sqrt(2) G_F n in s^-1 for a number density n in cm^-3."""
    return math.sqrt(2.0) * G_F * HBARC ** 3 * density_cm3 / HBAR


MU_PER_S = self_interaction_rate(FIDUCIAL_DENSITY)    # 1/omega0 = 1 / MU_PER_S seconds
MU_PER_CM = MU_PER_S / C_LIGHT                        # 1/omega0 = 1 / MU_PER_CM cm (= 1/pi)


TWO_THIRDS_NUBAR_FRACTION = 2.0 / 3.0


def richers2022_fiducial(nx: int = 256, n_dir: int = 16, length: float | None = None,
                         t_end: float | None = None, output_interval: float = 0.5,
                         perturbation: PerturbationSettings | None = None) -> KineticSettings:
    """The Fiducial set-up in units omega0 = mu (lengths, times in 1/mu).

    Defaults: the 64 cm box (length 201.06) and Emu's 5 ns (t_end 470.9);
    seeded by white noise of amplitude 1e-6 like Emu's (perturbation_amplitude).
    """
    return _linear_moment_ffi(1.0, nx, n_dir, length, t_end, output_interval, perturbation)


def richers2022_two_thirds(nx: int = 256, n_dir: int = 16, length: float | None = None,
                           t_end: float | None = None, output_interval: float = 0.5,
                           perturbation: PerturbationSettings | None = None) -> KineticSettings:
    """The TwoThirds set-up: Fiducial with n_nubar = 2/3 n_nu (mu still sqrt(2) G_F n_nu)."""
    return _linear_moment_ffi(TWO_THIRDS_NUBAR_FRACTION, nx, n_dir, length, t_end, output_interval,
                              perturbation)


def _linear_moment_ffi(nubar_fraction, nx, n_dir, length, t_end, output_interval,
                       perturbation) -> KineticSettings:
    return KineticSettings(
        grid=GridSettings(nx=nx, length=length if length is not None else FIDUCIAL_BOX_CM * MU_PER_CM,
                          n_dir=n_dir),
        physics=PhysicsSettings(omega=(0.0,), mu=1.0),
        nu=SpeciesInit(n_e=1.0, shape="linear", parameter=1.0),
        nubar=SpeciesInit(n_e=nubar_fraction, shape="linear", parameter=-1.0),
        perturbation=perturbation or PerturbationSettings(kind="random", amplitude=1e-6, seed=1),
        time=TimeSettings(t_end=t_end if t_end is not None else FIDUCIAL_END_S * MU_PER_S,
                          output_interval=output_interval))
