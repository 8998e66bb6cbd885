"""``nmbhpc info FILE [FILE...]``: summarise run files (docs/file-format.md).

Reads serially on rank 0 (under mpirun every rank exits with its status); every file
that is missing, not HDF5 or not an nmbhpc run file is reported by name and
makes the command exit with status 2, after the good files are printed.
"""
from __future__ import annotations

from ..cli import UsageError, on_rank0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "info",
        help="summarise nmbhpc run files (solver, sizes, times, status, versions, monitors)",
        description="Print a summary of each nmbhpc HDF5 run file: solver, model size, output "
        "times, status (completed/failed/running), versions, MPI size, final nu_e fraction and "
        "monitor drifts.",
    )
    p.add_argument("files", nargs="+", metavar="FILE",
                   help="run file(s) written by nmbhpc run (any solver, kinetics included)")
    p.set_defaults(func=run)


def run(args) -> int:
    """Collective: print describe() of each file on rank 0; every rank raises the
    UsageError listing the bad ones."""
    from mpi4py import MPI

    return on_rank0(MPI.COMM_WORLD, lambda: _describe_all(args.files))


def _describe_all(paths) -> None:
    from ..analysis.reading import checked, is_kinetics
    from ..io import RunFileError, describe
    from ..kinetics.analysis import describe as describe_kinetics
    from ..kinetics.output import KineticFileError, read_kinetics

    errors = []
    for path in paths:
        try:
            if is_kinetics(path):
                text = describe_kinetics(checked(path, read_kinetics, path))
            else:
                text = checked(path, describe, path)
            print(text, flush=True)
        except (RunFileError, KineticFileError) as exc:
            errors.append(str(exc))
    if errors:
        raise UsageError("\n  ".join(errors))
