"""What a second rank can give on this machine: 1 -> 2 rank throughput of three reference loops.

Strong scaling of a product is bounded by what the cores share. This script
runs three fixed loops on every rank at once, each rank on private data, and
prints the aggregate throughput on 2 ranks over 1 rank (2.00 = two independent
cores):

``fma``     a chain of floating-point multiply-adds in registers (8 independent
            accumulators, no memory traffic): bound by the core's FP ports. Two
            vCPUs that are hyperthreads of one host core share those ports.
``gather``  the ``separable`` product's access pattern in miniature: 4 real
            multiply-adds per entry on ``x[idx[k]]`` with random ``idx`` into a
            complex vector of ``--gather-kib`` KiB (L2/L3 resident).
``triad``   numpy ``a = b + s c`` on ``--triad-mib`` MiB arrays, best of 4
            (manybody_tools.stream_triad_bandwidth): DRAM bandwidth.
``separable`` ``--products`` products of the whole N = ``--n`` benchmark operator
            (``separable``, serial: every rank builds its own on COMM_SELF), so
            the ratio is the 1 -> 2 rank ceiling of that operator's product with
            no communication and no load imbalance at all.

Each is timed by the wall clock of the slowest rank; the table gives the best and median of
``--repeat`` rounds, the 1- and 2-rank jobs alternating. Run with plain
python (it starts its own MPI jobs); the numbers are ratios measured side by
side in one run::

    python benchmarks/machine_pair_ceiling.py [--repeat 7]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
LOOPS = ("fma", "gather", "triad", "separable")


def _kernels():
    from numba import njit

    @njit(cache=True, fastmath=False)
    def fma(n, seed):
        a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = seed
        for _ in range(n):
            a0 = a0 * 0.999999 + 1e-7
            a1 = a1 * 0.999998 + 1e-7
            a2 = a2 * 0.999997 + 1e-7
            a3 = a3 * 0.999996 + 1e-7
            a4 = a4 * 0.999995 + 1e-7
            a5 = a5 * 0.999994 + 1e-7
            a6 = a6 * 0.999993 + 1e-7
            a7 = a7 * 0.999992 + 1e-7
        return a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7

    @njit(cache=True)
    def gather(idx, coef, x, rounds):
        s0 = s1 = s2 = s3 = 0.0
        for _ in range(rounds):
            for k in range(idx.shape[0]):
                v = x[idx[k]]
                c = coef[k & 15]
                s0 += c * v.real
                s1 += c * v.imag
                s2 += 0.5 * c * v.real
                s3 += 0.5 * c * v.imag
        return s0 + s1 + s2 + s3

    return fma, gather


def job(args) -> None:
    """Under mpirun: every rank runs each loop; rank 0 writes the slowest rank's seconds."""
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    fma, gather = _kernels()
    rng = np.random.default_rng(comm.rank)
    nx = args.gather_kib * 1024 // 16
    x = rng.random(nx) + 1j * rng.random(nx)
    idx = rng.integers(0, nx, size=4 * nx).astype(np.uint32)
    coef = rng.random(16)
    fma(10, 1.0), gather(idx[:10], coef, x, 1)  # compile outside the timing
    sys.path.insert(0, HERE)
    import manybody_tools as mt
    from nmbhpc.manybody.engine import ManyBody

    solver = ManyBody(mt.model_config(args.n, operator="separable"), MPI.COMM_SELF)
    xv, yv = solver.A.createVecs()
    xv.setRandom()
    solver.A.mult(xv, yv)

    def products():
        for _ in range(args.products):
            solver.A.mult(xv, yv)

    def timed(fn):
        comm.Barrier()
        t0 = time.perf_counter()
        fn()
        return comm.allreduce(time.perf_counter() - t0, op=MPI.MAX)

    out = {"fma": timed(lambda: fma(args.fma_iters, 1.0)),
           "gather": timed(lambda: gather(idx, coef, x, args.gather_rounds)),
           # one rank's share of the aggregate rate: seconds of one triad on every rank
           "triad": (5 * 8 * (args.triad_mib * 2**20 // 8) * comm.size
                     / mt.stream_triad_bandwidth(comm, args.triad_mib, repeats=4)),
           "separable": timed(products)}
    xv.destroy()
    yv.destroy()
    solver.destroy()
    if comm.rank == 0:
        with open(args.out, "w") as fh:
            json.dump(out, fh)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--fma-iters", type=int, default=200_000_000)
    ap.add_argument("--gather-kib", type=int, default=4096)
    ap.add_argument("--gather-rounds", type=int, default=20)
    ap.add_argument("--triad-mib", type=int, default=256)
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--products", type=int, default=30)
    ap.add_argument("--mpiexec", default="mpirun --allow-run-as-root --oversubscribe -n")
    ap.add_argument("--job", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.job:
        job(args)
        return 0
    import tempfile

    times = {1: {k: [] for k in LOOPS}, 2: {k: [] for k in LOOPS}}
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "t.json")
        for r in range(args.repeat):
            for ranks in ((1, 2) if r % 2 == 0 else (2, 1)):
                cmd = args.mpiexec.split() + [str(ranks), sys.executable, os.path.abspath(__file__),
                                              "--job", "--out", out,
                                              "--fma-iters", str(args.fma_iters),
                                              "--gather-kib", str(args.gather_kib),
                                              "--gather-rounds", str(args.gather_rounds),
                                              "--triad-mib", str(args.triad_mib),
                                              "--n", str(args.n), "--products", str(args.products)]
                env = {**os.environ, "OMP_NUM_THREADS": "1"}
                subprocess.run(cmd, check=True, env=env, capture_output=True)
                with open(out) as fh:
                    for k, v in json.load(fh).items():
                        times[ranks][k].append(v)
    print(f"# 1 -> 2 ranks, aggregate throughput ratio (2.00 = two independent cores), "
          f"{args.repeat} alternating rounds")
    print("| loop | 1 rank s (median) | 2 ranks s (median) | median ratio | best ratio |")
    print("|---|---|---|---|---|")
    for k in LOOPS:
        t1, t2 = statistics.median(times[1][k]), statistics.median(times[2][k])
        # both ranks do a full share each: twice the work in t2
        print(f"| {k} | {t1:.3f} | {t2:.3f} | {2 * t1 / t2:.2f} | "
              f"{2 * min(times[1][k]) / min(times[2][k]):.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
