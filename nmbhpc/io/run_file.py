"""The run-file base: one parallel-HDF5 file per run, whatever the solver.

:class:`RunFile` owns what every run file shares (docs/file-format.md):

* path checks before anything is touched (:func:`check_output_path`) and the
  ownership claim (:meth:`RunFile._claim` / :meth:`RunFile._release`);
* the provenance header (format, versions, git revision, config text, MPI
  size, creation time) and the ``status`` attribute;
* the record counter ``n_records``, raised only after a record's rows are
  written, so a killed run leaves a file readable up to its last record;
* crash-safe closing (:meth:`RunFile.__exit__`), checkpoints
  (:mod:`nmbhpc.io.checkpoint`) and truncation on resume (:meth:`RunFile.rewind`);
* static datasets and attributes written once.

What a file records goes through handlers, in the spirit of Dedalus' file
handlers (one handler per kind of output, each knowing its layout and how
ranks share the write): :class:`TimeSeries` for rows that every rank holds
identically (rank 0 writes them), :class:`BlockSeries` for distributed
fields appended one block per rank (DMDA snapshots), and
:meth:`RunFile.write_distributed` for one-off row-distributed arrays (state
vectors). A format (:class:`nmbhpc.io.run_writer.RunWriter`,
:class:`nmbhpc.kinetics.output.KineticWriter`) is a subclass that writes its
header and routes its records to its handlers.

Every method is collective on the file's communicator unless noted: parallel
HDF5 needs every rank for anything that changes metadata (resizes,
attributes, dataset creation, flushes).
"""
from __future__ import annotations

import contextlib
import logging
import os
import time
from datetime import datetime, timezone

import numpy as np

from ..runtime.stack import import_h5py
from . import checkpoint, ownership
from .layout import N_RECORDS_ATTR
from .provenance import git_revision, library_versions
from .row_blocks import MAX_CALL_BYTES, write_rows

log = logging.getLogger(__name__)

_EXCEPTIONS = {c.__name__: c for c in (FileExistsError, FileNotFoundError, NotADirectoryError,
                                        IsADirectoryError, PermissionError, ValueError,
                                        OSError)}


def utc_now() -> str:
    """ISO-8601 UTC time to the second, e.g. ``2026-01-01T12:00:00Z`` (not collective)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


class _Agreed:
    """Stand-in communicator for a value that is already the same on every rank."""

    @staticmethod
    def bcast(obj, root=0):
        return obj


def raise_agreed(comm, error) -> None:
    """Collective: raise rank 0's ``(class name, message)`` on every rank, if any."""
    error = comm.bcast(error, root=0)
    if error is not None:
        name, msg = error
        raise _EXCEPTIONS.get(name, RuntimeError)(msg)


#: root attribute: the run's settings as a self-contained config, every default written
#: out (kinetic angular tables read from ``file`` inlined); ``config_toml`` keeps the text
#: as the user wrote it. ``--resume`` compares the new config against it, so a default
#: that changed between versions cannot change a run halfway.
RESOLVED_CONFIG_ATTR = "config_toml_resolved"

#: suffix of the file a new run writes its header into before renaming it to its name
STAGING_SUFFIX = ".part"


def staging_path(path) -> str:
    """Where a new run file is built until its header is complete (``OUT.h5.part``)."""
    return os.fspath(path) + STAGING_SUFFIX


def check_output_path(path: str, force: bool) -> tuple[str, str] | None:
    """Return ``(exception class name, message)`` if ``path`` cannot be created, else None.

    Not collective (rank 0 calls it). Refuses an existing file without
    ``force``, a missing or non-writable directory, and a directory as path.
    """
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        return "IsADirectoryError", f"output path {path!r} is a directory"
    if not os.path.exists(directory):
        return "FileNotFoundError", f"output directory {directory!r} of {path!r} does not exist"
    if not os.path.isdir(directory):
        return "NotADirectoryError", f"{directory!r} (directory of output {path!r}) is not a directory"
    if not os.access(directory, os.W_OK | os.X_OK):
        return "PermissionError", f"output directory {directory!r} of {path!r} is not writable"
    if os.path.lexists(path) and not force:
        return ("FileExistsError",
                f"output file {path!r} already exists; use --force to overwrite it")
    return None


