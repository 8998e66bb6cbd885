"""Figures of run files (``nmbhpc run`` output, any solver): time series per mode,
final spectra, comparisons, and the quick-looks of ``nmbhpc analyze``.

Conventions (docs/file-format.md, docs/analysis.md): times in 1/omega0,
frequencies in omega0, polarisations in the flavor frame. The electron-flavor
probability of mode p is ``(1 + P_p^z)/2`` for neutrino modes and
``(1 - P_p^z)/2`` (nubar_e content, flipped isospin) for antineutrino-like
modes; for a mode that starts as nu_e (nubar_e) it is the survival
probability P_ee(t). Which modes are antineutrinos: :func:`antineutrino_modes`. TWA runs get a band of one standard error of
the sample mean (``/twa/polarization_stderr``). Figures are returned open;
write them with :func:`nmbhpc.plots.style.save`. Not collective.
"""
from __future__ import annotations

import functools
import logging
import math
import os
from types import SimpleNamespace

import numpy as np

from ..stack import import_h5py
from . import style

log = logging.getLogger(__name__)

#: above this many panels the figure is still drawn, with a hint to select modes
MANY_PANELS = 24

#: dataset of the TWA standard errors of P_p [T, M, 3]
TWA_STDERR = "twa/polarization_stderr"

#: the per-mode time-series kinds
SERIES_KINDS = ("survival", "polarization")

_Y_LABELS = {
    "survival": r"$\nu_e$ probability",
    "polarization": r"$P_p^z$ (flavor frame)",
}


def _y_label(kind: str, runs) -> str:
    if kind == "survival" and any(antineutrino_modes(r).any() for r in runs):
        return r"$\nu_e$ ($\bar\nu_e$ for $\bar\nu$ modes) probability"
    return _Y_LABELS[kind]


def parse_modes(text: str) -> list[int]:
    """``"0,3,5"`` or ``"0-5,8"`` -> sorted mode indices; ValueError naming the bad item."""
    out = set()
    for item in str(text).split(","):
        item = item.strip()
        try:
            if "-" in item[1:]:
                lo, hi = item.split("-", 1)
                lo, hi = int(lo), int(hi)
                if hi < lo:
                    raise ValueError
                out.update(range(lo, hi + 1))
            else:
                out.add(int(item))
        except ValueError:
            raise ValueError(f"--modes: {item!r} is not a mode index or range like 2-5") from None
    return sorted(out)


def select_modes(n_modes: int, modes=None) -> list[int]:
    """All modes if ``modes`` is None, else the given indices (checked against ``n_modes``)."""
    if modes is None:
        return list(range(n_modes))
    modes = sorted({int(p) for p in modes})
    bad = [p for p in modes if not 0 <= p < n_modes]
    if bad or not modes:
        raise ValueError(f"--modes: {bad or 'empty selection'} outside 0..{n_modes - 1} "
                         f"(the files have {n_modes} modes)")
    return modes


def modes_key(selected, n_modes: int) -> str:
    """Legend title saying which modes the figure shows."""
    if len(selected) == n_modes:
        return f"all {n_modes} modes, one panel per mode"
    return f"modes {', '.join(map(str, selected))} of {n_modes} (0-based), one panel per mode"


def antineutrino_modes(run) -> np.ndarray:
    """``[M]`` bool: which modes hold antineutrinos (flipped isospin, docs/conventions.md).

    A ``/modes/species`` dataset of the file (``"nu"``/``"nubar"``) if there is
    one; else ``Mode.is_antineutrino`` of the model rebuilt from the config text
    stored in the file (the inverted two-beam model has its nu_e beam at negative
    omega); else the modes with ``omega_p < 0``.
    """
    omega = np.asarray(run.modes.omega)
    path = getattr(run, "path", None)
    if path and os.path.exists(path):
        with import_h5py().File(path, "r") as f:
            if "modes/species" in f:
                species = [s.decode() if isinstance(s, bytes) else str(s)
                           for s in f["modes/species"][()]]
                return np.array([s == "nubar" for s in species], dtype=bool)
    from_config = _species_from_config(run.config_toml or "")
    if from_config is not None and len(from_config) == omega.shape[0]:
        return np.array(from_config, dtype=bool)
    return omega < 0


