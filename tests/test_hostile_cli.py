"""Hostile inputs at the command line and process level: every case ends in a clear
error or a documented status, never a traceback, a signal death or a touched file.

Families (one test id per case; counts in docs/production.md, "Hostile inputs"):

* ``args``   bad values of nmbhpc's own arguments (run, kinetics, compare, info,
             analyze, hierarchy): exit 2, one line naming the argument and value;
* ``petsc``  PETSc options nmbhpc passes through: a value PETSc would reject, or a
             name PETSc cannot have, ends before any PETSc object or file exists;
             an option no solver reads is reported as a warning after the run;
* ``files``  missing, empty, truncated, byte-flipped, non-HDF5, non-nmbhpc and
             wrong-kind files given to info, compare and analyze: exit 2, one line
             naming the file, the file unchanged and no output written;
* ``signals`` SIGTERM/SIGINT/SIGUSR1/SIGUSR2 before the run file exists and during a
             run that checkpoints every output, and a reader that closed stdout:
             the documented exit status (nmbhpc.cli), one line, a readable file that
             ``--resume`` completes.

The first three run in-process on every rank (under mpirun too: the commands are
collective); the signal cases launch ``nmbhpc`` in a subprocess and are serial.
"""
from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from nmbhpc import cli
from nmbhpc.runtime import stack
from nmbhpc.io import read_run

from production_cases import nmbhpc_cmd, python_env, write_config

serial = pytest.mark.serial
TIMEOUT = 240  # generous: the machine is shared; a hang is what this catches


# --------------------------------------------------------------------------- helpers
def _call(argv, capsys):
    """``nmbhpc ARGV`` in-process: (status, non-empty stderr lines, stdout)."""
    capsys.readouterr()
    try:
        status = cli.main([str(a) for a in argv])
    except SystemExit as exc:  # argparse
        status = exc.code
    captured = capsys.readouterr()
    return status, [line for line in captured.err.splitlines() if line.strip()], captured.out


def _assert_refused(comm, status, err, *needles):
    """Exit status 2 and exactly one error line on rank 0 naming every needle."""
    assert status == 2, (status, err)
    assert not any("Traceback" in line for line in err), err
    if comm.Get_rank() != 0:
        assert err == [], err  # only rank 0 prints
        return
    assert len(err) == 1, err
    assert "error:" in err[0], err
    for needle in needles:
        assert needle in err[0], (needle, err[0])


