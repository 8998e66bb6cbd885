"""Checkpoint/restart of ``nmbhpc run`` (collective: runs in-process on every rank).

An interruption is the SIGUSR1 path of ``nmbhpc.pipeline.control`` (checkpoint,
status "interrupted", exit 75), triggered at a chosen output by patching the
decision rather than by timing a real signal (the real signal and kill -9 are
in test_faults.py). The resumed file must equal an uninterrupted run's to
1e-12, with no time recorded twice. A resume with another rank count is
tested here for the solvers whose results do not depend on it (cumulant:
replicated; TWA: one seed per sample), by a run failing on one rank of an
``mpirun`` job and resumed by another.
"""
from __future__ import annotations

import dataclasses
import subprocess

import numpy as np
import pytest

from nmbhpc.cli import main as cli_main
from nmbhpc.io import read_run
from nmbhpc.pipeline.control import EXIT_INTERRUPTED, FAULT_ENV, RunControl
from nmbhpc.solvers import REGISTRY
from nmbhpc.runtime.stack import import_h5py

from production_cases import max_difference, nmbhpc_cmd, python_env, write_config

STDERR = "twa/polarization_stderr"  # the TWA's accumulator, written when the run completes


def _dataset(path, name, comm=None):
    if comm is not None:
        comm.Barrier()
    with import_h5py().File(path, "r") as f:
        return f[name][()] if name in f else None


def _stop_at(monkeypatch, index: int) -> None:
    original = RunControl.decide

    def decide(self, i):
        if i == index:
            self._signalled = "SIGUSR1"  # as if SLURM's warning arrived now, on every rank
        return original(self, i)

    monkeypatch.setattr(RunControl, "decide", decide)


def _read(path, comm):
    comm.Barrier()
    return read_run(path)


@pytest.mark.parametrize("solver", ["manybody", "meanfield", "cumulant", "twa"])
def test_interrupt_and_resume_matches_uninterrupted_run(solver, comm, shared_tmp_path, monkeypatch):
    cfg = write_config(shared_tmp_path, solver, comm)
    ref, out = str(shared_tmp_path / "ref.h5"), str(shared_tmp_path / "out.h5")
    assert cli_main(["run", cfg, "-o", ref, "--log-level", "WARNING"]) == 0

    with monkeypatch.context() as m:
        _stop_at(m, 4)
        assert cli_main(["run", cfg, "-o", out, "--log-level", "WARNING",
                         "--checkpoint-every", "3"]) == EXIT_INTERRUPTED
    part = _read(out, comm)
    assert part.status == "interrupted"
    assert part.n_records == 5
    full = _read(ref, comm)
    # what the interrupted run wrote is exactly the reference's start
    assert np.max(np.abs(part.polarization - full.polarization[:5])) <= 1e-12

    # a second interruption after the resume, then a resume to the end
    with monkeypatch.context() as m:
        _stop_at(m, 7)
        assert cli_main(["run", cfg, "-o", out, "--resume", "--log-level", "WARNING"]) \
            == EXIT_INTERRUPTED
    assert _read(out, comm).n_records == 8
    assert cli_main(["run", cfg, "-o", out, "--resume", "--log-level", "WARNING",
                     "--checkpoint-every", "2"]) == 0
    done = _read(out, comm)
    assert done.status == "completed"
    assert len(np.unique(done.time)) == done.n_records == full.n_records
    assert max_difference(done, full) <= 1e-12
    if solver == "twa":
        ref_err, err = _dataset(ref, STDERR, comm), _dataset(out, STDERR, comm)
        assert err.shape == ref_err.shape == (full.n_records, full.modes.n.size, 3)
        assert np.all(ref_err[1:] > 0) and np.max(np.abs(err - ref_err)) <= 1e-12


@pytest.mark.serial
@pytest.mark.parametrize("solver, before, after", [("cumulant", 3, 2), ("twa", 3, 2),
                                                   ("twa", 2, 1)])
