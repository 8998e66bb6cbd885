"""``nmbhpc study``: one config, several solvers, one comparison; refusals before any run.

Collective: every rank calls the command line in-process (each run uses every rank).
"""
from __future__ import annotations

import os
import tomllib

import numpy as np

import nmbhpc
from nmbhpc.io import read_run

from production_cases import write_config
from test_set_overrides import assert_one_line, call

SOLVERS = ("manybody", "meanfield", "cumulant", "twa")


def test_study_runs_every_solver_then_compares(comm, shared_tmp_path, capsys):
    cfg = write_config(shared_tmp_path, "manybody", comm, t_final=1.0, n_out=5)
    out = shared_tmp_path / "study"
    # refused before any run: nothing is created
    for solvers, needles in [("manybody,meanfeld", ("unknown solver", "did you mean 'meanfield'")),
                             ("manybody,kinetics", ("solver = 'kinetics'", "[kinetics]")),
                             ("twa", ("at least two",))]:
        status, err, _ = call(["study", cfg, "--solvers", solvers, "-o", out], capsys)
        assert status == 2, (solvers, err)
        assert_one_line(comm, err, *needles)
        assert not out.exists(), solvers

    args = ["study", cfg, "--solvers", ",".join(SOLVERS), "-o", out, "--set",
            "model.generator.n_modes=4", "--set", "meanfield.twa_samples=64", "--log-level", "ERROR"]
    status, err, stdout = call(args, capsys)
    assert status == 0, err
    comm.Barrier()
    names = sorted(os.listdir(out))
    assert names == sorted([f"{s}.h5" for s in SOLVERS]
                           + ["compare.txt", "comparison.png", "spectrum.png", "survival.png"])
    runs = {s: read_run(str(out / f"{s}.h5")) for s in SOLVERS}
    for s, run in runs.items():
        assert run.attrs["solver"] == s and run.attrs["status"] == "completed"
        assert tomllib.loads(run.attrs["config_toml"])["model"]["generator"]["n_modes"] == 4
        assert run.polarization.shape == (5, 4, 3)
    # the table's mean-field row against the deviation computed here from the files
    ref = runs["manybody"]
    with open(out / "compare.txt") as fh:
        table = fh.read()
    assert comm.Get_rank() > 0 or table in stdout
    row = next(line.split() for line in table.splitlines() if line.startswith(str(out / "meanfield")))
    deviation = np.linalg.norm(runs["meanfield"].polarization - ref.polarization, axis=-1).max()
    np.testing.assert_allclose(float(row[2]), deviation, rtol=1e-3)
    # the same initial product state for the deterministic solvers
    for s in ("meanfield", "cumulant"):
        np.testing.assert_allclose(runs[s].polarization[0], ref.polarization[0], atol=1e-12)
    # the Python helper: the same comparison, on every rank
    cmps = nmbhpc.compare([out / f"{s}.h5" for s in SOLVERS])
    assert [c.other for c in cmps] == [str(out / f"{s}.h5") for s in SOLVERS[1:]]
    np.testing.assert_allclose(cmps[0].max_deviation.max(), deviation, rtol=1e-12)

    # a second study into the same directory: refused without --resume/--force ...
    status, err, _ = call(args, capsys)
    assert status == 2
    assert_one_line(comm, err, "manybody.h5", "--resume")
    # ... and with --resume every completed file is kept as it is
    status, err, stdout = call(args + ["--resume"], capsys)
    assert status == 0, err
    assert comm.Get_rank() > 0 or stdout.count("already complete") == len(SOLVERS)
    comm.Barrier()
    for s, run in runs.items():
        again = read_run(str(out / f"{s}.h5"))
        assert again.attrs["status"] == "completed" and again.n_records == run.n_records
        np.testing.assert_array_equal(again.polarization, run.polarization)
