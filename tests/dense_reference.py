"""Independent dense reference solver for H_MB (the test oracle).

Written from Eq. (1) of the paper (Johns, arXiv:2305.04916), not from
``nmbhpc.manybody``: the full tensor product of spin-``j_p`` spaces (no sector restriction), in the FLAVOR
frame (``J^z = +1/2`` is nu_e), with

    H(mu) = sum_p omega_p B.J_p + (mu/N) sum_{p<q} c_pq J_p.J_q,
    B = (sin 2theta, 0, -cos 2theta),  N = sum_p n_p,

the initial state a product of spin-coherent states along each mode's flavor
polarisation, and evolution by exact eigendecomposition. A time-dependent mu is
held piecewise constant at the midpoint of equal sub-steps no longer than
``schedule.max_step`` (the rule the exact engine documents). Everything is a
plain dense numpy array: keep the system small (dim <= ~1000).

Units: hbar = c = 1, frequencies in omega0, times in 1/omega0.
Only ``Model``/``MuSchedule`` attributes are used (plain data), so nothing
here depends on the code under test.
"""
from __future__ import annotations

from math import comb

import numpy as np


# --- single-spin building blocks --------------------------------------------
def spin_matrices(j: float):
    """(Jx, Jy, Jz) for spin j in the basis m = j, j-1, ..., -j (Condon-Shortley).

    ``J+ |j,m> = sqrt(j(j+1) - m(m+1)) |j,m+1>`` with a real non-negative coefficient.
    """
    d = int(round(2 * j)) + 1
    m = j - np.arange(d)
    jp = np.zeros((d, d))
    for k in range(1, d):  # |m_k> -> |m_{k-1}> = |m_k + 1>
        jp[k - 1, k] = np.sqrt(j * (j + 1) - m[k] * (m[k] + 1))
    jm = jp.T
    jx = 0.5 * (jp + jm)
    jy = -0.5j * (jp - jm)
    jz = np.diag(m)
    return jx.astype(complex), jy, jz.astype(complex)


def coherent_state(j: float, direction) -> np.ndarray:
    """Spin-coherent state |j, n> with <J> = j n (basis m = j..-j).

    ``|n> = exp(-i phi Jz) exp(-i beta Jy) |j, j>``:
    amplitude of |j,m> is sqrt(C(2j, j-m)) cos(beta/2)^(j+m) sin(beta/2)^(j-m) e^{-i m phi}.
    """
    n = np.asarray(direction, dtype=float)
    n = n / np.linalg.norm(n)
    beta = np.arccos(np.clip(n[2], -1.0, 1.0))
    phi = np.arctan2(n[1], n[0])
    two_j = int(round(2 * j))
    c, s = np.cos(beta / 2), np.sin(beta / 2)
    amp = np.empty(two_j + 1, dtype=complex)
    for k in range(two_j + 1):  # k = j - m
        m = j - k
        amp[k] = np.sqrt(comb(two_j, k)) * c ** (two_j - k) * s ** k * np.exp(-1j * m * phi)
    return amp


def mode_operators(spins):
    """Per-mode (Jx, Jy, Jz) embedded in the full product space: list of 3-tuples."""
    dims = [int(round(2 * j)) + 1 for j in spins]
    ops = []
    for p, j in enumerate(spins):
        left = int(np.prod(dims[:p]))
        right = int(np.prod(dims[p + 1:]))
        ops.append(tuple(np.kron(np.kron(np.eye(left), a), np.eye(right)) for a in spin_matrices(j)))
    return ops


def dot(a, b):
    """Operator dot product a.b of two operator 3-tuples (or operator . c-vector)."""
    return sum(x @ y if isinstance(y, np.ndarray) and y.ndim == 2 else x * y for x, y in zip(a, b))


def expect(op, psi):
    return np.vdot(psi, op @ psi)


