"""Kinetic solver throughput: updates (cell x direction x energy, both species) per second per core.

Runs the PETSc solver (DMDA + TS RK4) and, in the same process, a plain-numpy
reference of the same equations and scheme (periodic ghosts by np.take, the
same KineticRHS kernel, hand-written RK4), and prints both rates and their
ratio. Usage:

    python benchmarks/kinetics_updates.py [--nx 256 --n-dir 16 --n-energy 2 --steps 40]
                                          [--advection weno5|upwind5 --limiter norm|none]
    mpirun -n 2 python benchmarks/kinetics_updates.py

The reference applies the same positivity limiter after every step.

One "update" is one (x, v, E) point advanced by one full RK4 step (both
species). Per-core rate = updates / (wall time x ranks). The reference runs
serially on rank 0 over the whole grid.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from nmbhpc.stack import init_petsc  # noqa: E402

init_petsc([])
from mpi4py import MPI  # noqa: E402

from nmbhpc.kinetics import positivity  # noqa: E402
from nmbhpc.kinetics.grid import initial_field  # noqa: E402
from nmbhpc.kinetics.rhs import STENCIL_WIDTH, KineticRHS  # noqa: E402
from nmbhpc.kinetics.settings import (GridSettings, KineticSettings, NumericsSettings,  # noqa: E402
                                      PerturbationSettings, PhysicsSettings, SpeciesInit,
                                      TimeSettings)
from nmbhpc.kinetics.solver import KineticSolver  # noqa: E402


def settings(nx, n_dir, n_e, steps, numerics=NumericsSettings()):
    om = tuple(np.linspace(0.1, 1.0, n_e))
    dt = 0.01
    return KineticSettings(grid=GridSettings(nx=nx, length=50.0, n_dir=n_dir),
                           physics=PhysicsSettings(omega=om, weights=tuple([1.0 / n_e] * n_e),
                                                   theta=0.1, mu=1.0),
                           nu=SpeciesInit(n_e=1.0), nubar=SpeciesInit(n_e=0.8, shape="linear", parameter=0.9),
                           perturbation=PerturbationSettings(kind="random", amplitude=1e-6),
                           time=TimeSettings(t_end=steps * dt, output_interval=steps * dt, dt=dt),
                           numerics=numerics)


def numpy_reference(s, steps):
    """Plain numpy RK4 of the same semi-discrete system; returns (seconds, final field)."""
    rhs = KineticRHS(s)
    nx, g = s.grid.nx, STENCIL_WIDTH
    idx = np.arange(-g, nx + g) % nx
    p = initial_field(s, 0, nx)
    dt = s.time.dt

    def f(q):
        return rhs(np.take(q, idx, axis=0))

    t0 = time.perf_counter()
    for _ in range(steps):
        k1 = f(p)
        k2 = f(p + 0.5 * dt * k1)
        k3 = f(p + 0.5 * dt * k2)
        k4 = f(p + dt * k3)
        p = p + (dt / 6.0) * (k1 + 2 * k2 + 2 * k3 + k4)
        if s.numerics.limiter == "norm":
            positivity.limit(p)
    return time.perf_counter() - t0, p


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nx", type=int, default=256)
    ap.add_argument("--n-dir", type=int, default=16)
    ap.add_argument("--n-energy", type=int, default=2)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--advection", default="weno5", choices=("weno5", "upwind5"))
    ap.add_argument("--limiter", default="norm", choices=("norm", "none"))
    a = ap.parse_args()
    comm = MPI.COMM_WORLD
    s = settings(a.nx, a.n_dir, a.n_energy, a.steps, NumericsSettings(a.advection, a.limiter))
    solver = KineticSolver(s, comm)
    solver.advance_to(solver.dt)  # warm-up step (first-call allocations)
    solver.set_state(0.0, initial_field(s, solver.xs, solver.xe))
    solver.dt = s.time.dt
    comm.Barrier()
    t0 = time.perf_counter()
    solver.advance_to(s.time.t_end)
    comm.Barrier()
    wall = time.perf_counter() - t0
    field = solver.gather_field()
    solver.destroy()
    points = a.nx * a.n_dir * a.n_energy
    if comm.Get_rank() == 0:
        ref_wall, ref = numpy_reference(s, a.steps)
        petsc_rate = points * a.steps / wall / comm.Get_size()
        ref_rate = points * a.steps / ref_wall
        print(f"grid nx={a.nx} n_dir={a.n_dir} n_E={a.n_energy}, {a.steps} RK4 steps, "
              f"{comm.Get_size()} rank(s), advection {a.advection}, limiter {a.limiter}")
        print(f"  PETSc TS/DMDA : {petsc_rate:12.4g} updates/s/core ({wall:.3f} s)")
        print(f"  numpy reference: {ref_rate:12.4g} updates/s/core ({ref_wall:.3f} s, 1 core)")
        print(f"  ratio PETSc/numpy per core: {petsc_rate / ref_rate:.3f}; "
              f"max |difference| of final fields: {np.abs(field - ref).max():.2e}")


if __name__ == "__main__":
    main()
