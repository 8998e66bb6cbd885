"""Scaling model of the many-body products: per-rank work and ghost volume by counting.

For one-neutrino modes (qubits) in the sectors ``K = kmin..kmax`` this module
counts, without MPI or PETSc, what each of P ranks holds and exchanges in one
product ``y = H x`` of the two stored-map operators:

* ``real`` (real_operator.py): owned rows, the off-diagonal non-zeros of A in
  the diagonal block (columns owned by the rank) and in the off-diagonal
  block, the ghost columns (distinct off-rank columns the rows read: the
  VecScatter's receive size) and the ranks they come from (messages);
* ``separable`` (separable_operator.py): intermediate rows (sectors K - 1,
  split over the ranks on their own), ladder-map entries (local / ghost), the
  ghost rows (distinct off-rank raised neighbours: received forward, sent
  back in reverse with ADD_VALUES) and their owner ranks.

The basis rows are PETSc's default split of contiguous row blocks
(:func:`row_blocks`, the one of hamiltonian.local_rows); the intermediate
rows are split by cost (:func:`intermediate_blocks`, the rule of
intermediate_split.py, recounted here). The ordering of the
basis is the one of basis.py (by sector, then lexicographic with mode 0
slowest), reimplemented here with binomial ranks so that the counts do not
depend on the operators' own ranking kernels.

Two ways of counting: :func:`exact_counts` walks every row (cost ~ dim x
K (M - K); N <= 20 in seconds) and is exact; :func:`sampled_counts` draws
rows of each rank at random and is unbiased (ghosts through the
neighbour-degree weighting, see :func:`_sample_real`), for N = 30..40 where
no walk is possible. Their message counts differ in kind: exact counts are
exact, sampled ones are the owners seen in the sample (a lower bound).

:func:`predict_time` turns counts into a time per product with a per-entry
cost measured on one rank (benchmarks/manybody_scaling_model.py) and a
stated network (:class:`Network`). Couplings: every pair couples
(``c_pq != 0`` for p != q, the multi-angle model with random directions)
unless ``coupled`` (bool [M, M]) says otherwise.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from math import comb

import numpy as np

from ..runtime.jit import njit

#: bytes of a complex PETSc scalar (one ghost value each way)
SCALAR_BYTES = 16


def row_blocks(dim: int, n_ranks: int) -> np.ndarray:
    """Boundaries ``b[0..P]`` of PETSc's default split of ``dim`` rows over ``n_ranks``
    (``PetscSplitOwnership``: the first ``dim % P`` ranks get one row more)."""
    if n_ranks < 1:
        raise ValueError(f"n_ranks = {n_ranks}: expected at least 1")
    sizes = np.full(n_ranks, dim // n_ranks, dtype=np.int64)
    sizes[:dim % n_ranks] += 1
    out = np.zeros(n_ranks + 1, dtype=np.int64)
    np.cumsum(sizes, out=out[1:])
    return out


@dataclass(frozen=True)
class QubitSectors:
    """``M`` one-neutrino modes, sectors ``K = kmin..kmax`` (K: modes in the down state)."""

    n_modes: int
    kmin: int
    kmax: int

    def __post_init__(self):
        if not 0 <= self.kmin <= self.kmax <= self.n_modes:
            raise ValueError(f"sectors {self.kmin}..{self.kmax} outside 0..{self.n_modes}")
        if self.n_modes > 62:
            raise ValueError(f"n_modes = {self.n_modes}: at most 62 modes (64-bit states)")

    @property
    def offsets(self) -> np.ndarray:
        """First index of each sector, and the dimension last (int64)."""
        sizes = [comb(self.n_modes, k) for k in range(self.kmin, self.kmax + 1)]
        return np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)

    @property
    def dim(self) -> int:
        return int(self.offsets[-1])

    def intermediate(self) -> "QubitSectors | None":
        """The sectors ``K - 1`` the separable operator passes through (None: K = 0 only)."""
        if self.kmax == 0:
            return None
        return QubitSectors(self.n_modes, max(self.kmin - 1, 0), self.kmax - 1)

    @classmethod
    def half_filled(cls, n_modes: int) -> "QubitSectors":
        """The benchmark model's sector (docs/performance.md): ``K = M // 2``."""
        return cls(n_modes, n_modes // 2, n_modes // 2)


def _binomials(m: int) -> np.ndarray:
    c = np.zeros((m + 1, m + 1), dtype=np.int64)
    for n in range(m + 1):
        for k in range(n + 1):
            c[n, k] = comb(n, k)
    return c


@njit(cache=True)
def _index(s, m, binom, kmin, offsets):
    """Basis index of the bit string ``s`` (bit ``m - 1 - p`` is k_p): the sector's
    offset plus the number of same-sector strings that are smaller numbers."""
    ones = 0
    for p in range(m):
        ones += (s >> p) & 1
    rank = 0
    left = ones
    for p in range(m - 1, -1, -1):
        if (s >> p) & 1:
            rank += binom[p, left]  # same prefix, 0 here: choose `left` of the p lower bits
            left -= 1
    return offsets[ones - kmin] + rank


@njit(cache=True)
def _state(i, m, binom, kmin, offsets):
    """Bit string of basis index ``i`` (inverse of :func:`_index`)."""
    s_idx = 0
    while offsets[s_idx + 1] <= i:
        s_idx += 1
    r = i - offsets[s_idx]
    left = kmin + s_idx
    s = 0
    for p in range(m - 1, -1, -1):
        if left == 0:
            break
        if r >= binom[p, left]:
            r -= binom[p, left]
            s |= 1 << p
            left -= 1
    return s


@njit(cache=True)
def _owner(j, bounds):
    return np.searchsorted(bounds, j, side="right") - 1


@njit(cache=True)
def _flips(s, m, coupled, out):
    """The states ``s`` connects to through a coupled flip (a down quantum moves
    from mode a to mode b, mode a at bit ``m - 1 - a``) into ``out``; their number."""
    n = 0
    for a in range(m):
        if not (s >> (m - 1 - a)) & 1:
            continue
        for b in range(m):
            if (s >> (m - 1 - b)) & 1 or not coupled[a, b]:
                continue
            out[n] = s ^ (1 << (m - 1 - a)) ^ (1 << (m - 1 - b))
            n += 1
    return n


@njit(cache=True)
def _ghosts_by_owner(mask, bounds, counts):
    """Add each marked column to its owner's count and clear the mark."""
    o = 0
    for j in range(mask.shape[0]):
        if mask[j]:
            mask[j] = 0
            while bounds[o + 1] <= j:
                o += 1
            counts[o] += 1


@njit(cache=True)
def _exact_real(m, binom, kmin, offsets, coupled, bounds, out, mask, by_owner):
    """Per rank r: ``out[r] = (upper, lower, off)``: the diagonal-block non-zeros
    right (upper) and left (lower) of the diagonal and the off-block ones;
    ``by_owner[r, o]``: the distinct off-block columns owned by rank o."""
    n_ranks = bounds.shape[0] - 1
    nbrs = np.empty(m * m, dtype=np.int64)
    for r in range(n_ranks):
        lo = bounds[r]
        hi = bounds[r + 1]
        up = 0
        low = 0
        off = 0
        for i in range(lo, hi):
            for q in range(_flips(_state(i, m, binom, kmin, offsets), m, coupled, nbrs)):
                j = _index(nbrs[q], m, binom, kmin, offsets)
                if lo <= j < hi:
                    if j > i:
                        up += 1
                    else:
                        low += 1
                else:
                    off += 1
                    mask[j] = 1
        _ghosts_by_owner(mask, bounds, by_owner[r])
        out[r, 0] = up
        out[r, 1] = low
        out[r, 2] = off


@njit(cache=True)
def _exact_separable(m, binom, kmin, offsets, t_kmin, t_offsets, bounds, t_bounds, out, mask,
                     by_owner):
    """Per rank r: ``out[r] = (local entries, ghost entries)`` of the ladder map
    (raised neighbours ``j + e_b``), ``by_owner`` as in :func:`_exact_real`."""
    n_ranks = bounds.shape[0] - 1
    for r in range(n_ranks):
        lo = bounds[r]
        hi = bounds[r + 1]
        loc = 0
        gho = 0
        for t in range(t_bounds[r], t_bounds[r + 1]):
            s = _state(t, m, binom, t_kmin, t_offsets)
            for b in range(m):
                if (s >> (m - 1 - b)) & 1:
                    continue
                j = _index(s | (1 << (m - 1 - b)), m, binom, kmin, offsets)
                if lo <= j < hi:
                    loc += 1
                else:
                    gho += 1
                    mask[j] = 1
        _ghosts_by_owner(mask, bounds, by_owner[r])
        out[r, 0] = loc
        out[r, 1] = gho


@njit(cache=True)
def _row_cost(s, m, binom, kmin, offsets, bounds, w_entry, w_ghost, per_owner, owners):
    """Cost of the intermediate state ``s`` (intermediate_split.py): ``w_entry`` per
    raised neighbour, ``w_ghost`` per raised neighbour off the rank that owns most
    of them (ties: the lowest rank)."""
    cnt = 0
    best = 0
    for b in range(m):
        if (s >> (m - 1 - b)) & 1:
            continue
        o = _owner(_index(s | (1 << (m - 1 - b)), m, binom, kmin, offsets), bounds)
        owners[cnt] = o
        cnt += 1
        per_owner[o] += 1
        if per_owner[o] > best:
            best = per_owner[o]
    for e in range(cnt):
        per_owner[owners[e]] = 0
    return w_entry * cnt + w_ghost * (cnt - best)


@njit(cache=True)
def _split_rows(m, binom, kmin, offsets, t_kmin, t_offsets, bounds, w_entry, w_ghost, rows, step):
    """Rows per rank of the cost split, walking the intermediate rows ``0, step, 2 step, ...``
    (``step = 1``: exact). With ``step > 1`` each walked row stands for the ``step``
    rows from it on (an estimate of the split, for sectors too large to walk)."""
    n_ranks = bounds.shape[0] - 1
    dim = t_offsets[t_offsets.shape[0] - 1]
    per_owner = np.zeros(n_ranks, dtype=np.int64)
    owners = np.empty(m, dtype=np.int64)
    n_walk = (dim + step - 1) // step
    costs = np.empty(n_walk, dtype=np.int64)
    total = 0
    for q in range(n_walk):
        c = _row_cost(_state(q * step, m, binom, t_kmin, t_offsets), m, binom, kmin, offsets,
                      bounds, w_entry, w_ghost, per_owner, owners)
        costs[q] = c * min(step, dim - q * step)
        total += costs[q]
    start = 0
    for q in range(n_walk):
        # the rank whose equal share of the total holds the cost midpoint of the row(s)
        o = min((n_ranks * (2 * start + costs[q])) // (2 * total), n_ranks - 1)
        rows[o] += min(step, dim - q * step)
        start += costs[q]


def intermediate_blocks(sectors: QubitSectors, n_ranks: int, samples: int = 0) -> np.ndarray:
    """Boundaries ``t[0..P]`` of the separable operator's intermediate rows on ``n_ranks``:
    contiguous blocks of equal cost ``ENTRY_WEIGHT x entries + GHOST_WEIGHT x entries off
    the home rank`` (intermediate_split.py, whose weights it takes; recounted here with
    binomial ranks). ``samples = 0`` walks every row (exact); else it walks about
    ``samples`` rows per rank at an even stride, for sectors too large to walk."""
    from .intermediate_split import ENTRY_WEIGHT, GHOST_WEIGHT

    inter = sectors.intermediate()
    if inter is None:
        return row_blocks(0, n_ranks)
    if n_ranks == 1:
        return row_blocks(inter.dim, 1)
    step = 1 if samples <= 0 else max(1, inter.dim // (samples * n_ranks))
    rows = np.zeros(n_ranks, dtype=np.int64)
    _split_rows(sectors.n_modes, _binomials(sectors.n_modes), sectors.kmin, sectors.offsets,
                inter.kmin, inter.offsets, row_blocks(sectors.dim, n_ranks), ENTRY_WEIGHT,
                GHOST_WEIGHT, rows, step)
    out = np.zeros(n_ranks + 1, dtype=np.int64)
    np.cumsum(rows, out=out[1:])
    return out


@dataclass
class RankCounts:
    """Per-rank counts of one operator on P ranks (int64 or float64 arrays of length P).

    real: ``rows``, ``diag_upper`` / ``diag_lower`` (non-zeros of A's diagonal
    block right / left of the diagonal; the operator stores the upper ones,
    each used twice), ``off_block``, ``ghosts``, ``messages`` (owner ranks of
    the ghosts: one receive each per product). ``nonzeros`` = off-diagonal
    non-zeros of A the rank's rows hold (upper + lower + off-block).
    separable: ``rows``, ``intermediate_rows``, ``local_entries``,
    ``ghost_entries``, ``ghosts``, ``messages`` (owner ranks; the product sends
    to and receives from each, forward and reverse).
    Both: ``offnode_ghosts``, the ghosts owned by ranks on other nodes
    (``ranks_per_node`` consecutive ranks per node).
    ``exact``: counted over every row (else sampled, with ``stderr`` of the
    estimated fields).
    """

    operator: str
    n_ranks: int
    fields: dict
    exact: bool = True
    stderr: dict = field(default_factory=dict)
    ranks_per_node: int = 1

    def __getitem__(self, key):
        return self.fields[key]

    @property
    def work(self) -> np.ndarray:
        """Entries one product streams per rank: non-zeros of A (real), map entries
        (separable); the unit of :attr:`Costs` per entry."""
        if self.operator == "real":
            return self.fields["nonzeros"]
        return self.fields["local_entries"] + self.fields["ghost_entries"]

    @property
    def ghost_bytes(self) -> np.ndarray:
        """Bytes a rank receives (real) or receives and sends back (separable) per product."""
        both_ways = 2 if self.operator == "separable" else 1
        return both_ways * SCALAR_BYTES * np.asarray(self.fields["ghosts"], dtype=np.float64)

    @property
    def message_count(self) -> np.ndarray:
        """Messages a rank receives (real) or receives and sends (separable) per
        product; sampled counts take every other rank (the upper bound) since
        the owners met in a sample are only a lower bound."""
        both_ways = 2 if self.operator == "separable" else 1
        if not self.exact:
            return both_ways * np.full(self.n_ranks, self.n_ranks - 1, dtype=np.float64)
        return both_ways * np.asarray(self.fields["messages"], dtype=np.float64)


def _coupled(m: int, coupled) -> np.ndarray:
    if coupled is None:
        c = np.ones((m, m), dtype=np.bool_)
        np.fill_diagonal(c, False)
        return c
    c = np.ascontiguousarray(coupled, dtype=np.bool_)
    if c.shape != (m, m):
        raise ValueError(f"coupled has shape {c.shape}, expected ({m}, {m})")
    return c


def exact_counts(sectors: QubitSectors, n_ranks: int, operator: str = "real",
                 coupled=None, ranks_per_node: int = 1, split: str = "balanced") -> RankCounts:
    """Per-rank counts of ``operator`` ("real" or "separable") on ``n_ranks`` by
    walking every row (every intermediate row). Exact; one byte per basis state
    and 8 per pair of ranks of scratch. ``ranks_per_node`` consecutive ranks
    share a node (the ``offnode_ghosts`` field). ``split``: the separable
    operator's intermediate rows split by cost as the operator does
    ("balanced", :func:`intermediate_blocks`) or evenly ("even", for
    comparison). Not collective (no MPI)."""
    if split not in ("balanced", "even"):
        raise ValueError(f"split {split!r}: expected 'balanced' or 'even'")
    m = sectors.n_modes
    binom = _binomials(m)
    offsets = sectors.offsets
    bounds = row_blocks(sectors.dim, n_ranks)
    mask = np.zeros(sectors.dim, dtype=np.uint8)
    by_owner = np.zeros((n_ranks, n_ranks), dtype=np.int64)
    if operator == "real":
        out = np.zeros((n_ranks, 3), dtype=np.int64)
        _exact_real(m, binom, sectors.kmin, offsets, _coupled(m, coupled), bounds, out, mask,
                    by_owner)
        f = dict(zip(("diag_upper", "diag_lower", "off_block"), out.T))
        f["rows"] = np.diff(bounds)
        f.update(_owner_fields(by_owner, ranks_per_node))
        f["diag_block"] = f["diag_upper"] + f["diag_lower"]
        f["nonzeros"] = f["diag_block"] + f["off_block"]
        return RankCounts("real", n_ranks, f, ranks_per_node=ranks_per_node)
    if operator != "separable":
        raise ValueError(f"operator {operator!r}: expected 'real' or 'separable'")
    inter = sectors.intermediate()
    out = np.zeros((n_ranks, 2), dtype=np.int64)
    if split == "even":
        t_bounds = row_blocks(0 if inter is None else inter.dim, n_ranks)
    else:
        t_bounds = intermediate_blocks(sectors, n_ranks)
    if inter is not None:
        _exact_separable(m, binom, sectors.kmin, offsets, inter.kmin, inter.offsets, bounds,
                         t_bounds, out, mask, by_owner)
    f = dict(zip(("local_entries", "ghost_entries"), out.T))
    f["intermediate_rows"] = np.diff(t_bounds)
    f.update(_owner_fields(by_owner, ranks_per_node))
    f["rows"] = np.diff(bounds)
    return RankCounts("separable", n_ranks, f, ranks_per_node=ranks_per_node)


def _owner_fields(by_owner: np.ndarray, ranks_per_node: int) -> dict:
    """``messages`` (owners with a ghost) and ``offnode_ghosts`` from ghosts by owner."""
    if ranks_per_node < 1:
        raise ValueError(f"ranks_per_node = {ranks_per_node}: expected at least 1")
    node = np.arange(by_owner.shape[0]) // ranks_per_node
    other = node[:, None] != node[None, :]
    return {"ghosts": by_owner.sum(axis=1), "messages": np.count_nonzero(by_owner > 0, axis=1),
            "offnode_ghosts": (by_owner * other).sum(axis=1)}


@njit(cache=True)
def _tally(acc, by_owner, f, owner, deg):
    """Add one sample of weight ``f``: inside the block (``owner < 0``), else off
    the block, with ``f / deg`` to the ghosts and to the owner's share."""
    if owner < 0:
        acc[0] += f
        acc[3] += f * f
        return
    acc[1] += f
    acc[4] += f * f
    w = f / deg
    acc[2] += w
    acc[5] += w * w
    by_owner[owner] += w


@njit(cache=True)
def _sample_real(m, binom, kmin, offsets, coupled, bounds, r, n_samples, seed, acc, by_owner):
    """Sampled sums for the rows of rank r: ``acc = (inside, off, ghosts)`` and their
    sums of squares ``acc[3:6]``; ``by_owner[o]`` sums the ghost weights by owner.

    A sample is a row x (uniform) and one of its ``f = K (M - K)`` flips y
    (uniform): ``f 1[y inside]`` and ``f 1[y outside]`` average to the row's
    diagonal- and off-block non-zeros, ``f 1[y outside] / deg(y)`` (``deg``: the
    coupled neighbours of y among the rows) to the distinct off-block columns
    per row: each ghost y is reached through exactly ``deg(y)`` (row, flip) pairs.
    The caller multiplies by the row count over the sample count.
    """
    np.random.seed(seed)
    lo = bounds[r]
    hi = bounds[r + 1]
    n = hi - lo
    nbrs = np.empty(m * m, dtype=np.int64)
    for _ in range(n_samples):
        i = lo + np.random.randint(0, n)
        s = _state(i, m, binom, kmin, offsets)
        k = 0
        for p in range(m):
            k += (s >> p) & 1
        f = k * (m - k)
        ia = np.random.randint(0, k)
        ib = np.random.randint(0, m - k)
        a = -1
        b = -1
        for p in range(m):   # the ia-th down mode and the ib-th up mode
            if (s >> (m - 1 - p)) & 1:
                if ia == 0 and a < 0:
                    a = p
                ia -= 1
            else:
                if ib == 0 and b < 0:
                    b = p
                ib -= 1
        if not coupled[a, b]:
            continue
        t = s ^ (1 << (m - 1 - a)) ^ (1 << (m - 1 - b))
        j = _index(t, m, binom, kmin, offsets)
        if lo <= j < hi:
            _tally(acc, by_owner, f, -1, 0)
            continue
        deg = 0
        for q in range(_flips(t, m, coupled, nbrs)):
            if lo <= _index(nbrs[q], m, binom, kmin, offsets) < hi:
                deg += 1
        _tally(acc, by_owner, f, _owner(j, bounds), deg)


@njit(cache=True)
def _sample_separable(m, binom, kmin, offsets, t_kmin, t_offsets, bounds, t_bounds, r,
                      n_samples, seed, acc, by_owner):
    """As :func:`_sample_real` for the ladder map of rank r: a sample is an
    intermediate row (uniform) and one of its ``f = M - K'`` raised neighbours y;
    ``acc = (local, ghost entries, ghosts)`` and squares, ``deg(y)``: the lowered
    neighbours of y among the rank's intermediate rows."""
    np.random.seed(seed)
    lo = bounds[r]
    hi = bounds[r + 1]
    t_lo = t_bounds[r]
    t_hi = t_bounds[r + 1]
    for _ in range(n_samples):
        s = _state(t_lo + np.random.randint(0, t_hi - t_lo), m, binom, t_kmin, t_offsets)
        k = 0
        for p in range(m):
            k += (s >> p) & 1
        f = m - k
        ib = np.random.randint(0, f)
        b = -1
        for p in range(m):
            if not (s >> (m - 1 - p)) & 1:
                if ib == 0:
                    b = p
                    break
                ib -= 1
        t = s | (1 << (m - 1 - b))
        j = _index(t, m, binom, kmin, offsets)
        if lo <= j < hi:
            _tally(acc, by_owner, f, -1, 0)
            continue
        deg = 0
        for c in range(m):
            if (t >> (m - 1 - c)) & 1:
                jj = _index(t ^ (1 << (m - 1 - c)), m, binom, t_kmin, t_offsets)
                if t_lo <= jj < t_hi:
                    deg += 1
        _tally(acc, by_owner, f, _owner(j, bounds), deg)


def sampled_counts(sectors: QubitSectors, n_ranks: int, operator: str = "real",
                   samples: int = 1000, seed: int = 1, coupled=None,
                   ranks_per_node: int = 1) -> RankCounts:
    """Per-rank counts of ``operator`` on ``n_ranks`` from ``samples`` random rows per
    rank (unbiased; ``stderr`` holds the standard errors of the sampled fields).
    ``messages`` counts the owner ranks of the ghosts met in the sample: a lower
    bound. Not collective."""
    m = sectors.n_modes
    binom = _binomials(m)
    bounds = row_blocks(sectors.dim, n_ranks)
    rows = np.diff(bounds)
    by_owner = np.zeros((n_ranks, n_ranks))
    est = np.zeros((n_ranks, 3))
    err = np.zeros((n_ranks, 3))
    if operator == "real":
        scale_rows = rows
        coup = _coupled(m, coupled)
    elif operator == "separable":
        inter = sectors.intermediate()
        if inter is None:
            raise ValueError("the separable operator of the K = 0 sector has no ladder map")
        t_bounds = intermediate_blocks(sectors, n_ranks, samples)
        scale_rows = np.diff(t_bounds)
    else:
        raise ValueError(f"operator {operator!r}: expected 'real' or 'separable'")
    for r in range(n_ranks):
        if scale_rows[r] == 0:
            continue
        acc = np.zeros(6)
        if operator == "real":
            _sample_real(m, binom, sectors.kmin, sectors.offsets, coup, bounds, r, samples,
                         seed + r, acc, by_owner[r])
        else:
            _sample_separable(m, binom, sectors.kmin, sectors.offsets, inter.kmin,
                              inter.offsets, bounds, t_bounds, r, samples, seed + r, acc,
                              by_owner[r])
        mean = acc[:3] / samples
        var = np.maximum(acc[3:] / samples - mean**2, 0.0)
        est[r] = scale_rows[r] * mean
        err[r] = scale_rows[r] * np.sqrt(var / samples)
        by_owner[r] *= scale_rows[r] / samples
    if operator == "real":
        names = ("diag_block", "off_block", "ghosts")
        f = {"rows": rows, "diag_block": est[:, 0], "diag_upper": est[:, 0] / 2,
             "diag_lower": est[:, 0] / 2, "off_block": est[:, 1],
             "nonzeros": est[:, 0] + est[:, 1]}
    else:
        names = ("local_entries", "ghost_entries", "ghosts")
        f = {"rows": rows, "intermediate_rows": scale_rows, "local_entries": est[:, 0],
             "ghost_entries": est[:, 1]}
    f.update(_owner_fields(by_owner, ranks_per_node))
    f["ghosts"] = est[:, 2]  # the same sum as by_owner's
    return RankCounts(operator, n_ranks, f, exact=False, ranks_per_node=ranks_per_node,
                      stderr={name: err[:, i] for i, name in enumerate(names)})


@dataclass(frozen=True)
class Network:
    """The stated machine: ``bandwidth`` bytes/s of a node's link, shared by the
    node's ``ranks_per_node`` ranks (ghosts owned on other nodes),
    ``intranode_bandwidth`` bytes/s per rank for ghosts owned on the same node
    (a shared-memory copy), ``latency`` seconds per message."""

    bandwidth: float = 12.5e9
    latency: float = 2e-6
    ranks_per_node: int = 32
    intranode_bandwidth: float = 5e9


@dataclass(frozen=True)
class Prediction:
    """Time per product on P ranks (seconds) and its parts on the slowest rank:
    ``ghosts`` and ``work`` of that rank (``ghosts_stderr``: standard error of
    sampled counts, 0 when exact), ``max_ghost_fraction``: the largest ghosts
    per owned row over the ranks."""

    n_ranks: int
    seconds: float
    compute: float
    transfer: float
    latency: float
    ghosts: float
    work: float
    max_ghost_fraction: float
    ghosts_stderr: float = 0.0


def predict_time(rc: RankCounts, seconds_per_entry: float, network: Network = Network()
                 ) -> Prediction:
    """Time per product: the largest over ranks of ``work x seconds_per_entry``
    + off-node ghost bytes x (ranks per node) / bandwidth + on-node ghost bytes /
    intranode_bandwidth + messages x latency. Compute and communication are
    added: the separable product finishes its scatter before the kernel; the
    real one overlaps it with the diagonal block, so for it this is an upper bound.

    ``seconds_per_entry`` is one rank's time per product over its
    :attr:`RankCounts.work` (non-zeros of A for "real", map entries for
    "separable"), measured serially (benchmarks/manybody_scaling_model.py).
    ``rc`` must be counted with the network's ``ranks_per_node``."""
    if rc.ranks_per_node != network.ranks_per_node:
        raise ValueError(f"counts made with ranks_per_node = {rc.ranks_per_node}, network has "
                         f"{network.ranks_per_node}")
    share = min(rc.n_ranks, network.ranks_per_node)
    compute = np.asarray(rc.work, dtype=np.float64) * seconds_per_entry
    if rc.n_ranks == 1:
        transfer = latency = np.zeros(1)
    else:
        off = np.asarray(rc["offnode_ghosts"], dtype=np.float64) / np.maximum(rc["ghosts"], 1)
        transfer = rc.ghost_bytes * (off * share / network.bandwidth
                                     + (1 - off) / network.intranode_bandwidth)
        latency = rc.message_count * network.latency
    total = compute + transfer + latency
    r = int(np.argmax(total))
    rows = np.asarray(rc["rows"], dtype=np.float64)
    err = float(rc.stderr["ghosts"][r]) if "ghosts" in rc.stderr else 0.0
    return Prediction(rc.n_ranks, float(total[r]), float(compute[r]), float(transfer[r]),
                      float(latency[r]), float(np.asarray(rc["ghosts"])[r]), float(rc.work[r]),
                      float(np.max(np.asarray(rc["ghosts"]) / np.maximum(rows, 1))), err)


def measured_counts(mat) -> dict:
    """The counts of :class:`RankCounts` for this rank, read from a built "real" or
    "separable" operator (the MATSHELL ``mat`` of real_operator /
    separable_operator) and its ghost exchange. Collective.

    The one function here that touches PETSc: ghosts are the entries of the
    operator's ghost buffer, their owners found by sending each row's global
    index through the operator's own exchange.
    """
    ctx = mat.getPythonContext()
    lo, hi = ctx.lo, ctx.hi
    n = hi - lo
    ranges = mat.getOwnershipRanges()
    index = mat.createVecRight()
    index.setArray(np.arange(lo, hi, dtype=np.float64).astype(np.complex128))
    ghost_rows = np.rint(ctx.ghost_values(index).real).astype(np.int64)
    index.destroy()
    owners = np.unique(np.searchsorted(ranges, ghost_rows, side="right") - 1)
    out = {"rows": n, "ghosts": int(ctx.n_ghost), "messages": len(owners),
           "ghost_vector": int(len(ghost_rows))}
    if type(ctx).__name__ == "RealStoredHamiltonian":
        upper = len(ctx.d_cols) if ctx.symmetric else None
        out.update(operator="real", diag_upper=upper, off_block=len(ctx.o_cols),
                   nonzeros=int(ctx.n_offdiag))
    else:
        nbr = np.zeros(0) if ctx.map is None else ctx.map.nbr
        out.update(operator="separable",
                   intermediate_rows=0 if ctx.map is None else len(ctx.map.ptr) - 1,
                   local_entries=int(np.count_nonzero(nbr < n)),
                   ghost_entries=int(np.count_nonzero(nbr >= n)))
    return out
