"""Progress lines for long runs (rank 0 logs): output index, solver steps, simulated
time, work rate (matvecs / MFN iterations / RHS evaluations per second), elapsed
wall time and ETA (both as h:mm:ss).

Cadence: on a terminal a line at most every 10 s of wall time; in a batch log
(stderr not a terminal) a line every 5% of the simulated interval or every 30 s,
whichever comes first, so that a two-minute job and a two-day job both leave a
readable log. ``--progress-interval SECONDS`` replaces both rules by a fixed
wall-time interval (0: every output). The first and last outputs are always
reported. The ETA extrapolates the wall time per unit of simulated time so far.
Simulated times in 1/omega0.
"""
from __future__ import annotations

import logging
import math
import sys
import time

log = logging.getLogger(__name__)

#: seconds between lines on a terminal
TERMINAL_INTERVAL = 10.0
#: seconds between lines in a batch log, at the latest
BATCH_INTERVAL = 30.0
#: fraction of the simulated interval between lines in a batch log, at the latest
BATCH_FRACTION = 0.05


def format_duration(seconds: float) -> str:
    """``3725.4`` -> ``'1:02:05'``; NaN or infinite -> ``'?'``."""
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class Progress:
    """Reports progress through a known simulated-time interval [t_start, t_end].

    ``interval``: seconds between lines; ``None`` picks the cadence of the
    module docstring from whether stderr is a terminal.
    """

    def __init__(self, t_start: float, t_end: float, n_outputs: int,
                 interval: float | None = None):
        self.t_start, self.t_end = float(t_start), float(t_end)
        self.n_outputs = n_outputs
        if interval is None:
            batch = not sys.stderr.isatty()
            self.interval = BATCH_INTERVAL if batch else TERMINAL_INTERVAL
            self.fraction = BATCH_FRACTION if batch else math.inf
        else:
            self.interval, self.fraction = float(interval), math.inf
        self._wall0 = time.perf_counter()
        self._last = -math.inf
        self._last_bin = -1
        self._work0 = None

    def update(self, index: int, t: float, work: int = 0, work_name: str = "steps",
               steps: int | None = None) -> bool:
        """Log output ``index`` (0-based) at simulated time ``t`` after ``work`` units of
        work (counted from any origin: the rate uses the increase since the first call)
        and ``steps`` solver steps. Returns whether a line was logged. Not collective."""
        now = time.perf_counter()
        if self._work0 is None:
            self._work0 = work
        span = self.t_end - self.t_start
        done = (t - self.t_start) / span if span > 0 else 1.0
        # the tolerance keeps outputs that fall on a 5% mark (t = 0.15 of 1) in its bin
        fraction_bin = int(done / self.fraction + 1e-9) if math.isfinite(self.fraction) else 0
        final = index == self.n_outputs - 1
        due = now - self._last >= self.interval or fraction_bin > self._last_bin
        if not (final or index == 0 or due):
            return False
        self._last, self._last_bin = now, fraction_bin
        elapsed = now - self._wall0
        eta = elapsed * (1 - done) / done if done > 0 else math.nan
        rate = (work - self._work0) / elapsed if elapsed > 0 else 0.0
        log.info("output %d/%d  t = %.6g  (%.1f%%)%s  %s %d (%.3g/s)  elapsed %s  ETA %s",
                 index + 1, self.n_outputs, t, 100 * done,
                 "" if steps is None else f"  step {steps}", work_name, work, rate,
                 format_duration(elapsed), format_duration(eta))
        return True
