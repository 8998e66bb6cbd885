"""The experiment jobs: parameter tables -> configs, and a tiny end-to-end version of
each experiment (real solvers, real run files, the real base configs of jobs/experiments/).

Runs are collective (every rank runs ``nmbhpc run`` in-process on COMM_WORLD); the
analysis is serial and done on rank 0.
"""
from __future__ import annotations

import os

import pytest

from nmbhpc.cli import main as cli_main
from nmbhpc.analysis.experiments import logn, measures, perturbative, seeding
from nmbhpc.analysis.experiments.table import make_configs, parse_cell, read_table

JOBS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "jobs", "experiments")
EXPERIMENTS = ("logN", "seeding", "perturbative")


def test_parse_cell():
    assert parse_cell(" 10 ") == 10 and isinstance(parse_cell("10"), int)
    assert parse_cell("1e-3") == 1e-3
    assert parse_cell("true") is True
    assert parse_cell("inverted") == "inverted"
    assert parse_cell("") is None


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_shipped_tables_are_valid(name):
    """Every row of every shipped table validates (read_table runs config_from_dict)."""
    for table in ("params.csv", "params_large.csv"):
        path = os.path.join(JOBS, name, table)
        if os.path.exists(path):
            rows = read_table(path)
            assert len({r.run for r in rows}) == len(rows) >= 3


def test_make_configs_writes_rows_in_order(tmp_path):
    (tmp_path / "base.toml").write_text('solver = "meanfield"\n[model]\nmu = 10.0\ntheta = 0.0\n'
                                        '[model.generator]\nkind = "two_beam"\nn_nu = 1\nn_nubar = 1\n'
                                        'hierarchy = "inverted"\n[output]\nt_final = 1.0\nn_out = 3\n')
    (tmp_path / "t.csv").write_text("# comment\nrun,model.theta,model.generator.n_nu,output.n_out\n"
                                    "b,1e-3,4,\na,2e-3,,5\n")
    paths = make_configs(str(tmp_path / "t.csv"), str(tmp_path / "cfg"))
    assert [os.path.basename(p) for p in paths] == ["b.toml", "a.toml"]
    assert (tmp_path / "cfg" / "runs.txt").read_text() == "b\na\n"
    from nmbhpc.config import load_config

    b, a = (load_config(p) for p in paths)
    assert b.model.theta == 1e-3 and b.model.counts.tolist() == [4, 1] and len(b.output.times) == 3
    assert a.model.theta == 2e-3 and a.model.counts.tolist() == [1, 1] and len(a.output.times) == 5


@pytest.mark.parametrize("csv, match", [
    ("run,model.mu\nx,1\nx,2\n", "duplicate"),
    ("run,model.muu\nx,1\n", "muu"),
    ("name,model.mu\nx,1\n", "'run' column"),
    ("run,model.mu\nx y,1\n", "bad run name"),
])
def test_table_errors(tmp_path, csv, match):
    (tmp_path / "base.toml").write_text('[model]\nmu = 1.0\n[model.generator]\nkind = "two_beam"\n'
                                        'n_nu = 1\nn_nubar = 1\nhierarchy = "normal"\n'
                                        '[output]\nt_final = 1.0\nn_out = 2\n')
    (tmp_path / "t.csv").write_text(csv)
    with pytest.raises(ValueError, match=match):
        read_table(str(tmp_path / "t.csv"))


def _run_tiny(comm, workdir, name: str, csv: str):
    """make-configs (rank 0) and every row via ``nmbhpc run`` on all ranks. Collective."""
    table = os.path.join(workdir, "tiny.csv")
    cfgdir = os.path.join(workdir, "configs")
    rundir = os.path.join(workdir, "runs")
    if comm.Get_rank() == 0:
        with open(table, "w") as fh:
            fh.write(csv)
        assert cli_main(["experiment", "make-configs", table, cfgdir,
                         "--base", os.path.join(JOBS, name, "base.toml")]) == 0
        os.makedirs(rundir)
    comm.Barrier()
    with open(os.path.join(cfgdir, "runs.txt")) as fh:
        runs = fh.read().split()
    for run in runs:
        rc = cli_main(["run", os.path.join(cfgdir, f"{run}.toml"), "-o",
                       os.path.join(rundir, f"{run}.h5"), "--log-level", "WARNING"])
        assert rc == 0
    comm.Barrier()
    return rundir


