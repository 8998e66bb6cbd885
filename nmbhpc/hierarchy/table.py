"""The table type shared by the physical and the code-unit scale estimates.

A table is a plain ``list[Row]``; :func:`format_table` renders it for people and
:func:`table_arrays` turns it into fixed-width numpy arrays that an HDF5 writer
can store as datasets or attributes without knowing this module.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

#: Default threshold below which a ratio counts as a strong inequality "<<".
DEFAULT_THRESHOLD = 1e-2


@dataclass(frozen=True)
class Row:
    """One quantity: ``value`` in ``unit`` ("1" for dimensionless), from ``formula``.

    ``value`` is ``nan`` when the quantity is not defined for the input (the
    formula then says why), ``inf`` when a time scale is infinite (no coupling).
    """

    name: str
    value: float
    unit: str
    formula: str


@dataclass(frozen=True)
class Inequality:
    """One strong inequality ``a << b`` of Eq. (17), tested as ``a/b < threshold``.

    ``ratio`` is ``a/b`` (dimensionless). ``holds`` is None when the ratio is
    undefined (e.g. no elapsed time was given). ``note`` says why a failure is
    not a window warning (printed under a failing row); empty when it is one.
    """

    name: str
    ratio: float
    threshold: float
    holds: Optional[bool]
    note: str = ""

    @staticmethod
    def test(name: str, a: float, b: float, threshold: float) -> "Inequality":
        """``a << b``: a/b with IEEE semantics (a/0 = inf, inf/inf = nan -> undefined)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = float(np.float64(a) / np.float64(b))
        holds = None if ratio != ratio else bool(ratio < threshold)
        return Inequality(name, ratio, threshold, holds)

    def describe(self) -> str:
        mark = {True: "holds", False: "FAILS", None: "n/a"}[self.holds]
        ratio = "undefined" if self.ratio != self.ratio else f"{self.ratio:.3e}"
        line = f"[{mark:>5}] {self.name:<26} ratio {ratio} (strong if < {self.threshold:g})"
        if self.holds is False and self.note:
            line += f"\n          {self.note}"
        return line


def row(rows: Sequence[Row], name: str) -> Row:
    """The row called ``name`` (KeyError if absent)."""
    for r in rows:
        if r.name == name:
            return r
    raise KeyError(name)


def value(rows: Sequence[Row], name: str) -> float:
    """Value of the row called ``name``."""
    return row(rows, name).value


def _fmt(x: float) -> str:
    if x != x:
        return "n/a"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == int(x) and abs(x) < 1e6:
        return f"{int(x)}"
    return f"{x:.4g}" if 1e-3 <= abs(x) < 1e5 else f"{x:.3e}"


def format_table(rows: Sequence[Row], title: str = "") -> str:
    """Render rows as aligned text columns: name, value, unit, formula."""
    cells = [(r.name, _fmt(r.value), r.unit, r.formula) for r in rows]
    head = ("quantity", "value", "unit", "formula")
    w = [max(len(c[i]) for c in cells + [head]) for i in range(3)]
    lines = [title] if title else []
    lines.append(f"  {head[0]:<{w[0]}}  {head[1]:>{w[1]}}  {head[2]:<{w[2]}}  {head[3]}")
    for c in cells:
        lines.append(f"  {c[0]:<{w[0]}}  {c[1]:>{w[1]}}  {c[2]:<{w[2]}}  {c[3]}")
    return "\n".join(lines)


def table_arrays(rows: Sequence[Row]) -> dict:
    """Columns as numpy arrays: ``name``, ``unit``, ``formula`` (UTF-8 bytes,
    fixed width) and ``value`` (float64), in row order; for HDF5 storage."""
    def text(items):
        enc = [s.encode("utf-8") for s in items]
        width = max((len(e) for e in enc), default=1) or 1
        return np.array(enc, dtype=f"S{width}")

    return {
        "name": text(r.name for r in rows),
        "value": np.array([r.value for r in rows], dtype=np.float64),
        "unit": text(r.unit for r in rows),
        "formula": text(r.formula for r in rows),
    }
