"""``nmbhpc study CONFIG --solvers a,b,... -o DIR``: one model, several solvers, one comparison.

Runs CONFIG once per solver (``solver`` overridden; the solver sections are
the ones CONFIG has; ``--set`` as for ``nmbhpc run``), each into ``DIR/<solver>.h5``,
then writes the comparison into DIR (:mod:`nmbhpc.analysis.study`: the table
``compare.txt`` of ``nmbhpc compare``, printed too, and the figures
``comparison``, ``survival`` and ``spectrum``). The first solver listed is the
reference. Under ``mpirun -n K`` every solver runs on all K ranks, one after
the other.

Everything that can be refused is refused before the first run: a solver
name the registry (:mod:`nmbhpc.solvers`) does not know, a solver that
cannot run this model (its config validation or its ``check``: kinetics on a
spin config, a many-body basis too large), a solver that does not write
comparable spin-solver run files, and existing run files without ``--force``
or ``--resume``. ``--resume`` continues each file like ``nmbhpc run
--resume`` (a completed file is skipped), so a study stopped by a signal or
a time limit is continued by running the same command with ``--resume``.
Each run is ``nmbhpc run`` (checkpoints, signals, summary); a run that
stops (interrupted, failed) stops the study with its exit status.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys

from ..cli import UsageError, positive_float

log = logging.getLogger(__name__)


def register(subparsers) -> None:
    from ..cli import add_run_options

    p = subparsers.add_parser(
        "study", help="run one config with several solvers and compare them (files, table, figures)",
        description="Run CONFIG once per solver into DIR/<solver>.h5 (under mpirun each run uses "
                    "every rank), then compare them with the first: DIR/compare.txt (the table of "
                    "'nmbhpc compare', also printed), DIR/comparison.FMT, DIR/survival.FMT (nu_e "
                    "survival per mode vs time) and DIR/spectrum.FMT (final spectrum). Unknown "
                    "solvers and solvers that cannot run this model are refused before the first "
                    "run. PETSc/SLEPc options pass through to every run.",
        epilog="Example: mpirun -n 2 nmbhpc study examples/default.toml "
               "--solvers manybody,meanfield,cumulant,twa -o study/")
    p.add_argument("config", help="TOML run configuration (docs/config.md)")
    p.add_argument("--solvers", required=True, metavar="LIST",
                   help="comma-separated solver names, the reference first "
                        "(e.g. manybody,meanfield,cumulant,twa)")
    p.add_argument("-o", "--output", required=True, metavar="DIR", type=_directory,
                   help="directory of the run files and the comparison (created if missing)")
    p.add_argument("--resume", "--restart", action="store_true", dest="resume",
                   help="continue each run file from its last checkpoint; completed files are "
                        "kept as they are")
    p.add_argument("--fraction", "-f", type=positive_float, default=0.1,
                   help="deviation threshold f of the departure time tau (default 0.1)")
    p.add_argument("--format", default="png", choices=("png", "pdf", "svg"),
                   help="figure format (default png)")
    add_run_options(p)
    p.set_defaults(func=main)


def _directory(text: str) -> str:
    """``-o DIR``: a directory path (an existing file is refused)."""
    import argparse

    if not text.strip() or any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise argparse.ArgumentTypeError(f"must name a directory, got {text!r}")
    if os.path.exists(text) and not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text!r} is a file, not a directory")
    return text


def solver_list(text: str) -> list[str]:
    """``--solvers a,b``: registered names, no repeats, at least two (UsageError otherwise)."""
    from ..schema import did_you_mean
    from ..solvers import REGISTRY

    names = [s.strip() for s in text.split(",") if s.strip()]
    for name in names:
        if name not in REGISTRY:
            raise UsageError(f"--solvers: unknown solver {name!r}{did_you_mean(name, REGISTRY)} "
                             f"(registered: {', '.join(REGISTRY)})")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise UsageError(f"--solvers: {', '.join(repeated)} given more than once")
    if len(names) < 2:
        raise UsageError(f"--solvers {text!r}: a study compares at least two solvers")
    return names


def _configs(args, comm) -> dict:
    """Collective. ``{solver: validated config}``, or UsageError naming the solver that
    cannot run this model."""
    from .. import override_text
    from ..config import ConfigError, load_any_config_text
    from ..solvers import spec
    from .run import _read_text

    if any(key.replace("__", ".") == "solver" for key, _ in args.overrides):
        raise UsageError("--set solver=...: a study sets the solver of each run; use --solvers")
    names = solver_list(args.solvers)
    text = _read_text(args.config, comm)
    path = os.path.abspath(args.config)
    configs = {}
    for name in names:
        try:
            config = load_any_config_text(
                override_text(text, list(args.overrides) + [("solver", name)], path),
                source_path=path)
        except ConfigError as exc:
            raise UsageError(f"{args.config} with solver = {name!r}: {exc}") from None
        solver = spec(name)
        if solver.file_format != "nmbhpc-run":
            raise UsageError(f"--solvers: {name} writes {solver.file_format} files, which "
                             "'nmbhpc compare' does not read; a study compares spin-solver runs")
        check = getattr(solver.load(), "check", None)
        if check is not None:
            try:
                check(config, comm)
            except ValueError as exc:
                raise UsageError(f"--solvers: {name} cannot run {args.config}: {exc}") from None
        configs[name] = config
    return configs


def _prepare_directory(args, outputs, comm) -> None:
    """Collective. Refuse existing run files without --force/--resume, then create DIR."""
    error = None
    if comm.Get_rank() == 0:
        existing = [p for p in outputs if os.path.exists(p)]
        if args.force and args.resume:
            error = "--force and --resume exclude each other"
        elif existing and not (args.force or args.resume):
            error = (f"{', '.join(existing)} exist{'s' if len(existing) == 1 else ''}: "
                     "--resume continues (completed files are kept), --force starts over")
        else:
            try:
                os.makedirs(args.output, exist_ok=True)
            except OSError as exc:
                error = f"-o {args.output!r}: cannot create the directory: {exc.strerror}"
    error = comm.bcast(error, root=0)
    if error:
        raise UsageError(error)


class _SolverLabel(logging.Filter):
    """Prefixes each log line of the run with the solver's name (``[meanfield] ...``)."""

    def __init__(self, name: str):
        super().__init__()
        self.label = f"[{name}] "

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith(self.label):
            record.msg, record.args = self.label + record.getMessage(), ()
        return True


