"""Parallel-HDF5 output of a kinetic run (layout in docs/kinetics.md).

One file per run, opened with the mpio driver on the solver's communicator.
Time series (time axis first, chunked, unlimited) hold domain averages that
are identical on every rank, so rank 0 writes their rows while resizes,
attributes and flushes are collective. Snapshots of the full field are
written collectively, each rank its own x slab. Every append ends with a
flush and then raises the root attribute ``n_records``, so a killed run
leaves a file readable up to its last complete output.
"""
from __future__ import annotations

import os
from datetime import datetime, timezone

import numpy as np

from ..io.provenance import git_revision, library_versions
from ..io.run_writer import check_output_path
from ..stack import import_h5py
from .grid import cell_centres

FORMAT_NAME = "nmbhpc-kinetics"
FORMAT_VERSION = 1
GROUP = "kinetics"
# (dataset, KineticRecord attribute)
SERIES = (
    ("time", "time"),
    (f"{GROUP}/polarization", "polarization"),
    (f"{GROUP}/number_density", "number_density"),
    (f"{GROUP}/lepton_number", "lepton_number"),
    (f"{GROUP}/offdiag_amplitude", "offdiag_amplitude"),
    (f"{GROUP}/trace_margin", "trace_margin"),
)


class KineticWriter:
    """Writer of one kinetic run file; every method is collective on ``comm``."""

    def __init__(self, path, solver, *, force: bool = False):
        """Collective. Create ``path`` (refused if it exists, unless ``force``)."""
        h5py = import_h5py()
        self.path = os.fspath(path)
        self.comm = solver.comm
        rank = self.comm.Get_rank()
        err = self.comm.bcast(check_output_path(self.path, force) if rank == 0 else None)
        if err is not None:
            raise {"FileExistsError": FileExistsError, "FileNotFoundError": FileNotFoundError,
                   "PermissionError": PermissionError}.get(err[0], OSError)(err[1])
        meta = None
        if rank == 0:
            meta = {**library_versions(), "git_revision": git_revision()}
        meta = self.comm.bcast(meta)
        self.file = h5py.File(self.path, "w", driver="mpio", comm=self.comm)
        s = solver.settings
        f = self.file
        f.attrs.update({
            "format": FORMAT_NAME, "format_version": FORMAT_VERSION, "solver": "kinetics",
            "config_toml": s.source_text, "mpi_size": self.comm.Get_size(),
            "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "status": "running", "n_records": 0, **meta})
        g = f.require_group(GROUP)
        g.attrs.update({"nx": s.grid.nx, "length": s.grid.length, "n_dir": s.grid.n_dir,
                        "n_energy": s.physics.n_energy, "theta": s.physics.theta,
                        "lambda": s.physics.lam, "mu": s.physics.mu,
                        "components": "P0,Px,Py,Pz", "species": "nu,nubar", "flavors": "e,x"})
        static = {"grid/v": solver.rhs.v, "grid/w": solver.rhs.w,
                  "grid/x": cell_centres(s.grid), "grid/omega": np.asarray(s.physics.omega),
                  "grid/energy_weights": solver.rhs.energy_weights}
        for name, arr in static.items():
            d = g.create_dataset(name, shape=arr.shape, dtype="f8")
            if rank == 0:
                d[...] = arr
        rec = solver.record()
        for path, attr in SERIES:
            row = np.asarray(getattr(rec, attr), dtype="f8")
            f.create_dataset(path, shape=(0,) + row.shape, maxshape=(None,) + row.shape,
                             chunks=(64,) + row.shape, dtype="f8")
        cell = solver.cell_shape
        sg = g.require_group("snapshots")
        sg.create_dataset("time", shape=(0,), maxshape=(None,), chunks=(64,), dtype="f8")
        sg.create_dataset("field", shape=(0, s.grid.nx) + cell, maxshape=(None, s.grid.nx) + cell,
                          chunks=(1, min(s.grid.nx, max(1, (1 << 20) // (8 * int(np.prod(cell)))))) + cell,
                          dtype="f8")
        self.n = 0
        self.n_snap = 0
        f.flush()

    def append(self, rec) -> None:
        """Collective. Append one KineticRecord row to every series, flush, count it."""
        for path, attr in SERIES:
            d = self.file[path]
            d.resize(self.n + 1, axis=0)
            if self.comm.Get_rank() == 0:
                d[self.n] = np.asarray(getattr(rec, attr), dtype="f8")
        self.n += 1
        self.file.flush()
        self.file.attrs["n_records"] = self.n

    def snapshot(self, solver) -> None:
        """Collective. Append the full field at the solver's current time (each rank its slab)."""
        sg = self.file[f"{GROUP}/snapshots"]
        sg["time"].resize(self.n_snap + 1, axis=0)
        sg["field"].resize(self.n_snap + 1, axis=0)
        if self.comm.Get_rank() == 0:
            sg["time"][self.n_snap] = solver.time
        d = sg["field"]
        with d.collective:
            d[self.n_snap, solver.xs:solver.xe] = solver.field
        self.n_snap += 1
        self.file.flush()
        sg.attrs["n_snapshots"] = self.n_snap

    def close(self, status: str = "completed") -> None:
        """Collective. Mark the run ``status`` and close the file."""
        self.file.attrs["status"] = status
        self.file.close()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close("completed" if exc_type is None else "failed")
        return False


def read_snapshot(path, comm, start: int, stop: int, index: int = -1):
    """Collective. ``(time, config_toml, field[start:stop])`` of snapshot ``index``.

    Each rank reads only the cells it owns (``start:stop`` along x).
    """
    h5py = import_h5py()
    with h5py.File(os.fspath(path), "r", driver="mpio", comm=comm) as f:
        sg = f[f"{GROUP}/snapshots"]
        n = sg["time"].shape[0]
        if n == 0:
            raise ValueError(f"{path}: no snapshot to restart from")
        i = index % n
        d = sg["field"]
        with d.collective:
            field = d[i, start:stop]
        return float(sg["time"][i]), str(f.attrs["config_toml"]), field
