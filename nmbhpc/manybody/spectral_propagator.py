"""exp(-i H dt) psi by expansion in eigenpairs of a time-independent H (constant mu).

For collective-spin models at large N the MFN work per unit time grows like
||H|| ~ mu N, while the initial state's energy spread is only ~ mu/4: psi(0) lives
on a few hundred eigenpairs of H around <H>. This propagator finds them once with
SLEPc EPS (Hermitian, shift-and-invert at the target <H>_0, an LU of the stored
matrix: PETSc's own serially, MUMPS on several ranks) and then advances

    psi <- psi + V (exp(-i E dt) - 1) V^H psi,

two BV products of nev columns per step, independent of dt (no max_step sub-steps
needed). The part of psi outside span(V) is not evolved, so the error of every
step is bounded by twice the truncation ``||psi - V V^H psi|| / ||psi||``, which
is computed directly (no cancellation) and must be <= ``manybody.mfn_tol``;
eigenpairs are added (nev doubled, up to ``manybody.spectral_max_nev``) until it
is, else :class:`SpectralTruncationError`.

Options: the EPS has the prefix ``mb_eps_`` (``-mb_eps_ncv``, ``-mb_eps_monitor``,
``-mb_eps_st_pc_factor_mat_solver_type mumps`` ...) and calls setFromOptions().
"""
from __future__ import annotations

import logging
import math
import time as _time

import numpy as np

from ..runtime.stack import init_petsc
from .hamiltonian import aij_set_mu
from .propagator import PropagatorBase

log = logging.getLogger(__name__)

#: eigenpairs asked for in the first EPS solve; doubled until the truncation check passes
INITIAL_NEV = 64
#: eigenpairs the memory model assumes (N = 1e5 and 1e6 two-beam runs needed 256-260)
TYPICAL_NEV = 256


