"""Compiled (numba) kernels of the separable matrix-free H (separable_operator.py).

Ladder map. ``L_b`` removes one quantum from mode b (``k_b -> k_b - 1``,
sector K -> K - 1) with the real element ``sqrt(k_b (n_b - k_b + 1))`` (k of
the upper state; 1 for one-neutrino modes); ``U_b = L_b^T``. The map has one
row per intermediate state j (sector K - 1) and one entry per mode with
``k_b < n_b``: the basis index of ``j + e_b``, the mode b and (general spins
only) the element. Row j of the map is column j of every ``L_b``, so one map
serves both ``z = L x`` (a gather over the row) and ``y += U z`` (a
scatter-add over the same row): :func:`apply4` / :func:`apply` do both in one
sweep with z in registers.

The map is built in O(M) per row (:func:`_row_neighbours`): the rank of
``k + e_b`` differs from the rank of ``k`` (kernels.rank_configs, a sum of
per-mode terms ``cum[p+1, r_p+1] - cum[p+1, r_p-k_p+1]`` with ``r_p`` the
quanta left for modes p..M-1) only in the terms p <= b, where ``r_p`` is one
larger, so one prefix sum of the shifted terms and one of the plain terms
rank every neighbour with two look-ups. ``cum[p, x + 1]`` counts the ways to
put at most x quanta into modes p..M-1 whatever the basis' sector range, so
the basis' table serves the intermediate basis too. The same kernel ranks
``k - e_a`` (delta = -1; tests use both directions).

Coefficient tables are stored mode-major ([M, R]) so an entry reads its R
coefficients from one cache line.
"""
from __future__ import annotations

import numpy as np

from ..runtime.jit import njit
from . import eq1


@njit(cache=True)
def _row_neighbours(row, counts, cum, delta, t_kmin, t_offset, kk, shifted, plain, rem, out, modes):
    """Target indices of the neighbours ``k + delta e_a`` of one configuration ``row``
    (delta = -1: modes with k_a > 0; +1: k_a < n_a) into ``out``/``modes``; returns their number.

    Ranks as kernels.rank_configs: the per-mode terms
    ``cum[p+1, r_p+1] - cum[p+1, r_p-k_p+1]`` change only for p <= a, where
    ``r_p`` moves by delta, so one prefix sum of the plain and one of the
    shifted terms give every neighbour in O(1).
    """
    m = row.shape[0]
    K = 0
    for p in range(m):
        kk[p] = row[p]
        K += kk[p]
    s = K + delta - t_kmin
    if s < 0 or s >= t_offset.shape[0] - 1:
        return 0
    r = K
    shifted[0] = 0
    plain[0] = 0
    for p in range(m):
        kp = kk[p]
        rem[p] = r
        plain[p + 1] = plain[p] + cum[p + 1, r + 1] - cum[p + 1, r - kp + 1]
        shifted[p + 1] = shifted[p] + cum[p + 1, r + delta + 1] - cum[p + 1, r - kp + delta + 1]
        r -= kp
    base = t_offset[s] + plain[m]
    cnt = 0
    for a in range(m):
        ka = kk[a]
        if (delta < 0 and ka == 0) or (delta > 0 and ka == counts[a]):
            continue
        ra = rem[a]
        # mode a: r_a and k_a both move by delta, so r_a - k_a is unchanged
        out[cnt] = base + shifted[a] + cum[a + 1, ra + delta + 1] - cum[a + 1, ra - ka + 1] \
            - plain[a + 1]
        modes[cnt] = a
        cnt += 1
    return cnt


@njit(cache=True, inline="always")
def _neighbour_buffers(m):
    """``(kk, shifted, plain, rem, out, modes)``: the work arrays of
    :func:`_row_neighbours` for M modes (once per kernel call)."""
    return (np.empty(m, dtype=np.int64), np.empty(m + 1, dtype=np.int64),
            np.empty(m + 1, dtype=np.int64), np.empty(m + 1, dtype=np.int64),
            np.empty(m, dtype=np.int64), np.empty(m, dtype=np.int64))


@njit(cache=True)
def neighbour_counts(configs, counts, cum, delta, t_kmin, t_offset, lo, hi, out_local, out_ghost):
    """Count, per row, the neighbours ``k + delta e_a`` whose target index lies in
    ``[lo, hi)`` (``out_local``) and outside (``out_ghost``)."""
    n, m = configs.shape
    kk, shifted, plain, rem, out, modes = _neighbour_buffers(m)
    for i in range(n):
        cnt = _row_neighbours(configs[i], counts, cum, delta, t_kmin, t_offset, kk, shifted,
                              plain, rem, out, modes)
        nl = 0
        for c in range(cnt):
            if out[c] >= lo and out[c] < hi:
                nl += 1
        out_local[i] = nl
        out_ghost[i] = cnt - nl


