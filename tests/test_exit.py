"""Every MPI job exits by itself, whatever Python's collector did on each rank.

PETSc 3.18 cleans COMM_WORLD's garbage in ``PetscFinalize``: a rank whose
inner communicator is gone calls ``MPI_Comm_dup`` while a rank that still has
it (an object alive, or freed by the collector into PETSc's garbage) calls
``MPI_Allreduce`` on it, and the job hangs. These tests recreate exactly that
asymmetry under ``mpirun -n 2`` and ``-n 3`` and require a clean exit; without
the communicator holder of :func:`nmbhpc.runtime.stack.init_petsc` the first two hang.
"""
from __future__ import annotations

import subprocess
import sys

import pytest

from production_cases import python_env

SCRIPT = """
import sys
from nmbhpc.runtime.stack import init_petsc, petsc_comm_scope
PETSc, _ = init_petsc([])
from mpi4py import MPI

case = sys.argv[1]
world = MPI.COMM_WORLD
rank = world.Get_rank()
v = PETSc.Vec().createMPI((4, None), comm=world)
if case == "alive-on-rank-0":
    keep = v if rank == 0 else v.destroy()
elif case == "garbage-on-rank-0":
    if rank == 0:
        del v                 # freed by Python: goes to PETSc's garbage on COMM_WORLD
    else:
        v.destroy()
elif case == "sub-communicator":
    v.destroy()
    sub = world.Split(0 if rank < 2 else MPI.UNDEFINED, rank)
    if sub != MPI.COMM_NULL:
        with petsc_comm_scope(sub):
            w = PETSc.Vec().createMPI((3, None), comm=sub)
            if rank == 0:
                del w         # collected on rank 0 only, cleaned when the scope closes
            else:
                w.destroy()
        sub.Free()
    world.Barrier()
print(f"rank {rank} done", flush=True)
"""

#: a clean exit takes about a second; this bounds a hang, it does not time anything
HANG_BOUND = 120


@pytest.mark.serial
@pytest.mark.parametrize("ranks", [2, 3])
@pytest.mark.parametrize("case", ["alive-on-rank-0", "garbage-on-rank-0", "sub-communicator"])
def test_job_exits_with_asymmetric_petsc_objects(tmp_path, case, ranks):
    script = tmp_path / "exit_case.py"
    script.write_text(SCRIPT)
    cmd = ["mpirun", "--allow-run-as-root", "--oversubscribe", "-n", str(ranks),
           sys.executable, str(script), case]
    try:
        proc = subprocess.run(cmd, env=python_env(), capture_output=True, text=True,
                              timeout=HANG_BOUND)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"mpirun -n {ranks} ({case}) did not exit within {HANG_BOUND} s: "
                    f"{exc.stdout!r}")
    assert proc.returncode == 0, proc.stderr
    # ranks' lines may interleave in mpirun's forwarded output
    assert all(f"rank {r} done" in proc.stdout for r in range(ranks)), proc.stdout


@pytest.mark.serial
def test_watchdog_reports_and_kills_a_rank_hung_at_exit():
    """tests/conftest.py's exit watchdog: a rank hung after the last test is reported
    with its stacks and killed, so the pass fails instead of waiting for a timeout."""
    import os

    here = os.path.dirname(os.path.abspath(__file__))
    env = python_env()
    env["NMBHPC_TEST_EXIT_TIMEOUT"] = "20"  # long enough for the summary on a loaded machine
    cmd = ["mpirun", "--allow-run-as-root", "--oversubscribe", "-n", "2", sys.executable,
           "-m", "pytest", "-q", "--color=no", "-p", "no:cacheprovider",
           os.path.join(here, "exit_cases", "hang_at_exit.py")]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=HANG_BOUND,
                          cwd=os.path.dirname(here))
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "did not exit within 20 s after the last test" in out
    assert "[rank 0] killing pid" in out
