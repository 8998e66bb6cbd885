"""Command-line entry point: ``nmbhpc <command> ...``.

Each sub-command lives in ``nmbhpc.commands.<name>`` and provides
``register(subparsers)``, which adds its parser and sets ``func``. Arguments
that argparse does not know and that start with ``-`` (``-mfn_tol 1e-12``,
``-log_view``, ``-ts_type rk``) are handed to PETSc's options database by
the commands that use PETSc (:data:`PETSC_COMMANDS`); the others refuse them.

Exit statuses: 0 success; 2 bad input (one line on stderr naming the
argument, value or file; never a traceback); 141 (128 + SIGPIPE, as for any
Unix filter) when the reader of stdout went away (``nmbhpc info f.h5 | head``);
130 after SIGINT and 143 after SIGTERM (one line on stderr; a run closes its
file first, with the outputs written so far); 75 after SIGUSR1/SIGUSR2 (a
run checkpoints and stops; before its file exists, nothing is written);
other statuses are the command's own (``run``: 1 failed).
PETSc options that no PETSc object read by the end of the command (a typo
such as ``-mf_ts_rtl``) are reported as a warning on rank 0.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import math
import os
import signal
import sys
import threading

from . import __version__

# one line per sub-command module (nmbhpc/commands/<name>.py)
COMMANDS = (
    "run",
    "info",
    "doctor",
    "kinetics",
    "hierarchy",
    "compare",
    "analyze",
    "plot",
    "slurm",
    "hierarchy_experiment",
    "experiment",
    "study",
)


#: commands that pass unrecognised ``-options`` to PETSc (or into job scripts)
PETSC_COMMANDS = ("run", "kinetics", "doctor", "hierarchy_experiment", "slurm", "study")

#: exit status after stdout was closed by its reader (128 + SIGPIPE)
EXIT_BROKEN_PIPE = 141

log = logging.getLogger(__name__)


class UsageError(Exception):
    """Bad command-line input; printed without a traceback, exit status 2."""


class Interrupted(KeyboardInterrupt):
    """A stop signal (SIGTERM, or SIGUSR1/SIGUSR2 before a run handles them itself).

    A KeyboardInterrupt, so that a run reports it as an interruption and closes
    its file like after Ctrl-C.
    """

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_interrupted(signum, frame):
    raise Interrupted(signum)


#: signals that end a command with one line instead of the default death by signal
#: (``nmbhpc run`` replaces the SIGUSR handlers with its checkpoint-and-stop ones)
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2)


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (no usage block), printed by rank 0 only.

    No abbreviations and no values glued to short options: argparse would read
    PETSc's ``-options_left`` as ``-o ptions_left`` and ``-hostile_x`` as
    ``-h``, and a misspelt long option could silently match another. Write
    ``-o FILE`` or ``-o=FILE``.
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def _get_option_tuples(self, option_string):
        if len(option_string) > 2 and option_string[0] in self.prefix_chars \
                and option_string[1] not in self.prefix_chars:
            return []  # a PETSc option, not a short option with its value attached
        return super()._get_option_tuples(option_string)

    def error(self, message):
        if _rank() == 0:
            sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        sys.exit(2)


# ---------------------------------------------------------------- argument types
# argparse ``type=`` functions: a refused value ends as
# "nmbhpc run: error: argument --checkpoint-interval: must be ..., got 'nan'".

def _number(text: str, kind=float):
    try:
        value = kind(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(
            f"{'an integer' if kind is int else 'a number'} is required, got {text!r}") from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def finite_float(text: str) -> float:
    """A finite float (NaN and +-inf refused)."""
    return _number(text)


def nonnegative_float(text: str) -> float:
    """A finite float >= 0 (seconds, intervals)."""
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """A finite float > 0."""
    value = _number(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return value


def nonnegative_int(text: str) -> int:
    """An integer >= 0 (counts)."""
    value = _number(text, int)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return value


def output_file(text: str) -> str:
    """A path a file can be created at: not empty, not a directory, no control characters."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"must name a file, got {text!r}")
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise argparse.ArgumentTypeError(f"contains a control character: {text!r}")
    if text.endswith(os.sep) or os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text!r} is a directory, not a file")
    return text


