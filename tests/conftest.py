"""Shared test fixtures; the suite runs serially and under mpirun -n 2 / -n 3.

Under MPI every rank runs every test (tests are collective). Ranks other than
0 keep quiet and report only their failures, so the output stays readable.
"""
from __future__ import annotations

import gc
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# One BLAS thread per rank, as `make test` sets: ranks are the parallelism, and
# threaded BLAS reorders sums, which breaks the bit-identity tests of restarts
# across rank counts.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
if "PYTEST_XDIST_WORKER" in os.environ and "OMPI_COMM_WORLD_SIZE" not in os.environ:
    # A pytest-xdist worker inherits the MPI singleton environment of the controlling
    # pytest; with it, its own MPI_Init and every mpirun it starts (directly or in a
    # SLURM job) would try to join the controller's job.
    for _key in [k for k in os.environ if k.startswith(("OMPI_", "PMIX_", "PMI_"))]:
        del os.environ[_key]

from nmbhpc.runtime.stack import init_petsc, petsc_cleanup  # noqa: E402  (sets PETSC_DIR before mpi4py/petsc4py load)

init_petsc([])
from mpi4py import MPI  # noqa: E402

WORLD = MPI.COMM_WORLD

#: seconds a process may take to exit after pytest's summary before the exit
#: watchdog reports its stacks and kills it (a hang in MPI/PETSc finalisation).
#: A clean exit takes 1-2 s; a rank starved on an oversubscribed machine has
#: been seen to need more than 30.
EXIT_TIMEOUT = float(os.environ.get("NMBHPC_TEST_EXIT_TIMEOUT", "60"))


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


def pytest_collection_finish(session):
    # The test modules and everything they import are loaded and live to the end:
    # moving them out of the collector's reach makes the per-test gc.collect() of
    # petsc_cleanup cost milliseconds instead of a tenth of a second.
    gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True)
def _petsc_garbage_collected_per_test():
    """Under MPI, after every test, on every rank at the same point: destroy the PETSc
    objects that Python's collector freed (collective on COMM_WORLD).

    A serial pass needs none of it: petsc4py destroys an object on a one-rank
    communicator at once, and the collector breaks cycles on its own.
    """
    yield
    if WORLD.Get_size() > 1:
        petsc_cleanup(WORLD)



_WATCHDOG = r"""
import os, shutil, signal, subprocess, sys, time
pid, timeout, rank = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
end = time.monotonic() + timeout
while time.monotonic() < end:
    if os.getppid() != pid:          # the test process has exited: nothing to do
        sys.exit(0)
    time.sleep(0.2)
say = sys.stderr.write
say(f"\n[rank {rank}] pid {pid} did not exit within {timeout:g} s after the last test "
    "(hang in MPI/PETSc finalisation?); its stacks:\n")
spy = shutil.which("py-spy") or os.path.join(os.path.dirname(sys.executable), "py-spy")
gdb = shutil.which("gdb")
if os.path.exists(spy):
    subprocess.run([spy, "dump", "--native", "--pid", str(pid)], stdout=sys.stderr, timeout=60)
elif gdb:
    subprocess.run([gdb, "-batch", "-p", str(pid), "-ex", "thread apply all bt"],
                   stdout=sys.stderr, stderr=subprocess.DEVNULL, timeout=60)
else:
    say("(neither py-spy nor gdb is installed: no native stacks)\n")
say(f"[rank {rank}] killing pid {pid}\n")
sys.stderr.flush()
os.kill(pid, signal.SIGKILL)
"""


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session, exitstatus):
    """Start the exit watchdog, then destroy PETSc's garbage (collective).

    The tests are done; what is left is the summary and the interpreter's,
    PETSc's and MPI's shutdown. A process still alive ``EXIT_TIMEOUT`` seconds
    later is hung (ranks disagreeing in a collective call during clean-up or
    finalisation): the watchdog prints its native stacks and kills it, so the
    pass fails at once instead of running into the Makefile's timeout.
    """
    subprocess.Popen([sys.executable, "-c", _WATCHDOG, str(os.getpid()), str(EXIT_TIMEOUT),
                      str(WORLD.Get_rank())], stdin=subprocess.DEVNULL, close_fds=True)
    petsc_cleanup(WORLD)


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


@pytest.fixture
def ghost_exchange_option():
    """``set(kind)`` puts ``-mb_H_ghost_exchange kind`` (the separable operator's ghost
    exchange) into the PETSc options database for this test."""
    PETSc, _ = init_petsc()
    options = PETSc.Options()

    def set_kind(kind: str) -> None:
        options.setValue("mb_H_ghost_exchange", kind)

    yield set_kind
    options.delValue("mb_H_ghost_exchange")
