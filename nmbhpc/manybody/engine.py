"""The ``manybody`` solver as the solver registry names it (:mod:`nmbhpc.solvers`).

Two engines evolve H_MB of Eq. (1): the whole basis of the initial state's
sectors at once (:class:`~nmbhpc.manybody.solver.ManyBodySolver`), or one
sector of B.J at a time (:class:`~nmbhpc.manybody.sectors.SectorSolver`,
``manybody.sectors``). The sector engine extends the whole-basis one, so the
choice between them lives here, above both, and neither module imports the
other's dispatch.
"""
from __future__ import annotations

from .sectors import SectorSolver, check_sectors
from .solver import ManyBodySolver, check_operator, sector_mode


class ManyBody(ManyBodySolver):
    """``ManyBody(config, comm)`` builds the engine :func:`sector_mode` picks (a
    :class:`ManyBodySolver` or a :class:`SectorSolver`: the same protocol and
    records). Collective: the memory model of ``sectors = "auto"`` reads every
    node's available memory."""

    def __new__(cls, config, comm):
        engine = SectorSolver if sector_mode(config, comm) == "one_at_a_time" else ManyBodySolver
        return engine(config, comm)

    @classmethod
    def check(cls, config, comm=None) -> None:
        """The refusals of the engine :func:`sector_mode` picks, before any work. Collective
        on ``comm`` (None: this process alone)."""
        if sector_mode(config, comm) == "one_at_a_time":
            check_operator(config)
            check_sectors(config, comm)
        else:
            ManyBodySolver.check(config, comm)
