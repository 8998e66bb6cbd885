"""The solver registry is the one list of solvers: every entry loads and follows the protocol."""
from __future__ import annotations

import pytest

from nmbhpc.solvers import FIELD_SNAPSHOTS, REGISTRY, SOLVERS, resumable, solver_class, spec


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_registered_solver_follows_the_protocol(name):
    cls = solver_class(name)
    entry = spec(name)
    for method in ("describe", "records", "static_datasets", "final_state", "destroy", "work"):
        assert callable(getattr(cls, method, None)), f"{name}: no {method}()"
    if entry.resumable:
        assert callable(getattr(cls, "restore", None)) and callable(
            getattr(cls, "checkpoint_extras", None)), name
    if FIELD_SNAPSHOTS in entry.streams:
        assert callable(getattr(cls, "snapshots", None)), name
    if entry.from_snapshot:
        assert callable(getattr(cls, "start_from_snapshot", None)), name


def test_registry_lists_kinetics_and_the_spin_solvers():
    assert set(REGISTRY) == {"manybody", "meanfield", "cumulant", "twa", "kinetics"}
    assert spec("kinetics").file_format == "nmbhpc-kinetics"
    assert set(SOLVERS) == set(REGISTRY) - {"kinetics"}  # the configs with [model]/[output]
    assert "kinetics" in resumable()
    with pytest.raises(KeyError, match="known: manybody"):
        spec("nosuch")
