"""Progress lines for long runs: step, simulated time, rate, ETA (rank 0 logs).

Rate-limited by wall-clock interval so batch logs stay short; the first and
last outputs are always reported.
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

    def update(self, index: int, t: float, work: int = 0, work_name: str = "steps") -> None:
        """Log output ``index`` at simulated time ``t`` after ``work`` units of work."""
        now = time.perf_counter()
        final = index == self.n_outputs - 1
        if not final and index > 0 and now - self._last < self.interval:
            return
        self._last = now
        elapsed = now - self._wall0
        done = (t - self.t_start) / (self.t_end - self.t_start) if self.t_end > self.t_start else 1.0
        eta = elapsed * (1 - done) / done if done > 0 else float("nan")
        rate = work / elapsed if elapsed > 0 else 0.0
        log.info("output %d/%d  t = %.6g  (%.1f%%)  %s = %d (%.3g/s)  elapsed %.1fs  ETA %.1fs",
                 index + 1, self.n_outputs, t, 100 * done, work_name, work, rate, elapsed, eta)
