"""The bit-string neighbour ranking of the lean operator (lean_kernels) against an
independent enumeration.

For every string of every sector (M <= 11 modes, k set bits), the raised
neighbours (one zero bit set) are ranked in the sector k + 1, whose strings are
listed here with itertools in numeric order (the basis order of one-neutrino
modes). Both ways of getting them are checked: ranked from scratch
(``_raised``) and stepped from the previous string's (``_step_raised``, which
the product uses along a sector).
"""
from itertools import combinations

import numpy as np
import pytest

from nmbhpc.manybody import lean_kernels as lk


def _sector(m: int, k: int) -> dict[int, int]:
    """{bit string: index} of the strings of m bits with k set, in numeric order."""
    strings = sorted(sum(1 << p for p in c) for c in combinations(range(m), k))
    return {s: i for i, s in enumerate(strings)}


def _expected(bits: int, m: int, nxt: dict[int, int]) -> list[tuple[int, int]]:
    """(rank in the next sector, mode) of each raised neighbour, by increasing bit."""
    return [(nxt[bits | (1 << z)], m - 1 - z) for z in range(m) if not bits >> z & 1]


def test_empty_string_has_no_successor():
    """Sector 0 holds one string; its successor lies past every sector's end."""
    assert int(lk._next_bits(np.uint64(0))) >= 1 << (lk.MAX_BIT_MODES + 1)


@pytest.mark.parametrize("m", range(1, 12))
def test_raised_neighbours_from_scratch_and_stepped(m):
    binom_t = lk.binomials_t(m)
    for k in range(m):
        here, nxt = _sector(m, k), _sector(m, k + 1)
        strings = sorted(here)
        nbr = np.empty(m + 1, dtype=np.int64)
        modes = np.empty(m + 1, dtype=np.int64)
        pos = np.empty(m + 1, dtype=np.int64)
        stepped_nbr = np.empty(m + 1, dtype=np.int64)
        stepped_modes = np.empty(m + 1, dtype=np.int64)
        for i, bits in enumerate(strings):
            cnt = lk._raised(np.uint64(bits), m, k, binom_t, pos, nbr, modes)
            want = _expected(bits, m, nxt)
            assert list(zip(nbr[:cnt].tolist(), modes[:cnt].tolist())) == want, (m, k, bits)
            if i == 0:
                stepped_nbr[:], stepped_modes[:] = nbr, modes
            else:
                assert int(lk._next_bits(np.uint64(strings[i - 1]))) == bits
                lk._step_raised(np.uint64(strings[i - 1]), binom_t, stepped_nbr, stepped_modes,
                                cnt)
                got = list(zip(stepped_nbr[:cnt].tolist(), stepped_modes[:cnt].tolist()))
                assert got == want, (m, k, bin(strings[i - 1]), bin(bits))
