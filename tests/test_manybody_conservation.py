"""Conserved quantities: norm, energy, total B.J, and the Pehlivan/Gaudin invariants.

With constant mu the engine's monitors (norm, energy, b_dot_j) must stay at the
values of the initial product state, computed here analytically from the
flavor-frame polarisations (<J_p> = j_p P_p, no correlations):
    E0 = sum_p omega_p j_p B.P_p + (mu/N) sum_{p<q} c_pq j_p j_q P_p.P_q.

Gaudin invariants (single angle, distinct omegas; Pehlivan et al., ref. [50]):
    h_p = B.J_p + (mu c/N) sum_{q!=p} J_p.J_q / (omega_p - omega_q),
built densely on the engine's basis from cfg (computational frame, B.J_p = -J^z_p),
evaluated on the engine's state at two times and compared with the product-state value.
"""
import numpy as np

from dense_reference import DenseReference
from manybody_cases import (SectorOperators, agree, assert_close, make_config, run_engine,
                            series, unit)
from nmbhpc.physics.model import Mode

E, X = (0.0, 0.0, 1.0), (0.0, 0.0, -1.0)


def product_state_energy(model, mu):
    j = 0.5 * model.counts
    jv = j[:, None] * model.initial_polarizations
    b = model.b_vector()
    c = model.couplings()
    m = model.n_modes
    pairs = sum(c[p, q] * jv[p] @ jv[q] for p in range(m) for q in range(p + 1, m))
    return float(np.sum(model.omegas * (jv @ b)) + mu / model.n_total * pairs)


def test_monitors_conserved_constant_mu(comm):
    modes = (Mode(1, 1.0, unit([0, 0, 1]), E), Mode(2, -0.7, unit([1, 0, 0]), unit([0.3, 0.4, -0.8])),
             Mode(1, 2.2, unit([0, 1, 1]), X), Mode(3, 0.5, unit([-1, 0.5, 0]), unit([1, 1, 0])))
    times = np.linspace(0.0, 8.0, 9)
    mu = 5.0
    config = make_config(modes, times, theta=0.25, mu=mu, pairs=False)
    records, _, _ = run_engine(config, comm)
    model = config.model
    n = len(times)
    e0 = product_state_energy(model, mu)
    bj0 = float(np.sum(0.5 * model.counts * (model.initial_polarizations @ model.b_vector())))
    assert_close(comm, series(records, "norm"), np.ones(n), what="norm")
    assert_close(comm, series(records, "energy"), np.full(n, e0), what="energy")
    assert_close(comm, series(records, "b_dot_j"), np.full(n, bj0), what="total B.J")
    # non-vacuous: the one-body state evolves while the monitors stay put
    assert np.ptp(series(records, "polarization")[:, :, 2]) > 1e-2


GAUDIN_MODES = (Mode(1, 1.0, polarization=E), Mode(2, -0.6, polarization=X),
                Mode(1, 2.1, polarization=unit([0.5, 0.2, 0.7])), Mode(1, 0.3, polarization=E))
GAUDIN = dict(theta=0.2, mu=3.0, single_angle=True, single_angle_factor=0.8)


def gaudin_product_values(model, mu):
    """<h_p> in the initial product state (flavor frame; dot products are frame-free)."""
    j = 0.5 * model.counts
    jv = j[:, None] * model.initial_polarizations
    g = mu * model.single_angle_factor / model.n_total
    w = model.omegas
    b = model.b_vector()
    return np.array([jv[p] @ b + g * sum(jv[p] @ jv[q] / (w[p] - w[q])
                                         for q in range(len(w)) if q != p) for p in range(len(w))])


def sector_gaudin(ops, model, mu):
    g = mu * model.single_angle_factor / model.n_total
    w = model.omegas
    return [ops.b_dot_j(p) + g * sum(ops.jdotj(p, q) / (w[p] - w[q]) for q in range(len(w)) if q != p)
            for p in range(len(w))]