def test_resume_with_another_rank_count(tmp_path, solver, before, after):
    """Rank ``before - 1`` of a ``before``-rank run fails after output 6 (checkpoint at
    output 3); ``after`` ranks resume it and match a serial run. TWA: the sample
    blocks differ between the partitions, only the sums' order may change the result."""
    cfg = write_config(tmp_path, solver)
    ref, out = tmp_path / "ref.h5", tmp_path / "out.h5"

    def run(*args, ranks, env=None, level="WARNING"):
        return subprocess.run(nmbhpc_cmd("run", cfg, *args, "--log-level", level, ranks=ranks),
                              env=env or python_env(), capture_output=True, text=True,
                              timeout=300)

    res = run("-o", str(ref), ranks=0)
    assert res.returncode == 0, res.stderr[-2000:]
    env = python_env()
    env[FAULT_ENV] = f"{before - 1}:6"
    res = run("-o", str(out), "--checkpoint-every", "4", ranks=before, env=env)
    assert res.returncode != 0 and f"run failed on rank {before - 1}" in res.stderr, \
        res.stderr[-2000:]
    part = read_run(out)
    assert part.attrs["mpi_size"] == before and part.n_records == 7
    res = run("-o", str(out), "--resume", ranks=after if after > 1 else 0, level="INFO")
    assert res.returncode == 0, res.stderr[-2000:]
    assert "resumed from the checkpoint at t = 0.6" in res.stderr, res.stderr[-2000:]
    done, full = read_run(out), read_run(ref)
    assert done.status == "completed" and np.all(np.diff(done.time) > 0)
    assert max_difference(done, full) <= 1e-12
    if solver == "twa":
        assert np.max(np.abs(_dataset(out, STDERR) - _dataset(ref, STDERR))) <= 1e-12


def test_resume_without_checkpoint_starts_over(comm, shared_tmp_path, monkeypatch):
    cfg = write_config(shared_tmp_path, "manybody", comm, n_out=6)
    ref, out = str(shared_tmp_path / "ref.h5"), str(shared_tmp_path / "out.h5")
    assert cli_main(["run", cfg, "-o", ref, "--log-level", "WARNING"]) == 0
    with monkeypatch.context() as m:
        # a stop with the solver unable to checkpoint is the "no checkpoint yet" file
        _stop_at(m, 2)
        m.setitem(REGISTRY, "manybody", dataclasses.replace(REGISTRY["manybody"], resumable=False))
        assert cli_main(["run", cfg, "-o", out, "--log-level", "ERROR"]) == EXIT_INTERRUPTED
    assert _read(out, comm).n_records == 3
    assert cli_main(["run", cfg, "-o", out, "--resume", "--log-level", "WARNING"]) == 0
    assert max_difference(_read(out, comm), _read(ref, comm)) <= 1e-12


def test_resume_refuses_other_config_and_skips_completed(comm, shared_tmp_path, capsys):
    cfg = write_config(shared_tmp_path, "manybody", comm, n_out=4)
    out = str(shared_tmp_path / "out.h5")
    assert cli_main(["run", cfg, "-o", out, "--log-level", "WARNING"]) == 0
    assert cli_main(["run", cfg, "-o", out, "--resume", "--log-level", "WARNING"]) == 0
    other = write_config(shared_tmp_path / "..", "manybody", comm, n_out=5)
    capsys.readouterr()
    assert cli_main(["run", other, "-o", out, "--resume"]) == 2
    err = capsys.readouterr().err
    if comm.Get_rank() == 0:
        assert "different config" in err
    assert read_run(out).n_records == 4


def test_resume_of_a_missing_file_starts_a_new_run(comm, shared_tmp_path):
    cfg = write_config(shared_tmp_path, "meanfield", comm, n_out=4)
    out = str(shared_tmp_path / "new.h5")
    assert cli_main(["run", cfg, "-o", out, "--resume", "--log-level", "WARNING"]) == 0
    assert _read(out, comm).status == "completed"


def test_cumulant_restore_gives_every_rank_the_checkpoint(comm, shared_tmp_path):
    """The checkpoint holds the replicated cumulant state on rank 0 only; restore must
    broadcast it (each rank integrates its own copy) and continue bit for bit."""
    import dataclasses

    from nmbhpc.config import load_config_text
    from nmbhpc.meanfield.cumulant import CumulantSolver

    path = write_config(shared_tmp_path, "cumulant", comm, n_out=6)
    config = load_config_text(open(path).read())
    first = CumulantSolver(config, comm)
    records = first.records()
    for _ in range(3):
        rec = next(records)
    local, offset, shape = first.final_state()
    assert offset == (0 if comm.Get_rank() == 0 else shape[0])
    times = np.asarray(config.output.times)[2:]
    second = CumulantSolver(dataclasses.replace(
        config, output=dataclasses.replace(config.output, times=times)), comm)
    second.restore(local, rec.time, first.checkpoint_extras())
    m0, g0 = first.state()
    states = comm.allgather(second.state())
    assert all(np.array_equal(m, m0) and np.array_equal(g, g0) for m, g in states)
    rest = list(second.records())[1:]
    for a, b in zip(rest, records):
        assert a.time == b.time and np.array_equal(a.polarization, b.polarization)
    assert len(rest) == 3
