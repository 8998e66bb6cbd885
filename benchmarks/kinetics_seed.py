"""Does the WENO5 scheme act on the seed? weno5 vs its linear scheme upwind5 in the linear phase.

Fiducial distributions (nx = 64, n_dir = 8, a 50/mu box), white-noise seeds of
amplitude 1e-6 and 1e-9, no limiter; prints for each seed and time the largest
off-diagonal amplitude (upwind5) and the largest difference of Px, Py between the
two schemes relative to it. A seed-invariant scheme gives the same relative
difference for both seeds.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/kinetics_seed.py [--times 5 10 14]
"""
from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np
from mpi4py import MPI

from nmbhpc.kinetics import presets
from nmbhpc.kinetics.settings import NumericsSettings, PerturbationSettings
from nmbhpc.kinetics.solver import KineticSolver


def offdiagonal(advection, amplitude, t_end, comm):
    """Collective. Px, Py of the whole box at t_end (rank 0; None elsewhere)."""
    s = presets.richers2022_fiducial(nx=64, n_dir=8, length=50.0, t_end=t_end, output_interval=t_end,
                                     perturbation=PerturbationSettings(kind="random",
                                                                       amplitude=amplitude, seed=1))
    solver = KineticSolver(replace(s, numerics=NumericsSettings(advection, "none")), comm)
    solver.run()
    full = solver.gather_field()
    solver.destroy()
    return None if full is None else full[..., 1:3]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--times", type=float, nargs="+", default=[5.0, 10.0, 14.0])
    a = ap.parse_args()
    comm = MPI.COMM_WORLD
    rows = []
    for amplitude in (1e-6, 1e-9):
        for t in a.times:
            weno, linear = (offdiagonal(adv, amplitude, t, comm) for adv in ("weno5", "upwind5"))
            if comm.Get_rank() == 0:
                scale = np.abs(linear).max()
                rel = np.abs(weno - linear).max() / scale
                rows.append(f"| {amplitude:g} | {t:g} | {scale:.2e} | {rel:.2e} |")
    if comm.Get_rank() == 0:
        print("| seed | t mu | max abs(Px + i Py) | max abs(weno5 - upwind5) / max |")
        print("|---|---|---|---|")
        print("\n".join(rows))


if __name__ == "__main__":
    main()
