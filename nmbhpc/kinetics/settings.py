"""Typed settings of one quantum-kinetic run (the ``[kinetics]`` config section).

Units follow the rest of nmbhpc: hbar = c = 1, frequencies (omega, lambda, mu,
collision rates) in units of omega0, times and lengths in 1/omega0.
Occupations are dimensionless: the stored density matrix at (x, v, E) is the
number density per unit angular weight and per unit energy weight, in units of
the reference density n_ref that defines ``mu = sqrt(2) G_F n_ref``.
The conventions are written out in docs/kinetics.md.

These dataclasses hold validated values only; :mod:`nmbhpc.kinetics.config`
builds them from TOML and is the only place raw input is checked. The TOML
keys of the ``[kinetics.*]`` tables are declared here (:mod:`nmbhpc.schema`:
type, default, unit, bounds, doc) and registered with the schema, which
generates their validation, defaults and the docs/config.md table.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ..schema import MAX_TIME, Key, Section, keys_of, register, setting

SPECIES = ("nu", "nubar")
FLAVORS = ("e", "x")
# real components of one 2x2 Hermitian matrix rho = (P0 + P.sigma)/2
COMPONENTS = ("P0", "Px", "Py", "Pz")
SHAPES = ("isotropic", "linear", "gaussian", "beam", "table")
#: the columns an angular table may have, in their canonical order (u and g required)
TABLE_COLUMNS = ("energy", "u", "phi", "g")
QUADRATURES = ("gauss-legendre", "gauss-lobatto", "uniform")
PERTURBATIONS = ("none", "random", "mode")
ADVECTIONS = ("weno5", "upwind5")
LIMITERS = ("conservative", "norm", "none")


@dataclass(frozen=True)
class GridSettings:
    """Phase-space grid.

    Space: a periodic box of ``shape = (n_x, n_y, n_z)`` cells and side lengths
    ``lengths = (L_x, L_y, L_z)`` (1/omega0). ``nx`` and ``length`` are the cells
    and the length along z, the box axis of a 1D run (the field names predate
    the 2D/3D box); ``transverse`` and ``transverse_length`` are those of x and
    y. An axis of one cell is not resolved (the field is uniform along it; its
    length is then irrelevant); the resolved axes (>= 2 cells) are the
    dimensions of the DMDA, so ``GridSettings(nx=..., length=...)`` is the 1D box
    along z exactly as before.

    Directions: n_dir polar nodes v_z = cos(theta) on [-1, 1] (Gauss-Legendre
    nodes, Gauss-Lobatto nodes, which include v_z = +-1, or cell centres of a
    uniform grid) times n_phi azimuths
    phi_j = 2 pi j / n_phi, v_x = sin(theta) cos(phi), v_y = sin(theta) sin(phi).
    ``n_phi = 1`` is the axisymmetric grid: each node stands for the whole ring
    of its theta, whose transverse velocity averages to zero (so it cannot
    advect along x or y; the config refuses that combination). One energy bin
    per entry of ``PhysicsSettings.omega``.
    """
    nx: int = 64
    length: float = 10.0
    n_dir: int = 8
    quadrature: str = "gauss-legendre"
    n_phi: int = 1
    transverse: tuple = (1, 1)
    transverse_length: tuple = (10.0, 10.0)

    @property
    def n_directions(self) -> int:
        """Length of the direction axis of the field: n_dir * n_phi (theta-major)."""
        return self.n_dir * self.n_phi

    @property
    def shape(self) -> tuple:
        """Cells along (x, y, z)."""
        return (int(self.transverse[0]), int(self.transverse[1]), int(self.nx))

    @property
    def lengths(self) -> tuple:
        """Box lengths along (x, y, z), 1/omega0."""
        return (float(self.transverse_length[0]), float(self.transverse_length[1]), float(self.length))

    @property
    def axes(self) -> tuple:
        """Resolved axes (0 = x, 1 = y, 2 = z) in the order of the field's array
        axes: slowest first, i.e. z, y, x (a 1D run: ``(2,)``)."""
        return tuple(a for a in (2, 1, 0) if self.shape[a] > 1) or (2,)

    @property
    def ndim(self) -> int:
        """Number of resolved axes (the DMDA dimension)."""
        return len(self.axes)

    @property
    def spatial_shape(self) -> tuple:
        """Cells along each array axis (:attr:`axes`), e.g. (n_z, n_x) for an x-z box."""
        return tuple(self.shape[a] for a in self.axes)

    @property
    def n_cells(self) -> int:
        """Total number of cells."""
        return int(np.prod(self.spatial_shape))


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
    strength sqrt(2) G_F n_ref. omega0_per_second: the physical value of the unit
    omega0 in s^-1 (the time unit 1/omega0 is its inverse in s, the length unit
    c/omega0 follows); None keeps the run in code units only.
    """
    omega: tuple = (0.0,)
    weights: tuple = (1.0,)
    theta: float = 0.0
    lam: float = 0.0
    mu: float = 1.0
    collisions: CollisionSettings = field(default_factory=CollisionSettings)
    omega0_per_second: Optional[float] = None

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
    along ``axis``, width sigma); ``beam``: all particles on the directions whose
    cosine u to ``axis`` equals ``parameter`` (a direction node must lie there, to
    1e-9: u = +-1 needs ``quadrature = "gauss-lobatto"``; with an azimuth grid
    and u != +-1 it is the ring of those directions). ``parameter`` is a
    (linear), sigma (gaussian) or the beam's u; ``table``: g interpolated in the
    rows of ``table``, whose columns ``columns`` name (the canonical order
    ``energy, u, phi, g``, optional ones left out): linear in u (end values
    beyond the tabulated range), periodic-linear in the azimuth phi about z
    (rad, [0, 2 pi)) when tabulated, one g per energy bin (0-based index)
    when tabulated, else the same for every bin; the rows of a bin form the
    full (u x phi) grid, sorted. A tabulated energy dependence is kept between
    bins: the bins' angular averages have mean 1. An axis off the z axis needs
    an azimuth grid (n_phi > 1).
    """
    n_e: float = 1.0
    n_x: float = 0.0
    shape: str = "isotropic"
    parameter: float = 0.0
    axis: tuple = (0.0, 0.0, 1.0)
    table: tuple = ()
    columns: tuple = ("u", "g")


@dataclass(frozen=True)
class PerturbationSettings:
    """Seed of the off-diagonal rho_ex (all species, energies, directions).

    ``random``: white noise in x and v of amplitude ``amplitude`` (relative to
    the local sqrt(rho_ee rho_xx)-free scale: absolute occupation units);
    ``mode``: a single complex Fourier mode exp(2 pi i m z / L_z), m = ``mode``
    (any integer: the sign matters, e.g. only k < 0 grows in Richers et al.'s
    Fiducial set-up, see :mod:`nmbhpc.kinetics.presets`), or, with
    ``mode = (m_x, m_y, m_z)``, the oblique mode exp(i k.x) with
    k = 2 pi (m_x / L_x, m_y / L_y, m_z / L_z) (:meth:`wave_vector`);
    with random complex angular profile; ``seed`` fixes the generator so every
    rank count gives the same field.
    """
    kind: str = setting("random", "choice", "seed of rho_ex: none, white noise, or one Fourier mode",
                        choices=PERTURBATIONS)
    amplitude: float = setting(1e-6, "real", "seed amplitude (occupation units)", low=0.0, high=1.0)
    mode: int | tuple = setting(1, "any", "(kind = mode) m along z, or [m_x, m_y, m_z]")
    seed: int = setting(1, "int", "random generator seed (same field on any rank count)",
                        low=0, high=2**63 - 1)

    @property
    def mode_numbers(self) -> tuple:
        """(m_x, m_y, m_z) of the ``mode`` seed (an integer m means (0, 0, m))."""
        if isinstance(self.mode, (int, np.integer)):
            return (0, 0, int(self.mode))
        return tuple(int(m) for m in self.mode)

    def wave_vector(self, grid: "GridSettings") -> np.ndarray:
        """k = 2 pi m_a / L_a of the ``mode`` seed (1/length units of omega0), shape (3,)."""
        return 2.0 * np.pi * np.asarray(self.mode_numbers, float) / np.asarray(grid.lengths)


@dataclass(frozen=True)
class TimeSettings:
    """Time integration and output.

    t_end, output_interval: in 1/omega0. dt: fixed step, or None for the
    state-dependent default ``min(cfl dx / max|v_z|, phase_step / max(|h|, rates))``
    (in 2D/3D: ``cfl / max_i sum_a |v_a,i| / dx_a`` over the resolved axes a),
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
    linear fifth-order scheme); limiter, applied after every step
    (:mod:`nmbhpc.kinetics.positivity`): ``conservative`` (default: |P| <= P0 with
    P0 and the ELN and XLN densities of every cell unchanged), ``norm`` (project
    matrices with |P| > P0 radially back to |P| = P0; changes ELN/XLN by the Pz part
    of the overshoot) or ``none``.
    """
    advection: str = setting("weno5", "choice", "WENO-Z fluxes, or their linear fifth-order scheme",
                             choices=ADVECTIONS)
    limiter: str = setting("conservative", "choice", "after every step: |P| <= P0 keeping P0, "
                           "ELN and XLN (conservative), radial projection (norm), or nothing",
                           choices=LIMITERS)


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


# --- TOML keys of the [kinetics.*] tables (values combined by nmbhpc.kinetics.config) ----

#: fewest cells along a resolved axis: two stencil widths, so one rank's block never
#: wraps onto its own ghosts
MIN_CELLS = 6
_MAX_INT = 2**31 - 1
_POS = dict(low=0.0, open_low=True)
_RATE = dict(unit="omega0", low=0.0)

GRID_KEYS = (
    Key("nx", "int", 64, "(1D box along z) cells", low=MIN_CELLS, high=_MAX_INT),
    Key("length", "real", 10.0, "(1D box) length along z", unit="1/omega0", **_POS),
    Key("shape", "any", None, f"cells [n_x, n_y, n_z]: 1 (not resolved) or >= {MIN_CELLS} each",
        default_doc="`[1, 1, nx]`"),
    Key("lengths", "any", None, "box lengths [L_x, L_y, L_z], each > 0 (1/omega0)",
        default_doc="`[10.0, 10.0, length]`"),
    Key("n_dir", "int", 8, "polar direction nodes", low=1, high=_MAX_INT),
    Key("quadrature", "choice", "gauss-legendre", "polar nodes and weights", choices=QUADRATURES),
    Key("n_phi", "int", 1, "azimuths (1: axisymmetric rings; x or y resolved needs >= 2 or 3)",
        low=1, high=_MAX_INT),
)
PHYSICS_KEYS = (
    Key("omega", "any", (0.0,), "vacuum frequency of each energy bin (a number or an array)",
        unit="omega0"),
    Key("weights", "any", None, "fraction of particles per bin, >= 0, sum 1",
        default_doc="equal"),
    Key("theta", "real", 0.0, "vacuum mixing angle", unit="rad", low=-2 * np.pi, high=2 * np.pi),
    Key("lambda", "real", 0.0, "matter potential sqrt(2) G_F n_e", unit="omega0", field="lam"),
    Key("mu", "real", 1.0, "self-interaction strength sqrt(2) G_F n_ref", unit="omega0"),
    Key("omega0_per_second", "real", None, "physical value of the unit omega0: sets 1/omega0 "
        "in s and c/omega0 in cm, stored in the output file and used for ns/cm plot axes",
        unit="s^-1", low=0.0, open_low=True, default_doc="none (code units only)"),
)
COLLISION_KEYS = (
    Key("gamma_nu", "any", (0.0, 0.0), "absorption rates [e, x] of nu, each >= 0", unit="omega0"),
    Key("gamma_nubar", "any", (0.0, 0.0), "absorption rates [e, x] of nubar, each >= 0",
        unit="omega0"),
    Key("equilibrium_nu", "any", (0.0, 0.0), "equilibrium occupations [e, x] of nu, each >= 0"),
    Key("equilibrium_nubar", "any", (0.0, 0.0), "equilibrium occupations [e, x] of nubar, each >= 0"),
    Key("scattering", "real", 0.0, "isotropic direction-changing rate", **_RATE),
)
SPECIES_KEYS = (
    Key("n_e", "real", 0.0, "nu_e (or nubar_e) density", low=0.0),
    Key("n_x", "real", 0.0, "nu_x (or nubar_x) density", low=0.0),
    Key("shape", "choice", "isotropic", "angular shape g(u), u = axis . v", choices=SHAPES),
    Key("parameter", "real", 0.0, "linear: a, |a| <= 1; gaussian: width sigma > 0 (required); "
        "beam: its cosine u to the axis"),
    Key("axis", "vector3", (0.0, 0.0, 1.0), "axis of the shape, normalised (off z needs n_phi > 1)"),
    Key("file", "any", None, "table: text file of rows in the order of columns, e.g. 'u g' "
        "(relative to the config file)", default_doc="none"),
    Key("table", "any", None, "table: the same rows inline, [[u, g], ...] (instead of file)",
        default_doc="none"),
    Key("columns", "any", None, "table: the columns of its rows, in their order: u and g, "
        "optionally phi (azimuth about z, rad; needs n_phi > 1) and energy (bin index)",
        default_doc='["u", "g"]'),
)
TIME_KEYS = (
    Key("t_end", "real", doc="end time", unit="1/omega0", low=0.0, open_low=True, high=MAX_TIME),
    Key("output_interval", "real", doc="time between records", unit="1/omega0", low=0.0,
        open_low=True, high=MAX_TIME),
    Key("dt", "real", None, "fixed step; default from cfl and phase_step", unit="1/omega0",
        low=0.0, open_low=True, default_doc="state-dependent"),
    Key("cfl", "real", 0.5, "advective step fraction", low=0.0, open_low=True, high=2.0),
    Key("phase_step", "real", 0.1, "largest phase per step", unit="rad", low=0.0, open_low=True,
        high=2.0),
    Key("snapshot_times", "reals", (), "times of full-field snapshots", unit="1/omega0",
        low=0.0, high=MAX_TIME, min_len=0),
)
KINETICS_KEYS = tuple(Key(n, "any", None, f"[kinetics.{n}] table") for n in
                      ("grid", "physics", "collisions", "nu", "nubar", "perturbation", "time",
                       "numerics"))

register(Section("kinetics", KINETICS_KEYS, solvers=("kinetics",),
                 doc="The quantum-kinetic solver (docs/kinetics.md); top level: solver and [kinetics]."))
for _name, _keys in (("grid", GRID_KEYS), ("physics", PHYSICS_KEYS), ("collisions", COLLISION_KEYS),
                     ("nu", SPECIES_KEYS), ("nubar", SPECIES_KEYS),
                     ("perturbation", keys_of(PerturbationSettings)), ("time", TIME_KEYS),
                     ("numerics", keys_of(NumericsSettings))):
    register(Section(f"kinetics.{_name}", _keys, solvers=("kinetics",)))
