"""Collective MPI-IO of row-distributed datasets (each rank: one contiguous row block).

h5py skips the HDF5 call when a rank's selection is empty, which leaves the
other ranks waiting in a collective read/write forever; these helpers always
make the call, with an empty selection if need be, and split large blocks into
rounds that every rank joins (one MPI-IO call moves at most 2^31 bytes).
"""
from __future__ import annotations

import numpy as np

from ..runtime.stack import import_h5py

#: Largest byte count a rank moves in one collective call.
MAX_CALL_BYTES = 1 << 30


def _rounds(comm, n_rows: int, row_bytes: int, max_bytes: int) -> tuple[int, int]:
    """Collective. (rows per round, number of rounds every rank must join)."""
    per_round = max(1, max_bytes // max(1, row_bytes))
    return per_round, comm.allreduce(-(-n_rows // per_round), op=_max_op())


def _max_op():
    from mpi4py import MPI

    return MPI.MAX


def _spaces(dset, start: int, block_shape: tuple):
    """(memory space, file space) selecting rows ``start .. start + block_shape[0]``."""
    h5s = import_h5py().h5s
    fspace = dset.id.get_space()
    if block_shape[0] > 0:
        fspace.select_hyperslab((start,) + (0,) * (len(block_shape) - 1), block_shape)
        return h5s.create_simple(block_shape), fspace
    fspace.select_none()
    mspace = h5s.create_simple((1,))
    mspace.select_none()
    return mspace, fspace


def _collective_dxpl():
    h5py = import_h5py()
    dxpl = h5py.h5p.create(h5py.h5p.DATASET_XFER)
    dxpl.set_dxpl_mpio(h5py.h5fd.MPIO_COLLECTIVE)
    return dxpl


def write_rows(comm, dset, local: np.ndarray, offset: int, max_bytes: int = MAX_CALL_BYTES) -> None:
    """Collective. Write C-contiguous ``local`` to rows ``offset ..`` of ``dset`` (file opened mpio)."""
    n = int(local.shape[0])
    row_bytes = local.itemsize * int(np.prod(local.shape[1:], dtype=np.int64))
    per_round, rounds = _rounds(comm, n, row_bytes, max_bytes)
    dxpl, empty = _collective_dxpl(), np.zeros(1, dtype=local.dtype)
    for r in range(rounds):
        a, b = min(n, r * per_round), min(n, (r + 1) * per_round)
        block = local[a:b] if b > a else empty
        mspace, fspace = _spaces(dset, offset + a, (b - a,) + local.shape[1:])
        dset.id.write(mspace, fspace, block, dxpl=dxpl)


def read_rows(comm, dset, offset: int, count: int, max_bytes: int = MAX_CALL_BYTES) -> np.ndarray:
    """Collective. Return rows ``offset .. offset + count`` of ``dset`` (``count`` may be 0)."""
    shape = (int(count),) + tuple(dset.shape[1:])
    out = np.empty(shape, dtype=dset.dtype)
    row_bytes = dset.dtype.itemsize * int(np.prod(shape[1:], dtype=np.int64))
    per_round, rounds = _rounds(comm, count, row_bytes, max_bytes)
    dxpl, empty = _collective_dxpl(), np.zeros(1, dtype=dset.dtype)
    for r in range(rounds):
        a, b = min(count, r * per_round), min(count, (r + 1) * per_round)
        block = out[a:b] if b > a else empty
        mspace, fspace = _spaces(dset, offset + a, (b - a,) + shape[1:])
        dset.id.read(mspace, fspace, block, dxpl=dxpl)
    return out


def read_distributed(path, name: str, comm, offset: int, count: int) -> np.ndarray:
    """Collective. Read rows ``offset .. offset + count`` of dataset ``name`` of run file ``path``.

    The parallel counterpart of ``RunWriter.write_distributed`` (e.g. a
    restart reading its block of ``/state/final``); any rank may ask for zero
    rows, and the blocks need not match the ones that wrote the file.
    """
    h5py = import_h5py()
    with h5py.File(path, "r", driver="mpio", comm=comm) as f:
        return read_rows(comm, f[name], offset, count)
