"""``nmbhpc analyze FILE|DIR ...``: summary table, gathered CSVs and PNG plots of run files.

Reads on rank 0 only (harmless under mpirun). A directory means every ``*.h5``
below it (a scan). Files of interrupted/killed runs are read up to their last
complete output; files that are not run files are reported by name, the
others still analysed, and the exit status is 2. Kinetic run files
(``format = "nmbhpc-kinetics"``) get their own table, kinetics_summary.csv,
kinetics_timeseries.csv and kinetics_evolution.png (nmbhpc.kinetics.analysis).
"""
from __future__ import annotations

import os

from ..cli import UsageError, on_rank0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "analyze", help="summarise run files or a scan directory: table, CSV, PNG plots",
        description="Summary table on stdout; summary.csv (one row per run) and timeseries.csv "
                    "(one row per run and output time) and PNG plots (flavor evolution, "
                    "entropies, monitor drifts and deviations from a reference run) in the "
                    "output directory.")
    p.add_argument("paths", nargs="+", metavar="FILE|DIR", help="run files or directories of them")
    p.add_argument("-o", "--output-dir", default=None,
                   help="where to write CSVs and plots (default: DIR/analysis, or "
                        "FILE-analysis next to a single file)")
    p.add_argument("--reference", default=None, metavar="FILE",
                   help="run the deviations are measured from (default: the first completed "
                        "manybody run, else the first run)")
    p.add_argument("--no-plots", action="store_true", help="write the CSVs only")
    p.set_defaults(func=run)


def _default_output_dir(paths) -> str:
    first = paths[0].rstrip(os.sep)
    if os.path.isdir(first):
        return os.path.join(first, "analysis")
    return os.path.splitext(first)[0] + "-analysis"


def run(args) -> int:
    """Collective: rank 0 reads every file and writes the outputs; every rank exits alike."""
    from mpi4py import MPI

    return on_rank0(MPI.COMM_WORLD, lambda: _analyze(args))


def _analyze(args) -> None:
    from ..analysis import scan_summary as ss
    from ..analysis.reading import read_any, read_flavor_run
    from ..io import RunFileError
    from ..kinetics.output import KineticFileError

    files, errors = [], []
    for p in args.paths:
        if not os.path.exists(p):
            errors.append(f"{p}: no such file or directory")
            continue
        found = ss.find_run_files(p)
        if not found:
            errors.append(f"{p}: no *.h5 run files in this directory")
        files += found
    out_dir = args.output_dir or _default_output_dir(args.paths)
    out_abs = os.path.abspath(out_dir)
    runs, kinetic = [], []
    for f in files:
        if os.path.abspath(f).startswith(out_abs + os.sep):
            continue
        try:
            is_kinetic, data = read_any(f)
            (kinetic if is_kinetic else runs).append(data)
        except (RunFileError, KineticFileError) as exc:
            errors.append(str(exc))
    if not runs and not kinetic:
        raise UsageError(_listing("no readable run files", errors))
    reference = None
    if args.reference and runs:  # refused before anything is written
        try:
            reference = read_flavor_run(args.reference)
        except RunFileError as exc:
            raise UsageError(f"--reference: {exc}") from None
    written = []
    os.makedirs(out_dir, exist_ok=True)
    if kinetic:
        written += _analyze_kinetics(kinetic, out_dir, args.no_plots)
    if runs:
        written += _analyze_runs(args, runs, out_dir, ss, reference)
    print(f"wrote {', '.join(written)} to {out_dir}")
    if errors:
        raise UsageError(_listing("some inputs could not be read", errors))


def _listing(head: str, errors: list[str]) -> str:
    """One line for one error; else one line per error below ``head``."""
    if len(errors) == 1:
        return f"{head}: {errors[0]}"
    return head + ":\n  " + "\n  ".join(errors)


def _analyze_kinetics(runs, out_dir: str, no_plots: bool) -> list[str]:
    from ..kinetics import analysis as ka

    ka.write_summary_csv(runs, os.path.join(out_dir, "kinetics_summary.csv"))
    ka.write_timeseries_csv(runs, os.path.join(out_dir, "kinetics_timeseries.csv"))
    written = ["kinetics_summary.csv", "kinetics_timeseries.csv"]
    if not no_plots:
        from ..plots.kinetics import plot as plot_kinetics

        written += [os.path.basename(p) for p in plot_kinetics(runs, out_dir)]
    base = os.path.commonpath([os.path.dirname(os.path.abspath(r.path)) for r in runs])
    print(ka.table(runs, base))
    return written


def _analyze_runs(args, runs, out_dir: str, ss, reference) -> list[str]:
    if reference is None:
        done = [r for r in runs if r.status == "completed"]
        mb = [r for r in done if r.attrs.get("solver") == "manybody"]
        reference = (mb or done or runs)[0]
    summaries = ss.summarize(runs, reference)
    ss.write_summary_csv(summaries, os.path.join(out_dir, "summary.csv"))
    ss.write_timeseries_csv(summaries, os.path.join(out_dir, "timeseries.csv"))
    written = ["summary.csv", "timeseries.csv"]
    if not args.no_plots:
        from ..plots.runs import scan_figures

        written += [os.path.basename(p) for p in scan_figures(summaries, out_dir)]
    base = os.path.commonpath([os.path.dirname(os.path.abspath(r.path)) for r in runs])
    print(ss.table(summaries, base))
    print(f"reference for deviations: {reference.path}")
    return written
