"""``nmbhpc experiment``: parameter tables -> run configs, and run files -> results.

    nmbhpc experiment make-configs TABLE.csv OUTDIR [--base BASE.toml]
    nmbhpc experiment analyze {logN,seeding,perturbative} RUNDIR [RUNDIR...] -o RESULTDIR

Neither step is collective nor needs PETSc: make-configs only validates and writes
TOML, analyze reads finished run files serially (docs/experiments.md).
"""
from __future__ import annotations

import logging
import os

from ..cli import UsageError

log = logging.getLogger("nmbhpc.experiment")

EXPERIMENTS = ("logN", "seeding", "perturbative")


def register(subparsers) -> None:
    p = subparsers.add_parser("experiment", help="finite-N experiments of Sec. IV (tables, analysis)",
                              description="Generate per-run configs from a parameter table, or "
                                          "analyse a directory of run files.")
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    m = sub.add_parser("make-configs", help="one TOML per table row, plus runs.txt (array index)")
    m.add_argument("table", help="CSV: column 'run' + dotted config keys (docs/experiments.md)")
    m.add_argument("outdir", help="directory for <run>.toml and runs.txt")
    m.add_argument("--base", default=None, help="base TOML (default: base.toml next to the table)")
    m.set_defaults(func=make_configs_main)
    a = sub.add_parser("analyze", help="tables (CSV, markdown) and PNG plots from run files")
    a.add_argument("experiment", choices=EXPERIMENTS)
    a.add_argument("rundirs", nargs="+", metavar="RUNDIR", help="directories holding *.h5 run files")
    a.add_argument("-o", "--output", required=True, metavar="RESULTDIR")
    a.add_argument("--f-dep", type=float, default=0.01,
                   help="logN: deviation from the mean-field fixed point defining tau_dep (0.01)")
    a.add_argument("--f-conv", type=float, default=0.1,
                   help="logN, seeding: conversion fraction defining tau_conv (0.1)")
    a.add_argument("--fit-min-n", type=int, default=None,
                   help="smallest N in the fits (logN, seeding: 100; perturbative: 10)")
    a.add_argument("--g", type=float, nargs="+", default=[1.0, 5.0, 10.0, 20.0],
                   help="perturbative: values of g = mu t (default 1 5 10 20)")
    a.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    a.set_defaults(func=analyze_main)


def make_configs_main(args) -> int:
    from ..analysis.experiments.table import make_configs

    try:
        paths = make_configs(args.table, args.outdir, args.base)
    except (OSError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    print(f"nmbhpc experiment: {len(paths)} configs in {args.outdir} (order: {args.outdir}/runs.txt)")
    return 0


def analyze_main(args) -> int:
    from ..analysis.experiments import logn, measures, perturbative, seeding
    from ..runtime.log import setup_logging

    setup_logging(args.log_level, None)
    for f in (args.f_dep, args.f_conv):
        if not 0 < f < 1:
            raise UsageError(f"fractions must lie in (0, 1), got {f}")
    runs = []
    for d in args.rundirs:
        if not os.path.isdir(d):
            raise UsageError(f"not a directory: {d}")
        runs += measures.load_runs(d)
    if not runs:
        raise UsageError(f"no completed run files (*.h5) in {' '.join(args.rundirs)}")
    try:
        if args.experiment == "logN":
            res = logn.analyze(runs, args.output, args.f_dep, args.f_conv, args.fit_min_n or 100)
            summary = "; ".join(f"{f['solver']} {f['measure']}: b = {f['b']:.4g} +- {f['sigma_b']:.2g}, "
                                f"b*2Omega = {f['ratio_b*2Omega']:.3f}" for f in res["fits"])
        elif args.experiment == "seeding":
            res = seeding.analyze(runs, args.output, args.f_conv, args.fit_min_n or 100)
            f = res["fit"][0]
            summary = (f"B = {f['B']:.4g} +- {f['sigma_B']:.2g}, -B*Omega = {f['ratio_-B*Omega']:.3f}; "
                       + ", ".join(f"{k} = {v:.4g}" for k, v in res["summary"].items()
                                   if isinstance(v, float)))
        else:
            res = perturbative.analyze(runs, args.output, tuple(args.g), args.fit_min_n or 10)
            summary = "; ".join(f"{f['model']} g={f['g']:g}: p = {f['exponent']:.3f} +- "
                                f"{f['sigma_exponent']:.2g}" for f in res["fits"])
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    print(f"nmbhpc experiment analyze {args.experiment}: {len(runs)} runs -> {args.output}\n  {summary}")
    return 0