@njit(cache=True)
def fill_neighbours(configs, order, counts, cum, delta, t_kmin, t_offset, lo, hi, ptr, nbr, mode,
                    ladder, with_ladder, n_local_entries, reached, n_first_local):
    """Write the neighbours of the rows ``configs[order]`` into the CSR map ``ptr``.

    A neighbour in ``[lo, hi)`` is written as ``j - lo``, any other as
    ``-1 - j`` (the caller renumbers those to ghost positions). The ladder
    element ``sqrt(k_up,a (n_a - k_up,a + 1))`` (k of the upper state) is
    written only when ``with_ladder``. Entries follow the mode order; with
    ``n_local_entries`` (row q's count of neighbours in ``[lo, hi)``, from
    :func:`neighbour_counts`; empty: no split) a row's local entries come
    first, in mode order, then its others. With ``reached`` (False on entry, one
    flag per row of ``[lo, hi)``; empty: not done; needs the split) the local
    entries that reach their row first, in the order written, lead the row's local
    entries (``n_first_local[q]``: their number) and ``reached`` marks every row
    reached.
    """
    n, m = configs.shape
    split = n_local_entries.shape[0] > 0
    first_touch = reached.shape[0] > 0
    kk, shifted, plain, rem, out, modes = _neighbour_buffers(m)
    is_first = np.zeros(m, dtype=np.bool_)
    for q in range(order.shape[0]):
        f = ptr[q]
        c = ptr[q]
        g = ptr[q] + n_local_entries[q] if split else 0
        cnt = _row_neighbours(configs[order[q]], counts, cum, delta, t_kmin, t_offset, kk,
                              shifted, plain, rem, out, modes)
        if first_touch:
            nf = 0
            for e in range(cnt):
                j = out[e]
                is_first[e] = j >= lo and j < hi and not reached[j - lo]
                if is_first[e]:
                    reached[j - lo] = True
                    nf += 1
            n_first_local[q] = nf
            c += nf
        for e in range(cnt):
            j = out[e]
            a = modes[e]
            local = j >= lo and j < hi
            first = first_touch and is_first[e]
            at = g if split and not local else f if first else c
            nbr[at] = j - lo if local else -1 - j
            mode[at] = a
            if with_ladder:
                up = kk[a] if delta < 0 else kk[a] + 1
                ladder[at] = eq1.j_plus(counts[a], up)
            if split and not local:
                g += 1
            elif first:
                f += 1
            else:
                c += 1


@njit(cache=True)
def ghost_first_touches_first(ptr, n_loc, shift, nbr, mode, ladder, seen, counts):
    """Stable-partition each row's ghost entries (those after its first ``n_loc[j]``) so
    that those whose ghost ``nbr - shift`` no earlier entry reached come first;
    ``counts[j]`` gets their number and ``seen`` (False on entry, one flag per ghost)
    marks every ghost reached. In place on ``nbr``, ``mode`` and ``ladder`` (empty:
    none). Local."""
    with_ladder = ladder.shape[0] > 0
    n = ptr.shape[0] - 1
    width = 0
    for j in range(n):
        width = max(width, ptr[j + 1] - ptr[j])
    later_nbr = np.empty(width, dtype=nbr.dtype)
    later_mode = np.empty(width, dtype=mode.dtype)
    later_ladder = np.empty(width if with_ladder else 0, dtype=ladder.dtype)
    for j in range(n):
        a = ptr[j] + n_loc[j]
        c = a
        t = 0
        for k in range(a, ptr[j + 1]):
            target = nbr[k] - shift
            if not seen[target]:
                seen[target] = True
                nbr[c] = nbr[k]  # c <= k: entry k is read before anything lands on it
                mode[c] = mode[k]
                if with_ladder:
                    ladder[c] = ladder[k]
                c += 1
            else:
                later_nbr[t] = nbr[k]
                later_mode[t] = mode[k]
                if with_ladder:
                    later_ladder[t] = ladder[k]
                t += 1
        counts[j] = c - a
        for q in range(t):
            nbr[c + q] = later_nbr[q]
            mode[c + q] = later_mode[q]
            if with_ladder:
                ladder[c + q] = later_ladder[q]


