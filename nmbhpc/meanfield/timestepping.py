"""PETSc TS set-up shared by the mean-field and cumulant solvers.

Output times are hit exactly with ``TSSetExactFinalTime(MATCHSTEP)`` and one
``TSSolve`` per output interval (``TSSetMaxTime(t_k)``): the adaptive
controller shortens at most one step per interval to land on ``t_k``, so the
recorded state has the integrator's full accuracy. ``INTERPOLATE`` would be
cheaper but uses the method's dense output, which is of lower order for most
RK pairs; PETSc 3.18 has no ``TSSetEvaluationTimes``.
"""
from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger("nmbhpc.meanfield.timestepping")

#: embedded pair used when the settings ask for "rk" (``-<prefix>ts_rk_type`` wins):
#: 8th order Verner pair, efficient at the default rtol 1e-10.
DEFAULT_RK_TYPE = "8vr"


class TSFailure(RuntimeError):
    """The time integrator did not reach an output time."""


def make_ts(PETSc, comm, rhs, x, settings, prefix: str, t0: float, dt0: float):
    """Create an adaptive TS for ``dx/dt = rhs(t, x)`` with options prefix ``prefix``.

    ``rhs(ts, t, X, F)`` is a petsc4py RHS callback. Defaults come from
    ``settings`` (a MeanFieldSettings); ``-<prefix>ts_type``,
    ``-<prefix>ts_rtol``, ``-<prefix>ts_atol``, ``-<prefix>ts_adapt_*`` override
    them through setFromOptions. Collective on ``comm``.
    """
    ts = PETSc.TS().create(comm=comm)
    ts.setOptionsPrefix(prefix)
    ts.setProblemType(PETSc.TS.ProblemType.NONLINEAR)
    ts.setType(settings.ts_type)
    if settings.ts_type == "rk":
        ts.setRKType(DEFAULT_RK_TYPE)
    ts.setRHSFunction(rhs, x.duplicate())
    ts.setTime(t0)
    ts.setTimeStep(dt0)
    ts.setTolerances(rtol=settings.rtol, atol=settings.atol)
    ts.setExactFinalTime(PETSc.TS.ExactFinalTime.MATCHSTEP)
    ts.setMaxSteps(2**31 - 1)
    ts.setFromOptions()
    return ts


def advance_to(PETSc, ts, x, t_out: float) -> None:
    """Integrate ``x`` in place up to exactly ``t_out``. Collective."""
    if t_out <= ts.getTime():
        return
    ts.setMaxTime(t_out)
    ts.solve(x)
    reason = ts.getConvergedReason()
    t = ts.getTime()
    if reason < 0 or not np.isclose(t, t_out, rtol=1e-12, atol=1e-12):
        raise TSFailure(f"TS stopped at t={t!r} before output time {t_out!r} (reason {reason})")


def describe_ts(ts) -> dict:
    """Type and tolerances actually in use (after setFromOptions)."""
    rtol, atol = ts.getTolerances()
    out = {"ts_type": ts.getType(), "ts_rtol": float(np.real(rtol)), "ts_atol": float(np.real(atol))}
    if ts.getType() == "rk":
        out["ts_rk_type"] = ts.getRKType()
    return out


class TSSolverState:
    """The part of the solver protocol (:mod:`nmbhpc.solvers`) that a solver
    driven by one PETSc TS shares: it holds ``self.ts``, the state Vec
    ``self.x`` and the RHS evaluation counter ``self.n_rhs``."""

    def destroy(self) -> None:
        """Free the TS and the state Vec; idempotent. Collective on the communicator
        they were created on."""
        for obj in (self.ts, self.x):
            obj.destroy()

    def work(self) -> tuple[str, int]:
        """``("RHS evaluations", count so far)``, for progress rates. Not collective."""
        return "RHS evaluations", int(self.n_rhs)

    @property
    def steps(self) -> int:
        """TS steps taken so far (progress reporting)."""
        return int(self.ts.getStepNumber())

    def static_datasets(self) -> dict:
        return {}

    # --- restart (``nmbhpc run --resume``) ------------------------------------
    def checkpoint_extras(self) -> dict:
        """TS step size and counters: restoring them makes a resumed run take the
        same adaptive steps as an uninterrupted one."""
        return {"dt": float(np.real(self.ts.getTimeStep())), "steps": self.steps,
                "n_rhs": int(self.n_rhs)}

    def _restore_ts(self, time: float, extras: dict | None) -> None:
        """Put the TS at ``time`` with the step size and counters of
        :meth:`checkpoint_extras` (absent keys: a fresh start at ``time``)."""
        self.ts.setTime(float(time))
        extras = extras or {}
        if "dt" in extras:
            self.ts.setTimeStep(float(extras["dt"]))
        self.ts.setStepNumber(int(extras.get("steps", 0)))
        self.n_rhs = int(extras.get("n_rhs", 0))
