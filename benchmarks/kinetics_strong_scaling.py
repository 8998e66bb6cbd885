"""Strong scaling 1 -> 2 ranks of the kinetic solver on a 2D box, robust to a noisy machine.

Runs the 2D measurement of ``benchmarks/kinetics_updates.py`` (``--transverse``:
a box of TRANSVERSE x NX cells in x and z, the same directions and energies on
every cell) alternately on 1 and on 2 ranks, ``--repeat`` pairs with the order
of each pair flipped every time, and prints the median wall time of the timed
steps on each rank count, their ratio (the speed-up) and the ratio of the
best runs. Each run is a separate ``mpirun``.

    python benchmarks/kinetics_strong_scaling.py [--nx 256 --transverse 256 --n-dir 8
        --n-phi 4 --steps 3 --repeat 3] [--mpiexec "mpirun -n"]
"""
from __future__ import annotations

import argparse
import os
import re
import shlex
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
_2D = re.compile(r"2D box .*?: +([0-9.eE+-]+) updates/s/core \(([0-9.]+) s\)")


def one_run(mpiexec: list[str], ranks: int, args) -> float:
    """Wall seconds of the timed 2D steps of one mpirun of kinetics_updates.py."""
    cmd = mpiexec + [str(ranks), sys.executable, os.path.join(HERE, "kinetics_updates.py"),
                     "--nx", str(args.nx), "--transverse", str(args.transverse),
                     "--n-dir", str(args.n_dir), "--n-phi", str(args.n_phi), "--n-energy", "1",
                     "--steps", str(args.steps), "--repeat", "1"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    m = _2D.search(out.stdout)
    if m is None:  # the script's numpy reference refuses n_phi > 1 after printing the 2D line
        sys.stderr.write(out.stdout[-2000:] + out.stderr[-2000:])
        raise SystemExit(f"run failed: {' '.join(cmd)}")
    return float(m.group(2))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nx", type=int, default=256)
    ap.add_argument("--transverse", type=int, default=256)
    ap.add_argument("--n-dir", type=int, default=8)
    ap.add_argument("--n-phi", type=int, default=4)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--mpiexec", default="mpirun --allow-run-as-root --oversubscribe -n",
                    help="launcher prefix; the rank count is appended")
    args = ap.parse_args(argv)
    mpiexec = shlex.split(args.mpiexec)
    walls = {1: [], 2: []}
    for r in range(args.repeat):
        for ranks in ((1, 2) if r % 2 == 0 else (2, 1)):
            walls[ranks].append(one_run(mpiexec, ranks, args))
            print(f"  pair {r + 1}: {ranks} rank(s) {walls[ranks][-1]:.3f} s", flush=True)
    m1, m2 = statistics.median(walls[1]), statistics.median(walls[2])
    print(f"# 2D box {args.transverse} x {args.nx} cells, n_dir {args.n_dir} x n_phi {args.n_phi}, "
          f"{args.steps} RK4 steps, {args.repeat} alternating pairs")
    print(f"median wall 1 rank {m1:.3f} s, 2 ranks {m2:.3f} s: speed-up {m1 / m2:.3f} "
          f"(best runs {min(walls[1]) / min(walls[2]):.3f}); load average "
          f"{os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
