"""Eq. (1) of Johns, "Neutrino many-body correlations" (arXiv:2305.04916): H_MB in the sector basis.

The paper's many-body Hamiltonian is

    H_MB = sum_p omega_p B.J_p + (sqrt2 G_F / V) sum_{p,q} (1 - p.q) J_p.J_q        (1)

and this package writes it (docs/conventions.md) as

    H = D + mu A,   D = sum_p omega_p B.J_p,   A = (1/N) sum_{p<q} c_pq J_p.J_q,

with ``c_pq = 1 - p_hat.q_hat`` (multi-angle) or a constant (single-angle) and
``mu / N = 2 sqrt2 G_F / V`` (each unordered pair appears twice in Eq. (1)).
Frequencies and mu are in units of omega0, times in 1/omega0.

In the computational frame (z = -B) a basis state is a configuration ``k``
with ``k_p`` down quanta in mode p (``0 <= k_p <= n_p``), ``m_p = n_p/2 - k_p``
(basis.py), and ``J_p.J_q = J^z_p J^z_q + (J^+_p J^-_q + J^-_p J^+_q) / 2``:

* **vacuum term** ``<k|D|k> = -sum_p omega_p m_p`` (hamiltonian.vacuum_diagonal);
* **diagonal term** ``<k|A|k> = sum_{p<q} (c_pq/N) m_p m_q`` (:func:`pair_diagonal`;
  :func:`pair_diagonal_separable` evaluates the same sum in O(R M) when
  ``c/N = sum_r w_r f_r f_r^T``);
* **flip amplitude** ``<k - e_a + e_b| (c_ab/2N) J^+_a J^-_b |k>
  = (c_ab/2N) sqrt(k_a (n_a - k_a + 1)) sqrt((n_b - k_b)(k_b + 1))``
  (:func:`flip_amplitude`), for every ordered pair ``a != b`` with ``k_a > 0``
  and ``k_b < n_b``: the two orderings of each unordered pair are the two
  halves of the transverse part. It is real (Condon-Shortley phases), so A is
  real symmetric.

These functions are the only place where the matrix elements of Eq. (1) are
written. Every operator back end (stored AIJ, stored real CSR, matrix-free,
separable) calls them from its compiled kernels; ``inline="always"`` makes
numba paste them into the caller's loop, so the generated code is that of a
hand-written element. The ladder elements :func:`j_plus` / :func:`j_minus`
are the single-mode factors (the separable operator and the observables'
``J^-_p`` use them alone).
"""
from __future__ import annotations

import numpy as np

from ..runtime.jit import njit


@njit(cache=True, inline="always")
def j_plus_squared(n, k):
    """``|<k - 1| J^+ |k>|^2 = k (n - k + 1)`` for a mode of n neutrinos with k down quanta."""
    return k * (n - k + 1.0)


@njit(cache=True, inline="always")
def j_plus(n, k):
    """``<k - 1| J^+ |k> = sqrt(k (n - k + 1))`` (J^+ removes one down quantum)."""
    return np.sqrt(j_plus_squared(n, k))


@njit(cache=True, inline="always")
def j_minus(n, k):
    """``<k + 1| J^- |k> = sqrt((n - k)(k + 1))`` (J^- adds one down quantum)."""
    return np.sqrt((n - k) * (k + 1.0))


@njit(cache=True, inline="always")
def flip_amplitude(c_ab, n_a, k_a, n_b, k_b):
    """``<k - e_a + e_b| (c_ab / 2) J^+_a J^-_b |k>`` of Eq. (1); ``c_ab`` is ``c_ab / N``.

    Needs ``k_a > 0`` and ``k_b < n_b`` (the caller skips the other pairs). For
    one-neutrino modes (``n = 1``) it is ``c_ab / 2N`` exactly.
    """
    return 0.5 * c_ab * j_plus(n_a, k_a) * j_minus(n_b, k_b)


@njit(cache=True, inline="always")
def pair_diagonal(coup, m):
    """``sum_{p<q} coup[p, q] m_p m_q``: the diagonal of A (``coup = c/N``, ``m_p = n_p/2 - k_p``)."""
    n_modes = m.shape[0]
    d = 0.0
    for p in range(n_modes):
        mp = m[p]
        for q in range(p + 1, n_modes):
            d += coup[p, q] * mp * m[q]
    return d


@njit(cache=True, inline="always")
def pair_diagonal_separable(factors, weights, cdiag, m):
    """:func:`pair_diagonal` for ``coup = sum_r w_r f_r f_r^T`` off the diagonal, in O(R M).

    With ``C = sum_r w_r f_r f_r^T`` (any diagonal ``cdiag = diag(C)``),
    ``sum_{p<q} C_pq m_p m_q = (1/2) (sum_r w_r (f_r.m)^2 - sum_p C_pp m_p^2)``.
    The multi-angle coupling ``1 - p.q = 1 1^T - sum_i d_i d_i^T`` has R = 4.
    """
    n_modes = m.shape[0]
    self_part = 0.0
    for p in range(n_modes):
        self_part += cdiag[p] * m[p] * m[p]
    d = 0.0
    for r in range(factors.shape[0]):
        s = 0.0
        for p in range(n_modes):
            s += factors[r, p] * m[p]
        d += weights[r] * s * s
    return 0.5 * (d - self_part)


@njit(cache=True)
def qubit_flip_table(coup):
    """``[M, M]`` flip amplitudes of one-neutrino modes (``c_ab / 2N``; 0 on the diagonal)."""
    m = coup.shape[0]
    out = np.zeros((m, m))
    for a in range(m):
        for b in range(m):
            if a != b:
                out[a, b] = flip_amplitude(coup[a, b], 1, 1, 1, 0)
    return out
