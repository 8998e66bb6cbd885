"""``nmbhpc kinetics CONFIG.toml -o OUT.h5``: alias of ``nmbhpc run`` for kinetics configs.

The same options, checkpoints, signals and exit statuses as ``nmbhpc run``
(docs/production.md); the config must be a kinetics config. One difference,
kept for existing scripts: ``--restart FILE.h5`` here names a file whose last
snapshot starts a new run (``nmbhpc run --from-snapshot FILE.h5``), whereas
``nmbhpc run --restart`` is the alias of ``--resume``.
"""
from __future__ import annotations


def register(subparsers) -> None:
    from ..cli import output_file
    from ..cli import add_run_options

    p = subparsers.add_parser(
        "kinetics", help="run the x-dependent quantum-kinetic solver (alias of 'run' for "
        "kinetics configs)",
        description="Integrate the quantum kinetic equations of docs/kinetics.md; the same as "
        "'nmbhpc run' for a kinetics config. PETSc options use the prefix kin_ "
        "(e.g. -kin_ts_rk_type 5dp -kin_ts_monitor).")
    p.add_argument("config", help="TOML file with a [kinetics] table")
    p.add_argument("-o", "--output", required=True, type=output_file, help="HDF5 output file")
    p.add_argument("--resume", action="store_true",
                   help="continue OUT.h5 from its last checkpoint (start it if it does not exist)")
    p.add_argument("--restart", "--from-snapshot", metavar="FILE.h5", dest="from_snapshot",
                   default=None, help="a new run starting from the last snapshot of FILE.h5")
    add_run_options(p)
    p.set_defaults(func=main)


def main(args) -> int:
    """Collective on MPI.COMM_WORLD."""
    from .run import main as run_main

    return run_main(args, require_kinetics=True)
