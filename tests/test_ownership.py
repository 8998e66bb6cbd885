"""One owner per output file (nmbhpc.io.ownership): refusal of a second writer, takeover of stale claims.

Subprocess tests (serial-marked) run real ``nmbhpc run`` processes against
each other: the owner is slowed by the output-delay hook and stopped with
SIGSTOP while the second writer tries, so that the file's bytes can be
compared before and after. The in-process tests are collective and run
under ``mpirun -n 2`` / ``-n 3`` too.
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from nmbhpc.cli import main as cli_main
from nmbhpc.io import ownership, read_run
from nmbhpc.io.ownership import ALIVE, DEAD, UNKNOWN, OwnershipError
from nmbhpc.kinetics.output import read_kinetics
from nmbhpc.pipeline.control import DELAY_ENV, EXIT_INTERRUPTED, FAULT_ENV, InjectedFault

from production_cases import SERIES, max_difference, nmbhpc_cmd, python_env, write_config
from test_kinetics_restart import CONFIG as KINETICS

serial = pytest.mark.serial
TIMEOUT = 180  # generous: the machine is shared; only a hang exceeds it
QUIET = ["--log-level", "ERROR"]
HOST = socket.gethostname()


def _sha(path) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def _readable(out, reader) -> bool:
    try:
        return reader(out).n_records >= 2
    except Exception:  # noqa: BLE001  (a file being written may read as damaged)
        return False


def _start_owner(cmd, out, env_extra=None, delay="0.1", reader=read_run):
    """Popen ``cmd`` slowed to ``delay`` s per output; return once its claim exists and its
    file holds two records."""
    env = python_env()
    env[DELAY_ENV] = delay
    env.update(env_extra or {})
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + TIMEOUT
    while not (os.path.exists(str(out) + ".owner") and _readable(out, reader)):
        assert proc.poll() is None, f"owner ended (rc {proc.returncode}): {proc.stderr.read()}"
        assert time.monotonic() < deadline, "the owner never created its file"
        time.sleep(0.05)
    return proc


def _run(*args, env_extra=None):
    env = python_env()
    env.update(env_extra or {})
    return subprocess.run(nmbhpc_cmd(*args), env=env, capture_output=True, text=True,
                          timeout=TIMEOUT)


def _assert_refused(res, pid):
    assert res.returncode == 2, res.stderr[-3000:]
    line = res.stderr.strip()
    assert "\n" not in line and "Traceback" not in line, line
    assert f"host {HOST}" in line and f"PID {pid}" in line and "another run" in line, line


def _claim_owner(out) -> dict:
    with open(str(out) + ".owner") as fh:
        return json.load(fh)


def _kill_9(proc) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=TIMEOUT)


# ----------------------------------------------------------- real concurrent runs
@serial
def test_second_writer_is_refused_before_touching_the_file(tmp_path):
    """plain run, --force (another config) and --resume while a run writes: all refused,
    the file byte-for-byte unchanged; SIGUSR1 then releases the claim and --resume completes
    a file equal to an uninterrupted run's."""
    cfg = write_config(tmp_path, "meanfield", n_out=100, t_final=10.0)
    other = str(tmp_path / "other.toml")
    with open(cfg) as fh:
        text = fh.read()
    with open(other, "w") as fh:
        fh.write(text.replace("values = [5.0, 2.0, 4.0]", "values = [3.0, 2.0, 4.0]"))
    ref, out = tmp_path / "ref.h5", tmp_path / "out.h5"
    reference = subprocess.Popen(nmbhpc_cmd("run", cfg, "-o", str(ref), *QUIET),
                                 env=python_env())
    owner = _start_owner(nmbhpc_cmd("run", cfg, "-o", str(out), "--checkpoint-every", "5",
                                    *QUIET), out)
    try:
        owner.send_signal(signal.SIGSTOP)  # holds its claim, writes nothing meanwhile
        time.sleep(0.5)
        before = _sha(out)
        for args in ([cfg], [other, "--force"], [cfg, "--resume"], [other, "--resume"]):
            res = _run("run", *args, "-o", str(out), *QUIET)
            _assert_refused(res, owner.pid)
            assert _sha(out) == before, f"{args} changed the file"
        assert _claim_owner(out)["pid"] == owner.pid
        owner.send_signal(signal.SIGCONT)
        owner.send_signal(signal.SIGUSR1)
        owner.communicate(timeout=TIMEOUT)
    finally:
        if owner.poll() is None:
            owner.send_signal(signal.SIGCONT)
            _kill_9(owner)
    assert owner.returncode == EXIT_INTERRUPTED
    assert not os.path.exists(str(out) + ".owner"), "an interrupted run kept its claim"
    assert reference.wait(timeout=TIMEOUT) == 0
    res = _run("run", cfg, "-o", str(out), "--resume", *QUIET)
    assert res.returncode == 0, res.stderr[-3000:]
    assert not os.path.exists(str(out) + ".owner")
    done, full = read_run(out), read_run(ref)
    assert done.status == "completed" and done.config_toml == text
    assert max_difference(done, full) <= 1e-12, {k: float(np.max(np.abs(getattr(done, k) -
                                                 getattr(full, k)))) for k in SERIES}


