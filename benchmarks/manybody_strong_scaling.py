"""Strong scaling 1 -> 2 ranks of the exact evolution, robust to a noisy shared machine.

Runs ``benchmarks/manybody_scaling.py`` alternately on 1 and on 2 ranks
(``--repeat`` pairs, the order of each pair flipped every time, so slow
phases of the machine hit both rank counts alike) for each operator, and
prints per operator the median time per product on each rank count, their
ratio (the speed-up) and the ratio of the best
runs. Each run is a separate ``mpirun``: a single run's seconds mean
little on a machine whose load changes by the minute, the medians and
their ratio do.

    python benchmarks/manybody_strong_scaling.py [--n 20] [--t 5] [--repeat 5]
        [--operators separable real shell matrix] [--mpiexec "mpirun -n"]
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
_MS = re.compile(r"evolution ([0-9.eE+-]+) s, (\d+) matvecs, ([0-9.eE+-]+) ms per matvec")
_RSS = re.compile(r"after evolution: ([0-9., MiB]+)")


def one_run(mpiexec: list[str], ranks: int, args) -> tuple[float, int, str]:
    """(ms per product, products, peak RSS text) of one mpirun of manybody_scaling.py."""
    cmd = mpiexec + [str(ranks), sys.executable, os.path.join(HERE, "manybody_scaling.py"),
                     "--n", str(args.n), "--t", str(args.t), "--operator", args.operator]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    m = _MS.search(out.stdout)
    if out.returncode != 0 or m is None:
        sys.stderr.write(out.stdout[-2000:] + out.stderr[-2000:])
        raise SystemExit(f"run failed: {' '.join(cmd)}")
    rss = _RSS.search(out.stdout)
    return float(m.group(3)), int(m.group(2)), rss.group(1).strip() if rss else "?"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--t", type=float, default=5.0)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--operators", nargs="+", default=["separable", "real"])
    ap.add_argument("--mpiexec", default="mpirun --allow-run-as-root --oversubscribe -n",
                    help="launcher prefix; the rank count is appended")
    args = ap.parse_args(argv)
    mpiexec = shlex.split(args.mpiexec)
    print(f"# strong scaling 1 -> 2 ranks, N = {args.n}, t = {args.t}, {args.repeat} pairs per "
          f"operator (alternating order)")
    print(f"{'operator':>10} {'ms/product 1 rank':>18} {'2 ranks':>10} {'median ratio':>13} "
          f"{'best ratio':>11}  products  peak RSS/rank (2 ranks)")
    for op in args.operators:
        args.operator = op
        times = {1: [], 2: []}
        products, rss2 = 0, "?"
        for i in range(args.repeat):
            for ranks in ((1, 2) if i % 2 == 0 else (2, 1)):
                ms, products, rss = one_run(mpiexec, ranks, args)
                times[ranks].append(ms)
                if ranks == 2:
                    rss2 = rss
        m1, m2 = statistics.median(times[1]), statistics.median(times[2])
        print(f"{op:>10} {m1:18.2f} {m2:10.2f} {m1 / m2:13.2f} {min(times[1]) / min(times[2]):11.2f}"
              f"  {products:8d}  {rss2}")
        print(f"{'':>10} all 1-rank: {', '.join(f'{t:.1f}' for t in times[1])}; "
              f"all 2-rank: {', '.join(f'{t:.1f}' for t in times[2])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
