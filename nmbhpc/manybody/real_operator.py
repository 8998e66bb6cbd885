"""Stored real-valued ``H = D + mu A`` as a PETSc MATSHELL over numba CSR kernels.

Why not MATMPIAIJ: PETSc here is built with complex scalars, so an AIJ stores
16 bytes of value + 4 of column per non-zero, although A is real symmetric in
the sector basis (hamiltonian.py). A product streams the stored entries and
reads ``x`` at each one's column, so this operator keeps as little per entry
as it can: an int32 column plus a small *value code*, multiplied into complex
``x`` with two real multiplications.

Value codes: an off-diagonal element of A is ``(c_ab / 2N)`` times two
square-root factors of the occupations (kernels.interaction_rows), so A has
few distinct off-diagonal values: for one-neutrino modes at most M(M-1)/2
(N = 20 multi-angle: 190). They are counted at build time from the couplings
and the spins alone (so every rank makes the same choice, without
communication) and stored as a uint8 index (<= 256 distinct values) or a
uint16 index (<= 65536) into a float64 table: 5 or 6 bytes per non-zero
instead of 12. With more values (general spins, large occupations) the codes
are the float64 values themselves. ``-mb_H_real_values uint8|uint16|float64``
forces a format (``auto``: the smallest that holds the values).
Construction walks the local rows twice (count, fill) in compiled kernels
(real_kernels.py), with the Lin-table ranking for one-neutrino modes.

Layout (the one of MATMPIAIJ): per rank a diagonal block (columns ``[lo, hi)``
renumbered to ``0..hi-lo-1``) and an off-diagonal block whose columns are
renumbered at build time to positions in the compressed ghost vector, so the
hot loop reads ``x`` with a single indexed load. The ghost values come from
one PETSc VecScatter per product, started before the diagonal block is
multiplied and finished after it (communication overlaps computation).

Symmetric storage (default; ``-mb_H_real_symmetric 0`` stores both
triangles): the diagonal block keeps only its strict upper triangle and each
entry serves ``y_i += a x_j`` and ``y_j += a x_i``: half the entries to stream
and half the random reads of ``x`` (the product is bound by those reads more
than by bandwidth). The off-diagonal block stays whole on every rank: its
transpose would need a reverse scatter with ADD_VALUES (as MATMPISBAIJ does)
and would load the lower ranks only, for ~10% of the entries on 2 ranks
(N = 20 benchmark model).

A's diagonal and D are float64 vectors apart from the CSR blocks (the
diagonal takes many values); the product reads their sum ``D + mu diag(A)``,
refreshed by :meth:`RealStoredHamiltonian.set_mu`.
"""
from __future__ import annotations

import numpy as np

from ..runtime.stack import init_petsc
from . import real_kernels as rk
from . import shell_kernels as sk
from .basis import SectorBasis
from . import eq1
from .shell_operator import PythonHamiltonian, ghost_index_map, ghost_scatter, python_hamiltonian

#: stored value formats: bytes of the per-non-zero code
VALUE_FORMATS = {"uint8": 1, "uint16": 2, "float64": 8}
#: bytes per stored non-zero (int32 column + code) by format; memory.py uses it
BYTES_PER_NNZ = {fmt: 4 + size for fmt, size in VALUE_FORMATS.items()}
#: general spins: largest number of value keys (a, b, k_a, k_b) that is tabulated
MAX_VALUE_KEYS = 2**22


def value_bytes_bound(counts: np.ndarray) -> int:
    """Bytes per stored non-zero that "auto" needs at most for modes ``counts``
    (before the couplings are known: assumes every pair couples)."""
    counts = np.asarray(counts, dtype=np.int64)
    m = len(counts)
    if sk.is_qubit_basis(counts):
        n_values = m * (m - 1) // 2
    else:
        n_values = int(counts.sum()) ** 2 - int((counts**2).sum())
    for fmt in ("uint8", "uint16"):
        if n_values <= np.iinfo(fmt).max + 1:
            return BYTES_PER_NNZ[fmt]
    return BYTES_PER_NNZ["float64"]


def memory_bytes(sz) -> float:
    """Bytes on one rank (memory.Sizes ``sz``): 4 bytes of column + the value code
    (:func:`value_bytes_bound`) per stored non-zero (one triangle of the diagonal
    block: half of its entries if the columns were uniform; the benchmark model
    on 2 ranks has only 10% off-block), 16 per row (two row-offset arrays) + 24
    (D, diag(A), their sum), 16 + 16 + 4 per ghost column (ghost vector, scatter
    buffer, column index set), and during setup 16 bytes per row (non-zero
    counts) and 5 per global column (ghost mask, ghost position map) on more
    than one rank. mu changes touch nothing stored."""
    stored = sz.nnz * (0.5 + 0.5 * (sz.dim - sz.n) / max(sz.dim, 1))
    return (sz.common + stored * value_bytes_bound(sz.basis.counts) + (16 + 24 + 16) * sz.n
            + sz.ghosts * (16 + 16 + 4) + (5 * sz.dim if sz.n_ranks > 1 else 0))


