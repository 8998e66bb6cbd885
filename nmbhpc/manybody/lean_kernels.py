"""Compiled (numba) kernels of the lean separable operator (lean_operator.py).

The same sweep as separable_kernels.apply4/apply (per intermediate state j of
the sectors K - 1: gather ``z_r = sum_b f_rb u_jb x[j + e_b]``, scatter-add
``y[j + e_b] += mu u_jb sum_r g_rb z_r`` over the same neighbours), but with
nothing stored per entry: each rank walks its intermediate states in basis
order (:func:`kernels.next_config`, unranking only its first state and each new
sector's) and ranks their raised neighbours on the fly
(separable_kernels._row_neighbours, O(M) per state for all of them; for
one-neutrino modes, bit strings stepped from one state to the next: see the
section on them below).

Off-rank neighbours are addressed through *ghost spans*: per other rank q one
contiguous range ``[span_lo[q], span_hi[q])`` of q's rows, the smallest that
holds every neighbour this rank's intermediate states reach there. A global
index ``c`` outside the own rows ``[lo, hi)`` is ghost entry
``span_pos[q] + c - span_lo[q]``; the spans are sorted by global index, so
the right one is found by bisection over the few spans (one on 2 ranks).
Contiguous spans are what lets the ghost exchange send and receive straight
from and into the vectors' arrays, with no packing buffers (lean_operator.py).
"""
from __future__ import annotations

import numpy as np
from numba.cpython.unsafe.numbers import trailing_zeros

from ..runtime.jit import njit
from . import eq1, kernels
from .separable_kernels import (_neighbour_buffers, _row_neighbours, lower4,
                                qubit_offdiag_abs_sum, raise4)


@njit(cache=True, inline="always")
def _advance(j, row0, cur, counts, cum, kmin, offset):
    """Make ``cur[0]`` the configuration of index j, given that it holds j - 1 (or
    nothing, when j == row0)."""
    if j == row0 or not kernels.next_config(cur[0], counts):
        kernels.unrank_range(j, cum, kmin, offset, cur)


@njit(cache=True, inline="always")
def _span_of(c, span_lo):
    """Index q of the last span with ``span_lo[q] <= c`` (bisection)."""
    a = 0
    b = span_lo.shape[0]
    while b - a > 1:
        m = (a + b) // 2
        if span_lo[m] <= c:
            a = m
        else:
            b = m
    return a


@njit(cache=True)
def neighbour_spans(row0, row1, icum, ikmin, ioffset, counts, cum, kmin, offset, blocks,
                    out_min, out_max):
    """For the intermediate states ``row0..row1-1``, the smallest and largest raised
    neighbour index in every rank's row block ``blocks[q]..blocks[q+1]-1``
    (``out_min[q] > out_max[q]`` when none lands there). Local."""
    m = counts.shape[0]
    kk, shifted, plain, rem, out, modes = _neighbour_buffers(m)
    nb = blocks.shape[0] - 1
    cur = np.empty((1, m), dtype=np.int64)
    for j in range(row0, row1):
        _advance(j, row0, cur, counts, icum, ikmin, ioffset)
        cnt = _row_neighbours(cur[0], counts, cum, 1, kmin, offset, kk, shifted, plain,
                              rem, out, modes)
        for e in range(cnt):
            c = out[e]
            q = _span_of(c, blocks[:nb])
            if c < out_min[q]:
                out_min[q] = c
            if c > out_max[q]:
                out_max[q] = c


@njit(cache=True, fastmath=True)
def apply(row0, row1, icum, ikmin, ioffset, counts, cum, kmin, offset, lo, hi,
          span_lo, span_hi, span_pos, lower_coef, raise_coef, qubit, mu, x, xg, y, yg):
    """``y += mu A_off' x`` over the intermediate states ``row0..row1-1`` (see the
    module docstring; ``A_off'`` is the ladder part of separable_operator's
    product). ``x``/``y`` are the own rows ``lo..hi-1``, ``xg``/``yg`` the ghost
    spans. R = lower_coef.shape[1] coupling terms, any R; one-neutrino modes
    (``qubit``) skip the ladder elements. Local."""
    m = counts.shape[0]
    nr = lower_coef.shape[1]
    kk, shifted, plain, rem, out, modes = _neighbour_buffers(m)
    pos = np.empty(m, dtype=np.int64)
    ghost = np.empty(m, dtype=np.bool_)
    lad = np.ones(m)
    z = np.empty(nr, dtype=np.complex128)
    cur = np.empty((1, m), dtype=np.int64)
    for j in range(row0, row1):
        _advance(j, row0, cur, counts, icum, ikmin, ioffset)
        cnt = _row_neighbours(cur[0], counts, cum, 1, kmin, offset, kk, shifted, plain,
                              rem, out, modes)
        z[:] = 0.0
        for e in range(cnt):
            c = out[e]
            a = modes[e]
            if c >= lo and c < hi:
                pos[e] = c - lo
                ghost[e] = False
                v = x[c - lo]
            else:
                q = _span_of(c, span_lo)
                pos[e] = span_pos[q] + c - span_lo[q]
                ghost[e] = True
                v = xg[pos[e]]
            if not qubit:
                lad[e] = eq1.j_plus(counts[a], kk[a] + 1)
                v = v * lad[e]
            for r in range(nr):
                z[r] += lower_coef[a, r] * v
        for e in range(cnt):
            a = modes[e]
            s = 0j
            for r in range(nr):
                s += raise_coef[a, r] * z[r]
            s = mu * s
            if not qubit:
                s = s * lad[e]
            if ghost[e]:
                yg[pos[e]] += s
            else:
                y[pos[e]] += s


