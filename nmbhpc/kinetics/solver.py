"""Distributed quantum-kinetic solver: PETSc DMDA over space (1D, 2D or 3D), PETSc TS in time.

Storage: petsc4py here is a complex-scalar build, so each complex scalar
holds two consecutive real components: a cell's 8 n_dir nE reals are
4 n_dir nE complex DMDA dofs (halving memory and flops compared with one
real per complex scalar). Explicit RK only forms real linear combinations,
so the packing is exact. ``field`` views present the real layout
(n, 2, nE, n_dir, 4) of :mod:`nmbhpc.kinetics.grid`.

PETSc objects use the options prefix ``kin_`` (``-kin_ts_type``,
``-kin_ts_rk_type``, ``-kin_ts_monitor``, ...). Default: classical RK4
(``rk``/``4``) without a TSAdapt (``none``); the step is controlled by the
physics instead: a TS post-step re-evaluates ``min(cfl dx / max|v_z|,
phase_step / max(|h|, rates))`` from the new field (a global max over ranks,
so the steps do not depend on the rank count) and sets the next step to
divide the time left to the next output/snapshot evenly. This keeps the
rotation angle per step at <= phase_step when |h| grows in the nonlinear
phase. ``-kin_ts_adapt_type basic`` with an embedded pair
(``-kin_ts_rk_type 5dp``) hands the step to PETSc's error control instead.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from mpi4py import MPI

from ..runtime.petsc_options import petsc_option_defaults
from ..runtime.stack import init_petsc
from . import diagnostics, positivity
from .grid import cell_centres, direction_vectors, dofs_per_cell, initial_block
from .rhs import STENCIL_WIDTH, KineticRHS
from .settings import GridSettings, KineticSettings

log = logging.getLogger("nmbhpc.kinetics")

OPTIONS_PREFIX = "kin_"


def process_grid(grid: GridSettings, size: int) -> tuple:
    """Ranks along each array axis (``grid.axes`` order) for ``size`` ranks (not collective).

    Every rank needs >= STENCIL_WIDTH cells along every axis (PETSc's periodic
    DMDA refuses less), so the automatic PETSc split, which does not know
    that, is replaced by the factorisation with the smallest cut surface
    (fewest ghost cells) among those that satisfy it; ties go to cutting the
    slowest axis. Raises ValueError naming the config key when none exists.
    """
    shape = grid.spatial_shape
    best = None
    for procs in _factorisations(size, len(shape)):
        if any(n // p < STENCIL_WIDTH for n, p in zip(shape, procs)):
            continue
        surface = sum((p - 1) * grid.n_cells // n for n, p in zip(shape, procs))
        if best is None or surface < best[0]:
            best = (surface, procs)
    if best is None:
        key = "kinetics.grid.nx" if grid.axes == (2,) else "kinetics.grid.shape"
        value = grid.nx if grid.axes == (2,) else list(grid.shape)
        raise ValueError(f"{key} = {value} is too small for {size} ranks: each rank needs >= "
                         f"{STENCIL_WIDTH} cells (the stencil width) along every resolved axis")
    return best[1]


def _factorisations(size: int, ndim: int):
    """All tuples of ``ndim`` positive integers with product ``size`` (first entry varies slowest)."""
    if ndim == 1:
        yield (size,)
        return
    for p in range(1, size + 1):
        if size % p == 0:
            for rest in _factorisations(size // p, ndim - 1):
                yield (p,) + rest


@dataclass(frozen=True)
class FieldSnapshot:
    """The field at ``time`` on one rank: its owned ``block`` (spatial axes ``lo..hi``,
    then species, energy, direction, component), for the file's snapshot stream."""

    time: float
    block: np.ndarray
    lo: tuple
    hi: tuple


