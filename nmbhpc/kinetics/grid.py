"""Discrete phase space: cells, direction quadrature, energy bins, initial field.

Nothing here is collective: every function depends only on the settings, so
each rank builds exactly the part it owns and the result does not depend on
the number of ranks.

Cells: a 1D box along z, or a 2D/3D box whose resolved axes are the array
axes in the order z, y, x (:attr:`GridSettings.axes`); blocks of cells are
given by per-axis index ranges ``lo <= i < hi``.

Local field layout (one cell): ``[species(2), energy(nE),
direction(n_dir n_phi), component(4)]`` real. Directions are theta-major
(index i n_phi + j for polar node i and azimuth j: v_z never decreases along
the axis); components (P0, Px, Py, Pz) of rho = (P0 + P.sigma)/2 in
the flavor basis (P0 = rho_ee + rho_xx, Pz = rho_ee - rho_xx,
Px - i Py = 2 rho_ex).
"""
from __future__ import annotations

import numpy as np

from .settings import GridSettings, KineticSettings, SpeciesInit

N_COMPONENTS = 4
N_SPECIES = 2


def polar_nodes(grid: GridSettings) -> tuple[np.ndarray, np.ndarray]:
    """Polar nodes v_i = cos(theta_i), increasing, and weights with sum 1 (n_dir of each).

    Gauss-Legendre integrates polynomials in v of degree 2 n_dir - 1 exactly,
    Gauss-Lobatto (nodes include v = +-1, for beams there) degree 2 n_dir - 3;
    ``uniform`` uses cell centres of n_dir equal cells (second order).
    """
    n = grid.n_dir
    if grid.quadrature == "gauss-legendre":
        v, w = np.polynomial.legendre.leggauss(n)
        return v, w / 2.0
    if grid.quadrature == "gauss-lobatto":
        # -1, +1 and the roots of P'_{n-1}; w = 2 / (n (n - 1) P_{n-1}(v)^2), exact to degree 2n - 3
        if n < 2:
            raise ValueError(f"kinetics.grid.n_dir = {n}: gauss-lobatto needs n_dir >= 2")
        p = np.polynomial.legendre.Legendre.basis(n - 1)
        v = np.concatenate([[-1.0], np.sort(p.deriv().roots().real), [1.0]])
        w = 2.0 / (n * (n - 1) * p(v) ** 2)
        return v, w / 2.0
    v = -1.0 + (np.arange(n) + 0.5) * (2.0 / n)
    return v, np.full(n, 1.0 / n)


def directions(grid: GridSettings) -> tuple[np.ndarray, np.ndarray]:
    """v_z = cos(theta) and weight of every direction (n_dir n_phi each, sum of weights 1).

    The azimuth rule is the uniform one (weights 1/n_phi): exact for
    trigonometric polynomials in phi of degree < n_phi. With n_phi = 1 these
    are exactly :func:`polar_nodes`.
    """
    v, w = polar_nodes(grid)
    if grid.n_phi == 1:
        return v, w
    return np.repeat(v, grid.n_phi), np.repeat(w / grid.n_phi, grid.n_phi)


def azimuths(grid: GridSettings) -> np.ndarray:
    """Azimuth phi about z (rad) of every direction, 2 pi k / n_phi (0 for n_phi = 1)."""
    return np.tile(2.0 * np.pi * np.arange(grid.n_phi) / grid.n_phi, grid.n_dir)


def direction_vectors(grid: GridSettings) -> np.ndarray:
    """Unit vectors (sin th cos ph, sin th sin ph, cos th), shape (n_dir n_phi, 3).

    The box axis is z. For n_phi = 1 (axisymmetric) the transverse components
    are 0: a node is the ring of its theta, whose mean velocity is (0, 0, v_z).
    """
    vz, _ = directions(grid)
    out = np.zeros((vz.size, 3))
    out[:, 2] = vz
    if grid.n_phi > 1:
        phi = azimuths(grid)
        sin_theta = np.sqrt(np.maximum(1.0 - vz * vz, 0.0))
        out[:, 0] = sin_theta * np.cos(phi)
        out[:, 1] = sin_theta * np.sin(phi)
    return out


def interaction_kernel(grid: GridSettings) -> np.ndarray:
    """The self-interaction factor (1 - v_i . v_j), shape (N, N) over all directions.

    Axisymmetric grids (n_phi = 1) give exactly 1 - v_z,i v_z,j.
    """
    if grid.n_phi == 1:
        v, _ = directions(grid)
        return 1.0 - np.outer(v, v)
    vec = direction_vectors(grid)
    return 1.0 - vec @ vec.T


