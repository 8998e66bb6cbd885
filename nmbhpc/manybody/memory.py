"""Memory model of the exact engine: bytes per rank and node for each operator kind.

The estimate is made before any operator is built, from the basis, the local
row count and the number of non-zeros per row (counted on a sample of the
local rows, exact for one-neutrino modes in one sector), and it decides
``manybody.operator = "auto"``. All sizes are bytes; a complex PETSc scalar is
16 bytes, a PetscInt 4 (the Debian build) or 8.

Each operator kind keeps its own model next to its build
(operators.OperatorKind.memory: hamiltonian.memory_bytes,
real_operator.memory_bytes, shell_operator.memory_bytes,
separable_operator.memory_bytes). They all read :class:`Sizes`, whose
``common`` part every kind holds: the Krylov basis of MFN (ncv + 1 vectors)
plus about 7 work vectors (the Chebyshev propagator: its 2-3 work vectors, psi and D), the local configurations, the lowering operators
and their result vectors when observables need them, and ~250 MiB of
interpreter, PETSc and compiled kernels.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from . import kernels
from .propagator import DEFAULT_NCV

log = logging.getLogger(__name__)

BASELINE = 250 * 2**20
#: fraction of MemAvailable that "auto" is willing to plan for
SAFETY = 0.85


class InsufficientMemoryError(RuntimeError):
    """Even the matrix-free operator would not fit in the available memory."""


@dataclass(frozen=True)
class Sizes:
    """What every operator kind's memory model (operators.OperatorKind.memory) reads.

    ``n`` local rows, ``dim`` basis states, ``nnz`` this rank's non-zeros of A
    (diagonal included), ``ghosts`` an upper bound of the off-rank columns the
    local rows read, ``common`` the bytes every kind shares (baseline, local
    configurations, Krylov basis and work vectors, lowering operators),
    ``krylov`` the Krylov part of ``common``, ``vectors`` the work vectors of a
    propagator without a Krylov basis (0: MFN or spectral).
    """

    basis: object
    n: int
    dim: int
    nnz: float
    ghosts: float
    common: float
    krylov: float
    int_bytes: int
    mu_constant: bool
    n_ranks: int
    vectors: int = 0

    @property
    def qubit(self) -> bool:
        return bool(np.all(self.basis.counts == 1))


@dataclass
class MemoryEstimate:
    """Bytes per operator kind on the most loaded node (``node``) and on the largest
    rank (``rank``), the available bytes of that node and the global non-zeros of A."""

    node: dict = field(default_factory=dict)
    rank: dict = field(default_factory=dict)
    available_node: int = 0
    nnz: int = 0

    def summary(self) -> str:
        kinds = ", ".join(f"{name} {_gib(b)}" for name, b in self.node.items())
        return (f"memory estimate per node ({self.nnz:.3g} non-zeros): {kinds}; "
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


def sizes(basis, n_local: int, row_entries: float, *, ncv: int, mu_constant: bool,
          n_lowering: int, n_ranks: int, int_bytes: int = 4, vectors: int = 0) -> Sizes:
    """The :class:`Sizes` of one rank with ``n_local`` rows. Not collective.

    ``row_entries`` is this rank's mean non-zeros per row; ``n_lowering`` the
    number of J^-_p operators the observables hold (0 if none); ``vectors`` the
    work vectors of a propagator without a Krylov basis (the Chebyshev one:
    chebyshev_propagator.state_vectors), which then replace MFN's ``ncv + 1``
    basis and ~7 work vectors (psi and the Vec of D are added to them).
    """
    n = n_local
    nnz = row_entries * n
    ncv = ncv if ncv > 0 else DEFAULT_NCV
    krylov = ((vectors + 2) if vectors > 0 else (ncv + 1 + 7)) * n * 16
    common = (BASELINE + n * basis.bytes_per_config() + krylov
              + n_lowering * n * (16 + int_bytes + 12 + 16))
    return Sizes(basis=basis, n=n, dim=basis.dim, nnz=nnz, ghosts=min(basis.dim - n, nnz),
                 common=common, krylov=krylov, int_bytes=int_bytes, mu_constant=mu_constant,
                 n_ranks=n_ranks, vectors=vectors)


def estimate(basis, n_local: int, row_entries: float, *, kinds: dict, ncv: int,
             mu_constant: bool, n_lowering: int, comm, int_bytes: int = 4,
             vectors: int = 0) -> MemoryEstimate:
    """Memory of every operator kind on every node. Collective.

    ``kinds`` maps a kind's name to its memory model (bytes on one rank from
    :class:`Sizes`; operators.memory_models()); the other arguments as :func:`sizes`.
    """
    from mpi4py import MPI

    sz = sizes(basis, n_local, row_entries, ncv=ncv, mu_constant=mu_constant,
               n_lowering=n_lowering, n_ranks=comm.Get_size(), int_bytes=int_bytes,
               vectors=vectors)
    names = list(kinds)
    local = [int(kinds[name](sz)) for name in names]
    node = comm.Split_type(MPI.COMM_TYPE_SHARED)
    try:
        node_need = [node.allreduce(b) for b in local]
        avail = node.bcast(mem_available() if node.Get_rank() == 0 else None, root=0)
    finally:
        node.Free()
    # the worst node decides: largest need (of the smallest kind) relative to what it has
    ratio = min(node_need) / max(avail, 1) if node_need else 0.0
    worst = comm.allreduce((ratio, avail, *node_need), op=MPI.MAX)
    return MemoryEstimate(
        node=dict(zip(names, worst[2:])),
        rank={name: comm.allreduce(b, op=MPI.MAX) for name, b in zip(names, local)},
        available_node=worst[1], nnz=int(comm.allreduce(sz.nnz)))


def choose_operator(requested: str, est: MemoryEstimate, order: tuple) -> str:
    """The operator kind for ``manybody.operator = requested`` (same on all ranks).

    "auto" takes the first kind of ``order`` (operators.auto_order) that fits
    in ``SAFETY`` x MemAvailable. Raises :class:`InsufficientMemoryError`
    when the chosen (or, for "auto", every candidate) kind exceeds the
    available memory; an explicit kind above ``SAFETY`` x MemAvailable is
    logged as a warning (the estimate is good to ~20 %). ``available_node == 0``
    (no /proc/meminfo) disables the checks.
    """
    avail = est.available_node
    if avail <= 0:
        return requested if requested != "auto" else order[0]
    need = est.node
    if requested == "auto":
        for kind in order:
            if need[kind] <= SAFETY * avail:
                return kind
        smallest = min(order, key=need.__getitem__)
        raise InsufficientMemoryError(
            f"the state does not fit: even the smallest operator ({smallest!r}) needs about "
            f"{_gib(need[smallest])} per node and {_gib(avail)} is available "
            f"({est.summary()}). Use more nodes, or a smaller "
            f"Krylov space (-mfn_ncv, manybody.mfn_ncv)")
    if need[requested] > avail:
        others = [k for k in need if k != requested]
        hint = ""
        if others:
            other = min(others, key=need.__getitem__)
            hint = f" ({other}: {_gib(need[other])})"
        raise InsufficientMemoryError(
            f"manybody.operator = {requested!r} needs about {_gib(need[requested])} per node and "
            f"{_gib(avail)} is available{hint}; use operator = 'auto', "
            f"more nodes or a smaller -mfn_ncv")
    if need[requested] > SAFETY * avail:
        # an explicit choice runs up to MemAvailable; the model is good to ~20 %
        log.warning("manybody.operator = %r needs about %s per node, %.0f %% of the %s "
                    "available: the run may be killed for memory", requested,
                    _gib(need[requested]), 100 * need[requested] / avail, _gib(avail))
    return requested


@dataclass(frozen=True)
class SectorPlan:
    """Memory of the sector-by-sector evolution (``manybody.sectors = "one_at_a_time"``,
    sectors.py) on one rank, in bytes.

    ``vectors``: every sector's state vector (16 bytes per local state);
    ``operator[kind]``: the largest sector's operator of that kind with its own
    configurations, Krylov basis, work vectors and the runtime (the kind's model on
    that sector's :class:`Sizes`); ``observables``: the largest transient of a
    record (one sector's configurations and the ladder map to the next sector, plus
    the lowering operators and their vectors with pair correlations); ``kept[kind]``:
    every sector's operator at once, without Krylov basis (what keeping them between
    output intervals costs).
    """

    vectors: float
    operator: dict
    observables: float
    kept: dict

    def peak(self, kind: str) -> float:
        """Peak bytes on one rank with operators of ``kind`` built one sector at a time."""
        return self.vectors + max(self.operator[kind], BASELINE + self.observables)

    def peak_kept(self, kind: str) -> float:
        """Peak bytes on one rank when every sector's operator of ``kind`` is kept."""
        return self.peak(kind) + self.kept[kind]

    def estimate(self, per_node: int, available_node: int, nnz: int = 0) -> MemoryEstimate:
        """The :class:`MemoryEstimate` (per node: ``per_node`` ranks like this one)."""
        return MemoryEstimate(node={k: self.peak(k) * per_node for k in self.operator},
                              rank={k: self.peak(k) for k in self.operator},
                              available_node=available_node, nnz=nnz)

    def summary(self) -> str:
        kinds = ", ".join(f"{name} {_gib(self.peak(name))}" for name in self.operator)
        return (f"one sector at a time, per rank: sector vectors {_gib(self.vectors)}, "
                f"peak with the largest sector's operator: {kinds}")


def sector_plan(sector_sizes: list, kinds: dict, observables: float) -> SectorPlan:
    """The :class:`SectorPlan` from the :class:`Sizes` of every sector on one rank
    (:func:`sizes` with that sector as the basis), the kinds' memory models
    (operators.memory_models()) and the largest observables transient. Not collective."""
    vectors = float(sum(16 * sz.n for sz in sector_sizes))
    operator = {name: max(model(sz) for sz in sector_sizes) for name, model in kinds.items()}
    # what stays of a built operator without Krylov basis and runtime: its own storage,
    # the sector's configurations and its vacuum diagonal
    kept = {name: float(sum(model(sz) - sz.common + sz.n * (sz.basis.bytes_per_config() + 16)
                            for sz in sector_sizes))
            for name, model in kinds.items()}
    return SectorPlan(vectors=vectors, operator=operator, observables=float(observables),
                      kept=kept)
