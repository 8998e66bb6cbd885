"""Run files: one parallel-HDF5 file per run (layout and policy: docs/file-format.md).

* :class:`RunWriter` — collective writer used by ``nmbhpc run``.
* :func:`read_run`, :func:`describe` — serial reader and summary (``nmbhpc info``).
* :func:`read_distributed` — collective read of a row block (e.g. ``/state/final``).
"""
from .layout import FORMAT_NAME, FORMAT_VERSION
from .run_reader import ModeTable, RunData, RunFileError, describe, read_run
from .row_blocks import read_distributed
from .run_writer import RunWriter

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "ModeTable", "RunData", "RunFileError",
           "RunWriter", "describe", "read_distributed", "read_run"]
