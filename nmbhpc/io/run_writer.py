"""Parallel-HDF5 writer of a spin-solver run file (format ``nmbhpc-run``, docs/file-format.md).

A :class:`~nmbhpc.io.run_file.RunFile` with one :class:`~nmbhpc.io.run_file.TimeSeries`
handler for the observables of :mod:`nmbhpc.io.layout` and the one-off
distributed arrays of the base (final state vectors). The observables of a
record are identical on every rank, so rank 0 alone writes each row
(independent I/O) while the dataset resizes, attributes and flushes are
collective, as parallel HDF5 requires for anything that changes metadata.

Crash semantics: every :meth:`RunWriter.append` ends with a flush (unless
``flush_interval`` asks for fewer), and the root attribute ``n_records`` is
raised only after the record's rows are written, so a run killed at any point
leaves a file that :func:`nmbhpc.io.read_run` reads up to its last complete
output (``status == "running"``).

Creation (``force=True`` or not): the checks run first, on rank 0, before any
file is touched; the header is built in ``OUT.h5.part`` and renamed to the
output path once complete (:meth:`~nmbhpc.io.run_file.RunFile._complete_creation`),
so an old file replaced with ``force`` survives until then. The records are
written in place after that, so a run that dies leaves its partial output at
the path the user asked for.
"""
from __future__ import annotations

import logging
import os
import time

import numpy as np

from . import layout
from .run_file import RunFile, TimeSeries, attr_value, provenance

log = logging.getLogger(__name__)


