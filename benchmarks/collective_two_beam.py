"""Exact evolution of the two-beam (bipolar) model at large N: cost and conservation.

The model of the logN experiment (jobs/experiments/logN/base.toml): omega = 1,
mu = 10, theta = 0, inverted hierarchy, N/2 neutrinos + N/2 antineutrinos. The
initial state lies in one sector of N/2 + 1 collective-spin states, where H is
tridiagonal; the run goes past the conversion time tau_conv ~ -0.5 + ln(N)/4
(1/omega0). Prints, on rank 0:

* the sector dimension, ||H||_inf and the construction time;
* at each report time: t, conversion C(t) = max_p (1 - P_p(t).P_p(0))/2, the MatMult
  count so far and the products per unit time of the last interval;
* products in total, evolution wall and CPU time, time per product, peak RSS per rank;
* conservation drifts over all output times: max |norm - 1|, max |E - E0|/|E0|,
  max |<B.J> - <B.J>_0| (B.J per neutrino);
* tau_conv (first C = 0.1, as nmbhpc.analysis.experiments.measures); ``--csv`` saves C(t).

Two exact methods (``--method``):

* ``mfn`` (the engine, ``ManyBodySolver.records``): SLEPc MFN steps. Once the state has
  spread over the sector the Krylov work per unit time is ~ ||H|| ~ mu N
  (docs/experiments.md, "Cost of the exact runs"), so a run costs ~ N^2 t. Default
  SLEPc expokit (the engine's default restarted Krylov MFN is ~10x slower here).
* ``spectral``: H is time independent and the initial state's energy spread is only
  ~ mu/4, so psi(t) = sum_k c_k exp(-i E_k t) v_k over the ``--nev`` eigenpairs of H
  nearest <H> (SLEPc EPS, shift-and-invert with an LU of the tridiagonal sector matrix;
  PCREDUNDANT on several ranks). Truncation error: ||psi_trunc - psi|| =
  sqrt(1 - sum |c_k|^2) at all times, printed, together with the largest weight among
  the outermost converged eigenpairs (must be negligible, else raise --nev). Cost ~ N.
  The engine has the same method as ``manybody.propagator = "spectral"``
  (nmbhpc/manybody/spectral_propagator.py), which checks its truncation itself.

Examples:

    python benchmarks/collective_two_beam.py                      # N = 1e6, spectral
    python benchmarks/collective_two_beam.py --n 50000 --method mfn
    mpirun -n 2 python benchmarks/collective_two_beam.py --n 100000 --method mfn -mfn_type krylov
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import manybody_tools as mt  # noqa: E402

MODEL_TOML = """
solver = "manybody"
[model]
theta = 0.0
mu = {mu}
[model.generator]
kind = "two_beam"
n_nu = {half}
n_nubar = {half}
omega = 1.0
hierarchy = "inverted"
[output]
t_final = {t_final}
n_out = {n_out}
[manybody]
operator = "matrix"
mfn_tol = {tol}
mfn_ncv = {ncv}
mfn_type = "{mfn_type}"
max_step = {max_step}
"""


def tau_conv_estimate(n: int) -> float:
    """Conversion time (1/omega0) of the exact runs at f_conv = 0.1 (docs/experiments.md fit)."""
    return -0.5 + math.log(n) / 4.0


def spectral_records(solver, times, mu: float, nev: int, comm):
    """Yield the engine's ObservableRecord at each of ``times`` for psi(t) expanded in
    the ``nev`` eigenpairs of H(mu) nearest <H>_0 (module docstring). Collective."""
    import numpy as np

    PETSc, SLEPc = mt.init_petsc()
    prop = solver.propagator
    prop.set_mu(mu)
    H, psi0 = prop.H, solver.psi.copy()
    e0 = prop.energy(psi0)
    hpsi = psi0.duplicate()
    H.mult(psi0, hpsi)
    sigma = math.sqrt(max(hpsi.norm() ** 2 - e0 ** 2, 0.0))
    t0 = time.perf_counter()
    eps = SLEPc.EPS().create(comm)
    eps.setOptionsPrefix("spec_")
    eps.setOperators(H)
    eps.setProblemType(SLEPc.EPS.ProblemType.HEP)
    eps.setDimensions(nev=nev, ncv=nev + max(32, nev // 5))
    # off an eigenvalue: <H>_0 can be one exactly, and PETSc's LU does not pivot
    eps.setTarget(e0 + 0.0123 * sigma)
    eps.setWhichEigenpairs(SLEPc.EPS.Which.TARGET_MAGNITUDE)
    eps.setTolerances(tol=1e-13)
    st = eps.getST()
    st.setType(SLEPc.ST.Type.SINVERT)
    ksp = st.getKSP()
    ksp.setType(PETSc.KSP.Type.PREONLY)
    ksp.getPC().setType(PETSc.PC.Type.LU if comm.Get_size() == 1 else PETSc.PC.Type.REDUNDANT)
    eps.setFromOptions()
    eps.solve()
    nconv = eps.getConverged()
    v = H.createVecRight()
    energies, coef = np.empty(nconv), np.empty(nconv, dtype=complex)
    for k in range(nconv):
        energies[k] = eps.getEigenpair(k, v).real
        coef[k] = psi0.dot(v)  # PETSc: x.dot(y) = y^H x, so this is <v_k|psi0>
    weight = np.abs(coef) ** 2
    outer = np.argsort(np.abs(energies - e0))[-max(1, nconv // 10):]
    if comm.Get_rank() == 0:
        print(f"EPS: {nconv} eigenpairs in <H>_0 {e0:+.6g} + [{energies.min() - e0:.4g}, "
              f"{energies.max() - e0:.4g}] (sigma_E = {sigma:.4g}), {eps.getIterationNumber()} "
              f"restarts, {time.perf_counter() - t0:.3g} s; truncation 1 - sum|c|^2 = "
              f"{1.0 - weight.sum():.2e}; largest weight in the outer 10 %: "
              f"{weight[outer].max():.2e}", flush=True)
    keep = np.nonzero(weight > 1e-30)[0]
    psi = solver.psi
    for t in times:
        psi.set(0.0)
        for k in keep:
            eps.getEigenvector(int(k), v)
            psi.axpy(coef[k] * np.exp(-1j * energies[k] * t), v)
        yield solver.observer.evaluate(psi, float(t), mu, prop.energy(psi))
    eps.destroy()
    for vec in (v, hpsi, psi0):
        vec.destroy()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="total neutrinos N (even)")
    ap.add_argument("--t", type=float, default=None,
                    help="final time, 1/omega0 (default: tau_conv estimate + 0.4)")
    ap.add_argument("--dt-out", type=float, default=0.05, help="output spacing, 1/omega0")
    ap.add_argument("--reports", type=int, default=10, help="progress lines printed")
    ap.add_argument("--csv", default=None, help="write t, C(t) at every output time here")
    ap.add_argument("--mu", type=float, default=10.0)
    ap.add_argument("--tol", type=float, default=1e-10)
    ap.add_argument("--ncv", type=int, default=0, help="MFN Krylov dimension (0: engine default)")
    # spectral by default: the MFN engine at the default N = 1e6 is ~11 core-hours
    ap.add_argument("--method", default="spectral", choices=("mfn", "spectral"))
    ap.add_argument("--nev", type=int, default=200, help="spectral: eigenpairs nearest <H>")
    ap.add_argument("--mfn-type", default="expokit", choices=("krylov", "expokit"))
    ap.add_argument("--max-step", type=float, default=None,
                    help="longest MFN solve, 1/omega0 (default 5000/(mu N): ~800 products, "
                         "within SLEPc's 100 expokit sub-steps of ncv = 16)")
    args, petsc_args = ap.parse_known_args(argv)
    if args.n < 2 or args.n % 2:
        ap.error("--n must be an even number >= 2")
    t_final = args.t if args.t is not None else round(tau_conv_estimate(args.n) + 0.4, 2)
    n_out = max(2, int(round(t_final / args.dt_out)) + 1)
    max_step = args.max_step if args.max_step is not None else min(1.0, 5000.0 / (args.mu * args.n))

    PETSc, _ = mt.init_petsc(petsc_args)
    PETSc.Log.begin()
    import numpy as np
    from mpi4py import MPI

    from nmbhpc.config import load_config_text
    from nmbhpc.analysis.experiments.measures import first_crossing

    comm = MPI.COMM_WORLD
    rank = comm.Get_rank()
    config = load_config_text(MODEL_TOML.format(
        mu=args.mu, half=args.n // 2, t_final=t_final, n_out=n_out, tol=args.tol,
        ncv=args.ncv, mfn_type=args.mfn_type, max_step=max_step), source_path="<collective_two_beam>")
    solver, t_setup = mt.build_timed(config, comm)
    info = solver.describe()
    solver.propagator.set_mu(args.mu)
    h_norm = solver.propagator.H.norm(PETSc.NormType.INFINITY)
    mem_setup = comm.gather(mt.peak_rss(), root=0)
    if rank == 0:
        print(f"# two-beam N = {args.n}, mu = {args.mu}, sector dim = {info['basis_dim']}, "
              f"nnz = {info['nnz']}, ranks = {comm.Get_size()}, t = 0 .. {t_final} "
              f"(tau_conv ~ {tau_conv_estimate(args.n):.2f}), method {args.method}"
              + (f", mfn_tol = {args.tol}, MFN {solver.propagator.mfn.getType()}, ncv "
                 f"{solver.propagator.mfn.getDimensions()}, max_step {max_step:.3g}"
                 if args.method == "mfn" else f", nev {args.nev}"))
        print(f"||H||_inf = {h_norm:.4g}; construction {t_setup:.3g} s")

    counter = mt.MatMultCounter()
    counter.start()
    comm.Barrier()
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    if args.method == "spectral":
        records = spectral_records(solver, config.output.times, args.mu, args.nev, comm)
    else:
        records = solver.records()
    first = next(records)
    p0 = first.polarization.copy()
    e0, bj0 = first.energy, first.b_dot_j
    drift = {"norm": abs(first.norm - 1.0), "energy": 0.0, "b_dot_j": 0.0}
    every = max(1, (n_out - 1) // args.reports)
    last = (0.0, 0)
    series = [(first.time, 0.0)]
    # one energy product per record is not propagation: subtract it from the count
    for i, rec in enumerate(records, start=1):
        drift["norm"] = max(drift["norm"], abs(rec.norm - 1.0))
        drift["energy"] = max(drift["energy"], abs(rec.energy - e0) / abs(e0))
        drift["b_dot_j"] = max(drift["b_dot_j"], abs(rec.b_dot_j - bj0) / args.n)
        conv = float(np.max((1.0 - np.sum(rec.polarization * p0, axis=1)) / 2.0))
        series.append((rec.time, conv))
        if i % every == 0 or i == n_out - 1:
            products = counter.stop() - i
            rate = (products - last[1]) / (rec.time - last[0])
            if rank == 0:
                print(f"t = {rec.time:6.3f}  C = {conv:.4e}  products = {products:9d}  "
                      f"products per unit time {rate:10.4g}  wall {time.perf_counter() - t0:9.2f} s",
                      flush=True)
            last = (rec.time, products)
    products = counter.stop() - (n_out - 1)
    t_evol = comm.allreduce(time.perf_counter() - t0, op=MPI.MAX)
    # on a shared machine wall >> CPU time; the CPU time is what a quiet node would take
    cpu_evol = comm.allreduce(time.process_time() - cpu0, op=MPI.MAX)
    mem = comm.gather(mt.peak_rss(), root=0)
    solver.destroy()
    if rank == 0:
        if args.method == "mfn":
            print(f"products {products}, evolution {t_evol:.4g} s wall ({cpu_evol:.4g} s CPU, "
                  f"slowest rank), {1e3 * t_evol / max(products, 1):.4g} ms wall "
                  f"({1e3 * cpu_evol / max(products, 1):.4g} ms CPU) per product, all MFN work "
                  "included")
        else:
            print(f"EPS + {n_out} reconstructions: {t_evol:.4g} s wall ({cpu_evol:.4g} s CPU, "
                  f"slowest rank); {products} MatMult (shift-and-invert works with LU solves)")
        print("peak RSS per rank after construction: " + ", ".join(mt.fmt_bytes(m) for m in mem_setup)
              + "; after evolution: " + ", ".join(mt.fmt_bytes(m) for m in mem))
        print(f"drifts: max |norm - 1| = {drift['norm']:.2e}, max |E - E0|/|E0| = "
              f"{drift['energy']:.2e}, max |B.J - B.J(0)|/N = {drift['b_dot_j']:.2e}")
        series = np.array(series)
        tau = first_crossing(series[:, 0], series[:, 1], 0.1)
        print("tau_conv (C = 0.1, linear interpolation): "
              + (f"{tau:.5f}" if tau is not None else f"not reached by t = {t_final}"))
        if args.csv:
            np.savetxt(args.csv, series, delimiter=",", header="t,C", comments="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
