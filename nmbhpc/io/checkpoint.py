"""Checkpoints inside a run file: the solver state at one output time, for restarts.

Layout (docs/file-format.md): group ``/checkpoint`` with two slots
``slot0``/``slot1`` (datasets of the solver's global state shape) and the
group attribute ``current`` (-1: no checkpoint yet). A new checkpoint goes
into the slot that is *not* current, is flushed, and only then does
``current`` move to it (and is flushed again): a run killed while writing a
checkpoint still has the previous one intact.

Slot attributes: ``time`` (1/omega0), ``n_records`` (records 0..n-1 are
consistent with this state; the record at ``time`` is the last of them) and
the solver's scalar extras (``extra_<name>``, e.g. the TS step size). Array
extras (state every rank holds identically, e.g. the TWA's per-output
standard errors) are datasets ``arrays<K>/<name>`` next to ``slot<K>``,
extendable along axis 0 so that a growing history reuses its chunks.

All functions are collective on the communicator the file was opened with;
state arrays are row-distributed and moved with collective MPI-IO
(:mod:`nmbhpc.io.row_blocks`), so a restart may use another rank count.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .row_blocks import read_rows, write_rows

GROUP = "checkpoint"
_EXTRA = "extra_"
_ARRAYS = "arrays"


@dataclass(frozen=True)
class CheckpointInfo:
    """Where and what the current checkpoint is (identical on every rank)."""

    slot: str
    time: float
    n_records: int
    shape: tuple
    extras: dict = field(default_factory=dict)


def current(h5file) -> CheckpointInfo | None:
    """The current checkpoint of an open run file, or None. Not collective (metadata read)."""
    if GROUP not in h5file:
        return None
    g = h5file[GROUP]
    cur = int(g.attrs.get("current", -1))
    if cur < 0:
        return None
    d = g[f"slot{cur}"]
    extras = {k[len(_EXTRA):]: v.item() if isinstance(v, np.generic) else v
              for k, v in d.attrs.items() if k.startswith(_EXTRA)}
    arrays = g.get(f"{_ARRAYS}{cur}")
    if arrays is not None:  # small replicated arrays: an independent read on each rank
        extras.update({name: arrays[name][()] for name in arrays})
    return CheckpointInfo(slot=d.name, time=float(d.attrs["time"]),
                          n_records=int(d.attrs["n_records"]), shape=tuple(d.shape), extras=extras)


def write(h5file, comm, local, offset: int, global_shape, *, time: float, n_records: int,
          extras: dict | None = None, max_bytes: int | None = None) -> None:
    """Collective. Store the row-distributed state ``local`` (rows ``offset..``) as the new checkpoint.

    ``extras``: name -> scalar (an attribute) or array of ndim >= 1 (a dataset;
    every rank must pass the same shape and dtype, rank 0's values are stored).
    """
    local = np.ascontiguousarray(np.atleast_1d(local))
    global_shape = tuple(int(d) for d in global_shape)
    g = h5file.require_group(GROUP)
    if "current" not in g.attrs:
        g.attrs["current"] = -1
    cur = int(g.attrs["current"])
    target = 1 if cur == 0 else 0
    name = f"slot{target}"
    if name in g and (g[name].shape != global_shape or g[name].dtype != local.dtype):
        raise ValueError(f"checkpoint {g.name}/{name}: state shape {global_shape} {local.dtype} "
                         f"differs from the stored {g[name].shape} {g[name].dtype}")
    dset = g[name] if name in g else g.create_dataset(name, shape=global_shape, dtype=local.dtype)
    n = int(local.shape[0])
    kwargs = {} if max_bytes is None else {"max_bytes": max_bytes}
    write_rows(comm, dset, local.reshape((n,) + global_shape[1:]), int(offset), **kwargs)
    dset.attrs["time"] = float(time)
    dset.attrs["n_records"] = int(n_records)
    arrays = {}
    for k, v in (extras or {}).items():
        if np.ndim(v) >= 1:
            arrays[k] = np.ascontiguousarray(v)
        else:
            dset.attrs[_EXTRA + k] = v
    if arrays or f"{_ARRAYS}{target}" in g:
        _write_arrays(g.require_group(f"{_ARRAYS}{target}"), comm, arrays, kwargs)
    h5file.flush()
    g.attrs["current"] = target  # the switch: only after the slot is on disk
    h5file.flush()


def read(h5file, comm, info: CheckpointInfo, offset: int, count: int) -> np.ndarray:
    """Collective. Rows ``offset .. offset + count`` of checkpoint ``info`` (this rank's block)."""
    return read_rows(comm, h5file[info.slot], int(offset), int(count))


def _write_arrays(group, comm, arrays: dict, kwargs: dict) -> None:
    """Collective. Replace the datasets of ``group`` by ``arrays`` (rank 0's values)."""
    for name in [n for n in group if n not in arrays]:
        del group[name]
    for name, arr in sorted(arrays.items()):
        rows, tail = arr.shape[0], arr.shape[1:]
        dset = group.get(name)
        if dset is not None and (dset.shape[1:] != tail or dset.dtype != arr.dtype):
            del group[name]
            dset = None
        if dset is None:
            chunk_rows = max(1, min(1024, (1 << 16) // max(1, arr[:1].nbytes)))
            dset = group.create_dataset(name, shape=arr.shape, maxshape=(None,) + tail,
                                        dtype=arr.dtype, chunks=(chunk_rows,) + tail)
        elif dset.shape[0] != rows:
            dset.resize(rows, axis=0)
        mine = arr if comm.Get_rank() == 0 else arr[:0]
        write_rows(comm, dset, mine, 0, **kwargs)
