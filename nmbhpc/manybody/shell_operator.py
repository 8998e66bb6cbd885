"""Matrix-free ``H = D + mu A`` as a PETSc MATSHELL (python context).

Same operator as hamiltonian.interaction_matrix + vacuum_diagonal, nothing
stored per non-zero: each product regenerates the rows with the compiled
kernels of shell_kernels.py (Lin-table ranking for one-neutrino modes, the
general prefix ranking otherwise). Per rank it holds the local diagonal of
``D`` and of ``A`` (float64, H is real), the local configurations (as uint64
bit strings for one-neutrino modes), and the ghost values: the off-block
entries of ``x`` that the local rows read, gathered by one PETSc VecScatter
built once from the same row walk.

Why numba and not vectorised numpy: the row walk is a short branchy loop
(which pairs can flip, a table look-up per flip) whose numpy form needs
O(M^2) temporaries of the local block; compiled, it streams once through the
configurations and keeps only ``x``, ``y`` and the ghosts in memory. Why not
the separable form of the multi-angle coupling (``1 - p.q`` = 4 separable
terms) for the off-diagonal part: it would go through the K +- 1 sectors
(an intermediate vector as large as psi per term) and only saves work when
4 * 2 * M < M^2 / 2 flips per row, i.e. for M > 16 by a factor below 2 at the
sizes exact evolution reaches; it *is* used for the diagonal (O(R M) per row).
"""
from __future__ import annotations

import numpy as np

from ..runtime.stack import init_petsc
from . import eq1
from . import real_kernels as rk
from . import shell_kernels as sk
from .basis import SectorBasis


def separable_couplings(model, n_total: int, couplings_over_n: np.ndarray):
    """Factors ``f[R, M]`` and weights ``w[R]`` with ``c/N = sum_r w_r f_r f_r^T`` off the diagonal.

    Multi-angle: ``1 - p.q`` = ``1 1^T - sum_i d_i d_i^T`` (R = 4); single-angle:
    ``factor 1 1^T`` (R = 1); falls back to the symmetric eigendecomposition of
    ``couplings_over_n`` (R = M) when the model's off-diagonal couplings do not
    match (e.g. entries zeroed below 1e-15 by Model.couplings).
    """
    m = model.n_modes
    ones = np.ones((1, m))
    if model.single_angle:
        f, w = ones, np.array([model.single_angle_factor])
    else:
        f = np.vstack([ones, model.directions.T])
        w = np.array([1.0, -1.0, -1.0, -1.0])
    w = w / n_total
    c = (f.T * w) @ f
    off = ~np.eye(m, dtype=bool)
    if np.max(np.abs(c - couplings_over_n)[off], initial=0.0) > 1e-14 * max(1.0, np.abs(c).max()):
        lam, vec = np.linalg.eigh(couplings_over_n)
        return np.ascontiguousarray(vec.T), lam
    return np.ascontiguousarray(f), w


class PythonHamiltonian:
    """What the python contexts of every MATSHELL ``H = D + mu A`` share.

    A subclass sets ``vacuum`` (D, float64 per local row), ``diag_a`` (the
    diagonal of A), ``mu_diagonal`` (the diagonal that mu multiplies in its
    product: ``diag_a`` unless the product treats part of A's diagonal
    itself), ``n_offdiag`` and ``mults``, and calls :meth:`set_mu` once; it
    provides ``mult``. H is real symmetric, so ``H^T = H^H = H``.
    """

    scatter = x_ghost = y_ghost = None

    def set_mu(self, mu: float) -> None:
        """Make the operator ``D + mu A`` (not collective: only local data changes)."""
        self.mu = float(mu)
        self.diag = self.vacuum + self.mu * self.mu_diagonal

    def multTranspose(self, mat, x, y) -> None:
        self.mult(mat, x, y)

    def multHermitian(self, mat, x, y) -> None:
        self.mult(mat, x, y)

    def getDiagonal(self, mat, d) -> None:
        d.setArray((self.vacuum + self.mu * self.diag_a).astype(np.complex128))

    def ghost_values(self, vec):
        """This rank's ghost entries of the PETSc Vec ``vec`` (an array in ghost order;
        empty on one rank). Collective."""
        if self.scatter is None:
            return np.zeros(0, dtype=np.complex128)
        PETSc, _ = init_petsc()
        self.scatter.scatter(vec, self.x_ghost, PETSc.InsertMode.INSERT_VALUES,
                             PETSc.ScatterMode.FORWARD)
        return np.array(self.x_ghost.getArray(readonly=True))

    def destroy(self, mat=None) -> None:
        """Free the ghost Vecs and the scatter (idempotent)."""
        for name in ("scatter", "x_ghost", "y_ghost"):
            obj = getattr(self, name, None)
            if obj is not None:
                obj.destroy()
                setattr(self, name, None)


