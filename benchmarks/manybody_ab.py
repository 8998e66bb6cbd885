"""Time per H product of two source trees side by side (e.g. main against a branch).

Runs ``manybody_products.py`` (this directory's) with each tree first on
PYTHONPATH, alternately A B, B A, A B, ..., for every operator kind and rank
count asked for, and prints the medians over the runs of the per-product
wall and CPU times each run reports, the wall and CPU times of its build
(the operator's count and fill walks) and of one record's observables, and the
ratios B / A. One warm-up run per tree and kind first (it compiles the numba
kernels into the tree's cache and is not counted).

    python benchmarks/manybody_ab.py --a /tmp/main --b . --operators separable real shell \\
        --ranks 1 2 --pairs 5 --n 20

On a loaded machine the CPU time (of the calling thread) is the figure to
compare; other processes inflate the wall time of both trees, unevenly.
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys

PER_PRODUCT = re.compile(r"([0-9.eE+-]+) ms wall per product, ([0-9.eE+-]+) ms cpu per product"
                         r"; build ([0-9.eE+-]+) s wall, ([0-9.eE+-]+) s cpu; observables "
                         r"([0-9.eE+-]+) s wall, ([0-9.eE+-]+) s cpu; nmbhpc from (.+)")
#: what each run reports, in the order of PER_PRODUCT's groups
FIGURES = ("wall", "cpu", "build wall", "build cpu", "observables wall", "observables cpu")
SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "manybody_products.py")


def run_once(tree: str, operator: str, ranks: int, n: int) -> tuple[float, ...]:
    """FIGURES of one run against ``tree``: (wall, cpu) ms per product, (wall, cpu) s of the
    build and of one record's observables."""
    cmd = [sys.executable, SCRIPT, "--n", str(n), "--operator", operator]
    if ranks > 1:
        cmd = ["mpirun", "--allow-run-as-root", "--oversubscribe", "-n", str(ranks)] + cmd
    env = dict(os.environ, PYTHONPATH=os.path.abspath(tree))
    out = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, check=True)
    found = PER_PRODUCT.search(out.stdout)
    if found is None:
        raise RuntimeError(f"no timing in the output of {cmd}:\n{out.stdout}\n{out.stderr}")
    *figures, imported = found.groups()
    if os.path.realpath(imported.strip()) != os.path.realpath(tree):
        raise RuntimeError(f"{cmd} with PYTHONPATH={tree} imported nmbhpc from {imported}")
    return tuple(float(g) for g in figures)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--a", required=True, help="source tree A (the reference)")
    ap.add_argument("--b", required=True, help="source tree B")
    ap.add_argument("--operators", nargs="+", default=["separable", "real", "shell"])
    ap.add_argument("--ranks", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--n", type=int, default=20)
    args = ap.parse_args(argv)

    trees = {"A": args.a, "B": args.b}
    for op in args.operators:
        for tree in trees.values():
            run_once(tree, op, 1, args.n)
    rows = []
    for op in args.operators:
        for ranks in args.ranks:
            runs = {"A": [], "B": []}
            for i in range(args.pairs):
                for name in ("A", "B") if i % 2 == 0 else ("B", "A"):
                    runs[name].append(run_once(trees[name], op, ranks, args.n))
            med = {name: [statistics.median(r[k] for r in runs[name]) for k in range(len(FIGURES))]
                   for name in runs}
            rows.append((op, ranks, med))
            print(f"{op:10s} ranks {ranks}: " + "; ".join(
                f"{f} A {med['A'][k]:.4g} B {med['B'][k]:.4g} (B/A {med['B'][k] / med['A'][k]:.3f})"
                for k, f in enumerate(FIGURES)) + f"; cpu runs "
                f"A {', '.join(f'{r[1]:.2f}' for r in runs['A'])}; "
                f"B {', '.join(f'{r[1]:.2f}' for r in runs['B'])}; build cpu runs "
                f"A {', '.join(f'{r[3]:.3f}' for r in runs['A'])}; "
                f"B {', '.join(f'{r[3]:.3f}' for r in runs['B'])}", flush=True)
    print(f"\n# N = {args.n}, medians of {args.pairs} alternating pairs (each run: median of "
          f"its products; ms per H product, s per build and per record's observables)\n"
          f"# A = {args.a}\n# B = {args.b}")
    print("| operator | ranks | cpu A | cpu B | cpu B/A | wall A | wall B | wall B/A "
          "| build cpu A | build cpu B | build cpu B/A "
          "| observables cpu A | observables cpu B | observables cpu B/A |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for op, ranks, med in rows:
        a, b = med["A"], med["B"]
        print(f"| {op} | {ranks} | {a[1]:.3f} | {b[1]:.3f} | {b[1] / a[1]:.3f} | "
              f"{a[0]:.3f} | {b[0]:.3f} | {b[0] / a[0]:.3f} | "
              f"{a[3]:.3f} | {b[3]:.3f} | {b[3] / a[3]:.3f} | "
              f"{a[5]:.4f} | {b[5]:.4f} | {b[5] / a[5]:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
