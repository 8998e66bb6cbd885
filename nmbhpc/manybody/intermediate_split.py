"""Split of the separable operator's intermediate rows over the ranks, balanced by cost.

The separable product (separable_operator.py) sweeps a ladder map with one
row per intermediate state t (sectors K - 1). The basis rows keep PETSc's
even split; the intermediate rows are split on their own into contiguous
blocks of equal *cost*,

    c_t = ENTRY_WEIGHT e_t + GHOST_WEIGHT g_t,

with ``e_t`` the map entries of row t (its raised neighbours ``t + e_b``) and
``g_t`` the entries that fall outside the basis block of the row's *home*
rank, the rank that owns most of those neighbours (ties: the lowest rank).
``g_t`` is what the row costs in ghosts when it sits on its home rank; it does
not depend on the split, so the split follows from prefix sums of ``c_t``:
row t goes to rank ``floor(P (2 S_t + c_t) / (2 C))`` (``S_t``: the cost of
the rows before t, ``C``: the total; integer arithmetic, so every rank and
the scaling model get the same blocks). With all weights on the entries
(``GHOST_WEIGHT = 0``) and equal entries per row this is PETSc's even split
up to rounding.

Why it is not the even split: in the lexicographic order of basis.py (mode 0
slowest) the raised neighbour through a slow mode lies far away, so on 2
ranks every intermediate row with ``k_0 = 0`` reads (and adds to) one ghost,
and the even split gives rank 0 about 7x the ghosts of rank 1 (N = 20:
83 980 against 12 290) for equal entries.

The weights (entries : ghosts = ENTRY_WEIGHT : GHOST_WEIGHT = 4 : 1) are
measured: with 1 the two ranks' sweeps of the N = 20 product are level, with
4 rank 1's is 0.2 ms longer (docs/performance.md section 1). scaling_model.py
reimplements this split with its own ranking, on purpose.
"""
from __future__ import annotations

import numpy as np

from ..runtime.jit import njit
from . import separable_kernels as spk
from .basis import SectorBasis
from .hamiltonian import local_rows

#: cost of one ladder-map entry and of one ghost entry of the home rank (integers:
#: the split is computed in integer arithmetic, identically on every rank)
ENTRY_WEIGHT = 4
GHOST_WEIGHT = 1

#: intermediate rows ranked per chunk while counting (bounds the transient memory)
_CHUNK = 1 << 18


@njit(cache=True)
def row_costs(configs, counts, cum, t_kmin, t_offset, bounds, w_entry, w_ghost, out):
    """``out[i] = w_entry e_i + w_ghost g_i`` for the intermediate configurations
    ``configs`` (see the module docstring); ``bounds[0..P]`` are the basis row
    blocks of the ranks. Local."""
    n, m = configs.shape
    n_ranks = bounds.shape[0] - 1
    kk, shifted, plain, rem, nbr, modes = spk._neighbour_buffers(m)
    per_owner = np.zeros(n_ranks, dtype=np.int64)
    owners = np.empty(m, dtype=np.int64)
    for i in range(n):
        cnt = spk._row_neighbours(configs[i], counts, cum, 1, t_kmin, t_offset, kk, shifted,
                                  plain, rem, nbr, modes)
        best = 0
        for e in range(cnt):
            o = np.searchsorted(bounds, nbr[e], side="right") - 1
            owners[e] = o
            per_owner[o] += 1
            if per_owner[o] > best:
                best = per_owner[o]
        for e in range(cnt):
            per_owner[owners[e]] = 0
        out[i] = w_entry * cnt + w_ghost * (cnt - best)


def owner_of_rows(costs: np.ndarray, before: int, total: int, n_ranks: int) -> np.ndarray:
    """Rank of each row of a block whose costs are ``costs``, given the cost of all rows
    before the block (``before``) and of all rows (``total``): the rank whose equal
    share of ``total`` holds the row's cost midpoint. Local; integer arithmetic."""
    start = before + np.concatenate(([0], np.cumsum(costs[:-1], dtype=np.int64)))
    if total <= 0:
        return np.zeros(len(costs), dtype=np.int64)
    owner = (n_ranks * (2 * start + costs)) // (2 * total)
    return np.minimum(owner, n_ranks - 1)


def intermediate_rows(inter: SectorBasis, basis: SectorBasis, hi: int, comm
                      ) -> tuple[int, int]:
    """This rank's block ``[t_lo, t_hi)`` of the intermediate rows ``inter``, of equal cost
    on every rank (module docstring); ``hi`` ends this rank's block of ``basis`` rows.
    Collective: each rank ranks the raised neighbours of its share of PETSc's even
    split of the intermediate rows once (O(M) per row), then two Allgathers and an
    Allreduce of P integers."""
    from mpi4py import MPI

    n_ranks = comm.Get_size()
    if n_ranks == 1:
        return 0, inter.dim
    e_lo, e_hi = local_rows(inter, comm)
    his = comm.allgather(hi)
    bounds = np.array([0] + his, dtype=np.int64)
    costs = np.empty(e_hi - e_lo, dtype=np.int64)
    for c0 in range(e_lo, e_hi, _CHUNK):
        c1 = min(c0 + _CHUNK, e_hi)
        row_costs(inter.configs(c0, c1), basis.counts, basis.cum, basis.kmin,
                  basis.sector_offset, bounds, ENTRY_WEIGHT, GHOST_WEIGHT, costs[c0 - e_lo:c1 - e_lo])
    sums = np.array(comm.allgather(int(costs.sum())), dtype=np.int64)
    before, total = int(sums[:comm.Get_rank()].sum()), int(sums.sum())
    per_rank = np.bincount(owner_of_rows(costs, before, total, n_ranks), minlength=n_ranks)
    rows = np.zeros(n_ranks, dtype=np.int64)
    comm.Allreduce(per_rank.astype(np.int64), rows, op=MPI.SUM)
    ends = np.cumsum(rows)
    r = comm.Get_rank()
    return int(ends[r] - rows[r]), int(ends[r])
