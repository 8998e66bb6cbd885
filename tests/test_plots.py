"""Figures (nmbhpc.plots, ``nmbhpc plot``, ``nmbhpc compare --plot``) drawn from small
real run files of every solver and from kinetic files; checked on the figure objects
(lines, keys, colours, units, error bands), not on pixels."""
from __future__ import annotations

import os
import struct
from types import SimpleNamespace

import numpy as np
import pytest
from mpi4py import MPI

from nmbhpc.cli import main as cli_main
from nmbhpc.io import read_run
from nmbhpc.kinetics.output import read_kinetics
from nmbhpc.plots import kinetics, runs, style
from nmbhpc.stack import import_h5py

SOLVERS = ("manybody", "meanfield", "cumulant", "twa")
N_MODES = 4
MAGIC = {".png": b"\x89PNG\r\n\x1a\n", ".pdf": b"%PDF", ".svg": b"<?xml"}

# one single-angle model (split spectrum) for every solver
RUN = """solver = "{solver}"
[model]
theta = 0.161
mu = 2.0
[model.generator]
kind = "single_angle"
n_modes = 4
n_per_mode = 1
omega0 = 1.0
states = "split"
[meanfield]
twa_samples = 24
seed = 5
[output]
t_final = 1.5
n_out = 16
"""

# the bipolar pendulum, inverted: the nu_e beam (mode 0) has omega = -1, the nubar_e beam +1
BIPOLAR = """solver = "manybody"
[model]
theta = 0.01
mu = 10.0
[model.generator]
kind = "two_beam"
n_nu = 4
n_nubar = 4
omega = 1.0
hierarchy = "inverted"
flavor = "e"
[output]
t_final = 3.0
n_out = 16
"""

# a fast-flavor box; the first line is the comment the Richers presets carry
OMEGA0 = 9.418e10  # s^-1
KINETIC = """{comment}
[kinetics.grid]
nx = 12
length = 10.0
n_dir = 2
[kinetics.physics]
omega = [0.0]
theta = 0.0
lambda = 0.0
mu = 1.0
[kinetics.nu]
n_e = 1.0
shape = "linear"
parameter = 1.0
[kinetics.nubar]
n_e = 1.0
shape = "linear"
parameter = -1.0
[kinetics.perturbation]
kind = "random"
amplitude = 1e-6
seed = 1
[kinetics.time]
t_end = 1.0
output_interval = 0.25
snapshot_times = [1.0]
"""
SCALE_COMMENT = "# Units: omega0 = mu = sqrt(2) G_F n = 9.418e10 s^-1, i.e. 1/omega0 = 1.0618e-11 s"

QUIET = ["--log-level", "ERROR"]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """Collective: run files of the four solvers and two kinetic files (with and
    without the physical scale) in a directory shared by every rank."""
    comm = MPI.COMM_WORLD
    path = str(tmp_path_factory.mktemp("plots")) if comm.Get_rank() == 0 else None
    path = comm.bcast(path, root=0)
    jobs = [("run", s, RUN.format(solver=s)) for s in SOLVERS] + [("run", "bipolar", BIPOLAR)]
    jobs += [("kinetics", "kin_cgs", KINETIC.format(comment=SCALE_COMMENT)),
             ("kinetics", "kin_code", KINETIC.format(comment="# no physical scale"))]
    files = {}
    for command, name, text in jobs:
        cfg = os.path.join(path, f"{name}.toml")
        if comm.Get_rank() == 0:
            with open(cfg, "w") as fh:
                fh.write(text)
        comm.Barrier()
        files[name] = os.path.join(path, f"{name}.h5")
        assert cli_main([command, cfg, "-o", files[name]] + QUIET) == 0
    return SimpleNamespace(dir=path, files=files)


def _rank0():
    return MPI.COMM_WORLD.Get_rank() == 0


def _runs(study):
    return [read_run(study.files[s]) for s in SOLVERS]


def _mode_panels(fig):
    return [ax for ax in fig.axes if ax.get_title().startswith("p = ")]