def _digest(path) -> str | None:
    path = str(path)
    if os.path.isdir(path):
        return "dir:" + ",".join(sorted(os.listdir(path)))
    if not os.path.exists(path):
        return None
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def _listing(directory) -> set[str]:
    out = set()
    for root, dirs, files in os.walk(directory):
        out |= {os.path.relpath(os.path.join(root, f), directory) for f in files + dirs}
    return out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A real run file, a kinetics file and the hostile files made from them. Collective."""
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    root = str(tmp_path_factory.mktemp("hostile")) if comm.Get_rank() == 0 else None
    root = comm.bcast(root, root=0)
    good = os.path.join(root, "good")
    if comm.Get_rank() == 0:
        os.makedirs(good)
    comm.Barrier()
    cfg = write_config(good, "manybody", comm, t_final=1.0, n_out=4)
    run = os.path.join(good, "run.h5")
    assert cli.main(["run", cfg, "-o", run, "--log-level", "ERROR"]) == 0
    kin_cfg = os.path.join(good, "kin.toml")
    if comm.Get_rank() == 0:
        from test_kinetics_dims import BOX_1D, _config

        with open(kin_cfg, "w") as fh:
            fh.write(_config(BOX_1D, "mode", "-1", t_end=0.5))
    comm.Barrier()
    kin = os.path.join(good, "kin.h5")
    assert cli.main(["run", kin_cfg, "-o", kin, "--log-level", "ERROR"]) == 0
    bad = os.path.join(root, "bad")
    if comm.Get_rank() == 0:
        _make_hostile_files(run, bad)
    comm.Barrier()
    return {"root": root, "cfg": cfg, "run": run, "kin": kin, "bad": bad}


#: name -> how it is made from the good run file (see _make_hostile_files)
HOSTILE_FILES = (
    "empty.h5", "text.h5", "garbage.h5", "directory.h5", "missing.h5", "devnull",
    "trunc-8.h5", "trunc-512.h5", "trunc-4096.h5", "trunc-third.h5", "trunc-two-thirds.h5",
    "trunc-last-byte.h5", "signature-flip.h5", "plain-hdf5.h5", "no-time-dataset.h5",
    "wrong-format.h5",
)

#: byte flips in the superblock and object headers that HDF5 1.10 (superblock v0, no
#: checksums) may or may not notice: a clean error or a normal reading, never a traceback
FLIPPED_FILES = tuple(f"flip-{lo}-{seed}.h5" for lo in (8, 96, 800) for seed in range(2))


def _make_hostile_files(run: str, bad: str) -> None:
    from mpi4py import MPI

    h5py = stack.import_h5py()
    os.makedirs(bad)
    data = open(run, "rb").read()
    n = len(data)

    def put(name, content):
        with open(os.path.join(bad, name), "wb") as fh:
            fh.write(content)

    put("empty.h5", b"")
    put("text.h5", b"this is not HDF5\n")
    put("garbage.h5", random.Random(1).randbytes(4096))
    os.makedirs(os.path.join(bad, "directory.h5"))
    for name, size in (("trunc-8.h5", 8), ("trunc-512.h5", 512), ("trunc-4096.h5", 4096),
                       ("trunc-third.h5", n // 3), ("trunc-two-thirds.h5", 2 * n // 3),
                       ("trunc-last-byte.h5", n - 1)):
        put(name, data[:size])
    put("signature-flip.h5", bytes([data[0] ^ 0xFF]) + data[1:])
    for name in FLIPPED_FILES:
        lo, seed = (int(x) for x in name[5:-3].split("-"))
        b = bytearray(data)
        rng = random.Random(seed)
        for _ in range(8):
            b[rng.randrange(lo, lo + 512)] ^= 1 << rng.randrange(8)
        put(name, bytes(b))
    kw = dict(driver="mpio", comm=MPI.COMM_SELF)
    with h5py.File(os.path.join(bad, "plain-hdf5.h5"), "w", **kw) as f:
        f["x"] = [1.0, 2.0]
    for name in ("no-time-dataset.h5", "wrong-format.h5"):
        put(name, data)
    with h5py.File(os.path.join(bad, "no-time-dataset.h5"), "r+", **kw) as f:
        del f["time"]
    with h5py.File(os.path.join(bad, "wrong-format.h5"), "r+", **kw) as f:
        f.attrs["format"] = "somebody-else v7"


def _bad_path(corpus, name):
    return "/dev/null" if name == "devnull" else os.path.join(corpus["bad"], name)


# ------------------------------------------------------------------------- args family
# {cfg}: a valid manybody config, {out}: a path that must not be created,
# {dir}: an existing directory, {run}: a good run file
ARG_CASES = [
    ("run-o-empty", ["run", "{cfg}", "-o", ""], ["-o", "''"]),
    ("run-o-blank", ["run", "{cfg}", "-o", "   "], ["-o", "'   '"]),
    ("run-o-newline", ["run", "{cfg}", "-o", "a\nb.h5"], ["-o", "control character"]),
    ("run-o-tab", ["run", "{cfg}", "-o", "a\tb.h5"], ["-o", "control character"]),
    ("run-o-directory", ["run", "{cfg}", "-o", "{dir}"], ["-o", "is a directory"]),
    ("run-o-trailing-slash", ["run", "{cfg}", "-o", "{dir}/new/"], ["-o", "is a directory"]),
    ("run-o-missing", ["run", "{cfg}"], ["-o"]),
    ("run-no-arguments", ["run"], ["config"]),
    ("unknown-command", ["frobnicate"], ["frobnicate"]),
    ("run-ckpt-interval-nan", ["run", "{cfg}", "-o", "{out}", "--checkpoint-interval", "nan"],
     ["--checkpoint-interval", "'nan'"]),
    ("run-ckpt-interval-inf", ["run", "{cfg}", "-o", "{out}", "--checkpoint-interval", "inf"],
     ["--checkpoint-interval", "'inf'"]),
    ("run-ckpt-interval-minus-inf", ["run", "{cfg}", "-o", "{out}", "--checkpoint-interval=-inf"],
     ["--checkpoint-interval", "'-inf'"]),
    ("run-ckpt-interval-negative", ["run", "{cfg}", "-o", "{out}", "--checkpoint-interval=-1"],
     ["--checkpoint-interval", "'-1'"]),
    ("run-ckpt-interval-word", ["run", "{cfg}", "-o", "{out}", "--checkpoint-interval", "soon"],
     ["--checkpoint-interval", "'soon'"]),
    ("run-ckpt-interval-overflow", ["run", "{cfg}", "-o", "{out}", "--checkpoint-interval",
                                    "1e999"], ["--checkpoint-interval", "'1e999'"]),
    ("run-ckpt-every-negative", ["run", "{cfg}", "-o", "{out}", "--checkpoint-every=-1"],
     ["--checkpoint-every", "'-1'"]),
    ("run-ckpt-every-fraction", ["run", "{cfg}", "-o", "{out}", "--checkpoint-every", "1.5"],
     ["--checkpoint-every", "'1.5'"]),
    ("run-ckpt-every-nan", ["run", "{cfg}", "-o", "{out}", "--checkpoint-every", "nan"],
     ["--checkpoint-every", "'nan'"]),
    ("run-ckpt-every-empty", ["run", "{cfg}", "-o", "{out}", "--checkpoint-every", ""],
     ["--checkpoint-every", "''"]),
    ("run-progress-nan", ["run", "{cfg}", "-o", "{out}", "--progress-interval", "nan"],
     ["--progress-interval", "'nan'"]),
    ("run-progress-negative", ["run", "{cfg}", "-o", "{out}", "--progress-interval=-5"],
     ["--progress-interval", "'-5'"]),
    ("run-progress-inf", ["run", "{cfg}", "-o", "{out}", "--progress-interval", "inf"],
     ["--progress-interval", "'inf'"]),
    ("run-progress-word", ["run", "{cfg}", "-o", "{out}", "--progress-interval", "often"],
     ["--progress-interval", "'often'"]),
    ("run-log-level", ["run", "{cfg}", "-o", "{out}", "--log-level", "LOUD"],
     ["--log-level", "'LOUD'"]),
    ("run-force-and-resume", ["run", "{cfg}", "-o", "{out}", "--force", "--resume"],
     ["--force", "--resume"]),
    ("run-config-missing", ["run", "{dir}/nowhere.toml", "-o", "{out}"], ["nowhere.toml"]),
    ("run-config-directory", ["run", "{dir}", "-o", "{out}"], ["cannot read config"]),
    ("run-config-binary", ["run", "{dir}/binary.toml", "-o", "{out}"],
     ["cannot read config", "binary.toml"]),
    ("run-misspelt-option", ["run", "{cfg}", "-o", "{out}", "--chekpoint-every", "3"],
     ["'--chekpoint-every'"]),
    ("run-stray-positional", ["run", "{cfg}", "-o", "{out}", "extra"], ["'extra'"]),
    # -options_left once parsed as "-o ptions_left": an output file named ptions_left
    ("run-petsc-option-like-short-o", ["run", "{cfg}", "-options_left"], ["-o/--output"]),
    ("run-glued-short-value", ["run", "{cfg}", "-o{out}"], ["-o/--output"]),
    ("run-abbreviated-long-option", ["run", "{cfg}", "-o", "{out}", "--checkpoint", "3"],
     ["'--checkpoint'"]),
    ("kinetics-o-empty", ["kinetics", "{cfg}", "-o", ""], ["-o", "''"]),
    ("kinetics-ckpt-interval-nan", ["kinetics", "{cfg}", "-o", "{out}",
                                    "--checkpoint-interval", "nan"], ["--checkpoint-interval"]),
    ("compare-fraction-nan", ["compare", "{run}", "{run}", "--fraction", "nan"],
     ["--fraction", "'nan'"]),
    ("compare-fraction-zero", ["compare", "{run}", "{run}", "--fraction", "0"],
     ["--fraction", "'0'"]),
    ("compare-fraction-negative", ["compare", "{run}", "{run}", "--fraction=-0.1"],
     ["--fraction", "'-0.1'"]),
    ("compare-fraction-inf", ["compare", "{run}", "{run}", "--fraction", "inf"],
     ["--fraction", "'inf'"]),
    ("compare-fraction-word", ["compare", "{run}", "{run}", "-f", "tenth"], ["'tenth'"]),
    ("compare-one-file", ["compare", "{run}"], ["two run files"]),
    ("compare-petsc-option", ["compare", "{run}", "{run}", "-mfn_tol", "1e-8"],
     ["-mfn_tol", "takes no PETSc options"]),
    ("info-no-file", ["info"], ["FILE"]),
    ("info-unknown-option", ["info", "{run}", "--bogus"], ["--bogus"]),
    ("info-petsc-option", ["info", "{run}", "-log_view"], ["-log_view"]),
    ("analyze-unknown-option", ["analyze", "{run}", "--bogus"], ["--bogus"]),
    ("analyze-reference-missing", ["analyze", "{run}", "--reference", "{dir}/nowhere.h5",
                                   "-o", "{out}"], ["--reference", "nowhere.h5"]),
    ("hierarchy-energy-nan", ["hierarchy", "--preset", "supernova", "--E", "nan"], ["--E"]),
    ("hierarchy-density-inf", ["hierarchy", "--preset", "supernova", "--n", "inf"], ["--n"]),
    ("hierarchy-threshold-negative", ["hierarchy", "--preset", "supernova",
                                      "--threshold=-1"], ["--threshold"]),
    ("hierarchy-collision-rate-nan", ["hierarchy", "{cfg}", "--collision-rate", "nan"],
     ["--collision-rate"]),
]


@pytest.mark.parametrize("argv, needles", [c[1:] for c in ARG_CASES], ids=[c[0] for c in ARG_CASES])
def test_args(argv, needles, corpus, comm, capsys, shared_tmp_path):
    out = shared_tmp_path / "out.h5"
    if comm.Get_rank() == 0:
        (shared_tmp_path / "binary.toml").write_bytes(b"\xff\xfe\x00solver = \x80")
    comm.Barrier()
    fill = {"cfg": corpus["cfg"], "out": str(out), "dir": str(shared_tmp_path), "run": corpus["run"]}
    before = _listing(shared_tmp_path), _digest(corpus["run"])
    status, err, _ = _call([a.format(**fill) for a in argv], capsys)
    _assert_refused(comm, status, err, *needles)
    comm.Barrier()
    assert (_listing(shared_tmp_path), _digest(corpus["run"])) == before  # nothing created


# ------------------------------------------------------------------------ petsc family
PETSC_CASES = [
    ("mfn-tol-word", ["-mfn_tol", "banana"], ["-mfn_tol", "'banana'"]),
    ("mfn-tol-nan", ["-mfn_tol", "nan"], ["-mfn_tol", "'nan'"]),
    ("mfn-tol-inf", ["-mfn_tol", "inf"], ["-mfn_tol", "'inf'"]),
    ("mfn-tol-empty", ["-mfn_tol", ""], ["-mfn_tol", "''"]),
    ("mfn-tol-no-value", ["-mfn_tol"], ["-mfn_tol", "needs a value"]),
    ("mfn-tol-two-dots", ["-mfn_tol", "1..e-8"], ["-mfn_tol", "'1..e-8'"]),
    ("mfn-ncv-fraction", ["-mfn_ncv", "3.5"], ["-mfn_ncv", "'3.5'"]),
    ("mfn-ncv-word", ["-mfn_ncv", "many"], ["-mfn_ncv", "'many'"]),
    ("mfn-max-it-suffix", ["-mfn_max_it", "12abc"], ["-mfn_max_it", "'12abc'"]),
    ("mfn-type-bogus", ["-mfn_type", "bogus"], ["-mfn_type", "'bogus'", "krylov"]),
    ("eps-type-bogus", ["-eps_type", "bogus"], ["-eps_type", "'bogus'"]),
    ("st-type-bogus", ["-st_type", "bogus"], ["-st_type", "'bogus'"]),
    ("ts-type-bogus", ["-ts_type", "bogus"], ["-ts_type", "'bogus'"]),
    ("kin-ts-type-bogus", ["-kin_ts_type", "bogus"], ["-kin_ts_type", "'bogus'"]),
    ("kin-ts-dt-word", ["-kin_ts_dt", "abc"], ["-kin_ts_dt", "'abc'"]),
    ("kin-ts-max-time-nan", ["-kin_ts_max_time", "nan"], ["-kin_ts_max_time", "'nan'"]),
    ("kin-ts-max-steps-fraction", ["-kin_ts_max_steps", "10.5"], ["-kin_ts_max_steps"]),
    ("eps-tol-word", ["-eps_tol", "tight"], ["-eps_tol", "'tight'"]),
    ("ksp-rtol-word", ["-ksp_rtol", "x"], ["-ksp_rtol", "'x'"]),
    ("name-with-equals", ["-mfn_tol=1e-8"], ["'-mfn_tol=1e-8'"]),
    ("name-double-dash", ["--mfn_tol", "1e-8"], ["'--mfn_tol'"]),
    ("name-lone-dash", ["-"], ["'-'"]),
    ("name-starts-with-digit", ["-9abc"], ["'-9abc'"]),
    ("stray-value-first", ["1e-8", "-mfn_tol", "1e-8"], ["'1e-8'"]),
]


@pytest.mark.parametrize("options, needles", [c[1:] for c in PETSC_CASES],
                         ids=[c[0] for c in PETSC_CASES])
def test_petsc(options, needles, corpus, comm, capsys, shared_tmp_path):
    """Refused before PETSc's options database or any file is touched."""
    from petsc4py import PETSc

    out = shared_tmp_path / "out.h5"
    db = PETSc.Options().getAll()
    status, err, _ = _call(["run", corpus["cfg"], "-o", out, *options], capsys)
    _assert_refused(comm, status, err, *needles)
    assert PETSc.Options().getAll() == db
    comm.Barrier()
    assert not out.exists()


