"""Experiments on the scale hierarchy tau_int << t << tau_mfp^fs << tau_mfp^c of Eq. (17)
of Johns, arXiv:2305.04916 (docs/experiments-hierarchy.md).

* :mod:`.correlations` — A: exact many-body vs mean field vs second-order cumulant.
* :mod:`.instabilities` — B: kinetic collisional/fast growth rates vs the dispersion relation.
* :mod:`.localised` — C: localised vs homogeneous initial states in the kinetic solver.
* :mod:`.common` — parameter table -> per-run result files -> analysis tables/plots.

Each experiment module provides ``parameter_table(size)``, ``run_one(row, comm)``
(collective) and ``analyse(rows, results, directory)``; sizes are ``tiny``
(tests, seconds), ``default`` (minutes on a workstation) and ``large``.
"""
from importlib import import_module

#: experiment letter -> module name
EXPERIMENTS = {"A": "correlations", "B": "instabilities", "C": "localised"}


def experiment(name: str):
    """The module of experiment ``name`` (A, B or C; case-insensitive)."""
    key = name.upper()
    if key not in EXPERIMENTS:
        raise KeyError(f"unknown experiment {name!r} (known: {', '.join(EXPERIMENTS)})")
    return import_module(f"{__name__}.{EXPERIMENTS[key]}")
