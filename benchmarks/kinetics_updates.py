"""Kinetic solver throughput: updates (cell x direction x energy, both species) per second per core.

Runs the PETSc solver (DMDA + TS RK4) and, in the same process, an independent
plain-numpy implementation of the same equations (upwind5 advection by
``np.roll``, the self-interaction as one ``einsum`` over the (1 - v v')
kernel, vacuum and matter terms, hand-written RK4, no limiter; none of the
package's kernels), and prints both rates and their ratio. The final fields are
compared when the solver runs the same scheme (``--advection upwind5
--limiter none``). Usage:

    python benchmarks/kinetics_updates.py [--nx 256 --n-dir 16 --n-energy 2 --steps 40]
                                          [--advection weno5|upwind5 --limiter conservative|norm|none]
                                          [--n-phi 4 --transverse 32 --repeat 3]
    mpirun -n 2 python benchmarks/kinetics_updates.py

``--transverse N`` (needs ``--n-phi`` >= 2) also times the PETSc solver on the
2D box of N x nx cells (x, z) with the same directions and energies, and
prints its per-core rate and the ratio to the 1D rate of the same run (one
update is then one (cell, v, E) point; the 2D update pays a second advection
sweep); with ``--transverse-y M`` (``--n-phi`` >= 3) the box is the 3D one of
N x M x nx cells.

One "update" is one (x, v, E) point advanced by one full RK4 step (both
species). Per-core rate = updates / (wall time x ranks). The reference runs
serially on rank 0 over the whole grid (axisymmetric grids only: n_phi = 1).
Old-versus-new comparisons of the solver itself: benchmarks/kinetics_commits.py.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from nmbhpc.runtime.stack import init_petsc  # noqa: E402

init_petsc([])
from mpi4py import MPI  # noqa: E402

from nmbhpc.kinetics.grid import initial_block, initial_field  # noqa: E402
from nmbhpc.kinetics.settings import (GridSettings, KineticSettings, NumericsSettings,  # noqa: E402
                                      PerturbationSettings, PhysicsSettings, SpeciesInit,
                                      TimeSettings)
from nmbhpc.kinetics.solver import KineticSolver  # noqa: E402


def settings(nx, n_dir, n_e, steps, numerics=NumericsSettings(), n_phi=1, transverse=1,
             transverse_y=1):
    om = tuple(np.linspace(0.1, 1.0, n_e))
    dt = 0.01
    return KineticSettings(grid=GridSettings(nx=nx, length=50.0, n_dir=n_dir, n_phi=n_phi,
                                             transverse=(transverse, transverse_y),
                                             transverse_length=(50.0 * transverse / nx,
                                                                50.0 * transverse_y / nx)),
                           physics=PhysicsSettings(omega=om, weights=tuple([1.0 / n_e] * n_e),
                                                   theta=0.1, mu=1.0),
                           nu=SpeciesInit(n_e=1.0), nubar=SpeciesInit(n_e=0.8, shape="linear", parameter=0.9),
                           perturbation=PerturbationSettings(kind="random", amplitude=1e-6),
                           time=TimeSettings(t_end=steps * dt, output_interval=steps * dt, dt=dt),
                           numerics=numerics)


# d/dx on offsets -3..+2 (v > 0), times 60 dx: the fifth-order upwind-biased stencil
UPWIND5 = {-3: -2.0, -2: 15.0, -1: -60.0, 0: 20.0, 1: 30.0, 2: -3.0}


def numpy_reference(s, steps):
    """Independent numpy RK4 of the kinetic equations (upwind5, no limiter, no collisions).

    Returns (seconds, final field (nx, 2, nE, n_dir, 4)).
    """
    g, ph = s.grid, s.physics
    if g.n_phi != 1 or ph.collisions.emission_absorption or ph.collisions.scattering:
        raise SystemExit("the numpy reference covers n_phi = 1 without collisions")
    v, w = np.polynomial.legendre.leggauss(g.n_dir)
    w = w / 2.0
    dx, dt = g.length / g.nx, s.time.dt
    kernel = 1.0 - np.outer(v, v)                     # (1 - v_i v_j)
    big_w = np.asarray(ph.weights)
    b = np.array([np.sin(2 * ph.theta), 0.0, -np.cos(2 * ph.theta)])
    eta = np.array([1.0, -1.0])
    h_fixed = eta[:, None, None] * np.asarray(ph.omega)[None, :, None] * b + np.array([0, 0, ph.lam])
    neg, pos = v < 0, v > 0

    def ddx(p):
        """Upwind5 d/dx by the sign of v (periodic): u_{i+k} = roll(p, -k)."""
        fwd = sum(c * np.roll(p, -k, axis=0) for k, c in UPWIND5.items())
        bwd = sum(-c * np.roll(p, k, axis=0) for k, c in UPWIND5.items())
        out = np.empty_like(p)
        out[..., pos, :] = fwd[..., pos, :]
        out[..., neg, :] = bwd[..., neg, :]
        return out / (60.0 * dx)

    def f(p):
        out = -v[None, None, None, :, None] * ddx(p)
        diff = p[:, 0, :, :, 1:] - p[:, 1, :, :, 1:]
        h_self = ph.mu * np.einsum("e,j,ij,xejc->xic", big_w, w, kernel, diff)
        h = h_self[:, None, None, :, :] + h_fixed[None, :, :, None, :]
        out[..., 1:] += np.cross(h, p[..., 1:])
        return out

    p = initial_field(s, 0, g.nx)
    t0 = time.perf_counter()
    for _ in range(steps):
        k1 = f(p)
        k2 = f(p + 0.5 * dt * k1)
        k3 = f(p + 0.5 * dt * k2)
        k4 = f(p + dt * k3)
        p = p + (dt / 6.0) * (k1 + 2 * k2 + 2 * k3 + k4)
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
    ap.add_argument("--limiter", default="conservative", choices=("conservative", "norm", "none"))
    ap.add_argument("--n-phi", type=int, default=1)
    ap.add_argument("--transverse", type=int, default=0,
                    help="also time the 2D box of TRANSVERSE x nx cells (needs --n-phi >= 2)")
    ap.add_argument("--transverse-y", type=int, default=1,
                    help="with --transverse: a 3D box of TRANSVERSE x TRANSVERSE_Y x nx cells "
                         "(needs --n-phi >= 3)")
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
        s2 = settings(a.nx, a.n_dir, a.n_energy, a.steps, numerics, a.n_phi, a.transverse,
                      a.transverse_y)
        cells = a.transverse * a.transverse_y
        walls1, walls2 = [wall], []
        for r in range(a.repeat):
            walls2.append(petsc_run(s2, comm)[0])
            if r + 1 < a.repeat:
                walls1.append(petsc_run(s, comm)[0])
        if comm.Get_rank() == 0:
            rate1 = points * a.steps / min(walls1) / comm.Get_size()
            rate2 = cells * points * a.steps / min(walls2) / comm.Get_size()
            box = (f"3D box {a.transverse} x {a.transverse_y} x {a.nx} cells (x, y, z)"
                   if a.transverse_y > 1 else f"2D box {a.transverse} x {a.nx} cells (x, z)")
            print(f"{box}, n_phi={a.n_phi}: "
                  f"{rate2:12.4g} updates/s/core ({min(walls2):.3f} s); 1D {a.nx} cells: "
                  f"{rate1:12.4g} updates/s/core ({min(walls1):.3f} s); fastest of {a.repeat}; "
                  f"ratio {box[:2]}/1D per update: {rate2 / rate1:.3f}")
    if comm.Get_rank() == 0:
        ref_wall, ref = numpy_reference(s, a.steps)
        petsc_rate = points * a.steps / wall / comm.Get_size()
        ref_rate = points * a.steps / ref_wall
        print(f"grid nx={a.nx} n_dir={a.n_dir} n_phi={a.n_phi} n_E={a.n_energy}, {a.steps} RK4 steps, "
              f"{comm.Get_size()} rank(s), advection {a.advection}, limiter {a.limiter}")
        print(f"  PETSc TS/DMDA : {petsc_rate:12.4g} updates/s/core ({wall:.3f} s)")
        print(f"  numpy (independent, upwind5, no limiter): {ref_rate:12.4g} updates/s/core "
              f"({ref_wall:.3f} s, 1 core)")
        same = a.advection == "upwind5" and a.limiter == "none"
        print(f"  ratio PETSc/numpy per core: {petsc_rate / ref_rate:.3f}; "
              + (f"max |difference| of final fields: {np.abs(field - ref).max():.2e}" if same
                 else "(fields not compared: the solver ran another scheme)"))


if __name__ == "__main__":
    main()
