"""Figures of kinetic run files (``nmbhpc kinetics`` output), in physical units
when the file records the physical scale.

The code unit of time is 1/omega0 and of length c/omega0 (docs/kinetics.md).
:func:`physical_scale` looks for omega0 in s^-1: a root or ``/kinetics``
attribute named in :data:`SCALE_ATTRS`, else a key of that name anywhere in
the stored config text, else a comment of the stored config such as
``omega0 = mu = ... = 9.418e10 s^-1`` (the Richers et al. presets carry
one). Without it the axes stay in 1/omega0 and say so. Figures are returned
open; write them with :func:`nmbhpc.plots.style.save`. Not collective.
"""
from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass

import numpy as np

from ..physics.constants import C_CM_S
from ..runtime.stack import import_h5py
from . import style

#: attribute / config key names holding omega0 in s^-1
SCALE_ATTRS = ("omega0_per_second", "omega0_per_s", "omega0_s-1", "omega0_hz")

_COMMENT = re.compile(r"#.*omega0\b.*?=\s*([0-9.]+(?:[eE][+-]?[0-9]+)?)\s*s\^-1")


@dataclass(frozen=True)
class Scale:
    """Unit conversion of the axes: t_axis = t_code * time_factor, x_axis = x_code * length_factor."""

    time_factor: float
    time_label: str
    length_factor: float
    length_label: str
    source: str        # where omega0 came from ("" if unknown)


CODE_UNITS = Scale(1.0, style.TIME_LABEL, 1.0, r"$z\ [c/\omega_0]$", "")


def _omega0_from_config(text: str):
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        doc = {}
    stack = [doc]
    while stack:
        node = stack.pop()
        for k, v in node.items():
            if isinstance(v, dict):
                stack.append(v)
            elif k in SCALE_ATTRS and isinstance(v, (int, float)) and v > 0:
                return float(v), f"config key {k}"
    m = _COMMENT.search(text)
    if m and float(m.group(1)) > 0:
        return float(m.group(1)), "config comment"
    return None, ""


def physical_scale(run) -> Scale:
    """Time in ns and lengths in cm if omega0 [s^-1] is known for ``run``, else code units."""
    omega0, source = None, ""
    for where in (run.attrs, run.grid):
        for k in SCALE_ATTRS:
            v = where.get(k)
            if isinstance(v, (int, float)) and v > 0:
                omega0, source = float(v), f"attribute {k}"
                break
        if omega0:
            break
    if omega0 is None:
        omega0, source = _omega0_from_config(run.config_toml or "")
    if omega0 is None:
        return CODE_UNITS
    return Scale(1e9 / omega0, r"$t$ [ns]", C_CM_S / omega0, r"$z$ [cm]", source)


def last_snapshot_profile(run):
    """``(time, z, offdiag[2, nx])`` of the last snapshot of a 1D run, else None.

    Per cell and species (nu, nubar): the off-diagonal amplitude
    ``|sum_e W_e sum_i w_i (Px + i Py)|`` (= 2 |rho_ex|, n_ref) along z (c/omega0).
    """
    n = len(run.snapshot_times)
    if not n:
        return None
    h5py = import_h5py()
    with h5py.File(run.path, "r") as f:
        d = f["kinetics/snapshots/field"]
        if d.ndim != 6:           # [S, nx, species, energy, direction, 4]: 1D box only
            return None
        field = d[n - 1]
    we, w = np.asarray(run.grid["energy_weights"]), np.asarray(run.grid["w"])
    ang = np.einsum("e,i,xseic->scx", we, w, field)          # [species, component, x]
    return float(run.snapshot_times[-1]), np.asarray(run.grid["x"]), np.hypot(ang[:, 1], ang[:, 2])


def _run_marker(k: int) -> dict:
    """Several kinetic files in one figure: the k-th gets the k-th marker (colour = species)."""
    marker = style.MARKERS[k % len(style.MARKERS)]
    return {"marker": marker, "markersize": 3, "markevery": 0.1} if marker else {}


