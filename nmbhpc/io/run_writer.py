"""Parallel-HDF5 writer of one run file (layout: docs/file-format.md).

Every method is collective on the writer's communicator. The observables of a
record are identical on every rank, so rank 0 alone writes each row
(independent I/O) while the dataset resizes, attributes and flushes are
collective, as parallel HDF5 requires for anything that changes metadata.
Distributed arrays (final state vectors) are written with collective MPI-IO.

Crash semantics: every :meth:`RunWriter.append` ends with a flush (unless
``flush_interval`` asks for fewer), and the
root attribute ``n_records`` is raised only after the record's rows are
written, so a run killed at any point leaves a file that
:func:`nmbhpc.io.read_run` reads up to its last complete output
(``status == "running"``).

Ownership: ``create`` and ``open_existing`` claim the file for this run
before touching it (:mod:`nmbhpc.io.ownership`: a second live writer is
refused, naming its host, PID and SLURM job); closing gives the claim back.

Overwriting (``force=True``): the checks run first, on rank 0, before any file
is touched; the old file is then truncated when the new one is created at the
same path. The new file is not written elsewhere and renamed at the end,
because a run that dies must leave its partial output at the path the user
asked for.
"""
from __future__ import annotations

import logging
import os
import time
from datetime import datetime, timezone

import numpy as np

from ..stack import import_h5py
from . import layout, ownership
from .provenance import git_revision, library_versions
from .row_blocks import MAX_CALL_BYTES, write_rows

log = logging.getLogger("nmbhpc.io")

_EXCEPTIONS = {c.__name__: c for c in (FileExistsError, FileNotFoundError, NotADirectoryError,
                                        IsADirectoryError, PermissionError, ValueError,
                                        OSError)}


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


class _Agreed:
    """Stand-in communicator for a value that is already the same on every rank."""

    @staticmethod
    def bcast(obj, root=0):
        return obj


def _raise_agreed(comm, error) -> None:
    """Collective: raise rank 0's ``(class name, message)`` on every rank, if any."""
    error = comm.bcast(error, root=0)
    if error is not None:
        name, msg = error
        raise _EXCEPTIONS.get(name, RuntimeError)(msg)


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


