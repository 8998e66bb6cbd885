"""Exact many-body dynamics of H_MB: the ``manybody`` solver.

:meth:`ManyBodySolver.check` refuses settings that cannot run (operator kind
vs. propagator, basis size vs. PETSc indices and memory) before anything is
allocated; the constructor calls it first. Pipeline (every step collective on
``comm``):

1. per-mode spin-coherent amplitudes of the initial state in the computational
   frame (z = -B) -> the sector range ``K = kmin..kmax`` it occupies;
2. :class:`SectorBasis` over that range; each rank unranks only its own
   contiguous row block;
3. ``D`` (vacuum, diagonal Vec) and ``A`` (interaction) of Eq. (1) (eq1.py):
   one of the operator kinds of operators.py (``manybody.operator``: a
   MATMPIAIJ, real CSR in a MATSHELL, matrix-free, or through the separable
   coupling factors; "auto" decides from the memory model, memory.py, among
   the kinds the propagator settings allow);
4. SLEPc MFN (or the Chebyshev series, ``manybody.propagator``) steps ``exp(-i (D + mu A) dt)``: the factors of the time
   integrator ``manybody.time_integrator`` for mu(t) (``MuSchedule.exponentials``:
   commutator-free Magnus schemes of order 6, 4 or the exponential midpoint
   rule, on steps that follow mu(t) (``manybody.time_step_tol``) no longer
   than ``model.schedule.max_step``), each split into pieces no longer than
   ``manybody.max_step``;
5. observables at each output time (``ObservableEvaluator``).

A state over several sectors evolves either in that one basis or, with
``manybody.sectors`` "one_at_a_time" (or "auto" when the whole basis would
not fit), one sector at a time (:class:`~nmbhpc.manybody.sectors.SectorSolver`),
with the same protocol and records; :class:`nmbhpc.manybody.engine.ManyBody`,
the class the solver registry names, picks one of the two.
"""
from __future__ import annotations

import logging
import time as _time
import weakref

import numpy as np

from ..runtime.petsc_options import petsc_option_defaults
from ..errors import SettingsError
from ..physics.model import ObservableRecord
from ..settings import RunConfig
from ..runtime.stack import init_petsc
from . import memory, operators
from .basis import LocalRows, SectorBasis, sector_dimension, sector_range_of, table_bytes
from .hamiltonian import local_rows, lowering_matrices, vacuum_diagonal
from .initial_state import coherent_amplitudes, product_state_local
from .observables import ObservableEvaluator
from .chebyshev_propagator import ChebyshevPropagator, state_vectors
from .propagator import DEFAULT_NCV_EXPOKIT, Propagator
from .shell_operator import separable_couplings
from .spectral_propagator import SpectralPropagator, peak_vectors

log = logging.getLogger(__name__)


