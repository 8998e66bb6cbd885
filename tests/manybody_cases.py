"""Config builders and MPI-safe assertions shared by the tests/test_manybody_*.py files.

Every comparison reduces its verdict over the communicator before asserting,
so all ranks pass or fail together (a rank failing alone would leave the others
blocked in the next collective call).

Tolerances: the engine runs with ``mfn_tol = 1e-12`` (relative error of each
``exp(-i H dt) psi``); over the few tens of steps of these tests the state
error stays far below 1e-9, and observables are quadratic in psi with O(j^2)
operator norms, so ``ATOL = 1e-8`` leaves two orders of margin and still
catches any real physics error (those are O(1e-3) or larger here).
"""
from __future__ import annotations

import numpy as np
from mpi4py import MPI

from nmbhpc.physics.model import Mode, Model
from nmbhpc.physics.schedule import MuSchedule
from nmbhpc.settings import ManyBodySettings, OutputSettings, RunConfig

MFN_TOL = 1e-12
ATOL = 1e-8


def make_config(modes, times, *, theta=0.0, mu=0.0, single_angle=False, schedule=None,
                pairs=True, max_step=1.0, single_angle_factor=1.0) -> RunConfig:
    """A RunConfig for ``modes`` (tuple of Mode) with constant mu unless ``schedule`` is given."""
    model = Model(modes=tuple(modes), theta=theta,
                  mu=schedule if schedule is not None else MuSchedule(kind="constant", mu0=mu),
                  single_angle=single_angle, single_angle_factor=single_angle_factor)
    return RunConfig(model=model,
                     output=OutputSettings(times=np.asarray(times, dtype=float), pair_correlations=pairs),
                     manybody=ManyBodySettings(mfn_tol=MFN_TOL, max_step=max_step))


def unit(v):
    v = np.asarray(v, dtype=float)
    return tuple(v / np.linalg.norm(v))


def run_engine(config, comm, want_state=False):
    """Run the exact engine on ``comm``: (records, final state or None, cfg or None). Collective."""
    from nmbhpc.manybody.solver import ManyBodySolver

    solver = ManyBodySolver(config, comm)
    try:
        records = list(solver.records())
        psi = solver.state_global() if want_state else None
        cfg = solver.basis.all_configs() if want_state else None
    finally:
        solver.destroy()
    return records, psi, cfg


def agree(comm, ok: bool) -> bool:
    """True iff ``ok`` holds on every rank of ``comm``. Collective."""
    return bool(comm.allreduce(bool(ok), op=MPI.LAND))


