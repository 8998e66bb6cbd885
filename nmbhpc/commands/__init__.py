"""Sub-commands of the ``nmbhpc`` CLI, one module each (see nmbhpc.cli)."""


def start_parallel(args):
    """Start PETSc/SLEPc with the command's PETSc options and rank-0 logging; return COMM_WORLD.

    Collective on MPI.COMM_WORLD (PetscInitialize). ``args`` needs
    ``petsc_args`` (set by nmbhpc.cli) and ``log_level``.
    """
    from ..runtime.log import setup_logging
    from ..runtime.stack import init_petsc

    init_petsc(args.petsc_args)
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    setup_logging(args.log_level, comm)
    return comm
