"""Matrix-free H (MATSHELL) against the stored MATMPIAIJ, and the memory model.

The stored matrix is the reference (itself checked against a dense solver in
test_manybody_dense.py): ``H x`` and whole evolutions must agree to round-off
for one-neutrino modes (Lin-table kernel) and mixed spins (general kernel),
single and multi-sector bases, constant and time-dependent mu, on every rank
count the suite runs with and on a sub-communicator of a different size.
"""
from dataclasses import replace

import numpy as np
import pytest

from manybody_cases import apply_hamiltonian, product_on_other_partition, assert_close, random_global_vector, unit
from nmbhpc.errors import SettingsError
from nmbhpc.manybody import memory, operators
from nmbhpc.manybody import shell_kernels as sk
from nmbhpc.manybody.basis import SectorBasis
from nmbhpc.manybody.solver import ManyBodySolver
from nmbhpc.physics.model import Mode, Model
from nmbhpc.physics.schedule import MuSchedule
from nmbhpc.settings import ManyBodySettings, OutputSettings, RunConfig

ROUND_OFF = 1e-12


def _config(modes, operator, *, theta=0.0, schedule=None, pairs=False, single_angle=False):
    model = Model(modes=tuple(modes), theta=theta,
                  mu=schedule or MuSchedule(kind="constant", mu0=3.0), single_angle=single_angle)
    return RunConfig(model=model,
                     output=OutputSettings(times=np.linspace(0.0, 1.0, 3), pair_correlations=pairs),
                     manybody=ManyBodySettings(operator=operator, mfn_tol=1e-12, max_step=0.5))