class ShellHamiltonian(PythonHamiltonian):
    """Python context of the matrix-free MATSHELL ``H = D + mu A`` (see module docstring).

    Build with :func:`shell_hamiltonian`; ``mu`` starts at 1 (:meth:`set_mu`).
    """

    def __init__(self, basis: SectorBasis, configs, lo, hi, vacuum, diag_a, couplings_over_n, comm):
        self.basis = basis
        self.lo, self.hi = lo, hi
        self.vacuum = vacuum
        self.diag_a = self.mu_diagonal = diag_a
        self.mults = 0
        self.set_mu(1.0)
        coup = np.ascontiguousarray(couplings_over_n, dtype=np.float64)
        self.coup = coup
        self.qubit = sk.is_qubit_basis(basis.counts)
        if self.qubit:
            self.tables = sk.qubit_tables(basis.n_modes)
            self.rows = sk.configs_to_bits(np.ascontiguousarray(configs))
            self.flips = eq1.qubit_flip_table(coup)
        else:
            self.rows = np.ascontiguousarray(configs, dtype=np.int64)

        # ghost columns: one byte per global column while the set is found (a
        # single rank has none, and the kernels then never touch the mask)
        mask = np.zeros(basis.dim if comm.Get_size() > 1 else 0, dtype=np.uint8)
        per_row = np.empty(0, dtype=np.int64)  # only the total is needed
        if self.qubit:
            nlow, lo_tab, hi_tab, pop = self.tables
            n_off = rk.qubit_count(self.rows, basis.n_modes, coup, nlow, lo_tab, hi_tab, pop,
                                   basis.kmin, basis.sector_offset, lo, hi, False, per_row,
                                   per_row, mask)
        else:
            n_off = rk.generic_count(self.rows, basis.counts, coup, basis.cum, basis.kmin,
                                     basis.sector_offset, lo, hi, False, per_row, per_row, mask)
        ghosts = np.flatnonzero(mask)
        del mask
        self.n_offdiag = int(n_off)
        self.n_ghost = len(ghosts)
        self.ghost_map, self.ghost_base = ghost_index_map(ghosts)

        self.x_ghost, self.scatter = ghost_scatter(ghosts, hi - lo, basis.dim, comm)

    # --- operator --------------------------------------------------------------
    def mult(self, mat, x, y) -> None:
        """``y = H x``. Collective (the ghost scatter)."""
        PETSc, _ = init_petsc()
        self.mults += 1
        if self.scatter is not None:
            self.scatter.scatter(x, self.x_ghost, PETSc.InsertMode.INSERT_VALUES,
                                 PETSc.ScatterMode.FORWARD)
        xg = self.x_ghost.getArray(readonly=True)
        xa = x.getArray(readonly=True)
        b = self.basis
        with y as ya:
            if self.qubit:
                nlow, lo_tab, hi_tab, pop = self.tables
                sk.apply_qubit(self.rows, b.n_modes, self.flips, nlow, lo_tab, hi_tab, pop,
                               b.kmin, b.sector_offset, self.lo, self.hi, self.diag, self.mu,
                               xa, xg, self.ghost_map, self.ghost_base, ya)
            else:
                sk.apply_generic(self.rows, b.counts, self.coup, b.cum, b.kmin,
                                 b.sector_offset, self.lo, self.hi, self.diag, self.mu,
                                 xa, xg, self.ghost_map, self.ghost_base, ya)