@njit(cache=True)
def offdiag_counts(configs, counts, coup):
    """Off-diagonal non-zeros of each row of A (kernels.count_row_entries minus the
    diagonal): O(M) per row, O(M^2) only when an off-diagonal coupling is exactly zero."""
    n, m = configs.shape
    any_zero = False
    for a in range(m):
        for b in range(m):
            if a != b and coup[a, b] == 0.0:
                any_zero = True
    out = np.empty(n, dtype=np.int64)
    for i in range(n):
        occ = 0
        free = 0
        both = 0
        for a in range(m):
            ka = configs[i, a]
            o = ka > 0
            f = ka < counts[a]
            occ += o
            free += f
            both += o and f
        c = occ * free - both
        if any_zero:
            for a in range(m):
                if configs[i, a] == 0:
                    continue
                for b in range(m):
                    if b != a and coup[a, b] == 0.0 and configs[i, b] < counts[b]:
                        c -= 1
        out[i] = c
    return out


@njit(cache=True)
def ladder_diagonal(configs, counts, g):
    """``sum_a g_a k_a (n_a - k_a + 1)`` per row: the diagonal of ``sum_a g_a U_a L_a``."""
    n, m = configs.shape
    out = np.zeros(n)
    for i in range(n):
        s = 0.0
        for a in range(m):
            ka = configs[i, a]
            s += g[a] * eq1.j_plus_squared(counts[a], ka)
        out[i] = s
    return out


# --- products -----------------------------------------------------------------
# Indices are cast to uint64 inside the loops: numba wraps negative signed
# indices around (a sign test and an add per access), unsigned ones it does not
# (measured: the gather half 28% faster). uint64 and int64 must not mix
# (numba promotes the pair to float64), hence the explicit casts.
#
# A map row holds its local entries first and its ghosts after them
# (fill_neighbours with ``n_local_entries``), so the kernels sweep x and the
# ghost buffer in two loops instead of testing each entry: that test is
# unpredictable where ghosts are many (N = 20, 2 ranks: rank 0's sweep took
# 9.1 ms for the half that takes ~5.5 ms serially), and without it x and y
# need no copy into a buffer with the ghosts behind the local rows. The entries
# that reach their row of y or their ghost first lead the row's local or ghost
# entries and assign it (a local row with its diagonal term), so there is no
# diagonal pass and no zeroing of the y ghosts before each product.


@njit(cache=True, fastmath=True, inline="always")
def lower4(acc, coef, a, vr, vi):
    """``acc_r + coef[a, r] (vr + i vi)`` for the 4 terms of the multi-angle couplings
    (``acc``: 8 floats, real and imaginary part of each term): one map entry's share
    of ``z_r``. Inlined; the lean kernels use it too."""
    r0, i0, r1, i1, r2, i2, r3, i3 = acc
    c0 = coef[a, 0]
    c1 = coef[a, 1]
    c2 = coef[a, 2]
    c3 = coef[a, 3]
    return (r0 + c0 * vr, i0 + c0 * vi, r1 + c1 * vr, i1 + c1 * vi,
            r2 + c2 * vr, i2 + c2 * vi, r3 + c3 * vr, i3 + c3 * vi)


@njit(cache=True, fastmath=True, inline="always")
def raise4(acc, coef, a):
    """``(re, im)`` of ``sum_r coef[a, r] acc_r`` (4 terms): what one map entry adds to
    y. Inlined; the lean kernels use it too."""
    r0, i0, r1, i1, r2, i2, r3, i3 = acc
    c0 = coef[a, 0]
    c1 = coef[a, 1]
    c2 = coef[a, 2]
    c3 = coef[a, 3]
    return c0 * r0 + c1 * r1 + c2 * r2 + c3 * r3, c0 * i0 + c1 * i1 + c2 * i2 + c3 * i3


@njit(cache=True, fastmath=True, inline="always")
def _gather4(nbr, mode, ladder, coef, k, k1, shift, x, with_ladder, acc):
    """``acc`` plus :func:`lower4` of ``u x[nbr - shift]`` over the entries ``k:k1``."""
    one = np.uint64(1)
    while k < k1:
        v = x[np.uint64(nbr[k]) - shift]
        vr = v.real
        vi = v.imag
        if with_ladder:
            vr *= ladder[k]
            vi *= ladder[k]
        acc = lower4(acc, coef, np.uint64(mode[k]), vr, vi)
        k += one
    return acc