def _key(fig):
    legend = fig.legends[0]
    return legend.get_title().get_text(), [t.get_text() for t in legend.get_texts()]


def _stderr(path):
    with import_h5py().File(path, "r") as f:
        return f[runs.TWA_STDERR][()]


def _png_width(path) -> int:
    with open(path, "rb") as fh:
        head = fh.read(24)
    return struct.unpack(">I", head[16:20])[0]


def _rgb(c):
    import matplotlib.colors as mc

    return mc.to_rgb(c)


def test_survival_shows_every_mode_with_a_key_and_twa_band(study):
    if not _rank0():
        return
    data = _runs(study)
    fig = runs.time_series(data, "survival")
    panels = _mode_panels(fig)
    assert len(panels) == N_MODES
    assert sum(len(ax.lines) for ax in panels) == N_MODES * len(SOLVERS)
    title, texts = _key(fig)
    assert title.startswith(f"all {N_MODES} modes")
    for s in SOLVERS:
        assert any(t.startswith(f"{s}.h5") for t in texts)
    assert r"TWA $\pm$ 1 standard error" in texts
    for ax, p in zip(panels, range(N_MODES)):
        assert ax.get_title().startswith(f"p = {p}:")
        # each line is a solver's own nu_e probability: the writer's /modes/nue_fraction
        for line, run in zip(ax.lines, data):
            assert _rgb(line.get_color()) == _rgb(style.SOLVER_COLORS[run.attrs["solver"]])
            np.testing.assert_allclose(line.get_ydata(), run.nue_fraction[:, p], atol=1e-14)
        # the band is the TWA mean +- one standard error of P^z, halved for (1 + P^z)/2
        (band,) = ax.collections
        verts = band.get_paths()[0].vertices
        err = _stderr(study.files["twa"])[:, p, 2]
        assert np.isclose(verts[:, 1].max() - verts[:, 1].min(),
                          np.ptp(np.concatenate([data[3].nue_fraction[:, p] - err / 2,
                                                 data[3].nue_fraction[:, p] + err / 2])))
        assert err.max() > 0
    bottom = [ax for ax in panels if ax.get_xlabel()]
    assert bottom and all("1/\\omega_0" in ax.get_xlabel() for ax in bottom)
    assert "probability" in panels[0].get_ylabel()
    style.save(fig, os.path.join(study.dir, "survival.png"))


def test_antineutrino_modes_show_their_nubar_e_probability(study):
    """The inverted two-beam model has its nu_e beam at omega < 0: the species comes from
    Mode.species of the stored config, not from the sign; the nubar_e probability is
    1 - /modes/nue_fraction."""
    if not _rank0():
        return
    run = read_run(study.files["bipolar"])
    assert run.modes.omega[0] < 0 < run.modes.omega[1]
    fig = runs.time_series([run], "survival")
    p0, p1 = _mode_panels(fig)
    assert p0.get_title().endswith(r"starts $\nu_e$") and p1.get_title().endswith(r"starts $\bar\nu_e$")
    np.testing.assert_allclose(p0.lines[0].get_ydata(), run.nue_fraction[:, 0], atol=1e-14)
    np.testing.assert_allclose(p1.lines[0].get_ydata(), 1 - run.nue_fraction[:, 1], atol=1e-14)
    assert p0.lines[0].get_ydata()[0] == pytest.approx(1) and p1.lines[0].get_ydata()[0] == pytest.approx(1)
    assert p0.lines[0].get_ydata().min() < 0.99                 # the pendulum swings
    fractions = runs.species_fractions(run)
    np.testing.assert_allclose(fractions["nu_e"], run.nue_fraction[:, 0], atol=1e-14)
    np.testing.assert_allclose(fractions["nubar_e"], 1 - run.nue_fraction[:, 1], atol=1e-14)
    style.save(fig, os.path.join(study.dir, "bipolar_survival.png"))
    style.save(runs.spectrum([run]), os.path.join(study.dir, "bipolar_spectrum.png"))