def memory_bytes(sz) -> float:
    """Bytes on one rank (memory.Sizes ``sz``): the row keys (8 bytes per row for
    one-neutrino modes, M int64 otherwise), three float64 diagonals, the ghost
    values with the scatter's send/receive buffers (3 x 16 bytes per ghost), the
    ghost index map (4 bytes per column of its span), and one byte per global
    column while the ghost set is found (more than one rank)."""
    m = sz.basis.n_modes
    return (sz.common + sz.n * (8 if sz.qubit else 8 * m) + 3 * 8 * sz.n
            + 3 * 16 * sz.ghosts + 4 * sz.ghosts + (sz.dim if sz.n_ranks > 1 else 0))


def shell_hamiltonian(basis: SectorBasis, configs: np.ndarray, lo: int, hi: int, vacuum,
                      couplings_over_n: np.ndarray, factors: np.ndarray, weights: np.ndarray,
                      comm, prefix: str = "mb_H_"):
    """MATSHELL of ``H = D + 1 * A`` (change mu with ``mat.getPythonContext().set_mu``). Collective.

    ``vacuum`` is the Vec of D (vacuum_diagonal); ``factors``/``weights`` a
    separable form of ``couplings_over_n`` (:func:`separable_couplings`).
    Returns the matrix and the global count of its non-zeros (as stored AIJ
    would hold them, diagonal included).
    """
    d = np.ascontiguousarray(vacuum.getArray(readonly=True).real, dtype=np.float64)
    cfg = np.ascontiguousarray(configs)
    diag_a = sk.interaction_diagonal(cfg, basis.counts, np.ascontiguousarray(factors, dtype=float),
                                     np.ascontiguousarray(weights, dtype=float))
    ctx = ShellHamiltonian(basis, cfg, lo, hi, d, diag_a, couplings_over_n, comm)
    return python_hamiltonian(ctx, lo, hi, basis.dim, comm, prefix)


def ghost_index_map(ghosts: np.ndarray) -> tuple[np.ndarray, int]:
    """``(ghost_map, ghost_base)``: ``ghost_map[j - ghost_base]`` is the position of
    global column ``j`` in the sorted ``ghosts`` (-1 for columns that are not
    ghosts); int32 unless there are 2^31 ghosts or more. Not collective."""
    base = int(ghosts[0]) if len(ghosts) else 0
    span = int(ghosts[-1]) - base + 1 if len(ghosts) else 1
    index_type = np.int32 if len(ghosts) < 2**31 else np.int64
    ghost_map = np.full(span, -1, dtype=index_type)
    ghost_map[ghosts - base] = np.arange(len(ghosts), dtype=index_type)
    return ghost_map, base


def ghost_scatter(ghosts: np.ndarray, n_local: int, dim: int, comm):
    """``(x_ghost, scatter)``: a sequential Vec for the global entries ``ghosts`` of
    an (n_local, dim) MPI Vec and the VecScatter that fills it, built once.
    ``scatter`` is None on one rank (there are no off-rank entries). Collective.
    """
    PETSc, _ = init_petsc()
    x_ghost = PETSc.Vec().createSeq(len(ghosts), comm=PETSc.COMM_SELF)
    if comm.Get_size() == 1:
        return x_ghost, None
    template = PETSc.Vec().createMPI((n_local, dim), comm=comm)
    index_set = PETSc.IS().createGeneral(ghosts.astype(PETSc.IntType), comm=PETSc.COMM_SELF)
    scatter = PETSc.Scatter().create(template, index_set, x_ghost, None)
    index_set.destroy()
    template.destroy()
    return x_ghost, scatter


def python_hamiltonian(ctx, lo: int, hi: int, dim: int, comm, prefix: str):
    """MATSHELL of the real symmetric H whose products ``ctx`` computes. Collective.

    Rows ``lo:hi`` are this rank's; ``ctx.n_offdiag`` counts its off-diagonal
    non-zeros. Returns the matrix and the global non-zero count (diagonal included).
    """
    PETSc, _ = init_petsc()
    mat = PETSc.Mat().createPython(((hi - lo, dim), (hi - lo, dim)), context=ctx, comm=comm)
    mat.setOptionsPrefix(prefix)
    mat.setFromOptions()
    mat.setUp()
    mat.setOption(PETSc.Mat.Option.SYMMETRIC, True)
    mat.setOption(PETSc.Mat.Option.HERMITIAN, True)
    nnz = comm.allreduce(ctx.n_offdiag + (hi - lo))
    return mat, nnz