@functools.lru_cache(maxsize=16)
def _species_from_config(text: str):
    """``Mode.is_antineutrino`` of every mode of the config ``text``, None if it does not load."""
    if not text:
        return None
    from ..config import ConfigError, load_config_text

    try:
        return tuple(m.is_antineutrino for m in load_config_text(text).model.modes)
    except (ConfigError, ValueError, KeyError, TypeError):
        return None


def electron_probability(polarization, antineutrino) -> np.ndarray:
    """``[T, M]`` electron-flavor probability from ``P[T, M, 3]`` and the ``[M]`` bool
    antineutrino mask (module docstring)."""
    sign = np.where(np.asarray(antineutrino, dtype=bool), -1.0, 1.0)
    return 0.5 * (1.0 + sign * np.asarray(polarization)[..., 2])


def initial_flavor(antineutrino: bool, pz0: float) -> str:
    """Mathtext name of the flavor state a mode starts in, or "mixed"."""
    if abs(abs(pz0) - 1.0) > 1e-6:
        return "mixed"
    up = pz0 > 0
    if antineutrino:
        return r"$\bar\nu_x$" if up else r"$\bar\nu_e$"
    return r"$\nu_e$" if up else r"$\nu_x$"


def species_fractions(run) -> dict:
    """``{"nu_e": [T], "nubar_e": [T]}``: :func:`nmbhpc.physics.flavor.species_fractions`
    of every record (keys only for species the run has)."""
    from ..physics.flavor import species_fractions as fractions

    anti = antineutrino_modes(run)
    model = SimpleNamespace(modes=[SimpleNamespace(is_antineutrino=bool(a)) for a in anti],
                            counts=run.modes.n)
    rows = [fractions(model, p) for p in run.polarization]
    return {k: np.array([r[k] for r in rows]) for k in (rows[0] if rows else {})}


def read_twa_stderr(run):
    """``[T, M, 3]`` standard errors of a TWA run's polarisations, or None (other solvers)."""
    if run.attrs.get("solver") != "twa":
        return None
    h5py = import_h5py()
    with h5py.File(run.path, "r") as f:
        if TWA_STDERR not in f:
            return None
        d = f[TWA_STDERR]
        return d[:min(run.n_records, d.shape[0])]


def _series(run, kind: str):
    if kind == "survival":
        return electron_probability(run.polarization, antineutrino_modes(run))
    return run.polarization[..., 2]


def _series_err(run, kind: str):
    err = read_twa_stderr(run)
    if err is None:
        return None
    # P_e = (1 +- P^z)/2 halves the error of P^z
    return 0.5 * err[..., 2] if kind == "survival" else err[..., 2]


