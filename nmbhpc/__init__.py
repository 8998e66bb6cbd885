"""nmbhpc: MPI-parallel neutrino flavor physics in dense gases.

Python API (docs/api.md)::

    import nmbhpc
    ds = nmbhpc.run("examples/default.toml", solver="meanfield")   # -> xarray.Dataset
    ds = nmbhpc.open("out.h5")                                      # any run file
    cfg = nmbhpc.load_config("examples/default.toml")               # validated config
    nmbhpc.compare(["exact.h5", "mf.h5"], "cmp/")                   # table + figures

Importing the package is cheap and touches no MPI/PETSc state: everything is
imported when first called; solvers import ``nmbhpc.runtime.stack``, which locates the
complex-scalar PETSc/SLEPc build and parallel h5py.
"""
from __future__ import annotations

import os
import re

__version__ = "0.1.0"
__all__ = ["run", "open", "load_config", "compare"]

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


#: a key of ``--set KEY=VALUE`` or a keyword override: bare TOML keys joined by dots
_KEY_PART = re.compile(r"^[A-Za-z0-9_-]+$")


def apply_overrides(data: dict, overrides) -> dict:
    """A copy of the TOML document ``data`` with ``overrides`` set (not collective).

    ``overrides``: a mapping or (key, value) pairs, applied in order; a key is
    dotted (``"model.mu"``, as ``nmbhpc run --set model.mu=5``) or spelled with
    double underscores (``model__mu``, as the keyword overrides of :func:`run`
    and :func:`load_config`); missing tables are created. This is the one place
    both kinds of override are applied: the result is validated like a config
    file, so an unknown key or bad value is reported by the validator, naming
    the key. Raises ConfigError naming the key when it is malformed or passes
    through a value that is not a table.
    """
    import copy

    from .errors import ConfigError
    from .schema import show

    data = copy.deepcopy(data)
    items = overrides.items() if hasattr(overrides, "items") else overrides
    for key, value in items:
        parts = key.replace("__", ".").split(".")
        dotted = ".".join(parts)
        if not all(_KEY_PART.match(p) for p in parts):
            raise ConfigError(dotted, "an override key is bare TOML keys (letters, digits, "
                              "'_', '-') joined by dots, e.g. model.mu")
        node = data
        for i, part in enumerate(parts[:-1]):
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                where = ".".join(parts[:i + 1])
                raise ConfigError(dotted, f"{where} is {show(node)}, not a table: "
                                  f"{dotted} cannot be set")
        node[parts[-1]] = value
    return data


def override_text(text: str, overrides, source_path: str = "<string>") -> str:
    """The TOML text of config ``text`` with ``overrides`` (:func:`apply_overrides`) set;
    ``text`` itself when there are none (not collective). The result is what a run
    stores as its config (``config_toml``): a ``--resume`` must give the same
    overrides. Raises ConfigError for invalid TOML or a malformed key."""
    if not overrides:
        return text
    from .schema import dump_toml, parse_toml

    return dump_toml(apply_overrides(parse_toml(text, source_path), overrides))


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
        data, text = apply_overrides(data, overrides), None
    if text is None:
        from .schema import dump_toml

        text = dump_toml(data)  # the effective config, stored in the run's file
    if is_kinetics_document(data):
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




def compare(files, directory=None, *, fraction: float = 0.1, fmt: str = "png", comm=None):
    """Collective on ``comm``. Compare run files of one model; return the comparisons.

    ``files``: run files of any spin solvers (paths); the first is the reference.
    Each other run's flavor-frame polarisations are compared with the
    reference's on its output times: the largest deviation over the modes and
    the departure time tau of Eq. (23), the first time it exceeds ``fraction``
    (:mod:`nmbhpc.analysis.compare`). ``directory``: if given, rank 0 writes
    there what ``nmbhpc study`` writes: the table ``compare.txt`` and the
    figures ``comparison``, ``survival`` (nu_e survival probability per mode
    against time) and ``spectrum`` (final spectrum) as ``fmt`` (png, pdf, svg).
    ``comm``: None is ``MPI.COMM_WORLD``. Returns one
    :class:`nmbhpc.analysis.compare.Comparison` per file after the first (with
    ``max_deviation`` against ``time`` and ``departure_time``, None if never),
    the same on every rank. Raises ``ValueError`` (``RunFileError`` for a file
    that is not a readable run file) on every rank.
    """
    from mpi4py import MPI

    from .analysis.compare import compare_runs
    from .analysis.reading import read_flavor_run
    from .analysis.study import write_comparison

    comm = MPI.COMM_WORLD if comm is None else comm
    paths = [os.fspath(f) for f in files]
    outcome = None
    if comm.Get_rank() == 0:
        try:
            if directory is None:
                outcome = (compare_runs([read_flavor_run(p) for p in paths], fraction), None)
            else:
                outcome = (write_comparison(paths, os.fspath(directory), fraction, fmt)[0], None)
        except ValueError as exc:  # RunFileError included
            outcome = (None, exc)
        except BaseException:
            comm.bcast((None, RuntimeError("nmbhpc.compare failed on rank 0")), root=0)
            raise
    comparisons, error = comm.bcast(outcome, root=0)
    if error is not None:
        raise error
    return comparisons


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