def test_mode_selection_is_drawn_and_named(study):
    if not _rank0():
        return
    data = _runs(study)[:2]
    fig = runs.time_series(data, "polarization", modes=[0, 2])
    panels = _mode_panels(fig)
    assert [ax.get_title()[:5] for ax in panels] == ["p = 0", "p = 2"]
    assert sum(len(ax.lines) for ax in panels) == 2 * 2
    assert _key(fig)[0].startswith(f"modes 0, 2 of {N_MODES}")
    np.testing.assert_array_equal(panels[1].lines[0].get_ydata(), data[0].polarization[:, 2, 2])
    assert "flavor" in panels[0].get_ylabel()
    style.save(fig, os.path.join(study.dir, "polarization_modes.png"))
    with pytest.raises(ValueError, match="--modes"):
        runs.time_series(data, "polarization", modes=[N_MODES])
    assert runs.parse_modes("0-2,5") == [0, 1, 2, 5]
    with pytest.raises(ValueError, match="'x'"):
        runs.parse_modes("1,x")


def test_spectrum_is_final_nue_probability_vs_omega(study):
    if not _rank0():
        return
    data = _runs(study)
    fig = runs.spectrum(data)
    (ax,) = fig.axes
    lines = {line.get_label(): line for line in ax.lines}
    lines.update({c.get_label(): c.lines[0] for c in ax.containers})   # error-bar runs
    assert any(k.startswith("initial") for k in lines)
    for run in data:
        (line,) = [ln for k, ln in lines.items() if k.startswith(os.path.basename(run.path))]
        order = np.argsort(run.modes.omega)
        np.testing.assert_allclose(line.get_xdata(), run.modes.omega[order])
        np.testing.assert_allclose(line.get_ydata(), run.nue_fraction[-1, order], atol=1e-14)
        assert _rgb(line.get_color()) == _rgb(style.SOLVER_COLORS[run.attrs["solver"]])
    # TWA gets error bars of its standard errors
    (bars,) = ax.containers
    seg = bars.lines[2][0].get_segments()
    err = _stderr(study.files["twa"])[-1, np.argsort(data[3].modes.omega), 2] / 2
    np.testing.assert_allclose([s[1, 1] - s[0, 1] for s in seg], 2 * err, rtol=1e-12)
    assert "omega_0" in ax.get_xlabel() and "probability" in ax.get_ylabel()
    assert ax.get_legend() is not None
    style.save(fig, os.path.join(study.dir, "spectrum.png"))


def test_same_solver_same_colour_in_every_figure(study, tmp_path):
    if not _rank0():
        return
    from nmbhpc.analysis.compare import compare_runs
    from nmbhpc.analysis.scan_summary import summarize

    data = _runs(study)
    colours = {}

    def collect(fig, name):
        for ax in fig.axes:
            labelled = [(ln.get_label(), ln) for ln in ax.lines]
            labelled += [(c.get_label(), c.lines[0]) for c in ax.containers]
            for label, line in labelled:
                for s in SOLVERS:
                    if label.startswith(f"{s}.h5"):
                        colours.setdefault(s, set()).add((name, _rgb(line.get_color())))
        for legend in fig.legends:
            for handle, text in zip(legend.legend_handles if hasattr(legend, "legend_handles")
                                    else legend.legendHandles, legend.get_texts()):
                for s in SOLVERS:
                    if text.get_text().startswith(f"{s}.h5"):
                        colours.setdefault(s, set()).add((name, _rgb(handle.get_color())))

    collect(runs.time_series(data, "survival"), "survival")
    collect(runs.spectrum(data), "spectrum")
    collect(runs.comparison(data, compare_runs(data, 0.1)), "compare")
    pyplot = style.pyplot()
    before = set(pyplot.get_fignums())
    runs.scan_figures(summarize(data, data[0]), str(tmp_path))
    assert set(pyplot.get_fignums()) == before        # analyze figures are closed
    for s in SOLVERS:
        seen = {rgb for _, rgb in colours[s]}
        assert seen == {_rgb(style.SOLVER_COLORS[s])}, (s, colours[s])
        assert {name for name, _ in colours[s]} == {"survival", "spectrum", "compare"}
    assert len({_rgb(c) for c in style.SOLVER_COLORS.values()}) == len(style.SOLVER_COLORS)
    assert len({_rgb(c) for c in style.SPECIES_COLORS.values()}) == len(style.SPECIES_COLORS)
    pyplot.close("all")


