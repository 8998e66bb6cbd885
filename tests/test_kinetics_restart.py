"""Checkpoint/restart of kinetic runs through ``nmbhpc run`` (and its alias ``nmbhpc kinetics``).

The interruption is the SIGUSR1 path of :mod:`nmbhpc.pipeline.control` triggered at a
chosen output (as in test_restart.py); the real kill -9 is a subprocess
(serial-marked). A resumed run must equal the uninterrupted one bit for bit on
the same rank count (fixed-step RK4 from the restored field, time and step) and
to 1e-12 on another rank count (the domain averages are MPI sums).
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import time

import numpy as np
import pytest
from mpi4py import MPI

from nmbhpc.runtime.stack import petsc_comm_scope
from nmbhpc.cli import main as cli_main
from nmbhpc.config import ConfigError
from nmbhpc.config import load_any_config_text
from nmbhpc.kinetics.config import load_kinetics_text
from nmbhpc.kinetics.output import read_kinetics
from nmbhpc.kinetics.run import run_kinetics
from nmbhpc.pipeline.control import DELAY_ENV, EXIT_INTERRUPTED, FAULT_ENV, InjectedFault, RunControl
from nmbhpc.runtime.stack import import_h5py

from production_cases import nmbhpc_cmd, python_env

# collisions, scattering, mixing, two energies, a random seed: every RHS term is exercised
CONFIG = """solver = "kinetics"
[kinetics.grid]
nx = 18
length = 12.0
n_dir = 4
[kinetics.physics]
omega = [0.2, -0.4]
theta = 0.1
lambda = 0.3
mu = 1.5
[kinetics.collisions]
gamma_nu = [0.5, 0.0]
equilibrium_nu = [3.0, 0.0]
scattering = 0.02
[kinetics.nu]
n_e = 1.0
[kinetics.nubar]
n_e = 0.8
shape = "linear"
parameter = 0.9
[kinetics.perturbation]
kind = "random"
amplitude = 1e-3
seed = 5
[kinetics.time]
t_end = {t_end}
output_interval = 0.25
phase_step = 0.05
snapshot_times = [0.0, 1.0, 2.0, 3.0]
"""
SERIES = ("time", "polarization", "number_density", "lepton_number", "offdiag_amplitude",
          "trace_margin", "limiter")
QUIET = ["--log-level", "ERROR"]


def _config(directory, comm, t_end: float = 3.0, name: str = "k.toml", extra: str = "") -> str:
    """Write CONFIG (``extra`` appended to [kinetics.time]) on rank 0; return its path."""
    path = os.path.join(str(directory), name)
    if comm is None or comm.Get_rank() == 0:
        with open(path, "w") as fh:
            fh.write(CONFIG.format(t_end=t_end) + extra)
    if comm is not None:
        comm.Barrier()
    return path


def _read(path, comm=None):
    if comm is not None:
        comm.Barrier()
    return read_kinetics(path)


def _snapshots(path):
    with import_h5py().File(path, "r") as f:
        n = int(f["kinetics/snapshots"].attrs["n_snapshots"])
        return f["kinetics/snapshots/time"][:n], f["kinetics/snapshots/field"][:n]


def _max_difference(a, b) -> float:
    if a.n_records != b.n_records:
        return float("inf")
    return max(float(np.max(np.abs(getattr(a, k) - getattr(b, k)))) for k in SERIES)


def _stop_at(monkeypatch, index: int) -> None:
    original = RunControl.decide

    def decide(self, i):
        if i == index:
            self._signalled = "SIGUSR1"  # as if SLURM's warning arrived now, on every rank
        return original(self, i)

    monkeypatch.setattr(RunControl, "decide", decide)


class _StopAt:
    """A RunControl stand-in for the Python API: checkpoint and stop after output ``index``."""

    def __init__(self, index: int):
        self.index = index

    def decide(self, i):
        return i == self.index, i == self.index


def test_interrupt_and_resume_is_bitwise_the_uninterrupted_run(comm, shared_tmp_path, monkeypatch):
    cfg = _config(shared_tmp_path, comm)
    ref, out = str(shared_tmp_path / "ref.h5"), str(shared_tmp_path / "out.h5")
    assert cli_main(["run", cfg, "-o", ref] + QUIET) == 0
    full = _read(ref, comm)
    assert full.n_records == 13 and full.status == "completed"

    with monkeypatch.context() as m:
        _stop_at(m, 4)
        assert cli_main(["run", cfg, "-o", out, "--checkpoint-every", "3"] + QUIET) \
            == EXIT_INTERRUPTED
    part = _read(out, comm)
    assert part.status == "interrupted" and part.n_records == 5
    assert all(np.array_equal(getattr(part, k), getattr(full, k)[:5]) for k in SERIES)

    # the alias, interrupted again after a snapshot (t = 2), then resumed to the end
    with monkeypatch.context() as m:
        _stop_at(m, 9)
        assert cli_main(["kinetics", cfg, "-o", out, "--resume"] + QUIET) == EXIT_INTERRUPTED
    assert _read(out, comm).n_records == 10
    assert cli_main(["run", cfg, "-o", out, "--resume", "--checkpoint-every", "2"] + QUIET) == 0
    done = _read(out, comm)
    assert done.status == "completed"
    assert np.all(np.diff(done.time) > 0) and done.n_records == full.n_records
    for k in SERIES:
        assert np.array_equal(getattr(done, k), getattr(full, k)), k
    (t_done, f_done), (t_full, f_full) = _snapshots(out), _snapshots(ref)
    assert np.array_equal(t_done, [0.0, 1.0, 2.0, 3.0]) and np.array_equal(t_done, t_full)
    assert np.array_equal(f_done, f_full)
    assert np.abs(f_full[-1][..., 1:3]).max() > 1e-3  # the run did something x-dependent
    with import_h5py().File(out, "r") as f:  # the hierarchy table, written once, kept
        assert f["hierarchy/name"].shape == f["hierarchy/value"].shape
        assert b"tau_mfp^fs" in f["hierarchy/name"][:]
        assert "Gamma/Sigma" in f.attrs["hierarchy_warnings"]


def test_resume_with_another_rank_count(comm, shared_tmp_path):
    """Interrupted on every rank of ``comm``, resumed on fewer (or, serially, the same one)."""
    settings = load_kinetics_text(CONFIG.format(t_end=2.0))
    ref, out = str(shared_tmp_path / "ref.h5"), str(shared_tmp_path / "out.h5")
    run_kinetics(settings, ref, comm)
    res = run_kinetics(settings, out, comm, control=_StopAt(3))
    assert res.status == EXIT_INTERRUPTED and _read(out, comm).n_records == 4
    size = max(1, comm.Get_size() - 1)
    sub = comm.Split(0 if comm.Get_rank() < size else MPI.UNDEFINED, comm.Get_rank())
    if sub != MPI.COMM_NULL:
        with petsc_comm_scope(sub):
            assert run_kinetics(settings, out, sub, resume=True).status == 0
        sub.Free()
    done, full = _read(out, comm), _read(ref, comm)
    assert done.attrs["status"] == "completed"
    assert _max_difference(done, full) <= 1e-12
    assert np.max(np.abs(_snapshots(out)[1] - _snapshots(ref)[1])) <= 1e-12


@pytest.mark.serial
def test_failed_run_resumes_from_its_earlier_checkpoint(shared_tmp_path, monkeypatch):
    """Records and snapshots written after the last checkpoint are dropped and recomputed."""
    cfg = _config(shared_tmp_path, None)
    ref, out = str(shared_tmp_path / "ref.h5"), str(shared_tmp_path / "out.h5")
    assert cli_main(["run", cfg, "-o", ref] + QUIET) == 0
    monkeypatch.setenv(FAULT_ENV, "0:5")  # checkpoints after outputs 3; fails after output 5
    with pytest.raises(InjectedFault):
        cli_main(["run", cfg, "-o", out, "--checkpoint-every", "4", "--log-level", "ERROR"])
    monkeypatch.delenv(FAULT_ENV)
    part = read_kinetics(out)
    assert part.status == "failed" and part.n_records == 6
    assert np.array_equal(_snapshots(out)[0], [0.0, 1.0])  # t = 1 is after the checkpoint (0.75)
    assert cli_main(["run", cfg, "-o", out, "--resume"] + QUIET) == 0
    done, full = read_kinetics(out), read_kinetics(ref)
    assert all(np.array_equal(getattr(done, k), getattr(full, k)) for k in SERIES)
    assert np.array_equal(_snapshots(out)[1], _snapshots(ref)[1])


@pytest.mark.serial
def test_kill_9_leaves_a_readable_file_that_resumes(tmp_path):
    cfg = _config(tmp_path, None, t_end=10.0)
    ref, out = str(tmp_path / "ref.h5"), str(tmp_path / "out.h5")
    run = lambda *a, env=None: subprocess.run(nmbhpc_cmd(*a), env=env or python_env(),  # noqa: E731
                                              capture_output=True, text=True, timeout=120)
    assert run("run", cfg, "-o", ref, *QUIET).returncode == 0
    full = read_kinetics(ref)
    env = python_env()
    env[DELAY_ENV] = "0.03"  # 41 outputs: > 1.2 s of run however fast the machine
    delay = random.uniform(0.0, 1.0)
    proc = subprocess.Popen(nmbhpc_cmd("run", cfg, "-o", out, "--checkpoint-every", "5", *QUIET),
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (os.path.exists(out) and os.path.getsize(out) > 0):
            assert proc.poll() is None and time.monotonic() < deadline, "no output file"
            time.sleep(0.05)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=120)
    note = f"(killed {delay:.3f} s after the file appeared)"
    part = read_kinetics(out)  # opens, whatever moment the kill hit
    assert part.status == "running" and part.n_records < full.n_records, note
    k = part.n_records
    assert all(np.array_equal(getattr(part, s), getattr(full, s)[:k]) for s in SERIES), note
    res = run("run", cfg, "-o", out, "--resume", *QUIET)
    assert res.returncode == 0, res.stderr[-3000:]
    done = read_kinetics(out)
    assert done.status == "completed" and np.all(np.diff(done.time) > 0), note
    assert all(np.array_equal(getattr(done, s), getattr(full, s)) for s in SERIES), note


def test_resume_refuses_another_config_and_skips_a_completed_run(comm, shared_tmp_path, capsys):
    cfg = _config(shared_tmp_path, comm, t_end=0.5)
    out = str(shared_tmp_path / "out.h5")
    assert cli_main(["run", cfg, "-o", out] + QUIET) == 0
    capsys.readouterr()
    assert cli_main(["run", cfg, "-o", out, "--resume"] + QUIET) == 0
    if comm.Get_rank() == 0:
        assert "already complete" in capsys.readouterr().out
    other = _config(shared_tmp_path, comm, t_end=1.0, name="other.toml")
    assert cli_main(["run", other, "-o", out, "--resume"]) == 2
    if comm.Get_rank() == 0:
        assert "different config" in capsys.readouterr().err
    assert _read(out, comm).n_records == 3
    assert cli_main(["run", cfg, "-o", out] + QUIET) == 2  # exists, no --force


def test_snapshot_start_is_a_new_run_from_the_last_snapshot(comm, shared_tmp_path):
    """``--from-snapshot`` (``nmbhpc kinetics --restart``): the t = 1 snapshot starts a new file.

    A new run computes its own step from its initial field; a fixed ``dt`` makes
    both runs take the same steps, so the fields agree to rounding. The nu angular
    table is a ``file`` relative to the configs' directory, not the working directory:
    reading the snapshot file's settings must not look for it again.
    """
    short = _config(shared_tmp_path, comm, t_end=1.0, name="short.toml", extra="dt = 0.02\n")
    long_ = _config(shared_tmp_path, comm, t_end=2.0, name="long.toml", extra="dt = 0.02\n")
    if comm.Get_rank() == 0:
        (shared_tmp_path / "g.txt").write_text("-1 0.5\n1 1.5\n")
        for path in (short, long_):
            with open(path) as fh:
                text = fh.read().replace("[kinetics.nu]\nn_e = 1.0\n", "[kinetics.nu]\nn_e = 1.0\n"
                                         'shape = "table"\nfile = "g.txt"\n')
            with open(path, "w") as fh:
                fh.write(text)
    comm.Barrier()
    assert not os.path.exists("g.txt")
    a, b, c = (str(shared_tmp_path / n) for n in ("a.h5", "b.h5", "c.h5"))
    assert cli_main(["run", long_, "-o", a] + QUIET) == 0
    assert cli_main(["run", short, "-o", b] + QUIET) == 0
    assert cli_main(["kinetics", long_, "-o", c, "--restart", b] + QUIET) == 0
    cont, full = _read(c, comm), _read(a, comm)
    assert np.array_equal(cont.time, full.time[4:])
    assert np.max(np.abs(_snapshots(c)[1][-1] - _snapshots(a)[1][-1])) <= 1e-13


def test_kinetics_configs_are_recognised_and_errors_name_the_key():
    text = CONFIG.format(t_end=1.0)
    assert load_any_config_text(text).solver == "kinetics"
    legacy = text.replace('solver = "kinetics"\n', "")  # a [kinetics] table alone selects it
    assert load_any_config_text(legacy).solver == "kinetics"
    for bad, key in ((text.replace('"kinetics"', '"manybody"', 1), "solver"),
                     (text + "[model]\ntheta = 0.1\n", "model"),
                     ('solver = "kinetics"\n', "kinetics"),
                     (text.replace("nx = 18", "nx = 2"), "kinetics.grid.nx")):
        with pytest.raises(ConfigError) as info:
            load_any_config_text(bad)
        assert info.value.key == key, bad


def test_kinetics_alias_refuses_other_configs(comm, shared_tmp_path, capsys):
    from production_cases import write_config

    cfg = write_config(shared_tmp_path, "meanfield", comm, n_out=3)
    assert cli_main(["kinetics", cfg, "-o", str(shared_tmp_path / "x.h5")]) == 2
    if comm.Get_rank() == 0:
        assert "'kinetics'" in capsys.readouterr().err  # the missing table, named
    assert cli_main(["run", cfg, "-o", str(shared_tmp_path / "x.h5"), "--from-snapshot",
                     str(shared_tmp_path / "y.h5")]) == 2
    if comm.Get_rank() == 0:
        assert "--from-snapshot" in capsys.readouterr().err


def test_analyze_reads_complete_and_interrupted_kinetic_files(comm, shared_tmp_path, capsys):
    settings = load_kinetics_text(CONFIG.format(t_end=1.0))
    done, part = str(shared_tmp_path / "done.h5"), str(shared_tmp_path / "part.h5")
    run_kinetics(settings, done, comm)
    run_kinetics(settings, part, comm, control=_StopAt(2))
    comm.Barrier()
    from nmbhpc.io import read_file
    from nmbhpc.kinetics.output import KineticRunData

    # the reader of any run file dispatches on the format attribute
    assert isinstance(read_file(done), KineticRunData) and read_file(part).status == "interrupted"
    capsys.readouterr()
    assert cli_main(["analyze", str(shared_tmp_path), "--no-plots"]) == 0
    if comm.Get_rank() == 0:
        out = capsys.readouterr().out
        assert "interrupted" in out and "completed" in out
        import csv

        rows = list(csv.DictReader(open(shared_tmp_path / "analysis" / "kinetics_summary.csv")))
        by = {os.path.basename(r["file"]): r for r in rows}
        assert by["done.h5"]["records"] == "5" and by["part.h5"]["records"] == "3"
        assert by["part.h5"]["status"] == "interrupted"
        series = list(csv.DictReader(open(shared_tmp_path / "analysis" / "kinetics_timeseries.csv")))
        assert len(series) == 8


@pytest.mark.serial
def test_fuzzed_kinetics_configs_fail_with_a_key():
    """Random edits of the kinetics examples: a valid config or a ConfigError naming a key."""
    import tomllib
    from pathlib import Path

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from test_config_fuzz import _dotted, _paths, scalars, values

    from nmbhpc.config import config_from_dict
    from nmbhpc.kinetics.config import is_kinetics_document, settings_from_dict
    from nmbhpc.kinetics.settings import KineticSettings

    examples = sorted((Path(__file__).resolve().parent.parent / "examples").glob("kinetics_*.toml"))
    bases = [tomllib.loads(p.read_text()) for p in examples] + [tomllib.loads(CONFIG.format(t_end=1))]

    @st.composite
    def mutated(draw):  # as test_config_fuzz.mutated, on the kinetics bases
        import copy

        data = copy.deepcopy(draw(st.sampled_from(bases)))
        path = draw(st.sampled_from(list(_paths(data))))
        parent = data
        for k in path[:-1]:
            parent = parent[k]
        action = draw(st.sampled_from(["replace", "replace", "delete", "unknown"]))
        if action == "replace":
            parent[path[-1]] = draw(values)
        elif action == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=6))] = draw(scalars)
        return data, _dotted(path), action

    @settings(max_examples=200, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(mutated())
    def check(case):
        data, path, action = case
        try:
            cfg = settings_from_dict(data) if is_kinetics_document(data) else config_from_dict(data)
        except ConfigError as exc:
            assert exc.key and f"'{exc.key}'" in str(exc), f"{path} ({action}): {exc}"
            return
        assert not is_kinetics_document(data) or isinstance(cfg, KineticSettings)

    check()


def test_info_describes_a_kinetics_file(comm, shared_tmp_path, capsys):
    """``nmbhpc info`` reads kinetic run files too and reports their monitors."""
    cfg = _config(shared_tmp_path, comm, t_end=1.0, name="info.toml")
    out = str(shared_tmp_path / "info.h5")
    assert cli_main(["run", cfg, "-o", out] + QUIET) == 0
    capsys.readouterr()
    assert cli_main(["info", out]) == 0
    text = capsys.readouterr().out
    if comm.Get_rank() == 0:
        run = _read(out)
        assert "status completed" in text
        assert f"records   {run.n_records}," in text
        assert f"MPI size {comm.Get_size()}" in text
        assert "max|ELN - ELN0|" in text and "min(P0 - |P|)" in text
    else:
        assert text == ""
