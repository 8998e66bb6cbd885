"""Parallel-HDF5 file of a kinetic run: writer, restart support, serial reader.

Layout: docs/kinetics.md ("Output"). One file per run, opened with the mpio
driver on the solver's communicator. Time series (time axis first, chunked,
unlimited) hold domain averages that are identical on every rank, so rank 0
writes their rows while resizes, attributes and flushes are collective.
Snapshots of the full field are written collectively, each rank its own
DMDA block as a hyperslab of the spatial axes (1D: an x slab); checkpoints
hold the cells in natural order, each rank a contiguous share (a file
written on K ranks is read on any other number).

Crash semantics (as the many-body writer, :mod:`nmbhpc.io.run_writer`): each
append writes its rows, then raises the root attribute ``n_records``, then
flushes, so a run killed at any point leaves a file readable up to its last
complete output (``status == "running"``). Checkpoints use the two-slot
scheme of :mod:`nmbhpc.io.checkpoint` (a kill while writing one leaves the
previous one intact).
"""
from __future__ import annotations

import logging
import os
import time as _time
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np

from ..io import checkpoint, ownership
from ..io.provenance import git_revision, library_versions
from ..io.run_writer import check_output_path
from ..stack import import_h5py
from .grid import cell_centres, direction_vectors

log = logging.getLogger("nmbhpc.kinetics")

FORMAT_NAME = "nmbhpc-kinetics"
FORMAT_VERSION = 1
GROUP = "kinetics"
N_RECORDS_ATTR = "n_records"
# (dataset, KineticRecord attribute)
SERIES = (
    ("time", "time"),
    (f"{GROUP}/polarization", "polarization"),
    (f"{GROUP}/number_density", "number_density"),
    (f"{GROUP}/lepton_number", "lepton_number"),
    (f"{GROUP}/offdiag_amplitude", "offdiag_amplitude"),
    (f"{GROUP}/trace_margin", "trace_margin"),
    (f"{GROUP}/limiter", "limiter"),
)
#: series a reader accepts missing (files written before they existed)
OPTIONAL_SERIES = (f"{GROUP}/limiter",)
SNAPSHOT_TIME = f"{GROUP}/snapshots/time"
SNAPSHOT_FIELD = f"{GROUP}/snapshots/field"

_ERRORS = {c.__name__: c for c in (FileExistsError, FileNotFoundError, NotADirectoryError,
                                    IsADirectoryError, PermissionError)}


class KineticFileError(ValueError):
    """A file that is missing, not HDF5, not a kinetic run file, or damaged."""