def _time_text(t: float, sc: Scale) -> str:
    return f"{t * sc.time_factor:.4g} ns" if sc.source else f"{t:.4g}/" + r"$\omega_0$"


def evolution(runs):
    """Kinetic runs: domain-averaged number densities of nu_e, nubar_e, nu_x, nubar_x
    vs time, the off-diagonal amplitudes, and for 1D runs the off-diagonal profile
    at the last snapshot vs z; physical units if known (:func:`physical_scale`).

    Colour = flavor (nu_e, nubar_e, nu_x), dashed = antineutrinos; several files
    are told apart by markers.
    """
    runs = [r for r in runs if r.n_records]
    if not runs:
        raise ValueError("no kinetic records to plot")
    scales = [physical_scale(r) for r in runs]
    if len({(s.time_label, s.time_factor) for s in scales}) > 1:
        scales = [CODE_UNITS] * len(runs)   # mixed scales: one common axis in code units
    sc0 = scales[0]
    profiles = [last_snapshot_profile(r) for r in runs]
    with_profile = any(p is not None for p in profiles)
    single = len(runs) == 1

    def tag(k):
        return "" if single else f" {os.path.basename(runs[k].path)}"

    with style.context() as plt:
        nrows = 3 if with_profile else 2
        fig, axes = plt.subplots(nrows, 1, figsize=(7.5, 2.7 * nrows), constrained_layout=True)
        a, b = axes[0], axes[1]
        for k, (r, sc) in enumerate(zip(runs, scales)):
            t = r.time * sc.time_factor
            nd = r.number_density
            for key, y in (("nu_e", nd[:, 0, 0]), ("nubar_e", nd[:, 1, 0]),
                           ("nu_x", nd[:, 0, 1]), ("nubar_x", nd[:, 1, 1])):
                a.plot(t, y, label=style.SPECIES_LABELS[key] + tag(k),
                       **style.species_style(key), **_run_marker(k))
            for s, key, name in ((0, "nu_e", r"$\nu$"), (1, "nubar_e", r"$\bar\nu$")):
                b.semilogy(t, np.maximum(r.offdiag_amplitude[:, s], 1e-300), label=name + tag(k),
                           **style.species_style(key), **_run_marker(k))
        a.set_ylabel(r"number density [$n_{\rm ref}$]")
        a.set_title(r"domain-averaged number densities (dashed: $\bar\nu$)", fontsize="small")
        b.set_ylabel(r"$2|\rho_{ex}|$ rms [$n_{\rm ref}$]")
        b.set_title("domain-averaged off-diagonal amplitude", fontsize="small")
        for ax in (a, b):
            ax.set_xlabel(sc0.time_label)
            style.legend_outside(ax)
        if with_profile:
            c = axes[2]
            times = set()
            for k, (r, sc, prof) in enumerate(zip(runs, scales, profiles)):
                if prof is None:
                    continue
                ts, z, off = prof
                times.add(_time_text(ts, sc))
                for s, key, name in ((0, "nu_e", r"$\nu$"), (1, "nubar_e", r"$\bar\nu$")):
                    c.plot(z * sc.length_factor, off[s], label=name + tag(k),
                           **style.species_style(key), **_run_marker(k))
            c.set_xlabel(sc0.length_label)
            c.set_ylabel(r"$2|\rho_{ex}|$ [$n_{\rm ref}$]")
            c.set_title(f"off-diagonal amplitude along the box at the last snapshot "
                        f"(t = {', '.join(sorted(times))})", fontsize="small")
            style.legend_outside(c)
        if single:
            fig.suptitle(os.path.basename(runs[0].path)
                         + ("" if sc0.source else r"  (physical scale unknown: code units)"),
                         fontsize="medium")
    return fig


def plot(runs, directory: str, fmt: str = "png", dpi: float | None = None) -> list[str]:
    """``nmbhpc analyze``: write kinetics_evolution.<fmt> in ``directory``; return its path."""
    return [style.save(evolution(runs), os.path.join(directory, f"kinetics_evolution.{fmt}"), dpi)]