class ValueCodes:
    """How the off-diagonal values of A are stored (not collective; the same on
    every rank since it depends on ``counts`` and ``coup`` only).

    Attributes: ``format`` (a VALUE_FORMATS key), ``table`` (float64 values the
    codes index, None for "float64"), ``keymap`` (code per key: for qubits an
    [M, M] array by (lowered mode a, raised mode b), else by
    real_kernels.generic_keys; None: compute float64 values), ``key_base``.
    """

    def __init__(self, counts: np.ndarray, coup: np.ndarray, requested: str = "auto"):
        if requested != "auto" and requested not in VALUE_FORMATS:
            raise ValueError(f"real operator value format {requested!r} (option "
                             f"-mb_H_real_values): expected auto, " + ", ".join(VALUE_FORMATS))
        self.qubit = sk.is_qubit_basis(counts)
        if self.qubit:
            self.key_base = None
            values = eq1.qubit_flip_table(coup)
            keyed = coup != 0.0
        else:
            self.key_base, values = rk.generic_keys(counts, coup, MAX_VALUE_KEYS)
            keyed = None
        if values is None:  # too many keys to tabulate: compute each value
            if requested not in ("auto", "float64"):
                raise ValueError(f"real operator value format {requested!r}: more than "
                                 f"{MAX_VALUE_KEYS} value keys, only float64 is possible")
            self.format, self.table, self.keymap = "float64", None, None
            return
        table, inverse = np.unique(values if keyed is None else values[keyed],
                                   return_inverse=True)
        fmt = requested
        if fmt == "auto":
            fmt = next((f for f in ("uint8", "uint16") if len(table) <= np.iinfo(f).max + 1),
                       "float64")
        elif fmt != "float64" and len(table) > np.iinfo(fmt).max + 1:
            raise ValueError(f"real operator value format {fmt!r} cannot index "
                             f"{len(table)} distinct values")
        self.format = fmt
        if fmt == "float64":
            self.table, self.keymap = None, np.ascontiguousarray(values, dtype=np.float64)
            return
        self.table = table
        if keyed is None:
            self.keymap = inverse.astype(fmt)
        else:
            self.keymap = np.zeros(values.shape, dtype=fmt)
            self.keymap[keyed] = inverse
        self.keymap = np.ascontiguousarray(self.keymap)

    @property
    def bytes_per_nnz(self) -> int:
        return BYTES_PER_NNZ[self.format]

    def dtype(self):
        return np.dtype(self.format)


