"""Run one kinetic simulation from a config and write its HDF5 file.

Entry point for the CLI (``nmbhpc kinetics``) and, later, ``nmbhpc run``.
"""
from __future__ import annotations

import logging
import time as _time

from mpi4py import MPI

from .config import load_kinetics, load_kinetics_text
from .output import KineticWriter, read_snapshot
from .solver import KineticSolver

log = logging.getLogger("nmbhpc.kinetics")


def run_kinetics(config_path_or_text, output_path, comm=MPI.COMM_WORLD, force: bool = False,
                 petsc_args=None, restart_from=None):
    """Collective on ``comm``. Run the ``[kinetics]`` config and write ``output_path``.

    ``config_path_or_text``: a TOML file path or TOML text. ``restart_from``: a
    kinetic output file whose last snapshot is the initial state (its config
    is ignored; the grid must match). Returns the list of KineticRecords.
    """
    settings = load_kinetics(config_path_or_text)
    solver = KineticSolver(settings, comm, petsc_args)
    try:
        if restart_from is not None:
            t0, old_text, field = read_snapshot(restart_from, comm, solver.xs, solver.xe)
            old = load_kinetics_text(old_text)
            if (old.grid, old.physics.n_energy) != (settings.grid, settings.physics.n_energy):
                raise ValueError(f"{restart_from}: its grid {old.grid} does not match the config's "
                                 f"{settings.grid}")
            solver.set_state(t0, field)
            log.info("restarting from %s at t = %g", restart_from, t0)
        log.info("kinetics: nx=%d n_dir=%d nE=%d on %d rank(s), dt=%.4g, t_end=%g",
                 settings.grid.nx, settings.grid.n_dir, settings.physics.n_energy,
                 comm.Get_size(), solver.dt, settings.time.t_end)
        start = _time.perf_counter()
        with KineticWriter(output_path, solver, force=force) as writer:
            records = solver.run(writer)
        log.info("kinetics: %d steps in %.2f s, final ELN=%.6g XLN=%.6g",
                 solver.ts.getStepNumber(), _time.perf_counter() - start,
                 *records[-1].lepton_number)
        return records
    finally:
        solver.destroy()