def _mode_axes(plt, n_panels: int, extra_row: bool = False):
    """Figure with one panel per mode (shared axes), and optionally a full-width row below."""
    if n_panels > MANY_PANELS:
        log.warning("drawing %d mode panels; --modes (e.g. 0,5,10) selects fewer", n_panels)
    nrows = math.ceil(n_panels / 4)
    ncols = math.ceil(n_panels / nrows)     # rows as full as possible: 6 panels -> 2 x 3
    height = 2.3 * nrows + (2.6 if extra_row else 0.0)
    fig = plt.figure(figsize=(max(3.4 * ncols, 6.5), height), constrained_layout=True)
    ratios = [1.0] * nrows + ([1.15] if extra_row else [])
    gs = fig.add_gridspec(len(ratios), ncols, height_ratios=ratios)
    axes, first = [], None
    for k in range(n_panels):
        ax = fig.add_subplot(gs[k // ncols, k % ncols], sharex=first, sharey=first)
        first = first or ax
        axes.append(ax)
    for k, ax in enumerate(axes):
        if k % ncols:
            ax.tick_params(labelleft=False)
        if k + ncols < n_panels:
            ax.tick_params(labelbottom=False)
    bottom = fig.add_subplot(gs[nrows, :], sharex=first) if extra_row else None
    return fig, axes, bottom, ncols


def _check_same_modes(runs) -> int:
    n = runs[0].polarization.shape[1]
    for r in runs[1:]:
        if r.polarization.shape[1] != n:
            raise ValueError(f"{r.path}: {r.polarization.shape[1]} modes, but {runs[0].path} has {n}")
    return n


def _mode_title(run, p: int, anti) -> str:
    om = float(run.modes.omega[p])
    return (rf"p = {p}: $\omega_p$ = {om:.4g} $\omega_0$, starts "
            f"{initial_flavor(anti[p], float(run.modes.initial_polarization[p, 2]))}")


def _draw_modes(runs, axes, modes, kind: str, labels):
    """Per-mode lines (and TWA bands) of every run; returns (handles, labels) for one key."""
    handles, keys, band = [], [], None
    for run, st, label in zip(runs, style.run_styles([r.attrs.get("solver") for r in runs]), labels):
        y, err = _series(run, kind), _series_err(run, kind)
        for ax, p in zip(axes, modes):
            (line,) = ax.plot(run.time, y[:, p], **st)
            if err is not None:
                band = ax.fill_between(run.time, y[:, p] - err[:, p], y[:, p] + err[:, p],
                                       color=st["color"], alpha=0.25, linewidth=0)
        handles.append(line)
        keys.append(label)
    if band is not None:
        handles.append(band)
        keys.append(r"TWA $\pm$ 1 standard error")
    anti = antineutrino_modes(runs[0])
    for ax, p in zip(axes, modes):
        ax.set_title(_mode_title(runs[0], p, anti), fontsize="small")
    return handles, keys


def time_series(runs, kind: str = "survival", modes=None, base: str = ""):
    """Per-mode time series of one or several runs: one panel per selected mode
    (all modes by default), one line per run in each, a key naming runs and modes.

    ``kind``: ``"survival"`` (electron-flavor probability, module docstring) or
    ``"polarization"`` (P_p^z). Raises ValueError for mismatched mode counts or
    modes out of range.
    """
    if kind not in SERIES_KINDS:
        raise ValueError(f"kind must be one of {SERIES_KINDS}, got {kind!r}")
    n_modes = _check_same_modes(runs)
    modes = select_modes(n_modes, modes)
    with style.context() as plt:
        fig, axes, _, ncols = _mode_axes(plt, len(modes))
        handles, keys = _draw_modes(runs, axes, modes, kind, [style.run_label(r, base) for r in runs])
        _label_grid(axes, ncols, _y_label(kind, runs), style.TIME_LABEL)
        if kind == "survival":
            axes[0].set_ylim(-0.03, 1.03)
        title = modes_key(modes, n_modes)
        if kind == "survival":
            title += r"; survival probability where a mode starts as $\nu_e$ or $\bar\nu_e$"
        style.figure_legend(fig, handles, keys).set_title(title)
    return fig


def _label_grid(axes, ncols: int, ylabel: str, xlabel: str | None) -> None:
    n = len(axes)
    for k, ax in enumerate(axes):
        if k % ncols == 0:
            ax.set_ylabel(ylabel)
        if xlabel and k + ncols >= n:
            ax.set_xlabel(xlabel)


def spectrum(runs, base: str = ""):
    """Final spectrum (spectral split): electron-flavor probability at each run's last
    record vs omega_p, one line per run (neutrino and antineutrino modes as separate
    segments, antineutrinos with open markers), the initial spectrum dashed grey;
    TWA error bars of one standard error."""
    with style.context() as plt:
        fig, ax = plt.subplots(figsize=(7.5, 4.2), constrained_layout=True)
        ref = runs[0]
        anti_ref = antineutrino_modes(ref)
        p0 = electron_probability(ref.modes.initial_polarization[None], anti_ref)[0]
        t0 = f"initial (t = {ref.time[0]:.4g})" if ref.n_records else "initial"
        for k, sel in enumerate(_species_segments(ref.modes.omega, anti_ref)):
            ax.plot(ref.modes.omega[sel], p0[sel], color="0.6", ls="--", marker=".",
                    label=None if k else t0)
        t_last = {float(r.time[-1]) for r in runs if r.n_records}
        for run, st in zip(runs, style.run_styles([r.attrs.get("solver") for r in runs])):
            if not run.n_records:
                continue
            anti = antineutrino_modes(run)
            y = electron_probability(run.polarization[-1], anti)
            err = _series_err(run, "survival")
            st = dict(st, marker=st.get("marker") or "o", markersize=4)
            st.pop("markevery", None)
            label = style.run_label(run, base)
            if len(t_last) > 1:
                label += f", t = {run.time[-1]:.4g}"
            for k, sel in enumerate(_species_segments(run.modes.omega, anti)):
                kw = dict(st, label=None if k else label)
                if anti[sel[0]]:
                    kw["markerfacecolor"] = "white"
                if err is not None:
                    ax.errorbar(run.modes.omega[sel], y[sel], yerr=err[-1][sel], capsize=2, **kw)
                else:
                    ax.plot(run.modes.omega[sel], y[sel], **kw)
        ax.set_xlabel(r"$\omega_p\ [\omega_0]$")
        ax.set_ylabel(_y_label("survival", runs))
        ax.set_ylim(-0.03, 1.03)
        when = (f" at t = {t_last.pop():.4g}/" + r"$\omega_0$") if len(t_last) == 1 \
            else " at each run's last record"
        note = r" (open markers: $\bar\nu$ modes)" if anti_ref.any() and not anti_ref.all() else ""
        ax.set_title("final spectrum" + when + note)
        style.legend_outside(ax)
    return fig


def _species_segments(omega, anti) -> list:
    """Index arrays, sorted by omega, of the neutrino and of the antineutrino modes."""
    order = np.argsort(omega, kind="stable")
    return [order[m[order]] for m in (~anti, anti) if m.any()]


def comparison(runs, comparisons, modes=None, base: str = ""):
    """``nmbhpc compare`` figure: P_p^z of every run in one panel per selected mode
    (all by default), and below the largest deviation from the first run,
    max_p |P_p - P_p^ref|, with the threshold f and the departure times tau (Eq. (23))."""
    n_modes = _check_same_modes(runs)
    modes = select_modes(n_modes, modes)
    with style.context() as plt:
        fig, axes, bottom, ncols = _mode_axes(plt, len(modes), extra_row=True)
        labels = [style.run_label(r, base) for r in runs]
        handles, keys = _draw_modes(runs, axes, modes, "polarization", labels)
        _label_grid(axes, ncols, _Y_LABELS["polarization"], None)
        styles = style.run_styles([r.attrs.get("solver") for r in runs])
        for st, cmp in zip(styles[1:], comparisons):
            bottom.semilogy(cmp.time, np.maximum(cmp.max_deviation, 1e-16),
                            color=st["color"], linestyle=st["linestyle"])
            if cmp.departure_time is not None:
                bottom.axvline(cmp.departure_time, color=st["color"], ls=":", lw=1)
        if comparisons:
            f = comparisons[0].fraction
            handles.append(bottom.axhline(f, color="0.4", lw=0.8, ls="--"))
            keys.append(rf"threshold f = {f:g}; dotted verticals: departure times $\tau$")
        bottom.set_ylabel(r"max$_p\,|P_p - P_p^{\rm ref}|$")
        bottom.set_xlabel(style.TIME_LABEL)
        bottom.set_title(f"deviation from the reference {os.path.basename(runs[0].path)} "
                         "(all modes)", fontsize="small")
        style.figure_legend(fig, handles, keys, ncol=2).set_title(modes_key(modes, n_modes))
    return fig


def scan_figures(summaries, directory: str, base: str = "", fmt: str = "png",
                 dpi: float | None = None) -> list[str]:
    """``nmbhpc analyze`` quick-looks of many runs: flavor_evolution, entropies,
    deviations (``.fmt`` files in ``directory``); returns their paths."""
    runs = [s.run for s in summaries if s.run.n_records]
    styles = style.run_styles([r.attrs.get("solver") for r in runs])
    labels = [style.run_label(r, base) for r in runs]
    paths = []
    with style.context() as plt:
        anti = any(antineutrino_modes(r).any() for r in runs)
        fig, axes = plt.subplots(1, 2 if anti else 1, figsize=(11 if anti else 7, 4.2),
                                 constrained_layout=True, squeeze=False)
        for r, st, lab in zip(runs, styles, labels):
            for key, frac in species_fractions(r).items():
                axes[0, min(("nu_e", "nubar_e").index(key), axes.shape[1] - 1)].plot(
                    r.time, frac, label=lab, **st)
        for ax, name in zip(axes[0], (r"$\nu_e$ fraction of the neutrinos",
                                      r"$\bar\nu_e$ fraction of the antineutrinos")):
            ax.set(xlabel=style.TIME_LABEL, ylabel=name)
        axes[0, 0].set_title("flavor evolution (weighted by the mode occupations $n_p$)")
        if anti:
            h, lab = axes[0, 0].get_legend_handles_labels()
            style.figure_legend(fig, h, lab, ncol=2)
        else:
            style.legend_outside(axes[0, 0])
        paths.append(style.save(fig, os.path.join(directory, f"flavor_evolution.{fmt}"), dpi))

        fig, ax = plt.subplots(figsize=(7, 4.2), constrained_layout=True)
        for r, st, lab in zip(runs, styles, labels):
            ax.plot(r.time, r.entropy.max(axis=1), label=lab, **st)
            ax.plot(r.time, r.entropy.mean(axis=1), color=st["color"], lw=0.8, alpha=0.6,
                    linestyle=st["linestyle"])
        ax.set(xlabel=style.TIME_LABEL, ylabel="one-body entropy [nats]",
               title="one-body entanglement entropy (thick: max over modes, thin: mean)")
        style.legend_outside(ax)
        paths.append(style.save(fig, os.path.join(directory, f"entropies.{fmt}"), dpi))

        fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
        tiny = 1e-17  # log axes: exact conservation shows as this floor
        for r, st, lab in zip(runs, styles, labels):
            a1.semilogy(r.time, np.abs(r.energy - r.energy[0]) + tiny, label=lab, **st)
            a1.semilogy(r.time, np.abs(r.b_dot_j - r.b_dot_j[0]) + tiny, color=st["color"],
                        lw=0.8, alpha=0.6, linestyle=st["linestyle"])
        for s in summaries:
            if s.deviation is not None and s.run.n_records:
                k = runs.index(s.run)
                a2.semilogy(s.run.time, s.deviation + tiny, **styles[k])
        a1.set(xlabel=style.TIME_LABEL, ylabel=r"drift [$\omega_0$]",
               title=r"monitors: thick $|E - E_0|$, thin $|B\cdot J - B\cdot J_0|$")
        a2.set(xlabel=style.TIME_LABEL, ylabel=r"max$_p\,|P_p - P_p^{\rm ref}|$",
               title="deviation from the reference run")
        h, lab = a1.get_legend_handles_labels()
        style.figure_legend(fig, h, lab, ncol=2)
        paths.append(style.save(fig, os.path.join(directory, f"deviations.{fmt}"), dpi))
    return paths


def plot_comparison(runs, comparisons, path, modes=None, dpi: float | None = None) -> str:
    """Write the :func:`comparison` figure to ``path`` (PNG, PDF or SVG by the suffix)."""
    return style.save(comparison(runs, comparisons, modes), path, dpi)
