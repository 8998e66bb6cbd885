"""Compiled (numba) kernels of the stored real operator (real_operator.py): build and product.

Build: two passes of one walk over the local rows of
``A = (1/N) sum_{p<q} c_pq J_p.J_q`` (matrix elements as in
kernels.interaction_rows), a *count* pass (non-zeros per row in the diagonal
and the off-diagonal block, and a byte per global column for the ghost set;
the matrix-free operator of shell_operator.py finds its ghosts with it too)
and a *fill* pass that writes the CSR arrays in place: columns in generation order (no per-row sort; a product does not need
sorted columns), off-block columns already renumbered to ghost positions.
One-neutrino modes rank a flip with the Lin tables of shell_kernels (one
look-up per non-zero), other spins with the prefix ranking of kernels.py.
With ``upper`` the diagonal block keeps only the entries right of the
diagonal (symmetric storage: :func:`sym_diag_block` uses each twice).

Values: the off-diagonal element of a flip ``J^+_a J^-_b`` is
``(c_ab / 2N) sqrt(k_a (n_a - k_a + 1)) sqrt((n_b - k_b)(k_b + 1))``, a
function of a *key* ``(a, b, k_a, k_b)`` (for qubits of ``(a, b)`` alone).
The fill walk writes ``keymap[key]`` per non-zero: either the index of the
value in a small float64 table (uint8/uint16, "indexed" storage) or the
float64 value itself. ``keymap = None`` computes the value (the key space is
too large to tabulate, e.g. collective spins). A's diagonal is returned apart.

Product kernels: ``table = None`` means the stored codes are float64 values,
otherwise they index ``table`` (numba prunes the other branch at compile time).
"""
from __future__ import annotations

import numpy as np

from ..runtime.jit import njit
from . import eq1
from .kernels import _flip_buffers, _load_row, _row_flips


# --- build ----------------------------------------------------------------------------
# One walk per kind of row serves the count and the fill: the public kernels
# below are its two instances (``fill`` is a constant in each, so numba prunes
# the other branch). In count mode only ``lo``..``mask`` and ``d_cnt``/``o_cnt``
# are read; the fill-only arrays may be empty.
@njit(cache=True, inline="always")
def _place_row(i, cnt, cols, codes, lo, hi, upper, kd, ko, fill, d_cols, d_vals, o_cols, o_vals,
               ghost_map, ghost_base, mask):
    """The ``cnt`` off-diagonal non-zeros ``(i, cols[c])`` of a local row: counted
    (``fill`` false; off-block columns marked in ``mask`` when it is not empty) or
    written with ``codes[c]`` from ``kd``/``ko`` on. Returns the next ``(kd, ko)``.
    Called once per row: the arrays are not handed on per non-zero."""
    for c in range(cnt):
        j = cols[c]
        if j >= lo and j < hi:
            if upper and j <= lo + i:
                continue
            if fill:
                d_cols[kd] = j - lo
                d_vals[kd] = codes[c]
            kd += 1
        else:
            if fill:
                o_cols[ko] = ghost_map[j - ghost_base]
                o_vals[ko] = codes[c]
            elif mask.shape[0] > 0:
                mask[j] = 1
            ko += 1
    return kd, ko


@njit(cache=True, inline="always")
def _row_start(i, fill, coup, mv, diag_a, d_ptr, o_ptr):
    """Fill mode: A's diagonal of row i (``mv`` holds its m values) and the row's
    first positions ``(kd, ko)``; count mode: ``(0, 0)``."""
    if not fill:
        return 0, 0
    diag_a[i] = eq1.pair_diagonal(coup, mv)
    return d_ptr[i], o_ptr[i]


@njit(cache=True, inline="always")
def _row_end(i, kd, ko, fill, d_cnt, o_cnt):
    """Count mode: store the row's counts (when ``d_cnt`` is not empty); returns
    the row's number of non-zeros (0 in fill mode)."""
    if fill:
        return 0
    if d_cnt.shape[0] > 0:
        d_cnt[i] = kd
        o_cnt[i] = ko
    return kd + ko


