"""``nmbhpc slurm`` rendering, shell syntax of every job script, and the plain-mpirun scan.

(The templates under a real SLURM: tests/test_slurm.py.)
"""
from __future__ import annotations

import csv
import os
import shutil
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
    assert "config=c.toml\noutput=out/c.h5\n" in long
    assert 'run "$config" -o "$output" --resume' in long and "scontrol requeue" in long
    assert "#SBATCH --array=0-1" in (tmp_path / "array.sbatch").read_text()


@serial
def test_shipped_scripts_are_valid_bash():
    scripts = sorted((REPO / "jobs").rglob("*.sh")) + sorted(
        p for p in default_template_dir().iterdir() if p.name.endswith(".sbatch"))
    assert len(scripts) >= 6
    for path in scripts:
        res = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
        assert res.returncode == 0, f"{path}: {res.stderr}"


@serial
def test_jobs_slurm_templates_are_the_packaged_ones():
    """One source of truth: jobs/slurm/KIND.sbatch is the packaged template, not a copy."""
    for kind in KINDS:
        shipped = default_template_dir() / f"{kind}.sbatch"
        assert (REPO / "jobs" / "slurm" / f"{kind}.sbatch").resolve() == \
            (REPO / "nmbhpc" / "templates" / "slurm" / f"{kind}.sbatch").resolve()
        assert FIELD.search(shipped.read_text()), f"{kind}: no template fields"


#: what a failed offline build says when the machine lacks the build backend
_NO_BACKEND = ("No module named 'setuptools'", "No module named 'wheel'", "BackendUnavailable",
               "Could not find a version that satisfies the requirement")


@serial
def test_non_editable_install_renders_the_templates(tmp_path):
    """``pip install .`` (no source tree at run time) must still render every kind."""
    src, venv = tmp_path / "src", tmp_path / "venv"
    shutil.copytree(REPO / "nmbhpc", src / "nmbhpc",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    base = getattr(sys, "_base_executable", sys.executable)  # the interpreter under our venv
    env = {k: v for k, v in python_env().items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    # --without-pip: the system pip (a system site-package) installs into the venv, and
    # ensurepip's 20 s are saved
    res = subprocess.run([base, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
                         capture_output=True, text=True, timeout=300, env=env)
    if res.returncode != 0:
        pytest.skip(f"cannot create a venv with {base}: {res.stderr.strip()[-300:]}")
    res = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--no-deps",
                          "--no-build-isolation", "--no-index", "--disable-pip-version-check",
                          str(src)], capture_output=True, text=True, timeout=600, env=env)
    if res.returncode != 0 and any(m in res.stderr for m in _NO_BACKEND):
        pytest.skip(f"offline pip cannot build nmbhpc here: {res.stderr.strip()[-300:]}")
    assert res.returncode == 0, res.stderr[-3000:]
    shutil.rmtree(src)  # the installed copy must not need it

    where = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import nmbhpc.job_templates as j; print(j.default_template_dir())"],
                           capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert where.returncode == 0, where.stderr[-2000:]
    assert where.stdout.strip().startswith(str(venv)), where.stdout
    table = tmp_path / "table.txt"
    table.write_text("name config\na a.toml\n")
    args = {"single": ["c.toml", "-o", "c.h5"], "long": ["c.toml", "-o", "c.h5"],
            "array": ["--table", str(table), "--scan-dir", "scan"], "analyze": ["--scan-dir", "s"]}
    scripts = {}
    for kind in KINDS:
        res = subprocess.run([str(venv / "bin" / "nmbhpc"), "slurm", kind, *args[kind]],
                             capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
        assert res.returncode == 0, f"{kind}: {res.stderr[-2000:]}"
        scripts[kind] = res.stdout
        assert res.stdout.startswith("#!/bin/bash") and not FIELD.search(res.stdout), kind
    assert "#SBATCH --signal=B:USR1@120" in scripts["long"]
    assert "#SBATCH --array=0-0" in scripts["array"]


@serial
@pytest.mark.parametrize("run_body, warn, requeued, rc", [
    ("exit 75", False, True, 0),       # checkpointed on the warning (or by itself)
    ("exec sleep 60", True, True, 0),  # the warning came during start-up: killed by SIGUSR1
    ("exit 3", False, False, 3),       # a failure is not requeued
])
def test_long_template_requeues_after_a_checkpoint_or_an_early_warning(
        tmp_path, capsys, run_body, warn, requeued, rc):
    """The batch-shell logic of long.sbatch with stand-ins for the run and scontrol."""
    import signal
    import time

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "scontrol").write_text(f"#!/bin/bash\necho \"$@\" >> {tmp_path}/scontrol.log\n")
    (bin_dir / "scontrol").chmod(0o755)
    started = tmp_path / "started"
    (tmp_path / "fake_run.sh").write_text(f"touch {started}\n{run_body}\n")
    script = tmp_path / "long.sbatch"
    assert cli_main(["slurm", "long", "c.toml", "-o", str(tmp_path / "out.h5"), "--launcher", "env",
                     "--nmbhpc", f"bash {tmp_path / 'fake_run.sh'}", "--workdir", str(tmp_path),
                     "--write", str(script)]) == 0
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", SLURM_JOB_ID="42")
    proc = subprocess.Popen(["bash", str(script)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while warn and not started.exists():
            assert time.monotonic() < deadline and proc.poll() is None, "the run never started"
            time.sleep(0.02)
        if warn:
            proc.send_signal(signal.SIGUSR1)  # what SLURM's --signal=B:USR1 does
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == rc, out
    log = tmp_path / "scontrol.log"
    assert (log.exists() and log.read_text().split() == ["requeue", "42"]) == requeued, out


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
