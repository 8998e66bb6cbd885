"""One owner per output file: a claim file ``OUT.h5.owner`` next to every file being written.

The MPI-IO driver of HDF5 takes no lock, so two runs writing the same file
(a ``--force`` over a running job, two ``--resume`` at once, a requeued SLURM
job overlapping its predecessor) would interleave their records silently.
Every writer therefore claims its output before it opens, creates or
truncates it, and gives the claim back when it closes the file:

* The claim is a small JSON file, ``<resolved output path>.owner``, created by
  rank 0 alone with ``open(O_CREAT | O_EXCL)``; rank 0 broadcasts the outcome,
  so every rank of the run raises the same error or proceeds together. It
  holds ``host``, ``pid``, the process start time (``pid_start``, clock ticks
  since boot, and ``boot_id``: a reused PID or a rebooted host is recognised),
  ``started_utc``, ``user``, ``command``, the SLURM ``job_id``,
  ``array_job_id``/``array_task_id`` and ``restart_count`` when set, and a
  random ``claim_id``.
* While the claim is held, a thread of rank 0 touches the claim file every
  :data:`HEARTBEAT_SECONDS` (its mtime is the heartbeat) and gives up if the
  file no longer holds its ``claim_id``.
* A second writer is refused before it touches the output, with one line
  naming the owner (host, PID, SLURM job). :class:`OwnershipError` is a
  :class:`FileExistsError`, so the CLI reports it as a usage error (exit 2).
* A claim whose owner is provably dead is stale and is taken over (see
  :func:`judge`): same host and the PID gone, reused (other start time) or
  the host rebooted since; on another host, the owner's SLURM job no longer
  running according to ``squeue``; for a requeued SLURM job (same job id,
  higher restart count) its predecessor's heartbeat older than
  :data:`PREDECESSOR_STALE_SECONDS`. Nothing else is proof: a claim from
  another host without SLURM is broken only on request (:func:`break_claim`,
  ``nmbhpc run --takeover``) or by hand (``rm OUT.h5.owner``).
* Taking over is serialised by a second exclusive file, ``OUT.h5.owner.takeover``:
  its creator re-reads the claim, and only if it is still the stale one it
  judged replaces it atomically (write a private file, ``rename`` over the
  claim) and reads it back. The claim file therefore never disappears during
  a takeover, and a plain ``O_EXCL`` claimant can never slip in between.

What it relies on: ``O_EXCL`` creation and ``rename`` being atomic on the file
system holding the output (local file systems, Lustre, GPFS, NFSv3 and v4;
not NFSv2), and ``hostname`` telling the nodes apart.
"""
from __future__ import annotations

import errno
import getpass
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timezone

log = logging.getLogger(__name__)

#: suffix of the claim file next to the output
SUFFIX = ".owner"
#: seconds between two heartbeats (mtime updates) of a held claim
HEARTBEAT_SECONDS = 30.0
#: a requeued SLURM job takes over from its predecessor on another host only
#: once the predecessor's heartbeat is this old (SLURM requeues after a node
#: failure only after SlurmdTimeout, 300 s by default, has passed)
PREDECESSOR_STALE_SECONDS = 600.0
#: a takeover guard (or a claim file without valid JSON) older than this is
#: the leftover of a process that died within milliseconds of creating it
LEFTOVER_SECONDS = 60.0
#: ``squeue`` states in which a job's processes may still run
_SLURM_ALIVE = {"RUNNING", "COMPLETING", "CONFIGURING", "SUSPENDED", "STOPPED", "SIGNALING",
                "RESIZING", "STAGE_OUT"}
_ATTEMPTS = 50


class OwnershipError(FileExistsError):
    """The output file belongs to another live run (or the ranks disagree about it)."""


