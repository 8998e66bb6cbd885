"""Serial reader of nmbhpc run files and their human summary (``nmbhpc info``).

Not collective: any process may read any run file, whatever rank count wrote
it, including the file of a killed run (``status == "running"``), which is
read up to its last complete record.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from ..physics import invariants
from . import layout
from .run_file import complete_rows, open_for_reading, py_value as _py


class RunFileError(ValueError):
    """A file that is missing, not HDF5, not an nmbhpc run file, or damaged."""


@dataclass(frozen=True)
class ModeTable:
    """Static per-mode data: counts n_p, omega_p (units of omega0), unit directions,
    initial flavor-frame polarisations."""

    n: np.ndarray
    omega: np.ndarray
    direction: np.ndarray
    initial_polarization: np.ndarray


@dataclass(frozen=True)
class RunData:
    """Everything in a run file, as numpy arrays (time axis first, T complete records).

    Vectors are in the flavor frame; times in 1/omega0, energies in omega0.
    ``pair`` is None if the run did not record pair correlations, ``pehlivan``
    (the invariants ``<h_p>`` of :mod:`nmbhpc.physics.invariants`, omega0) if it
    did not record them.
    """

    path: str
    time: np.ndarray            # [T]
    mu: np.ndarray              # [T]
    polarization: np.ndarray    # [T, M, 3]
    nue_fraction: np.ndarray    # [T, M]
    rho1: np.ndarray            # [T, M, 2, 2] complex
    entropy: np.ndarray         # [T, M]
    nue_total: np.ndarray       # [T], weighted by n_p
    norm: np.ndarray            # [T]
    energy: np.ndarray          # [T]
    b_dot_j: np.ndarray         # [T]
    pair: np.ndarray | None     # [T, M, M]
    pehlivan: np.ndarray | None  # [T, M], single-angle models with distinct omegas and pairs
    modes: ModeTable
    planned_times: np.ndarray
    attrs: dict = field(repr=False)
    model: dict = field(repr=False)
    config_toml: str = field(repr=False, default="")
    status: str = "unknown"

    @property
    def n_records(self) -> int:
        return int(self.time.shape[0])


_FIELDS = {  # RunData field -> dataset path
    "time": "time", "mu": "mu", "nue_total": "nue_fraction",
    "polarization": "modes/polarization", "nue_fraction": "modes/nue_fraction",
    "rho1": "modes/rho1", "entropy": "modes/entropy", "norm": "monitors/norm",
    "energy": "monitors/energy", "b_dot_j": "monitors/b_dot_j", "pair": "correlations/pair",
    "pehlivan": "monitors/pehlivan",
}
_OPTIONAL = ("correlations/pair", "monitors/pehlivan")


def _open(path: str):
    return open_for_reading(path, layout.FORMAT_NAME, layout.FORMAT_VERSION, RunFileError,
                            "run file")


def read_run(path) -> RunData:
    """Read a run file serially; raise :class:`RunFileError` naming ``path`` if it is not one.

    The time axis is cut to the complete records: the ``n_records`` root
    attribute, and never longer than the shortest series (a run killed
    between two resizes).
    """
    path = os.fspath(path)
    f = _open(path)
    try:
        with f:
            missing = [p for p in list(_FIELDS.values()) + ["modes/n"]
                       if p not in f and p not in _OPTIONAL]
            if missing:
                raise RunFileError(f"{path}: damaged run file, missing dataset(s) {missing}")
            t = complete_rows(f, _FIELDS.values())
            series = {k: (f[p][:t] if p in f else None) for k, p in _FIELDS.items()}
            modes = ModeTable(**{k: f[f"modes/{k}"][()] for k in
                                 ("n", "omega", "direction", "initial_polarization")})
            attrs = {k: _py(v) for k, v in f.attrs.items()}
            model = {k: _py(v) for k, v in f["model"].attrs.items()} if "model" in f else {}
            planned = f["planned_times"][()] if "planned_times" in f else np.empty(0)
    except RunFileError:
        raise
    except (OSError, KeyError, ValueError) as exc:
        raise RunFileError(f"{path}: damaged run file ({exc})") from None
    return RunData(path=path, modes=modes, planned_times=planned, attrs=attrs, model=model,
                   config_toml=str(attrs.get("config_toml", "")),
                   status=str(attrs.get("status", "unknown")), **series)


def _fmt(x: float) -> str:
    return f"{x:.3e}"


def describe(path) -> str:
    """Human summary of a run file (several lines, no trailing newline).

    Solver, sizes, time range and record count, status, versions, MPI size,
    final total nu_e fraction and the drift of the monitors. Raises
    :class:`RunFileError` like :func:`read_run`.
    """
    return describe_data(read_run(path))


def describe_data(run: RunData) -> str:
    """:func:`describe` of an already read :class:`RunData`."""
    a, m = run.attrs, run.model
    n_modes = len(run.modes.n)
    lines = [
        f"{run.path}: {a.get('format')} v{a.get('format_version')}, solver {a.get('solver')}, "
        f"status {run.status}",
        f"  model     {m.get('name', '?')}: {n_modes} modes, N = {int(np.sum(run.modes.n))} neutrinos, "
        f"theta = {m.get('theta', float('nan')):g}, mu {m.get('mu_schedule', '?')} "
        f"(mu0 = {m.get('mu0', float('nan')):g}), "
        + ("single-angle" if m.get("single_angle") else "multi-angle"),
    ]
    planned = len(run.planned_times)
    if run.n_records:
        lines.append(f"  records   {run.n_records}" + (f" of {planned} planned" if planned else "")
                     + f", t = {run.time[0]:g} .. {run.time[-1]:g} (1/omega0)")
    else:
        lines.append("  records   none" + (f" (of {planned} planned)" if planned else ""))
    lines += [
        f"  written   {a.get('created_utc', '?')} by nmbhpc {a.get('nmbhpc_version', '?')} "
        f"(git {a.get('git_revision', '?')}), MPI size {a.get('mpi_size', '?')}",
        f"  stack     PETSc {a.get('petsc_version', '?')}, SLEPc {a.get('slepc_version', '?')}, "
        f"h5py {a.get('h5py_version', '?')}, HDF5 {a.get('hdf5_version', '?')}",
        f"  config    {a.get('config_path', '?')}",
    ]
    if run.n_records:
        lines.append(f"  nu_e      total fraction {run.nue_total[0]:.6f} -> {run.nue_total[-1]:.6f}")
        energy_note = "" if m.get("mu_schedule", "constant") == "constant" else \
            " (mu varies: E not conserved)"
        lines.append(
            f"  monitors  max|norm-1| = {_fmt(np.max(np.abs(run.norm - 1)))}, "
            f"max|E-E0| = {_fmt(np.max(np.abs(run.energy - run.energy[0])))}{energy_note}, "
            f"max|BJ-BJ0| = {_fmt(np.max(np.abs(run.b_dot_j - run.b_dot_j[0])))}")
    lines.append("  pairs     " + ("recorded" if run.pair is not None else "not recorded"))
    lines.append("  Pehlivan  " + _pehlivan_summary(run))
    return "\n".join(lines)


def _pehlivan_summary(run: RunData) -> str:
    """The Pehlivan-invariant line of :func:`describe_data`: drift, or why there is none."""
    if run.pehlivan is None or not run.n_records:
        if not run.model.get("single_angle"):
            why = "multi-angle model: no Pehlivan invariants"
        elif len(np.unique(run.modes.omega)) < len(run.modes.omega):
            why = "equal omegas: no Pehlivan invariants"
        elif run.pair is None:
            why = "they need output.pair_correlations = true"
        else:
            why = "no records"
        return f"not recorded ({why})"
    drift = invariants.max_relative_drift(run.pehlivan)
    if run.model.get("mu_schedule", "constant") != "constant":
        return f"max relative drift {_fmt(drift)} (mu varies: the h_p are not conserved)"
    return (f"max relative drift {_fmt(drift)} (max over t, p of |h_p(t) - h_p(t0)| / "
            "max_p |h_p(t0)|; conserved at constant mu)")