#: what a scatter entry does to its target: add, assign (a y ghost's first entry) or
#: assign with the diagonal term (a local row's first entry)
ADD, ASSIGN, ASSIGN_DIAGONAL = 0, 1, 2


@njit(cache=True, fastmath=True, inline="always")
def _put(y, c, v, kind, d, x, alpha, beta):
    """``y[c] += v`` (kind ADD), ``y[c] = v`` (ASSIGN) or ``y[c] = v + alpha d[c] x[c] +
    beta y[c]`` (ASSIGN_DIAGONAL; y not read when beta = 0). Inlined; apply4 passes a
    constant ``kind``, so its loops carry no branch on it."""
    if kind == ADD:
        y[c] += v
    elif kind == ASSIGN:
        y[c] = v
    else:
        v += alpha * d[c] * x[c]
        if beta != 0.0:
            v += beta * y[c]
        y[c] = v


@njit(cache=True, fastmath=True, inline="always")
def _scatter4(nbr, mode, ladder, coef, k, k1, shift, y, with_ladder, acc, kind, d, x, alpha,
              beta):
    """:func:`_put` of u :func:`raise4` into ``y[nbr - shift]`` over the entries ``k:k1``."""
    one = np.uint64(1)
    while k < k1:
        sr, si = raise4(acc, coef, np.uint64(mode[k]))
        if with_ladder:
            sr *= ladder[k]
            si *= ladder[k]
        _put(y, np.uint64(nbr[k]) - shift, complex(sr, si), kind, d, x, alpha, beta)
        k += one


@njit(cache=True, fastmath=True)
def apply4(ptr, n_loc, n_first_local, n_first, nbr, mode, ladder, lower_coef, raise_coef, row0,
           row1, n_local, mu, x, x_ghost, y, y_ghost, d, alpha, beta):
    """:func:`apply` for R = 4 (multi-angle): the 8 accumulators stay in registers."""
    with_ladder = ladder.shape[0] > 0
    nl = np.uint64(n_local)
    zero = np.uint64(0)
    for j in range(row0, row1):
        k0 = np.uint64(ptr[j])
        kl = k0 + np.uint64(n_first_local[j])
        km = k0 + np.uint64(n_loc[j])
        kf = km + np.uint64(n_first[j])
        k1 = np.uint64(ptr[j + 1])
        acc = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        acc = _gather4(nbr, mode, ladder, lower_coef, k0, km, zero, x, with_ladder, acc)
        acc = _gather4(nbr, mode, ladder, lower_coef, km, k1, nl, x_ghost, with_ladder, acc)
        r0, i0, r1, i1, r2, i2, r3, i3 = acc
        acc = (mu * r0, mu * i0, mu * r1, mu * i1, mu * r2, mu * i2, mu * r3, mu * i3)
        _scatter4(nbr, mode, ladder, raise_coef, k0, kl, zero, y, with_ladder, acc,
                  ASSIGN_DIAGONAL, d, x, alpha, beta)
        _scatter4(nbr, mode, ladder, raise_coef, kl, km, zero, y, with_ladder, acc, ADD,
                  d, x, alpha, beta)
        _scatter4(nbr, mode, ladder, raise_coef, km, kf, nl, y_ghost, with_ladder, acc, ASSIGN,
                  d, x, alpha, beta)
        _scatter4(nbr, mode, ladder, raise_coef, kf, k1, nl, y_ghost, with_ladder, acc, ADD,
                  d, x, alpha, beta)