@pytest.mark.parametrize("name, value", [
    ("x_mfn_tol", "1e-8"), ("x_mfn_tol", "DEFAULT"), ("x_ts_rtol", "-3"), ("x_mfn_ncv", "40"),
    ("x_mfn_type", "krylov"), ("x_ts_type", "rk"), ("x_eps_type", "krylovschur"),
    ("x_monitor_anything", "banana"),  # type not known here: left to PETSc
], ids=lambda v: str(v))
def test_petsc_values_accepted(name, value):
    """The controls of the petsc family: values PETSc accepts pass the check."""
    PETSc, SLEPc = stack.init_petsc([])
    stack.check_petsc_values([(name, value)], PETSc, SLEPc)


def test_petsc_unused_option_is_reported_after_the_run(corpus, comm, capsys, shared_tmp_path):
    """A misspelt option (-mf_ts_rtl for -mf_ts_rtol) runs, then is named in a warning."""
    import logging

    from petsc4py import PETSc

    out = shared_tmp_path / "typo.h5"
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    logger = logging.getLogger("nmbhpc.cli")
    handler = Keep()
    logger.addHandler(handler)
    try:
        status, err, _ = _call(["run", corpus["cfg"], "-o", out, "--log-level", "WARNING",
                                "-hostile_mf_ts_rtl", "1e-8", "-mfn_tol", "1e-12"], capsys)
    finally:
        logger.removeHandler(handler)
        PETSc.Options().delValue("hostile_mf_ts_rtl")
    assert status == 0
    unused = [m for m in records if "not used" in m]
    if comm.Get_rank() == 0:
        assert len(unused) == 1 and "-hostile_mf_ts_rtl" in unused[0], records
        assert "-mfn_tol" not in unused[0]  # read by the manybody MFN
    else:
        assert unused == []


