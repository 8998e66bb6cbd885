"""Published kinetic set-ups, as KineticSettings in nmbhpc units.

The three fast-flavor test problems "Fiducial", "90Degree" and "TwoThirds"
were introduced in 3D by Richers, Willcox & Ford, PRD 104, 103023 (2021)
("The Neutrino Fast Flavor Instability in Three Dimensions"); the Fiducial one
is the test problem of the code comparison of Richers et al., Phys. Rev. D 106,
043011 (2022) (arXiv:2205.06282). nu_e and nubar_e only (two flavors here; the
x flavors start empty), no vacuum or matter term (delta m^2 = 0), a periodic
box along z. Angular distributions, with Omega the unit direction:

=========  ==========================  ==================================
set-up     nu_e                        nubar_e
=========  ==========================  ==================================
Fiducial   n (1 + Omega_z)             n (1 - Omega_z)
90Degree   n (1 + Omega_z)             n (1 + Omega_x)   (needs n_phi > 1)
TwoThirds  n (isotropic, no flux)      (2/3) n (1 - Omega_z)
=========  ==========================  ==================================

(each linear shape has flux factor 1/3), n = 4.891290819e32 cm^-3.

Provenance. Fiducial: the numbers of Emu's public inputs for the code
comparison (AMReX-Astro/Emu: Scripts/initial_conditions/st4_linear_moment_ffi.py,
sample_inputs/inputs_1d_fiducial): n, the 64 cm box, 5 ns. The shapes of all
three: the authors' own figure script srichers/Emu_scripts
papers/paper2/distribution_picture.py (polar plots of f(Omega) against the
angle from x-hat towards z-hat: Fiducial 1 + cos(a -+ pi/2); 90Degree nu_e
1 + cos(a - pi/2), nubar_e 1 + cos(a); TwoThirds nu_e 1, nubar_e
(2/3)(1 + cos(a + pi/2))), and for 90Degree the ELN (1 + z) - (1 + x) drawn
by papers/paper2/flavor_mollweide.py of the same repository. The paper's runs
(papers/paper2/avgfee.py, avgfee_convergence.py, angular_power_spectrum.py:
``ncells = 128``, ``128*128``, ``128*128*128``) are 1D/2D/3D boxes along z to
5 ns with 128 cells per dimension, three flavors.

Still unverified: the absolute density of 90Degree and TwoThirds (taken equal
to the Fiducial n: the figure script draws the three on one scale, nu_e at 1
in each), and the box length. Our default is the Fiducial's 64 cm for all
three. The 2021 paper's own boxes look like 8 cm (dx = 1/16 cm: the
convergence runs "nx256_16cm", "nx1024_64cm" of avgfee_convergence.py keep
that dx, and dimension_phase_comparison.py labels its slices up to 8 cm), an
inference, not a number read from an input file.

Units (docs/kinetics.md): omega0 = mu = sqrt(2) G_F n, so occupations are
n_e = 1 for nu_e. For this n, mu = 9.418e10 s^-1 = pi cm^-1 (times c), so
lengths in 1/omega0 are cm * MU_PER_CM and times are s * MU_PER_S.
Linear theory (nmbhpc.kinetics.dispersion, k along z, p ~ exp(i k z)):

- Fiducial: only k < 0 grows; fastest k = -0.91 mu, growth 0.6896 mu (n_dir >= 8).
- 90Degree: fastest k = -0.565 mu, growth 0.39484 mu (n_dir 8 or 16; n_phi 8, 12, 16
  agree to 1e-5, n_phi 6 to 2e-4, n_phi 4 is 0.5% low), hence n_phi = 8 by default.
- TwoThirds: fastest k = -0.448 mu, growth 0.1436 mu (n_dir 8, 16, 32 agree to 2e-5).
docs/kinetics.md ("Fast-flavor code comparison") has the late-time states.
"""
from __future__ import annotations

import math

from ..physics.constants import C_CM_S
from .settings import (GridSettings, KineticSettings, PerturbationSettings, PhysicsSettings,
                       SpeciesInit, TimeSettings)


FIDUCIAL_DENSITY = 4.891290819e32       # cm^-3, nu_e (and nubar_e in Fiducial, 90Degree)
FIDUCIAL_BOX_CM = 64.0
FIDUCIAL_END_S = 5.0e-9                  # Emu's end time for the 1D Fiducial run


# The constants of Emu (Richers et al.), whose set-ups these are: G_F = 1.1663787e-5 GeV^-2
# (CODATA 2018; nmbhpc.physics.constants has PDG 2024's 1.1663788e-5), hbar c and hbar in GeV,
# so that the box lengths and times in 1/omega0 are Emu's to the last digit.
G_F_GEV2 = 1.1663787e-5
HBARC_GEV_CM = 1.973269804e-14
HBAR_GEV_S = 6.582119569e-25


