"""Truncated Wigner approximation (TWA): classical trajectories from quantum noise.

Each trajectory starts from spins ``S_p`` drawn from a Gaussian approximation
of the Wigner function of mode p's spin-coherent state along its initial
polarisation ``n_p``:

    S_p = j_p n_p + sqrt(j_p / 2) (xi_1 e_1 + xi_2 e_2),   xi ~ N(0, 1),

with ``(e_1, e_2, n_p)`` orthonormal. This reproduces the coherent state's
exact first and (symmetrically ordered) second moments for every j:
``<J^a> = j n^a`` and ``<{dJ^a, dJ^b}>/2 = (j/2)(delta_ab - n^a n^b)``,
hence ``<J^2>_W = j(j+1)``; it is the large-j limit of the exact spin Wigner
function, which is what TWA is used for here (collective modes, N up to 1e5+).
For j = 1/2 the discrete (DTWA) phase space would be an alternative; the
Gaussian keeps one sampling rule for all modes.

Each sample follows the mean-field equations (:mod:`.equations`); averages
over samples estimate symmetrically ordered expectation values. Since H has
no same-mode quadratic terms, the Weyl symbol of H is the classical energy,
so ``energy`` is the exact ``<H>`` estimator; pair correlations are the
sample covariances ``<S_p.S_q> - <S_p>.<S_q>`` (diagonal: ``<J_p^2> - <J_p>^2``).

Parallelism and reproducibility: samples are split into contiguous blocks
over ranks; sample ``i`` draws its noise from
``numpy.random.default_rng(SeedSequence(seed, spawn_key=(i,)))`` (the i-th
child of ``SeedSequence(seed).spawn``), so every trajectory, and hence every
average, is independent of the rank count (up to the summation order of the
final allreduce). Trajectories are integrated together, vectorised over the
local samples, by classical RK4 with a fixed step: ``n`` equal sub-steps per
output interval with ``nu_max * dt <= step_phase`` (default 0.02, option
``-twa_step_phase``), where ``nu_max = max|omega_p| + max|mu| * max c / 2``
bounds the precession frequency; a fixed step (rather than an adaptive one,
whose error norm would couple the samples of a batch) keeps each trajectory
independent of which samples share its batch. The local RK4 error is
``~ (nu dt)^5 / 120`` per step, ~1e-9 per radian of precession at the default.

Restart (``nmbhpc run --resume``): a checkpoint holds exactly what the rest of
the run depends on, none of it tied to the rank count: every sample's spins
``[n_samples, M, 3]`` (row-distributed by sample, any partition can read
them), the RK4 step count and the per-output standard errors recorded so far
(the ``twa/polarization_stderr`` accumulator). Nothing random is left to
redraw: the noise is used only at t = 0.
"""
from __future__ import annotations

import logging

import numpy as np

from ..runtime.stack import init_petsc
from .equations import SpinEquations
from .records import make_record, mode_partition

log = logging.getLogger("nmbhpc.meanfield.twa")

DEFAULT_STEP_PHASE = 0.02