def test_gaudin_invariants_conserved(comm):
    mu = GAUDIN["mu"]
    expected = None
    for t_end in (1.3, 3.7):
        config = make_config(GAUDIN_MODES, [0.0, t_end], pairs=False, **GAUDIN)
        records, psi, cfg = run_engine(config, comm, want_state=True)
        ops = SectorOperators(cfg, config.model.counts)
        h = sector_gaudin(ops, config.model, mu)
        values = np.array([np.vdot(psi, hp @ psi).real for hp in h])
        expected = gaudin_product_values(config.model, mu)
        assert_close(comm, values, expected, what=f"<h_p>(t={t_end}) vs initial")
        # the operators built from cfg are the engine's H: sum_p omega_p h_p, expectation = record energy
        hsum = sum(w * hp for w, hp in zip(config.model.omegas, h))
        assert_close(comm, np.vdot(psi, hsum @ psi).real, records[-1].energy, what="<sum w h> vs energy")
        comm_err = max(np.abs(a @ b - b @ a).max() for a in h for b in h)
        assert agree(comm, comm_err < 1e-12), f"[h_p, h_q] != 0 on the sector basis: {comm_err:.2e}"
        # non-vacuous: the one-body state did evolve
        assert np.max(np.abs(records[-1].polarization - records[0].polarization)) > 1e-2
    assert np.ptp(expected) > 1e-2  # the invariants are distinct numbers, not all zero


def test_gaudin_identities_of_the_oracle(comm):
    """sum_p omega_p h_p = H, [h_p, h_q] = 0 and [H, h_p] = 0 on the full flavor-frame space."""
    mu = GAUDIN["mu"]
    model = make_config(GAUDIN_MODES, [0.0], **GAUDIN).model
    ref = DenseReference(model)
    h = ref.gaudin_invariants(mu)
    H = ref.hamiltonian(mu)
    err_sum = np.abs(sum(w * hp for w, hp in zip(ref.omegas, h)) - H).max()
    err_hh = max(np.abs(a @ b - b @ a).max() for a in h for b in h)
    err_hH = max(np.abs(a @ H - H @ a).max() for a in h)
    assert agree(comm, max(err_sum, err_hh, err_hH) < 1e-12), (err_sum, err_hh, err_hH)
    # non-vacuous: a generic one-body operator (J^x of mode 0) is not conserved
    assert np.abs(ref.J[0][0] @ H - H @ ref.J[0][0]).max() > 1e-3


def test_pehlivan_monitor_from_records_matches_dense_oracle(comm):
    """nmbhpc.physics.invariants from the engine's recorded observables equals the dense
    oracle's <h_p>(t) and stays at its initial value; sum_p omega_p h_p is the energy."""
    from nmbhpc.physics.invariants import applies, pehlivan_invariants

    mu = GAUDIN["mu"]
    times = [0.0, 1.3, 3.7]
    config = make_config(GAUDIN_MODES, times, pairs=True, **GAUDIN)
    model = config.model
    assert applies(model)
    records, _, _ = run_engine(config, comm)
    ref = DenseReference(model)
    h_ops = ref.gaudin_invariants(mu)
    states = ref.states(times)
    for rec, psi in zip(records, states):
        got = pehlivan_invariants(model, rec.polarization, rec.pair_correlation, rec.mu)
        want = np.array([np.vdot(psi, hp @ psi).real for hp in h_ops])
        assert_close(comm, got, want, what=f"<h_p>(t={rec.time}) vs dense oracle")
        assert_close(comm, got, gaudin_product_values(model, mu), what="<h_p> conserved")
        assert_close(comm, float(model.omegas @ got), rec.energy, what="sum omega h = E")
    assert np.max(np.abs(records[-1].polarization - records[0].polarization)) > 1e-2


def test_pehlivan_invariants_need_distinct_omegas_and_single_angle():
    from nmbhpc.physics.model import Model
    from nmbhpc.physics.invariants import applies, pehlivan_invariants
    from nmbhpc.physics.schedule import MuSchedule

    same = Model(modes=(Mode(1, 0.5), Mode(1, 0.5)), theta=0.1, mu=MuSchedule(mu0=1.0),
                 single_angle=True)
    multi = Model(modes=(Mode(1, 0.5, direction=(0, 0, 1)), Mode(1, -0.5, direction=(1, 0, 0))),
                  theta=0.1, mu=MuSchedule(mu0=1.0))
    assert not applies(same) and not applies(multi)
    with np.testing.assert_raises(ValueError):
        pehlivan_invariants(same, np.zeros((2, 3)), np.zeros((2, 2)), 1.0)