# ------------------------------------------------------------------------ files family
def _file_cases():
    cases = []
    for name in HOSTILE_FILES:
        cases += [(f"info-{name}", "info", name), (f"compare-ref-{name}", "compare-ref", name),
                  (f"compare-other-{name}", "compare-other", name),
                  (f"analyze-{name}", "analyze", name)]
    cases += [("compare-kinetics-file", "compare-ref", "@kin"),
              ("compare-other-kinetics-file", "compare-other", "@kin"),
              ("analyze-reference-kinetics-file", "analyze-reference", "@kin"),
              ("analyze-reference-truncated", "analyze-reference", "trunc-third.h5"),
              ("analyze-empty-directory", "analyze", "@emptydir")]
    return cases


FILE_CASES = _file_cases()


def _file_argv(corpus, command, target, out_dir):
    run = corpus["run"]
    return {"info": ["info", target], "compare-ref": ["compare", target, run],
            "compare-other": ["compare", run, target],
            "analyze": ["analyze", target, "--no-plots", "-o", out_dir],
            "analyze-reference": ["analyze", run, "--reference", target, "--no-plots",
                                  "-o", out_dir]}[command]


@pytest.mark.parametrize("command, name", [c[1:] for c in FILE_CASES],
                         ids=[c[0] for c in FILE_CASES])
