"""Progress lines of ``nmbhpc run`` and PETSc option pass-through (-log_view)."""
from __future__ import annotations

import re
import subprocess

import pytest

from nmbhpc.cli import main as cli_main

from production_cases import nmbhpc_cmd, python_env, write_config

LINE = re.compile(r"output (\d+)/(\d+)  t = (\S+) .*step (\d+)  (RHS evaluations|MFN iterations|"
                  r"matvecs|RK4 steps) (\d+) \((\S+)/s\)  elapsed (\d+:\d\d:\d\d)  ETA (\d+:\d\d:\d\d|\?)$")


@pytest.mark.parametrize("solver", ["manybody", "meanfield", "cumulant", "twa"])
def test_progress_every_output_when_interval_is_zero(solver, comm, shared_tmp_path, capsys):
    cfg = write_config(shared_tmp_path, solver, comm, n_out=5)
    assert cli_main(["run", cfg, "-o", str(shared_tmp_path / "p.h5"), "--progress-interval", "0"]) == 0
    err = capsys.readouterr().err
    lines = [m.groups() for m in map(LINE.search, err.splitlines()) if m]
    if comm.Get_rank() != 0:
        assert lines == []  # only rank 0 prints
        return
    assert [int(g[0]) for g in lines] == [1, 2, 3, 4, 5] and {g[1] for g in lines} == {"5"}
    assert float(lines[-1][2]) == 2.0 and lines[-1][8] == "0:00:00"  # ETA 0 at the end
    assert int(lines[-1][3]) > int(lines[0][3])       # solver steps grow
    assert int(lines[-1][5]) > int(lines[0][5])       # work grows
    assert float(lines[-1][6]) > 0


def test_batch_log_reports_every_five_percent(comm, shared_tmp_path, capsys):
    cfg = write_config(shared_tmp_path, "meanfield", comm, n_out=61)
    assert cli_main(["run", cfg, "-o", str(shared_tmp_path / "q.h5")]) == 0
    lines = [m.groups() for m in map(LINE.search, capsys.readouterr().err.splitlines()) if m]
    if comm.Get_rank() != 0:
        assert lines == []
        return
    # stderr is not a terminal under pytest: one line per 5% of the simulated interval
    # (61 outputs: every third one), plus the first and the last
    assert [int(g[0]) for g in lines] == [1] + list(range(4, 62, 3))


def test_duration_format():
    from nmbhpc.pipeline.progress import format_duration

    assert format_duration(36000.0) == "10:00:00"
    assert format_duration(3725.4) == "1:02:05"
    assert format_duration(0.4) == "0:00:00"
    assert format_duration(float("nan")) == "?" and format_duration(float("inf")) == "?"


@pytest.mark.serial
def test_log_view_passes_through_to_petsc(tmp_path):
    cfg = write_config(tmp_path, "meanfield", n_out=3)
    res = subprocess.run(nmbhpc_cmd("run", cfg, "-o", str(tmp_path / "lv.h5"), "-log_view"),
                         env=python_env(), capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "PETSc Performance Summary" in res.stdout
    assert re.search(r"^TSStep\s+\d+", res.stdout, re.M)  # the solver's own events are logged