class ManyBodySolver:
    """Exact evolution of a :class:`~nmbhpc.physics.model.Model` (see module docstring).

    Collective construction on the mpi4py communicator ``comm``.
    """

    name = "manybody"

    def __init__(self, config: RunConfig, comm):
        PETSc, _ = init_petsc()
        self.check(config, comm)
        self.config = config
        self.comm = comm
        model = config.model
        settings = config.manybody
        t0 = _time.perf_counter()
        rot, self._amps, kmin, kmax = _initial_sectors(config)
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
            kinds=operators.memory_models(), ncv=_krylov_vectors(settings),
            vectors=_propagator_vectors(settings), mu_constant=model.mu.is_constant,
            n_lowering=self.basis.n_modes if multi_sector or config.output.pair_correlations else 0,
            comm=comm, int_bytes=np.dtype(PETSc.IntType).itemsize)
        factors, weights = separable_couplings(model, N, coup)
        self.operator = memory.choose_operator(
            settings.operator, self.memory,
            operators.auto_order(weights.size, settings.propagator, _mfn_type(settings)))
        log.info("%s -> operator %s", self.memory.summary(), self.operator)

        t0 = _time.perf_counter()
        self.D = vacuum_diagonal(self.basis, self.configs, model.omegas, comm)
        self.A, self.nnz = operators.KINDS[self.operator].build(operators.OperatorProblem(
            self.basis, self.configs, self.lo, self.hi, self.D, coup, factors, weights, comm))
        t_assembly = _time.perf_counter() - t0

        self.psi = self.D.duplicate()
        with self.psi as local:
            product_state_local(self._amps, self.configs, out=local)
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
        if not operators.KINDS[self.operator].keeps_rows:
            # the operator unranks its rows itself: what only the build needed goes
            # before the propagator's vectors exist (N = 30 on 2 ranks: 2.3 GB of
            # configurations and 1.2 GB of D per rank)
            self.configs = LocalRows(self.basis, self.lo, self.hi)
            self.observer.configs = self.configs
            self.D.destroy()
            self.D = None
        if settings.propagator == "spectral":
            self.propagator = SpectralPropagator(self.A, self.D, self.psi,
                                                 float(model.mu(config.output.times[0])),
                                                 settings.mfn_tol, settings.spectral_max_nev)
        else:
            self.propagator = series_propagator(self.A, self.D, config)
        # A MATSHELL's python context holds Vecs and a VecScatter; left to the
        # garbage collector they would be destroyed after PetscFinalize/MPI_Finalize
        # and crash the interpreter at exit. weakref.finalize destroys them when the
        # solver is collected or, at the latest, in its atexit hook, which runs
        # before petsc4py's and mpi4py's (registered earlier, so called later).
        self._release = weakref.finalize(self, _destroy_petsc_objects, self.propagator,
                                         self.observer, self.A, self.D, self.psi)
        self.timings = {"basis": t_basis, "assembly": t_assembly, "evolution": 0.0}
        self.steps = 0
        self.time = float(config.output.times[0])

    # --- protocol ----------------------------------------------------------
    @classmethod
    def check(cls, config: RunConfig, comm=None) -> None:
        """Refuse settings this engine cannot run, before any work. Collective on ``comm``
        (the mpi4py communicator of the run; None: this process alone).

        Cheap: no PETSc object, no basis states (only the sector dimensions, from
        O(M kmax) tables). Raises :class:`~nmbhpc.errors.SettingsError` with a
        one-line message when

        * ``manybody.operator`` cannot run with the propagator settings in effect
          (``-mfn_type`` on the command line wins over ``manybody.mfn_type``):
          expokit needs MatNorm, the spectral propagator an assembled AIJ
          (operators.incompatibility);
        * the basis has 2^31 states or more on a PETSc build with 32-bit indices,
          or 2^62 or more;
        * even the smallest operator kind the settings allow needs more memory
          per node than the node has available (memory.py; a lower bound: the
          solver's own estimate, once the rows exist, may still refuse).

        The sector-by-sector engine has its own limits
        (:func:`nmbhpc.manybody.sectors.check_sectors`; :class:`nmbhpc.manybody.engine.ManyBody`
        picks the check that applies).
        """
        PETSc, _ = init_petsc()
        settings = config.manybody
        check_operator(config)
        model = config.model
        _, _, kmin, kmax = _initial_sectors(config)
        per_node, avail = _node_share(comm)
        tables = table_bytes(model.n_modes, kmax)
        if avail > 0 and tables > memory.SAFETY * avail:
            raise SettingsError("model", f"the rank tables of the sector basis ({model.n_modes} "
                                f"modes, up to {kmax} down quanta) would take "
                                f"{tables / 2**30:.3g} GiB and {avail / 2**30:.3g} GiB is "
                                "available", config.source_path)
        dim = sector_dimension(model.counts, kmin, kmax)
        where = (f"the sector basis of {model.n_modes} modes, {model.n_total} neutrinos, "
                 f"sectors K = {kmin}..{kmax} has {dim:.4g} states")
        int_bytes = np.dtype(PETSc.IntType).itemsize
        if dim >= 2**62:
            raise SettingsError("model", f"{where}; at most 2^62 can be indexed",
                                config.source_path)
        if int_bytes == 4 and dim >= 2**31:
            raise SettingsError("model", f"{where}; this PETSc build indexes at most 2^31 - 1 "
                                "(32-bit PetscInt): use a 64-bit-index PETSc build or a "
                                "smaller model", config.source_path)
        n_ranks = comm.Get_size() if comm is not None else 1
        smallest, need_node = _smallest_need(config, SectorBasis(model.counts, kmin, kmax),
                                             n_ranks, per_node)
        if avail > 0 and need_node > avail:
            raise SettingsError("model", f"{where}; even the smallest operator ({smallest!r}) "
                                f"needs at least {need_node / 2**30:.3g} GiB per node "
                                f"({per_node} ranks) and {avail / 2**30:.3g} GiB is "
                                "available: use more nodes or a smaller model",
                                config.source_path)

    def work(self) -> tuple[str, int]:
        """``(unit, count)`` of the work done so far, for progress rates: products with H
        (MFN; MFN iterations when they were not counted), or steps with the spectral
        propagator (its eigenpairs are computed before step 1). Not collective."""
        if self.config.manybody.propagator == "spectral":
            return "steps", int(self.steps)
        if self.propagator.matvecs:
            return operators.KINDS[self.operator].work, int(self.propagator.matvecs)
        return "MFN iterations", int(self.propagator.iterations)

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
            # a constant mu takes one exact exponential per interval, whatever the key says
            **({} if self.config.model.mu.is_constant
               else {"time_integrator": self.config.manybody.time_integrator}),
        }

    def static_datasets(self) -> dict:
        return {"solver/sector_k_range": np.array([self.basis.kmin, self.basis.kmax]),
                "solver/basis_dim": np.array(self.basis.dim)}

    def records(self):
        """Yield one ObservableRecord per output time (the first is the initial state). Collective."""
        times = np.asarray(self.config.output.times, dtype=np.float64)
        yield self._record(times[0])
        for t_next in times[1:]:
            t0 = _time.perf_counter()
            for dt, mu in exponential_pieces(self.config, self.time, float(t_next)):
                self.propagator.step(self.psi, dt, mu)
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


