"""Sector by sector (``manybody.sectors = "one_at_a_time"``) against the one basis of all sectors.

H conserves the sector K, so evolving each sector on its own with its own
operator and Krylov space must give the same state as evolving the one basis
of all of them ("together", the path the other test files check against dense
references and analytic results). Both run with ``mfn_tol = 1e-12``; every
recorded observable and the final state must agree to ``SECTOR_TOL``, serially
and under mpirun -n 2 / -n 3 (the sectors are split over the ranks each on
its own). The J^x, J^y and pair terms come from pairs of neighbouring sectors
in one path and from one basis in the other, so they check the sector-pair
code; a dense reference (dense_reference.py) checks a small case
independently of both.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from dense_reference import DenseReference
from manybody_cases import (assert_close, dense_series, make_config, on_sub_communicator,
                            run_engine, series, unit)
from nmbhpc.errors import SettingsError
from nmbhpc.manybody.sectors import SectorSolver
from nmbhpc.manybody.engine import ManyBody
from nmbhpc.manybody.solver import sector_mode
from nmbhpc.physics.model import Mode
from nmbhpc.physics.schedule import MuSchedule

SECTOR_TOL = 1e-10
FIELDS = ("polarization", "nue_fraction", "rho1", "entropy", "pair_correlation",
          "energy", "b_dot_j", "norm")
TIMES = np.linspace(0.0, 1.5, 4)


def qubit_modes(n: int, seed: int = 7):
    """n one-neutrino modes, random directions and frequencies, half nu_e and half nu_x."""
    rng = np.random.default_rng(seed)
    dirs = rng.normal(size=(n, 3))
    return tuple(Mode(1, float(rng.uniform(-1.5, 1.5)), unit(d),
                      (0.0, 0.0, 1.0 if p < n // 2 else -1.0)) for p, d in enumerate(dirs))


def mixed_modes():
    """Mixed spins (n_p = 1, 2, 3, 1, 2) and tilted initial polarisations."""
    return (Mode(1, 1.0, unit([0, 0, 1]), (0.0, 0.0, 1.0)),
            Mode(2, -0.8, unit([1, 0, 0]), unit([0.3, -0.2, -0.9])),
            Mode(3, 1.9, unit([0, 1, 0.2]), (0.0, 0.0, -1.0)),
            Mode(1, 0.4, unit([-0.5, 0.5, 0.5]), unit([1.0, 0.0, 0.1])),
            Mode(2, -1.4, unit([0.1, -1, 0]), (0.0, 0.0, 1.0)))


def with_sectors(config, mode: str, operator: str = "auto"):
    return replace(config, manybody=replace(config.manybody, sectors=mode, operator=operator))


def both(config, comm, operator="auto"):
    """(records, final state) of "together" and of "one_at_a_time". Collective."""
    out = []
    for mode in ("together", "one_at_a_time"):
        records, psi, _ = run_engine(with_sectors(config, mode, operator), comm, want_state=True)
        out.append((records, psi))
    return out


def assert_same(comm, together, apart, what):
    (rec_a, psi_a), (rec_b, psi_b) = together, apart
    for field in FIELDS:
        if getattr(rec_a[0], field) is None:  # not recorded (no pair correlations)
            assert getattr(rec_b[0], field) is None
            continue
        assert_close(comm, series(rec_b, field), series(rec_a, field), atol=SECTOR_TOL,
                     what=f"{what}: {field}, one sector at a time vs together")
    # the one-basis run of pair correlations holds one more sector (kmax + 1), which the
    # state never reaches: compare the sectors both hold, and that the extra is empty
    n = len(psi_b)
    assert_close(comm, psi_b, psi_a[:n], atol=SECTOR_TOL, what=f"{what}: final state")
    assert_close(comm, psi_a[n:], np.zeros(len(psi_a) - n), atol=1e-14,
                 what=f"{what}: beyond the occupied sectors")


@pytest.mark.parametrize("n", [8, 10, 12])
@pytest.mark.parametrize("theta", [0.1, 0.5])
def test_qubits_agree_with_one_basis(comm, n, theta):
    config = make_config(qubit_modes(n), TIMES, theta=theta, mu=2.0, pairs=n <= 10)
    together, apart = both(config, comm)
    assert len(apart[0]) == len(TIMES)
    assert abs(series(apart[0], "polarization")[:, :, 0]).max() > 1e-3  # J^x is really there
    assert_same(comm, together, apart, f"N = {n}, theta = {theta}")


@pytest.mark.parametrize("propagator", ["mfn", "chebyshev"])
def test_lean_without_d_agrees(comm, propagator):
    """The lean operator keeps its own diagonals, so each sector's D is freed after the
    build: MFN and the Chebyshev series run from the operator alone, pair correlations
    and a bulb mu(t) included."""
    schedule = MuSchedule(kind="bulb", mu0=6.0, r0=1.5, radius=1.0, max_step=0.1)
    config = make_config(qubit_modes(9, seed=5), TIMES, theta=0.3, schedule=schedule, pairs=True)
    config = replace(config, manybody=replace(config.manybody, propagator=propagator,
                                              mfn_tol=1e-12))
    assert_same(comm, *both(config, comm, "lean"), f"lean, {propagator}")
    solver = SectorSolver(with_sectors(config, "one_at_a_time", "lean"), comm)
    try:
        assert solver._cache and all(D is None for _, D, _ in solver._cache.values())
    finally:
        solver.destroy()


def test_time_dependent_mu_agrees(comm):
    """A bulb mu(t) through the cf4 integrator: the same (dt, mu) pieces per sector."""
    schedule = MuSchedule(kind="bulb", mu0=6.0, r0=1.5, radius=1.0, max_step=0.1)
    config = make_config(qubit_modes(9, seed=3), TIMES, theta=0.3, schedule=schedule)
    assert_same(comm, *both(config, comm), "bulb mu(t)")


@pytest.mark.parametrize("operator", ["matrix", "real", "shell", "separable", "lean"])
def test_mixed_spins_every_operator(comm, operator):
    config = make_config(mixed_modes(), TIMES, theta=0.15, mu=4.0)
    assert_same(comm, *both(config, comm, operator), f"mixed spins, {operator}")


def test_against_dense_reference(comm):
    """Independent of both engine paths: exact exponentials of the dense H."""
    config = with_sectors(make_config(mixed_modes()[:4], TIMES, theta=0.4, mu=3.0),
                          "one_at_a_time")
    records, _, _ = run_engine(config, comm)
    obs = DenseReference(config.model).run(TIMES)
    for field in ("polarization", "pair_correlation", "energy"):
        assert_close(comm, series(records, field), dense_series(obs, field), atol=1e-9,
                     what=f"{field} vs dense")


def test_sub_communicators_agree(comm):
    """The same records on a different row split of every sector."""
    config = with_sectors(make_config(qubit_modes(8), TIMES, theta=0.5, mu=2.0), "one_at_a_time")
    world, _, _ = run_engine(config, comm)
    (part, _, _), size = on_sub_communicator(comm, lambda sub: run_engine(config, sub))
    for field in FIELDS:
        assert_close(comm, series(part, field), series(world, field), atol=SECTOR_TOL,
                     what=f"{field}: size {size} vs {comm.Get_size()}")


def test_checkpoint_round_trip(comm):
    """final_state is in the one basis's layout; restore puts it back into the sectors."""
    config = with_sectors(make_config(qubit_modes(8), TIMES, theta=0.3, mu=2.0, pairs=False),
                          "one_at_a_time")
    together = ManyBody(with_sectors(config, "together"), comm)
    apart = ManyBody(config, comm)
    try:
        assert isinstance(apart, SectorSolver) and not isinstance(together, SectorSolver)
        list(together.records())
        final = list(apart.records())[-1]
        local, offset, shape = apart.final_state()
        ref, ref_offset, ref_shape = together.final_state()
        assert (offset, shape) == (ref_offset, ref_shape)
        assert_close(comm, local, ref, atol=SECTOR_TOL, what="final state layout")
        fresh = ManyBody(replace(config, output=replace(config.output,
                                                              times=TIMES[-1:])), comm)
        try:
            fresh.restore(local, float(TIMES[-1]), apart.checkpoint_extras())
            again = next(iter(fresh.records()))
        finally:
            fresh.destroy()
        for field in FIELDS:
            if field != "pair_correlation":  # not recorded here
                assert_close(comm, getattr(again, field), getattr(final, field), atol=1e-13,
                             what=f"restored {field}")
    finally:
        together.destroy()
        apart.destroy()


