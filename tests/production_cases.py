"""Small configs and helpers shared by the production-run tests (restart, faults, analyze)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent

MANYBODY = """solver = "manybody"
[model]
theta = 0.161
mu = 5.0
[model.generator]
kind = "single_angle"
n_modes = 6
n_per_mode = 1
omega0 = 1.0
states = "split"
[manybody]
mfn_tol = 1e-12
[output]
t_final = {t_final}
n_out = {n_out}
"""

# mu(t) from a table: a restart must also resume the schedule at the right time
MEANFIELD = """solver = "meanfield"
[model]
theta = 0.161
[model.generator]
kind = "multi_angle"
n_modes = 7
n_per_mode = 1
[model.schedule]
kind = "table"
times = [0.0, 1.0, 3.0]
values = [5.0, 2.0, 4.0]
[output]
t_final = {t_final}
n_out = {n_out}
"""

# collective modes (j = 3/2): the same-mode blocks of G matter
CUMULANT = """solver = "cumulant"
[model]
theta = 0.161
mu = 4.0
[model.generator]
kind = "single_angle"
n_modes = 4
n_per_mode = 3
omega0 = 1.0
states = "split"
[output]
t_final = {t_final}
n_out = {n_out}
pair_correlations = true
"""

# 37 samples: blocks of 19/18 on 2 ranks, 13/12/12 on 3 (uneven, and not the same blocks)
TWA = """solver = "twa"
[model]
theta = 0.161
[model.generator]
kind = "multi_angle"
n_modes = 5
n_per_mode = 4
[model.schedule]
kind = "table"
times = [0.0, 1.0, 3.0]
values = [5.0, 2.0, 4.0]
[meanfield]
twa_samples = 37
seed = 11
[output]
t_final = {t_final}
n_out = {n_out}
pair_correlations = true
"""

TEXTS = {"manybody": MANYBODY, "meanfield": MEANFIELD, "cumulant": CUMULANT, "twa": TWA}

#: the series a resumed run must reproduce
SERIES = ("time", "mu", "polarization", "nue_fraction", "rho1", "entropy", "norm", "energy",
          "b_dot_j")


def write_config(directory, solver: str, comm=None, t_final: float = 2.0, n_out: int = 11) -> str:
    """Write the ``solver`` test config into ``directory`` (rank 0) and return its path."""
    path = os.path.join(str(directory), f"{solver}.toml")
    if comm is None or comm.Get_rank() == 0:
        Path(path).write_text(TEXTS[solver].format(t_final=t_final, n_out=n_out))
    if comm is not None:
        comm.Barrier()
    return path


def max_difference(a, b) -> float:
    """Largest absolute difference over every series of two RunData (inf if lengths differ)."""
    if a.n_records != b.n_records:
        return float("inf")
    diffs = [float(np.max(np.abs(getattr(a, k) - getattr(b, k)))) for k in SERIES]
    if a.pair is not None or b.pair is not None:
        diffs.append(float(np.max(np.abs(a.pair - b.pair))) if a.pair is not None and
                     b.pair is not None else float("inf"))
    return max(diffs)


#: environment of the MPI job (and pytest-xdist worker) running the tests, which a child
#: process started by a test must not inherit: it would think it is one of their ranks
JOB_ENV_PREFIXES = ("OMPI_", "PMIX_", "PMI_", "PYTEST_XDIST_")


def without_job_env(env) -> dict:
    """A copy of ``env`` without the variables of :data:`JOB_ENV_PREFIXES`."""
    return {k: v for k, v in env.items() if not k.startswith(JOB_ENV_PREFIXES)}


def python_env() -> dict:
    """Environment for a child ``python -m nmbhpc`` that imports this checkout."""
    env = without_job_env(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + [p for p in
                                                      env.get("PYTHONPATH", "").split(os.pathsep) if p])
    # ranks waiting in a collective yield the core instead of spinning: on a shared
    # (oversubscribed) machine a 2-rank child runs ~2.5x faster, results are the same
    env["OMPI_MCA_mpi_yield_when_idle"] = "1"
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def nmbhpc_cmd(*args, ranks: int = 0) -> list[str]:
    """argv of ``nmbhpc ARGS`` for a subprocess, under ``mpirun -n ranks`` if ranks > 0."""
    cmd = [sys.executable, "-m", "nmbhpc", *args]
    if ranks:
        cmd = ["mpirun", "--allow-run-as-root", "--oversubscribe", "-n", str(ranks)] + cmd
    return cmd
