"""Mean-field solver (Eq. (5) applied to H_MB) on a distributed PETSc TS.

State: a PETSc Vec of ``3M`` reals (``S_p^a = <J_p^a>``, flavor frame,
index ``3p + a``; stored as complex scalars with zero imaginary part because
the PETSc build is complex), distributed over ranks by whole modes
(block size 3). Each right-hand-side evaluation needs the global coupling
moments of :class:`~nmbhpc.meanfield.equations.SeparableCoupling`: one
``MPI_Allreduce`` of 3 (single-angle) or 12 (multi-angle) numbers, so the cost
is O(M / ranks) per evaluation. Options prefix ``mf_`` (``-mf_ts_type``,
``-mf_ts_rtol``, ``-mf_ts_rk_type`` ...).
"""
from __future__ import annotations

import logging

import numpy as np

from ..runtime.stack import init_petsc
from .equations import SpinEquations
from .records import make_record, mode_partition
from .timestepping import TSSolverState, advance_to, describe_ts, make_ts

log = logging.getLogger("nmbhpc.meanfield.solver")


class MeanFieldSolver(TSSolverState):
    """Classical spin vectors per mode; see the module docstring. Collective on ``comm``."""

    options_prefix = "mf_"

    def __init__(self, config, comm, initial_spins: np.ndarray | None = None):
        """``initial_spins[M, 3]`` (flavor frame, ``S = j P``) overrides the model's
        initial polarisations (used to seed perturbations)."""
        self.PETSc, _ = init_petsc([])
        self.config = config
        self.model = config.model
        self.comm = comm
        self.times = np.asarray(config.output.times, dtype=np.float64)
        m = self.model.n_modes
        self.rows = mode_partition(m, comm.Get_size(), comm.Get_rank())
        self.eq = SpinEquations(self.model, self.rows)
        self.n_local = self.rows.stop - self.rows.start
        self._counts = np.array(comm.allgather(3 * self.n_local))
        self._displs = np.concatenate([[0], np.cumsum(self._counts)[:-1]])

        PETSc = self.PETSc
        self.x = PETSc.Vec().createMPI((3 * self.n_local, 3 * m), bsize=3, comm=comm)
        s0 = self.eq.initial_spins() if initial_spins is None else \
            np.asarray(initial_spins, dtype=np.float64)[self.rows]
        self.x.getArray()[:] = s0.ravel()
        self.x.assemble()
        self.n_rhs = 0
        omega_max = comm.allreduce(float(np.max(np.abs(self.eq.omega), initial=0.0)), op=_max_op())
        self._omega_max = omega_max
        rate = omega_max + np.max(np.abs(self.model.mu(self.times))) * \
            max(1.0, abs(self.model.single_angle_factor)) * 2.0
        dt0 = min(0.01 / max(rate, 1e-300), max(np.diff(self.times), default=1.0))
        self.ts = make_ts(PETSc, comm, self._rhs, self.x, config.meanfield,
                          self.options_prefix, float(self.times[0]), float(dt0))

    # --- kernels -------------------------------------------------------------
    def _global_moments(self, s: np.ndarray) -> np.ndarray:
        local = self.eq.coupling.local_moments(s)
        out = np.empty_like(local)
        self.comm.Allreduce(np.ascontiguousarray(local), out)
        return out

    def _rhs(self, ts, t, x, f) -> None:
        s = x.getArray(readonly=True).real.reshape(-1, 3)
        ds = self.eq.rhs(float(np.real(t)), s, self._global_moments(s))
        f.getArray()[:] = ds.ravel()
        self.n_rhs += 1

    def local_spins(self) -> np.ndarray:
        """``S_p`` of the local modes, float64[m_local, 3]."""
        return self.x.getArray(readonly=True).real.reshape(-1, 3).copy()

    def _gather(self, local: np.ndarray) -> np.ndarray:
        out = np.empty(3 * self.model.n_modes)
        self.comm.Allgatherv(np.ascontiguousarray(local.ravel()), [out, self._counts, self._displs, _double()])
        return out.reshape(-1, 3)

    # --- protocol ----------------------------------------------------------------
    def describe(self) -> dict:
        info = {"solver": "meanfield", "n_modes": self.model.n_modes, "n_total": self.model.n_total,
                "state_size": 3 * self.model.n_modes, "mpi_size": self.comm.Get_size(),
                "options_prefix": self.options_prefix}
        info.update(describe_ts(self.ts))
        return info

    def record_now(self, t: float):
        """ObservableRecord of the current state at time ``t``. Collective."""
        s = self.local_spins()
        mom = self._global_moments(s)
        e, bj = self.comm.allreduce(np.array([self.eq.local_energy(t, s, mom), self.eq.local_b_dot_j(s)]))
        spins = self._gather(s)
        j = 0.5 * self.model.counts
        pair = np.diag(j) if self.config.output.pair_correlations else None  # product of coherent states
        return make_record(t, spins / j[:, None], e, bj, self.model.mu(t), pair)

    def records(self):
        """Yield one ObservableRecord per output time. Collective."""
        first = None
        for t in self.times:
            advance_to(self.PETSc, self.ts, self.x, float(t))
            rec = self.record_now(float(t))
            if first is None:
                first = rec
            log.debug("t=%.6g  E=%.15g  B.J=%.15g  steps=%d", t, rec.energy, rec.b_dot_j,
                      self.ts.getStepNumber())
            yield rec
        if first is not None and self.model.mu.is_constant:
            # Drifts relative to the natural scales, not to the initial values,
            # which vanish for split spectra (B.J = 0) and near energy zero.
            j_total = 0.5 * float(np.sum(self.model.counts))
            e_scale = max(abs(first.energy), j_total * self._omega_max)
            log.info("mean field: %d RHS evaluations; drift of the conserved quantities: "
                     "energy %.2e (relative to %.3g), B.J %.2e (relative to the total spin "
                     "length %.3g)", self.n_rhs,
                     abs(rec.energy - first.energy) / e_scale if e_scale > 0 else 0.0, e_scale,
                     abs(rec.b_dot_j - first.b_dot_j) / j_total, j_total)

    def final_state(self):
        """``(S_local[m_local, 3], first_mode, (M, 3))``, flavor-frame ``<J_p>``. Collective."""
        return self.local_spins(), self.rows.start, (self.model.n_modes, 3)

    # --- restart (``nmbhpc run --resume``) ------------------------------------
    def restore(self, local_spins, time: float, extras: dict | None = None) -> None:
        """Continue from a checkpoint: ``local_spins[m_local, 3]`` (flavor-frame
        ``<J_p>``) at ``time``. Not collective; build the solver with output times
        starting at ``time``."""
        local_spins = np.asarray(local_spins, dtype=np.float64)
        if local_spins.shape != (self.n_local, 3):
            raise ValueError(f"checkpoint block has shape {local_spins.shape}, "
                             f"rank owns {self.n_local} modes")
        self.x.getArray()[:] = local_spins.ravel()
        self._restore_ts(time, extras)


def _max_op():
    from mpi4py import MPI

    return MPI.MAX


def _double():
    from mpi4py import MPI

    return MPI.DOUBLE
