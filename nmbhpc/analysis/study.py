"""The comparison of several runs of one model: a table and three figures in a directory.

What ``nmbhpc study`` writes after its runs and :func:`nmbhpc.compare` writes for
run files made any other way (``nmbhpc run``, :func:`nmbhpc.run`):

* ``compare.txt``: the table of ``nmbhpc compare`` (largest deviation of each
  run's flavor-frame polarisations from the first run's, and the departure
  time tau of Eq. (23), :mod:`nmbhpc.analysis.compare`);
* ``comparison.FMT``: trajectories and deviations (``nmbhpc compare --plot``);
* ``survival.FMT``: the electron-flavor survival probability of every mode
  against time (``nmbhpc plot --kind survival``);
* ``spectrum.FMT``: the final spectrum (``nmbhpc plot --kind spectrum``).

FMT is png, pdf or svg. Not collective: call it on one process.
"""
from __future__ import annotations

import os

#: the table's file name in the directory
TABLE = "compare.txt"
#: the figures' file stems (module docstring)
FIGURES = ("comparison", "survival", "spectrum")


def comparison_table(runs, comparisons, fraction: float) -> str:
    """The ``nmbhpc compare`` table: the reference run, then one row per other run."""
    ref = runs[0]
    head = f"tau(f={fraction:g})"
    lines = [f"reference: {ref.path} (solver {ref.attrs.get('solver', '?')}, "
             f"{ref.n_records} records, M = {ref.polarization.shape[1]})",
             f"{'file':40s} {'solver':10s} {'max dev':>10s} {'at t':>10s} {head:>12s}"]
    notes = []
    for run, cmp in zip(runs[1:], comparisons):
        k = int(cmp.max_deviation.argmax())
        tau = "never" if cmp.departure_time is None else f"{cmp.departure_time:.6g}"
        if cmp.starts_apart:
            tau = "at start*"
            notes.append(_starts_apart_note(run, cmp))
        lines.append(f"{run.path:40s} {str(run.attrs.get('solver', '?')):10s} "
                     f"{cmp.max_deviation[k]:10.3e} {cmp.time[k]:10.4g} {tau:>12s}")
    return "\n".join(lines + notes) + "\n"


def _starts_apart_note(run_, cmp) -> str:
    """Why a run has no departure time: it differs by more than f from the first output."""
    note = (f"* {run_.path}: max_p |P_p - P_p^ref| = {cmp.max_deviation[0]:.3g} > f = "
            f"{cmp.fraction:g} already at t = {cmp.time[0]:g}, so tau measures no departure")
    if run_.attrs.get("solver") != "twa":
        return note
    samples = run_.attrs.get("solver_twa_samples")
    if not samples:
        return note + ("; its records are means of S TWA samples, whose noise per component is "
                       "~1/sqrt(2 j S): raise meanfield.twa_samples or --fraction")
    j = 0.5 * float(min(run_.modes.n))
    return note + (f"; its records are means of {samples} TWA samples, whose noise per component "
                   f"is ~1/sqrt(2 j S) = {(2.0 * j * float(samples)) ** -0.5:.2g} (j = {j:g}): "
                   "raise meanfield.twa_samples or --fraction")


def write_comparison(paths, directory, fraction: float = 0.1, fmt: str = "png",
                     dpi: float | None = None) -> tuple[list, str, list[str]]:
    """Compare run files ``paths`` (the first is the reference) and write the table and
    figures of the module docstring into ``directory`` (created if missing).

    Returns ``(comparisons, table text, written paths)``. Raises RunFileError naming
    a file that is not a readable run file, ValueError for runs that cannot be
    compared (different mode counts, no common times) or a bad ``fmt``/``dpi``.
    """
    from ..plots import runs as run_plots
    from ..plots import style
    from .compare import compare_runs
    from .reading import read_flavor_run

    if len(paths) < 2:
        raise ValueError("a comparison needs at least two run files")
    if f".{fmt}" not in style.FORMATS:
        raise ValueError(f"figure format must be one of {', '.join(sorted(style.FORMATS))}, "
                         f"got {fmt!r}")
    runs = [read_flavor_run(path) for path in paths]
    comparisons = compare_runs(runs, fraction)
    table = comparison_table(runs, comparisons, fraction)
    os.makedirs(directory, exist_ok=True)
    written = [os.path.join(directory, TABLE)]
    with open(written[0], "w", encoding="utf-8") as fh:
        fh.write(table)
    draw = {"comparison": lambda: run_plots.comparison(runs, comparisons),
            "survival": lambda: run_plots.time_series(runs, "survival"),
            "spectrum": lambda: run_plots.spectrum(runs)}
    for stem in FIGURES:  # one open figure at a time
        written.append(style.save(draw[stem](), os.path.join(directory, f"{stem}.{fmt}"), dpi))
    return comparisons, table, written