class RunWriter(RunFile):
    """Writer of one nmbhpc run file; create it with :meth:`create` (collective).

    Use as a context manager: a normal exit closes with ``status="completed"``,
    an exception with ``status="failed"``.
    """

    format_name = layout.FORMAT_NAME
    format_version = layout.FORMAT_VERSION
    canonical_scales = {"time": "time", "mode": "modes/mode", "component": "modes/component"}

    def variables(self) -> dict:
        return layout.variables()

    def __init__(self, h5file, comm, n_modes: int, counts: np.ndarray, path: str):
        """Internal; use :meth:`create` or :meth:`open_existing`."""
        super().__init__(h5file, comm, path)
        self._n_modes = n_modes
        self._weights = counts / counts.sum() if counts.sum() > 0 else counts.astype(float)
        self._series = TimeSeries(self)
        self._last_flush = -np.inf
        self.flush_interval = 0.0

    # ------------------------------------------------------------------ create
    @classmethod
    def create(cls, path, comm, config, *, force: bool = False, attrs: dict | None = None,
               flush_interval: float = 0.0) -> "RunWriter":
        """Collective. Create the run file ``path`` for ``config`` (a RunConfig) on ``comm``.

        Refuses (raises on every rank, before any file is created or
        truncated) an existing ``path`` unless ``force``, and a missing or
        non-writable directory. Writes the root provenance attributes, the
        ``/model`` attributes and the static ``/modes`` datasets, and creates
        the empty time series. ``attrs`` (rank 0's values) are added to the
        root attributes.

        ``flush_interval`` (seconds, rank 0's clock): 0 flushes after every
        record (the crash guarantee above; a flush is an fsync, ~5-10 ms on a
        local disk); a positive value flushes at most that often, for runs
        with very many cheap outputs. A crash then loses the records since the
        last flush, and HDF5 does not promise a readable file if the process
        dies between flushes.
        """
        from ..config import dump_config

        resolved = dump_config(config)
        size = comm.Get_size()
        h5file, comm, meta = cls._create_file(path, comm, force=force,
                                              header=lambda: cls._metadata(config, size))
        writer = cls(h5file, comm, len(meta["modes"]["n"]), np.asarray(meta["modes"]["n"]),
                     os.fspath(path))
        writer.flush_interval = float(flush_interval)

        def write_header():  # same data on every rank: a failure here is collective too
            writer._root_header(config.solver, config.source_text, resolved,
                                {**meta["provenance"], "config_path": config.source_path}, attrs)
            writer._write_header(meta)

        writer._complete_creation(write_header, force=force)
        log.info("writing %s", writer.path)
        return writer

    @staticmethod
    def _metadata(config, mpi_size: int) -> dict:
        """Everything the header holds, computed on rank 0 (bcast to the others)."""
        model = config.model
        mu = model.mu
        model_attrs = {
            "name": model.name, "theta": float(model.theta), "mu0": float(mu.mu0),
            "mu_schedule": mu.kind, "mu_max_step": float(mu.max_step),
            "single_angle": bool(model.single_angle),
            "single_angle_factor": float(model.single_angle_factor),
            "n_total": model.n_total, "n_modes": model.n_modes,
        }
        if mu.kind == "bulb":
            model_attrs.update(mu_r0=float(mu.r0), mu_radius=float(mu.radius))
        static = {"planned_times": np.asarray(config.output.times, dtype=np.float64)}
        if mu.kind == "table":
            static["model/mu_times"] = np.asarray(mu.times, dtype=np.float64)
            static["model/mu_values"] = np.asarray(mu.values, dtype=np.float64)
        modes = {
            "n": model.counts,
            "omega": model.omegas,
            "direction": model.directions.reshape(-1, 3),
            "initial_polarization": model.initial_polarizations.reshape(-1, 3),
            # 1: antineutrino mode (flipped isospin, docs/conventions.md)
            "antineutrino": np.array([m.is_antineutrino for m in model.modes], dtype=np.int8),
        }
        return {"provenance": provenance(mpi_size), "model": model_attrs, "static": static,
                "modes": modes, "pair": bool(config.output.pair_correlations)}

    def _write_header(self, meta: dict) -> None:
        f = self._file
        with self.header():
            g = f.require_group("model")
            for k, v in meta["model"].items():
                g.attrs[k] = attr_value(v)
            for name, arr in meta["modes"].items():
                self._create_and_fill(f"modes/{name}", arr)
            for name, arr in meta["static"].items():
                self._create_and_fill(name, arr)
            for s in layout.SERIES:
                if not s.optional or (s.field == "pair_correlation" and meta["pair"]):
                    self._create_series(s, 0)

    # ---------------------------------------------------------------- helpers
    def _create_and_fill(self, name: str, arr: np.ndarray) -> None:
        """Collective create; rank 0 writes (the arrays are identical everywhere)."""
        dset = self._file.create_dataset(name, shape=arr.shape, dtype=arr.dtype)
        self.rank0_writes([(dset, Ellipsis, arr)] if arr.size else [])

    def _create_series(self, s: layout.Series, rows: int):
        row = s.row_shape(self._n_modes)
        dtype = np.dtype(s.dtype)
        return self._series.create(
            s.path, row, dtype, rows=rows,
            chunks=layout.chunk_shape(row, dtype.itemsize, min_rows=s.min_rows),
            fillvalue=np.nan)  # unwritten rows read as NaN

    def _values(self, rec) -> dict:
        """Row values of ``rec`` per series path, shape-checked (None: absent)."""
        out = {}
        for s in layout.SERIES:
            if s.field is None:
                v = float(np.dot(self._weights, np.asarray(rec.nue_fraction, dtype=np.float64)))
            else:
                v = getattr(rec, s.field)
            if v is None:
                out[s.path] = None
                continue
            v = np.asarray(v, dtype=s.dtype)
            want = s.row_shape(self._n_modes)
            if v.shape != want:
                raise ValueError(f"ObservableRecord.{s.field} has shape {v.shape}, "
                                 f"the file expects {want} ({self._n_modes} modes)")
            out[s.path] = v
        return out

    def _handlers(self) -> list:
        return [self._series]

    def _forget_handles(self) -> None:
        self._series.datasets = {}

    # ----------------------------------------------------------------- public
    def append(self, rec) -> None:
        """Collective. Append one ObservableRecord (identical on every rank) and flush.

        Rank 0's values are written; all ranks resize every series by one row.
        """
        values = self._values(rec)
        for s in layout.SERIES:
            # an optional series first seen now: its earlier rows stay NaN
            if s.path not in self._series.datasets and values[s.path] is not None:
                self._create_series(s, self._n)
        # rank 0's clock decides, so that all ranks flush (collectively) together
        flush = self._series.append(
            values, self._n,
            self._rank == 0 and time.monotonic() - self._last_flush >= self.flush_interval)
        self._count_record(flush)
        if flush:
            self._last_flush = time.monotonic()

    # ----------------------------------------------------- restart / checkpoints
    @classmethod
    def open_existing(cls, path, comm) -> "RunWriter":
        """Collective. Reopen run file ``path`` to append (a restart).

        Checks on rank 0 that it is an nmbhpc run file this version reads
        (raises :class:`~nmbhpc.io.RunFileError` on every rank otherwise),
        sets ``status`` back to ``"running"`` and positions the writer after
        the last complete record (:meth:`truncate` moves it back).
        """
        from .run_reader import RunFileError, read_run

        def probe(p):
            run = read_run(p)
            return run.modes.n, run.n_records, run.config_toml, run.status

        h5file, comm, meta = cls._reopen_file(path, comm, probe, RunFileError)
        counts, n_records, config_toml, status = meta
        writer = cls(h5file, comm, len(counts), np.asarray(counts), os.fspath(path))
        writer._n = int(n_records)
        writer._series.adopt(s.path for s in layout.SERIES)
        writer._mark_reopened(status, config_toml)
        return writer
