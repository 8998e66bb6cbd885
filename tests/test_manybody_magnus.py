"""Order of the exact engine's time integrators for a time-dependent mu(t).

The reference is written here, independently of the engine: the dense
Hamiltonian of tests/dense_reference.py (full product space, flavor frame)
integrated by scipy's DOP853 with tolerances 1e-13, far below the errors
measured. With a bulb schedule mu falls from 10 to ~0.3 omega0 over the run,
so the integrators' errors are large and clean: with equal steps
(``time_step_tol = 0``) the exponential midpoint rule must converge like
max_step^2, CF4:2 like max_step^4 and cf6 like max_step^6, and CF4 must be the
more accurate than midpoint at equal cost (the same number of exponentials).
The engine's MFN tolerance (1e-12) stays two orders below the smallest error
used for a slope. cf6's coefficients are checked on their own as well: the
scheme's factors applied with dense matrix exponentials must converge with
order 6, and with one coefficient mistyped or two exponentials swapped they
must not.
"""
from dataclasses import replace

import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.linalg import expm

from dense_reference import DenseReference
from manybody_cases import assert_close, make_config, on_sub_communicator, series, unit
from nmbhpc.physics.model import Mode
from nmbhpc.physics import schedule as schedule_module
from nmbhpc.physics.schedule import CommutatorFree, MuSchedule

E, X = (0.0, 0.0, 1.0), (0.0, 0.0, -1.0)
TIMES = np.linspace(0.0, 2.0, 3)
BULB = MuSchedule(kind="bulb", mu0=10.0, r0=1.5, radius=1.0)
#: Magnus steps (model.schedule.max_step); each halves the last
STEPS = {"midpoint": (0.2, 0.1, 0.05), "cf4": (0.2, 0.1, 0.05), "cf6": (0.25, 0.125, 0.0625)}


def magnus_config(integrator: str, step: float, schedule: MuSchedule = BULB, step_tol: float = 0.0):
    """Five neutrinos, multi-angle, theta != 0 (all sectors, dim 32), mu(t) = ``schedule``,
    equal steps of ``step`` unless a ``step_tol`` is given."""
    modes = (Mode(1, 1.0, unit([0, 0, 1]), E), Mode(1, -0.7, unit([1, 0, 0.2]), X),
             Mode(1, 1.6, unit([0, 1, 0]), unit([0.4, 0.0, 0.6])),
             Mode(1, 0.4, unit([-0.5, 0.5, 0.5]), E), Mode(1, -1.3, unit([0.2, -1, 0]), X))
    config = make_config(modes, TIMES, theta=0.2, schedule=replace(schedule, max_step=step),
                         pairs=False, max_step=1.0)
    return replace(config, manybody=replace(config.manybody, time_integrator=integrator,
                                            time_step_tol=step_tol))


def run(config, comm):
    """(polarizations [T, M, 3], exponentials applied, the solver's describe()). Collective."""
    from nmbhpc.manybody.solver import ManyBodySolver

    solver = ManyBodySolver(config, comm)
    try:
        records = list(solver.records())
        return series(records, "polarization"), solver.steps, solver.describe()
    finally:
        solver.destroy()


def dense_solution(model):
    """(DenseReference, states at TIMES [dim, T]) of the dense H(mu(t)) by DOP853."""
    ref = DenseReference(model)
    vacuum, pairs = ref.hamiltonian(0.0), ref.hamiltonian(1.0) - ref.hamiltonian(0.0)
    sol = solve_ivp(lambda t, y: -1j * ((vacuum + model.mu(t) * pairs) @ y), (TIMES[0], TIMES[-1]),
                    ref.initial_state(), method="DOP853", t_eval=TIMES, rtol=1e-13, atol=1e-13)
    assert sol.success
    return ref, sol.y


def reference_polarizations(model) -> np.ndarray:
    """Flavor-frame polarizations at TIMES from the dense H(mu(t)) by DOP853."""
    ref, states = dense_solution(model)
    return np.array([ref.observables(psi, model.mu(t))["polarization"]
                     for t, psi in zip(TIMES, states.T)])


@pytest.fixture(scope="module")
def errors():
    """{integrator: [(max |P - P_ref| over the output times, exponentials)] for STEPS}.
    Collective on COMM_WORLD."""
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    expected = reference_polarizations(magnus_config("cf4", 0.1).model)
    out = {}
    for integrator, steps in STEPS.items():
        out[integrator] = []
        for step in steps:
            pol, n_exp, described = run(magnus_config(integrator, step), comm)
            assert described["time_integrator"] == integrator  # recorded in the run file
            out[integrator].append((float(np.max(np.abs(pol - expected))), n_exp))
    return out


def slopes(errs):
    e = np.array([err for err, _ in errs])
    return np.log2(e[:-1] / e[1:])


