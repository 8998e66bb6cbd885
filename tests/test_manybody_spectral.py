"""The spectral propagator (manybody.propagator = "spectral") against MFN and a dense reference.

The reference propagates the solver's initial state with the eigendecomposition of the
dense H (numpy eigh) written here, independent of SLEPc; MFN is the engine's other
propagator. Runs serially and under mpirun -n 2 / -n 3.
"""
from __future__ import annotations

import numpy as np
import pytest

from nmbhpc.config import ConfigError, load_config_text
from nmbhpc.manybody.solver import ManyBodySolver
from nmbhpc.manybody.spectral_propagator import SpectralTruncationError

TWO_BEAM = """
solver = "manybody"
[model]
theta = {theta}
{mu}
[model.generator]
kind = "two_beam"
n_nu = {half}
n_nubar = {half}
omega = 1.0
hierarchy = "inverted"
{schedule}
[output]
t_final = 2.0
n_out = 5
[manybody]
operator = "{operator}"
propagator = "{propagator}"
mfn_tol = 1e-12
mfn_type = "expokit"
max_step = 0.05
spectral_max_nev = {max_nev}
"""


def _config(propagator="spectral", half=15, theta=0.1, operator="auto", max_nev=2048,
            schedule=""):
    return load_config_text(TWO_BEAM.format(propagator=propagator, half=half, theta=theta,
                                            operator=operator, max_nev=max_nev,
                                            schedule=schedule,
                                            mu="" if schedule else "mu = 10.0"))


def _dense_H(solver, comm):
    """The solver's H as a dense array on every rank (after set_mu)."""
    H = solver.propagator.H
    lo, hi = H.getOwnershipRange()
    n = H.getSize()[0]
    rows = H.getValues(range(lo, hi), range(n)) if hi > lo else np.zeros((0, n), complex)
    return np.vstack(comm.allgather(np.asarray(rows).reshape(hi - lo, n)))


def _run(config, comm):
    solver = ManyBodySolver(config, comm)
    psi0 = solver.state_global()
    records = list(solver.records())
    out = solver.state_global(), psi0, records, solver.describe()
    H = _dense_H(solver, comm) if config.manybody.propagator == "spectral" else None
    solver.destroy()
    return out, H


@pytest.mark.parametrize("half, theta", [(15, 0.1), (40, 0.0)])
def test_spectral_matches_mfn_and_dense_reference(comm, half, theta):
    (spec, psi0, spec_rec, info), H = _run(_config("spectral", half, theta), comm)
    (mfn, psi0_mfn, mfn_rec, _), _ = _run(_config("mfn", half, theta), comm)
    assert np.array_equal(psi0, psi0_mfn)
    # theta = 0.1 leaves several sectors: H is not tridiagonal, states are not real
    assert info["propagator"] == "spectral"
    assert info["spectral_truncation"] <= 1e-12
    evals, evecs = np.linalg.eigh(H)
    assert np.allclose(H, H.conj().T, atol=1e-12)
    t = 2.0
    ref = evecs @ (np.exp(-1j * evals * t) * (evecs.conj().T @ psi0))
    assert np.abs(spec - ref).max() < 1e-9
    assert np.abs(mfn - ref).max() < 1e-9
    for a, b in zip(spec_rec, mfn_rec):
        assert a.time == b.time
        assert np.abs(a.polarization - b.polarization).max() < 1e-9
        assert abs(a.energy - b.energy) < 1e-9 * abs(b.energy)
    # a non-trivial evolution: the state moved
    assert np.abs(spec - psi0).max() > 1e-3


def test_truncation_check_fires_when_nev_capped(comm):
    with pytest.raises(SpectralTruncationError, match="manybody.spectral_max_nev"):
        ManyBodySolver(_config("spectral", 40, 0.0, max_nev=4), comm)


def test_capped_but_sufficient_nev_passes(comm):
    # theta = 0 at N = 80: the initial state needs far fewer than the 41 sector states
    solver = ManyBodySolver(_config("spectral", 40, 0.0, max_nev=41), comm)
    info = solver.describe()
    solver.destroy()
    assert info["spectral_nev"] <= 41 and info["spectral_truncation"] <= 1e-12


@pytest.mark.serial
def test_time_dependent_mu_refused():
    schedule = "[model.schedule]\nkind = \"table\"\ntimes = [0.0, 1.0, 3.0]\nvalues = [5.0, 2.0, 4.0]"
    with pytest.raises(ConfigError) as exc:
        _config(schedule=schedule)
    assert exc.value.key == "manybody.propagator"
    _config("mfn", schedule=schedule)  # MFN takes it


@pytest.mark.serial
@pytest.mark.parametrize("operator", ["real", "shell"])
def test_matshell_operator_refused(operator):
    with pytest.raises(ConfigError) as exc:
        _config(operator=operator)
    assert exc.value.key == "manybody.operator"


@pytest.mark.serial
def test_bad_propagator_name():
    with pytest.raises(ConfigError) as exc:
        _config(propagator="lanczos")
    assert exc.value.key == "manybody.propagator"


def test_replaced_state_is_rechecked(comm):
    """A state the eigenpairs do not hold (as after a restart) makes the propagator
    compute more of them, not evolve a truncated state."""
    solver = ManyBodySolver(_config("spectral", 400, 0.0), comm)
    prop = solver.propagator
    nev0 = prop.nev
    H = _dense_H(solver, comm)
    rng = np.random.default_rng(7)
    full = rng.normal(size=H.shape[0]) + 1j * rng.normal(size=H.shape[0])
    lo, hi = solver.psi.getOwnershipRange()
    solver.psi.setArray(full[lo:hi])
    prop.step(solver.psi, 0.3, 10.0)
    out = solver.state_global()
    solver.destroy()
    evals, evecs = np.linalg.eigh(H)
    ref = evecs @ (np.exp(-0.3j * evals) * (evecs.conj().T @ full))
    assert nev0 < H.shape[0] == prop.nev
    assert np.abs(out - ref).max() < 1e-9 * np.abs(ref).max()
