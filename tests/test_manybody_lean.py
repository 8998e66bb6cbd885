"""The lean matrix-free H (manybody.operator = "lean") against references.

* ``H x`` against the separable operator (itself checked against the stored
  AIJ and a dense solver, test_manybody_separable.py) to round-off, for every
  case there: multi-angle (the bit-string kernel), single-angle and general
  spins (the general kernel), several sectors, coplanar directions, a basis
  starting at K = 0;
* short evolutions against the independent dense oracle: test_manybody_separable.py
  runs its dense-reference cases with this operator too;
* the same product on a sub-communicator (another row split, other ghost spans);
* ``mult_add`` (y <- alpha H x + beta y in place) against alpha H x + beta y;
* the Gershgorin interval of A against the eigenvalues of A from a dense matrix
  built in the test, and the one-neutrino shortcut for it against the walk over
  every flip;
* the solver keeps neither the configurations nor D once the operator is built.
"""
from dataclasses import replace

import numpy as np
import pytest

from manybody_cases import (apply_hamiltonian, assert_close, product_on_other_partition,
                            random_global_vector, run_engine)
from nmbhpc.manybody.basis import LocalRows
from nmbhpc.manybody.solver import ManyBodySolver
from test_manybody_separable import CASES

ROUND_OFF = 1e-12


def _solver(comm, case, operator):
    solver = ManyBodySolver(CASES[case](operator), comm)
    assert solver.describe()["operator"] == operator
    return solver


@pytest.mark.parametrize("case", sorted(CASES))
def test_product_matches_separable(comm, case):
    out = {}
    for op in ("separable", "lean"):
        solver = _solver(comm, case, op)
        try:
            x = random_global_vector(solver.basis.dim)
            out[op] = ([apply_hamiltonian(solver, x, mu) for mu in (3.0, -0.7)],
                       solver.describe()["nnz"])
        finally:
            solver.destroy()
    for i in range(2):
        a, b = out["lean"][0][i], out["separable"][0][i]
        scale = max(1.0, float(np.abs(b).max()))
        assert_close(comm, a / scale, b / scale, atol=ROUND_OFF, what=f"{case}: lean vs separable")
    assert out["lean"][1] == out["separable"][1]


@pytest.mark.parametrize("case", ["multi-angle-sectors", "general-spins"])
def test_product_on_other_partition(comm, case):
    """Lean on a sub-communicator (another row split) against the AIJ on the world."""
    part, ref = product_on_other_partition(comm, CASES[case]("matrix"), "lean")
    assert_close(comm, part, ref, atol=ROUND_OFF, what=f"{case}: lean on sub-communicator")


@pytest.mark.parametrize("case", ["multi-angle", "general-spins"])
def test_mult_add_in_place(comm, case):
    solver = _solver(comm, case, "lean")
    try:
        solver.propagator.set_mu(2.0)
        ctx = solver.propagator.H.getPythonContext()
        x, y = solver.psi.duplicate(), solver.psi.duplicate()
        x.setArray(random_global_vector(solver.basis.dim, seed=5)[solver.lo:solver.hi])
        y0 = random_global_vector(solver.basis.dim, seed=6)[solver.lo:solver.hi]
        y.setArray(y0)
        hx = apply_hamiltonian(solver, random_global_vector(solver.basis.dim, seed=5), 2.0)
        ctx.mult_add(x, y, 0.3, -1.7)
        got = y.getArray(readonly=True).copy()
        y.setArray(np.full_like(y0, np.nan))  # beta = 0 must not read y
        ctx.mult_add(x, y, 0.3, 0.0)
        zero_beta = y.getArray(readonly=True).copy()
        x.destroy()
        y.destroy()
    finally:
        solver.destroy()
    assert_close(comm, got, 0.3 * hx - 1.7 * y0, atol=ROUND_OFF, what="alpha H x + beta y")
    assert_close(comm, zero_beta, 0.3 * hx, atol=ROUND_OFF, what="alpha H x, beta = 0")


@pytest.mark.parametrize("case", ["multi-angle", "general-spins", "coplanar"])
def test_interaction_bounds_hold_every_eigenvalue(comm, case):
    """Gershgorin interval of A (the Chebyshev propagator's) against the spectrum of A,
    from its dense matrix built column by column in the test."""
    solver = _solver(comm, case, "lean")
    try:
        dim = solver.basis.dim
        cols = []
        for i in range(dim):
            e = np.zeros(dim, dtype=complex)
            e[i] = 1.0
            cols.append(np.concatenate(comm.allgather(apply_hamiltonian(solver, e, 1.0)
                                                      - apply_hamiltonian(solver, e, 0.0))))
        lo, hi = solver.propagator.H.getPythonContext().interaction_bounds()
    finally:
        solver.destroy()
    a = np.array(cols).T
    assert np.allclose(a, a.conj().T, atol=1e-12)
    eig = np.linalg.eigvalsh(a)
    assert lo <= eig[0] + 1e-12 and eig[-1] <= hi + 1e-12
    # Gershgorin, not a loose norm bound: within a factor 3 of the spectral width
    assert hi - lo < 3 * (eig[-1] - eig[0])


@pytest.mark.parametrize("case", ["multi-angle", "multi-angle-sectors", "single-angle-sectors",
                                  "from-sector-0"])
def test_qubit_gershgorin_is_the_general_walks(comm, case, monkeypatch):
    """The O(K R) interval of one-neutrino modes (separable sums over the set bits)
    against the O(M^2) walk over every flip, on the same rows."""
    from mpi4py import MPI

    from nmbhpc.manybody import lean_kernels as lk

    general_walk = lk.interaction_gershgorin
    solver = _solver(comm, case, "lean")
    try:
        ctx = solver.propagator.H.getPythonContext()
        monkeypatch.setattr(lk, "interaction_gershgorin", None)  # the fast path must not need it
        fast = ctx.interaction_bounds()
        b = ctx.basis
        lo, hi = general_walk(ctx.lo, ctx.hi, b.cum, b.kmin, b.sector_offset, ctx.counts,
                              ctx.coup, ctx.g, ctx.mu_diagonal)
    finally:
        solver.destroy()
    general = (comm.allreduce(lo, op=MPI.MIN), comm.allreduce(hi, op=MPI.MAX))
    assert np.allclose(fast, general, rtol=1e-12, atol=1e-13), (fast, general)


def test_solver_frees_rows(comm):
    solver = _solver(comm, "multi-angle-sectors", "lean")
    try:
        assert isinstance(solver.configs, LocalRows)
        assert solver.observer.configs is solver.configs
        assert solver.D is None  # freed after the build
        records = list(solver.records())
    finally:
        solver.destroy()
    assert np.isfinite(records[-1].polarization).all()
