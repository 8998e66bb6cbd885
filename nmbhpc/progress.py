"""Progress lines for long runs (rank 0 logs): output index, solver steps, simulated
time, work rate (matvecs / MFN iterations / RHS evaluations per second), ETA.

Rate-limited by a wall-clock interval so batch logs stay short (``nmbhpc run``
uses 10 s on a terminal, 300 s otherwise; ``--progress-interval`` sets it);
the first and last outputs are always reported. The ETA extrapolates the wall
time per unit of simulated time so far. Times in 1/omega0, wall times in s.
"""
from __future__ import annotations

import logging
import time

log = logging.getLogger("nmbhpc.progress")


class Progress:
    """Reports progress through a known simulated-time interval [t_start, t_end]."""

    def __init__(self, t_start: float, t_end: float, n_outputs: int, interval: float = 10.0):
        self.t_start, self.t_end = float(t_start), float(t_end)
        self.n_outputs = n_outputs
        self.interval = float(interval)
        self._wall0 = time.perf_counter()
        self._last = -float("inf")
        self._work0 = None

    def update(self, index: int, t: float, work: int = 0, work_name: str = "steps",
               steps: int | None = None) -> bool:
        """Log output ``index`` (0-based) at simulated time ``t`` after ``work`` units of
        work (counted from any origin: the rate uses the increase since the first call)
        and ``steps`` solver steps. Returns whether a line was logged. Not collective."""
        now = time.perf_counter()
        if self._work0 is None:
            self._work0 = work
        final = index == self.n_outputs - 1
        if not final and index > 0 and now - self._last < self.interval:
            return False
        self._last = now
        elapsed = now - self._wall0
        span = self.t_end - self.t_start
        done = (t - self.t_start) / span if span > 0 else 1.0
        eta = elapsed * (1 - done) / done if done > 0 else float("nan")
        rate = (work - self._work0) / elapsed if elapsed > 0 else 0.0
        log.info("output %d/%d  t = %.6g  (%.1f%%)%s  %s %d (%.3g/s)  elapsed %.1fs  ETA %s",
                 index + 1, self.n_outputs, t, 100 * done,
                 "" if steps is None else f"  step {steps}", work_name, work, rate, elapsed,
                 f"{eta:.1f}s" if eta == eta else "?")
        return True
