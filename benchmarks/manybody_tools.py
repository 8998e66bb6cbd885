"""Shared pieces of the many-body benchmarks (benchmarks/manybody_*.py).

Not a benchmark itself. Everything here that takes ``comm`` is collective.
Wall times are ``time.perf_counter`` seconds, memory is bytes.
"""
from __future__ import annotations

import os
import resource
import sys
import time

import numpy as np

# appended, not prepended: a tree named on PYTHONPATH (manybody_ab.py, manybody_kernel_code.py
# against another checkout) must win over the tree holding these scripts
sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from nmbhpc.runtime.stack import init_petsc  # noqa: E402  (before mpi4py/petsc4py load)

MODEL_TOML = """
solver = "manybody"
[model]
theta = 0.0
mu = 1.0
[model.generator]
kind = "multi_angle"
n_modes = {n}
n_per_mode = 1
omega = 1.0
directions = "random"
seed = {seed}
states = "split"
[output]
t_final = {t_final}
n_out = 2
[manybody]
operator = "{operator}"
mfn_tol = {tol}
mfn_ncv = {ncv}
max_step = {max_step}
propagator = "{propagator}"
"""


def model_config(n: int, *, t_final: float = 1.0, tol: float = 1e-10, operator: str = "matrix",
                 ncv: int = 0, seed: int = 1, max_step: float | None = None,
                 propagator: str = "mfn"):
    """RunConfig of the benchmark model: N one-neutrino modes in random (seeded)
    directions, c_pq = 1 - p.q, mu = 1, omega = 1, modes 0..N/2-1 nu_e and the
    rest nu_x (theta = 0: the half-filled sector, C(N, N/2) states)."""
    from nmbhpc.config import load_config_text

    text = MODEL_TOML.format(n=n, seed=seed, t_final=t_final, tol=tol, operator=operator,
                             ncv=ncv, max_step=t_final if max_step is None else max_step,
                             propagator=propagator)
    return load_config_text(text, source_path="<benchmark>")


def peak_rss() -> int:
    """Peak resident set size of this process so far (bytes; ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def current_rss() -> int:
    """Current resident set size (bytes), from /proc/self/statm."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class MatMultCounter:
    """Counts PETSc MatMult calls between ``start()`` and ``stop()`` (all Mat types,
    MATSHELL included). Needs ``PETSc.Log.begin()`` before the first MatMult."""

    def __init__(self):
        PETSc, _ = init_petsc()
        self._event = PETSc.Log.Event("MatMult")
        self._start = 0

    def _count(self) -> int:
        return int(self._event.getPerfInfo()["count"])

    def start(self):
        self._start = self._count()

    def stop(self) -> int:
        return self._count() - self._start


def build_timed(config, comm):
    """Build the engine for ``config``; return (solver, seconds on the slowest rank). Collective.

    Every operator module is imported before the clock starts (the registry imports
    them on first use), so the seconds hold the build, not the import."""
    from mpi4py import MPI

    from nmbhpc.manybody import operators
    from nmbhpc.manybody.solver import ManyBodySolver

    for kind in operators.KINDS.values():
        kind.load()
    comm.Barrier()
    t0 = time.perf_counter()
    solver = ManyBodySolver(config, comm)
    return solver, comm.allreduce(time.perf_counter() - t0, op=MPI.MAX)


def evolve_timed(solver, comm):
    """Step ``solver`` over its one output interval; return (seconds, matvecs). Collective.

    The matvec count excludes the one product the record at the end makes
    (its energy <H>).
    """
    from mpi4py import MPI

    records = solver.records()
    next(records)  # initial record
    counter = MatMultCounter()
    counter.start()
    before = solver.propagator.matvecs
    comm.Barrier()
    t0 = time.perf_counter()
    next(records)
    seconds = comm.allreduce(time.perf_counter() - t0, op=MPI.MAX)
    if getattr(solver.propagator, "summary", {}).get("propagator") == "chebyshev":
        # its products go through the operator's mult_add, not MatMult
        return seconds, solver.propagator.matvecs - before
    return seconds, counter.stop() - 1


def idle_wait(comm, poll: float = 0.05) -> None:
    """Barrier that sleeps instead of spinning. Collective.

    Ranks waiting for rank 0's serial reference run would otherwise busy-poll
    in MPI and steal a core from it on a 2-core machine.
    """
    req = comm.Ibarrier()
    while not req.Test():
        time.sleep(poll)


def parse_trees(ap, specs: list, needs: str | None = None) -> list:
    """``--trees NAME=PATH ...`` as ``[(name, path)]``; ``[(None, None)]`` (this tree) when
    ``specs`` is empty. ``needs``: a file (relative to a tree) every tree must hold.
    Errors go through ``ap.error`` and name the offending value."""
    if not specs:
        return [(None, None)]
    trees = []
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            ap.error(f"--trees {spec}: expected NAME=PATH")
        if needs is not None and not os.path.isfile(os.path.join(path, needs)):
            ap.error(f"--trees {spec}: no {needs} there")
        trees.append((name, path))
    return trees


def tree_env(path: str | None) -> dict:
    """The environment of a benchmark subprocess: one OpenMP thread, and the source tree
    ``path`` (None: as inherited) first on PYTHONPATH."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if path is not None:
        env["PYTHONPATH"] = os.pathsep.join([os.path.abspath(path), env.get("PYTHONPATH", "")])
    return env


def gather_csr(mat, comm):
    """The rows of a MATMPIAIJ gathered on rank 0 as scipy CSR (None elsewhere). Collective."""
    import scipy.sparse as sp

    indptr, cols, vals = mat.getValuesCSR()
    lo, hi = mat.getOwnershipRange()
    n = mat.getSize()[0]
    parts = comm.gather((np.asarray(indptr, dtype=np.int64), np.asarray(cols), np.asarray(vals)),
                        root=0)
    if comm.Get_rank() != 0:
        return None
    ptr = [parts[0][0]]
    off = parts[0][0][-1]
    for p in parts[1:]:
        ptr.append(p[0][1:] + off)
        off += p[0][-1]
    indptr = np.concatenate(ptr)
    cols = np.concatenate([p[1] for p in parts]).astype(np.int32)
    vals = np.concatenate([p[2] for p in parts])
    del parts
    return sp.csr_matrix((vals, cols, indptr), shape=(n, n))


def stream_triad_bandwidth(comm, mib: int = 256, repeats: int = 5) -> float:
    """STREAM-like triad ``a = b + s c`` with numpy on every rank at once:
    aggregate bytes moved per second over all ranks (best of ``repeats``,
    counting 3 arrays x 8 bytes per element, no write-allocate). Collective."""
    n = mib * 2**20 // 8
    b = np.random.default_rng(0).random(n)
    c = np.random.default_rng(1).random(n)
    a = np.empty_like(b)
    best = np.inf
    for _ in range(repeats):
        comm.Barrier()
        t0 = time.perf_counter()
        np.multiply(c, 3.0, out=a)
        np.add(a, b, out=a)
        dt = comm.allreduce(time.perf_counter() - t0, op=_max())
        best = min(best, dt)
    # numpy's two-pass triad moves 5 arrays (read c, write a, read a, read b, write a)
    moved = 5 * 8 * n * comm.Get_size()
    return moved / best


def _max():
    from mpi4py import MPI

    return MPI.MAX


def fmt_bytes(b: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(b) < 1024 or unit == "TiB":
            return f"{b:.1f} {unit}" if unit != "B" else f"{int(b)} B"
        b /= 1024.0


def ratio(a: float, b: float) -> str:
    return f"{a / b:.3g}" if b else "n/a"
