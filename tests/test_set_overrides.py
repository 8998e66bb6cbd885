"""``nmbhpc run --set KEY=VALUE``: validated like the config file, stored in the run file,
checked by ``--resume``; the same helper as the keyword overrides of the Python API.

Collective: every rank calls the command line in-process.
"""
from __future__ import annotations

import os
import tomllib

import nmbhpc
from nmbhpc import cli

from production_cases import write_config


def call(argv, capsys):
    """``nmbhpc ARGV`` in-process: (status, non-empty stderr lines, stdout)."""
    capsys.readouterr()
    try:
        status = cli.main([str(a) for a in argv])
    except SystemExit as exc:  # argparse's refusals
        status = exc.code
    captured = capsys.readouterr()
    return status, [line for line in captured.err.splitlines() if line.strip()], captured.out


def assert_one_line(comm, err, *needles):
    """Rank 0 printed exactly one error line holding every needle; the others nothing."""
    if comm.Get_rank() != 0:
        assert err == [], err
        return
    assert len(err) == 1 and "error:" in err[0], err
    for needle in needles:
        assert needle in err[0], (needle, err[0])


def test_bad_set_is_one_line_naming_the_key_and_creates_no_file(comm, shared_tmp_path, capsys):
    cfg = write_config(shared_tmp_path, "manybody", comm, t_final=0.5, n_out=3)
    out = shared_tmp_path / "never.h5"
    cases = [("model.muu=5", ("'model.muu'", "did you mean 'mu'")),       # unknown key
             ("model.mu=strong", ("'model.mu'", "must be a number", "'strong'")),  # bad type
             ("solver=meanfeild", ("'solver'", "did you mean 'meanfield'")),   # bad value
             ("model.mu.x=1", ("'model.mu.x'", "not a table")),               # through a value
             ("model.mu", ("--set", "KEY=VALUE")),                            # no '='
             ("model.mu=[1, 2", ("--set", "not a TOML value"))]
    for assignment, needles in cases:
        status, err, _ = call(["run", cfg, "-o", out, "--set", assignment], capsys)
        assert status == 2, (assignment, err)
        assert_one_line(comm, err, *needles)
        assert not os.path.exists(out), assignment
    # the job script of `nmbhpc slurm` passes --set on to its `nmbhpc run`, checked here
    status, err, script = call(["slurm", "single", cfg, "-o", out, "--set", "model.mu=3"], capsys)
    assert status == 0 and (comm.Get_rank() > 0 or "--set model.mu=3" in script), err
    status, err, _ = call(["slurm", "single", cfg, "-o", out, "--set", "model.mu"], capsys)
    assert status == 2
    assert_one_line(comm, err, "--set", "KEY=VALUE")


def test_set_is_the_stored_config_and_resume_needs_the_same(comm, shared_tmp_path, capsys):
    cfg = write_config(shared_tmp_path, "manybody", comm, t_final=0.5, n_out=3)
    out = shared_tmp_path / "set.h5"
    sets = ["--set", "solver=meanfield", "--set", "model.mu=3.5", "--set", "output.n_out=4"]
    status, err, _ = call(["run", cfg, "-o", out, *sets, "--log-level", "ERROR"], capsys)
    assert status == 0, err
    comm.Barrier()
    with nmbhpc.open(out) as ds:
        stored = ds.attrs["config_toml"]
        assert ds.attrs["solver"] == "meanfield" and ds.sizes["time"] == 4
        assert ds.attrs["model/mu0"] == 3.5
    doc = tomllib.loads(stored)
    assert (doc["solver"], doc["model"]["mu"], doc["output"]["n_out"]) == ("meanfield", 3.5, 4)
    assert doc["model"]["generator"]["n_modes"] == 6  # the rest is the file's
    # the Python API's keyword overrides go through the same helper: the same text
    assert nmbhpc.load_config(cfg, solver="meanfield", model__mu=3.5,
                              output__n_out=4).source_text == stored

    # --resume with another --set is refused like a changed config file; the file is kept
    status, err, _ = call(["run", cfg, "-o", out, "--resume", "--set", "solver=meanfield",
                           "--set", "model.mu=4.0", "--set", "output.n_out=4", "--log-level", "ERROR"],
                          capsys)
    assert status == 2
    assert_one_line(comm, err, "--resume", "different config", "--set model.mu=4.0",
                    "model.mu: 3.5 in the file, 4.0 now")
    status, err, stdout = call(["run", cfg, "-o", out, "--resume", *sets, "--log-level", "ERROR"],
                               capsys)
    assert status == 0, err
    assert comm.Get_rank() > 0 or "already complete" in stdout
    with nmbhpc.open(out) as ds:
        assert ds.attrs["config_toml"] == stored and ds.attrs["status"] == "completed"


def test_resume_compares_settings_not_spelling(comm, shared_tmp_path, capsys):
    """``--set model.mu=3`` and ``model.mu=3.0`` (or the key written into the file) are one run."""
    cfg = write_config(shared_tmp_path, "manybody", comm, t_final=0.5, n_out=3)
    out = shared_tmp_path / "spelling.h5"
    status, err, _ = call(["run", cfg, "-o", out, "--set", "model.mu=3", "--log-level", "ERROR"],
                          capsys)
    assert status == 0, err
    status, err, stdout = call(["run", cfg, "-o", out, "--resume", "--set", "model.mu=3.0",
                                "--log-level", "ERROR"], capsys)
    assert status == 0, err
    assert comm.Get_rank() > 0 or "already complete" in stdout
    status, err, _ = call(["run", cfg, "-o", out, "--resume", "--set", "model.mu=3.0000001",
                           "--log-level", "ERROR"], capsys)
    assert status == 2
    assert_one_line(comm, err, "different config", "model.mu: 3.0 in the file, 3.0000001 now")


def test_resume_refuses_a_default_that_changed_since_the_run_started(comm, shared_tmp_path, capsys):
    """The file keeps its resolved settings (every default written out): a run whose
    default integrator was another one is not continued with today's default."""
    import h5py

    from nmbhpc.settings import ManyBodySettings

    default = ManyBodySettings().time_integrator
    assert default != "midpoint"
    cfg = write_config(shared_tmp_path, "manybody", comm, t_final=0.5, n_out=3)
    out = shared_tmp_path / "default.h5"
    status, err, _ = call(["run", cfg, "-o", out, "--checkpoint-every", "1", "--log-level",
                           "ERROR"], capsys)
    assert status == 0, err
    if comm.Get_rank() == 0:
        with h5py.File(out, "r+") as f:
            resolved = f.attrs["config_toml_resolved"]
            resolved = resolved.decode() if isinstance(resolved, bytes) else resolved
            assert f'time_integrator = "{default}"' in resolved
            f.attrs["config_toml_resolved"] = resolved.replace(f'"{default}"', '"midpoint"')
            f.attrs["status"] = "interrupted"
    comm.Barrier()
    status, err, _ = call(["run", cfg, "-o", out, "--resume", "--log-level", "ERROR"], capsys)
    assert status == 2
    assert_one_line(comm, err, "different config",
                    f"manybody.time_integrator: \"midpoint\" in the file, \"{default}\" now")
    status, err, _ = call(["run", cfg, "-o", out, "--resume", "--set",
                           "manybody.time_integrator=midpoint", "--log-level", "ERROR"], capsys)
    assert status == 0, err