def _initial_sectors(config: RunConfig, for_pairs: bool = True):
    """``(rotation, per-mode amplitudes, kmin, kmax)`` of the initial product state:
    the computational-frame amplitudes of each mode and the sector range the basis
    must hold (``for_pairs``: one sector more for the pair correlations of a
    multi-sector basis; else the sectors the state occupies). Local and cheap
    (one array of n_p + 1 amplitudes per mode)."""
    model = config.model
    rot = model.flavor_rotation()
    pol_comp = model.initial_polarizations @ rot  # R^T P for each row
    # theta = pi/2 (inverted ordering) rotates +-z into +-z up to 1e-16 round-off,
    # which would otherwise spill sqrt(n) 1e-16 amplitudes into a neighbouring sector
    pol_comp[np.abs(pol_comp) < 1e-14] = 0.0
    pol_comp /= np.linalg.norm(pol_comp, axis=1)[:, None]
    amps = [coherent_amplitudes(int(m.n), pc) for m, pc in zip(model.modes, pol_comp)]
    kmin, kmax = sector_range_of(amps)
    if for_pairs and kmax > kmin and config.output.pair_correlations and kmax < model.n_total:
        # pair correlations need J^-_q psi, which reaches sector kmax + 1; with
        # several sectors J^- maps the basis into itself, so the basis must hold it
        kmax += 1
    return rot, amps, kmin, kmax


