"""One kinetic run from a config to its HDF5 file: new, resumed, or started from a snapshot.

Used by ``nmbhpc run`` (and its alias ``nmbhpc kinetics``) in three steps,
every one collective on the run's communicator::

    run = KineticRun.open(settings, "out.h5", comm, resume=True)  # None: already complete
    summary, status = run.execute(control, progress_interval)    # status 0, or 75 if stopped
    run.writer.close("completed" if status == 0 else "interrupted"); run.destroy()

and by :func:`run_kinetics` (the same, for Python callers and tests).

Restart semantics (as the many-body and mean-field solvers, docs/production.md):
``resume=True`` reopens the file, drops the records and snapshots written
after its last checkpoint, restores the field, the time, the step size and the
counters from it and continues; the records then equal an uninterrupted run's
bit for bit on the same rank count (fixed-step RK: the same steps from the same
state), and to rounding on another rank count (the domain averages are
MPI sums). Without a checkpoint the file is started over; without a file a new
run starts. ``restart_from=OLD.h5`` is different: a *new* run whose initial
field is OLD's last snapshot (its time included), e.g. to continue with a
changed config.
"""
from __future__ import annotations

import logging
import os
import time as _time
from dataclasses import dataclass

from mpi4py import MPI

from .config import load_kinetics, load_kinetics_text
from .output import KineticWriter, read_snapshot
from .settings import KineticSettings
from .solver import KineticSolver

log = logging.getLogger("nmbhpc.kinetics")


class ResumeError(ValueError):
    """A ``--resume`` that cannot continue the given file (named in the message)."""


@dataclass
class KineticRunResult:
    """What :func:`run_kinetics` did: records computed by this call, exit status, summary."""

    records: list
    status: int
    summary: str


class KineticRun:
    """A kinetic solver bound to its open output file (build with :meth:`open`)."""

    def __init__(self, settings, solver, writer, resumed_at):
        self.settings, self.solver, self.writer = settings, solver, writer
        self.resumed_at = resumed_at  # checkpoint time, or None for a run from its start
        self.records = []             # KineticRecords computed by execute()

    @classmethod
    def open(cls, settings: KineticSettings, output_path, comm=MPI.COMM_WORLD, *,
             force: bool = False, resume: bool = False, restart_from=None, petsc_args=None,
             attrs: dict | None = None):
        """Collective. Build the solver and create (or, ``resume``, reopen) ``output_path``.

        Returns None when ``resume`` finds the run already completed. Raises
        FileExistsError & co. for the output path, :class:`ResumeError` for a
        file that cannot be resumed, ValueError for a bad snapshot file.
        """
        if force and resume:
            raise ValueError("--force and --resume exclude each other")
        exists = comm.bcast(os.path.exists(output_path)
                            if comm.Get_rank() == 0 else None)
        solver = KineticSolver(settings, comm, petsc_args)
        writer = None
        try:
            if resume and exists:
                writer = _reopen(output_path, comm, settings)
                if writer.previous_status == "completed":
                    writer.close("completed")
                    solver.destroy()
                    return None
                info = writer.checkpoint_info()
                if info is not None:
                    _restore(solver, writer, info)
                    return cls(settings, solver, writer, info.time)
                writer.truncate(0, 0)  # no checkpoint yet: start over in the same file
            if restart_from is not None:
                _start_from_snapshot(solver, settings, restart_from)
            if writer is None:
                writer = KineticWriter.create(output_path, solver, force=force, attrs=attrs)
            return cls(settings, solver, writer, None)
        except BaseException:
            if writer is not None and not writer.closed:
                writer.close(writer.previous_status or "running")
            solver.destroy()
            raise

    def execute(self, control=None, progress_interval: float | None = None) -> tuple[str, int]:
        """Collective. Integrate to t_end, appending records and snapshots; return (summary, status).

        ``control`` (:class:`nmbhpc.run_control.RunControl`, optional) decides
        after each output whether to checkpoint and whether to stop (status 75).
        """
        from ..hierarchy.recording import record_hierarchy
        from ..progress import Progress
        from ..run_control import EXIT_INTERRUPTED

        solver, writer, s = self.solver, self.writer, self.settings
        record_hierarchy(s, writer)  # collective; logs when the run leaves its window
        stops = solver.stops(include_current=self.resumed_at is None)
        outputs = [t for t, is_out, _ in stops if is_out]
        last_output = outputs[-1] if outputs else solver.time
        log.info("kinetics: cells %s n_dir=%d n_phi=%d nE=%d on %d rank(s), dt=%.4g, t = %g .. %g%s",
                 "x".join(map(str, s.grid.shape)), s.grid.n_dir, s.grid.n_phi, s.physics.n_energy,
                 solver.comm.Get_size(), solver.dt, solver.time, s.time.t_end,
                 "" if self.resumed_at is None else f" (resumed at t = {self.resumed_at:g})")
        progress = Progress(solver.time, last_output, len(outputs), progress_interval)
        wall0 = _time.perf_counter()
        records = self.records
        stopped = False
        for t, is_output, is_snapshot in stops:
            solver.advance_to(t)
            if is_output:
                records.append(solver.emit(writer))
                progress.update(len(records) - 1, t, solver.n_rhs, "RHS evaluations",
                                solver.ts.getStepNumber())
            if is_snapshot:
                writer.snapshot(solver)
            if not is_output or t == last_output or control is None:
                continue  # at the end a checkpoint or a stop would gain nothing
            checkpoint, stop = control.decide(writer.n_records - 1)
            if checkpoint:
                writer.write_checkpoint(solver)
                log.debug("checkpoint at t = %g", t)
            if stop:
                stopped = True
                break
        wall = _time.perf_counter() - wall0
        if stopped:
            return (f"nmbhpc run: interrupted at t = {solver.time:g} ({writer.path}: "
                    f"{writer.n_records} outputs); continue with --resume", EXIT_INTERRUPTED)
        return self._summary(records, wall), 0

    def _summary(self, records, wall: float) -> str:
        s, solver = self.settings, self.solver
        box = f"nx={s.grid.nx}" if s.grid.axes == (2,) else "shape=" + "x".join(map(str, s.grid.shape))
        lines = [f"nmbhpc run: solver=kinetics {box} n_dir={s.grid.n_dir} "
                 f"n_phi={s.grid.n_phi} nE={s.physics.n_energy} ranks={solver.comm.Get_size()} "
                 f"wall={wall:.2f}s steps={solver.ts.getStepNumber()}",
                 f"  wrote {self.writer.path}: {self.writer.n_records} records, "
                 f"{self.writer.n_snap} snapshots, t = 0 .. {solver.time:g}"
                 + ("" if self.resumed_at is None else f" (resumed at t = {self.resumed_at:g})")]
        if records:
            r = records[-1]
            lines.append(f"  final ELN = {r.lepton_number[0]:.6g}, XLN = {r.lepton_number[1]:.6g}, "
                         f"off-diagonal amplitude nu {r.offdiag_amplitude[0]:.3e}, "
                         f"min(P0 - |P|) = {min(x.trace_margin for x in records):.3e}")
        return "\n".join(lines)

    def destroy(self) -> None:
        """Collective. Free the solver's PETSc objects (the file is closed by its owner)."""
        self.solver.destroy()