# --------------------------------------------------------------- identity
def _proc_start(pid: int) -> int | None:
    """Start time of process ``pid`` in clock ticks since boot (Linux /proc), or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return None
    # the command name (field 2) may contain spaces and parentheses: split after its last ')'
    return int(stat[stat.rindex(b")") + 2:].split()[19])


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists and has not exited (a zombie has)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, another user's
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
        return stat[stat.rindex(b")") + 2:].split()[0] not in (b"Z", b"X")
    except (OSError, ValueError, IndexError):
        return True


def _alive_soon(pid: int, grace: float = 2.0) -> bool:
    """:func:`_alive`, allowing ``grace`` seconds for a process that is being torn down
    (the ranks of an aborted ``mpirun`` job are killed and reaped just after it returns)."""
    end = time.monotonic() + grace
    while _alive(pid):
        if time.monotonic() >= end:
            return True
        time.sleep(0.1)
    return False


def _boot_id() -> str | None:
    try:
        with open("/proc/sys/kernel/random/boot_id") as fh:
            return fh.read().strip()
    except OSError:
        return None


def _env_int(name: str) -> int | None:
    value = os.environ.get(name, "")
    return int(value) if value.isdigit() else None


def identity() -> dict:
    """This process as an owner record (the JSON of a claim file), with a fresh ``claim_id``."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "pid_start": _proc_start(os.getpid()),
        "boot_id": _boot_id(),
        "started_utc": datetime.now(timezone.utc).isoformat(timespec="seconds")
        .replace("+00:00", "Z"),
        "user": user,
        "command": " ".join(sys.argv),
        "job_id": os.environ.get("SLURM_JOB_ID") or None,
        "array_job_id": os.environ.get("SLURM_ARRAY_JOB_ID") or None,
        "array_task_id": os.environ.get("SLURM_ARRAY_TASK_ID") or None,
        "restart_count": _env_int("SLURM_RESTART_COUNT") or 0,
        "claim_id": uuid.uuid4().hex,
    }


def describe_owner(owner: dict) -> str:
    """``host H, PID P, SLURM job J (restart R), since T`` for messages."""
    parts = [f"host {owner.get('host', '?')}", f"PID {owner.get('pid', '?')}"]
    if owner.get("job_id"):
        job = f"SLURM job {owner['job_id']}"
        if owner.get("array_job_id"):
            job += f" (array {owner['array_job_id']}_{owner.get('array_task_id')})"
        if owner.get("restart_count"):
            job += f" restart {owner['restart_count']}"
        parts.append(job)
    if owner.get("started_utc"):
        parts.append(f"since {owner['started_utc']}")
    return ", ".join(parts)


