"""Identical observables on 1, 2 and 3 ranks.

In-process: COMM_WORLD is split into sub-communicators of different sizes
(size 3 -> {0} and {1, 2}; size 2 -> {0} and {1}), each runs the same model,
and every rank compares its sub-run with the run on the whole world. The
serial test launches ``mpirun -n 1/2/3`` on a small script and compares the
outputs. Only reduction order differs between partitions, so 1e-10 is ample.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

from manybody_cases import assert_close, make_config, on_sub_communicator, run_engine, series, unit
from nmbhpc.physics.model import Mode

RANK_TOL = 1e-10
FIELDS = ("polarization", "nue_fraction", "rho1", "entropy", "pair_correlation",
          "energy", "b_dot_j", "norm")


def rank_config():
    """A multi-sector, multi-angle model with dim 2*3*2*4*2 = 96 (uneven partitions)."""
    modes = (Mode(1, 1.0, unit([0, 0, 1]), (0.0, 0.0, 1.0)),
             Mode(2, -0.8, unit([1, 0, 0]), unit([0.3, -0.2, -0.9])),
             Mode(1, 1.9, unit([0, 1, 0.2]), (0.0, 0.0, -1.0)),
             Mode(3, 0.4, unit([-0.5, 0.5, 0.5]), unit([1.0, 0.0, 0.1])),
             Mode(1, -1.4, unit([0.1, -1, 0]), (0.0, 0.0, 1.0)))
    return make_config(modes, np.linspace(0.0, 2.0, 5), theta=0.15, mu=4.0)


def test_sub_communicators_agree(comm):
    config = rank_config()
    world, _, _ = run_engine(config, comm)
    (part, _, _), size = on_sub_communicator(comm, lambda sub: run_engine(config, sub))
    for field in FIELDS:
        assert_close(comm, series(part, field), series(world, field), atol=RANK_TOL,
                     what=f"{field}: sub-communicator of size {size} vs world of size {comm.Get_size()}")


SCRIPT = """
import sys
import numpy as np
from nmbhpc.runtime.stack import init_petsc
init_petsc([])
from mpi4py import MPI
from manybody_cases import run_engine, series
from test_manybody_ranks import FIELDS, rank_config
records, _, _ = run_engine(rank_config(), MPI.COMM_WORLD)
if MPI.COMM_WORLD.Get_rank() == 0:
    np.savez(sys.argv[1], **{f: series(records, f) for f in FIELDS})
"""


def mpirun_command(n):
    cmd = ["mpirun", "-n", str(n), "--oversubscribe"]
    if os.geteuid() == 0:
        cmd.append("--allow-run-as-root")
    return cmd


@pytest.mark.serial
def test_mpirun_1_2_3_agree(tmp_path):
    here = os.path.dirname(os.path.abspath(__file__))
    script = tmp_path / "run_ranks.py"
    script.write_text(SCRIPT)
    # the parent may be an MPI singleton: do not leak its launcher variables into mpirun
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMPI_", "PMIX_", "PMI_"))}
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(here), here, env.get("PYTHONPATH", "")])
    results = {}
    for n in (1, 2, 3):
        out = tmp_path / f"ranks{n}.npz"
        proc = subprocess.run(mpirun_command(n) + [sys.executable, str(script), str(out)],
                              env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, f"mpirun -n {n} failed:\n{proc.stdout}\n{proc.stderr}"
        results[n] = np.load(out)
    for n in (2, 3):
        for field in FIELDS:
            diff = np.max(np.abs(results[n][field] - results[1][field]))
            assert diff <= RANK_TOL, f"{field}: -n {n} vs -n 1 differ by {diff:.2e}"
