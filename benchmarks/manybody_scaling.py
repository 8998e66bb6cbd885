"""One exact evolution of the benchmark model with the numbers that bound its speed.

Prints the memory estimate (memory.py) next to the measured peak per rank,
construction and evolution time, the MatMult count and time per product,
a STREAM-like triad bandwidth measured with numpy on all ranks at once, and
the bytes-moved lower bound of one product at that bandwidth:

* stored AIJ: 16 (complex value) + 4 (column) bytes per non-zero, plus x, y;
* stored real CSR (operator "real"): 8 (value) + 4 (column) bytes per
  non-zero, plus x, y, the vacuum diagonal and two row offsets, plus the ghosts;
* matrix-free: per row x, y (16 each), the diagonal and the row key (8 each),
  plus 3 x 16 bytes per ghost (scatter send, receive, ghost buffer).

Strong scaling: run it with mpirun -n 1 and -n 2 and divide the evolution
times. Large runs (N = 26: 10.4 M states) use the matrix-free operator:

    mpirun -n 2 python benchmarks/manybody_scaling.py --n 26 --t 0.1 --operator shell
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import manybody_tools as mt  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--t", type=float, default=1.0)
    ap.add_argument("--tol", type=float, default=1e-10)
    ap.add_argument("--operator", default="auto", choices=("auto", "matrix", "real", "shell"))
    ap.add_argument("--ncv", type=int, default=0, help="MFN Krylov dimension (0: engine default)")
    args, petsc_args = ap.parse_known_args(argv)

    PETSc, _ = mt.init_petsc(petsc_args)
    PETSc.Log.begin()
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    config = mt.model_config(args.n, t_final=args.t, tol=args.tol, operator=args.operator,
                             ncv=args.ncv)
    solver, t_setup = mt.build_timed(config, comm)
    info = solver.describe()
    est = solver.memory
    mem_setup = comm.gather(mt.peak_rss(), root=0)
    t_evol, matvecs = mt.evolve_timed(solver, comm)
    mem = comm.gather(mt.peak_rss(), root=0)
    n_ghost = comm.allreduce(getattr(solver.A.getPythonContext(), "n_ghost", 0)
                             if info["operator"] in ("shell", "real") else 0)
    solver.destroy()
    # after the peaks were taken: the triad arrays (3 x 256 MiB) would dominate them
    bandwidth = mt.stream_triad_bandwidth(comm)

    if rank == 0:
        dim, nnz = info["basis_dim"], info["nnz"]
        if info["operator"] == "shell":
            moved = dim * (16 + 16 + 8 + 8) + 3 * 16 * n_ghost
        elif info["operator"] == "real":
            moved = nnz * (8 + 4) + dim * (16 + 16 + 8 + 16) + 3 * 16 * n_ghost
        else:
            moved = nnz * (16 + 4) + dim * (16 + 16 + 4)
        per = t_evol / max(matvecs, 1)
        print(f"# N = {args.n}, dim = {dim}, nnz = {nnz}, operator = {info['operator']}, "
              f"ranks = {size}, t = {args.t}, mfn_tol = {args.tol}")
        print(f"memory estimate per rank: stored {mt.fmt_bytes(est.matrix_rank)}, stored real "
              f"{mt.fmt_bytes(est.real_rank)}, matrix-free "
              f"{mt.fmt_bytes(est.shell_rank)}; node available {mt.fmt_bytes(est.available_node)}")
        print("peak RSS per rank after construction: "
              + ", ".join(mt.fmt_bytes(m) for m in mem_setup)
              + "; after evolution: " + ", ".join(mt.fmt_bytes(m) for m in mem))
        print(f"construction {t_setup:.3g} s (basis {info['basis_seconds']:.3g} s, operator "
              f"{info['assembly_seconds']:.3g} s); evolution {t_evol:.4g} s, {matvecs} matvecs, "
              f"{1e3 * per:.4g} ms per matvec ({1e9 * per / max(nnz, 1):.3g} ns per non-zero)")
        print(f"triad bandwidth (numpy, all ranks) {bandwidth / 1e9:.3g} GB/s; bytes-moved bound "
              f"{moved / 1e6:.4g} MB -> {1e3 * moved / bandwidth:.4g} ms per matvec "
              f"(measured/bound = {per * bandwidth / moved:.3g})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