def test_files(command, name, corpus, comm, capsys, shared_tmp_path):
    if name == "@kin":
        target = corpus["kin"]
    elif name == "@emptydir":
        target = str(shared_tmp_path / "nothing-here")
        if comm.Get_rank() == 0:
            os.makedirs(target)
        comm.Barrier()
    else:
        target = _bad_path(corpus, name)
    out_dir = str(shared_tmp_path / "analysis")
    before = _digest(target), _digest(corpus["run"])
    status, err, _ = _call(_file_argv(corpus, command, target, out_dir), capsys)
    needle = "/dev/null" if name == "devnull" else os.path.basename(target.rstrip("/"))
    _assert_refused(comm, status, err, needle)
    comm.Barrier()
    assert (_digest(target), _digest(corpus["run"])) == before
    assert not os.path.exists(out_dir)


@pytest.mark.parametrize("command", ["info", "compare-other", "analyze"])
@pytest.mark.parametrize("name", FLIPPED_FILES)
def test_files_flipped_bits(command, name, corpus, comm, capsys, shared_tmp_path):
    """Bit flips in HDF5 metadata without checksums: a clean error or a normal result."""
    target = _bad_path(corpus, name)
    out_dir = str(shared_tmp_path / "analysis")
    before = _digest(target)
    status, err, out = _call(_file_argv(corpus, command, target, out_dir), capsys)
    assert not any("Traceback" in line for line in err), err
    if status == 2:
        _assert_refused(comm, status, err, os.path.basename(target))
    else:
        assert status == 0, (status, err)
    assert _digest(target) == before