@njit(cache=True, fastmath=True)
def apply4(row0, row1, icum, ikmin, ioffset, counts, cum, kmin, offset, lo, hi,
           span_lo, span_hi, span_pos, lower_coef, raise_coef, qubit, mu, x, xg, y, yg):
    """:func:`apply` for R = 4 (multi-angle ``1 - p.q``): the 8 accumulators stay
    in registers. Local."""
    m = counts.shape[0]
    kk, shifted, plain, rem, out, modes = _neighbour_buffers(m)
    pos = np.empty(m, dtype=np.int64)
    ghost = np.empty(m, dtype=np.bool_)
    lad = np.ones(m)
    cur = np.empty((1, m), dtype=np.int64)
    for j in range(row0, row1):
        _advance(j, row0, cur, counts, icum, ikmin, ioffset)
        cnt = _row_neighbours(cur[0], counts, cum, 1, kmin, offset, kk, shifted, plain,
                              rem, out, modes)
        acc = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        for e in range(cnt):
            c = out[e]
            a = modes[e]
            if c >= lo and c < hi:
                pos[e] = c - lo
                ghost[e] = False
                v = x[c - lo]
            else:
                q = _span_of(c, span_lo)
                pos[e] = span_pos[q] + c - span_lo[q]
                ghost[e] = True
                v = xg[pos[e]]
            vr = v.real
            vi = v.imag
            if not qubit:
                lad[e] = eq1.j_plus(counts[a], kk[a] + 1)
                vr *= lad[e]
                vi *= lad[e]
            acc = lower4(acc, lower_coef, a, vr, vi)
        for e in range(cnt):
            sr, si = raise4(acc, raise_coef, modes[e])
            sr *= mu
            si *= mu
            if not qubit:
                sr *= lad[e]
                si *= lad[e]
            if ghost[e]:
                yg[pos[e]] += complex(sr, si)
            else:
                y[pos[e]] += complex(sr, si)


@njit(cache=True)
def diagonal_axpby(alpha, beta, vacuum, mu_diagonal, mu, x, y):
    """``y <- alpha (vacuum + mu mu_diagonal) x + beta y`` in place (``beta = 0``
    overwrites y, whatever it held). Local."""
    n = y.shape[0]
    if beta == 0:
        for i in range(n):
            y[i] = alpha * (vacuum[i] + mu * mu_diagonal[i]) * x[i]
    else:
        for i in range(n):
            y[i] = alpha * (vacuum[i] + mu * mu_diagonal[i]) * x[i] + beta * y[i]


@njit(cache=True)
def interaction_gershgorin(row0, row1, cum, kmin, offset, counts, coup, g, mu_diagonal):
    """``(min, max)`` over the basis rows ``row0..row1-1`` of ``diag A -+ sum_j |A_ij|``
    (Gershgorin discs of A; ``coup = c/N``). The rows are walked in basis order;
    ``diag A`` is ``mu_diagonal + (1/2) sum_a g_a k_a (n_a - k_a + 1)`` (the
    operator keeps only ``mu_diagonal``). O(M^2) per row. Local."""
    m = counts.shape[0]
    lo = np.inf
    hi = -np.inf
    cur = np.empty((1, m), dtype=np.int64)
    for j in range(row0, row1):
        _advance(j, row0, cur, counts, cum, kmin, offset)
        d = mu_diagonal[j - row0]
        off = 0.0
        for a in range(m):
            ka = cur[0, a]
            d += 0.5 * g[a] * eq1.j_plus_squared(counts[a], ka)
            if ka == 0:
                continue
            for b in range(m):
                kb = cur[0, b]
                if b == a or kb == counts[b] or coup[a, b] == 0.0:
                    continue
                off += abs(eq1.flip_amplitude(coup[a, b], counts[a], ka, counts[b], kb))
        if d - off < lo:
            lo = d - off
        if d + off > hi:
            hi = d + off
    return lo, hi


