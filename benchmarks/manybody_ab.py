"""Time per H product of two source trees side by side (e.g. main against a branch).

Runs ``benchmarks/manybody_scaling.py`` of each tree (with that tree first on
PYTHONPATH) alternately, A B, B A, A B, ..., for every operator kind and rank
count asked for, and prints the medians of the "ms per matvec" each run
reports and the ratio B / A per case. One warm-up run per tree and kind first
(it compiles the numba kernels into the tree's cache and is not counted).

    python benchmarks/manybody_ab.py --a /tmp/main --b . --operators separable real shell \\
        --ranks 1 2 --pairs 5 --n 20

Run on a quiet machine if you can: other load shows up in both columns, but
not evenly.
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys

PER_MATVEC = re.compile(r"([0-9.eE+-]+) ms per matvec")


def run_once(tree: str, operator: str, ranks: int, n: int, t: float) -> float:
    """ms per matvec of one run of ``tree``'s scaling benchmark."""
    script = os.path.join(tree, "benchmarks", "manybody_scaling.py")
    cmd = [sys.executable, script, "--n", str(n), "--t", str(t), "--operator", operator]
    if ranks > 1:
        cmd = ["mpirun", "--allow-run-as-root", "--oversubscribe", "-n", str(ranks)] + cmd
    env = dict(os.environ, PYTHONPATH=os.path.abspath(tree))
    out = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, check=True)
    found = PER_MATVEC.search(out.stdout)
    if found is None:
        raise RuntimeError(f"no 'ms per matvec' in the output of {cmd}:\n{out.stdout}\n{out.stderr}")
    return float(found.group(1))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--a", required=True, help="source tree A (the reference)")
    ap.add_argument("--b", required=True, help="source tree B")
    ap.add_argument("--operators", nargs="+", default=["separable", "real", "shell"])
    ap.add_argument("--ranks", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--t", type=float, default=1.0)
    args = ap.parse_args(argv)

    trees = {"A": args.a, "B": args.b}
    for op in args.operators:
        for tree in trees.values():
            run_once(tree, op, 1, args.n, args.t)
    rows = []
    for op in args.operators:
        for ranks in args.ranks:
            times = {"A": [], "B": []}
            for i in range(args.pairs):
                for name in ("A", "B") if i % 2 == 0 else ("B", "A"):
                    times[name].append(run_once(trees[name], op, ranks, args.n, args.t))
            a, b = statistics.median(times["A"]), statistics.median(times["B"])
            rows.append((op, ranks, a, b, times))
            print(f"{op:10s} ranks {ranks}: A {a:.3f} ms, B {b:.3f} ms, B/A {b / a:.3f}   "
                  f"(A {', '.join(f'{x:.2f}' for x in times['A'])}; "
                  f"B {', '.join(f'{x:.2f}' for x in times['B'])})", flush=True)
    print(f"\n# ms per H product, N = {args.n}, medians of {args.pairs} alternating pairs")
    print(f"# A = {args.a}\n# B = {args.b}")
    print("| operator | ranks | A (ms) | B (ms) | B / A |")
    print("|---|---|---|---|---|")
    for op, ranks, a, b, _ in rows:
        print(f"| {op} | {ranks} | {a:.3f} | {b:.3f} | {b / a:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
