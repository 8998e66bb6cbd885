"""Eq. (1)'s matrix elements (eq1.py) against dense spin matrices, and the checks the
engine makes before any work (ManyBodySolver.check): operator / propagator
compatibility, the PETSc index range and the memory model."""
from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest

from dense_reference import dot, mode_operators, spin_matrices
from manybody_cases import make_config, unit
from nmbhpc.errors import SettingsError
from nmbhpc.manybody import eq1, memory
from nmbhpc.manybody.basis import SectorBasis
from nmbhpc.manybody.solver import ManyBodySolver
from nmbhpc.physics.model import Mode
from nmbhpc.runtime.stack import init_petsc


# --- Eq. (1) ------------------------------------------------------------------------
@pytest.mark.parametrize("n", [1, 2, 3, 6])
def test_ladder_elements_match_spin_matrices(n):
    """dense_reference builds J^+ from j(j+1) - m(m+1) in the basis m = j..-j, i.e. k = 0..n."""
    jx, jy, _ = spin_matrices(n / 2)
    jp = (jx + 1j * jy).real
    for k in range(n + 1):
        if k > 0:
            assert eq1.j_plus(n, k) == pytest.approx(jp[k - 1, k], rel=1e-14)
        if k < n:
            assert eq1.j_minus(n, k) == pytest.approx(jp.T[k + 1, k], rel=1e-14)


def test_eq1_elements_assemble_the_dense_interaction():
    """sum_{p<q} c_pq J_p.J_q from Kronecker products of spin matrices equals the matrix
    assembled from pair_diagonal, pair_diagonal_separable and flip_amplitude alone."""
    counts = np.array([1, 2, 3])
    rng = np.random.default_rng(5)
    dirs = rng.normal(size=(3, 3))
    dirs /= np.linalg.norm(dirs, axis=1)[:, None]
    coup = 1.0 - dirs @ dirs.T
    np.fill_diagonal(coup, 0.0)
    ops = mode_operators([n / 2 for n in counts])
    dense = sum(coup[p, q] * dot(ops[p], ops[q]) for p in range(3) for q in range(p + 1, 3))

    factors = np.vstack([np.ones(3), dirs.T])
    weights = np.array([1.0, -1.0, -1.0, -1.0])
    cdiag = (weights[:, None] * factors**2).sum(axis=0)
    states = list(itertools.product(*(range(n + 1) for n in counts)))  # kron order: k_0 slowest
    index = {k: i for i, k in enumerate(states)}
    built = np.zeros((len(states), len(states)))
    for k in states:
        i = index[k]
        m = 0.5 * counts - np.array(k)
        built[i, i] = eq1.pair_diagonal(coup, m)
        assert eq1.pair_diagonal_separable(factors, weights, cdiag, m) == pytest.approx(
            built[i, i], abs=1e-13)
        for a, b in itertools.permutations(range(3), 2):
            if k[a] == 0 or k[b] == counts[b]:
                continue
            t = list(k)
            t[a] -= 1
            t[b] += 1
            built[index[tuple(t)], i] += eq1.flip_amplitude(coup[a, b], counts[a], k[a],
                                                            counts[b], k[b])
    assert np.abs(dense.imag).max() < 1e-14
    np.testing.assert_allclose(built, dense.real, atol=1e-13)
    np.testing.assert_array_equal(eq1.qubit_flip_table(coup), 0.5 * coup)


# --- refuse before work ---------------------------------------------------------------
def _qubits(m, tilt=0.0):
    rng = np.random.default_rng(3)
    dirs = rng.normal(size=(m, 3))
    pe, px = unit([np.sin(tilt), 0.0, np.cos(tilt)]), unit([0.0, 0.0, -1.0])
    return [Mode(1, 1.0, unit(dirs[p]), pe if p < m // 2 else px) for p in range(m)]


def _config(m, operator="auto", mfn_type="krylov", propagator="mfn"):
    config = make_config(_qubits(m), [0.0, 0.1], mu=1.0, pairs=False)
    return replace(config, manybody=replace(config.manybody, operator=operator, mfn_type=mfn_type,
                                            propagator=propagator))


def test_check_refuses_expokit_with_the_matrix_free_operator(comm):
    config = _config(6, operator="shell", mfn_type="expokit")
    with pytest.raises(SettingsError, match="MatNorm") as exc:
        ManyBodySolver.check(config, comm)
    assert exc.value.key == "manybody.mfn_type"
    assert "\n" not in str(exc.value)
    with pytest.raises(SettingsError, match="MatNorm"):  # the constructor checks first
        ManyBodySolver(config, comm)
    ManyBodySolver.check(_config(6, operator="separable", mfn_type="expokit"), comm)


def test_command_line_mfn_type_is_checked_too(comm):
    PETSc, _ = init_petsc()
    options = PETSc.Options()
    options["mfn_type"] = "expokit"
    try:
        with pytest.raises(SettingsError, match="MatNorm"):
            ManyBodySolver.check(_config(6, operator="shell"), comm)
    finally:
        options.delValue("mfn_type")
    ManyBodySolver.check(_config(6, operator="shell"), comm)


def test_check_refuses_matshells_with_the_spectral_propagator(comm):
    with pytest.raises(SettingsError, match="spectral") as exc:
        ManyBodySolver.check(_config(6, operator="real", propagator="spectral"), comm)
    assert exc.value.key == "manybody.operator"


def test_check_enumerates_no_states(comm, monkeypatch):
    def refuse(*args):
        raise AssertionError("check() built basis states")

    monkeypatch.setattr(SectorBasis, "configs", refuse)
    ManyBodySolver.check(_config(12), comm)
    ManyBodySolver.check(_config(20, operator="real"), comm)


def test_check_gives_the_memory_estimate(comm, monkeypatch):
    """30 one-neutrino modes at half filling: 1.55e8 states, a Krylov basis alone of
    ~28 GiB; refused with the estimate instead of allocating inside the basis."""
    monkeypatch.setattr(memory, "mem_available", lambda: 8 * 2**30)
    with pytest.raises(SettingsError, match=r"1\.551e\+08 states.*needs at least [0-9.]+ GiB"
                       r" per node") as exc:
        ManyBodySolver.check(_config(30), comm)
    assert exc.value.key == "model"
    assert "\n" not in str(exc.value)
    ManyBodySolver.check(_config(16), comm)  # 12870 states fit


@pytest.mark.parametrize("m", [34, 40])
def test_check_refuses_more_states_than_petsc_indexes(comm, m):
    PETSc, _ = init_petsc()
    if np.dtype(PETSc.IntType).itemsize != 4:
        pytest.skip("64-bit PetscInt: the memory check refuses these instead")
    with pytest.raises(SettingsError, match=r"32-bit PetscInt"):
        ManyBodySolver.check(_config(m), comm)


def test_check_refuses_bases_beyond_2_to_62(comm):
    with pytest.raises(SettingsError, match=r"at most 2\^62"):
        ManyBodySolver.check(_config(66), comm)  # C(66, 33) = 7.2e18 states


def test_work_counts_products(comm):
    solver = ManyBodySolver(_config(6), comm)
    try:
        assert solver.work()[1] == 0
        list(solver.records())
        unit_name, count = solver.work()
    finally:
        solver.destroy()
    assert unit_name == "matvecs" and count > 0