def peak_vectors(nev: int = TYPICAL_NEV) -> int:
    """State-sized vectors held at the peak: the EPS basis of the last solve plus the kept pairs."""
    return 2 * nev + max(32, nev // 5)
OPTIONS_PREFIX = "mb_eps_"


class SpectralTruncationError(RuntimeError):
    """The computed eigenpairs do not hold the state to manybody.mfn_tol."""


class SpectralPropagator(PropagatorBase):
    """Applies ``exp(-i (D + mu A) dt)`` for one constant mu by eigenpair expansion.

    ``A`` must be an assembled AIJ matrix (the factorization needs its entries); it is
    scaled in place into ``H = mu A + D`` (as the constant-mu MFN propagator does).
    The eigenpairs are computed at construction for ``psi`` (normalised or not).
    Collective on A's communicator.
    """

    def __init__(self, A, D, psi, mu: float, tol: float, max_nev: int):
        PETSc, _ = init_petsc()
        if A.getType() == PETSc.Mat.Type.PYTHON:
            raise ValueError("the spectral propagator needs a stored AIJ matrix (operator = \"matrix\")")
        self._start(A, D, A)
        self.tol = float(tol)
        self.max_nev = int(max_nev)
        self._bv = None
        self.set_mu(mu)
        self._build(psi)

    def set_mu(self, mu: float) -> None:
        """Make the operator ``D + mu A``; only the construction's mu is allowed. Collective."""
        if mu == self._mu:
            return
        if self._mu is not None:
            raise RuntimeError(f"spectral propagator built for mu = {self._mu!r} asked for "
                               f"mu = {mu!r}: it needs a constant mu")
        aij_set_mu(self._A, self._H, self._D, mu)
        self._mu = mu

    # --- eigenpairs -----------------------------------------------------------
    def _build(self, psi) -> None:
        """Eigenpairs nearest <H>_psi until ||psi - V V^H psi|| <= tol ||psi||. Collective."""
        dim = self._H.getSize()[0]
        e0 = self.energy(psi)
        self._H.mult(psi, self._tmp)
        pnorm = psi.norm()
        sigma = math.sqrt(max((self._tmp.norm() / pnorm) ** 2 - e0 ** 2, 0.0))
        # off an eigenvalue: <H>_0 can be one exactly (an eigenstate), and the LU does not pivot
        target = e0 + 0.0123 * sigma + 1e-9 * max(1.0, abs(e0))
        cap = min(self.max_nev, dim)
        nev = min(INITIAL_NEV, cap)
        t0 = _time.perf_counter()
        while True:
            self._solve(nev, dim, target)
            self.coefficients = self._bv.dotVec(psi)
            self.truncation = self._residual(psi, self.coefficients) / pnorm
            if self.truncation <= self.tol:
                break
            if nev >= cap:
                raise SpectralTruncationError(
                    f"manybody.propagator = \"spectral\": {self.nev} eigenpairs of H nearest "
                    f"<H> = {e0:.6g} (spread {sigma:.3g}) hold the state only to "
                    f"{self.truncation:.2e} > manybody.mfn_tol = {self.tol:g}; raise "
                    f"manybody.spectral_max_nev (now {self.max_nev}) or use "
                    "manybody.propagator = \"mfn\"")
            nev = min(2 * nev, cap)
        self.seconds = _time.perf_counter() - t0
        self.summary = {"propagator": "spectral", "spectral_nev": int(self.nev),
                        "spectral_truncation": float(self.truncation),
                        "spectral_energy_min": float(self.energies.min()),
                        "spectral_energy_max": float(self.energies.max()),
                        "spectral_seconds": float(self.seconds)}
        log.info("spectral propagator: %d eigenpairs of H in [%.6g, %.6g] around <H> = %.6g "
                 "(spread %.3g), truncation ||psi - V V^H psi|| = %.2e (tol %g), %.3g s",
                 self.nev, self.energies.min(), self.energies.max(), e0, sigma,
                 self.truncation, self.tol, self.seconds)

    def _solve(self, nev: int, dim: int, target: float) -> None:
        """EPS for ``nev`` eigenpairs nearest ``target``; fills self._bv/energies. Collective."""
        PETSc, SLEPc = init_petsc()
        comm = self._H.getComm()
        eps = SLEPc.EPS().create(comm=comm)
        try:
            eps.setOptionsPrefix(OPTIONS_PREFIX)
            eps.setOperators(self._H)
            eps.setProblemType(SLEPc.EPS.ProblemType.HEP)
            eps.setDimensions(nev=nev, ncv=min(dim, nev + max(32, nev // 5)))
            eps.setTarget(target)
            eps.setWhichEigenpairs(SLEPc.EPS.Which.TARGET_MAGNITUDE)
            eps.setTolerances(tol=min(1e-12, self.tol))
            st = eps.getST()
            st.setType(SLEPc.ST.Type.SINVERT)
            ksp = st.getKSP()
            ksp.setType(PETSc.KSP.Type.PREONLY)
            pc = ksp.getPC()
            pc.setType(PETSc.PC.Type.LU)
            if comm.getSize() > 1:
                # PETSc's own LU is sequential only; Debian's PETSc ships MUMPS
                pc.setFactorSolverType("mumps")
            eps.setFromOptions()
            eps.solve()
            self.iterations += eps.getIterationNumber()
            # SLEPc may converge more than asked; keep the nearest (sorted first) up to the cap
            nconv = min(eps.getConverged(), self.max_nev)
            if nconv == 0:
                raise SpectralTruncationError(
                    f"manybody.propagator = \"spectral\": EPS found no eigenpairs "
                    f"(reason {eps.getConvergedReason()}); use manybody.propagator = \"mfn\"")
            if self._bv is not None:
                self._bv.destroy()
            bv = SLEPc.BV().create(comm=comm)
            bv.setSizesFromVec(self._tmp, nconv)
            bv.setFromOptions()
            energies = np.empty(nconv)
            for k in range(nconv):
                v = bv.getColumn(k)
                energies[k] = eps.getEigenpair(k, v).real
                bv.restoreColumn(k, v)
            self._bv, self.energies, self.nev = bv, energies, nconv
        finally:
            eps.destroy()

    def _residual(self, psi, coef) -> float:
        """||psi - V coef||, computed directly (exact to round-off). Collective."""
        psi.copy(self._tmp)
        self._bv.multVec(-1.0, 1.0, self._tmp, coef)
        return self._tmp.norm()

    # --- propagation ------------------------------------------------------------
    def step(self, psi, dt: float, mu: float) -> None:
        """psi <- exp(-i H(mu) dt) psi (mu must be the construction's). Collective."""
        self.set_mu(mu)
        coef = self._bv.dotVec(psi)
        if not np.allclose(coef, self.coefficients, rtol=0.0, atol=1e-10):
            # psi was replaced (restart): the eigenpairs must hold the new state too
            trunc = self._residual(psi, coef) / psi.norm()
            if trunc > self.tol:
                self._build(psi)
                coef = self.coefficients
        phase = np.exp(-1j * self.energies * dt)
        self._bv.multVec(1.0, 1.0, psi, (phase - 1.0) * coef)
        self.coefficients = phase * coef

    def destroy(self) -> None:
        if self._bv is not None:
            self._bv.destroy()
        self._tmp.destroy()
