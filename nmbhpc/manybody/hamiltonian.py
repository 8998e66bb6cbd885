"""H_MB (Eq. (1), eq1.py) in the sector basis as distributed PETSc objects (stored AIJ).

``H(t) = D + mu(t) A`` with

* ``D = sum_p omega_p B.J_p = -sum_p omega_p J^z_p`` (computational frame):
  diagonal, kept as a Vec;
* ``A = (1/N) sum_{p<q} c_pq J_p.J_q``: a MATMPIAIJ assembled with exact
  preallocation, each rank generating only its own contiguous row block.

Both are real in this basis (J^+ has real matrix elements), so H is real
symmetric; it is stored in PETSc's complex scalars because MFN applies
``exp(-i H dt)``.
"""
from __future__ import annotations

import numpy as np

from ..runtime.stack import init_petsc
from . import kernels
from .basis import SectorBasis

#: non-zeros generated per assembly chunk (memory.py counts its transient)
ASSEMBLY_CHUNK_NNZ = 2**22


def local_rows(basis: SectorBasis, comm) -> tuple[int, int]:
    """This rank's contiguous row block [lo, hi) of ``basis`` (PETSc's default split).

    Collective on the mpi4py communicator ``comm``.
    """
    PETSc, _ = init_petsc()
    n, _ = PETSc.Sys.splitOwnership(basis.dim, comm=comm)
    hi = comm.scan(n)
    return hi - n, hi


def vacuum_diagonal(basis: SectorBasis, configs: np.ndarray, omegas: np.ndarray, comm):
    """Vec of ``-sum_p omega_p m_p`` for the local configurations. Collective."""
    PETSc, _ = init_petsc()
    omegas = np.asarray(omegas, dtype=np.float64)
    shift = 0.5 * basis.counts @ omegas
    vec = PETSc.Vec().createMPI((len(configs), basis.dim), comm=comm)
    with vec as d:
        # in blocks: configs @ omegas converts the int8 rows to an [n, M] float64 temporary
        for start in range(0, len(configs), 2**16):
            rows = configs[start:start + 2**16]
            d[start:start + len(rows)] = rows @ omegas - shift
    return vec


def interaction_matrix(basis: SectorBasis, configs: np.ndarray, lo: int, hi: int,
                       couplings_over_n: np.ndarray, comm, prefix: str = "mb_A_"):
    """Assemble ``A = (1/N) sum_{p<q} c_pq J_p.J_q`` as MATMPIAIJ. Collective.

    ``couplings_over_n`` is ``c_pq / N`` (symmetric, zero diagonal). Returns the
    matrix and its global nonzero count.
    """
    PETSc, _ = init_petsc()
    n = hi - lo
    cfg = np.ascontiguousarray(configs, dtype=np.int64)
    indptr = np.zeros(n + 1, dtype=np.int64)
    split = np.zeros(2 * n, dtype=np.int64)
    coup = np.ascontiguousarray(couplings_over_n, dtype=np.float64)
    args = (cfg, basis.counts, coup, basis.cum, basis.kmin, basis.sector_offset, lo, hi)
    kernels.interaction_rows(*args, indptr, split, np.zeros(0), False)
    d_nnz = split[:n].astype(PETSc.IntType)
    o_nnz = split[n:].astype(PETSc.IntType)
    del split
    np.cumsum(indptr, out=indptr)

    mat = PETSc.Mat().create(comm=comm)
    mat.setSizes(((n, basis.dim), (n, basis.dim)))
    mat.setType(PETSc.Mat.Type.AIJ)
    mat.setOptionsPrefix(prefix)
    mat.setFromOptions()
    # a rank without rows must pass scalars: empty arrays deadlock the assembly
    mat.setPreallocationNNZ((d_nnz, o_nnz) if n else (0, 0))
    mat.setOption(PETSc.Mat.Option.NEW_NONZERO_ALLOCATION_ERR, True)
    for r0, r1, ptr, cols, vals in interaction_row_chunks(cfg, args[1:], indptr):
        mat.setValuesIJV(ptr.astype(PETSc.IntType), cols.astype(PETSc.IntType),
                         vals.astype(np.complex128),
                         rowmap=np.arange(lo + r0, lo + r1, dtype=PETSc.IntType))
        del cols, vals
    mat.assemble()
    mat.setOption(PETSc.Mat.Option.SYMMETRIC, True)
    mat.setOption(PETSc.Mat.Option.HERMITIAN, True)
    nnz = comm.allreduce(int(indptr[-1]))
    return mat, nnz


