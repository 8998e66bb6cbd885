"""PETSc log events of the matrix-free products' phases.

``-log_view`` (or ``PETSc.Log.Event(name).getPerfInfo()`` after
``PETSc.Log.begin()``) then shows inside PETSc's own ``MatMult`` of the
``separable`` and ``lean`` operators the phases of a product:

* ``MBDiagonal``: the diagonal pass ``y <- alpha d x + beta y`` (separable: only on
  the rows no ladder-map entry of the rank reaches; the sweep does the others);
* ``MBGhostFill``: the off-rank x the rank's intermediate states read, brought in
  (separable: a forward VecScatter; lean: MPI_Alltoallv of spans); collective, so
  it holds the wait for the slowest rank's previous phase;
* ``MBLadderSweep``: the sweep over the intermediate states (gather through the
  raised neighbours, scatter-add through the same entries);
* ``MBGhostAdd``: the ghost sums added to their owners (separable: a reverse
  VecScatter with ADD_VALUES; lean: MPI_Alltoallv in rounds); collective, it holds
  the wait for the slowest rank's sweep.

On one rank only the diagonal and the sweep are logged.

A begin/end pair costs well under a microsecond (0.06 us with logging off): nothing
against a product.
"""
from __future__ import annotations

from ..runtime.stack import init_petsc

#: the events' names
NAMES = ("MBDiagonal", "MBGhostFill", "MBLadderSweep", "MBGhostAdd")

_events: dict = {}


def event(name: str):
    """The PETSc log event ``name`` (one of :data:`NAMES`), registered on first use. Local."""
    ev = _events.get(name)
    if ev is None:
        if name not in NAMES:
            raise ValueError(f"unknown product event {name!r}; known: {', '.join(NAMES)}")
        PETSc, _ = init_petsc()
        ev = _events[name] = PETSc.Log.Event(name)
    return ev


def with_event(name: str, func, *args):
    """``func(*args)`` inside the log event ``name``; returns what it returns. Local
    unless ``func`` is collective."""
    ev = event(name)
    ev.begin()
    try:
        return func(*args)
    finally:
        ev.end()
