"""Kinetic solver throughput: updates (cell x direction x energy, both species) per second per core.

Runs the PETSc solver (DMDA + TS RK4) and, in the same process, a plain-numpy
reference of the same equations and scheme (periodic ghosts by np.take, the
same KineticRHS kernel, hand-written RK4), and prints both rates and their
ratio. Usage:

    python benchmarks/kinetics_updates.py [--nx 256 --n-dir 16 --n-energy 2 --steps 40]
                                          [--advection weno5|upwind5 --limiter norm|none]
                                          [--n-phi 4 --transverse 32 --repeat 3]
    mpirun -n 2 python benchmarks/kinetics_updates.py

``--transverse N`` (needs ``--n-phi`` >= 2) also times the PETSc solver on the
2D box of N x nx cells (x, z) with the same directions and energies, and
prints its per-core rate and the ratio to the 1D rate of the same run (one
update is then one (cell, v, E) point; the 2D update pays a second advection
sweep).

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
from nmbhpc.kinetics.grid import initial_block, initial_field  # noqa: E402
from nmbhpc.kinetics.rhs import STENCIL_WIDTH, KineticRHS  # noqa: E402
from nmbhpc.kinetics.settings import (GridSettings, KineticSettings, NumericsSettings,  # noqa: E402
                                      PerturbationSettings, PhysicsSettings, SpeciesInit,
                                      TimeSettings)
from nmbhpc.kinetics.solver import KineticSolver  # noqa: E402


def settings(nx, n_dir, n_e, steps, numerics=NumericsSettings(), n_phi=1, transverse=1):
    om = tuple(np.linspace(0.1, 1.0, n_e))
    dt = 0.01
    return KineticSettings(grid=GridSettings(nx=nx, length=50.0, n_dir=n_dir, n_phi=n_phi,
                                             transverse=(transverse, 1),
                                             transverse_length=(50.0 * transverse / nx, 1.0)),
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


def petsc_run(s, comm):
    """Collective. (wall seconds of the timed steps, gathered final field) of the PETSc solver."""
    solver = KineticSolver(s, comm)
    solver.advance_to(solver.dt)  # warm-up step (first-call allocations, numba compilation)
    solver.set_state(0.0, initial_block(s, solver.lo, solver.hi))
    solver.dt = s.time.dt
    comm.Barrier()
    t0 = time.perf_counter()
    solver.advance_to(s.time.t_end)
    comm.Barrier()
    wall = time.perf_counter() - t0
    field = solver.gather_field()
    solver.destroy()
    return wall, field


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nx", type=int, default=256)
    ap.add_argument("--n-dir", type=int, default=16)
    ap.add_argument("--n-energy", type=int, default=2)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--advection", default="weno5", choices=("weno5", "upwind5"))
    ap.add_argument("--limiter", default="norm", choices=("norm", "none"))
    ap.add_argument("--n-phi", type=int, default=1)
    ap.add_argument("--transverse", type=int, default=0,
                    help="also time the 2D box of TRANSVERSE x nx cells (needs --n-phi >= 2)")
    ap.add_argument("--repeat", type=int, default=3,
                    help="with --transverse: interleaved 1D/2D runs, the fastest of each counts")
    a = ap.parse_args()
    comm = MPI.COMM_WORLD
    numerics = NumericsSettings(a.advection, a.limiter)
    s = settings(a.nx, a.n_dir, a.n_energy, a.steps, numerics, a.n_phi)
    wall, field = petsc_run(s, comm)
    points = a.nx * a.n_dir * a.n_phi * a.n_energy
    if a.transverse:
        # interleaved 1D and 2D runs, fastest of --repeat each: the ratio is what a shared
        # machine can measure
        s2 = settings(a.nx, a.n_dir, a.n_energy, a.steps, numerics, a.n_phi, a.transverse)
        walls1, walls2 = [wall], []
        for r in range(a.repeat):
            walls2.append(petsc_run(s2, comm)[0])
            if r + 1 < a.repeat:
                walls1.append(petsc_run(s, comm)[0])
        if comm.Get_rank() == 0:
            rate1 = points * a.steps / min(walls1) / comm.Get_size()
            rate2 = a.transverse * points * a.steps / min(walls2) / comm.Get_size()
            print(f"2D box {a.transverse} x {a.nx} cells (x, z), n_phi={a.n_phi}: "
                  f"{rate2:12.4g} updates/s/core ({min(walls2):.3f} s); 1D {a.nx} cells: "
                  f"{rate1:12.4g} updates/s/core ({min(walls1):.3f} s); fastest of {a.repeat}; "
                  f"ratio 2D/1D per update: {rate2 / rate1:.3f}")
    if comm.Get_rank() == 0:
        ref_wall, ref = numpy_reference(s, a.steps)
        petsc_rate = points * a.steps / wall / comm.Get_size()
        ref_rate = points * a.steps / ref_wall
        print(f"grid nx={a.nx} n_dir={a.n_dir} n_phi={a.n_phi} n_E={a.n_energy}, {a.steps} RK4 steps, "
              f"{comm.Get_size()} rank(s), advection {a.advection}, limiter {a.limiter}")
        print(f"  PETSc TS/DMDA : {petsc_rate:12.4g} updates/s/core ({wall:.3f} s)")
        print(f"  numpy reference: {ref_rate:12.4g} updates/s/core ({ref_wall:.3f} s, 1 core)")
        print(f"  ratio PETSc/numpy per core: {petsc_rate / ref_rate:.3f}; "
              f"max |difference| of final fields: {np.abs(field - ref).max():.2e}")


if __name__ == "__main__":
    main()