def test_two_runs_of_one_solver_differ_by_line_style(study):
    if not _rank0():
        return
    a = read_run(study.files["meanfield"])
    fig = runs.time_series([a, a], "survival", modes=[1])
    l0, l1 = _mode_panels(fig)[0].lines
    assert l0.get_color() == l1.get_color() and l0.get_linestyle() != l1.get_linestyle()
    style.pyplot().close(fig)


def test_comparison_marks_threshold_and_departures(study):
    if not _rank0():
        return
    from nmbhpc.analysis.compare import compare_runs

    data = _runs(study)
    cmps = compare_runs(data, 0.05)
    fig = runs.comparison(data, cmps, modes=[1, 3])
    panels = _mode_panels(fig)
    assert len(panels) == 2 and sum(len(ax.lines) for ax in panels) == 2 * len(SOLVERS)
    (dev,) = [ax for ax in fig.axes if ax.get_title().startswith("deviation")]
    curves = [ln for ln in dev.lines if len(ln.get_xdata()) > 2]
    assert len(curves) == len(cmps)
    for line, c in zip(curves, cmps):
        np.testing.assert_allclose(line.get_ydata(), np.maximum(c.max_deviation, 1e-16))
    assert any(np.allclose(ln.get_ydata(), 0.05) for ln in dev.lines)   # threshold f
    n_tau = sum(c.departure_time is not None for c in cmps)
    assert n_tau and sum(np.ptp(ln.get_xdata()) == 0 for ln in dev.lines) == n_tau
    title, texts = _key(fig)
    assert title.startswith(f"modes 1, 3 of {N_MODES}") and any("threshold" in t for t in texts)
    assert "1/\\omega_0" in dev.get_xlabel()
    style.save(fig, os.path.join(study.dir, "compare.png"))


def test_kinetics_in_ns_and_cm_when_the_scale_is_known(study):
    if not _rank0():
        return
    run = read_kinetics(study.files["kin_cgs"])
    sc = kinetics.physical_scale(run)
    assert sc.time_factor == pytest.approx(1e9 / OMEGA0, rel=1e-12)
    assert sc.length_factor == pytest.approx(2.99792458e10 / OMEGA0, rel=1e-12)
    fig = kinetics.evolution([run])
    a, b, c = fig.axes
    assert a.get_xlabel() == b.get_xlabel() == r"$t$ [ns]" and c.get_xlabel() == r"$z$ [cm]"
    np.testing.assert_allclose(a.lines[0].get_xdata(), run.time * 1e9 / OMEGA0, rtol=1e-12)
    np.testing.assert_allclose(a.lines[0].get_ydata(), run.number_density[:, 0, 0])
    assert _rgb(a.lines[0].get_color()) == _rgb(style.SPECIES_COLORS["nu_e"])
    assert _rgb(a.lines[1].get_color()) == _rgb(style.SPECIES_COLORS["nubar_e"])
    assert a.lines[1].get_linestyle() == "--"                   # antineutrinos dashed
    np.testing.assert_allclose(c.lines[0].get_xdata(), run.grid["x"] * sc.length_factor)
    assert [t.get_text() for t in a.get_legend().get_texts()][:3] == \
        [r"$\nu_e$", r"$\bar\nu_e$", r"$\nu_x$"]
    style.save(fig, os.path.join(study.dir, "kinetics_cgs.png"))

    code = read_kinetics(study.files["kin_code"])
    assert kinetics.physical_scale(code) is kinetics.CODE_UNITS
    fig = kinetics.evolution([code])
    assert "1/\\omega_0" in fig.axes[0].get_xlabel() and "c/\\omega_0" in fig.axes[2].get_xlabel()
    assert "code units" in fig._suptitle.get_text()
    style.save(fig, os.path.join(study.dir, "kinetics_code.png"))
    # a root attribute wins over the config text
    fake = SimpleNamespace(attrs={"omega0_per_s": 2.0e10}, grid={}, config_toml=SCALE_COMMENT)
    assert kinetics.physical_scale(fake).time_factor == pytest.approx(1e9 / 2.0e10)
    assert kinetics.physical_scale(fake).source == "attribute omega0_per_s"