@njit(cache=True)
def apply(ptr, n_loc, n_first_local, n_first, nbr, mode, ladder, lower_coef, raise_coef, row0,
          row1, n_local, mu, x, x_ghost, y, y_ghost, d, alpha, beta):
    """For the map rows ``row0:row1`` (intermediate states j), gather
    ``z_r = sum_b lower_coef[b, r] u_jb x[nbr_jb]`` and put
    ``mu u_jb sum_r raise_coef[b, r] z_r`` into ``y[nbr_jb]`` over the same entries. Any R.

    The first ``n_loc[j]`` entries of row j address ``x``/``y``, the others
    ``x_ghost``/``y_ghost`` at ``nbr - n_local``. Of the local ones, the first
    ``n_first_local[j]`` are the first entries of the map to reach their row of y and
    *assign* it, with the diagonal term ``alpha d x + beta y``; of the others, the
    first ``n_first[j]`` are the first to reach their ghost and assign it. So one call
    over all the map's rows (visited in order) leaves ``y = alpha (d + mu A_off / alpha)
    x + beta y`` on every row some entry reaches (the others: ``map.untouched``) and
    needs no zeroed ``y_ghost``. ``ladder`` empty means all elements are 1
    (one-neutrino modes). Local.
    """
    nr = lower_coef.shape[1]
    with_ladder = ladder.shape[0] > 0
    nl = np.uint64(n_local)
    one = np.uint64(1)
    z = np.empty(nr, dtype=np.complex128)
    for j in range(row0, row1):
        k0 = np.uint64(ptr[j])
        kl = k0 + np.uint64(n_first_local[j])
        km = k0 + np.uint64(n_loc[j])
        kf = km + np.uint64(n_first[j])
        k1 = np.uint64(ptr[j + 1])
        z[:] = 0.0
        k = k0
        while k < k1:
            c = np.uint64(nbr[k])
            v = x[c] if k < km else x_ghost[c - nl]
            if with_ladder:
                v = v * ladder[k]
            a = np.uint64(mode[k])
            for r in range(nr):
                z[r] += lower_coef[a, r] * v
            k += one
        k = k0
        while k < k1:
            a = np.uint64(mode[k])
            s = 0j
            for r in range(nr):
                s += raise_coef[a, r] * z[r]
            s = mu * s
            if with_ladder:
                s = s * ladder[k]
            c = np.uint64(nbr[k])
            if k < km:
                _put(y, c, s, ASSIGN_DIAGONAL if k < kl else ADD, d, x, alpha, beta)
            else:
                _put(y_ghost, c - nl, s, ASSIGN if k < kf else ADD, d, x, alpha, beta)
            k += one


@njit(cache=True, inline="always")
def qubit_offdiag_abs_sum(f_set, total, weights, sign):
    """Off-diagonal absolute row sum of A for one-neutrino modes whose couplings
    ``c_ab / N = sum_r w_r f_ra f_rb`` (a != b) all have the sign ``sign`` (+1, -1):
    ``(sign / 2) sum_r w_r F_r (T_r - F_r)``, with ``F_r`` (``f_set``) the sum of
    ``f_ra`` over the occupied modes and ``T_r`` (``total``) over all modes.

    Each flip of an occupied mode a into an empty mode b is a column of its own
    with ``|c_ab / 2N|`` (eq1.flip_amplitude), and an occupied and an empty mode are
    never the same, so the separable form needs no diagonal correction: O(R)
    instead of the O(K (M - K)) flips of :func:`row_abs_sums`."""
    s = 0.0
    for r in range(weights.shape[0]):
        s += weights[r] * f_set[r] * (total[r] - f_set[r])
    return 0.5 * sign * s


@njit(cache=True)
def qubit_row_abs_sums(configs, factors, total, weights, sign):
    """:func:`row_abs_sums` of A (``d = 0, mu = 1``, power 1) for one-neutrino modes whose
    couplings share the sign ``sign`` (:func:`qubit_offdiag_abs_sum`); ``factors`` [R, M],
    ``total`` [R] their sums over the modes. O(K R) per row. Local."""
    n, m = configs.shape
    nr = weights.shape[0]
    f = np.empty(nr)
    out = np.empty(n)
    for i in range(n):
        f[:] = 0.0
        for a in range(m):
            if configs[i, a]:
                for r in range(nr):
                    f[r] += factors[r, a]
        out[i] = qubit_offdiag_abs_sum(f, total, weights, sign)
    return out


@njit(cache=True)
def row_abs_sums(configs, counts, coup, d, mu, power):
    """Per row ``sum_j |H_ij|^power`` of ``H = diag(d) + mu A`` (power 1 or 2).

    The off-diagonal elements are eq1.flip_amplitude (``coup = c/N``); no
    column is ranked, so this costs O(M^2) per row without any gather.
    """
    n, m = configs.shape
    out = np.empty(n)
    amu = abs(mu)
    for i in range(n):
        s = abs(d[i]) ** power
        for a in range(m):
            ka = configs[i, a]
            if ka == 0:
                continue
            for b in range(m):
                kb = configs[i, b]
                if b == a or kb == counts[b] or coup[a, b] == 0.0:
                    continue
                s += (amu * abs(eq1.flip_amplitude(coup[a, b], counts[a], ka, counts[b], kb))) \
                    ** power
        out[i] = s
    return out

