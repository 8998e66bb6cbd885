"""nmbhpc.hierarchy: the scales of Eqs. (11), (12), (17), (19) and the CLI.

Pure arithmetic (no MPI communication): every rank computes the same thing.
Independent checks use published numbers: the matter potential
sqrt(2) G_F n_e = 7.63e-14 eV * Y_e rho/(g cm^-3) and the weak cross-section
unit sigma_0 = 4 G_F^2 m_e^2 (hbar c)^2 / pi = 1.761e-44 cm^2 (e.g. Giunti &
Kim, Fundamentals of Neutrino Physics and Astrophysics, 2007).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from nmbhpc import cli
from nmbhpc.hierarchy import (
    PRESETS, Conditions, ConditionsError, Inequality, check_window, coupling_g, cross_section,
    format_table, gf_e2, inequalities, matter_potential, physical_table, preset, run_hierarchy,
    run_inequalities, self_energy, table_arrays, tau_collision, tau_forward, tau_int, value,
)
from nmbhpc.physics.constants import FD_MEAN_ENERGY_OVER_T, HBARC_MEV_CM
from nmbhpc.physics.model import Mode, Model
from nmbhpc.physics.schedule import MuSchedule
from nmbhpc.settings import OutputSettings, RunConfig

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


# --- physical scales --------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_reproduce_papers_estimate(name):
    """Sec. III: Sigma/E ~ 1e-12 at E ~ 10 MeV in a supernova or merger."""
    c = PRESETS[name]
    assert c.mean_energy == 10.0
    rows = physical_table(c)
    assert 1e-13 < value(rows, "Sigma/E") < 1e-11
    assert 1e32 <= c.neutrino_density <= 1e33
    # and the hierarchy without the elapsed time holds there
    assert inequalities(c)[2].holds is True


def test_matter_potential_published_value():
    """sqrt(2) G_F n_e = 7.63e-14 eV for rho = 1 g/cm^3, Y_e = 1 (independent number)."""
    c = Conditions(energy=1.0, density=1.0, mass_density=1.0, electron_fraction=1.0)
    assert matter_potential(c) * 1e6 == pytest.approx(7.63e-14, rel=2e-3)


def test_cross_section_published_value():
    """sigma_0 = 4 G_F^2 m_e^2 (hbar c)^2 / pi = 1.761e-44 cm^2 (independent number)."""
    c = Conditions(energy=0.51099895, density=1.0)
    assert 4.0 / math.pi * cross_section(c) == pytest.approx(1.761e-44, rel=2e-3)


def test_gf_e2_and_natural_unit_conversions():
    c = Conditions(energy=10.0, density=1e32)
    assert gf_e2(c) == pytest.approx(1.1663788e-9)
    assert tau_int(Conditions(energy=1.0, density=1.0)) == pytest.approx(6.582119569e-22)
    # 1/E as a length: hbar c / (197.3269804 MeV) = 1 fm
    assert Conditions(energy=197.3269804, density=1.0).interaction_volume == pytest.approx(1e-39)


def test_dimensionless_identities():
    """Unit conversions must make these identities exact (Eqs. 11, 12, 19)."""
    c = Conditions(energy=7.0, density=3e31, electron_density=2e34)
    E = c.mean_energy
    # Eq. (19) with t = 1/E, V = E^-3
    assert coupling_g(c) == pytest.approx(math.sqrt(2) * gf_e2(c), rel=1e-12)
    # Eq. (11): tau_int / tau_mfp^fs is Sigma/E, and Sigma/E = g * (n V)
    assert tau_int(c) / tau_forward(c) == pytest.approx(self_energy(c) / E, rel=1e-12)
    assert self_energy(c) / E == pytest.approx(coupling_g(c) * c.neutrino_density
                                               * c.interaction_volume, rel=1e-12)
    # Eq. (12): with one target per de Broglie volume, tau_int/tau_mfp^c = (G_F E^2)^2
    c12 = Conditions(energy=E, density=3e31, target_density=(E / HBARC_MEV_CM) ** 3)
    assert tau_int(c12) / tau_collision(c12) == pytest.approx(gf_e2(c12) ** 2, rel=1e-12)


def test_dimensionless_rows_depend_only_on_gf_e2():
    """Dimensional analysis: with n V fixed (E -> kE, every density -> k^3 density) the
    only dimensionless input is G_F E^2, so each "1" row scales as a power of k^2."""
    k = 3.0
    a = Conditions(energy=5.0, density=1e31, electron_density=1e34, target_density=1e35)
    b = Conditions(energy=5.0 * k, density=1e31 * k**3, electron_density=1e34 * k**3,
                   target_density=1e35 * k**3)
    ra, rb = physical_table(a, t=tau_int(a) * 1e6), physical_table(b, t=tau_int(b) * 1e6)
    powers = {"n V": 0, "G_F E^2": 2, "Sigma/E": 2, "V_matter/E": 2, "g": 2,
              "tau_mfp^fs/tau_mfp^c": 2, "tau_int/tau_mfp^c": 4, "(G_F E^2)^2": 4,
              "tau_int/t": 0, "t/tau_mfp^fs": 2, "t/tau_mfp^c": 4, "g(t)": 2}
    assert {r.name for r in ra if r.unit == "1"} == set(powers)
    for name, p in powers.items():
        assert value(rb, name) == pytest.approx(value(ra, name) * k ** p, rel=1e-12), name


def test_scalings():
    base = Conditions(energy=10.0, density=1e32, target_density=1e35)
    double_n = Conditions(energy=10.0, density=2e32, target_density=1e35)
    double_e = Conditions(energy=20.0, density=1e32, target_density=1e35)
    assert self_energy(double_n) == pytest.approx(2 * self_energy(base))
    assert tau_forward(double_n) == pytest.approx(tau_forward(base) / 2)
    assert tau_collision(double_e) == pytest.approx(tau_collision(base) / 4)   # E^-2
    assert tau_int(double_e) == pytest.approx(tau_int(base) / 2)
    assert self_energy(double_e) == pytest.approx(self_energy(base))           # E-independent


def test_temperature_and_luminosity_inputs():
    c = Conditions(temperature=4.0, luminosity=1e52, radius=30.0)
    assert FD_MEAN_ENERGY_OVER_T == pytest.approx(3.1514, abs=1e-4)
    assert c.mean_energy == pytest.approx(3.1514 * 4.0, rel=1e-4)
    # n = L / (4 pi r^2 c <E>) by hand in cgs
    e_erg = c.mean_energy * 1.602176634e-6
    assert c.neutrino_density == pytest.approx(1e52 / (4 * math.pi * (30e5) ** 2 * 2.99792458e10 * e_erg))


def test_matter_and_targets():
    c = Conditions(energy=10.0, density=1e32, mass_density=1e12, electron_fraction=0.2)
    assert c.baryon_density == pytest.approx(1e12 / 1.66053906660e-24)
    assert c.n_electrons == pytest.approx(0.2 * c.baryon_density)
    assert c.collision_targets == pytest.approx(c.baryon_density + c.n_electrons + 1e32)
    c2 = Conditions(energy=10.0, density=1e32, electron_density=1e35, electron_fraction=0.5)
    assert c2.baryon_density == pytest.approx(2e35)
    assert tau_collision(Conditions(energy=10.0, density=1e32, target_density=0.0)) == math.inf


def test_preset_overrides_replace_alternatives():
    c = preset("supernova", temperature=5.0, density=1e33)
    assert c.energy is None and c.luminosity is None and c.radius is None
    assert c.mean_energy == pytest.approx(FD_MEAN_ENERGY_OVER_T * 5.0)
    assert c.mass_density == PRESETS["supernova"].mass_density


@pytest.mark.parametrize("kwargs, field", [
    (dict(energy=-1.0, density=1e32), "energy"),
    (dict(energy=0.0, density=1e32), "energy"),
    (dict(energy=float("nan"), density=1e32), "energy"),
    (dict(density=1e32), "energy"),
    (dict(energy=1.0, temperature=1.0, density=1e32), "energy"),
    (dict(energy=1.0), "density"),
    (dict(energy=1.0, luminosity=1e52), "radius"),
    (dict(energy=1.0, density=1e32, radius=10.0), "density"),
    (dict(energy=1.0, density=1e32, electron_fraction=1.5), "electron_fraction"),
    (dict(energy=1.0, density=1e32, electron_density=1.0, mass_density=1.0), "electron_density"),
    (dict(energy=1.0, density=1e32, elapsed=-1e-3), "elapsed"),
])
def test_bad_conditions_name_the_field(kwargs, field):
    with pytest.raises(ConditionsError) as err:
        Conditions(**kwargs)
    assert err.value.field == field


def test_unknown_preset():
    with pytest.raises(ConditionsError) as err:
        preset("hypernova")
    assert err.value.field == "preset" and "supernova" in str(err.value)


# --- Eq. (17) checker ------------------------------------------------------------

def test_inequalities_hold_inside_window():
    c = PRESETS["supernova"]
    t = math.sqrt(tau_int(c) * tau_forward(c))        # geometric middle of the window
    ineq = inequalities(c, t)
    assert [i.holds for i in ineq] == [True, True, True]
    assert ineq[0].ratio == pytest.approx(tau_int(c) / t)


@pytest.mark.parametrize("t, fails", [(1e-6, 1), (1e-24, 0)])
def test_inequalities_fail_outside_window(t, fails):
    holds = [i.holds for i in inequalities(PRESETS["supernova"], t)]
    assert holds[fails] is False
    assert holds[1 - fails] is True


def test_inequalities_fail_without_separation_and_threshold():
    # so many collision partners that collisions outpace forward scattering
    c = Conditions(energy=10.0, density=1e32, target_density=1e45)
    assert tau_collision(c) < tau_forward(c)
    assert inequalities(c)[2].holds is False
    # no elapsed time: the first two are undefined, not "holds"
    assert [i.holds for i in inequalities(c)[:2]] == [None, None]
    # a ratio of 0.05 is "<<" for threshold 0.1 but not for 0.01
    assert Inequality.test("a << b", 0.05, 1.0, 0.1).holds is True
    assert Inequality.test("a << b", 0.05, 1.0, 0.01).holds is False
    assert Inequality.test("a << b", 1.0, 0.0, 0.01).holds is False      # a/0 = inf
    assert Inequality.test("a << b", 1.0, math.inf, 0.01).holds is True


def test_table_rendering_and_arrays():
    rows = physical_table(preset("merger", elapsed=1e-9))
    text = format_table(rows, "merger")
    assert "Sigma/E" in text and "tau_mfp^c" in text
    arrays = table_arrays(rows)
    assert arrays["value"].dtype == np.float64 and arrays["value"].shape == (len(rows),)
    assert [n.decode() for n in arrays["name"]] == [r.name for r in rows]
    assert arrays["unit"].shape == arrays["formula"].shape == (len(rows),)


# --- code units -------------------------------------------------------------------

def _config(modes, mu=MuSchedule(mu0=10.0), t_end=10.0, solver="manybody", single_angle=True):
    model = Model(modes=tuple(modes), mu=mu, single_angle=single_angle)
    return RunConfig(model=model, output=OutputSettings(times=np.array([0.0, t_end])), solver=solver)


BIPOLAR = (Mode(50, 1.0, polarization=(0, 0, 1)), Mode(50, -1.0, polarization=(0, 0, -1)))


def test_run_scales_code_units():
    rows = run_hierarchy(_config(BIPOLAR))
    v = {r.name: r.value for r in rows}
    assert v["N"] == 100 and v["t"] == 10.0
    # one mode feels the other half of the gas: c_eff = 1/2, Sigma = (mu/2) c_eff
    assert v["c_eff"] == pytest.approx(0.5)
    assert v["Sigma"] == pytest.approx(2.5)
    assert v["tau_mfp^fs"] == pytest.approx(0.4)
    assert v["t/tau_mfp^fs"] == pytest.approx(25.0)
    assert v["g(t)"] == pytest.approx(10.0 * 10.0 / 200)      # mu t / (2N)
    assert v["tau_vac"] == pytest.approx(1.0)
    # physical ratios carried onto the run's clock (supernova by default)
    c = PRESETS["supernova"]
    assert v["tau_int"] / v["tau_mfp^fs"] == pytest.approx(tau_int(c) / tau_forward(c))
    assert v["tau_mfp^fs"] / v["tau_mfp^c"] == pytest.approx(tau_forward(c) / tau_collision(c))
    assert v["t_lnN"] == pytest.approx(math.log(100) / (2 * max(2.5, math.sqrt(2.5))))


def test_run_scales_time_dependent_mu():
    """A linear mu(t) from 0 to 10 over [0, 2]: integral of mu dt = 10."""
    mu = MuSchedule(kind="table", times=(0.0, 2.0), values=(0.0, 10.0))
    v = {r.name: r.value for r in run_hierarchy(_config(BIPOLAR, mu=mu, t_end=2.0))}
    assert v["max mu"] == pytest.approx(10.0)
    assert v["mu t"] == pytest.approx(10.0, rel=1e-6)
    assert v["g(t)"] == pytest.approx(10.0 / 200, rel=1e-6)


def test_multi_angle_coupling_factor():
    modes = [Mode(1, 1.0, direction=(0, 0, 1)), Mode(1, 1.0, direction=(0, 0, -1))]
    v = {r.name: r.value for r in run_hierarchy(_config(modes, single_angle=False))}
    assert v["c_eff"] == pytest.approx(1.0)        # (1 - p.q) n_q / N = 2 * 1/2


@pytest.mark.parametrize("single_angle", [True, False])
def test_coupling_factor_without_the_matrix_equals_the_dense_sum(single_angle):
    """c_eff in O(M) equals max_p (C n)_p / N with the dense coupling matrix."""
    rng = np.random.default_rng(7)
    dirs = rng.normal(size=(9, 3))
    dirs[3] = dirs[2]                      # two parallel beams: c_pq = 0 exactly
    dirs /= np.linalg.norm(dirs, axis=1)[:, None]
    modes = [Mode(int(n), float(w), direction=tuple(d))
             for n, w, d in zip(rng.integers(1, 6, 9), rng.normal(size=9), dirs)]
    model = Model(modes=tuple(modes), mu=MuSchedule(mu0=1.0), single_angle=single_angle,
                  single_angle_factor=0.7)
    dense = float(np.max(model.couplings() @ model.counts) / model.n_total)
    from nmbhpc.hierarchy.runs import effective_angular_factor

    assert effective_angular_factor(model) == pytest.approx(dense, rel=1e-13, abs=1e-14)


def test_hierarchy_of_many_modes_builds_no_mode_by_mode_matrix(monkeypatch):
    """A million-mode model once asked the coupling matrix for 7 TiB in the hierarchy."""
    def refuse(self):
        raise AssertionError("M x M coupling matrix built")

    monkeypatch.setattr(Model, "couplings", refuse)
    m = 200_000
    modes = [Mode(1, 1.0 + (p % 7)) for p in range(m)]
    v = {r.name: r.value for r in run_hierarchy(_config(modes))}
    assert v["M"] == m and v["c_eff"] == pytest.approx((m - 1) / m)


@pytest.mark.parametrize("mu0, t_end", [(1e308, 10.0), (1e308, 1e300), (1.0, 1e308),
                                        (1e-308, 1.0), (1e300, 1e-300)])
def test_extreme_but_valid_values_give_inf_and_a_warning(mu0, t_end):
    """Overflow ends in inf (or 0) rows and a warning, never an exception or a numpy
    warning; the table still goes into a run file (table_arrays) and prints."""
    import warnings

    config = _config(BIPOLAR, mu=MuSchedule(mu0=mu0), t_end=t_end)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rows = run_hierarchy(config)
        msgs = check_window(config)
        run_inequalities(rows)
        table_arrays(rows)
        format_table(rows)
    v = {r.name: r.value for r in rows}
    overflow = not all(math.isfinite(v[k]) for k in ("max mu", "mu t", "Sigma", "omega t"))
    assert overflow == any("beyond the float64 range" in w for w in msgs)
    if mu0 * t_end > 1e308:
        assert v["mu t"] == math.inf and v["g(t)"] == math.inf and overflow


def test_check_window_collisions():
    short = _config(BIPOLAR, t_end=1.0)
    assert not any("collision" in w for w in check_window(short))
    long = _config(BIPOLAR, t_end=1e7)               # Sigma t ~ 2.5e7 > tau_c/tau_fs ~ 3e5
    assert any("collision time" in w for w in check_window(long))
    # with collisions: Gamma/Sigma small is fine, comparable is flagged
    assert not any("Gamma/Sigma" in w for w in check_window(short, collision_rate=1e-4))
    assert any("Gamma/Sigma" in w for w in check_window(short, collision_rate=1.0))
    rows = run_hierarchy(short, collision_rate=1.0)
    assert run_inequalities(rows)[2].holds is False
    assert run_inequalities(run_hierarchy(short))[2].holds is True


def test_check_window_finite_n_and_g():
    mf = _config(BIPOLAR, t_end=10.0, solver="meanfield")
    assert any("t_lnN" in w for w in check_window(mf))
    assert not any("t_lnN" in w for w in check_window(_config(BIPOLAR, t_end=10.0)))
    assert not any("t_lnN" in w for w in check_window(_config(BIPOLAR, t_end=0.01, solver="meanfield")))
    # g(t) = mu t/(2N): 0.5 at t = 10, 5 at t = 100
    assert not any("g(t)" in w for w in check_window(_config(BIPOLAR, t_end=10.0)))
    assert any("g(t)" in w for w in check_window(_config(BIPOLAR, t_end=100.0)))


# --- command line -------------------------------------------------------------------

@pytest.fixture
def nmbhpc(monkeypatch, capsys):
    """Run ``nmbhpc hierarchy ...`` in-process; return (status, stdout, stderr).

    Only this command is registered so the test does not depend on the others.
    """
    monkeypatch.setattr(cli, "COMMANDS", ("hierarchy",))

    def call(*argv):
        status = cli.main(["hierarchy", *argv])
        out, err = capsys.readouterr()
        return status, out, err
    return call


def _printed_on_rank0(comm, out, *needles):
    if comm.Get_rank() == 0:
        for n in needles:
            assert n in out
    else:
        assert out == ""


def test_cli_preset(nmbhpc, comm):
    status, out, _ = nmbhpc("--preset", "supernova", "--t", "1e-12")
    assert status == 0
    _printed_on_rank0(comm, out, "Sigma/E", "2.333e-12", "tau_int << t", "[holds]", "[FAILS]")


def test_cli_conditions_without_preset(nmbhpc, comm):
    status, out, _ = nmbhpc("--T", "4", "--L", "1e52", "--r", "30", "--ne", "1e35")
    assert status == 0
    _printed_on_rank0(comm, out, "3.1514 T", "L / (4 pi r^2 c <E>)", "[  n/a]")


def test_cli_config(nmbhpc, comm):
    status, out, _ = nmbhpc(str(EXAMPLES / "bipolar.toml"), "--preset", "merger",
                            "--collision-rate", "1")
    assert status == 0
    _printed_on_rank0(comm, out, "code units", "merger", "tau_mfp^fs", "Gamma/Sigma",
                      "window warnings:")


@pytest.mark.parametrize("argv, option", [
    (("--preset", "supernova", "--E", "-1"), "--E"),
    (("--preset", "hypernova"), "--preset"),
    (("--E", "10"), "--n"),
    (("--preset", "merger", "--ye", "2"), "--ye"),
    (("--preset", "merger", "--threshold", "5"), "--threshold"),
    ((), "--preset"),
])
def test_cli_bad_input(nmbhpc, comm, argv, option):
    status, out, err = nmbhpc(*argv)
    assert status == 2                                # on every rank
    assert out == ""
    _printed_on_rank0(comm, err, option, "error")


# --- kinetic solver ---------------------------------------------------------------------

def _kinetic(t_end=10.0, gamma=(0.0, 0.0), scattering=0.0, mu=2.0):
    from nmbhpc.kinetics.settings import (CollisionSettings, KineticSettings, PhysicsSettings,
                                          SpeciesInit, TimeSettings)

    return KineticSettings(
        physics=PhysicsSettings(omega=(0.5, -1.5), weights=(0.5, 0.5), mu=mu,
                                collisions=CollisionSettings(gamma=(gamma, (0.0, 0.0)),
                                                             scattering=scattering)),
        nu=SpeciesInit(n_e=1.0, n_x=0.2), nubar=SpeciesInit(n_e=0.8),
        time=TimeSettings(t_end=t_end, output_interval=1.0))


def test_kinetic_scales_code_units():
    v = {r.name: r.value for r in run_hierarchy(_kinetic())}
    # every neutrino scatters forward on all 2.0 n_ref of nu and nubar: Sigma = mu n_tot
    assert v["n_tot"] == pytest.approx(2.0) and v["Sigma"] == pytest.approx(4.0)
    assert v["tau_mfp^fs"] == pytest.approx(0.25) and v["t/tau_mfp^fs"] == pytest.approx(40.0)
    assert v["tau_vac"] == pytest.approx(1 / 1.5) and v["t"] == 10.0
    c = PRESETS["supernova"]
    assert v["tau_int"] / v["tau_mfp^fs"] == pytest.approx(tau_int(c) / tau_forward(c))
    # collisionless: tau_c mapped from the preset; with collisions: 1 / the fastest rate
    assert v["tau_mfp^fs"] / v["tau_mfp^c"] == pytest.approx(tau_forward(c) / tau_collision(c))
    w = {r.name: r.value for r in run_hierarchy(_kinetic(gamma=(0.1, 0.05), scattering=0.3))}
    assert w["tau_mfp^c"] == pytest.approx(1 / 0.3) and w["Gamma/Sigma"] == pytest.approx(0.075)
    assert [i.holds for i in run_inequalities(run_hierarchy(_kinetic()))] == [True, False, True]


def test_kinetic_window():
    assert check_window(_kinetic()) == []
    long = check_window(_kinetic(t_end=1e7))      # Sigma t = 4e7 > tau_c/tau_fs ~ 3e5
    assert len(long) == 1 and "collision time" in long[0] and "kinetics run" in long[0]
    assert check_window(_kinetic(gamma=(1e-3, 0.0))) == []          # Gamma/Sigma = 2.5e-4
    assert any("Gamma/Sigma" in w for w in check_window(_kinetic(gamma=(0.2, 0.0))))
    # the CLI override counts as the run's collision rate
    assert any("Gamma/Sigma" in w for w in check_window(_kinetic(), collision_rate=1.0))


def test_cli_kinetics_config(nmbhpc, comm):
    status, out, _ = nmbhpc(str(EXAMPLES / "kinetics_ffi.toml"))
    assert status == 0
    _printed_on_rank0(comm, out, "solver kinetics", "mu n_tot", "tau_mfp^c", "window warnings: none",
                      "[FAILS] t << tau_mfp^fs", "not a window warning")
    status, out, err = nmbhpc(str(EXAMPLES / "kinetics_ffi.toml"), "--growth-rate", "0.2")
    assert status == 2 and out == ""
    _printed_on_rank0(comm, err, "--growth-rate")


def test_every_failing_inequality_is_a_warning_or_says_why():
    """The table and the warnings agree: a failing Eq. (17) row is named by a window
    warning, or carries the note that says why it is not one (printed under it)."""
    hot = Conditions(energy=3e5, density=1e33, label="hot")   # G_F E^2 ~ 1: collisions not rare
    cases = [(_config(BIPOLAR, t_end=1e-13), {}),                   # tau_int << t fails
             (_config(BIPOLAR), dict(collision_rate=1.0)),          # Gamma/Sigma = 0.4
             (_config(BIPOLAR), dict(conditions=hot)),
             (_kinetic(), dict(conditions=hot))]
    failed = set()
    for config, kw in cases:
        warnings = check_window(config, **kw)
        for i in run_inequalities(run_hierarchy(config, **kw)):
            if i.holds is False:
                failed.add(i.name)
                assert any(i.name in w for w in warnings) != bool(i.note), (i, warnings)
    assert failed == {"tau_int << t", "t << tau_mfp^fs", "tau_mfp^fs << tau_mfp^c"}
