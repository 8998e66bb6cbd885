"""Compiled (numba) kernels of the matrix-free H: ``y = (D + mu A) x`` row by row.

Two row generators, the same operator (matrix elements of Eq. (1) from eq1.py):

* **qubit** (every mode holds one neutrino, the spin-1/2 model): a basis state
  is a bit string with bit ``M-1-p`` set when ``k_p = 1``. The basis order (by
  sector, then lexicographic in ``k`` with ``k_0`` slowest) is then numeric
  order within a popcount, so the index of a state is
  ``sector_offset[K - kmin] + sum_i C(q_i, i)`` over its set bits
  ``q_1 < q_2 < ...`` (colex rank). That sum splits at bit ``nlow`` into
  ``lo_tab[low bits] + hi_tab[popcount(low bits), high bits]`` (a "Lin table"),
  so the column of every flip ``J^+_a J^-_b`` costs two table look-ups instead
  of an O(|a - b|) ranking, and nothing per non-zero is stored.
* **generic** (any spins): the row walk of kernels.py (prefix/flip ranking),
  O(|a - b|) per non-zero.

The off-diagonal element of a flip is eq1.flip_amplitude (Eq. (1); ``c_ab / (2N)``
for a qubit flip, tabulated per mode pair); it is
real (H is real symmetric), so the kernels multiply complex ``x`` by real
coefficients and store no values at all.

Columns outside the local row block ``[lo, hi)`` are read from ``x_ghost`` at
``ghost_map[j - ghost_base]`` (the ghost values are gathered by one PETSc
VecScatter per product, built once from the count walks of the stored operator,
real_kernels.qubit_count / generic_count, which walk the same rows).
"""
from __future__ import annotations

import numpy as np

from ..runtime.jit import njit
from . import eq1
from .kernels import _flip_buffers, _load_row, _row_flips


# --- qubit (spin-1/2) modes ---------------------------------------------------
def qubit_tables(m: int):
    """Lin tables for colex ranks of m-bit strings (host code, tiny arrays).

    Returns ``(nlow, lo_tab[2^nlow], hi_tab[nlow + 1, 2^(m - nlow)], pop[2^max])``.
    """
    from math import comb

    nlow = m // 2
    nhigh = m - nlow
    pop = np.array([bin(v).count("1") for v in range(1 << max(nlow, nhigh))], dtype=np.int64)
    lo_tab = np.zeros(1 << nlow, dtype=np.int64)
    for v in range(1 << nlow):
        i, s = 0, 0
        for q in range(nlow):
            if v >> q & 1:
                i += 1
                s += comb(q, i)
        lo_tab[v] = s
    hi_tab = np.zeros((nlow + 1, 1 << nhigh), dtype=np.int64)
    for c in range(nlow + 1):
        for v in range(1 << nhigh):
            i, s = c, 0
            for q in range(nhigh):
                if v >> q & 1:
                    i += 1
                    s += comb(q + nlow, i)
            hi_tab[c, v] = s
    return nlow, lo_tab, hi_tab, pop


def is_qubit_basis(counts) -> bool:
    """One neutrino per mode and few enough modes for the uint64 bit strings of
    :func:`configs_to_bits` (bit 63 stays free for the shifts of the kernels)."""
    counts = np.asarray(counts)
    return bool(np.all(counts == 1)) and len(counts) <= 62


@njit(cache=True)
def configs_to_bits(configs):
    """Bit strings (bit ``M-1-p`` = k_p) of 0/1 configurations [n, M] -> uint64[n]."""
    n, m = configs.shape
    out = np.zeros(n, dtype=np.uint64)
    for i in range(n):
        s = np.uint64(0)
        for p in range(m):
            if configs[i, p]:
                s |= np.uint64(1) << np.uint64(m - 1 - p)
        out[i] = s
    return out


@njit(cache=True)
def qubit_ranks(bits, nlow, lo_tab, hi_tab, pop, kmin, sector_offset):
    """Basis index of each bit string (for tests and checks)."""
    mask = (np.uint64(1) << np.uint64(nlow)) - np.uint64(1)
    out = np.empty(bits.shape[0], dtype=np.int64)
    for i in range(bits.shape[0]):
        s = bits[i]
        low = np.int64(s & mask)
        high = np.int64(s >> np.uint64(nlow))
        K = pop[low] + pop[high]
        out[i] = sector_offset[K - kmin] + lo_tab[low] + hi_tab[pop[low], high]
    return out


@njit(cache=True, inline="always")
def _x_at(j, lo, hi, x, x_ghost, ghost_map, ghost_base):
    """Entry j of the global x: local in ``[lo, hi)``, else the gathered ghost value."""
    if j >= lo and j < hi:
        return x[j - lo]
    return x_ghost[ghost_map[j - ghost_base]]


