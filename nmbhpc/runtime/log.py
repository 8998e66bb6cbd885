"""Logging that only rank 0 prints.

Every rank logs through :mod:`logging`; ranks other than 0 get a handler that
drops everything below ERROR, so a failure on any rank is still reported with
its rank number.
"""
from __future__ import annotations

import logging
import sys


def setup_logging(level: str | int = "INFO", comm=None) -> logging.Logger:
    """Configure the ``nmbhpc`` logger for this rank (not collective)."""
    rank = comm.Get_rank() if comm is not None else 0
    logger = logging.getLogger("nmbhpc")
    logger.handlers.clear()
    handler = logging.StreamHandler(sys.stderr)
    fmt = "%(asctime)s nmbhpc %(levelname)s: %(message)s" if rank == 0 else \
        f"%(asctime)s nmbhpc [rank {rank}] %(levelname)s: %(message)s"
    handler.setFormatter(logging.Formatter(fmt, datefmt="%H:%M:%S"))
    logger.addHandler(handler)
    logger.setLevel(level if rank == 0 else logging.ERROR)
    logger.propagate = False
    return logger
