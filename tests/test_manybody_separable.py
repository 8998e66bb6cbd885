"""The separable matrix-free H (manybody.operator = "separable") against references.

* ``H x`` against the stored complex AIJ ("matrix", itself checked against a
  dense solver in test_manybody_dense.py) and the stored real CSR ("real") to
  round-off: multi-angle (R = 4), single-angle (R = 1), several sectors
  (theta != 0, tilted polarisations), general spins (ladder elements),
  coplanar directions (zero couplings), couplings that are not separable
  (eigendecomposition fallback);
* short evolutions against the independent dense oracle (tests/dense_reference.py);
* the same H x on a sub-communicator of another size (rank-count independence);
* MatNorm (expokit needs it) against the AIJ's own norms, and an expokit run;
* the O(M)-per-row ladder ranking against SectorBasis.rank;
* the one-neutrino shortcut for the Gershgorin row sums against the walk over every
  flip.
"""
from dataclasses import replace

import numpy as np
import pytest

from dense_reference import DenseReference
from manybody_cases import (product_on_other_partition, apply_hamiltonian, assert_close, dense_series, make_config,
                           random_global_vector, run_engine, series, unit)
from nmbhpc.manybody import separable_kernels as spk
from nmbhpc.manybody.basis import SectorBasis
from nmbhpc.manybody.separable_operator import intermediate_basis
from nmbhpc.manybody.solver import ManyBodySolver
from nmbhpc.physics.model import Mode, Model
from nmbhpc.physics.schedule import MuSchedule
from nmbhpc.settings import ManyBodySettings, OutputSettings, RunConfig

ROUND_OFF = 1e-12
E, X = (0.0, 0.0, 1.0), (0.0, 0.0, -1.0)


def _config(modes, operator, *, theta=0.0, single_angle=False, factor=1.0, pairs=False, mu=3.0):
    model = Model(modes=tuple(modes), theta=theta, mu=MuSchedule(kind="constant", mu0=mu),
                  single_angle=single_angle, single_angle_factor=factor)
    return RunConfig(model=model,
                     output=OutputSettings(times=np.linspace(0.0, 1.0, 3), pair_correlations=pairs),
                     manybody=ManyBodySettings(operator=operator, mfn_tol=1e-12, max_step=0.5))