def test_midpoint_is_second_order(errors):
    assert np.all((slopes(errors["midpoint"]) > 1.8) & (slopes(errors["midpoint"]) < 2.2)), errors


def test_cf4_is_fourth_order(errors):
    assert np.all((slopes(errors["cf4"]) > 3.5) & (slopes(errors["cf4"]) < 4.5)), errors
    assert errors["cf4"][-1][0] > 1e-10  # the slopes are measured above the MFN tolerance


def test_cf6_is_sixth_order(errors):
    # the largest polarization error over the output times approaches its slope from
    # below (5.2, then 5.8 here); 5 already rules out a fourth-order scheme
    assert np.all((slopes(errors["cf6"]) > 5.0) & (slopes(errors["cf6"]) < 6.6)), errors
    assert errors["cf6"][-1][0] > 1e-10  # the slopes are measured above the MFN tolerance


def dense_cf_errors(scheme: CommutatorFree, monkeypatch, steps=(0.25, 0.125, 0.0625)) -> np.ndarray:
    """Final-state errors of ``scheme`` (installed as "cf6") with equal steps on the
    BULB model, its factors (MuSchedule.exponentials) applied by dense expm."""
    monkeypatch.setitem(schedule_module.SCHEMES, "cf6", scheme)
    config = magnus_config("cf6", 0.1)
    ref, states = dense_solution(config.model)
    vacuum, pairs = ref.hamiltonian(0.0), ref.hamiltonian(1.0) - ref.hamiltonian(0.0)
    errs = []
    for step in steps:
        psi = ref.initial_state()
        for dt, mu in replace(BULB, max_step=step).exponentials(TIMES[0], TIMES[-1], "cf6"):
            psi = expm(-1j * dt * (vacuum + mu * pairs)) @ psi
        errs.append(np.linalg.norm(psi - states[:, -1]))
    return np.array(errs)


def test_cf6_coefficients_give_sixth_order_and_a_typo_does_not(monkeypatch):
    """The order of cf6 hangs on every digit of its table: the scheme as given converges
    like h^6; a coefficient off by 1e-6 (a mistyped digit) or two exponentials in the
    wrong order converge no better than h^1-ish, and are far off at the smallest step."""
    good = schedule_module.SCHEMES["cf6"]
    errs = dense_cf_errors(good, monkeypatch)
    assert np.all((np.log2(errs[:-1] / errs[1:]) > 5.5) & (np.log2(errs[:-1] / errs[1:]) < 6.6)), errs
    rows = [list(r) for r in good.weights]
    typo = [r[:] for r in rows]
    typo[1][1] += 1e-6
    swapped = [rows[1], rows[0], rows[2], rows[3]]
    for name, weights in (("typo", typo), ("swapped", swapped)):
        bad = dense_cf_errors(CommutatorFree(6, good.nodes, tuple(map(tuple, weights))), monkeypatch)
        assert np.log2(bad[-2] / bad[-1]) < 4.0 and bad[-1] > 10 * errs[-1], (name, bad, errs)


def test_step_control_follows_the_schedule():
    """With a step_tol the steps shorten where mu changes fast (the bulb's start), never
    exceed max_step, end on the interval's ends, respect a table's kinks, and are a
    function of the schedule alone (same edges on every call)."""
    bulb = replace(BULB, max_step=0.3)
    edges = bulb.step_edges(0.0, 2.0, "cf6", 1e-4)
    h = np.diff(edges)
    assert edges[0] == 0.0 and edges[-1] == 2.0
    assert np.all(np.diff(h) > -1e-12) and h[0] < 0.5 * h[-1] and np.max(h) <= 0.3 + 1e-12
    assert np.array_equal(edges, bulb.step_edges(0.0, 2.0, "cf6", 1e-4))
    # a smaller tolerance takes more steps; midpoint ignores it (equal steps)
    assert len(bulb.step_edges(0.0, 2.0, "cf6", 1e-6)) > len(edges)
    assert np.allclose(np.diff(bulb.step_edges(0.0, 2.0, "midpoint", 1e-4)), 2.0 / 7)
    table = MuSchedule(kind="table", times=(0.0, 0.33, 1.0), values=(5.0, 1.0, 1.0), max_step=0.2)
    edges = table.step_edges(0.0, 1.0, "cf6", 1e-4)
    assert 0.33 in edges.tolist() and np.max(np.diff(edges)) <= 0.2 + 1e-12
    # mu = 1 on [0.33, 1]: steps of max_step there, one exponential each
    factors = table.exponentials(0.33, 1.0, "cf6", 1e-4)
    assert len(factors) == 4 and all(mu == 1.0 for _, mu in factors)