@serial
def test_kill_9_leaves_a_stale_claim_that_resume_takes_over(tmp_path):
    cfg = write_config(tmp_path, "meanfield", n_out=100, t_final=10.0)
    out = tmp_path / "out.h5"
    owner = _start_owner(nmbhpc_cmd("run", cfg, "-o", str(out), "--checkpoint-every", "3",
                                    *QUIET), out)
    _kill_9(owner)
    assert _claim_owner(out)["pid"] == owner.pid  # the claim outlives a kill -9
    res = _run("run", cfg, "-o", str(out), "--resume", "--log-level", "WARNING")
    assert res.returncode == 0, res.stderr[-3000:]
    assert f"took over {out} from a dead run (host {HOST}, PID {owner.pid}" in res.stderr
    assert f"process {owner.pid} no longer exists" in res.stderr
    assert not os.path.exists(str(out) + ".owner")
    done = read_run(out)
    assert done.status == "completed" and done.n_records == 100
    assert np.all(np.diff(done.time) > 0)


@serial
def test_requeued_slurm_job_waits_for_its_predecessor_to_die(tmp_path):
    """Same SLURM job id, restart count + 1 (a requeue overlapping the previous start)."""
    cfg = write_config(tmp_path, "meanfield", n_out=100, t_final=10.0)
    out = tmp_path / "out.h5"
    first = {"SLURM_JOB_ID": "4242", "SLURM_RESTART_COUNT": "0"}
    requeued = {"SLURM_JOB_ID": "4242", "SLURM_RESTART_COUNT": "1"}
    owner = _start_owner(nmbhpc_cmd("run", cfg, "-o", str(out), "--resume",
                                    "--checkpoint-every", "3", *QUIET), out, first)
    try:
        owner.send_signal(signal.SIGSTOP)
        time.sleep(0.5)
        before = _sha(out)
        res = _run("run", cfg, "-o", str(out), "--resume", *QUIET, env_extra=requeued)
        _assert_refused(res, owner.pid)
        assert "SLURM job 4242" in res.stderr
        assert _sha(out) == before
        assert _claim_owner(out)["job_id"] == "4242"
    finally:
        owner.send_signal(signal.SIGCONT)
        _kill_9(owner)
    res = _run("run", cfg, "-o", str(out), "--resume", "--log-level", "WARNING",
               env_extra=requeued)
    assert res.returncode == 0, res.stderr[-3000:]
    assert f"PID {owner.pid}, SLURM job 4242" in res.stderr  # the takeover names whom
    done = read_run(out)
    assert done.status == "completed" and done.n_records == 100


@serial
def test_mpi_owner_refuses_mpi_writers_of_other_sizes(tmp_path):
    """An ``mpirun -n 2`` owner (claimed by its rank 0) against ``-n 3 --force`` and
    ``-n 2 --resume``: refused, the file unchanged, the owner's file complete afterwards."""
    cfg = write_config(tmp_path, "meanfield", n_out=100, t_final=10.0)
    out = tmp_path / "out.h5"
    owner = _start_owner(nmbhpc_cmd("run", cfg, "-o", str(out), "--checkpoint-every", "5",
                                    *QUIET, ranks=2), out)
    ranks = []
    try:
        claimed = _claim_owner(out)["pid"]
        ranks = [int(p) for p in subprocess.run(["pgrep", "-P", str(owner.pid)],
                                                capture_output=True, text=True).stdout.split()]
        assert claimed in ranks and len(ranks) == 2, (claimed, ranks)  # rank 0 holds the claim
        for pid in ranks:
            os.kill(pid, signal.SIGSTOP)
        time.sleep(0.5)
        before = _sha(out)
        for n, extra in ((3, "--force"), (2, "--resume")):
            env = python_env()
            res = subprocess.run(nmbhpc_cmd("run", cfg, "-o", str(out), extra, *QUIET, ranks=n),
                                 env=env, capture_output=True, text=True, timeout=TIMEOUT)
            assert res.returncode == 2, res.stderr[-3000:]
            first = res.stderr.strip().splitlines()[0]
            assert f"host {HOST}, PID {claimed}" in first and "Traceback" not in res.stderr, first
            assert _sha(out) == before
    finally:
        for pid in ranks:
            os.kill(pid, signal.SIGCONT)
    owner.communicate(timeout=TIMEOUT)
    assert owner.returncode == 0
    done = read_run(out)
    assert done.status == "completed" and done.n_records == 100 and done.attrs["mpi_size"] == 2
    assert not os.path.exists(str(out) + ".owner")


