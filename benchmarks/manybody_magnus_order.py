"""Error and cost of the exact engine's time integrators for a time-dependent mu(t).

Runs the bulb model of examples/bulb.toml (single-angle, ``--n`` one-neutrino
modes, mu falling from 50 omega0 at r0 = 2 R) to ``--t``, or with ``--schedule
table`` the same model with mu piecewise linear through the bulb's values at
t = 0, 0.3, 0.7, 1.2, 2, 3.1, 5 (kinks off the output times). It prints, per run,
the error of the final state ``||psi - psi_ref||_2`` and of the polarizations
(max over modes and output times), the exponentials and the products with H per
unit time (the cost), that cost over the cost of midpoint with equal steps of
0.05 (the ``x mid.05`` column; that run is always made), and the wall time.

Two kinds of rows: equal steps (``manybody.time_step_tol = 0``) for every
integrator and each ``model.schedule.max_step`` of ``--steps`` (the step h is the
output interval split into equal parts no longer than max_step; ``order`` is
log(error ratio) / log(h ratio) between consecutive rows), and steps that follow
the schedule (``time_step_tol`` of ``--step-tols``, max_step 0.5) for cf4 and cf6.
The reference is cf6 with equal steps ``--ref-step`` and ``mfn_tol`` ``--ref-tol``
(cf6's error there is ~ (ref-step / smallest step)^6 of the smallest-step error).

    python benchmarks/manybody_magnus_order.py --n 10 --t 5
    python benchmarks/manybody_magnus_order.py --schedule table

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

SCHEDULES = {  # [model.schedule] and, for the bulb, mu(0) (a table holds mu itself)
    "bulb": """mu = 50.0
[model.schedule]
kind = "bulb"
radius = 1.0
r0 = 2.0""",
    "table": """[model.schedule]
kind = "table"
times = [0.0, 0.3, 0.7, 1.2, 2.0, 3.1, 5.0]
values = [50.0, 27.56, 14.09, 6.99, 2.81, 1.05, 0.29]""",
}

MODEL_TOML = """
solver = "manybody"
[model]
theta = 0.161
{schedule}
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
#: the yardstick of the cost column: midpoint with equal steps of 0.05 (error ~1e-3 here)
BASELINE = ("midpoint", 0.05, 0.0)
#: longest step of the runs whose steps follow the schedule
CONTROLLED_MAX_STEP = 0.5


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",")]


def run(config, integrator: str, step: float, step_tol: float, tol: float, comm):
    """(final local state, polarizations [T, M, 3], exponentials, products, seconds). Collective."""
    from mpi4py import MPI

    from nmbhpc.manybody.solver import ManyBodySolver

    config = replace(config, model=replace(config.model, mu=replace(config.model.mu, max_step=step)),
                     manybody=replace(config.manybody, time_integrator=integrator, mfn_tol=tol,
                                      time_step_tol=step_tol))
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
    ap.add_argument("--schedule", choices=sorted(SCHEDULES), default="bulb")
    ap.add_argument("--integrators", type=lambda v: v.split(","), default=["midpoint", "cf4", "cf6"],
                    help="integrators of the equal-step rows")
    ap.add_argument("--steps", type=_floats, default=_floats("0.5,0.25,0.125,0.0625,0.03125"),
                    help="model.schedule.max_step values of the equal-step rows")
    ap.add_argument("--step-tols", type=_floats, default=_floats("1e-2,1e-3,1e-4,3e-5,1e-5"),
                    help="manybody.time_step_tol values of the rows whose steps follow mu(t)")
    ap.add_argument("--tol", type=float, default=1e-12, help="mfn_tol of the runs")
    ap.add_argument("--ref-step", type=float, default=0.0078125)
    ap.add_argument("--ref-tol", type=float, default=1e-13)
    args, petsc_args = ap.parse_known_args(argv)

    mt.init_petsc(petsc_args)
    from mpi4py import MPI

    from nmbhpc.config import load_config_text

    comm = MPI.COMM_WORLD
    config = load_config_text(MODEL_TOML.format(schedule=SCHEDULES[args.schedule], n=args.n,
                                                t=args.t, n_out=args.n_out, tol=args.tol))
    ref_state, ref_pol, *_ = run(config, "cf6", args.ref_step, 0.0, args.ref_tol, comm)
    interval = args.t / (args.n_out - 1)
    cases = [(name, step, 0.0) for name in args.integrators for step in args.steps]
    cases += [(name, CONTROLLED_MAX_STEP, st) for name in ("cf4", "cf6") for st in args.step_tols]
    if BASELINE not in cases:
        cases.insert(0, BASELINE)
    rows, previous = [], None
    for integrator, step, step_tol in cases:
        state, pol, n_exp, products, seconds = run(config, integrator, step, step_tol, args.tol, comm)
        err = math.sqrt(comm.allreduce(float(np.sum(np.abs(state - ref_state) ** 2))))
        h = interval / max(1, math.ceil(interval / step - 1e-12))  # MuSchedule.step_edges
        order = ""
        if step_tol == 0.0 and previous is not None and previous[0] == integrator and previous[1] != h:
            order = f"{math.log(previous[2] / err) / math.log(previous[1] / h):.2f}"
        previous = (integrator, h, err) if step_tol == 0.0 else None
        label = f"{h:.4g}" if step_tol == 0.0 else f"tol {step_tol:g}"
        rows.append((integrator, label, err, float(np.max(np.abs(pol - ref_pol))), order,
                     n_exp / args.t, products / args.t, seconds, (integrator, step, step_tol) == BASELINE))
    base = next(r[6] for r in rows if r[8])
    if comm.Get_rank() == 0:
        print(f"{args.schedule} schedule, N = {args.n}, t = 0..{args.t:g} ({args.n_out} output times), "
              f"mfn_tol {args.tol:g}, {comm.Get_size()} rank(s); reference cf6 max_step "
              f"{args.ref_step:g}, mfn_tol {args.ref_tol:g}; x mid.05 = prod/t over midpoint "
              f"with equal steps 0.05 ({base:.1f})")
        print(f"{'integrator':10s} {'step h':>10s} {'|psi-ref|':>10s} {'max|dP|':>10s} "
              f"{'order':>6s} {'exp/t':>7s} {'prod/t':>8s} {'x mid.05':>8s} {'wall s':>7s}")
        for name, label, err, dp, order, exp_t, prod_t, sec, _ in rows:
            print(f"{name:10s} {label:>10s} {err:10.3e} {dp:10.3e} {order:>6s} {exp_t:7.1f} "
                  f"{prod_t:8.1f} {prod_t / base:8.2f} {sec:7.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