def test_modes_and_refusals(comm):
    config = make_config(qubit_modes(6), TIMES, theta=0.2, mu=1.0)
    assert sector_mode(with_sectors(config, "auto"), comm) == "together"  # fits easily
    assert sector_mode(with_sectors(config, "one_at_a_time"), comm) == "one_at_a_time"
    single = make_config(qubit_modes(6), TIMES, theta=0.0, mu=1.0)
    assert sector_mode(with_sectors(single, "one_at_a_time"), comm) == "together"
    spectral = with_sectors(config, "one_at_a_time")
    spectral = replace(spectral, manybody=replace(spectral.manybody, propagator="spectral"))
    with pytest.raises(SettingsError, match="manybody.sectors"):
        ManyBody.check(spectral, comm)


def test_describe_and_memory_model(comm):
    config = with_sectors(make_config(qubit_modes(10), TIMES[:2], theta=0.1, mu=1.0,
                                      pairs=False), "one_at_a_time")
    solver = ManyBody(config, comm)
    try:
        info = solver.describe()
        assert info["sectors"] == "one_at_a_time" and info["basis_dim"] == 2**10
        assert info["largest_sector_dim"] == 252
        plan = solver.plan
        # every sector vector: 2^10 states of 16 bytes split over the ranks
        size = comm.Get_size()
        assert plan.vectors >= 16 * 2**10 / size
        kind = solver.operator
        assert plan.peak(kind) >= plan.vectors + plan.operator[kind] - 1
        assert solver.memory.rank[kind] == plan.peak(kind)
        assert info["nnz"] > 2**10
    finally:
        solver.destroy()