def cell_centres(grid: GridSettings, start: int = 0, stop: int | None = None,
                 axis: int = 2) -> np.ndarray:
    """Coordinate along ``axis`` (0, 1, 2 = x, y, z) of cells ``start..stop-1``
    (cell i at (i + 1/2) L_a / n_a); the default is the box axis z of a 1D run."""
    n, length = grid.shape[axis], grid.lengths[axis]
    stop = n if stop is None else stop
    return (np.arange(start, stop) + 0.5) * (length / n)


def dofs_per_cell(settings: KineticSettings) -> int:
    """Real unknowns per cell: 2 species x nE x n_dir n_phi x 4."""
    return N_SPECIES * settings.physics.n_energy * settings.grid.n_directions * N_COMPONENTS


def angular_shape(init: SpeciesInit, u: np.ndarray, w: np.ndarray) -> np.ndarray:
    """g(u_i) normalised on the discrete grid: sum_i w_i g(u_i) = 1; u = axis . v."""
    if init.shape == "isotropic":
        g = np.ones_like(u)
    elif init.shape == "linear":
        g = 1.0 + init.parameter * u
    elif init.shape == "beam":
        g = beam_mask(init, u).astype(float)
        if not g.any():
            raise ValueError(f"no direction has cosine {init.parameter!r} to the axis "
                             f"{list(init.axis)} (a beam needs a node there; v = +-1: "
                             "kinetics.grid.quadrature = \"gauss-lobatto\")")
    elif init.shape == "table":
        raise ValueError("a table shape is evaluated by occupation_shape()")
    else:  # gaussian, peaked at u = 1
        g = np.exp(-(1.0 - u) ** 2 / (2.0 * init.parameter ** 2))
    return g / np.dot(w, g)


BEAM_TOLERANCE = 1e-9


def beam_mask(init: SpeciesInit, u: np.ndarray) -> np.ndarray:
    """Directions of a ``beam`` (cosine u to its axis within 1e-9 of ``parameter``)."""
    return np.abs(u - init.parameter) <= BEAM_TOLERANCE


def axis_cosines(init: SpeciesInit, grid: GridSettings) -> np.ndarray:
    """u_i = axis . v_i of every direction (exactly v_z for the default axis z)."""
    vz, _ = directions(grid)
    if tuple(init.axis) == (0.0, 0.0, 1.0):
        return vz
    return direction_vectors(grid) @ np.asarray(init.axis, dtype=float)


def _table_shape(init: SpeciesInit, grid: GridSettings, n_energy: int) -> np.ndarray:
    """g of a ``table`` shape at every direction, shape (bins, N): bins = n_energy when
    the table has an energy column, else 1 (unnormalised)."""
    cols = init.columns
    rows = np.asarray(init.table, dtype=float)
    u_all = axis_cosines(init, grid)
    phi_all = azimuths(grid)
    n_bins = n_energy if "energy" in cols else 1
    out = np.empty((n_bins, u_all.size))
    for k, b in enumerate(rows.reshape(n_bins, -1, rows.shape[1])):
        us = np.unique(b[:, cols.index("u")])
        g = b[:, cols.index("g")].reshape(us.size, -1)   # rows are the sorted (u x phi) grid
        if "phi" in cols:
            phis = np.unique(b[:, cols.index("phi")])
            g = np.array([np.interp(phi_all, phis, row, period=2.0 * np.pi) for row in g])
            out[k] = [np.interp(u_all[i], us, g[:, i]) for i in range(u_all.size)]
        else:
            out[k] = np.interp(u_all, us, g[:, 0])
    return out


def occupation_shape(init: SpeciesInit, grid: GridSettings, n_energy: int) -> np.ndarray:
    """g_e(v_i) of a species, shape (n_energy, n_dir n_phi), normalised so that the
    mean over the energy bins of sum_i w_i g_e(v_i) is 1 (each bin's is 1 unless a
    table gives the bins different weights)."""
    _, w = directions(grid)
    if init.shape != "table":
        g = angular_shape(init, axis_cosines(init, grid), w)
        return np.broadcast_to(g, (n_energy, g.size))
    g = _table_shape(init, grid, n_energy)
    return np.broadcast_to(g / np.mean(g @ w), (n_energy, g.shape[1]))


