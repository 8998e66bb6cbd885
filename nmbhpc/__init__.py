"""nmbhpc: MPI-parallel neutrino flavor physics in dense gases.

Python API (docs/api.md)::

    import nmbhpc
    ds = nmbhpc.run("examples/default.toml", solver="meanfield")   # -> xarray.Dataset
    ds = nmbhpc.open("out.h5")                                      # any run file
    cfg = nmbhpc.load_config("examples/default.toml")               # validated config

Importing the package is cheap and touches no MPI/PETSc state: everything is
imported when first called; solvers import ``nmbhpc.runtime.stack``, which locates the
complex-scalar PETSc/SLEPc build and parallel h5py.
"""
from __future__ import annotations

import os

__version__ = "0.1.0"
__all__ = ["run", "open", "load_config"]

def _document(config) -> tuple:
    """``(dict, text or None, source path)`` of a config given as dict, TOML text or path."""
    from .schema import parse_toml, read_config_file

    if isinstance(config, dict):
        return config, None, "<dict>"
    if isinstance(config, os.PathLike) or (
            isinstance(config, str) and "\n" not in config and "=" not in config):
        path = os.fspath(config)
        text = read_config_file(path)
        return parse_toml(text, path), text, path
    if isinstance(config, str):
        return parse_toml(config, "<string>"), config, "<string>"
    raise TypeError(f"config must be a dict, TOML text or a path, not {type(config).__name__}")


def _override(data: dict, overrides: dict) -> dict:
    """A copy of ``data`` with ``overrides`` set: keyword ``a__b=v`` sets key ``a.b``."""
    import copy

    data = copy.deepcopy(data)
    for key, value in overrides.items():
        node, parts = data, key.split("__")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise TypeError(f"override {key}: {'.'.join(parts)} is not inside a table")
        node[parts[-1]] = value
    return data


def load_config(config, **overrides):
    """A validated config from a dict, TOML text or a path (not collective).

    Returns a ``RunConfig`` for the spin solvers, ``KineticSettings`` for a
    ``[kinetics]`` document; a config object is returned as it is.
    ``overrides`` set keys before validation: ``solver="twa"``,
    ``model__mu=3.0`` (key ``model.mu``), ``output__n_out=11``. Raises
    :class:`nmbhpc.errors.ConfigError` naming the offending key.
    """
    from .config import config_from_dict
    from .kinetics.config import is_kinetics_document, settings_from_dict

    if not isinstance(config, (dict, str, os.PathLike)):
        if overrides:
            raise TypeError("overrides need the config as a dict, TOML text or path")
        return config
    data, text, source = _document(config)
    if overrides:
        data, text = _override(data, overrides), None
    if is_kinetics_document(data):
        if text is None:
            from .schema import dump_toml

            text = dump_toml(data)
        return settings_from_dict(data, source_text=text, source_path=source)
    return config_from_dict(data, source_text=text, source_path=source)


def _run(config, comm=None, output=None, *, force: bool = False, attrs: dict | None = None,
         **overrides):
    """Collective on ``comm``. Run a config and return its file as an ``xarray.Dataset``.

    ``config``: dict, TOML text, path or a config from :func:`load_config`;
    ``overrides`` as in :func:`load_config` (``solver="meanfield"``).
    ``comm``: an mpi4py communicator; None is ``MPI.COMM_WORLD`` (one rank in
    a notebook, all of them under ``mpirun``: the same script runs both ways).
    ``output``: a path to keep the file (refused if it exists, unless
    ``force``); None writes a temporary file, removed once read (in the system's
    temporary directory on one rank, in the working directory on several).
    ``attrs``: extra root attributes of the file (e.g. ``omega0_per_second``).
    Every rank gets the same Dataset (:func:`open`, loaded into memory).
    Raises ``RuntimeError`` if the run stopped before its end.
    """
    import shutil
    import tempfile

    from mpi4py import MPI

    from .run.driver import run as drive

    comm = MPI.COMM_WORLD if comm is None else comm
    cfg = load_config(config, **overrides)
    tmpdir = None
    if output is None:
        # every rank must see it: node-local /tmp serves one rank, the working directory many
        where = None if comm.Get_size() == 1 else os.getcwd()
        tmpdir = comm.bcast(tempfile.mkdtemp(prefix="nmbhpc-", dir=where)
                            if comm.Get_rank() == 0 else None)
        output = os.path.join(tmpdir, "run.h5")
    try:
        result = drive(cfg, output, comm, force=force, attrs=dict(attrs or {}))
        if result.status != 0:
            raise RuntimeError(f"nmbhpc.run: the run stopped with status {result.status}: "
                               f"{result.summary}")
        comm.Barrier()  # the file is closed on every rank before anyone reads it
        ds = open(output).load()
        ds.close()
        return ds
    finally:
        if tmpdir is not None:
            comm.Barrier()
            if comm.Get_rank() == 0:
                shutil.rmtree(tmpdir, ignore_errors=True)


run = _run