@contextlib.contextmanager
def _labelled(name: str):
    """Log lines (progress included) name the solver while its run lasts."""
    handlers = logging.getLogger("nmbhpc").handlers
    label = _SolverLabel(name)
    for h in handlers:
        h.addFilter(label)
    try:
        yield
    finally:
        for h in handlers:
            h.removeFilter(label)


def main(args) -> int:
    """Collective on MPI.COMM_WORLD: check everything, run each solver, compare."""
    from . import start_parallel
    from ..cli import on_rank0
    from ..io.ownership import OwnershipError, break_claim
    from ..pipeline.driver import RunOptions, RunRefused
    from ..pipeline.driver import main as drive
    from .run import config_name

    comm = start_parallel(args)
    configs = _configs(args, comm)
    outputs = {name: os.path.join(args.output, f"{name}.h5") for name in configs}
    _prepare_directory(args, outputs.values(), comm)
    if args.takeover:
        for path in outputs.values():
            try:
                break_claim(path, comm)
            except OwnershipError as exc:
                raise UsageError(str(exc)) from None
    for i, (name, config) in enumerate(configs.items()):
        log.info("study: solver %s (%d of %d) -> %s", name, i + 1, len(configs), outputs[name])
        options = RunOptions(output=outputs[name], force=args.force, resume=args.resume,
                             progress_interval=args.progress_interval,
                             attrs={"command": " ".join(sys.argv)},
                             config_name=config_name(args.config, list(args.overrides)
                                                     + [("solver", name)]))
        try:
            with _labelled(name):
                status = drive(config, options, comm, args.checkpoint_every,
                               args.checkpoint_interval)
        except RunRefused as exc:
            raise UsageError(f"{name}: {exc}") from None
        if status != 0:
            if comm.Get_rank() == 0:
                print(f"nmbhpc study: stopped at solver {name} (exit status {status}); "
                      f"continue with --resume", file=sys.stderr)
            return status
    return on_rank0(comm, lambda: _compare(args, list(outputs.values())))


def _compare(args, paths) -> None:
    """Rank 0: the comparison of the study's files (nmbhpc.analysis.study)."""
    from ..analysis.study import write_comparison

    try:
        _, table, written = write_comparison(paths, args.output, args.fraction, args.format)
    except ValueError as exc:  # RunFileError included
        raise UsageError(str(exc)) from None
    print(table, end="")
    print(f"study: {', '.join(written)}")