def test_step_control_reaches_the_reference(comm):
    """The engine with steps from the schedule converges to the dense reference as
    step_tol falls, and beats cf6 with equal steps of 1/8 in error (8.9e-9 against 6.8e-8
    here) with fewer exponentials (52 against 64): the bulb's error is made early. Collective."""
    expected = reference_polarizations(magnus_config("cf6", 0.1).model)
    out = []
    for tol in (1e-2, 1e-4):
        pol, n_exp, _ = run(magnus_config("cf6", 0.5, step_tol=tol), comm)
        out.append((float(np.max(np.abs(pol - expected))), n_exp))
    assert out[1][0] < 0.2 * out[0][0] and out[1][0] < 1e-6, out
    pol, n_equal, _ = run(magnus_config("cf6", 0.125), comm)
    err_equal = float(np.max(np.abs(pol - expected)))
    assert out[1][0] < 0.5 * err_equal and out[1][1] < n_equal, (out, err_equal, n_equal)


def test_cf4_beats_midpoint_at_equal_cost(errors):
    # cf4 at step 2h applies as many exponentials as midpoint at step h
    for (e_cf4, n_cf4), (e_mid, n_mid) in zip(errors["cf4"][:-1], errors["midpoint"][1:]):
        assert n_cf4 == n_mid
        assert e_cf4 < 0.1 * e_mid, errors


def test_constant_mu_takes_one_exponential_per_interval(comm):
    """Both integrators are exact for a constant mu: cf4 must not double the work, and
    the two give the same state (the same exponentials)."""
    constant = MuSchedule(kind="constant", mu0=4.0)
    pol = {}
    for integrator in ("midpoint", "cf4", "cf6"):
        pol[integrator], n_exp, described = run(magnus_config(integrator, 0.05, constant, 1e-5), comm)
        assert n_exp == len(TIMES) - 1
        assert "time_integrator" not in described
    for integrator in ("cf4", "cf6"):
        assert_close(comm, pol[integrator], pol["midpoint"], atol=1e-14,
                     what=f"constant mu: {integrator} vs midpoint")


def test_exponentials_respect_table_times_and_max_step():
    """cf4 steps break at the table's kinks; every factor fits in its interval; a
    stretch of constant mu is one exponential per step, a varying one two of half a step."""
    table = MuSchedule(kind="table", times=(0.0, 0.33, 1.0), values=(5.0, 1.0, 1.0), max_step=0.2)
    edges = table.step_edges(0.0, 1.0, "cf4")
    assert 0.33 in edges.tolist() and np.max(np.diff(edges)) <= 0.2 + 1e-15
    factors = table.exponentials(0.0, 1.0, "cf4")
    assert np.isclose(sum(dt for dt, _ in factors), 1.0, rtol=0, atol=1e-14)
    # [0, 0.33]: 2 steps x 2 factors; [0.33, 1]: 4 steps at mu = 1, one factor each
    assert len(factors) == 8 and all(mu == 1.0 for _, mu in factors[4:])
    # the midpoint rule keeps equal steps over the interval, mu at their midpoints
    mid = table.exponentials(0.0, 1.0, "midpoint")
    assert [dt for dt, _ in mid] == pytest.approx([0.2] * 5)
    assert [mu for _, mu in mid] == pytest.approx(table(np.arange(5) * 0.2 + 0.1).tolist())


def test_sub_communicators_agree_cf6(comm):
    """cf6 with a bulb schedule and steps from the schedule gives the same result on a
    sub-communicator (a different row partition) as on the whole world, to round-off."""
    config = magnus_config("cf6", 0.5, step_tol=1e-4)
    world, _, _ = run(config, comm)
    (part, _, _), size = on_sub_communicator(comm, lambda sub: run(config, sub))
    assert_close(comm, part, world, atol=1e-10,
                 what=f"cf6: sub-communicator of size {size} vs world of size {comm.Get_size()}")


@pytest.mark.parametrize("integrator", ["cf6", "cf4", "midpoint"])
def test_spectral_propagator_refuses_time_dependent_mu(integrator):
    """The spectral propagator expands psi in eigenpairs of one H: with a schedule it is
    refused at the config edge, whichever integrator is named."""
    from nmbhpc.config import load_config_text
    from nmbhpc.errors import ConfigError

    text = f"""
[model]
theta = 0.1
mu = 10.0
[model.schedule]
kind = "bulb"
r0 = 1.5
radius = 1.0
[model.generator]
kind = "single_angle"
n_modes = 4
[output]
t_final = 1.0
n_out = 3
[manybody]
propagator = "spectral"
time_integrator = "{integrator}"
"""
    with pytest.raises(ConfigError, match="manybody.propagator.*constant mu"):
        load_config_text(text)
    assert load_config_text(text.replace('"spectral"', '"mfn"')).manybody.time_integrator == integrator
