"""Summaries of many run files (``nmbhpc analyze``): table rows, gathered CSVs
(the figures are :func:`nmbhpc.plots.runs.scan_figures`).

Not collective: everything reads files serially with :func:`nmbhpc.io.read_run`,
which accepts files written with any rank count and files of interrupted or
killed runs (cut to their complete records). Times in 1/omega0, energies in
omega0; entropies in nats; deviations are absolute.

Non-finite numbers are never hidden: a NaN in a run's series makes every
quantity derived from it NaN (written ``nan`` in the CSVs and the table, and
logged as a warning); an empty cell (``-`` in the table) means "not
applicable" (no records, or no reference of the same modes).
"""
from __future__ import annotations

import csv
import logging
import os
from dataclasses import dataclass

import numpy as np

from .compare import compare_polarizations

log = logging.getLogger(__name__)

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
    """One run's table row and its per-time derived series (``deviation`` may be None;
    where ``covered`` is False the reference has no output time to compare with)."""

    run: object  # RunData
    row: dict
    deviation: np.ndarray | None
    covered: np.ndarray | None = None


def _nonfinite_report(r) -> str | None:
    """"polarization (first at t = 0.5), energy" for the series of ``r`` holding NaN/inf."""
    bad = []
    for name in ("polarization", "nue_total", "entropy", "norm", "energy", "b_dot_j"):
        arr = np.asarray(getattr(r, name, np.zeros(0)), dtype=np.float64)
        if arr.size and not np.isfinite(arr).all():
            rows = np.nonzero(~np.isfinite(arr.reshape(len(arr), -1)).all(axis=1))[0]
            bad.append(f"{name} (first at t = {float(r.time[rows[0]]):g})")
    return ", ".join(bad) or None


def _same_model(a, b) -> bool:
    return (a.modes.n.shape == b.modes.n.shape and np.array_equal(a.modes.n, b.modes.n)
            and np.allclose(a.modes.omega, b.modes.omega))


def summarize(runs, reference=None) -> list[RunSummary]:
    """Rows for ``runs`` (RunData); deviations max_p |P_p - P_p^ref| (reference's times,
    interpolated) for runs of the same modes as ``reference`` (a RunData or None)."""
    out = []
    for r in runs:
        dev = covered = dev_max = None
        if reference is not None and r is not reference and r.n_records and reference.n_records \
                and _same_model(r, reference):
            try:
                c = compare_polarizations(r.time, r.polarization, reference.time,
                                          reference.polarization, 1.0, r.path, reference.path)
                dev = np.full(r.n_records, np.nan)
                covered = np.zeros(r.n_records, dtype=bool)
                idx = np.searchsorted(r.time, c.time)
                dev[idx], covered[idx] = c.max_deviation, True
                dev_max = float(np.max(c.max_deviation))   # NaN stays NaN
            except ValueError:
                dev = covered = None
        for run_ in (r, reference):
            bad = _nonfinite_report(run_) if run_ is r or dev is not None else None
            if bad:
                log.warning("%s: non-finite values in %s; the quantities derived from them "
                            "are nan", run_.path, bad)
        n = r.n_records
        row = {
            "file": r.path, "solver": r.attrs.get("solver", "?"), "status": r.status,
            "mpi_size": r.attrs.get("mpi_size", ""), "n_modes": len(r.modes.n),
            "n_total": int(np.sum(r.modes.n)), "records": n, "planned": len(r.planned_times),
            "t_first": r.time[0] if n else None, "t_last": r.time[-1] if n else None,
            "nue_initial": r.nue_total[0] if n else None,
            "nue_final": r.nue_total[-1] if n else None,
            "entropy_max": float(np.max(r.entropy)) if n else None,
            "norm_dev_max": float(np.max(np.abs(r.norm - 1))) if n else None,
            "energy_dev_max": float(np.max(np.abs(r.energy - r.energy[0]))) if n else None,
            "bj_dev_max": float(np.max(np.abs(r.b_dot_j - r.b_dot_j[0]))) if n else None,
            "deviation_from_reference": dev_max,
        }
        out.append(RunSummary(r, row, dev, covered))
    return out


def csv_cell(v) -> str:
    """A CSV cell: floats with 10 significant digits (``nan``, ``inf`` as such), None as empty."""
    if v is None:
        return ""
    if isinstance(v, (float, np.floating)):
        return f"{v:.10g}"
    return str(v)


def _cell(v, spec: str) -> str:
    """Table cell: ``format(v, spec)``, ``-`` for None (not applicable)."""
    return "-" if v is None else format(v, spec)


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
                    abs(r.b_dot_j[i] - r.b_dot_j[0]))] +
                    [csv_cell(float(s.deviation[i]) if s.covered is not None and s.covered[i]
                              else None)])


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
            f"{_cell(r['t_last'], '.4g'):>8} "
            f"{_cell(r['nue_initial'], '>9.6f')}->{_cell(r['nue_final'], '<8.6f')} "
            f"{_cell(r['entropy_max'], '>8.4f')} "
            f"{_cell(r['deviation_from_reference'], '9.2e'):>9}")
    return "\n".join(lines)

