"""Solver registry (the one list of solvers) and the protocol every solver follows.

Each :class:`SolverSpec` says what the rest of the package needs to know about
a solver without importing it: its config name, its class (imported on first
use), the config section that holds its settings, whether a checkpoint holds
its whole state (``--resume``), whether a run may start from a field snapshot
(``--from-snapshot``), which streams it records and the file format they go
to (docs/file-format.md, docs/kinetics.md "Output").

A solver is built from a validated config on a communicator and yields one
record per output time; the run driver (:mod:`nmbhpc.pipeline.driver`) hands the
records to the writer (solvers never touch files). Protocol::

    SolverClass.check(config)               # optional classmethod, not collective:
                                            # cheap refusals before any file exists
    solver = SolverClass(config, comm)      # collective
    solver.describe() -> dict               # sizes/settings, logged and stored as attrs
    solver.work() -> (unit, count)          # work so far, for progress rates (not collective)
    solver.steps -> int                     # time steps taken so far
    solver.static_datasets() -> dict        # name -> numpy array (identical on every rank)
    for record in solver.records(): ...     # collective; one per output time
    solver.snapshots() -> list              # field snapshots since the last call
                                            # (streams with "field_snapshots" only)
    solver.final_state() -> (local, offset, global_shape) | None   # collective
    solver.checkpoint_extras() -> dict      # collective; resumable solvers
    solver.restore(local, time, extras)     # resumable solvers
    solver.destroy()                        # collective: frees its PETSc objects

``static_datasets()`` is read twice: right after construction (what the
solver knows from its config, e.g. the kinetic grid) and after the last record
(what accumulates during the run, e.g. the TWA standard errors); each name is
written once. ``records()`` must be iterated on every rank of ``comm``. After
``restore`` the first record is the one at the checkpoint time (already in
the file; the driver skips it). ``destroy()`` must be called on every rank:
PETSc objects left to Python's collector are freed at different times on
different ranks (see :func:`nmbhpc.runtime.stack.petsc_cleanup`).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

#: stream names a :class:`SolverSpec` may list
TIME_SERIES = "time_series"
FIELD_SNAPSHOTS = "field_snapshots"


@dataclass(frozen=True)
class SolverSpec:
    """What the package knows about one solver (see the module docstring)."""

    name: str
    target: str                 # "module:Class", imported by :meth:`load`
    section: str                # config table of its settings
    resumable: bool             # final_state + checkpoint_extras restore it completely
    streams: tuple = (TIME_SERIES,)
    file_format: str = "nmbhpc-run"
    from_snapshot: bool = False  # a new run may start from another file's last snapshot

    def load(self):
        """The solver class (imports its module)."""
        module, cls = self.target.split(":")
        return getattr(importlib.import_module(module), cls)


REGISTRY = {spec.name: spec for spec in (
    SolverSpec("manybody", "nmbhpc.manybody.engine:ManyBody", "manybody", True),
    SolverSpec("meanfield", "nmbhpc.meanfield.solver:MeanFieldSolver", "meanfield", True),
    SolverSpec("cumulant", "nmbhpc.meanfield.cumulant:CumulantSolver", "meanfield", True),
    SolverSpec("twa", "nmbhpc.meanfield.twa:TWASolver", "meanfield", True),
    SolverSpec("kinetics", "nmbhpc.kinetics.solver:KineticSolver", "kinetics", True,
               streams=(TIME_SERIES, FIELD_SNAPSHOTS), file_format="nmbhpc-kinetics",
               from_snapshot=True),
)}

#: the spin-system solvers (configs with [model] and [output] tables): name -> "module:Class"
SOLVERS = {name: spec.target for name, spec in REGISTRY.items()
           if spec.file_format == "nmbhpc-run"}


def spec(name: str) -> SolverSpec:
    """The registry entry of solver ``name`` (KeyError naming the known ones otherwise)."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown solver {name!r} (known: {', '.join(REGISTRY)})") from None


def spec_of(config) -> SolverSpec:
    """The registry entry of a validated config (RunConfig or KineticSettings)."""
    return spec(str(getattr(config, "solver", "")))


def solver_class(name: str):
    """Return the solver class for ``name`` (a validated config value)."""
    return spec(name).load()


def resumable() -> tuple:
    """Names of the solvers a checkpoint restores completely."""
    return tuple(n for n, s in REGISTRY.items() if s.resumable)


def records_field_snapshots(config) -> bool:
    """Whether the config's solver records field snapshots (the kinetic solver)."""
    return FIELD_SNAPSHOTS in spec_of(config).streams
