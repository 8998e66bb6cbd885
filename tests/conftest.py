"""Shared test fixtures; the suite runs serially and under mpirun -n 2 / -n 3.

Under MPI every rank runs every test (tests are collective). Ranks other than
0 keep quiet and report only their failures, so the output stays readable.
"""
from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from nmbhpc.stack import init_petsc  # noqa: E402  (sets PETSC_DIR before mpi4py/petsc4py load)

init_petsc([])
from mpi4py import MPI  # noqa: E402

WORLD = MPI.COMM_WORLD


def pytest_configure(config):
    config.addinivalue_line("markers", "serial: only meaningful with one MPI rank")
    if WORLD.Get_size() > 1 and not config.option.basetemp:
        # one private basetemp per rank: pytest prunes old numbered basetemps,
        # and ranks sharing the default root would delete each other's dirs
        import tempfile

        tag = WORLD.bcast(os.getpid(), root=0)
        config.option.basetemp = os.path.join(
            tempfile.gettempdir(), f"nmbhpc-pytest-{tag}-rank{WORLD.Get_rank()}")


@pytest.hookimpl(tryfirst=True)  # all plugins are configured; nothing printed yet
def pytest_sessionstart(session):
    if WORLD.Get_rank() > 0:
        # failures on this rank still reach stderr (pytest_runtest_logreport)
        config = session.config
        rep = config.pluginmanager.get_plugin("terminalreporter")
        if rep is not None:
            config.pluginmanager.unregister(rep)


def pytest_collection_modifyitems(config, items):
    if WORLD.Get_size() > 1:
        skip = pytest.mark.skip(reason="serial-only test (MPI size > 1)")
        for item in items:
            if "serial" in item.keywords:
                item.add_marker(skip)


def pytest_runtest_logreport(report):
    if WORLD.Get_size() > 1 and report.failed:
        # A failure seen by some ranks only leaves the others waiting in the next
        # collective: report it here and abort the job instead of hanging CI.
        sys.stderr.write(f"\n[rank {WORLD.Get_rank()}] FAILED {report.nodeid} ({report.when})\n"
                         f"{report.longreprtext}\n[rank {WORLD.Get_rank()}] aborting the MPI job\n")
        sys.stderr.flush()
        WORLD.Abort(1)


@pytest.fixture
def comm():
    """MPI.COMM_WORLD."""
    return WORLD


@pytest.fixture
def shared_tmp_path(tmp_path_factory):
    """A temporary directory with the same path on every rank (collective)."""
    path = str(tmp_path_factory.mktemp("shared")) if WORLD.Get_rank() == 0 else None
    path = WORLD.bcast(path, root=0)
    import pathlib

    return pathlib.Path(path)
