"""Homogeneous kinetics against analytic results: vacuum, MSW, bipolar pendulum, RK order.

Serial only: in a homogeneous box every cell integrates the same ODE, so MPI adds
nothing these tests could detect, while the thousands of short steps the pendulum
needs cost minutes under an oversubscribed mpirun. The distributed code path
(ghost exchange, reductions, rank-count independence) is tested in
test_kinetics_parallel.py, test_kinetics_transport.py and test_kinetics_instability.py.
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy.special import ellipk

from kinetics_cases import homogeneous, rotate
from nmbhpc.kinetics.settings import SpeciesInit
from nmbhpc.kinetics.solver import KineticSolver

pytestmark = pytest.mark.serial


def _run(settings, comm):
    solver = KineticSolver(settings, comm)
    try:
        return solver.run()
    finally:
        solver.destroy()


def test_vacuum_oscillations_every_energy_bin(comm):
    theta, omegas = 0.3, (0.5, 1.0, 2.0)
    s = homogeneous(omega=omegas, theta=theta, t_end=3.0, dt_out=0.25, dt=0.01,
                    nubar=SpeciesInit(n_e=0.5, n_x=0.2))
    for rec in _run(s, comm):
        t = rec.time
        pol = rec.polarization  # [s, e, i, c] domain averages
        for e, om in enumerate(omegas):
            surv = 1.0 - np.sin(2 * theta) ** 2 * np.sin(om * t / 2) ** 2
            # nu starts pure e: rho_ee = P_ee
            ree = 0.5 * (pol[0, e, :, 0] + pol[0, e, :, 3])
            assert np.allclose(ree, surv, atol=1e-8), (t, e)
            # nubar: P(e->e) is the same; x -> x too: rho_ee = 0.5 P + 0.2 (1 - P)
            reeb = 0.5 * (pol[1, e, :, 0] + pol[1, e, :, 3])
            assert np.allclose(reeb, 0.5 * surv + 0.2 * (1 - surv), atol=1e-8), (t, e)


def test_msw_constant_matter_neutrinos_and_antineutrinos(comm):
    """P precesses about omega B + lam z (nu) and -omega B + lam z (nubar)."""
    theta, om, lam = 0.2, 1.0, 2.5
    s = homogeneous(omega=(om,), theta=theta, lam=lam, t_end=4.0, dt_out=0.5, dt=0.02,
                    nubar=SpeciesInit(n_e=0.7))
    b = np.array([np.sin(2 * theta), 0.0, -np.cos(2 * theta)])
    z = np.array([0.0, 0.0, 1.0])
    for rec in _run(s, comm):
        for sp, (h, n) in enumerate(((om * b + lam * z, 1.0), (-om * b + lam * z, 0.7))):
            want = rotate(n * z, h, np.linalg.norm(h) * rec.time)
            got = rec.polarization[sp, 0, 0, 1:]
            assert np.allclose(got, want, atol=1e-8), (sp, rec.time, got, want)
    # at the MSW resonance (lam = omega cos 2theta) nu_e converts completely, nubar_e does not
    s = homogeneous(omega=(om,), theta=theta, lam=om * np.cos(2 * theta), dt=0.02,
                    t_end=np.pi / (om * np.sin(2 * theta)), dt_out=np.pi / (om * np.sin(2 * theta)))
    last = _run(s, comm)[-1]
    assert last.polarization[0, 0, 0, 3] == pytest.approx(-1.0, abs=1e-7)
    assert last.polarization[1, 0, 0, 3] > 0.5


def _pendulum_period(omega, mu, theta):
    """Analytic bipolar-pendulum period for n = nbar, both starting as pure nu_e / nubar_e.

    S = P + Pbar, D = P - Pbar, Q = S - (omega/mu) B: dQ/dt = mu D x Q, dD/dt = omega B x Q.
    With D(0) = 0 this is a plane pendulum: phi'' = -mu |omega| |Q| sin(phi), phi the angle of Q
    from its stable direction -sign(omega) B, released at rest: T = 4 K(sin^2(phi0/2)) / kappa.
    """
    b = np.array([np.sin(2 * theta), 0.0, -np.cos(2 * theta)])
    q = np.array([0.0, 0.0, 2.0]) - (omega / mu) * b
    qn = np.linalg.norm(q)
    cosphi0 = np.dot(q, -np.sign(omega) * b) / qn
    phi0 = np.arccos(np.clip(cosphi0, -1, 1))
    kappa = np.sqrt(mu * abs(omega) * qn)
    return 4.0 * ellipk(np.sin(phi0 / 2) ** 2) / kappa


def test_bipolar_pendulum_period_and_energy(comm):
    """Single-angle (n_dir = 1: v = 0, 1 - v.v' = 1), inverted ordering (omega < 0)."""
    omega, mu, theta = -1.0, 10.0, 0.05
    period = _pendulum_period(omega, mu, theta)
    dt_out = period / 160
    s = homogeneous(omega=(omega,), theta=theta, mu=mu, n_dir=1, t_end=1.3 * period,
                    dt_out=dt_out, dt=dt_out / 6)
    recs = _run(s, comm)
    t = np.array([r.time for r in recs])
    pz = np.array([r.polarization[0, 0, 0, 3] for r in recs])
    assert pz.min() < -0.5  # the pendulum swings: large conversion
    # first return of Pz to a maximum after half a period, refined by a parabola
    i = int(np.argmax(np.where(t > 0.5 * period, pz, -np.inf)))
    y0, y1, y2 = pz[i - 1:i + 2]
    t_peak = t[i] + 0.5 * dt_out * (y0 - y2) / (y0 - 2 * y1 + y2)
    assert abs(t_peak / period - 1.0) < 2e-3, (t_peak, period)
    b = np.array([np.sin(2 * theta), 0.0, -np.cos(2 * theta)])
    energies = []
    for r in recs:
        p, pb = r.polarization[0, 0, 0, 1:], r.polarization[1, 0, 0, 1:]
        energies.append(omega * b @ (p + pb) + 0.5 * mu * np.sum((p - pb) ** 2))
    assert np.ptp(energies) < 1e-6 * mu


def test_rk4_order_in_time(comm):
    errs = []
    for dt in (0.2, 0.1):
        s = homogeneous(omega=(2.0,), theta=0.4, t_end=4.0, dt_out=0.8, dt=dt)
        rec = _run(s, comm)[-1]
        surv = 1.0 - np.sin(0.8) ** 2 * np.sin(2.0 * rec.time / 2) ** 2
        errs.append(abs(0.5 * (rec.polarization[0, 0, 0, 0] + rec.polarization[0, 0, 0, 3]) - surv))
    order = np.log2(errs[0] / errs[1])
    assert 3.7 < order < 4.5, (errs, order)
