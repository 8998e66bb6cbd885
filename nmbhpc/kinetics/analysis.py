"""Summaries of kinetic run files for ``nmbhpc analyze``: table, CSVs (the figure is
:func:`nmbhpc.plots.kinetics.evolution`).

Not collective: reads with :func:`nmbhpc.kinetics.output.read_kinetics`, which
accepts files of any rank count and of interrupted or killed runs (cut to
their complete records). Times in 1/omega0; densities in n_ref
(docs/kinetics.md).
"""
from __future__ import annotations

import csv
import os

import numpy as np

from ..analysis.scan_summary import csv_cell

#: columns of kinetics_summary.csv (one row per kinetic run)
SUMMARY_COLUMNS = ("file", "status", "mpi_size", "nx", "shape", "n_dir", "n_phi", "n_energy", "records",
                   "snapshots", "t_last", "nue_survival", "nuebar_survival", "eln_drift_max",
                   "xln_drift_max", "offdiag_max", "trace_margin_min")

#: columns of kinetics_timeseries.csv (one row per run and output time)
SERIES_COLUMNS = ("file", "time", "n_nu_e", "n_nu_x", "n_nubar_e", "n_nubar_x", "eln", "xln",
                  "offdiag_nu", "offdiag_nubar", "trace_margin")


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def box_shape(run) -> tuple:
    """Cells along (x, y, z); files written before the 2D/3D box are 1D along z."""
    shape = run.grid.get("shape")
    if shape is None:
        return (1, 1, int(run.grid.get("nx", 0)))
    return tuple(int(n) for n in shape)


def _cells(run) -> str:
    """nx of a 1D run along z, else the cells along x, y, z ("16x1x16")."""
    shape = box_shape(run)
    return str(shape[2]) if shape[:2] == (1, 1) else "x".join(map(str, shape))


def summary_row(run) -> dict:
    """One table row of a :class:`~nmbhpc.kinetics.output.KineticRunData`.

    ``nue_survival``: n_e of neutrinos at the last record over the first (1 =
    no conversion); drifts: max |L(t) - L(0)| of the ELN and XLN.
    """
    n = run.n_records
    nd, ln = run.number_density, run.lepton_number
    return {
        "file": run.path, "status": run.status, "mpi_size": run.attrs.get("mpi_size", ""),
        "nx": run.grid.get("nx", ""), "shape": "x".join(map(str, box_shape(run))),
        "n_dir": run.grid.get("n_dir", ""),
        "n_phi": run.grid.get("n_phi", 1),  # files before the azimuth grid are axisymmetric
        "n_energy": run.grid.get("n_energy", ""), "records": n,
        "snapshots": len(run.snapshot_times),
        "t_last": float(run.time[-1]) if n else np.nan,
        "nue_survival": _ratio(nd[-1, 0, 0], nd[0, 0, 0]) if n else np.nan,
        "nuebar_survival": _ratio(nd[-1, 1, 0], nd[0, 1, 0]) if n else np.nan,
        "eln_drift_max": float(np.max(np.abs(ln[:, 0] - ln[0, 0]))) if n else np.nan,
        "xln_drift_max": float(np.max(np.abs(ln[:, 1] - ln[0, 1]))) if n else np.nan,
        "offdiag_max": float(np.max(run.offdiag_amplitude)) if n else np.nan,
        "trace_margin_min": float(np.min(run.trace_margin)) if n else np.nan,
    }


def write_summary_csv(runs, path: str) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(SUMMARY_COLUMNS)
        for r in runs:
            row = summary_row(r)
            w.writerow([csv_cell(row[c]) for c in SUMMARY_COLUMNS])


def write_timeseries_csv(runs, path: str) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(SERIES_COLUMNS)
        for r in runs:
            for i in range(r.n_records):
                nd = r.number_density[i]
                w.writerow([r.path] + [csv_cell(float(v)) for v in (
                    r.time[i], nd[0, 0], nd[0, 1], nd[1, 0], nd[1, 1], r.lepton_number[i, 0],
                    r.lepton_number[i, 1], r.offdiag_amplitude[i, 0], r.offdiag_amplitude[i, 1],
                    r.trace_margin[i])])


def describe(run) -> str:
    """Human summary of one kinetic run file (``nmbhpc info``); not collective."""
    row = summary_row(run)
    g = run.grid
    lim = run.limiter[-1] if run.n_records else np.zeros(3)
    t_first = float(run.time[0]) if run.n_records else float("nan")
    return "\n".join([
        f"{run.path}: nmbhpc kinetic run v{run.attrs.get('format_version', '?')}, "
        f"status {run.status}",
        f"  grid      cells (x, y, z) = {' x '.join(map(str, box_shape(run)))}, "
        f"directions = {g.get('n_dir', '?')} x "
        f"{g.get('n_phi', 1)} azimuths, energies = {g.get('n_energy', '?')}",
        f"  records   {run.n_records}, t = {t_first:.6g} .. {row['t_last']:.6g} (1/omega0); "
        f"snapshots {row['snapshots']}",
        f"  written   {run.attrs.get('created_utc', '?')} by nmbhpc "
        f"{run.attrs.get('nmbhpc_version', '?')}, MPI size {row['mpi_size']}",
        f"  nu_e      n_e(last)/n_e(first) = {row['nue_survival']:.6f} (nu), "
        f"{row['nuebar_survival']:.6f} (nubar)",
        f"  monitors  max|ELN - ELN0| = {row['eln_drift_max']:.3e}, "
        f"max|XLN - XLN0| = {row['xln_drift_max']:.3e}, min(P0 - |P|) = "
        f"{row['trace_margin_min']:.3e}",
        f"  limiter   {int(lim[0])} matrices rescaled, total overshoot {lim[1]:.3e}, "
        f"ELN - XLN change left {lim[2]:.3e} (sum over cells)",
        f"  units     {_units(run.attrs)}",
    ])


def _units(attrs) -> str:
    """The physical scale a kinetic file records (kinetics.physics.omega0_per_second), if any."""
    omega0, length = attrs.get("omega0_per_second"), attrs.get("length_unit_cm")
    if not isinstance(omega0, (int, float)) or omega0 <= 0:
        return "code units (1/omega0, c/omega0): the config set no kinetics.physics.omega0_per_second"
    cm = f", c/omega0 = {length:.4g} cm" if isinstance(length, (int, float)) else ""
    return f"1/omega0 = {1.0 / omega0:.4g} s{cm} (omega0 = {omega0:.4g} s^-1)"


def table(runs, base: str = "") -> str:
    """Fixed-width text table (one line per kinetic run)."""
    head = (f"{'file':<32} {'status':<11} {'ranks':>5} {'cells':>10} {'records':>7} {'t_last':>8} "
            f"{'nu_e surv':>9} {'|dELN|':>9} {'offdiag':>9} {'min P0-|P|':>10}")
    lines = [head, "-" * len(head)]
    for r in runs:
        row = summary_row(r)
        name = os.path.relpath(row["file"], base) if base else row["file"]
        lines.append(f"{name[-32:]:<32} {row['status']:<11} {str(row['mpi_size']):>5} "
                     f"{_cells(r):>10} {row['records']:>7} {row['t_last']:>8.4g} "
                     f"{row['nue_survival']:>9.5f} {row['eln_drift_max']:>9.2e} "
                     f"{row['offdiag_max']:>9.2e} {row['trace_margin_min']:>10.2e}")
    return "\n".join(lines)

