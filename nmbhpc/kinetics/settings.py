"""Typed settings of one quantum-kinetic run (the ``[kinetics]`` config section).

Units follow the rest of nmbhpc: hbar = c = 1, frequencies (omega, lambda, mu,
collision rates) in units of omega0, times and lengths in 1/omega0.
Occupations are dimensionless: the stored density matrix at (x, v, E) is the
number density per unit angular weight and per unit energy weight, in units of
the reference density n_ref that defines ``mu = sqrt(2) G_F n_ref``.
The conventions are written out in docs/kinetics.md.

These dataclasses hold validated values only; :mod:`nmbhpc.kinetics.config`
builds them from TOML and is the only place raw input is checked.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

SPECIES = ("nu", "nubar")
FLAVORS = ("e", "x")
# real components of one 2x2 Hermitian matrix rho = (P0 + P.sigma)/2
COMPONENTS = ("P0", "Px", "Py", "Pz")
SHAPES = ("isotropic", "linear", "gaussian")
QUADRATURES = ("gauss-legendre", "uniform")
PERTURBATIONS = ("none", "random", "mode")
ADVECTIONS = ("weno5", "upwind5")
LIMITERS = ("norm", "none")


@dataclass(frozen=True)
class GridSettings:
    """Phase-space grid.

    nx cells of width L/nx on the periodic box [0, L) along z (the box axis);
    n_dir polar nodes v_z = cos(theta) on [-1, 1] (Gauss-Legendre nodes or
    cell centres of a uniform grid) times n_phi azimuths phi_j = 2 pi j / n_phi.
    ``n_phi = 1`` is the axisymmetric grid: each node stands for the whole ring
    of its theta, whose transverse velocity averages to zero. One energy bin
    per entry of ``PhysicsSettings.omega``.
    """
    nx: int = 64
    length: float = 10.0
    n_dir: int = 8
    quadrature: str = "gauss-legendre"
    n_phi: int = 1

    @property
    def n_directions(self) -> int:
        """Length of the direction axis of the field: n_dir * n_phi (theta-major)."""
        return self.n_dir * self.n_phi


@dataclass(frozen=True)
class CollisionSettings:
    """Emission/absorption (relaxation-time form) and direction-changing scattering.

    Rates in omega0. ``gamma[s][f]`` is the absorption rate of species
    s in ("nu", "nubar") and flavor f in ("e", "x"); ``equilibrium[s][f]`` the
    isotropic equilibrium occupation it drives towards. Off-diagonals are damped
    at (gamma_e + gamma_x)/2. ``scattering`` is an isotropic, flavor-blind
    direction-changing rate (the same for every species and energy).
    """
    gamma: tuple = ((0.0, 0.0), (0.0, 0.0))
    equilibrium: tuple = ((0.0, 0.0), (0.0, 0.0))
    scattering: float = 0.0

    @property
    def emission_absorption(self) -> bool:
        return any(g != 0.0 for row in self.gamma for g in row)


@dataclass(frozen=True)
class PhysicsSettings:
    """Hamiltonian parameters.

    omega[e]: vacuum frequency of energy bin e (Delta m^2 / 2E in omega0; a
    negative value flips the mass ordering); weights[e]: fraction of particles
    in bin e (sums to 1); theta: vacuum mixing angle (rad), B = (sin 2theta, 0,
    -cos 2theta); lam: matter potential sqrt(2) G_F n_e; mu: self-interaction
    strength sqrt(2) G_F n_ref.
    """
    omega: tuple = (0.0,)
    weights: tuple = (1.0,)
    theta: float = 0.0
    lam: float = 0.0
    mu: float = 1.0
    collisions: CollisionSettings = field(default_factory=CollisionSettings)

    @property
    def n_energy(self) -> int:
        return len(self.omega)


@dataclass(frozen=True)
class SpeciesInit:
    """Initial angular distribution of one species (nu or nubar).

    Occupation of flavor f at direction v: ``n[f] * g(u)``, u = axis . v (the
    cosine to the unit vector ``axis``; u = v_z by default), with g normalised
    so that the angular average sum_i w_i g = 1 on the discrete grid:
    ``isotropic`` g = 1; ``linear`` g = 1 + a u (|a| <= 1, flux factor a/3
    along ``axis``); ``gaussian`` g ~ exp(-(1 - u)^2 / (2 sigma^2)) (peaked
    along ``axis``, width sigma). ``parameter`` is a (linear) or sigma
    (gaussian). An axis off the z axis needs an azimuth grid (n_phi > 1).
    """
    n_e: float = 1.0
    n_x: float = 0.0
    shape: str = "isotropic"
    parameter: float = 0.0
    axis: tuple = (0.0, 0.0, 1.0)


@dataclass(frozen=True)
class PerturbationSettings:
    """Seed of the off-diagonal rho_ex (all species, energies, directions).

    ``random``: white noise in x and v of amplitude ``amplitude`` (relative to
    the local sqrt(rho_ee rho_xx)-free scale: absolute occupation units);
    ``mode``: a single complex Fourier mode exp(2 pi i m x / L), m = ``mode``
    (any integer: the sign matters, e.g. only k < 0 grows in Richers et al.'s
    Fiducial set-up, see :mod:`nmbhpc.kinetics.presets`),
    with random complex angular profile; ``seed`` fixes the generator so every
    rank count gives the same field.
    """
    kind: str = "random"
    amplitude: float = 1e-6
    mode: int = 1
    seed: int = 1


@dataclass(frozen=True)
class TimeSettings:
    """Time integration and output.

    t_end, output_interval: in 1/omega0. dt: fixed step, or None for the
    state-dependent default ``min(cfl dx / max|v_z|, phase_step / max(|h|, rates))``,
    re-evaluated after every step from the current field (a global max over
    ranks) and shortened so that output and snapshot times fall on steps.
    snapshot_times: times of full-field snapshots.
    """
    t_end: float = 10.0
    output_interval: float = 0.1
    dt: Optional[float] = None
    cfl: float = 0.5
    phase_step: float = 0.1
    snapshot_times: tuple = ()


@dataclass(frozen=True)
class NumericsSettings:
    """Discretisation choices (docs/kinetics.md, "Discretisation" and "Positivity").

    advection: ``weno5`` (WENO-Z fluxes, non-oscillatory) or ``upwind5`` (its
    linear fifth-order scheme); limiter: ``norm`` (after every step, project
    matrices with |P| > P0 radially back to |P| = P0, :mod:`nmbhpc.kinetics.positivity`)
    or ``none``.
    """
    advection: str = "weno5"
    limiter: str = "norm"


@dataclass(frozen=True)
class KineticSettings:
    """Everything a kinetic run needs; ``source_text`` is the config as written,
    ``source_path`` where it came from ("<string>" if not a file)."""
    grid: GridSettings = field(default_factory=GridSettings)
    physics: PhysicsSettings = field(default_factory=PhysicsSettings)
    nu: SpeciesInit = field(default_factory=SpeciesInit)
    nubar: SpeciesInit = field(default_factory=lambda: SpeciesInit(n_e=0.0))
    perturbation: PerturbationSettings = field(default_factory=PerturbationSettings)
    time: TimeSettings = field(default_factory=TimeSettings)
    numerics: NumericsSettings = field(default_factory=NumericsSettings)
    source_text: str = ""
    source_path: str = "<string>"

    #: the config's ``solver`` value (what ``nmbhpc run`` dispatches on)
    solver = "kinetics"