@njit(cache=True)
def apply_qubit(bits, m, flips, nlow, lo_tab, hi_tab, pop, kmin, sector_offset, lo, hi,
                diag, mu, x, x_ghost, ghost_map, ghost_base, y):
    """``y = diag * x + mu * A_off x`` for the local rows (qubit modes).

    ``diag`` is the full local diagonal ``D + mu diag(A)``; ``flips`` is
    eq1.qubit_flip_table (``c_ab / (2N)``). For a removed bit ``qa`` the flips ``qa -> qb`` with
    ``qb`` in the low half share the high-half table term, those with ``qb``
    in the high half share the low-half one: one look-up per non-zero.
    """
    lmask = (np.uint64(1) << np.uint64(nlow)) - np.uint64(1)
    one = np.uint64(1)
    # couplings indexed by bit position (bit q is mode m - 1 - q)
    hc = np.empty((m, m))
    for qa in range(m):
        for qb in range(m):
            hc[qa, qb] = flips[m - 1 - qa, m - 1 - qb]
    setb = np.empty(m, dtype=np.int64)
    free_lo = np.empty(m, dtype=np.int64)
    free_hi = np.empty(m, dtype=np.int64)
    for i in range(bits.shape[0]):
        s = bits[i]
        ns = nfl = nfh = 0
        for q in range(m):
            if s >> np.uint64(q) & one:
                setb[ns] = q
                ns += 1
            elif q < nlow:
                free_lo[nfl] = q
                nfl += 1
            else:
                free_hi[nfh] = q - nlow
                nfh += 1
        base = sector_offset[ns - kmin]
        # real coefficients: accumulate the real and imaginary parts apart
        # (a complex product would cost four multiplications, not two)
        ar = 0.0
        ai = 0.0
        for ia in range(ns):
            qa = setb[ia]
            t = s ^ (one << np.uint64(qa))
            tl = np.int64(t & lmask)
            th = np.int64(t >> np.uint64(nlow))
            c_lo = base + hi_tab[pop[tl] + 1, th]
            for ib in range(nfl):
                qb = free_lo[ib]
                c = hc[qa, qb]
                if c == 0.0:
                    continue
                j = c_lo + lo_tab[tl | (1 << qb)]
                v = _x_at(j, lo, hi, x, x_ghost, ghost_map, ghost_base)
                ar += c * v.real
                ai += c * v.imag
            c_hi = base + lo_tab[tl]
            prow = pop[tl]
            for ib in range(nfh):
                qb = free_hi[ib]
                c = hc[qa, qb + nlow]
                if c == 0.0:
                    continue
                j = c_hi + hi_tab[prow, th | (1 << qb)]
                v = _x_at(j, lo, hi, x, x_ghost, ghost_map, ghost_base)
                ar += c * v.real
                ai += c * v.imag
        y[i] = diag[i] * x[i] + mu * complex(ar, ai)


# --- any spins -------------------------------------------------------------------
@njit(cache=True)
def apply_generic(configs, counts, coup, cum, kmin, sector_offset, lo, hi,
                  diag, mu, x, x_ghost, ghost_map, ghost_base, y):
    """As :func:`apply_qubit` for configurations [n, M] of any spins."""
    n, m = configs.shape
    kk, cols, fa, fb = _flip_buffers(m)
    for i in range(n):
        base, pre, rem = _load_row(configs, i, kk, cum, kmin, sector_offset)
        acc = 0j
        for e in range(_row_flips(kk, counts, coup, cum, base, pre, rem, cols, fa, fb)):
            a = fa[e]
            b = fb[e]
            j = cols[e]
            c = eq1.flip_amplitude(coup[a, b], counts[a], kk[a], counts[b], kk[b])
            acc += c * _x_at(j, lo, hi, x, x_ghost, ghost_map, ghost_base)
        y[i] = diag[i] * x[i] + mu * acc


@njit(cache=True)
def interaction_diagonal(configs, counts, factors, weights):
    """``sum_{p<q} c_pq m_p m_q`` per row with ``c/N = sum_r w_r f_r f_r^T`` (zero diagonal):
    eq1.pair_diagonal_separable, O(R M) per row instead of O(M^2)."""
    n, m = configs.shape
    nr = factors.shape[0]
    cdiag = np.zeros(m)
    for r in range(nr):
        for p in range(m):
            cdiag[p] += weights[r] * factors[r, p] * factors[r, p]
    out = np.empty(n)
    mv = np.empty(m)
    for i in range(n):
        for p in range(m):
            mv[p] = 0.5 * counts[p] - configs[i, p]
        out[i] = eq1.pair_diagonal_separable(factors, weights, cdiag, mv)
    return out
