"""Time of one product with H (the MFN hot loop) for the benchmark model, wall and CPU.

Builds the operator of ``manybody_tools.model_config`` (N one-neutrino modes,
multi-angle couplings, half filling), then times ``--products`` products
``y = H x`` one by one and prints the medians: wall time, and CPU time of the
calling thread (``time.thread_time``), the latter being far less sensitive to
other processes on a shared machine; and the same two times of the build
(basis, initial state, operator: the count and fill walks of the kernels), and
of the observables of one record (the configurations of the local rows, their
moments; the energy's product not included).
With several ranks each prints its own and rank 0 the largest. Used by manybody_ab.py to compare two source trees:

    mpirun -n 2 python benchmarks/manybody_products.py --n 20 --operator separable
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import manybody_tools as mt  # noqa: E402
from nmbhpc.manybody import operators  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--operator", default="separable",
                    choices=tuple(operators.KINDS))
    ap.add_argument("--products", type=int, default=40)
    args, petsc_args = ap.parse_known_args(argv)

    PETSc, _ = mt.init_petsc(petsc_args)
    from mpi4py import MPI

    import nmbhpc

    comm = MPI.COMM_WORLD
    c0 = time.thread_time()
    solver, build_wall = mt.build_timed(mt.model_config(args.n, operator=args.operator), comm)
    build_cpu = comm.allreduce(time.thread_time() - c0, op=MPI.MAX)
    H = solver.propagator.H
    solver.propagator.set_mu(1.0)
    x = solver.psi.duplicate()
    y = solver.psi.duplicate()
    x.setRandom()
    H.mult(x, y)  # first product: lazy setup, page faults
    wall, cpu = [], []
    for _ in range(args.products):
        comm.Barrier()
        w0, c0 = time.perf_counter(), time.thread_time()
        H.mult(x, y)
        cpu.append(time.thread_time() - c0)
        wall.append(time.perf_counter() - w0)
    comm.Barrier()
    w0, c0 = time.perf_counter(), time.thread_time()
    solver.observer.evaluate(solver.psi, 0.0, 1.0, 0.0)
    obs_cpu = comm.allreduce(time.thread_time() - c0, op=MPI.MAX)
    obs_wall = comm.allreduce(time.perf_counter() - w0, op=MPI.MAX)
    x.destroy()
    y.destroy()
    solver.destroy()
    med_wall = comm.allreduce(statistics.median(wall), op=MPI.MAX)
    med_cpu = comm.allreduce(statistics.median(cpu), op=MPI.MAX)
    if comm.Get_rank() == 0:
        print(f"operator {args.operator}, N = {args.n}, ranks {comm.Get_size()}: "
              f"{1e3 * med_wall:.4f} ms wall per product, {1e3 * med_cpu:.4f} ms cpu per product; "
              f"build {build_wall:.4f} s wall, {build_cpu:.4f} s cpu; observables "
              f"{obs_wall:.4f} s wall, {obs_cpu:.4f} s cpu; nmbhpc from "
              f"{os.path.dirname(os.path.dirname(os.path.abspath(nmbhpc.__file__)))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
