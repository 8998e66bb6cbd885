"""Analysis of the Sec. IV experiments on synthetic data with known answers.

No solver runs here: trajectories are written down in closed form, so the fitted
slopes, equivalent angles and exponents are known exactly (up to interpolation
between output times, far below the tolerances used).
"""
from __future__ import annotations

import numpy as np
import pytest

from nmbhpc.analysis.experiments import logn, measures, perturbative, seeding
from nmbhpc.analysis.experiments.fits import fit_line, fit_power_law
from nmbhpc.physics.generators import two_beam
from nmbhpc.physics.model import Model
from nmbhpc.physics.schedule import MuSchedule

MU = 10.0
OMEGA = 2.0      # bipolar, omega = 1, mu = 10: sqrt(1 * (mu/2 - 1))


def test_fit_line_recovers_parameters_within_errors():
    rng = np.random.default_rng(7)
    x = np.linspace(0.0, 10.0, 40)
    sigma = 0.3
    pulls = []
    for _ in range(200):
        y = 1.5 + 0.25 * x + sigma * rng.standard_normal(x.size)
        fit = fit_line(x, y)
        pulls.append(((fit.a - 1.5) / fit.sigma_a, (fit.b - 0.25) / fit.sigma_b))
        # the scatter-based error estimates the true one (sigma / sqrt(Sxx))
        assert fit.sigma_b == pytest.approx(sigma / np.sqrt(((x - x.mean()) ** 2).sum()), rel=0.4)
    pulls = np.array(pulls)
    assert np.abs(pulls.mean(axis=0)).max() < 0.3
    assert pulls.std(axis=0) == pytest.approx([1.0, 1.0], rel=0.2)


def test_fit_line_weighted_and_exact():
    x = np.array([0.0, 1.0, 2.0, 3.0])
    fit = fit_line(x, 2.0 - 3.0 * x, sigma=np.full(4, 0.5))
    assert (fit.a, fit.b) == pytest.approx((2.0, -3.0))
    # absolute sigma: cov = (X^T W X)^-1, independent of the (zero) residuals
    X = np.stack([np.ones(4), x], axis=1)
    assert fit.cov == pytest.approx(np.linalg.inv(X.T @ X / 0.25))
    xs, sx = fit.solve_for_x(-4.0)
    assert xs == pytest.approx(2.0) and sx > 0
    with pytest.raises(ValueError):
        fit_line([1.0, 1.0, 1.0], [1.0, 2.0, 3.0])


def test_power_law_exponent():
    n = np.geomspace(10, 1e5, 9)
    pl = fit_power_law(n, 3.0 / n * np.exp(0.01 * np.sin(n)))
    assert pl.exponent == pytest.approx(-1.0, abs=0.01)
    assert abs(pl.exponent + 1.0) < 4 * pl.sigma_exponent + 1e-3
    assert pl.prefactor == pytest.approx(3.0, rel=0.05)