@njit(cache=True, inline="always")
def _qubit_flips(s, m, nz, keymap, nlow, lo_tab, hi_tab, pop, base, cols, codes, fill):
    """Columns (and with ``fill`` the codes ``keymap[a, b]``) of the flips of bit string
    ``s``; ``nz`` flags the non-zero couplings by bit position. Returns their number."""
    lmask = (np.uint64(1) << np.uint64(nlow)) - np.uint64(1)
    one = np.uint64(1)
    cnt = 0
    for qa in range(m):
        if s >> np.uint64(qa) & one == 0:
            continue
        t = s ^ (one << np.uint64(qa))
        for qb in range(m):
            if s >> np.uint64(qb) & one or not nz[qa, qb]:
                continue
            u = t | (one << np.uint64(qb))
            low = np.int64(u & lmask)
            cols[cnt] = base + lo_tab[low] + hi_tab[pop[low], np.int64(u >> np.uint64(nlow))]
            if fill:
                codes[cnt] = keymap[m - 1 - qa, m - 1 - qb]
            cnt += 1
    return cnt


@njit(cache=True, inline="always")
def _qubit_walk(bits, m, coup, keymap, nlow, lo_tab, hi_tab, pop, kmin, sector_offset, lo, hi,
                upper, ghost_map, ghost_base, d_ptr, d_cols, d_vals, o_ptr, o_cols, o_vals,
                diag_a, d_cnt, o_cnt, mask, fill):
    lmask = (np.uint64(1) << np.uint64(nlow)) - np.uint64(1)
    one = np.uint64(1)
    nz = np.empty((m, m), dtype=np.bool_)
    for qa in range(m):
        for qb in range(m):
            nz[qa, qb] = coup[m - 1 - qa, m - 1 - qb] != 0.0
    cols = np.empty(m * m, dtype=np.int64)
    codes = np.empty(m * m, dtype=d_vals.dtype)
    mv = np.empty(m)
    total = 0
    for i in range(bits.shape[0]):
        s = bits[i]
        K = pop[np.int64(s & lmask)] + pop[np.int64(s >> np.uint64(nlow))]
        if fill:
            for p in range(m):
                mv[p] = 0.5 - np.float64(s >> np.uint64(m - 1 - p) & one)
        kd, ko = _row_start(i, fill, coup, mv, diag_a, d_ptr, o_ptr)
        cnt = _qubit_flips(s, m, nz, keymap, nlow, lo_tab, hi_tab, pop, sector_offset[K - kmin],
                           cols, codes, fill)
        kd, ko = _place_row(i, cnt, cols, codes, lo, hi, upper, kd, ko, fill, d_cols, d_vals,
                            o_cols, o_vals, ghost_map, ghost_base, mask)
        total += _row_end(i, kd, ko, fill, d_cnt, o_cnt)
    return total


@njit(cache=True, inline="always")
def _generic_walk(configs, counts, coup, keymap, key_base, cum, kmin, sector_offset, lo, hi,
                  upper, ghost_map, ghost_base, d_ptr, d_cols, d_vals, o_ptr, o_cols, o_vals,
                  diag_a, d_cnt, o_cnt, mask, fill):
    n, m = configs.shape
    kk, cols, fa, fb = _flip_buffers(m)
    codes = np.empty(cols.shape[0], dtype=d_vals.dtype)
    mv = np.empty(m)
    total = 0
    for i in range(n):
        base, pre, rem = _load_row(configs, i, kk, cum, kmin, sector_offset)
        if fill:
            for p in range(m):
                mv[p] = 0.5 * counts[p] - kk[p]
        kd, ko = _row_start(i, fill, coup, mv, diag_a, d_ptr, o_ptr)
        cnt = _row_flips(kk, counts, coup, cum, base, pre, rem, cols, fa, fb)
        if fill:
            for c in range(cnt):
                a = fa[c]
                b = fb[c]
                if keymap is None:
                    codes[c] = eq1.flip_amplitude(coup[a, b], counts[a], kk[a], counts[b], kk[b])
                else:
                    codes[c] = keymap[key_base[a, b] + (kk[a] - 1) * counts[b] + kk[b]]
        kd, ko = _place_row(i, cnt, cols, codes, lo, hi, upper, kd, ko, fill, d_cols, d_vals,
                            o_cols, o_vals, ghost_map, ghost_base, mask)
        total += _row_end(i, kd, ko, fill, d_cnt, o_cnt)
    return total


