"""Run files: one parallel-HDF5 file per run (layout and policy: docs/file-format.md).

* :class:`RunWriter` — collective writer used by ``nmbhpc run``.
* :class:`~nmbhpc.io.run_file.RunFile` — the base of every run-file writer (path checks,
  provenance, status, crash-safe close, checkpoints) and its handlers.
* :func:`read_run` — serial reader of spin-solver run files; :func:`read_file` and
  :func:`describe` — reader and summary (``nmbhpc info``) of any run file, by its format.
* :func:`read_distributed` — collective read of a row block (e.g. ``/state/final``).
"""
from .layout import FORMAT_NAME, FORMAT_VERSION
from .reader import describe, read_file
from .run_reader import ModeTable, RunData, RunFileError, read_run
from .row_blocks import read_distributed
from .run_writer import RunWriter

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "ModeTable", "RunData", "RunFileError",
           "RunWriter", "describe", "read_distributed", "read_file", "read_run"]
