"""Summaries of many run files (``nmbhpc analyze``): table rows, gathered CSVs
(the figures are :func:`nmbhpc.plots.runs.scan_figures`).

Not collective: everything reads files serially with :func:`nmbhpc.io.read_run`,
which accepts files written with any rank count and files of interrupted or
killed runs (cut to their complete records). Times in 1/omega0, energies in
omega0; entropies in nats; deviations are absolute.
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass

import numpy as np

from .compare import compare_polarizations

#: columns of summary.csv, in order (also the printed table's data)
SUMMARY_COLUMNS = ("file", "solver", "status", "mpi_size", "n_modes", "n_total", "records",
                   "planned", "t_first", "t_last", "nue_initial", "nue_final", "entropy_max",
                   "norm_dev_max", "energy_dev_max", "bj_dev_max", "deviation_from_reference")

#: columns of timeseries.csv (one row per run and output time)
SERIES_COLUMNS = ("file", "time", "mu", "nue_total", "entropy_max", "entropy_mean",
                  "norm_dev", "energy_dev", "bj_dev", "deviation_from_reference")


def find_run_files(path) -> list[str]:
    """``path`` itself if it is a file, else every ``*.h5`` below the directory (sorted)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        out = []
        for root, _, files in os.walk(path):
            out += [os.path.join(root, f) for f in files if f.endswith((".h5", ".hdf5"))]
        return sorted(out)
    return [path]


@dataclass
class RunSummary:
    """One run's table row and its per-time derived series (``deviation`` may be None)."""

    run: object  # RunData
    row: dict
    deviation: np.ndarray | None


def _same_model(a, b) -> bool:
    return (a.modes.n.shape == b.modes.n.shape and np.array_equal(a.modes.n, b.modes.n)
            and np.allclose(a.modes.omega, b.modes.omega))


def summarize(runs, reference=None) -> list[RunSummary]:
    """Rows for ``runs`` (RunData); deviations max_p |P_p - P_p^ref| (reference's times,
    interpolated) for runs of the same modes as ``reference`` (a RunData or None)."""
    out = []
    for r in runs:
        dev = None
        if reference is not None and r is not reference and r.n_records and reference.n_records \
                and _same_model(r, reference):
            try:
                c = compare_polarizations(r.time, r.polarization, reference.time,
                                          reference.polarization, 1.0, r.path, reference.path)
                dev = np.full(r.n_records, np.nan)
                dev[np.searchsorted(r.time, c.time)] = c.max_deviation
            except ValueError:
                dev = None
        n = r.n_records
        row = {
            "file": r.path, "solver": r.attrs.get("solver", "?"), "status": r.status,
            "mpi_size": r.attrs.get("mpi_size", ""), "n_modes": len(r.modes.n),
            "n_total": int(np.sum(r.modes.n)), "records": n, "planned": len(r.planned_times),
            "t_first": r.time[0] if n else np.nan, "t_last": r.time[-1] if n else np.nan,
            "nue_initial": r.nue_total[0] if n else np.nan,
            "nue_final": r.nue_total[-1] if n else np.nan,
            "entropy_max": float(np.max(r.entropy)) if n else np.nan,
            "norm_dev_max": float(np.max(np.abs(r.norm - 1))) if n else np.nan,
            "energy_dev_max": float(np.max(np.abs(r.energy - r.energy[0]))) if n else np.nan,
            "bj_dev_max": float(np.max(np.abs(r.b_dot_j - r.b_dot_j[0]))) if n else np.nan,
            "deviation_from_reference": float(np.nanmax(dev)) if dev is not None
            and np.isfinite(dev).any() else np.nan,
        }
        out.append(RunSummary(r, row, dev))
    return out


def csv_cell(v) -> str:
    """A CSV cell: floats with 10 significant digits, NaN as empty."""
    if isinstance(v, (float, np.floating)):
        return "" if np.isnan(v) else f"{v:.10g}"
    return str(v)


def write_summary_csv(summaries, path: str) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(SUMMARY_COLUMNS)
        for s in summaries:
            w.writerow([csv_cell(s.row[c]) for c in SUMMARY_COLUMNS])


def write_timeseries_csv(summaries, path: str) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(SERIES_COLUMNS)
        for s in summaries:
            r = s.run
            for i in range(r.n_records):
                w.writerow([r.path] + [csv_cell(float(v)) for v in (
                    r.time[i], r.mu[i], r.nue_total[i], r.entropy[i].max(), r.entropy[i].mean(),
                    abs(r.norm[i] - 1), abs(r.energy[i] - r.energy[0]),
                    abs(r.b_dot_j[i] - r.b_dot_j[0]),
                    s.deviation[i] if s.deviation is not None else np.nan)])


def table(summaries, base: str = "") -> str:
    """Fixed-width text table of the main columns (one line per run)."""
    head = f"{'file':<32} {'solver':<9} {'status':<11} {'ranks':>5} {'M':>4} {'N':>6} " \
           f"{'records':>9} {'t_last':>8} {'nu_e 0->end':>19} {'S_max':>8} {'dev_ref':>9}"
    lines = [head, "-" * len(head)]
    for s in summaries:
        r = s.row
        name = os.path.relpath(r["file"], base) if base else r["file"]
        lines.append(
            f"{name[-32:]:<32} {r['solver']:<9} {r['status']:<11} {str(r['mpi_size']):>5} "
            f"{r['n_modes']:>4} {r['n_total']:>6} {r['records']:>4}/{r['planned']:<4} "
            f"{csv_cell(round(r['t_last'], 4)) if r['records'] else '-':>8} "
            f"{r['nue_initial']:>9.6f}->{r['nue_final']:<8.6f} {r['entropy_max']:>8.4f} "
            f"{csv_cell(r['deviation_from_reference']) and format(r['deviation_from_reference'], '9.2e') or '-':>9}")
    return "\n".join(lines)