@njit(cache=True)
def qubit_count(bits, m, coup, nlow, lo_tab, hi_tab, pop, kmin, sector_offset, lo, hi,
                upper, d_cnt, o_cnt, mask):
    """Off-diagonal non-zeros per row into ``d_cnt``/``o_cnt`` (columns inside /
    outside ``[lo, hi)``; with ``upper`` the diagonal block keeps only columns
    right of the diagonal; empty arrays: not stored); ``mask[j] = 1`` for each
    off-block column j when ``mask`` is not empty. Returns the total.
    ``bits`` as shell_kernels.configs_to_bits."""
    e = np.empty(0, dtype=np.int64)
    return _qubit_walk(bits, m, coup, np.empty((0, 0)), nlow, lo_tab, hi_tab, pop, kmin,
                       sector_offset, lo, hi, upper, e, 0, e, e, np.empty(0), e, e,
                       np.empty(0), np.empty(0), d_cnt, o_cnt, mask, False)


@njit(cache=True)
def qubit_fill(bits, m, coup, keymap, nlow, lo_tab, hi_tab, pop, kmin, sector_offset, lo, hi, upper,
               ghost_map, ghost_base, d_ptr, d_cols, d_vals, o_ptr, o_cols, o_vals, diag_a):
    """Write the rows counted by :func:`qubit_count`; ``keymap[a, b]`` (modes) is the
    stored code of the flip ``J^+_a J^-_b``. ``diag_a[i] = sum_{p<q} c_pq m_p m_q / N``."""
    e = np.empty(0, dtype=np.int64)
    _qubit_walk(bits, m, coup, keymap, nlow, lo_tab, hi_tab, pop, kmin, sector_offset, lo, hi,
                upper, ghost_map, ghost_base, d_ptr, d_cols, d_vals, o_ptr, o_cols, o_vals,
                diag_a, e, e, np.empty(0, dtype=np.uint8), True)


@njit(cache=True)
def generic_count(configs, counts, coup, cum, kmin, sector_offset, lo, hi, upper,
                  d_cnt, o_cnt, mask):
    """As :func:`qubit_count` for configurations [n, M] of any spins."""
    e = np.empty(0, dtype=np.int64)
    return _generic_walk(configs, counts, coup, None, np.empty((0, 0), dtype=np.int64), cum,
                         kmin, sector_offset, lo, hi, upper, e, 0, e, e, np.empty(0), e, e,
                         np.empty(0), np.empty(0), d_cnt, o_cnt, mask, False)


@njit(cache=True)
def generic_fill(configs, counts, coup, keymap, key_base, cum, kmin, sector_offset, lo, hi, upper,
                 ghost_map, ghost_base, d_ptr, d_cols, d_vals, o_ptr, o_cols, o_vals, diag_a):
    """As :func:`qubit_fill` for any spins. The key of a flip is
    ``key_base[a, b] + (k_a - 1) n_b + k_b`` (:func:`generic_keys`);
    ``keymap = None`` stores the computed float64 values instead."""
    e = np.empty(0, dtype=np.int64)
    _generic_walk(configs, counts, coup, keymap, key_base, cum, kmin, sector_offset, lo, hi,
                  upper, ghost_map, ghost_base, d_ptr, d_cols, d_vals, o_ptr, o_cols, o_vals,
                  diag_a, e, e, np.empty(0, dtype=np.uint8), True)


def generic_keys(counts: np.ndarray, coup: np.ndarray, max_keys: int):
    """``(key_base[M, M], values)``: every possible off-diagonal value of A by key
    (see :func:`generic_fill`), or ``(None, None)`` if there are more than
    ``max_keys`` keys. The values are eq1.flip_amplitude's."""
    m = len(counts)
    key_base = np.zeros((m, m), dtype=np.int64)
    total = 0
    for a in range(m):
        for b in range(m):
            key_base[a, b] = total
            if a != b and coup[a, b] != 0.0:
                total += int(counts[a]) * int(counts[b])
    if total > max_keys:
        return None, None
    values = np.empty(total)
    _key_values(np.asarray(counts, dtype=np.int64), coup, key_base, values)
    return key_base, values


