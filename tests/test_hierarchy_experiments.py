"""Issue 7 experiments A, B, C at their "tiny" sizes, and the hierarchy record in run files.

Collective tests (every rank runs them; results are replicated), seconds each.
Physics checks are against independent results: the closed-form collisional
growth rate, the exact linear-stability eigenvalue (first-order perturbation
theory must approach it), the bipolar mean-field equilibrium, conservation of
the total lepton number and of the mean densities.
"""
from __future__ import annotations

import csv
import logging
import os

import numpy as np
import pytest

from nmbhpc.hierarchy import check_window, run_hierarchy
from nmbhpc.analysis.hierarchy_experiments import common, correlations, instabilities, localised
from nmbhpc.hierarchy.recording import record_hierarchy
from nmbhpc.kinetics import dispersion


def _csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# --- hierarchy table in a run file ---------------------------------------------------
class _Recorder(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.records = []

    def emit(self, record):
        self.records.append(record)


def _logged(call):
    """(return value of ``call()``, the records it logged through ``nmbhpc`` at INFO and above)."""
    logger, handler = logging.getLogger("nmbhpc"), _Recorder()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)  # other ranks' loggers may be set to ERROR by earlier runs
    try:
        return call(), handler.records
    finally:
        logger.setLevel(level)
        logger.removeHandler(handler)


def test_record_hierarchy_stores_table_and_returns_window_warnings(comm, shared_tmp_path):
    from nmbhpc.io.run_writer import RunWriter
    from nmbhpc.runtime.stack import import_h5py

    row = dict(model="bipolar", N=8, modes=2, mu=10.0, theta=0.0, t_end=100.0, n_out=3)
    config = correlations.run_config(row, "meanfield")
    path = str(shared_tmp_path / "hier.h5")
    writer = RunWriter.create(path, comm, config)
    warnings, logged = _logged(lambda: record_hierarchy(config, writer))
    writer.close()
    assert [r.getMessage() for r in logged if r.levelno >= logging.WARNING] == warnings
    expected = check_window(config)
    assert warnings == expected
    # g(t) = mu t / (2N) = 62.5 >= 1 and a mean-field run past t_lnN: both must be flagged
    assert any("g(t)" in w for w in warnings) and any("t_lnN" in w for w in warnings)
    if comm.Get_rank() == 0:
        h5py = import_h5py()
        with h5py.File(path, "r") as f:
            names = [n.decode() for n in f["hierarchy/name"][()]]
            values = f["hierarchy/value"][()]
            rows = run_hierarchy(config)
            assert names == [r.name for r in rows]
            np.testing.assert_array_equal(values, [r.value for r in rows])
            assert values[names.index("g(t)")] == pytest.approx(10.0 * 100.0 / 16)
            assert f["hierarchy/inequalities/holds"].shape == (3,)
            stored = f.attrs["hierarchy_warnings"]
            stored = stored.decode() if isinstance(stored, bytes) else str(stored)
            assert stored.split("\n") == warnings
    comm.Barrier()
    # a restarted run reopens the file: the call must not try to write the table again,
    # nor warn again (the run warned when it started; the file says so)
    writer = RunWriter.open_existing(path, comm)
    again, logged = _logged(lambda: record_hierarchy(config, writer))
    writer.close()
    assert again == warnings
    assert [r.levelno for r in logged] == [logging.INFO]
    assert "reported when this run started" in logged[0].getMessage()


# --- A ---------------------------------------------------------------------------------
def test_experiment_a_pipeline_and_where_mean_field_fails(comm, shared_tmp_path):
    from nmbhpc.cli import main

    d = str(shared_tmp_path / "expA")
    assert main(["hierarchy-experiment", "all", "A", d, "--size", "tiny"]) == 0
    rows, results = common.load_results(d)
    assert len(rows) == 4 and all(r is not None for r in results)
    for row, res in zip(rows, results):
        assert res["dev_meanfield"][0] == pytest.approx(0.0, abs=1e-12)
        assert res["dev_cumulant"][0] == pytest.approx(0.0, abs=1e-12)
        if row["model"] == "bipolar":
            # theta = 0: the mean-field state is an equilibrium (independent of any solver)
            np.testing.assert_allclose(res["pol_meanfield"][:, 0, 2], 1.0, atol=1e-9)
            # exact: total J^z = 0 is conserved, so P_1z = -P_2z
            np.testing.assert_allclose(res["pol_manybody"][:, 0, 2], -res["pol_manybody"][:, 1, 2],
                                       atol=1e-8)
        # the cumulant theory is exact to O(t^2); mean field is not: early on it is closer
        k = 2
        assert res["dev_cumulant"][k] < 0.5 * res["dev_meanfield"][k]
    mut = {(r["model"], r["N"]): r["mu"] * res["time"] for r, res in zip(rows, results)}
    tf = {(r["model"], r["N"], s): correlations.failure_time(mut[(r["model"], r["N"])], res[f"dev_{s}"])
          for r, res in zip(rows, results) for s in correlations.SOLVERS}
    # first-order (mean-field) kinetics fails later for larger N, and two-body correlators delay it
    assert tf[("bipolar", 4, "meanfield")] < tf[("bipolar", 64, "meanfield")]
    for model, n in {(r["model"], r["N"]) for r in rows}:
        assert tf[(model, n, "meanfield")] <= tf[(model, n, "cumulant")]
    if comm.Get_rank() == 0:
        table = _csv(os.path.join(d, "results.csv"))
        assert len(table) == 4
        for name in ("results.md", "deviation.png", "failure_time.png"):
            assert os.path.getsize(os.path.join(d, name)) > 0
    comm.Barrier()