class RealStoredHamiltonian(PythonHamiltonian):
    """Python context of the MATSHELL ``H = D + mu A`` with A stored as real CSR.

    Build with :func:`real_stored_hamiltonian`. ``mu`` starts at 1
    (:meth:`set_mu`); H is real symmetric, so ``H^T = H^H = H``.
    Attributes for reports: ``n_offdiag`` (local off-diagonal non-zeros),
    ``n_ghost``, ``values`` (:class:`ValueCodes`).
    """

    def __init__(self, basis: SectorBasis, configs, lo, hi, vacuum, couplings_over_n, comm,
                 value_format: str = "auto", symmetric: bool = True):
        n = hi - lo
        self.lo, self.hi = lo, hi
        self.symmetric = bool(symmetric)
        self.vacuum = vacuum
        coup = np.ascontiguousarray(couplings_over_n, dtype=np.float64)
        self.values = codes = ValueCodes(basis.counts, coup, value_format)
        if codes.qubit:
            nlow, lo_tab, hi_tab, pop = sk.qubit_tables(basis.n_modes)
            rows = sk.configs_to_bits(np.ascontiguousarray(configs))
            walk = (basis.n_modes, coup)
            ranking = (nlow, lo_tab, hi_tab, pop, basis.kmin, basis.sector_offset, lo, hi,
                       self.symmetric)
        else:
            rows = np.ascontiguousarray(configs, dtype=np.int64)
            walk = (basis.counts, coup)
            ranking = (basis.cum, basis.kmin, basis.sector_offset, lo, hi, self.symmetric)

        # count: non-zeros per row of both blocks, and the ghost columns (one
        # byte per global column; a single rank has none and passes no mask)
        d_cnt = np.empty(n, dtype=np.int64)
        o_cnt = np.empty(n, dtype=np.int64)
        mask = np.zeros(basis.dim if comm.Get_size() > 1 else 0, dtype=np.uint8)
        (rk.qubit_count if codes.qubit else rk.generic_count)(rows, *walk, *ranking,
                                                              d_cnt, o_cnt, mask)
        ghosts = np.flatnonzero(mask)
        del mask
        self.d_ptr = np.zeros(n + 1, dtype=np.int64)
        self.o_ptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(d_cnt, out=self.d_ptr[1:])
        np.cumsum(o_cnt, out=self.o_ptr[1:])
        del d_cnt, o_cnt
        ghost_map, ghost_base = ghost_index_map(ghosts)

        # fill: columns and value codes in place, off-block columns as ghost positions
        self.d_cols = np.empty(int(self.d_ptr[-1]), dtype=np.int32)
        self.o_cols = np.empty(int(self.o_ptr[-1]), dtype=ghost_map.dtype)
        self.d_codes = np.empty(len(self.d_cols), dtype=codes.dtype())
        self.o_codes = np.empty(len(self.o_cols), dtype=codes.dtype())
        self.diag_a = np.empty(n)
        blocks = (ghost_map, ghost_base, self.d_ptr, self.d_cols, self.d_codes,
                  self.o_ptr, self.o_cols, self.o_codes, self.diag_a)
        if codes.qubit:
            rk.qubit_fill(rows, *walk, codes.keymap, *ranking, *blocks)
        else:
            rk.generic_fill(rows, *walk, codes.keymap, codes.key_base, *ranking, *blocks)
        del ghost_map, rows
        self.table = codes.table
        self.n_offdiag = (2 if self.symmetric else 1) * len(self.d_cols) + len(self.o_cols)
        self.n_ghost = len(ghosts)
        self.mults = 0
        self.mu_diagonal = self.diag_a
        self.set_mu(1.0)

        self.x_ghost, self.scatter = ghost_scatter(ghosts, n, basis.dim, comm)

    def mult(self, mat, x, y) -> None:
        """``y = H x``. Collective (the ghost scatter)."""
        PETSc, _ = init_petsc()
        self.mults += 1
        insert, forward = PETSc.InsertMode.INSERT_VALUES, PETSc.ScatterMode.FORWARD
        if self.scatter is not None:
            self.scatter.begin(x, self.x_ghost, insert, forward)
        xa = x.getArray(readonly=True)
        with y as ya:
            (rk.sym_diag_block if self.symmetric else rk.diag_block)(
                self.d_ptr, self.d_cols, self.d_codes, self.table, self.diag, self.mu, xa, ya)
            if self.scatter is not None:
                self.scatter.end(x, self.x_ghost, insert, forward)
                rk.off_block(self.o_ptr, self.o_cols, self.o_codes, self.table, self.mu,
                             self.x_ghost.getArray(readonly=True), ya)

    def norm(self, mat, norm_type) -> float:
        """1-, infinity- (equal: H is symmetric) or Frobenius norm of H. Collective.

        SLEPc's expokit MFN needs it (MatNorm)."""
        PETSc, _ = init_petsc()
        comm = mat.getComm().tompi4py()
        if norm_type == PETSc.NormType.FROBENIUS:
            return float(np.sqrt(comm.allreduce(self._row_sums(2).sum())))
        if norm_type in (PETSc.NormType.NORM_1, PETSc.NormType.INFINITY):
            return float(comm.allreduce(self._row_sums(1).max(initial=0.0), op=_mpi_max()))
        raise ValueError(f"norm type {norm_type} not provided")

    def _row_sums(self, power: int) -> np.ndarray:
        return rk.row_sums(self.d_ptr, self.d_cols, self.d_codes, self.o_ptr, self.o_codes,
                           self.table, self.diag, self.mu, power, self.symmetric)


def _mpi_max():
    from mpi4py import MPI

    return MPI.MAX


def real_stored_hamiltonian(basis: SectorBasis, configs: np.ndarray, lo: int, hi: int, vacuum,
                            couplings_over_n: np.ndarray, comm, prefix: str = "mb_H_",
                            value_format: str | None = None, symmetric: bool | None = None):
    """MATSHELL of ``H = D + 1 * A`` with A stored as real CSR. Collective.

    Change mu with ``mat.getPythonContext().set_mu``. ``vacuum`` is the Vec of
    D (hamiltonian.vacuum_diagonal), ``couplings_over_n`` is ``c_pq / N``.
    ``value_format`` (auto, uint8, uint16, float64) defaults to the option
    ``-<prefix>real_values``, else auto; ``symmetric`` (store one triangle of
    the diagonal block) to ``-<prefix>real_symmetric``, else True. Returns the
    matrix and the global count of its non-zeros (diagonal included).
    """
    PETSc, _ = init_petsc()
    options = PETSc.Options(prefix)
    if value_format is None:
        value_format = options.getString("real_values", "auto")
    if symmetric is None:
        symmetric = options.getBool("real_symmetric", True)
    d = np.ascontiguousarray(vacuum.getArray(readonly=True).real, dtype=np.float64)
    ctx = RealStoredHamiltonian(basis, configs, lo, hi, d, couplings_over_n, comm, value_format,
                                symmetric)
    return python_hamiltonian(ctx, lo, hi, basis.dim, comm, prefix)
