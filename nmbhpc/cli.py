"""Command-line entry point: ``nmbhpc <command> ...``.

Each sub-command lives in ``nmbhpc.commands.<name>`` and provides
``register(subparsers)``, which adds its parser and sets ``func``. Arguments
that argparse does not know and that start with ``-`` (``-mfn_tol 1e-12``,
``-log_view``, ``-ts_type rk``) are handed to PETSc's options database.
"""
from __future__ import annotations

import argparse
import importlib
import sys

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
)


class UsageError(Exception):
    """Bad command-line input; printed without a traceback, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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


def split_petsc_args(extra: list[str]) -> list[str]:
    """Check that leftover argv items are PETSc options (``-name [value]``)."""
    if extra and not extra[0].startswith("-"):
        raise UsageError(f"unexpected argument {extra[0]!r} (PETSc options start with '-')")
    return list(extra)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    from .config import ConfigError

    try:
        args.petsc_args = split_petsc_args(extra)
        return int(args.func(args) or 0)
    except (UsageError, ConfigError) as exc:
        if _rank() == 0:
            print(f"nmbhpc {args.command}: error: {exc}", file=sys.stderr)
        return 2


def _rank() -> int:
    """MPI rank if MPI is already initialised, else 0 (usage errors may precede MPI)."""
    mod = sys.modules.get("mpi4py.MPI")
    return mod.COMM_WORLD.Get_rank() if mod is not None and mod.Is_initialized() else 0