@serial
def test_kinetic_run_file_has_one_owner(tmp_path):
    cfg = tmp_path / "k.toml"
    cfg.write_text(KINETICS.format(t_end=10.0))
    out = tmp_path / "k.h5"
    owner = _start_owner(nmbhpc_cmd("run", str(cfg), "-o", str(out), "--checkpoint-every", "4",
                                    *QUIET), out, delay="0.2", reader=read_kinetics)
    try:
        owner.send_signal(signal.SIGSTOP)
        time.sleep(0.5)
        before = _sha(out)
        for extra in (["--force"], ["--resume"]):
            res = _run("run", str(cfg), "-o", str(out), *extra, *QUIET)
            _assert_refused(res, owner.pid)
            assert _sha(out) == before
    finally:
        owner.send_signal(signal.SIGCONT)
        _kill_9(owner)
    res = _run("run", str(cfg), "-o", str(out), "--resume", *QUIET)
    assert res.returncode == 0, res.stderr[-3000:]
    assert not os.path.exists(str(out) + ".owner")


_RACER = """
import sys, time
from nmbhpc.io import ownership
path, start = sys.argv[1], float(sys.argv[2])
me = ownership.identity()
while time.time() < start:
    time.sleep(0.001)
err = ownership._claim_on_root(path, me, ownership.judge)
print("won" if err is None else "lost: " + err[1], flush=True)
time.sleep(3)  # keep the claim (alive) while the others judge it
"""


@serial
@pytest.mark.parametrize("stale", [False, True], ids=["no-claim", "stale-claim"])
def test_simultaneous_claims_have_exactly_one_winner(tmp_path, stale):
    path = str(tmp_path / "out.h5")
    if stale:  # a dead owner: every racer judges it stale and tries to take over at once
        dead = subprocess.Popen(["true"])
        dead.wait()
        record = {**ownership.identity(), "pid": dead.pid, "pid_start": None}
        with open(path + ".owner", "w") as fh:
            json.dump(record, fh)
    start = time.time() + 3.0
    racers = [subprocess.Popen([sys.executable, "-c", _RACER, path, str(start)],
                               env=python_env(), stdout=subprocess.PIPE, text=True)
              for _ in range(6)]
    results = [r.communicate(timeout=TIMEOUT)[0].strip() for r in racers]
    assert sum(r == "won" for r in results) == 1, results
    assert all(r == "won" or "another run" in r or "taking over" in r for r in results), results
    assert not os.path.exists(path + ".owner.takeover")


# ----------------------------------------------------------- in-process, collective
def _cli(*args):
    """Exit status of ``nmbhpc run ARGS`` in this process (argparse refusals exit)."""
    try:
        return cli_main(["run", *map(str, args), *QUIET])
    except SystemExit as exc:
        return exc.code


def _bcast_sha(path, comm):
    return comm.bcast(_sha(path) if comm.Get_rank() == 0 else None, root=0)


def test_claim_is_taken_once_by_rank_0_and_every_rank_agrees(comm, shared_tmp_path):
    path = str(shared_tmp_path / "out.h5")
    held = ownership.claim(path, comm)
    try:
        root_pid = comm.bcast(os.getpid(), root=0)
        assert (held.record is not None) == (comm.Get_rank() == 0)
        if comm.Get_rank() == 0:
            assert _claim_owner(path)["pid"] == root_pid
            assert sorted(os.listdir(shared_tmp_path)) == ["out.h5.owner"]  # nothing else made
        comm.Barrier()
        with pytest.raises(OwnershipError, match=f"PID {root_pid}.*still running"):
            ownership.claim(path, comm)  # every rank raises the same refusal
    finally:
        held.release()
    comm.Barrier()
    assert not os.path.exists(path + ".owner")
    ownership.claim(path, comm).release()


def test_output_path_that_differs_between_ranks_is_refused_everywhere(comm, shared_tmp_path):
    if comm.Get_size() == 1:
        pytest.skip("needs two ranks")
    cfg = write_config(shared_tmp_path, "meanfield", comm)
    out = shared_tmp_path / f"out{comm.Get_rank()}.h5"
    with pytest.raises(OwnershipError, match="differs between ranks"):
        ownership.claim(out, comm)
    assert _cli(cfg, "-o", out) == 2  # every rank: exit 2, no hang
    comm.Barrier()
    assert not any(n.startswith("out") for n in os.listdir(shared_tmp_path))