def test_records_in_small_blocks(comm, monkeypatch):
    """A record walks each sector in blocks of rows (bounded transient): blocks of 5 rows,
    uneven over the ranks, give the same records as the one basis."""
    from nmbhpc.manybody import sectors

    monkeypatch.setattr(sectors, "RECORD_CHUNK_ROWS", 5)
    config = make_config(qubit_modes(8, seed=11), TIMES, theta=0.5, mu=2.0)
    assert_same(comm, *both(config, comm), "blocks of 5 rows")


def test_check_refuses_with_the_sector_peak(comm, monkeypatch):
    """check (and "auto") read the sector-by-sector peak: all sector vectors plus the
    largest sector's operator, against the node's MemAvailable (here 512 MiB: not
    even the lean operator fits)."""
    from nmbhpc.manybody import memory

    monkeypatch.setattr(memory, "mem_available", lambda: 2**29)
    n = 24  # 2^24 states: 256 MiB of sector vectors alone, the largest sector's operator more
    config = make_config(qubit_modes(n), TIMES[:2], theta=0.1, mu=1.0, pairs=False)
    assert sector_mode(config, comm) == "one_at_a_time"  # the one basis does not fit
    with pytest.raises(SettingsError, match="one sector at a time, 25 sectors"):
        ManyBody.check(with_sectors(config, "one_at_a_time"), comm)
    monkeypatch.setattr(memory, "mem_available", lambda: 2**40)
    assert sector_mode(config, comm) == "together"
    ManyBody.check(with_sectors(config, "one_at_a_time"), comm)