def assignment(text: str) -> tuple:
    """``--set KEY=VALUE``: ``(KEY, value)`` with VALUE read as a TOML value (``5``,
    ``2.5e-3``, ``true``, ``[1, 2]``, ``"text"``, ``{kind = "bulb"}``); a bare word
    that is not TOML (``meanfield``) is a string. The key is checked when the
    config is validated (nmbhpc.apply_overrides)."""
    import tomllib

    key, eq, value = text.partition("=")
    key, value = key.strip(), value.strip()
    if not eq or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE (e.g. model.mu=5), got {text!r}")
    if not value:
        raise argparse.ArgumentTypeError(f"{key}: no value after '=' (strings: {key}=word "
                                         f"or {key}='\"text\"')")
    try:
        doc = tomllib.loads(f"v = {value}")
    except tomllib.TOMLDecodeError as exc:
        if value[0] in "[{\"'" or not value.isprintable():
            raise argparse.ArgumentTypeError(f"{key}: {value!r} is not a TOML value ({exc})") from None
        return key, value
    if list(doc) != ["v"]:  # "5\nx = 1" would set a second key
        raise argparse.ArgumentTypeError(f"{key}: {value!r} is not one TOML value")
    return key, doc["v"]


def on_rank0(comm, work) -> int:
    """Collective on ``comm``: call ``work()`` on rank 0 only; every rank then
    raises the same UsageError, or returns 0.

    A closed stdout on rank 0 (BrokenPipeError) is re-raised on every rank, to
    end as :data:`EXIT_BROKEN_PIPE`; any other exception on rank 0 is re-raised
    there after the other ranks were told to exit with status 1, so that a bug
    never leaves them waiting.
    """
    outcome = None
    if comm.Get_rank() == 0:
        try:
            work()
        except UsageError as exc:
            outcome = ("usage", str(exc))
        except BrokenPipeError:
            outcome = ("pipe", None)
        except BaseException:
            comm.bcast(("bug", None), root=0)
            raise
    kind, message = comm.bcast(outcome, root=0) or (None, None)
    if kind == "usage":
        raise UsageError(message)
    if kind == "pipe":
        raise BrokenPipeError
    return 1 if kind == "bug" else 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="nmbhpc",
        description="MPI-parallel neutrino flavor physics: exact many-body, mean field, kinetics.",
        epilog="Unrecognised options starting with '-' are passed to PETSc/SLEPc "
        "(e.g. -mfn_tol 1e-12 -log_view).",
    )
    parser.add_argument("--version", action="version", version=f"nmbhpc {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        importlib.import_module(f"{__package__}.commands.{name}").register(sub)
    return parser


class _Forward(argparse.Action):
    """Keep an option as typed in ``namespace.run_options`` after ``check`` (the type
    ``run`` gives it) accepted its value: the ``nmbhpc run`` line of a job script."""

    def __init__(self, *args, check=None, **kwargs):
        self.check = check
        super().__init__(*args, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        words = list(getattr(namespace, "run_options", None) or [])
        words.append(option_string)
        if self.nargs != 0:
            if self.check is not None:
                try:
                    self.check(values)
                except (argparse.ArgumentTypeError, ValueError) as exc:
                    parser.error(f"argument {option_string}: {exc}")
            words.append(values)
        namespace.run_options = words


def add_run_options(p, *, forward: bool = False, skip: tuple = ()) -> None:
    """The options ``run`` shares with its alias ``kinetics`` and ``study``.

    ``forward``: declare them for a command that passes them on to the ``nmbhpc
    run`` of a job script (``slurm``): each is checked as ``run`` would, then kept
    as typed in ``args.run_options``. ``skip``: options that command defines itself.
    """
    options = [
        (("--set",), dict(action="append", default=[], type=assignment, metavar="KEY=VALUE",
                          dest="overrides",
                          help="set a config key before validation, e.g. --set model.mu=5 --set "
                               "solver=meanfield --set output.n_out=11 (repeatable; VALUE is a "
                               "TOML value, a bare word a string); the file stores the config "
                               "with these keys set, and --resume needs the same --set options")),
        (("--force",), dict(action="store_true",
                            help="overwrite an existing output file (never one a live run is "
                                 "writing)")),
        (("--takeover",), dict(action="store_true",
                               help="break OUT.h5's ownership claim left by a run that cannot be "
                                    "checked from here (another host, no SLURM); only when you "
                                    "know it is gone")),
        (("--checkpoint-every",), dict(type=nonnegative_int, default=0, metavar="N",
                                       help="checkpoint the solver state every N outputs "
                                            "(default: never by count)")),
        (("--checkpoint-interval",), dict(type=nonnegative_float, default=1800.0,
                                          metavar="SECONDS",
                                          help="checkpoint when this much wall time passed since "
                                               "the last one (default 1800; 0: never by time)")),
        (("--log-level",), dict(default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])),
        (("--progress-interval",), dict(type=nonnegative_float, default=None, metavar="SECONDS",
                                        help="wall time between progress lines (default: 10 s on "
                                             "a terminal; in batch logs every 5%% of the run or "
                                             "30 s)")),
    ]
    for flags, kwargs in options:
        if flags[0] in skip:
            continue
        if forward:
            flag_only = kwargs.get("action") == "store_true"
            kwargs = {"action": _Forward, "dest": "run_options", "default": None,
                      "nargs": 0 if flag_only else None, "check": kwargs.get("type"),
                      "choices": kwargs.get("choices"), "metavar": kwargs.get("metavar"),
                      "help": "for the job's nmbhpc run: " + kwargs.get("help", flags[0])}
        p.add_argument(*flags, **kwargs)


def split_petsc_args(extra: list[str], command: str = "run") -> list[str]:
    """Check that leftover argv items are PETSc options (``-name [value]``) that
    ``command`` accepts; raise UsageError naming the first that is not."""
    from .runtime.stack import PetscOptionError, parse_petsc_args

    if extra and command not in PETSC_COMMANDS:
        raise UsageError(f"unrecognized arguments: {' '.join(extra)} "
                         f"('nmbhpc {command}' takes no PETSc options)")
    try:
        parse_petsc_args(extra)
    except PetscOptionError as exc:
        raise UsageError(str(exc)) from None
    return list(extra)


def main(argv: list[str] | None = None) -> int:
    """Run one command; return its exit status (see the module docstring)."""
    try:
        return _main(argv)
    except BrokenPipeError:
        # the reader of stdout is gone: nothing more can be shown, and Python's
        # final flush of stdout must not fail again at interpreter exit
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_BROKEN_PIPE


def _main(argv) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    from .config import ConfigError
    from .runtime.stack import PetscOptionError

    previous = {}
    if threading.current_thread() is threading.main_thread():  # signal.signal's condition
        previous = {sig: signal.signal(sig, _raise_interrupted) for sig in _STOP_SIGNALS}
    try:
        if getattr(args, "config", "") is None and extra and not extra[0].startswith("-"):
            # argparse fills an optional positional (slurm's CONFIG) before the options
            # that follow KIND, so `slurm single --set k=v c.toml` leaves c.toml over
            args.config = extra.pop(0)
        args.petsc_args = split_petsc_args(extra, args.command)
        status = int(args.func(args) or 0)
    except (UsageError, ConfigError, PetscOptionError) as exc:
        if _rank() == 0:
            print(f"nmbhpc {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        return _interrupted(args.command, getattr(exc, "signum", signal.SIGINT))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if args.command != "slurm":  # slurm puts them into job scripts
        _warn_unused_petsc_options(args.petsc_args)
    return status


def _interrupted(command: str, signum: int) -> int:
    """One line for a stop signal; the exit status of the module docstring."""
    from .pipeline.control import EXIT_INTERRUPTED

    name = signal.Signals(signum).name
    if signum in (signal.SIGUSR1, signal.SIGUSR2):
        status = EXIT_INTERRUPTED
    else:
        status = 128 + int(signum)
    if _rank() == 0:
        print(f"nmbhpc {command}: interrupted by {name} (exit status {status})", file=sys.stderr)
    return status


def _warn_unused_petsc_options(petsc_args: list[str]) -> None:
    """Warn (rank 0) about PETSc options that no PETSc object read: a typo, or an
    option of a solver this run did not use. A warning, not an error: which
    options are read depends on the config (``-eps_*`` only with the spectral
    propagator), so it is known only after the run."""
    from .runtime.stack import parse_petsc_args, unused_petsc_options

    left = unused_petsc_options(parse_petsc_args(petsc_args))
    if left and _rank() == 0:
        log.warning("PETSc option%s %s %s not used by any solver (misspelt, or not read by "
                    "this config's solver; PETSc's -help lists the options a run reads)",
                    "s" if len(left) > 1 else "", " ".join(left),
                    "were" if len(left) > 1 else "was")


def _rank() -> int:
    """MPI rank if MPI is already initialised, else 0 (usage errors may precede MPI)."""
    mod = sys.modules.get("mpi4py.MPI")
    return mod.COMM_WORLD.Get_rank() if mod is not None and mod.Is_initialized() else 0
