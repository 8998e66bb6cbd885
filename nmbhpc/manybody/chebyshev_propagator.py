"""exp(-i H dt) psi by a Chebyshev series, with few state-sized vectors.

For ``H = D + mu A`` (Eq. (1), eq1.py) with its spectrum inside ``[lo, hi]``,
``a = (hi + lo) / 2`` and ``b = (hi - lo) / 2`` (energies in omega0, dt in
1/omega0), ``H~ = (H - a) / b`` has its spectrum in [-1, 1] and

    exp(-i dt H) psi = sum_k c_k T_k(H~) psi,
    c_k = (2 - delta_k0) (-i)^k J_k(b dt) exp(-i a dt),

with the Chebyshev polynomials ``T_{k+1} = 2 H~ T_k - T_{k-1}`` and the Bessel
functions J_k (Tal-Ezer & Kosloff, J. Chem. Phys. 81, 3967 (1984)). As
``|T_k(x)| <= 1`` on [-1, 1], dropping the terms beyond K changes the result by at
most ``sum_{k>K} |c_k| ||psi||``; K is the smallest with that tail at most
``manybody.mfn_tol`` (a bound on the error of each exponential relative to
``||psi||``, not an estimate). K grows like ``b |dt| + O((b |dt|)^(1/3))``, so the
cost per unit time falls with dt: each (dt, mu) factor of the time integrator is
taken whole (solver.exponential_pieces ignores ``manybody.max_step``), and dt < 0
(cf6's backward factor) is the same series with ``J_k(-x) = (-1)^k J_k(x)``.

The interval must hold the whole spectrum, and is rigorous: by Weyl's inequality
``spectrum(D + mu A) in [min D + min(mu a_lo, mu a_hi), max D + max(mu a_lo, mu a_hi)]``
with ``[a_lo, a_hi]`` an interval of A's spectrum computed once per operator:
the python context's ``interaction_bounds()`` when it has one (Gershgorin
discs of A: the separable operator), else ``+-||A||_inf`` (an assembled AIJ: MatNorm
of A itself; a MATSHELL of ``D + mu A``: ``||D + A||_inf + max |D|``, triangle
inequality), which needs an exact MatNorm (operators.incompatibility
refuses the other kinds). A guard checks ``||T_k psi|| <= ||psi|| (1 + 1e-8)`` every
:data:`GUARD_EVERY` terms (one collective norm): a wrong interval makes T_k grow
exponentially and raises :class:`ChebyshevIntervalError` instead of returning a
wrong state.

Vectors: with the context's ``mult_add(x, y, alpha, beta)`` (``y <- alpha H x +
beta y``) the recurrence holds psi and two work vectors (T_k, and the
accumulator; T_{k+1} overwrites T_{k-1}, which starts as psi itself); without
it, one more for the product. energy() reuses a work vector.
"""
from __future__ import annotations

import logging
import time

import numpy as np
from scipy.special import jv

from ..pipeline.progress import format_duration
from ..runtime.stack import init_petsc
from .propagator import PropagatorBase

log = logging.getLogger(__name__)

#: seconds between two progress lines of one long exponential (rank 0, INFO)
PROGRESS_SECONDS = 60.0
#: terms between two checks of ||T_k psi|| (one collective norm each)
GUARD_EVERY = 8
#: relative growth of ||T_k psi|| over ||psi|| the guard allows (round-off only)
GUARD_GROWTH = 1e-8
#: the interval is widened by this fraction of its half width (and by as much of its
#: centre), so that eigenvalues on a Gershgorin end sit strictly inside [-1, 1]
PAD = 1e-10


def state_vectors(mult_add: bool = True) -> int:
    """Work vectors the propagator holds besides psi (2 with ``mult_add``, else 3)."""
    return 2 if mult_add else 3


class ChebyshevIntervalError(RuntimeError):
    """``||T_k(H~) psi||`` grew: the spectral interval does not contain H's spectrum."""


