"""Growth rates of simulated flavor instabilities against linear stability theory.

The dispersion module (exact in x, eigenvalues of M(k)) and the analytic
collisional formula are independent of the PDE discretisation; the
simulations seed one complex Fourier mode (or a homogeneous isotropic
perturbation) and fit the exponential growth of the off-diagonal amplitude.
"""
from __future__ import annotations

import numpy as np
import pytest

from kinetics_cases import growth_slope, homogeneous
from nmbhpc.kinetics import dispersion
from nmbhpc.kinetics.settings import (CollisionSettings, GridSettings, KineticSettings,
                                      PerturbationSettings, PhysicsSettings, SpeciesInit,
                                      TimeSettings)
from nmbhpc.kinetics.solver import KineticSolver

SEED = 1e-12

DISTRIBUTIONS = {
    # isotropic nu_e against a forward-peaked nubar_e (flux factor 0.3): ELN crossing at v = 0.28
    "linear": (SpeciesInit(n_e=1.0), SpeciesInit(n_e=0.8, shape="linear", parameter=0.9)),
    # two forward-peaked Gaussians of different widths (Yi et al. 2019-type family)
    "gaussian": (SpeciesInit(n_e=1.0, shape="gaussian", parameter=0.6),
                 SpeciesInit(n_e=0.9, shape="gaussian", parameter=0.4)),
}


def _ffi(nu, nubar, length=1.0):
    return KineticSettings(grid=GridSettings(nx=24, length=length, n_dir=8),
                           physics=PhysicsSettings(omega=(0.0,), mu=1.0),
                           nu=nu, nubar=nubar,
                           perturbation=PerturbationSettings(kind="mode", amplitude=SEED, mode=1, seed=7),
                           time=TimeSettings(t_end=1.0, output_interval=0.5))


@pytest.mark.parametrize("name", sorted(DISTRIBUTIONS))
def test_fast_flavor_growth_rate_matches_dispersion_relation(name, comm):
    nu, nubar = DISTRIBUTIONS[name]
    k_star, _ = dispersion.fastest_mode(_ffi(nu, nubar), k_max=2.0, n=81)
    length = 2 * np.pi / abs(k_star)
    s = _ffi(nu, nubar, length)
    k = 2 * np.pi / length
    gamma = dispersion.growth_rate(s, k)
    assert gamma > 0.05
    t_end = np.log(1e7) / gamma
    s = KineticSettings(grid=s.grid, physics=s.physics, nu=nu, nubar=nubar, perturbation=s.perturbation,
                        time=TimeSettings(t_end=t_end, output_interval=t_end / 60))
    solver = KineticSolver(s, comm)
    recs = solver.run()
    solver.destroy()
    t = [r.time for r in recs]
    amp = [r.offdiag_amplitude.sum() for r in recs]
    measured = growth_slope(t, amp, 1e3 * SEED, 1e7 * SEED)
    assert measured == pytest.approx(gamma, rel=0.02), (name, measured, gamma)


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
