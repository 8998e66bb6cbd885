"""Index arithmetic beyond 2^31 states, without allocating a state vector.

The half-filled sector of N = 34 qubit modes has C(34, 17) = 2,333,606,220
states (> 2^31). Ranking and unranking of the engine's basis, and the ranks of
pair-flipped configurations (the column indices of H_MB's rows), are checked
near and above 2^31 and at the end of the basis against an independent
ranking in exact Python integers. Runs on the 32- and 64-bit-index PETSc
builds (``make test-int64``): the basis never passes through PetscInt.
"""
from __future__ import annotations

import os
from math import comb

import numpy as np
import pytest

from nmbhpc.manybody.basis import SectorBasis

M, K = 34, 17
DIM = comb(M, K)


def lex_rank(config) -> int:
    """Rank among weight-K 0/1 tuples in ascending lexicographic order (Python ints)."""
    rank, ones_left = 0, sum(config)
    for p, bit in enumerate(config):
        if bit:
            rank += comb(len(config) - 1 - p, ones_left)
            ones_left -= 1
    return rank


def lex_unrank(rank: int, m: int, k: int) -> list[int]:
    """Inverse of :func:`lex_rank`."""
    out = []
    for p in range(m):
        below = comb(m - 1 - p, k)  # tuples with a 0 here
        if k > 0 and rank >= below:
            out.append(1)
            rank -= below
            k -= 1
        else:
            out.append(0)
    return out


INDICES = [0, 1, 2**31 - 2, 2**31 - 1, 2**31, 2**31 + 1, DIM - 10**6, DIM - 2, DIM - 1]


def test_half_filled_n34_basis_ranks_beyond_2_31():
    assert DIM > 2**31
    basis = SectorBasis(np.ones(M, dtype=np.int64), K, K)
    assert basis.dim == DIM
    for i in INDICES:
        config = basis.configs(i, i + 1)[0]
        assert config.tolist() == lex_unrank(i, M, K), i
        assert int(basis.rank(config[None, :])[0]) == i
    block = basis.configs(2**31 - 3, 2**31 + 3)
    assert basis.rank(block).tolist() == list(range(2**31 - 3, 2**31 + 3))
    assert basis.rank(block).dtype == np.int64
    assert basis.configs(DIM, DIM).shape == (0, M)   # an empty block at the end is fine
    for start, stop in [(DIM - 1, DIM + 1), (DIM, DIM + 1), (-1, 1), (5, 4)]:
        with pytest.raises(IndexError, match=str(DIM)):
            basis.configs(start, stop)


def test_pair_flip_targets_beyond_2_31():
    """Columns of H_MB's row 2^31 + 1: every J+_a J-_b flip lands on the independent rank."""
    basis = SectorBasis(np.ones(M, dtype=np.int64), K, K)
    row = basis.configs(2**31 + 1, 2**31 + 2)[0].astype(np.int64)
    flipped = []
    for a in np.flatnonzero(row == 1):          # a down quantum leaves mode a ...
        for b in np.flatnonzero(row == 0):      # ... and goes to mode b
            c = row.copy()
            c[a], c[b] = 0, 1
            flipped.append(c)
    flipped = np.array(flipped)
    assert len(flipped) == K * (M - K)
    got = basis.rank(flipped)
    want = [lex_rank(c.tolist()) for c in flipped]
    assert got.tolist() == want
    assert max(want) > 2**31 and min(want) < 2**31  # the row's columns straddle 2^31


def test_petsc_index_size_is_the_requested_build():
    """The 64-bit CI leg really runs on a 64-bit PetscInt (NMBHPC_PETSC_INDEX_BITS=64),
    the default passes on Debian's 32-bit build."""
    from nmbhpc.runtime.stack import INDEX_BITS_ENV, init_petsc

    PETSc, _ = init_petsc([])
    bits = 8 * np.dtype(PETSc.IntType).itemsize
    petsc_dir = os.environ.get("PETSC_DIR", "")
    if not petsc_dir.startswith("/usr/lib/petscdir/"):
        pytest.skip(f"not a Debian build: PETSC_DIR={petsc_dir!r}")
    wanted = 64 if "/petsc64-" in petsc_dir else int(os.environ.get(INDEX_BITS_ENV, "32"))
    assert bits == wanted
