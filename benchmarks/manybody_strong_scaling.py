"""Strong scaling 1 -> 2 ranks of the exact evolution, robust to a noisy shared machine.

Runs ``benchmarks/manybody_scaling.py`` alternately on 1 and on 2 ranks
(``--repeat`` rounds, the order within each round flipped every time, so
slow phases of the machine hit both rank counts alike) for each operator,
and prints per operator the median time per product on each rank count,
their ratio (the speed-up) and the ratio of the best runs. Each run is a
separate ``mpirun``: a single run's seconds mean little on a machine whose
load changes by the minute, the medians and their ratio do.

``--trees A=/path/a B=/path/b`` compares source trees side by side: every
round runs each tree on 1 and on 2 ranks (each tree's own script and
package, through PYTHONPATH), in an order flipped every round.

    python benchmarks/manybody_strong_scaling.py [--n 20] [--t 5] [--repeat 5]
        [--operators separable real shell matrix] [--mpiexec "mpirun -n"]
        [--trees main=/path/to/main branch=.]
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
sys.path.insert(0, HERE)

import manybody_tools as mt  # noqa: E402

_MS = re.compile(r"evolution ([0-9.eE+-]+) s, (\d+) matvecs, ([0-9.eE+-]+) ms per matvec")
_RSS = re.compile(r"after evolution: ([0-9., MiB]+)")


def one_run(mpiexec: list[str], ranks: int, args, tree: str | None = None
            ) -> tuple[float, int, str]:
    """(ms per product, products, peak RSS text) of one mpirun of manybody_scaling.py,
    from the source tree ``tree`` (None: this one)."""
    script = os.path.join(HERE if tree is None else os.path.join(tree, "benchmarks"),
                          "manybody_scaling.py")
    cmd = mpiexec + [str(ranks), sys.executable, script,
                     "--n", str(args.n), "--t", str(args.t), "--operator", args.operator]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, env=mt.tree_env(tree))
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
    ap.add_argument("--trees", nargs="+", default=[], metavar="NAME=PATH",
                    help="source trees to compare side by side (default: this one)")
    args = ap.parse_args(argv)
    mpiexec = shlex.split(args.mpiexec)
    trees = mt.parse_trees(ap, args.trees, needs=os.path.join("benchmarks", "manybody_scaling.py"))
    runs = [(tree, ranks) for tree in range(len(trees)) for ranks in (1, 2)]
    print(f"# strong scaling 1 -> 2 ranks, N = {args.n}, t = {args.t}, {args.repeat} rounds per "
          f"operator (alternating order)")
    print(f"{'operator':>10} {'tree':>8} {'ms/product 1 rank':>18} {'2 ranks':>10} "
          f"{'median ratio':>13} {'best ratio':>11}  products  peak RSS/rank (2 ranks)")
    for op in args.operators:
        args.operator = op
        times = {run: [] for run in runs}
        products, rss2 = 0, {}
        for i in range(args.repeat):
            for tree, ranks in (runs if i % 2 == 0 else runs[::-1]):
                ms, products, rss = one_run(mpiexec, ranks, args, trees[tree][1])
                times[tree, ranks].append(ms)
                if ranks == 2:
                    rss2[tree] = rss
        for tree, (name, _) in enumerate(trees):
            t1, t2 = times[tree, 1], times[tree, 2]
            m1, m2 = statistics.median(t1), statistics.median(t2)
            print(f"{op:>10} {name or '.':>8} {m1:18.2f} {m2:10.2f} {m1 / m2:13.2f} "
                  f"{min(t1) / min(t2):11.2f}  {products:8d}  {rss2.get(tree, '?')}")
            print(f"{'':>19} all 1-rank: {', '.join(f'{t:.1f}' for t in t1)}; "
                  f"all 2-rank: {', '.join(f'{t:.1f}' for t in t2)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
