"""The jobs/slurm templates under a real SLURM: a local single-node cluster
(tests/slurm/local_cluster.py; Debian's slurm-wlm and munge are installed if
missing) runs a single job, a scan array chained to its analysis job with
afterok, and the long-run template, whose SIGUSR1 warning before the time
limit makes it checkpoint and requeue itself until its results equal an
uninterrupted run's to 1e-12. Serial: the jobs start their own mpirun.
Skipped, with the reason, where this machine cannot run SLURM.
"""
from __future__ import annotations

import csv
import os
import subprocess
import sys
import time

import pytest

from nmbhpc.cli import main as cli_main
from nmbhpc.io import read_run
from nmbhpc.pipeline.control import DELAY_ENV

from production_cases import REPO, max_difference, nmbhpc_cmd, python_env, write_config

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "slurm"))
from local_cluster import LocalCluster, Unavailable  # noqa: E402

pytestmark = pytest.mark.serial

LAUNCHER = "mpirun --allow-run-as-root --oversubscribe"  # Debian's slurm has no PMIx for srun


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if os.environ.get("NMBHPC_SKIP_SLURM"):
        pytest.skip("NMBHPC_SKIP_SLURM is set")
    c = LocalCluster(tmp_path_factory.mktemp("slurm"))
    try:
        c.start()
    except Unavailable as exc:
        pytest.skip(f"no local SLURM on this machine: {exc}")
    yield c
    c.stop()


def _render(path, kind, *args, env_lines=()):
    # yield_when_idle: waiting ranks give the core back (this machine may be shared)
    setup = [f"export PYTHONPATH={REPO}", "export OMPI_MCA_rmaps_base_oversubscribe=1",
             "export OMPI_MCA_mpi_yield_when_idle=1", *env_lines]
    argv = ["slurm", kind, *args, "--launcher", LAUNCHER, "--nmbhpc", f"{sys.executable} -m nmbhpc",
            "--workdir", str(path.parent), "--write", str(path)]
    for s in setup:
        argv += ["--setup", s]
    assert cli_main(argv) == 0
    return path


def _log(cluster, pattern_dir):
    return "\n".join(p.read_text()[-2000:] for p in sorted(pattern_dir.glob("*.out"))) + \
        cluster.log_tail(800)


def test_single_run_job(cluster, tmp_path):
    # a log directory that sbatch must read as one quoted argument (blank, '#', both
    # quotes, '%' that is not a pattern) and an output path with a command substitution
    logs = tmp_path / """logs a#b'c"d%e"""
    logs.mkdir()
    cfg = write_config(tmp_path, "manybody", n_out=6)
    out = tmp_path / "out $(touch PWNED)" / "s.h5"
    script = _render(tmp_path / "single.sbatch", "single", cfg, "-o", str(out),
                     "--ntasks", "2", "--time", "5", "--log-dir", str(logs))
    job = cluster.sbatch(script)
    states = cluster.wait([job], timeout=120)
    assert states[job][0] == "COMPLETED", _log(cluster, logs)
    run = read_run(out)
    assert run.status == "completed" and run.attrs["mpi_size"] == 2 and run.n_records == 6
    assert [p.name for p in logs.iterdir()] == [f"manybody-{job}.out"]
    assert not (tmp_path / "PWNED").exists()


def test_scan_array_then_analysis_with_afterok(cluster, tmp_path):
    cfg = write_config(tmp_path, "meanfield", n_out=6)
    table = tmp_path / "table.txt"
    table.write_text(f"name config\nloose {cfg} -mf_ts_rtol 1e-6\ntight {cfg}\n")
    scan = tmp_path / "scan $(touch PWNED)"  # was pasted inside double quotes, and ran
    array = _render(tmp_path / "array.sbatch", "array", "--table", str(table), "--scan-dir",
                    str(scan), "--ntasks", "1", "--time", "5")
    analysis = _render(tmp_path / "analyze.sbatch", "analyze", "--scan-dir", str(scan), "--time", "5")
    res = subprocess.run(["bash", str(REPO / "jobs" / "slurm" / "submit_scan.sh"), str(array),
                          str(analysis)], env=cluster.env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    words = res.stdout.split()
    array_job, analysis_job = int(words[3].rstrip(",")), int(words[6])
    states = cluster.wait([array_job, analysis_job], timeout=150)
    assert all(s[0] == "COMPLETED" for s in states.values()), (states, _log(cluster, tmp_path))
    with open(scan / "analysis" / "summary.csv") as fh:
        rows = {os.path.basename(r["file"]): r for r in csv.DictReader(fh)}
    assert set(rows) == {"loose.h5", "tight.h5"}
    assert all(r["status"] == "completed" for r in rows.values())
    # afterok: the analysis saw both finished files, so it started after the array
    assert all(r["records"] == "6" for r in rows.values())
    assert not (tmp_path / "PWNED").exists()


def test_long_run_checkpoints_requeues_and_matches(cluster, tmp_path):
    # the first start is slowed to >= 60 s of run: the warning, due 10 s after the start
    # and sent by slurmctld's 30 s periodic check, interrupts it whatever the load; the
    # starts after a requeue run at full speed (fewer requeues, each costing ~30 s)
    n_out, delay = 120, 0.5
    cfg = write_config(tmp_path, "meanfield", n_out=n_out, t_final=12.0)
    ref = tmp_path / "ref.h5"
    res = subprocess.run(nmbhpc_cmd("run", cfg, "-o", str(ref), "--log-level", "WARNING", ranks=2),
                         env=python_env(), capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    out = tmp_path / "long.h5"
    script = _render(tmp_path / "long.sbatch", "long", cfg, "-o", str(out), "--ntasks", "2",
                     "--time", "1", "--signal-lead", "50",
                     env_lines=[f"[[ ${{SLURM_RESTART_COUNT:-0}} == 0 ]] && "
                                f"export {DELAY_ENV}={delay}"])
    job = cluster.sbatch(script)
    deadline = time.monotonic() + 420
    restarts = 0
    hurried = set()
    while time.monotonic() < deadline:
        info = cluster.wait_state(job)
        restarts = max(restarts, int(info.get("Restarts", 0)))
        if info.get("JobState") == "PENDING" and restarts > 0 and restarts not in hurried:
            # SLURM delays a requeued job's start by ~150 s; a test need not wait that
            # long, but slurmd refuses ("already killed") a relaunch of the same job id
            # that comes right after its kill, so leave it a margin
            cluster.scontrol("update", f"JobId={job}", "StartTime=now+20")
            hurried.add(restarts)
        if info.get("JobState") in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL"):
            break
        time.sleep(1)
    assert info.get("JobState") == "COMPLETED", (info, _log(cluster, tmp_path))
    assert restarts >= 1, "the job was never requeued: " + _log(cluster, tmp_path)
    log = "".join(p.read_text() for p in tmp_path.glob("*.out"))
    assert "forwarding SIGUSR1" in log and "resumed from the checkpoint" in log, log[-3000:]
    done, full = read_run(out), read_run(ref)
    assert done.status == "completed"
    assert max_difference(done, full) <= 1e-12