@njit(cache=True)
def ladder_diagonal_range(row0, row1, cum, kmin, offset, counts, g, out):
    """separable_kernels.ladder_diagonal for the basis rows ``row0..row1-1``, unranked
    in chunks. Local."""
    m = counts.shape[0]
    cur = np.empty((1, m), dtype=np.int64)
    for j in range(row0, row1):
        _advance(j, row0, cur, counts, cum, kmin, offset)
        s = 0.0
        for a in range(m):
            s += g[a] * eq1.j_plus_squared(counts[a], cur[0, a])
        out[j - row0] = s


# --- one-neutrino modes: configurations as bit strings ---------------------------
# Mode p is bit M - 1 - p, so the basis order (lexicographic, mode 0 slowest) is
# the numeric order of the bit strings of one popcount, and the rank in a sector
# is the combinatorial number system sum_i C(pos_i, i) over the set bits
# pos_1 < pos_2 < ... (kernels.rank_configs gives the same numbers). Setting a
# zero bit t leaves the terms below t, adds C(t, b + 1) (b set bits below t) and
# raises the index of every set bit above t by one: with the totals of both
# forms of the terms, one pass over the bits ranks every raised neighbour.
#
# From one string to the next (_next_bits) only the bits up to the new set bit
# T change, so the neighbours through the zero bits above T keep their b and
# their higher terms, and the string's own rank grows by one: each of those
# ranks grows by one (_step_raised). The zero bits below T are re-ranked from
# the old neighbour through bit T. Per string that is O(r0) work (r0: its
# trailing zeros, O(1) on average over a sector) plus one add per neighbour,
# where _raised costs O(M) with a data-dependent branch per gap.


#: the most modes a bit string of the kernels below holds (uint64, with room for
#: the string one past a sector's last)
MAX_BIT_MODES = 62


@njit(cache=True)
def binomials_t(m: int):
    """``B[i, p] = C(p, i)`` for ``0 <= i <= m + 1``, ``0 <= p <= m`` (int64)."""
    c = np.zeros((m + 2, m + 1), dtype=np.int64)
    for p in range(m + 1):
        c[0, p] = 1
        for i in range(1, p + 1):
            c[i, p] = c[i - 1, p - 1] + c[i, p - 1]
    return c


@njit(cache=True, inline="always")
def _bits_of(j, m, cum, kmin, offset, cur):
    """The bit string of intermediate index j (unranked)."""
    kernels.unrank_range(j, cum, kmin, offset, cur)
    bits = np.uint64(0)
    for p in range(m):
        if cur[0, p]:
            bits |= np.uint64(1) << np.uint64(m - 1 - p)
    return bits


@njit(cache=True, inline="always")
def _next_bits(v):
    """The next larger integer with the same popcount (Gosper's hack). The empty
    string (sector 0) has no successor, and the hack needs a set bit: all ones,
    past the end of every sector of up to :data:`MAX_BIT_MODES` modes."""
    one = np.uint64(1)
    if v == 0:
        return ~np.uint64(0)
    t = v | (v - one)
    low = (~t) & (t + one)
    return (t + one) | ((low - one) >> np.uint64(trailing_zeros(v) + 1))


@njit(cache=True, inline="always")
def _raised(bits, m, k, binom_t, pos, nbr, modes):
    """Ranks (within the next sector) and modes of ``bits`` (k set bits) with one
    zero bit set; returns their number (m - k). ``binom_t[i, t] = C(t, i)``.

    The zero bits between two set bits share the number of set bits below them,
    so each gap is one stream through a row of ``binom_t``."""
    t = bits
    for i in range(k):
        pos[i] = trailing_zeros(t)
        t &= t - np.uint64(1)
    high = 0
    for i in range(k):
        high += binom_t[i + 2, pos[i]]
    low = 0
    start = 0
    cnt = 0
    for i in range(k + 1):
        end = pos[i] if i < k else m
        both = low + high
        for z in range(start, end):
            nbr[cnt] = both + binom_t[i + 1, z]
            modes[cnt] = m - 1 - z
            cnt += 1
        if i < k:
            low += binom_t[i + 1, pos[i]]
            high -= binom_t[i + 2, pos[i]]
            start = pos[i] + 1
    return cnt


