"""``nmbhpc analyze``: table, gathered CSVs and plots from run files of any rank count,
including interrupted runs and unreadable files in a scan directory."""
from __future__ import annotations

import csv
import logging
import os
import subprocess

import numpy as np
import pytest

from nmbhpc.cli import main as cli_main
from nmbhpc.io import read_run
from nmbhpc.pipeline.control import EXIT_INTERRUPTED, RunControl

from production_cases import nmbhpc_cmd, python_env, write_config

PNG = b"\x89PNG\r\n\x1a\n"


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_analyze_scan_directory(comm, shared_tmp_path, monkeypatch, capsys):
    scan = shared_tmp_path / "scan"
    if comm.Get_rank() == 0:
        scan.mkdir()
    mb = write_config(shared_tmp_path, "manybody", comm, n_out=6)
    assert cli_main(["run", mb, "-o", str(scan / "a.h5"), "--log-level", "WARNING"]) == 0
    assert cli_main(["run", mb, "-o", str(scan / "b.h5"), "--log-level", "WARNING"]) == 0
    original = RunControl.decide

    def stop_at_2(self, i):
        if i == 2:
            self._signalled = "SIGUSR1"
        return original(self, i)

    monkeypatch.setattr(RunControl, "decide", stop_at_2)
    assert cli_main(["run", mb, "-o", str(scan / "cut.h5"), "--log-level", "ERROR"]) \
        == EXIT_INTERRUPTED
    monkeypatch.undo()
    if comm.Get_rank() == 0:
        (scan / "junk.h5").write_bytes(b"junk")
    comm.Barrier()
    capsys.readouterr()

    status = cli_main(["analyze", str(scan), "-o", str(shared_tmp_path / "out")])
    out = capsys.readouterr().out
    comm.Barrier()
    if comm.Get_rank() != 0:
        return
    assert status == 2  # junk.h5 is reported, the rest analysed
    assert "cut.h5" in out and "interrupted" in out
    rows = {os.path.basename(r["file"]): r for r in _rows(shared_tmp_path / "out" / "summary.csv")}
    assert set(rows) == {"a.h5", "b.h5", "cut.h5"}
    assert rows["cut.h5"]["records"] == "3" and rows["cut.h5"]["planned"] == "6"
    assert rows["a.h5"]["mpi_size"] == str(comm.Get_size())
    # a.h5 is the reference (first completed manybody run); b.h5 is the same run
    assert rows["a.h5"]["deviation_from_reference"] == ""
    assert float(rows["b.h5"]["deviation_from_reference"]) == 0.0
    assert float(rows["cut.h5"]["deviation_from_reference"]) == 0.0

    series = _rows(shared_tmp_path / "out" / "timeseries.csv")
    a = read_run(scan / "a.h5")
    mine = [r for r in series if r["file"].endswith("a.h5")]
    assert len(mine) == a.n_records and len(series) == 6 + 6 + 3
    assert np.allclose([float(r["nue_total"]) for r in mine], a.nue_total, rtol=1e-9, atol=0)
    assert np.allclose([float(r["entropy_max"]) for r in mine], a.entropy.max(axis=1),
                       rtol=1e-9, atol=1e-15)
    for name in ("flavor_evolution.png", "entropies.png", "deviations.png"):
        assert (shared_tmp_path / "out" / name).read_bytes()[:8] == PNG


def test_analyze_nothing_readable_is_a_usage_error(comm, shared_tmp_path, capsys):
    assert cli_main(["analyze", str(shared_tmp_path / "missing.h5")]) == 2
    if comm.Get_rank() == 0:
        assert "no such file" in capsys.readouterr().err


@pytest.mark.serial
def test_analyze_files_written_with_different_rank_counts(tmp_path):
    """The same mean-field run on 1 and 3 ranks: analysed side by side, they agree."""
    cfg = write_config(tmp_path, "meanfield", n_out=11)
    for ranks, name in ((0, "serial.h5"), (3, "three.h5")):
        res = subprocess.run(nmbhpc_cmd("run", cfg, "-o", str(tmp_path / name), ranks=ranks),
                             env=python_env(), capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stderr[-2000:]
    res = subprocess.run(nmbhpc_cmd("analyze", str(tmp_path / "serial.h5"), str(tmp_path / "three.h5"),
                                    "-o", str(tmp_path / "an"), "--no-plots"),
                         env=python_env(), capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    rows = {os.path.basename(r["file"]): r for r in _rows(tmp_path / "an" / "summary.csv")}
    assert rows["three.h5"]["mpi_size"] == "3" and rows["serial.h5"]["mpi_size"] == "1"
    # only the order of floating-point reductions differs
    assert float(rows["three.h5"]["deviation_from_reference"]) < 1e-9


def test_nan_in_a_run_is_reported_not_hidden(comm, shared_tmp_path, capsys, caplog):
    """A NaN in one output of a run: analyze's deviation is nan (it was 0 when NaN
    was skipped), the warning names the file and the series, compare prints nan."""
    import shutil

    from mpi4py import MPI

    from nmbhpc.runtime.stack import import_h5py

    mb = write_config(shared_tmp_path, "manybody", comm, n_out=5)
    a, b = shared_tmp_path / "a.h5", shared_tmp_path / "b.h5"
    assert cli_main(["run", mb, "-o", str(a), "--log-level", "WARNING"]) == 0
    if comm.Get_rank() == 0:
        shutil.copy(a, b)
        with import_h5py().File(b, "r+", driver="mpio", comm=MPI.COMM_SELF) as f:
            pol = f["modes/polarization"]
            row = pol[2]
            row[0, 2] = np.nan
            pol[2] = row
    comm.Barrier()
    capsys.readouterr()
    logger = logging.getLogger("nmbhpc")  # does not propagate to caplog's root handler
    logger.addHandler(caplog.handler)
    try:
        status = cli_main(["analyze", str(a), str(b), "--no-plots",
                           "-o", str(shared_tmp_path / "out")])
    finally:
        logger.removeHandler(caplog.handler)
    out = capsys.readouterr().out
    assert status == 0
    status = cli_main(["compare", str(a), str(b)])
    cmp_out = capsys.readouterr().out
    assert status == 0
    if comm.Get_rank() != 0:
        return
    rows = {os.path.basename(r["file"]): r for r in _rows(shared_tmp_path / "out" / "summary.csv")}
    assert rows["b.h5"]["deviation_from_reference"] == "nan"
    assert rows["a.h5"]["deviation_from_reference"] == ""  # the reference itself: not applicable
    series = [r for r in _rows(shared_tmp_path / "out" / "timeseries.csv") if r["file"] == str(b)]
    assert [r["deviation_from_reference"] for r in series][2] == "nan"
    assert float(series[1]["deviation_from_reference"]) == 0.0
    b_line = [line for line in out.splitlines() if line.startswith("b.h5")][0]
    assert b_line.split()[-1] == "nan", out
    assert any("b.h5: non-finite values in polarization (first at t = " in r.getMessage()
               for r in caplog.records), caplog.text
    assert "nan" in [line for line in cmp_out.splitlines() if "b.h5" in line][0].split()