def test_live_claim_blocks_every_writer_and_a_dead_one_is_taken_over(comm, shared_tmp_path):
    """A claim of a live process on this host (a stand-in ``sleep``) refuses a plain run,
    --force and --resume on every rank without changing a byte; once that process is gone,
    --resume takes the claim over."""
    cfg = write_config(shared_tmp_path, "meanfield", comm)
    out = shared_tmp_path / "out.h5"
    lock = str(out) + ".owner"
    assert _cli(cfg, "-o", out, "--checkpoint-every", "3") == 0
    sleeper = subprocess.Popen(["sleep", "600"]) if comm.Get_rank() == 0 else None
    try:
        if comm.Get_rank() == 0:
            record = {**ownership.identity(), "pid": sleeper.pid,
                      "pid_start": ownership._proc_start(sleeper.pid), "job_id": "77"}
            with open(lock, "w") as fh:
                json.dump(record, fh)
        comm.Barrier()
        before = _bcast_sha(out, comm)
        for extra in ([], ["--force"], ["--resume"], ["--takeover", "--force"]):
            assert _cli(cfg, "-o", out, *extra) == 2, extra
            assert _bcast_sha(out, comm) == before, extra
        with pytest.raises(OwnershipError, match=f"PID {comm.bcast(sleeper and sleeper.pid)}, "
                                                 "SLURM job 77"):
            ownership.claim(out, comm)
    finally:
        if sleeper is not None:
            sleeper.kill()
            sleeper.wait()
    comm.Barrier()
    assert _cli(cfg, "-o", out, "--resume") == 0  # already complete: opened, claimed, released
    comm.Barrier()
    assert not os.path.exists(lock)
    assert read_run(out).status == "completed"


def test_takeover_breaks_a_claim_from_another_host(comm, shared_tmp_path, capsys):
    cfg = write_config(shared_tmp_path, "meanfield", comm)
    out = shared_tmp_path / "out.h5"
    if comm.Get_rank() == 0:
        record = {**ownership.identity(), "host": "elsewhere-node17", "pid": 1234}
        with open(str(out) + ".owner", "w") as fh:
            json.dump(record, fh)
    comm.Barrier()
    assert _cli(cfg, "-o", out) == 2
    if comm.Get_rank() == 0:
        err = capsys.readouterr().err
        assert "host elsewhere-node17, PID 1234" in err and "--takeover" in err, err
    assert not os.path.exists(out)
    assert _cli(cfg, "-o", out, "--takeover") == 0
    comm.Barrier()
    assert read_run(out).status == "completed" and not os.path.exists(str(out) + ".owner")


@serial  # a failure on one rank of several aborts the job
def test_a_failed_run_gives_its_claim_back(tmp_path, monkeypatch):
    cfg = write_config(tmp_path, "meanfield")
    out = tmp_path / "out.h5"
    monkeypatch.setenv(FAULT_ENV, "0:2")
    with pytest.raises(InjectedFault):
        _cli(cfg, "-o", out)
    assert read_run(out).status == "failed"
    assert not os.path.exists(str(out) + ".owner")
    monkeypatch.delenv(FAULT_ENV)
    assert _cli(cfg, "-o", out, "--resume") == 0


def test_output_naming_the_config_is_refused(comm, shared_tmp_path):
    cfg = write_config(shared_tmp_path, "meanfield", comm)
    before = _bcast_sha(cfg, comm)
    link = shared_tmp_path / "alias.toml"
    if comm.Get_rank() == 0:
        os.symlink(cfg, link)
    comm.Barrier()
    for out, extra in ((cfg, ["--force"]), (link, ["--force"]), (cfg, ["--resume"]), (cfg, [])):
        assert _cli(cfg, "-o", out, *extra) == 2
        assert _bcast_sha(cfg, comm) == before
    assert _cli(cfg, "-o", "  ") == 2


def test_unreadable_claim_is_respected_while_young_and_taken_over_when_old(comm, shared_tmp_path,
                                                                            monkeypatch):
    monkeypatch.setattr(ownership, "_ATTEMPTS", 3)
    path = str(shared_tmp_path / "out.h5")
    if comm.Get_rank() == 0:
        open(path + ".owner", "w").close()  # a claimant that died between create and write
    comm.Barrier()
    with pytest.raises(OwnershipError, match="being written by another process"):
        ownership.claim(path, comm)
    if comm.Get_rank() == 0:
        old = time.time() - 2 * ownership.LEFTOVER_SECONDS
        os.utime(path + ".owner", (old, old))
    comm.Barrier()
    held = ownership.claim(path, comm)
    if comm.Get_rank() == 0:
        assert _claim_owner(path)["claim_id"] == held.record["claim_id"]
    held.release()


