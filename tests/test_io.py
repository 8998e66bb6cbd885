"""Run files: parallel write, serial read, refusal before damage, crash semantics, `nmbhpc info`.

Collective tests: every rank writes the same file in ``shared_tmp_path``.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from nmbhpc.cli import UsageError
from nmbhpc.commands import info
from nmbhpc.io import (FORMAT_NAME, FORMAT_VERSION, RunData, RunFileError, RunWriter, describe,
                       read_distributed, read_file, read_run)
from nmbhpc.io.layout import chunk_shape
from nmbhpc.physics.model import Mode, Model, ObservableRecord
from nmbhpc.physics.schedule import MuSchedule
from nmbhpc.settings import OutputSettings, RunConfig

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def small_config(pairs: bool = False) -> RunConfig:
    model = Model(
        modes=(Mode(1, 1.0, (0.0, 0.0, 1.0), (0.0, 0.0, 1.0)),
               Mode(3, -0.5, (1.0, 0.0, 0.0), (0.0, 0.0, -1.0)),
               Mode(2, 2.0, (0.0, 1.0, 0.0), (1.0, 0.0, 0.0))),
        theta=0.1, mu=MuSchedule(kind="constant", mu0=3.0), name="io-test")
    return RunConfig(model=model, output=OutputSettings(times=np.linspace(0.0, 1.0, 5),
                                                        pair_correlations=pairs),
                     source_text="[model]\nmu = 3.0\n", source_path="test.toml")


def synthetic_record(k: int, pairs: bool = False) -> ObservableRecord:
    """A record with distinct values everywhere (seeded: identical on every rank)."""
    rng = np.random.default_rng(100 + k)
    pol = rng.normal(size=(3, 3))
    pol /= np.linalg.norm(pol, axis=1, keepdims=True) * rng.uniform(1.0, 2.0, size=(3, 1))
    nue, rho, ent = ObservableRecord.one_body_from_polarization(pol)
    pair = rng.normal(size=(3, 3)) if pairs else None
    return ObservableRecord(time=0.25 * k, polarization=pol, nue_fraction=nue, rho1=rho,
                            entropy=ent, norm=1.0 + 1e-13 * k, energy=-0.5 + 1e-12 * k,
                            b_dot_j=0.75 - 2e-12 * k, mu=3.0 + k, pair_correlation=pair)


def write_plain(comm, path, data: bytes) -> None:
    if comm.Get_rank() == 0:
        with open(path, "wb") as fh:
            fh.write(data)
    comm.Barrier()


def test_records_round_trip_exactly(comm, shared_tmp_path):
    path = shared_tmp_path / "run.h5"
    cfg = small_config(pairs=True)
    recs = [synthetic_record(k, pairs=True) for k in range(4)]
    with RunWriter.create(path, comm, cfg, attrs={"purpose": "test"}) as w:
        for r in recs:
            w.append(r)
        w.write_static("solver/basis_dim", np.int64(20))
        w.write_static("solver/operator", "matrix")
        w.set_attrs(solver_nnz=None, solver_opts={"ncv": 8}, solver_dims=[2, 3])
    comm.Barrier()
    run = read_run(path)

    assert run.status == "completed" and run.n_records == 4
    for name, field in [("polarization", "polarization"), ("nue_fraction", "nue_fraction"),
                        ("rho1", "rho1"), ("entropy", "entropy"), ("pair", "pair_correlation")]:
        np.testing.assert_array_equal(getattr(run, name), np.stack([getattr(r, field) for r in recs]))
    for name in ("time", "mu", "norm", "energy", "b_dot_j"):
        np.testing.assert_array_equal(getattr(run, name), [getattr(r, name) for r in recs])
    weights = np.array([1, 3, 2]) / 6
    np.testing.assert_allclose(run.nue_total, [weights @ r.nue_fraction for r in recs], rtol=1e-15)
    assert run.rho1.dtype == np.complex128

    np.testing.assert_array_equal(run.modes.n, [1, 3, 2])
    np.testing.assert_array_equal(run.modes.omega, [1.0, -0.5, 2.0])
    np.testing.assert_array_equal(run.modes.direction, np.eye(3)[[2, 0, 1]])
    np.testing.assert_array_equal(run.modes.initial_polarization[1], [0, 0, -1])
    np.testing.assert_array_equal(run.planned_times, np.linspace(0.0, 1.0, 5))

    a = run.attrs
    assert (a["format"], a["format_version"]) == (FORMAT_NAME, FORMAT_VERSION)
    assert a["mpi_size"] == comm.Get_size() and a["solver"] == "manybody"
    assert run.config_toml == cfg.source_text and a["config_path"] == "test.toml"
    assert a["purpose"] == "test" and a["n_records"] == 4
    assert a["solver_nnz"] == "" and a["solver_opts"] == "{'ncv': 8}"
    np.testing.assert_array_equal(a["solver_dims"], [2, 3])
    for key in ("nmbhpc_version", "git_revision", "petsc_version", "slepc_version",
                "h5py_version", "hdf5_version", "created_utc", "finished_utc"):
        assert isinstance(a[key], str) and a[key], key
    assert run.model["theta"] == 0.1 and run.model["mu0"] == 3.0
    assert run.model["mu_schedule"] == "constant" and run.model["n_total"] == 6
    assert run.model["single_angle"] is False or run.model["single_angle"] == 0

    from nmbhpc.runtime.stack import import_h5py
    with import_h5py().File(path, "r") as f:
        assert f["solver/basis_dim"][()] == 20
        assert f["solver/operator"][()].decode() == "matrix"
        assert f["modes/polarization"].maxshape == (None, 3, 3)


def test_pair_series_absent_unless_recorded(comm, shared_tmp_path):
    path = shared_tmp_path / "nopair.h5"
    with RunWriter.create(path, comm, small_config()) as w:
        w.append(synthetic_record(0))
    comm.Barrier()
    run = read_run(path)
    assert run.pair is None and run.n_records == 1


@pytest.mark.parametrize("rows,max_bytes", [(2, 1 << 30), (7, 3 * 16 * 2)])
def test_write_distributed_uneven_slices(comm, shared_tmp_path, rows, max_bytes):
    """Uneven contiguous slices, ranks with no rows (2 rows on 3 ranks) and several write rounds."""
    size, rank = comm.Get_size(), comm.Get_rank()
    # front-loaded split: the last ranks own nothing when rows < size
    counts = [rows // size + (1 if r < rows % size else 0) for r in range(size)]
    if size > 1 and rows > size:  # make it uneven
        counts[0] += counts[-1]
        counts[-1] = 0
    offset = sum(counts[:rank])
    full = (np.arange(rows * 3).reshape(rows, 3) + 1j * np.arange(rows * 3).reshape(rows, 3) ** 2)
    path = shared_tmp_path / f"dist{rows}.h5"
    with RunWriter.create(path, comm, small_config()) as w:
        w.max_write_bytes = max_bytes  # 7 rows: several collective rounds per rank
        w.write_distributed("state/psi", full[offset:offset + counts[rank]], offset, full.shape)
    comm.Barrier()
    from nmbhpc.runtime.stack import import_h5py
    with import_h5py().File(path, "r") as f:
        np.testing.assert_array_equal(f["state/psi"][()], full)
    # parallel read-back with a different split: the last ranks take the rows
    back = counts[::-1]
    lo = sum(back[:rank])
    np.testing.assert_array_equal(read_distributed(path, "state/psi", comm, lo, back[rank]),
                                  full[lo:lo + back[rank]])


def test_rare_flushes_still_keep_every_record(comm, shared_tmp_path):
    path = shared_tmp_path / "rare.h5"
    with RunWriter.create(path, comm, small_config(), flush_interval=3600.0) as w:
        for k in range(5):
            w.append(synthetic_record(k))
    comm.Barrier()
    np.testing.assert_array_equal(read_run(path).time, 0.25 * np.arange(5))


def test_write_distributed_refuses_bad_tiling(comm, shared_tmp_path):
    rank = comm.Get_rank()
    with RunWriter.create(shared_tmp_path / "tiling.h5", comm, small_config()) as w:
        with pytest.raises(ValueError, match="row"):
            # every rank claims row 0: overlap (or, serially, too few rows)
            w.write_distributed("x", np.ones(1), 0, (comm.Get_size() + 1,))
        w.write_distributed("y", np.full(1, rank, dtype=float), rank, (comm.Get_size(),))


def test_existing_file_is_refused_and_untouched(comm, shared_tmp_path):
    path = shared_tmp_path / "old.h5"
    old = b"precious results\x00\x01" * 100
    write_plain(comm, path, old)
    with pytest.raises(FileExistsError, match="--force") as err:
        RunWriter.create(path, comm, small_config())
    assert str(path) in str(err.value)
    comm.Barrier()
    assert path.read_bytes() == old

    with RunWriter.create(path, comm, small_config(), force=True) as w:
        w.append(synthetic_record(0))
    comm.Barrier()
    assert read_run(path).n_records == 1


def test_a_new_file_appears_only_with_its_whole_header(comm, shared_tmp_path, monkeypatch):
    """The header is built in OUT.h5.part and renamed: while it is written no OUT.h5 exists,
    a header that fails leaves neither file, and a --force'd old file survives the failure."""
    path = shared_tmp_path / "atomic.h5"
    staging = shared_tmp_path / "atomic.h5.part"
    seen = []
    write_header = RunWriter._write_header

    def watched(self, meta):
        seen.append((path.exists(), staging.exists()))
        write_header(self, meta)

    monkeypatch.setattr(RunWriter, "_write_header", watched)
    with RunWriter.create(path, comm, small_config()) as w:
        assert path.exists() and not staging.exists()
    assert seen == [(False, True)]

    old = path.read_bytes()

    def broken(self, meta):
        raise ValueError("header failure for the test")

    monkeypatch.setattr(RunWriter, "_write_header", broken)
    with pytest.raises(ValueError, match="header failure"):
        RunWriter.create(path, comm, small_config(), force=True)
    comm.Barrier()
    assert path.read_bytes() == old and not staging.exists()
    fresh = shared_tmp_path / "never.h5"
    with pytest.raises(ValueError, match="header failure"):
        RunWriter.create(fresh, comm, small_config())
    comm.Barrier()
    assert not fresh.exists() and not (shared_tmp_path / "never.h5.part").exists()


