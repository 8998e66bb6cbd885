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
"""
from __future__ import annotations

import numpy as np

from ..physics.model import ObservableRecord
from . import kernels


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
        j = 0.5 * self.counts
        local = psi.getArray(readonly=True)
        prob = (local.real ** 2 + local.imag ** 2).astype(np.float64)
        first, second = kernels.z_moments(self.configs, self.counts, prob, self.pairs)
        norm2 = float(prob.sum())
        packed = np.concatenate([[norm2], first, second.ravel()])
        packed = self.comm.allreduce(packed)
        norm2 = packed[0]
        m = len(self.counts)
        jz = packed[1:1 + m] / norm2
        jzjz = packed[1 + m:].reshape(second.shape) / norm2

        jvec = np.zeros((m, 3))
        jvec[:, 2] = jz
        gram = None
        if self._phi:
            for mat, phi in zip(self.lowering, self._phi):
                mat.mult(psi, phi)
            if self.same_space:
                # <J^-_p> = psi^H phi_p ; J^x = Re <J^->, J^y = -Im <J^->... (J^- = J^x - i J^y)
                jm = np.array([phi.dot(psi) for phi in self._phi]) / norm2
                jvec[:, 0] = jm.real
                jvec[:, 1] = -jm.imag
            if self.pairs:
                # all <phi_p|phi_q> with one local GEMM and one allreduce
                local_phi = np.stack([phi.getArray(readonly=True) for phi in self._phi], axis=1)
                gram = self.comm.allreduce(local_phi.conj().T @ local_phi) / norm2
        pol_comp = jvec / j[:, None]
        pol = pol_comp @ self.rotation.T
        nue, rho1, ent = ObservableRecord.one_body_from_polarization(pol)

        pair = None
        if self.pairs:
            # <J_p.J_q> = <Jz Jz> + Re<J+_p J-_q>; the diagonal holds <J_p^2> = j(j+1)
            jpjq = jzjz + gram.real
            np.fill_diagonal(jpjq, j * (j + 1))
            pair = jpjq - jvec @ jvec.T
        return ObservableRecord(
            time=float(time), polarization=pol, nue_fraction=nue, rho1=rho1, entropy=ent,
            norm=float(np.sqrt(norm2)), energy=float(energy), b_dot_j=float(-jz.sum()),
            mu=float(mu), pair_correlation=pair,
        )
