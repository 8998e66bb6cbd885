"""Sector by sector: a state over many sectors of B.J with one sector's Krylov space at a time.

H of Eq. (1) conserves ``K = sum_p k_p`` (basis.py), so ``exp(-i H dt)`` acts
on every sector of the state separately. A flavor product state with
``theta != 0`` occupies every sector ``K = 0..N`` (2^N states for N
one-neutrino modes); :class:`SectorSolver` (``manybody.sectors =
"one_at_a_time"``, or "auto" when the one basis of all of them would not fit)
keeps it as one distributed PETSc Vec per sector and, per output interval and
for each sector in turn,

1. builds that sector's ``D`` and ``A`` (the kind of ``manybody.operator``,
   chosen once from the largest sector's memory model) or takes them from the
   cache (kept between intervals when every sector's operator fits);
2. applies the interval's exponentials (the same ``(dt, mu)`` pieces as the
   one-basis path, solver.exponential_pieces) with a fresh propagator (SLEPc MFN
   or the Chebyshev series, solver.series_propagator);
3. takes ``<psi_K|H(mu(t))|psi_K>`` for the record's energy, then destroys the
   propagator (MFN's Krylov basis) and, unless cached, the operator.

Records add the sectors' pieces (observables.record_from_sums):

* ``<J^z_p>``, ``<J^z_p J^z_q>``, norm: sums over the sectors;
* ``<J^-_p> = sum_K <psi_{K+1}| J^-_p |psi_K>`` (hence J^x, J^y): through the
  ladder map of the states of sector K to their raised neighbours in sector
  K + 1 (separable_operator.ladder_map, the one the separable operator uses
  with the K - 1 intermediate space) and one ghost scatter of ``psi_{K+1}``;
* ``<J^+_p J^-_q> = sum_K <J^-_p psi_K|J^-_q psi_K>``: the lowering matrices
  K -> K + 1 (hamiltonian.lowering_matrices) and their Gram matrix, built and
  destroyed per pair of sectors.

The peak is all sector vectors plus the largest sector's operator and Krylov
space (memory.SectorPlan); each sector is indexed on its own, so 32-bit PETSc
indices limit the largest sector, not the sum. The whole-basis layout (sector
after sector, basis.py's order) is kept for the saved and checkpointed state,
so files do not depend on the mode. The constructor's assembly time includes
one pass over the sectors for the initial energy (operators built and, unless
cached, destroyed again).
"""
from __future__ import annotations

import logging
import time as _time
import weakref

import numpy as np

from ..runtime.jit import njit
from ..errors import SettingsError
from ..runtime.stack import init_petsc
from . import memory, operators
from .basis import SectorBasis
from .hamiltonian import local_rows, lowering_matrices, vacuum_diagonal
from .initial_state import product_state_local
from .observables import gram_sum, record_from_sums, z_sums
from .separable_operator import ladder_map, separable_bytes
from .shell_operator import ghost_scatter, separable_couplings
from .solver import (ManyBodySolver, _initial_sectors, _krylov_vectors, _mfn_type, _node_share,
                     _propagator_vectors, _row_entries_lower_bound, exponential_pieces,
                     series_propagator)

log = logging.getLogger(__name__)

#: local rows of a sector whose configurations and ladder map a record holds at once
#: (the transient: ~M + 13 (M - K) bytes per row, memory.SectorPlan.observables)
RECORD_CHUNK_ROWS = 2**20