def provenance(mpi_size: int) -> dict:
    """Root attributes every run file carries: versions, git revision, MPI size, creation
    time. Not collective (rank 0 computes them; they are broadcast)."""
    return {**library_versions(), "git_revision": git_revision(), "mpi_size": mpi_size,
            "created_utc": utc_now()}


def attr_value(v):
    """An HDF5-storable attribute value: numbers, strings and numeric arrays as
    they are; None as ""; anything else (dicts, paths, mixed lists) as its str()."""
    if v is None:
        return ""
    if isinstance(v, (str, bytes, bool, int, float, np.generic)):
        return v
    if isinstance(v, (list, tuple, np.ndarray)):
        arr = np.asarray(v)
        if arr.dtype.kind in "biuf":
            return arr
    return str(v)


def py_value(v):
    """numpy scalars/bytes from h5py attributes -> plain Python values."""
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, np.generic):
        return v.item()
    return v


#: ``NAME`` of a dimension scale that is a dimension only (no coordinate values): the
#: netCDF-4 convention, which h5netcdf/xarray read as a dimension without coordinate
DIMENSION_ONLY = "This is a netCDF dimension but not a netCDF variable."
#: attribute marking the coordinate datasets :meth:`RunFile.annotate` creates
COORDINATE_ATTR = "nmbhpc_coordinate"


#: claims of the files this process writes, by resolved path (RunFile._claim)
_CLAIMS: dict = {}


