#!/usr/bin/env python3
"""Numerics checks of experiment C (docs/experiments-hierarchy.md, C): one localised or
homogeneous run with a changed nx, limiter or phase_step, and its distance to a reference.

    mpirun -n 2 python jobs/hierarchy/localised_check.py MU SIGMA_OVER_L NX OUT.npz \\
        [--limiter none] [--advection upwind5] [--phase-step 0.02] [--reference REF.npz]

OUT.npz (time, pee_nu; refused if it exists) is written by rank 0; rank 0 prints the
positivity margin, the limiter totals, P_ee(t_end), and with --reference (a run file of this
script or a ``runs/run_NNNN.npz`` of experiment C, same output times) max_t |P_ee - P_ee^ref|
and the first time it reaches 0.01. Box, theta and t_end are those of the default size.
"""
import argparse
import dataclasses
import os
import sys

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("mu", type=float)
    ap.add_argument("sigma_over_L", type=float, help="0 = homogeneous")
    ap.add_argument("nx", type=int)
    ap.add_argument("out")
    ap.add_argument("--limiter")
    ap.add_argument("--advection")
    ap.add_argument("--phase-step", type=float)
    ap.add_argument("--reference")
    args = ap.parse_args(argv)
    if os.path.exists(args.out):
        sys.exit(f"error: {args.out} exists (not overwritten)")

    from mpi4py import MPI
    from nmbhpc.runtime.stack import init_petsc
    init_petsc([])
    from nmbhpc.analysis.hierarchy_experiments import localised

    comm = MPI.COMM_WORLD
    row = dict(localised.parameter_table("default")[0], mu=args.mu,
               sigma_over_L=args.sigma_over_L, nx=args.nx)
    s = localised.settings(row)
    numerics = {k: v for k, v in (("limiter", args.limiter), ("advection", args.advection)) if v}
    if numerics:
        s = dataclasses.replace(s, numerics=dataclasses.replace(s.numerics, **numerics))
    if args.phase_step:
        s = dataclasses.replace(s, time=dataclasses.replace(s.time, phase_step=args.phase_step))
    res = localised.run_one(row, comm, s)
    if comm.Get_rank() == 0:
        np.savez(args.out, time=res["time"], pee_nu=res["pee_nu"])
        line = (f"min(P0-|P|) {res['trace_margin'].min():.3g}  limiter (limited, overshoot, dPz) "
                f"{res['limiter'][-1].tolist()}  P_ee(t_end) {res['pee_nu'][-1]:.4f}")
        if args.reference:
            ref = np.load(args.reference)
            d = np.abs(res["pee_nu"] - ref["pee_nu"])
            far = np.nonzero(d >= 0.01)[0]
            line += (f"  max|P_ee - ref| {d.max():.3g}  first >= 0.01 at t = "
                     f"{res['time'][far[0]] if len(far) else 'never'}")
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
