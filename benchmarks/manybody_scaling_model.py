"""Scaling model of the many-body products: measured against counted, then predicted.

Four parts (docs/performance.md, "Scaling model"), all on the benchmark model
(manybody_tools.model_config: N one-neutrino modes, multi-angle couplings, the
half-filled sector):

``measured``  builds the "real" and "separable" operators under
              ``mpirun -n P`` for each P of ``--ranks`` (one MPI job each,
              launched from here; oversubscribed: only counts are read, no
              times) and prints, per N, operator and P, the measured per-rank
              counts next to scaling_model.exact_counts, how many ranks agree
              in every count, and the ranks that do not; then the model alone
              up to ``--model-ranks``. Exit status 1 if any rank disagrees or
              an MPI job fails (the solver's memory check refuses P ranks
              when the node lacks the memory: each rank holds the whole stack).
``splits``    counts the separable operator's even and cost-balanced
              intermediate splits side by side (scaling_model.exact_counts).
``cost``      times products on one rank (CPU time of the calling thread, the
              median of ``--products``) and prints seconds per entry: per
              off-diagonal non-zero of A ("real"), per ladder-map entry
              ("separable").
``predict``   measures the cost as ``cost`` does (or takes
              ``--seconds-per-entry real=...,separable=...``) and prints the time
              per product for N = ``--n`` on ``--cores`` ranks from
              scaling_model.sampled_counts and the stated network.

    python benchmarks/manybody_scaling_model.py measured --n 16 18 --ranks 1 2 4 8 16 32 64
    python benchmarks/manybody_scaling_model.py splits --n 20 --ranks 2 4 16 64
    python benchmarks/manybody_scaling_model.py predict --n 30 32 34 36

Run it with plain python (it starts its own MPI jobs for ``measured``).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from nmbhpc.manybody import real_operator, scaling_model as sm, separable_operator  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OPERATORS = ("real", "separable")
KEYS = {"real": ("rows", "diag_upper", "off_block", "nonzeros", "ghosts", "messages"),
        "separable": ("rows", "intermediate_rows", "local_entries", "ghost_entries", "ghosts",
                      "messages")}
#: bytes per stored entry of the benchmark model (one-neutrino modes, <= 256 values)
STORED_BYTES = {"real": real_operator.BYTES_PER_NNZ["uint8"],
                "separable": separable_operator.BYTES_PER_ENTRY_QUBIT}
#: bytes per ghost: ghost Vec, scatter buffer and index (real_operator.memory_bytes);
#: x and y ghosts with their send and receive buffers (separable_operator.separable_bytes)
GHOST_BYTES = {"real": 36, "separable": 64}


def _build(n: int, operator: str, comm):
    sys.path.insert(0, HERE)
    import manybody_tools as mt

    solver, _ = mt.build_timed(mt.model_config(n, operator=operator), comm)
    return solver


def measure_job(ns, out_path) -> int:
    """Under mpirun: build each operator for each N, read its counts, gather on rank 0."""
    sys.path.insert(0, HERE)
    import manybody_tools as mt

    mt.init_petsc([])
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    results = []
    for n in ns:
        for operator in OPERATORS:
            solver = _build(n, operator, comm)
            try:
                counts = sm.measured_counts(solver.A)
                sectors = (solver.basis.n_modes, solver.basis.kmin, solver.basis.kmax)
            finally:
                solver.destroy()
            gathered = comm.gather(counts, root=0)
            if comm.Get_rank() == 0:
                results.append({"n": n, "operator": operator, "sectors": sectors,
                                "ranks": gathered})
    if comm.Get_rank() == 0:
        with open(out_path, "w") as fh:
            json.dump(results, fh)
    return 0


def _mpirun(n_ranks: int) -> list:
    cmd = ["mpirun", "-n", str(n_ranks), "--oversubscribe"]
    if os.geteuid() == 0:
        cmd.append("--allow-run-as-root")
    return cmd


def measured(args) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMPI_", "PMIX_"))}
    rows, failed = [], []
    for p in args.ranks:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "counts.json")
            cmd = _mpirun(p) + [sys.executable, os.path.abspath(__file__), "_measure_job",
                               "--out", path, "--n", *map(str, args.n)]
            t0 = time.perf_counter()
            if subprocess.run(cmd, env=env).returncode != 0:
                print(f"# {p} ranks: the MPI job failed; nothing counted", flush=True)
                failed.append(p)
                continue
            with open(path) as fh:
                runs = json.load(fh)
        agreed = []
        for run in runs:
            sectors = sm.QubitSectors(*run["sectors"])
            model = sm.exact_counts(sectors, p, run["operator"])
            agree = sum(all(int(r[k]) == int(model[k][i]) for k in KEYS[run["operator"]])
                        for i, r in enumerate(run["ranks"]))
            rows.append((run["n"], run["operator"], p, run["ranks"], model, agree))
            agreed.append(f"N = {run['n']} {run['operator']} {agree} / {p}")
        print(f"# {p} ranks: built and counted in {time.perf_counter() - t0:.0f} s; ranks equal "
              f"in every count: {', '.join(agreed)}", flush=True)
    print("\nMeasured (operator's own arrays and ghost exchange) against counted "
          "(scaling_model.exact_counts), per rank; max and sum over ranks:")
    print("| N | operator | P | ranks equal in every count | max work, measured / model | "
          "max ghosts, measured / model | sum ghosts, measured / model | "
          "max messages, measured / model |")
    print("|---|---|---|---|---|---|---|---|")
    for n, op, p, ranks, model, agree in rows:
        work = [r["nonzeros"] if op == "real" else r["local_entries"] + r["ghost_entries"]
                for r in ranks]
        ghosts = [r["ghosts"] for r in ranks]
        msgs = [r["messages"] for r in ranks]
        print(f"| {n} | {op} | {p} | {agree} / {p} | {max(work)} / {int(model.work.max())} | "
              f"{max(ghosts)} / {int(model['ghosts'].max())} | {sum(ghosts)} / "
              f"{int(model['ghosts'].sum())} | {max(msgs)} / {int(model['messages'].max())} |")
    print(f"\nCounted only, up to {args.model_ranks} ranks (max over ranks; ghosts per owned "
          "row):")
    print("| N | operator | P | max work | max ghosts | max ghosts / rows | max messages |")
    print("|---|---|---|---|---|---|---|")
    p_list = [p for p in (1, 2, 4, 8, 16, 32, 64, 128, 256) if p <= args.model_ranks]
    for n in args.n:
        for op in OPERATORS:
            for p in p_list:
                rc = sm.exact_counts(sm.QubitSectors.half_filled(n), p, op)
                ratio = (rc["ghosts"] / rc["rows"]).max()
                print(f"| {n} | {op} | {p} | {int(rc.work.max())} | {int(rc['ghosts'].max())} | "
                      f"{ratio:.2f} | {int(rc['messages'].max())} |")
    bad = [r for r in rows if r[5] != r[2]]
    for n, op, p, ranks, model, _ in bad:
        keys = KEYS[op]
        off = [i for i, r in enumerate(ranks) if any(int(r[k]) != int(model[k][i]) for k in keys)]
        print(f"N = {n}, {op}, P = {p}: ranks {off} differ from the model")
    if failed:
        print(f"not counted (the MPI job failed): P = {failed}")
    return 1 if bad or failed else 0


def splits(args) -> int:
    """The even and the cost-balanced intermediate split of ``separable``, counted."""
    print("| N | P | split | max entries | max ghosts | sum ghosts | max cost / mean |")
    print("|---|---|---|---|---|---|---|")
    for n in args.n:
        sectors = sm.QubitSectors.half_filled(n)
        for p in args.ranks:
            for name in ("even", "balanced"):
                rc = sm.exact_counts(sectors, p, "separable", split=name)
                ghosts = np.asarray(rc["ghosts"])
                cost = rc.work + ghosts  # one reading of the weights: an entry = a ghost
                print(f"| {n} | {p} | {name} | {int(rc.work.max())} | {int(ghosts.max())} | "
                      f"{int(ghosts.sum())} | {cost.max() / cost.mean():.3f} |")
    return 0


def product_cost(n: int, products: int) -> dict:
    """Seconds per entry of each operator on one rank (median CPU time per product /
    work). Collective on COMM_WORLD (run it on one rank)."""
    import manybody_tools as mt

    mt.init_petsc([])
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    out = {}
    for operator in OPERATORS:
        solver = _build(n, operator, comm)
        try:
            counts = sm.measured_counts(solver.A)
            work = counts["nonzeros"] if operator == "real" else (counts["local_entries"]
                                                                  + counts["ghost_entries"])
            solver.propagator.set_mu(1.0)
            x = solver.psi.duplicate()
            y = solver.psi.duplicate()
            x.setRandom()
            solver.A.mult(x, y)  # first product: lazy setup, page faults
            cpu = []
            for _ in range(products):
                c0 = time.thread_time()
                solver.A.mult(x, y)
                cpu.append(time.thread_time() - c0)
            x.destroy()
            y.destroy()
        finally:
            solver.destroy()
        t = statistics.median(cpu)
        out[operator] = (t / work, t, work)
    return out


def cost(args) -> int:
    res = product_cost(args.cost_n, args.products)
    for op, (per, t, work) in res.items():
        print(f"{op}: N = {args.cost_n}, 1 rank: {1e3 * t:.2f} ms CPU per product, "
              f"{work} entries, {1e9 * per:.3f} ns per entry")
    return 0


def _seconds_per_entry(args) -> dict:
    if args.seconds_per_entry:
        try:
            pairs = dict(item.split("=") for item in args.seconds_per_entry.split(","))
            return {op: float(pairs[op]) for op in OPERATORS}
        except (ValueError, KeyError):
            sys.exit(f"--seconds-per-entry {args.seconds_per_entry!r}: expected "
                     "real=SECONDS,separable=SECONDS")
    res = product_cost(args.cost_n, args.products)
    for op, (per, t, work) in res.items():
        print(f"cost, {op}: N = {args.cost_n}, 1 rank: {1e3 * t:.2f} ms CPU per product over "
              f"{work} entries = {1e9 * per:.3f} ns per entry")
    return {op: res[op][0] for op in OPERATORS}


def predict(args) -> int:
    per = _seconds_per_entry(args)
    net = sm.Network(args.bandwidth, args.latency, args.ranks_per_node, args.intranode_bandwidth)
    print(f"network: {net.bandwidth / 1e9:g} GB/s per node link shared by "
          f"{net.ranks_per_node} ranks per node, {net.intranode_bandwidth / 1e9:g} GB/s per rank "
          f"within a node, {1e6 * net.latency:g} us per message; {args.samples} sampled rows "
          f"per rank")
    print("| N | dim | operator | cores | s per product | compute % | communication ms | "
          "ghosts of slowest rank | max ghosts / rows | GiB per rank, stored + ghosts | "
          "speed-up vs first |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for n in args.n:
        sectors = sm.QubitSectors.half_filled(n)
        for op in OPERATORS:
            first = None
            for p in args.cores:
                t0 = time.perf_counter()
                rc = sm.sampled_counts(sectors, p, op, samples=args.samples,
                                       ranks_per_node=net.ranks_per_node)
                pr = sm.predict_time(rc, per[op], net)
                stored = (rc["diag_upper"] + rc["off_block"] if op == "real" else rc.work)
                gib = float(np.max(STORED_BYTES[op] * stored + GHOST_BYTES[op] * rc["ghosts"]))
                gib /= 2**30
                first = first or (p, pr.seconds)
                speedup = first[1] / pr.seconds
                comm_ms = 1e3 * (pr.transfer + pr.latency)
                print(f"| {n} | {sectors.dim:.3g} | {op} | {p} | {pr.seconds:.3g} | "
                      f"{100 * pr.compute / pr.seconds:.0f} | {comm_ms:.3g} | "
                      f"{pr.ghosts:.3g} +- {100 * pr.ghosts_stderr / max(pr.ghosts, 1):.0f}% | "
                      f"{pr.max_ghost_fraction:.2f} | {gib:.3g} | "
                      f"{speedup:.1f} (ideal {p / first[0]:g}) |", flush=True)
                if args.verbose:
                    print(f"#   counted in {time.perf_counter() - t0:.1f} s", flush=True)
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    m = sub.add_parser("measured", help="measured vs counted per rank, model up to --model-ranks")
    m.add_argument("--n", type=int, nargs="+", default=[16, 18])
    m.add_argument("--ranks", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32, 64])
    m.add_argument("--model-ranks", type=int, default=64)
    s = sub.add_parser("splits", help="even against cost-balanced intermediate split, counted")
    s.add_argument("--n", type=int, nargs="+", default=[20])
    s.add_argument("--ranks", type=int, nargs="+", default=[2, 4, 16, 64])
    j = sub.add_parser("_measure_job")
    j.add_argument("--n", type=int, nargs="+", required=True)
    j.add_argument("--out", required=True)
    for name in ("cost", "predict"):
        c = sub.add_parser(name)
        c.add_argument("--cost-n", type=int, default=20, help="N of the timed products")
        c.add_argument("--products", type=int, default=20)
        if name == "predict":
            c.add_argument("--n", type=int, nargs="+", default=[30, 32, 34, 36])
            c.add_argument("--cores", type=int, nargs="+",
                           default=[16, 32, 64, 128, 256, 512, 1024])
            c.add_argument("--samples", type=int, default=400)
            c.add_argument("--bandwidth", type=float, default=12.5e9, help="bytes/s per node")
            c.add_argument("--latency", type=float, default=2e-6, help="seconds per message")
            c.add_argument("--ranks-per-node", type=int, default=32)
            c.add_argument("--intranode-bandwidth", type=float, default=5e9,
                           help="bytes/s per rank for ghosts owned on the same node")
            c.add_argument("--seconds-per-entry", default="",
                           help="real=S,separable=S: skip the timing")
            c.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)
    if args.command == "_measure_job":
        return measure_job(args.n, args.out)
    return {"measured": measured, "splits": splits, "cost": cost,
            "predict": predict}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