@pytest.mark.parametrize("suffix", [".png", ".pdf", ".svg"])
def test_save_writes_the_format_of_the_suffix(study, tmp_path, suffix):
    if not _rank0():
        return
    fig = runs.spectrum(_runs(study)[:1])
    path = style.save(fig, tmp_path / f"f{suffix}")
    assert open(path, "rb").read(len(MAGIC[suffix])) == MAGIC[suffix]
    assert not style.pyplot().get_fignums() or fig.number not in style.pyplot().get_fignums()


def test_save_dpi_and_bad_suffix(study, tmp_path):
    if not _rank0():
        return
    data = _runs(study)[:1]
    lo = style.save(runs.spectrum(data), tmp_path / "lo.png", dpi=60)
    hi = style.save(runs.spectrum(data), tmp_path / "hi.png", dpi=120)
    assert _png_width(hi) == pytest.approx(2 * _png_width(lo), rel=0.05)
    with pytest.raises(ValueError, match="x.jpg"):
        style.save(runs.spectrum(data), tmp_path / "x.jpg")


@pytest.mark.parametrize("kind,suffix", [("survival", ".png"), ("polarization", ".svg"),
                                         ("spectrum", ".pdf"), ("kinetics", ".png")])
def test_plot_command_writes_each_kind(study, kind, suffix, capsys):
    inputs = ([study.files["kin_cgs"]] if kind == "kinetics"
              else [study.files[s] for s in SOLVERS])
    out = os.path.join(study.dir, f"cli_{kind}{suffix}")
    assert cli_main(["plot", *inputs, "--kind", kind, "-o", out, "--dpi", "90"]) == 0
    MPI.COMM_WORLD.Barrier()
    assert open(out, "rb").read(len(MAGIC[suffix])) == MAGIC[suffix]
    if _rank0():
        assert f"plot: {out}" in capsys.readouterr().out
    else:
        assert capsys.readouterr().out == ""             # only rank 0 prints


def test_compare_writes_pdf_with_selected_modes(study):
    out = os.path.join(study.dir, "cmp.pdf")
    assert cli_main(["compare", study.files["manybody"], study.files["cumulant"],
                     "--plot", out, "--modes", "0,3", "--dpi", "200"]) == 0
    MPI.COMM_WORLD.Barrier()
    assert open(out, "rb").read(4) == b"%PDF"


@pytest.mark.parametrize("argv,message", [
    (["plot", "{manybody}", "--modes", "7", "-o", "{dir}/x.png"], "--modes: [7] outside 0..3"),
    (["plot", "{manybody}", "--kind", "kinetics", "-o", "{dir}/x.png"], "needs kinetic run files"),
    (["plot", "{kin_cgs}", "--kind", "spectrum", "-o", "{dir}/x.png"], "is a kinetic file"),
    (["plot", "{manybody}", "-o", "{dir}/x.jpg"], "unknown figure format"),
    (["compare", "{manybody}", "{twa}", "--plot", "{dir}/x.png", "--modes", "a"], "'a'"),
])
def test_bad_figure_requests_are_one_line_usage_errors(study, capsys, argv, message):
    argv = [a.format(dir=study.dir, **study.files) for a in argv]
    assert cli_main(argv) == 2
    err = capsys.readouterr().err
    if _rank0():
        assert message in err and len(err.strip().splitlines()) == 1, err
    assert not os.path.exists(os.path.join(study.dir, "x.png"))
