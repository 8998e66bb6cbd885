"""Stored real-valued ``H = D + mu A`` as a PETSc MATSHELL over numba CSR kernels.

Why not MATMPIAIJ: PETSc here is built with complex scalars, so an AIJ stores
16 bytes of value + 4 of column per non-zero, although A is real symmetric in
the sector basis (hamiltonian.py). A product is bandwidth bound, so this
operator keeps the same rows as float64 values + int32 columns (12 bytes per
non-zero, 40% less to stream) and multiplies them into complex ``x`` with two
real multiplications per non-zero.

Layout (the one of MATMPIAIJ): per rank a diagonal block (columns ``[lo, hi)``
renumbered to ``0..hi-lo-1``) and an off-diagonal block whose columns are
renumbered once, at setup, to positions in the compressed ghost vector, so
the hot loop reads ``x`` with a single indexed load. The ghost values come
from one PETSc VecScatter per product, started before the diagonal block is
multiplied and finished after it (communication overlaps computation).

``A``'s diagonal sits in the diagonal block; ``D`` is kept as a float64
vector, so changing ``mu`` touches nothing stored.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ..stack import init_petsc
from . import kernels
from .basis import SectorBasis
from .hamiltonian import interaction_row_chunks
from .shell_operator import ghost_scatter, python_hamiltonian

#: bytes per stored non-zero (float64 value + int32 column); memory.py uses it
BYTES_PER_NNZ = 12


@njit(cache=True)
def csr_diag_block(indptr, cols, vals, d, mu, x, y):
    """``y = d * x + mu * A_d x`` (A_d real CSR, x/y complex, local columns)."""
    for i in range(indptr.shape[0] - 1):
        ar = 0.0
        ai = 0.0
        for k in range(indptr[i], indptr[i + 1]):
            v = x[cols[k]]
            c = vals[k]
            ar += c * v.real
            ai += c * v.imag
        y[i] = d[i] * x[i] + mu * complex(ar, ai)


@njit(cache=True)
def csr_off_block(indptr, cols, vals, mu, xg, y):
    """``y += mu * A_o xg`` (A_o real CSR over the compressed ghost columns)."""
    for i in range(indptr.shape[0] - 1):
        k0 = indptr[i]
        k1 = indptr[i + 1]
        if k0 == k1:
            continue
        ar = 0.0
        ai = 0.0
        for k in range(k0, k1):
            v = xg[cols[k]]
            c = vals[k]
            ar += c * v.real
            ai += c * v.imag
        y[i] += mu * complex(ar, ai)


@njit(cache=True)
def csr_diagonal(indptr, cols, vals):
    """The diagonal of a square CSR block (0 where a row has no diagonal entry)."""
    n = indptr.shape[0] - 1
    out = np.zeros(n)
    for i in range(n):
        for k in range(indptr[i], indptr[i + 1]):
            if cols[k] == i:
                out[i] = vals[k]
                break
    return out


@njit(cache=True)
def row_sums(d_ptr, d_cols, d_vals, o_ptr, o_vals, d, mu, power):
    """Per row ``sum_j |H_ij|^power`` of ``H = diag(d) + mu A`` (power 1 or 2)."""
    n = d_ptr.shape[0] - 1
    out = np.empty(n)
    for i in range(n):
        s = 0.0
        diag_seen = False
        for k in range(d_ptr[i], d_ptr[i + 1]):
            v = mu * d_vals[k]
            if d_cols[k] == i:
                v += d[i]
                diag_seen = True
            s += abs(v) ** power
        if not diag_seen:
            s += abs(d[i]) ** power
        for k in range(o_ptr[i], o_ptr[i + 1]):
            s += abs(mu * o_vals[k]) ** power
        out[i] = s
    return out


class RealStoredHamiltonian:
    """Python context of the MATSHELL ``H = D + mu A`` with A stored as real CSR.

    Build with :func:`real_stored_hamiltonian`. ``mu`` starts at 1
    (:meth:`set_mu`); H is real symmetric, so ``H^T = H^H = H``.
    """

    def __init__(self, basis: SectorBasis, configs, lo, hi, vacuum, couplings_over_n, comm):
        n = hi - lo
        self.lo, self.hi = lo, hi
        self.vacuum = vacuum
        self.mu = 1.0
        self.mults = 0
        cfg = np.ascontiguousarray(configs, dtype=np.int64)
        coup = np.ascontiguousarray(couplings_over_n, dtype=np.float64)
        args = (basis.counts, coup, basis.cum, basis.kmin, basis.sector_offset, lo, hi)
        indptr = np.zeros(n + 1, dtype=np.int64)
        split = np.zeros(2 * n, dtype=np.int64)
        kernels.interaction_rows(cfg, *args, indptr, split, np.zeros(0), False)
        np.cumsum(indptr, out=indptr)
        self.d_ptr = np.zeros(n + 1, dtype=np.int64)
        self.o_ptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(split[:n], out=self.d_ptr[1:])
        np.cumsum(split[n:], out=self.o_ptr[1:])
        del split
        self.d_cols = np.empty(int(self.d_ptr[-1]), dtype=np.int32)
        self.d_vals = np.empty(int(self.d_ptr[-1]), dtype=np.float64)
        o_global = np.empty(int(self.o_ptr[-1]), dtype=np.int64)
        self.o_vals = np.empty(int(self.o_ptr[-1]), dtype=np.float64)
        # a boolean selection keeps each row's sorted order within both blocks
        for r0, r1, _, cols, vals in interaction_row_chunks(cfg, args, indptr):
            inside = (cols >= lo) & (cols < hi)
            d0, d1 = self.d_ptr[r0], self.d_ptr[r1]
            o0, o1 = self.o_ptr[r0], self.o_ptr[r1]
            self.d_cols[d0:d1] = cols[inside] - lo
            self.d_vals[d0:d1] = vals[inside]
            o_global[o0:o1] = cols[~inside]
            self.o_vals[o0:o1] = vals[~inside]
            del cols, vals, inside
        ghosts, inverse = np.unique(o_global, return_inverse=True)
        del o_global
        index_type = np.int32 if len(ghosts) < 2**31 else np.int64
        self.o_cols = inverse.astype(index_type)
        del inverse
        self.n_offdiag = int(indptr[-1]) - n
        self.n_ghost = len(ghosts)

        self.x_ghost, self.scatter = ghost_scatter(ghosts, n, basis.dim, comm)

    def set_mu(self, mu: float) -> None:
        """Make the operator ``D + mu A`` (not collective: nothing is communicated)."""
        self.mu = float(mu)

    def mult(self, mat, x, y) -> None:
        """``y = H x``. Collective (the ghost scatter)."""
        PETSc, _ = init_petsc()
        self.mults += 1
        insert, forward = PETSc.InsertMode.INSERT_VALUES, PETSc.ScatterMode.FORWARD
        if self.scatter is not None:
            self.scatter.begin(x, self.x_ghost, insert, forward)
        xa = x.getArray(readonly=True)
        with y as ya:
            csr_diag_block(self.d_ptr, self.d_cols, self.d_vals, self.vacuum, self.mu, xa, ya)
            if self.scatter is not None:
                self.scatter.end(x, self.x_ghost, insert, forward)
                csr_off_block(self.o_ptr, self.o_cols, self.o_vals, self.mu,
                              self.x_ghost.getArray(readonly=True), ya)

    def norm(self, mat, norm_type) -> float:
        """1-, infinity- (equal: H is symmetric) or Frobenius norm of H. Collective.

        SLEPc's expokit MFN needs it (MatNorm)."""
        PETSc, _ = init_petsc()
        comm = mat.getComm().tompi4py()
        if norm_type == PETSc.NormType.FROBENIUS:
            local = row_sums(self.d_ptr, self.d_cols, self.d_vals, self.o_ptr, self.o_vals,
                             self.vacuum, self.mu, 2).sum()
            return float(np.sqrt(comm.allreduce(local)))
        if norm_type in (PETSc.NormType.NORM_1, PETSc.NormType.INFINITY):
            local = row_sums(self.d_ptr, self.d_cols, self.d_vals, self.o_ptr, self.o_vals,
                             self.vacuum, self.mu, 1).max(initial=0.0)
            return float(comm.allreduce(local, op=_mpi_max()))
        raise ValueError(f"norm type {norm_type} not provided")

    def multTranspose(self, mat, x, y) -> None:
        self.mult(mat, x, y)

    def multHermitian(self, mat, x, y) -> None:
        self.mult(mat, x, y)

    def getDiagonal(self, mat, d) -> None:
        d.setArray(self.vacuum + self.mu * csr_diagonal(self.d_ptr, self.d_cols, self.d_vals))

    def destroy(self, mat=None) -> None:
        if self.scatter is not None:
            self.scatter.destroy()
            self.scatter = None
        self.x_ghost.destroy()


def _mpi_max():
    from mpi4py import MPI

    return MPI.MAX


def real_stored_hamiltonian(basis: SectorBasis, configs: np.ndarray, lo: int, hi: int, vacuum,
                            couplings_over_n: np.ndarray, comm, prefix: str = "mb_H_"):
    """MATSHELL of ``H = D + 1 * A`` with A stored as real CSR. Collective.

    Change mu with ``mat.getPythonContext().set_mu``. ``vacuum`` is the Vec of
    D (hamiltonian.vacuum_diagonal), ``couplings_over_n`` is ``c_pq / N``.
    Returns the matrix and the global count of its non-zeros (diagonal included).
    """
    d = np.ascontiguousarray(vacuum.getArray(readonly=True).real, dtype=np.float64)
    ctx = RealStoredHamiltonian(basis, configs, lo, hi, d, couplings_over_n, comm)
    return python_hamiltonian(ctx, lo, hi, basis.dim, comm, prefix)