def _plan(config, n_ranks: int, int_bytes: int):
    """``(sector bases, memory.SectorPlan)`` of the sectors the initial state occupies,
    with the largest local block of ``n_ranks`` (PETSc's split). Local."""
    model = config.model
    settings = config.manybody
    _, _, kmin, kmax = _initial_sectors(config, for_pairs=False)
    bases = [SectorBasis(model.counts, k, k) for k in range(kmin, kmax + 1)]
    pairs = config.output.pair_correlations
    sizes, observables = [], 0.0
    for basis in bases:
        n = -(-basis.dim // n_ranks)
        sizes.append(memory.sizes(basis, n, _row_entries_lower_bound(basis),
                                  ncv=_krylov_vectors(settings),
                                  vectors=_propagator_vectors(settings),
                                  mu_constant=model.mu.is_constant, n_lowering=0,
                                  n_ranks=n_ranks, int_bytes=int_bytes))
        k = basis.kmin
        if k < model.n_total and (pairs or k < kmax):
            upper = SectorBasis(model.counts, k + 1, k + 1)
            n_up = -(-upper.dim // n_ranks)
            # the map of up to RECORD_CHUNK_ROWS of sector k's states to their
            # neighbours in k + 1: separable_bytes' share of the intermediate rows
            own, setup = separable_bytes(upper, n_up, n_ranks)
            share = min(1.0, RECORD_CHUNK_ROWS / max(n, 1))
            transient = (own - 4 * 8 * n_up + setup) * share
            if pairs:
                transient += (n_up * upper.bytes_per_config()
                              + model.n_modes * n_up * (16 + int_bytes + 12 + 16))
            observables = max(observables, transient)
    return bases, memory.sector_plan(sizes, operators.memory_models(), observables)


def _kind_order(config) -> tuple:
    settings = config.manybody
    _, weights = separable_couplings(config.model, config.model.n_total,
                                     config.model.couplings() / config.model.n_total)
    return operators.auto_order(weights.size, settings.propagator, _mfn_type(settings))


def check_sectors(config, comm=None) -> None:
    """ManyBodySolver.check for the sector-by-sector mode. Collective on ``comm``.

    Raises :class:`~nmbhpc.errors.SettingsError` for the spectral propagator
    (it expands the one basis in eigenpairs), for a sector of 2^31 states or
    more on a 32-bit-index PETSc build, and when the peak with the smallest
    operator kind the settings allow (memory.SectorPlan) exceeds the
    available memory of a node.
    """
    PETSc, _ = init_petsc()
    settings = config.manybody
    if settings.propagator == "spectral":
        raise SettingsError("manybody.sectors", "\"one_at_a_time\" evolves with SLEPc MFN or the "
                            "Chebyshev series: use manybody.propagator = \"mfn\" or "
                            "\"chebyshev\", or sectors = \"together\"",
                            config.source_path)
    int_bytes = np.dtype(PETSc.IntType).itemsize
    n_ranks = comm.Get_size() if comm is not None else 1
    bases, plan = _plan(config, n_ranks, int_bytes)
    largest = max(bases, key=lambda b: b.dim)
    if int_bytes == 4 and largest.dim >= 2**31:
        raise SettingsError("model", f"sector K = {largest.kmin} has {largest.dim:.4g} states; "
                            "this PETSc build indexes at most 2^31 - 1 (32-bit PetscInt): use "
                            "a 64-bit-index PETSc build or a smaller model", config.source_path)
    per_node, avail = _node_share(comm)
    order = _kind_order(config) if settings.operator == "auto" else (settings.operator,)
    smallest = min(order, key=plan.peak)
    need = plan.peak(smallest) * per_node
    if avail > 0 and need > avail:
        raise SettingsError("model", f"one sector at a time, {len(bases)} sectors of "
                            f"{sum(b.dim for b in bases):.4g} states need at least "
                            f"{need / 2**30:.3g} GiB per node with the smallest operator "
                            f"({smallest!r}, {per_node} ranks) and {avail / 2**30:.3g} GiB is "
                            "available: use more nodes or a smaller model", config.source_path)


class SectorSolver(ManyBodySolver):
    """The exact engine with one state vector per sector (see the module docstring).

    Built by ``ManyBody(config, comm)`` (engine.py) when :func:`~nmbhpc.manybody.solver.sector_mode`
    says "one_at_a_time"; the same protocol and records. Collective construction.
    """

    def __init__(self, config, comm):
        PETSc, _ = init_petsc()
        check_sectors(config, comm)
        self.config = config
        self.comm = comm
        model = config.model
        settings = config.manybody
        t0 = _time.perf_counter()
        self._rot, self._amps, kmin, kmax = _initial_sectors(config, for_pairs=False)
        # the whole range: the layout of the saved state, describe(), static datasets
        self.basis = SectorBasis(model.counts, kmin, kmax)
        self.lo, self.hi = local_rows(self.basis, comm)
        int_bytes = np.dtype(PETSc.IntType).itemsize
        self.sectors, self.plan = _plan(config, comm.Get_size(), int_bytes)
        self.rows = [local_rows(b, comm) for b in self.sectors]
        t_basis = _time.perf_counter() - t0

        per_node, avail = _node_share(comm)
        self.memory = self.plan.estimate(per_node, avail)
        order = _kind_order(config)
        try:
            self.operator = memory.choose_operator(settings.operator, self.memory, order)
        except memory.InsufficientMemoryError as exc:
            raise memory.InsufficientMemoryError(f"one sector at a time: {exc}") from None
        # keep every sector's operator between output intervals when they all fit; an
        # AIJ is scaled in place by its propagator and is rebuilt instead
        self._keep = (operators.KINDS[self.operator].matshell and avail > 0 and
                      self.plan.peak_kept(self.operator) * per_node <= memory.SAFETY * avail)
        log.info("%s -> operator %s%s", self.plan.summary(), self.operator,
                 ", kept for all sectors" if self._keep else ", built per sector and interval")
        self._coup = model.couplings() / model.n_total
        self._factors, self._weights = separable_couplings(model, model.n_total, self._coup)
        self._cache = {}
        self._bounds = {}
        self._psi = []
        self._release = weakref.finalize(self, _destroy_all, self._psi, self._cache)

        for i, basis in enumerate(self.sectors):
            lo, hi = self.rows[i]
            vec = PETSc.Vec().createMPI((hi - lo, basis.dim), comm=comm)
            vec.setArray(product_state_local(self._amps, basis.configs(lo, hi)))
            self._psi.append(vec)
        norm = np.sqrt(sum(v.norm() ** 2 for v in self._psi))
        for vec in self._psi:
            vec.scale(1.0 / norm)

        self.steps = 0
        self.matvecs = 0
        self.iterations = 0
        self.nnz = 0
        self.time = float(config.output.times[0])
        t0 = _time.perf_counter()
        self._energies = self._sweep(self.time, self.time, count_nnz=True)
        self.timings = {"basis": t_basis, "assembly": _time.perf_counter() - t0,
                        "evolution": 0.0}

    # --- one pass over the sectors ------------------------------------------
    def _build(self, i: int):
        """``(A, D, global non-zeros)`` of sector i: from the cache or built now; D is None
        for an operator that keeps its own diagonals (``keeps_rows`` False). Collective."""
        if i in self._cache:
            return self._cache[i]
        basis = self.sectors[i]
        lo, hi = self.rows[i]
        configs = basis.configs(lo, hi)
        D = vacuum_diagonal(basis, configs, self.config.model.omegas, self.comm)
        A, nnz = operators.KINDS[self.operator].build(operators.OperatorProblem(
            basis, configs, lo, hi, D, self._coup, self._factors, self._weights, self.comm))
        if not operators.KINDS[self.operator].keeps_rows:
            # the operator holds its own diagonals (the propagators take them from its
            # context); D beside them would cost 16 bytes per row for the whole sector,
            # which the memory model counts as freed
            D.destroy()
            D = None
        if self._keep:
            self._cache[i] = (A, D, nnz)
        return A, D, nnz

    def _sweep(self, t_from: float, t_to: float, count_nnz: bool = False) -> list:
        """Take every sector from ``t_from`` to ``t_to``; return its ``<psi_K|H(mu(t_to))|psi_K>``
        (not normalised). Collective."""
        pieces = list(exponential_pieces(self.config, t_from, t_to))
        mu_end = float(self.config.model.mu(t_to))
        energies = []
        for i, psi in enumerate(self._psi):
            A, D, nnz = self._build(i)
            if count_nnz:
                self.nnz += nnz
            # a sector's Gershgorin interval (one O(M^2)-per-row pass) outlives its operator
            prop = series_propagator(A, D, self.config, bounds=self._bounds.get(i))
            try:
                weight = psi.norm() ** 2
                if weight > 0.0:  # MFN of a zero vector is zero
                    for dt, mu in pieces:
                        prop.step(psi, dt, mu)
                    prop.set_mu(mu_end)
                    energies.append(prop.energy(psi) * weight)
                else:
                    energies.append(0.0)
                self.matvecs += prop.matvecs
                self.iterations += prop.iterations
                if getattr(prop, "known_bounds", lambda: None)() is not None:
                    self._bounds[i] = prop.known_bounds()
            finally:
                prop.destroy()
                if i not in self._cache:
                    A.destroy()
                    if D is not None:
                        D.destroy()
        return energies

    # --- protocol ----------------------------------------------------------
    def records(self):
        """Yield one ObservableRecord per output time (the first is the initial state). Collective."""
        times = np.asarray(self.config.output.times, dtype=np.float64)
        yield self._record(times[0])
        for t_next in times[1:]:
            t0 = _time.perf_counter()
            self._energies = self._sweep(self.time, float(t_next))
            # exponentials of the whole state, as the one-basis path counts them
            self.steps += len(list(exponential_pieces(self.config, self.time, float(t_next))))
            self.time = float(t_next)
            self.timings["evolution"] += _time.perf_counter() - t0
            yield self._record(self.time)

    def work(self) -> tuple[str, int]:
        """``(unit, count)``: products with the sectors' H summed over the sectors
        (MFN iterations when they were not counted). Not collective."""
        if self.matvecs:
            return operators.KINDS[self.operator].work, int(self.matvecs)
        return "MFN iterations", int(self.iterations)

    def describe(self) -> dict:
        """Sizes and settings (same on all ranks). Collective."""
        from mpi4py import MPI

        local = sum(hi - lo for lo, hi in self.rows)
        largest = max(self.sectors, key=lambda b: b.dim)
        return {
            "solver": self.name,
            "basis_dim": self.basis.dim,
            "sector_k_min": self.basis.kmin,
            "sector_k_max": self.basis.kmax,
            "sectors": "one_at_a_time",
            "largest_sector_dim": largest.dim,
            "nnz": self.nnz,
            "operator": self.operator,
            "local_rows_min": self.comm.allreduce(local, op=MPI.MIN),
            "local_rows_max": self.comm.allreduce(local, op=MPI.MAX),
            "n_modes": self.basis.n_modes,
            "n_neutrinos": int(self.basis.counts.sum()),
            "basis_seconds": self.timings["basis"],
            "assembly_seconds": self.timings["assembly"],
            "propagator": self.config.manybody.propagator,
            **({} if self.config.model.mu.is_constant
               else {"time_integrator": self.config.manybody.time_integrator}),
        }

    def final_state(self):
        """(local amplitudes, offset, global shape) of the state in the whole basis's
        layout (sector after sector; the same as the one-basis path). Collective."""
        whole = self._whole()
        try:
            self._to_whole(whole, forward=True)
            return whole.getArray(readonly=True).copy(), self.lo, (self.basis.dim,)
        finally:
            whole.destroy()

    def restore(self, local_state, time: float, extras: dict | None = None) -> None:
        """Continue from a checkpoint of :meth:`final_state`'s layout (rows ``lo..hi``
        of the whole basis) at ``time``. Collective (the state is scattered to the
        sectors' layouts)."""
        local_state = np.asarray(local_state)
        if local_state.shape != (self.hi - self.lo,):
            raise ValueError(f"checkpoint block has shape {local_state.shape}, "
                             f"rank owns {self.hi - self.lo} rows")
        whole = self._whole()
        try:
            whole.setArray(local_state)
            self._to_whole(whole, forward=False)
        finally:
            whole.destroy()
        self.time = float(time)
        self.steps = int((extras or {}).get("steps", 0))
        self._energies = self._sweep(self.time, self.time)

    def state_global(self) -> np.ndarray:
        """The current state on every rank, in the whole basis's order (small systems only). Collective."""
        PETSc, _ = init_petsc()
        parts = []
        for psi in self._psi:
            scatter, full = PETSc.Scatter.toAll(psi)
            scatter.scatter(psi, full, PETSc.InsertMode.INSERT_VALUES, PETSc.ScatterMode.FORWARD)
            parts.append(full.getArray(readonly=True).copy())
            scatter.destroy()
            full.destroy()
        return np.concatenate(parts)

    def sector_states(self) -> list:
        """The sector Vecs (K = kmin..kmax; owned by the solver, do not destroy)."""
        return list(self._psi)

    # --- helpers -------------------------------------------------------------
    def _whole(self):
        PETSc, _ = init_petsc()
        return PETSc.Vec().createMPI((self.hi - self.lo, self.basis.dim), comm=self.comm)

    def _to_whole(self, whole, forward: bool) -> None:
        """Copy the sector Vecs into ``whole`` (forward) or back. Collective."""
        PETSc, _ = init_petsc()
        mode = PETSc.ScatterMode.FORWARD if forward else PETSc.ScatterMode.REVERSE
        for i, psi in enumerate(self._psi):
            lo, hi = self.rows[i]
            where = PETSc.IS().createStride(hi - lo, first=int(self.basis.sector_offset[i]) + lo,
                                            step=1, comm=PETSc.COMM_SELF)
            scatter = PETSc.Scatter().create(psi, None, whole, where)
            try:
                if forward:
                    scatter.scatter(psi, whole, PETSc.InsertMode.INSERT_VALUES, mode)
                else:
                    scatter.scatter(whole, psi, PETSc.InsertMode.INSERT_VALUES, mode)
            finally:
                scatter.destroy()
                where.destroy()

    def _record(self, t: float):
        """The record of the current sector states at ``t`` (energies from the last sweep). Collective."""
        model = self.config.model
        counts = self.basis.counts
        pairs = self.config.output.pair_correlations
        m = self.basis.n_modes
        packed = 0.0
        jm = np.zeros(m, dtype=np.complex128) if len(self._psi) > 1 else None
        gram = np.zeros((m, m), dtype=np.complex128) if pairs else None
        for i, psi in enumerate(self._psi):
            basis = self.sectors[i]
            lo, hi = self.rows[i]
            local = psi.getArray(readonly=True)
            for r0, r1 in self._chunks(i):
                configs = basis.configs(lo + r0, lo + r1)
                packed = packed + z_sums(configs, counts, local[r0:r1], pairs)
                if jm is not None and i + 1 < len(self._psi):
                    jm += self._raised_overlaps(configs, i, r0, r1)
                del configs
            if pairs and basis.kmin < model.n_total:
                gram += self._lowered_gram(i)
        packed = self.comm.allreduce(packed)
        if jm is not None:
            jm = self.comm.allreduce(jm)
        energy = float(sum(self._energies)) / packed[0]
        return record_from_sums(counts, self._rot, packed, jm, gram, t,
                                float(model.mu(t)), energy)

    def _chunks(self, i: int) -> list:
        """This rank's local rows of sector i in blocks of at most RECORD_CHUNK_ROWS; the
        same number of blocks on every rank (some empty), as each block makes a
        collective scatter. Collective."""
        from mpi4py import MPI

        lo, hi = self.rows[i]
        count = self.comm.allreduce(-(-(hi - lo) // RECORD_CHUNK_ROWS), op=MPI.MAX)
        edges = np.linspace(0, hi - lo, max(count, 1) + 1).astype(np.int64)
        return list(zip(edges[:-1].tolist(), edges[1:].tolist()))

    def _raised_overlaps(self, configs, i: int, r0: int, r1: int) -> np.ndarray:
        """This rank's part of ``<psi_{K+1}| J^-_p |psi_K>`` for every mode p, summed over
        the local rows ``r0:r1`` of K = sector i (``configs``). Collective."""
        PETSc, _ = init_petsc()
        upper = self.sectors[i + 1]
        ulo, uhi = self.rows[i + 1]
        qubit = bool(np.all(upper.counts == 1))
        mp = ladder_map(configs, upper, ulo, uhi, not qubit)
        ghost, scatter = ghost_scatter(mp.ghosts, uhi - ulo, upper.dim, self.comm)
        try:
            y = self._psi[i + 1]
            if scatter is not None:
                scatter.scatter(y, ghost, PETSc.InsertMode.INSERT_VALUES,
                                PETSc.ScatterMode.FORWARD)
            yw = np.concatenate([y.getArray(readonly=True), ghost.getArray(readonly=True)])
            x = self._psi[i].getArray(readonly=True)[r0:r1]
            return raised_overlaps(mp.ptr, mp.nbr, mp.mode, mp.ladder, x, yw, self.basis.n_modes)
        finally:
            ghost.destroy()
            if scatter is not None:
                scatter.destroy()

    def _lowered_gram(self, i: int) -> np.ndarray:
        """``<J^-_p psi_K|J^-_q psi_K>`` (K = sector i; allreduced). Collective."""
        source = self.sectors[i]
        slo, shi = self.rows[i]
        target = SectorBasis(source.counts, source.kmin + 1, source.kmin + 1)
        tlo, thi = local_rows(target, self.comm)
        mats = lowering_matrices(source, target, target.configs(tlo, thi), tlo, thi, slo, shi,
                                 self.comm)
        phis = [mat.createVecLeft() for mat in mats]
        try:
            for mat, phi in zip(mats, phis):
                mat.mult(self._psi[i], phi)
            return gram_sum(phis, self.comm)
        finally:
            for obj in phis + mats:
                obj.destroy()


@njit(cache=True)
def raised_overlaps(ptr, nbr, mode, ladder, x, yw, n_modes):
    """``sum_j conj(y[j + e_b]) <j + e_b|J^-_b|j> x[j]`` per mode b over the rows j of a
    ladder map (separable_operator.ladder_map: ``nbr`` indexes ``yw``, the local y
    followed by its ghosts; ``ladder`` empty for one-neutrino modes, where the
    element is 1). Local."""
    out = np.zeros(n_modes, dtype=np.complex128)
    with_ladder = ladder.shape[0] > 0
    for j in range(ptr.shape[0] - 1):
        xj = x[j]
        if xj == 0:
            continue
        for e in range(ptr[j], ptr[j + 1]):
            v = np.conj(yw[nbr[e]]) * xj
            if with_ladder:
                v *= ladder[e]
            out[mode[e]] += v
    return out


def _destroy_all(vectors: list, cache: dict) -> None:
    """Destroy the sector Vecs and the kept operators (the finalizer of SectorSolver)."""
    for A, D, _ in cache.values():
        A.destroy()
        if D is not None:
            D.destroy()
    cache.clear()
    for vec in vectors:
        vec.destroy()
    vectors.clear()