# --------------------------------------------------------------- judgement
def slurm_job_state(job_id: str) -> str | None:
    """``squeue``'s state of ``job_id`` ("" once SLURM has forgotten the job), None if unknown."""
    try:
        res = subprocess.run(["squeue", "-h", "-j", str(job_id), "-o", "%T"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    if res.returncode != 0:
        # a finished job that SLURM no longer lists; any other failure proves nothing
        return "" if "invalid job id" in res.stderr.lower() else None
    return res.stdout.strip().upper()


DEAD, ALIVE, UNKNOWN = "dead", "alive", "unknown"


def judge(owner: dict, heartbeat_age: float, me: dict, job_state=slurm_job_state) \
        -> tuple[str, str]:
    """``(verdict, reason)`` for the claim ``owner`` as seen by ``me`` (both owner records).

    ``verdict``: :data:`DEAD` (provably: the claim is stale and may be taken
    over), :data:`ALIVE` (provably running) or :data:`UNKNOWN`;
    ``heartbeat_age``: seconds since the claim file's mtime.
    """
    pid = owner.get("pid")
    if owner.get("host") == me["host"] and isinstance(pid, int):
        if owner.get("boot_id") and me["boot_id"] and owner["boot_id"] != me["boot_id"]:
            return DEAD, "its host was rebooted since"
        if not _alive_soon(pid):
            return DEAD, f"process {pid} no longer exists"
        start = _proc_start(pid)
        if owner.get("pid_start") is not None and start is not None \
                and start != owner["pid_start"]:
            return DEAD, f"PID {pid} now belongs to another process"
        return ALIVE, "that process is still running"
    beat = f"its last heartbeat was {heartbeat_age:.0f} s ago"
    job = owner.get("job_id")
    if job and job == me.get("job_id"):
        if (owner.get("restart_count") or 0) < (me.get("restart_count") or 0):
            if heartbeat_age > PREDECESSOR_STALE_SECONDS:
                return DEAD, (f"it is this job's predecessor and {beat} "
                              f"(> {PREDECESSOR_STALE_SECONDS:.0f} s)")
            return UNKNOWN, (f"it is this requeued job's predecessor and {beat}; it is taken "
                             f"over once that exceeds {PREDECESSOR_STALE_SECONDS:.0f} s")
        return UNKNOWN, f"it is another step of this SLURM job on another host ({beat})"
    if job:
        state = job_state(job)
        if state is not None and state not in _SLURM_ALIVE:
            return DEAD, f"SLURM job {job} is no longer running (squeue: {state or 'unknown job'})"
        if state is not None:
            return ALIVE, f"SLURM job {job} is {state}"
    return UNKNOWN, (f"it is on another host and cannot be checked from here ({beat}); "
                     "if it is gone, rerun with --takeover")


# --------------------------------------------------------------- files
def claim_path(path) -> str:
    """The claim file of output ``path`` (symbolic links resolved)."""
    return os.path.realpath(os.fspath(path)) + SUFFIX


def _read(lock: str) -> tuple[str, dict | None, float]:
    """(text, parsed record or None, seconds since mtime); FileNotFoundError if absent."""
    with open(lock, encoding="utf-8", errors="replace") as fh:
        age = time.time() - os.fstat(fh.fileno()).st_mtime
        text = fh.read()
    try:
        owner = json.loads(text)
    except ValueError:
        owner = None
    return text, owner if isinstance(owner, dict) else None, age


def _write_new(path: str, text: str) -> None:
    """Create ``path`` exclusively with ``text``, synced (FileExistsError if it exists)."""
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    try:
        os.write(fd, text.encode("utf-8"))
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(path)
        raise
    os.close(fd)


def _replace_stale(lock: str, stale_text: str, text: str, me: dict) -> bool | None:
    """Replace the claim ``lock`` if it still reads ``stale_text``; True if ours now.

    False: the claim changed meanwhile (judge again); None: another process
    is taking over right now.
    """
    guard = lock + ".takeover"
    try:
        _write_new(guard, text)
    except FileExistsError:
        try:
            if time.time() - os.stat(guard).st_mtime > LEFTOVER_SECONDS:
                os.unlink(guard)  # its creator died between creating and removing it
                return False
        except FileNotFoundError:
            return False
        return None
    try:
        try:
            current = _read(lock)[0]
        except FileNotFoundError:
            current = None
        if current != stale_text:
            return False
        tmp = f"{lock}.{me['host']}.{me['pid']}.{me['claim_id']}.tmp"
        _write_new(tmp, text)
        os.replace(tmp, lock)
        return _read(lock)[0] == text
    finally:
        try:
            os.unlink(guard)
        except FileNotFoundError:
            pass


def _claim_on_root(path: str, me: dict, judge_fn) -> tuple[str, str] | None:
    """Rank 0's claim of ``path``; None on success, else (exception name, message)."""
    lock = claim_path(path)
    text = json.dumps(me, indent=1) + "\n"
    busy = None
    for _ in range(_ATTEMPTS):
        try:
            _write_new(lock, text)
            return None
        except FileExistsError:
            pass
        except OSError as exc:
            return ("PermissionError" if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS)
                    else "OSError",
                    f"cannot create the ownership claim {lock!r} of output {path!r}: "
                    f"{exc.strerror or exc}")
        try:
            old_text, owner, age = _read(lock)
        except FileNotFoundError:
            continue  # released meanwhile
        if owner is None:
            if age < LEFTOVER_SECONDS:  # its creator is writing it right now
                busy = f"{lock} is being written by another process"
                time.sleep(0.1)
                continue
            verdict, reason = DEAD, "the claim file is unreadable and older than " \
                f"{LEFTOVER_SECONDS:.0f} s"
        else:
            verdict, reason = judge_fn(owner, age, me)
        if verdict != DEAD:
            return ("OwnershipError",
                    f"output {path!r} is being written by another run ({describe_owner(owner)}): "
                    f"{reason}; refusing to touch it (claim file {lock})")
        done = _replace_stale(lock, old_text, text, me)
        if done:
            log.warning("took over %s from a dead run (%s): %s", path,
                        describe_owner(owner) if owner else "unreadable claim", reason)
            return None
        if done is None:
            busy = f"another process is taking over {lock} right now"
            time.sleep(0.1)
    return "OwnershipError", f"output {path!r}: cannot claim it ({busy or 'claim keeps changing'})"


# --------------------------------------------------------------- public
class Claim:
    """A held claim on one output file; :meth:`release` gives it back (idempotent)."""

    def __init__(self, path: str, record: dict | None):
        self.path = path
        self.lock_path = claim_path(path)
        self.record = record  # None on ranks other than 0: they hold nothing
        self._stop = threading.Event()
        self._thread = None
        if record is not None:
            self._thread = threading.Thread(target=self._heartbeat, daemon=True,
                                            name=f"nmbhpc-claim-{os.path.basename(path)}")
            self._thread.start()

    def _holds(self) -> bool:
        try:
            _, owner, _ = _read(self.lock_path)
        except OSError:
            return False
        return owner is not None and owner.get("claim_id") == self.record["claim_id"]

    def _heartbeat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            if not self._holds():
                log.error("the ownership claim %s of %s was removed or replaced by another "
                          "process", self.lock_path, self.path)
                return
            try:
                os.utime(self.lock_path)
            except OSError as exc:
                log.warning("cannot refresh the ownership claim %s: %s", self.lock_path, exc)

    def release(self) -> None:
        """Give the claim back: rank 0 removes the claim file if it still holds it.

        Not collective (safe on a failure path where only some ranks arrive).
        """
        if self.record is None or self._stop.is_set():
            return
        self._stop.set()
        self._thread.join(timeout=5.0)
        if self._holds():
            try:
                os.unlink(self.lock_path)
            except FileNotFoundError:
                pass
        else:
            log.error("%s: the ownership claim %s was not this run's any more", self.path,
                      self.lock_path)


def _agree_on_path(path: str, comm) -> None:
    """Collective. Raise OwnershipError on every rank unless every rank resolves ``path`` alike."""
    resolved = os.path.realpath(path)
    root = comm.bcast(resolved, root=0)
    differ = comm.allgather(resolved != root)
    if any(differ):
        rank = differ.index(True)
        others = comm.bcast(resolved if comm.Get_rank() == rank else None, root=rank)
        raise OwnershipError(f"the output path differs between ranks: rank 0 writes {root!r}, "
                             f"rank {rank} {others!r}")


def claim(path, comm, *, judge_fn=judge) -> Claim:
    """Collective. Claim output ``path`` for this run before it is created, truncated or opened.

    Every rank must pass the same path (after resolving links; else
    :class:`OwnershipError` on every rank). Rank 0 creates the claim file or
    takes over a stale one and broadcasts the outcome: a live owner raises
    :class:`OwnershipError` naming it on every rank, an uncreatable claim
    file PermissionError/OSError; nothing is written to ``path`` either way.
    """
    path = os.fspath(path)
    _agree_on_path(path, comm)
    me = identity() if comm.Get_rank() == 0 else None
    error = _claim_on_root(path, me, judge_fn) if me is not None else None
    error = comm.bcast(error, root=0)
    if error is not None:
        name, msg = error
        raise {"OwnershipError": OwnershipError, "PermissionError": PermissionError}.get(
            name, OSError)(msg)
    return Claim(path, me)


def break_claim(path, comm, *, judge_fn=judge) -> dict | None:
    """Collective. Remove the claim on ``path`` unless its owner is provably alive.

    For ``--takeover``: the owner cannot be checked from here (another host,
    no SLURM) and the user knows it is gone. An owner this host or ``squeue``
    sees running keeps its claim (:class:`OwnershipError` on every rank).
    Returns the removed owner record (rank 0's, broadcast), or None.
    """
    path = os.fspath(path)
    result = None
    if comm.Get_rank() == 0:
        lock = claim_path(path)
        try:
            _, owner, age = _read(lock)
            result = (owner, None)
        except FileNotFoundError:
            result = (None, None)
        if os.path.lexists(lock):
            verdict, reason = judge_fn(owner, age, identity()) if owner else (DEAD, "")
            if verdict == ALIVE:
                result = (None, f"--takeover: output {path!r} belongs to a live run "
                                f"({describe_owner(owner)}): {reason}; not taking it over")
            else:
                os.unlink(lock)
                log.warning("--takeover: removed the claim on %s (%s)", path,
                            describe_owner(owner) if owner else "unreadable")
    owner, refused = comm.bcast(result, root=0)
    if refused:
        raise OwnershipError(refused)
    return owner
