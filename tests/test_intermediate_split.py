"""The cost-balanced split of the separable operator's intermediate rows
(manybody/intermediate_split.py) against a dense recount in the test.

The test ranks configurations through a dictionary of SectorBasis.all_configs
(not the operator's ranking kernels), finds each intermediate row's raised
neighbours, their owner ranks and the row's cost, and splits by the rule of the
module docstring. The blocks must equal the collective split on every rank, tile
the intermediate rows in rank order, and hold equal cost up to one row.
"""
import numpy as np
import pytest

from nmbhpc.manybody.basis import SectorBasis
from nmbhpc.manybody.hamiltonian import local_rows
from nmbhpc.manybody import intermediate_split as isp
from nmbhpc.manybody.separable_operator import intermediate_basis


def _dense_split(basis, inter, n_ranks):
    index = {tuple(c): i for i, c in enumerate(basis.all_configs())}
    dim, p = basis.dim, n_ranks
    # PETSc's split: the first dim % P ranks get one row more
    sizes = [dim // p + (r < dim % p) for r in range(p)]
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    costs = []
    for c in inter.all_configs():
        owners = []
        for b in range(basis.n_modes):
            if c[b] < basis.counts[b]:
                up = c.copy()
                up[b] += 1
                owners.append(int(np.searchsorted(bounds, index[tuple(up)], side="right") - 1))
        most = max(np.bincount(owners)) if owners else 0
        costs.append(isp.ENTRY_WEIGHT * len(owners) + isp.GHOST_WEIGHT * (len(owners) - most))
    costs = np.array(costs)
    total = costs.sum()
    start = np.cumsum(costs) - costs
    owner = np.minimum(p * (2 * start + costs) // (2 * total), p - 1)
    rows = np.bincount(owner, minlength=p)
    return np.concatenate([[0], np.cumsum(rows)]), costs


@pytest.mark.parametrize("counts, kmin, kmax", [
    ([1] * 12, 6, 6),            # one-neutrino modes, half filling
    ([1] * 9, 2, 7),             # several sectors
    ([2, 1, 3, 1, 2, 1, 1], 3, 5),  # general spins
])
def test_split_equals_dense_recount(comm, counts, kmin, kmax):
    basis = SectorBasis(np.array(counts, dtype=np.int64), kmin, kmax)
    inter = intermediate_basis(basis)
    _, hi = local_rows(basis, comm)
    t_lo, t_hi = isp.intermediate_rows(inter, basis, hi, comm)
    blocks = comm.allgather((t_lo, t_hi))
    p = comm.Get_size()
    want, costs = _dense_split(basis, inter, p)
    assert [b[0] for b in blocks] == list(want[:-1])
    assert [b[1] for b in blocks] == list(want[1:])
    per_rank = np.array([costs[a:b].sum() for a, b in blocks])
    assert per_rank.sum() == costs.sum()
    # equal shares up to the rows cut at the boundaries
    assert np.all(np.abs(per_rank - costs.sum() / p) <= costs.max())


def test_ghost_weight_moves_rows_off_the_rank_with_ghosts(monkeypatch):
    # the 2-rank half-filled sector: rows with mode 0 empty (all on rank 0 in the even
    # split) read one neighbour of rank 1 each; those of rank 1 none. With ghost costs the
    # boundary moves below the even split's
    m = 12
    basis = SectorBasis(np.ones(m, dtype=np.int64), m // 2, m // 2)
    inter = intermediate_basis(basis)
    balanced, costs = _dense_split(basis, inter, 2)
    w_entry, w_ghost = isp.ENTRY_WEIGHT, isp.GHOST_WEIGHT
    entries = m - (m // 2 - 1)
    assert w_ghost > 0
    assert set(costs.tolist()) == {w_entry * entries, w_entry * entries + w_ghost}
    monkeypatch.setattr(isp, "GHOST_WEIGHT", 0)
    no_ghosts, _ = _dense_split(basis, inter, 2)
    assert no_ghosts[1] == inter.dim // 2
    assert balanced[1] < no_ghosts[1]