def self_interaction_rate(density_cm3: float) -> float:
    """mu = sqrt(2) G_F n in s^-1 for a number density n in cm^-3 (Emu's constants)."""
    return math.sqrt(2.0) * G_F_GEV2 * HBARC_GEV_CM ** 3 * density_cm3 / HBAR_GEV_S


MU_PER_S = self_interaction_rate(FIDUCIAL_DENSITY)    # 1/omega0 = 1 / MU_PER_S seconds
MU_PER_CM = MU_PER_S / C_CM_S                        # 1/omega0 = 1 / MU_PER_CM cm (= 1/pi)


TWO_THIRDS_NUBAR_FRACTION = 2.0 / 3.0
#: azimuths of the 90Degree preset: its fastest growth rate is converged to 1e-5 (module docstring)
NINETY_DEGREE_N_PHI = 8

X_AXIS = (1.0, 0.0, 0.0)


def richers2022_fiducial(nx: int = 256, n_dir: int = 16, length: float | None = None,
                         t_end: float | None = None, output_interval: float = 0.5,
                         perturbation: PerturbationSettings | None = None) -> KineticSettings:
    """The Fiducial set-up in units omega0 = mu (lengths, times in 1/mu).

    Defaults: the 64 cm box (length 201.06) and Emu's 5 ns (t_end 470.9);
    seeded by white noise of amplitude 1e-6 like Emu's (perturbation_amplitude).
    """
    return _richers(SpeciesInit(n_e=1.0, shape="linear", parameter=1.0),
                    SpeciesInit(n_e=1.0, shape="linear", parameter=-1.0),
                    GridSettings(nx=nx, length=_length(length), n_dir=n_dir),
                    t_end, output_interval, perturbation)


def richers2022_90degree(nx: int = 256, n_dir: int = 16, n_phi: int = NINETY_DEGREE_N_PHI,
                         length: float | None = None, t_end: float | None = None,
                         output_interval: float = 0.5,
                         perturbation: PerturbationSettings | None = None) -> KineticSettings:
    """The 90Degree set-up: Fiducial with the nubar_e flux along +x, perpendicular to the box axis.

    nu_e ~ 1 + Omega_z, nubar_e ~ 1 + Omega_x, equal densities; needs an azimuth
    grid (``n_phi >= 3`` holds the flux factor 1/3 exactly; 8 by default, the
    growth rate then converged to 1e-5). Other defaults as :func:`richers2022_fiducial`.
    """
    if n_phi < 3:
        raise ValueError(f"richers2022_90degree: n_phi = {n_phi} cannot hold a flux along x "
                         "(needs n_phi >= 3)")
    return _richers(SpeciesInit(n_e=1.0, shape="linear", parameter=1.0),
                    SpeciesInit(n_e=1.0, shape="linear", parameter=1.0, axis=X_AXIS),
                    GridSettings(nx=nx, length=_length(length), n_dir=n_dir, n_phi=n_phi),
                    t_end, output_interval, perturbation)


def richers2022_two_thirds(nx: int = 256, n_dir: int = 16, length: float | None = None,
                           t_end: float | None = None, output_interval: float = 0.5,
                           perturbation: PerturbationSettings | None = None) -> KineticSettings:
    """The TwoThirds set-up: isotropic nu_e (density n), nubar_e (2/3) n (1 - Omega_z).

    mu = sqrt(2) G_F n of the nu_e density. Defaults as :func:`richers2022_fiducial`.
    """
    return _richers(SpeciesInit(n_e=1.0),
                    SpeciesInit(n_e=TWO_THIRDS_NUBAR_FRACTION, shape="linear", parameter=-1.0),
                    GridSettings(nx=nx, length=_length(length), n_dir=n_dir),
                    t_end, output_interval, perturbation)


def _length(length: float | None) -> float:
    return length if length is not None else FIDUCIAL_BOX_CM * MU_PER_CM


def _richers(nu: SpeciesInit, nubar: SpeciesInit, grid: GridSettings, t_end, output_interval,
             perturbation) -> KineticSettings:
    return KineticSettings(
        grid=grid,
        physics=PhysicsSettings(omega=(0.0,), mu=1.0, omega0_per_second=MU_PER_S),
        nu=nu, nubar=nubar,
        perturbation=perturbation or PerturbationSettings(kind="random", amplitude=1e-6, seed=1),
        time=TimeSettings(t_end=t_end if t_end is not None else FIDUCIAL_END_S * MU_PER_S,
                          output_interval=output_interval))