def qubit_modes(m, tilt=0.0, seed=7):
    """m one-neutrino modes in random directions, half nu_e / half nu_x (tilted: several
    sectors)."""
    rng = np.random.default_rng(seed)
    dirs = rng.normal(size=(m, 3))
    pol_e, pol_x = unit([np.sin(tilt), 0.0, np.cos(tilt)]), unit([0.0, np.sin(tilt), -np.cos(tilt)])
    return [Mode(1, 1.0 + 0.1 * p, unit(dirs[p]), pol_e if p < m // 2 else pol_x) for p in range(m)]


def mixed_modes():
    """Spins 1/2, 1, 3/2 with tilted polarisations: several sectors, ladder elements != 1."""
    return [Mode(1, 1.0, unit([0, 0, 1]), E),
            Mode(2, -0.8, unit([1, 0, 0]), unit([0.3, -0.2, -0.9])),
            Mode(1, 1.9, unit([0, 1, 0.2]), X),
            Mode(3, 0.4, unit([-0.5, 0.5, 0.5]), unit([1.0, 0.0, 0.1])),
            Mode(1, -1.4, unit([0.1, -1, 0]), E)]


def collinear_modes():
    """Directions in one plane: 1 - p.q has rank 3, and two modes share a direction."""
    d = [unit([1, 0, 0]), unit([0, 1, 0]), unit([1, 1, 0]), unit([1, 0, 0]), unit([-1, 2, 0]),
         unit([0.3, -1, 0])]
    return [Mode(1, 0.5 + 0.2 * p, d[p], E if p % 2 else X) for p in range(6)]


CASES = {
    "multi-angle": lambda op: _config(qubit_modes(10), op),
    "multi-angle-sectors": lambda op: _config(qubit_modes(9, tilt=0.4), op, theta=0.2, pairs=True),
    "single-angle": lambda op: _config(qubit_modes(8), op, single_angle=True, factor=0.7),
    "single-angle-sectors": lambda op: _config(qubit_modes(7, tilt=0.9), op, theta=0.3,
                                               single_angle=True),
    "general-spins": lambda op: _config(mixed_modes(), op, theta=0.15, pairs=True),
    "general-spins-single-angle": lambda op: _config(mixed_modes(), op, theta=0.15,
                                                     single_angle=True, factor=1.3),
    "coplanar": lambda op: _config(collinear_modes(), op, theta=0.05),
    # all nu_e, tilted: the basis starts at K = 0 (no lowering from it)
    "from-sector-0": lambda op: _config([replace(md, polarization=unit([0.3, 0.0, 1.0]))
                                         for md in qubit_modes(6)], op, theta=0.1),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_product_matches_stored_matrix(comm, case):
    results = {}
    for op in ("matrix", "real", "separable"):
        solver = ManyBodySolver(CASES[case](op), comm)
        try:
            assert solver.describe()["operator"] == op
            x = random_global_vector(solver.basis.dim)
            # a second mu (the MATSHELLs only; a constant-mu AIJ is scaled in place):
            # the separable diagonal correction scales with mu, D does not
            mus = (3.0,) if op == "matrix" else (3.0, -0.7)
            results[op] = ([apply_hamiltonian(solver, x, mu) for mu in mus], solver.describe()["nnz"],
                           solver.basis.kmax - solver.basis.kmin)
        finally:
            solver.destroy()
    pairs = [("real", 0, "matrix", 0), ("separable", 0, "matrix", 0), ("separable", 1, "real", 1)]
    for op, i, ref, j in pairs:
        a, b = results[op][0][i], results[ref][0][j]
        scale = max(1.0, float(np.abs(b).max()))
        assert_close(comm, a / scale, b / scale, atol=ROUND_OFF, what=f"{case}: {op} vs {ref} H x")
    assert results["separable"][1] == results["matrix"][1]  # same non-zero count
    if case.endswith("sectors") or case.startswith(("general-spins", "from-sector-0")):
        assert results["matrix"][2] > 0  # the case really spans several sectors


def _first_entries(mp, start, count) -> np.ndarray:
    """Flat positions of each map row's first ``count[j]`` entries from ``start[j]``."""
    return np.concatenate([np.arange(start[j], start[j] + count[j])
                           for j in range(len(mp.ptr) - 1)] + [[]]).astype(np.int64)


def _assert_first_touches(entries, first, targets):
    """``first`` (flat positions) holds exactly the earliest entry of each target that
    ``entries`` reach, and the targets they reach are ``targets``."""
    reached, earliest = np.unique(targets, return_index=True)
    assert np.all(np.isin(first, entries))
    assert np.array_equal(np.sort(entries[earliest]), np.sort(first))
    return reached


@pytest.mark.parametrize("exchange", ["shared", "scatter"])
@pytest.mark.parametrize("case", ["multi-angle-sectors", "general-spins", "from-sector-0"])
def test_first_entry_of_each_target_assigns_it(comm, case, exchange, ghost_exchange_option):
    """Neither y nor the y ghosts are cleared before a product: the earliest map entry
    that reaches a row of y assigns it, with its diagonal term, and the earliest that
    reaches a ghost assigns that; the rows no entry reaches get a diagonal pass of their
    own. With y and the y ghosts full of NaN, the product equals the stored matrix's,
    and the map holds exactly one such entry per row and per ghost (both ghost
    exchanges)."""
    results = {}
    ghost_exchange_option(exchange)
    for op in ("matrix", "separable"):
        solver = ManyBodySolver(CASES[case](op), comm)
        try:
            x = random_global_vector(solver.basis.dim)
            if op == "matrix":
                results[op] = apply_hamiltonian(solver, x, 3.0)
                continue
            ctx = solver.propagator.H.getPythonContext()
            mp, n_local = ctx.map, ctx.hi - ctx.lo
            starts = mp.ptr[:-1]
            local = np.concatenate([np.arange(mp.ptr[j], mp.ptr[j] + mp.n_loc[j])
                                    for j in range(len(mp.ptr) - 1)]).astype(np.int64)
            reached = _assert_first_touches(local, _first_entries(mp, starts, mp.n_first_local),
                                            mp.nbr[local])
            assert np.array_equal(np.union1d(reached, mp.untouched), np.arange(n_local))
            assert len(np.intersect1d(reached, mp.untouched)) == 0
            ghosts = np.flatnonzero(mp.nbr >= n_local)
            reached = _assert_first_touches(
                ghosts, _first_entries(mp, starts + mp.n_loc, mp.n_first), mp.nbr[ghosts])
            assert np.array_equal(reached, n_local + np.arange(len(mp.ghosts)))
            if case == "from-sector-0" and comm.rank == 0:
                assert len(mp.untouched) > 0  # the K = 0 state has no lowered neighbour
            if comm.size > 1:
                assert ctx.exchange.kind == exchange
                with ctx.exchange.ghost_arrays() as (_xg, yg):
                    yg[:] = np.nan
            solver.propagator.set_mu(3.0)
            xv, yv = solver.psi.duplicate(), solver.psi.duplicate()
            xv.setArray(x[solver.lo:solver.hi])
            yv.set(np.nan)
            solver.propagator.H.mult(xv, yv)
            results[op] = yv.getArray(readonly=True).copy()
            xv.destroy()
            yv.destroy()
        finally:
            solver.destroy()
    scale = max(1.0, float(np.abs(results["matrix"]).max()))
    assert_close(comm, results["separable"] / scale, results["matrix"] / scale, atol=ROUND_OFF,
                 what=f"{case}: separable H x into NaN y and y ghosts")


@pytest.mark.parametrize("operator", ["separable", "lean"])
def test_product_phases_are_petsc_log_events(comm, operator):
    """Each product logs its diagonal pass, its ladder sweep and (on more than one rank)
    its two ghost exchanges as PETSc events: -log_view shows them."""
    from nmbhpc.manybody.product_events import NAMES, event
    from nmbhpc.runtime.stack import init_petsc

    PETSc, _ = init_petsc()
    PETSc.Log.begin()
    solver = ManyBodySolver(CASES["multi-angle"](operator), comm)
    try:
        x = random_global_vector(solver.basis.dim)
        before = {name: event(name).getPerfInfo()["count"] for name in NAMES}
        for _ in range(3):
            apply_hamiltonian(solver, x, 3.0)
        counts = {name: event(name).getPerfInfo()["count"] - before[name] for name in NAMES}
        # separable: a diagonal pass only over rows no map entry reaches
        ctx = solver.propagator.H.getPythonContext()
        diagonal = 3 if operator == "lean" or len(ctx.map.untouched) else 0
    finally:
        solver.destroy()
    exchanged = 3 if comm.size > 1 else 0
    assert counts == {"MBDiagonal": diagonal, "MBLadderSweep": 3, "MBGhostFill": exchanged,
                      "MBGhostAdd": exchanged}
    with pytest.raises(ValueError, match="MBSweep"):
        event("MBSweep")


def test_single_state_basis(comm):
    """All nu_e at theta = 0: the basis is the one state of sector K = 0 (no
    intermediate space); H is its diagonal and nothing evolves but the phase."""
    modes = [replace(md, polarization=E) for md in qubit_modes(4)]
    solver = ManyBodySolver(_config(modes, "separable"), comm)
    try:
        assert solver.basis.dim == 1 and solver.A.getPythonContext().map is None
        hx = apply_hamiltonian(solver, np.array([2.0 - 1.0j]), 3.0)
        records = list(solver.records())
    finally:
        solver.destroy()
    # H = -sum_p omega_p m_p + (mu/N) sum_{p<q} c_pq m_p m_q with every m_p = +1/2 (nu_e
    # along z = -B at theta = 0)
    c = _config(modes, "matrix").model.couplings()
    energy = -0.5 * sum(md.omega for md in modes) + 3.0 / 4 * 0.25 * c[np.triu_indices(4, 1)].sum()
    assert_close(comm, hx, np.array([energy * (2.0 - 1.0j)])[solver.lo:solver.hi], atol=1e-12,
                 what="single-state H x")
    assert_close(comm, [r.energy for r in records], [energy] * 3, atol=1e-12, what="energy")


def test_non_separable_couplings(comm, monkeypatch):
    """Random symmetric c_pq (not 1 - p.q): the eigendecomposition fallback (R = M) must
    reproduce the stored matrix too."""
    rng = np.random.default_rng(11)
    c = rng.uniform(-1.0, 1.0, size=(7, 7))
    c = c + c.T
    np.fill_diagonal(c, 0.0)
    monkeypatch.setattr(Model, "couplings", lambda self: c.copy())
    hx = {}
    for op in ("matrix", "separable"):
        solver = ManyBodySolver(_config(qubit_modes(7, tilt=0.3), op, theta=0.1), comm)
        try:
            hx[op] = apply_hamiltonian(solver, random_global_vector(solver.basis.dim), 2.0)
        finally:
            solver.destroy()
    scale = max(1.0, float(np.abs(hx["matrix"]).max()))
    assert_close(comm, hx["separable"] / scale, hx["matrix"] / scale, atol=ROUND_OFF,
                 what="non-separable couplings: H x")


DENSE_CASES = {
    "multi-angle-theta": dict(modes=(Mode(1, 1.0, unit([0, 0, 1]), E),
                                     Mode(1, -0.5, unit([1, 0, 0.3]), X),
                                     Mode(1, 2.0, unit([-0.2, 0.9, 0.1]), E),
                                     Mode(1, 0.7, unit([0.4, -0.6, 0.2]), X)),
                              theta=0.1, mu=5.0),
    "single-angle-tilted": dict(modes=(Mode(1, -1.0, polarization=E),
                                       Mode(1, 0.5, polarization=unit([0.6, -0.3, 0.5])),
                                       Mode(1, 1.5, polarization=X)),
                                theta=0.3, mu=4.0, single_angle=True, single_angle_factor=0.8),
    "mixed-spins": dict(modes=(Mode(2, 0.8, unit([0, 0, 1]), E),
                               Mode(1, -1.2, unit([1, 0, 0]), X),
                               Mode(3, 0.4, unit([0, 1, 0.5]), unit([0.2, 0.2, -0.9]))),
                        theta=0.2, mu=6.0),
}


@pytest.mark.parametrize("operator", ["separable", "lean"])
@pytest.mark.parametrize("name", sorted(DENSE_CASES))
def test_evolution_matches_dense_reference(comm, name, operator):
    """The separable product, stored (``separable``) and ranked on the fly (``lean``),
    against the dense reference solver."""
    case = dict(DENSE_CASES[name])
    modes = case.pop("modes")
    times = np.linspace(0.0, 2.0, 5)
    config = make_config(modes, times, **case)
    config = replace(config, manybody=replace(config.manybody, operator=operator))
    records, _, _ = run_engine(config, comm)
    obs = DenseReference(config.model).run(times)
    pol = dense_series(obs, "polarization")
    assert np.max(np.abs(pol - pol[0])) > 1e-2  # the comparison is not vacuous
    for field in ("polarization", "pair_correlation", "energy", "norm"):
        assert_close(comm, series(records, field), dense_series(obs, field),
                     what=f"{name} {operator}: {field}")


def test_product_on_other_partition(comm):
    """Separable on a sub-communicator (another row split) against the AIJ on the world."""
    part, ref = product_on_other_partition(comm, CASES["general-spins"]("matrix"), "separable")
    assert_close(comm, part, ref, atol=ROUND_OFF, what="separable on sub-communicator")


@pytest.mark.parametrize("case", ["multi-angle-sectors", "general-spins"])
def test_norms_match_stored_matrix(comm, case):
    """MatNorm 1/infinity/Frobenius (exact, SLEPc's expokit uses it) against the AIJ's."""
    from nmbhpc.runtime.stack import init_petsc

    PETSc, _ = init_petsc()
    norms = {}
    for op in ("matrix", "separable"):
        solver = ManyBodySolver(CASES[case](op), comm)
        try:
            solver.propagator.set_mu(2.5)
            H = solver.propagator.H
            norms[op] = [H.norm(t) for t in (PETSc.NormType.NORM_1, PETSc.NormType.INFINITY,
                                             PETSc.NormType.FROBENIUS)]
        finally:
            solver.destroy()
    np.testing.assert_allclose(norms["separable"], norms["matrix"], rtol=1e-12)


def test_expokit_evolution_matches_krylov(comm):
    base = CASES["multi-angle-sectors"]("separable")
    out = {}
    for kind in ("krylov", "expokit"):
        config = replace(base, manybody=replace(base.manybody, mfn_type=kind))
        records, psi, _ = run_engine(config, comm, want_state=True)
        out[kind] = (psi, records)
    assert_close(comm, out["expokit"][0], out["krylov"][0], atol=1e-9, what="expokit vs krylov")


@pytest.mark.parametrize("counts,krange", [((1,) * 9, (2, 6)), ((2, 1, 3, 1, 2), (0, 8)),
                                           ((1, 1), (1, 1))])
def test_ladder_neighbours_rank_like_the_basis(counts, krange):
    """Every neighbour k -+ e_a of the O(M) ranking equals SectorBasis.rank of k -+ e_a,
    with the ladder element of the upper state; a block [lo, hi) splits local/other."""
    basis = SectorBasis(np.array(counts), *krange)
    inter = intermediate_basis(basis)
    for rows, delta, target in ((basis, -1, inter), (inter, +1, basis)):
        cfg = rows.all_configs()
        n = len(cfg)
        lo, hi = target.dim // 3, 2 * target.dim // 3
        nl = np.zeros(n, dtype=np.int64)
        ng = np.zeros(n, dtype=np.int64)
        args = (basis.counts, basis.cum, delta, target.kmin, target.sector_offset, lo, hi)
        spk.neighbour_counts(cfg, *args, nl, ng)
        ptr = np.zeros(n + 1, dtype=np.int64)
        ptr[1:] = np.cumsum(nl + ng)
        nbr = np.empty(ptr[-1], dtype=np.int64)
        mode = np.empty(ptr[-1], dtype=np.int64)
        lad = np.empty(ptr[-1])
        no_split = np.empty(0, dtype=np.int64)
        spk.fill_neighbours(cfg, np.arange(n), *args, ptr, nbr, mode, lad, True, no_split,
                            np.empty(0, dtype=np.bool_), no_split)
        expect_nbr, expect_lad = [], []
        for k in cfg:
            for a in range(len(counts)):
                kk = k.copy()
                kk[a] += delta
                if 0 <= kk[a] <= counts[a]:
                    j = target.rank(kk[None, :])[0]
                    expect_nbr.append(j - lo if lo <= j < hi else -1 - j)
                    up = max(k[a], kk[a])
                    expect_lad.append(np.sqrt(up * (counts[a] - up + 1.0)))
        np.testing.assert_array_equal(nbr, expect_nbr)
        np.testing.assert_allclose(lad, expect_lad, rtol=1e-15)
        assert nl.sum() == np.count_nonzero(nbr >= 0) and ng.sum() == np.count_nonzero(nbr < 0)
        # split rows: each row's local entries first, then its others, each in mode order
        split = [np.empty_like(a) for a in (nbr, mode, lad)]
        spk.fill_neighbours(cfg, np.arange(n), *args, ptr, *split, True, nl,
                            np.empty(0, dtype=np.bool_), np.empty(0, dtype=np.int64))
        for q in range(n):
            row = slice(ptr[q], ptr[q + 1])
            order = np.argsort(nbr[row] < 0, kind="stable")
            for got, want in zip(split, (nbr, mode, lad)):
                np.testing.assert_array_equal(got[row], want[row][order])
            assert np.all(split[0][ptr[q]:ptr[q] + nl[q]] >= 0)


@pytest.mark.parametrize("case", ["multi-angle", "multi-angle-sectors", "single-angle-sectors",
                                  "from-sector-0", "coplanar"])
def test_qubit_gershgorin_sums_are_the_flip_walks(comm, case, monkeypatch):
    """The O(M R) off-diagonal row sums of one-neutrino modes (separable sums over the
    occupied modes) against the walk over every flip, on the same rows ("coplanar":
    some couplings are zero)."""
    solver = ManyBodySolver(CASES[case]("separable"), comm)
    try:
        ctx = solver.A.getPythonContext()
        walk = spk.row_abs_sums(ctx.configs, ctx.counts, ctx.coup, np.zeros(len(ctx.configs)),
                                1.0, 1)
        fast = ctx.coupling_sign != 0.0
        if fast:
            sums = spk.qubit_row_abs_sums(ctx.configs, ctx.factors, ctx.factors.sum(axis=1),
                                          ctx.weights, ctx.coupling_sign)
            np.testing.assert_allclose(sums, walk, rtol=1e-12, atol=1e-13)
            monkeypatch.setattr(spk, "row_abs_sums", None)  # the interval must not need it
        lo, hi = ctx.interaction_bounds()
    finally:
        solver.destroy()
    assert fast
    from mpi4py import MPI

    want_lo = comm.allreduce(float((ctx.diag_a - walk).min(initial=np.inf)), op=MPI.MIN)
    want_hi = comm.allreduce(float((ctx.diag_a + walk).max(initial=-np.inf)), op=MPI.MAX)
    assert np.allclose((lo, hi), (want_lo, want_hi), rtol=1e-12, atol=1e-13)


def test_couplings_of_both_signs_take_the_flip_walk():
    """The separable row sums hold only when every coupling off the diagonal has one
    sign; otherwise coefficient_tables says 0 and the interval walks the flips."""
    from types import SimpleNamespace

    from nmbhpc.manybody.separable_operator import coefficient_tables

    counts = np.ones(3, dtype=np.int64)
    for coup, sign in (([[0, 1, 2], [1, 0, 0], [2, 0, 0]], 1.0),
                       ([[0, -1, -2], [-1, 0, -3], [-2, -3, 0]], -1.0),
                       ([[0, 1, -2], [1, 0, 3], [-2, 3, 0]], 0.0)):
        ctx = SimpleNamespace()
        coefficient_tables(ctx, np.array(coup, dtype=float), np.ones((1, 3)), np.ones(1), counts)
        assert ctx.coupling_sign == sign


def test_config_accepts_separable_and_refuses_it_for_spectral():
    from nmbhpc.config import ConfigError, load_config_text

    text = ("solver = 'manybody'\n[model]\nmu = 1.0\n[model.generator]\nkind = 'multi_angle'\n"
            "n_modes = 4\n[output]\ntimes = [0.0, 1.0]\n[manybody]\noperator = 'separable'\n")
    assert load_config_text(text).manybody.operator == "separable"
    with pytest.raises(ConfigError, match="spectral"):
        load_config_text(text + "propagator = 'spectral'\n")
