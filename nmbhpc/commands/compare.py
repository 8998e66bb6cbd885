"""``nmbhpc compare A.h5 B.h5 [...]``: deviation of each run from the first one.

Prints, per file, the largest per-mode polarisation deviation ``|P_A - P_B|``
and the departure time tau (first time it exceeds ``--fraction``; Eq. (23));
``--plot`` writes a figure (PNG, PDF or SVG by the suffix) of the overlaid
trajectories and the deviations (nmbhpc.plots.runs.comparison). Rank 0 does the work under mpirun; every rank returns its exit status (collective).
"""
from __future__ import annotations

from ..cli import UsageError, on_rank0, positive_float


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "compare", help="compare run files: per-mode deviation, departure time tau, plot",
        description="Compare the flavor-frame polarisation trajectories of run files (any "
        "solvers) with the first one: per-mode deviation |P_A - P_B| on the first file's "
        "output times (others interpolated linearly), its maximum over modes, and the "
        "departure time tau at which that maximum first exceeds FRACTION.")
    p.add_argument("files", nargs="+", metavar="FILE", help="run files; the first is the reference")
    p.add_argument("--fraction", "-f", type=positive_float, default=0.1,
                   help="deviation threshold f defining tau (default 0.1)")
    p.add_argument("--plot", metavar="FIG", help="write a figure of trajectories and deviations "
                   "(.png, .pdf or .svg)")
    p.add_argument("--modes", default=None, metavar="LIST",
                   help="modes to draw, e.g. 0,3,5 or 0-5 (0-based; default: all)")
    p.add_argument("--dpi", type=float, default=None, help="raster resolution of the figure")
    p.set_defaults(func=run)


def run(args) -> int:
    from mpi4py import MPI

    if len(args.files) < 2:
        raise UsageError("need at least two run files")
    # every rank exits with rank 0's verdict
    return on_rank0(MPI.COMM_WORLD, lambda: _report(args))


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


def _report(args) -> None:
    """Read, compare, print (and plot) on this process."""
    from ..analysis.compare import compare_runs
    from ..analysis.reading import read_flavor_run
    from ..plots.runs import plot_comparison
    from ..io.run_reader import RunFileError

    try:
        runs = [read_flavor_run(path) for path in args.files]
    except RunFileError as exc:
        raise UsageError(str(exc)) from None
    try:
        comparisons = compare_runs(runs, args.fraction)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    ref = runs[0]
    print(f"reference: {ref.path} (solver {ref.attrs.get('solver', '?')}, {ref.n_records} records, "
          f"M = {ref.polarization.shape[1]})")
    head = f"tau(f={args.fraction:g})"
    print(f"{'file':40s} {'solver':10s} {'max dev':>10s} {'at t':>10s} {head:>12s}")
    notes = []
    for run_, cmp in zip(runs[1:], comparisons):
        k = int(cmp.max_deviation.argmax())
        tau = "never" if cmp.departure_time is None else f"{cmp.departure_time:.6g}"
        if cmp.starts_apart:
            tau = "at start*"
            notes.append(_starts_apart_note(run_, cmp))
        print(f"{run_.path:40s} {str(run_.attrs.get('solver', '?')):10s} "
              f"{cmp.max_deviation[k]:10.3e} {cmp.time[k]:10.4g} {tau:>12s}")
    for note in notes:
        print(note)
    if args.plot:
        from ..plots.runs import parse_modes

        try:
            modes = parse_modes(args.modes) if args.modes else None
            plot_comparison(runs, comparisons, args.plot, modes=modes, dpi=args.dpi)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        print(f"plot: {args.plot}")
