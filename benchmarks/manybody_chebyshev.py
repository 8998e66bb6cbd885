"""Chebyshev series against SLEPc MFN (krylov) on the separable operator, side by side.

For the benchmark model (manybody_tools.model_config: N one-neutrino modes, multi-angle,
mu = 1, half filling) and one output interval of length t: products with H and evolution
time of each propagator at the same mfn_tol (runs alternate, best of --repeat), and the
distance of each final state to a reference (MFN at tol 1e-14) and to each other. Then the
width of the interval the Chebyshev propagator uses against the true extreme eigenvalues of
A and of H(mu = 1) (dense eigvalsh of the gathered operator at the small --bound-n sizes).

    python benchmarks/manybody_chebyshev.py --n 20 --t 1
    mpirun -n 2 python benchmarks/manybody_chebyshev.py --n 20 --t 1 --t 10
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import manybody_tools as mt  # noqa: E402


def _config(n, t, tol, propagator):
    config = mt.model_config(n, t_final=t, tol=tol, operator="separable")
    return replace(config, manybody=replace(config.manybody, propagator=propagator))


def _evolve(config, comm):
    """(seconds on the slowest rank, products, final local state). Collective."""
    from mpi4py import MPI

    solver, _ = mt.build_timed(config, comm)
    try:
        records = solver.records()
        next(records)
        ctx = solver.A.getPythonContext()
        before = ctx.mults
        comm.Barrier()
        t0 = time.perf_counter()
        next(records)
        seconds = comm.allreduce(time.perf_counter() - t0, op=MPI.MAX)
        products = ctx.mults - before - 1  # the record's energy
        state = solver.psi.getArray(readonly=True).copy()
    finally:
        solver.destroy()
    return seconds, products, state


def _dist(comm, a, b):
    return float(np.sqrt(comm.allreduce(float(np.sum(np.abs(a - b) ** 2)))))


def _dense_A_and_D(n, comm):
    """Dense A and the diagonal of D of the benchmark model on rank 0 (None elsewhere), from
    the stored AIJ (not yet scaled into H: no step was taken). Collective."""
    config = mt.model_config(n, operator="matrix")
    solver, _ = mt.build_timed(config, comm)
    try:
        A = mt.gather_csr(solver.A, comm)
        d = comm.gather(solver.D.getArray(readonly=True).real.copy(), root=0)
    finally:
        solver.destroy()
    if comm.Get_rank() != 0:
        return None, None
    return A.toarray().real, np.concatenate(d)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--t", type=float, action="append", help="interval lengths (default 1)")
    ap.add_argument("--tol", type=float, default=1e-10)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--bound-n", type=int, nargs="*", default=[12, 14])
    args, petsc_args = ap.parse_known_args(argv)
    mt.init_petsc(petsc_args)
    from mpi4py import MPI

    from nmbhpc.manybody.solver import ManyBodySolver

    comm = MPI.COMM_WORLD
    rank = comm.Get_rank()
    say = print if rank == 0 else (lambda *a, **k: None)
    say(f"N = {args.n}, separable operator, {comm.Get_size()} rank(s), mfn_tol {args.tol:g}")
    say(f"{'t':>6} {'propagator':>10} {'products':>9} {'seconds':>9} {'ms/product':>10} "
        f"{'err vs ref':>10}")
    for t in args.t or [1.0]:
        _, _, ref = _evolve(_config(args.n, t, 1e-14, "mfn"), comm)
        best = {}
        for _ in range(args.repeat):
            for prop in ("mfn", "chebyshev"):
                sec, products, state = _evolve(_config(args.n, t, args.tol, prop), comm)
                if prop not in best or sec < best[prop][0]:
                    best[prop] = (sec, products, state)
        for prop, (sec, products, state) in best.items():
            say(f"{t:6g} {prop:>10} {products:9d} {sec:9.3f} {1e3 * sec / products:10.2f} "
                f"{_dist(comm, state, ref):10.2e}")
        (s_m, p_m, x_m), (s_c, p_c, x_c) = best["mfn"], best["chebyshev"]
        say(f"{t:6g} chebyshev/mfn: products {p_c / p_m:.3g}, time {s_c / s_m:.3g}; "
            f"||psi_cheb - psi_mfn|| = {_dist(comm, x_c, x_m):.2e}")

    say("\ninterval of the Chebyshev propagator against the dense extreme eigenvalues")
    say(f"{'N':>3} {'dim':>6} {'operator':>8} {'bound lo':>10} {'eig min':>10} {'eig max':>10} "
        f"{'bound hi':>10} {'width/true':>10}")
    for n in args.bound_n:
        solver = ManyBodySolver(_config(n, 1.0, args.tol, "chebyshev"), comm)
        prop = solver.propagator
        bounds = {"A": prop.bounds, "H(mu=1)": prop.interval(1.0)}
        solver.destroy()
        A, d = _dense_A_and_D(n, comm)
        if rank == 0:
            eigs = {"A": np.linalg.eigvalsh(A), "H(mu=1)": np.linalg.eigvalsh(A + np.diag(d))}
            for name, (lo, hi) in bounds.items():
                e = eigs[name]
                say(f"{n:3d} {len(d):6d} {name:>8} {lo:10.4f} {e[0]:10.4f} {e[-1]:10.4f} "
                    f"{hi:10.4f} {(hi - lo) / (e[-1] - e[0]):10.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