class RunWriter:
    """Writer of one nmbhpc run file; create it with :meth:`create` (collective).

    Use as a context manager: a normal exit closes with ``status="completed"``,
    an exception with ``status="failed"``.
    """

    #: Largest byte count one rank passes to a single MPI-IO write; larger
    #: slices go in several collective rounds (MPI counts are 32-bit ints).
    max_write_bytes = MAX_CALL_BYTES
    #: Seconds __exit__ waits for the other ranks before giving up on a
    #: collective close after an exception (see :meth:`__exit__`).
    exit_timeout = 10.0

    def __init__(self, h5file, comm, n_modes: int, counts: np.ndarray, path: str):
        """Internal; use :meth:`create`."""
        self._h5py = import_h5py()
        self._file = h5file
        self._comm = comm
        self._exit_comm = comm.Dup()
        self._rank = comm.Get_rank()
        self._n_modes = n_modes
        self._weights = counts / counts.sum() if counts.sum() > 0 else counts.astype(float)
        self._n = 0
        self._series = {}  # dataset path -> open h5py Dataset
        self._last_flush = -np.inf
        self.flush_interval = 0.0
        self.path = path
        self.previous_status = None  # set by open_existing: the status before a restart
        self.config_toml = None      # set by open_existing: the stored config text
        self._claim = None           # ownership.Claim, released when the file is closed

    # ------------------------------------------------------------------ create
    @classmethod
    def create(cls, path, comm, config, *, force: bool = False, attrs: dict | None = None,
               flush_interval: float = 0.0) -> "RunWriter":
        """Collective. Create the run file ``path`` for ``config`` (a RunConfig) on ``comm``.

        Refuses (raises on every rank, before any file is created or
        truncated) an existing ``path`` unless ``force``, and a missing or
        non-writable directory. Writes the root provenance attributes, the
        ``/model`` attributes and the static ``/modes`` datasets, and creates
        the empty time series. ``attrs`` (rank 0's values) are added to the
        root attributes.

        ``flush_interval`` (seconds, rank 0's clock): 0 flushes after every
        record (the crash guarantee above; a flush is an fsync, ~5-10 ms on a
        local disk); a positive value flushes at most that often, for runs
        with very many cheap outputs. A crash then loses the records since the
        last flush, and HDF5 does not promise a readable file if the process
        dies between flushes.
        """
        h5py = import_h5py()
        path = os.fspath(path)
        comm = comm.Dup()  # private: our bcasts never meet the caller's messages
        rank = comm.Get_rank()
        claim = None
        try:
            _raise_agreed(comm, check_output_path(path, True) if rank == 0 else None)
            claim = ownership.claim(path, comm)  # before the file is touched: one writer per file
            _raise_agreed(comm, check_output_path(path, force) if rank == 0 else None)
            meta = error = None
            if rank == 0:
                try:
                    meta = cls._metadata(config, comm.Get_size(), attrs)
                except Exception as exc:  # raised on every rank below
                    error = ("ValueError", f"{path}: cannot build the file header: {exc!r}")
            error, meta = comm.bcast((error, meta), root=0)
            _raise_agreed(_Agreed, error)
            h5file = h5py.File(path, "w" if force else "w-", driver="mpio", comm=comm)
        except BaseException:
            if claim is not None:
                claim.release()
            comm.Free()
            raise
        writer = cls(h5file, comm, len(meta["modes"]["n"]), np.asarray(meta["modes"]["n"]), path)
        writer._claim = claim
        writer.flush_interval = float(flush_interval)
        try:
            writer._write_header(meta)
        except BaseException:
            # same data on every rank, so a failure here is collective too
            writer._close_file()
            raise
        log.info("writing %s", path)
        return writer

    @staticmethod
    def _metadata(config, mpi_size: int, attrs: dict | None) -> dict:
        """Everything the header holds, computed on rank 0 (bcast to the others)."""
        model = config.model
        mu = model.mu
        root = {
            **(attrs or {}),  # the caller's extras never replace the reserved attributes
            "format": layout.FORMAT_NAME,
            "format_version": layout.FORMAT_VERSION,
            **library_versions(),
            "git_revision": git_revision(),
            "mpi_size": mpi_size,
            "solver": config.solver,
            "config_toml": config.source_text,
            "config_path": config.source_path,
            "created_utc": _utc_now(),
            "status": "running",
            layout.N_RECORDS_ATTR: 0,
        }
        model_attrs = {
            "name": model.name, "theta": float(model.theta), "mu0": float(mu.mu0),
            "mu_schedule": mu.kind, "mu_max_step": float(mu.max_step),
            "single_angle": bool(model.single_angle),
            "single_angle_factor": float(model.single_angle_factor),
            "n_total": model.n_total, "n_modes": model.n_modes,
        }
        if mu.kind == "bulb":
            model_attrs.update(mu_r0=float(mu.r0), mu_radius=float(mu.radius))
        static = {"planned_times": np.asarray(config.output.times, dtype=np.float64)}
        if mu.kind == "table":
            static["model/mu_times"] = np.asarray(mu.times, dtype=np.float64)
            static["model/mu_values"] = np.asarray(mu.values, dtype=np.float64)
        modes = {
            "n": model.counts,
            "omega": model.omegas,
            "direction": model.directions.reshape(-1, 3),
            "initial_polarization": model.initial_polarizations.reshape(-1, 3),
        }
        return {"root": root, "model": model_attrs, "static": static, "modes": modes,
                "pair": bool(config.output.pair_correlations)}

    def _write_header(self, meta: dict) -> None:
        f = self._file
        for k, v in meta["root"].items():
            f.attrs[k] = _attr_value(v)
        g = f.require_group("model")
        for k, v in meta["model"].items():
            g.attrs[k] = _attr_value(v)
        for name, arr in meta["modes"].items():
            self._create_and_fill(f"modes/{name}", arr)
        for name, arr in meta["static"].items():
            self._create_and_fill(name, arr)
        for s in layout.SERIES:
            if not s.optional or (s.field == "pair_correlation" and meta["pair"]):
                self._create_series(s, 0)
        f.flush()

    # ---------------------------------------------------------------- helpers
    def _create_and_fill(self, name: str, arr: np.ndarray) -> None:
        """Collective create; rank 0 writes (the arrays are identical everywhere)."""
        dset = self._file.create_dataset(name, shape=arr.shape, dtype=arr.dtype)
        self._rank0_writes([(dset, Ellipsis, arr)] if arr.size else [])

    def _rank0_writes(self, writes, decision=None):
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
        _raise_agreed(_Agreed, error)
        return decision

    def _create_series(self, s: layout.Series, rows: int):
        row = s.row_shape(self._n_modes)
        dtype = np.dtype(s.dtype)
        self._series[s.path] = self._file.create_dataset(
            s.path, shape=(rows, *row), maxshape=(None, *row), dtype=dtype,
            chunks=layout.chunk_shape(row, dtype.itemsize, min_rows=s.min_rows),
            fillvalue=np.array(np.nan, dtype=dtype))  # unwritten rows read as NaN
        return self._series[s.path]

    def _values(self, rec) -> dict:
        """Row values of ``rec`` per series path, shape-checked (None: absent)."""
        out = {}
        for s in layout.SERIES:
            if s.field is None:
                v = float(np.dot(self._weights, np.asarray(rec.nue_fraction, dtype=np.float64)))
            else:
                v = getattr(rec, s.field)
            if v is None:
                out[s.path] = None
                continue
            v = np.asarray(v, dtype=s.dtype)
            want = s.row_shape(self._n_modes)
            if v.shape != want:
                raise ValueError(f"ObservableRecord.{s.field} has shape {v.shape}, "
                                 f"the file expects {want} ({self._n_modes} modes)")
            out[s.path] = v
        return out

    # ----------------------------------------------------------------- public
    @property
    def n_records(self) -> int:
        """Number of records appended so far."""
        return self._n

    def append(self, rec) -> None:
        """Collective. Append one ObservableRecord (identical on every rank) and flush.

        Rank 0's values are written; all ranks resize every series by one row.
        """
        values = self._values(rec)
        t = self._n
        f = self._file
        rows = []
        for s in layout.SERIES:
            v = values[s.path]
            # cached handles: h5py name lookups cost more than the row write
            if s.path in self._series:
                dset = self._series[s.path]
            elif v is not None:  # optional series first seen now: earlier rows stay NaN
                dset = self._create_series(s, t)
            else:
                continue
            dset.resize(t + 1, axis=0)
            if v is not None:
                rows.append((dset, t, v))
        # rank 0's clock decides, so that all ranks flush (collectively) together
        flush = self._rank0_writes(
            rows, self._rank == 0 and time.monotonic() - self._last_flush >= self.flush_interval)
        self._n = t + 1
        f.attrs[layout.N_RECORDS_ATTR] = self._n
        if flush:
            f.flush()
            self._last_flush = time.monotonic()

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
        self._rank0_writes([(dset, Ellipsis, arr)] if arr.size else [])
        self._file.flush()

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
        self._file.flush()

    def set_attrs(self, **attrs) -> None:
        """Collective. Set root attributes (rank 0's values) and flush."""
        attrs = self._comm.bcast(attrs if self._rank == 0 else None, root=0)
        for k, v in attrs.items():
            self._file.attrs[k] = _attr_value(v)
        self._file.flush()

    @property
    def closed(self) -> bool:
        return self._file is None

    def close(self, status: str = "completed") -> None:
        """Collective. Set the root ``status`` attribute and close; a second call does nothing."""
        if self._file is None:
            return
        try:
            self._file.attrs["status"] = status
            self._file.attrs["finished_utc"] = self._comm.bcast(
                _utc_now() if self._rank == 0 else None, root=0)
        finally:
            self._close_file()
        log.info("closed %s (%s, %d records)", self.path, status, self._n)

    def _close_file(self) -> None:
        self._series = {}
        try:
            self._file.close()
        finally:
            self._file = None
            if self._claim is not None:
                self._claim.release()
            self._comm.Free()
            self._exit_comm.Free()

    def __enter__(self) -> "RunWriter":
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

    # ----------------------------------------------------- restart / checkpoints
    @classmethod
    def open_existing(cls, path, comm) -> "RunWriter":
        """Collective. Reopen run file ``path`` to append (a restart).

        Checks on rank 0 that it is an nmbhpc run file this version reads
        (raises :class:`~nmbhpc.io.RunFileError` on every rank otherwise),
        sets ``status`` back to ``"running"`` and positions the writer after
        the last complete record (:meth:`truncate` moves it back).
        """
        from .run_reader import RunFileError, read_run

        h5py = import_h5py()
        path = os.fspath(path)
        comm = comm.Dup()
        claim = None
        try:
            claim = ownership.claim(path, comm)  # before the file is read or reopened
            error = meta = None
            if comm.Get_rank() == 0:
                try:
                    run = read_run(path)
                    meta = (run.modes.n, run.n_records, run.config_toml, run.status)
                except RunFileError as exc:
                    error = str(exc)
            error, meta = comm.bcast((error, meta), root=0)
            if error:
                raise RunFileError(error)
            h5file = h5py.File(path, "r+", driver="mpio", comm=comm)
        except BaseException:
            if claim is not None:
                claim.release()
            comm.Free()
            raise
        counts, n_records, config_toml, status = meta
        writer = cls(h5file, comm, len(counts), np.asarray(counts), path)
        writer._claim = claim
        writer._n = int(n_records)
        writer.previous_status = status
        writer.config_toml = config_toml
        for s in layout.SERIES:
            if s.path in h5file:
                writer._series[s.path] = h5file[s.path]
        h5file.attrs["status"] = "running"
        h5file.flush()
        log.info("reopened %s (%d complete records, was %s)", path, writer._n, status)
        return writer

    def has_dataset(self, name: str) -> bool:
        """Whether ``name`` exists in the file (same answer on every rank)."""
        return name in self._file

    def truncate(self, n_records: int) -> None:
        """Collective. Drop every record from index ``n_records`` on (they will be rewritten)."""
        n_records = int(n_records)
        if not 0 <= n_records <= self._n:
            raise ValueError(f"{self.path}: cannot truncate {self._n} records to {n_records}")
        self._file.attrs[layout.N_RECORDS_ATTR] = n_records
        for dset in self._series.values():
            if dset.shape[0] > n_records:
                dset.resize(n_records, axis=0)
        self._n = n_records
        self._file.flush()

    def checkpoint_info(self):
        """The current :class:`~nmbhpc.io.checkpoint.CheckpointInfo`, or None (same on every rank)."""
        from . import checkpoint

        return checkpoint.current(self._file)

    def write_checkpoint(self, local, offset: int, global_shape, *, time: float,
                         extras: dict | None = None) -> None:
        """Collective. Store the solver state at ``time`` (the last appended record) as checkpoint."""
        from . import checkpoint

        checkpoint.write(self._file, self._comm, local, offset, global_shape, time=time,
                         n_records=self._n, extras=extras, max_bytes=self.max_write_bytes)

    def read_checkpoint(self, info, offset: int, count: int) -> np.ndarray:
        """Collective. This rank's rows ``offset .. offset + count`` of checkpoint ``info``."""
        from . import checkpoint

        return checkpoint.read(self._file, self._comm, info, offset, count)


def _attr_value(v):
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
