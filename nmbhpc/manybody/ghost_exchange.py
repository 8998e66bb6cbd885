"""The ghost exchange of the ``separable`` operator's product.

A rank's intermediate rows read off-rank entries of x (the *x ghosts*) and make
sums for off-rank entries of y (the *y ghosts*, the same set). A product moves
them twice: ``fill`` brings the x ghosts in before the ladder sweep, ``add``
adds the y ghosts to their owners after it. Ghost ``i`` of a rank is the global
row ``ghosts[i]``; the sweep reads ``xg[i]`` and assigns/adds ``yg[i]``.

Two ways, chosen with the PETSc option ``-mb_H_ghost_exchange`` (the
operator's prefix; :func:`option_kind` reads it):

* ``scatter``: one PETSc VecScatter, forward with INSERT_VALUES and reverse with
  ADD_VALUES, each rank's ghosts in a sequential Vec. Works across nodes.
* ``shared``: when all ranks of the communicator share one node's memory, the
  ghosts of every rank live in two MPI-3 shared-memory windows. ``fill``: each
  owner writes the entries of its x that other ranks read straight into their
  x ghosts, then a barrier. The sweep writes the y ghosts in place, so ``add``
  is a barrier and each owner adding, from the other ranks' y ghosts, what they
  made for its rows. Nothing is packed, sent or unpacked: each value is copied
  once, by its owner on the way in and read once by its owner on the way out,
  and on 2 ranks the two ranks copy their shares at the same time.
* ``auto`` (default): ``shared`` when the whole communicator is on one node and
  the windows (2 x 16 bytes per ghost of every rank) fit in the free space of the
  directory that backs them (:func:`backing_directory`; a full tmpfs would make
  the first touch of a page a SIGBUS), else ``scatter``.

The two give the same y up to the order of the adds into a row reached from
several ranks (round-off). docs/performance.md section 1 has the measurements.
"""
from __future__ import annotations

import logging
import os
from contextlib import contextmanager, nullcontext

import numpy as np

from ..runtime.jit import njit
from ..runtime.stack import init_petsc
from .shell_operator import ghost_scatter

log = logging.getLogger(__name__)

#: the values of ``-<prefix>ghost_exchange``
KINDS = ("auto", "shared", "scatter")


@njit(cache=True)
def _push(x, run_row, run_slot, run_len, out):
    """``out[run_slot[r] + k] = x[run_row[r] + k]`` for ``k < run_len[r]``. Local."""
    for r in range(run_row.shape[0]):
        # through views of the runs: the loop then compiles to a straight copy (an
        # indexed loop over the same values takes twice as long)
        src = x[run_row[r]:run_row[r] + run_len[r]]
        dst = out[run_slot[r]:run_slot[r] + run_len[r]]
        for k in range(run_len[r]):
            dst[k] = src[k]


@njit(cache=True)
def _pull_add(y, run_row, run_slot, run_len, src):
    """``y[run_row[r] + k] += src[run_slot[r] + k]`` for ``k < run_len[r]``, in the
    order of the runs. Local."""
    for r in range(run_row.shape[0]):
        dst = y[run_row[r]:run_row[r] + run_len[r]]
        add = src[run_slot[r]:run_slot[r] + run_len[r]]
        for k in range(run_len[r]):
            dst[k] += add[k]


def runs(rows: np.ndarray, slots: np.ndarray):
    """``(run_row, run_slot, run_len)``: the pairs ``(rows[i], slots[i])`` as runs in
    which both go up by one. Local."""
    if len(rows) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    cut = np.flatnonzero((np.diff(rows) != 1) | (np.diff(slots) != 1)) + 1
    starts = np.concatenate(([0], cut))
    lengths = np.diff(np.concatenate((starts, [len(rows)])))
    return (np.ascontiguousarray(rows[starts], dtype=np.int64),
            np.ascontiguousarray(slots[starts], dtype=np.int64), lengths.astype(np.int64))


def on_one_node(comm) -> bool:
    """Whether every rank of ``comm`` shares one node's memory. Collective."""
    from mpi4py import MPI

    node = comm.Split_type(MPI.COMM_TYPE_SHARED)
    try:
        return bool(comm.allreduce(node.Get_size() == comm.Get_size(), op=MPI.LAND))
    finally:
        node.Free()


