"""Checkpoint/restart of ``nmbhpc run`` (collective: runs in-process on every rank).

An interruption is the SIGUSR1 path of ``nmbhpc.run_control`` (checkpoint,
status "interrupted", exit 75), triggered at a chosen output by patching the
decision rather than by timing a real signal (the real signal and kill -9 are
in test_faults.py). The resumed file must equal an uninterrupted run's to
1e-12, with no time recorded twice.
"""
from __future__ import annotations

import numpy as np
import pytest

from nmbhpc.cli import main as cli_main
from nmbhpc.io import read_run
from nmbhpc.run_control import EXIT_INTERRUPTED, RunControl

from production_cases import max_difference, write_config


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


@pytest.mark.parametrize("solver", ["manybody", "meanfield"])
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


def test_resume_without_checkpoint_starts_over(comm, shared_tmp_path, monkeypatch):
    cfg = write_config(shared_tmp_path, "manybody", comm, n_out=6)
    ref, out = str(shared_tmp_path / "ref.h5"), str(shared_tmp_path / "out.h5")
    assert cli_main(["run", cfg, "-o", ref, "--log-level", "WARNING"]) == 0
    with monkeypatch.context() as m:
        # a stop with the solver unable to checkpoint is the "no checkpoint yet" file
        _stop_at(m, 2)
        m.setattr("nmbhpc.commands.run.RESUMABLE", ())
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
