"""A spin-n/2 mode equals n spin-1/2 modes in the same symmetric state.

n qubits with the same omega and direction, each started in the coherent state
along P, form the spin-n/2 coherent state along P, and H maps the symmetric
subspace into itself. So the big mode's P equals each small mode's P, its
correlations with any other mode equal the sum over the small ones, and the
energies differ only by the small modes' mutual coupling, a constant on the
symmetric subspace: (mu c / N) sum_{a<b} J_a.J_b = (mu c / N) [j(j+1) - n 3/4] / 2
(c = single-angle factor; zero in multi-angle, where equal directions give 1 - p.q = 0).
Both sides run in the engine, with other modes present.
"""
import numpy as np
import pytest

from manybody_cases import assert_close, make_config, run_engine, series, unit
from nmbhpc.physics.model import Mode

TIMES = np.linspace(0.0, 3.0, 7)
BIG_DIR = unit([0.2, 0.0, 1.0])
BIG_POL = unit([0.4, -0.2, 0.9])
OTHERS = (Mode(1, -0.5, unit([1, 0, 0]), (0.0, 0.0, -1.0)),
          Mode(2, 1.3, unit([0, 1, -0.4]), unit([1.0, 0.0, 0.2])))


@pytest.mark.parametrize("single_angle", [False, True])
@pytest.mark.parametrize("n", [3, 4])
def test_spin_mode_equals_symmetric_qubits(comm, n, single_angle):
    omega, theta, mu, factor = 0.8, 0.2, 4.0, 0.9
    kw = dict(theta=theta, mu=mu, single_angle=single_angle, single_angle_factor=factor)
    big = make_config((Mode(n, omega, BIG_DIR, BIG_POL),) + OTHERS, TIMES, **kw)
    small = make_config(tuple(Mode(1, omega, BIG_DIR, BIG_POL) for _ in range(n)) + OTHERS, TIMES, **kw)
    rb, _, _ = run_engine(big, comm)
    rs, _, _ = run_engine(small, comm)

    pb, ps = series(rb, "polarization"), series(rs, "polarization")
    assert_close(comm, pb[:, 0], ps[:, :n].mean(axis=1), what="P(big) vs mean P(small)")
    for a in range(1, n):
        assert_close(comm, ps[:, a], ps[:, 0], what="small modes identical")
    assert_close(comm, pb[:, 1:], ps[:, n:], what="P of the other modes")

    cb, cs = series(rb, "pair_correlation"), series(rs, "pair_correlation")
    assert_close(comm, cb[:, 0, 1:], cs[:, :n, n:].sum(axis=1), what="C(big, other) vs sum C(small, other)")
    assert_close(comm, cb[:, 1:, 1:], cs[:, n:, n:], what="C among other modes")
    assert_close(comm, cb[:, 0, 0], cs[:, :n, :n].sum(axis=(1, 2)), what="<J^2>-<J>^2 of the big mode")

    j = 0.5 * n
    n_total = big.model.n_total
    offset = (mu * factor / n_total) * 0.5 * (j * (j + 1) - 0.75 * n) if single_angle else 0.0
    assert_close(comm, series(rs, "energy") - series(rb, "energy"), np.full(len(TIMES), offset),
                 what="energy offset")
    # non-vacuous: the big mode's polarisation moves
    assert np.ptp(pb[:, 0, 2]) > 1e-2