@njit(cache=True)
def interaction_gershgorin_qubit(row0, row1, cum, kmin, offset, factors_by_bit, total, weights,
                                 g_by_bit, sign, mu_diagonal):
    """:func:`interaction_gershgorin` for one-neutrino modes whose couplings ``c_ab / N``
    off the diagonal all have the sign ``sign`` (+1 or -1) and are
    ``sum_r w_r f_ra f_rb``: the off-diagonal sums of
    separable_kernels.qubit_offdiag_abs_sum, O(K R) per row instead of O(K (M - K))
    flips. ``factors_by_bit[z, r]`` is ``f_ra`` of the mode ``a = M - 1 - z`` of
    bit z, ``total[r]`` its sum over all modes, ``g_by_bit[z]`` the mode's ``g_a``. Local."""
    m = factors_by_bit.shape[0]
    nr = weights.shape[0]
    f = np.empty(nr)
    cur = np.empty((1, m), dtype=np.int64)
    top = np.uint64(1) << np.uint64(m)
    lo = np.inf
    hi = -np.inf
    bits = np.uint64(0)
    for j in range(row0, row1):
        following = _next_bits(bits)
        if j == row0 or following >= top:  # first row, or a new sector
            bits = _bits_of(j, m, cum, kmin, offset, cur)
        else:
            bits = following
        f[:] = 0.0
        ladder = 0.0
        t = bits
        while t != 0:
            z = trailing_zeros(t)
            t &= t - np.uint64(1)
            for r in range(nr):
                f[r] += factors_by_bit[z, r]
            ladder += g_by_bit[z]
        off = qubit_offdiag_abs_sum(f, total, weights, sign)
        # diag A: the mu diagonal the operator keeps plus (1/2) sum_a g_a k_a (n_a - k_a + 1)
        d = mu_diagonal[j - row0] + 0.5 * ladder
        if d - off < lo:
            lo = d - off
        if d + off > hi:
            hi = d + off
    return lo, hi


@njit(cache=True, inline="always")
def _step_raised(bits, binom_t, nbr, modes, cnt):
    """Turn the neighbours ``nbr, modes`` (as :func:`_raised` wrote them, ``cnt`` of
    them) of ``bits`` into those of ``_next_bits(bits)`` in place; the next string
    must be in the same sector.

    With r0 trailing zeros and a lowest run of s + 1 ones, the next string has
    bits ``0..s-1`` and ``T = r0 + s + 1`` set in place of ``r0..T-1``. Its
    zero bits ``z = s..T-1`` (the first r0 + 1 entries, as before) have s set
    bits below, no lower terms and the same higher terms as the old neighbour
    through T (entry r0), whose lower terms summed to ``C(T, s + 1) - 1``
    (hockey stick); every later entry's rank grows by one."""
    m = nbr.shape[0] - 1
    r0 = np.int64(trailing_zeros(bits))
    s = np.int64(trailing_zeros(~(bits >> np.uint64(r0)))) - 1
    base = nbr[r0] - binom_t[s + 1, r0 + s + 1] + 1
    for q in range(r0 + 1):
        nbr[q] = binom_t[s + 1, s + q] + base
        modes[q] = m - 1 - s - q
    for q in range(r0 + 1, cnt):
        nbr[q] += 1


@njit(cache=True, fastmath=True)
def apply4_qubit(row0, row1, icum, ikmin, ioffset, kmin, offset, binom_t, lo, hi,
                 span_lo, span_pos, lower_coef, raise_coef, mu, x, xg, y, yg):
    """:func:`apply4` for one-neutrino modes, on bit strings (see above). Local."""
    m = lower_coef.shape[0]
    cur = np.empty((1, m), dtype=np.int64)
    # one spare slot: nbr.shape[0] - 1 is M for _step_raised
    nbr = np.empty(m + 1, dtype=np.int64)
    modes = np.empty(m + 1, dtype=np.int64)
    pos = np.empty(m + 1, dtype=np.int64)
    top = np.uint64(1) << np.uint64(m)
    nloc = np.uint64(hi - lo)
    bits = np.uint64(0)
    k = 0
    base = 0
    cnt = 0
    for j in range(row0, row1):
        fresh = j == row0
        if not fresh:
            following = _next_bits(bits)
            if following >= top:  # past its sector's last string
                fresh = True
            else:
                _step_raised(bits, binom_t, nbr, modes, cnt)
                bits = following
        if fresh:
            bits = _bits_of(j, m, icum, ikmin, ioffset, cur)
            k = 0
            for p in range(m):
                k += cur[0, p]
            base = offset[k + 1 - kmin]
            cnt = _raised(bits, m, k, binom_t, pos, nbr, modes)
        acc = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        for e in range(cnt):
            c = nbr[e] + base
            u = np.uint64(c - lo)
            if u < nloc:
                v = x[u]
            else:
                q = _span_of(c, span_lo)
                v = xg[span_pos[q] + c - span_lo[q]]
            acc = lower4(acc, lower_coef, np.uint64(modes[e]), v.real, v.imag)
        for e in range(cnt):
            sr, si = raise4(acc, raise_coef, np.uint64(modes[e]))
            s = complex(mu * sr, mu * si)
            c = nbr[e] + base
            u = np.uint64(c - lo)
            if u < nloc:
                y[u] += s
            else:
                q = _span_of(c, span_lo)
                yg[span_pos[q] + c - span_lo[q]] += s