def sector_mode(config: RunConfig, comm=None) -> str:
    """How the run evolves its sectors: "together" or "one_at_a_time" (``manybody.sectors``).

    "auto" is one at a time when the initial state spans several sectors, the
    propagator is MFN, and the whole basis would not fit: its smallest allowed
    operator needs more than ``memory.SAFETY`` x MemAvailable of a node, or it
    has 2^31 states or more on a 32-bit-index PETSc build. One sector is always
    "together" (the two are the same). Collective on ``comm`` (None: this process).
    """
    settings = config.manybody
    _, _, kmin, kmax = _initial_sectors(config, for_pairs=False)
    if kmin == kmax or settings.sectors == "together":
        return "together"
    if settings.sectors == "one_at_a_time":
        return "one_at_a_time"
    if settings.propagator == "spectral":
        return "together"
    PETSc, _ = init_petsc()
    _, _, kmin, kmax = _initial_sectors(config)
    basis = SectorBasis(config.model.counts, kmin, kmax)
    if np.dtype(PETSc.IntType).itemsize == 4 and basis.dim >= 2**31:
        return "one_at_a_time"
    per_node, avail = _node_share(comm)
    n_ranks = comm.Get_size() if comm is not None else 1
    _, need_node = _smallest_need(config, basis, n_ranks, per_node)
    return "one_at_a_time" if avail > 0 and need_node > memory.SAFETY * avail else "together"


