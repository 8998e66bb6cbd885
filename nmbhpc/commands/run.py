"""``nmbhpc run CONFIG.toml -o OUT.h5``: one run of any solver, under ``mpirun -n K``.

A kinetics config (``solver = "kinetics"`` with a ``[kinetics]`` table,
:func:`nmbhpc.kinetics.config.is_kinetics_document`) runs the quantum-kinetic
solver through :class:`nmbhpc.kinetics.run.KineticRun` with the same options,
signals, checkpoints and failure handling; ``nmbhpc kinetics`` is an alias.

Order of work (every step collective on MPI.COMM_WORLD):
config text read on rank 0 and broadcast -> validated on every rank (same text,
same result) -> output path checked and file created (nothing is overwritten
without ``--force``), or reopened with ``--resume`` -> solver built (and restored
from the file's checkpoint) -> one record per output time appended to the
file, a checkpoint when due -> final state (if asked) -> status "completed".

Restart: ``--resume`` reopens OUT.h5 (written by a killed, failed or
signalled run of the same config), drops the records after its last
checkpoint and continues from there; without a checkpoint it starts over in
the same file. The resumed records equal an uninterrupted run's (same rank
count: bitwise up to the MFN/TS arithmetic, tested to 1e-12).

SIGUSR1/SIGUSR2 (SLURM's ``--signal``): checkpoint after the current output,
close the file with status "interrupted", exit with status 75.

An exception on any rank is logged with its rank number and the job is
aborted (``MPI_Abort``) so that a failure never turns into a hang; the file
keeps every output written before the failure.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import sys
import time

import numpy as np

from ..cli import UsageError, nonnegative_float, nonnegative_int, output_file

log = logging.getLogger("nmbhpc.run")

#: solvers whose state a checkpoint holds completely (final_state + restore)
RESUMABLE = ("manybody", "meanfield", "cumulant", "twa")


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
                   help="kinetics only: a new run whose initial field is FILE.h5's last snapshot")
    add_run_options(p)
    p.set_defaults(func=main)


def add_run_options(p) -> None:
    """The options ``run`` shares with its alias ``kinetics``."""
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.add_argument("--checkpoint-every", type=nonnegative_int, default=0, metavar="N",
                   help="checkpoint the solver state every N outputs (default: never by count)")
    p.add_argument("--checkpoint-interval", type=nonnegative_float, default=1800.0, metavar="SECONDS",
                   help="checkpoint when this much wall time passed since the last one "
                        "(default 1800; 0: never by time)")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.add_argument("--progress-interval", type=nonnegative_float, default=None, metavar="SECONDS",
                   help="wall time between progress lines (default: 10 s on a terminal; in "
                        "batch logs every 5%% of the run or 30 s)")


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
    from ..config import ConfigError
    from ..kinetics.config import load_any_config_text, load_kinetics_text
    from ..solvers import SOLVERS

    text = _read_text(args.config, comm)
    load = load_kinetics_text if require_kinetics else load_any_config_text
    try:
        config = load(text, source_path=os.path.abspath(args.config))
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    if args.from_snapshot is not None and config.solver != "kinetics":
        raise UsageError(f"--from-snapshot: only kinetics runs start from a snapshot "
                         f"(this config's solver is {config.solver!r})")
    if config.solver != "kinetics" and config.solver not in SOLVERS:
        raise UsageError(f"config error at 'solver': {config.solver!r} is not available in this "
                         f"build (available: {', '.join(sorted(SOLVERS))})")
    if args.force and args.resume:
        raise UsageError("--force and --resume exclude each other")
    if args.checkpoint_every < 0 or args.checkpoint_interval < 0:
        raise UsageError("--checkpoint-every and --checkpoint-interval must be >= 0")
    from ..run_control import RunControl

    # signal handlers before the file exists: a SIGUSR1 from now on stops the run cleanly
    control = RunControl(comm, args.checkpoint_every, args.checkpoint_interval)
    try:
        if config.solver == "kinetics":
            return _main_kinetics(args, config, comm, control)
        return _main(args, config, comm, control)
    finally:
        control.close()


def _progress_interval(args) -> float | None:
    """``--progress-interval``, or None for the cadence of :mod:`nmbhpc.progress`."""
    return args.progress_interval


def _main_kinetics(args, settings, comm, control) -> int:
    """Collective. The kinetic solver's run: file, hierarchy, records, checkpoints, summary."""
    from ..kinetics.output import KineticFileError
    from ..kinetics.run import KineticRun

    try:
        krun = KineticRun.open(settings, args.output, comm, force=args.force, resume=args.resume,
                               restart_from=args.from_snapshot, petsc_args=args.petsc_args,
                               attrs={"command": " ".join(sys.argv)})
    except (FileExistsError, FileNotFoundError, NotADirectoryError, IsADirectoryError,
            PermissionError, KineticFileError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    except (OSError, RuntimeError) as exc:
        from ..io.write_errors import describe_write_failure

        raise UsageError(describe_write_failure(exc, args.output)
                         or f"cannot create {args.output!r}: {exc}") from None
    if krun is None:
        if comm.Get_rank() == 0:
            print(f"nmbhpc run: {args.output} is already complete; nothing to resume")
        return 0
    try:
        try:
            summary, status = krun.execute(control, _progress_interval(args))
            krun.writer.close("completed" if status == 0 else "interrupted")
        except BaseException as exc:
            _fail(krun.writer, comm, exc)
            return 1
    finally:
        krun.destroy()
    if comm.Get_rank() == 0:
        print(summary)
    return status


def _main(args, config, comm, control) -> int:
    writer = _open_writer(args, config, comm)
    if writer is None:
        return 0
    writer.exit_timeout = 2.0  # a lone failing rank must reach MPI_Abort quickly
    from ..hierarchy.recording import record_hierarchy

    record_hierarchy(config, writer)  # collective; logs when the run leaves its solver's window

    try:
        summary, status = _run(config, writer, comm, _progress_interval(args), control)
        writer.close("completed" if status == 0 else "interrupted")
    except BaseException as exc:
        _fail(writer, comm, exc)  # returns only for I/O errors of a single-rank run
        return 1
    if comm.Get_rank() == 0:
        print(summary)
    return status


def _fail(writer, comm, exc: BaseException) -> None:
    """Report ``exc`` (with this rank's number), close what can be closed, abort a parallel job."""
    from ..io.write_errors import describe_write_failure

    rank, size = comm.Get_rank(), comm.Get_size()
    diagnosis = describe_write_failure(exc, writer.path)
    if diagnosis:
        log.error("run failed on rank %d of %d: %s", rank, size, diagnosis)
    elif isinstance(exc, KeyboardInterrupt):
        log.error("run interrupted on rank %d of %d", rank, size)
    else:
        log.exception("run failed on rank %d of %d", rank, size)
    try:
        # collective close with status "failed" if every rank failed; else the file stays "running"
        writer.__exit__(type(exc), exc, exc.__traceback__)
    except Exception as close_exc:
        log.error("%s could not be closed cleanly (%s); it is readable up to its last "
                  "flushed output", writer.path, close_exc)
        if size == 1:
            # HDF5's exit handler would retry the flush after MPI_Finalize and crash
            logging.shutdown()
            sys.stdout.flush()
            os._exit(1)
    if size > 1:
        comm.Abort(1)  # the other ranks may be blocked in a collective call: never hang
    if diagnosis is None:
        raise exc


def _open_writer(args, config, comm):
    """Create the run file, or reopen it for ``--resume``; None if nothing is left to do. Collective."""
    from ..io import RunFileError, RunWriter

    exists = comm.bcast(os.path.exists(args.output) if comm.Get_rank() == 0 else None, root=0)
    if args.resume and exists:
        if config.solver not in RESUMABLE:
            raise UsageError(f"--resume: solver {config.solver!r} has no checkpoints "
                             f"(resumable: {', '.join(RESUMABLE)})")
        try:
            writer = RunWriter.open_existing(args.output, comm)
        except RunFileError as exc:
            raise UsageError(f"--resume: {exc}") from None
        except OSError as exc:
            raise UsageError(f"--resume: cannot open {args.output!r} for writing: {exc}") from None
        if writer.config_toml != config.source_text:
            writer.close(writer.previous_status or "running")
            raise UsageError(f"--resume: {args.output} was written from a different config "
                             f"than {args.config!r} (its text is stored in the file's "
                             "'config_toml' attribute)")
        if writer.previous_status == "completed":
            writer.close("completed")
            if comm.Get_rank() == 0:
                print(f"nmbhpc run: {args.output} is already complete; nothing to resume")
            return None
        return writer
    try:
        return RunWriter.create(args.output, comm, config, force=args.force,
                                attrs={"command": " ".join(sys.argv)})
    except (FileExistsError, FileNotFoundError, NotADirectoryError, IsADirectoryError,
            PermissionError) as exc:
        raise UsageError(str(exc)) from None
    except (OSError, RuntimeError) as exc:
        from ..io.write_errors import describe_write_failure

        raise UsageError(describe_write_failure(exc, args.output)
                         or f"cannot create {args.output!r}: {exc}") from None


def _restart_point(config, writer):
    """(index of the first output to compute, checkpoint or None); truncates the file. Collective."""
    info = writer.checkpoint_info() if writer.n_records else None
    times = np.asarray(config.output.times)
    if info is None:
        writer.truncate(0)
        return 0, None
    start = info.n_records - 1
    if start >= len(times) or not np.isclose(times[start], info.time, rtol=1e-13, atol=1e-13):
        raise UsageError(f"--resume: the checkpoint at t = {info.time!r} is not output "
                         f"{start} of the config's output times")
    writer.truncate(info.n_records)
    return start, info


def _work(solver) -> tuple[str, int]:
    """The solver's natural unit of work for rates: RHS evaluations, matvecs or steps."""
    if hasattr(solver, "n_rhs"):
        return "RHS evaluations", int(solver.n_rhs)
    propagator = getattr(solver, "propagator", None)
    if getattr(propagator, "summary", {}).get("propagator") == "spectral":
        return "steps", int(getattr(solver, "steps", 0))  # its EPS work is done before step 1
    if propagator is not None and getattr(propagator, "matvecs", 0):
        return "matvecs", int(propagator.matvecs)
    if propagator is not None and hasattr(propagator, "iterations"):
        return "MFN iterations", int(propagator.iterations)
    return "steps", int(getattr(solver, "steps", 0))


def _run(config, writer, comm, progress_interval: float, control) -> tuple[str, int]:
    """Build the solver, stream its records into ``writer``; return (summary, exit status). Collective."""
    from ..solvers import solver_class

    wall0 = time.perf_counter()
    times = np.asarray(config.output.times)
    start, info = (0, None)
    if writer.previous_status is not None:  # reopened by --resume
        start, info = _restart_point(config, writer)
    run_config = config if start == 0 else dataclasses.replace(
        config, output=dataclasses.replace(config.output, times=times[start:]))
    solver = solver_class(config.solver)(run_config, comm)
    try:
        return _run_solver(config, solver, writer, comm, progress_interval, control,
                           start, info, wall0)
    finally:
        solver.destroy()


def _run_solver(config, solver, writer, comm, progress_interval, control, start, info,
                wall0) -> tuple[str, int]:
    """Collective. Stream ``solver``'s records from output ``start`` into ``writer``."""
    from ..progress import Progress
    from ..run_control import EXIT_INTERRUPTED

    times = np.asarray(config.output.times)
    if info is not None:
        local, offset, shape = solver.final_state()
        if tuple(shape) != info.shape:
            raise UsageError(f"--resume: checkpoint shape {info.shape} does not match the "
                             f"solver's state shape {tuple(shape)}")
        solver.restore(writer.read_checkpoint(info, offset, len(local)), info.time, info.extras)
        log.info("resumed from the checkpoint at t = %g (output %d of %d)",
                 info.time, start + 1, len(times))
    described = solver.describe()
    log.info("solver %s on %d rank(s): %s", config.solver, comm.Get_size(),
             ", ".join(f"{k}={v}" for k, v in described.items() if k != "solver"))
    writer.set_attrs(**{f"solver_{k}": v for k, v in described.items() if k != "solver"})
    can_checkpoint = config.solver in RESUMABLE
    if not can_checkpoint:
        control.every, control.interval = 0, 0.0
    progress = Progress(times[start], times[-1], len(times) - start, progress_interval)
    first = last = None
    stopped = False
    for i, rec in enumerate(solver.records()):
        if i > 0 or info is None:  # the checkpoint's record is already in the file
            writer.append(rec)
        first = first or rec
        last = rec
        work_name, work = _work(solver)
        progress.update(i, rec.time, work, work_name, getattr(solver, "steps", None))
        checkpoint, stop = control.decide(start + i)
        if start + i + 1 == len(times):
            continue  # done: a checkpoint or a stop now would gain nothing
        if checkpoint:
            _checkpoint(solver, writer, rec.time, can_checkpoint)
        if stop:
            stopped = True
            break
    if stopped:
        return (f"nmbhpc run: interrupted at t = {last.time:g} ({writer.path}: "
                f"{writer.n_records} of {len(times)} outputs); continue with --resume",
                EXIT_INTERRUPTED)
    # after the records: some solvers (TWA) accumulate these during the run
    for name, array in solver.static_datasets().items():
        if not writer.has_dataset(name):
            writer.write_static(name, array)
    if config.output.save_state and not writer.has_dataset("state/final"):
        state = solver.final_state()
        if state is not None:
            local, offset, shape = state
            writer.write_distributed("state/final", local, offset, shape)
    return _summary(config, writer, comm, described, first, last,
                    time.perf_counter() - wall0), 0


def _checkpoint(solver, writer, t: float, can_checkpoint: bool) -> None:
    """Collective. Write the solver state at output time ``t`` as the file's checkpoint."""
    if not can_checkpoint:
        log.warning("solver %s cannot checkpoint; its outputs so far are in %s",
                    getattr(solver, "name", "?"), writer.path)
        return
    local, offset, shape = solver.final_state()
    writer.write_checkpoint(local, offset, shape, time=t, extras=solver.checkpoint_extras())
    log.debug("checkpoint at t = %g", t)


def _summary(config, writer, comm, info, first, last, wall: float) -> str:
    times = config.output.times
    n = config.model.counts
    nue0 = float((first.nue_fraction * n).sum() / n.sum())
    nue1 = float((last.nue_fraction * n).sum() / n.sum())
    lines = [
        f"nmbhpc run: solver={config.solver} modes={config.model.n_modes} "
        f"N={config.model.n_total} ranks={comm.Get_size()} wall={wall:.2f}s",
        f"  output: {writer.path} ({len(times)} times, t = {times[0]:g} .. {times[-1]:g})",
    ]
    if "basis_dim" in info:
        lines.append(f"  basis dimension {info['basis_dim']}, nonzeros {info.get('nnz')}")
    lines += [
        f"  nu_e fraction {nue0:.6f} -> {nue1:.6f}" + ("" if first.time == times[0] else
                                                      f" (from t = {first.time:g}, resumed)"),
        f"  one-body entropy: max over modes {float(last.entropy.max()):.6f} at t = {last.time:g} "
        f"(initial {float(first.entropy.max()):.3g})",
        f"  monitors: |norm - 1| = {abs(last.norm - 1):.2e}, energy drift "
        f"{abs(last.energy - first.energy):.2e}"
        + f", B.J drift {abs(last.b_dot_j - first.b_dot_j):.2e}",
    ]
    return "\n".join(lines)
