"""Mean-field solver: exact limits, conservation laws, rank independence, options."""
from __future__ import annotations

import numpy as np
import pytest
from mpi4py import MPI

from dense_reference import DenseReference
from meanfield_cases import config, pol, random_model, run
from nmbhpc.physics.model import Mode, Model
from nmbhpc.physics.schedule import MuSchedule
from nmbhpc.meanfield.solver import MeanFieldSolver
from nmbhpc.solvers import solver_class
from nmbhpc.runtime.stack import init_petsc


def exact_polarizations(model, times):
    ref = DenseReference(model)
    return np.array([ref.observables(psi, 0.0)["polarization"] for psi in ref.states(times)])


@pytest.mark.parametrize("n", [1, 3, 6])
def test_single_mode_equals_exact(comm, n):
    # one mode: no pair term at all, so <J> precesses exactly like the classical spin, for any j
    model = Model(modes=(Mode(n=n, omega=1.3, polarization=(0.6, 0.0, 0.8)),), theta=0.3,
                  mu=MuSchedule(mu0=7.0))
    times = np.linspace(0.0, 4.0, 9)
    _, recs = run(MeanFieldSolver, config(model, times), comm)
    assert np.allclose(pol(recs), exact_polarizations(model, times), atol=1e-8)


def test_mu_zero_equals_exact(comm):
    modes = (Mode(n=1, omega=0.7, direction=(1, 0, 0), polarization=(0, 0, 1)),
             Mode(n=2, omega=-1.1, direction=(0, 1, 0), polarization=(0.6, 0.0, -0.8)),
             Mode(n=3, omega=2.0, direction=(0, 0, 1), polarization=(0.0, 0.6, 0.8)))
    model = Model(modes=modes, theta=0.4, mu=MuSchedule(mu0=0.0))
    times = np.linspace(0.0, 5.0, 11)
    _, recs = run(MeanFieldSolver, config(model, times), comm)
    assert np.allclose(pol(recs), exact_polarizations(model, times), atol=1e-8)


@pytest.mark.parametrize("single_angle", [False, True])
def test_conservation(comm, single_angle):
    model = random_model(40, seed=3, mu=6.0, theta=0.25, single_angle=single_angle)
    times = np.linspace(0.0, 8.0, 9)
    _, recs = run(MeanFieldSolver, config(model, times), comm)
    p = pol(recs)
    assert np.max(np.abs(np.linalg.norm(p, axis=2) - 1.0)) < 1e-8
    e = np.array([r.energy for r in recs])
    bj = np.array([r.b_dot_j for r in recs])
    assert np.max(np.abs(e - e[0])) < 1e-8 * max(1.0, abs(e[0]))
    assert np.max(np.abs(bj - bj[0])) < 1e-8 * max(1.0, abs(bj[0]))
    # the dynamics is not trivial: polarisations really move
    assert np.max(np.abs(p[-1] - p[0])) > 0.1


def test_energy_is_mean_field_energy(comm):
    # independent evaluation with the dense coupling matrix
    model = random_model(7, seed=5, mu=2.5, theta=0.1)
    _, recs = run(MeanFieldSolver, config(model, [0.0, 0.5]), comm)
    j = 0.5 * model.counts
    for r in recs:
        s = r.polarization * j[:, None]
        e = np.sum(model.omegas * (s @ model.b_vector())) + \
            model.mu(r.time) / model.n_total * 0.5 * np.sum(model.couplings() * (s @ s.T))
        assert r.energy == pytest.approx(e, rel=1e-12, abs=1e-12)


def test_rank_count_independent(comm):
    # uneven partitions (M = 11 over 2 or 3 ranks) must give the serial answer
    model = random_model(11, seed=7, mu=5.0)
    times = np.linspace(0.0, 3.0, 4)
    _, par = run(MeanFieldSolver, config(model, times), comm)
    _, ser = run(MeanFieldSolver, config(model, times), MPI.COMM_SELF)
    assert np.allclose(pol(par), pol(ser), atol=1e-9)
    for r in par:  # records are identical on every rank
        assert np.array_equal(comm.bcast(r.polarization, root=0), r.polarization)


