"""``nmbhpc plot RUN.h5 [RUN2.h5 ...] --kind KIND -o FIG``: one figure of run files.

Kinds (docs/analysis.md): ``survival`` (electron-flavor probability per mode
vs time), ``polarization`` (P_p^z per mode vs time), ``spectrum`` (final
electron-flavor probability vs omega_p: the spectral split), ``kinetics``
(kinetic run files: number densities, off-diagonal amplitude, last snapshot
profile; ns and cm when the file records omega0). The figure format follows
the suffix of ``-o`` (.png, .pdf, .svg). Rank 0 draws under mpirun; every
rank returns its exit status (collective).
"""
from __future__ import annotations

from ..cli import UsageError, on_rank0

KINDS = ("survival", "polarization", "spectrum", "kinetics")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "plot", help="draw a figure of run files: survival, polarization, spectrum, kinetics",
        description="One figure of one or several run files, in the nmbhpc style (one colour "
        "per solver and per species). Per-mode kinds draw one panel per mode, all modes "
        "unless --modes is given; TWA runs get a band of one standard error.")
    p.add_argument("files", nargs="+", metavar="FILE", help="run files (kinetic files for --kind kinetics)")
    p.add_argument("--kind", "-k", choices=KINDS, default=None,
                   help="figure kind (default: kinetics for kinetic files, else survival)")
    p.add_argument("-o", "--output", required=True, metavar="FIG",
                   help="figure file; format by suffix: .png, .pdf or .svg")
    p.add_argument("--modes", default=None, metavar="LIST",
                   help="modes to draw, e.g. 0,3,5 or 0-5 (0-based; default: all)")
    p.add_argument("--dpi", type=float, default=None, help="raster resolution (default 150)")
    p.set_defaults(func=run)


def run(args) -> int:
    """Collective: draw on rank 0; every rank exits with its verdict."""
    from mpi4py import MPI

    return on_rank0(MPI.COMM_WORLD, lambda: _draw(args))


def _read(files, kinetic: bool):
    from ..analysis.reading import checked
    from ..io import RunFileError, read_run
    from ..kinetics.output import read_kinetics

    try:
        return [checked(f, read_kinetics if kinetic else read_run, f) for f in files]
    except RunFileError as exc:
        raise UsageError(str(exc)) from None


def _draw(args) -> None:
    """Read, draw and save on this process."""
    from ..kinetics.output import is_kinetics_file
    from ..plots import kinetics, runs, style

    kinetic = [is_kinetics_file(f) for f in args.files]
    kind = args.kind or ("kinetics" if all(kinetic) else "survival")
    if any(kinetic) and not all(kinetic):
        raise UsageError("mixed kinetic and run files; plot them separately")
    if kind == "kinetics" and not all(kinetic):
        raise UsageError(f"--kind kinetics needs kinetic run files; {args.files[0]} is not one")
    if kind != "kinetics" and all(kinetic):
        raise UsageError(f"--kind {kind} needs run files; {args.files[0]} is a kinetic file "
                         "(use --kind kinetics)")
    try:
        if kind == "kinetics":
            if args.modes:
                raise ValueError("--modes applies to run files, not kinetic files")
            fig = kinetics.evolution(_read(args.files, True))
        else:
            data = _read(args.files, False)
            modes = runs.parse_modes(args.modes) if args.modes else None
            if kind == "spectrum":
                if modes is not None:
                    raise ValueError("--modes does not apply to --kind spectrum (it shows every mode)")
                fig = runs.spectrum(data)
            else:
                fig = runs.time_series(data, kind, modes)
        style.save(fig, args.output, args.dpi)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    print(f"plot: {args.output}")