def qubit_modes(m=8, tilt=0.0):
    """m one-neutrino modes, random directions, half nu_e / half nu_x (tilted: multi-sector)."""
    rng = np.random.default_rng(7)
    dirs = rng.normal(size=(m, 3))
    pol_e, pol_x = unit([np.sin(tilt), 0.0, np.cos(tilt)]), unit([0.0, np.sin(tilt), -np.cos(tilt)])
    return [Mode(1, 1.0 + 0.1 * p, unit(dirs[p]), pol_e if p < m // 2 else pol_x) for p in range(m)]


def mixed_modes():
    """Spins 1/2, 1, 3/2 with negative omegas and tilted polarisations (multi-sector, dim 96)."""
    return [Mode(1, 1.0, unit([0, 0, 1]), (0.0, 0.0, 1.0)),
            Mode(2, -0.8, unit([1, 0, 0]), unit([0.3, -0.2, -0.9])),
            Mode(1, 1.9, unit([0, 1, 0.2]), (0.0, 0.0, -1.0)),
            Mode(3, 0.4, unit([-0.5, 0.5, 0.5]), unit([1.0, 0.0, 0.1])),
            Mode(1, -1.4, unit([0.1, -1, 0]), (0.0, 0.0, 1.0))]


CASES = {
    "qubit-one-sector": lambda op: _config(qubit_modes(), op),
    "qubit-multi-sector": lambda op: _config(qubit_modes(7, tilt=0.4), op, theta=0.2, pairs=True),
    "qubit-single-angle": lambda op: _config(qubit_modes(6), op, single_angle=True),
    "mixed-spins": lambda op: _config(mixed_modes(), op, theta=0.15, pairs=True),
    "mixed-spins-mu-table": lambda op: _config(
        mixed_modes(), op, schedule=MuSchedule(kind="table", times=(0.0, 1.0), values=(4.0, 1.0),
                                               max_step=0.25)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_shell_matches_stored_matrix(comm, case):
    results = {}
    for op in ("matrix", "shell", "real"):
        solver = ManyBodySolver(CASES[case](op), comm)
        try:
            assert solver.describe()["operator"] == op
            mu = float(solver.config.model.mu(0.0))
            hx = apply_hamiltonian(solver, random_global_vector(solver.basis.dim), mu)
            records = list(solver.records())
            results[op] = (hx, solver.state_global(), records, solver.describe()["nnz"])
        finally:
            solver.destroy()
    hx_m, psi_m, rec_m, nnz_m = results["matrix"]
    # the evolution is not trivial (the comparison could not pass by accident)
    assert np.abs(rec_m[-1].polarization - rec_m[0].polarization).max() > 1e-3
    scale = max(1.0, float(np.abs(hx_m).max()))
    for op in ("shell", "real"):
        hx_s, psi_s, rec_s, nnz_s = results[op]
        assert_close(comm, hx_s / scale, hx_m / scale, atol=ROUND_OFF, what=f"{case}/{op}: H x")
        assert_close(comm, psi_s, psi_m, atol=1e-10, what=f"{case}/{op}: final state")
        assert nnz_s == nnz_m
        assert_close(comm, [r.polarization for r in rec_s], [r.polarization for r in rec_m],
                     atol=1e-9, what=f"{case}/{op}: polarizations")


def test_shell_on_other_partition(comm):
    """Shell on a sub-communicator (a different row split) against the stored matrix on the world."""
    part, ref = product_on_other_partition(comm, CASES["mixed-spins"]("matrix"), "shell")
    assert_close(comm, part, ref, atol=ROUND_OFF, what="shell on sub-communicator")


def test_lin_table_ranks_match_basis(comm):
    basis = SectorBasis(np.ones(9, dtype=np.int64), 2, 6)
    cfg = basis.all_configs()
    nlow, lo_tab, hi_tab, pop = sk.qubit_tables(9)
    ranks = sk.qubit_ranks(sk.configs_to_bits(cfg), nlow, lo_tab, hi_tab, pop, basis.kmin,
                           basis.sector_offset)
    np.testing.assert_array_equal(ranks, np.arange(basis.dim))


def test_separable_diagonal_matches_pair_sum():
    rng = np.random.default_rng(0)
    counts = np.array([1, 2, 3, 1, 2])
    d = rng.normal(size=(5, 3))
    d /= np.linalg.norm(d, axis=1)[:, None]
    coup = 1.0 - d @ d.T
    np.fill_diagonal(coup, 0.0)
    f = np.vstack([np.ones(5), d.T])
    w = np.array([1.0, -1.0, -1.0, -1.0])
    cfg = np.array([[0, 1, 2, 1, 0], [1, 2, 0, 0, 2], [1, 0, 3, 1, 1]], dtype=np.int64)
    m = 0.5 * counts - cfg
    expect = [sum(coup[p, q] * mi[p] * mi[q] for p in range(5) for q in range(p + 1, 5)) for mi in m]
    np.testing.assert_allclose(sk.interaction_diagonal(cfg, counts, f, w), expect, atol=1e-14)


# --- memory model ----------------------------------------------------------------
def _estimate(matrix, shell, avail, separable=None, lean=None):
    real = int(matrix * 0.6)
    separable = int(1.5 * shell) if separable is None else separable
    lean = int(1.2 * shell) if lean is None else lean
    node = {"matrix": matrix, "real": real, "shell": shell, "separable": separable, "lean": lean}
    return memory.MemoryEstimate(node=node, rank=dict(node), available_node=avail, nnz=0)


def test_explicit_operator_near_the_limit_is_warned(caplog):
    """An explicit kind between SAFETY x MemAvailable and MemAvailable runs, with a warning
    that names it; below SAFETY x MemAvailable nothing is said."""
    gib = 2**30
    order = operators.auto_order(4, "mfn", "krylov")
    with caplog.at_level("WARNING", logger=memory.__name__):
        assert memory.choose_operator("shell", _estimate(90 * gib, 19 * gib, 20 * gib), order) \
            == "shell"
    assert "'shell' needs about 19.00 GiB per node, 95 %" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger=memory.__name__):
        memory.choose_operator("shell", _estimate(90 * gib, 16 * gib, 20 * gib), order)
    assert caplog.text == ""


def test_choose_operator_rules():
    gib = 2**30
    sep_first = operators.auto_order(4, "mfn", "krylov")
    real_first = operators.auto_order(20, "mfn", "krylov")
    assert sep_first == ("separable", "real", "lean", "shell")
    assert real_first == ("real", "separable", "shell", "lean")
    all_fit = _estimate(4 * gib, 1 * gib, 20 * gib)
    assert memory.choose_operator("auto", all_fit, sep_first) == "separable"
    assert memory.choose_operator("auto", all_fit, real_first) == "real"
    # the stored matrix does not fit: the matrix-free kinds, in the given order
    no_real = _estimate(40 * gib, 2 * gib, 20 * gib)
    assert memory.choose_operator("auto", no_real, real_first) == "separable"
    assert memory.choose_operator("auto", no_real, sep_first) == "separable"
    # separable does not fit: lean, the same product without stored maps, comes first
    no_map = _estimate(40 * gib, 2 * gib, 20 * gib, separable=19 * gib)
    assert memory.choose_operator("auto", no_map, sep_first) == "lean"
    only_shell = _estimate(40 * gib, 2 * gib, 20 * gib, separable=19 * gib, lean=19 * gib)
    assert memory.choose_operator("auto", only_shell, sep_first) == "shell"
    assert memory.choose_operator("shell", only_shell, sep_first) == "shell"
    with pytest.raises(memory.InsufficientMemoryError, match="'matrix' needs about 40.00 GiB"):
        memory.choose_operator("matrix", only_shell, sep_first)
    with pytest.raises(memory.InsufficientMemoryError,
                       match=r"smallest operator \('shell'\) needs about 30.00 GiB"):
        memory.choose_operator("auto", _estimate(90 * gib, 30 * gib, 20 * gib), sep_first)


def test_propagator_rules_come_from_the_registry():
    """expokit needs MatNorm, the spectral propagator an assembled AIJ: "auto" only
    offers kinds that have them, and an explicit kind without them is refused."""
    assert "shell" not in operators.auto_order(4, "mfn", "expokit")
    assert all(operators.KINDS[k].exact_norm for k in operators.auto_order(4, "mfn", "expokit"))
    assert operators.auto_order(4, "spectral", "krylov") == ("matrix",)
    assert operators.incompatibility("shell", "mfn", "expokit")[0] == "manybody.mfn_type"
    assert operators.incompatibility("real", "spectral", "krylov")[0] == "manybody.operator"
    assert operators.incompatibility("shell", "mfn", "krylov") is None
    assert operators.NAMES == ("auto", "matrix", "real", "shell", "separable", "lean")


def test_estimate_scales_with_nonzeros(comm):
    basis = SectorBasis(np.ones(20, dtype=np.int64), 10, 10)
    n = basis.dim // comm.Get_size()
    cfg = basis.configs(0, 200)
    per_row = memory.sampled_row_entries(cfg, basis.counts, 1.0 - np.eye(20))
    assert per_row == 1 + 10 * 10  # exact for one-neutrino modes in one sector
    kinds = operators.memory_models()
    est = memory.estimate(basis, n, per_row, kinds=kinds, ncv=0, mu_constant=True, n_lowering=0,
                          comm=comm)
    assert est.nnz == pytest.approx(per_row * n * comm.Get_size())
    # stored: >= 20 bytes per non-zero; matrix-free: a few dozen bytes per row and ghost
    assert est.rank["matrix"] >= 20 * per_row * n
    assert est.rank["matrix"] - est.rank["shell"] > 15 * per_row * n
    varying = memory.estimate(basis, n, per_row, kinds=kinds, ncv=0, mu_constant=False,
                              n_lowering=0, comm=comm)
    assert varying.rank["matrix"] - est.rank["matrix"] >= 20 * per_row * n  # H and A both stored


def test_solver_refuses_when_nothing_fits(comm, monkeypatch):
    monkeypatch.setattr(memory, "mem_available", lambda: 64 * 2**20)
    config = CASES["qubit-one-sector"]("auto")
    with pytest.raises(SettingsError, match="even the smallest operator .* needs at least"):
        ManyBodySolver.check(config, comm)
    with pytest.raises(SettingsError, match="even the smallest operator"):
        ManyBodySolver(config, comm)


def test_real_operator_norms_and_products_count(comm):
    """MatNorm of the stored real operator (SLEPc's expokit needs it) against the
    complex AIJ's own, and the propagator's product count against PETSc's log."""
    from nmbhpc.runtime.stack import init_petsc

    PETSc, _ = init_petsc()
    config = CASES["mixed-spins"]("matrix")
    norms = {}
    for op in ("matrix", "real"):
        settings = replace(config.manybody, operator=op)
        solver = ManyBodySolver(replace(config, manybody=settings), comm)
        try:
            solver.propagator.set_mu(2.5)
            H = solver.propagator.H
            norms[op] = [H.norm(t) for t in (PETSc.NormType.INFINITY, PETSc.NormType.NORM_1,
                                              PETSc.NormType.FROBENIUS)]
            event = PETSc.Log.Event("MatMult")
            PETSc.Log.begin()
            before = event.getPerfInfo()["count"]
            solver.propagator.step(solver.psi, 0.3, 2.5)
            assert solver.propagator.matvecs == event.getPerfInfo()["count"] - before > 0
        finally:
            solver.destroy()
    np.testing.assert_allclose(norms["real"], norms["matrix"], rtol=1e-13)


# --- stored real operator: value storage formats -----------------------------------
REAL_FORMAT_CASES = ("qubit-one-sector", "qubit-single-angle", "qubit-multi-sector", "mixed-spins")


def _real_operator(solver, value_format, symmetric):
    """The stored real operator on the rows of ``solver`` (an AIJ solver). Collective."""
    from nmbhpc.manybody.real_operator import real_stored_hamiltonian

    model = solver.config.model
    coup = model.couplings() / model.n_total
    return real_stored_hamiltonian(solver.basis, solver.configs, solver.lo, solver.hi, solver.D,
                                   coup, solver.comm, value_format=value_format,
                                   symmetric=symmetric)


@pytest.mark.parametrize("case", REAL_FORMAT_CASES)
@pytest.mark.parametrize("value_format,symmetric", [
    ("auto", True), ("uint8", True), ("uint16", True), ("float64", True), ("computed", True),
    ("auto", False), ("float64", False)])
def test_real_value_formats_match_matrix(comm, case, value_format, symmetric, monkeypatch):
    """H x, diagonal and MatNorm of the real operator in every storage format, with
    one or both triangles of the diagonal block stored, against the AIJ.
    "computed": general spins with too many value keys to tabulate (float64
    values computed per non-zero; for qubits the format is then auto)."""
    from nmbhpc.manybody import real_operator
    from nmbhpc.runtime.stack import init_petsc

    PETSc, _ = init_petsc()
    if value_format == "computed":
        monkeypatch.setattr(real_operator, "MAX_VALUE_KEYS", 4)
    solver = ManyBodySolver(CASES[case]("matrix"), comm)
    try:
        mu = 2.5
        x = random_global_vector(solver.basis.dim, seed=11)
        ref = apply_hamiltonian(solver, x, mu)
        H = solver.propagator.H
        norm_types = (PETSc.NormType.INFINITY, PETSc.NormType.NORM_1, PETSc.NormType.FROBENIUS)
        ref_norms = [H.norm(t) for t in norm_types]
        mat, nnz = _real_operator(solver, "auto" if value_format == "computed" else value_format,
                                  symmetric)
        try:
            ctx = mat.getPythonContext()
            expected = {"auto": "uint8", "computed": "uint8" if "qubit" in case else "float64"}
            fmt = expected.get(value_format, value_format)
            assert ctx.values.format == fmt
            assert ctx.d_codes.dtype == np.dtype(fmt) == ctx.o_codes.dtype
            assert (ctx.table is None) == (fmt == "float64")
            computed = value_format == "computed" and "qubit" not in case
            assert (ctx.values.keymap is None) == computed
            # one triangle: no stored entry left of the diagonal (and some right of it)
            rows = np.repeat(np.arange(solver.hi - solver.lo), np.diff(ctx.d_ptr))
            assert np.all(ctx.d_cols > rows) == symmetric or len(rows) == 0
            assert nnz == solver.nnz
            ctx.set_mu(mu)
            xv = solver.psi.duplicate()
            xv.setArray(x[solver.lo:solver.hi])
            yv = xv.duplicate()
            mat.mult(xv, yv)
            hx = yv.getArray(readonly=True).copy()
            diag = mat.getDiagonal().getArray(readonly=True).copy()
            norms = [mat.norm(t) for t in norm_types]
            xv.destroy()
            yv.destroy()
        finally:
            mat.destroy()
        scale = max(1.0, float(np.abs(ref).max()))
        assert_close(comm, hx / scale, ref / scale, atol=ROUND_OFF, what=f"{case}/{value_format}")
        assert_close(comm, diag, H.getDiagonal().getArray(readonly=True), atol=ROUND_OFF,
                     what=f"{case}/{value_format}: diagonal")
        np.testing.assert_allclose(norms, ref_norms, rtol=1e-13)
    finally:
        solver.destroy()


def test_real_value_codes_choose_smallest_index():
    """Distinct values -> uint8 (<= 256), uint16 (<= 65536), else float64; each code
    maps back to its flip's value."""
    from nmbhpc.manybody.real_operator import ValueCodes, value_bytes_bound

    rng = np.random.default_rng(5)
    for m, fmt in ((20, "uint8"), (30, "uint16")):
        c = rng.random((m, m))
        c = c + c.T  # m (m - 1) / 2 distinct off-diagonal values: 190 and 435
        np.fill_diagonal(c, 0.0)
        codes = ValueCodes(np.ones(m, dtype=np.int64), c)
        assert codes.format == fmt and len(codes.table) == m * (m - 1) // 2
        off = ~np.eye(m, dtype=bool)
        np.testing.assert_array_equal(codes.table[codes.keymap][off], 0.5 * c[off])
        assert value_bytes_bound(np.ones(m)) == codes.bytes_per_nnz
    with pytest.raises(ValueError, match="cannot index 435 distinct values"):
        ValueCodes(np.ones(30, dtype=np.int64), c, "uint8")
    # general spins: every value of a flip is at its key, whatever the format
    counts = np.array([2, 3, 1])
    c = rng.random((3, 3))
    np.fill_diagonal(c, 0.0)
    for fmt in ("auto", "uint16", "float64"):
        codes = ValueCodes(counts, c, fmt)
        a, b, ka, kb = 1, 0, 2, 1  # k_a = 2 of 3 lowered, k_b = 1 of 2 raised
        value = 0.5 * c[a, b] * np.sqrt(ka * (3 - ka + 1.0)) * np.sqrt((2 - kb) * (kb + 1.0))
        key = codes.key_base[a, b] + (ka - 1) * counts[b] + kb
        got = codes.keymap[key] if codes.table is None else codes.table[codes.keymap[key]]
        assert got == pytest.approx(value, rel=1e-15)
