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
import os
import sys

import numpy as np
from mpi4py import MPI

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
from kinetics_cases import fiducial_offdiagonal  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--times", type=float, nargs="+", default=[5.0, 10.0, 14.0])
    a = ap.parse_args()
    comm = MPI.COMM_WORLD
    rows = []
    for amplitude in (1e-6, 1e-9):
        for t in a.times:
            weno, linear = (fiducial_offdiagonal(comm, adv, amplitude, t) for adv in ("weno5", "upwind5"))
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