def _py(v):
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, np.generic):
        return v.item()
    return v


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _snapshot_chunks(space: tuple, cell: tuple, budget: int = 1 << 20) -> tuple:
    """Chunk of one snapshot of ~``budget`` bytes: whole cells, the fastest spatial axes
    whole while they fit, then as many rows of the next axis as fit (at least one)."""
    size = 8 * int(np.prod(cell))
    chunk = list(space)
    for i in range(len(space) - 1, -1, -1):
        if size * space[i] > budget:
            chunk[i] = min(space[i], max(1, budget // size))
            chunk[:i] = [1] * i
            break
        size *= space[i]
    return tuple(chunk) + tuple(cell)


class KineticWriter:
    """Writer of one kinetic run file; every method is collective on the solver's communicator.

    Build with :meth:`create` (new file) or :meth:`open_existing` (``--resume``).
    ``previous_status`` is None for a new file, else the status the file had.
    """

    #: seconds every rank gets to reach a failed close before the file is left "running"
    exit_timeout = 2.0

    def __init__(self, h5file, comm, path: str):
        self.file = h5file
        self.comm = comm                 # a private duplicate, freed by close()
        self._exit_comm = comm.Dup()
        self.path = path
        self.n = int(h5file.attrs.get(N_RECORDS_ATTR, 0))
        self.n_snap = int(h5file[f"{GROUP}/snapshots"].attrs.get("n_snapshots", 0)) \
            if f"{GROUP}/snapshots" in h5file else 0
        self.previous_status = None
        self.config_toml = _py(h5file.attrs.get("config_toml", ""))
        self._claim = None  # ownership.Claim, released by close()

    # ------------------------------------------------------------- creation
    @classmethod
    def create(cls, path, solver, *, force: bool = False, attrs: dict | None = None):
        """Collective. Create ``path`` for ``solver``'s run (refused if it exists, unless ``force``)."""
        h5py = import_h5py()
        path = os.fspath(path)
        comm = solver.comm.Dup()
        rank = comm.Get_rank()
        claim = None
        try:
            for check_force in (True, force):  # the directory, then (once claimed) the file
                err = comm.bcast(check_output_path(path, check_force) if rank == 0 else None)
                if err is not None:
                    raise _ERRORS.get(err[0], OSError)(err[1])
                claim = claim or ownership.claim(path, comm)  # one writer per file
            meta = {**library_versions(), "git_revision": git_revision()} if rank == 0 else None
            meta = comm.bcast(meta)
            f = h5py.File(path, "w", driver="mpio", comm=comm)
        except BaseException:
            if claim is not None:
                claim.release()
            comm.Free()
            raise
        s = solver.settings
        f.attrs.update({
            "format": FORMAT_NAME, "format_version": FORMAT_VERSION, "solver": "kinetics",
            "config_toml": s.source_text, "mpi_size": comm.Get_size(),
            "created_utc": comm.bcast(_utc_now() if rank == 0 else None),
            "status": "running", N_RECORDS_ATTR: 0, **meta,
            **{k: str(v) for k, v in (attrs or {}).items()}})
        g = f.require_group(GROUP)
        g.attrs.update({"nx": s.grid.nx, "length": s.grid.length,
                        "shape": np.asarray(s.grid.shape), "lengths": np.asarray(s.grid.lengths),
                        "axes": ",".join("xyz"[a] for a in s.grid.axes),
                        "n_dir": s.grid.n_dir,
                        "n_phi": s.grid.n_phi, "n_directions": s.grid.n_directions,
                        "quadrature": s.grid.quadrature, "n_energy": s.physics.n_energy,
                        "theta": s.physics.theta, "lambda": s.physics.lam, "mu": s.physics.mu,
                        "t_end": s.time.t_end, "output_interval": s.time.output_interval,
                        "components": "P0,Px,Py,Pz", "species": "nu,nubar", "flavors": "e,x"})
        static = {"grid/v": solver.rhs.v, "grid/w": solver.rhs.w,
                  "grid/direction": direction_vectors(s.grid),
                  "grid/x": cell_centres(s.grid), "grid/omega": np.asarray(s.physics.omega),
                  "grid/energy_weights": solver.rhs.energy_weights}
        if s.grid.axes != (2,):  # cell centres along every resolved axis of a 2D/3D box
            static.update({f"grid/centres_{'xyz'[a]}": cell_centres(s.grid, axis=a)
                           for a in s.grid.axes})
        for name, arr in static.items():
            d = g.create_dataset(name, shape=arr.shape, dtype="f8")
            if rank == 0:
                d[...] = arr
        rec = solver.record()
        for dpath, attr in SERIES:
            row = np.asarray(getattr(rec, attr), dtype="f8")
            f.create_dataset(dpath, shape=(0,) + row.shape, maxshape=(None,) + row.shape,
                             chunks=(64,) + row.shape, dtype="f8")
        cell = solver.cell_shape
        space = s.grid.spatial_shape
        sg = g.require_group("snapshots")
        sg.attrs["n_snapshots"] = 0
        sg.create_dataset("time", shape=(0,), maxshape=(None,), chunks=(64,), dtype="f8")
        sg.create_dataset("field", shape=(0,) + space + cell, maxshape=(None,) + space + cell,
                          chunks=(1,) + _snapshot_chunks(space, cell), dtype="f8")
        f.flush()
        writer = cls(f, comm, path)
        writer._claim = claim
        return writer

    @classmethod
    def open_existing(cls, path, comm):
        """Collective. Reopen kinetic run file ``path`` to continue it (``--resume``).

        Rank 0 checks that it is a kinetic run file (:class:`KineticFileError`
        on every rank otherwise); the status is set back to "running".
        """
        h5py = import_h5py()
        path = os.fspath(path)
        comm = comm.Dup()
        claim = None
        try:
            claim = ownership.claim(path, comm)  # before the file is read or reopened
            error = status = None
            if comm.Get_rank() == 0:
                try:
                    status = read_kinetics(path).status
                except KineticFileError as exc:
                    error = str(exc)
            error, status = comm.bcast((error, status))
            if error:
                raise KineticFileError(error)
            f = h5py.File(path, "r+", driver="mpio", comm=comm)
        except BaseException:
            if claim is not None:
                claim.release()
            comm.Free()
            raise
        writer = cls(f, comm, path)
        writer._claim = claim
        writer.previous_status = status
        f.attrs["status"] = "running"
        f.flush()
        log.info("reopened %s (%d complete records, was %s)", path, writer.n, status)
        return writer

    # -------------------------------------------------------------- records
    @property
    def n_records(self) -> int:
        return self.n

    def append(self, rec) -> None:
        """Collective. Append one KineticRecord row to every series, count it, flush."""
        for dpath, attr in SERIES:
            d = self.file[dpath]
            d.resize(self.n + 1, axis=0)
            if self.comm.Get_rank() == 0:
                d[self.n] = np.asarray(getattr(rec, attr), dtype="f8")
        self.n += 1
        self.file.attrs[N_RECORDS_ATTR] = self.n
        self.file.flush()

    def snapshot(self, solver) -> None:
        """Collective. Append the full field at the solver's current time (each rank its DMDA
        block, a hyperslab of the spatial axes)."""
        sg = self.file[f"{GROUP}/snapshots"]
        sg["time"].resize(self.n_snap + 1, axis=0)
        sg["field"].resize(self.n_snap + 1, axis=0)
        if self.comm.Get_rank() == 0:
            sg["time"][self.n_snap] = solver.time
        d = sg["field"]
        with d.collective:  # every rank owns >= 1 cell (KineticSolver), so every rank writes
            d[(self.n_snap,) + tuple(slice(a, b) for a, b in zip(solver.lo, solver.hi))] = \
                solver.field_block
        self.n_snap += 1
        sg.attrs["n_snapshots"] = self.n_snap
        self.file.flush()

    def truncate(self, n_records: int, n_snapshots: int) -> None:
        """Collective. Keep the first ``n_records`` records and ``n_snapshots`` snapshots."""
        if not (0 <= n_records <= self.n and 0 <= n_snapshots <= self.n_snap):
            raise ValueError(f"{self.path}: cannot truncate {self.n} records/{self.n_snap} "
                             f"snapshots to {n_records}/{n_snapshots}")
        self.file.attrs[N_RECORDS_ATTR] = n_records
        for dpath, _ in SERIES:
            if self.file[dpath].shape[0] > n_records:
                self.file[dpath].resize(n_records, axis=0)
        sg = self.file[f"{GROUP}/snapshots"]
        sg.attrs["n_snapshots"] = n_snapshots
        for name in ("time", "field"):
            if sg[name].shape[0] > n_snapshots:
                sg[name].resize(n_snapshots, axis=0)
        self.n, self.n_snap = n_records, n_snapshots
        self.file.flush()

    # ---------------------------------------------------------- checkpoints
    def checkpoint_info(self):
        """The current :class:`nmbhpc.io.checkpoint.CheckpointInfo`, or None (same on every rank)."""
        return checkpoint.current(self.file)

    def write_checkpoint(self, solver) -> None:
        """Collective. Store the solver state at its current time (the last record's) as checkpoint."""
        local, offset, shape = solver.checkpoint_state()
        extras = {**solver.checkpoint_extras(), "n_snapshots": self.n_snap}
        checkpoint.write(self.file, self.comm, local, offset, shape, time=solver.time,
                         n_records=self.n, extras=extras)

    def read_checkpoint(self, info, solver) -> np.ndarray:
        """Collective. ``solver``'s owned cells of checkpoint ``info``."""
        return checkpoint.read(self.file, self.comm, info, *solver.checkpoint_rows())

    # ----------------------------------------- static data (hierarchy table)
    def has_dataset(self, name: str) -> bool:
        return name in self.file

    def write_static(self, name: str, array) -> None:
        """Collective. Write ``array`` (identical on every rank; numeric or bytes) as dataset ``name``."""
        arr = np.asarray(array)
        d = self.file.create_dataset(name, shape=arr.shape, dtype=arr.dtype)
        if self.comm.Get_rank() == 0 and arr.size:
            d[...] = arr
        self.file.flush()

    def set_attrs(self, **attrs) -> None:
        """Collective. Set root attributes (rank 0's values) and flush."""
        attrs = self.comm.bcast(attrs if self.comm.Get_rank() == 0 else None)
        for k, v in attrs.items():
            self.file.attrs[k] = v
        self.file.flush()

    # -------------------------------------------------------------- closing
    @property
    def closed(self) -> bool:
        return self.file is None

    def close(self, status: str = "completed") -> None:
        """Collective. Mark the run ``status`` and close the file; a second call does nothing."""
        if self.file is None:
            return
        try:
            self.file.attrs["status"] = status
            self.file.attrs["finished_utc"] = self.comm.bcast(
                _utc_now() if self.comm.Get_rank() == 0 else None)
        finally:
            try:
                self.file.close()
            finally:
                self.file = None
                if self._claim is not None:
                    self._claim.release()
                self.comm.Free()
                self._exit_comm.Free()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        """Close "completed", or "failed" if every rank is failing (within ``exit_timeout``).

        A failure on some ranks only leaves the file open as "running" (readable
        up to its last record); the caller must then abort the job.
        """
        if self.file is None:
            return False
        if exc_type is None:
            self.close("completed")
            return False
        req = self._exit_comm.Ibarrier()
        deadline = _time.monotonic() + self.exit_timeout
        while not req.Test():
            if _time.monotonic() > deadline:
                log.error("%s: not every rank failed; file left as status='running' "
                          "(readable up to record %d)", self.path, self.n)
                return False
            _time.sleep(0.01)
        self.close("failed")
        return False


# ------------------------------------------------------------------ reading
@dataclass(frozen=True)
class KineticRunData:
    """A kinetic run file as numpy arrays, cut to its complete records (T) and snapshots (S).

    Times in 1/omega0; occupations in n_ref (docs/kinetics.md). ``status`` is
    "running" for a killed run, "interrupted" for a stopped one.
    """

    path: str
    time: np.ndarray               # [T]
    polarization: np.ndarray       # [T, species, E, dir, 4]
    number_density: np.ndarray     # [T, species, flavor]
    lepton_number: np.ndarray      # [T, 2] (ELN, XLN)
    offdiag_amplitude: np.ndarray  # [T, species]
    trace_margin: np.ndarray       # [T]
    limiter: np.ndarray            # [T, 3] cumulative (matrices limited, overshoot, Pz change)
    snapshot_times: np.ndarray     # [S]
    grid: dict
    attrs: dict = field(repr=False)
    config_toml: str = field(repr=False, default="")
    status: str = "unknown"

    @property
    def n_records(self) -> int:
        return int(self.time.shape[0])


def is_kinetics_file(path) -> bool:
    """Whether ``path`` is an HDF5 file with ``format = "nmbhpc-kinetics"`` (never raises)."""
    h5py = import_h5py()
    try:
        with h5py.File(os.fspath(path), "r") as f:
            return _py(f.attrs.get("format", None)) == FORMAT_NAME
    except (OSError, ValueError):
        return False


def read_kinetics(path) -> KineticRunData:
    """Read a kinetic run file serially (not collective; any rank count wrote it).

    The time axis is cut to the ``n_records`` attribute and never longer than
    the shortest series (a run killed between two resizes); snapshots to
    ``n_snapshots``. Raises :class:`KineticFileError` naming ``path``.
    """
    h5py = import_h5py()
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise KineticFileError(f"{path}: no such file")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise KineticFileError(f"{path}: not a readable HDF5 file ({exc})") from None
    with f:
        fmt = _py(f.attrs.get("format", None))
        if fmt != FORMAT_NAME:
            raise KineticFileError(f"{path}: not an nmbhpc kinetic run file (format={fmt!r})")
        version = _py(f.attrs.get("format_version", -1))
        if not isinstance(version, int) or not 1 <= version <= FORMAT_VERSION:
            raise KineticFileError(f"{path}: kinetic format_version {version!r} is not supported "
                                   f"(reads 1..{FORMAT_VERSION})")
        present = [(p, a) for p, a in SERIES if p in f]
        missing = [p for p, _ in SERIES if p not in f and p not in OPTIONAL_SERIES] + \
            [p for p in (SNAPSHOT_TIME, f"{GROUP}/grid/v") if p not in f]
        if missing:
            raise KineticFileError(f"{path}: damaged kinetic run file, missing {missing}")
        n = min([int(_py(f.attrs.get(N_RECORDS_ATTR, 0)))] + [f[p].shape[0] for p, _ in present])
        data = {attr: f[p][:n] for p, attr in present}
        data.setdefault("limiter", np.zeros((n, 3)))
        n_snap = min(int(_py(f[f"{GROUP}/snapshots"].attrs.get("n_snapshots", 0))),
                     f[SNAPSHOT_TIME].shape[0])
        grid = {k: f[f"{GROUP}/grid/{k}"][:] for k in f[f"{GROUP}/grid"]}
        grid.update({k: _py(v) for k, v in f[GROUP].attrs.items()})
        attrs = {k: _py(v) for k, v in f.attrs.items()}
        return KineticRunData(path=path, snapshot_times=f[SNAPSHOT_TIME][:n_snap], grid=grid,
                              attrs=attrs, config_toml=attrs.get("config_toml", ""),
                              status=attrs.get("status", "unknown"), **data)


def read_snapshot(path, comm, start, stop, index: int = -1):
    """Collective. ``(time, config_toml, block)`` of snapshot ``index``.

    ``start``/``stop``: the owned cells along x of a 1D run (integers), or
    tuples with one entry per spatial axis of the file (the solver's
    ``lo``/``hi``). Each rank reads only its block (a hyperslab), with
    collective MPI-IO; the file may come from any rank count.
    """
    start, stop = np.atleast_1d(start), np.atleast_1d(stop)
    h5py = import_h5py()
    with h5py.File(os.fspath(path), "r", driver="mpio", comm=comm) as f:
        sg = f[f"{GROUP}/snapshots"]
        n = min(int(sg.attrs.get("n_snapshots", sg["time"].shape[0])), sg["time"].shape[0])
        if n == 0:
            raise ValueError(f"{path}: no snapshot to restart from")
        i = index % n
        d = sg["field"]
        with d.collective:
            block = d[(i,) + tuple(slice(int(a), int(b)) for a, b in zip(start, stop))]
        return float(sg["time"][i]), _py(f.attrs["config_toml"]), block
