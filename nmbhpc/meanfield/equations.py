"""Mean-field equations: Eq. (5) of Johns, arXiv:2305.04916 applied to H_MB of Eq. (1).

This module is where the mean-field approximation of the paper is implemented;
the mean-field (PETSc TS), truncated-Wigner and cumulant solvers and the linear
stability analysis all call it.

Conventions (docs/conventions.md): flavor frame, hbar = c = 1, frequencies in omega0,
times in 1/omega0, ``B = (sin 2theta, 0, -cos 2theta)``,

    H = sum_p omega_p B.J_p + (mu/N) sum_{p<q} c_pq J_p.J_q       (Eq. (1)).

Heisenberg's ``dJ/dt = i[H, J]`` with ``[J^a, J^b] = i eps_abc J^c`` gives
``dJ_p/dt = h_p x J_p`` with the operator field
``h_p = omega_p B + (mu/N) sum_{q != p} c_pq J_q`` (J_q commutes with J_p, so
the order does not matter). The mean-field replacement of Eq. (5),
``J_p.J_q -> J_p.<J_q> + <J_p>.J_q - <J_p>.<J_q>``, turns this into the
mean-field equations for ``S_p = <J_p>`` (length ``j_p = n_p/2``):

    dS_p/dt = (omega_p B + (mu/N) sum_q c_pq S_q) x S_p ,   P_p = S_p / j_p .

Everything here works on arrays ``S[..., m, 3]`` with optional leading batch
axes (truncated-Wigner samples), so the mean-field, TWA and cumulant solvers
share one implementation of the physics.
"""
from __future__ import annotations

import numpy as np

#: Levi-Civita symbol eps[a, b, c].
LEVI_CIVITA = np.zeros((3, 3, 3))
LEVI_CIVITA[0, 1, 2] = LEVI_CIVITA[1, 2, 0] = LEVI_CIVITA[2, 0, 1] = 1.0
LEVI_CIVITA[0, 2, 1] = LEVI_CIVITA[2, 1, 0] = LEVI_CIVITA[1, 0, 2] = -1.0


class SeparableCoupling:
    """``sum_q c_pq S_q``, the mean field of Eq. (5) felt by mode p, as a sum of
    separable terms (no M x M matrix).

    Multi-angle: ``c_pq = 1 - p.q = 1 - sum_a p^a q^a``, so
    ``sum_q c_pq S_q = T0 - sum_a p^a T_a - c_pp S_p`` with the four global
    moments ``T0 = sum_q S_q`` and ``T_a = sum_q q^a S_q`` (12 numbers, one
    allreduce when modes are distributed). Single-angle: ``c_pq = f`` (p != q),
    ``sum_q c_pq S_q = f (T0 - S_p)``: one moment. The diagonal correction
    reproduces ``Model.couplings()``, whose diagonal is zero.
    """

    def __init__(self, model, rows: slice | None = None):
        rows = rows if rows is not None else slice(0, model.n_modes)
        self.single_angle = bool(model.single_angle)
        self.factor = float(model.single_angle_factor)
        d = model.directions[rows]
        self.directions = d
        self.self_term = 1.0 - np.einsum("pa,pa->p", d, d)  # c_pp of the separable form
        self.n_moments = 1 if self.single_angle else 4

    def local_moments(self, s: np.ndarray) -> np.ndarray:
        """Partial moments of the local modes: ``[..., n_moments, 3]`` (sum over modes)."""
        t0 = s.sum(axis=-2)[..., None, :]
        if self.single_angle:
            return t0
        ta = np.einsum("pa,...pb->...ab", self.directions, s)
        return np.concatenate([t0, ta], axis=-2)

    def apply(self, moments: np.ndarray, s: np.ndarray) -> np.ndarray:
        """``sum_q c_pq S_q`` for the local modes, from *global* moments."""
        if self.single_angle:
            return self.factor * (moments[..., 0:1, :] - s)
        field = moments[..., 0:1, :] - np.einsum("pa,...ab->...pb", self.directions, moments[..., 1:, :])
        return field - self.self_term[:, None] * s