class ScatterExchange:
    """The ghosts through a PETSc VecScatter (any layout of ranks). Build collectively."""

    kind = "scatter"

    def __init__(self, ghosts: np.ndarray, lo: int, hi: int, dim: int, comm):
        PETSc, _ = init_petsc()
        self._forward = (PETSc.InsertMode.INSERT_VALUES, PETSc.ScatterMode.FORWARD)
        self._reverse = (PETSc.InsertMode.ADD_VALUES, PETSc.ScatterMode.REVERSE)
        self.x_ghost, self.scatter = ghost_scatter(ghosts, hi - lo, dim, comm)
        self.y_ghost = self.x_ghost.duplicate()

    def fill(self, x) -> None:
        """The x ghosts from the PETSc Vec ``x``. Collective."""
        self.scatter.scatter(x, self.x_ghost, *self._forward)

    @contextmanager
    def ghost_arrays(self):
        """Context of ``(xg, yg)`` to sweep with: the x ghosts (read) and the y ghosts
        (the sweep assigns each before it adds to it). Local."""
        with self.x_ghost as xg, self.y_ghost as yg:
            yield xg, yg

    def add(self, y) -> None:
        """Add the y ghosts to their owners' rows of the PETSc Vec ``y``. Collective."""
        self.scatter.scatter(self.y_ghost, y, *self._reverse)

    def destroy(self) -> None:
        """Free the Vecs and the scatter (idempotent). Collective."""
        for name in ("scatter", "x_ghost", "y_ghost"):
            obj = getattr(self, name, None)
            if obj is not None:
                obj.destroy()
                setattr(self, name, None)


class SharedExchange:
    """The ghosts in MPI-3 shared-memory windows (all ranks on one node). Build
    collectively; see the module docstring."""

    kind = "shared"

    def __init__(self, ghosts: np.ndarray, lo: int, hi: int, ranges: np.ndarray, comm):
        from mpi4py import MPI

        self.comm = comm
        n = len(ghosts)
        offset = comm.exscan(n) or 0
        total = comm.allreduce(n)
        # the routes, for this rank as the owner: which of its rows go to which slots
        # (another rank's ghost, numbered across the window)
        owners = np.searchsorted(ranges, ghosts, side="right") - 1
        order = np.argsort(owners, kind="stable")
        counts = np.bincount(owners, minlength=comm.Get_size()).astype(np.int64)
        want = np.ascontiguousarray(ghosts[order], dtype=np.int64)
        slots = (order + offset).astype(np.int64)
        counts_in = np.array(comm.alltoall(counts.tolist()), dtype=np.int64)
        got = np.empty(int(counts_in.sum()), dtype=np.int64)
        got_slots = np.empty_like(got)
        for send, recv in ((want, got), (slots, got_slots)):
            comm.Alltoallv([send, (counts, None), MPI.INT64_T],
                           [recv, (counts_in, None), MPI.INT64_T])
        # in slot order: the other ranks' ghosts in turn, each rank's in its order
        by_slot = np.argsort(got_slots, kind="stable")
        rows = got[by_slot] - lo
        wrong = bool(len(rows)) and (rows.min() < 0 or rows.max() >= hi - lo)
        if comm.allreduce(wrong, op=MPI.LOR):  # every rank raises: none waits in a window
            raise RuntimeError("ghost exchange: a rank asked another for rows it does not own")
        self.runs = runs(rows, got_slots[by_slot])

        # one window each for x and y, held by rank 0 (contiguous for all); each
        # rank then touches its own ghosts first, so their pages sit near it
        self.windows, arrays = [], []
        for _ in range(2):
            nbytes = 16 * max(total, 1) if comm.Get_rank() == 0 else 0
            win = MPI.Win.Allocate_shared(nbytes, 16, comm=comm)
            win.Lock_all(MPI.MODE_NOCHECK)
            self.windows.append(win)
            buf, _unit = win.Shared_query(0)
            arrays.append(np.frombuffer(buf, dtype=np.complex128, count=max(total, 1)))
        self.x_all, self.y_all = arrays
        mine = slice(offset, offset + n)
        self.xg, self.yg = self.x_all[mine], self.y_all[mine]
        self.xg[:] = 0
        self.yg[:] = 0
        self._sync()

    def _sync(self) -> None:
        for win in self.windows:
            win.Sync()
        self.comm.Barrier()
        for win in self.windows:
            win.Sync()

    def fill(self, x) -> None:
        """Write this rank's entries of the PETSc Vec ``x`` into the other ranks' x
        ghosts. Collective (a barrier: every rank's x ghosts are complete after it)."""
        _push(x.getArray(readonly=True), *self.runs, self.x_all)
        self._sync()

    def ghost_arrays(self):
        """Context of ``(xg, yg)``: this rank's ghosts in the windows. Local."""
        return nullcontext((self.xg, self.yg))

    def add(self, y) -> None:
        """Add to this rank's rows of the PETSc Vec ``y`` what the other ranks' sweeps
        made for them. Collective (a barrier first: every sweep has finished)."""
        self._sync()
        with y as ya:
            _pull_add(ya, *self.runs, self.y_all)

    def destroy(self) -> None:
        """Free the windows (idempotent). Collective."""
        self.x_all = self.y_all = self.xg = self.yg = None
        for win in self.windows:
            win.Unlock_all()
            win.Free()
        self.windows = []


