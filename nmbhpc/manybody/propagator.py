"""exp(-i H dt) psi with SLEPc MFN, for ``H = D + mu A`` with piecewise-constant mu.

The MFN object uses SLEPc's default options prefix, so ``-mfn_tol``,
``-mfn_ncv``, ``-mfn_type``, ``-mfn_monitor`` work from the command line and
override the config's defaults. H is formed in place: when mu changes, ``H``
is rebuilt as ``mu A + D`` from the stored ``A`` (same nonzero pattern), so a
constant-mu run holds one matrix and a time-dependent one two. A matrix-free
operator (shell_operator.py) only takes the new mu.
"""
from __future__ import annotations

import logging

from ..stack import init_petsc

log = logging.getLogger("nmbhpc.manybody")


#: Krylov dimension when the config leaves it to the engine (mfn_ncv = 0).
#: SLEPc's own default (30) builds at least two full subspaces per step; for
#: the steps of max_step ~ 1 of these models 16 halves the products
#: (benchmarks: 60 -> 32 at N = 20, tol 1e-10) at no loss of accuracy.
DEFAULT_NCV = 16


class MFNError(RuntimeError):
    """SLEPc MFN did not converge."""


class Propagator:
    """Applies ``exp(-i (D + mu A) dt)`` to distributed vectors. Collective."""

    def __init__(self, A, D, mu_constant: bool, tol: float, ncv: int):
        PETSc, SLEPc = init_petsc()
        self._A = A
        self._D = D
        # a MATSHELL regenerates its rows: changing mu only rescales, no copy
        self._shell = A.getType() == PETSc.Mat.Type.PYTHON
        self._H = A if mu_constant or self._shell else A.duplicate(copy=True)
        self._mu = None
        self.mfn = SLEPc.MFN().create(comm=A.getComm())
        self.mfn.setOperator(self._H)
        fn = self.mfn.getFN()
        fn.setType(SLEPc.FN.Type.EXP)
        self.mfn.setTolerances(tol=tol)
        self.mfn.setDimensions(ncv if ncv > 0 else DEFAULT_NCV)
        self.mfn.setErrorIfNotConverged(False)
        self.mfn.setFromOptions()
        self.matvecs = 0
        self.iterations = 0
        self._tmp = D.duplicate()

    @property
    def H(self):
        return self._H

    def set_mu(self, mu: float) -> None:
        """Make the operator ``D + mu A``. Collective."""
        PETSc, _ = init_petsc()
        if mu == self._mu:
            return
        H = self._H
        if self._shell:
            H.getPythonContext().set_mu(mu)
        elif H is self._A:
            # constant mu: A is scaled once and becomes H (A is not needed again)
            if self._mu is not None:
                raise RuntimeError("constant-mu propagator asked to change mu")
            H.scale(mu)
            H.setDiagonal(self._D, addv=PETSc.InsertMode.ADD_VALUES)
        else:
            self._A.copy(H, structure=PETSc.Mat.Structure.SAME_NONZERO_PATTERN)
            H.scale(mu)
            H.setDiagonal(self._D, addv=PETSc.InsertMode.ADD_VALUES)
        self._mu = mu
        # the operator's values changed: MFN must see it before the next solve
        self.mfn.setOperator(H)

    def step(self, psi, dt: float, mu: float) -> None:
        """psi <- exp(-i H(mu) dt) psi. Collective."""
        self.set_mu(mu)
        self.mfn.getFN().setScale(-1j * dt)
        self.mfn.solve(psi, self._tmp)
        reason = self.mfn.getConvergedReason()
        if reason < 0:
            raise MFNError(f"MFN did not converge (reason {reason}) for dt={dt:g}, mu={mu:g}; "
                           "try a smaller manybody.max_step or a larger -mfn_ncv")
        self.iterations += self.mfn.getIterationNumber()
        self._tmp.copy(psi)

    def energy(self, psi) -> float:
        """<psi|H|psi>/<psi|psi> for the current mu. Collective."""
        self._H.mult(psi, self._tmp)
        return float((self._tmp.dot(psi) / psi.dot(psi)).real)

    def destroy(self) -> None:
        self.mfn.destroy()
        if self._H is not self._A:
            self._H.destroy()
        self._tmp.destroy()
