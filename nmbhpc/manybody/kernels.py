"""Compiled (numba) kernels of the sector basis: ranking, unranking, operator rows.

Numba rather than vectorised numpy because the row generation is a short,
branchy loop per basis state (which pairs can flip, the rank of each flipped
state): as numpy it needs O(M) temporaries of the full local block per pair,
as a loop it streams through the configurations once. ``cache=True`` keeps the
compiled code between runs.

Conventions (see basis.py): a basis state is a configuration ``k[p]`` with
``0 <= k[p] <= n[p]`` down quanta in mode p of the computational frame
(``m_p = n_p/2 - k_p``); total ``K = sum k``. ``cum[p, x + 1]`` is the number of
ways to put at most ``x`` quanta into modes ``p..M-1`` (``cum[p, 0] = 0``).
"""
from __future__ import annotations

import numpy as np

from ..runtime.jit import njit
from . import eq1


@njit(cache=True)
def _prefix_terms(k, cum, K):
    """Rank contributions of each mode and the running remainders for config k."""
    m = k.shape[0]
    pre = np.empty(m + 1, dtype=np.int64)
    rem = np.empty(m + 1, dtype=np.int64)
    pre[0] = 0
    r = K
    for p in range(m):
        rem[p] = r
        pre[p + 1] = pre[p] + cum[p + 1, r + 1] - cum[p + 1, r - k[p] + 1]
        r -= k[p]
    rem[m] = r
    return pre, rem


@njit(cache=True)
def rank_configs(configs, cum, kmin, sector_offset):
    """Global basis index of each configuration (rows of ``configs``)."""
    n, m = configs.shape
    out = np.empty(n, dtype=np.int64)
    for i in range(n):
        K = 0
        for p in range(m):
            K += configs[i, p]
        r = K
        idx = sector_offset[K - kmin]
        for p in range(m):
            idx += cum[p + 1, r + 1] - cum[p + 1, r - configs[i, p] + 1]
            r -= configs[i, p]
        out[i] = idx
    return out


@njit(cache=True)
def unrank_range(start, cum, kmin, sector_offset, out):
    """Write the configurations of basis indices ``start, start+1, ...`` into ``out`` [n, m]."""
    n, m = out.shape
    s = 0
    for i in range(n):
        g = start + i
        while sector_offset[s + 1] <= g:
            s += 1
        K = kmin + s
        idx = g - sector_offset[s]
        r = K
        for p in range(m):
            row = cum[p + 1]
            target = row[r + 1] - idx
            # largest x <= r with row[x] < target (row is non-decreasing)
            lo, hi = 0, r + 1
            while lo < hi:
                mid = (lo + hi) // 2
                if row[mid] < target:
                    lo = mid + 1
                else:
                    hi = mid
            x = lo - 1
            kp = r - x
            idx -= row[r + 1] - row[r - kp + 1]
            out[i, p] = kp
            r -= kp
    return out


@njit(cache=True, inline="always")
def next_config(kk, counts):
    """Advance ``kk`` in place to the next configuration of its sector in the basis
    order (lexicographic, mode 0 slowest); False after the sector's last.

    Moves one quantum from the suffix into the rightmost mode that can take one
    and refills the suffix from the right: amortised O(1) per step, against the
    O(M log K) bisections of unranking a row."""
    m = kk.shape[0]
    s = 0
    p = m - 1
    while p >= 0:
        if s >= 1 and kk[p] < counts[p]:
            break
        s += kk[p]
        p -= 1
    if p < 0:
        return False
    kk[p] += 1
    s -= 1
    for q in range(m - 1, p, -1):
        t = min(counts[q], s)
        kk[q] = t
        s -= t
    return True


