"""The run-file layout shared by the writer, the reader and docs/file-format.md.

One place names every dataset of a spin run file: for the time series their
per-row shape, dtype and chunking; for every dataset its dimension names,
``units`` and one-line ``description`` (:class:`Var`), which the writer
stores as attributes and dimension scales (:meth:`nmbhpc.io.run_file.RunFile.annotate`)
so that the writer, readers such as xarray, and the docs cannot drift apart.

Units: ``omega0`` (frequencies, energies), ``1/omega0`` (times), ``1``
(dimensionless), ``""`` for labels and indices.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: root attribute counting complete records (every format; nmbhpc.io.run_file)
N_RECORDS_ATTR = "n_records"

FORMAT_NAME = "nmbhpc-run"
# Bump only when a reader of the old version would misread a new file
# (renamed/removed dataset, changed meaning or units); adding is free.
FORMAT_VERSION = 1

# Target bytes per chunk: big enough that a 1e6-row series has few chunks,
# small enough that reading one mode's history does not read every mode.
CHUNK_TARGET_BYTES = 256 * 1024
CHUNK_MAX_ROWS = 4096
CHUNK_MIN_ROWS = 16


@dataclass(frozen=True)
class Var:
    """What a dataset means: its dimension names (one per axis), units, description."""

    dims: tuple
    units: str
    description: str


#: Labels of the coordinate datasets of labelled dimensions (written as fixed-length
#: UTF-8 strings); any other dimension gets an integer index 0..n-1 as coordinate.
COORDINATE_LABELS = {
    "component": ("x", "y", "z"),
    "flavor_row": ("e", "x"),
    "flavor_col": ("e", "x"),
    "species": ("nu", "nubar"),
    "flavor": ("e", "x"),
    "p_component": ("P0", "Px", "Py", "Pz"),
    "lepton": ("ELN", "XLN"),
    "limiter_quantity": ("matrices_limited", "overshoot", "eln_minus_xln_change"),
}

#: What the coordinate datasets of :meth:`RunFile.annotate` mean (labels or index)
COORDINATE_DESCRIPTIONS = {
    "mode": "mode index p (row of /modes/*)",
    "mode_q": "second mode index q of a pair (p, q)",
    "component": "Cartesian component of a vector, flavor frame (z = flavor axis)",
    "flavor_row": "row flavor index of a 2x2 density matrix (e = nu_e)",
    "flavor_col": "column flavor index of a 2x2 density matrix (e = nu_e)",
    "species": "neutrinos or antineutrinos",
    "flavor": "flavor",
    "p_component": "component of (P0, P): rho = (P0 + P.sigma)/2",
    "lepton": "electron / heavy-lepton number",
    "limiter_quantity": "cumulative positivity-limiter totals: matrices limited, sum of "
                        "|P| - P0 removed, change of ELN - XLN left (summed over cells)",
    "sample": "TWA sample index",
    "dir": "momentum direction index (quadrature node)",
    "energy": "energy bin index",
}


@dataclass(frozen=True)
class Series:
    """One time-series dataset: ``path`` has shape ``[T, *row_shape(M)]``.

    ``field`` is the ObservableRecord attribute it comes from (None: derived
    by the writer). ``min_rows`` is the fewest time rows per chunk before
    the per-row dimensions are split.
    """

    path: str
    field: str | None
    rank: int  # number of mode axes (each of length M) before the trailing dims
    trailing: tuple
    dtype: str
    optional: bool = False
    min_rows: int = CHUNK_MIN_ROWS
    dims: tuple = ()   # names of the per-row axes (the leading axis is "time")
    units: str = ""
    description: str = ""

    @property
    def var(self) -> Var:
        return Var(("time",) + tuple(self.dims), self.units, self.description)

    def row_shape(self, n_modes: int) -> tuple:
        return (n_modes,) * self.rank + tuple(self.trailing)


SERIES = (
    Series("time", "time", 0, (), "f8", units="1/omega0", description="output time"),
    Series("mu", "mu", 0, (), "f8", units="omega0",
           description="self-interaction strength mu(t) in force at that time (coupling mu/N)"),
    Series("nue_fraction", None, 0, (), "f8", units="1",
           description="total isospin-up fraction sum_p n_p (1 + P_p^z)/2 / N (nu_e for neutrino modes)"),
    Series("modes/polarization", "polarization", 1, (3,), "f8", dims=("mode", "component"),
           units="1", description="polarization P_p = <J_p>/j_p of each mode, flavor frame"),
    Series("modes/nue_fraction", "nue_fraction", 1, (), "f8", dims=("mode",), units="1",
           description="(1 + P_p^z)/2: nu_e fraction of neutrino modes, nubar_x of antineutrino modes"),
    Series("modes/rho1", "rho1", 1, (2, 2), "c16", dims=("mode", "flavor_row", "flavor_col"),
           units="1", description="one-neutrino reduced density matrix (1 + P_p.sigma)/2, flavor basis"),
    Series("modes/entropy", "entropy", 1, (), "f8", dims=("mode",), units="1",
           description="von Neumann entropy -tr rho1 log rho1 (natural log, max log 2)"),
    Series("monitors/norm", "norm", 0, (), "f8", units="1",
           description="norm ||psi|| of the state (1 for classical solvers)"),
    Series("monitors/energy", "energy", 0, (), "f8", units="omega0",
           description="energy <H> at that time's mu"),
    Series("monitors/b_dot_j", "b_dot_j", 0, (), "f8", units="1",
           description="total <B.J> (conserved)"),
    # an [M, M] row is large: chunks may hold a single time
    Series("correlations/pair", "pair_correlation", 2, (), "f8", optional=True, min_rows=1,
           dims=("mode", "mode_q"), units="1",
           description="connected pair correlation <J_p.J_q> - <J_p>.<J_q>"),
    # single-angle models with distinct omegas and pair correlations only
    Series("monitors/pehlivan", "pehlivan", 1, (), "f8", optional=True, dims=("mode",),
           units="omega0", description="Pehlivan invariants <h_p> of a single-angle model"),
)

#: The scale hierarchy every run file records (nmbhpc.hierarchy.recording)
HIERARCHY = {
    "hierarchy/name": Var(("quantity",), "", "name of each scale of the hierarchy"),
    "hierarchy/formula": Var(("quantity",), "", "how each scale is computed"),
    "hierarchy/unit": Var(("quantity",), "", "unit of each scale"),
    "hierarchy/value": Var(("quantity",), "see hierarchy/unit", "value of each scale"),
    "hierarchy/inequalities/name": Var(("inequality",), "", "ordering of scales checked"),
    "hierarchy/inequalities/ratio": Var(("inequality",), "1", "ratio of the two scales"),
    "hierarchy/inequalities/holds": Var(("inequality",), "1", "1 if the ordering holds"),
}

#: Static datasets of a spin run file and those other parts of nmbhpc add to it
#: (dataset path -> Var; the solver's own ``solver/*`` datasets may be missing here).
#: ``state/final`` depends on the solver: keyed by its number of axes.
STATIC = {
    "modes/n": Var(("mode",), "1", "neutrinos per mode n_p (mode spin j_p = n_p/2)"),
    "modes/omega": Var(("mode",), "omega0", "vacuum frequency omega_p (negative: antineutrino-like)"),
    "modes/direction": Var(("mode", "component"), "1", "unit momentum direction of each mode"),
    "modes/initial_polarization": Var(("mode", "component"), "1",
                                      "initial polarization P_p, flavor frame"),
    "modes/species": Var(("mode",), "", "species of each mode: nu or nubar"),
    "modes/antineutrino": Var(("mode",), "1", "1 for an antineutrino mode (flipped isospin), "
                                              "else 0"),
    "planned_times": Var(("planned_times",), "1/omega0", "configured output times"),
    "model/mu_times": Var(("mu_times",), "1/omega0", "times of the mu(t) table"),
    "model/mu_values": Var(("mu_times",), "omega0", "mu at the times of the table"),
    "twa/polarization_stderr": Var(("time", "mode", "component"), "1",
                                   "standard error of the TWA sample mean of P_p"),
    "state/final": {
        1: Var(("state_row",), "1", "final state vector (manybody: global basis order; "
                                    "cumulant: <J_p> then second cumulants)"),
        2: Var(("mode", "component"), "1", "final mean-field <J_p>, flavor frame"),
        3: Var(("sample", "mode", "component"), "1", "final TWA sample spins"),
    },
    "solver/basis_dim": Var((), "1", "dimension of the many-body basis"),
    "solver/sector_k_range": Var(("bound",), "1", "lowest and highest sector k of the basis"),
    **HIERARCHY,
}


def variables() -> dict:
    """Dataset path -> :class:`Var` (or {ndim: Var}) of every known spin run-file dataset."""
    return {**STATIC, **{s.path: s.var for s in SERIES}}


def chunk_shape(row_shape: tuple, itemsize: int, *, min_rows: int = CHUNK_MIN_ROWS,
                target_bytes: int = CHUNK_TARGET_BYTES, max_rows: int = CHUNK_MAX_ROWS) -> tuple:
    """Chunk shape ``(rows, *row_chunk)`` for a dataset growing along axis 0.

    Rows per chunk fill ``target_bytes`` (between ``min_rows`` and
    ``max_rows``); if ``min_rows`` rows still exceed the target, the largest
    per-row dimension is halved until the chunk fits.
    """
    row_bytes = max(1, int(np.prod(row_shape, dtype=np.int64)) * itemsize)
    rows = int(np.clip(target_bytes // row_bytes, min_rows, max_rows))
    dims = [max(1, int(d)) for d in row_shape]
    while dims and rows * int(np.prod(dims)) * itemsize > target_bytes and max(dims) > 1:
        k = int(np.argmax(dims))
        dims[k] = (dims[k] + 1) // 2
    return (rows, *dims)