def _on_root(comm, fn):
    """fn() on rank 0, its result (or exception text) broadcast. Collective."""
    out = err = None
    if comm.Get_rank() == 0:
        try:
            out = fn()
        except Exception as exc:  # re-raised on every rank, so no rank hangs
            err = repr(exc)
    out, err = comm.bcast((out, err), root=0)
    if err:
        pytest.fail(err)
    return out


def test_tiny_logn_end_to_end(comm, shared_tmp_path):
    rows = "".join(f"mb_N{n},manybody,{n // 2},{n // 2},3.0,61\n" for n in (40, 80, 160, 320))
    rows += "".join(f"cum_N{n},cumulant,{n // 2},{n // 2},3.0,61\n" for n in (40, 320))
    rows += "twa_N320,twa,160,160,3.0,31\n"
    rundir = _run_tiny(comm, str(shared_tmp_path), "logN",
                       "run,solver,model.generator.n_nu,model.generator.n_nubar,output.t_final,"
                       "output.n_out\n"
                       + rows)
    resdir = str(shared_tmp_path / "res")

    def analyze():
        assert cli_main(["experiment", "analyze", "logN", rundir, "-o", resdir, "--fit-min-n", "40"]) == 0
        return logn.analyze(measures.load_runs(rundir), resdir, fit_min_n=40)

    res = _on_root(comm, analyze)
    fit = {(f["solver"], f["measure"]): f for f in res["fits"]}[("manybody", "tau_conv")]
    # exact quantum seeding: slope within 15 % of 1/(2 Omega) already at N = 40..320
    assert res["omega"] == pytest.approx(2.0)
    assert fit["ratio_b*2Omega"] == pytest.approx(1.0, abs=0.15)
    assert {r["solver"] for r in res["runs"]} == {"manybody", "cumulant", "twa"}
    assert all(r["tau_conv"] is not None for r in res["runs"])
    assert os.path.getsize(os.path.join(resdir, "logN.png")) > 0


def test_tiny_seeding_end_to_end(comm, shared_tmp_path):
    rows = "".join(f"mf_{i},meanfield,{th},1,1,9.0,181\n" for i, th in enumerate((1e-7, 1e-6, 1e-5, 1e-4)))
    rows += "".join(f"mb_N{n},manybody,0.0,{n // 2},{n // 2},3.0,61\n" for n in (40, 80, 160))
    rundir = _run_tiny(comm, str(shared_tmp_path), "seeding",
                       "run,solver,model.theta,model.generator.n_nu,model.generator.n_nubar,"
                       "output.t_final,output.n_out\n" + rows)
    res = _on_root(comm, lambda: seeding.analyze(measures.load_runs(rundir),
                                                 str(shared_tmp_path / "res"), fit_min_n=40))
    # Eq. (29): the classical pendulum's tau grows like -ln(theta0)/Omega
    assert res["fit"][0]["ratio_-B*Omega"] == pytest.approx(1.0, abs=0.05)
    assert len([q for q in res["quantum"] if q["theta0_equiv"] is not None]) == 3
    assert res["summary"]["c_mean"] > 0


def test_tiny_perturbative_end_to_end(comm, shared_tmp_path):
    rows = "".join(f"{h[:3]}_N{n},{h},{n // 2},{n // 2},41\n" for h in ("normal", "inverted")
                   for n in (20, 40, 80))
    rundir = _run_tiny(comm, str(shared_tmp_path), "perturbative",
                       "run,model.generator.hierarchy,model.generator.n_nu,model.generator.n_nubar,"
                       "output.n_out\n" + rows)
    res = _on_root(comm, lambda: perturbative.analyze(measures.load_runs(rundir),
                                                      str(shared_tmp_path / "res"), g_values=(5.0, 20.0)))
    fits = {(f["model"].split()[0], f["g"]): f["exponent"] for f in res["fits"]}
    # stable: 1/N (Friedland-Lunardini); unstable at g = 20 (t = 2 > ln N / (2 Omega)): not 1/N
    assert fits[("stable", 5.0)] == pytest.approx(-1.0, abs=0.1)
    assert fits[("stable", 20.0)] == pytest.approx(-1.0, abs=0.1)
    assert fits[("unstable", 20.0)] > -0.5


def test_make_configs_without_base_says_how_to_give_one(tmp_path):
    (tmp_path / "tiny.csv").write_text("run,model.theta\na,1e-3\n")
    with pytest.raises(ValueError, match=r"config error at .*no base config: put base\.toml next to"):
        make_configs(str(tmp_path / "tiny.csv"), str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()
