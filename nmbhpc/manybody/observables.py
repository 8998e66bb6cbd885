"""Observables of a distributed many-body state.

All functions here are collective on the state's communicator. Inputs and
intermediate results are in the computational frame (z = -B); the record is
rotated to the flavor frame at the end.

* ``<J^z_p>`` and ``<J^z_p J^z_q>``: diagonal, one pass over the local
  configurations and an allreduce.
* ``<J^-_p>``: only non-zero when the basis spans several sectors;
  ``<psi| J^-_p |psi>`` with the lowering matrices.
* ``<J^+_p J^-_q> = <J^-_p psi | J^-_q psi>``: one Gram matrix of the vectors
  ``phi_p = J^-_p psi`` (a local GEMM and one allreduce), so pair correlations
  cost M sparse products.

The sums over basis states (:func:`z_sums`, :func:`gram_sum`) are not
normalised, so that the pieces of one state kept sector by sector
(sectors.py) add up; :func:`record_from_sums` normalises and rotates.
"""
from __future__ import annotations

import numpy as np

from ..physics.model import ObservableRecord
from . import kernels


def z_sums(configs, counts, local, pairs: bool) -> np.ndarray:
    """``[sum |psi|^2, sum |psi|^2 m_p, sum |psi|^2 m_p m_q (if pairs)]`` over the
    amplitudes ``local`` of the states ``configs`` (an array, or basis.LocalRows
    unranked block by block), packed in one float64 array for one allreduce. Local."""
    if not isinstance(configs, np.ndarray):
        m = len(counts)
        return sum((z_sums(block, counts, local[at:at + len(block)], pairs)
                    for at, block in configs.chunks()),
                   np.zeros(1 + m + (m * m if pairs else 1)))
    prob = (local.real ** 2 + local.imag ** 2).astype(np.float64)
    first, second = kernels.z_moments(configs, counts, prob, pairs)
    return np.concatenate([[float(prob.sum())], first, second.ravel()])


def gram_sum(phis, comm) -> np.ndarray:
    """``G_pq = <phi_p|phi_q>`` of distributed Vecs (one local GEMM, one allreduce). Collective."""
    local_phi = np.stack([phi.getArray(readonly=True) for phi in phis], axis=1)
    return comm.allreduce(local_phi.conj().T @ local_phi)


def record_from_sums(counts, rotation, packed, jm, gram, time: float, mu: float,
                     energy: float) -> ObservableRecord:
    """The record of a state from its un-normalised sums. Not collective.

    ``packed`` is the allreduced :func:`z_sums` (norm^2, m_p sums, m_p m_q sums when
    pair correlations are wanted), ``jm`` the sums ``<psi|J^-_p|psi>`` (None: zero,
    one sector), ``gram`` the sums ``<J^-_p psi|J^-_q psi>`` (None: no pair
    correlations), ``energy`` already normalised. Computational frame in, flavor
    frame out.
    """
    counts = np.asarray(counts, dtype=np.int64)
    j = 0.5 * counts
    m = len(counts)
    norm2 = packed[0]
    jz = packed[1:1 + m] / norm2
    jvec = np.zeros((m, 3))
    jvec[:, 2] = jz
    if jm is not None:
        # J^- = J^x - i J^y: J^x = Re <J^->, J^y = -Im <J^->
        jvec[:, 0] = jm.real / norm2
        jvec[:, 1] = -jm.imag / norm2
    pol_comp = jvec / j[:, None]
    pol = pol_comp @ np.asarray(rotation).T
    nue, rho1, ent = ObservableRecord.one_body_from_polarization(pol)

    pair = None
    if gram is not None:
        # <J_p.J_q> = <Jz Jz> + Re<J+_p J-_q>; the diagonal holds <J_p^2> = j(j+1)
        jpjq = packed[1 + m:].reshape(m, m) / norm2 + gram.real / norm2
        np.fill_diagonal(jpjq, j * (j + 1))
        pair = jpjq - jvec @ jvec.T
    return ObservableRecord(
        time=float(time), polarization=pol, nue_fraction=nue, rho1=rho1, entropy=ent,
        norm=float(np.sqrt(norm2)), energy=float(energy), b_dot_j=float(-jz.sum()),
        mu=float(mu), pair_correlation=pair,
    )


class ObservableEvaluator:
    """Evaluates :class:`ObservableRecord` for states of one basis.

    Parameters
    ----------
    counts : int64[M]
    configs : local configurations [n_local, M]
    rotation : R with v_flavor = R v_comp
    lowering : list of J^-_p Mats (or None when the basis is one sector and no
        pair correlations are wanted)
    same_space : whether J^-_p maps the basis into itself (multi-sector basis),
        so that <J^-_p> is a plain expectation value
    comm : mpi4py communicator
    """

    def __init__(self, counts, configs, rotation, lowering, same_space, pairs, comm):
        self.counts = np.asarray(counts, dtype=np.int64)
        self.configs = configs
        self.rotation = np.asarray(rotation)
        self.lowering = lowering
        self.same_space = same_space
        self.pairs = pairs
        self.comm = comm
        self._phi = [m.createVecLeft() for m in lowering] if lowering else []

    def evaluate(self, psi, time: float, mu: float, energy: float) -> ObservableRecord:
        """Record at ``time`` for the normalised-or-not state ``psi``. Collective."""
        packed = self.comm.allreduce(z_sums(self.configs, self.counts,
                                            psi.getArray(readonly=True), self.pairs))
        jm = gram = None
        if self._phi:
            for mat, phi in zip(self.lowering, self._phi):
                mat.mult(psi, phi)
            if self.same_space:
                # <J^-_p> = psi^H phi_p
                jm = np.array([phi.dot(psi) for phi in self._phi])
            if self.pairs:
                gram = gram_sum(self._phi, self.comm)
        return record_from_sums(self.counts, self.rotation, packed, jm, gram, time, mu, energy)

    def destroy(self) -> None:
        """Free the lowering operators and their result vectors (collective; idempotent)."""
        for obj in self._phi + list(self.lowering or []):
            obj.destroy()
        self._phi = []
        self.lowering = None