class KineticSolver:
    """One kinetic run on ``comm`` (every method is collective unless noted).

    Follows the solver protocol of :mod:`nmbhpc.solvers` with a second stream,
    field snapshots (:meth:`snapshots`); it never sees the output file.
    """

    def __init__(self, settings: KineticSettings, comm=MPI.COMM_WORLD, petsc_args=None):
        PETSc, _ = init_petsc(petsc_args)
        self.PETSc = PETSc
        self.settings = settings
        self.comm = comm
        g = settings.grid
        ndof = dofs_per_cell(settings)
        procs = process_grid(g, comm.Get_size())
        # DMDA axis 0 is the fastest-varying one: the last array axis (x of an x-z box)
        da = PETSc.DMDA().create(dim=g.ndim, dof=ndof // 2, sizes=g.spatial_shape[::-1],
                                 proc_sizes=procs[::-1],
                                 boundary_type=(PETSc.DM.BoundaryType.PERIODIC,) * g.ndim,
                                 stencil_type=PETSc.DMDA.StencilType.STAR,
                                 stencil_width=STENCIL_WIDTH, setup=False, comm=comm)
        da.setOptionsPrefix(OPTIONS_PREFIX)
        # no da.setFromOptions(): -da_grid_x would silently disagree with the config,
        # the output layout and the restart snapshots
        da.setUp()
        self.da = da
        ranges = da.getRanges()[::-1]
        #: owned block along each array axis (``grid.axes`` order): lo[i] <= index < hi[i]
        self.lo = tuple(int(a) for a, _ in ranges)
        self.hi = tuple(int(b) for _, b in ranges)
        self.block = tuple(b - a for a, b in zip(self.lo, self.hi))
        #: owned range along the first array axis (the x cells of a 1D run)
        self.xs, self.xe = self.lo[0], self.hi[0]
        #: number of owned cells
        self.n_local = int(np.prod(self.block))
        self._ghosted = tuple(b - a for a, b in da.getGhostRanges()[::-1])
        self.cell_shape = (2, settings.physics.n_energy, g.n_directions, 4)
        self.rhs = KineticRHS(settings)
        self.X = da.createGlobalVec()
        self._Xl = da.createLocalVec()
        self._Xn = da.createNaturalVec() if g.ndim > 1 else None
        self.field_block[...] = initial_block(settings, self.lo, self.hi)
        self.n_rhs = 0
        # local totals of the positivity limiter: matrices limited, overshoot removed, change of
        # the cells' lepton moment sum W w (Pz_nu - Pz_nubar) = ELN - XLN that it left
        self.limited = np.zeros(3)
        self._target = 0.0
        self._dt_cfl = self._rate_floor = None
        self.ts = self._make_ts()
        self.dt = self.stable_dt()
        self._worst_margin = 0.0
        self._queued = []             # FieldSnapshots not yet taken by snapshots()
        self._resumed = False

    # ------------------------------------------------------------ field views
    def _view(self, vec, n) -> np.ndarray:
        return vec.getArray().view(np.float64).reshape((n,) + self.cell_shape)

    @property
    def field(self) -> np.ndarray:
        """Writable real view (n_local, 2, nE, n_dir, 4) of the owned cells (not collective).

        In 2D/3D the owned block flattened in C order (:attr:`field_block`)."""
        return self._view(self.X, self.n_local)

    @property
    def field_block(self) -> np.ndarray:
        """Writable real view (block..., 2, nE, n_dir, 4) of the owned cells, one axis per
        resolved spatial axis (``grid.axes`` order; global indices ``lo..hi``); not collective."""
        return self.X.getArray().view(np.float64).reshape(self.block + self.cell_shape)

    @property
    def time(self) -> float:
        return self.ts.getTime()

    def _natural_rows(self):
        """Collective (2D/3D). ``(rows, offset)``: this rank's contiguous share of the field
        in natural (C over ``grid.spatial_shape``) cell order, by a PETSc scatter."""
        self.da.globalToNatural(self.X, self._Xn)
        start = self._Xn.getOwnershipRange()[0] // (self.X.getBlockSize() or 1)
        rows = self._Xn.getArray().view(np.float64).reshape((-1,) + self.cell_shape)
        return rows.copy(), start

    def gather_field(self, root: int = 0):
        """Collective. Full field (spatial_shape..., 2, nE, n_dir, 4) on ``root``, None elsewhere
        (1D: (nx, 2, nE, n_dir, 4))."""
        if self._Xn is None:
            parts = self.comm.gather(self.field.copy(), root=root)
            return np.concatenate(parts) if parts is not None else None
        rows, _ = self._natural_rows()
        parts = self.comm.gather(rows, root=root)
        if parts is None:
            return None
        return np.concatenate(parts).reshape(self.settings.grid.spatial_shape + self.cell_shape)

    def set_state(self, time: float, field_local: np.ndarray) -> None:
        """Restart from the owned cells ``field_local`` (n_local, 2, nE, n_dir, 4) or the owned
        block (:attr:`field_block` shape) at ``time``.

        Collective only through the step size, which is recomputed from the new state
        (a snapshot restart: a new run that starts from an old field).
        """
        self.field[...] = np.reshape(field_local, self.field.shape)
        self.ts.setTime(time)
        self.dt = self.stable_dt()

    # ------------------------------------------------------------ checkpoints
    def checkpoint_state(self):
        """``(local, offset, global_shape)`` of the field: rows are cells in natural order
        (1D: the x cells; 2D/3D: C order over ``grid.spatial_shape``, each rank a
        contiguous share, so any rank count reads them back). Collective in 2D/3D.

        With :meth:`checkpoint_extras` this is everything :meth:`restore` needs to
        continue bit for bit.
        """
        g = self.settings.grid
        if self._Xn is None:
            return self.field.copy(), self.xs, (g.n_cells,) + self.cell_shape
        rows, start = self._natural_rows()
        return rows, start, (g.n_cells,) + self.cell_shape

    def checkpoint_rows(self) -> tuple[int, int]:
        """``(offset, count)`` of this rank's rows in :meth:`checkpoint_state` (not collective)."""
        if self._Xn is None:
            return self.xs, self.n_local
        lo, hi = self._Xn.getOwnershipRange()
        bs = self.X.getBlockSize() or 1
        return lo // bs, (hi - lo) // bs

    def checkpoint_extras(self) -> dict:
        """Collective. What a checkpoint stores besides the field.

        ``dt`` is the step bound of the last step's state (:meth:`stable_dt`),
        stored rather than recomputed so a resume repeats the very same steps. ``limited``
        holds every rank's limiter totals ([size, 3]), so that the same rank
        count sums them in the same order after a restart.
        """
        return {"dt": float(self.dt), "steps": int(self.ts.getStepNumber()),
                "n_rhs": int(self.n_rhs), "worst_margin": float(self._worst_margin),
                "limited": np.array(self.comm.allgather(np.array(self.limited, dtype=float)))}

    def restore(self, field_local: np.ndarray, time: float, extras: dict) -> None:
        """Continue from a checkpoint: this rank's rows of :meth:`checkpoint_state`
        (:meth:`checkpoint_rows`), time and :meth:`checkpoint_extras` (collective in
        2D/3D, a natural-to-global scatter; nothing is recomputed).

        Limiter totals of another rank count are summed onto rank 0 (equal to rounding).
        """
        if self._Xn is None:
            self.field[...] = field_local
        else:
            self._Xn.getArray().view(np.float64)[...] = np.asarray(field_local).ravel()
            self.da.naturalToGlobal(self._Xn, self.X)
        self.ts.setTime(time)
        self._resumed = True
        self.dt = float(extras["dt"])
        self.ts.setStepNumber(int(extras.get("steps", 0)))
        self.n_rhs = int(extras.get("n_rhs", 0))
        self._worst_margin = float(extras.get("worst_margin", 0.0))
        limited = np.asarray(extras.get("limited", np.zeros((1, 3))), dtype=float).reshape(-1, 3)
        rank, size = self.comm.Get_rank(), self.comm.Get_size()
        if limited.shape[0] == size:
            self.limited = limited[rank].copy()
        else:
            self.limited = limited.sum(axis=0) if rank == 0 else np.zeros(3)

    # ------------------------------------------------------------------- TS
    def _rhs_function(self, ts, t, X, F) -> None:
        self.n_rhs += 1
        self.da.globalToLocal(X, self._Xl)
        u = self._Xl.getArray().view(np.float64).reshape(self._ghosted + self.cell_shape)
        self.rhs.evaluate(u, self._view(F, self.n_local))

    def _post_step(self, ts) -> None:
        """TS post-step (collective): positivity limiter, then the next step from the new state."""
        limiter = self.settings.numerics.limiter
        if limiter != "none":
            # enforce P0 >= |P| (:mod:`nmbhpc.kinetics.positivity`)
            p = self._view(ts.getSolution(), self.n_local)
            if limiter == "conservative":
                self.limited += positivity.limit_conservative(p, self.rhs.moment_weights)
            else:
                self.limited += positivity.limit_norm(p, self.rhs.moment_weights)
            # the step's last stage no longer matches the state (FSAL methods); unconditional,
            # because a restart evaluates the RHS, which is collective
            ts.restartStep()
        if self.controls_step:
            self.dt = self.stable_dt()
            left = self._target - ts.getTime()
            if left > 1e-12 * self.dt:
                step = self._even_step(left)
                # keep an unchanged step bit for bit: re-dividing `left` would only add round-off
                if abs(step - ts.getTimeStep()) > 1e-12 * step:
                    ts.setTimeStep(step)

    def _even_step(self, left: float) -> float:
        """The largest step <= self.dt that divides ``left`` into whole steps (not collective)."""
        return left / math.ceil(left / self.dt * (1 - 1e-12))

    def _make_ts(self):
        PETSc = self.PETSc
        ts = PETSc.TS().create(comm=self.comm)
        ts.setOptionsPrefix(OPTIONS_PREFIX)
        ts.setDM(self.da)
        ts.setProblemType(PETSc.TS.ProblemType.NONLINEAR)
        ts.setRHSFunction(self._rhs_function, self.da.createGlobalVec())
        ts.setPostStep(self._post_step)
        ts.setExactFinalTime(PETSc.TS.ExactFinalTime.MATCHSTEP)
        ts.setMaxSteps(2 ** 31 - 1)
        ts.setTime(0.0)
        # classical RK4 with fixed steps (rank counts stay bit-comparable; petsc4py 3.18
        # has no TSAdapt binding, so the adaptor goes through the options database too);
        # -kin_ts_type, -kin_ts_rk_type, -kin_ts_adapt_type on the command line win
        with petsc_option_defaults(OPTIONS_PREFIX, {"ts_type": "rk", "ts_rk_type": "4",
                                                    "ts_adapt_type": "none"}) as user_set:
            ts.setFromOptions()
        #: whether stable_dt sets the steps (no PETSc TSAdapt chosen by the user)
        self.controls_step = ("ts_adapt_type" not in user_set or PETSc.Options().getString(
            OPTIONS_PREFIX + "ts_adapt_type", "none") == "none")
        return ts

    def stable_dt(self) -> float:
        """Collective. Step bound of the current field, in 1/omega0.

        ``time.dt`` from the config if set (not collective then), else
        ``min(cfl dx / max|v_z|, phase_step / max(|h|, gamma, kappa))`` with the
        max of |h| over all cells of all ranks (MPI_MAX of exact local maxima:
        the same value on any rank count). In 2D/3D the advective bound is
        ``cfl / max_i sum_a |v_a,i| / dx_a`` over the resolved axes a (the
        dimension-by-dimension scheme's stability limit for RK4 is that of the
        summed 1D rates).
        """
        tset = self.settings.time
        if tset.dt is not None:
            return tset.dt
        if self._dt_cfl is None:   # the parts that do not change during a run, once
            g, col = self.settings.grid, self.settings.physics.collisions
            if g.axes == (2,):
                self._dt_cfl = tset.cfl * g.length / g.nx / max(np.abs(self.rhs.v).max(), 1e-300)
            else:
                rate = sum(np.abs(va) / dx for va, dx in zip(self.rhs.velocity, self.rhs.spacing))
                self._dt_cfl = tset.cfl / max(float(rate.max()), 1e-300)
            self._rate_floor = max(max(max(r) for r in col.gamma), col.scattering)
        hmax = self.comm.allreduce(self.rhs.max_frequency(self.field), op=MPI.MAX)
        rate = max(hmax, self._rate_floor)
        return min(self._dt_cfl, tset.phase_step / rate) if rate > 0 else self._dt_cfl

    def advance_to(self, t: float) -> None:
        """Collective. Integrate from the current time to ``t``.

        Steps of at most ``self.dt`` (re-evaluated after every step), evenly
        dividing the time to ``t`` so that ``t`` falls on a step.
        """
        if t <= self.time:
            return
        self._target = t
        left = t - self.time
        self.ts.setTimeStep(self._even_step(left) if self.controls_step else min(self.dt, left))
        self.ts.setMaxTime(t)
        self.ts.solve(self.X)
        self.ts.setTime(t)  # round-off in the accumulated time must not drift the output grid

    def record(self) -> diagnostics.KineticRecord:
        """Collective. Domain averages at the current time."""
        return diagnostics.record(self.time, self.field, self.settings.grid.n_cells, self.rhs.w,
                                  self.rhs.energy_weights, self.comm, self.limited)

    def output_times(self) -> np.ndarray:
        """Output times k * output_interval from the current time to t_end (inclusive)."""
        tset = self.settings.time
        n = int(math.floor(tset.t_end / tset.output_interval + 1e-9))
        times = np.arange(n + 1) * tset.output_interval
        return times[times > self.time + 1e-12 * tset.output_interval]

    def stops(self, include_current: bool = True) -> list:
        """``(t, output?, snapshot?)`` for every time still to reach, in order (not collective).

        ``include_current``: the current time comes first, as an output (and a
        snapshot if it is a snapshot time) — a run's initial record. A resumed
        run has both in its file already and passes False. Snapshot times after
        ``t_end`` are ignored.
        """
        now, t_end = self.time, self.settings.time.t_end
        out = set(self.output_times().tolist())
        # snapshot times after t_end are ignored: a run never integrates past t_end
        snaps = {t for t in self.settings.time.snapshot_times
                 if now + 1e-12 < t <= t_end * (1 + 1e-12)}
        first = []
        if include_current:
            at_now = any(abs(t - now) <= 1e-12 for t in self.settings.time.snapshot_times)
            first = [(now, True, at_now)]
        return first + [(t, t in out, t in snaps) for t in sorted(out | snaps)]

    def run(self) -> list:
        """Collective. Integrate to t_end without a file; return every record (the first at
        the start time). Snapshots are not kept."""
        records = list(self.records())
        self._queued = []
        return records

    def record_times(self) -> np.ndarray:
        """Times of the records :meth:`records` yields: the current time, then the output
        times after it (not collective)."""
        return np.concatenate([[self.time], self.output_times()])

    def records(self):
        """Collective. Integrate to t_end, yielding a KineticRecord at the current time and
        at every output time; field snapshots queue up for :meth:`snapshots`.

        After :meth:`restore` the first record is the checkpoint's (its snapshot, if
        any, is already in the file and is not queued again).
        """
        resumed, self._resumed = self._resumed, False
        for k, (t, is_output, is_snapshot) in enumerate(self.stops()):
            self.advance_to(t)
            if is_snapshot and not (resumed and k == 0):
                self._queued.append(self.snapshot())
            if is_output:
                yield self._record_checked()

    def snapshot(self) -> FieldSnapshot:
        """The owned block of the field at the current time (a copy; not collective)."""
        return FieldSnapshot(self.time, self.field_block.copy(), self.lo, self.hi)

    def snapshots(self) -> list:
        """The field snapshots taken since the last call (not collective)."""
        out, self._queued = self._queued, []
        return out

    def _record_checked(self):
        rec = self.record()
        # warn when positivity is lost, and again each time the violation doubles
        if rec.trace_margin < min(-1e-8, 2.0 * self._worst_margin):
            self._worst_margin = rec.trace_margin
            log.warning("t = %.6g: rho is not positive semi-definite somewhere "
                        "(min P0 - |P| = %.3e)", rec.time, rec.trace_margin)
        return rec

    # ------------------------------------------------------ driver protocol
    @classmethod
    def check(cls, settings: KineticSettings, comm) -> None:
        """Refuse a box that cannot be split over ``comm``'s ranks (ValueError naming the
        key); not collective, nothing is built."""
        process_grid(settings.grid, comm.Get_size())

    def work(self) -> tuple[str, int]:
        """``("RHS evaluations", count so far)``, for progress rates. Not collective."""
        return "RHS evaluations", int(self.n_rhs)

    def describe(self) -> dict:
        """Sizes and step settings (logged by the driver, stored as ``solver_*`` attributes)."""
        s = self.settings
        return {"solver": "kinetics", "cells": "x".join(map(str, s.grid.shape)),
                "n_dir": s.grid.n_dir, "n_phi": s.grid.n_phi, "n_energy": s.physics.n_energy,
                "dt": float(self.dt), "t_start": float(self.time), "t_end": s.time.t_end,
                "options_prefix": OPTIONS_PREFIX}

    @property
    def steps(self) -> int:
        """TS steps taken so far (from the run's start, across restarts)."""
        return int(self.ts.getStepNumber())

    def static_datasets(self) -> dict:
        """The grid arrays of the file (``kinetics/grid/*``; docs/kinetics.md "Output")."""
        s = self.settings
        static = {"grid/v": self.rhs.v, "grid/w": self.rhs.w,
                  "grid/direction": direction_vectors(s.grid),
                  "grid/x": cell_centres(s.grid), "grid/omega": np.asarray(s.physics.omega),
                  "grid/energy_weights": self.rhs.energy_weights}
        if s.grid.axes != (2,):  # cell centres along every resolved axis of a 2D/3D box
            static.update({f"grid/centres_{'xyz'[a]}": cell_centres(s.grid, axis=a)
                           for a in s.grid.axes})
        return {f"kinetics/{k}": np.asarray(v, dtype=np.float64) for k, v in static.items()}

    def final_state(self):
        """Collective. :meth:`checkpoint_state` (the field in natural cell order)."""
        return self.checkpoint_state()

    def snapshot_region(self) -> tuple:
        """``(lo, hi)``: the owned block a snapshot of this rank covers (not collective)."""
        return self.lo, self.hi

    def start_from_snapshot(self, time: float, block: np.ndarray, settings) -> None:
        """Start a new run from a snapshot ``block`` (this rank's cells) at ``time`` taken by a
        run of ``settings``; ValueError unless its grid is this run's. Collective."""
        if (settings.grid, settings.physics.n_energy) != (self.settings.grid,
                                                          self.settings.physics.n_energy):
            raise ValueError(f"the snapshot's grid {settings.grid} does not match the "
                             f"config's {self.settings.grid}")
        self.set_state(time, block)

    def destroy(self) -> None:
        """Collective. Free the PETSc objects."""
        for obj in (self.ts, self.X, self._Xl, self._Xn, self.da):
            if obj is None:
                continue
            obj.destroy()