@njit(cache=True)
def configs_from(start, counts, cum, kmin, sector_offset, out):
    """Write the configurations of basis indices ``start, start+1, ...`` into ``out``
    [n, m], as :func:`unrank_range` does, but unranking only the first row and the
    first of each new sector: every other row is its predecessor's
    :func:`next_config`. Local."""
    n = out.shape[0]
    if n == 0:
        return out
    unrank_range(start, cum, kmin, sector_offset, out[0:1])
    for i in range(1, n):
        out[i, :] = out[i - 1, :]
        if not next_config(out[i], counts):
            unrank_range(start + i, cum, kmin, sector_offset, out[i:i + 1])
    return out


@njit(cache=True)
def _flip_rank(k, pre, rem, cum, base, a, b):
    """Index of config k with k[a] -= 1, k[b] += 1 (same sector), using prefix data."""
    lo = min(a, b)
    hi = max(a, b)
    idx = base + pre[lo]
    r = rem[lo]
    for p in range(lo, hi + 1):
        kp = k[p]
        if p == a:
            kp -= 1
        elif p == b:
            kp += 1
        idx += cum[p + 1, r + 1] - cum[p + 1, r - kp + 1]
        r -= kp
    idx += pre[k.shape[0]] - pre[hi + 1]
    return idx


@njit(cache=True, inline="always")
def _load_row(configs, i, kk, cum, kmin, sector_offset):
    """Copy configuration ``configs[i]`` into ``kk``; return ``(base, pre, rem)``:
    the first index of its sector and the prefix data of :func:`_flip_rank`."""
    K = 0
    for p in range(kk.shape[0]):
        kk[p] = configs[i, p]
        K += kk[p]
    pre, rem = _prefix_terms(kk, cum, K)
    return sector_offset[K - kmin], pre, rem


@njit(cache=True, inline="always")
def _row_flips(kk, counts, coup, cum, base, pre, rem, cols, flip_a, flip_b):
    """The non-zeros off the diagonal of row ``kk`` of ``A``: every flip
    ``k_a -> k_a - 1, k_b -> k_b + 1`` with ``c_ab != 0`` that stays inside the
    modes' ranges. Writes its basis index into ``cols`` and ``a``, ``b`` into
    ``flip_a``/``flip_b`` (each of length ``M (M - 1)``); returns how many.

    The one row walk of the general-spin kernels (matrix rows, stored real
    operator, matrix-free product); its element is eq1.flip_amplitude.
    """
    m = kk.shape[0]
    cnt = 0
    for a in range(m):
        if kk[a] == 0:
            continue
        for b in range(m):
            if b == a or coup[a, b] == 0.0 or kk[b] == counts[b]:
                continue
            cols[cnt] = _flip_rank(kk, pre, rem, cum, base, a, b)
            flip_a[cnt] = a
            flip_b[cnt] = b
            cnt += 1
    return cnt


@njit(cache=True, inline="always")
def _flip_buffers(m):
    """``(kk, cols, flip_a, flip_b)``: the work arrays of :func:`_load_row` and
    :func:`_row_flips` for M modes (allocated once per kernel call)."""
    nf = m * (m - 1)
    return (np.empty(m, dtype=np.int64), np.empty(nf + 1, dtype=np.int64),
            np.empty(nf, dtype=np.int64), np.empty(nf, dtype=np.int64))


