"""Writers for result tables: CSV (machine) and GitHub markdown (docs). Not collective."""
from __future__ import annotations

import csv
import math


def fmt(v, digits: int = 4) -> str:
    """Human cell: floats with ``digits`` significant digits, None/NaN as ``-``."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return str(v)


def write_csv(path: str, rows: list[dict]) -> None:
    """Rows of equal keys -> CSV with a header (full float precision)."""
    keys = list(rows[0]) if rows else []
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r[k] is None else r[k]) for k in keys})


def markdown_table(rows: list[dict], digits: int = 4) -> str:
    if not rows:
        return "(no rows)\n"
    keys = list(rows[0])
    out = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    out += ["| " + " | ".join(fmt(r[k], digits) for k in keys) + " |" for r in rows]
    return "\n".join(out) + "\n"

