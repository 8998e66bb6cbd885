"""Error and cost of the exact engine's time integrators for a time-dependent mu(t).

Runs the bulb model of examples/bulb.toml (single-angle, ``--n`` one-neutrino
modes, mu falling from 50 omega0 at r0 = 2 R) to ``--t`` with
``manybody.time_integrator`` = midpoint and cf4 for each ``model.schedule.max_step``
of ``--steps``, and prints, per run, the error of the final state
``||psi - psi_ref||_2`` and of the polarizations (max over modes and output
times), the exponentials and the products with H per unit time (the cost), and
the wall time. The reference is cf4 at ``--ref-step`` with ``mfn_tol``
``--ref-tol`` (cf4's error there is ~ (ref-step / smallest step)^4 of the
smallest-step error, below every error printed). The step h is the output
interval split into equal parts no longer than max_step; the observed order is
log(error ratio) / log(h ratio) between consecutive rows.

    python benchmarks/manybody_magnus_order.py --n 10 --t 5

Extra arguments go to PETSc/SLEPc (``-mfn_ncv 8``); runs under mpirun too.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from dataclasses import replace

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import manybody_tools as mt  # noqa: E402

import numpy as np  # noqa: E402

BULB_TOML = """
solver = "manybody"
[model]
theta = 0.161
mu = 50.0
[model.schedule]
kind = "bulb"
radius = 1.0
r0 = 2.0
[model.generator]
kind = "single_angle"
n_modes = {n}
n_per_mode = 1
omega0 = 1.0
states = "split"
[output]
t_final = {t}
n_out = {n_out}
[manybody]
mfn_tol = {tol}
"""


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",")]


def run(config, integrator: str, step: float, tol: float, comm):
    """(final local state, polarizations [T, M, 3], exponentials, products, seconds). Collective."""
    from mpi4py import MPI

    from nmbhpc.manybody.solver import ManyBodySolver

    config = replace(config, model=replace(config.model, mu=replace(config.model.mu, max_step=step)),
                     manybody=replace(config.manybody, time_integrator=integrator, mfn_tol=tol))
    solver = ManyBodySolver(config, comm)
    try:
        comm.Barrier()
        t0 = time.perf_counter()
        pol = np.array([r.polarization for r in solver.records()])
        seconds = comm.allreduce(time.perf_counter() - t0, op=MPI.MAX)
        state = solver.final_state()[0]
        return state, pol, solver.steps, solver.work()[1], seconds
    finally:
        solver.destroy()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=10, help="one-neutrino modes")
    ap.add_argument("--t", type=float, default=5.0, help="run length (1/omega0)")
    ap.add_argument("--n-out", type=int, default=11, help="output times")
    ap.add_argument("--steps", type=_floats, default=_floats("0.5,0.25,0.125,0.0625,0.03125,0.015625"),
                    help="model.schedule.max_step values (the steps are the output interval "
                    "split into equal parts no longer than this)")
    ap.add_argument("--tol", type=float, default=1e-12, help="mfn_tol of the runs")
    ap.add_argument("--ref-step", type=float, default=0.001953125)
    ap.add_argument("--ref-tol", type=float, default=1e-13)
    args, petsc_args = ap.parse_known_args(argv)

    mt.init_petsc(petsc_args)
    from mpi4py import MPI

    from nmbhpc.config import load_config_text

    comm = MPI.COMM_WORLD
    config = load_config_text(BULB_TOML.format(n=args.n, t=args.t, n_out=args.n_out, tol=args.tol))
    ref_state, ref_pol, *_ = run(config, "cf4", args.ref_step, args.ref_tol, comm)
    interval = args.t / (args.n_out - 1)
    rows = []
    for integrator in ("midpoint", "cf4"):
        previous = None
        for step in args.steps:
            h = interval / max(1, math.ceil(interval / step - 1e-12))  # MuSchedule.step_edges
            state, pol, n_exp, products, seconds = run(config, integrator, step, args.tol, comm)
            err = math.sqrt(comm.allreduce(float(np.sum(np.abs(state - ref_state) ** 2))))
            order = "" if previous is None else \
                f"{math.log(previous[1] / err) / math.log(previous[0] / h):.2f}"
            previous = (h, err)
            rows.append((integrator, h, err, float(np.max(np.abs(pol - ref_pol))), order,
                         n_exp / args.t, products / args.t, seconds))
    if comm.Get_rank() == 0:
        print(f"bulb model, N = {args.n}, t = 0..{args.t:g} ({args.n_out} output times), "
              f"mfn_tol {args.tol:g}, {comm.Get_size()} rank(s); reference cf4 max_step "
              f"{args.ref_step:g}, mfn_tol {args.ref_tol:g}")
        print(f"{'integrator':10s} {'step h':>8s} {'|psi-ref|':>10s} {'max|dP|':>10s} "
              f"{'order':>6s} {'exp/t':>7s} {'prod/t':>8s} {'wall s':>7s}")
        for name, h, err, dp, order, exp_t, prod_t, sec in rows:
            print(f"{name:10s} {h:8.4g} {err:10.3e} {dp:10.3e} {order:>6s} {exp_t:7.1f} "
                  f"{prod_t:8.1f} {sec:7.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
