"""Kinetic updates per second per core of two source trees, alternating in one run.

Compares this tree against another checkout of the package (e.g. an older commit,
exported with ``git archive c2c2b80 | tar -x -C /tmp/kin-old``) on the same
config: the Fiducial preset (nx = 256, n_dir = 16 by default), each tree's default
numerics, ``--steps`` steps of its own step control after one untimed warm-up step
(numba compilation, first-call allocations). Every round runs the old tree, then
this one, each in a fresh process (``mpirun -n R`` for ``--ranks R``); the medians
over ``--rounds`` rounds and their ratio are printed, and the ratio of each round's
pair (run back to back, so under the same load) with its median. One update is one
(x, v, E) point advanced by one RK4 step (both species).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/kinetics_commits.py --old /tmp/kin-old \\
        [--ranks 1 2] [--rounds 5] [--nx 256 --n-dir 16 --steps 40]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def worker(args):
    """Time ``args.steps`` solver steps of the tree first on sys.path; print one JSON line."""
    from mpi4py import MPI

    import nmbhpc
    from nmbhpc.kinetics import presets
    from nmbhpc.kinetics.solver import KineticSolver

    comm = MPI.COMM_WORLD
    s = presets.richers2022_fiducial(nx=args.nx, n_dir=args.n_dir, t_end=1e3, output_interval=1e3)
    solver = KineticSolver(s, comm)
    dt = solver.dt
    solver.advance_to(dt)                     # warm-up step
    first = solver.ts.getStepNumber()
    comm.Barrier()
    start = time.perf_counter()
    solver.advance_to(dt * (1 + args.steps))  # the linear phase: dt stays the initial one
    comm.Barrier()
    wall = time.perf_counter() - start
    steps = solver.ts.getStepNumber() - first
    solver.destroy()
    if comm.Get_rank() == 0:
        points = args.nx * args.n_dir * s.physics.n_energy
        print(json.dumps({"tree": os.path.dirname(os.path.dirname(nmbhpc.__file__)),
                          "steps": steps, "wall": wall,
                          "rate": points * steps / wall / comm.Get_size()}))


def run_tree(tree, ranks, args):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--nx", str(args.nx),
           "--n-dir", str(args.n_dir), "--steps", str(args.steps)]
    if ranks > 1:
        cmd = ["mpirun", "--allow-run-as-root", "--oversubscribe", "-n", str(ranks)] + cmd
    env = dict(os.environ, PYTHONPATH=tree, OMP_NUM_THREADS="1")
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    if os.path.realpath(result["tree"]) != os.path.realpath(tree):
        raise RuntimeError(f"{tree}: the worker imported nmbhpc from {result['tree']}")
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--old", help="path of the other source tree (holding nmbhpc/)")
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--nx", type=int, default=256)
    ap.add_argument("--n-dir", type=int, default=16)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    if not args.old:
        ap.error("--old PATH is required")
    for ranks in args.ranks:
        rates = {"old": [], "new": []}
        for _ in range(args.rounds):
            rates["old"].append(run_tree(args.old, ranks, args)["rate"])
            rates["new"].append(run_tree(HERE, ranks, args)["rate"])
        med = {k: statistics.median(v) for k, v in rates.items()}
        print(f"Fiducial nx={args.nx} n_dir={args.n_dir}, {args.steps} steps, {ranks} rank(s), "
              f"{args.rounds} alternating rounds: old {med['old']:.4g}, new {med['new']:.4g} "
              f"updates/s/core (medians); new/old = {med['new'] / med['old']:.2f}")
        print("  old rates:", " ".join(f"{r:.3g}" for r in rates["old"]))
        print("  new rates:", " ".join(f"{r:.3g}" for r in rates["new"]))
        # each round's pair ran back to back, so its ratio shares that round's load
        pairs = [n / o for n, o in zip(rates["new"], rates["old"])]
        print("  new/old per round:", " ".join(f"{r:.2f}" for r in pairs),
              f"(median {statistics.median(pairs):.2f}); load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