def _smallest_need(config: RunConfig, basis, n_ranks: int, per_node: int) -> tuple[str, float]:
    """``(kind, bytes per node)`` of the smallest operator kind the settings allow on
    ``basis`` split over ``n_ranks`` (a lower bound: non-zeros per row from
    :func:`_row_entries_lower_bound`). Local."""
    PETSc, _ = init_petsc()
    settings = config.manybody
    n_local = -(-basis.dim // n_ranks)
    # the kinds the settings allow (their order does not matter here)
    order = (operators.auto_order(1, settings.propagator, _mfn_type(settings))
             if settings.operator == "auto" else (settings.operator,))
    sz = memory.sizes(basis, n_local, _row_entries_lower_bound(basis), ncv=_krylov_vectors(
        settings), mu_constant=config.model.mu.is_constant, n_lowering=0, n_ranks=n_ranks,
        int_bytes=np.dtype(PETSc.IntType).itemsize, vectors=_propagator_vectors(settings))
    smallest = min(order, key=lambda k: operators.KINDS[k].memory(sz))
    return smallest, operators.KINDS[smallest].memory(sz) * per_node


def mfn_propagator(A, D, config: RunConfig) -> Propagator:
    """The SLEPc MFN propagator of ``H = D + mu A`` with the config's MFN settings as
    defaults (``-mfn_type``, ``-mfn_tol``, ``-mfn_ncv`` on the command line win). Collective."""
    settings = config.manybody
    with petsc_option_defaults("", {"mfn_type": settings.mfn_type,
                                    "mfn_tol": settings.mfn_tol,
                                    "mfn_ncv": settings.mfn_ncv or None}):
        return Propagator(A, D, config.model.mu.is_constant, settings.mfn_tol, settings.mfn_ncv)


def series_propagator(A, D, config: RunConfig, bounds=None):
    """The propagator of ``H = D + mu A`` that works with any mu schedule
    (``manybody.propagator``: SLEPc MFN, :func:`mfn_propagator`, or the Chebyshev
    series with ``manybody.mfn_tol``; ``bounds``: an interval of A's spectrum a
    previous Chebyshev propagator of the same A computed). Collective."""
    settings = config.manybody
    if settings.propagator == "chebyshev":
        return ChebyshevPropagator(A, D, config.model.mu.is_constant, settings.mfn_tol,
                                   bounds=bounds)
    return mfn_propagator(A, D, config)


def check_operator(config: RunConfig) -> None:
    """Refuse an explicit ``manybody.operator`` the propagator settings in effect cannot
    use (``-mfn_type`` on the command line wins over ``manybody.mfn_type``). Local."""
    settings = config.manybody
    if settings.operator != "auto":
        bad = operators.incompatibility(settings.operator, settings.propagator,
                                        _mfn_type(settings))
        if bad is not None:
            raise SettingsError(*bad, config.source_path)


def exponential_pieces(config: RunConfig, t_from: float, t_to: float):
    """The ``(dt, mu)`` of the exponentials ``exp(-i (D + mu A) dt)`` that take the state
    from ``t_from`` to ``t_to``: the factors of ``manybody.time_integrator``
    (``MuSchedule.exponentials``), each split into equal pieces no longer than
    ``manybody.max_step`` (exact: one H); the spectral and Chebyshev propagators
    take each factor whole (exact for any dt; the Chebyshev series needs fewer
    products per unit time on a longer step). Local."""
    settings = config.manybody
    for dt, mu in config.model.mu.exponentials(t_from, t_to, settings.time_integrator,
                                               settings.time_step_tol):
        # dt < 0 too: cf6 steps back once per step
        nsub = 1 if settings.propagator in ("spectral", "chebyshev") else \
            max(1, int(np.ceil(abs(dt) / settings.max_step - 1e-12)))
        for _ in range(nsub):
            yield dt / nsub, mu


def _mfn_type(settings) -> str:
    """The MFN type in effect: ``-mfn_type`` on the command line, else the config's."""
    PETSc, _ = init_petsc()
    options = PETSc.Options()
    return options.getString("mfn_type") if options.hasName("mfn_type") else settings.mfn_type


def _krylov_vectors(settings) -> int:
    """State-sized vectors of the propagator's basis for the memory model (0: MFN default);
    the spectral propagator holds its eigenvectors instead of a Krylov basis."""
    if settings.propagator == "spectral":
        return peak_vectors()
    return settings.mfn_ncv or (DEFAULT_NCV_EXPOKIT if _mfn_type(settings) == "expokit" else 0)


def _propagator_vectors(settings) -> int:
    """Work vectors of a propagator without a Krylov basis for the memory model (0: MFN
    or spectral); the Chebyshev one's without ``mult_add`` (at most one more than with)."""
    return state_vectors(mult_add=False) if settings.propagator == "chebyshev" else 0


def _row_entries_lower_bound(basis) -> float:
    """Non-zeros per row of A at least (check's estimate, without the rows): the
    diagonal plus, for one-neutrino modes, the ``K (M - K)`` pair flips of sector K
    (every pair coupled), averaged over the sectors; 1 for other spins."""
    if not np.all(basis.counts == 1):
        return 1.0
    m = basis.n_modes
    ks = np.arange(basis.kmin, basis.kmax + 1)
    dims = np.diff(basis.sector_offset).astype(np.float64)
    return float(1.0 + (dims * ks * (m - ks)).sum() / max(dims.sum(), 1.0))


def _node_share(comm) -> tuple[int, int]:
    """(most ranks of ``comm`` on one node, least MemAvailable of their nodes): the
    same on every rank, so that every rank refuses or none. Collective on comm."""
    if comm is None:
        return 1, memory.mem_available()
    from mpi4py import MPI

    node = comm.Split_type(MPI.COMM_TYPE_SHARED)
    try:
        per_node = node.Get_size()
        avail = node.bcast(memory.mem_available() if node.Get_rank() == 0 else None, root=0)
    finally:
        node.Free()
    return comm.allreduce(per_node, op=MPI.MAX), comm.allreduce(avail, op=MPI.MIN)


def _min_op():
    from mpi4py import MPI

    return MPI.MIN


def _max_op():
    from mpi4py import MPI

    return MPI.MAX


def _destroy_petsc_objects(*objects) -> None:
    """Destroy PETSc objects in order (the propagator first: it references the operator)."""
    for obj in objects:
        if obj is not None:  # D, when the solver freed it after the build
            obj.destroy()
