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

TEXTS = {"manybody": MANYBODY, "meanfield": MEANFIELD}

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
    return max(float(np.max(np.abs(getattr(a, k) - getattr(b, k)))) for k in SERIES)


def python_env() -> dict:
    """Environment for a child ``python -m nmbhpc`` that imports this checkout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + [p for p in
                                                      env.get("PYTHONPATH", "").split(os.pathsep) if p])
    for k in [k for k in env if k.startswith(("OMPI_", "PMIX_", "PMI_"))]:
        del env[k]  # a child must not think it is a rank of the pytest job
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def nmbhpc_cmd(*args, ranks: int = 0) -> list[str]:
    """argv of ``nmbhpc ARGS`` for a subprocess, under ``mpirun -n ranks`` if ranks > 0."""
    cmd = [sys.executable, "-m", "nmbhpc", *args]
    if ranks:
        cmd = ["mpirun", "--allow-run-as-root", "--oversubscribe", "-n", str(ranks)] + cmd
    return cmd