def test_a_stale_staging_file_is_replaced(comm, shared_tmp_path):
    """A run killed before its header was complete left OUT.h5.part: the next run replaces it."""
    path = shared_tmp_path / "stale.h5"
    write_plain(comm, shared_tmp_path / "stale.h5.part", b"half a header" * 10)
    with RunWriter.create(path, comm, small_config()) as w:
        w.append(synthetic_record(0))
    comm.Barrier()
    assert read_run(path).n_records == 1 and not (shared_tmp_path / "stale.h5.part").exists()


def test_bad_directory_is_refused_before_anything_is_created(comm, shared_tmp_path):
    missing = shared_tmp_path / "no" / "such" / "dir"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        RunWriter.create(missing / "run.h5", comm, small_config())
    assert not (shared_tmp_path / "no").exists()

    afile = shared_tmp_path / "plain.txt"
    write_plain(comm, afile, b"x")
    with pytest.raises(NotADirectoryError):
        RunWriter.create(afile / "run.h5", comm, small_config())
    assert afile.read_bytes() == b"x"


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_unwritable_directory_is_refused(comm, shared_tmp_path):
    ro = shared_tmp_path / "ro"
    if comm.Get_rank() == 0:
        ro.mkdir()
        ro.chmod(0o500)
    comm.Barrier()
    with pytest.raises(PermissionError, match="not writable"):
        RunWriter.create(ro / "run.h5", comm, small_config())
    assert list(ro.iterdir()) == []


