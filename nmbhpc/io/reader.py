"""One entry point for reading any run file: dispatch on its root ``format`` attribute.

Not collective: any process may read any run file, whatever rank count wrote
it, including the file of a killed run (read up to its last complete record).

* ``nmbhpc-run`` (spin solvers): :func:`nmbhpc.io.read_run` -> :class:`~nmbhpc.io.RunData`
* ``nmbhpc-kinetics``: :func:`nmbhpc.kinetics.output.read_kinetics` ->
  :class:`~nmbhpc.kinetics.output.KineticRunData`

A file of neither format gets the :class:`~nmbhpc.io.RunFileError` of the
spin reader (missing file, not HDF5, not an nmbhpc run file).
"""
from __future__ import annotations

import importlib
import os

from .run_file import file_format

#: format attribute -> ("module:reader", "module:describe(data) -> str")
FORMATS = {
    "nmbhpc-run": ("nmbhpc.io.run_reader:read_run", "nmbhpc.io.run_reader:describe_data"),
    "nmbhpc-kinetics": ("nmbhpc.kinetics.output:read_kinetics",
                        "nmbhpc.kinetics.analysis:describe"),
}


def _load(target: str):
    module, name = target.split(":")
    return getattr(importlib.import_module(module), name)


def _formats(path) -> tuple:
    return FORMATS.get(file_format(path) if os.path.isfile(path) else None, FORMATS["nmbhpc-run"])


def read_file(path):
    """Read run file ``path`` with the reader of its format (RunData or KineticRunData).

    Raises :class:`~nmbhpc.io.RunFileError` (or its subclass
    :class:`~nmbhpc.kinetics.output.KineticFileError`) naming ``path``.
    """
    return _load(_formats(os.fspath(path))[0])(os.fspath(path))


def describe(path) -> str:
    """Human summary of run file ``path`` of any format (several lines; ``nmbhpc info``)."""
    reader, describer = _formats(os.fspath(path))
    return _load(describer)(_load(reader)(os.fspath(path)))
