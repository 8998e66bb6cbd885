"""Distributed quantum-kinetic solver: PETSc DMDA over x, PETSc TS in time.

Storage: petsc4py here is a complex-scalar build, so each complex scalar
holds two consecutive real components: a cell's 8 n_dir nE reals are
4 n_dir nE complex DMDA dofs (halving memory and flops compared with one
real per complex scalar). Explicit RK only forms real linear combinations,
so the packing is exact. ``field`` views present the real layout
(n, 2, nE, n_dir, 4) of :mod:`nmbhpc.kinetics.grid`.

PETSc objects use the options prefix ``kin_`` (``-kin_ts_type``,
``-kin_ts_rk_type``, ``-kin_ts_monitor``, ...). Default: classical RK4
(``rk``/``4``) with a fixed step; ``-kin_ts_adapt_type basic`` with an
embedded pair (``-kin_ts_rk_type 5dp``) gives adaptive steps.
"""
from __future__ import annotations

import logging
import math

import numpy as np
from mpi4py import MPI

from ..stack import init_petsc
from . import diagnostics
from .grid import dofs_per_cell, initial_field
from .rhs import STENCIL_WIDTH, KineticRHS
from .settings import KineticSettings

log = logging.getLogger("nmbhpc.kinetics")

OPTIONS_PREFIX = "kin_"