# --- the model --------------------------------------------------------------
class DenseReference:
    """H_MB of a ``nmbhpc.physics.model.Model`` on the full dense product space (flavor frame)."""

    def __init__(self, model):
        self.model = model
        self.spins = [0.5 * m.n for m in model.modes]
        self.omegas = np.array([m.omega for m in model.modes], dtype=float)
        self.n_total = sum(m.n for m in model.modes)
        self.b = np.array([np.sin(2 * model.theta), 0.0, -np.cos(2 * model.theta)])
        self.J = mode_operators(self.spins)
        self.dim = self.J[0][0].shape[0]
        self.c = self._angular_factors()
        self._vacuum = sum(w * dot(self.J[p], self.b) for p, w in enumerate(self.omegas))
        m = len(self.spins)
        self._pairs = sum((self.c[p, q] * dot(self.J[p], self.J[q])
                           for p in range(m) for q in range(p + 1, m)), np.zeros((self.dim, self.dim)))

    def _angular_factors(self):
        m = len(self.spins)
        c = np.zeros((m, m))
        for p in range(m):
            for q in range(m):
                if p == q:
                    continue
                if self.model.single_angle:
                    c[p, q] = self.model.single_angle_factor
                else:
                    c[p, q] = 1.0 - np.dot(self.model.modes[p].direction, self.model.modes[q].direction)
        return c

    def hamiltonian(self, mu: float) -> np.ndarray:
        return self._vacuum + (mu / self.n_total) * self._pairs

    def b_dot_j(self) -> np.ndarray:
        return sum(dot(Jp, self.b) for Jp in self.J)

    def initial_state(self) -> np.ndarray:
        psi = np.ones(1, dtype=complex)
        for j, mode in zip(self.spins, self.model.modes):
            psi = np.kron(psi, coherent_state(j, mode.polarization))
        return psi

    def gaudin_invariants(self, mu: float):
        """Pehlivan/Gaudin h_p = B.J_p + (mu c/N) sum_{q!=p} J_p.J_q/(omega_p - omega_q).

        Single-angle (uniform c) with distinct omegas only.
        """
        m = len(self.spins)
        g = mu * self.model.single_angle_factor / self.n_total
        return [dot(self.J[p], self.b)
                + g * sum(dot(self.J[p], self.J[q]) / (self.omegas[p] - self.omegas[q])
                          for q in range(m) if q != p)
                for p in range(m)]

    # --- evolution ------------------------------------------------------------
    def _propagate(self, psi, dt, mu):
        w, v = np.linalg.eigh(self.hamiltonian(mu))
        return v @ (np.exp(-1j * w * dt) * (v.conj().T @ psi))

    def substeps(self, t0, t1):
        """(dt, mu) pieces over [t0, t1]: constant mu in one piece, otherwise equal
        pieces no longer than max_step with mu at each piece's midpoint."""
        sched = self.model.mu
        if sched.kind == "constant":
            return [(t1 - t0, float(sched.mu0))]
        n = max(1, int(np.ceil((t1 - t0) / sched.max_step - 1e-12)))
        h = (t1 - t0) / n
        return [(h, float(sched(t0 + (k + 0.5) * h))) for k in range(n)]

    def states(self, times, psi0=None):
        """State vectors at ``times`` (times[0] is the initial time), list of arrays."""
        psi = self.initial_state() if psi0 is None else psi0
        out = [psi.copy()]
        for t0, t1 in zip(times[:-1], times[1:]):
            for dt, mu in self.substeps(t0, t1):
                psi = self._propagate(psi, dt, mu)
            out.append(psi.copy())
        return out

    # --- observables ------------------------------------------------------------
    def observables(self, psi, mu: float) -> dict:
        """Flavor-frame observables of state ``psi`` (H evaluated at ``mu``).

        Returns a dict with polarization[M,3] (= <J_p>/j_p), nue_fraction[M],
        pair_correlation[M,M] (connected <J_p.J_q> - <J_p>.<J_q>), energy,
        b_dot_j, norm, and for spin-1/2 modes the partial-trace rho1 and entropy
        (NaN for larger spins).
        """
        m = len(self.spins)
        mean = np.array([[expect(a, psi).real for a in Jp] for Jp in self.J])
        pol = mean / np.array(self.spins)[:, None]
        corr = np.empty((m, m))
        for p in range(m):
            for q in range(m):
                corr[p, q] = expect(dot(self.J[p], self.J[q]), psi).real - mean[p] @ mean[q]
        rho1 = np.full((m, 2, 2), np.nan, dtype=complex)
        ent = np.full(m, np.nan)
        for p, j in enumerate(self.spins):
            if j == 0.5:
                rho1[p] = self.reduced_density_matrix(psi, p)
                lam = np.clip(np.linalg.eigvalsh(rho1[p]), 1e-300, None)
                ent[p] = -np.sum(lam * np.log(lam))
        return dict(
            polarization=pol,
            nue_fraction=0.5 * (1 + pol[:, 2]),
            pair_correlation=corr,
            energy=expect(self.hamiltonian(mu), psi).real,
            b_dot_j=expect(self.b_dot_j(), psi).real,
            norm=np.linalg.norm(psi),
            rho1=rho1,
            entropy=ent,
        )

    def reduced_density_matrix(self, psi, p):
        """Partial trace onto mode p (basis m = j..-j, i.e. row 0 = nu_e)."""
        dims = [int(round(2 * j)) + 1 for j in self.spins]
        t = np.moveaxis(psi.reshape(dims), p, 0).reshape(dims[p], -1)
        return t @ t.conj().T

    def run(self, times):
        """Observables at each of ``times`` (mu for the energy: mu(t) at that time)."""
        times = np.asarray(times, dtype=float)
        return [self.observables(psi, float(self.model.mu(t)))
                for t, psi in zip(times, self.states(times))]