def backing_directory() -> str:
    """Where the MPI library keeps shared-memory windows: Open MPI's
    ``osc_sm_backing_directory`` when set in the environment, else ``/dev/shm``
    (Open MPI's and MPICH's default on Linux)."""
    return os.environ.get("OMPI_MCA_osc_sm_backing_directory", "/dev/shm")


def shared_bytes_free(needed: int, comm) -> tuple[bool, str, int]:
    """``(fits, directory, free bytes)``: whether ``needed`` bytes of windows fit in
    the backing directory on every rank (a tmpfs that is full makes the first
    touch of a window page a SIGBUS, not an error). An unknown directory counts as
    fitting. Collective."""
    from mpi4py import MPI

    path = backing_directory()
    try:
        st = os.statvfs(path)
        free = st.f_bavail * st.f_frsize
    except OSError:
        free = -1
    fits = free < 0 or free >= needed
    return bool(comm.allreduce(fits, op=MPI.LAND)), path, free


def option_kind(prefix: str) -> str:
    """The value of ``-<prefix>ghost_exchange`` (default ``auto``); anything but one of
    :data:`KINDS` is refused, naming the option. Local."""
    PETSc, _ = init_petsc()
    kind = PETSc.Options(prefix).getString("ghost_exchange", "auto")
    if kind not in KINDS:
        raise ValueError(f"-{prefix}ghost_exchange {kind!r}: expected one of {', '.join(KINDS)}")
    return kind


def ghost_exchange(kind: str, ghosts: np.ndarray, lo: int, hi: int, dim: int, comm,
                   prefix: str = "mb_H_"):
    """The exchange for this rank's ghost rows ``ghosts`` (global, in ghost order) of
    an operator whose rows ``lo:hi`` this rank owns; None on one rank. ``kind`` is
    one of :data:`KINDS` (:func:`option_kind` of the operator's ``prefix``, which the
    messages name). Collective."""
    if comm.Get_size() == 1:
        return None
    option = f"-{prefix}ghost_exchange"
    if kind == "auto" and not on_one_node(comm):
        kind = "scatter"
    elif kind == "shared" and not on_one_node(comm):
        raise ValueError(f"{option} shared: the ranks are not all on one node; "
                         "use scatter (or auto)")
    if kind in ("auto", "shared"):
        # 2 windows of 16 bytes per ghost of every rank, plus a page each
        needed = 2 * 16 * comm.allreduce(len(ghosts)) + 2 * (1 << 16)
        fits, path, free = shared_bytes_free(needed, comm)
        if fits:
            ranges = np.array(comm.allgather(lo) + [dim], dtype=np.int64)
            return SharedExchange(ghosts, lo, hi, ranges, comm)
        message = (f"the ghost windows need {needed / 2**20:.1f} MiB in {path}, which has "
                   f"{free / 2**20:.1f} MiB free")
        if kind == "shared":
            raise ValueError(f"{option} shared: {message}; use scatter, or give "
                             "the windows room (OMPI_MCA_osc_sm_backing_directory)")
        if comm.Get_rank() == 0:
            log.info("ghost exchange through a VecScatter: %s", message)
    return ScatterExchange(ghosts, lo, hi, dim, comm)
