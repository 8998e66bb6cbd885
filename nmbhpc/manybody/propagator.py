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

from ..runtime.stack import init_petsc
from .hamiltonian import aij_set_mu

log = logging.getLogger(__name__)


#: Krylov dimension when the config leaves it to the engine (mfn_ncv = 0).
#: SLEPc's restarted Krylov MFN builds at least two full subspaces per step
#: (it stops when a restart changes the result by less than tol), so small
#: subspaces restarted often need the fewest products: at N = 20, t = 1,
#: tol 1e-10, ncv 4/5/8/16/30 take 20/20/24/32/60 products, all to 2e-15 of
#: a tol 1e-14 reference (docs/performance.md); a longer step costs little
#: more (N = 22, dt = 3: 28 products with ncv 4).
DEFAULT_NCV = 4
#: expokit takes its own sub-steps of m = ncv products each and needs a larger
#: m (with 4 it does not converge in SLEPc's iteration limit); 16 is the
#: Krylov dimension the collective-spin experiments were tuned with.
DEFAULT_NCV_EXPOKIT = 16


class MFNError(RuntimeError):
    """SLEPc MFN did not converge."""


class PropagatorBase:
    """What the propagators share: the operator ``H = D + mu A``, the product and
    iteration counters the solver reports, and one state-sized work vector."""

    def _start(self, A, D, H) -> None:
        self._A, self._D, self._H = A, D, H
        self._mu = None
        self.matvecs = 0
        self.iterations = 0
        # D is None when the solver freed it (operators.OperatorKind.keeps_rows)
        self._tmp = A.createVecRight() if D is None else D.duplicate()

    @property
    def H(self):
        return self._H

    def _make_mu(self, mu: float) -> None:
        """Make the operator ``D + mu A``: a MATSHELL's context takes mu, an AIJ is
        rescaled (``self._shell`` says which). Collective."""
        H = self._H
        if self._shell:
            H.getPythonContext().set_mu(mu)
        else:
            # constant mu: A is scaled once and becomes H (A is not needed again)
            if H is self._A and self._mu is not None:
                raise RuntimeError("constant-mu propagator asked to change mu")
            aij_set_mu(self._A, H, self._D, mu)
        self._mu = mu

    def energy(self, psi) -> float:
        """<psi|H|psi>/<psi|psi> for the current mu. Collective."""
        self._H.mult(psi, self._tmp)
        return float((self._tmp.dot(psi) / psi.dot(psi)).real)


class Propagator(PropagatorBase):
    """Applies ``exp(-i (D + mu A) dt)`` to distributed vectors. Collective."""

    def __init__(self, A, D, mu_constant: bool, tol: float, ncv: int):
        PETSc, SLEPc = init_petsc()
        # a MATSHELL regenerates its rows: changing mu only rescales, no copy
        self._shell = A.getType() == PETSc.Mat.Type.PYTHON
        self._start(A, D, A if mu_constant or self._shell else A.duplicate(copy=True))
        self.mfn = SLEPc.MFN().create(comm=A.getComm())
        self.mfn.setOperator(self._H)
        fn = self.mfn.getFN()
        fn.setType(SLEPc.FN.Type.EXP)
        self.mfn.setTolerances(tol=tol)
        self._engine_ncv = ncv <= 0
        self.mfn.setDimensions(ncv if ncv > 0 else DEFAULT_NCV)
        self.mfn.setErrorIfNotConverged(False)
        self.mfn.setFromOptions()

    def set_mu(self, mu: float) -> None:
        """Make the operator ``D + mu A``. Collective."""
        if mu == self._mu:
            return
        self._make_mu(mu)
        # the operator's values changed: MFN must see it before the next solve
        self.mfn.setOperator(self._H)

    def step(self, psi, dt: float, mu: float) -> None:
        """psi <- exp(-i H(mu) dt) psi. Collective."""
        self.set_mu(mu)
        if self._engine_ncv:
            self._engine_ncv = False
            PETSc, _ = init_petsc()
            # the MFN type may have been set after construction (solver.py, -mfn_type)
            if self.mfn.getType() == "expokit" and not PETSc.Options().hasName("mfn_ncv"):
                self.mfn.setDimensions(DEFAULT_NCV_EXPOKIT)
        self.mfn.getFN().setScale(-1j * dt)
        before = self._products()
        self.mfn.solve(psi, self._tmp)
        reason = self.mfn.getConvergedReason()
        if reason < 0:
            raise MFNError(f"MFN did not converge (reason {reason}) for dt={dt:g}, mu={mu:g}; "
                           "try a smaller manybody.max_step or a larger -mfn_ncv")
        its = self.mfn.getIterationNumber()
        self.iterations += its
        counted = self._products() - before
        # an AIJ without PETSc logging: restarted Krylov makes ncv products per restart
        self.matvecs += counted if counted > 0 else its * self.mfn.getDimensions()
        self._tmp.copy(psi)

    def _products(self) -> int:
        """Products with H so far: python contexts count their own; for AIJ,
        PETSc's MatMult event count (0 unless logging is on; no other Mat is
        multiplied during a solve)."""
        ctx = self._H.getPythonContext() if self._shell else None
        if ctx is not None and hasattr(ctx, "mults"):
            return ctx.mults
        PETSc, _ = init_petsc()
        try:
            return int(PETSc.Log.Event("MatMult").getPerfInfo()["count"])
        except PETSc.Error:  # logging off
            return 0

    def destroy(self) -> None:
        self.mfn.destroy()
        if self._H is not self._A:
            self._H.destroy()
        self._tmp.destroy()
