"""Beyond mean field: second-order cumulants and truncated Wigner vs exact dense results."""
from __future__ import annotations

import numpy as np
import pytest
from mpi4py import MPI

from dense_reference import DenseReference
from meanfield_cases import bipolar, config, pol, random_model, run
from nmbhpc.meanfield.cumulant import CumulantEquations, CumulantSolver
from nmbhpc.meanfield.equations import SpinEquations
from nmbhpc.meanfield.solver import MeanFieldSolver
from nmbhpc.meanfield.twa import TWASolver, sample_initial_spins


def exact_run(model, times):
    ref = DenseReference(model)
    return [ref.observables(psi, float(model.mu(t))) for t, psi in zip(times, ref.states(times))]


# --- cumulant ------------------------------------------------------------------
def test_cumulant_second_derivative_exact():
    """d^2<J_p>/dt^2 at t = 0 equals -<[H, [H, J_p]]>; mean field misses an O(1/N) part."""
    model = random_model(3, seed=4, mu=3.0, theta=0.3, max_n=3)
    ref = DenseReference(model)
    h = ref.hamiltonian(3.0)
    psi = ref.initial_state()
    exact = np.array([[np.vdot(psi, -(h @ (h @ a - a @ h) - (h @ a - a @ h) @ h) @ psi).real
                       for a in jp] for jp in ref.J])

    ceq = CumulantEquations(model)
    m, g = ceq.initial()
    dm, dg = ceq.rhs(0.0, m, g)
    eps = 1e-3  # dm/dt is quadratic in (m, G): the central difference is exact
    cum = (ceq.rhs(0.0, m + eps * dm, g + eps * dg)[0] - ceq.rhs(0.0, m - eps * dm, g - eps * dg)[0]) / (2 * eps)
    assert np.allclose(cum, exact, rtol=1e-8, atol=1e-8 * np.abs(exact).max())

    eq = SpinEquations(model)
    f = lambda s: eq.rhs(0.0, s, eq.coupling.local_moments(s))  # noqa: E731
    mf = (f(m + eps * f(m)) - f(m - eps * f(m))) / (2 * eps)
    assert np.abs(mf - exact).max() > 1e-2 * np.abs(exact).max()
    # first derivatives agree for both (product state)
    exact1 = np.array([[np.vdot(psi, 1j * (h @ a - a @ h) @ psi).real for a in jp] for jp in ref.J])
    assert np.allclose(dm, exact1, atol=1e-10) and np.allclose(f(m), exact1, atol=1e-10)


@pytest.mark.parametrize("case", ["bipolar8", "bipolar16", "random11"])
def test_cumulant_beats_mean_field(comm, case):
    if case == "bipolar8":
        model, t_end = bipolar(4, w=-0.5, mu=4.0, theta=0.05), 2.0
    elif case == "bipolar16":
        model, t_end = bipolar(8, w=-0.5, mu=4.0, theta=0.05), 2.0
    else:
        model, t_end = random_model(3, seed=9, mu=4.0, theta=0.2, max_n=6), 2.0  # n = 6, 2, 3
    assert 8 <= model.n_total <= 16
    times = np.linspace(0.0, t_end, 11)
    exact = np.array([o["polarization"] for o in exact_run(model, times)])
    _, cum = run(CumulantSolver, config(model, times, solver="cumulant"), comm)
    _, mf = run(MeanFieldSolver, config(model, times), comm)
    err_cum = np.abs(pol(cum) - exact).max()
    err_mf = np.abs(pol(mf) - exact).max()
    assert err_cum < 0.5 * err_mf


def test_cumulant_invariants_and_correlations(comm):
    model = random_model(4, seed=2, mu=5.0, theta=0.3, max_n=3)
    times = np.linspace(0.0, 4.0, 9)
    solver, recs = run(CumulantSolver, config(model, times, solver="cumulant", pair=True), comm)
    e = np.array([r.energy for r in recs])
    bj = np.array([r.b_dot_j for r in recs])
    assert np.abs(e - e[0]).max() < 1e-8 and np.abs(bj - bj[0]).max() < 1e-8
    j = 0.5 * model.counts
    for r in recs:  # Casimir |m_p|^2 + tr G_pp = j (j + 1)
        casimir = (j * np.linalg.norm(r.polarization, axis=1)) ** 2 + np.diag(r.pair_correlation)
        assert np.allclose(casimir, j * (j + 1), rtol=1e-8)
    # at t = 0 (product of coherent states) the energy is the exact <H>
    ex0 = exact_run(model, times[:1])[0]
    assert recs[0].energy == pytest.approx(ex0["energy"], rel=1e-12)
    assert np.allclose(recs[0].pair_correlation, ex0["pair_correlation"], atol=1e-12)