class SpinEquations:
    """Mean-field right-hand side (Eq. (5) applied to Eq. (1)) and monitors for the
    local block of modes.

    Parameters
    ----------
    model : nmbhpc.physics.model.Model
    rows : slice of the global mode index held by this process (all modes if None).
    """

    def __init__(self, model, rows: slice | None = None):
        self.model = model
        rows = rows if rows is not None else slice(0, model.n_modes)
        self.rows = rows
        self.omega = model.omegas[rows]
        self.spin = 0.5 * model.counts[rows].astype(np.float64)
        self.b = model.b_vector()
        self.kappa_scale = 1.0 / model.n_total  # coupling is mu(t)/N
        self.coupling = SeparableCoupling(model, rows)

    def kappa(self, t: float) -> float:
        """Pair coupling ``mu(t)/N`` (units of omega0)."""
        return float(self.model.mu(t)) * self.kappa_scale

    def initial_spins(self) -> np.ndarray:
        """``S_p(0) = j_p P_p(0)`` for the local modes, float64[m, 3]."""
        pol = self.model.initial_polarizations[self.rows]
        return self.spin[:, None] * pol

    def fields(self, t: float, s: np.ndarray, moments: np.ndarray) -> np.ndarray:
        """Precession vectors ``h_p = omega_p B + (mu/N) sum_q c_pq S_q`` (Eq. (5)), [..., m, 3]."""
        return self.omega[:, None] * self.b + self.kappa(t) * self.coupling.apply(moments, s)

    def rhs(self, t: float, s: np.ndarray, moments: np.ndarray) -> np.ndarray:
        """``dS_p/dt = h_p x S_p`` (Eq. (5) applied to Eq. (1)) given the global coupling moments."""
        return np.cross(self.fields(t, s, moments), s)

    def local_energy(self, t: float, s: np.ndarray, moments: np.ndarray) -> np.ndarray:
        """This block's share of ``E = sum_p omega_p B.S_p + (mu/2N) sum_{p!=q} c_pq S_p.S_q``,
        the expectation of Eq. (1) in the mean-field (product) state of Eq. (5)."""
        vac = np.einsum("p,...pa,a->...", self.omega, s, self.b)
        pair = 0.5 * self.kappa(t) * np.einsum("...pa,...pa->...", s, self.coupling.apply(moments, s))
        return vac + pair

    def local_b_dot_j(self, s: np.ndarray) -> np.ndarray:
        """This block's share of total ``B.S``."""
        return np.einsum("...pa,a->...", s, self.b)


def cross_matrix(v: np.ndarray) -> np.ndarray:
    """``[v]_x`` with ``[v]_x w = v x w``; v[..., 3] -> [..., 3, 3]."""
    return np.einsum("acb,...c->...ab", LEVI_CIVITA, v)  # (v x w)_a = eps_acb v_c w_b


def jacobian(model, s: np.ndarray, t: float = 0.0) -> np.ndarray:
    """Dense Jacobian of the mean-field flow (Eq. (5)) at spins ``s[M, 3]``: float64[3M, 3M].

    Its eigenvalues give the growth rate Omega of Eq. (22) (``nmbhpc.meanfield.stability``).

    ``d(dS_p)/dt = [h_p]_x dS_p - (mu/N) [S_p]_x sum_q c_pq dS_q``; row/column
    index ``3 p + a``. Not distributed (stability analysis, cumulant solver).
    """
    eq = SpinEquations(model)
    mom = eq.coupling.local_moments(s)
    h = eq.fields(t, s, mom)
    m = model.n_modes
    c = model.couplings()
    jac = -eq.kappa(t) * np.einsum("pq,pab->paqb", c, cross_matrix(s))
    jac[np.arange(m), :, np.arange(m), :] += cross_matrix(h)
    return jac.reshape(3 * m, 3 * m)
