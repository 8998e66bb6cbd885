"""Linear stability of the mean-field equations (growth rate Omega of Eq. (22)).

Linearising ``dS_p/dt = h_p x S_p`` (see :mod:`.equations`) about spins
``S0`` gives ``d(dS)/dt = A dS`` with the 3M x 3M real matrix

    (A dS)_p = [h0_p]_x dS_p - (mu/N) [S0_p]_x sum_q c_pq dS_q ,
    h0_p = omega_p B + (mu/N) sum_q c_pq S0_q .

Writing ``dS ~ exp(-i w t)`` the eigenfrequencies are ``w = i lambda`` for the
eigenvalues ``lambda`` of A, and the growth rate is
``Omega = max Im w = max Re lambda``. The linearisation is the physical
stability matrix when ``S0`` is stationary (e.g. every ``S0_p`` parallel to B,
the usual flavor-eigenstate initial condition at theta = 0); for a
non-stationary ``S0`` it is the instantaneous Jacobian. Each mode contributes
one zero eigenvalue (``|S_p|`` is conserved), which is never reported as unstable.

Two-mode closed form (:func:`two_mode_growth_rate`). Let both ``S0_p`` be
parallel to ``B`` (|B| = 1), ``s_p = S0_p.B`` (signed), ``kappa = mu c_12 / N``
and ``a_1 = omega_1 + kappa s_2``, ``a_2 = omega_2 + kappa s_1``. With
``d_p = dS_p^x' + i dS_p^y'`` in a right-handed frame whose z' is B,
``(B x dS)^+ = i d``, so

    d_1' = i (a_1 d_1 - kappa s_1 d_2),   d_2' = i (a_2 d_2 - kappa s_2 d_1),

whose eigenvalues are ``i [ (a_1+a_2)/2 +- sqrt((a_1-a_2)^2/4 + kappa^2 s_1 s_2) ]``:

    Omega = sqrt(max(0, -(a_1 - a_2)^2 / 4 - kappa^2 s_1 s_2)).

Bipolar (two-beam) pendulum, :func:`bipolar_growth_rate`: theta = 0
(B = -z), N/2 neutrinos in mode 1 with omega_1 = w and P_1 = +z (nu_e), N/2 in
mode 2 with omega_2 = -w and P_2 = -z (nu-bar_e in the flipped-isospin
convention), coupling factor c (single-angle c = 1; back-to-back beams in a
multi-angle model c = 2). Then ``s_1 = -N/4``, ``s_2 = +N/4`` and

    Omega = sqrt(-w (w + mu c / 2)),  unstable for  -mu c / 2 < w < 0,

i.e. the "inverted hierarchy" is ``w < 0`` for the nu_e beam in this
convention (equivalently w > 0 with theta = pi/2); the maximal rate is
``mu c / 4`` at ``w = -mu c / 4``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .equations import SpinEquations, jacobian


@dataclass(frozen=True)
class StabilityResult:
    """Outcome of :func:`linear_stability` (units of omega0).

    growth_rate : Omega = max Im w (0 if stable up to ``tol``).
    frequencies : complex128[3M] eigenfrequencies w (dS ~ exp(-i w t)), sorted by Im w descending.
    unstable_frequencies : complex128[k], the ones with Im w > tol.
    unstable_vectors : complex128[k, M, 3], unit-norm eigenvectors dS_p (flavor frame) of those.
    """

    growth_rate: float
    frequencies: np.ndarray
    unstable_frequencies: np.ndarray
    unstable_vectors: np.ndarray


def linear_stability(model, spins: np.ndarray | None = None, t: float = 0.0,
                     tol: float = 1e-9) -> StabilityResult:
    """Eigen-analysis of the mean-field flow linearised about ``spins[M, 3]``.

    ``spins`` are flavor-frame ``S_p = j_p P_p`` (default: the model's initial
    state); mu is taken at time ``t``. Dense LAPACK ``eig`` of a 3M x 3M real
    matrix: fine for M up to ~1e3 (not collective; call it on one rank or all).
    ``tol`` is relative to the largest |eigenvalue|.
    """
    s = SpinEquations(model).initial_spins() if spins is None else np.asarray(spins, dtype=np.float64)
    lam, vec = np.linalg.eig(jacobian(model, s, t))
    w = 1j * lam
    order = np.argsort(-w.imag, kind="stable")
    w, vec = w[order], vec[:, order]
    thresh = tol * max(1.0, float(np.max(np.abs(lam), initial=0.0)))
    unstable = w.imag > thresh
    omega = float(w.imag[0]) if w.size and w.imag[0] > thresh else 0.0
    vecs = vec[:, unstable].T.reshape(-1, model.n_modes, 3)
    return StabilityResult(omega, w, w[unstable], vecs)


def two_mode_growth_rate(omega1: float, omega2: float, s1: float, s2: float, kappa: float) -> float:
    """Closed-form Omega for two spins parallel to B (see the module docstring).

    ``s_p = S_p.B`` (signed spin length along B), ``kappa = mu c_12 / N``.
    """
    a1, a2 = omega1 + kappa * s2, omega2 + kappa * s1
    return float(np.sqrt(max(0.0, -0.25 * (a1 - a2) ** 2 - kappa ** 2 * s1 * s2)))


def bipolar_growth_rate(w: float, mu: float, c: float = 1.0) -> float:
    """Bipolar pendulum rate ``sqrt(-w (w + mu c/2))`` (0 outside ``-mu c/2 < w < 0``).

    Conventions in the module docstring (theta = 0, nu_e beam at omega = w,
    nu-bar_e beam at -w, equal numbers).
    """
    return float(np.sqrt(max(0.0, -w * (w + 0.5 * mu * c))))
