"""The bipolar (two-beam) pendulum pins the sign conventions (docs/conventions.md).

n nu_e (omega > 0, isospin +z) and n nubar_e (omega < 0, flipped isospin -z),
single-angle, H = omega B.(J_1 - J_2) + (mu/N) J_1.J_2. Linearising around the
initial state gives d^2 S_perp/dt^2 = -omega (omega + s mu/2) S_perp with
s = -B_z/|B_z|: stable in the normal hierarchy (theta small, B ~ -z), unstable for
mu > 2 omega in the inverted one (theta -> theta + pi/2, B -> -B).
"""
import numpy as np

from manybody_cases import agree, make_config, run_engine, series
from nmbhpc.physics.model import Mode


def min_nu_polarization(comm, theta, mu, n=8):
    modes = (Mode(n, 1.0, polarization=(0.0, 0.0, 1.0)), Mode(n, -1.0, polarization=(0.0, 0.0, -1.0)))
    config = make_config(modes, np.linspace(0.0, 3.0, 16), theta=theta, mu=mu, single_angle=True,
                         pairs=False)
    records, _, _ = run_engine(config, comm)
    pol = series(records, "polarization")
    # exact symmetry (swap the modes, rotate by pi about y): P_z of the two modes stay opposite
    assert agree(comm, np.allclose(pol[:, 0, 2], -pol[:, 1, 2], atol=1e-8))
    return pol[:, 0, 2].min()


def test_bipolar_inverted_hierarchy_is_unstable(comm):
    theta, mu = 0.01, 10.0
    normal = min_nu_polarization(comm, theta, mu)
    inverted = min_nu_polarization(comm, theta + np.pi / 2, mu)
    weak = min_nu_polarization(comm, theta + np.pi / 2, 1.0)  # below the mu = 2 omega threshold
    assert agree(comm, normal > 0.6 and weak > 0.9 and inverted < 0.0), (normal, inverted, weak)
