"""``nmbhpc compare`` and nmbhpc.analysis.compare."""
from __future__ import annotations

import numpy as np
import pytest

from meanfield_cases import bipolar, config
from nmbhpc.analysis.compare import compare_polarizations, departure_time, interpolate_series
from nmbhpc.cli import main
from nmbhpc.solvers import solver_class


def test_departure_time_interpolates():
    t = np.array([0.0, 1.0, 2.0, 3.0])
    assert departure_time(t, np.array([0.0, 0.05, 0.15, 0.3]), 0.1) == pytest.approx(1.5)
    assert departure_time(t, np.array([0.0, 0.05, 0.06, 0.07]), 0.1) is None
    assert departure_time(t, np.array([0.2, 0.3, 0.4, 0.5]), 0.1) == 0.0  # starts apart


def test_compare_interpolates_to_reference_times():
    # B is a rotation sampled more finely and on a longer range; its linear interpolant on A's
    # times differs from A by the known interpolation error only
    ta = np.linspace(0.0, 2.0, 5)
    tb = np.linspace(-1.0, 3.0, 4001)
    rot = lambda t: np.stack([np.sin(t), 0 * t, np.cos(t)], axis=-1)[:, None, :]  # noqa: E731
    cmp = compare_polarizations(ta, rot(ta), tb, rot(tb), 0.1)
    assert np.allclose(cmp.time, ta)
    assert cmp.max_deviation.max() < 1e-6 and cmp.departure_time is None
    cmp2 = compare_polarizations(ta, rot(ta), tb, rot(1.2 * tb), 0.1)
    # |rot(t) - rot(1.2 t)| = 2 sin(0.1 t) > 0.1  for t > 0.5002
    assert cmp2.departure_time == pytest.approx(0.5002, abs=0.03)
    with pytest.raises(ValueError):
        compare_polarizations(ta, rot(ta), tb, np.zeros((len(tb), 2, 3)), 0.1)
    assert np.allclose(interpolate_series(np.array([0.0, 1.0]), np.array([[0.0], [2.0]]), np.array([0.25])), 0.5)


def _write_run(path, cfg, comm):
    from nmbhpc.io.run_writer import RunWriter

    solver = solver_class(cfg.solver)(cfg, comm)
    with RunWriter.create(path, comm, cfg, force=True, flush_interval=60.0) as writer:
        # as nmbhpc run does: the solver's description as root attributes solver_*
        writer.set_attrs(**{f"solver_{k}": v for k, v in solver.describe().items() if k != "solver"})
        for rec in solver.records():
            writer.append(rec)


def test_compare_command(comm, shared_tmp_path, capsys):
    pytest.importorskip("matplotlib")
    model = bipolar(10, w=-0.5, mu=4.0, theta=0.01)
    times = np.linspace(0.0, 3.0, 16)
    a, b = str(shared_tmp_path / "mf.h5"), str(shared_tmp_path / "cum.h5")
    _write_run(a, config(model, times, solver="meanfield"), comm)
    _write_run(b, config(model, times, solver="cumulant"), comm)
    png = str(shared_tmp_path / "cmp.png")
    comm.Barrier()
    assert main(["compare", a, b, "--fraction", "0.1", "--plot", png]) == 0
    comm.Barrier()
    out = capsys.readouterr().out
    if comm.Get_rank() == 0:
        assert "cumulant" in out and "tau" in out
        with open(png, "rb") as fh:
            assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
        # cumulant leaves mean field's unstable equilibrium (quantum noise), so tau is finite
        line = [ln for ln in out.splitlines() if ln.startswith(b)][0]
        assert line.split()[-1] != "never"
    # a TWA run of 2 samples starts apart from mean field (sample-mean noise ~ 1/sqrt(2 j S)
    # = 0.22 > f): no departure time, and the output says why
    c = str(shared_tmp_path / "twa.h5")
    _write_run(c, config(model, times, solver="twa", twa_samples=2), comm)
    comm.Barrier()
    assert main(["compare", a, c, "--fraction", "0.1"]) == 0
    out = capsys.readouterr().out
    if comm.Get_rank() == 0:
        line = [ln for ln in out.splitlines() if ln.startswith(c)][0]
        assert line.split()[-2:] == ["at", "start*"], out
        assert "2 TWA samples" in out and "1/sqrt(2 j S) = 0.22" in out
    assert main(["compare", a]) == 2
    assert main(["compare", a, str(shared_tmp_path / "missing.h5")]) == 2
