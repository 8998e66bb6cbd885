"""Memory model of the exact engine: bytes per rank for stored and matrix-free H.

The estimate is made before any operator is built, from the basis, the local
row count and the number of non-zeros per row (counted on a sample of the
local rows, exact for one-neutrino modes in one sector), and it decides
``manybody.operator = "auto"``. All sizes are bytes; a complex PETSc scalar is
16 bytes, a PetscInt 4 (the Debian build) or 8.

Stored MATMPIAIJ, per rank: 16 + 4 bytes per non-zero, ~12 bytes per row
(row offsets, lengths, diagonal positions), the ghost buffer of the
off-diagonal block (16 + 4 per ghost column), one copy more when mu changes
in time (H and A), and the bounded transient of the chunked assembly.
Stored real CSR (real_operator.py), per rank: 4 bytes of column + a 1, 2 or 8
byte value code per stored non-zero (real_operator.value_bytes_bound: a
uint8/uint16 index into a table of the few distinct values, float64 when
there are too many; one triangle of the diagonal block is stored), 16 per
row (two row-offset arrays) + 24 (D, diag(A), their sum), 16 + 16 + 4 per
ghost column (ghost vector, scatter buffer, column index set)
plus, during setup, 16 bytes per row (non-zero counts) and 5 per global column
(ghost mask, ghost position map) on more than one rank; mu changes touch
nothing stored.
Matrix-free, per rank: the row keys (8 bytes per row for one-neutrino modes,
M int64 otherwise), three float64 diagonals, the ghost values with the
scatter's send/receive buffers (3 x 16 bytes per ghost), the ghost index map
(4 bytes per column of its span), and one byte per global column while the
ghost set is found. Separable matrix-free (separable_operator.py): its
ladder map, diagonals and ghosts (:func:`separable_bytes`). All: the Krylov
basis of MFN (ncv + 1 vectors) plus about 7 work vectors, the local
configurations, the lowering operators and their result vectors when
observables need them, and ~250 MiB of
interpreter, PETSc and compiled kernels.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from . import kernels
from .hamiltonian import ASSEMBLY_CHUNK_NNZ
from .propagator import DEFAULT_NCV
from .real_operator import value_bytes_bound

log = logging.getLogger("nmbhpc.manybody")

BASELINE = 250 * 2**20
#: fraction of MemAvailable that "auto" is willing to plan for
SAFETY = 0.85

#: "auto" when the couplings are a sum of few separable terms (multi-angle
#: 1 - p.q: 4, single-angle: 1): the separable matrix-free product is the
#: fastest and the smallest (N = 20, 2 ranks: 2-4x faster evolution than
#: QuSpin, "real" 1.7-2.3x; docs/performance.md), then the stored real CSR,
#: then the pair-flip matrix-free operator.
AUTO_ORDER_SEPARABLE = ("separable", "real", "shell")
#: "auto" otherwise (couplings with no short separable form: R = M terms)
AUTO_ORDER = ("real", "separable", "shell")
#: at most this many separable coupling terms selects AUTO_ORDER_SEPARABLE
SEPARABLE_MAX_TERMS = 4


class InsufficientMemoryError(RuntimeError):
    """Even the matrix-free operator would not fit in the available memory."""


@dataclass
class MemoryEstimate:
    """Bytes on the most loaded node (``*_node``) and on the largest rank."""

    matrix_rank: int
    shell_rank: int
    matrix_node: int
    shell_node: int
    available_node: int
    nnz: int
    real_rank: int = 0
    real_node: int = 0
    separable_rank: int = 0
    separable_node: int = 0

    def summary(self) -> str:
        return (f"memory estimate per node: stored matrix {_gib(self.matrix_node)} "
                f"({self.nnz:.3g} non-zeros), stored real {_gib(self.real_node)}, "
                f"matrix-free {_gib(self.shell_node)}, separable {_gib(self.separable_node)}; "
                f"available {_gib(self.available_node)}")


def _gib(b: float) -> str:
    return f"{b / 2**30:.2f} GiB"


def mem_available() -> int:
    """MemAvailable of this node from /proc/meminfo (bytes); 0 if unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def sampled_row_entries(configs, counts, couplings, max_rows: int = 4096) -> float:
    """Mean non-zeros per local row of A (diagonal included), from at most ``max_rows`` rows."""
    n = len(configs)
    if n == 0:
        return 0.0
    step = max(1, n // max_rows)
    sample = np.ascontiguousarray(configs[::step], dtype=np.int64)
    return float(kernels.count_row_entries(sample, np.asarray(counts, dtype=np.int64),
                                           np.ascontiguousarray(couplings, dtype=np.float64)).mean())


def estimate(basis, n_local: int, row_entries: float, *, ncv: int, mu_constant: bool,
             n_lowering: int, comm, int_bytes: int = 4) -> MemoryEstimate:
    """Memory of both operator choices on every node. Collective.

    ``row_entries`` is this rank's mean non-zeros per row; ``n_lowering`` the
    number of J^-_p operators the observables hold (0 if none).
    """
    from mpi4py import MPI

    m = basis.n_modes
    n = n_local
    dim = basis.dim
    nnz = row_entries * n
    ncv = ncv if ncv > 0 else DEFAULT_NCV
    common = (BASELINE + n * basis.bytes_per_config()
              + (ncv + 1 + 7) * n * 16
              + n_lowering * n * (16 + int_bytes + 12 + 16))
    ghosts_matrix = min(dim - n, nnz)
    one_matrix = nnz * (16 + int_bytes) + 12 * n + ghosts_matrix * (16 + int_bytes)
    assembly = (8 + 16 + 8) * n + min(nnz, ASSEMBLY_CHUNK_NNZ) * (8 + 8 + 16 + int_bytes)
    matrix = common + one_matrix * (1 if mu_constant else 2) + assembly
    # one triangle of the diagonal block: half of the entries if the columns
    # were uniform (the benchmark model on 2 ranks has only 10% off-block)
    stored = nnz * (0.5 + 0.5 * (dim - n) / max(dim, 1))
    real = (common + stored * value_bytes_bound(basis.counts) + (16 + 24 + 16) * n
            + ghosts_matrix * (16 + 16 + 4) + (5 * dim if comm.Get_size() > 1 else 0))
    qubit = bool(np.all(basis.counts == 1))
    ghosts_shell = ghosts_matrix
    shell = (common + n * (8 if qubit else 8 * m) + 3 * 8 * n
             + 3 * 16 * ghosts_shell + 4 * ghosts_shell
             + (dim if comm.Get_size() > 1 else 0))

    # the separable operator's setup transient is freed before the Krylov basis exists:
    # its peak is the larger of the two, not their sum (N = 26 on 2 ranks: the sum
    # said 3.1 GiB per rank, the measured peak was 1.8 GiB)
    sep_own, sep_setup = separable_bytes(basis, n, comm.Get_size())
    krylov = (ncv + 1 + 7) * n * 16
    separable = common - krylov + sep_own + max(sep_setup, krylov)

    node = comm.Split_type(MPI.COMM_TYPE_SHARED)
    try:
        node_separable = node.allreduce(int(separable))
        node_matrix = node.allreduce(int(matrix))
        node_real = node.allreduce(int(real))
        node_shell = node.allreduce(int(shell))
        avail = node.bcast(mem_available() if node.Get_rank() == 0 else None, root=0)
    finally:
        node.Free()
    # the worst node decides: largest need relative to what it has
    worst = comm.allreduce((node_shell / max(avail, 1), node_matrix, node_shell, avail, node_real,
                            node_separable), op=MPI.MAX)
    return MemoryEstimate(
        matrix_rank=comm.allreduce(int(matrix), op=MPI.MAX),
        shell_rank=comm.allreduce(int(shell), op=MPI.MAX),
        matrix_node=worst[1], shell_node=worst[2], available_node=worst[3],
        nnz=int(comm.allreduce(nnz)),
        real_rank=comm.allreduce(int(real), op=MPI.MAX), real_node=worst[4],
        separable_rank=comm.allreduce(int(separable), op=MPI.MAX), separable_node=worst[5],
    )


def separable_bytes(basis, n_local: int, n_ranks: int) -> tuple[float, float]:
    """(kept, setup transient) bytes of the separable matrix-free operator on one rank
    (separable_operator.py).

    Four float64 diagonals per row; per intermediate row (sectors K - 1, about
    ``n_local x dim_int / dim`` rows) a row offset (8) and its ladder-map entries
    (at most M - K + 1 for one-neutrino modes, M otherwise) at 5 bytes (13 with
    the ladder element of general spins); on more than one rank 4 x 16 bytes per
    ghost (x and y ghosts, scatter send and receive buffers), up to one per
    intermediate row; and the setup transient: the intermediate configurations,
    8 + 4 bytes per entry (global then final index) and 32 per row. The R
    coupling terms cost registers, not memory.
    """
    qubit = bool(np.all(basis.counts == 1))
    m = basis.n_modes
    n = n_local
    if basis.kmax == 0:
        return 4 * 8 * n, 0.0
    from .basis import SectorBasis

    inter = SectorBasis(basis.counts, max(basis.kmin - 1, 0), basis.kmax - 1)
    n_int = n * inter.dim / max(basis.dim, 1)
    entries = n_int * (m - inter.kmin if qubit else m)
    own = 4 * 8 * n + 8 * n_int + (5 if qubit else 13) * entries
    if n_ranks > 1:
        own += 4 * 16 * min(n_int, basis.dim - n)
    setup = n_int * basis.bytes_per_config() + 12 * entries + 32 * n_int
    return own, setup


def choose_operator(requested: str, est: MemoryEstimate, *, order: tuple = AUTO_ORDER) -> str:
    """"matrix", "real", "shell" or "separable" for ``manybody.operator = requested``
    (same on all ranks).

    "auto" takes the first kind of ``order`` that fits in ``SAFETY`` x
    MemAvailable (the solver passes :data:`AUTO_ORDER_SEPARABLE` when the
    couplings have at most :data:`SEPARABLE_MAX_TERMS` separable terms, else
    :data:`AUTO_ORDER`; the complex AIJ "matrix" is never picked: "real" holds
    the same rows in fewer bytes). Raises :class:`InsufficientMemoryError`
    when the chosen (or, for "auto", every candidate) operator exceeds the
    available memory. ``available_node == 0`` (no /proc/meminfo) disables the
    checks.
    """
    avail = est.available_node
    if avail <= 0:
        return requested if requested != "auto" else order[0]
    need = {"matrix": est.matrix_node, "real": est.real_node, "shell": est.shell_node,
            "separable": est.separable_node}
    if requested == "auto":
        for kind in order:
            if need[kind] <= SAFETY * avail:
                return kind
        smallest = min(order, key=need.__getitem__)
        raise InsufficientMemoryError(
            f"the state does not fit: even the smallest operator ({smallest!r}) needs about "
            f"{_gib(need[smallest])} per node and {_gib(avail)} is available "
            f"(stored real matrix: {_gib(est.real_node)}). Use more nodes, or a smaller "
            f"Krylov space (-mfn_ncv, manybody.mfn_ncv)")
    if need[requested] > avail:
        other = min((k for k in need if k != requested), key=need.__getitem__)
        raise InsufficientMemoryError(
            f"manybody.operator = {requested!r} needs about {_gib(need[requested])} per node and "
            f"{_gib(avail)} is available ({other}: {_gib(need[other])}); use operator = 'auto', "
            f"more nodes or a smaller -mfn_ncv")
    return requested