def test_time_dependent_mu_hits_output_times(comm):
    # mu(t) varies but mu = 0 in every pair term for a single mode: still exact precession,
    # and output times are hit exactly (records at the requested times)
    model = Model(modes=(Mode(n=2, omega=0.9, polarization=(1.0, 0.0, 0.0)),),
                  mu=MuSchedule(kind="table", times=(0.0, 2.0), values=(1.0, 5.0)))
    times = np.array([0.0, 0.37, 1.1, 2.9])
    _, recs = run(MeanFieldSolver, config(model, times), comm)
    assert np.allclose([r.time for r in recs], times, rtol=0, atol=0)
    assert np.allclose([r.mu for r in recs], model.mu(times))
    assert np.allclose(pol(recs), exact_polarizations(model, times), atol=1e-8)


def test_petsc_options_prefix(comm):
    PETSc, _ = init_petsc([])
    opts = PETSc.Options()
    opts.setValue("mf_ts_rk_type", "5dp")
    opts.setValue("mf_ts_rtol", "1e-7")
    try:
        solver = MeanFieldSolver(config(random_model(3, seed=1), [0.0, 1.0]), comm)
        info = solver.describe()
    finally:
        opts.delValue("mf_ts_rk_type")
        opts.delValue("mf_ts_rtol")
    assert info["ts_rk_type"] == "5dp"
    assert info["ts_rtol"] == pytest.approx(1e-7)


def test_registry():
    assert solver_class("meanfield") is MeanFieldSolver
    assert solver_class("twa").__name__ == "TWASolver"
    assert solver_class("cumulant").__name__ == "CumulantSolver"


def test_final_state_layout(comm):
    model = random_model(5, seed=2)
    solver, _ = run(MeanFieldSolver, config(model, [0.0, 0.3]), comm)
    local, offset, shape = solver.final_state()
    assert shape == (5, 3)
    pieces = comm.allgather((offset, local))
    full = np.concatenate([blk for _, blk in sorted(pieces, key=lambda x: x[0])])
    assert full.shape == (5, 3)
    assert np.allclose(np.linalg.norm(full, axis=1), 0.5 * model.counts)


def test_deviation_from_exact_shrinks_like_one_over_n(comm):
    """Stable two-mode model (nu_e-like, omega > 0, misaligned with B): at fixed mu t the
    mean-field error of the exact collective-spin result falls like 1/N."""
    times = np.linspace(0.0, 1.5, 4)
    errs = []
    for n in (4, 8, 16):
        modes = (Mode(n=n, omega=1.0, polarization=(0, 0, 1)), Mode(n=n, omega=2.0, polarization=(0, 0, 1)))
        model = Model(modes=modes, theta=0.4, mu=MuSchedule(mu0=3.0), single_angle=True)
        _, recs = run(MeanFieldSolver, config(model, times), comm)
        errs.append(np.abs(pol(recs) - exact_polarizations(model, times))[-1].max())
    errs = np.array(errs)
    assert errs[0] > 1e-3  # a real, not round-off, deviation
    ratios = errs[:-1] / errs[1:]  # N doubles each time
    assert np.all((ratios > 1.7) & (ratios < 2.3)), ratios


def test_drift_log_uses_natural_scales_when_b_dot_j_starts_at_zero(comm, caplog):
    """Bipolar beams with opposite polarisations: B.J = 0 at t = 0. The drift line must
    stay a drift (round-off), not a division by the vanishing initial value."""
    import logging
    import re

    from meanfield_cases import bipolar, config, run
    from nmbhpc.meanfield.solver import MeanFieldSolver

    cfg = config(bipolar(3, theta=0.1), np.linspace(0.0, 2.0, 5))
    with caplog.at_level(logging.INFO, logger="nmbhpc.meanfield.solver"):
        solver, records = run(MeanFieldSolver, cfg, comm)
        solver.destroy()
    assert abs(records[0].b_dot_j) < 1e-12
    line = next(r.getMessage() for r in caplog.records if "drift" in r.getMessage())
    drifts = [float(x) for x in re.findall(r"(?:energy|B\.J) ([0-9.e+-]+) \(relative", line)]
    assert len(drifts) == 2 and max(drifts) < 1e-4, line
