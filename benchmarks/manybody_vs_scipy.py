"""nmbhpc's exact engine against scipy.sparse.linalg.expm_multiply, same matrix, same run.

Model: N one-neutrino modes in random (seeded) directions, multi-angle coupling
1 - p.q, mu = omega = 1, half nu_e / half nu_x, theta = 0: the half-filled
sector (N = 20: C(20, 10) = 184756 states). Evolution to t = 1 in one MFN
step at -mfn_tol 1e-10 (the matrix path, ``manybody.operator``; ``--operator
shell`` for the matrix-free one), then the same H (D + mu A, gathered to one
scipy CSR on rank 0) with expm_multiply from the same initial state.

Printed: basis + assembly time, evolution time, matvec count (PETSc's MatMult
event; scipy's by counting CSR products), time per matvec, peak memory per
rank, the final-state difference, and ours/scipy ratios. scipy runs serially
on rank 0 while the other ranks sleep; its memory is this process's RSS
before the engine was built plus the tracemalloc peak of the scipy phase
(CSR + expm_multiply work arrays), since ru_maxrss already holds ours.

    python benchmarks/manybody_vs_scipy.py [--n 20] [--t 1] [--tol 1e-10]
    mpirun -n 2 python benchmarks/manybody_vs_scipy.py
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import manybody_tools as mt  # noqa: E402
import numpy as np  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=20, help="number of modes (even)")
    ap.add_argument("--t", type=float, default=1.0, help="final time (1/omega0)")
    ap.add_argument("--tol", type=float, default=1e-10, help="MFN tolerance")
    ap.add_argument("--operator", default="matrix", choices=("matrix", "shell"))
    ap.add_argument("--no-scipy", action="store_true", help="only time the engine")
    args, petsc_args = ap.parse_known_args(argv)

    PETSc, _ = mt.init_petsc(petsc_args)
    PETSc.Log.begin()
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    rss0 = mt.current_rss()
    config = mt.model_config(args.n, t_final=args.t, tol=args.tol, operator=args.operator)

    solver, t_setup = mt.build_timed(config, comm)
    info = solver.describe()
    psi0 = solver.state_global()
    t_evol, matvecs = mt.evolve_timed(solver, comm)
    ours = solver.state_global()
    mem_ours = comm.gather(mt.peak_rss(), root=0)

    res = {}
    if not args.no_scipy:
        op = solver.propagator.H if args.operator == "matrix" else None
        if op is None:
            raise SystemExit("scipy comparison needs the stored matrix: use --operator matrix")
        res = _scipy_reference(op, psi0, args.t, comm)
        res["mem"] = rss0 + res["heap_peak"] if rank == 0 else None

    if rank == 0:
        out = print
        out(f"# nmbhpc vs scipy expm_multiply: N = {args.n}, dim = {info['basis_dim']}, "
            f"nnz = {info['nnz']}, t = {args.t}, mfn_tol = {args.tol}, ranks = {size}, "
            f"operator = {args.operator}")
        out(f"{'':28s}{'nmbhpc':>14s}{'scipy':>14s}{'ours/scipy':>12s}")
        sc = res or {}
        rows = [
            ("basis+assembly [s]", t_setup, sc.get("t_setup")),
            ("  of which basis [s]", info["basis_seconds"], None),
            ("evolution to t [s]", t_evol, sc.get("t_evol")),
            ("matvecs", matvecs, sc.get("matvecs")),
            ("time per matvec [ms]", 1e3 * t_evol / max(matvecs, 1),
             1e3 * sc["t_evol"] / max(sc["matvecs"], 1) if sc else None),
            ("peak memory rank 0 [MiB]", mem_ours[0] / 2**20,
             sc["mem"] / 2**20 if sc else None),
        ]
        for name, a, b in rows:
            bs = f"{b:14.4g}" if b is not None else f"{'-':>14s}"
            rs = f"{mt.ratio(a, b):>12s}" if b is not None else f"{'':>12s}"
            out(f"{name:28s}{a:14.4g}{bs}{rs}")
        out("peak memory per rank [MiB]: " + ", ".join(f"{m / 2**20:.0f}" for m in mem_ours))
        if sc:
            diff = np.linalg.norm(ours - sc["psi"])
            out(f"final-state difference ||psi_nmbhpc - psi_scipy||_2 = {diff:.3e}  "
                f"(norms {np.linalg.norm(ours):.15f}, {np.linalg.norm(sc['psi']):.15f})")
            out("scipy 'basis+assembly' = gathering our matrix into one CSR (scipy has no "
                "constructor); scipy memory = RSS before the engine + tracemalloc peak of its phase")
    solver.destroy()
    return 0


def _scipy_reference(H, psi0, t, comm) -> dict:
    """expm_multiply(-i t H) psi0 on rank 0 with H gathered as CSR. Collective."""
    import tracemalloc

    import scipy.sparse as sp
    from scipy.sparse.linalg import expm_multiply

    rank = comm.Get_rank()
    if rank == 0:
        tracemalloc.start()
    t0 = time.perf_counter()
    csr = mt.gather_csr(H, comm)
    t_setup = time.perf_counter() - t0
    if rank != 0:
        mt.idle_wait(comm)
        return {}
    A = csr * (-1j * t)
    del csr
    counts = {"n": 0}
    cls = sp.csr_matrix
    orig_vec, orig_multi = cls._mul_vector, cls._mul_multivector

    def mul_vector(self, other):
        counts["n"] += 1
        return orig_vec(self, other)

    def mul_multivector(self, other):
        counts["n"] += other.shape[1]
        return orig_multi(self, other)

    cls._mul_vector, cls._mul_multivector = mul_vector, mul_multivector
    try:
        t0 = time.perf_counter()
        psi = expm_multiply(A, psi0)
        t_evol = time.perf_counter() - t0
    finally:
        cls._mul_vector, cls._mul_multivector = orig_vec, orig_multi
    heap_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    mt.idle_wait(comm)
    return {"t_setup": t_setup, "t_evol": t_evol, "matvecs": counts["n"], "psi": psi,
            "heap_peak": heap_peak}


if __name__ == "__main__":
    sys.exit(main())
