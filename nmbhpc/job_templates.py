"""Rendering of the SLURM templates (``nmbhpc slurm``).

The templates are package data, ``nmbhpc/templates/slurm/KIND.sbatch``, so an
installed nmbhpc (wheel, ``pip install .``, site module) renders them without
a source tree; ``jobs/slurm/KIND.sbatch`` in the repository are links to the
same files, not copies.

A template is a batch script with ``@@NAME@@`` fields; :func:`render` fills
them from a dict of already shell-quoted strings and refuses a template with
a field left unfilled. The site-specific parts (partition, account, module
loads, environment set-up) are fields too, so one template serves every
cluster.
"""
from __future__ import annotations

import os
import re
import shlex
from importlib import resources
from pathlib import Path

FIELD = re.compile(r"@@([A-Z_]+)@@")
KINDS = ("single", "array", "analyze", "long")


def default_template_dir():
    """The packaged templates (a :class:`importlib.resources.abc.Traversable`; a
    :class:`~pathlib.Path` for an unzipped install)."""
    return resources.files("nmbhpc") / "templates" / "slurm"


def template_path(kind: str, directory=None):
    """Template of ``kind`` in ``directory`` (default: the packaged ones); has ``read_text()``."""
    base = Path(directory) if directory else default_template_dir()
    return base / f"{kind}.sbatch"


def render(text: str, fields: dict) -> str:
    """Fill every ``@@NAME@@`` of ``text``; raise KeyError naming the missing fields."""
    missing = sorted({m for m in FIELD.findall(text) if m not in fields})
    if missing:
        raise KeyError(f"template fields without a value: {', '.join(missing)}")
    return FIELD.sub(lambda m: str(fields[m.group(1)]), text)


def table_rows(path) -> list[list[str]]:
    """Rows of a parameter table (header dropped; blank and '#' lines skipped)."""
    lines = [ln.split() for ln in Path(path).read_text().splitlines()
             if ln.strip() and not ln.lstrip().startswith("#")]
    return lines[1:]


def q(value) -> str:
    return shlex.quote(os.fspath(value))


def site_sbatch(partition=None, account=None, qos=None, extra=()) -> str:
    """``#SBATCH`` lines of the site options (empty string if none)."""
    lines = [f"#SBATCH --partition={partition}" if partition else None,
             f"#SBATCH --account={account}" if account else None,
             f"#SBATCH --qos={qos}" if qos else None]
    lines += [f"#SBATCH {e}" for e in extra]
    return "\n".join(ln for ln in lines if ln)


def site_setup(modules=(), setup=()) -> str:
    """Environment lines: one ``module load`` per module, then the set-up commands verbatim."""
    lines = [f"module load {' '.join(q(m) for m in modules)}"] if modules else []
    return "\n".join(lines + list(setup))
