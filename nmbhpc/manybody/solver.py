"""Exact many-body dynamics of H_MB: the ``manybody`` solver.

Pipeline (every step collective on ``comm``):

1. per-mode spin-coherent amplitudes of the initial state in the computational
   frame (z = -B) -> the sector range ``K = kmin..kmax`` it occupies;
2. :class:`SectorBasis` over that range; each rank unranks only its own
   contiguous row block;
3. ``D`` (vacuum, diagonal Vec) and ``A`` (interaction): a MATMPIAIJ assembled
   from those rows with exact preallocation, the same rows stored as real CSR
   in a MATSHELL (real_operator.py), a matrix-free MATSHELL, or one applied
   through the separable coupling factors (separable_operator.py)
   (``manybody.operator``; "auto" decides from the memory model, memory.py);
4. SLEPc MFN steps ``exp(-i (D + mu A) dt)`` with mu held at the midpoint of
   each sub-step (``MuSchedule.substeps``) and steps no longer than
   ``manybody.max_step``;
5. observables at each output time (``ObservableEvaluator``).
"""
from __future__ import annotations

import logging
import time as _time
import weakref

import numpy as np

from ..runtime_options import petsc_option_defaults
from ..schema import ConfigError
from ..model import ObservableRecord
from ..settings import RunConfig
from ..stack import init_petsc
from .basis import SectorBasis, sector_range_of
from .hamiltonian import interaction_matrix, local_rows, lowering_matrices, vacuum_diagonal
from . import memory
from .initial_state import coherent_amplitudes, product_state_local
from .observables import ObservableEvaluator
from .propagator import DEFAULT_NCV_EXPOKIT, Propagator
from .real_operator import real_stored_hamiltonian
from .separable_operator import separable_hamiltonian
from .spectral_propagator import SpectralPropagator, peak_vectors
from .shell_operator import separable_couplings, shell_hamiltonian

log = logging.getLogger("nmbhpc.manybody")


