"""Faults of real runs: a failing rank, kill -9, SIGUSR1, bad paths, full disk, corrupt input.

Tests that launch ``nmbhpc`` (or ``mpirun``) in a subprocess, or mount a
tmpfs, are serial-marked; the in-process error tests run on every rank.
"""
from __future__ import annotations

import contextlib
import os
import random
import re
import select
import signal
import subprocess
import time

import numpy as np
import pytest

from nmbhpc.cli import main as cli_main
from nmbhpc.io import read_run
from nmbhpc.pipeline.control import DELAY_ENV, EXIT_INTERRUPTED, FAULT_ENV

from production_cases import max_difference, nmbhpc_cmd, python_env, write_config

serial = pytest.mark.serial
TIMEOUT = 120  # generous: the machine is shared; a hang is what this catches


def _run(cmd, env=None, timeout=TIMEOUT):
    return subprocess.run(cmd, env=env or python_env(), capture_output=True, text=True,
                          timeout=timeout)


def _wait_for_file(path, proc, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while not (os.path.exists(path) and os.path.getsize(path) > 0):
        assert proc.poll() is None, f"run ended (rc {proc.returncode}) before creating {path}"
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


# ---------------------------------------------------------------- failing rank
@serial
def test_exception_on_one_rank_aborts_the_whole_job(tmp_path):
    cfg = write_config(tmp_path, "meanfield", n_out=50, t_final=10.0)
    env = python_env()
    env[FAULT_ENV] = "1:3"  # rank 1 alone raises after output 3: rank 0 waits in a collective
    out = tmp_path / "out.h5"
    try:
        res = _run(nmbhpc_cmd("run", cfg, "-o", str(out), ranks=2), env=env, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"a failure on rank 1 hung the job for {TIMEOUT} s")
    assert res.returncode != 0
    assert "run failed on rank 1 of 2" in res.stderr, res.stderr[-3000:]
    assert "injected failure" in res.stderr
    run = read_run(out)  # the file keeps the outputs written before the failure
    assert 1 <= run.n_records <= 4 and run.status == "running"


# ---------------------------------------------------------------- kill -9
@serial
def test_kill_9_at_a_random_moment_leaves_a_readable_file_and_resumes(tmp_path):
    cfg = write_config(tmp_path, "meanfield", n_out=200, t_final=20.0)
    ref, out = tmp_path / "ref.h5", tmp_path / "out.h5"
    assert _run(nmbhpc_cmd("run", cfg, "-o", str(ref), "--log-level", "WARNING")).returncode == 0
    full = read_run(ref)

    delay = random.uniform(0.0, 1.0)
    env = python_env()
    env[DELAY_ENV] = "0.01"  # at least 2 s of run, however fast the machine
    proc = subprocess.Popen(nmbhpc_cmd("run", cfg, "-o", str(out), "--checkpoint-every", "7",
                                       "--log-level", "WARNING"),
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_file(out, proc)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=TIMEOUT)
    note = f"(killed {delay:.3f} s after the file appeared)"
    part = read_run(out)  # opens, whatever moment the kill hit
    assert part.n_records < full.n_records, f"run finished before the kill {note}"
    assert part.status == "running", note
    k = part.n_records
    for name in ("time", "polarization", "energy", "rho1"):
        assert np.max(np.abs(getattr(part, name) - getattr(full, name)[:k]), initial=0.0) <= 1e-12, \
            f"{name} {note}"

    res = _run(nmbhpc_cmd("run", cfg, "-o", str(out), "--resume", "--log-level", "INFO"))
    assert res.returncode == 0, res.stderr[-3000:]
    done = read_run(out)
    assert done.status == "completed"
    assert np.all(np.diff(done.time) > 0), f"a time recorded twice {note}"
    assert max_difference(done, full) <= 1e-12, note


def _children(pid: int) -> list[int]:
    """PIDs whose parent is ``pid`` (mpirun starts its local ranks as children)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    # "pid (comm) state ppid ...": comm may contain spaces, split after it
                    ppid = int(fh.read().rpartition(")")[2].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if ppid == pid:
                out.append(int(entry))
    return out


_PROGRESS = re.compile(rb"output (\d+)/")


class _ProgressLines:
    """The ``output K/N`` progress lines of a child's stderr, read as they come."""

    def __init__(self, proc):
        self.proc, self.buffer, self.lines = proc, b"", []

    def wait_for_output(self, k: int, timeout=TIMEOUT) -> int:
        """Block until rank 0 has reported output k (1-based; the record is then
        appended and flushed); return the highest output reported so far."""
        deadline, fd, last = time.monotonic() + timeout, self.proc.stderr.fileno(), 0
        while last < k:
            assert time.monotonic() < deadline, f"no progress line 'output {k}/' in {timeout} s"
            ready, _, _ = select.select([fd], [], [], 1.0)
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            assert chunk, f"run ended (rc {self.proc.wait()}) before output {k}: " \
                          + b"\n".join(self.lines[-20:]).decode(errors="replace")
            self.buffer += chunk
            *done, self.buffer = self.buffer.split(b"\n")
            self.lines += done
            last = max([last] + [int(m.group(1)) for m in map(_PROGRESS.search, done) if m])
        return last


@serial
def test_kill_9_under_mpirun_leaves_a_readable_file_and_resumes(tmp_path):
    """SIGKILL to every rank of an ``mpirun -n 2`` job (a node failure, the OOM killer),
    once rank 0 reported a random output k: nothing of the file before k is lost.
    No timing assumption: the kill waits for the progress line, however slow the machine."""
    n_out = 80
    cfg = write_config(tmp_path, "meanfield", n_out=n_out, t_final=4.0)
    ref, out = tmp_path / "ref.h5", tmp_path / "out.h5"
    res = _run(nmbhpc_cmd("run", cfg, "-o", str(ref), "--log-level", "WARNING", ranks=2))
    assert res.returncode == 0, res.stderr[-3000:]
    full = read_run(ref)

    k = random.randint(2, n_out // 3)
    env = python_env()
    env[DELAY_ENV] = "0.02"  # the outputs after k take >= 1 s: the kill lands mid-run
    proc = subprocess.Popen(nmbhpc_cmd("run", cfg, "-o", str(out), "--checkpoint-every", "5",
                                       "--progress-interval", "0", ranks=2),
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        reported = _ProgressLines(proc).wait_for_output(k)
        time.sleep(random.uniform(0.0, 0.05))  # somewhere inside a later output or checkpoint
        ranks = _children(proc.pid)
        assert len(ranks) == 2, f"mpirun {proc.pid} has children {ranks}"
        for pid in ranks:
            os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    note = f"(killed after output {reported} was reported, k = {k})"
    part = read_run(out)  # opens, whatever moment the kill hit
    assert reported <= part.n_records < full.n_records, note
    assert part.status == "running", note
    n = part.n_records
    for name in ("time", "polarization", "energy", "rho1"):
        assert np.max(np.abs(getattr(part, name) - getattr(full, name)[:n])) <= 1e-12, \
            f"{name} {note}"

    res = _run(nmbhpc_cmd("run", cfg, "-o", str(out), "--resume", "--log-level", "INFO",
                          ranks=2))
    assert res.returncode == 0, res.stderr[-3000:]
    if reported > 5:  # the checkpoint after output 5 precedes output 6's progress line
        assert "resumed from the checkpoint" in res.stderr, f"{res.stderr[-3000:]} {note}"
    done = read_run(out)
    assert done.status == "completed"
    assert np.all(np.diff(done.time) > 0), f"a time recorded twice {note}"
    assert max_difference(done, full) <= 1e-12, note


# ---------------------------------------------------------------- SIGUSR1
@serial
def test_sigusr1_under_mpirun_checkpoints_stops_and_resumes(tmp_path):
    cfg = write_config(tmp_path, "meanfield", n_out=200, t_final=20.0)
    ref, out = tmp_path / "ref.h5", tmp_path / "out.h5"
    res = _run(nmbhpc_cmd("run", cfg, "-o", str(ref), "--log-level", "WARNING", ranks=2))
    assert res.returncode == 0, res.stderr[-3000:]
    env = python_env()
    env[DELAY_ENV] = "0.01"
    proc = subprocess.Popen(nmbhpc_cmd("run", cfg, "-o", str(out), "--log-level", "WARNING",
                                       ranks=2),
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_file(out, proc)
        time.sleep(0.3)
        proc.send_signal(signal.SIGUSR1)  # mpirun forwards it to every rank
        stdout, stderr = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
    if proc.returncode == 0:
        pytest.skip("the run finished before SIGUSR1 arrived (machine too fast for this timing)")
    assert proc.returncode == EXIT_INTERRUPTED, stderr[-3000:]
    part = read_run(out)
    assert part.status == "interrupted" and "--resume" in stdout
    res = _run(nmbhpc_cmd("run", cfg, "-o", str(out), "--resume", ranks=2))
    assert res.returncode == 0, res.stderr[-3000:]
    assert "resumed from the checkpoint" in res.stderr
    done, full = read_run(out), read_run(ref)
    assert done.status == "completed"
    assert max_difference(done, full) <= 1e-12


# ---------------------------------------------------------------- output paths
@contextlib.contextmanager
def _tmpfs(path, options: str):
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    os.makedirs(path, exist_ok=True)
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@serial
def test_read_only_output_directory_is_a_clear_error(tmp_path, capsys):
    cfg = write_config(tmp_path, "meanfield", n_out=3)
    with _tmpfs(tmp_path / "ro", "ro,size=1m") as ro:
        assert cli_main(["run", cfg, "-o", str(ro / "out.h5")]) == 2
    err = capsys.readouterr().err
    assert "not writable" in err and "Traceback" not in err


@serial
def test_full_disk_is_a_clear_error(tmp_path):
    cfg = write_config(tmp_path, "meanfield", n_out=2000, t_final=20.0)
    # 96 kB: the header fits, the time series' chunks do not
    with _tmpfs(tmp_path / "small", "size=96k") as small:
        res = _run(nmbhpc_cmd("run", cfg, "-o", str(small / "out.h5"), "--log-level", "WARNING"))
    assert res.returncode != 0
    assert "No space left on device" in res.stderr, res.stderr[-3000:]
    assert "Traceback" not in res.stderr, res.stderr[-3000:]


# the limit is set after MPI_Init: the singleton's PMIx store must not be limited
_LIMITED_RUN = """
import resource, signal, sys
from nmbhpc.runtime.stack import init_petsc
init_petsc([])
from mpi4py import MPI
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, resource.RLIM_INFINITY))
from nmbhpc.cli import main
sys.exit(main(sys.argv[1:]))
"""


@serial
def test_file_size_limit_is_a_clear_error(tmp_path):
    """The quota case without root: RLIMIT_FSIZE (SIGXFSZ ignored: writes fail with EFBIG)."""
    import sys

    cfg = write_config(tmp_path, "meanfield", n_out=2000, t_final=20.0)
    res = _run([sys.executable, "-c", _LIMITED_RUN, "run", cfg, "-o", str(tmp_path / "out.h5"),
                "--log-level", "WARNING"])
    assert res.returncode != 0
    assert "File too large" in res.stderr, res.stderr[-3000:]
    assert "Traceback" not in res.stderr, res.stderr[-3000:]


def test_missing_output_directory_is_a_usage_error(comm, shared_tmp_path, capsys):
    cfg = write_config(shared_tmp_path, "meanfield", comm, n_out=3)
    assert cli_main(["run", cfg, "-o", str(shared_tmp_path / "nope" / "out.h5")]) == 2
    if comm.Get_rank() == 0:
        assert "does not exist" in capsys.readouterr().err


# ---------------------------------------------------------------- corrupt input
def _write_rank0(comm, path, data: bytes):
    if comm.Get_rank() == 0:
        with open(path, "wb") as fh:
            fh.write(data)
    comm.Barrier()
    return str(path)


@pytest.mark.parametrize("data, message", [
    (b"\x89HDF\r\n\x1a\n\xff\xfe\x00garbage", "cannot read config"),
    (b"[model\ntheta = 0.1\n", "invalid TOML"),
    (b"solver = \"manybody\"\n[model]\ntheta = 0.1\n", "'model.modes'"),
])
def test_corrupt_config_is_a_usage_error(comm, shared_tmp_path, capsys, data, message):
    cfg = _write_rank0(comm, shared_tmp_path / "bad.toml", data)
    assert cli_main(["run", cfg, "-o", str(shared_tmp_path / "out.h5")]) == 2
    err = capsys.readouterr().err
    if comm.Get_rank() == 0:
        assert message in err and "Traceback" not in err


def test_resume_of_a_corrupt_run_file_is_a_usage_error(comm, shared_tmp_path, capsys):
    cfg = write_config(shared_tmp_path, "meanfield", comm, n_out=4)
    good = str(shared_tmp_path / "good.h5")
    assert cli_main(["run", cfg, "-o", good, "--log-level", "WARNING"]) == 0
    raw = open(good, "rb").read() if comm.Get_rank() == 0 else b""
    cases = {"garbage.h5": b"not an HDF5 file at all\n" * 10,
             "truncated.h5": raw[: len(raw) // 3]}
    for name, data in cases.items():
        path = _write_rank0(comm, shared_tmp_path / name, data)
        capsys.readouterr()
        assert cli_main(["run", cfg, "-o", path, "--resume"]) == 2
        err = capsys.readouterr().err
        if comm.Get_rank() == 0:
            assert "--resume" in err and name in err and "Traceback" not in err, err


@serial
def test_failed_parallel_run_resumes_with_another_rank_count(tmp_path):
    """A 3-rank manybody run dies on rank 2; a serial --resume reads the 3-rank checkpoint
    (parallel-read row blocks of another partition) and finishes like a serial run."""
    cfg = write_config(tmp_path, "manybody", n_out=11)
    ref, out = tmp_path / "ref.h5", tmp_path / "out.h5"
    assert _run(nmbhpc_cmd("run", cfg, "-o", str(ref), "--log-level", "WARNING")).returncode == 0
    env = python_env()
    env[FAULT_ENV] = "2:6"
    res = _run(nmbhpc_cmd("run", cfg, "-o", str(out), "--checkpoint-every", "4", ranks=3), env=env)
    assert res.returncode != 0 and "run failed on rank 2 of 3" in res.stderr, res.stderr[-2000:]
    part = read_run(out)
    assert part.attrs["mpi_size"] == 3 and part.n_records == 7
    res = _run(nmbhpc_cmd("run", cfg, "-o", str(out), "--resume"))
    assert res.returncode == 0, res.stderr[-2000:]
    assert "resumed from the checkpoint at t = 0.6" in res.stderr  # outputs 0..3 kept
    done = read_run(out)
    # another partition changes only the order of floating-point sums
    assert done.n_records == 11 and max_difference(done, read_run(ref)) < 1e-10
