"""One exact evolution of the benchmark model with the numbers that bound its speed.

Prints the memory estimate (memory.py) next to the measured peak per rank,
construction and evolution time, the MatMult count and time per product,
a STREAM-like triad bandwidth measured with numpy on all ranks at once, and
the bytes-moved lower bound of one product at that bandwidth:

* stored AIJ: 16 (complex value) + 4 (column) bytes per non-zero, plus x, y;
* stored real CSR (operator "real"): per *stored* entry (upper triangle of the
  diagonal block by default, the whole off-rank block) 4 (column) + 1, 2 or 8
  (uint8/uint16 value index or float64 value) bytes, plus x, y, the vacuum
  diagonal and two row offsets, plus the ghosts;
* matrix-free: per row x, y (16 each), the diagonal and the row key (8 each),
  plus 3 x 16 bytes per ghost (scatter send, receive, ghost buffer);
* separable (matrix-free through the R coupling factors): x, y (read and
  written), the diagonal (16 + 32 + 8) per row, a row offset (8) per
  intermediate row, 5 bytes (int32 index + mode) per ladder-map entry, and
  4 x 16 bytes per ghost (forward x, reverse y: send and receive). Also
  printed: its multiply-adds per product (4 R real ones per map entry);
* lean (separable ranked on the fly, nothing stored per entry): x, y (read and
  written) and its two float64 diagonals per row, and 4 x 16 bytes per entry of
  its ghost spans.

``--profile K`` also prints where the evolution's time went: the K functions
with the most own time (cProfile, every rank; numba kernels and MPI calls are one
entry each), seconds per rank, so that a rank waiting for the other shows as
time in the exchange's MPI call.

Strong scaling: run it with mpirun -n 1 and -n 2 and divide the evolution
times. Large runs (N = 26: 10.4 M states) use the matrix-free operator:

    mpirun -n 2 python benchmarks/manybody_scaling.py --n 26 --t 0.1 --operator shell
"""
from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import manybody_tools as mt  # noqa: E402
from nmbhpc.manybody import operators  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--t", type=float, default=1.0)
    ap.add_argument("--tol", type=float, default=1e-10)
    ap.add_argument("--operator", default="auto",
                    choices=operators.NAMES)
    ap.add_argument("--ncv", type=int, default=0, help="MFN Krylov dimension (0: engine default)")
    ap.add_argument("--propagator", default="mfn", choices=("mfn", "chebyshev"))
    ap.add_argument("--profile", type=int, default=0, metavar="K",
                    help="print the K functions with the most own time in the evolution")
    args, petsc_args = ap.parse_known_args(argv)

    PETSc, _ = mt.init_petsc(petsc_args)
    PETSc.Log.begin()
    from mpi4py import MPI

    from nmbhpc.runtime.log import setup_logging

    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    setup_logging("INFO", comm)  # the engine's memory estimate, long steps' progress
    config = mt.model_config(args.n, t_final=args.t, tol=args.tol, operator=args.operator,
                             ncv=args.ncv, propagator=args.propagator)
    solver, t_setup = mt.build_timed(config, comm)
    info = solver.describe()
    est = solver.memory
    mem_setup = comm.gather(mt.peak_rss(), root=0)
    profiler = cProfile.Profile() if args.profile else None
    if profiler:
        profiler.enable()
    t_evol, matvecs = mt.evolve_timed(solver, comm)
    if profiler:
        profiler.disable()
        own = comm.gather(own_seconds(profiler), root=0)
    mem = comm.gather(mt.peak_rss(), root=0)
    ctx = solver.A.getPythonContext() if solver.A.getType() == "python" else None
    n_ghost = comm.allreduce(getattr(ctx, "n_ghost", 0))
    real_stored = None
    if info["operator"] == "real":
        # entries actually streamed per product (upper triangle of the diagonal block when
        # symmetric, the whole off-rank block) and their size in the chosen value format
        real_stored = (comm.allreduce(len(ctx.d_cols) + len(ctx.o_cols)), ctx.values.bytes_per_nnz,
                       ctx.values.format, ctx.symmetric)
    traffic = None
    if info["operator"] in ("separable", "lean"):
        # per-rank counts summed; R and the entry size are the same on every rank
        traffic = {k: comm.allreduce(v) for k, v in ctx.traffic().items()}
        traffic.update(terms=ctx.n_terms, bytes_per_entry=getattr(ctx, "bytes_per_entry", 0))
    del ctx
    solver.destroy()
    # after the peaks were taken: the triad arrays (3 x 256 MiB) would dominate them
    bandwidth = mt.stream_triad_bandwidth(comm)

    if rank == 0:
        dim, nnz = info["basis_dim"], info["nnz"]
        if info["operator"] == "shell":
            moved = dim * (16 + 16 + 8 + 8) + 3 * 16 * n_ghost
        elif info["operator"] == "separable":
            moved = (dim * (16 + 32 + 8) + traffic["intermediate_rows"] * 8
                     + traffic["entries"] * traffic["bytes_per_entry"]
                     + 4 * 16 * traffic["ghosts"])
        elif info["operator"] == "lean":
            moved = dim * (16 + 32 + 16) + 4 * 16 * traffic["ghosts"]
        elif info["operator"] == "real":
            moved = real_stored[0] * real_stored[1] + dim * (16 + 16 + 8 + 16) + 3 * 16 * n_ghost
        else:
            moved = nnz * (16 + 4) + dim * (16 + 16 + 4)
        per = t_evol / max(matvecs, 1)
        print(f"# N = {args.n}, dim = {dim}, nnz = {nnz}, operator = {info['operator']}, "
              f"ranks = {size}, t = {args.t}, mfn_tol = {args.tol}, "
              f"propagator = {args.propagator}")
        print("memory estimate per rank: "
              + ", ".join(f"{kind} {mt.fmt_bytes(b)}" for kind, b in est.rank.items())
              + f"; node available {mt.fmt_bytes(est.available_node)}")
        if real_stored:
            print(f"real: {real_stored[0]} stored entries ({real_stored[2]} values, "
                  f"{real_stored[1]} bytes each, {'upper triangle' if real_stored[3] else 'both triangles'}"
                  f" of the diagonal block)")
        if info["operator"] == "separable":
            print(f"separable: R = {traffic['terms']}, {traffic['entries']} map entries, "
                  f"{4 * traffic['terms'] * traffic['entries'] / 1e6:.4g} M real multiply-adds per "
                  f"product, {traffic['ghosts']} ghosts")
        print("peak RSS per rank after construction: "
              + ", ".join(mt.fmt_bytes(m) for m in mem_setup)
              + "; after evolution: " + ", ".join(mt.fmt_bytes(m) for m in mem))
        print(f"construction {t_setup:.3g} s (basis {info['basis_seconds']:.3g} s, operator "
              f"{info['assembly_seconds']:.3g} s); evolution {t_evol:.4g} s, {matvecs} matvecs, "
              f"{1e3 * per:.4g} ms per matvec ({1e9 * per / max(nnz, 1):.3g} ns per non-zero)")
        print(f"triad bandwidth (numpy, all ranks) {bandwidth / 1e9:.3g} GB/s; bytes-moved bound "
              f"{moved / 1e6:.4g} MB -> {1e3 * moved / bandwidth:.4g} ms per matvec "
              f"(measured/bound = {per * bandwidth / moved:.3g})")
        if profiler:
            print_profile(own, args.profile, t_evol)
    return 0


def own_seconds(profiler) -> dict[str, float]:
    """``{"file:function": own seconds}`` of a finished cProfile run. Local."""
    out: dict[str, float] = {}
    for (path, _, name), (_, _, own, _, _) in pstats.Stats(profiler).stats.items():
        key = f"{os.path.basename(path)}:{name}" if path != "~" else name
        out[key] = out.get(key, 0.0) + own
    return out


def print_profile(own: list[dict[str, float]], top: int, total: float) -> None:
    """The ``top`` functions by their largest own time over the ranks, one column per rank."""
    names = sorted({k for d in own for k in d}, key=lambda k: -max(d.get(k, 0.0) for d in own))
    print(f"where the evolution's {total:.4g} s went (own seconds per rank, cProfile):")
    print("| function | " + " | ".join(f"rank {r}" for r in range(len(own))) + " |")
    print("|---|" + "---|" * len(own))
    for k in names[:top]:
        print(f"| {k} | " + " | ".join(f"{d.get(k, 0.0):.3g}" for d in own) + " |")


if __name__ == "__main__":
    sys.exit(main())
