"""The sector basis: product states of spin-j_p modes with total B.J fixed.

A basis state is a configuration ``k = (k_0, ..., k_{M-1})`` with
``0 <= k_p <= n_p`` down quanta per mode in the computational frame (z = -B),
i.e. ``m_p = n_p/2 - k_p`` and ``B.J = -sum_p m_p``. The total ``K = sum k_p``
labels the sector; H conserves it. A basis holds the sectors
``K = kmin..kmax`` (one sector when the initial state lies in one).

Ordering: by sector, then lexicographically with ``k_0`` slowest. The rank of
a configuration is a sum of per-mode table look-ups (a bounded-composition
combinatorial number system), so ranking and unranking cost O(M) and
O(M log K) with tables of size M x (kmax + 2): this is what lets each MPI rank
generate only its own contiguous block of rows, for mixed spins and tens of
millions of states, without ever enumerating the others.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import kernels

_MAX_DIM = 2**62


def _suffix_counts(counts: np.ndarray, kcap: int) -> np.ndarray:
    """``c[p, x]``: ways to put exactly x <= kcap quanta into modes p..M-1."""
    m = len(counts)
    c = np.zeros((m + 1, kcap + 1), dtype=np.float64)
    c[m, 0] = 1.0
    for p in range(m - 1, -1, -1):
        # convolution with a box of width n_p + 1, via a running sum
        run = np.cumsum(c[p + 1])
        shifted = np.zeros_like(run)
        w = int(counts[p]) + 1
        if w <= kcap:
            shifted[w:] = run[:-w]
        c[p] = run - shifted
    return c


def table_bytes(n_modes: int, kmax: int) -> int:
    """Bytes of the rank tables of a basis of ``n_modes`` modes up to sector ``kmax``
    (float64 suffix counts and int64 cumulative counts, (M + 1) x (kmax + 2) each)."""
    return 16 * (n_modes + 1) * (kmax + 2)


def sector_dimension(counts, kmin: int, kmax: int) -> float:
    """Number of states in sectors ``kmin..kmax`` (float64: exact below 2^53), without
    enumerating them: O(M kmax) time and memory (:func:`table_bytes` / 2)."""
    counts = np.asarray(counts, dtype=np.int64)
    return float(_suffix_counts(counts, kmax)[0, kmin:kmax + 1].sum())


@dataclass
class SectorBasis:
    """Basis of sectors ``kmin..kmax`` for modes with neutrino counts ``counts``.

    Attributes
    ----------
    counts : int64[M]
    kmin, kmax : int
    dim : int           total number of basis states
    sector_offset : int64[kmax - kmin + 2]   first index of each sector (+ dim)
    cum : int64[M + 1, kmax + 2]             cumulative suffix counts (see kernels)
    """

    counts: np.ndarray
    kmin: int
    kmax: int

    def __post_init__(self):
        self.counts = np.asarray(self.counts, dtype=np.int64)
        ntot = int(self.counts.sum())
        if not (0 <= self.kmin <= self.kmax <= ntot):
            raise ValueError(f"sector range {self.kmin}..{self.kmax} outside 0..{ntot}")
        c = _suffix_counts(self.counts, self.kmax)
        if c.max() * max(1, self.kmax - self.kmin + 1) >= _MAX_DIM:
            raise ValueError("basis dimension exceeds 2^62 states")
        c = np.rint(c).astype(np.int64)
        self.cum = np.zeros((c.shape[0], c.shape[1] + 1), dtype=np.int64)
        self.cum[:, 1:] = np.cumsum(c, axis=1)
        sizes = c[0, self.kmin:self.kmax + 1]
        self.sector_offset = np.zeros(len(sizes) + 1, dtype=np.int64)
        self.sector_offset[1:] = np.cumsum(sizes)
        self.dim = int(self.sector_offset[-1])
        maxn = int(self.counts.max()) if len(self.counts) else 0
        self.config_dtype = np.int8 if maxn < 2**7 else np.int16 if maxn < 2**15 else np.int32 \
            if maxn < 2**31 else np.int64

    @property
    def n_modes(self) -> int:
        return len(self.counts)

    def sector_dim(self, k: int) -> int:
        """Number of states in sector K = k."""
        if not self.kmin <= k <= self.kmax:
            return 0
        return int(self.sector_offset[k - self.kmin + 1] - self.sector_offset[k - self.kmin])

    def configs(self, start: int, stop: int) -> np.ndarray:
        """Configurations of basis indices ``start..stop-1``: int array [stop - start, M].

        Raises IndexError unless ``0 <= start <= stop <= dim`` (the unranking
        kernel would return configurations of no basis state beyond ``dim``).
        """
        if not 0 <= start <= stop <= self.dim:
            raise IndexError(f"basis indices {start}..{stop} (stop excluded) outside 0..{self.dim} "
                             f"of a basis of dimension {self.dim}")
        if stop == start:
            return np.zeros((0, self.n_modes), dtype=self.config_dtype)
        out = np.empty((stop - start, self.n_modes), dtype=self.config_dtype)
        kernels.configs_from(int(start), self.counts, self.cum, self.kmin, self.sector_offset,
                             out)
        return out

    def all_configs(self) -> np.ndarray:
        """Every configuration, int64[dim, M] (small bases only; not collective)."""
        return self.configs(0, self.dim).astype(np.int64)

    def rank(self, configs: np.ndarray) -> np.ndarray:
        """Basis indices of configurations (rows), int64."""
        configs = np.ascontiguousarray(configs, dtype=np.int64)
        return kernels.rank_configs(configs, self.cum, self.kmin, self.sector_offset)

    def bytes_per_config(self) -> int:
        return self.n_modes * np.dtype(self.config_dtype).itemsize


@dataclass(frozen=True)
class LocalRows:
    """The configurations of rows ``lo..hi-1`` of ``basis``, unranked on demand in
    chunks instead of held (what a solver keeps when its operator does not read them)."""

    basis: SectorBasis
    lo: int
    hi: int

    def __len__(self) -> int:
        return self.hi - self.lo

    def chunks(self, rows: int = 2**18):
        """``(offset, configs)`` of consecutive blocks of at most ``rows`` rows."""
        for start in range(self.lo, self.hi, rows):
            yield start - self.lo, self.basis.configs(start, min(self.hi, start + rows))


def sector_range_of(amplitudes: list[np.ndarray]) -> tuple[int, int]:
    """Smallest K range holding a product state with per-mode amplitudes over k."""
    lo = hi = 0
    for a in amplitudes:
        nz = np.flatnonzero(a)
        lo += int(nz[0])
        hi += int(nz[-1])
    return lo, hi
