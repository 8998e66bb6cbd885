"""Second-order cumulant (BBGKY-2, Gaussian closure) solver.

Variables: the means ``m_p^a = <J_p^a>`` and the connected, symmetrically
ordered second moments

    G_pq^ab = <J_p^a J_q^b> - m_p^a m_q^b                   (p != q),
    G_pp^ab = <{J_p^a, J_p^b}>/2 - m_p^a m_p^b              (same mode),

i.e. a symmetric 3M x 3M matrix G (index 3p + a); the same-mode blocks are
what makes collective (j > 1/2) modes work. Third cumulants are set to zero.

Derivation. Heisenberg: ``dJ_p^a/dt = eps_abc h_p^b J_p^c`` with
``h_p = omega_p B + kappa sum_{q!=p} c_pq J_q``, ``kappa = mu/N``; the
operators in each product belong to different modes and commute.
(i) Means: ``d m_p^a/dt = eps_abc (omega_p B^b m_p^c + kappa sum_q c_pq <J_q^b J_p^c>)``
exactly, so

    dm_p/dt = h̄_p x m_p + kappa sum_q c_pq eps_abc G_qp^bc ,   h̄_p = omega_p B + kappa sum_q c_pq m_q .

(ii) Same-mode pairs: with ``S^ab = {J^a, J^b}/2``, the exact operator identity
``dS_p^ab/dt = eps_acd h_p^c S_p^db + eps_bcd h_p^c S_p^ad`` holds (h_p
commutes with J_p). (iii) Different modes p != q: ``d(J_p^a J_q^b)/dt``
contains ``J_p^d J_q^c J_q^b``; writing ``J_q^c J_q^b = S_q^cb + (i/2) eps_cbe J_q^e``,
the second part has a purely imaginary expectation, and since
``J_p^a J_q^b`` is Hermitian these parts cancel in the total; only the
symmetrically ordered products remain. Hence the exact second-moment equations
are those of the classical flow ``dx_p/dt = F_p(x) = h_p(x) x x_p`` (the
mean-field equations), with Weyl-ordered moments in place of classical ones.
F is quadratic, ``F(m + d) = F(m) + A(m) d + Q(d, d)/2``, and closing with
zero third cumulants (a Gaussian in x) gives

    dm/dt = F(m) + (1/2) Q : G          (the same as (i)),
    dG/dt = A(m) G + G A(m)^T ,

with A the mean-field Jacobian (:func:`.equations.jacobian`, the stability
matrix). Conserved exactly by the closed equations (each is the Gaussian
expectation of a quadratic invariant of the classical flow): the energy
``<H> = sum_p omega_p B.m_p + kappa sum_{p<q} c_pq (m_p.m_q + tr G_pq)``,
total ``B.J``, and each Casimir ``|m_p|^2 + tr G_pp = j_p (j_p + 1)``.

Exactness check (tests): for a product of coherent states every third
cumulant that enters (those with at least two different modes) vanishes at
t = 0, so ``dG/dt(0)`` and therefore ``d^2 m/dt^2 (0) = -<[H, [H, J]]>`` are
exact; mean field misses the ``Q : dG/dt`` part (an O(1/N) error).

Initial state: ``m_p = j_p n_p``, ``G_pp = (j_p / 2)(1 - n_p n_p^T)``, ``G_pq = 0``.

Implementation: the state (3M + 9M^2 reals) is integrated with PETSc TS
(options prefix ``cum_``) on PETSC_COMM_SELF, replicated on every rank (the
dense A G product costs O(M^3); the method is meant for few-mode collective
models, where it reaches any N at the same cost). Results are therefore
bitwise independent of the rank count, and so is a restart: the checkpoint
(``nmbhpc run --resume``) holds the state, the TS step size and counters;
rank 0 stores and reads it, and broadcasts it on restore.
"""
from __future__ import annotations

import logging

import numpy as np

from ..runtime.stack import init_petsc
from .equations import LEVI_CIVITA, SpinEquations, cross_matrix
from .records import make_record
from .timestepping import TSSolverState, advance_to, describe_ts, make_ts

log = logging.getLogger("nmbhpc.meanfield.cumulant")