def test_exception_in_context_marks_run_failed(comm, shared_tmp_path):
    path = shared_tmp_path / "failed.h5"
    with pytest.raises(RuntimeError, match="solver blew up"):
        with RunWriter.create(path, comm, small_config()) as w:
            w.append(synthetic_record(0))
            w.append(synthetic_record(1))
            raise RuntimeError("solver blew up")  # on every rank
    comm.Barrier()
    run = read_run(path)
    assert run.status == "failed" and run.n_records == 2
    assert w.closed
    w.close()  # idempotent


def test_wrong_record_shape_is_refused_on_every_rank(comm, shared_tmp_path):
    bad = synthetic_record(0)
    bad = ObservableRecord(**{**bad.__dict__, "entropy": np.zeros(4)})
    with RunWriter.create(shared_tmp_path / "shape.h5", comm, small_config()) as w:
        with pytest.raises(ValueError, match="entropy"):
            w.append(bad)
        w.append(synthetic_record(0))
    comm.Barrier()
    assert read_run(shared_tmp_path / "shape.h5").n_records == 1


@pytest.mark.serial
def test_killed_run_is_readable_up_to_last_record(tmp_path):
    """A writer that dies without close (os._exit) leaves its flushed records readable."""
    path = tmp_path / "killed.h5"
    script = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {REPO!r}); sys.path.insert(0, {os.path.dirname(__file__)!r})
        from mpi4py import MPI
        from test_io import small_config, synthetic_record
        from nmbhpc.io import RunWriter
        w = RunWriter.create({str(path)!r}, MPI.COMM_WORLD, small_config())
        for k in range(3):
            w.append(synthetic_record(k))
        os._exit(0)
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMPI_", "PMIX_"))}
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120, env=env)
    run = read_run(path)
    assert run.status == "running" and run.n_records == 3
    np.testing.assert_array_equal(run.time, [0.0, 0.25, 0.5])
    np.testing.assert_array_equal(run.polarization[2], synthetic_record(2).polarization)
    assert "status running" in describe(path)


