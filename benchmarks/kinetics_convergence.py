"""Order of convergence in x with the positivity limiter on, for pure states (a markdown table).

Free streaming (mu = 0, omega = 0) of a smooth *pure* profile, |P| = P0 everywhere
(P0 = exp(sin y), P = P0 (sin a, 0, cos a), a = 0.8 sin y), so the state sits on
the positivity boundary and every round-off overshoot of the advection is seen by
the limiter; exact solution: the profile shifted by v t along each direction.
Max error over all components and directions after t = 1 (dt = 0.2 dx: the RK4
error is far below the spatial one), and the observed order between successive nx.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/kinetics_convergence.py [--nx 16 32 64 128]
"""
from __future__ import annotations

import argparse

import numpy as np
from mpi4py import MPI

from nmbhpc.kinetics.grid import cell_centres
from nmbhpc.kinetics.settings import (GridSettings, KineticSettings, NumericsSettings,
                                      PerturbationSettings, PhysicsSettings, SpeciesInit,
                                      TimeSettings)
from nmbhpc.kinetics.solver import KineticSolver

LENGTH, T_END = 2.0 * np.pi, 1.0


def profile(y):
    """(..., 4) pure density matrices along y."""
    p0, a = np.exp(np.sin(y)), 0.8 * np.sin(y)
    return np.stack([p0, p0 * np.sin(a), 0.0 * y, p0 * np.cos(a)], axis=-1)


def error(nx, advection, limiter, comm):
    s = KineticSettings(grid=GridSettings(nx=nx, length=LENGTH, n_dir=4),
                        physics=PhysicsSettings(omega=(0.0,), mu=0.0),
                        nu=SpeciesInit(n_e=1.0), nubar=SpeciesInit(n_e=1.0),
                        perturbation=PerturbationSettings(kind="none", amplitude=0.0),
                        time=TimeSettings(t_end=T_END, output_interval=T_END, dt=0.2 * LENGTH / nx),
                        numerics=NumericsSettings(advection=advection, limiter=limiter))
    solver = KineticSolver(s, comm)
    x = cell_centres(s.grid, solver.xs, solver.xe)
    v = solver.rhs.v
    solver.field[...] = profile(x[:, None] + 0.0 * v[None, :])[:, None, None, :, :]
    recs = solver.run()
    got = solver.field.copy()
    want = profile(x[:, None] - v[None, :] * T_END)[:, None, None, :, :]
    solver.destroy()
    err = comm.allreduce(float(np.abs(got - want).max(initial=0.0)), op=MPI.MAX)
    return err, recs[-1].limiter[0], min(r.trace_margin for r in recs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nx", type=int, nargs="+", default=[16, 32, 64, 128])
    a = ap.parse_args()
    comm = MPI.COMM_WORLD
    rows = []
    for advection, limiter in (("upwind5", "none"), ("weno5", "none"), ("weno5", "conservative")):
        prev = None
        for nx in a.nx:
            err, limited, margin = error(nx, advection, limiter, comm)
            order = "" if prev is None else f"{np.log2(prev / err):.2f}"
            rows.append(f"| {advection} | {limiter} | {nx} | {err:.3e} | {order} | {int(limited)} "
                        f"| {margin:.1e} |")
            prev = err
    if comm.Get_rank() == 0:
        print("| scheme | limiter | nx | max error | order | matrices limited | min(P0-abs(P)) |")
        print("|---|---|---|---|---|---|---|")
        print("\n".join(rows))


if __name__ == "__main__":
    main()
