"""``nmbhpc kinetics CONFIG.toml -o OUT.h5``: run the quantum-kinetic solver."""
from __future__ import annotations

import os


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "kinetics", help="run the x-dependent quantum-kinetic solver ([kinetics] config section)",
        description="Integrate the quantum kinetic equations of docs/kinetics.md. PETSc options "
        "use the prefix kin_ (e.g. -kin_ts_rk_type 5dp -kin_ts_monitor).")
    p.add_argument("config", help="TOML file with a [kinetics] section")
    p.add_argument("-o", "--output", required=True, help="HDF5 output file")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.add_argument("--restart", metavar="FILE.h5", help="start from the last snapshot of FILE.h5")
    p.add_argument("--log-level", default="INFO")
    p.set_defaults(func=main)


def main(args) -> int:
    from ..cli import UsageError
    from ..config import ConfigError
    from . import start_parallel

    comm = start_parallel(args)
    if not os.path.isfile(args.config):
        raise UsageError(f"config file {args.config!r} not found")
    from ..kinetics.run import run_kinetics

    try:
        records = run_kinetics(args.config, args.output, comm, force=args.force,
                               petsc_args=args.petsc_args, restart_from=args.restart)
    except (ConfigError, FileExistsError, FileNotFoundError, ValueError) as exc:
        raise UsageError(str(exc)) from exc
    if comm.Get_rank() == 0:
        r = records[-1]
        print(f"wrote {args.output}: {len(records)} records, t = {r.time:g}, "
              f"ELN = {r.lepton_number[0]:.6g}, XLN = {r.lepton_number[1]:.6g}")
    return 0