class ManyBodySolver:
    """Exact evolution of a :class:`~nmbhpc.model.Model` (see module docstring).

    Collective construction on the mpi4py communicator ``comm``.
    """

    name = "manybody"

    def __init__(self, config: RunConfig, comm):
        PETSc, _ = init_petsc()
        self.config = config
        self.comm = comm
        model = config.model
        settings = config.manybody
        t0 = _time.perf_counter()
        rot = model.flavor_rotation()
        pol_comp = model.initial_polarizations @ rot  # R^T P for each row
        # theta = pi/2 (inverted ordering) rotates +-z into +-z up to 1e-16 round-off,
        # which would otherwise spill sqrt(n) 1e-16 amplitudes into a neighbouring sector
        pol_comp[np.abs(pol_comp) < 1e-14] = 0.0
        pol_comp /= np.linalg.norm(pol_comp, axis=1)[:, None]
        self._amps = [coherent_amplitudes(int(m.n), pc) for m, pc in zip(model.modes, pol_comp)]
        kmin, kmax = sector_range_of(self._amps)
        if kmax > kmin and config.output.pair_correlations and kmax < model.n_total:
            # pair correlations need J^-_q psi, which reaches sector kmax + 1; with
            # several sectors J^- maps the basis into itself, so the basis must hold it
            kmax += 1
        self.basis = SectorBasis(model.counts, kmin, kmax)
        self.lo, self.hi = local_rows(self.basis, comm)
        self.configs = self.basis.configs(self.lo, self.hi)
        t_basis = _time.perf_counter() - t0

        N = model.n_total
        coup = model.couplings() / N
        multi_sector = kmax > kmin
        self.memory = memory.estimate(
            self.basis, self.hi - self.lo,
            memory.sampled_row_entries(self.configs, self.basis.counts, coup),
            # the spectral propagator holds its eigenvectors instead of a Krylov basis
            ncv=(peak_vectors() if settings.propagator == "spectral" else
                 settings.mfn_ncv or (DEFAULT_NCV_EXPOKIT if settings.mfn_type == "expokit" else 0)),
            mu_constant=model.mu.is_constant,
            n_lowering=self.basis.n_modes if multi_sector or config.output.pair_correlations else 0,
            comm=comm, int_bytes=np.dtype(PETSc.IntType).itemsize)
        factors, weights = separable_couplings(model, N, coup)
        self.operator = memory.choose_operator(
            # the spectral propagator factorizes H: it needs the AIJ matrix (config.py
            # refuses "real"/"shell" with it)
            "matrix" if settings.propagator == "spectral" else settings.operator, self.memory,
            order=(memory.AUTO_ORDER_SEPARABLE if weights.size <= memory.SEPARABLE_MAX_TERMS
                   else memory.AUTO_ORDER))
        log.info("%s -> operator %s", self.memory.summary(), self.operator)
        if (settings.propagator == "mfn" and settings.mfn_type == "expokit"
                and self.operator == "shell" and not PETSc.Options().hasName("mfn_type")):
            # "auto" chose the matrix-free operator (the config refuses an explicit "shell")
            raise ConfigError("manybody.mfn_type", "'expokit' needs MatNorm, which the matrix-free "
                              "operator \"shell\" (chosen by operator = \"auto\" to fit in memory) "
                              "lacks: use mfn_type = \"krylov\"", config.source_path)

        t0 = _time.perf_counter()
        self.D = vacuum_diagonal(self.basis, self.configs, model.omegas, comm)
        if self.operator == "real":
            self.A, self.nnz = real_stored_hamiltonian(self.basis, self.configs, self.lo, self.hi,
                                                       self.D, coup, comm)
        elif self.operator == "shell":
            self.A, self.nnz = shell_hamiltonian(self.basis, self.configs, self.lo, self.hi,
                                                 self.D, coup, factors, weights, comm)
        elif self.operator == "separable":
            self.A, self.nnz = separable_hamiltonian(self.basis, self.configs, self.lo, self.hi,
                                                     self.D, coup, factors, weights, comm)
        else:
            self.A, self.nnz = interaction_matrix(self.basis, self.configs, self.lo, self.hi,
                                                  coup, comm)
        t_assembly = _time.perf_counter() - t0

        self.psi = self.D.duplicate()
        self.psi.setArray(product_state_local(self._amps, self.configs))
        norm = self.psi.norm()
        self.psi.scale(1.0 / norm)

        lowering, same_space = None, False
        if multi_sector or config.output.pair_correlations:
            if multi_sector:
                target, tlo, thi, tcfg = self.basis, self.lo, self.hi, self.configs
                same_space = True
            else:
                target = SectorBasis(model.counts, min(kmin + 1, N), min(kmin + 1, N))
                tlo, thi = local_rows(target, comm)
                tcfg = target.configs(tlo, thi)
            lowering = lowering_matrices(self.basis, target, tcfg, tlo, thi, self.lo, self.hi, comm)
        self.observer = ObservableEvaluator(model.counts, self.configs, rot, lowering, same_space,
                                            config.output.pair_correlations, comm)
        if settings.propagator == "spectral":
            self.propagator = SpectralPropagator(self.A, self.D, self.psi,
                                                 float(model.mu(config.output.times[0])),
                                                 settings.mfn_tol, settings.spectral_max_nev)
        else:
            # config values are defaults: -mfn_type, -mfn_tol, -mfn_ncv on the command line win
            with petsc_option_defaults("", {"mfn_type": settings.mfn_type,
                                            "mfn_tol": settings.mfn_tol,
                                            "mfn_ncv": settings.mfn_ncv or None}):
                self.propagator = Propagator(self.A, self.D, model.mu.is_constant,
                                             settings.mfn_tol, settings.mfn_ncv)
        # A MATSHELL's python context holds Vecs and a VecScatter; left to the
        # garbage collector they would be destroyed after PetscFinalize/MPI_Finalize
        # and crash the interpreter at exit. weakref.finalize destroys them when the
        # solver is collected or, at the latest, in its atexit hook, which runs
        # before petsc4py's and mpi4py's (registered earlier, so called later).
        self._release = weakref.finalize(self, _destroy_petsc_objects,
                                         self.propagator, self.A, self.D, self.psi)
        self.timings = {"basis": t_basis, "assembly": t_assembly, "evolution": 0.0}
        self.steps = 0
        self.time = float(config.output.times[0])

    # --- protocol ----------------------------------------------------------
    def describe(self) -> dict:
        """Sizes and settings (same on all ranks). Collective."""
        local = self.hi - self.lo
        return {
            "solver": self.name,
            "basis_dim": self.basis.dim,
            "sector_k_min": self.basis.kmin,
            "sector_k_max": self.basis.kmax,
            "nnz": self.nnz,
            "operator": self.operator,
            "local_rows_min": self.comm.allreduce(local, op=_min_op()),
            "local_rows_max": self.comm.allreduce(local, op=_max_op()),
            "n_modes": self.basis.n_modes,
            "n_neutrinos": int(self.basis.counts.sum()),
            "basis_seconds": self.timings["basis"],
            "assembly_seconds": self.timings["assembly"],
            **getattr(self.propagator, "summary", {"propagator": "mfn"}),
        }

    def static_datasets(self) -> dict:
        return {"solver/sector_k_range": np.array([self.basis.kmin, self.basis.kmax]),
                "solver/basis_dim": np.array(self.basis.dim)}

    def records(self):
        """Yield one ObservableRecord per output time (the first is the initial state). Collective."""
        times = np.asarray(self.config.output.times, dtype=np.float64)
        schedule = self.config.model.mu
        max_step = self.config.manybody.max_step
        yield self._record(times[0])
        for t_next in times[1:]:
            t0 = _time.perf_counter()
            for start, dt, mu in schedule.substeps(self.time, float(t_next)):
                # the spectral propagator is exact for any dt: no sub-steps
                nsub = 1 if self.config.manybody.propagator == "spectral" else \
                    max(1, int(np.ceil(dt / max_step - 1e-12)))
                for _ in range(nsub):
                    self.propagator.step(self.psi, dt / nsub, mu)
                    self.steps += 1
            self.time = float(t_next)
            self.timings["evolution"] += _time.perf_counter() - t0
            yield self._record(self.time)

    def final_state(self):
        """(local amplitudes, offset, global shape) of the current state vector. Collective."""
        return self.psi.getArray(readonly=True).copy(), self.lo, (self.basis.dim,)

    # --- helpers -------------------------------------------------------------
    def _record(self, t: float) -> ObservableRecord:
        mu = float(self.config.model.mu(t))
        self.propagator.set_mu(mu)
        energy = self.propagator.energy(self.psi)
        return self.observer.evaluate(self.psi, t, mu, energy)

    def state_global(self) -> np.ndarray:
        """The current state on every rank, in basis order (small systems only). Collective."""
        PETSc, _ = init_petsc()
        scatter, full = PETSc.Scatter.toAll(self.psi)
        scatter.scatter(self.psi, full, PETSc.InsertMode.INSERT_VALUES, PETSc.ScatterMode.FORWARD)
        out = full.getArray(readonly=True).copy()
        scatter.destroy()
        full.destroy()
        return out

    def destroy(self) -> None:
        """Free the PETSc objects (collective; idempotent, also done at exit)."""
        self._release()

    # --- restart (``nmbhpc run --resume``, nmbhpc/commands/run.py) ------------
    def checkpoint_extras(self) -> dict:
        """Scalars a restart needs besides the state vector (same on every rank)."""
        return {"steps": int(self.steps)}

    def restore(self, local_state, time: float, extras: dict | None = None) -> None:
        """Continue from a checkpoint: ``local_state`` holds this rank's rows ``lo..hi``
        of the state at ``time`` (1/omega0). Not collective; build the solver with
        output times starting at ``time``."""
        local_state = np.asarray(local_state)
        if local_state.shape != (self.hi - self.lo,):
            raise ValueError(f"checkpoint block has shape {local_state.shape}, "
                             f"rank owns {self.hi - self.lo} rows")
        self.psi.setArray(local_state)
        self.time = float(time)
        self.steps = int((extras or {}).get("steps", 0))


def _min_op():
    from mpi4py import MPI

    return MPI.MIN


def _max_op():
    from mpi4py import MPI

    return MPI.MAX


def _destroy_petsc_objects(*objects) -> None:
    """Destroy PETSc objects in order (the propagator first: it references the operator)."""
    for obj in objects:
        obj.destroy()