class KineticSolver:
    """One kinetic run on ``comm`` (every method is collective unless noted)."""

    def __init__(self, settings: KineticSettings, comm=MPI.COMM_WORLD, petsc_args=None):
        PETSc, _ = init_petsc(petsc_args)
        self.PETSc = PETSc
        self.settings = settings
        self.comm = comm
        g = settings.grid
        ndof = dofs_per_cell(settings)
        if g.nx < STENCIL_WIDTH * comm.Get_size():
            raise ValueError(f"kinetics.grid.nx = {g.nx} is too small for {comm.Get_size()} ranks: "
                             f"each rank needs >= {STENCIL_WIDTH} cells (the stencil width)")
        da = PETSc.DMDA().create(dim=1, dof=ndof // 2, sizes=(g.nx,),
                                 boundary_type=(PETSc.DM.BoundaryType.PERIODIC,),
                                 stencil_type=PETSc.DMDA.StencilType.STAR,
                                 stencil_width=STENCIL_WIDTH, setup=False, comm=comm)
        da.setOptionsPrefix(OPTIONS_PREFIX)
        # no da.setFromOptions(): -da_grid_x would silently disagree with the config,
        # the output layout and the restart snapshots
        da.setUp()
        self.da = da
        (self.xs, self.xe), = da.getRanges()
        self.n_local = self.xe - self.xs
        self.cell_shape = (2, settings.physics.n_energy, g.n_dir, 4)
        self.rhs = KineticRHS(settings)
        self.X = da.createGlobalVec()
        self._Xl = da.createLocalVec()
        self.field[...] = initial_field(settings, self.xs, self.xe)
        self.ts = self._make_ts()
        self.dt = self.default_dt()
        self._worst_margin = 0.0

    # ------------------------------------------------------------ field views
    def _view(self, vec, n) -> np.ndarray:
        return vec.getArray().view(np.float64).reshape((n,) + self.cell_shape)

    @property
    def field(self) -> np.ndarray:
        """Writable real view (n_local, 2, nE, n_dir, 4) of the owned cells (not collective)."""
        return self._view(self.X, self.n_local)

    @property
    def time(self) -> float:
        return self.ts.getTime()

    def gather_field(self, root: int = 0):
        """Collective. Full field (nx, 2, nE, n_dir, 4) on ``root``, None elsewhere."""
        parts = self.comm.gather(self.field.copy(), root=root)
        return np.concatenate(parts) if parts is not None else None

    def set_state(self, time: float, field_local: np.ndarray) -> None:
        """Restart from the owned cells ``field_local`` (n_local, 2, nE, n_dir, 4) at ``time``.

        Collective only through the step size, which is recomputed from the new state.
        """
        self.field[...] = field_local
        self.ts.setTime(time)
        self.dt = self.default_dt()

    # ------------------------------------------------------------------- TS
    def _rhs_function(self, ts, t, X, F) -> None:
        self.da.globalToLocal(X, self._Xl)
        u = self._view(self._Xl, self.n_local + 2 * STENCIL_WIDTH)
        self._view(F, self.n_local)[...] = self.rhs(u)

    def _make_ts(self):
        PETSc = self.PETSc
        ts = PETSc.TS().create(comm=self.comm)
        ts.setOptionsPrefix(OPTIONS_PREFIX)
        ts.setDM(self.da)
        ts.setProblemType(PETSc.TS.ProblemType.NONLINEAR)
        ts.setType(PETSc.TS.Type.RK)
        ts.setRKType("4")
        ts.setRHSFunction(self._rhs_function, self.da.createGlobalVec())
        ts.setExactFinalTime(PETSc.TS.ExactFinalTime.MATCHSTEP)
        ts.setMaxSteps(2 ** 31 - 1)
        ts.setTime(0.0)
        # petsc4py 3.18 has no TSAdapt binding: default the adaptor through the
        # options database (fixed steps keep rank counts bit-comparable), user value wins
        opts = PETSc.Options()
        key = OPTIONS_PREFIX + "ts_adapt_type"
        ours = not opts.hasName(key)
        if ours:
            opts.setValue(key, "none")
        ts.setFromOptions()
        if ours:
            opts.delValue(key)
        return ts

    def default_dt(self) -> float:
        """Collective. Step from the config, or min(CFL, phase step / max rate), as 1/omega0.

        Shortened so that output_interval is a whole number of steps.
        """
        tset = self.settings.time
        if tset.dt is not None:
            dt = tset.dt
        else:
            g, col = self.settings.grid, self.settings.physics.collisions
            dt_cfl = tset.cfl * g.length / g.nx / max(np.abs(self.rhs.v).max(), 1e-300)
            hmax = self.comm.allreduce(self.rhs.max_frequency(self.field), op=MPI.MAX)
            rate = max(hmax, max(max(r) for r in col.gamma), col.scattering)
            dt = min(dt_cfl, tset.phase_step / rate) if rate > 0 else dt_cfl
        return tset.output_interval / math.ceil(tset.output_interval / dt * (1 - 1e-12))

    def advance_to(self, t: float) -> None:
        """Collective. Integrate from the current time to ``t`` with steps of ``self.dt``."""
        if t <= self.time:
            return
        self.ts.setTimeStep(min(self.dt, t - self.time))
        self.ts.setMaxTime(t)
        self.ts.solve(self.X)
        self.ts.setTime(t)  # round-off in the accumulated time must not drift the output grid

    def record(self) -> diagnostics.KineticRecord:
        """Collective. Domain averages at the current time."""
        return diagnostics.record(self.time, self.field, self.settings.grid.nx, self.rhs.w,
                                  self.rhs.energy_weights, self.comm)

    def output_times(self) -> np.ndarray:
        """Output times k * output_interval from the current time to t_end (inclusive)."""
        tset = self.settings.time
        n = int(math.floor(tset.t_end / tset.output_interval + 1e-9))
        times = np.arange(n + 1) * tset.output_interval
        return times[times > self.time + 1e-12 * tset.output_interval]

    def run(self, writer=None, on_record=None):
        """Collective. Integrate to t_end; record every output time (and snapshots).

        ``writer`` (a :class:`nmbhpc.kinetics.output.KineticWriter`) gets every
        record and snapshot; ``on_record(record)`` is called too. Returns the
        list of records (including the initial one at the start time).
        """
        snaps = [t for t in self.settings.time.snapshot_times if t >= self.time]
        stops = sorted(set(self.output_times().tolist()) | set(snaps))
        records = [self._emit(writer, on_record)]
        if writer is not None and snaps and abs(snaps[0] - self.time) < 1e-12:
            writer.snapshot(self)
        out_set = set(self.output_times().tolist())
        for t in stops:
            self.advance_to(t)
            if t in out_set:
                records.append(self._emit(writer, on_record))
            if writer is not None and t in snaps:
                writer.snapshot(self)
        return records

    def _emit(self, writer, on_record):
        rec = self.record()
        # warn when positivity is lost, and again each time the violation doubles
        if rec.trace_margin < min(-1e-8, 2.0 * self._worst_margin):
            self._worst_margin = rec.trace_margin
            log.warning("t = %.6g: rho is not positive semi-definite somewhere "
                        "(min P0 - |P| = %.3e)", rec.time, rec.trace_margin)
        if writer is not None:
            writer.append(rec)
        if on_record is not None:
            on_record(rec)
        return rec

    def destroy(self) -> None:
        """Collective. Free the PETSc objects."""
        for obj in (self.ts, self.X, self._Xl, self.da):
            obj.destroy()