def _bipolar(n: int, hierarchy="inverted", theta=0.0) -> Model:
    return Model(modes=two_beam(n // 2, n // 2, 1.0, hierarchy), theta=theta,
                 mu=MuSchedule(mu0=MU), single_angle=True, name="two_beam")


def _run(name, solver, n, conv, t, theta=0.0, hierarchy="inverted"):
    """A run whose conversion fraction is ``conv(t)`` (P^z = +-(1 - 2C), no transverse part)."""
    c = conv(t)
    pol = np.zeros((t.size, 2, 3))
    pol[:, 0, 2] = 1.0 - 2.0 * c
    pol[:, 1, 2] = -(1.0 - 2.0 * c)
    return measures.RunInfo(f"{name}.h5", name, solver, n, theta, MU,
                            _bipolar(n, hierarchy, theta), t, pol)


def test_bipolar_is_unstable_fixed_point():
    m = _bipolar(100)
    assert measures.is_fixed_point(m)
    assert measures.growth_rate(m) == pytest.approx(OMEGA)
    assert measures.growth_rate(_bipolar(100, "normal")) == 0.0
    assert not measures.is_fixed_point(_bipolar(100, theta=0.1))


def test_logn_recovers_half_inverse_omega(tmp_path):
    # C(t) = k (e^{2 Omega t} - 1) / N (C(0) = 0 as in a real run) reaches f at
    # tau = ln(f N / k + 1) / (2 Omega): slope -> 1/(2 Omega) for large N
    t = np.linspace(0.0, 6.0, 1201)
    ns = np.array([100, 1000, 10000, 100000])
    conv = lambda k, n: (lambda t: np.minimum(0.5, k * np.expm1(2 * OMEGA * t) / n))  # noqa: E731
    runs = [_run(f"mb_N{n}", "manybody", n, conv(0.3, n), t) for n in ns]
    runs += [_run(f"twa_N{n}", "twa", n, conv(0.6, n), t) for n in ns[:3]]
    res = logn.analyze(runs, str(tmp_path / "out"), f_dep=0.01, f_conv=0.1, fit_min_n=100)
    fits = {(f["solver"], f["measure"]): f for f in res["fits"]}
    for (solver, measure), k, f, nn in ((("manybody", "tau_conv"), 0.3, 0.1, ns),
                                        (("manybody", "tau_dep"), 0.3, 0.005, ns),
                                        (("twa", "tau_conv"), 0.6, 0.1, ns[:3])):
        # (tau_dep's f N / k is O(1) at N = 100, so its slope is not yet 1/(2 Omega))
        tau = np.log(f * nn / k + 1) / (2 * OMEGA)
        b, a = np.polyfit(np.log(nn), tau, 1)
        got = fits[(solver, measure)]
        assert (got["a"], got["b"]) == pytest.approx((a, b), abs=2e-4)
        assert got["ratio_b*2Omega"] == pytest.approx(2 * OMEGA * b, abs=1e-3)
        if measure == "tau_conv":
            assert got["ratio_b*2Omega"] == pytest.approx(1.0, abs=0.03)
    for name in ("logN_runs.csv", "logN_fits.csv", "logN.md", "logN.png"):
        assert (tmp_path / "out" / name).stat().st_size > 0


def test_logn_refuses_mixed_models(tmp_path):
    t = np.linspace(0.0, 1.0, 11)
    runs = [_run("a", "manybody", 100, lambda t: 0 * t, t),
            _run("b", "manybody", 100, lambda t: 0 * t, t, hierarchy="normal")]
    with pytest.raises(ValueError, match="different models"):
        logn.analyze(runs, str(tmp_path))


def test_seeding_recovers_slope_and_c(tmp_path):
    # classical: C = theta0^2 (e^{2 Omega t} - 1)  ->  tau ~ ln(f)/(2 Omega) - ln(theta0)/Omega
    # quantum:   C = (e^{2 Omega t} - 1) / N       ->  same tau at theta0 = 1/sqrt(N): c = 1
    t = np.linspace(0.0, 14.0, 2801)
    runs = [_run(f"mf_{th:g}", "meanfield", 2, lambda t, th=th: np.minimum(0.5, th ** 2 * np.expm1(2 * OMEGA * t)),
                 t, theta=th) for th in (1e-9, 1e-7, 1e-5, 1e-3, 10 ** -2.5, 1e-2, 10 ** -1.5, 1e-1)]
    runs += [_run(f"mb_N{n}", "manybody", n, lambda t, n=n: np.minimum(0.5, np.expm1(2 * OMEGA * t) / n), t)
             for n in (1000, 10000, 100000)]
    res = seeding.analyze(runs, str(tmp_path / "s"), f_conv=0.1, fit_min_n=1000)
    # Omega at theta = 0 from the stability analysis of the runs' own model
    assert res["fit"][0]["Omega"] == pytest.approx(OMEGA)
    assert res["fit"][0]["ratio_-B*Omega"] == pytest.approx(1.0, abs=2e-3)
    assert res["summary"]["c_mean"] == pytest.approx(1.0, rel=0.02)
    assert res["summary"]["c_small_angle_at_N_max"] == pytest.approx(1.0, rel=0.01)
    # the scan includes theta0 = 1/sqrt(N) for every N: read off the runs themselves
    assert {q["method"] for q in res["quantum"]} == {"interpolated"}
    for q in res["quantum"]:
        assert q["theta0_equiv"] * np.sqrt(q["N"]) == pytest.approx(1.0, rel=0.02)
    assert res["summary"]["exponent"] == pytest.approx(-0.5, abs=0.01)
    assert (tmp_path / "s" / "seeding.png").stat().st_size > 0


def test_perturbative_exponents(tmp_path):
    # stable: D = 2 sin^2(t)/N at every t -> p = -1; unstable: saturates once e^{2 Omega t} ~ N
    t = np.linspace(0.0, 2.0, 201)
    runs = [_run(f"nor_N{n}", "manybody", n, lambda t, n=n: np.sin(t) ** 2 / n, t, hierarchy="normal")
            for n in (10, 100, 1000, 10000)]
    runs += [_run(f"inv_N{n}", "manybody", n, lambda t, n=n: 0.5 * np.tanh(np.sinh(OMEGA * t) ** 2 / n), t)
             for n in (10, 100, 1000, 10000)]
    res = perturbative.analyze(runs, str(tmp_path / "p"), g_values=(2.0, 20.0), fit_min_n=10)
    fits = {(f["model"].split()[0], f["g"]): f["exponent"] for f in res["fits"]}
    assert fits[("stable", 2.0)] == pytest.approx(-1.0, abs=1e-9)
    assert fits[("stable", 20.0)] == pytest.approx(-1.0, abs=1e-9)
    assert fits[("unstable", 2.0)] == pytest.approx(-1.0, abs=0.01)   # t = 0.2: linear regime
    assert fits[("unstable", 20.0)] > -0.8                            # t = 2: log N regime
