"""The run-file layout shared by the writer and the reader (docs/file-format.md).

One place names every time-series dataset, its per-row shape and dtype, and
how it is chunked, so the writer and reader cannot drift apart.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# root attribute counting complete records (every format; nmbhpc.io.run_file)
from .run_file import N_RECORDS_ATTR  # noqa: F401

FORMAT_NAME = "nmbhpc-run"
# Bump only when a reader of the old version would misread a new file
# (renamed/removed dataset, changed meaning or units); adding is free.
FORMAT_VERSION = 1

# Target bytes per chunk: big enough that a 1e6-row series has few chunks,
# small enough that reading one mode's history does not read every mode.
CHUNK_TARGET_BYTES = 256 * 1024
CHUNK_MAX_ROWS = 4096
CHUNK_MIN_ROWS = 16


@dataclass(frozen=True)
class Series:
    """One time-series dataset: ``path`` has shape ``[T, *row_shape(M)]``.

    ``field`` is the ObservableRecord attribute it comes from (None: derived
    by the writer). ``min_rows`` is the fewest time rows per chunk before
    the per-row dimensions are split.
    """

    path: str
    field: str | None
    rank: int  # number of mode axes (each of length M) before the trailing dims
    trailing: tuple
    dtype: str
    optional: bool = False
    min_rows: int = CHUNK_MIN_ROWS

    def row_shape(self, n_modes: int) -> tuple:
        return (n_modes,) * self.rank + tuple(self.trailing)


SERIES = (
    Series("time", "time", 0, (), "f8"),
    Series("mu", "mu", 0, (), "f8"),
    Series("nue_fraction", None, 0, (), "f8"),
    Series("modes/polarization", "polarization", 1, (3,), "f8"),
    Series("modes/nue_fraction", "nue_fraction", 1, (), "f8"),
    Series("modes/rho1", "rho1", 1, (2, 2), "c16"),
    Series("modes/entropy", "entropy", 1, (), "f8"),
    Series("monitors/norm", "norm", 0, (), "f8"),
    Series("monitors/energy", "energy", 0, (), "f8"),
    Series("monitors/b_dot_j", "b_dot_j", 0, (), "f8"),
    # an [M, M] row is large: chunks may hold a single time
    Series("correlations/pair", "pair_correlation", 2, (), "f8", optional=True, min_rows=1),
    # single-angle models with distinct omegas and pair correlations only
    Series("monitors/pehlivan", "pehlivan", 1, (), "f8", optional=True),
)


def chunk_shape(row_shape: tuple, itemsize: int, *, min_rows: int = CHUNK_MIN_ROWS,
                target_bytes: int = CHUNK_TARGET_BYTES, max_rows: int = CHUNK_MAX_ROWS) -> tuple:
    """Chunk shape ``(rows, *row_chunk)`` for a dataset growing along axis 0.

    Rows per chunk fill ``target_bytes`` (between ``min_rows`` and
    ``max_rows``); if ``min_rows`` rows still exceed the target, the largest
    per-row dimension is halved until the chunk fits.
    """
    row_bytes = max(1, int(np.prod(row_shape, dtype=np.int64)) * itemsize)
    rows = int(np.clip(target_bytes // row_bytes, min_rows, max_rows))
    dims = [max(1, int(d)) for d in row_shape]
    while dims and rows * int(np.prod(dims)) * itemsize > target_bytes and max(dims) > 1:
        k = int(np.argmax(dims))
        dims[k] = (dims[k] + 1) // 2
    return (rows, *dims)