def transverse_basis(n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Orthonormal ``e1, e2`` [M, 3] with ``(e1, e2, n)`` right-handed, for unit ``n[M, 3]``."""
    ref = np.where(np.abs(n[:, 2:3]) < 0.9, [[0.0, 0.0, 1.0]], [[1.0, 0.0, 0.0]])
    e1 = np.cross(ref, n)
    e1 /= np.linalg.norm(e1, axis=1)[:, None]
    return e1, np.cross(n, e1)


def sample_initial_spins(model, seed: int, first: int, count: int) -> np.ndarray:
    """Initial spins of samples ``first .. first+count-1``: float64[count, M, 3] (flavor frame)."""
    pol = model.initial_polarizations
    n = pol / np.linalg.norm(pol, axis=1)[:, None]
    j = 0.5 * model.counts.astype(np.float64)
    e1, e2 = transverse_basis(n)
    xi = np.empty((count, model.n_modes, 2))
    for k in range(count):
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(first + k,))))
        xi[k] = rng.standard_normal((model.n_modes, 2))
    width = np.sqrt(0.5 * j)[:, None]
    return j[:, None] * n + width * (xi[..., 0:1] * e1 + xi[..., 1:2] * e2)


class TWASolver:
    """Truncated-Wigner averages per output time. Collective on ``comm``.

    Settings: ``config.meanfield.twa_samples`` trajectories, ``seed``.
    PETSc options prefix ``twa_`` (``-twa_step_phase``).
    """

    options_prefix = "twa_"

    def __init__(self, config, comm):
        PETSc, _ = init_petsc([])
        self.config = config
        self.model = config.model
        self.comm = comm
        self.times = np.asarray(config.output.times, dtype=np.float64)
        self.n_samples = int(config.meanfield.twa_samples)
        if self.n_samples < 2:
            raise ValueError("TWA needs at least 2 samples for standard errors")
        self.seed = int(config.meanfield.seed)
        self.samples = mode_partition(self.n_samples, comm.Get_size(), comm.Get_rank())
        self.step_phase = PETSc.Options(self.options_prefix).getReal("step_phase", DEFAULT_STEP_PHASE)
        self.eq = SpinEquations(self.model)
        c = self.model.couplings()
        self.c_max = float(np.max(np.abs(c), initial=0.0))
        self.spins = sample_initial_spins(self.model, self.seed, self.samples.start,
                                          self.samples.stop - self.samples.start)
        self.j = 0.5 * self.model.counts.astype(np.float64)
        self.stderr_history: list[np.ndarray] = []
        self.n_steps = 0

    def destroy(self) -> None:
        """Nothing to free: the trajectories are numpy arrays (protocol of :mod:`nmbhpc.solvers`)."""

    # --- integration -----------------------------------------------------------
    def _rhs(self, t: float, s: np.ndarray) -> np.ndarray:
        return self.eq.rhs(t, s, self.eq.coupling.local_moments(s))

    def _substeps(self, t0: float, t1: float) -> int:
        mu_max = float(np.max(np.abs(self.model.mu(np.linspace(t0, t1, 33)))))
        nu = float(np.max(np.abs(self.eq.omega), initial=0.0)) + 0.5 * mu_max * self.c_max
        return max(1, int(np.ceil((t1 - t0) * nu / self.step_phase)))

    def _advance(self, t0: float, t1: float) -> None:
        if t1 <= t0:
            return
        n = self._substeps(t0, t1)
        h = (t1 - t0) / n
        s = self.spins
        for k in range(n):
            t = t0 + k * h
            k1 = self._rhs(t, s)
            k2 = self._rhs(t + 0.5 * h, s + (0.5 * h) * k1)
            k3 = self._rhs(t + 0.5 * h, s + (0.5 * h) * k2)
            k4 = self._rhs(t + h, s + h * k3)
            s = s + (h / 6.0) * (k1 + 2.0 * (k2 + k3) + k4)
        self.spins = s
        self.n_steps += n

    # --- statistics -------------------------------------------------------------
    def _averages(self, t: float):
        """Global sample means and standard errors at the current state. Collective."""
        s = self.spins
        mom = self.eq.coupling.local_moments(s)
        m = self.model.n_modes
        pair = self.config.output.pair_correlations
        parts = [s.sum(axis=0).ravel(), (s * s).sum(axis=0).ravel(),
                 [self.eq.local_energy(t, s, mom).sum(), self.eq.local_b_dot_j(s).sum()]]
        if pair:
            parts.append(np.einsum("kpa,kqa->pq", s, s).ravel())
        local = np.concatenate([np.ravel(p) for p in parts])
        tot = np.empty_like(local)
        self.comm.Allreduce(local, tot)
        n = self.n_samples
        mean = tot[:3 * m].reshape(m, 3) / n
        second = tot[3 * m:6 * m].reshape(m, 3) / n
        energy, bdj = tot[6 * m:6 * m + 2] / n
        var = np.maximum(second - mean ** 2, 0.0) * n / (n - 1)
        stderr = np.sqrt(var / n) / self.j[:, None]
        corr = None
        if pair:
            ss = tot[6 * m + 2:].reshape(m, m) / n
            corr = ss - mean @ mean.T
        return mean, stderr, energy, bdj, corr

    # --- protocol ------------------------------------------------------------------
    def describe(self) -> dict:
        return {"solver": "twa", "n_modes": self.model.n_modes, "n_total": self.model.n_total,
                "twa_samples": self.n_samples, "seed": self.seed, "mpi_size": self.comm.Get_size(),
                "integrator": "rk4-fixed", "step_phase": self.step_phase,
                "sampling": "gaussian-coherent", "options_prefix": self.options_prefix}

    def records(self):
        """Yield one ObservableRecord per output time (sample means). Collective.

        Standard errors of the polarisation means accumulate in ``stderr_history``.
        """
        t_prev = float(self.times[0])
        for t in self.times:
            self._advance(t_prev, float(t))
            t_prev = float(t)
            mean, stderr, energy, bdj, corr = self._averages(float(t))
            self.stderr_history.append(stderr)
            yield make_record(t, mean / self.j[:, None], energy, bdj, self.model.mu(float(t)), corr)
        log.info("TWA: %d samples, %d RK4 steps", self.n_samples, self.n_steps)

    @property
    def polarization_stderr(self) -> np.ndarray:
        """Standard errors of the recorded polarisations so far, float64[T_done, M, 3]."""
        return np.array(self.stderr_history).reshape(-1, self.model.n_modes, 3)

    def work(self) -> tuple[str, int]:
        """``("RK4 steps", count so far)`` (every sample advances in each), for progress
        rates. Not collective."""
        return "RK4 steps", int(self.n_steps)

    @property
    def steps(self) -> int:
        """RK4 steps taken so far (progress reporting)."""
        return self.n_steps

    def static_datasets(self) -> dict:
        """Standard errors of the recorded polarisations, ``twa/polarization_stderr[T, M, 3]``.

        Only filled once records() has been exhausted; empty before (the
        standard errors are not part of ObservableRecord).
        """
        if not self.stderr_history:
            return {}
        return {"twa/polarization_stderr": self.polarization_stderr}

    def final_state(self):
        """``(spins[n_local, M, 3], first_sample, (n_samples, M, 3))``: every trajectory's
        flavor-frame spins, row-distributed by sample. Not collective."""
        return self.spins, self.samples.start, (self.n_samples, self.model.n_modes, 3)

    # --- restart (``nmbhpc run --resume``) ------------------------------------
    def checkpoint_extras(self) -> dict:
        """RK4 step count and the standard errors of every output so far ``[T_done, M, 3]``
        (identical on every rank)."""
        return {"steps": int(self.n_steps), "polarization_stderr": self.polarization_stderr}

    def restore(self, local_spins, time: float, extras: dict | None = None) -> None:
        """Continue from a checkpoint at ``time`` (the first of this solver's output
        times): ``local_spins`` is this rank's block of :meth:`final_state`. The
        record at ``time`` is recomputed by :meth:`records`, so its standard error
        is dropped from the restored history. Not collective."""
        local_spins = np.asarray(local_spins, dtype=np.float64)
        shape = (self.samples.stop - self.samples.start, self.model.n_modes, 3)
        if local_spins.shape != shape:
            raise ValueError(f"checkpoint block has shape {local_spins.shape}, rank owns {shape}")
        if not np.isclose(time, self.times[0], rtol=1e-13, atol=1e-13):
            raise ValueError(f"checkpoint time {time!r} is not the first output time "
                             f"{self.times[0]!r}")
        extras = extras or {}
        self.spins = local_spins.copy()
        self.n_steps = int(extras.get("steps", 0))
        history = np.asarray(extras.get("polarization_stderr", np.empty((1, self.model.n_modes, 3))))
        self.stderr_history = list(history[:-1])