# --- truncated Wigner ------------------------------------------------------------
def test_twa_initial_noise_moments():
    """Sampled spins reproduce <J> = j n and the coherent-state covariance (j/2)(1 - n n^T)."""
    model = random_model(2, seed=6, max_n=9)
    s = sample_initial_spins(model, seed=3, first=0, count=8000)
    m, g = CumulantEquations(model).initial()
    j = 0.5 * model.counts
    assert np.allclose(s.mean(axis=0), m, atol=5 * np.sqrt(j.max() / 2 / 8000))
    for p in range(2):
        cov = np.cov(s[:, p, :].T)
        assert np.allclose(cov, g[p, :, p, :], atol=0.08 * j[p])


def test_twa_matches_exact_until_departure(comm):
    """Bipolar instability triggered by quantum noise only (theta = 0.01, j = 5 per beam)."""
    model = bipolar(10, w=-0.5, mu=4.0, theta=0.01)
    times = np.linspace(0.0, 2.0, 9)
    exact = np.array([o["polarization"] for o in exact_run(model, times)])
    cfg = config(model, times, solver="twa", twa_samples=1500, seed=5)
    solver, recs = run(TWASolver, cfg, comm)
    twa, err = pol(recs), solver.polarization_stderr
    # up to the departure time: until the exact nu_e survival of beam 1 has dropped to 1/2
    upto = times <= times[np.argmax(exact[:, 0, 2] < 0.5)]
    assert upto.sum() >= 5 and exact[upto, 0, 2].min() < 0.6  # the flavor really converts
    dev = np.abs(twa - exact)[upto]
    assert np.all(dev <= 4.0 * err[upto] + 1e-9)
    # mean field (no noise) stays put: the comparison is not trivial
    _, mf = run(MeanFieldSolver, config(model, times), comm)
    assert np.abs(pol(mf) - exact)[upto].max() > 10 * dev.max()


def test_twa_rank_count_independent(comm):
    model = bipolar(6, w=-0.5, mu=4.0, theta=0.01)
    times = np.linspace(0.0, 1.0, 3)
    cfg = config(model, times, solver="twa", pair=True, twa_samples=40, seed=1)
    _, par = run(TWASolver, cfg, comm)
    _, ser = run(TWASolver, cfg, MPI.COMM_SELF)
    for a, b in zip(par, ser):
        assert np.allclose(a.polarization, b.polarization, rtol=0, atol=1e-13)
        assert np.allclose(a.pair_correlation, b.pair_correlation, rtol=1e-12, atol=1e-12)


def test_twa_and_cumulant_reach_large_n(comm):
    """N = 1e5 bipolar: fluctuation growth in the linear regime, TWA vs cumulant (both O(1) cost in N)."""
    model = bipolar(50000, w=-0.5, mu=4.0, theta=0.0)
    times = np.linspace(0.0, 3.0, 4)
    solver, twa = run(TWASolver, config(model, times, solver="twa", pair=True, twa_samples=400, seed=2), comm)
    _, cum = run(CumulantSolver, config(model, times, solver="cumulant", pair=True), comm)
    j = 0.5 * model.counts
    g_twa = np.array([np.diag(r.pair_correlation) for r in twa]) / j
    g_cum = np.array([np.diag(r.pair_correlation) for r in cum]) / j
    assert g_cum[-1, 0] > 50 * g_cum[0, 0]  # fluctuations grew exponentially ...
    # ... identically (linear regime, third cumulants negligible); 400 samples of a
    # Gaussian variance: relative standard error sqrt(2/400) ~ 7%
    assert np.allclose(g_twa, g_cum, rtol=0.3)
    e = np.array([r.energy for r in twa])
    assert np.abs(e - e[0]).max() < 1e-6 * np.abs(e[0])
