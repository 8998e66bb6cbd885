"""Growth rates of simulated flavor instabilities against linear stability theory.

The dispersion module (exact in x, eigenvalues of M(k)) and the analytic
collisional formula are independent of the PDE discretisation; the
simulations seed one complex Fourier mode (or a homogeneous isotropic
perturbation) and fit the exponential growth of the off-diagonal amplitude.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from kinetics_cases import growth_slope, homogeneous
from nmbhpc.kinetics import dispersion, positivity, presets
from nmbhpc.physics.constants import C_CM_S
from nmbhpc.kinetics.settings import (CollisionSettings, GridSettings, KineticSettings,
                                      NumericsSettings, PerturbationSettings, PhysicsSettings,
                                      SpeciesInit, TimeSettings)
from nmbhpc.kinetics.solver import KineticSolver

SEED = 1e-12

FIDUCIAL = presets.richers2022_fiducial()

DISTRIBUTIONS = {
    # isotropic nu_e against a forward-peaked nubar_e (flux factor 0.3): ELN crossing at v = 0.28
    "linear": (SpeciesInit(n_e=1.0), SpeciesInit(n_e=0.8, shape="linear", parameter=0.9)),
    # two forward-peaked Gaussians of different widths (Yi et al. 2019-type family)
    "gaussian": (SpeciesInit(n_e=1.0, shape="gaussian", parameter=0.6),
                 SpeciesInit(n_e=0.9, shape="gaussian", parameter=0.4)),
    # the "Fiducial" problem of the code comparison, Richers et al., PRD 106, 043011 (2022):
    # n = nbar, flux factors 1/3 in opposite directions; only k < 0 grows
    "richers2022-fiducial": (FIDUCIAL.nu, FIDUCIAL.nubar),
    # (its TwoThirds and 90Degree variants: tests/test_kinetics_richers.py)
}


def _ffi(nu, nubar, length=1.0, mode=1):
    return KineticSettings(grid=GridSettings(nx=24, length=length, n_dir=8),
                           physics=PhysicsSettings(omega=(0.0,), mu=1.0),
                           nu=nu, nubar=nubar,
                           perturbation=PerturbationSettings(kind="mode", amplitude=SEED, mode=mode,
                                                             seed=7),
                           time=TimeSettings(t_end=1.0, output_interval=0.5))


@pytest.mark.parametrize("name", sorted(DISTRIBUTIONS))
def test_fast_flavor_growth_rate_matches_dispersion_relation(name, comm):
    """One box wavelength of the fastest mode; fit over amplitudes 1e3..1e5 x seed.

    (Agreement ~2e-4 for all three; the window starts after the slower eigenmodes the
    seed also excites have fallen behind by 1e3, hence a sharp 2% test.)
    """
    nu, nubar = DISTRIBUTIONS[name]
    k_star, _ = dispersion.fastest_mode(_ffi(nu, nubar), k_max=2.0, n=81)
    length = 2 * np.pi / abs(k_star)
    mode = 1 if k_star > 0 else -1
    k = mode * 2 * np.pi / length
    gamma = dispersion.growth_rate(_ffi(nu, nubar), k)
    assert gamma > 0.05
    t_end = np.log(1e5) / gamma
    s = _ffi(nu, nubar, length, mode)
    s = KineticSettings(grid=s.grid, physics=s.physics, nu=nu, nubar=nubar, perturbation=s.perturbation,
                        time=TimeSettings(t_end=t_end, output_interval=t_end / 40))
    solver = KineticSolver(s, comm)
    recs = solver.run()
    solver.destroy()
    t = [r.time for r in recs]
    amp = [r.offdiag_amplitude.sum() for r in recs]
    measured = growth_slope(t, amp, 1e3 * SEED, 1e5 * SEED)
    assert measured == pytest.approx(gamma, rel=0.02), (name, measured, gamma)


@pytest.mark.serial  # homogeneous box: one ODE per cell, nothing distributed to test
def test_collisional_instability_matches_analytic_formula(comm):
    mu, n, nbar, gam, gambar = 1.0, 1.0, 0.8, 0.4, 0.1
    lam = dispersion.collisional_isotropic(mu, n, nbar, gam, gambar)
    assert lam.real > 0.05
    col = CollisionSettings(gamma=((gam, 0.0), (gambar, 0.0)), equilibrium=((n, 0.0), (nbar, 0.0)))
    t_end = np.log(1e7) / lam.real
    s = homogeneous(omega=(0.0,), mu=mu, collisions=col, n_dir=4, nu=SpeciesInit(n_e=n),
                    nubar=SpeciesInit(n_e=nbar), t_end=t_end, dt_out=t_end / 60)
    # the dispersion matrix at k = 0 contains the same root (an independent cross-check)
    assert np.min(np.abs(dispersion.eigenvalues(s, 0.0) - lam)) < 1e-10
    solver = KineticSolver(s, comm)
    solver.field[..., 1] += SEED  # homogeneous, isotropic seed: only the isotropic mode
    recs = solver.run()
    solver.destroy()
    measured = growth_slope([r.time for r in recs], [r.offdiag_amplitude.sum() for r in recs],
                            1e3 * SEED, 1e7 * SEED)
    assert measured == pytest.approx(lam.real, rel=0.02), (measured, lam)


def _johns_eq14(mu, s_plus, d_minus, omega, gamma_plus, gammabar_plus):
    """Growth rate of the isotropic collisional instability, Johns, PRL 130, 191001 (2023),
    Eq. (14) of arXiv:2104.11369 (as coded in Emu's Scripts/tests/coll_inst_test.py):

        Im Omega = (Gamma+ - Gammabar+)/2 * mu S / sqrt((mu D)^2 + 4 omega mu S) - (Gamma+ + Gammabar+)/2

    S = (n_ee - n_xx) + (nbar_ee - nbar_xx), D = (n_ee - n_xx) - (nbar_ee - nbar_xx),
    Gamma+ = (Gamma_e + Gamma_x)/2. Leading order in the collision rates over mu |D|.
    """
    return ((gamma_plus - gammabar_plus) / 2 * mu * s_plus
            / np.sqrt((mu * d_minus) ** 2 + 4 * omega * mu * s_plus) - (gamma_plus + gammabar_plus) / 2)


def _emu_cfi(scale=1.0, omega=0.0):
    """Emu's collisional-instability test (n_ee, nbar_ee, n_xx = nbar_xx = 3, 2.5, 1 x 1e33 cm^-3,
    kappa_e = 1e4/0.417e5, kappa_ebar = 1e4/4.36e5, kappa_x = 0 cm^-1) in units omega0 = mu(1e33 cm^-3);
    ``scale`` multiplies the rates. Returns settings and (Gamma+, Gammabar+)."""
    mu1 = presets.self_interaction_rate(1e33)
    ge, geb = (scale * k * C_CM_S / mu1 for k in (1e4 / 0.417e5, 1e4 / 4.36e5))
    col = CollisionSettings(gamma=((ge, 0.0), (geb, 0.0)), equilibrium=((3.0, 1.0), (2.5, 1.0)))
    s = KineticSettings(grid=GridSettings(nx=12, length=1.0, n_dir=2),
                        physics=PhysicsSettings(omega=(omega,), mu=1.0, collisions=col),
                        nu=SpeciesInit(n_e=3.0, n_x=1.0), nubar=SpeciesInit(n_e=2.5, n_x=1.0))
    return s, ge / 2, geb / 2


def test_collisional_growth_agrees_with_johns_eq14():
    """The exact discrete dispersion relation at k = 0 (general background, x flavors occupied)
    against the published leading-order formula; the difference is the next order and shrinks
    as (rates)^2."""
    omega = 0.304e-5 * C_CM_S / presets.self_interaction_rate(1e33)  # Emu's omega
    rel = []
    for scale in (1.0, 0.25):
        s, gp, gbp = _emu_cfi(scale, omega)
        exact = dispersion.growth_rate(s, 0.0)
        approx = _johns_eq14(1.0, 3.5, 0.5, omega, gp, gbp)
        rel.append(exact / approx - 1.0)
        # next order of the expansion of the closed form: x = A a / G^2, 2 A a / G (1 - 8 x^2) - g
        A, G, a, g = 1.75, 0.5, (gp - gbp) / 2, (gp + gbp) / 2
        x = A * a / G ** 2
        assert exact == pytest.approx(2 * A * a / G * (1 - 8 * x * x) - g, rel=0.01), scale
    assert abs(rel[0]) < 0.05  # Emu's own tolerance for this problem
    assert 12.0 < rel[0] / rel[1] < 20.0, rel  # second order in the rates


def test_collisional_closed_form_limits():
    """n != nbar: Johns Eq. (14) (omega = 0) to leading order; n = nbar: the resonance-like
    growth sqrt(A a) - g ~ sqrt(mu Gamma) (Xiong et al., PRD 108, 083002 (2023)), far above
    the non-resonant rate ~ Gamma."""
    mu, gam, gambar = 1.0, 2e-3, 5e-4
    lam = dispersion.collisional_isotropic(mu, 1.0, 0.7, gam, gambar)
    # x flavors empty: Gamma+ = gamma/2, S = n + nbar, D = n - nbar
    assert lam.real == pytest.approx(_johns_eq14(mu, 1.7, 0.3, 0.0, gam / 2, gambar / 2), rel=1e-3)
    res = dispersion.collisional_isotropic(mu, 1.0, 1.0, gam, gambar)
    A, a, g = mu, (gam - gambar) / 4, (gam + gambar) / 4
    assert res.real == pytest.approx(np.sqrt(A * a) - g, rel=0.02)
    assert res.real > 10 * lam.real


def test_norm_limiter_projects_only_the_overshoot():
    """positivity.limit: |P| <= P0 afterwards, P0 and the direction of P kept, and
    matrices that had a margin left bit for bit."""
    rng = np.random.default_rng(5)
    p = rng.standard_normal((50, 2, 3, 4))
    p[..., 0] = np.abs(p[..., 0]) + 0.5
    before = p.copy()
    norm = np.linalg.norm(before[..., 1:], axis=-1)
    over = norm > before[..., 0]
    assert 0 < over.sum() < over.size
    n, overshoot, dz = positivity.limit(p)
    assert n == over.sum()
    assert overshoot == pytest.approx((norm - before[..., 0])[over].sum())
    assert dz == pytest.approx((p[..., 3] - before[..., 3]).sum())
    assert np.array_equal(p[~over], before[~over]) and np.array_equal(p[..., 0], before[..., 0])
    assert np.allclose(np.linalg.norm(p[..., 1:], axis=-1)[over], before[..., 0][over], rtol=1e-14)
    unit = p[..., 1:][over] / before[..., 0][over][:, None]
    assert np.allclose(unit, before[..., 1:][over] / norm[over][:, None], rtol=1e-13)


def _fiducial_small(limiter):
    """Richers et al.'s Fiducial distributions in a 50/mu box at the resolution of the
    nx = 256 production run (dx = 0.78/mu), into the nonlinear phase (t = 40/mu)."""
    s = presets.richers2022_fiducial(nx=64, n_dir=8, length=50.0, t_end=40.0, output_interval=2.0,
                                     perturbation=PerturbationSettings(kind="random", amplitude=1e-6,
                                                                       seed=1))
    return replace(s, numerics=NumericsSettings(limiter=limiter))


def test_conservative_limiter_keeps_cone_p0_and_cell_lepton_moments():
    """positivity.limit_conservative on random cells: every matrix inside the cone afterwards,
    P0 untouched bit for bit, each cell's sum W w (Pz_nu - Pz_nubar) kept to round-off, and
    cells without an overshoot left bit for bit."""
    rng = np.random.default_rng(11)
    p = rng.standard_normal((40, 2, 2, 6, 4))
    p[..., 0] = np.abs(p[..., 0]) + 1.5          # most matrices have a margin, some overshoot
    p[:5] *= np.array([1.0, 0.1, 0.1, 0.1])     # a few cells without any overshoot
    ww = rng.uniform(0.1, 1.0, (2, 6))
    before = p.copy()
    over = np.linalg.norm(before[..., 1:], axis=-1) > before[..., 0]
    assert over[5:].any() and not over[:5].any()
    moment = lambda q: np.einsum("ed,xed->x", ww, q[:, 0, ..., 3] - q[:, 1, ..., 3])
    n, overshoot, left = positivity.limit_conservative(p, ww)
    assert n == over.sum() and overshoot > 0 and abs(left) < 1e-14
    assert np.array_equal(p[..., 0], before[..., 0]) and np.array_equal(p[:5], before[:5])
    assert (p[..., 0] - np.linalg.norm(p[..., 1:], axis=-1)).min() > -1e-14
    assert np.abs(moment(p) - moment(before)).max() < 1e-13
    # the norm limiter on the same cells: limit()'s projection, and its third total is the
    # same quantity, the change of the cells' ELN - XLN moment (all of it: nothing restored)
    q, r = before.copy(), before.copy()
    n_norm, overshoot_norm, moved = positivity.limit_norm(q, ww)
    positivity.limit(r)
    assert n_norm == n and overshoot_norm == pytest.approx(overshoot, rel=1e-13)
    np.testing.assert_allclose(q, r, rtol=1e-15, atol=1e-15)
    assert moved == pytest.approx((moment(q) - moment(before)).sum(), rel=1e-12) and abs(moved) > 1e-3
    assert np.abs(p[5:] - before[5:]).max() > 1e-3  # the limiter did act


def test_fiducial_nonlinear_phase_stays_positive(comm):
    """The pure states of the Fiducial set-up lose positivity at O(0.1) through the
    advection once the flavor cascade reaches the grid (limiter off, which conserves
    ELN and XLN); the norm limiter keeps min(P0 - |P|) at round-off but moves ELN/XLN;
    the default conservative limiter does both in the same run: min(P0 - |P|) >= -1e-13
    and ELN, XLN constant to 1e-13 (theta = 0, no collisions: both are invariants)."""
    runs = {}
    for limiter in ("none", "norm", "conservative"):
        solver = KineticSolver(_fiducial_small(limiter), comm)
        runs[limiter] = solver.run()
        solver.destroy()
    free, limited, cons = runs["none"], runs["norm"], runs["conservative"]
    assert max(r.offdiag_amplitude[0] for r in free) > 0.3   # really nonlinear
    assert min(r.trace_margin for r in free) < -1e-2
    lepton = {k: np.array([r.lepton_number for r in v]) for k, v in runs.items()}
    assert np.abs(lepton["none"] - lepton["none"][0]).max() < 1e-13
    assert min(r.trace_margin for r in limited) > -1e-14
    assert np.abs(lepton["norm"] - lepton["norm"][0]).max() > 1e-6
    total = np.array([r.total_lepton_number for r in limited])
    assert np.ptp(total) < 1e-13
    assert limited[-1].limiter[0] > 0 and limited[-1].limiter[1] > 0
    assert all(r.limiter[0] == 0 for r in free)
    # positivity and conservation together
    assert max(r.offdiag_amplitude[0] for r in cons) > 0.3
    assert min(r.trace_margin for r in cons) >= -1e-13
    assert np.abs(lepton["conservative"] - lepton["conservative"][0]).max() <= 1e-13
    # what the margin could not give back: round-off overshoots of cells of pure states
    assert cons[-1].limiter[0] > 0 and abs(cons[-1].limiter[2]) < 1e-11
    # the domain-averaged flavor state is the same physics with and without the limiters
    late = {k: np.mean([r.number_density[0, 0] for r in v[-10:]]) for k, v in runs.items()}
    assert late["norm"] == pytest.approx(late["none"], abs=0.02)
    assert late["conservative"] == pytest.approx(late["none"], abs=0.02)


def test_two_beams_at_v_pm1_grow_at_the_closed_form_rate(comm):
    """nu_e beam along v = +1 (density n), nubar_e beam along v = -1 (nbar), Gauss-Lobatto
    directions (-1, 0, +1). Linearising the two beams' off-diagonals psi, phi ~ exp(ikx + lt)
    by hand: l = i (mu (n - nbar) +- sqrt(mu^2 (n - nbar)^2 + k^2 + 2 mu k (n + nbar))), fastest
    at k = -mu (n + nbar) with Re l = 2 mu sqrt(n nbar). The empty directions (v = 0 for both
    species, the other beam's direction) get no seed and stay exactly empty."""
    n, nbar, mu = 1.0, 0.5, 1.0
    k = -mu * (n + nbar)
    gamma = 2.0 * mu * np.sqrt(n * nbar)
    t_end = np.log(1e5) / gamma
    s = KineticSettings(grid=GridSettings(nx=24, length=2 * np.pi / abs(k), n_dir=3,
                                          quadrature="gauss-lobatto"),
                        physics=PhysicsSettings(omega=(0.0,), mu=mu),
                        nu=SpeciesInit(n_e=n, shape="beam", parameter=1.0),
                        nubar=SpeciesInit(n_e=nbar, shape="beam", parameter=-1.0),
                        perturbation=PerturbationSettings(kind="mode", amplitude=SEED, mode=-1, seed=3),
                        time=TimeSettings(t_end=t_end, output_interval=t_end / 40))
    solver = KineticSolver(s, comm)
    empty = solver.field[:, 0, :, :2], solver.field[:, 1, :, 1:]   # nu at v = -1, 0; nubar at 0, +1
    assert not any(e.any() for e in empty)
    recs = solver.run()
    empty = solver.field[:, 0, :, :2], solver.field[:, 1, :, 1:]
    assert not any(e.any() for e in empty)
    solver.destroy()
    measured = growth_slope([r.time for r in recs], [r.offdiag_amplitude.sum() for r in recs],
                            1e3 * SEED, 1e5 * SEED)
    assert measured == pytest.approx(gamma, rel=1e-3), (measured, gamma)   # measured: 2.1e-5
    assert dispersion.growth_rate(s, k) == pytest.approx(gamma, rel=1e-12)
