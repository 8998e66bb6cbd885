"""The one figure style of nmbhpc: colours, rc settings, legends, saving.

Every figure nmbhpc draws goes through this module, so that a solver or a
species has the same colour in every figure (colour-blind-safe Okabe-Ito
palette):

==========  =========  ==========================
solver      colour     species    colour
==========  =========  ==========================
manybody    black      nu_e       orange
meanfield   blue       nubar_e    sky blue
cumulant    vermilion  nu_x       grey (nubar_x dashed)
twa         green
kinetics    purple
==========  =========  ==========================

Antineutrino species are drawn dashed. Several files of the same solver in one figure share its colour and differ
by line style (then by marker); the key says which is which. Legends go
outside the data (to the right of, or above, the axes), or, for panels side by
side, inside at ``loc="best"`` on a translucent frame. :func:`save` writes
PNG, PDF or SVG by the file suffix. Matplotlib runs on the Agg backend (no
display). Not collective: call on one rank.
"""
from __future__ import annotations

import contextlib
import os

#: one colour per solver ("exact" is the manybody solver)
SOLVER_COLORS = {
    "manybody": "#000000",
    "meanfield": "#0072B2",
    "cumulant": "#D55E00",
    "twa": "#009E73",
    "kinetics": "#CC79A7",
}
#: any other solver name
OTHER_COLOR = "#999999"

#: one colour per species (kinetic plots, spectra split by species)
SPECIES_COLORS = {
    "nu_e": "#E69F00",
    "nubar_e": "#56B4E9",
    "nu_x": "#555555",
}

#: mathtext labels of the species
#: antineutrino species are dashed, neutrinos solid (colour = flavor)
ANTI_LINESTYLE = "--"

SPECIES_LABELS = {"nu_e": r"$\nu_e$", "nubar_e": r"$\bar\nu_e$", "nu_x": r"$\nu_x$",
                  "nubar_x": r"$\bar\nu_x$"}

#: solver names as shown in keys
SOLVER_LABELS = {"manybody": "exact", "meanfield": "mean field",
                 "cumulant": "cumulant", "twa": "TWA", "kinetics": "kinetics"}

#: line styles, then markers, that tell apart several files of one solver
LINESTYLES = ("-", "--", ":", "-.")
MARKERS = (None, "o", "s", "^", "v", "D")

#: the rc settings of every nmbhpc figure
RC = {
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.05,
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "legend.framealpha": 0.85,
    "legend.frameon": True,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "lines.linewidth": 1.4,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.formatter.useoffset": False,   # no "1e-9+9.99e-1" offsets: plain tick values
    "svg.fonttype": "none",   # SVG text stays text
    "pdf.fonttype": 42,       # TrueType in PDF (editable, journal-safe)
}

#: output formats by file suffix
FORMATS = {".png": "png", ".pdf": "pdf", ".svg": "svg"}

#: axis label of times in code units
TIME_LABEL = r"$t\ [1/\omega_0]$"


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


@contextlib.contextmanager
def context():
    """``with context() as plt:`` draws with the nmbhpc rc settings."""
    plt = pyplot()
    with plt.rc_context(RC):
        yield plt


def solver_color(solver) -> str:
    """The colour of ``solver`` (``"exact"`` means manybody)."""
    name = "manybody" if str(solver) == "exact" else str(solver)
    return SOLVER_COLORS.get(name, OTHER_COLOR)


def species_color(species: str) -> str:
    """The colour of ``nu_e``, ``nubar_e``, ``nu_x`` (``nubar_x`` shares nu_x's)."""
    return SPECIES_COLORS["nu_x" if species == "nubar_x" else species]


def species_style(species: str) -> dict:
    """Line keyword arguments of a species: its colour, dashed for antineutrinos."""
    return {"color": species_color(species),
            "linestyle": ANTI_LINESTYLE if species.startswith("nubar") else "-"}


def run_styles(solvers) -> list[dict]:
    """Line keyword arguments for a list of runs given by their solver names.

    Colour by solver; the k-th run of the same solver gets line style k (then a marker).
    """
    seen: dict = {}
    out = []
    for s in solvers:
        k = seen.get(s, 0)
        seen[s] = k + 1
        style = {"color": solver_color(s), "linestyle": LINESTYLES[k % len(LINESTYLES)]}
        marker = MARKERS[(k // len(LINESTYLES)) % len(MARKERS)]
        if marker:
            style.update(marker=marker, markersize=3, markevery=0.1)
        out.append(style)
    return out


def run_label(run, base: str = "") -> str:
    """Key text of a run file: ``name (solver)``, plus its status unless completed."""
    name = os.path.relpath(run.path, base) if base else os.path.basename(run.path)
    solver = str(run.attrs.get("solver", "?"))
    status = "" if getattr(run, "status", "completed") == "completed" else f", {run.status}"
    return f"{name} ({SOLVER_LABELS.get(solver, solver)}{status})"


def legend_outside(ax, **kwargs):
    """Legend to the right of ``ax``, outside the data (None if nothing is labelled)."""
    handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return None
    return ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1.0),
                     borderaxespad=0.0, **kwargs)


def figure_legend(fig, handles, labels, ncol: int | None = None):
    """One key for the whole figure, above the axes (outside the data)."""
    ncol = ncol or min(len(labels), 3)
    return fig.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, 1.0),
                      ncol=ncol, borderaxespad=0.2)


def save(fig, path, dpi: float | None = None) -> str:
    """Write ``fig`` to ``path`` as PNG, PDF or SVG (by the suffix) and close it.

    ``dpi``: raster resolution (PNG; embedded images of PDF/SVG); default 150.
    Raises ValueError naming ``path`` for another suffix or a non-positive dpi.
    """
    plt = pyplot()
    try:
        path = os.fspath(path)
        fmt = FORMATS.get(os.path.splitext(path)[1].lower())
        if fmt is None:
            raise ValueError(f"{path}: unknown figure format (use a .png, .pdf or .svg file name)")
        if dpi is not None and not dpi > 0:
            raise ValueError(f"dpi must be positive, got {dpi}")
        with plt.rc_context(RC):
            fig.savefig(path, format=fmt, dpi=dpi if dpi is not None else RC["savefig.dpi"])
    finally:
        plt.close(fig)
    return path
