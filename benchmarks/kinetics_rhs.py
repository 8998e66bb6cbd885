"""The kinetic right-hand side alone: another source tree's against this one's, in one process.

Loads the other tree's ``nmbhpc`` (e.g. an older commit, exported with
``git archive c2c2b80 nmbhpc | tar -x -C /tmp/kin-old``) under the name
``nmbhpc_other`` next to this tree's, builds the Fiducial state of this tree's
solver after a few steps (serial; nx = 256, n_dir = 16, one energy by default),
and evaluates both trees' ``KineticRHS(settings)(u)`` on the very same ghosted
array, alternating: ``--rounds`` rounds of ``--calls`` calls each (after one
untimed call of each: numba compilation), medians of the per-round medians. Both
with ``--advection`` (default weno5, the default of both trees). Prints ms per
call, their ratio and max |F_this - F_other| with max |F| and max |u| for scale: the
two kernels are to agree to round-off of the terms that make F (O(max |u|) face
values and h x P; F itself is small in the linear phase), where the numerics are the
same in both trees.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/kinetics_rhs.py --old /tmp/kin-old \\
        [--nx 256 --n-dir 16 --rounds 7 --calls 50 --advection weno5]
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import importlib.util
import os
import statistics
import sys
import time

import numpy as np


def load_other(tree: str):
    """The package ``nmbhpc`` of ``tree`` as ``nmbhpc_other`` (its kinetics modules import
    each other relatively, so they stay within that tree)."""
    init = os.path.join(tree, "nmbhpc", "__init__.py")
    spec = importlib.util.spec_from_file_location(
        "nmbhpc_other", init, submodule_search_locations=[os.path.dirname(init)])
    module = importlib.util.module_from_spec(spec)
    sys.modules["nmbhpc_other"] = module
    spec.loader.exec_module(module)
    return (importlib.import_module("nmbhpc_other.kinetics.rhs"),
            importlib.import_module("nmbhpc_other.kinetics.presets"),
            importlib.import_module("nmbhpc_other.kinetics.settings"))


def with_advection(settings, settings_module, advection):
    numerics = settings_module.NumericsSettings(advection, settings.numerics.limiter)
    return dataclasses.replace(settings, numerics=numerics)


def median_ms(f, calls):
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", required=True, help="path of the other source tree (holding nmbhpc/)")
    ap.add_argument("--nx", type=int, default=256)
    ap.add_argument("--n-dir", type=int, default=16)
    ap.add_argument("--advection", choices=("weno5", "upwind5"), default="weno5")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--calls", type=int, default=50)
    args = ap.parse_args()

    from mpi4py import MPI

    from nmbhpc.kinetics import presets, settings as this_settings
    from nmbhpc.kinetics.rhs import KineticRHS
    from nmbhpc.kinetics.solver import KineticSolver

    other_rhs, other_presets, other_settings = load_other(args.old)
    kw = dict(nx=args.nx, n_dir=args.n_dir, t_end=1e3, output_interval=1e3)
    s_this = with_advection(presets.richers2022_fiducial(**kw), this_settings, args.advection)
    s_other = with_advection(other_presets.richers2022_fiducial(**kw), other_settings,
                             args.advection)
    solver = KineticSolver(s_this, MPI.COMM_SELF)
    solver.advance_to(3 * solver.dt)
    solver.da.globalToLocal(solver.X, solver._Xl)
    u = solver._Xl.getArray().view(np.float64).reshape(solver._ghosted + solver.cell_shape).copy()
    solver.destroy()

    new, old = KineticRHS(s_this), other_rhs.KineticRHS(s_other)
    f_new, f_old = new(u), old(u)
    diff, scale = float(np.abs(f_new - f_old).max()), float(np.abs(f_old).max())
    rounds = {"old": [], "new": []}
    for _ in range(args.rounds):
        rounds["old"].append(median_ms(lambda: old(u), args.calls))
        rounds["new"].append(median_ms(lambda: new(u), args.calls))
    med = {k: statistics.median(v) for k, v in rounds.items()}
    print(f"RHS alone, Fiducial nx={args.nx} n_dir={args.n_dir} {args.advection}, {args.rounds} "
          f"alternating rounds of {args.calls} calls: old {med['old']:.4f} ms, new "
          f"{med['new']:.4f} ms (medians); old/new = {med['old'] / med['new']:.2f}; "
          f"max|F_new - F_old| = {diff:.2e} (max|F| = {scale:.2e}, max|u| = "
          f"{np.abs(u).max():.2e}); load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
