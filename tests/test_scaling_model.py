"""The scaling model (manybody/scaling_model.py) against the operators it models.

* Per-rank counts of the model at the run's rank count equal the ones read from
  the "real" and "separable" operators built in the test (N = 12 and 13,
  multi-angle couplings; one sector, and several sectors with tilted
  polarisations): rows, non-zeros by block, ghosts, owner ranks. Serially the
  ghost counts are zero on both sides; under mpirun -n 2 / -n 3 they are not.
* The model's basis order against SectorBasis's (an independent ranking here).
* Sums the partition cannot change: every rank's non-zeros add up to
  dim K (M - K), the map entries to dim_int (M - K + 1).
* The sampled counts against the exact ones (fixed seed, 5 standard errors).
"""
from math import comb

import numpy as np
import pytest

from manybody_cases import make_config, unit
from nmbhpc.manybody import scaling_model as sm
from nmbhpc.manybody.basis import SectorBasis
from nmbhpc.physics.model import Mode

E, X = (0.0, 0.0, 1.0), (0.0, 0.0, -1.0)


def _modes(m, tilt=0.0, seed=5):
    rng = np.random.default_rng(seed)
    pol_e = unit([np.sin(tilt), 0.0, np.cos(tilt)])
    pol_x = unit([0.0, np.sin(tilt), -np.cos(tilt)])
    return [Mode(1, 1.0 + 0.05 * p, unit(rng.normal(size=3)), pol_e if p < m // 2 else pol_x)
            for p in range(m)]


@pytest.mark.parametrize("m, tilt", [(12, 0.0), (13, 0.0), (10, 0.3)])
@pytest.mark.parametrize("operator", ["real", "separable"])
def test_model_counts_equal_the_built_operator(comm, m, tilt, operator):
    from dataclasses import replace

    from nmbhpc.manybody.solver import ManyBodySolver

    config = make_config(_modes(m, tilt), [0.0, 0.1], mu=1.0)
    config = replace(config, manybody=replace(config.manybody, operator=operator))
    solver = ManyBodySolver(config, comm)
    try:
        measured = sm.measured_counts(solver.A)
        sectors = sm.QubitSectors(m, solver.basis.kmin, solver.basis.kmax)
    finally:
        solver.destroy()
    if tilt:
        assert sectors.kmax > sectors.kmin  # the multi-sector case is one
    model = sm.exact_counts(sectors, comm.Get_size(), operator)
    rank = comm.Get_rank()
    keys = (("rows", "diag_upper", "off_block", "nonzeros", "ghosts", "messages")
            if operator == "real" else
            ("rows", "intermediate_rows", "local_entries", "ghost_entries", "ghosts", "messages"))
    got = {k: int(measured[k]) for k in keys}
    want = {k: int(model[k][rank]) for k in keys}
    assert got == want, f"rank {rank} of {comm.Get_size()}"
    assert measured["ghost_vector"] == measured["ghosts"]
    if comm.Get_size() > 1:
        assert comm.allreduce(measured["ghosts"]) > 0


def test_model_order_is_the_basis_order():
    for m, kmin, kmax in [(9, 4, 4), (8, 2, 6), (7, 0, 3)]:
        basis = SectorBasis(np.ones(m, dtype=np.int64), kmin, kmax)
        sectors = sm.QubitSectors(m, kmin, kmax)
        assert sectors.dim == basis.dim
        bits = basis.all_configs() @ (1 << (m - 1 - np.arange(m)))
        # same sector sorted by the integer value of the bit string, sectors ascending
        order = np.lexsort((bits, basis.all_configs().sum(axis=1)))
        np.testing.assert_array_equal(order, np.arange(basis.dim))
        binom = sm._binomials(m)
        idx = [sm._index(int(b), m, binom, kmin, sectors.offsets) for b in bits]
        np.testing.assert_array_equal(idx, np.arange(basis.dim))
        back = [sm._state(i, m, binom, kmin, sectors.offsets) for i in range(basis.dim)]
        np.testing.assert_array_equal(back, bits)


@pytest.mark.parametrize("n_ranks", [1, 5, 64])
def test_partition_invariant_sums(n_ranks):
    m, k = 12, 6
    sectors = sm.QubitSectors.half_filled(m)
    real = sm.exact_counts(sectors, n_ranks, "real")
    sep = sm.exact_counts(sectors, n_ranks, "separable")
    assert real["rows"].sum() == comb(m, k)
    assert real["nonzeros"].sum() == comb(m, k) * k * (m - k)
    np.testing.assert_array_equal(real["diag_upper"], real["diag_lower"])
    assert sep["intermediate_rows"].sum() == comb(m, k - 1)
    assert (sep["local_entries"] + sep["ghost_entries"]).sum() == comb(m, k - 1) * (m - k + 1)
    assert np.all(real["ghosts"] <= comb(m, k) - real["rows"])
    assert np.all(sep["ghosts"] <= sep["ghost_entries"])
    assert np.all(real["messages"] <= n_ranks - 1)
    if n_ranks == 1:
        assert real["ghosts"].sum() == sep["ghosts"].sum() == 0


def test_zero_couplings_are_not_counted():
    m = 8
    coupled = np.ones((m, m), dtype=bool)
    np.fill_diagonal(coupled, False)
    coupled[0, 5] = coupled[5, 0] = False
    sectors = sm.QubitSectors.half_filled(m)
    full = sm.exact_counts(sectors, 3, "real")
    cut = sm.exact_counts(sectors, 3, "real", coupled)
    # rows with exactly one of modes 0, 5 down lose one flip: 2 C(6, 3) of them
    assert full["nonzeros"].sum() - cut["nonzeros"].sum() == 2 * comb(6, 3)


@pytest.mark.parametrize("operator", ["real", "separable"])
def test_sampled_counts_agree_with_exact(operator):
    sectors = sm.QubitSectors.half_filled(16)
    exact = sm.exact_counts(sectors, 8, operator, ranks_per_node=2)
    est = sm.sampled_counts(sectors, 8, operator, samples=3000, seed=3, ranks_per_node=2)
    for key, err in est.stderr.items():
        assert np.all(err > 0), key
        z = np.abs(est[key] - exact[key]) / err
        assert z.max() < 5.0, (key, z)
    assert np.all(est["messages"] <= exact["messages"])
    off_exact, off_est = exact["offnode_ghosts"].sum(), est["offnode_ghosts"].sum()
    assert abs(off_est - off_exact) < 0.05 * off_exact


def test_predict_time_adds_the_parts():
    sectors = sm.QubitSectors.half_filled(12)
    rc = sm.exact_counts(sectors, 4, "separable", ranks_per_node=2)
    net = sm.Network(bandwidth=1e9, latency=1e-6, ranks_per_node=2, intranode_bandwidth=4e9)
    p = sm.predict_time(rc, 1e-9, net)
    off, on = rc["offnode_ghosts"], rc["ghosts"] - rc["offnode_ghosts"]
    assert off.sum() > 0 and on.sum() > 0
    total = (rc.work * 1e-9 + 2 * 16 * (off * 2 / 1e9 + on / 4e9)
             + 2 * rc["messages"] * 1e-6)
    assert p.seconds == pytest.approx(total.max())
    assert p.seconds == pytest.approx(p.compute + p.transfer + p.latency)
    one = sm.predict_time(sm.exact_counts(sectors, 1, "separable", ranks_per_node=2), 1e-9, net)
    assert one.transfer == one.latency == 0.0
    assert one.compute == pytest.approx(comb(12, 5) * 7 * 1e-9)
    with pytest.raises(ValueError, match="ranks_per_node"):
        sm.predict_time(sm.exact_counts(sectors, 4, "separable"), 1e-9, net)


@pytest.mark.parametrize("operator", ["real", "separable"])
def test_offnode_ghosts(operator):
    sectors = sm.QubitSectors.half_filled(12)
    alone = sm.exact_counts(sectors, 6, operator, ranks_per_node=1)
    one_node = sm.exact_counts(sectors, 6, operator, ranks_per_node=8)
    pairs = sm.exact_counts(sectors, 6, operator, ranks_per_node=2)
    np.testing.assert_array_equal(alone["offnode_ghosts"], alone["ghosts"])
    assert one_node["offnode_ghosts"].sum() == 0
    assert np.all(pairs["offnode_ghosts"] <= pairs["ghosts"])
    assert pairs["offnode_ghosts"].sum() < pairs["ghosts"].sum()
    assert pairs["offnode_ghosts"].sum() > 0


def test_sampled_prediction_prices_every_other_rank():
    sectors = sm.QubitSectors.half_filled(14)
    rc = sm.sampled_counts(sectors, 6, "real", samples=200)
    p = sm.predict_time(rc, 0.0, sm.Network(bandwidth=1e30, latency=1e-6, ranks_per_node=1,
                                            intranode_bandwidth=1e30))
    assert p.latency == pytest.approx(5 * 1e-6)
    assert np.all(rc["messages"] <= 5)


@pytest.mark.parametrize("m, kmin, kmax", [(12, 6, 6), (9, 2, 7)])
@pytest.mark.parametrize("n_ranks", [2, 5, 64])
def test_intermediate_blocks_equal_a_dense_recount(m, kmin, kmax, n_ranks):
    from test_intermediate_split import _dense_split

    from nmbhpc.manybody.separable_operator import intermediate_basis

    basis = SectorBasis(np.ones(m, dtype=np.int64), kmin, kmax)
    want, _ = _dense_split(basis, intermediate_basis(basis), n_ranks)
    got = sm.intermediate_blocks(sm.QubitSectors(m, kmin, kmax), n_ranks)
    np.testing.assert_array_equal(got, want)


def test_sampled_intermediate_blocks_are_close():
    sectors = sm.QubitSectors.half_filled(16)
    exact = sm.intermediate_blocks(sectors, 8)
    est = sm.intermediate_blocks(sectors, 8, samples=200)
    assert est[-1] == exact[-1] == comb(16, 7)
    assert not np.array_equal(exact, sm.row_blocks(comb(16, 7), 8))
    assert np.max(np.abs(est - exact)) < 0.02 * comb(16, 7) / 8