def test_reader_refuses_foreign_files(comm, shared_tmp_path):
    text = shared_tmp_path / "notes.txt"
    write_plain(comm, text, b"not hdf5")
    with pytest.raises(RunFileError, match="notes.txt"):
        read_run(text)
    with pytest.raises(RunFileError, match="no such file"):
        read_run(shared_tmp_path / "missing.h5")
    foreign = shared_tmp_path / "foreign.h5"
    if comm.Get_rank() == 0:
        from nmbhpc.runtime.stack import import_h5py
        with import_h5py().File(foreign, "w", driver="core", backing_store=True) as f:
            f["x"] = np.arange(3)
    comm.Barrier()
    with pytest.raises(RunFileError, match="not an nmbhpc run file"):
        read_run(foreign)
    for path in (text, foreign, shared_tmp_path / "missing.h5"):  # the dispatching reader too
        with pytest.raises(RunFileError, match=str(path.name)):
            read_file(path)


def test_describe_reports_sizes_status_and_drifts(comm, shared_tmp_path):
    path = shared_tmp_path / "desc.h5"
    with RunWriter.create(path, comm, small_config()) as w:
        for k in range(3):
            w.append(synthetic_record(k))
    comm.Barrier()
    assert isinstance(read_file(path), RunData) and read_file(path).n_records == 3
    text = describe(path)
    assert "solver manybody" in text and "status completed" in text
    assert "3 modes, N = 6" in text and "3 of 5 planned" in text and "t = 0 .. 0.5" in text
    assert f"MPI size {comm.Get_size()}" in text
    drift = {k: float(v) for k, v in re.findall(r"max\|(\S+)\| = (\S+?),?(?:\s|$)", text)}
    # synthetic_record: norm = 1 + 1e-13 k, E = E0 + 1e-12 k, BJ = BJ0 - 2e-12 k, k <= 2
    np.testing.assert_allclose([drift["norm-1"], drift["E-E0"], drift["BJ-BJ0"]],
                               [2e-13, 2e-12, 4e-12], rtol=2e-3)
    assert "Pehlivan  not recorded (multi-angle model" in text


