"""nmbhpc's exact engine against QuSpin on the same model, sector, final time, in one run.

Model: benchmarks/manybody_tools.model_config (N one-neutrino modes, random
directions seed 1, c_pq = 1 - p.q, mu = omega = 1, half nu_e / half nu_x,
theta = 0), i.e. QuSpin's ``spin_basis_1d(N, Nup=N/2, pauli=0)`` with

    H = -sum_p omega_p S^z_p + (mu/N) sum_{p<q} c_pq [S^z_p S^z_q + (S^+_p S^-_q + h.c.)/2]

(QuSpin site p = mode p, spin up = nu_e = J^z +1/2 of the computational frame).
QuSpin 1.x needs numpy >= 2 while the PETSc stack is built on the system's
numpy, so QuSpin runs in its own venv (created on first use, default
/tmp/nmbhpc-quspin-venv; its PyPI dependency "importlib" does not build on
Python 3, so QuSpin is installed with --no-deps after its real dependencies),
in a subprocess on rank 0 while the other ranks sleep, with OMP_NUM_THREADS
equal to the number of MPI ranks (same cores for both). Then nmbhpc runs on
all ranks. QuSpin's evolution is expm_multiply_parallel (its recommended
exact propagator; no tolerance knob, it works to double precision); ours is
MFN at -mfn_tol (1e-10): the final states are compared.

    mpirun -n 2 python benchmarks/manybody_vs_quspin.py [--n 20] [--operator auto]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import manybody_tools as mt  # noqa: E402
from nmbhpc.manybody import operators  # noqa: E402
import numpy as np  # noqa: E402

QUSPIN_DEPS = ["quspin-extensions==0.1.8", "parallel-sparse-tools==0.2.5", "numpy>=2", "dill",
               "scipy>=1.13", "numexpr", "numba>=0.60", "six", "joblib", "gmpy2"]

QUSPIN_SCRIPT = r'''
import json, resource, sys, time
import numpy as np
spec = json.load(open(sys.argv[1]))
t0 = time.perf_counter()
from quspin.basis import spin_basis_1d
from quspin.operators import hamiltonian
from quspin.tools.evolution import expm_multiply_parallel
t_import = time.perf_counter() - t0
L, mu, t = spec["n"], spec["mu"], spec["t"]
c = np.array(spec["couplings_over_n"]); w = np.array(spec["omegas"])
t0 = time.perf_counter()
basis = spin_basis_1d(L, Nup=L // 2, pauli=0)
t_basis = time.perf_counter() - t0
pm = [[0.5 * mu * c[p, q], p, q] for p in range(L) for q in range(L) if p != q and c[p, q] != 0]
zz = [[mu * c[p, q], p, q] for p in range(L) for q in range(p + 1, L) if c[p, q] != 0]
z = [[-w[p], p] for p in range(L)]
t0 = time.perf_counter()
H = hamiltonian([["+-", pm], ["zz", zz], ["z", z]], [], basis=basis, dtype=np.float64,
                check_herm=False, check_symm=False, check_pcon=False)
Hcsr = H.tocsr()
t_op = time.perf_counter() - t0
psi0 = np.zeros(basis.Ns, dtype=np.complex128)
psi0[basis.index("1" * (L // 2) + "0" * (L - L // 2))] = 1.0
t0 = time.perf_counter()
U = expm_multiply_parallel(Hcsr, a=-1j * t, dtype=np.complex128)
psi = U.dot(psi0)
t_evol = time.perf_counter() - t0
np.savez(spec["out"], psi=psi, states=np.asarray(basis.states), t_import=t_import,
         t_basis=t_basis, t_op=t_op, t_evol=t_evol, nnz=Hcsr.nnz,
         peak=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
'''


def ensure_quspin(python: str, venv: str) -> str:
    """Path of an interpreter that imports quspin; creates ``venv`` if needed (rank 0 only)."""
    if python:
        return python
    exe = os.path.join(venv, "bin", "python")
    ok = os.path.exists(exe) and subprocess.run([exe, "-c", "import quspin"],
                                                capture_output=True).returncode == 0
    if not ok:
        print(f"# installing QuSpin into {venv} (first use)", flush=True)
        subprocess.run(["/usr/bin/python3", "-m", "venv", venv], check=True)
        pip = [exe, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        subprocess.run(pip + QUSPIN_DEPS, check=True)
        subprocess.run(pip + ["--no-deps", "quspin"], check=True)
    return exe


def run_quspin(exe: str, config, t: float, threads: int) -> dict:
    model = config.model
    with tempfile.TemporaryDirectory() as tmp:
        spec = {"n": model.n_modes, "mu": float(model.mu(0.0)), "t": t,
                "couplings_over_n": (model.couplings() / model.n_total).tolist(),
                "omegas": model.omegas.tolist(), "out": os.path.join(tmp, "q.npz")}
        with open(os.path.join(tmp, "spec.json"), "w") as fh:
            json.dump(spec, fh)
        with open(os.path.join(tmp, "q.py"), "w") as fh:
            fh.write(QUSPIN_SCRIPT)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("OMPI_", "PMIX_", "PYTHONPATH", "PETSC", "SLEPC"))}
        env.update(OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS="1")
        t0 = time.perf_counter()
        subprocess.run([exe, os.path.join(tmp, "q.py"), os.path.join(tmp, "spec.json")],
                       check=True, env=env)
        wall = time.perf_counter() - t0
        out = dict(np.load(spec["out"]))
    out["wall"] = wall
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--t", type=float, default=1.0)
    ap.add_argument("--tol", type=float, default=1e-10)
    ap.add_argument("--operator", default="auto",
                    choices=operators.NAMES)
    ap.add_argument("--quspin-python", default="", help="interpreter with quspin (skip the venv)")
    ap.add_argument("--quspin-venv", default="/tmp/nmbhpc-quspin-venv")
    args, petsc_args = ap.parse_known_args(argv)

    PETSc, _ = mt.init_petsc(petsc_args)
    PETSc.Log.begin()
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    config = mt.model_config(args.n, t_final=args.t, tol=args.tol, operator=args.operator)

    q = None
    if rank == 0:
        exe = ensure_quspin(args.quspin_python, args.quspin_venv)
        q = run_quspin(exe, config, args.t, threads=size)
    mt.idle_wait(comm)

    solver, t_setup = mt.build_timed(config, comm)
    info = solver.describe()
    t_evol, matvecs = mt.evolve_timed(solver, comm)
    psi = solver.state_global()
    mem = comm.gather(mt.peak_rss(), root=0)
    cfg = solver.basis.all_configs() if rank == 0 else None
    solver.destroy()

    if rank == 0:
        # our configuration k (k_p = 1: nu_x, spin down) -> QuSpin's integer (site 0 = top bit, 1 = up)
        L = args.n
        ints = ((1 - cfg) << np.arange(L - 1, -1, -1)).sum(axis=1)
        states = q["states"]
        order = np.argsort(states)
        idx = order[np.searchsorted(states, ints, sorter=order)]
        assert np.array_equal(states[idx], ints), "QuSpin basis differs from ours"
        diff = np.linalg.norm(psi - q["psi"][idx])
        q_setup = float(q["t_basis"] + q["t_op"])
        print(f"# nmbhpc vs QuSpin: N = {L}, dim = {info['basis_dim']}, nnz = {info['nnz']}, "
              f"t = {args.t}, ranks = {size} (QuSpin: OMP_NUM_THREADS = {size}), "
              f"operator = {info['operator']}, mfn_tol = {args.tol}")
        print(f"{'':30s}{'nmbhpc':>12s}{'QuSpin':>12s}{'QuSpin/ours':>13s}")
        for name, a, b in [("basis+operator [s]", t_setup, q_setup),
                           ("evolution to t [s]", t_evol, float(q["t_evol"])),
                           ("peak memory rank 0 [MiB]", mem[0] / 2**20, float(q["peak"]) / 2**20)]:
            print(f"{name:30s}{a:12.4g}{b:12.4g}{mt.ratio(b, a):>13s}")
        print(f"nmbhpc: {matvecs} matvecs, {1e3 * t_evol / max(matvecs, 1):.1f} ms each; "
              f"peak memory per rank [MiB]: " + ", ".join(f"{m / 2**20:.0f}" for m in mem))
        print(f"QuSpin: basis {float(q['t_basis']):.3g} s + operator {float(q['t_op']):.3g} s "
              f"(import {float(q['t_import']):.3g} s not counted), nnz {int(q['nnz'])}")
        print(f"final-state difference ||psi_nmbhpc - psi_QuSpin||_2 = {diff:.3e}")
        print(f"targets: construction >= 20x: {'met' if q_setup / t_setup >= 20 else 'NOT met'}; "
              f"evolution >= 2x: {'met' if float(q['t_evol']) / t_evol >= 2 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
