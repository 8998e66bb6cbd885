"""The logN job's exact engine settings (jobs/experiments/logN/base.toml) against a dense oracle.

The job runs the two-beam pendulum with SLEPc's expokit MFN (``manybody.mfn_type``),
which is ~10x faster than the default restarted Krylov MFN at large N
(docs/experiments.md, "Cost of the exact runs"). Here the same base config at N = 20
(an 11 x 11 product space) is checked against tests/dense_reference.py (scipy expm on
the full space), past the conversion time, and the new key's validation is checked.
"""
from __future__ import annotations

import os
import tomllib

import numpy as np
import pytest

from dense_reference import DenseReference
from manybody_cases import assert_close, dense_series, run_engine, series
from nmbhpc.config import ConfigError, config_from_dict

BASE = os.path.join(os.path.dirname(__file__), os.pardir, "jobs", "experiments", "logN", "base.toml")


def logn_config(n_half: int, **manybody):
    with open(BASE, "rb") as fh:
        data = tomllib.load(fh)
    data["model"]["generator"].update(n_nu=n_half, n_nubar=n_half)
    data["output"].update(t_final=3.0, n_out=31)
    data.setdefault("manybody", {}).update({"mfn_tol": 1e-12, **manybody})
    return config_from_dict(data)


def test_logn_base_uses_expokit_and_matches_dense(comm):
    config = logn_config(10)
    assert config.manybody.mfn_type == "expokit"
    records, _, _ = run_engine(config, comm)
    times = series(records, "time")
    obs = DenseReference(config.model).run(times)
    for field in ("polarization", "energy", "b_dot_j", "norm"):
        assert_close(comm, series(records, field), dense_series(obs, field), what=field)
    # not vacuous: quantum fluctuations convert flavor off the mean-field fixed point
    pol = dense_series(obs, "polarization")
    assert np.max(1 - np.sum(pol * pol[0], axis=2)) / 2 > 0.1


def test_mfn_type_validation(comm):
    with pytest.raises(ConfigError, match="manybody.mfn_type"):
        logn_config(2, mfn_type="rk4")
    from nmbhpc.manybody.solver import ManyBodySolver

    with pytest.raises(ConfigError, match="manybody.mfn_type.*MatNorm"):
        ManyBodySolver(logn_config(2, operator="shell"), comm)
