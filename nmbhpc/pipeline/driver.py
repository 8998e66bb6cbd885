"""The run driver: one run of any registered solver, from a validated config to its file.

Every step is collective on the run's communicator::

    run = Run.open(config, RunOptions(output="out.h5", resume=True), comm)   # None: complete
    summary, status = run.execute(control)    # status 0, or EXIT_INTERRUPTED if stopped
    run.close(status); run.destroy()

or :func:`run` (the same, for Python callers and tests) and :func:`main`
(the same with the command line's failure handling: ``nmbhpc run``).

Order of work: the solver's cheap refusals (``check``) -> the output path
checked and the file created (nothing is overwritten without ``force``), or
reopened with ``resume`` -> the scale hierarchy recorded -> the solver built,
its static datasets written, its state restored from the file's checkpoint
(or, where the solver supports it, set from another file's last snapshot) ->
one record per output time appended (and field snapshots where the solver
records them), a checkpoint when :class:`~nmbhpc.pipeline.control.RunControl`
says so -> static datasets and the final state (if asked) -> status
"completed". The registry (:mod:`nmbhpc.solvers`) says which solver, which
file format, whether it resumes and which streams it records.

Restart: ``resume`` reopens the file (written by a killed, failed or
signalled run of the same config), drops the records (and snapshots) after
its last checkpoint and continues from there; without a checkpoint it starts
over in the same file. The resumed records equal an uninterrupted run's (same
rank count: bitwise up to the MFN/TS arithmetic, tested to 1e-12).
``from_snapshot`` is different: a *new* run whose initial field is another
file's last snapshot (its time included), e.g. to continue with a changed config.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from ..config import config_differences
from ..io.run_file import RESOLVED_CONFIG_ATTR
from ..physics.flavor import species_fractions
from ..physics import invariants
from ..solvers import FIELD_SNAPSHOTS, REGISTRY, resumable, spec_of
from .control import EXIT_INTERRUPTED

log = logging.getLogger(__name__)


class RunRefused(ValueError):
    """A run that cannot start as asked; the message names the flag, file or key."""


@dataclass
class RunOptions:
    """How to run a config (the command-line flags of ``nmbhpc run``)."""

    output: str
    force: bool = False
    resume: bool = False
    from_snapshot: str | None = None
    progress_interval: float | None = None     # None: the cadence of nmbhpc.pipeline.progress
    attrs: dict = field(default_factory=dict)  # extra root attributes of a new file
    config_name: str = ""                      # the config as the user named it (messages)
    keep_records: bool = False                 # keep every record in Run.records (Python API)


@dataclass
class RunResult:
    """What :func:`run` did: records computed by this call, exit status, summary."""

    records: list
    status: int
    summary: str


def writer_class(file_format: str):
    """The writer of a file format (``SolverSpec.file_format``)."""
    if file_format == "nmbhpc-kinetics":
        from ..kinetics.output import KineticWriter

        return KineticWriter
    from ..io import RunWriter

    return RunWriter


#: what a writer raises for an output path it refuses (rank 0's checks, on every rank)
PATH_ERRORS = (FileExistsError, FileNotFoundError, NotADirectoryError, IsADirectoryError,
               PermissionError)


def _create(writer_cls, config, options: RunOptions, comm):
    """Collective. Create the output file; a refused path raises one of :data:`PATH_ERRORS`,
    a failing file system :class:`RunRefused` with the diagnosis."""
    from ..io.write_errors import describe_write_failure

    try:
        return writer_cls.create(options.output, comm, config, force=options.force,
                                 attrs=options.attrs)
    except PATH_ERRORS:
        raise
    except (OSError, RuntimeError) as exc:
        raise RunRefused(describe_write_failure(exc, options.output)
                         or f"cannot create {options.output!r}: {exc}") from None


def _reopen(writer_cls, config, options: RunOptions, comm):
    """Collective. Reopen the output for ``--resume``; None if it is complete."""
    from ..io import RunFileError

    name = config.solver
    if not spec_of(config).resumable:
        raise RunRefused(f"--resume: solver {name!r} has no checkpoints "
                         f"(resumable: {', '.join(resumable())})")
    try:
        writer = writer_cls.open_existing(options.output, comm)
    except RunFileError as exc:
        raise RunRefused(f"--resume: {exc}") from None
    except OSError as exc:
        raise RunRefused(f"--resume: cannot open {options.output!r} for writing: {exc}") from None
    changed = config_differences(writer.config_toml, config,
                                 writer.root_attr(RESOLVED_CONFIG_ATTR))
    if changed:
        writer.close(writer.previous_status or "running")
        shown = "; ".join(changed[:3]) + (f"; and {len(changed) - 3} more" if len(changed) > 3
                                          else "")
        raise RunRefused(f"--resume: {options.output} was written from a different config "
                         f"than {options.config_name or config.source_path!r}: {shown} (its text "
                         "is stored in the file's 'config_toml' attribute)")
    if writer.previous_status == "completed":
        writer.close("completed")
        return None
    return writer


def _resumed_config(config, info):
    """The config a resumed solver is built from: a config with a list of output times
    starts at the checkpoint's output (the solver's first record is the checkpoint's)."""
    output = getattr(config, "output", None)
    if info is None or output is None:
        return config
    times = np.asarray(output.times)
    start = info.n_records - 1
    if start >= len(times) or not np.isclose(times[start], info.time, rtol=1e-13, atol=1e-13):
        raise RunRefused(f"--resume: the checkpoint at t = {info.time!r} is not output "
                         f"{start} of the config's output times")
    return dataclasses.replace(config, output=dataclasses.replace(output, times=times[start:]))


