"""A throw-away SLURM cluster on localhost for the job-template tests.

One node (this host, 2 CPUs), slurmctld and slurmd run as root with a
generated slurm.conf in a private directory (``SLURM_CONF`` points the
clients at it), munged started if it is not running. :func:`start` installs
Debian's slurm-wlm and munge with apt-get when they are missing; it raises
:class:`Unavailable` with the reason when this machine cannot run them.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from production_cases import without_job_env


class Unavailable(RuntimeError):
    """This machine cannot run a local SLURM (reason in the message)."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _sh(cmd, timeout=60, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


def ensure_installed() -> None:
    if all(shutil.which(p) for p in ("slurmctld", "slurmd", "munged", "sbatch")):
        return
    if os.geteuid() != 0:
        raise Unavailable("slurm-wlm/munge are not installed and installing them needs root")
    if not shutil.which("apt-get"):
        raise Unavailable("slurm-wlm/munge are not installed and there is no apt-get")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    res = _sh(["apt-get", "install", "-y", "--no-install-recommends", "slurm-wlm", "munge"],
              timeout=600, env=env)
    if res.returncode != 0:
        raise Unavailable(f"apt-get install slurm-wlm munge failed: {res.stderr[-500:]}")


MUNGED_PID = "/run/munge/munged.pid"


def _ensure_munged() -> int | None:
    """Start munged unless one answers; return the pid of the one we started."""
    if _sh(["munge", "-n"]).returncode == 0:
        return None
    os.makedirs("/run/munge", exist_ok=True)
    shutil.chown("/run/munge", "munge", "munge")
    if not os.path.exists("/etc/munge/munge.key"):
        _sh(["mungekey", "--create"])  # Debian's postinst normally made one
    res = _sh(["runuser", "-u", "munge", "--", "munged"])
    if res.returncode != 0:
        raise Unavailable(f"cannot start munged: {res.stderr.strip()}")
    for _ in range(50):
        if _sh(["munge", "-n"]).returncode == 0:
            try:
                return int(Path(MUNGED_PID).read_text().split()[0])
            except (OSError, ValueError, IndexError):
                return None
        time.sleep(0.1)
    raise Unavailable("munged started but munge -n fails")


class LocalCluster:
    """Running slurmctld + slurmd; ``env`` is the environment for sbatch/squeue/scontrol."""

    def __init__(self, directory):
        self.dir = Path(directory)
        self.conf = self.dir / "slurm.conf"
        # jobs inherit this environment: none of the MPI job of the pytest that submits them
        self.env = dict(without_job_env(os.environ), SLURM_CONF=str(self.conf))
        self._procs = []
        self._munged = None

    def write_config(self) -> None:
        host = socket.gethostname().split(".")[0]
        d = self.dir
        for sub in ("state", "spool"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        self.conf.write_text(f"""\
ClusterName=nmbhpctest
SlurmctldHost={host}
SlurmUser=root
SlurmdUser=root
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/slurmctld.log
SlurmdLogFile={d}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
KillWait=5
MinJobAge=600
InactiveLimit=0
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName={host} CPUs=2 RealMemory=1 State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
""")

    def start(self, timeout: float = 30) -> None:
        ensure_installed()
        self._munged = _ensure_munged()
        self.write_config()
        # -D: foreground (we own the processes); -i: ignore old state
        for cmd in (["slurmctld", "-D", "-i", "-f", str(self.conf)],
                    ["slurmd", "-D", "-f", str(self.conf)]):
            log = open(self.dir / (cmd[0] + ".stderr"), "w")
            self._procs.append(subprocess.Popen(cmd, env=self.env, stdout=log, stderr=log))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for p in self._procs:
                if p.poll() is not None:
                    self.stop()
                    raise Unavailable(f"SLURM daemon exited: {self.log_tail()}")
            res = _sh(["sinfo", "-h", "-o", "%T"], env=self.env)
            if res.returncode == 0 and res.stdout.strip() in ("idle", "mixed", "allocated"):
                return
            time.sleep(0.5)
        tail = self.log_tail()
        self.stop()
        raise Unavailable(f"local SLURM did not become ready in {timeout:.0f} s: {tail}")

    def log_tail(self, n: int = 1500) -> str:
        out = []
        for name in ("slurmctld.log", "slurmd.log", "slurmctld.stderr", "slurmd.stderr"):
            p = self.dir / name
            if p.exists():
                out.append(f"--- {name}\n" + p.read_text()[-n:])
        return "\n".join(out)

    def stop(self) -> None:
        """Stop the daemons we started (by their process ids) and wait for them."""
        for p in self._procs:
            if p.poll() is None:
                p.terminate()
        for p in self._procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self._procs = []
        if self._munged is not None:  # only the munged this cluster started
            try:
                os.kill(self._munged, 15)
            except ProcessLookupError:
                pass
            self._munged = None

    # -- jobs ------------------------------------------------------------------
    def sbatch(self, script, *options) -> int:
        res = _sh(["sbatch", "--parsable", *options, str(script)], env=self.env)
        if res.returncode != 0:
            raise RuntimeError(f"sbatch {script}: {res.stderr}")
        return int(res.stdout.strip().split(";")[0])

    def state(self, job: int) -> str:
        res = _sh(["scontrol", "show", "job", str(job)], env=self.env)
        for word in res.stdout.split():
            if word.startswith("JobState="):
                return word.split("=", 1)[1]
        return "UNKNOWN"

    def scontrol(self, *args) -> str:
        res = _sh(["scontrol", *args], env=self.env)
        return res.stdout

    def wait_state(self, job: int) -> dict:
        """``scontrol show job`` fields of ``job`` (JobState, Restarts, ExitCode ...)."""
        out = self.scontrol("-o", "show", "job", str(job))
        return dict(w.split("=", 1) for w in out.split() if "=" in w)

    def wait(self, jobs, timeout: float) -> dict:
        """Wait until every job (array jobs: every task) left the queue; their final states."""
        deadline = time.monotonic() + timeout
        jobs = [int(j) for j in jobs]
        while time.monotonic() < deadline:
            res = _sh(["squeue", "-h", "-o", "%A %T", "-j", ",".join(map(str, jobs))], env=self.env)
            if res.returncode == 0 and not res.stdout.strip():
                break
            time.sleep(1)
        else:
            raise TimeoutError(f"jobs {jobs} still queued after {timeout} s")
        res = _sh(["scontrol", "-o", "show", "job", ",".join(map(str, jobs))], env=self.env)
        states = {}
        for line in res.stdout.splitlines():
            f = dict(w.split("=", 1) for w in line.split() if "=" in w)
            states[int(f.get("JobId", -1))] = (f.get("JobState"), f.get("ExitCode"),
                                              f.get("Restarts"))
        return states
