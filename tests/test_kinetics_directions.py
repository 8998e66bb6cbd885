"""Directions on the sphere (azimuth grid, n_phi > 1) and the state-dependent time step.

Checked against: exact quadrature moments of the unit sphere; the axisymmetric
dispersion relation (a phi-independent distribution on an azimuth grid has the
axisymmetric spectrum plus the azimuthal m = +-1 modes); a dense
linearisation built in this file from its own nonlinear right-hand side (its
own directions from theta and phi, Jacobian by central differences, exact for
the bilinear self-interaction); a simulated non-axisymmetric fast instability;
and the phase-step bound recomputed by the test on every step.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from mpi4py import MPI

from kinetics_cases import growth_slope
from nmbhpc.config import ConfigError
from nmbhpc.kinetics import dispersion, grid, presets
from nmbhpc.kinetics.config import load_kinetics_text
from nmbhpc.kinetics.settings import (GridSettings, KineticSettings, PerturbationSettings,
                                      PhysicsSettings, SpeciesInit, TimeSettings)
from nmbhpc.kinetics.solver import KineticSolver

SEED = 1e-12
# nu_e flux along the box axis z, nubar_e flux along x (perpendicular): not axisymmetric.
# A test distribution of ours, not a published set-up.
PERPENDICULAR = (SpeciesInit(n_e=1.0, shape="linear", parameter=1.0),
                 SpeciesInit(n_e=1.0, shape="linear", parameter=1.0, axis=(1.0, 0.0, 0.0)))


def _config(grid_lines: str = "", nubar_lines: str = "") -> str:
    return ("[kinetics]\n[kinetics.grid]\nnx = 12\n" + grid_lines
            + "[kinetics.nubar]\nn_e = 1.0\nshape = \"linear\"\nparameter = 0.5\n" + nubar_lines
            + "[kinetics.time]\nt_end = 1.0\noutput_interval = 0.5\n")


def test_config_azimuth_grid_and_axis():
    s = load_kinetics_text(_config("n_phi = 6\n", "axis = [2.0, 0.0, 0.0]\n"))
    assert (s.grid.n_phi, s.grid.n_directions, s.nubar.axis) == (6, 48, (1.0, 0.0, 0.0))
    assert load_kinetics_text(_config()).grid.n_phi == 1
    assert load_kinetics_text(_config("", "axis = [0, 0, -1]\n")).nubar.axis == (0.0, 0.0, -1.0)
    bad = [("n_phi = 0\n", "", "kinetics.grid.n_phi"),
           ("n_phi = 1.5\n", "", "kinetics.grid.n_phi"),
           ("", "axis = [1, 0, 0]\n", "kinetics.nubar.axis"),       # needs n_phi > 1
           ("n_phi = 4\n", "axis = [0, 0, 0]\n", "kinetics.nubar.axis"),
           ("n_phi = 4\n", "axis = [1, 0]\n", "kinetics.nubar.axis")]
    for g, nb, key in bad:
        with pytest.raises(ConfigError) as exc:
            load_kinetics_text(_config(g, nb))
        assert key in str(exc.value)


def test_sphere_quadrature_moments():
    """sum w = 1, sum w v = 0, sum w v_a v_b = delta_ab / 3 (exact for n_dir >= 2, n_phi >= 3)."""
    g = GridSettings(n_dir=5, n_phi=7)
    vec = grid.direction_vectors(g)
    vz, w = grid.directions(g)
    assert np.allclose(np.linalg.norm(vec, axis=1), 1.0, atol=1e-15)
    assert np.array_equal(vec[:, 2], vz) and np.all(np.diff(vz) >= 0)
    assert w.sum() == pytest.approx(1.0, abs=1e-15)
    assert np.abs(w @ vec).max() < 1e-15
    assert np.abs(np.einsum("i,ia,ib->ab", w, vec, vec) - np.eye(3) / 3).max() < 1e-15
    # axisymmetric: the old nodes exactly, and 1 - v_z v_z' exactly
    g1 = GridSettings(n_dir=5)
    v1, w1 = np.polynomial.legendre.leggauss(5)
    assert np.array_equal(grid.directions(g1)[0], v1)
    assert np.array_equal(grid.interaction_kernel(g1), 1.0 - np.outer(v1, v1))


def _fiducial(n_phi):
    s = presets.richers2022_fiducial(nx=24, n_dir=8)
    return replace(s, grid=replace(s.grid, n_phi=n_phi))


@pytest.mark.parametrize("k", [-0.3, -0.91, -1.5, 0.4])
def test_dispersion_phi_independent_equals_axisymmetric(k):
    """Fiducial (phi-independent) on 6 azimuths: same fastest growth as n_phi = 1, and every
    axisymmetric eigenvalue is in the spectrum (the others are m = +-1 azimuthal modes)."""
    axi = dispersion.eigenvalues(_fiducial(1), k)
    full = dispersion.eigenvalues(_fiducial(6), k)
    assert full[0].real == pytest.approx(axi[0].real, abs=1e-10)
    for lam in axi:
        assert np.abs(full - lam).min() < 1e-8 * max(1.0, abs(lam))


def _dense_linearisation(nu, nubar, n_dir, n_phi, omega, weights, lam, theta, mu, k):
    """M(k) from this file's own nonlinear homogeneous RHS, Jacobian by central differences.

    Unknowns p = Px + i Py of (species, energy, theta-major direction); the map is
    complex-linear about a flavor-diagonal state, so J = A + i B from the real blocks.
    """
    x, wx = np.polynomial.legendre.leggauss(n_dir)
    dirs, wts = [], []
    for i in range(n_dir):
        for j in range(n_phi):
            ph = 2 * np.pi * j / n_phi
            st = np.sin(np.arccos(x[i]))
            dirs.append((st * np.cos(ph), st * np.sin(ph), x[i]))
            wts.append(wx[i] / 2 / n_phi)
    dirs, wts = np.array(dirs), np.array(wts)
    nd, ne = len(dirs), len(omega)
    P = np.zeros((2, ne, nd, 3))
    for s, init in enumerate((nu, nubar)):
        u = dirs @ np.asarray(init.axis)
        g = 1 + init.parameter * u
        P[s, :, :, 2] = init.n_e * g / (wts @ g)
    bz = np.array([0.0, 0.0, -np.cos(2 * theta)])             # mixing dropped, as in the module
    eta = (1.0, -1.0)

    def f(P):
        out = np.zeros_like(P)
        for i in range(nd):
            D = np.zeros(3)
            for e in range(ne):
                for j in range(nd):
                    D += weights[e] * wts[j] * (1 - dirs[i] @ dirs[j]) * (P[0, e, j] - P[1, e, j])
            for s in range(2):
                for e in range(ne):
                    h = eta[s] * omega[e] * bz + lam * np.array([0, 0, 1.0]) + mu * D
                    out[s, e, i] = np.cross(h, P[s, e, i])
        return out

    n = 2 * ne * nd
    A = np.zeros((n, n, 2, 2))
    eps = 1e-3
    for c in range(2):                                       # perturb Px (c = 0), Py (c = 1)
        for m in range(n):
            dp = np.zeros(n * 3)
            dp[3 * m + c] = eps
            fp = f(P + dp.reshape(P.shape))
            fm = f(P - dp.reshape(P.shape))
            df = ((fp - fm) / (2 * eps)).reshape(n, 3)
            A[:, m, 0, c], A[:, m, 1, c] = df[:, 0], df[:, 1]
    # d(Px + i Py)/dt = (Axx + i Ayx) Px + (Axy + i Ayy) Py; complex-linear: J = Axx + i Ayx
    J = A[:, :, 0, 0] + 1j * A[:, :, 1, 0]
    assert np.abs(J - (A[:, :, 1, 1] - 1j * A[:, :, 0, 1])).max() < 1e-10   # Cauchy-Riemann
    vz = np.tile(dirs[:, 2], 2 * ne)
    return J - 1j * k * np.diag(vz)


@pytest.mark.serial  # pure numpy on every rank: MPI adds nothing it could detect
def test_dispersion_matches_dense_linearisation():
    """Non-axisymmetric nubar (flux along x, y-component too), two energies, vacuum + matter."""
    nu = SpeciesInit(n_e=1.0, shape="linear", parameter=0.6)
    nubar = SpeciesInit(n_e=0.8, shape="linear", parameter=0.9, axis=(0.6, 0.8, 0.0))
    omega, weights, lam, theta, mu, k = (0.3, -0.7), (0.4, 0.6), 0.2, 0.1, 1.3, -0.8
    s = KineticSettings(grid=GridSettings(nx=12, n_dir=3, n_phi=4),
                        physics=PhysicsSettings(omega=omega, weights=weights, theta=theta, lam=lam,
                                                mu=mu), nu=nu, nubar=nubar)
    m = dispersion.stability_matrix(s, k)
    ref = _dense_linearisation(nu, nubar, 3, 4, omega, weights, lam, theta, mu, k)
    assert np.abs(m - ref).max() < 1e-9 * np.abs(ref).max()
    ev = np.linalg.eigvals(ref)
    assert max(np.abs(ev - lam).min() for lam in dispersion.eigenvalues(s, k)) < 1e-8
    assert dispersion.growth_rate(s, k) > 0.05                # an instability, not a trivial check


def _perpendicular(length=1.0, mode=-1, t_end=1.0):
    nu, nubar = PERPENDICULAR
    return KineticSettings(grid=GridSettings(nx=24, length=length, n_dir=6, n_phi=4),
                           physics=PhysicsSettings(omega=(0.0,), mu=1.0), nu=nu, nubar=nubar,
                           perturbation=PerturbationSettings(kind="mode", amplitude=SEED, mode=mode,
                                                             seed=3),
                           time=TimeSettings(t_end=t_end, output_interval=t_end / 40))


def test_non_axisymmetric_growth_rate_matches_dispersion(comm):
    """nubar flux perpendicular to the box axis: the simulated mode grows at the rate of
    the general (all-direction) dispersion matrix (2%)."""
    k_star, _ = dispersion.fastest_mode(_perpendicular(), k_max=2.0, n=41)
    mode = 1 if k_star > 0 else -1
    length = 2 * np.pi / abs(k_star)
    gamma = dispersion.growth_rate(_perpendicular(length), mode * 2 * np.pi / length)
    assert gamma > 0.2
    # its azimuthal average (nubar isotropic on an axisymmetric grid) grows differently:
    # the transverse flux matters, the check is not the axisymmetric one again
    axi = replace(_perpendicular(length), grid=GridSettings(nx=24, length=length, n_dir=6),
                  nubar=SpeciesInit(n_e=1.0))
    assert abs(dispersion.growth_rate(axi, mode * 2 * np.pi / length) / gamma - 1) > 0.1
    t_end = np.log(1e5) / gamma
    solver = KineticSolver(_perpendicular(length, mode, t_end), comm)
    recs = solver.run()
    solver.destroy()
    measured = growth_slope([r.time for r in recs], [r.offdiag_amplitude.sum() for r in recs],
                            1e3 * SEED, 1e5 * SEED)
    assert measured == pytest.approx(gamma, rel=0.02), (measured, gamma)


def _h_max(field, w, v, mu, comm):
    """max |h| = mu |sum_j w_j (1 - v_i v_j)(P_nu - P_nubar)_j| (omega = 0, one energy)."""
    d = field[:, 0, 0, :, 1:] - field[:, 1, 0, :, 1:]               # (n, dir, 3)
    h = mu * np.einsum("j,ij,xjc->xic", w, 1.0 - np.outer(v, v), d)
    local = float(np.linalg.norm(h, axis=-1).max()) if field.shape[0] else 0.0
    return comm.allreduce(local, op=MPI.MAX)


def test_step_follows_the_growing_frequency(comm):
    """Fiducial into its nonlinear phase: every step keeps |h| dt <= phase_step for the state
    it starts from, although max|h| grows by more than 1.25x (a step fixed at t = 0 would not)."""
    phase = 0.3
    s = presets.richers2022_fiducial(nx=24, n_dir=8, length=2 * np.pi / 0.91, t_end=30.0,
                                     output_interval=10.0,
                                     perturbation=PerturbationSettings(kind="mode", amplitude=1e-3,
                                                                       mode=-1, seed=2))
    s = replace(s, time=replace(s.time, phase_step=phase, cfl=10.0))
    solver = KineticSolver(s, comm)
    v, w = grid.directions(s.grid)
    seen = []
    solver.ts.setMonitor(lambda ts, step, t, X: seen.append(
        (t, _h_max(solver.field, w, v, 1.0, comm))))
    solver.run()
    solver.destroy()
    t, h = np.array(seen).T
    keep = np.diff(t) > 0                       # a monitor call per step (and one per solve start)
    ratio = (np.diff(t) * h[:-1])[keep]
    assert h.max() > 1.25 * h[0], (h[0], h.max())
    assert ratio.max() <= phase * (1 + 1e-9), ratio.max()
    assert ratio.max() > 0.9 * phase          # the steps are as long as the bound allows
    assert np.isclose(t[-1], 30.0, rtol=0, atol=1e-12)


AZIMUTH_CONFIG = """
solver = "kinetics"
[kinetics.grid]
nx = 12
length = 7.0
n_dir = 3
n_phi = 3
[kinetics.nu]
n_e = 1.0
shape = "linear"
parameter = 0.8
[kinetics.nubar]
n_e = 0.9
shape = "linear"
parameter = 0.8
axis = [1.0, 0.0, 0.0]
[kinetics.perturbation]
kind = "random"
amplitude = 1e-4
[kinetics.time]
t_end = 1.0
output_interval = 0.5
snapshot_times = [1.0]
"""


def test_azimuth_grid_run_records_its_grid(comm, shared_tmp_path):
    """An n_phi > 1 run writes its directions and all n_dir n_phi of them per record;
    the total lepton number is conserved to round-off."""
    from nmbhpc.kinetics.output import read_kinetics
    from nmbhpc.kinetics.run import run_kinetics

    path = str(shared_tmp_path / "azimuth.h5")
    recs = run_kinetics(AZIMUTH_CONFIG, path, comm).records
    data = read_kinetics(path)
    g = grid.direction_vectors(load_kinetics_text(AZIMUTH_CONFIG).grid)
    assert (data.grid["n_dir"], data.grid["n_phi"], data.grid["n_directions"]) == (3, 3, 9)
    assert np.array_equal(data.grid["direction"], g)
    assert np.array_equal(data.grid["v"], g[:, 2])
    assert data.polarization.shape[1:] == (2, 1, 9, 4) and data.snapshot_times.tolist() == [1.0]
    eln0 = recs[0].lepton_number.sum()
    assert abs(recs[-1].lepton_number.sum() - eln0) < 1e-13


def test_azimuth_grid_same_field_on_any_rank_count(comm):
    """The non-axisymmetric run with state-dependent steps: the distributed field equals a
    one-rank run of the same config (steps from an exact MPI_MAX, so the same steps)."""
    settings = load_kinetics_text(AZIMUTH_CONFIG)
    solver = KineticSolver(settings, comm)
    solver.run()
    field, steps = solver.gather_field(), solver.ts.getStepNumber()
    solver.destroy()
    ok = True
    if comm.Get_rank() == 0:
        alone = KineticSolver(settings, MPI.COMM_SELF)
        alone.run()
        assert np.abs(field[..., 1:3]).max() > 1e-5            # the seed is there and evolving
        ok = (alone.ts.getStepNumber() == steps
              and np.allclose(alone.field, field, rtol=0, atol=1e-13))
        alone.destroy()
    assert comm.allreduce(ok, op=MPI.LAND)