# ---------------------------------------------------------------------- signals family
def _caught(pid: int, sig: int) -> bool:
    """True once process ``pid`` has a handler for ``sig`` (SigCgt in /proc/PID/status)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) >> (sig - 1) & 1)
    except OSError:
        pass
    return False


def _wait(cond, proc, what):
    deadline = time.monotonic() + TIMEOUT
    while not cond():
        assert proc.poll() is None, f"ended (rc {proc.returncode}) before {what}"
        assert time.monotonic() < deadline, f"never {what}"
        time.sleep(0.02)


def _finish(proc):
    try:
        _, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("the signalled process hung")
    return proc.returncode, [line for line in err.splitlines() if line.strip()]


STATUS = {"SIGTERM": 143, "SIGINT": 130, "SIGUSR1": 75, "SIGUSR2": 75}


@serial
@pytest.mark.parametrize("signame", ["SIGTERM", "SIGINT", "SIGUSR1", "SIGUSR2"])
def test_signal_before_the_file_exists(signame, tmp_path):
    """As soon as nmbhpc handles signals (long before its file exists): the documented
    status, one line naming the signal, no file."""
    cfg = write_config(tmp_path, "manybody", t_final=1.0, n_out=4)
    out = tmp_path / "out.h5"
    proc = subprocess.Popen(nmbhpc_cmd("run", cfg, "-o", str(out)), env=python_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _wait(lambda: _caught(proc.pid, signal.SIGTERM), proc, "handled SIGTERM")
    assert not out.exists()
    proc.send_signal(getattr(signal, signame))
    status, err = _finish(proc)
    assert status == STATUS[signame], err
    assert not any("Traceback" in line for line in err), err
    assert err[-1] == f"nmbhpc run: interrupted by {signame} (exit status {status})", err
    assert not out.exists()


@serial
@pytest.mark.parametrize("signame", ["SIGTERM", "SIGINT", "SIGUSR1"])
def test_signal_during_a_checkpointing_run(signame, tmp_path):
    """A signal while a run writes outputs and a checkpoint after each: the documented
    status, a readable file with the outputs so far, and --resume completes it."""
    cfg = write_config(tmp_path, "manybody", t_final=2.0, n_out=11)
    out = tmp_path / "out.h5"
    env = python_env()
    env["NMBHPC_TEST_OUTPUT_DELAY"] = "0.3"
    proc = subprocess.Popen(nmbhpc_cmd("run", cfg, "-o", str(out), "--checkpoint-every", "1",
                                       "--log-level", "WARNING"), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def records():
        try:
            return read_run(str(out)).n_records >= 2
        except Exception:  # noqa: BLE001 - the file is being created
            return False

    _wait(records, proc, "wrote two outputs")
    proc.send_signal(getattr(signal, signame))
    status, err = _finish(proc)
    assert status == STATUS[signame], err
    assert not any("Traceback" in line for line in err), err
    cut = read_run(str(out))
    assert 2 <= cut.n_records < 11 and cut.status in ("interrupted", "failed")
    res = subprocess.run(nmbhpc_cmd("run", cfg, "-o", str(out), "--resume"), env=python_env(),
                         capture_output=True, text=True, timeout=TIMEOUT)
    assert res.returncode == 0, res.stderr[-2000:]
    done = read_run(str(out))
    assert done.status == "completed" and done.n_records == 11


@serial
@pytest.mark.parametrize("what", ["info", "help", "compare"])
def test_closed_stdout(what, corpus):
    """``nmbhpc info f.h5 | head -0``: status 141 (SIGPIPE's), nothing on stderr."""
    args = {"info": ["info", corpus["run"]], "help": ["--help"],
            "compare": ["compare", corpus["run"], corpus["run"]]}[what]
    r, w = os.pipe()
    os.close(r)  # the reader is gone before the first line is written
    try:
        res = subprocess.run(nmbhpc_cmd(*args), env=python_env(), stdout=w,
                             stderr=subprocess.PIPE, text=True, timeout=TIMEOUT)
    finally:
        os.close(w)
    assert res.returncode == cli.EXIT_BROKEN_PIPE, res.stderr
    assert res.stderr == ""


def test_closed_stdout_in_process(corpus, comm, monkeypatch):
    """Every rank ends with 141 when rank 0's reader went away (no rank left waiting)."""
    import io

    class Closed(io.StringIO):
        def write(self, s):
            raise BrokenPipeError(32, "Broken pipe")

    if comm.Get_rank() == 0:
        monkeypatch.setattr(sys, "stdout", Closed())
    dup2 = []
    monkeypatch.setattr(os, "dup2", lambda a, b: dup2.append(b))  # keep pytest's stdout
    monkeypatch.setattr(sys.stdout, "fileno", lambda: 1, raising=False)
    status = cli.main(["compare", corpus["run"], corpus["run"]])
    assert status == cli.EXIT_BROKEN_PIPE
