"""Small systems (2-4 modes, up to 7 neutrinos) against the independent dense oracle.

The oracle (tests/dense_reference.py) works on the full product space in the
flavor frame with exact diagonalisation; the engine works in sectors of total
B.J in the computational frame with SLEPc MFN. Agreement of polarisations,
energies, pair correlations and (spin-1/2 modes) the partial-trace rho1 and its
entropy within ATOL (see manybody_cases) tests basis, sector selection, frame
rotation, Hamiltonian and observables at once.
"""
from dataclasses import replace

import numpy as np
import pytest

from dense_reference import DenseReference
from manybody_cases import assert_close, dense_series, make_config, run_engine, series, unit
from nmbhpc.physics.model import Mode
from nmbhpc.physics.schedule import MuSchedule

E, X = (0.0, 0.0, 1.0), (0.0, 0.0, -1.0)
TIMES = np.linspace(0.0, 4.0, 9)

CASES = {
    # two neutrinos, single-angle, theta = 0: one sector, pure flip-flop dynamics
    "2nu-single-theta0": dict(modes=(Mode(1, 1.0, polarization=E), Mode(1, -1.0, polarization=X)),
                              theta=0.0, mu=3.0, single_angle=True),
    # three neutrinos, multi-angle with directions, small mixing, mixed flavors
    "3nu-multi-theta": dict(modes=(Mode(1, 1.0, unit([0, 0, 1]), E),
                                   Mode(1, -0.5, unit([1, 0, 0.3]), X),
                                   Mode(1, 2.0, unit([-0.2, 0.9, 0.1]), E)),
                            theta=0.1, mu=5.0),
    # four neutrinos, single-angle, a polarisation off the z axis (all sectors)
    "4nu-single-tilted": dict(modes=(Mode(1, -1.0, polarization=E),
                                     Mode(1, 0.5, polarization=unit([0.6, -0.3, 0.5])),
                                     Mode(1, 1.5, polarization=X),
                                     Mode(1, 2.5, polarization=E)),
                              theta=0.3, mu=4.0, single_angle=True, single_angle_factor=0.8),
    # theta = 0 but a transverse polarisation: several sectors without mixing
    "3nu-multi-theta0-transverse": dict(modes=(Mode(1, 1.0, unit([0, 0, 1]), unit([1, 0, 0])),
                                               Mode(1, 0.3, unit([0, 1, 0]), E),
                                               Mode(1, -2.0, unit([1, 1, 1]), X)),
                                        theta=0.0, mu=2.0),
    # mixed spins (n = 2, 1, 3, 1): 7 neutrinos, multi-angle, tilted start
    "mixed-spins-multi": dict(modes=(Mode(2, 0.8, unit([0, 0, 1]), E),
                                     Mode(1, -1.2, unit([1, 0, 0]), X),
                                     Mode(3, 0.4, unit([0, 1, 0.5]), unit([0.2, 0.2, -0.9])),
                                     Mode(1, 1.7, unit([-1, 0.3, 0]), E)),
                              theta=0.2, mu=6.0),
}


def compare_with_dense(comm, config, times, name):
    records, _, _ = run_engine(config, comm)
    obs = DenseReference(config.model).run(times)
    assert_close(comm, series(records, "time"), times, atol=1e-14, what=f"{name}: times")
    for field in ("polarization", "nue_fraction", "pair_correlation", "energy", "b_dot_j", "norm"):
        assert_close(comm, series(records, field), dense_series(obs, field), what=f"{name}: {field}")
    half = [p for p, m in enumerate(config.model.modes) if m.n == 1]
    for field in ("rho1", "entropy"):
        assert_close(comm, series(records, field)[:, half], dense_series(obs, field)[:, half],
                     what=f"{name}: {field}")
    return records, obs


@pytest.mark.parametrize("name", sorted(CASES))
def test_against_dense_reference(comm, name):
    case = dict(CASES[name])
    modes = case.pop("modes")
    _, obs = compare_with_dense(comm, make_config(modes, TIMES, **case), TIMES, name)
    # guard against a vacuous comparison: the case must actually evolve and correlate
    pol = dense_series(obs, "polarization")
    assert np.max(np.abs(pol - pol[0])) > 1e-2
    if case.get("mu", 0) > 0:
        corr = dense_series(obs, "pair_correlation")
        m = corr.shape[1]
        assert np.max(np.abs(corr[:, ~np.eye(m, dtype=bool)])) > 1e-3


def test_time_dependent_mu_against_dense(comm):
    """Tabulated mu(t): energy is not conserved; both sides use the midpoint rule
    (the engine's cf4 is tested against an ODE reference in test_manybody_magnus.py).

    Output intervals (0.5) are multiples of the schedule's max_step (0.1) and no
    longer than manybody.max_step, so engine and oracle hold mu constant on the
    same sub-steps and must agree to ATOL.
    """
    schedule = MuSchedule(kind="table", times=(0.0, 1.0, 3.0), values=(8.0, 2.0, 0.0), max_step=0.1)
    modes = (Mode(1, 1.0, unit([0, 0, 1]), E), Mode(2, -0.6, unit([1, 0, 0]), X),
             Mode(1, 1.8, unit([0, 1, 0]), unit([0.5, 0.0, 0.5])))
    times = np.linspace(0.0, 3.0, 7)
    config = make_config(modes, times, theta=0.15, schedule=schedule)
    config = replace(config, manybody=replace(config.manybody, time_integrator="midpoint"))
    records, obs = compare_with_dense(comm, config, times, "table-mu")
    assert_close(comm, series(records, "mu"), schedule(times), atol=1e-14, what="recorded mu(t)")
    energy = dense_series(obs, "energy")
    assert np.ptp(energy) > 1e-2  # energy really changes with mu(t)
