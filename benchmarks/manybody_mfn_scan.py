"""Products and error of one SLEPc MFN step for a range of Krylov dimensions.

Builds the benchmark model (manybody_tools.model_config) with the stored AIJ,
then applies ``exp(-i H t)`` to its initial state in ``--steps`` equal steps
for each MFN type and ``ncv``, and prints the MatMult count, the wall time
and ``||psi - psi_ref||_2`` against a reference at ``tol 1e-14, ncv 40``.
This chose ``propagator.DEFAULT_NCV`` (docs/performance.md, section 1):

    python benchmarks/manybody_mfn_scan.py --n 20 --ncv 4,5,6,8,16,30 --steps 1,2
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import manybody_tools as mt  # noqa: E402


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",")]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--t", type=float, default=1.0)
    ap.add_argument("--tol", type=float, default=1e-10)
    ap.add_argument("--ncv", type=_ints, default=_ints("4,5,6,8,12,16,30"))
    ap.add_argument("--steps", type=_ints, default=[1])
    ap.add_argument("--types", default="krylov", help="comma-separated MFN types")
    args, petsc_args = ap.parse_known_args(argv)

    PETSc, SLEPc = mt.init_petsc(petsc_args)
    PETSc.Log.begin()
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    solver, _ = mt.build_timed(mt.model_config(args.n, operator="matrix"), comm)
    solver.propagator.set_mu(1.0)
    H = solver.propagator.H
    event = PETSc.Log.Event("MatMult")

    def run(kind, ncv, nsteps, tol):
        mfn = SLEPc.MFN().create(comm=comm)
        mfn.setOperator(H)
        fn = mfn.getFN()
        fn.setType(SLEPc.FN.Type.EXP)
        mfn.setType(kind)
        mfn.setTolerances(tol=tol, max_it=1000)
        mfn.setDimensions(ncv)
        mfn.setErrorIfNotConverged(False)
        x = solver.psi.copy()
        y = x.duplicate()
        count0 = event.getPerfInfo()["count"]
        comm.Barrier()
        t0 = time.perf_counter()
        for _ in range(nsteps):
            fn.setScale(-1j * args.t / nsteps)
            mfn.solve(x, y)
            y.copy(x)
        seconds = comm.allreduce(time.perf_counter() - t0, op=MPI.MAX)
        products = event.getPerfInfo()["count"] - count0
        reason = mfn.getConvergedReason()
        mfn.destroy()
        y.destroy()
        return x, products, seconds, reason

    ref, *_ = run("krylov", 40, 4, 1e-14)
    for kind in args.types.split(","):
        for ncv in args.ncv:
            for nsteps in args.steps:
                x, products, seconds, reason = run(kind, ncv, nsteps, args.tol)
                x.axpy(-1.0, ref)
                err = x.norm()
                x.destroy()
                if comm.Get_rank() == 0:
                    print(f"{kind:8s} ncv {ncv:3d} steps {nsteps}: {products:4.0f} products, "
                          f"{seconds:7.3f} s, error {err:.2e}, reason {reason}", flush=True)
    ref.destroy()
    solver.destroy()
    return 0


if __name__ == "__main__":
    sys.exit(main())