def _record_times(config, solver, start: int) -> np.ndarray:
    """Times of the records still to come (the first is the checkpoint's when resumed): a
    config's list of output times, else the solver's ``record_times()``."""
    output = getattr(config, "output", None)
    if output is not None:
        return np.asarray(output.times)[start:]
    return np.asarray(solver.record_times())


class Run:
    """A solver bound to its open output file (build with :meth:`open`)."""

    def __init__(self, config, options: RunOptions, comm, writer, info):
        self.config, self.options, self.comm = config, options, comm
        self.spec = spec_of(config)
        self.writer = writer
        self.info = info          # the checkpoint resumed from, or None
        self.solver = None
        # records computed by execute(), kept when asked (and for the kinetic summary)
        self.records = []
        self._keep = options.keep_records or self.spec.file_format == "nmbhpc-kinetics"
        self.first = None

    @classmethod
    def open(cls, config, options: RunOptions, comm):
        """Collective. Check the config, create (or, ``resume``, reopen) the output.

        Returns None when ``resume`` finds the run already completed. Raises
        (same exception on every rank, before the solver is built)
        FileExistsError & co. (:data:`PATH_ERRORS`) for the output path and
        :class:`RunRefused` for anything else the user must change: flags, a
        file that cannot be resumed, a config the solver refuses.
        """
        spec = spec_of(config)
        if options.force and options.resume:
            raise RunRefused("--force and --resume exclude each other")
        if options.from_snapshot is not None and not spec.from_snapshot:
            able = [s.name for s in REGISTRY.values() if s.from_snapshot]
            raise RunRefused(f"--from-snapshot: this config's solver {spec.name!r} cannot start "
                             f"from a snapshot (solvers that can: {', '.join(able)})")
        check = getattr(spec.load(), "check", None)
        if check is not None:
            try:
                check(config, comm)
            except ValueError as exc:
                raise RunRefused(str(exc)) from None
        writer_cls = writer_class(spec.file_format)
        exists = comm.bcast(os.path.exists(options.output) if comm.Get_rank() == 0 else None)
        if options.resume and exists:
            writer = _reopen(writer_cls, config, options, comm)
            if writer is None:
                return None
            writer.exit_timeout = 2.0  # a lone failing rank must reach MPI_Abort quickly
            info = writer.checkpoint_info() if writer.n_records else None
            try:
                writer.rewind(info)  # no checkpoint yet: start over in the same file
            except BaseException:
                writer.close(writer.previous_status or "running")
                raise
            return cls(config, options, comm, writer, info)
        writer = _create(writer_cls, config, options, comm)
        writer.exit_timeout = 2.0
        return cls(config, options, comm, writer, None)

    # ------------------------------------------------------------------ start
    def start(self) -> None:
        """Collective. Record the hierarchy, build the solver, write its static datasets and
        restore its state (checkpoint, or another file's snapshot)."""
        from ..hierarchy.recording import record_hierarchy

        config, writer, info = self.config, self.writer, self.info
        record_hierarchy(config, writer)  # collective; logs when the run leaves its window
        self.solver = solver = self.spec.load()(_resumed_config(config, info), self.comm)
        writer.write_statics(solver.static_datasets())
        if info is not None:
            local, offset, shape = solver.final_state()
            if tuple(shape) != tuple(info.shape):
                raise RunRefused(f"--resume: checkpoint shape {info.shape} does not match the "
                                 f"solver's state shape {tuple(shape)}")
            solver.restore(writer.read_checkpoint(info, offset, len(local)), info.time,
                           info.extras)
            log.info("resumed from the checkpoint at t = %g (%s: %d outputs kept)",
                     info.time, writer.path, info.n_records)
        elif self.options.from_snapshot is not None:
            self._start_from_snapshot(self.options.from_snapshot)

    def _start_from_snapshot(self, path) -> None:
        """Collective. Initial field and time from the last snapshot of file ``path``."""
        from ..config import load_any_config_text

        lo, hi = self.solver.snapshot_region()
        t0, old_text, block = type(self.writer).read_snapshot(path, self.comm, lo, hi)
        self.solver.start_from_snapshot(t0, block, load_any_config_text(old_text))
        log.info("starting from the snapshot of %s at t = %g", path, t0)

    # ---------------------------------------------------------------- the loop
    def execute(self, control=None) -> tuple[str, int]:
        """Collective. Stream the solver's records into the file; return (summary, status).

        ``control`` (:class:`~nmbhpc.pipeline.control.RunControl` or anything with
        its ``decide(index) -> (checkpoint, stop)``) decides after each output
        whether to checkpoint and whether to stop (status ``EXIT_INTERRUPTED``).
        """
        from .progress import Progress

        wall0 = time.perf_counter()
        if self.solver is None:
            self.start()
        solver, writer, config, info = self.solver, self.writer, self.config, self.info
        start = 0 if info is None else info.n_records - 1  # index of the first record
        described = solver.describe()
        log.info("solver %s on %d rank(s): %s", config.solver, self.comm.Get_size(),
                 ", ".join(f"{k}={v}" for k, v in described.items() if k != "solver"))
        writer.set_attrs(**{f"solver_{k}": v for k, v in described.items() if k != "solver"})
        times = _record_times(config, solver, start)
        n_total = start + len(times)
        progress = Progress(times[0], times[-1], len(times), self.options.progress_interval)
        snapshots = FIELD_SNAPSHOTS in self.spec.streams
        last = None
        stopped = False
        monitor = _pehlivan_monitor(config)
        for i, rec in enumerate(solver.records()):
            if monitor is not None and rec.pair_correlation is not None:
                rec = dataclasses.replace(rec, pehlivan=monitor(rec))
            if i > 0 or info is None:  # the checkpoint's record is already in the file
                writer.append(rec)
                if self._keep:
                    self.records.append(rec)
            self.first = self.first or rec
            last = rec
            if snapshots:
                for snap in solver.snapshots():
                    writer.append_snapshot(snap)
            work_name, work = solver.work()
            progress.update(i, rec.time, work, work_name, solver.steps)
            if control is None or start + i + 1 == n_total:
                continue  # done: a checkpoint or a stop now would gain nothing
            checkpoint, stop = control.decide(start + i)
            if checkpoint:
                self._checkpoint(rec.time)
            if stop:
                stopped = True
                break
        if stopped:
            return (f"nmbhpc run: interrupted at t = {last.time:g} ({writer.path}: "
                    f"{writer.n_records} of {n_total} outputs); continue with --resume",
                    EXIT_INTERRUPTED)
        if snapshots:
            for snap in solver.snapshots():  # snapshot times after the last output
                writer.append_snapshot(snap)
        # after the records: some solvers (TWA) accumulate these during the run
        writer.write_statics(solver.static_datasets())
        save_state = getattr(getattr(config, "output", None), "save_state", False)
        if save_state and not writer.has_dataset("state/final"):
            state = solver.final_state()
            if state is not None:
                writer.write_distributed("state/final", *state)
        return self._summary(described, last, time.perf_counter() - wall0), 0

    def _checkpoint(self, t: float) -> None:
        """Collective. Write the solver state at output time ``t`` as the file's checkpoint."""
        if not self.spec.resumable:
            log.warning("solver %s cannot checkpoint; its outputs so far are in %s",
                        self.spec.name, self.writer.path)
            return
        local, offset, shape = self.solver.final_state()
        self.writer.write_checkpoint(local, offset, shape, time=t,
                                     extras=self.solver.checkpoint_extras())
        log.debug("checkpoint at t = %g", t)

    # ------------------------------------------------------------- summaries
    def _summary(self, described: dict, last, wall: float) -> str:
        if self.spec.file_format == "nmbhpc-kinetics":
            return self._kinetic_summary(wall)
        config, writer, first = self.config, self.writer, self.first
        times = config.output.times
        model = config.model
        f0 = species_fractions(model, first.polarization)
        f1 = species_fractions(model, last.polarization)
        flavor = ", ".join(f"{k} fraction {f0[k]:.6f} -> {f1[k]:.6f}" for k in f0)
        lines = [
            f"nmbhpc run: solver={config.solver} modes={config.model.n_modes} "
            f"N={config.model.n_total} ranks={self.comm.Get_size()} wall={wall:.2f}s",
            f"  output: {writer.path} ({len(times)} times, t = {times[0]:g} .. {times[-1]:g})",
        ]
        if "basis_dim" in described:
            lines.append(f"  basis dimension {described['basis_dim']}, "
                         f"nonzeros {described.get('nnz')}")
        lines += [
            f"  {flavor}" + ("" if first.time == times[0] else f" (from t = {first.time:g}, resumed)"),
            f"  one-body entropy: max over modes {float(last.entropy.max()):.6f} at "
            f"t = {last.time:g} (initial {float(first.entropy.max()):.3g})",
            f"  monitors: |norm - 1| = {abs(last.norm - 1):.2e}, energy drift "
            f"{abs(last.energy - first.energy):.2e}"
            + f", B.J drift {abs(last.b_dot_j - first.b_dot_j):.2e}",
        ]
        if model.mu.is_constant and first.pehlivan is not None and last.pehlivan is not None:
            h0, h1 = first.pehlivan, last.pehlivan
            lines.append(f"  Pehlivan invariants: max drift {float(np.max(np.abs(h1 - h0))):.2e} "
                         f"(max |h_p| {float(np.max(np.abs(h0))):.3g})")
        return "\n".join(lines)

    def _kinetic_summary(self, wall: float) -> str:
        s, solver, records = self.config, self.solver, self.records
        box = f"nx={s.grid.nx}" if s.grid.axes == (2,) else "shape=" + "x".join(map(str, s.grid.shape))
        resumed = "" if self.info is None else f" (resumed at t = {self.info.time:g})"
        lines = [f"nmbhpc run: solver=kinetics {box} n_dir={s.grid.n_dir} "
                 f"n_phi={s.grid.n_phi} nE={s.physics.n_energy} ranks={self.comm.Get_size()} "
                 f"wall={wall:.2f}s steps={solver.steps}",
                 f"  wrote {self.writer.path}: {self.writer.n_records} records"
                 + (f" (t = {records[0].time:g} .. {records[-1].time:g})" if records else "")
                 + f", {self.writer.n_snap} snapshots; the run ended at t = {solver.time:g}"
                 + resumed]
        if records:
            r = records[-1]
            lines.append(f"  final ELN = {r.lepton_number[0]:.6g}, XLN = {r.lepton_number[1]:.6g}, "
                         f"off-diagonal amplitude nu {r.offdiag_amplitude[0]:.3e}, "
                         f"min(P0 - |P|) = {min(x.trace_margin for x in records):.3e}")
        return "\n".join(lines)

    # ----------------------------------------------------------------- ending
    def close(self, status: int) -> None:
        """Collective. Close the file "completed" (status 0) or "interrupted"."""
        self.writer.close("completed" if status == 0 else "interrupted")

    def destroy(self) -> None:
        """Collective. Free the solver's PETSc objects (the file is closed by :meth:`close`)."""
        if self.solver is not None:
            self.solver.destroy()
            self.solver = None