@njit(cache=True)
def interaction_rows(configs, counts, coup, cum, kmin, sector_offset, lo, hi, indptr, cols, vals, fill):
    """Rows of ``A = (1/N) sum_{p<q} c_pq J_p.J_q`` for the local configurations.

    ``coup`` is c_pq/N; the elements are those of Eq. (1) (eq1.py). With ``fill`` false only counts nonzeros per row into
    ``indptr[1:]`` (diagonal-block and off-block counts go to ``cols[:n]`` and
    ``cols[n:2n]``, a reuse that avoids two more arrays); with ``fill`` true
    writes sorted columns and values into ``cols``/``vals`` at ``indptr``.
    The diagonal entry is always present.
    """
    n, m = configs.shape
    kk, bufc, fa, fb = _flip_buffers(m)
    bufv = np.empty(bufc.shape[0], dtype=np.float64)
    mv = np.empty(m)
    for i in range(n):
        base, pre, rem = _load_row(configs, i, kk, cum, kmin, sector_offset)
        cnt = _row_flips(kk, counts, coup, cum, base, pre, rem, bufc, fa, fb)
        # the diagonal last: the fill sorts the (distinct) columns anyway
        bufc[cnt] = base + pre[m]
        cnt += 1
        if not fill:
            nd = 0
            for c in range(cnt):
                if bufc[c] >= lo and bufc[c] < hi:
                    nd += 1
            cols[i] = nd
            cols[n + i] = cnt - nd
            indptr[i + 1] = cnt
            continue
        for p in range(m):
            mv[p] = 0.5 * counts[p] - kk[p]
        bufv[cnt - 1] = eq1.pair_diagonal(coup, mv)
        for c in range(cnt - 1):
            bufv[c] = eq1.flip_amplitude(coup[fa[c], fb[c]], counts[fa[c]], kk[fa[c]],
                                         counts[fb[c]], kk[fb[c]])
        order = np.argsort(bufc[:cnt])
        off = indptr[i]
        for c in range(cnt):
            cols[off + c] = bufc[order[c]]
            vals[off + c] = bufv[order[c]]


@njit(cache=True)
def lowering_entries(configs, counts, mode, cum, kmin, sector_offset, src_kmin, src_kmax):
    """Column and value of ``J^-_mode`` in each local row of the *target* basis.

    Row config k (target) receives from source config k' = k with k[mode] - 1,
    amplitude ``<k|J^-|k'> = sqrt((n - k') (k' + 1))``; column -1 where no
    source state exists (k[mode] == 0 or the source sector is outside
    ``[src_kmin, src_kmax]``). ``cum``/``kmin``/``sector_offset`` describe the
    *source* basis.
    """
    n, m = configs.shape
    cols = np.full(n, -1, dtype=np.int64)
    vals = np.zeros(n)
    kk = np.empty(m, dtype=np.int64)
    for i in range(n):
        if configs[i, mode] == 0:
            continue
        K = -1
        for p in range(m):
            kk[p] = configs[i, p]
            K += kk[p]
        if K < src_kmin or K > src_kmax:
            continue
        kk[mode] -= 1
        r = K
        idx = sector_offset[K - kmin]
        for p in range(m):
            idx += cum[p + 1, r + 1] - cum[p + 1, r - kk[p] + 1]
            r -= kk[p]
        cols[i] = idx
        vals[i] = eq1.j_minus(counts[mode], kk[mode])
    return cols, vals


@njit(cache=True)
def z_moments(configs, counts, prob, pairs):
    """Sums of ``prob * m_p`` and, if ``pairs``, ``prob * m_p m_q`` over local states."""
    n, m = configs.shape
    first = np.zeros(m)
    second = np.zeros((m, m)) if pairs else np.zeros((1, 1))
    mv = np.empty(m)
    for i in range(n):
        w = prob[i]
        if w == 0.0:
            continue
        for p in range(m):
            mv[p] = 0.5 * counts[p] - configs[i, p]
            first[p] += w * mv[p]
        if pairs:
            for p in range(m):
                for q in range(m):
                    second[p, q] += w * mv[p] * mv[q]
    return first, second


@njit(cache=True)
def count_row_entries(configs, counts, coup):
    """Non-zeros of each row of A (diagonal included) without ranking the flips."""
    n, m = configs.shape
    out = np.empty(n, dtype=np.int64)
    for i in range(n):
        c = 1
        for a in range(m):
            if configs[i, a] == 0:
                continue
            for b in range(m):
                if b != a and coup[a, b] != 0.0 and configs[i, b] < counts[b]:
                    c += 1
        out[i] = c
    return out
