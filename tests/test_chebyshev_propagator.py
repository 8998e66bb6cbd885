"""The Chebyshev propagator (manybody.propagator = "chebyshev") against dense exponentials.

The references are written here: the dense H of the stored AIJ ("matrix", checked against
the independent dense solver in test_manybody_dense.py) gathered on every rank, and
``exp(-i dt H) psi`` from its eigendecomposition (numpy eigh), step by step over the same
(dt, mu) factors the engine takes. Runs serially and under mpirun -n 2 / -n 3.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from manybody_cases import assert_close, make_config, on_sub_communicator, unit
from nmbhpc.errors import SettingsError
from nmbhpc.manybody import memory
from nmbhpc.manybody.basis import SectorBasis
from nmbhpc.manybody.chebyshev_propagator import (ChebyshevIntervalError, ChebyshevPropagator,
                                                  coefficients)
from nmbhpc.manybody.solver import ManyBodySolver, exponential_pieces
from nmbhpc.physics.model import Mode
from nmbhpc.physics.schedule import MuSchedule

TOL = 1e-10
TIMES = (0.0, 0.4, 1.5)


def qubit_modes(m, tilt=0.0, seed=11):
    """m one-neutrino modes in random directions (multi-angle), half nu_e, half nu_x;
    a tilt puts the state over several sectors."""
    rng = np.random.default_rng(seed)
    dirs = rng.normal(size=(m, 3))
    e = unit([np.sin(tilt), 0.0, np.cos(tilt)])
    x = unit([0.0, np.sin(tilt), -np.cos(tilt)])
    return [Mode(1, 1.0 + 0.13 * p, unit(dirs[p]), e if p < m // 2 else x) for p in range(m)]


def mixed_modes():
    """Spins 1/2 to 3/2 (ladder elements != 1), tilted: several sectors."""
    return [Mode(1, 1.0, unit([0, 0, 1]), unit([0, 0, 1])),
            Mode(2, -0.8, unit([1, 0, 0]), unit([0.3, -0.2, -0.9])),
            Mode(3, 0.4, unit([-0.5, 0.5, 0.5]), unit([1.0, 0.0, 0.1])),
            Mode(1, -1.4, unit([0.1, -1, 0]), unit([0, 0, 1]))]


CASES = {
    "theta0-N10": lambda: make_config(qubit_modes(10), TIMES, mu=3.0, pairs=False),
    "sectors-N9": lambda: make_config(qubit_modes(9, tilt=0.5), TIMES, theta=0.2, mu=2.0,
                                      pairs=False),
}
BULB = MuSchedule(kind="bulb", mu0=6.0, r0=1.5, radius=1.0, max_step=0.3)


def _with(config, **kw):
    return replace(config, manybody=replace(config.manybody, **kw))


def _dense(comm, H):
    """An AIJ or MATSHELL as a dense array on every rank. Collective."""
    n = H.getSize()[0]
    x, y = H.createVecs()
    lo, hi = y.getOwnershipRange()
    cols = []
    for j in range(n):
        x.set(0.0)
        if lo <= j < hi:
            x.setValue(j, 1.0)
        x.assemble()
        H.mult(x, y)
        cols.append(y.getArray(readonly=True).copy())
    x.destroy()
    y.destroy()
    return np.vstack(comm.allgather(np.array(cols).T))


def _dense_parts(config, comm):
    """(D, A, psi0) dense on every rank, from the stored AIJ. Collective."""
    solver = ManyBodySolver(_with(config, operator="matrix", propagator="mfn"), comm)
    try:
        if config.model.mu.is_constant:
            # constant mu: the propagator scales A in place into H, once; D from the Vec
            A = _dense(comm, solver.A)
        else:
            solver.propagator.set_mu(1.0)
            H1 = _dense(comm, solver.propagator.H)
        d = np.concatenate(comm.allgather(solver.D.getArray(readonly=True).copy()))
        psi0 = solver.state_global()
    finally:
        solver.destroy()
    if not config.model.mu.is_constant:
        A = H1 - np.diag(d)
    return np.diag(d), A, psi0


def _expm_apply(H, dt, psi):
    w, v = np.linalg.eigh(H)
    return v @ (np.exp(-1j * w * dt) * (v.conj().T @ psi))


def _evolve_dense(config, D, A, psi):
    times = config.output.times
    for t0, t1 in zip(times[:-1], times[1:]):
        for dt, mu in exponential_pieces(config, float(t0), float(t1)):
            psi = _expm_apply(D + mu * A, dt, psi)
    return psi


def _final_state(config, comm):
    solver = ManyBodySolver(config, comm)
    try:
        for _ in solver.records():
            pass
        return solver.state_global(), solver.describe(), solver.propagator.matvecs
    finally:
        solver.destroy()


# --- the series itself -------------------------------------------------------------------
@pytest.mark.parametrize("dt", [0.3, -0.7, 25.0, -140.0])
def test_series_of_scalars_is_the_exponential(dt):
    """sum_k c_k T_k(x~) = exp(-i dt x) to tol for x over the interval, dt of both signs."""
    a, b = 1.7, 3.2
    for tol in (1e-6, 1e-12):
        c = coefficients(a, b, dt, tol)
        x = np.linspace(a - b, a + b, 101)
        t = np.cos(np.arange(len(c))[:, None] * np.arccos((x - a) / b)[None, :])
        err = np.abs(c @ t - np.exp(-1j * dt * x)).max()
        assert err <= tol * 1.0001 + 1e-14
        # K is the shortest: without c_K the tail bound exceeds tol
        longer = coefficients(a, b, dt, 1e-6 * tol)
        assert np.abs(longer[len(c) - 1:]).sum() > tol
        assert np.abs(longer[len(c):]).sum() <= tol
    assert len(coefficients(a, b, dt, 1e-12)) > len(coefficients(a, b, dt, 1e-6))


# --- against dense exponentials -------------------------------------------------------
@pytest.mark.parametrize("operator", ["separable", "matrix", "real", "lean"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_constant_mu_matches_dense_expm(comm, case, operator):
    """Whole output intervals (one exponential each) to 1e-10 of exp(-i t H) psi0."""
    config = _with(CASES[case](), propagator="chebyshev", operator=operator, mfn_tol=1e-12)
    D, A, psi0 = _dense_parts(config, comm)
    state, desc, matvecs = _final_state(config, comm)
    expect = _expm_apply(D + config.model.mu.mu0 * A, TIMES[-1], psi0)
    assert desc["propagator"] == "chebyshev"
    assert len(list(exponential_pieces(config, 0.4, 1.5))) == 1
    assert matvecs > 0
    assert_close(comm, state, expect, atol=TOL, what=f"{case} {operator}")


def test_general_spins_match_dense_expm(comm):
    config = _with(make_config(mixed_modes(), TIMES, theta=0.15, mu=2.5, pairs=False),
                   propagator="chebyshev", operator="separable", mfn_tol=1e-12)
    D, A, psi0 = _dense_parts(config, comm)
    state, _, _ = _final_state(config, comm)
    assert_close(comm, state, _expm_apply(D + 2.5 * A, TIMES[-1], psi0), atol=TOL,
                 what="general spins")


@pytest.mark.parametrize("operator", ["separable", "matrix", "lean"])
def test_cf6_with_varying_mu_matches_dense_factors(comm, operator):
    """mu(t) of a bulb schedule, cf6 (one backward factor per step): the engine's state
    against the same factors applied densely, to 1e-10."""
    config = _with(make_config(qubit_modes(8, tilt=0.4), TIMES, theta=0.1, schedule=BULB,
                               pairs=False),
                   propagator="chebyshev", operator=operator, time_integrator="cf6",
                   mfn_tol=1e-12)
    pieces = [p for t0, t1 in zip(TIMES[:-1], TIMES[1:])
              for p in exponential_pieces(config, t0, t1)]
    assert any(dt < 0 for dt, _ in pieces)
    assert len({mu for _, mu in pieces}) > 3
    D, A, psi0 = _dense_parts(config, comm)
    state, desc, _ = _final_state(config, comm)
    assert desc["time_integrator"] == "cf6"
    assert_close(comm, state, _evolve_dense(config, D, A, psi0), atol=TOL, what="cf6")


# --- the interval and its guard ---------------------------------------------------------
@pytest.mark.parametrize("modes,theta", [(qubit_modes(9, tilt=0.5), 0.2), (mixed_modes(), 0.15)])
def test_gershgorin_interval_holds_every_eigenvalue(comm, modes, theta):
    config = _with(make_config(modes, TIMES, theta=theta, mu=1.0, pairs=False),
                   operator="separable", propagator="chebyshev")
    D, A, _ = _dense_parts(config, comm)
    solver = ManyBodySolver(config, comm)
    try:
        prop = solver.propagator
        a_lo, a_hi = solver.A.getPythonContext().interaction_bounds()
        ea = np.linalg.eigvalsh(A)
        assert a_lo <= ea[0] + 1e-12 and ea[-1] <= a_hi + 1e-12
        # and not a vacuous bound: within a few times the true spread
        assert a_hi - a_lo <= 4.0 * (ea[-1] - ea[0]) + 1e-12
        for mu in (-3.0, 0.0, 0.7, 12.0):
            lo, hi = prop.interval(mu)
            e = np.linalg.eigvalsh(D + mu * A)
            assert lo <= e[0] + 1e-12 and e[-1] <= hi + 1e-12
    finally:
        solver.destroy()


def test_guard_raises_on_a_shrunk_interval(comm):
    config = _with(CASES["sectors-N9"](), operator="separable", propagator="chebyshev")
    D, A, _ = _dense_parts(config, comm)
    ea = np.linalg.eigvalsh(A)
    solver = ManyBodySolver(config, comm)
    try:
        shrunk = ChebyshevPropagator(solver.A, solver.D, True, 1e-10,
                                     bounds=(0.5 * ea[0], 0.5 * ea[-1]))
        psi = solver.psi.duplicate()
        psi.setRandom()
        try:
            with pytest.raises(ChebyshevIntervalError, match="outside the interval"):
                shrunk.step(psi, 3.0, 8.0)
        finally:
            shrunk.destroy()
            psi.destroy()
    finally:
        solver.destroy()


# --- ranks, operators, memory --------------------------------------------------------------
def test_rank_count_does_not_change_the_state(comm):
    """The run on comm and on a sub-communicator (1 and n - 1 ranks) agree to round-off."""
    config = _with(CASES["sectors-N9"](), propagator="chebyshev", operator="separable")
    whole, _, _ = _final_state(config, comm)
    (part, _), _ = on_sub_communicator(comm, lambda sub: _final_state(config, sub)[:2])
    assert_close(comm, part, whole, atol=1e-13, what="sub-communicator")


def test_sectors_one_at_a_time_uses_it(comm):
    config = _with(CASES["sectors-N9"](), propagator="chebyshev", operator="separable",
                   sectors="one_at_a_time")
    D, A, psi0 = _dense_parts(config, comm)
    from nmbhpc.manybody.engine import ManyBody

    solver = ManyBody(config, comm)
    try:
        for _ in solver.records():
            pass
        assert solver.describe()["propagator"] == "chebyshev"
        local, lo, _ = solver.final_state()
        state = np.concatenate(comm.allgather(local))
    finally:
        solver.destroy()
    assert_close(comm, state, _expm_apply(D + 2.0 * A, TIMES[-1], psi0), atol=TOL,
                 what="one sector at a time")


def test_shell_operator_refused():
    config = _with(CASES["theta0-N10"](), propagator="chebyshev", operator="shell")
    with pytest.raises(SettingsError, match="manybody.propagator"):
        ManyBodySolver.check(config)


def test_memory_model_counts_few_vectors():
    basis = SectorBasis(np.ones(20, dtype=np.int64), 10, 10)
    n = basis.dim
    mfn = memory.sizes(basis, n, 100.0, ncv=0, mu_constant=True, n_lowering=0, n_ranks=1)
    cheb = memory.sizes(basis, n, 100.0, ncv=0, mu_constant=True, n_lowering=0, n_ranks=1,
                        vectors=3)
    assert cheb.krylov == 5 * n * 16
    assert mfn.krylov - cheb.krylov == 7 * n * 16


@pytest.mark.parametrize("operator", ["separable", "lean"])
def test_destroyed_propagator_releases_the_operator(comm, operator):
    """One sector at a time builds the next sector's operator while the last propagator
    object may still be referenced: after destroy() it must not keep the operator's
    context (ladder maps, diagonals, ghost spans) alive."""
    import gc
    import weakref

    config = _with(CASES["theta0-N10"](), operator=operator, propagator="chebyshev")
    solver = ManyBodySolver(config, comm)
    prop = solver.propagator
    ctx = weakref.ref(solver.A.getPythonContext())
    assert ctx() is not None
    solver.destroy()
    gc.collect()
    assert prop is not None and ctx() is None