class CumulantEquations:
    """Right-hand side of the Gaussian-closure equations (module docstring)."""

    def __init__(self, model):
        self.model = model
        self.eq = SpinEquations(model)
        self.c = model.couplings()
        self.m = model.n_modes

    def initial(self) -> tuple[np.ndarray, np.ndarray]:
        """``(m[M, 3], G[M, 3, M, 3])`` of the product of spin-coherent states."""
        pol = self.model.initial_polarizations
        n = pol / np.linalg.norm(pol, axis=1)[:, None]
        j = self.eq.spin
        g = np.zeros((self.m, 3, self.m, 3))
        idx = np.arange(self.m)
        g[idx, :, idx, :] = 0.5 * j[:, None, None] * (np.eye(3) - np.einsum("pa,pb->pab", n, n))
        return j[:, None] * n, g

    def rhs(self, t: float, m: np.ndarray, g: np.ndarray):
        """``(dm/dt [M, 3], dG/dt [M, 3, M, 3])``."""
        kappa = self.eq.kappa(t)
        h = self.eq.fields(t, m, self.eq.coupling.local_moments(m))
        dm = np.cross(h, m) + kappa * np.einsum("abc,pq,qbpc->pa", LEVI_CIVITA, self.c, g)
        # A G with A_pq = delta_pq [h_p]_x - kappa c_pq [m_p]_x
        ag = np.einsum("pab,pbsc->pasc", cross_matrix(h), g) \
            - kappa * np.einsum("pab,pq,qbsc->pasc", cross_matrix(m), self.c, g)
        return dm, ag + ag.transpose(2, 3, 0, 1)

    def energy(self, t: float, m: np.ndarray, g: np.ndarray) -> float:
        """``<H>`` from means and connected correlations (units of omega0)."""
        corr = np.einsum("paqa->pq", g)
        vac = float(np.einsum("p,pa,a->", self.eq.omega, m, self.eq.b))
        pair = 0.5 * self.eq.kappa(t) * float(np.sum(self.c * (m @ m.T + corr)))
        return vac + pair


class CumulantSolver(TSSolverState):
    """Second-order cumulant solver; protocol of :mod:`nmbhpc.solvers`. Collective on ``comm``."""

    options_prefix = "cum_"

    def __init__(self, config, comm):
        self.PETSc, _ = init_petsc([])
        PETSc = self.PETSc
        self.config = config
        self.model = config.model
        self.comm = comm
        self.times = np.asarray(config.output.times, dtype=np.float64)
        self.ceq = CumulantEquations(self.model)
        m, g = self.ceq.initial()
        self.M = self.model.n_modes
        self.x = PETSc.Vec().createSeq(3 * self.M + 9 * self.M ** 2, comm=PETSc.COMM_SELF)
        self.x.getArray()[:] = self._pack(m, g)
        rate = float(np.max(np.abs(self.model.omegas), initial=0.0)) + \
            float(np.max(np.abs(self.model.mu(self.times)))) * 2.0
        dt0 = min(0.01 / max(rate, 1e-300), max(np.diff(self.times), default=1.0))
        self.ts = make_ts(PETSc, PETSc.COMM_SELF, self._rhs, self.x, config.meanfield,
                          self.options_prefix, float(self.times[0]), float(dt0))
        self.n_rhs = 0

    def _pack(self, m, g):
        return np.concatenate([m.ravel(), g.ravel()])

    def _unpack(self, arr):
        n = 3 * self.M
        return arr[:n].reshape(self.M, 3), arr[n:].reshape(self.M, 3, self.M, 3)

    def _rhs(self, ts, t, x, f) -> None:
        m, g = self._unpack(x.getArray(readonly=True).real)
        dm, dg = self.ceq.rhs(float(np.real(t)), m, g)
        f.getArray()[:] = self._pack(dm, dg)
        self.n_rhs += 1

    def state(self):
        """Current ``(m[M, 3], G[M, 3, M, 3])`` (copies, flavor frame)."""
        m, g = self._unpack(self.x.getArray(readonly=True).real)
        return m.copy(), g.copy()

    def describe(self) -> dict:
        info = {"solver": "cumulant", "n_modes": self.M, "n_total": self.model.n_total,
                "state_size": 3 * self.M + 9 * self.M ** 2, "closure": "gaussian (third cumulants = 0)",
                "mpi_size": self.comm.Get_size(), "replicated": True,
                "options_prefix": self.options_prefix}
        info.update(describe_ts(self.ts))
        return info

    def records(self):
        """Yield one ObservableRecord per output time. Collective (replicated work)."""
        j = self.ceq.eq.spin
        for t in self.times:
            advance_to(self.PETSc, self.ts, self.x, float(t))
            m, g = self.state()
            pair = np.einsum("paqa->pq", g) if self.config.output.pair_correlations else None
            yield make_record(t, m / j[:, None], self.ceq.energy(float(t), m, g),
                              float(m.sum(axis=0) @ self.ceq.eq.b), self.model.mu(float(t)), pair)

    def final_state(self):
        """``(state, 0, (3M + 9M^2,))`` on rank 0's block: m then G, row-major."""
        arr = self.x.getArray(readonly=True).real.copy()
        if self.comm.Get_rank() == 0:
            return arr, 0, arr.shape
        return arr[:0], arr.size, arr.shape

    # --- restart (``nmbhpc run --resume``) ------------------------------------
    def restore(self, local_state, time: float, extras: dict | None = None) -> None:
        """Collective. Continue from a checkpoint: ``local_state`` is this rank's
        block of :meth:`final_state` (the whole state on rank 0, empty elsewhere)
        at ``time``; build the solver with output times starting at ``time``."""
        n = self.x.getSize()
        root = self.comm.Get_rank() == 0
        state = np.asarray(local_state, dtype=np.float64).ravel() if root else np.empty(n)
        size = self.comm.bcast(state.size if root else None, root=0)
        if size != n:  # raised on every rank: nobody is left waiting in the Bcast
            raise ValueError(f"checkpoint state has {size} values, the cumulant state {n}")
        self.comm.Bcast(state, root=0)
        self.x.getArray()[:] = state
        self._restore_ts(time, extras)
