"""Experiment plumbing shared by experiments A, B, C: parameter table -> runs -> results.

An experiment directory holds

* ``params.csv``: one row per run (written by :func:`write_params`);
* ``runs/run_NNNN.npz``: the result arrays of run NNNN (row NNNN of the table),
  written by rank 0 through a temporary file and a rename, so an interrupted
  job never leaves a truncated result and a re-run skips finished rows;
* the analysis products (``results.csv``, ``results.md``, ``*.png``).

Every run is collective on the communicator it is given (the solvers are);
a job either loops over the rows under one ``mpirun`` or runs one row per
SLURM array task (jobs/hierarchy/).
"""
from __future__ import annotations

import csv
import logging
import math
import os
from typing import Callable, Iterable, Sequence

import numpy as np

log = logging.getLogger("nmbhpc.analysis.hierarchy_experiments")

PARAMS_FILE = "params.csv"
RUNS_DIR = "runs"


def _cell(v) -> str:
    if isinstance(v, float):
        return repr(v)
    return str(v)


def _parse(text: str):
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return text


def write_params(directory: str, rows: Sequence[dict], comm) -> str:
    """Collective. Write the parameter table ``rows`` to ``directory/params.csv`` (rank 0)."""
    path = os.path.join(directory, PARAMS_FILE)
    if comm.Get_rank() == 0:
        os.makedirs(os.path.join(directory, RUNS_DIR), exist_ok=True)
        keys = list(rows[0].keys())
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["index"] + keys)
            for i, r in enumerate(rows):
                w.writerow([i] + [_cell(r[k]) for k in keys])
    comm.Barrier()
    return path


def read_params(directory: str) -> list[dict]:
    """Rows of ``directory/params.csv`` (numbers parsed back to int/float; no 'index' key)."""
    with open(os.path.join(directory, PARAMS_FILE), newline="") as f:
        rows = list(csv.DictReader(f))
    return [{k: _parse(v) for k, v in r.items() if k != "index"} for r in rows]


def run_path(directory: str, index: int) -> str:
    return os.path.join(directory, RUNS_DIR, f"run_{index:04d}.npz")


def save_result(path: str, result: dict, comm) -> None:
    """Collective. Rank 0 writes ``result`` (name -> array or scalar) atomically."""
    if comm.Get_rank() == 0:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = path + ".tmp.npz"
        np.savez(tmp, **{k: np.asarray(v) for k, v in result.items()})
        os.replace(tmp, path)
    comm.Barrier()


def load_result(path: str) -> dict:
    with np.load(path) as z:
        return {k: (z[k].item() if z[k].ndim == 0 else z[k]) for k in z.files}


def run_rows(run_one: Callable, directory: str, indices: Iterable[int] | None, comm,
             force: bool = False) -> list[int]:
    """Collective. Run the rows ``indices`` (default: all) of the table in ``directory``.

    ``run_one(row, comm) -> dict`` must be collective and return the same dict on
    every rank. Rows whose result file exists are skipped unless ``force``.
    Returns the indices actually run.
    """
    rows = read_params(directory)
    todo = range(len(rows)) if indices is None else list(indices)
    done = []
    for i in todo:
        if not 0 <= i < len(rows):
            raise IndexError(f"run index {i} outside the table (0..{len(rows) - 1})")
        path = run_path(directory, i)
        if os.path.exists(path) and not force:
            log.info("run %d: %s exists, skipped", i, path)
            continue
        log.info("run %d/%d: %s", i, len(rows), rows[i])
        save_result(path, run_one(rows[i], comm), comm)
        done.append(i)
    return done


def load_results(directory: str) -> tuple[list[dict], list[dict | None]]:
    """(rows, results) with ``None`` for runs that have no result file yet."""
    rows = read_params(directory)
    out = []
    for i in range(len(rows)):
        p = run_path(directory, i)
        out.append(load_result(p) if os.path.exists(p) else None)
    return rows, out


# --- tables -------------------------------------------------------------------------
def fmt(x) -> str:
    """Compact number formatting for tables (nan -> 'n/a')."""
    if isinstance(x, str):
        return x
    if isinstance(x, (bool, np.bool_)):
        return "yes" if x else "no"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    x = float(x)
    if math.isnan(x):
        return "n/a"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x != 0 and (abs(x) < 1e-3 or abs(x) >= 1e5):
        return f"{x:.3e}"
    return f"{x:.4g}"


def write_table(directory: str, stem: str, columns: Sequence[str], table: Sequence[Sequence],
                title: str = "") -> tuple[str, str]:
    """Write ``stem.csv`` (full precision) and ``stem.md`` (formatted). Not collective."""
    csv_path = os.path.join(directory, stem + ".csv")
    md_path = os.path.join(directory, stem + ".md")
    with open(csv_path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(columns)
        for r in table:
            w.writerow([_cell(float(v)) if isinstance(v, (np.floating,)) else _cell(v) for v in r])
    lines = [f"### {title}", ""] if title else []
    def esc(text: str) -> str:          # a literal | would split a markdown cell
        return text.replace("|", "\\|")

    lines.append("| " + " | ".join(esc(c) for c in columns) + " |")
    lines.append("|" + "---|" * len(columns))
    for r in table:
        lines.append("| " + " | ".join(esc(fmt(v)) for v in r) + " |")
    with open(md_path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return csv_path, md_path


def pyplot():
    """matplotlib.pyplot with the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, directory: str, name: str) -> str:
    """Lay out ``fig``, write it as ``directory/name`` (PNG, 110 dpi) and close it."""
    path = os.path.join(directory, name)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    pyplot().close(fig)
    return path