def test_describe_reports_pehlivan_drift(comm, shared_tmp_path):
    """The largest change of any h_p over the run, relative to max_p |h_p(t0)| = 2."""
    path = shared_tmp_path / "pehlivan.h5"
    h0 = np.array([1.0, -2.0, 0.5])
    with RunWriter.create(path, comm, small_config()) as w:
        for k, dh in enumerate([0.0, 3e-10, -1e-10]):
            w.append(dataclasses.replace(synthetic_record(k), pehlivan=h0 + [0.0, 0.0, dh]))
    comm.Barrier()
    np.testing.assert_array_equal(read_run(path).pehlivan[1], h0 + [0.0, 0.0, 3e-10])
    line = [x for x in describe(path).splitlines() if "Pehlivan" in x][0]
    drift = float(re.search(r"max relative drift (\S+)", line).group(1))
    assert drift == pytest.approx(1.5e-10, rel=1e-3)


def test_info_command(comm, shared_tmp_path, capsys):
    good = shared_tmp_path / "good.h5"
    with RunWriter.create(good, comm, small_config()) as w:
        w.append(synthetic_record(0))
    bad = shared_tmp_path / "bad.h5"
    write_plain(comm, bad, b"garbage")
    capsys.readouterr()

    assert info.run(argparse.Namespace(files=[str(good)], petsc_args=[])) == 0
    out = capsys.readouterr().out
    assert (str(good) in out) == (comm.Get_rank() == 0)

    args = argparse.Namespace(files=[str(good), str(bad), str(shared_tmp_path / "nope.h5")],
                              petsc_args=[])
    # every rank raises rank 0's verdict (the command's exit status is the same everywhere)
    with pytest.raises(UsageError) as err:
        info.run(args)
    assert "bad.h5" in str(err.value) and "nope.h5" in str(err.value)
    assert (str(good) in capsys.readouterr().out) == (comm.Get_rank() == 0)


def test_chunks_stay_bounded_for_large_mode_counts():
    for rows_shape, itemsize, min_rows in [((), 8, 16), ((10_000, 3), 8, 16),
                                           ((10_000, 2, 2), 16, 16), ((10_000, 10_000), 8, 1)]:
        c = chunk_shape(rows_shape, itemsize, min_rows=min_rows)
        nbytes = int(np.prod(c)) * itemsize
        assert nbytes <= 256 * 1024 and c[0] >= min_rows, (rows_shape, c)
    assert chunk_shape((), 8)[0] == 4096  # scalar series: 1e6 rows in ~250 chunks
    assert chunk_shape((3, 3), 8) == (3640, 3, 3)


@pytest.mark.serial
def test_git_revision_never_writes_into_the_checkout(tmp_path):
    """Reading the revision must not refresh the checkout's index (`git status` would
    rewrite .git/index after a file's time stamp changed)."""
    import time

    from nmbhpc.io.provenance import git_revision

    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t",
                        *args], check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "a.txt").write_text("a\n")
    git("add", "a.txt")
    git("commit", "-qm", "a")
    index = tmp_path / ".git" / "index"
    time.sleep(1.1)
    os.utime(tmp_path / "a.txt")  # same content, new time stamp: the index is stale
    before = index.stat().st_mtime_ns
    assert git_revision(str(tmp_path)).endswith("+dirty") is False
    assert index.stat().st_mtime_ns == before
    assert not (tmp_path / ".git" / "index.lock").exists()