def background(settings: KineticSettings) -> np.ndarray:
    """Homogeneous initial state, shape (2, nE, n_dir n_phi, 4): diagonal in flavor."""
    v, _ = directions(settings.grid)
    n_e = settings.physics.n_energy
    out = np.zeros((N_SPECIES, n_e, v.size, N_COMPONENTS))
    for s, init in enumerate((settings.nu, settings.nubar)):
        g = occupation_shape(init, settings.grid, n_e)
        out[s, :, :, 0] = (init.n_e + init.n_x) * g
        out[s, :, :, 3] = (init.n_e - init.n_x) * g
    return out


def seed_offdiagonal(settings: KineticSettings, start: int, stop: int) -> np.ndarray:
    """Complex seed of p = Px + i Py = 2 rho_xe for cells start..stop-1 of a 1D box,
    shape (n, 2, nE, N) (:func:`seed_block` for any box).

    (p ~ exp(i k x) is the convention of :mod:`nmbhpc.kinetics.dispersion`.)
    """
    return seed_block(settings, (start,), (stop,))


def seed_block(settings: KineticSettings, lo: tuple, hi: tuple) -> np.ndarray:
    """Complex seed p of the block of cells lo[a] <= index < hi[a] along each array axis
    (``grid.axes`` order), shape (block..., 2, nE, N).

    Generated cell by cell from (seed, natural cell index: C order over
    ``grid.spatial_shape``) or, for a single Fourier mode, from one angular
    profile, so it is independent of the partition; in 1D the natural index
    is the cell index, as it always was.
    """
    pert, grid = settings.perturbation, settings.grid
    n_e, n_dir = settings.physics.n_energy, grid.n_directions
    shape = (N_SPECIES, n_e, n_dir)
    block = tuple(b - a for a, b in zip(lo, hi))
    out = np.zeros(block + shape, dtype=complex)
    if pert.kind == "none" or pert.amplitude == 0.0:
        return out
    index = np.meshgrid(*[np.arange(a, b) for a, b in zip(lo, hi)], indexing="ij")
    if pert.kind == "mode":
        rng = np.random.Generator(np.random.PCG64([pert.seed, 0]))
        profile = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
        arg = np.zeros(block, dtype=complex)
        for i, axis in enumerate(grid.axes):
            arg = arg + 2j * np.pi * pert.mode_numbers[axis] * index[i] / grid.shape[axis]
        return pert.amplitude * np.exp(arg)[..., None, None, None] * profile
    natural = np.ravel_multi_index(tuple(index), grid.spatial_shape)
    flat = out.reshape((-1,) + shape)
    for c, i in enumerate(natural.ravel()):
        rng = np.random.Generator(np.random.PCG64([pert.seed, int(i) + 1]))
        flat[c] = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    return pert.amplitude * out


def initial_field(settings: KineticSettings, start: int, stop: int) -> np.ndarray:
    """Initial field of cells start..stop-1 of a 1D box, shape (n, 2, nE, n_dir n_phi, 4)
    (:func:`initial_block` for any box)."""
    return initial_block(settings, (start,), (stop,))


def initial_block(settings: KineticSettings, lo: tuple, hi: tuple) -> np.ndarray:
    """Initial field of the block lo <= index < hi (array axes ``grid.axes``),
    shape (block..., 2, nE, n_dir n_phi, 4), real.

    The seed is the complex p = Px + i Py, applied as a small *rotation* of the
    flavor-diagonal background: Pz shrinks so that |P| is unchanged
    (Pz -> sign(Pz) sqrt(Pz^2 - |p|^2)). A pure background (one flavor empty,
    |P| = P0) thus stays exactly on the positivity boundary instead of crossing
    it by |p|^2 / 2 P0, which the positivity limiter would otherwise remove by
    wiping the seed. (Only where |p| > |Pz| does the seed lengthen P.) Directions
    where a species is empty (P0 = 0, e.g. off a beam) get no seed.
    """
    block = tuple(b - a for a, b in zip(lo, hi))
    bg = background(settings)
    field = np.broadcast_to(bg, block + bg.shape).copy()
    # only occupied matrices get a seed: an empty one (P0 = 0) has no room for |P| > 0
    seed = seed_block(settings, lo, hi) * (bg[..., 0] > 0.0)
    pz = field[..., 3]
    field[..., 3] = np.sign(pz) * np.sqrt(np.maximum(pz * pz - np.abs(seed) ** 2, 0.0))
    field[..., 1] += seed.real
    field[..., 2] += seed.imag
    return field