class RunFile:
    """Base of every run-file writer; build a subclass with its ``create`` / ``open_existing``.

    Use as a context manager: a normal exit closes with ``status="completed"``,
    an exception with ``status="failed"`` (see :meth:`__exit__`).
    ``previous_status`` is None for a new file, else the status the file had
    when :meth:`open_existing` reopened it; ``config_toml`` is its stored config.
    """

    #: root ``format`` attribute of the files this class writes
    format_name = ""
    format_version = 1
    #: Largest byte count one rank passes to a single MPI-IO write; larger
    #: slices go in several collective rounds (MPI counts are 32-bit ints).
    max_write_bytes = MAX_CALL_BYTES
    #: Seconds __exit__ waits for the other ranks before giving up on a
    #: collective close after an exception (see :meth:`__exit__`).
    exit_timeout = 10.0
    #: dimension name -> where its scale lives (linked into other groups that use it)
    canonical_scales: dict = {}
    #: dimensions whose coordinate is an integer index 0..n-1 (others: labels or none)
    index_dimensions = ("mode", "mode_q", "sample", "dir", "energy")

    def variables(self) -> dict:
        """Dataset path -> ``layout.Var`` (or ``{ndim: Var}``) of this format (subclass hook)."""
        return {}

    def __init__(self, h5file, comm, path: str):
        """Internal; use the subclass's ``create`` or ``open_existing``."""
        self._h5py = import_h5py()
        self._file = h5file
        self._comm = comm                # a private duplicate, freed by close()
        self._exit_comm = comm.Dup()
        self._rank = comm.Get_rank()
        self._n = int(py_value(h5file.attrs.get(N_RECORDS_ATTR, 0)))
        self.path = path
        self.previous_status = None
        self.config_toml = None

    # ------------------------------------------------------------- creation
    @classmethod
    def _create_file(cls, path, comm, *, force: bool, header):
        """Collective. Check ``path``, claim it, run ``header()`` on rank 0 and create the file.

        Returns ``(h5file, private comm, header value)``; raises the same
        exception on every rank before any file is created or truncated.
        ``header`` builds the subclass's metadata (rank 0 only; broadcast).
        """
        h5py = import_h5py()
        path = os.fspath(path)
        comm = comm.Dup()  # private: our bcasts never meet the caller's messages
        rank = comm.Get_rank()
        try:
            # the directory first, then the claim, then the file: a second writer of a
            # live run's file is refused naming its owner, with or without --force
            raise_agreed(comm, check_output_path(path, True) if rank == 0 else None)
            cls._claim(path, comm)
            raise_agreed(comm, check_output_path(path, force) if rank == 0 else None)
            meta = error = None
            if rank == 0:
                try:
                    meta = header()
                except Exception as exc:  # raised on every rank below
                    error = ("ValueError", f"{path}: cannot build the file header: {exc!r}")
            error, meta = comm.bcast((error, meta), root=0)
            raise_agreed(_Agreed, error)
            # "w", not "w-": a staging file left by a run killed during its creation is
            # ours to replace (we hold the claim on ``path``)
            h5file = h5py.File(staging_path(path), "w", driver="mpio", comm=comm)
        except BaseException:
            cls._release(path, comm)
            comm.Free()
            raise
        return h5file, comm, meta

    def _complete_creation(self, write_header, *, force: bool) -> None:
        """Collective. Run ``write_header()`` on the staging file, then publish it at ``path``.

        The file appears under its name only once its header is complete:
        rank 0 renames the staging file (:func:`staging_path`), an atomic step
        on POSIX file systems. A run killed at any moment therefore leaves
        either no file, the old file ``--force`` was to replace, or a file
        with a complete header. On any error the staging file is closed and
        removed, and the error is raised on every rank.
        """
        try:
            write_header()
            self._file.flush()
            error = None
            if self._rank == 0:
                if not force and os.path.lexists(self.path):
                    error = ("FileExistsError", f"output file {self.path!r} appeared while this "
                             f"run created it; use --force to overwrite it")
                else:
                    try:
                        os.replace(staging_path(self.path), self.path)
                    except OSError as exc:
                        error = ("OSError", f"{self.path}: cannot move the new file into "
                                 f"place: {exc}")
            raise_agreed(self._comm, error)
        except BaseException:
            self._close_file(discard_staging=True)
            raise

    def _root_header(self, solver: str, config_toml: str, resolved_toml: str, meta: dict,
                     attrs: dict | None) -> None:
        """Write the root attributes every format has (``meta``: :func:`provenance`;
        ``resolved_toml``: :data:`RESOLVED_CONFIG_ATTR`)."""
        root = {
            **(attrs or {}),  # the caller's extras never replace the reserved attributes
            "format": self.format_name, "format_version": self.format_version, **meta,
            "solver": solver, "config_toml": config_toml, RESOLVED_CONFIG_ATTR: resolved_toml,
            "status": "running",
            N_RECORDS_ATTR: 0,
        }
        for k, v in root.items():
            self._file.attrs[k] = attr_value(v)

    @classmethod
    def _reopen_file(cls, path, comm, probe, error_class):
        """Collective. Reopen ``path`` read-write after rank 0's ``probe(path)`` accepted it.

        ``probe`` returns what the subclass needs (broadcast) or raises
        ``error_class`` (raised on every rank). Sets ``status`` back to "running".
        """
        h5py = import_h5py()
        path = os.fspath(path)
        comm = comm.Dup()
        try:
            error = meta = None
            if comm.Get_rank() == 0:
                try:
                    meta = probe(path)
                except error_class as exc:
                    error = str(exc)
            error, meta = comm.bcast((error, meta), root=0)
            if error:
                raise error_class(error)
            cls._claim(path, comm)
            h5file = h5py.File(path, "r+", driver="mpio", comm=comm)
        except BaseException:
            cls._release(path, comm)
            comm.Free()
            raise
        return h5file, comm, meta

    def _mark_reopened(self, status: str, config_toml: str) -> None:
        self.previous_status = status
        self.config_toml = config_toml
        self.annotate()  # files written before datasets carried units and scales
        self._file.attrs["status"] = "running"
        self._file.flush()
        log.info("reopened %s (%d complete records, was %s)", self.path, self._n, status)

    # ------------------------------------------------------------ ownership
    @classmethod
    def _claim(cls, path: str, comm) -> None:
        """Collective. Claim ``path`` for this run before it is created or reopened.

        The one place where the ownership claim of :mod:`nmbhpc.io.ownership`
        (one writer per output file) is acquired; a live owner raises
        :class:`~nmbhpc.io.ownership.OwnershipError` naming it, before the file
        is touched. Released by :meth:`_release` when the file is closed or its
        creation fails.
        """
        _CLAIMS[os.path.realpath(path)] = ownership.claim(path, comm)

    @classmethod
    def _release(cls, path: str, comm) -> None:
        """Collective. Release the claim taken by :meth:`_claim` (a no-op without one)."""
        claim = _CLAIMS.pop(os.path.realpath(path), None)
        if claim is not None:
            claim.release()

    # -------------------------------------------------------------- records
    @property
    def n_records(self) -> int:
        """Number of complete records in the file."""
        return self._n

    def _count_record(self, flush: bool = True) -> None:
        """Raise ``n_records`` by one after a record's rows are written (then flush)."""
        self._n += 1
        self._file.attrs[N_RECORDS_ATTR] = self._n
        if flush:
            self._file.flush()

    def rank0_writes(self, writes, decision=None):
        """Collective. Rank 0 performs ``dset[index] = value`` for each triple.

        Its success is broadcast, so an I/O error (disk full, quota) is raised
        on every rank instead of leaving the others waiting in the next
        collective call. Rank 0's ``decision`` rides along and is returned on
        every rank.
        """
        error = None
        if self._rank == 0:
            try:
                for dset, index, value in writes:
                    dset[index] = value
            except Exception as exc:  # re-raised below, on every rank
                error = ("OSError", f"{self.path}: writing {dset.name}: {exc}")
        error, decision = self._comm.bcast((error, decision), root=0)
        raise_agreed(_Agreed, error)
        return decision

    # ---------------------------------------------------- static data, attrs
    def has_dataset(self, name: str) -> bool:
        """Whether ``name`` exists in the file (same answer on every rank)."""
        return name in self._file

    def write_static(self, name: str, array) -> None:
        """Collective. Write ``array`` (rank 0's value; shape and dtype must agree) as dataset ``name``.

        ``name`` may contain groups (``"solver/basis_dim"``); strings are
        stored as fixed-length UTF-8 (parallel HDF5 cannot write
        variable-length data), so h5py reads them back as ``bytes``.
        """
        arr = np.asarray(array)
        dtype = arr.dtype
        if arr.dtype.kind in "US":
            arr = np.char.encode(arr.astype(str), "utf-8")
            dtype = self._h5py.string_dtype("utf-8", max(1, arr.dtype.itemsize))
            arr = arr.astype(dtype)  # carries h5py's utf-8 tag: no charset conversion
        shape, dtype = self._comm.bcast((arr.shape, dtype) if self._rank == 0 else None, root=0)
        if name in self._file:
            raise ValueError(f"{self.path}: dataset {name!r} already exists")
        dset = self._file.create_dataset(name, shape=shape, dtype=dtype)
        self.rank0_writes([(dset, Ellipsis, arr)] if arr.size else [])
        self.annotate()
        self._file.flush()

    def write_statics(self, arrays: dict) -> None:
        """Collective. :meth:`write_static` each ``name -> array`` not yet in the file."""
        for name, array in arrays.items():
            if not self.has_dataset(name):
                self.write_static(name, array)

    def write_distributed(self, name: str, local, offset: int, global_shape) -> None:
        """Collective. Write a row-distributed array as dataset ``name`` of ``global_shape``.

        Each rank passes its contiguous slice ``local`` (rows ``offset ..
        offset + len(local)`` along axis 0; zero rows allowed, with the right
        dtype and trailing shape). The slices must tile axis 0 exactly. The
        write is collective MPI-IO, split into rounds of at most
        ``max_write_bytes`` per rank. Read it back in parallel with
        :func:`nmbhpc.io.read_distributed`.
        """
        local = np.ascontiguousarray(np.atleast_1d(local))
        global_shape = tuple(int(d) for d in global_shape)
        n = int(local.shape[0])
        info = self._comm.allgather((int(offset), n, tuple(local.shape[1:]), local.dtype.str))
        problem = _tiling_problem(info, global_shape)
        if problem:
            raise ValueError(f"{self.path}: write_distributed({name!r}): {problem}")
        if name in self._file:
            raise ValueError(f"{self.path}: dataset {name!r} already exists")
        dset = self._file.create_dataset(name, shape=global_shape, dtype=local.dtype)
        write_rows(self._comm, dset, local.reshape((n,) + global_shape[1:]), int(offset),
                   self.max_write_bytes)
        self.annotate()
        self._file.flush()

    def root_attr(self, name: str, default=None):
        """Root attribute ``name`` as a plain Python value, ``default`` when absent
        (every rank reads the same file, so the answer is the same on every rank)."""
        attrs = self._file.attrs
        return py_value(attrs[name]) if name in attrs else default

    def set_attrs(self, **attrs) -> None:
        """Collective. Set root attributes (rank 0's values) and flush."""
        attrs = self._comm.bcast(attrs if self._rank == 0 else None, root=0)
        for k, v in attrs.items():
            self._file.attrs[k] = attr_value(v)
        self._file.flush()

    # ----------------------------------------- units, descriptions, dimension scales
    @contextlib.contextmanager
    def header(self):
        """Collective. Create a file's header datasets inside this block: they reach
        the disk (flush) before they are described (:meth:`annotate`, then flushed
        again), so a run killed while its header is described leaves a readable file."""
        self._defer_annotation = True
        try:
            yield
            self._file.flush()
        finally:
            self._defer_annotation = False
        self.annotate()
        self._file.flush()

    def annotate(self) -> None:
        """Collective. Describe every dataset that has no ``units`` attribute yet.

        Each gets ``units`` and ``description`` from :meth:`variables` and a
        dimension scale attached to every axis (netCDF-4 conventions, so
        xarray's h5netcdf engine sees named dimensions with coordinates). A
        scale lives in the dataset's own group (hard-linked from
        :attr:`canonical_scales`, so each group opened alone carries its
        coordinates); datasets named like their only dimension (``time``)
        are their own scale; unknown datasets get dimensions
        ``<name>_dim<i>``. Scale creation and attachment are metadata
        operations: every rank makes the same calls in the same (sorted) order.
        """
        if getattr(self, "_defer_annotation", False):
            return
        from .layout import Var

        h5py = self._h5py
        names = []
        self._file.visititems(
            lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
        table = self.variables()
        for name in sorted(names):
            d = self._file[name]
            if "units" in d.attrs:
                continue
            var = table.get(name)
            if isinstance(var, dict):
                var = var.get(d.ndim)
            base = name.rsplit("/", 1)[-1]
            if var is None or len(var.dims) != d.ndim:
                var = Var(tuple(f"{base}_dim{i}" for i in range(d.ndim)), "", "")
            d.attrs["units"] = var.units
            d.attrs["description"] = var.description
            if var.dims == (base,):
                if not self._h5py.h5ds.is_scale(d.id):
                    d.make_scale(base)
                continue
            group = name.rsplit("/", 1)[0] if "/" in name else ""
            for axis, dim in enumerate(var.dims):
                scale = self._scale(group, dim, d.shape[axis])
                d.dims[axis].attach_scale(scale)

    def _scale(self, group: str, dim: str, n: int):
        """Collective. The scale of dimension ``dim`` (length ``n``) visible from ``group``."""
        f = self._file
        own = f"{group}/{dim}" if group else dim
        if own in f:
            d = f[own]
            if self._h5py.h5ds.is_scale(d.id):
                return d
            if d.ndim == 1:
                d.make_scale(dim)
                return d
        canon = self.canonical_scales.get(dim)
        if canon is not None and canon != own:
            src = self._scale(canon.rsplit("/", 1)[0] if "/" in canon else "", dim, n)
            if own not in f:
                f[own] = src  # hard link: the group opened alone has the coordinate too
            return src
        if own in f:  # taken by a dataset of another shape: a scale in the parent group
            return self._scale(group.rsplit("/", 1)[0] if "/" in group else "", dim, n)
        return self._create_coordinate(own, dim, n)

    def _create_coordinate(self, path: str, dim: str, n: int):
        """Collective. A new coordinate dataset for ``dim``: labels, an index, or a dimension only."""
        from .layout import COORDINATE_DESCRIPTIONS, COORDINATE_LABELS

        labels = COORDINATE_LABELS.get(dim)
        f = self._file
        if labels is not None and len(labels) == n:
            dtype = self._h5py.string_dtype("utf-8", max(len(x) for x in labels))
            d = f.create_dataset(path, shape=(n,), dtype=dtype)
            self.rank0_writes([(d, Ellipsis, np.array([x.encode() for x in labels], dtype=dtype))])
            d.make_scale(dim)
        elif dim in self.index_dimensions:
            d = f.create_dataset(path, shape=(n,), dtype="i8")
            self.rank0_writes([(d, Ellipsis, np.arange(n, dtype=np.int64))] if n else [])
            d.make_scale(dim)
        else:
            # no values: zero bytes whatever n (e.g. a state vector's rows); unlimited,
            # so readers take the length from the datasets attached to it
            d = f.create_dataset(path, shape=(0,), maxshape=(None,), chunks=(1,), dtype="f4")
            d.make_scale(DIMENSION_ONLY)
        d.attrs[COORDINATE_ATTR] = 1
        d.attrs["units"] = ""
        d.attrs["description"] = COORDINATE_DESCRIPTIONS.get(dim, f"dimension {dim}")
        return d

    # ------------------------------------------------- checkpoints, restarts
    def checkpoint_info(self):
        """The current :class:`~nmbhpc.io.checkpoint.CheckpointInfo`, or None (same on every rank)."""
        return checkpoint.current(self._file)

    def checkpoint_counters(self) -> dict:
        """What the format stores with a checkpoint besides ``n_records`` (scalars)."""
        return {}

    def write_checkpoint(self, local, offset: int, global_shape, *, time: float,
                         extras: dict | None = None) -> None:
        """Collective. Store the solver state at ``time`` (the last appended record) as checkpoint."""
        checkpoint.write(self._file, self._comm, local, offset, global_shape, time=time,
                         n_records=self._n, extras={**(extras or {}), **self.checkpoint_counters()},
                         max_bytes=self.max_write_bytes)

    def read_checkpoint(self, info, offset: int, count: int) -> np.ndarray:
        """Collective. This rank's rows ``offset .. offset + count`` of checkpoint ``info``."""
        return checkpoint.read(self._file, self._comm, info, offset, count)

    def truncate(self, n_records: int) -> None:
        """Collective. Drop every record from index ``n_records`` on (they will be rewritten)."""
        n_records = int(n_records)
        if not 0 <= n_records <= self._n:
            raise ValueError(f"{self.path}: cannot truncate {self._n} records to {n_records}")
        self._file.attrs[N_RECORDS_ATTR] = n_records
        for handler in self._handlers():
            handler.truncate(n_records)
        self._n = n_records
        self._file.flush()

    def rewind(self, info) -> None:
        """Collective. Cut the file back to checkpoint ``info`` (None: to no record at all).

        The records after the checkpoint's and whatever the format counts with
        it (:meth:`checkpoint_counters`, e.g. snapshots) are dropped.
        """
        self.truncate(0 if info is None else info.n_records)

    def _handlers(self) -> list:
        """The record handlers truncated with the record count (subclass hook)."""
        return []

    # -------------------------------------------------------------- closing
    @property
    def closed(self) -> bool:
        return self._file is None

    def close(self, status: str = "completed") -> None:
        """Collective. Set the root ``status`` attribute and close; a second call does nothing."""
        if self._file is None:
            return
        try:
            self.annotate()  # e.g. checkpoint datasets created since the last annotation
            self._file.attrs["status"] = status
            self._file.attrs["finished_utc"] = self._comm.bcast(
                utc_now() if self._rank == 0 else None, root=0)
        finally:
            self._close_file()
        log.info("closed %s (%s, %d records)", self.path, status, self._n)

    def _close_file(self, discard_staging: bool = False) -> None:
        """Collective. Close the file, release the claim, free the communicators.

        ``discard_staging``: the file is an unpublished staging file
        (:meth:`_complete_creation`) and an error is propagating: it is removed
        before the claim is released, and a close that fails too (the same full
        disk) is logged, not raised, so that the first error is the one reported.
        """
        self._forget_handles()
        try:
            self._file.close()
        except (OSError, RuntimeError) as exc:
            if not discard_staging:
                raise
            log.warning("closing the unfinished %s failed too: %s", staging_path(self.path), exc)
        self._file = None
        if discard_staging:
            if self._rank == 0:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(staging_path(self.path))
            self._comm.Barrier()  # the staging file is gone before the claim is released
        self._release(self.path, self._comm)
        self._comm.Free()
        self._exit_comm.Free()

    def _forget_handles(self) -> None:
        """Drop cached dataset handles before the file closes (subclass hook)."""

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        """Close with ``completed``, or ``failed`` if an exception is propagating.

        After an exception the close is collective only if every rank arrives
        here within ``exit_timeout`` seconds (a non-blocking barrier on a
        private communicator tells). An error on one rank alone leaves the
        file open and ``status="running"`` — readable up to its last flushed
        record — and the caller must then ``comm.Abort()``: the other ranks
        are blocked in a collective call that will never complete.
        """
        if self._file is None:
            return False
        if exc_type is None:
            self.close("completed")
            return False
        req = self._exit_comm.Ibarrier()
        deadline = time.monotonic() + self.exit_timeout
        while not req.Test():
            if time.monotonic() > deadline:
                log.error("%s: not every rank failed; file left as status='running' "
                          "(readable up to record %d)", self.path, self._n)
                return False
            time.sleep(0.01)
        self.close("failed")
        return False


class TimeSeries:
    """Handler of datasets that grow by one row per record, rows identical on every rank.

    Every rank resizes (metadata is collective); rank 0 writes the rows.
    Datasets are created with :meth:`create` (or adopted from a reopened
    file with :meth:`adopt`) and cached: h5py name lookups cost more than a
    row write.
    """

    def __init__(self, run_file: RunFile):
        self.file = run_file
        self.datasets = {}  # dataset path -> open h5py Dataset

    def create(self, path: str, row_shape: tuple, dtype, *, chunks: tuple,
               rows: int = 0, fillvalue=None):
        """Collective. Create the extendable dataset ``path`` of ``rows`` rows."""
        dtype = np.dtype(dtype)
        kwargs = {} if fillvalue is None else {"fillvalue": np.array(fillvalue, dtype=dtype)}
        self.datasets[path] = self.file._file.create_dataset(
            path, shape=(rows, *row_shape), maxshape=(None, *row_shape), dtype=dtype,
            chunks=chunks, **kwargs)
        self.file.annotate()
        return self.datasets[path]

    def adopt(self, paths) -> None:
        """Use the datasets ``paths`` of a reopened file (those present)."""
        for path in paths:
            if path in self.file._file:
                self.datasets[path] = self.file._file[path]

    def append(self, rows: dict, index: int, decision=None):
        """Collective. Resize each dataset to ``index + 1`` rows; rank 0 writes ``rows[path]``
        (None: the row stays unwritten). Returns rank 0's ``decision`` on every rank."""
        writes = []
        for path, dset in self.datasets.items():
            dset.resize(index + 1, axis=0)
            value = rows.get(path)
            if value is not None:
                writes.append((dset, index, value))
        return self.file.rank0_writes(writes, decision)

    def truncate(self, n: int) -> None:
        """Collective. Cut every dataset to at most ``n`` rows."""
        for dset in self.datasets.values():
            if dset.shape[0] > n:
                dset.resize(n, axis=0)


class BlockSeries:
    """Handler of a distributed field appended as entries along axis 0, each rank its block.

    ``group`` holds ``time[S]`` and ``field[S, *space, *cell]`` and the
    attribute ``n_snapshots`` (raised after an entry is written, then
    flushed: the crash guarantee of the record counter). Each rank writes its
    hyperslab ``lo..hi`` of the spatial axes with collective MPI-IO; every
    rank must own at least one cell.
    """

    COUNT_ATTR = "n_snapshots"

    def __init__(self, run_file: RunFile, group: str):
        self.file = run_file
        self.group = group
        g = run_file._file.get(group)
        self.n = int(py_value(g.attrs.get(self.COUNT_ATTR, 0))) if g is not None else 0

    def create(self, space: tuple, cell: tuple, chunks: tuple) -> None:
        """Collective. Create the empty ``time`` and ``field`` datasets."""
        g = self.file._file.require_group(self.group)
        g.attrs[self.COUNT_ATTR] = 0
        g.create_dataset("time", shape=(0,), maxshape=(None,), chunks=(64,), dtype="f8")
        g.create_dataset("field", shape=(0,) + space + cell, maxshape=(None,) + space + cell,
                         chunks=chunks, dtype="f8")
        self.file.annotate()

    def append(self, t: float, block: np.ndarray, lo, hi) -> None:
        """Collective. Append the field at time ``t``: this rank's ``block`` covers ``lo..hi``."""
        g = self.file._file[self.group]
        g["time"].resize(self.n + 1, axis=0)
        g["field"].resize(self.n + 1, axis=0)
        self.file.rank0_writes([(g["time"], self.n, t)])
        d = g["field"]
        with d.collective:
            d[(self.n,) + tuple(slice(a, b) for a, b in zip(lo, hi))] = block
        self.n += 1
        g.attrs[self.COUNT_ATTR] = self.n
        self.file._file.flush()

    def truncate(self, n: int) -> None:
        """Collective. Keep the first ``n`` entries."""
        if not 0 <= n <= self.n:
            raise ValueError(f"{self.file.path}: cannot truncate {self.n} entries of "
                             f"{self.group} to {n}")
        g = self.file._file[self.group]
        g.attrs[self.COUNT_ATTR] = n
        for name in ("time", "field"):
            if g[name].shape[0] > n:
                g[name].resize(n, axis=0)
        self.n = n


def _tiling_problem(info, global_shape) -> str | None:
    """Why the gathered ``(offset, n, trailing, dtype)`` slices do not tile ``global_shape``."""
    if len({d for *_, d in info}) > 1:
        return f"ranks pass different dtypes {sorted({d for *_, d in info})}"
    for rank, (_, _, trailing, _) in enumerate(info):
        if trailing != tuple(global_shape[1:]):
            return f"rank {rank} passes rows of shape {trailing}, global shape is {global_shape}"
    nxt = 0
    for off, n in sorted((o, m) for o, m, _, _ in info if m > 0):
        if off != nxt:
            return f"slices leave a gap or overlap at row {min(off, nxt)}"
        nxt = off + n
    if nxt != (global_shape[0] if global_shape else 0):
        return f"slices cover {nxt} rows, global shape is {global_shape}"
    return None


def open_for_reading(path: str, format_name: str, max_version: int, error_class, what: str):
    """Open ``path`` read-only after checking its ``format``/``format_version`` attributes.

    Not collective. Raises ``error_class`` naming ``path`` for a missing
    file, a directory, a file that is not HDF5 or not of ``format_name``
    (``what`` names the kind in the message), or a version this code cannot read.
    """
    h5py = import_h5py()
    if not os.path.exists(path):
        raise error_class(f"{path}: no such file")
    if os.path.isdir(path):
        raise error_class(f"{path}: is a directory, not a run file")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise error_class(f"{path}: not a readable HDF5 file ({exc})") from None
    fmt = py_value(f.attrs.get("format", None))
    if fmt != format_name:
        f.close()
        raise error_class(f"{path}: not an nmbhpc {what} (root attribute format={fmt!r}, "
                          f"expected {format_name!r})")
    version = py_value(f.attrs.get("format_version", -1))
    if not isinstance(version, int) or not 1 <= version <= max_version:
        f.close()
        raise error_class(f"{path}: {what} format_version {version!r} is not supported by "
                          f"this nmbhpc (reads 1..{max_version}); upgrade nmbhpc")
    return f


def complete_rows(f, paths) -> int:
    """Records a reader may trust: ``n_records``, never more than the shortest of ``paths``
    present (a run killed between two resizes). Not collective."""
    return min([int(py_value(f.attrs.get(N_RECORDS_ATTR, 0)))]
               + [f[p].shape[0] for p in paths if p in f])


def file_format(path) -> str | None:
    """The root ``format`` attribute of HDF5 file ``path``, or None (never raises)."""
    h5py = import_h5py()
    try:
        with h5py.File(os.fspath(path), "r") as f:
            return py_value(f.attrs.get("format", None))
    except (OSError, ValueError):
        return None