def _reopen(path, comm, settings) -> KineticWriter:
    from .output import KineticFileError

    try:
        writer = KineticWriter.open_existing(path, comm)
    except KineticFileError as exc:
        raise ResumeError(f"--resume: {exc}") from None
    except OSError as exc:
        raise ResumeError(f"--resume: cannot open {path!r} for writing: {exc}") from None
    if writer.config_toml != settings.source_text:
        writer.close(writer.previous_status or "running")
        raise ResumeError(f"--resume: {path} was written from a different config than "
                          f"{settings.source_path!r} (its text is in the file's 'config_toml' "
                          "attribute)")
    return writer


def _restore(solver, writer, info) -> None:
    """Collective. Truncate ``writer`` to checkpoint ``info`` and load its state into ``solver``."""
    want = (solver.settings.grid.n_cells,) + solver.cell_shape
    if tuple(info.shape) != want:
        raise ResumeError(f"--resume: checkpoint field shape {info.shape} does not match the "
                          f"config's {want}")
    writer.truncate(info.n_records, int(info.extras.get("n_snapshots", 0)))
    solver.restore(writer.read_checkpoint(info, solver), info.time, info.extras)
    log.info("resumed %s from its checkpoint at t = %g (%d records kept)",
             writer.path, info.time, info.n_records)


def _start_from_snapshot(solver, settings, path) -> None:
    """Collective. Initial field and time from the last snapshot of kinetic file ``path``."""
    t0, old_text, field = read_snapshot(path, solver.comm, solver.lo, solver.hi)
    old = load_kinetics_text(old_text)
    if (old.grid, old.physics.n_energy) != (settings.grid, settings.physics.n_energy):
        raise ValueError(f"{path}: its grid {old.grid} does not match the config's {settings.grid}")
    solver.set_state(t0, field)
    log.info("starting from the snapshot of %s at t = %g", path, t0)


def run_kinetics(config, output_path, comm=MPI.COMM_WORLD, force: bool = False,
                 petsc_args=None, restart_from=None, *, resume: bool = False, control=None,
                 progress_interval: float | None = None) -> KineticRunResult:
    """Collective on ``comm``. Run a kinetics config into ``output_path`` (see the module docstring).

    ``config``: KineticSettings, a TOML file path, or TOML text. On an
    exception the file is closed "failed" if every rank fails, else left
    "running" (the caller must then abort the job).
    """
    settings = config if isinstance(config, KineticSettings) else load_kinetics(config)
    run = KineticRun.open(settings, output_path, comm, force=force, resume=resume,
                          restart_from=restart_from, petsc_args=petsc_args)
    if run is None:
        return KineticRunResult([], 0, f"{output_path} is already complete; nothing to resume")
    try:
        with run.writer:
            summary, status = run.execute(control, progress_interval)
            if status != 0:
                run.writer.close("interrupted")
        return KineticRunResult(run.records, status, summary)
    finally:
        run.destroy()


__all__ = ["KineticRun", "KineticRunResult", "ResumeError", "run_kinetics"]
