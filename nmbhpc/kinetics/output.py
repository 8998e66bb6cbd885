"""Parallel-HDF5 file of a kinetic run (format ``nmbhpc-kinetics``): writer, serial reader.

Layout: docs/kinetics.md ("Output"). One file per run, opened with the mpio
driver on the run's communicator; the file mechanics (path checks,
provenance, status, crash-safe close, checkpoints, truncation) are those of
every run file, :class:`nmbhpc.io.run_file.RunFile`. Two handlers:
time series (:class:`~nmbhpc.io.run_file.TimeSeries`) hold domain averages
that are identical on every rank, so rank 0 writes their rows while resizes,
attributes and flushes are collective; snapshots of the full field
(:class:`~nmbhpc.io.run_file.BlockSeries`) are written collectively, each
rank its own DMDA block as a hyperslab of the spatial axes (1D: an x slab).
Checkpoints hold the cells in natural order, each rank a contiguous share (a
file written on K ranks is read on any other number), with the snapshot count
``n_snapshots`` among their extras.

Crash semantics (as every run file): each append writes its rows, then raises
the root attribute ``n_records``, then flushes, so a run killed at any point
leaves a file readable up to its last complete output (``status ==
"running"``). Checkpoints use the two-slot scheme of
:mod:`nmbhpc.io.checkpoint` (a kill while writing one leaves the previous
one intact).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from ..io.run_file import (COORDINATE_ATTR, RESOLVED_CONFIG_ATTR, BlockSeries, RunFile,
                           TimeSeries, complete_rows, file_format, open_for_reading, provenance)
from ..io.run_file import py_value as _py
from ..physics.constants import C_CM_S
from ..io.run_reader import RunFileError
from ..runtime.stack import import_h5py

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
    (f"{GROUP}/limiter", "limiter"),
)
#: series a reader accepts missing (files written before they existed)
OPTIONAL_SERIES = (f"{GROUP}/limiter",)
#: root attributes giving the physical scale (numbers): omega0 in s^-1, the length
#: unit c/omega0 in cm; written when the config sets ``kinetics.physics.omega0_per_second``
#: (:func:`physical_scale_attrs`) or the caller passes them (``attrs``)
PHYSICAL_SCALE_ATTRS = ("omega0_per_second", "length_unit_cm")
SNAPSHOTS = f"{GROUP}/snapshots"
SNAPSHOT_TIME = f"{SNAPSHOTS}/time"
SNAPSHOT_FIELD = f"{SNAPSHOTS}/field"


def variables(axes: str = "z") -> dict:
    """Dataset path -> :class:`~nmbhpc.io.layout.Var` of a kinetic run file whose snapshot
    field has the spatial axes ``axes`` (the ``kinetics`` group attribute, e.g. "z" or "x,z")."""
    from ..io.layout import HIERARCHY, Var

    cells = tuple(f"{a}_cell" for a in axes.split(","))
    cell = ("species", "energy", "dir", "p_component")
    out = {
        "time": Var(("time",), "1/omega0", "output time"),
        f"{GROUP}/polarization": Var(("time",) + cell, "n_ref",
                                     "domain average of (P0, P) per species, energy bin and direction"),
        f"{GROUP}/number_density": Var(("time", "species", "flavor"), "n_ref",
                                       "domain-averaged number density per species and flavor"),
        f"{GROUP}/lepton_number": Var(("time", "lepton"), "n_ref",
                                      "(ELN, XLN) = n_nu - n_nubar for flavors e and x"),
        f"{GROUP}/offdiag_amplitude": Var(("time", "species"), "n_ref",
                                          "rms over the domain of |Px + i Py| (= 2 |rho_ex|)"),
        f"{GROUP}/trace_margin": Var(("time",), "n_ref", "min over cells of P0 - |P| (positivity)"),
        f"{GROUP}/limiter": Var(("time", "limiter_quantity"), "1",
                                "cumulative positivity-limiter counters"),
        SNAPSHOT_TIME: Var(("time",), "1/omega0", "snapshot time"),
        SNAPSHOT_FIELD: Var(("time",) + cells + cell, "n_ref", "full field (P0, P) of every cell"),
        f"{GROUP}/grid/v": Var(("dir",), "1", "velocity component v_z (cos theta) of each direction"),
        f"{GROUP}/grid/w": Var(("dir",), "1", "quadrature weight of each direction"),
        f"{GROUP}/grid/direction": Var(("dir", "component"), "1", "unit momentum direction"),
        f"{GROUP}/grid/x": Var(("z_cell",), "1/omega0", "cell centres along z (the box axis of a 1D run)"),
        f"{GROUP}/grid/omega": Var(("energy",), "omega0", "vacuum frequency of each energy bin"),
        f"{GROUP}/grid/energy_weights": Var(("energy",), "1", "weight of each energy bin"),
    }
    out.update(HIERARCHY)
    for a in "xyz":
        out[f"{GROUP}/grid/centres_{a}"] = Var((f"{a}_cell",), "1/omega0", f"cell centres along {a}")
    return out


def physical_scale_attrs(settings) -> dict:
    """The :data:`PHYSICAL_SCALE_ATTRS` of ``settings`` (KineticSettings): omega0 in s^-1
    from ``kinetics.physics.omega0_per_second`` and c/omega0 in cm; {} when it is unset."""
    omega0 = settings.physics.omega0_per_second
    if omega0 is None:
        return {}
    return {"omega0_per_second": float(omega0), "length_unit_cm": C_CM_S / float(omega0)}


class KineticFileError(RunFileError):
    """A file that is missing, not HDF5, not a kinetic run file, or damaged."""


def row_shapes(settings) -> dict:
    """Per-record row shape of each series of :data:`SERIES` for ``settings`` (not collective)."""
    pol = (2, settings.physics.n_energy, settings.grid.n_directions, 4)
    return {"time": (), f"{GROUP}/polarization": pol, f"{GROUP}/number_density": (2, 2),
            f"{GROUP}/lepton_number": (2,), f"{GROUP}/offdiag_amplitude": (2,),
            f"{GROUP}/trace_margin": (), f"{GROUP}/limiter": (3,)}


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


class KineticWriter(RunFile):
    """Writer of one kinetic run file; every method is collective on its communicator.

    Build with :meth:`create` (new file) or :meth:`open_existing` (``--resume``).
    Records (:class:`~nmbhpc.kinetics.diagnostics.KineticRecord`) go in with
    :meth:`append`, field snapshots with :meth:`append_snapshot`; the grid
    arrays are static datasets (``write_statics``).
    """

    format_name = FORMAT_NAME
    format_version = FORMAT_VERSION
    #: seconds every rank gets to reach a failed close before the file is left "running"
    exit_timeout = 2.0
    canonical_scales = {"time": "time", **{d: f"{GROUP}/{d}" for d in (
        "species", "energy", "dir", "p_component", "component", "x_cell", "y_cell", "z_cell")}}
    index_dimensions = RunFile.index_dimensions + ("x_cell", "y_cell", "z_cell")

    def variables(self) -> dict:
        g = self._file.get(GROUP)
        return variables(_py(g.attrs.get("axes", "z")) if g is not None else "z")

    def __init__(self, h5file, comm, path: str):
        super().__init__(h5file, comm, path)
        self._series = TimeSeries(self)
        self._snapshots = BlockSeries(self, SNAPSHOTS)
        self.config_toml = _py(h5file.attrs.get("config_toml", ""))

    @property
    def n_snap(self) -> int:
        """Number of complete snapshots."""
        return self._snapshots.n

    # ------------------------------------------------------------- creation
    @classmethod
    def create(cls, path, comm, settings, *, force: bool = False, attrs: dict | None = None):
        """Collective. Create ``path`` for a kinetic run of ``settings`` (KineticSettings);
        refused if it exists, unless ``force``. Root attributes: provenance, the
        config as written and resolved (:data:`RESOLVED_CONFIG_ATTR`), the physical
        scale of the config (:func:`physical_scale_attrs`), then ``attrs`` (which win)."""
        from ..schema import dump_toml
        from .config import settings_to_dict

        resolved = dump_toml(settings_to_dict(settings))
        size = comm.Get_size()
        h5file, comm, meta = cls._create_file(path, comm, force=force,
                                              header=lambda: provenance(size))
        writer = cls(h5file, comm, os.fspath(path))
        root = {k: v if k in PHYSICAL_SCALE_ATTRS else str(v)
                for k, v in {**physical_scale_attrs(settings), **(attrs or {})}.items()}

        def write_header():
            writer._root_header("kinetics", settings.source_text, resolved, meta, root)
            writer._write_header(settings)

        writer._complete_creation(write_header, force=force)
        return writer

    def _write_header(self, s) -> None:
        g = self._file.require_group(GROUP)
        g.attrs.update({"nx": s.grid.nx, "length": s.grid.length,
                        "shape": np.asarray(s.grid.shape), "lengths": np.asarray(s.grid.lengths),
                        "axes": ",".join("xyz"[a] for a in s.grid.axes),
                        "n_dir": s.grid.n_dir,
                        "n_phi": s.grid.n_phi, "n_directions": s.grid.n_directions,
                        "quadrature": s.grid.quadrature, "n_energy": s.physics.n_energy,
                        "theta": s.physics.theta, "lambda": s.physics.lam, "mu": s.physics.mu,
                        "t_end": s.time.t_end, "output_interval": s.time.output_interval,
                        "components": "P0,Px,Py,Pz", "species": "nu,nubar", "flavors": "e,x"})
        for dpath, row in row_shapes(s).items():
            self._series.create(dpath, row, "f8", chunks=(64,) + row)
        cell = (2, s.physics.n_energy, s.grid.n_directions, 4)
        space = s.grid.spatial_shape
        self._snapshots.create(space, cell, (1,) + _snapshot_chunks(space, cell))
        self._file.flush()

    @classmethod
    def open_existing(cls, path, comm):
        """Collective. Reopen kinetic run file ``path`` to continue it (``--resume``).

        Rank 0 checks that it is a kinetic run file (:class:`KineticFileError`
        on every rank otherwise); the status is set back to "running".
        """
        h5file, comm, status = cls._reopen_file(path, comm, lambda p: read_kinetics(p).status,
                                                KineticFileError)
        writer = cls(h5file, comm, os.fspath(path))
        writer._series.adopt(p for p, _ in SERIES)
        writer._mark_reopened(status, writer.config_toml)
        return writer

    # -------------------------------------------------------------- records
    def append(self, rec) -> None:
        """Collective. Append one KineticRecord row to every series, count it, flush."""
        self._series.append({dpath: np.asarray(getattr(rec, attr), dtype="f8")
                             for dpath, attr in SERIES}, self._n)
        self._count_record()

    def append_snapshot(self, snap) -> None:
        """Collective. Append a :class:`~nmbhpc.kinetics.solver.FieldSnapshot` (each rank its
        DMDA block, a hyperslab of the spatial axes)."""
        self._snapshots.append(snap.time, snap.block, snap.lo, snap.hi)

    def _handlers(self) -> list:
        return [self._series]

    def _forget_handles(self) -> None:
        self._series.datasets = {}

    @staticmethod
    def read_snapshot(path, comm, start, stop, index: int = -1):
        """Collective. :func:`read_snapshot` (a new run's initial field from another file)."""
        return read_snapshot(path, comm, start, stop, index)

    # ---------------------------------------------------------- checkpoints
    def checkpoint_counters(self) -> dict:
        return {"n_snapshots": self.n_snap}

    def rewind(self, info) -> None:
        """Collective. Cut records and snapshots back to checkpoint ``info`` (None: to none)."""
        self._snapshots.truncate(0 if info is None else int(info.extras.get("n_snapshots", 0)))
        super().rewind(info)


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
    limiter: np.ndarray            # [T, 3] cumulative (matrices limited, overshoot, ELN - XLN change)
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
    return file_format(path) == FORMAT_NAME


def read_kinetics(path) -> KineticRunData:
    """Read a kinetic run file serially (not collective; any rank count wrote it).

    The time axis is cut to the ``n_records`` attribute and never longer than
    the shortest series (a run killed between two resizes); snapshots to
    ``n_snapshots``. Raises :class:`KineticFileError` naming ``path``.
    """
    path = os.fspath(path)
    f = open_for_reading(path, FORMAT_NAME, FORMAT_VERSION, KineticFileError, "kinetic run file")
    with f:
        present = [(p, a) for p, a in SERIES if p in f]
        missing = [p for p, _ in SERIES if p not in f and p not in OPTIONAL_SERIES] + \
            [p for p in (SNAPSHOT_TIME,) if p not in f]
        n = complete_rows(f, [p for p, _ in present]) if not missing else 0
        # the grid is written once the solver is built: a run killed before has no
        # records and no grid yet, and is readable (and resumable) as such
        if f"{GROUP}/grid/v" not in f and n > 0:
            missing.append(f"{GROUP}/grid/v")
        if missing:
            raise KineticFileError(f"{path}: damaged kinetic run file, missing {missing}")
        data = {attr: f[p][:n] for p, attr in present}
        data.setdefault("limiter", np.zeros((n, 3)))
        n_snap = min(int(_py(f[SNAPSHOTS].attrs.get(BlockSeries.COUNT_ATTR, 0))),
                     f[SNAPSHOT_TIME].shape[0])
        grid = {k: d[:] for k, d in f.get(f"{GROUP}/grid", {}).items()
                if COORDINATE_ATTR not in d.attrs}  # not the dimension scales' coordinates
        grid.update({k: _py(v) for k, v in f[GROUP].attrs.items()})
        attrs = {k: _py(v) for k, v in f.attrs.items()}
        return KineticRunData(path=path, snapshot_times=f[SNAPSHOT_TIME][:n_snap], grid=grid,
                              attrs=attrs, config_toml=attrs.get("config_toml", ""),
                              status=attrs.get("status", "unknown"), **data)


def read_snapshot(path, comm, start, stop, index: int = -1):
    """Collective. ``(time, config_toml, block)`` of snapshot ``index``.

    ``config_toml`` is the self-contained text (:data:`RESOLVED_CONFIG_ATTR`) when
    the file has it: it parses anywhere, whatever directory a relative table
    ``file`` of the original config was relative to.

    ``start``/``stop``: the owned cells along x of a 1D run (integers), or
    tuples with one entry per spatial axis of the file (the solver's
    ``lo``/``hi``). Each rank reads only its block (a hyperslab), with
    collective MPI-IO; the file may come from any rank count.
    """
    start, stop = np.atleast_1d(start), np.atleast_1d(stop)
    h5py = import_h5py()
    with h5py.File(os.fspath(path), "r", driver="mpio", comm=comm) as f:
        sg = f[SNAPSHOTS]
        n = min(int(sg.attrs.get(BlockSeries.COUNT_ATTR, sg["time"].shape[0])), sg["time"].shape[0])
        if n == 0:
            raise ValueError(f"{path}: no snapshot to restart from")
        i = index % n
        d = sg["field"]
        with d.collective:
            block = d[(i,) + tuple(slice(int(a), int(b)) for a, b in zip(start, stop))]
        text = f.attrs.get(RESOLVED_CONFIG_ATTR, f.attrs["config_toml"])
        return float(sg["time"][i]), _py(text), block