def test_heartbeat_refreshes_the_claim_and_stops_when_it_is_replaced(comm, shared_tmp_path,
                                                                      monkeypatch):
    monkeypatch.setattr(ownership, "HEARTBEAT_SECONDS", 0.05)
    path = str(shared_tmp_path / "out.h5")
    lock = path + ".owner"
    held = ownership.claim(path, comm)
    if comm.Get_rank() == 0:
        old = time.time() - 1000.0
        os.utime(lock, (old, old))
        deadline = time.monotonic() + 60
        while os.stat(lock).st_mtime < old + 500:
            assert time.monotonic() < deadline, "the heartbeat never refreshed the claim"
            time.sleep(0.05)
        foreign = {**held.record, "claim_id": "someone-else"}
        with open(lock + ".tmp", "w") as fh:
            json.dump(foreign, fh)
        os.replace(lock + ".tmp", lock)
        held._thread.join(timeout=60)
        assert not held._thread.is_alive(), "the heartbeat kept going on a foreign claim"
    held.release()  # must not remove the foreign claim
    comm.Barrier()
    if comm.Get_rank() == 0:
        assert _claim_owner(path)["claim_id"] == "someone-else"


# ----------------------------------------------------------- judgement rules
ME = {"host": "node1", "pid": 1, "boot_id": "b1", "job_id": None, "restart_count": 0}


def _never(job):
    raise AssertionError("squeue must not be asked")


def test_judge_same_host_rules():
    me = ownership.identity()
    dead = subprocess.Popen(["true"])
    dead.wait()
    live = {**me, "claim_id": "x"}
    assert ownership.judge(live, 0.0, me, _never)[0] == ALIVE
    assert ownership.judge({**me, "pid": dead.pid}, 0.0, me, _never) == \
        (DEAD, f"process {dead.pid} no longer exists")
    reused = {**me, "pid_start": me["pid_start"] - 1}
    assert ownership.judge(reused, 0.0, me, _never)[1].endswith("belongs to another process")
    assert ownership.judge({**me, "boot_id": "other-boot"}, 0.0, me, _never) == \
        (DEAD, "its host was rebooted since")


@pytest.mark.parametrize("state, verdict", [("", DEAD), ("COMPLETED", DEAD), ("PENDING", DEAD),
                                            ("RUNNING", ALIVE), ("COMPLETING", ALIVE),
                                            (None, UNKNOWN)])
def test_judge_another_host_asks_slurm(state, verdict):
    owner = {"host": "node2", "pid": 99, "job_id": "555", "restart_count": 0}
    asked = []
    result = ownership.judge(owner, 5.0, ME, lambda job: asked.append(job) or state)
    assert result[0] == verdict and asked == ["555"], result
    no_job = {"host": "node2", "pid": 99, "job_id": None}
    assert ownership.judge(no_job, 1e6, ME, _never)[0] == UNKNOWN  # never by age alone


def test_judge_requeued_predecessor_on_another_host_by_heartbeat_age():
    me = {**ME, "job_id": "900", "restart_count": 2}
    owner = {"host": "node2", "pid": 99, "job_id": "900", "restart_count": 1}
    age = ownership.PREDECESSOR_STALE_SECONDS
    assert ownership.judge(owner, age - 1, me, _never)[0] == UNKNOWN
    assert ownership.judge(owner, age + 1, me, _never)[0] == DEAD
    same_start = {**owner, "restart_count": 2}  # not a predecessor: never taken over
    assert ownership.judge(same_start, 1e6, me, _never)[0] == UNKNOWN


def test_slurm_job_state_reads_squeue(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    squeue = bin_dir / "squeue"
    monkeypatch.setenv("PATH", str(bin_dir))
    assert ownership.slurm_job_state("1") is None  # no squeue here
    squeue.write_text("#!/bin/sh\necho RUNNING\n")
    squeue.chmod(0o755)
    assert ownership.slurm_job_state("1") == "RUNNING"
    squeue.write_text("#!/bin/sh\necho 'slurm_load_jobs error: Invalid job id specified' >&2\n"
                      "exit 1\n")
    assert ownership.slurm_job_state("1") == ""
    squeue.write_text("#!/bin/sh\necho 'Unable to contact slurm controller' >&2\nexit 1\n")
    assert ownership.slurm_job_state("1") is None
