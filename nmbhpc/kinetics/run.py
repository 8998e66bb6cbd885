"""Run a kinetics config into its HDF5 file from Python: :func:`run_kinetics`.

The run itself is the one every solver goes through, :mod:`nmbhpc.pipeline.driver`
(new, resumed with ``resume=True``, or started from another file's last
snapshot with ``restart_from=OLD.h5``; semantics in its docstring). Resumed
records equal an uninterrupted run's bit for bit on the same rank count
(fixed-step RK: the same steps from the same state), and to rounding on
another rank count (the domain averages are MPI sums).
"""
from __future__ import annotations

from mpi4py import MPI

from ..pipeline.driver import RunResult, run
from .settings import KineticSettings


def run_kinetics(config, output_path, comm=MPI.COMM_WORLD, force: bool = False,
                 petsc_args=None, restart_from=None, *, resume: bool = False, control=None,
                 progress_interval: float | None = None) -> RunResult:
    """Collective on ``comm``. Run a kinetics config into ``output_path``.

    ``config``: KineticSettings, a TOML file path, or TOML text; ``petsc_args``:
    PETSc options (``["-kin_ts_rk_type", "5dp"]``) used if PETSc is not yet
    initialised. Returns the records computed by this call, the exit status
    (``EXIT_INTERRUPTED`` if ``control`` stopped it) and the summary. On an
    exception the file is closed "failed" if every rank fails, else left
    "running" (the caller must then abort the job).
    """
    from ..runtime.stack import init_petsc
    from .config import load_kinetics

    init_petsc(petsc_args)
    settings = config if isinstance(config, KineticSettings) else load_kinetics(config)
    return run(settings, output_path, comm, control=control, force=force, resume=resume,
               from_snapshot=restart_from, progress_interval=progress_interval)


__all__ = ["run_kinetics"]