def aij_set_mu(A, H, D, mu: float) -> None:
    """Make the assembled AIJ ``H = mu A + D``. Collective.

    ``H`` is either ``A`` itself (constant mu: A is scaled in place, once, and
    is not needed again) or a matrix with A's non-zero pattern that A is copied
    into first. A MATSHELL takes mu through its python context instead
    (shell_operator.PythonHamiltonian.set_mu).
    """
    PETSc, _ = init_petsc()
    if H is not A:
        A.copy(H, structure=PETSc.Mat.Structure.SAME_NONZERO_PATTERN)
    H.scale(mu)
    H.setDiagonal(D, addv=PETSc.InsertMode.ADD_VALUES)


def memory_bytes(sz) -> float:
    """Bytes on one rank with the stored MATMPIAIJ (memory.Sizes ``sz``).

    16 + PetscInt bytes per non-zero, ~12 bytes per row (row offsets, lengths,
    diagonal positions), the ghost buffer of the off-diagonal block (16 +
    PetscInt per ghost column), one copy more when mu changes in time (H and
    A), and the bounded transient of the chunked assembly.
    """
    ib = sz.int_bytes
    one = sz.nnz * (16 + ib) + 12 * sz.n + sz.ghosts * (16 + ib)
    assembly = (8 + 16 + 8) * sz.n + min(sz.nnz, ASSEMBLY_CHUNK_NNZ) * (8 + 8 + 16 + ib)
    return sz.common + one * (1 if sz.mu_constant else 2) + assembly


def interaction_row_chunks(cfg: np.ndarray, kernel_args: tuple, indptr: np.ndarray):
    """Yield ``(r0, r1, ptr, cols, vals)``: the rows ``r0:r1`` of A in CSR pieces.

    ``indptr`` are the cumulative non-zero counts of the local rows (from
    ``kernels.interaction_rows`` in counting mode); ``kernel_args`` are that
    kernel's arguments after the configurations. Rows come in chunks of about
    ASSEMBLY_CHUNK_NNZ entries, so the transient arrays stay small next to the
    operator being built. Columns are global, values real. Local (not collective).
    """
    n = len(indptr) - 1
    r0 = 0
    while r0 < n:
        r1 = int(np.searchsorted(indptr, indptr[r0] + ASSEMBLY_CHUNK_NNZ, side="right")) - 1
        r1 = min(max(r1, r0 + 1), n)
        ptr = indptr[r0:r1 + 1] - indptr[r0]
        cols = np.empty(int(ptr[-1]), dtype=np.int64)
        vals = np.empty(int(ptr[-1]), dtype=np.float64)
        kernels.interaction_rows(cfg[r0:r1], *kernel_args, ptr, cols, vals, True)
        yield r0, r1, ptr, cols, vals
        r0 = r1


def lowering_matrices(source: SectorBasis, target: SectorBasis, target_configs: np.ndarray,
                      tlo: int, thi: int, slo: int, shi: int, comm, prefix: str = "mb_Jm_"):
    """``J^-_p`` for every mode p, mapping ``source`` to ``target`` (K -> K+1). Collective.

    Each matrix has at most one nonzero per row; rows are the local target
    block [tlo, thi), columns the source layout [slo, shi).
    """
    PETSc, _ = init_petsc()
    n = thi - tlo
    cfg = np.ascontiguousarray(target_configs, dtype=np.int64)
    mats = []
    for p in range(source.n_modes):
        cols, vals = kernels.lowering_entries(cfg, source.counts, p, source.cum, source.kmin,
                                              source.sector_offset, source.kmin, source.kmax)
        has = cols >= 0
        indptr = np.zeros(n + 1, dtype=PETSc.IntType)
        indptr[1:] = np.cumsum(has)
        c = cols[has]
        d_nnz = ((c >= slo) & (c < shi))
        dn = np.zeros(n, dtype=PETSc.IntType)
        on = np.zeros(n, dtype=PETSc.IntType)
        dn[has] = d_nnz
        on[has] = ~d_nnz
        mat = PETSc.Mat().create(comm=comm)
        mat.setSizes(((n, target.dim), (shi - slo, source.dim)))
        mat.setType(PETSc.Mat.Type.AIJ)
        mat.setOptionsPrefix(prefix)
        mat.setFromOptions()
        mat.setPreallocationNNZ((dn, on) if n else (0, 0))
        mat.setValuesCSR(indptr, c.astype(PETSc.IntType), vals[has].astype(np.complex128))
        mat.assemble()
        mats.append(mat)
    return mats
