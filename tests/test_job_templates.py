"""``nmbhpc slurm`` rendering, shell syntax of every job script, and the plain-mpirun scan.

(The templates under a real SLURM: tests/test_slurm.py.)
"""
from __future__ import annotations

import csv
import os
import subprocess
import sys

import pytest

from nmbhpc.cli import main as cli_main
from nmbhpc.job_templates import FIELD, KINDS, default_template_dir

from production_cases import REPO, python_env, write_config

serial = pytest.mark.serial


def _render(capsys, *argv) -> str:
    capsys.readouterr()
    assert cli_main(["slurm", *argv]) == 0
    return capsys.readouterr().out


@serial
def test_every_template_renders_to_valid_bash(tmp_path, capsys):
    table = tmp_path / "table.txt"
    table.write_text("name config\n# comment\n\na a.toml\nb b.toml -mfn_tol 1e-12\n")
    site = ["--partition", "debug", "--account", "phys", "--module", "petsc/3.18-complex",
            "--setup", "source .venv/bin/activate", "--sbatch=--mem-per-cpu=2G"]
    args = {"single": ["c.toml", "-o", "out/c.h5"], "long": ["c.toml", "-o", "out/c.h5"],
            "array": ["--table", str(table), "--scan-dir", "scan"], "analyze": ["--scan-dir", "scan"]}
    for kind in KINDS:
        script = _render(capsys, kind, *args[kind], *site, "--checkpoint-every", "5")
        assert not FIELD.search(script), f"{kind}: unfilled field"
        assert "#SBATCH --partition=debug" in script and "#SBATCH --account=phys" in script
        assert "#SBATCH --mem-per-cpu=2G" in script
        assert "module load petsc/3.18-complex" in script
        path = tmp_path / f"{kind}.sbatch"
        path.write_text(script)
        res = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
        assert res.returncode == 0, f"{kind}: {res.stderr}"
        if kind != "analyze":
            assert "--checkpoint-every 5" in script
    long = (tmp_path / "long.sbatch").read_text()
    assert "#SBATCH --signal=B:USR1@120" in long and "#SBATCH --requeue" in long
    assert "run c.toml -o out/c.h5 --resume" in long and "scontrol requeue" in long
    assert "#SBATCH --array=0-1" in (tmp_path / "array.sbatch").read_text()


@serial
def test_shipped_scripts_are_valid_bash():
    scripts = sorted((REPO / "jobs").rglob("*.sh")) + sorted(default_template_dir().glob("*.sbatch"))
    assert len(scripts) >= 6
    for path in scripts:
        res = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
        assert res.returncode == 0, f"{path}: {res.stderr}"


@pytest.mark.parametrize("argv, message", [
    (["single", "c.toml"], "give CONFIG and -o"),
    (["array", "--scan-dir", "s"], "give --table"),
    (["analyze"], "give --scan-dir"),
    (["array", "--scan-dir", "s", "--table", "/nonexistent/table"], "--table"),
])
def test_bad_render_requests_are_usage_errors(argv, message, comm, capsys):
    assert cli_main(["slurm", *argv]) == 2
    if comm.Get_rank() == 0:
        assert message in capsys.readouterr().err


@serial
def test_mpirun_scan_script_runs_the_table_and_the_analysis(tmp_path):
    cfg = write_config(tmp_path, "meanfield", n_out=5)
    table = tmp_path / "table.txt"
    table.write_text(f"name config\nloose {cfg} -mf_ts_rtol 1e-6\ntight {cfg}\n")
    env = python_env()
    env["NMBHPC"] = f"{sys.executable} -m nmbhpc"
    env["MPIEXEC"] = "mpirun --allow-run-as-root --oversubscribe"
    res = subprocess.run(["bash", str(REPO / "jobs" / "mpirun" / "scan.sh"), str(table),
                          str(tmp_path / "scan"), "2"], env=env, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    with open(tmp_path / "scan" / "analysis" / "summary.csv") as fh:
        rows = {os.path.basename(r["file"]): r for r in csv.DictReader(fh)}
    assert set(rows) == {"loose.h5", "tight.h5"}
    assert all(r["status"] == "completed" and r["mpi_size"] == "2" for r in rows.values())
