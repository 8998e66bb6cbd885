"""Strong scaling 1 -> 2 ranks of one H product, both measured in the same 2-rank job.

``manybody_strong_scaling.py`` times whole evolutions, one ``mpirun`` per run,
so on a shared host a run's seconds depend on what the host does in that
minute. This script measures the two sides of the ratio within one job, a few
milliseconds apart, so both see the same host:

* the 1-rank product: rank 0's own serial operator (built on COMM_SELF), while
  rank 1 waits without spinning (a non-blocking barrier polled every 0.1 ms:
  its core stays as idle as in a 1-rank run);
* the 2-rank product: the same operator distributed over both ranks (built on
  COMM_WORLD), ghost scatters included;
* the ceiling: both ranks run their own serial product at once (no ghosts, no
  communication, no imbalance); twice the 1-rank time over this time is what a
  second core gives the serial product at that moment, the most the 2-rank
  product could reach;
* the synchronised ceiling: the same copies with a barrier after every product.
  The distributed product waits for the slower rank twice per product (its
  ghost scatters); on a host whose cores slow down at random for a while, that
  wait costs even with no work to exchange, and this is what it costs.

Blocks of ``--products`` products of each kind take turns (the order rotated
every round) for ``--rounds`` rounds; each block's time is the slowest rank's. It
prints the median of the per-round ratios (1-rank block over 2-rank block), its
quartiles, the ratio of the medians of each side, and the median per-round
ceiling. ``--trees`` compares source trees
(each tree's package through PYTHONPATH), one job per tree, alternating.
``--phases`` also prints, per job, side and rank, the mean milliseconds per
product of each phase from PETSc's log (MatMult and the product events of
manybody/product_events.py) and what MatMult holds besides them.

    python benchmarks/manybody_product_scaling.py [--n 20] [--operator separable]
        [--rounds 200] [--products 5] [--repeat 3] [--trees main=/path/to/main branch=.]
        [--phases]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import manybody_tools as mt  # noqa: E402


def job(args) -> None:
    """Under ``mpirun -n 2``: the alternating blocks; rank 0 writes the times to ``args.out``."""
    from mpi4py import MPI

    from nmbhpc.manybody.engine import ManyBody
    from nmbhpc.runtime.stack import init_petsc

    comm = MPI.COMM_WORLD
    if comm.size != 2:
        raise SystemExit("run under mpirun -n 2")
    config = mt.model_config(args.n, operator=args.operator)
    dist = ManyBody(config, comm)
    serial = ManyBody(config, MPI.COMM_SELF)
    xd, yd = dist.A.createVecs()
    xs, ys = serial.A.createVecs()
    xd.setRandom()
    xs.setRandom()

    def block(kind: str) -> float:
        """Seconds per product of one block: "one" (rank 0's serial product, rank 1
        idle), "two" (the distributed product), "copies" (a serial product on each
        rank at once) or "synced" (copies, a barrier after each product)."""
        comm.Barrier()
        t0 = time.perf_counter()
        if kind == "two":
            for _ in range(args.products):
                dist.A.mult(xd, yd)
        elif kind == "synced":
            for _ in range(args.products):
                serial.A.mult(xs, ys)
                comm.Barrier()
        elif kind == "copies" or comm.rank == 0:
            for _ in range(args.products):
                serial.A.mult(xs, ys)
        elapsed = time.perf_counter() - t0
        if kind == "one":
            mt.idle_wait(comm, poll=1e-4)  # rank 1 idles here while rank 0 works
        return comm.allreduce(elapsed, op=MPI.MAX) / args.products

    kinds = ("one", "two", "copies", "synced")
    for kind in kinds:  # warm caches and kernels outside the timing
        block(kind)
    PETSc = init_petsc()[0]
    if args.phases:
        PETSc.Log.begin()
    stages = {kind: PETSc.Log.Stage(f"product {kind}") for kind in ("one", "two")}
    times = {kind: [] for kind in kinds}
    for r in range(args.rounds):
        for kind in kinds[r % 4:] + kinds[:r % 4]:
            if kind in stages:
                stages[kind].push()
            times[kind].append(block(kind))
            if kind in stages:
                stages[kind].pop()
    if args.phases:
        products = args.rounds * args.products
        per_rank = comm.gather({kind: phase_ms(PETSc, stage, products)
                                for kind, stage in stages.items()})
        times["phases"] = per_rank
    for vec in (xd, yd, xs, ys):
        vec.destroy()
    for op in (serial, dist):
        op.destroy()
    if comm.rank == 0:
        with open(args.out, "w") as fh:
            json.dump(times, fh)


#: PETSc events of one product, in the order of the phases table
PHASE_EVENTS = ("MatMult", "MBDiagonal", "MBGhostFill", "MBLadderSweep", "MBGhostAdd")


def phase_ms(PETSc, stage, products: int) -> dict:
    """Mean ms per product of each of PHASE_EVENTS in ``stage`` on this rank, and
    "rest": what MatMult holds besides the others. Local."""
    out = {name: 1e3 * PETSc.Log.Event(name).getPerfInfo(stage)["time"] / products
           for name in PHASE_EVENTS}
    out["rest"] = out["MatMult"] - sum(out[name] for name in PHASE_EVENTS[1:])
    return out


def print_phases(name: str, rep: int, per_rank: list) -> None:
    """Rows of the phases table for one job."""
    for kind in ("one", "two"):
        for rank, phases in enumerate(per_rank):
            if kind == "one" and rank > 0:
                continue  # rank 1 idles while rank 0 runs the serial product
            cells = " | ".join(f"{phases[kind][e]:.3f}" for e in PHASE_EVENTS + ("rest",))
            print(f"| {name or '.'} | {rep + 1} | {'1 rank' if kind == 'one' else '2 ranks'} "
                  f"| {rank} | {cells} |")


def summary(times: dict) -> tuple:
    """(median per-round ratio, its quartiles, ratio of medians, ms medians 1 and 2 ranks,
    median per-round ceiling, the same synchronised)."""
    one, two, copies, synced = (np.array(times[k]) for k in ("one", "two", "copies", "synced"))
    ratio = one / two
    q1, q3 = np.percentile(ratio, [25, 75])
    return (float(np.median(ratio)), (float(q1), float(q3)),
            float(np.median(one) / np.median(two)), 1e3 * float(np.median(one)),
            1e3 * float(np.median(two)), float(np.median(2 * one / copies)),
            float(np.median(2 * one / synced)))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--operator", default="separable")
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--products", type=int, default=5, help="products per block")
    ap.add_argument("--repeat", type=int, default=3, help="jobs per tree")
    ap.add_argument("--mpiexec", default="mpirun --allow-run-as-root --oversubscribe -n 2")
    ap.add_argument("--trees", nargs="+", default=[], metavar="NAME=PATH")
    ap.add_argument("--phases", action="store_true",
                    help="also print the mean ms per product of each phase (PETSc's log)")
    ap.add_argument("--job", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.job:
        job(args)
        return 0
    trees = mt.parse_trees(ap, args.trees)
    print(f"# 1 -> 2 ranks per H product, N = {args.n}, {args.operator}, {args.rounds} rounds of "
          f"{args.products} products per side, both sides in one 2-rank job")
    print("| tree | job | 1 rank ms (median) | 2 ranks ms (median) | median per-round ratio "
          "| quartiles | ratio of medians | ceiling (two serial copies) | synchronised ceiling |")
    print("|---|---|---|---|---|---|---|---|---|")
    results = {name: [] for name, _ in trees}
    phases = []
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "t.json")
        for rep in range(args.repeat):
            for name, path in (trees if rep % 2 == 0 else trees[::-1]):
                # this script measures every tree alike; PYTHONPATH picks the package
                cmd = args.mpiexec.split() + [sys.executable, os.path.abspath(__file__), "--job",
                                              "--out", out, "--n", str(args.n),
                                              "--operator", args.operator,
                                              "--rounds", str(args.rounds),
                                              "--products", str(args.products)]
                cmd += ["--phases"] if args.phases else []
                subprocess.run(cmd, check=True, env=mt.tree_env(path), capture_output=True)
                with open(out) as fh:
                    times = json.load(fh)
                med, (q1, q3), of_medians, ms1, ms2, ceiling, synced = summary(times)
                results[name].append(med)
                print(f"| {name or '.'} | {rep + 1} | {ms1:.2f} | {ms2:.2f} | **{med:.2f}** | "
                      f"{q1:.2f}-{q3:.2f} | {of_medians:.2f} | {ceiling:.2f} | {synced:.2f} |", flush=True)
                phases.append((name, rep, times.get("phases")))
    for name, meds in results.items():
        each = ", ".join(f"{m:.2f}" for m in meds)
        print(f"# {name or '.'}: median per-round ratio of each job {each} "
              f"(median {statistics.median(meds):.2f})")
    if args.phases:
        print("\n# mean ms per product of each phase (PETSc log, nmbhpc/manybody/product_events.py; "
              "rest: MatMult besides the listed phases)")
        print("| tree | job | side | rank | " + " | ".join(PHASE_EVENTS + ("rest",)) + " |")
        print("|---" * (5 + len(PHASE_EVENTS)) + "|")
        for name, rep, per_rank in phases:
            print_phases(name, rep, per_rank)
    return 0


if __name__ == "__main__":
    sys.exit(main())