def coefficients(a: float, b: float, dt: float, tol: float) -> np.ndarray:
    """``c_0..c_K`` of ``exp(-i dt H)`` on ``[a - b, a + b]`` with ``sum_{k>K} |c_k| <= tol``.

    Local. ``K`` is the smallest such order; the tail is summed over the orders up to
    one where ``|J_k(b dt)|`` is below ``1e-6 tol`` (beyond ``|b dt|`` it falls faster
    than geometrically, so the rest is negligible).
    """
    x = b * dt
    ax = abs(x)
    n = int(ax + 12.0 * ax ** (1.0 / 3.0) + 40.0)
    while True:
        j = jv(np.arange(n + 1), x)
        if abs(j[-1]) < 1e-6 * tol and abs(j[-2]) < 1e-6 * tol:
            break
        n *= 2
    j[1:] *= 2.0
    # tail[m] = sum_{k >= m} |c_k|: K + 1 is the first m with tail[m] <= tol
    tail = np.cumsum(np.abs(j[::-1]))[::-1]
    K = max(int(np.argmax(tail <= tol)) - 1, 0)
    k = np.arange(K + 1)
    return j[:K + 1] * np.array([1.0, -1j, -1.0, 1j])[k % 4] * np.exp(-1j * a * dt)


class ChebyshevPropagator(PropagatorBase):
    """Applies ``exp(-i (D + mu A) dt)`` by a Chebyshev series (see the module docstring).

    ``A``: the operator of operators.KINDS (an assembled AIJ of A, or a MATSHELL of
    ``D + mu A`` whose python context takes mu), ``D`` the vacuum Vec, ``tol``
    ``manybody.mfn_tol``, ``bounds`` an interval ``(a_lo, a_hi)`` of A's spectrum
    to use instead of the computed one (tests). Collective on A's communicator.

    ``matvecs`` counts the products with H (K per exponential), ``iterations`` the
    exponentials applied; :attr:`bounds` the interval of A (logged with where it came
    from: "gershgorin", "norm" or "given").
    """

    def __init__(self, A, D, mu_constant: bool, tol: float, bounds=None):
        PETSc, _ = init_petsc()
        self._shell = A.getType() == PETSc.Mat.Type.PYTHON
        ctx = A.getPythonContext() if self._shell else None
        self._mult_add = getattr(ctx, "mult_add", None)
        self.tol = float(tol)
        self._comm = A.getComm().tompi4py()
        # D is None when the solver freed it (operators.OperatorKind.keeps_rows): the
        # MATSHELL's context holds D's local values
        d = ctx.vacuum if D is None else D.getArray(readonly=True).real
        self._d_lo = self._comm.allreduce(float(d.min(initial=np.inf)), op=_mpi("MIN"))
        self._d_hi = self._comm.allreduce(float(d.max(initial=-np.inf)), op=_mpi("MAX"))
        self._ctx = ctx
        self._bounds = None
        if bounds is not None:
            self._bounds = (float(bounds[0]), float(bounds[1]), "given")
        # psi + these: T_k, the accumulator (and H T_k without mult_add)
        template = A.createVecRight() if D is None else D
        self._work = [template.duplicate() for _ in range(state_vectors(self._mult_add is not None))]
        if D is None:
            template.destroy()
        self._A, self._D = A, D
        self._H = A if mu_constant or self._shell else A.duplicate(copy=True)
        self._mu = None
        self.matvecs = 0
        self.iterations = 0
        self._tmp = self._work[0]

    @property
    def bounds(self) -> tuple[float, float]:
        """``(a_lo, a_hi)``, an interval of A's spectrum; computed by the first step
        (a propagator that only takes energies never pays for it). Collective the
        first time."""
        if self._bounds is None:
            self._bounds = self._interaction_bounds(self._A, self._ctx)
            log.info("chebyshev propagator: spectrum of A in [%.6g, %.6g] (%s), D in "
                     "[%.6g, %.6g], %d work vectors, tol %g", *self._bounds, self._d_lo,
                     self._d_hi, len(self._work), self.tol)
        return self._bounds[:2]

    def known_bounds(self):
        """``(a_lo, a_hi)`` if computed or given, else None (to hand to the next
        propagator of the same operator). Local."""
        return None if self._bounds is None else self._bounds[:2]

    #: what describe() reports (the interval is logged when it is computed: a run's
    #: header is written before the first step)
    summary = {"propagator": "chebyshev"}

    def _interaction_bounds(self, A, ctx):
        """``(a_lo, a_hi, source)``: an interval of A's spectrum. Collective."""
        PETSc, _ = init_petsc()
        if ctx is not None and hasattr(ctx, "interaction_bounds"):
            a_lo, a_hi = ctx.interaction_bounds()
            return float(a_lo), float(a_hi), "gershgorin"
        inf = PETSc.NormType.INFINITY
        if not self._shell:
            r = float(A.norm(inf))
            return -r, r, "norm"
        if not (hasattr(ctx, "norm") and hasattr(ctx, "set_mu")):
            raise ValueError("manybody.propagator = \"chebyshev\" needs an interval of A's "
                             "spectrum: the operator has neither interaction_bounds() nor an "
                             "exact MatNorm")
        # ||A|| <= ||D + 1 A|| + ||D|| (the context may hold another mu: restored after)
        mu_was = ctx.mu
        ctx.set_mu(1.0)
        try:
            r = float(A.norm(inf)) + max(abs(self._d_lo), abs(self._d_hi))
        finally:
            ctx.set_mu(mu_was)
        return -r, r, "norm"

    def interval(self, mu: float) -> tuple[float, float]:
        """``(lo, hi)`` holding the spectrum of ``D + mu A`` (Weyl). Local once
        :attr:`bounds` is known."""
        a_lo, a_hi = self.bounds
        lo = self._d_lo + min(mu * a_lo, mu * a_hi)
        hi = self._d_hi + max(mu * a_lo, mu * a_hi)
        return lo, hi

    def set_mu(self, mu: float) -> None:
        """Make the operator ``D + mu A``. Collective."""
        if mu != self._mu:
            self._make_mu(mu)

    def step(self, psi, dt: float, mu: float) -> None:
        """psi <- exp(-i H(mu) dt) psi, to ``tol ||psi||``. Collective.

        Raises :class:`ChebyshevIntervalError` (psi is then lost) when ``||T_k psi||``
        outgrows ``||psi||``.
        """
        self.set_mu(mu)
        lo, hi = self.interval(mu)
        a = 0.5 * (hi + lo)
        b = 0.5 * (hi - lo) * (1.0 + PAD) + PAD * abs(a)
        self.iterations += 1
        if b == 0.0:
            psi.scale(np.exp(-1j * a * dt))
            return
        c = coefficients(a, b, dt, self.tol)
        acc, cur = self._work[0], self._work[1]
        pnorm = psi.norm()
        limit = pnorm * (1.0 + GUARD_GROWTH)
        # T_0 = psi, T_1 = (H - a) psi / b
        acc.set(0.0)
        acc.axpy(c[0], psi)
        if len(c) > 1:
            cur.set(0.0)
            self._apply(psi, cur, 1.0 / b, -a / b, 0.0)
            acc.axpy(c[1], cur)
        prev = psi
        started = last = time.perf_counter()
        for k in range(2, len(c)):
            now = time.perf_counter()
            if now - last >= PROGRESS_SECONDS:
                last = now
                rate = (k - 1) / (now - started)
                log.info("chebyshev term %d/%d of exp(-i H dt), dt = %.6g, mu = %.6g: %.3g "
                         "products/s, ETA %s", k, len(c) - 1, dt, mu, rate,
                         format_duration((len(c) - k) / rate))
            # T_{k+1} = 2 (H - a) T_k / b - T_{k-1}, into T_{k-1}'s vector
            self._apply(cur, prev, 2.0 / b, -2.0 * a / b, -1.0)
            prev, cur = cur, prev
            acc.axpy(c[k], cur)
            if k % GUARD_EVERY == 0 or k == len(c) - 1:
                grown = cur.norm()
                if not grown <= limit:  # NaN too
                    raise ChebyshevIntervalError(
                        f"manybody.propagator = \"chebyshev\": ||T_{k}(H~) psi|| = {grown:.6g} "
                        f"> ||psi|| = {pnorm:.6g}: H(mu = {mu:g}) has eigenvalues outside the "
                        f"interval [{lo:.9g}, {hi:.9g}]; the state is lost")
        self.matvecs += len(c) - 1
        acc.copy(psi)

    def _apply(self, x, y, alpha: float, shift: float, beta: float = 1.0) -> None:
        """``y <- alpha H x + shift x + beta y`` (``y != x``). Collective."""
        if self._mult_add is not None:
            self._mult_add(x, y, alpha, beta)
            y.axpy(shift, x)
            return
        hx = self._work[2]
        self._H.mult(x, hx)
        y.axpby(alpha, beta, hx)
        y.axpy(shift, x)

    def destroy(self) -> None:
        if self._H is not self._A:
            self._H.destroy()
        for v in self._work:
            v.destroy()
        self._work = []
        # the operator's context (ladder maps, diagonals, ghost spans) must not outlive
        # A: one sector at a time builds the next sector while this object still exists
        self._ctx = self._mult_add = None


def _mpi(name: str):
    from mpi4py import MPI

    return getattr(MPI, name)