def run(config, output, comm, *, control=None, **options) -> RunResult:
    """Collective on ``comm``. Run a validated ``config`` into file ``output``.

    ``options``: the fields of :class:`RunOptions` (``force``, ``resume``,
    ``from_snapshot``, ...). On an exception the file is closed "failed" if
    every rank fails, else left "running" (the caller must then abort the job).
    """
    r = Run.open(config, RunOptions(output=os.fspath(output), keep_records=True, **options), comm)
    if r is None:
        return RunResult([], 0, f"{output} is already complete; nothing to resume")
    try:
        with r.writer:
            summary, status = r.execute(control)
            r.close(status)
        return RunResult(r.records, status, summary)
    finally:
        r.destroy()


def main(config, options: RunOptions, comm, checkpoint_every: int = 0,
         checkpoint_interval: float = 0.0) -> int:
    """Collective. ``nmbhpc run``: run ``config`` with signals, checkpoints and failure handling.

    Prints the summary on rank 0 and returns the exit status. A
    :class:`RunRefused` before the run starts propagates (the command turns
    it into a one-line usage error). An exception on any rank during the run
    is logged with its rank number and the job is aborted (``MPI_Abort``) so
    that a failure never turns into a hang; the file keeps every output
    written before the failure.
    """
    from .control import RunControl

    # signal handlers before the file exists: a SIGUSR1 from now on stops the run cleanly
    control = RunControl(comm, checkpoint_every, checkpoint_interval)
    try:
        try:
            r = Run.open(config, options, comm)
        except PATH_ERRORS as exc:
            raise RunRefused(str(exc)) from None
        if r is None:
            if comm.Get_rank() == 0:
                print(f"nmbhpc run: {options.output} is already complete; nothing to resume")
            return 0
        if not r.spec.resumable:
            control.every, control.interval = 0, 0.0
        try:
            try:
                summary, status = r.execute(control)
                r.close(status)
            except BaseException as exc:
                _fail(r.writer, comm, exc)  # returns only for I/O errors of a single-rank run
                return 1
        finally:
            r.destroy()
    finally:
        control.close()
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


def _pehlivan_monitor(config):
    """``record -> <h_p>`` for spin runs of single-angle models with distinct omegas, else None."""
    model = getattr(config, "model", None)
    if model is None or not invariants.applies(model):
        return None
    return lambda rec: invariants.pehlivan_invariants(model, rec.polarization,
                                                      rec.pair_correlation, rec.mu)
