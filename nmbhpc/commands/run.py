"""``nmbhpc run CONFIG.toml -o OUT.h5``: one run of any solver, under ``mpirun -n K``.

Argument parsing only: the run itself (file, restart, checkpoints, signals,
progress, summary, failure handling) is :func:`nmbhpc.pipeline.driver.main`, the
same for every registered solver (:mod:`nmbhpc.solvers`), kinetics included;
``nmbhpc kinetics`` is an alias for kinetics configs.

Config text is read on rank 0 and broadcast, then validated on every rank
(same text, same result). ``--set KEY=VALUE`` options are applied to the parsed
document first (:func:`nmbhpc.apply_overrides`, the helper of the Python API's
keyword overrides), so they are validated like the file; the run stores the
resulting config text, which a ``--resume`` must reproduce. ``--resume`` continues OUT.h5 from its last
checkpoint (every solver that checkpoints); ``--from-snapshot FILE.h5``
starts a new run from FILE.h5's last field snapshot (solvers that record
snapshots: kinetics) and is refused for the others. SIGUSR1/SIGUSR2 (SLURM's
``--signal``): checkpoint after the current output, close the file with
status "interrupted", exit with status 75.

One writer per file: the run claims OUT.h5 (a claim file ``OUT.h5.owner``,
:mod:`nmbhpc.io.ownership`) before creating, truncating or reopening it, and
a second run of the same OUT.h5 (plain, ``--force`` or ``--resume``) is
refused while the first one lives; a dead owner's claim is taken over.
"""
from __future__ import annotations

import os
import sys

from ..cli import UsageError, add_run_options, output_file


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "run", help="run one configuration and write a parallel-HDF5 run file",
        description="Run CONFIG.toml with the solver it names (kinetics configs too); "
                    "PETSc/SLEPc options (-mfn_tol, -mfn_ncv, -kin_ts_type, -log_view, ...) "
                    "pass through.")
    p.add_argument("config", help="TOML run configuration (docs/config.md, docs/kinetics.md)")
    p.add_argument("-o", "--output", required=True, type=output_file, help="HDF5 file to create")
    p.add_argument("--resume", "--restart", action="store_true", dest="resume",
                   help="continue OUT.h5 from its last checkpoint (start it if it does not exist)")
    p.add_argument("--from-snapshot", metavar="FILE.h5", default=None,
                   help="a new run whose initial field is FILE.h5's last snapshot (solvers "
                        "that record field snapshots: kinetics)")
    add_run_options(p)
    p.set_defaults(func=main)


def _read_text(path: str, comm) -> str:
    """Rank 0 reads the config; every rank gets the text or the same error. Collective."""
    text = err = None
    if comm.Get_rank() == 0:
        try:
            with open(path, "rb") as fh:
                text = fh.read().decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            err = f"cannot read config {path!r}: {exc}"
    text, err = comm.bcast((text, err), root=0)
    if err:
        raise UsageError(err)
    return text


def main(args, require_kinetics: bool = False) -> int:
    """Collective on MPI.COMM_WORLD. ``require_kinetics``: the ``nmbhpc kinetics`` alias."""
    from . import start_parallel

    comm = start_parallel(args)
    from .. import override_text
    from ..config import ConfigError
    from ..config import load_any_config_text
    from ..kinetics.config import load_kinetics_text
    from ..pipeline.driver import RunOptions, RunRefused
    from ..pipeline.driver import main as drive

    text = _read_text(args.config, comm)
    load = load_kinetics_text if require_kinetics else load_any_config_text
    path = os.path.abspath(args.config)
    try:
        config = load(override_text(text, args.overrides, path), source_path=path)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    # -o, --checkpoint-every/-interval are checked by their argparse types (nmbhpc.cli)
    _check_output_is_not_config(args, comm)
    if args.takeover:
        from ..io.ownership import OwnershipError, break_claim

        try:
            break_claim(args.output, comm)
        except OwnershipError as exc:
            raise UsageError(str(exc)) from None
    options = RunOptions(output=args.output, force=args.force, resume=args.resume,
                         from_snapshot=args.from_snapshot,
                         progress_interval=args.progress_interval,
                         attrs={"command": " ".join(sys.argv)},
                         config_name=config_name(args.config, args.overrides))
    try:
        return drive(config, options, comm, args.checkpoint_every, args.checkpoint_interval)
    except RunRefused as exc:
        raise UsageError(str(exc)) from None


def config_name(path: str, overrides) -> str:
    """The config as the command line gave it, for messages: ``c.toml --set model.mu=5``."""
    from ..schema import toml_value

    return " ".join([path] + [f"--set {k}={toml_value(v)}" for k, v in overrides])


def _check_output_is_not_config(args, comm) -> None:
    """Collective. Refuse ``-o`` naming the config file itself (rank 0 decides)."""
    same = None
    if comm.Get_rank() == 0:
        out, cfg = os.path.realpath(args.output), os.path.realpath(args.config)
        try:
            same = out == cfg or os.path.samefile(args.output, args.config)
        except OSError:
            same = False
    if comm.bcast(same, root=0):
        raise UsageError(f"-o {args.output!r} is the run's config file {args.config!r}; "
                         "name another output file")
