"""``nmbhpc hierarchy-experiment``: the scale-hierarchy experiments A, B, C (docs/experiments-hierarchy.md).

    nmbhpc hierarchy-experiment params  A DIR [--size tiny|default|large]
    nmbhpc hierarchy-experiment run     A DIR [--index I ...] [--force]
    nmbhpc hierarchy-experiment analyse A DIR
    nmbhpc hierarchy-experiment all     A DIR [--size ...]       # the three in turn

``params`` writes DIR/params.csv (one row per run); ``run`` runs the given rows
(default: all that have no result yet) collectively on MPI.COMM_WORLD, one
DIR/runs/run_NNNN.npz per row (a SLURM array task passes ``--index
$SLURM_ARRAY_TASK_ID``); ``analyse`` (rank 0) writes DIR/results.{csv,md} and
the PNG plots from whatever runs have finished.
"""
from __future__ import annotations

import os

ACTIONS = ("params", "run", "analyse", "all")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "hierarchy-experiment",
        help="scale-hierarchy experiments (Eq. (17)): A correlations, B instabilities, C localised",
        description="Parameter table -> runs -> analysis for experiment A (exact vs mean field vs "
        "cumulant), B (kinetic growth rates vs dispersion relation) or C (localised vs "
        "homogeneous kinetic initial states).")
    p.add_argument("action", choices=ACTIONS)
    p.add_argument("experiment", metavar="EXPERIMENT", help="A, B or C")
    p.add_argument("directory", metavar="DIR", help="experiment directory")
    p.add_argument("--size", default="default", help="tiny | default | large (params, all)")
    p.add_argument("--index", type=int, nargs="+", default=None,
                   help="rows of params.csv to run (default: all)")
    p.add_argument("--force", action="store_true", help="re-run rows that have results")
    p.add_argument("--log-level", default="INFO")
    p.set_defaults(func=main)


def main(args) -> int:
    from ..cli import UsageError
    from . import start_parallel

    comm = start_parallel(args)
    from ..analysis.hierarchy_experiments import common, experiment

    try:
        exp = experiment(args.experiment)
    except KeyError as exc:
        raise UsageError(str(exc.args[0])) from exc
    if args.action in ("params", "all"):
        if args.size not in exp.SIZES:
            raise UsageError(f"unknown size {args.size!r} (known: {', '.join(exp.SIZES)})")
        path = common.write_params(args.directory, exp.parameter_table(args.size), comm)
        if comm.Get_rank() == 0:
            print(f"wrote {path}")
    if args.action in ("run", "all"):
        if not os.path.isfile(os.path.join(args.directory, common.PARAMS_FILE)):
            raise UsageError(f"{args.directory}/{common.PARAMS_FILE} not found: run 'params' first")
        try:
            done = common.run_rows(exp.run_one, args.directory, args.index, comm, args.force)
        except IndexError as exc:
            raise UsageError(str(exc)) from exc
        if comm.Get_rank() == 0:
            print(f"ran {len(done)} row(s): {done}")
    if args.action in ("analyse", "all") and comm.Get_rank() == 0:
        rows, results = common.load_results(args.directory)
        missing = [i for i, r in enumerate(results) if r is None]
        exp.analyse(rows, results, args.directory)
        with open(os.path.join(args.directory, "results.md")) as f:
            print(f.read(), end="")
        if missing:
            print(f"(rows without results yet: {missing})")
    return 0