def assert_close(comm, actual, expected, atol=ATOL, what=""):
    """Assert max |actual - expected| <= atol on every rank (verdict reduced). Collective."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    err = float(np.max(np.abs(actual - expected))) if actual.size else 0.0
    if actual.shape != expected.shape or not np.isfinite(err):
        err = np.inf
    worst = comm.allreduce(err, op=MPI.MAX)
    assert worst <= atol, f"{what}: max deviation {worst:.3e} > {atol:.1e}"


def series(records, name):
    """Stack one field of the records over time: array[T, ...]."""
    return np.array([getattr(r, name) for r in records])


def dense_series(obs, name):
    return np.array([o[name] for o in obs])


# --- operators on the engine's own basis (computational frame, z = -B) ------------------
class SectorOperators:
    """Dense J-operators on the basis listed by ``cfg`` (int64[dim, M], k_p = j_p - m_p).

    Built from the basis definition only (|j_p, m_p> with Condon-Shortley phases,
    computational frame z = -B), so that quantities of the engine's state can be
    evaluated independently of the engine's own observable code. Operators that
    change total K (single J^+-/J^x/J^y) are not needed and not provided; the
    K-conserving ``J_p.J_q`` is built directly, never as a product of truncated
    ladder matrices.
    """

    def __init__(self, cfg, counts):
        self.cfg = np.asarray(cfg, dtype=np.int64)
        self.counts = np.asarray(counts, dtype=np.int64)
        self.j = 0.5 * self.counts
        self.dim, self.m = self.cfg.shape
        self.index = {tuple(c): i for i, c in enumerate(self.cfg)}
        self.mz = self.j[None, :] - self.cfg  # m_p of each basis state

    def jz(self, p):
        return np.diag(self.mz[:, p]).astype(complex)

    def _raise_lower(self, p, q):
        """Matrix of J^+_p J^-_q (p != q) restricted to the basis (K-conserving)."""
        out = np.zeros((self.dim, self.dim), dtype=complex)
        jp, jq = self.j[p], self.j[q]
        for i, c in enumerate(self.cfg):
            mp, mq = jp - c[p], jq - c[q]
            if mq <= -jq or mp >= jp:
                continue
            amp = np.sqrt(jq * (jq + 1) - mq * (mq - 1)) * np.sqrt(jp * (jp + 1) - mp * (mp + 1))
            target = c.copy()
            target[q] += 1
            target[p] -= 1
            out[self.index[tuple(target)], i] += amp
        return out

    def jdotj(self, p, q):
        """J_p.J_q = Jz_p Jz_q + (J+_p J-_q + J-_p J+_q)/2 (p != q)."""
        return self.jz(p) @ self.jz(q) + 0.5 * (self._raise_lower(p, q) + self._raise_lower(q, p))

    def b_dot_j(self, p):
        """B.J_p = -J^z_p in the computational frame."""
        return -self.jz(p)


def random_global_vector(dim: int, seed: int = 3) -> np.ndarray:
    """The same complex normal vector of length ``dim`` on every rank."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=dim) + 1j * rng.normal(size=dim)


def apply_hamiltonian(solver, x_global: np.ndarray, mu: float) -> np.ndarray:
    """(H(mu) x) on the solver's local rows. Collective."""
    solver.propagator.set_mu(mu)
    x = solver.psi.duplicate()
    x.setArray(x_global[solver.lo:solver.hi])
    y = x.duplicate()
    solver.propagator.H.mult(x, y)
    out = y.getArray(readonly=True).copy()
    x.destroy()
    y.destroy()
    return out


def product_on_other_partition(comm, config, operator: str, mu: float = 3.0):
    """``(H x on this rank's rows, H x of the stored AIJ on comm)`` for one random x, with
    ``operator`` built on a sub-communicator (rank 0 alone, the others together): a
    different row split than the reference's. Collective on ``comm``."""
    from dataclasses import replace

    from nmbhpc.manybody.solver import ManyBodySolver
    from nmbhpc.runtime.stack import petsc_comm_scope

    solver = ManyBodySolver(config, comm)
    try:
        ref = np.concatenate(comm.allgather(
            apply_hamiltonian(solver, random_global_vector(solver.basis.dim), mu)))
    finally:
        solver.destroy()
    sub = comm.Split(0 if comm.Get_rank() == 0 else 1, comm.Get_rank())
    try:
        with petsc_comm_scope(sub):
            other = ManyBodySolver(replace(config, manybody=replace(config.manybody,
                                                                    operator=operator)), sub)
            try:
                part = apply_hamiltonian(other, random_global_vector(other.basis.dim), mu)
                lo, hi = other.lo, other.hi
            finally:
                other.destroy()
    finally:
        sub.Free()
    return part, ref[lo:hi]


def on_sub_communicator(comm, run):
    """``(run(sub), size of sub)`` with ``comm`` split into rank 0 alone and the others
    together (size 3 -> {0} and {1, 2}): a different row partition than ``comm``'s.
    Collective on ``comm``."""
    from nmbhpc.runtime.stack import petsc_comm_scope

    sub = comm.Split(0 if comm.Get_rank() == 0 else 1, comm.Get_rank())
    try:
        with petsc_comm_scope(sub):
            return run(sub), sub.Get_size()
    finally:
        sub.Free()
