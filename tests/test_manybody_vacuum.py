"""Vacuum oscillations (mu = 0) against the analytic two-flavor formula.

With mu = 0 every mode precesses about B at angular frequency omega_p, so a mode
started as pure nu_e has, for any spin j and either sign of omega,
``P(nu_e -> nu_e)(t) = 1 - sin^2(2 theta) sin^2(omega t / 2)``.
"""
import numpy as np
import pytest

from dense_reference import DenseReference
from manybody_cases import assert_close, make_config, run_engine, series, unit
from nmbhpc.physics.model import Mode

OMEGAS = (1.0, -2.0, 0.7, -0.3)
TIMES = np.linspace(0.0, 6.0, 13)


def survival(theta, omega, t):
    return 1.0 - np.sin(2 * theta) ** 2 * np.sin(omega * t / 2) ** 2


def vacuum_modes(counts=(1, 1, 2, 1)):
    dirs = ([0, 0, 1], [1, 0, 0], [0.3, 0.4, -0.5], [0, -1, 1])
    return tuple(Mode(n=n, omega=w, direction=unit(d), polarization=(0.0, 0.0, 1.0))
                 for n, w, d in zip(counts, OMEGAS, dirs))


@pytest.mark.parametrize("theta", [0.1, 0.4, np.pi / 4])
def test_vacuum_survival_probability(comm, theta):
    config = make_config(vacuum_modes(), TIMES, theta=theta, mu=0.0)
    records, _, _ = run_engine(config, comm)
    expected = np.stack([survival(theta, w, TIMES) for w in OMEGAS], axis=1)
    assert_close(comm, series(records, "nue_fraction"), expected, what="P(nu_e->nu_e)")
    # no interaction: modes stay in product states (no connected correlations between modes)
    corr = series(records, "pair_correlation")
    off = corr - np.einsum("tpp->tp", corr)[:, :, None] * np.eye(len(OMEGAS))
    assert_close(comm, off, np.zeros_like(off), what="inter-mode correlation at mu=0")


def test_vacuum_nux_and_antineutrino_start(comm):
    """A nu_x (or flipped-isospin nubar_e) start: P_z(t) = -(cos^2 2theta + sin^2 2theta cos wt)."""
    theta = 0.3
    modes = tuple(Mode(n=1, omega=w, polarization=(0.0, 0.0, -1.0)) for w in (1.5, -1.5))
    config = make_config(modes, TIMES, theta=theta, mu=0.0)
    records, _, _ = run_engine(config, comm)
    c2, s2 = np.cos(2 * theta) ** 2, np.sin(2 * theta) ** 2
    expected = np.stack([-(c2 + s2 * np.cos(w * TIMES)) for w in (1.5, -1.5)], axis=1)
    assert_close(comm, series(records, "polarization")[:, :, 2], expected, what="P_z of nu_x start")


def test_dense_reference_vacuum(comm):
    """The oracle itself reproduces the analytic formula (checks the test's own reference)."""
    theta = 0.35
    ref = DenseReference(make_config(vacuum_modes(), TIMES, theta=theta).model)
    obs = ref.run(TIMES)
    got = np.array([o["nue_fraction"] for o in obs])
    expected = np.stack([survival(theta, w, TIMES) for w in OMEGAS], axis=1)
    assert_close(comm, got, expected, atol=1e-12, what="dense oracle vacuum")