@njit(cache=True)
def _key_values(counts, coup, key_base, values):
    """Eq. (1) flip amplitude of every key ``(a, b, k_a, k_b)`` (:func:`generic_keys`)."""
    m = counts.shape[0]
    for a in range(m):
        for b in range(m):
            if a == b or coup[a, b] == 0.0:
                continue
            k = key_base[a, b]
            for ka in range(1, counts[a] + 1):
                for kb in range(counts[b]):
                    values[k] = eq1.flip_amplitude(coup[a, b], counts[a], ka, counts[b], kb)
                    k += 1


# --- product and norms ------------------------------------------------------------------
@njit(cache=True, inline="always")
def _coef(codes, table, k):
    if table is None:
        return codes[k]
    return table[codes[k]]


@njit(cache=True, inline="always")
def _row_dot(k0, k1, cols, codes, table, x):
    """``sum_k coef_k x[cols[k]]`` over ``k0:k1`` as (real, imag), with two
    accumulator pairs: one pair would serialise the additions on their latency."""
    ar = 0.0
    ai = 0.0
    br = 0.0
    bi = 0.0
    k = k0
    while k + 1 < k1:
        c = _coef(codes, table, k)
        e = _coef(codes, table, k + 1)
        v = x[cols[k]]
        w = x[cols[k + 1]]
        ar += c * v.real
        ai += c * v.imag
        br += e * w.real
        bi += e * w.imag
        k += 2
    if k < k1:
        c = _coef(codes, table, k)
        v = x[cols[k]]
        ar += c * v.real
        ai += c * v.imag
    return ar + br, ai + bi


@njit(cache=True)
def diag_block(ptr, cols, codes, table, diag, mu, x, y):
    """``y = diag * x + mu * A_d x`` (A_d: off-diagonal entries with local columns)."""
    for i in range(ptr.shape[0] - 1):
        ar, ai = _row_dot(ptr[i], ptr[i + 1], cols, codes, table, x)
        y[i] = diag[i] * x[i] + mu * complex(ar, ai)


@njit(cache=True)
def sym_diag_block(ptr, cols, codes, table, diag, mu, x, y):
    """``y = diag * x + mu (U + U^T) x`` with U the strictly upper triangle of A_d:
    each stored entry is read once for both of its products."""
    n = ptr.shape[0] - 1
    for i in range(n):
        y[i] = diag[i] * x[i]
    # rows in order: every y[j] (j > i) contribution lands before row j is finished
    for i in range(n):
        xi = mu * x[i]
        ar = 0.0
        ai = 0.0
        br = 0.0
        bi = 0.0
        k = ptr[i]
        k1 = ptr[i + 1]
        while k + 1 < k1:
            j = cols[k]
            l = cols[k + 1]
            c = _coef(codes, table, k)
            e = _coef(codes, table, k + 1)
            v = x[j]
            w = x[l]
            ar += c * v.real
            ai += c * v.imag
            br += e * w.real
            bi += e * w.imag
            y[j] += c * xi
            y[l] += e * xi
            k += 2
        if k < k1:
            j = cols[k]
            c = _coef(codes, table, k)
            v = x[j]
            ar += c * v.real
            ai += c * v.imag
            y[j] += c * xi
        y[i] += mu * complex(ar + br, ai + bi)


@njit(cache=True)
def off_block(ptr, cols, codes, table, mu, xg, y):
    """``y += mu * A_o xg`` (A_o over the compressed ghost columns)."""
    for i in range(ptr.shape[0] - 1):
        if ptr[i] == ptr[i + 1]:
            continue
        ar, ai = _row_dot(ptr[i], ptr[i + 1], cols, codes, table, xg)
        y[i] += mu * complex(ar, ai)


@njit(cache=True)
def row_sums(d_ptr, d_cols, d_codes, o_ptr, o_codes, table, diag, mu, power, upper):
    """Per row ``sum_j |H_ij|^power`` of ``H = diag(diag) + mu A_off`` (power 1 or 2);
    ``upper``: the diagonal block holds one triangle (entries count in both rows)."""
    n = d_ptr.shape[0] - 1
    out = np.zeros(n)
    for i in range(n):
        s = abs(diag[i]) ** power
        for k in range(d_ptr[i], d_ptr[i + 1]):
            a = abs(mu * _coef(d_codes, table, k)) ** power
            s += a
            if upper:
                out[d_cols[k]] += a
        for k in range(o_ptr[i], o_ptr[i + 1]):
            s += abs(mu * _coef(o_codes, table, k)) ** power
        out[i] += s
    return out

