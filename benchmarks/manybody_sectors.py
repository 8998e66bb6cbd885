"""The benchmark model with theta != 0 (every sector of B.J), one sector at a time vs together.

Runs the multi-angle benchmark model (docs/performance.md) with a flavor mixing
angle, so that the initial state occupies all N + 1 sectors (2^N states), once
with ``manybody.sectors = "together"`` (one basis of all sectors) and once with
"one_at_a_time", in the same job, and prints the largest deviation of every
recorded observable between the two, each run's construction and evolution
time and the peak RSS per rank after each (ru_maxrss: the second run's peak
is the larger of the two). ``--only one_at_a_time`` runs that mode alone (the
large-N frontier, where "together" does not fit).

    mpirun -n 2 python benchmarks/manybody_sectors.py --n 20 --theta 0.1
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import manybody_tools as mt  # noqa: E402

FIELDS = ("polarization", "nue_fraction", "rho1", "entropy", "pair_correlation", "energy",
          "b_dot_j", "norm")


def run(config, comm):
    """(records, construction s, evolution s, describe()) of one run. Collective."""
    import time

    from nmbhpc.manybody.engine import ManyBody

    comm.Barrier()
    t0 = time.perf_counter()
    solver = ManyBody(config, comm)
    comm.Barrier()
    t1 = time.perf_counter()
    try:
        records = list(solver.records())
        comm.Barrier()
        t2 = time.perf_counter()
        info = solver.describe()
        info["work"] = solver.work()
        plan = getattr(solver, "plan", None)
        info["estimate"] = plan.summary() if plan is not None else solver.memory.summary()
    finally:
        solver.destroy()
    return records, t1 - t0, t2 - t1, info


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--theta", type=float, default=0.1)
    ap.add_argument("--t", type=float, default=1.0)
    ap.add_argument("--n-out", type=int, default=2)
    ap.add_argument("--tol", type=float, default=1e-10)
    ap.add_argument("--operator", default="auto")
    ap.add_argument("--pairs", action="store_true", help="record pair correlations")
    ap.add_argument("--only", choices=("together", "one_at_a_time"))
    ap.add_argument("--propagator", default="mfn", choices=("mfn", "chebyshev"))
    args, petsc_args = ap.parse_known_args(argv)

    mt.init_petsc(petsc_args)
    import numpy as np
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    config = mt.model_config(args.n, t_final=args.t, tol=args.tol, operator=args.operator,
                             propagator=args.propagator)
    config = replace(config, model=replace(config.model, theta=args.theta),
                     output=replace(config.output, pair_correlations=args.pairs,
                                    times=np.linspace(0.0, args.t, args.n_out)))
    modes = (args.only,) if args.only else ("together", "one_at_a_time")
    results = {}
    for mode in modes:
        cfg = replace(config, manybody=replace(config.manybody, sectors=mode))
        records, t_build, t_evol, info = run(cfg, comm)
        rss = comm.gather(mt.peak_rss(), root=0)
        results[mode] = records
        if comm.Get_rank() == 0:
            print(f"{mode}: N = {args.n}, theta = {args.theta}, {info['basis_dim']} states, "
                  f"operator {info['operator']}, ranks {comm.Get_size()}: construction "
                  f"{t_build:.4g} s, evolution to t = {args.t} {t_evol:.4g} s "
                  f"({info['work'][1]} {info['work'][0]}); peak RSS per rank so far "
                  + ", ".join(mt.fmt_bytes(b) for b in rss), flush=True)
            print(f"  memory estimate: {info['estimate']}", flush=True)
    if len(results) == 2 and comm.Get_rank() == 0:
        a, b = results["together"], results["one_at_a_time"]
        worst = 0.0
        for field in FIELDS:
            if getattr(a[0], field) is None:
                continue
            dev = max(float(np.max(np.abs(np.asarray(getattr(x, field)) -
                                          np.asarray(getattr(y, field))))) for x, y in zip(a, b))
            worst = max(worst, dev)
            print(f"  max |one_at_a_time - together| {field}: {dev:.3g}")
        print(f"largest deviation over all fields and {len(a)} records: {worst:.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
