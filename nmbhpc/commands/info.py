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
    from ..analysis.reading import checked
    from ..io import RunFileError, describe

    errors = []
    for path in paths:
        try:
            print(checked(path, describe, path), flush=True)  # the summary of its own format
        except RunFileError as exc:
            errors.append(str(exc))
    if errors:
        raise UsageError("\n  ".join(errors))
