"""Storage variants of the stored real operator, side by side in one run.

Builds ``manybody.operator = "real"`` (nmbhpc/manybody/real_operator.py) on
the benchmark model once per variant ``FORMAT[:full]``: the value format
(float64 values: 12 bytes per non-zero; uint16 / uint8 indices into the
table of distinct values: 6 / 5) and, with ``:full``, both triangles of the
diagonal block stored (default: one, each entry used for two products), then
times products of every format in interleaved rounds (the machine's
load hits all formats alike) and prints, per format, the construction time
(slowest rank), the best and median ms per product, ns per non-zero of H, the
stored non-zeros, and the
bytes-moved bound ``stored nnz x bytes/nnz + dim x 36`` (x and y, 16 bytes each, and
4 of row data, the convention of docs/performance.md; the operator also reads
an 8-byte diagonal and two 8-byte row offsets per row, +6% at N = 20) at the
triad bandwidth measured on all ranks at once.

    mpirun -n 2 python benchmarks/manybody_real_formats.py --n 20 \
        --variants float64:full,uint8:full,float64,uint8
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import manybody_tools as mt  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--variants", default="float64:full,uint8:full,float64,uint8")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--products", type=int, default=10, help="products per round and format")
    args, petsc_args = ap.parse_known_args(argv)

    PETSc, _ = mt.init_petsc(petsc_args)
    from mpi4py import MPI

    from nmbhpc.manybody.real_operator import real_stored_hamiltonian

    comm = MPI.COMM_WORLD
    rank = comm.Get_rank()
    solver, _ = mt.build_timed(mt.model_config(args.n, operator="shell"), comm)
    model = solver.config.model
    coup = model.couplings() / model.n_total
    x = solver.psi.duplicate()
    x.setRandom()
    y = x.duplicate()

    ops, build = {}, {}
    for fmt in args.variants.split(","):
        comm.Barrier()
        t0 = time.perf_counter()
        ops[fmt], nnz = real_stored_hamiltonian(solver.basis, solver.configs, solver.lo, solver.hi,
                                                solver.D, coup, comm,
                                                value_format=fmt.split(":")[0],
                                                symmetric=not fmt.endswith(":full"))
        build[fmt] = comm.allreduce(time.perf_counter() - t0, op=MPI.MAX)
        ops[fmt].mult(x, y)  # first product: compilation, page faults
    times = {fmt: [] for fmt in ops}
    for _ in range(args.rounds):
        for fmt, mat in ops.items():
            comm.Barrier()
            t0 = time.perf_counter()
            for _ in range(args.products):
                mat.mult(x, y)
            times[fmt].append(comm.allreduce(time.perf_counter() - t0, op=MPI.MAX) / args.products)
    rss = comm.gather(mt.peak_rss(), root=0)
    bpn = {fmt: mat.getPythonContext().values.bytes_per_nnz for fmt, mat in ops.items()}
    stored = {fmt: comm.allreduce(len(mat.getPythonContext().d_cols)
                                  + len(mat.getPythonContext().o_cols)) for fmt, mat in ops.items()}
    for mat in ops.values():
        mat.destroy()
    x.destroy()
    y.destroy()
    dim = solver.basis.dim
    solver.destroy()
    bandwidth = mt.stream_triad_bandwidth(comm)

    if rank == 0:
        print(f"# N = {args.n}, dim = {dim}, nnz = {nnz}, ranks = {comm.Get_size()}, "
              f"triad {bandwidth / 1e9:.3g} GB/s, peak RSS rank 0 {mt.fmt_bytes(rss[0])}")
        print("variant       B/nnz  stored nnz  build[s]  best[ms]  median[ms]  ns/nnz  bound[MB]  "
              "bound[ms]  best/bound")
        for fmt, ts in times.items():
            moved = stored[fmt] * bpn[fmt] + dim * 36
            best = min(ts)
            print(f"{fmt:13s} {bpn[fmt]:5d} {stored[fmt]:11d} {build[fmt]:9.3f} {1e3 * best:9.2f} "
                  f"{1e3 * float(np.median(ts)):11.2f} {1e9 * best / nnz:7.3f} {moved / 1e6:10.1f} "
                  f"{1e3 * moved / bandwidth:10.2f} {best * bandwidth / moved:11.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