# --- B ---------------------------------------------------------------------------------
def test_first_order_collisional_shift_approaches_the_exact_eigenvalue():
    k_star, rate0 = instabilities.ffi_fastest()
    assert rate0 > 0.1
    for gamma in (1e-5, 1e-4):
        s = instabilities.ffi_settings(gamma, 1.0, 24)
        exact_shift = dispersion.growth_rate(s, k_star) - rate0
        approx_shift = instabilities.ffi_first_order(k_star, gamma) - rate0
        assert approx_shift == pytest.approx(exact_shift, rel=2e-2)
    # leading-order collisional formula: exact as Gamma/mu -> 0, off at Gamma/mu = 1
    for gamma, tol in ((1e-4, 1e-3), (1e-2, 1e-2)):
        exact = dispersion.collisional_isotropic(1.0, 1.0, 1.0, gamma, gamma / 3).real
        assert instabilities.collisional_leading_order(gamma) == pytest.approx(exact, rel=tol)
    exact = dispersion.collisional_isotropic(1.0, 1.0, 1.0, 1.0, 1.0 / 3).real
    assert abs(instabilities.collisional_leading_order(1.0) - exact) > 0.1 * exact


def test_experiment_b_tiny_growth_rates(comm, shared_tmp_path):
    d = str(shared_tmp_path / "expB")
    rows = instabilities.parameter_table("tiny")
    common.write_params(d, rows, comm)
    common.run_rows(instabilities.run_one, d, None, comm)
    rows, results = common.load_results(d)
    for row, res in zip(rows, results):
        if row["scan"] == "collisional":
            g = row["gamma_over_mu"]
            closed = dispersion.collisional_isotropic(1.0, 1.0, 1.0, g, g / 3).real
            assert res["measured"] == pytest.approx(closed, rel=1e-2), row
        else:
            assert res["measured"] == pytest.approx(res["predicted"], rel=3e-2), row
    if comm.Get_rank() == 0:
        instabilities.analyse(rows, results, d)
        assert len(_csv(os.path.join(d, "results.csv"))) == len(rows)
        assert os.path.getsize(os.path.join(d, "growth_rates.png")) > 0
    comm.Barrier()


# --- C ---------------------------------------------------------------------------------
def test_localised_profile_keeps_the_mean_density():
    for sigma in (0.2, 0.05):
        row = dict(localised.parameter_table("tiny")[0], sigma_over_L=sigma, nx=64)
        prof = localised.profile(row, 0, 64)
        assert prof.mean() == pytest.approx(1.0, rel=1e-13)
        assert prof.max() > 1.5 and prof.min() >= localised.FLOOR
        # any slice of the global profile is the same numbers (partition independence)
        np.testing.assert_array_equal(localised.profile(row, 10, 30), prof[10:30])


def test_experiment_c_tiny_localised_differs_from_homogeneous(comm, shared_tmp_path):
    d = str(shared_tmp_path / "expC")
    common.write_params(d, localised.parameter_table("tiny"), comm)
    common.run_rows(localised.run_one, d, None, comm)
    rows, results = common.load_results(d)
    hom, loc = results
    assert rows[0]["sigma_over_L"] == localised.HOMOGENEOUS
    # same mean densities initially; total particle number of each species conserved (theta != 0:
    # flavors mix, nu + nubar numbers do not change without collisions)
    np.testing.assert_allclose(hom["number_density"][0], loc["number_density"][0], rtol=1e-12)
    for res in (hom, loc):
        tot = res["number_density"].sum(axis=2)
        np.testing.assert_allclose(tot, tot[0][None, :].repeat(len(tot), 0), rtol=1e-9)
    assert hom["pee_nu"][0] == 1.0 and loc["pee_nu"][0] == 1.0
    assert hom["pee_nu"].min() < 0.5           # the bipolar pendulum swings
    assert np.abs(loc["pee_nu"] - hom["pee_nu"]).max() > 0.05
    # the default limiter keeps rho >= 0 (the unlimited scheme lost it in the packets); the
    # homogeneous pendulum is a pure rotation of P, which RK4 shortens, so it never needs the limiter
    assert loc["trace_margin"].min() > -1e-12
    assert hom["limiter"][-1][0] == 0 and loc["limiter"][-1][0] > 0
    if comm.Get_rank() == 0:
        out = localised.analyse(rows, results, d)
        assert out["table"][0][5] == 0.0 and out["table"][1][5] > 0.05
        assert os.path.getsize(os.path.join(d, "survival.png")) > 0
    comm.Barrier()
