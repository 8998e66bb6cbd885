"""The three fast-flavor set-ups of Richers, Willcox & Ford, PRD 104, 103023 (2021)
(nmbhpc.kinetics.presets): their angular distributions and their fastest growth rates.

Reference distributions (the authors' srichers/Emu_scripts papers/paper2/distribution_picture.py),
Omega the unit direction, n the nu_e density:

    Fiducial   nu_e n (1 + Omega_z)   nubar_e n (1 - Omega_z)
    90Degree   nu_e n (1 + Omega_z)   nubar_e n (1 + Omega_x)
    TwoThirds  nu_e n                 nubar_e (2/3) n (1 - Omega_z)

so the number densities and flux vectors (integrals over dOmega / 4 pi) are written below
from the formulas, independently of the solver's angular-shape code.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from kinetics_cases import growth_slope
from nmbhpc.kinetics import dispersion, presets
from nmbhpc.kinetics.grid import background, direction_vectors, directions
from nmbhpc.kinetics.settings import PerturbationSettings, TimeSettings
from nmbhpc.kinetics.solver import KineticSolver

SEED = 1e-12
Z, X = np.array([0.0, 0.0, 1.0]), np.array([1.0, 0.0, 0.0])

# name: (preset, (nu_e density, flux axis a, flux slope), (nubar_e ...)): f = n (1 + c a.Omega)
REFERENCE = {
    "fiducial": (presets.richers2022_fiducial, (1.0, Z, 1.0), (1.0, Z, -1.0)),
    "90degree": (presets.richers2022_90degree, (1.0, Z, 1.0), (1.0, X, 1.0)),
    "twothirds": (presets.richers2022_two_thirds, (1.0, Z, 0.0), (2.0 / 3.0, Z, -1.0)),
}
# (n_nu, F_nu, n_nubar, F_nubar): the moments of those formulas, F = n c a / 3
MOMENTS = {
    "fiducial": (1.0, (0, 0, 1 / 3), 1.0, (0, 0, -1 / 3)),
    "90degree": (1.0, (0, 0, 1 / 3), 1.0, (1 / 3, 0, 0)),
    "twothirds": (1.0, (0, 0, 0), 2 / 3, (0, 0, -2 / 9)),
}


def _densities(s):
    """(rho_ee, rho_xx) at every direction, shape (2 species, 2 flavors, N); the unit
    directions Omega (N, 3) and their weights (N, sum 1)."""
    bg = background(s)[:, 0]                                   # (species, dir, 4), one energy
    ee, xx = (bg[..., 0] + bg[..., 3]) / 2, (bg[..., 0] - bg[..., 3]) / 2
    return np.stack([ee, xx], axis=1), direction_vectors(s.grid), directions(s.grid)[1]


@pytest.mark.serial  # the background is built per rank from the settings alone: nothing distributed
@pytest.mark.parametrize("name", sorted(REFERENCE))
@pytest.mark.parametrize("grid", [{}, {"n_dir": 4}, {"n_dir": 5}])
def test_preset_distribution_and_moments(name, grid):
    """On every node rho_ee = n (1 + c a.Omega) exactly, rho_xx = 0; the number densities and
    flux vectors of nu_e / nubar_e from the direction quadrature are the analytic moments."""
    make, *ref = REFERENCE[name]
    s = make(**grid)
    if name == "90degree":
        assert s.grid.n_phi == presets.NINETY_DEGREE_N_PHI >= 3
    rho, omega, w = _densities(s)
    assert np.abs(w.sum() - 1.0) < 1e-14 and np.abs(rho[:, 1]).max() == 0.0
    for species, (n, axis, c) in enumerate(ref):
        assert np.allclose(rho[species, 0], n * (1.0 + c * omega @ axis), rtol=0, atol=1e-14), name
    n_nu, f_nu, n_bar, f_bar = MOMENTS[name]
    number = rho[:, 0] @ w
    flux = np.einsum("si,i,ia->sa", rho[:, 0], w, omega)
    assert number == pytest.approx([n_nu, n_bar], abs=1e-14)
    assert np.allclose(flux, [f_nu, f_bar], rtol=0, atol=1e-14), (name, flux)
    assert s.physics.omega == (0.0,) and s.physics.lam == 0.0 and s.physics.mu == 1.0


def test_ninety_degree_needs_an_azimuth_grid():
    with pytest.raises(ValueError, match="n_phi"):
        presets.richers2022_90degree(n_phi=2)


def _growth_run(s, comm):
    """Simulate one box wavelength of the fastest mode of ``s``'s angular grid; return
    (measured, predicted) growth rates. The fit covers amplitudes 1e3..1e5 x seed."""
    k_star, _ = dispersion.fastest_mode(s, k_max=1.5, n=61)
    assert k_star < 0  # the growing side of both set-ups (p ~ exp(i k z))
    length = 2 * np.pi / abs(k_star)
    predicted = dispersion.growth_rate(s, -2 * np.pi / length)
    t_end = np.log(1e5) / predicted
    s = replace(s, grid=replace(s.grid, length=length),
                perturbation=PerturbationSettings(kind="mode", amplitude=SEED, mode=-1, seed=7),
                time=TimeSettings(t_end=t_end, output_interval=t_end / 40))
    solver = KineticSolver(s, comm)
    recs = solver.run()
    solver.destroy()
    measured = growth_slope([r.time for r in recs], [r.offdiag_amplitude.sum() for r in recs],
                            1e3 * SEED, 1e5 * SEED)
    return measured, predicted


def test_two_thirds_growth_rate_matches_dispersion_relation(comm):
    """Isotropic nu_e against (2/3)(1 - Omega_z) nubar_e: fastest k = -0.448 mu,
    growth 0.1436 mu (n_dir 8 and 16 agree to 2e-5); simulated within 2%."""
    s = presets.richers2022_two_thirds(nx=24, n_dir=8)
    measured, predicted = _growth_run(s, comm)
    assert predicted == pytest.approx(0.1436, abs=5e-4)
    assert measured == pytest.approx(predicted, rel=0.02), (measured, predicted)


def test_ninety_degree_growth_rate_matches_dispersion_relation(comm):
    """nubar_e flux along x, perpendicular to the box axis: fastest k = -0.565 mu along z,
    growth 0.3948 mu (converged in n_dir, n_phi); simulated on a 6 x 6 direction grid
    (growth there 0.3949) within 2%."""
    s = presets.richers2022_90degree(nx=24, n_dir=6, n_phi=6)
    measured, predicted = _growth_run(s, comm)
    assert predicted == pytest.approx(0.3948, abs=1e-3)
    assert measured == pytest.approx(predicted, rel=0.02), (measured, predicted)


@pytest.mark.parametrize("name, make", [("twothirds", presets.richers2022_two_thirds),
                                        ("90degree", presets.richers2022_90degree)])
def test_example_config_is_the_preset(name, make):
    """examples/kinetics_richers2022_<name>.toml holds exactly the preset's set-up."""
    from pathlib import Path

    from nmbhpc.kinetics.config import load_kinetics

    path = Path(__file__).resolve().parent.parent / "examples" / f"kinetics_richers2022_{name}.toml"
    s, p = load_kinetics(str(path)), make()
    assert (s.grid, s.physics, s.nu, s.nubar, s.perturbation) == (p.grid, p.physics, p.nu, p.nubar,
                                                                  p.perturbation)
    assert s.time.t_end == pytest.approx(p.time.t_end) and s.time.output_interval == p.time.output_interval
