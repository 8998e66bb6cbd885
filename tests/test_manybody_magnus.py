"""Order of the exact engine's time integrators for a time-dependent mu(t).

The reference is written here, independently of the engine: the dense
Hamiltonian of tests/dense_reference.py (full product space, flavor frame)
integrated by scipy's DOP853 with tolerances 1e-13, far below the errors
measured. With a bulb schedule mu falls from 10 to ~0.3 omega0 over the run,
so the integrators' errors are large and clean: the exponential midpoint rule
must converge like max_step^2, the commutator-free Magnus integrator CF4:2
like max_step^4, and CF4 must be the more accurate at equal cost (the same
number of exponentials). The engine's MFN tolerance (1e-12) stays two orders
below the smallest error used for a slope.
"""
from dataclasses import replace

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from dense_reference import DenseReference
from manybody_cases import assert_close, make_config, on_sub_communicator, series, unit
from nmbhpc.physics.model import Mode
from nmbhpc.physics.schedule import MuSchedule

E, X = (0.0, 0.0, 1.0), (0.0, 0.0, -1.0)
TIMES = np.linspace(0.0, 2.0, 3)
BULB = MuSchedule(kind="bulb", mu0=10.0, r0=1.5, radius=1.0)
#: Magnus steps (model.schedule.max_step); each halves the last
STEPS = (0.2, 0.1, 0.05)


def magnus_config(integrator: str, step: float, schedule: MuSchedule = BULB):
    """Five neutrinos, multi-angle, theta != 0 (all sectors, dim 32), mu(t) = ``schedule``."""
    modes = (Mode(1, 1.0, unit([0, 0, 1]), E), Mode(1, -0.7, unit([1, 0, 0.2]), X),
             Mode(1, 1.6, unit([0, 1, 0]), unit([0.4, 0.0, 0.6])),
             Mode(1, 0.4, unit([-0.5, 0.5, 0.5]), E), Mode(1, -1.3, unit([0.2, -1, 0]), X))
    config = make_config(modes, TIMES, theta=0.2, schedule=replace(schedule, max_step=step),
                         pairs=False, max_step=1.0)
    return replace(config, manybody=replace(config.manybody, time_integrator=integrator))


def run(config, comm):
    """(polarizations [T, M, 3], exponentials applied, the solver's describe()). Collective."""
    from nmbhpc.manybody.solver import ManyBodySolver

    solver = ManyBodySolver(config, comm)
    try:
        records = list(solver.records())
        return series(records, "polarization"), solver.steps, solver.describe()
    finally:
        solver.destroy()


def reference_polarizations(model) -> np.ndarray:
    """Flavor-frame polarizations at TIMES from the dense H(mu(t)) by DOP853."""
    ref = DenseReference(model)
    vacuum, pairs = ref.hamiltonian(0.0), ref.hamiltonian(1.0) - ref.hamiltonian(0.0)
    sol = solve_ivp(lambda t, y: -1j * ((vacuum + model.mu(t) * pairs) @ y), (TIMES[0], TIMES[-1]),
                    ref.initial_state(), method="DOP853", t_eval=TIMES, rtol=1e-13, atol=1e-13)
    assert sol.success
    return np.array([ref.observables(psi, model.mu(t))["polarization"]
                     for t, psi in zip(TIMES, sol.y.T)])


@pytest.fixture(scope="module")
def errors():
    """{integrator: [(max |P - P_ref| over the output times, exponentials)] for STEPS}.
    Collective on COMM_WORLD."""
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    expected = reference_polarizations(magnus_config("cf4", STEPS[0]).model)
    out = {}
    for integrator in ("midpoint", "cf4"):
        out[integrator] = []
        for step in STEPS:
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
    for integrator in ("midpoint", "cf4"):
        pol[integrator], n_exp, described = run(magnus_config(integrator, 0.05, constant), comm)
        assert n_exp == len(TIMES) - 1
        assert "time_integrator" not in described
    assert_close(comm, pol["cf4"], pol["midpoint"], atol=1e-14, what="constant mu: cf4 vs midpoint")


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


def test_sub_communicators_agree_cf4(comm):
    """cf4 with a bulb schedule gives the same result on a sub-communicator (a different
    row partition) as on the whole world, to round-off."""
    config = magnus_config("cf4", 0.1)
    world, _, _ = run(config, comm)
    (part, _, _), size = on_sub_communicator(comm, lambda sub: run(config, sub))
    assert_close(comm, part, world, atol=1e-10,
                 what=f"cf4: sub-communicator of size {size} vs world of size {comm.Get_size()}")


@pytest.mark.parametrize("integrator", ["cf4", "midpoint"])
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
