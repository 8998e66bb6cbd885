"""Cost per step of two kinetic-solver choices, interleaved in one process (Fiducial preset).

``--compare dt``: the step bound re-evaluated after every step (``controls_step = True``, the
default) vs frozen at its initial value (``False``, the behaviour before it).
``--compare azimuth``: ``n_dir x 1`` vs ``(n_dir / n_phi) x n_phi`` directions, the same number
of unknowns, with a fixed dt: the price of the 3D (1 - v.v') moments.

Prints (rank 0) seconds per step of each variant for ``--repeats`` interleaved runs (after one
untimed warm-up run of each) and the ratio of the fastest repeats (second variant / first): the
least disturbed runs. Only the ratio means something on a shared machine.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/kinetics_step_cost.py --compare dt
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/kinetics_step_cost.py --compare azimuth --nx 128
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace

from mpi4py import MPI

from nmbhpc.kinetics import presets
from nmbhpc.kinetics.solver import KineticSolver


def variants(args):
    """{name: (settings, controls_step)}, first entry the reference."""
    s = presets.richers2022_fiducial(nx=args.nx, n_dir=args.n_dir, t_end=args.t_end,
                                     output_interval=args.t_end)
    if args.compare == "dt":
        return {"adaptive": (s, True), "frozen": (s, False)}
    s = replace(s, time=replace(s.time, dt=0.1))
    n_phi = args.n_phi
    return {f"{args.n_dir}x1": (s, True),
            f"{args.n_dir // n_phi}x{n_phi}": (replace(s, grid=replace(s.grid, n_dir=args.n_dir // n_phi,
                                                                        n_phi=n_phi)), True)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--compare", choices=("dt", "azimuth"), default="dt")
    ap.add_argument("--nx", type=int, default=256)
    ap.add_argument("--n-dir", type=int, default=16)
    ap.add_argument("--n-phi", type=int, default=4, help="azimuths of the second variant (azimuth)")
    ap.add_argument("--t-end", type=float, default=4.0, help="1/mu (~40 steps at the default)")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    comm = MPI.COMM_WORLD
    cases = variants(args)
    per_step = {name: [] for name in cases}
    for rep in range(args.repeats + 1):
        for name, (settings, controls) in cases.items():
            solver = KineticSolver(settings, comm)
            solver.controls_step = controls
            comm.Barrier()
            t0 = time.perf_counter()
            solver.run()
            wall = comm.allreduce(time.perf_counter() - t0, op=MPI.MAX)
            if rep:  # rep 0 warms up (numba, PETSc, caches)
                per_step[name].append(wall / solver.ts.getStepNumber())
            solver.destroy()
    if comm.Get_rank() == 0:
        first, second = per_step
        print(json.dumps({"compare": args.compare, "nx": args.nx, "ranks": comm.Get_size(),
                          "s_per_step": per_step,
                          "ratio_of_fastest": float(min(per_step[second]) / min(per_step[first]))}))


if __name__ == "__main__":
    main()
