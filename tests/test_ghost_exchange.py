"""The separable operator's ghost exchange (nmbhpc/manybody/ghost_exchange.py).

* ``shared`` (MPI-3 shared-memory windows) and ``scatter`` (PETSc VecScatter)
  give the product of the stored complex AIJ to round-off, and the ghost values
  of every rank are the entries of x they stand for;
* the runs the shared exchange copies by, against the pairs they stand for;
* an unknown ``-mb_H_ghost_exchange`` is refused, naming the option and value.

The first-touch test of test_manybody_separable.py runs with both exchanges too.
"""
from dataclasses import replace

import numpy as np
import pytest

from manybody_cases import apply_hamiltonian, assert_close, make_config, random_global_vector, unit
from nmbhpc.manybody.ghost_exchange import KINDS, runs
from nmbhpc.manybody.solver import ManyBodySolver
from nmbhpc.physics.model import Mode

ROUND_OFF = 1e-12


def _sectors_config(operator):
    # theta != 0 and tilted polarisations: several sectors, so on 3 ranks a rank's
    # ghosts come from both other ranks and the shared exchange copies many runs
    rng = np.random.default_rng(5)
    modes = [Mode(1, 1.0 + 0.1 * p, unit(rng.normal(size=3)),
                  unit([0.4, 0.0, 1.0]) if p % 2 else unit([0.0, 0.4, -1.0])) for p in range(9)]
    config = make_config(modes, [0.0, 1.0], theta=0.3, mu=2.5)
    return replace(config, manybody=replace(config.manybody, operator=operator))


@pytest.mark.parametrize("kind", ["shared", "scatter", "auto"])
def test_exchanges_give_the_stored_matrix_product(comm, kind, ghost_exchange_option):
    reference = ManyBodySolver(_sectors_config("matrix"), comm)
    try:
        x = random_global_vector(reference.basis.dim)
        expected = apply_hamiltonian(reference, x, 2.5)
    finally:
        reference.destroy()
    ghost_exchange_option(kind)
    solver = ManyBodySolver(_sectors_config("separable"), comm)
    try:
        ctx = solver.propagator.H.getPythonContext()
        if comm.size == 1:
            assert ctx.exchange is None
        else:
            assert ctx.exchange.kind == ("shared" if kind == "auto" else kind)
        for _ in range(2):  # the second product reuses the windows / buffers
            got = apply_hamiltonian(solver, x, 2.5)
            scale = max(1.0, float(np.abs(expected).max()))
            assert_close(comm, got / scale, expected / scale, atol=ROUND_OFF,
                         what=f"{kind}: separable H x")
        # each ghost holds the entry of x of the global row it stands for
        index = solver.propagator.H.createVecRight()
        index.setArray(np.arange(ctx.lo, ctx.hi, dtype=np.float64).astype(np.complex128))
        values = ctx.ghost_values(index)
        index.destroy()
        ghosts = ctx.map.ghosts if ctx.map is not None else np.zeros(0, dtype=np.int64)
        assert np.array_equal(values.real, ghosts.astype(np.float64)[:len(values)])
        assert len(values) == (0 if comm.size == 1 else len(ghosts))
        assert np.all((ghosts < ctx.lo) | (ghosts >= ctx.hi))
    finally:
        solver.destroy()


@pytest.mark.serial
def test_runs_cover_the_pairs_in_order():
    rows = np.array([5, 6, 7, 2, 3, 3, 4, 9], dtype=np.int64)
    slots = np.array([0, 1, 2, 3, 4, 6, 7, 8], dtype=np.int64)
    run_row, run_slot, run_len = runs(rows, slots)
    assert run_row.tolist() == [5, 2, 3, 9]
    assert run_slot.tolist() == [0, 3, 6, 8]
    assert run_len.tolist() == [3, 2, 2, 1]
    expanded = np.concatenate([np.c_[r + np.arange(n), s + np.arange(n)]
                               for r, s, n in zip(run_row, run_slot, run_len)])
    assert np.array_equal(expanded, np.c_[rows, slots])
    assert all(len(a) == 0 for a in runs(rows[:0], slots[:0]))


def test_unknown_exchange_is_refused(comm, ghost_exchange_option):
    ghost_exchange_option("rdma")
    with pytest.raises(ValueError, match=r"mb_H_ghost_exchange 'rdma'.*shared, scatter"):
        ManyBodySolver(_sectors_config("separable"), comm)
    assert "auto" in KINDS


def test_windows_without_room_fall_back_or_are_refused(comm, ghost_exchange_option,
                                                       monkeypatch):
    """``auto`` takes the VecScatter when the windows' backing directory lacks the room
    (a full tmpfs is a SIGBUS at first touch, not an error); ``shared`` refuses, naming
    the directory."""
    from nmbhpc.manybody import ghost_exchange as ge

    monkeypatch.setattr(ge, "shared_bytes_free", lambda needed, c: (False, "/dev/shm", 1 << 20))
    solver = ManyBodySolver(_sectors_config("separable"), comm)
    try:
        exchange = solver.propagator.H.getPythonContext().exchange
        assert exchange is None if comm.size == 1 else exchange.kind == "scatter"
    finally:
        solver.destroy()
    if comm.size > 1:
        ghost_exchange_option("shared")
        with pytest.raises(ValueError, match=r"ghost_exchange shared: the ghost windows need "
                                             r".* MiB in /dev/shm, which has 1.0 MiB free"):
            ManyBodySolver(_sectors_config("separable"), comm)
