"""Linear stability: closed forms and the growth of a seeded mean-field run."""
from __future__ import annotations

import numpy as np
import pytest

from meanfield_cases import bipolar, config
from nmbhpc.meanfield.solver import MeanFieldSolver
from nmbhpc.meanfield.stability import bipolar_growth_rate, linear_stability, two_mode_growth_rate
from nmbhpc.physics.model import Mode, Model
from nmbhpc.physics.schedule import MuSchedule


@pytest.mark.parametrize("w,mu,c", [(-0.5, 4.0, 1.0), (-1.0, 10.0, 1.0), (-0.3, 3.0, 2.0), (0.5, 4.0, 1.0),
                                    (-3.0, 4.0, 1.0)])
def test_bipolar_closed_form(w, mu, c):
    model = bipolar(1000, w=w, mu=mu, c=c)
    res = linear_stability(model)
    expected = bipolar_growth_rate(w, mu, c)
    assert res.growth_rate == pytest.approx(expected, rel=1e-10, abs=1e-10)
    # the general two-mode formula, with s_p = S_p.B (B = -z at theta = 0)
    j = 500.0
    assert two_mode_growth_rate(w, -w, -j, j, mu * c / model.n_total) == pytest.approx(expected, abs=1e-12)
    if expected > 0:  # the unstable vector lives in the plane transverse to B
        v = res.unstable_vectors[0]
        assert np.allclose(v[:, 2], 0.0, atol=1e-10)
    else:
        assert res.unstable_frequencies.size == 0


def test_back_to_back_beams_multi_angle():
    # multi-angle model with opposite directions: c_12 = 1 - (-1) = 2
    modes = (Mode(n=10, omega=-0.4, direction=(0, 0, 1), polarization=(0, 0, 1)),
             Mode(n=10, omega=0.4, direction=(0, 0, -1), polarization=(0, 0, -1)))
    model = Model(modes=modes, mu=MuSchedule(mu0=2.0))
    assert linear_stability(model).growth_rate == pytest.approx(bipolar_growth_rate(-0.4, 2.0, 2.0), rel=1e-10)


def test_stable_state_has_no_growth():
    # all modes nu_e with positive omega at theta = 0 ("normal hierarchy", no antineutrinos)
    modes = tuple(Mode(n=2, omega=w, polarization=(0, 0, 1)) for w in (0.5, 1.0, 1.5))
    model = Model(modes=modes, mu=MuSchedule(mu0=3.0), single_angle=True)
    assert linear_stability(model).growth_rate == 0.0


def seeded_growth_rate(model, comm, t_end, eps=1e-8):
    """Exponential rate of |transverse S| in a mean-field run seeded with eps * j."""
    j = 0.5 * model.counts
    s0 = j[:, None] * model.initial_polarizations
    rng = np.random.default_rng(11)
    kick = rng.normal(size=s0.shape)
    kick[:, 2] = 0.0
    s0 = s0 + eps * j[:, None] * kick
    s0 *= (j / np.linalg.norm(s0, axis=1))[:, None]
    times = np.linspace(0.0, t_end, 61)
    solver = MeanFieldSolver(config(model, times), comm, initial_spins=s0)
    amp = np.array([np.linalg.norm(r.polarization[:, :2]) for r in solver.records()])
    window = (amp > 1e3 * eps) & (amp < 1e-3)  # after the transient, before saturation
    assert window.sum() > 8
    return np.polyfit(times[window], np.log(amp[window]), 1)[0]


@pytest.mark.parametrize("w", [-0.5, -1.5])
def test_bipolar_seeded_run_growth(comm, w):
    model = bipolar(50, w=w, mu=4.0)
    omega = linear_stability(model).growth_rate
    assert omega > 0.5
    rate = seeded_growth_rate(model, comm, t_end=14.0 / omega)
    assert rate == pytest.approx(omega, rel=0.02)


def test_multi_angle_seeded_run_growth(comm):
    # four beams, two nu_e-like (P = +z) and two nu-bar_e-like (P = -z): the eigen-analysis of the
    # 12 x 12 Jacobian (complex eigenfrequencies) against an independent seeded mean-field run
    dirs = [(0, 0, 1), (1, 0, 0), (0, 0, -1), (-0.6, 0.8, 0)]
    modes = (Mode(n=4, omega=-0.3, direction=dirs[0], polarization=(0, 0, 1)),
             Mode(n=6, omega=-0.7, direction=dirs[1], polarization=(0, 0, 1)),
             Mode(n=5, omega=0.4, direction=dirs[2], polarization=(0, 0, -1)),
             Mode(n=3, omega=0.9, direction=dirs[3], polarization=(0, 0, -1)))
    model = Model(modes=modes, mu=MuSchedule(mu0=5.0))
    res = linear_stability(model)
    assert res.growth_rate > 0.1
    rate = seeded_growth_rate(model, comm, t_end=16.0 / res.growth_rate)
    assert rate == pytest.approx(res.growth_rate, rel=0.02)
