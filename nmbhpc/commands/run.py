"""``nmbhpc run CONFIG.toml -o OUT.h5``: one run of any solver, under ``mpirun -n K``.

Order of work (every step collective on MPI.COMM_WORLD):
config text read on rank 0 and broadcast -> validated on every rank (same text,
same result) -> output path checked and file created (nothing is overwritten
without ``--force``) -> solver built -> one record per output time appended to
the file -> final state (if asked) -> status "completed".

An exception on any rank is logged with its rank number and the job is
aborted (``MPI_Abort``) so that a failure never turns into a hang; the file
keeps every output written before the failure.
"""
from __future__ import annotations

import logging
import os
import sys
import time

from ..cli import UsageError

log = logging.getLogger("nmbhpc.run")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "run", help="run one configuration and write a parallel-HDF5 run file",
        description="Run CONFIG.toml with the solver it names; PETSc/SLEPc options "
                    "(-mfn_tol, -mfn_ncv, -log_view, ...) pass through.")
    p.add_argument("config", help="TOML run configuration (docs/config.md)")
    p.add_argument("-o", "--output", required=True, help="HDF5 file to create")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.add_argument("--progress-interval", type=float, default=10.0, metavar="SECONDS",
                   help="minimum wall time between progress lines (default 10)")
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


def main(args) -> int:
    """Collective on MPI.COMM_WORLD."""
    from ..stack import init_petsc

    init_petsc(args.petsc_args)
    from mpi4py import MPI

    from ..config import ConfigError, load_config_text
    from ..io.run_writer import RunWriter
    from ..log import setup_logging
    from ..solvers import SOLVERS, solver_class

    comm = MPI.COMM_WORLD
    setup_logging(args.log_level, comm)
    text = _read_text(args.config, comm)
    try:
        config = load_config_text(text, source_path=os.path.abspath(args.config))
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    if config.solver not in SOLVERS:
        raise UsageError(f"config error at 'solver': {config.solver!r} is not available in this "
                         f"build (available: {', '.join(sorted(SOLVERS))})")
    try:
        writer = RunWriter.create(args.output, comm, config, force=args.force,
                                  attrs={"command": " ".join(sys.argv)})
    except (FileExistsError, FileNotFoundError, NotADirectoryError, IsADirectoryError,
            PermissionError) as exc:
        raise UsageError(str(exc)) from None

    try:
        with writer:
            summary = _run(config, writer, comm, args.progress_interval)
    except Exception:
        log.exception("run failed on rank %d of %d", comm.Get_rank(), comm.Get_size())
        if comm.Get_size() > 1:
            comm.Abort(1)
        raise
    if comm.Get_rank() == 0:
        print(summary)
    return 0


def _run(config, writer, comm, progress_interval: float) -> str:
    """Build the solver, stream its records into ``writer``; return a summary. Collective."""
    from ..progress import Progress
    from ..solvers import solver_class

    wall0 = time.perf_counter()
    solver = solver_class(config.solver)(config, comm)
    info = solver.describe()
    log.info("solver %s on %d rank(s): %s", config.solver, comm.Get_size(),
             ", ".join(f"{k}={v}" for k, v in info.items() if k != "solver"))
    writer.set_attrs(**{f"solver_{k}": v for k, v in info.items() if k != "solver"})
    times = config.output.times
    progress = Progress(times[0], times[-1], len(times), progress_interval)
    first = last = None
    for i, rec in enumerate(solver.records()):
        writer.append(rec)
        first = first or rec
        last = rec
        progress.update(i, rec.time, getattr(solver, "steps", 0))
    # after the records: some solvers (TWA) accumulate these during the run
    for name, array in solver.static_datasets().items():
        writer.write_static(name, array)
    if config.output.save_state:
        state = solver.final_state()
        if state is not None:
            local, offset, shape = state
            writer.write_distributed("state/final", local, offset, shape)
    wall = time.perf_counter() - wall0
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
        f"  nu_e fraction {nue0:.6f} -> {nue1:.6f}",
        f"  one-body entropy: max over modes {float(last.entropy.max()):.6f} at t = {last.time:g} "
        f"(initial {float(first.entropy.max()):.3g})",
        f"  monitors: |norm - 1| = {abs(last.norm - 1):.2e}, energy drift "
        f"{abs(last.energy - first.energy):.2e}"
        + ("" if not config.model.mu.is_constant else "")
        + f", B.J drift {abs(last.b_dot_j - first.b_dot_j):.2e}",
    ]
    return "\n".join(lines)
