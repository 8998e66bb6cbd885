"""Pehlivan (Gaudin) invariants of single-angle models: a run-time correctness monitor.

For a single-angle model, H_MB of Eq. (1) of Johns, arXiv:2305.04916, with one
coupling ``c`` for every pair,

    H = sum_p omega_p B.J_p + (mu c / N) sum_{p<q} J_p.J_q,

is integrable (Pehlivan, Balantekin, Kajino, Yoshida, PRD 84, 065008 (2011)):
for distinct ``omega_p`` the operators

    h_p = B.J_p + (mu c / N) sum_{q != p} J_p.J_q / (omega_p - omega_q)

commute with each other and with H, and ``sum_p omega_p h_p = H``. At constant
mu their expectation values are conserved by the exact dynamics, and the
classical (mean-field) flow of Eq. (5) conserves the same functions of the
spin vectors; their drift measures the integrator, not the physics.

Everything needed is in an output record: ``<J_p.J_q> = C_pq + j_p j_q P_p.P_q``
with the connected pair correlation ``C`` and ``j_p = n_p / 2``. Units: the
same as the energy (omega0), since ``sum_p omega_p h_p = <H>``.
"""
from __future__ import annotations

import numpy as np


def applies(model) -> bool:
    """True for a single-angle model with pairwise distinct omegas (where h_p exist)."""
    w = np.asarray(model.omegas, dtype=np.float64)
    return bool(model.single_angle and len(np.unique(w)) == len(w) and len(w) > 1)


def pehlivan_invariants(model, polarization: np.ndarray, pair_correlation: np.ndarray,
                        mu: float) -> np.ndarray:
    """``<h_p>`` for every mode, float64[M], from one output record's observables.

    ``polarization[M, 3]`` and ``pair_correlation[M, M]`` (connected
    ``<J_p.J_q> - <J_p>.<J_q>``) as recorded, in any common frame; ``mu`` is the
    record's mu(t). Raises ValueError where the invariants do not exist
    (:func:`applies`). Not collective.
    """
    if not applies(model):
        raise ValueError("Pehlivan invariants need a single-angle model with distinct omegas")
    w = np.asarray(model.omegas, dtype=np.float64)
    j = 0.5 * np.asarray(model.counts, dtype=np.float64)
    P = np.asarray(polarization, dtype=np.float64)
    jj = np.asarray(pair_correlation, dtype=np.float64) + np.outer(j, j) * (P @ P.T)
    dw = w[:, None] - w[None, :]
    np.fill_diagonal(dw, np.inf)  # drops q = p from the sum
    g = mu * float(model.single_angle_factor) / float(np.sum(model.counts))
    return j * (P @ model.b_vector()) + g * np.sum(jj / dw, axis=1)


def max_relative_drift(h: np.ndarray) -> float:
    """Drift of recorded invariants ``h[T, M]`` (time axis first) relative to their scale:
    ``max over t, p of |h_p(t) - h_p(t0)| / max_p |h_p(t0)|``.

    ``t0`` is the first record without NaN (a file's rows before a monitor was
    first recorded are NaN). nan without such a record or when every ``h_p(t0)``
    is 0 (no scale). Meaningful at constant mu only; with a mu schedule the
    ``h_p`` change physically.
    """
    h = np.asarray(h, dtype=np.float64)
    if h.ndim != 2:
        return float("nan")
    h = h[np.all(np.isfinite(h), axis=1)]
    if h.shape[0] == 0:
        return float("nan")
    scale = float(np.max(np.abs(h[0]))) if h.shape[1] else 0.0
    if scale == 0.0:
        return float("nan")
    return float(np.max(np.abs(h - h[0]))) / scale
