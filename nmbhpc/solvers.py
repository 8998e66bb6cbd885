"""Solver registry and the protocol every solver follows.

A solver is built from a validated :class:`~nmbhpc.settings.RunConfig` on a
communicator and yields one :class:`~nmbhpc.model.ObservableRecord` per output
time; the run command writes them (solvers never touch files). Protocol::

    solver = SolverClass(config, comm)      # collective
    solver.describe() -> dict               # sizes/settings, logged and stored as attrs
    for record in solver.records(): ...     # collective; one per config.output.times
    solver.static_datasets() -> dict        # name -> numpy array, written once
    solver.final_state() -> (local, offset, global_shape) | None   # collective
    solver.destroy()                        # collective: frees its PETSc objects

``records()`` must be iterated on every rank of ``comm``. ``destroy()`` must be
called on every rank when the solver is no longer needed: PETSc objects left
to Python's collector are freed at different times on different ranks
(see :func:`nmbhpc.stack.petsc_cleanup`).
"""
from __future__ import annotations

import importlib

# solver name in the config -> "module:Class"
SOLVERS = {
    "manybody": "nmbhpc.manybody.solver:ManyBodySolver",
    "meanfield": "nmbhpc.meanfield.solver:MeanFieldSolver",
    "cumulant": "nmbhpc.meanfield.cumulant:CumulantSolver",
    "twa": "nmbhpc.meanfield.twa:TWASolver",
}


def solver_class(name: str):
    """Return the solver class for ``name`` (a validated config value)."""
    mod, cls = SOLVERS[name].split(":")
    return getattr(importlib.import_module(mod), cls)
