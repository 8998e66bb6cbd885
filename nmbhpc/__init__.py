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


def run(config, comm=None, output=None, *, force: bool = False, attrs: dict | None = None,
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

    from .pipeline.driver import run as drive

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




def open(path):
    """Read any nmbhpc file (run or kinetic) as one ``xarray.Dataset`` (not collective).

    Every group is opened with xarray's h5netcdf engine and merged:
    variables are named by their HDF5 path (``ds["modes/polarization"]``,
    ``ds["time"]``), dimensions and coordinates are shared (``time``,
    ``mode``, ``component``, ...); a group's dimension whose length differs
    from a dimension of the same name elsewhere is renamed with the group
    path (``kinetics_snapshots_time``: snapshot times). Time series are cut
    to the complete records (``n_records``). Root attributes become
    ``ds.attrs``, group attributes ``ds.attrs["<group>/<name>"]``. The
    ``checkpoint`` group (restart state) is left out. The data are read
    lazily: use ``.load()`` or close the Dataset when done.
    """
    import h5py
    import xarray as xr

    from .io.run_file import py_value as _plain

    path = os.fspath(path)
    with h5py.File(path, "r") as f:
        groups = [""]
        f.visititems(lambda n, o: groups.append(n) if isinstance(o, h5py.Group)
                     and not n.startswith("checkpoint") else None)
        attrs = {k: _plain(v) for k, v in f.attrs.items()}
        for g in groups[1:]:
            attrs.update({f"{g}/{k}": _plain(v) for k, v in f[g].attrs.items()})
    n_records = int(attrs.get("n_records", -1))
    parts, seen = [], {}  # dimension -> its coordinate values (or length) so far
    for g in groups:
        ds = xr.open_dataset(path, engine="h5netcdf", group=g or None)
        if n_records >= 0 and "time" in ds.dims and g != "kinetics/snapshots":
            ds = ds.isel(time=slice(0, n_records))
        here = {d: ds[d].values if d in ds.coords else n for d, n in ds.sizes.items()}
        rename = {d: f"{g.replace('/', '_')}_{d}" for d, v in here.items()
                  if d in seen and not _same(seen[d], v)}
        ds = ds.rename(rename)
        seen.update({rename.get(d, d): v for d, v in here.items()})
        ds = ds.rename({v: f"{g}/{v}" if g else v for v in ds.data_vars})
        ds.attrs = {}
        parts.append(ds)
    merged = xr.merge(parts, compat="override", join="exact", combine_attrs="override")
    merged.attrs = attrs
    # label coordinates are fixed-length UTF-8 in the file (parallel HDF5): as str here
    labels = {c: merged[c].astype(str) for c in merged.coords if merged[c].dtype.kind == "S"}
    merged = merged.assign_coords({c: v.assign_attrs(merged[c].attrs) for c, v in labels.items()})
    return merged


def _same(a, b) -> bool:
    import numpy as np

    return np.shape(a) == np.shape(b) and bool(np.all(np.asarray(a) == np.asarray(b)))
