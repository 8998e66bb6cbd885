"""When a run checkpoints or stops early: wall-clock policy, SLURM's warning signal, test faults.

A batch system warns a job before its time limit with a signal
(``sbatch --signal=B:USR1@120``; ``mpirun`` forwards SIGUSR1/SIGUSR2 to every
rank). :class:`RunControl` turns that signal and the checkpoint interval into
one decision per output time that every rank agrees on, so the collective
checkpoint write and the early stop happen together.
"""
from __future__ import annotations

import logging
import os
import signal
import time

import numpy as np

log = logging.getLogger(__name__)

#: exit status of a run stopped by a signal after writing its checkpoint
#: (EX_TEMPFAIL: "try again"; jobs/ requeue on it, then run with --resume)
EXIT_INTERRUPTED = 75

#: test hook: "RANK:RECORD" makes rank RANK raise after appending record RECORD
FAULT_ENV = "NMBHPC_TEST_FAULT"
#: test hook: seconds to sleep after each output (a cheap run that lasts long
#: enough for a batch system's warning signal to arrive mid-run)
DELAY_ENV = "NMBHPC_TEST_OUTPUT_DELAY"

STOP_SIGNALS = ("SIGUSR1", "SIGUSR2")


class InjectedFault(RuntimeError):
    """Raised by the NMBHPC_TEST_FAULT hook (fault-tolerance tests only)."""


class RunControl:
    """Per-output decisions ``(checkpoint, stop)``; construct and query collectively.

    every : checkpoint after every ``every``-th output (0: never by count)
    interval : checkpoint when ``interval`` wall seconds (rank 0's clock) passed
        since the last one (0: never by time)
    """

    def __init__(self, comm, every: int = 0, interval: float = 0.0):
        self.comm = comm
        self.every = int(every)
        self.interval = float(interval)
        self._last = time.monotonic()
        self._signalled = None
        self._previous = {}
        for name in STOP_SIGNALS:
            sig = getattr(signal, name)
            self._previous[sig] = signal.signal(sig, self._on_signal)
        self._fault = _parse_fault(os.environ.get(FAULT_ENV, ""))
        self._delay = float(os.environ.get(DELAY_ENV, "0") or 0)

    def _on_signal(self, signum, frame) -> None:
        self._signalled = signal.Signals(signum).name

    def decide(self, index: int) -> tuple[bool, bool]:
        """Collective. After output ``index`` (0-based, in this process): (checkpoint?, stop?)."""
        if self._fault is not None and self._fault == (self.comm.Get_rank(), index):
            raise InjectedFault(f"{FAULT_ENV}: injected failure after output {index} "
                                f"on rank {self.comm.Get_rank()}")
        if self._delay > 0:
            time.sleep(self._delay)
        due = self.every > 0 and (index + 1) % self.every == 0
        if self.comm.Get_rank() == 0 and self.interval > 0:
            due = due or time.monotonic() - self._last >= self.interval
        local = np.array([due, self._signalled is not None], dtype=np.int32)
        flags = np.empty_like(local)
        self.comm.Allreduce(local, flags, op=_max_op())
        checkpoint, stop = bool(flags[0]) or bool(flags[1]), bool(flags[1])
        if checkpoint:
            self._last = time.monotonic()
        if stop:
            log.warning("stop signal received (%s): checkpointing after output %d and stopping",
                        self._signalled or "on another rank", index + 1)
        return checkpoint, stop

    def close(self) -> None:
        """Restore the previous signal handlers (not collective)."""
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}


def _parse_fault(spec: str):
    if not spec:
        return None
    rank, _, index = spec.partition(":")
    return int(rank), int(index or 0)


def _max_op():
    from mpi4py import MPI

    return MPI.MAX
