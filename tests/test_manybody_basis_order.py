"""SectorBasis.configs (first row unranked, the rest stepped) against an independent
enumeration of the basis order: sectors by K, lexicographic within (mode 0 slowest)."""
from itertools import product

import numpy as np
import pytest

from nmbhpc.manybody.basis import SectorBasis

CASES = [
    ([1, 1, 1, 1, 1, 1], 0, 6),
    ([1] * 9, 4, 5),
    ([2, 1, 3, 1], 0, 7),
    ([3, 2, 2], 2, 5),
    ([1, 4, 1, 2, 1], 3, 6),
    ([200, 1, 150], 149, 151),      # int16 configurations
]


def _enumerated(counts, kmin, kmax):
    states = [s for s in product(*(range(n + 1) for n in counts)) if kmin <= sum(s) <= kmax]
    return np.array(sorted(states, key=lambda s: (sum(s), s)))


@pytest.mark.parametrize("counts,kmin,kmax", CASES)
def test_configs_follow_the_basis_order_in_every_window(counts, kmin, kmax):
    basis = SectorBasis(np.array(counts), kmin, kmax)
    want = _enumerated(counts, kmin, kmax)
    assert basis.dim == len(want)
    np.testing.assert_array_equal(basis.all_configs(), want)
    # windows starting anywhere, crossing sector ends, down to single rows
    rng = np.random.default_rng(3)
    for _ in range(40):
        start, stop = sorted(rng.integers(0, basis.dim + 1, size=2))
        np.testing.assert_array_equal(basis.configs(start, stop), want[start:stop])
    for i in range(basis.dim):
        np.testing.assert_array_equal(basis.configs(i, i + 1)[0], want[i])
    assert basis.rank(want).tolist() == list(range(basis.dim))
