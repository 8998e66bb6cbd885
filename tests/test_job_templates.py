"""``nmbhpc slurm`` rendering, shell syntax of every job script, and the plain-mpirun scan.

(The templates under a real SLURM: tests/test_slurm.py.)
"""
from __future__ import annotations

import csv
import os
import shlex
import shutil
import subprocess
import sys

import pytest

from nmbhpc.cli import _rank, main as cli_main
from nmbhpc.runtime.job_templates import FIELD, KINDS, default_template_dir

from production_cases import REPO, python_env, write_config

serial = pytest.mark.serial


def _render(capsys, *argv) -> str:
    capsys.readouterr()
    assert cli_main(["slurm", *argv]) == 0
    return capsys.readouterr().out


@serial
def test_every_template_renders_to_valid_bash(tmp_path, capsys):
    table = tmp_path / "table.txt"
    table.write_text("name config\n# comment\n\na a.toml\nb b.toml -mfn_tol 1e-12\n")
    site = ["--partition", "debug", "--account", "phys", "--module", "petsc/3.18-complex",
            "--setup", "source .venv/bin/activate", "--sbatch=--mem-per-cpu=2G"]
    args = {"single": ["c.toml", "-o", "out/c.h5"], "long": ["c.toml", "-o", "out/c.h5"],
            "array": ["--table", str(table), "--scan-dir", "scan"], "analyze": ["--scan-dir", "scan"]}
    for kind in KINDS:
        script = _render(capsys, kind, *args[kind], *site, "--checkpoint-every", "5")
        assert not FIELD.search(script), f"{kind}: unfilled field"
        assert "#SBATCH --partition=debug" in script and "#SBATCH --account=phys" in script
        assert "#SBATCH --mem-per-cpu=2G" in script
        assert "module load petsc/3.18-complex" in script
        path = tmp_path / f"{kind}.sbatch"
        path.write_text(script)
        res = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
        assert res.returncode == 0, f"{kind}: {res.stderr}"
        if kind != "analyze":
            assert "--checkpoint-every 5" in script
    long = (tmp_path / "long.sbatch").read_text()
    assert "#SBATCH --signal=B:USR1@120" in long and "#SBATCH --requeue" in long
    assert "config=c.toml\noutput=out/c.h5\n" in long
    assert 'run "$config" -o "$output" --resume' in long and "scontrol requeue" in long
    assert "#SBATCH --array=0-1" in (tmp_path / "array.sbatch").read_text()


@serial
def test_shipped_scripts_are_valid_bash():
    scripts = sorted((REPO / "jobs").rglob("*.sh")) + sorted(
        p for p in default_template_dir().iterdir() if p.name.endswith(".sbatch"))
    assert len(scripts) >= 6
    for path in scripts:
        res = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
        assert res.returncode == 0, f"{path}: {res.stderr}"


@serial
def test_jobs_slurm_templates_are_the_packaged_ones():
    """One source of truth: jobs/slurm/KIND.sbatch is the packaged template, not a copy."""
    for kind in KINDS:
        shipped = default_template_dir() / f"{kind}.sbatch"
        assert (REPO / "jobs" / "slurm" / f"{kind}.sbatch").resolve() == \
            (REPO / "nmbhpc" / "templates" / "slurm" / f"{kind}.sbatch").resolve()
        assert FIELD.search(shipped.read_text()), f"{kind}: no template fields"


#: what a failed offline build says when the machine lacks the build backend
_NO_BACKEND = ("No module named 'setuptools'", "No module named 'wheel'", "BackendUnavailable",
               "Could not find a version that satisfies the requirement")


@serial
def test_non_editable_install_renders_the_templates(tmp_path):
    """``pip install .`` (no source tree at run time) must still render every kind."""
    src, venv = tmp_path / "src", tmp_path / "venv"
    shutil.copytree(REPO / "nmbhpc", src / "nmbhpc",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    base = getattr(sys, "_base_executable", sys.executable)  # the interpreter under our venv
    env = {k: v for k, v in python_env().items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    # --without-pip: the system pip (a system site-package) installs into the venv, and
    # ensurepip's 20 s are saved
    res = subprocess.run([base, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
                         capture_output=True, text=True, timeout=300, env=env)
    if res.returncode != 0:
        pytest.skip(f"cannot create a venv with {base}: {res.stderr.strip()[-300:]}")
    res = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--no-deps",
                          "--no-build-isolation", "--no-index", "--disable-pip-version-check",
                          str(src)], capture_output=True, text=True, timeout=600, env=env)
    if res.returncode != 0 and any(m in res.stderr for m in _NO_BACKEND):
        pytest.skip(f"offline pip cannot build nmbhpc here: {res.stderr.strip()[-300:]}")
    assert res.returncode == 0, res.stderr[-3000:]
    shutil.rmtree(src)  # the installed copy must not need it

    where = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import nmbhpc.runtime.job_templates as j; print(j.default_template_dir())"],
                           capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert where.returncode == 0, where.stderr[-2000:]
    assert where.stdout.strip().startswith(str(venv)), where.stdout
    table = tmp_path / "table.txt"
    table.write_text("name config\na a.toml\n")
    args = {"single": ["c.toml", "-o", "c.h5"], "long": ["c.toml", "-o", "c.h5"],
            "array": ["--table", str(table), "--scan-dir", "scan"], "analyze": ["--scan-dir", "s"]}
    scripts = {}
    for kind in KINDS:
        res = subprocess.run([str(venv / "bin" / "nmbhpc"), "slurm", kind, *args[kind]],
                             capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
        assert res.returncode == 0, f"{kind}: {res.stderr[-2000:]}"
        scripts[kind] = res.stdout
        assert res.stdout.startswith("#!/bin/bash") and not FIELD.search(res.stdout), kind
    assert "#SBATCH --signal=B:USR1@120" in scripts["long"]
    assert "#SBATCH --array=0-0" in scripts["array"]


@serial
@pytest.mark.parametrize("run_body, warn, requeued, rc", [
    ("exit 75", False, True, 0),       # checkpointed on the warning (or by itself)
    ("exec sleep 60", True, True, 0),  # the warning came during start-up: killed by SIGUSR1
    ("exit 3", False, False, 3),       # a failure is not requeued
])
def test_long_template_requeues_after_a_checkpoint_or_an_early_warning(
        tmp_path, capsys, run_body, warn, requeued, rc):
    """The batch-shell logic of long.sbatch with stand-ins for the run and scontrol."""
    import signal
    import time

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "scontrol").write_text(f"#!/bin/bash\necho \"$@\" >> {tmp_path}/scontrol.log\n")
    (bin_dir / "scontrol").chmod(0o755)
    started = tmp_path / "started"
    (tmp_path / "fake_run.sh").write_text(f"touch {started}\n{run_body}\n")
    script = tmp_path / "long.sbatch"
    assert cli_main(["slurm", "long", "c.toml", "-o", str(tmp_path / "out.h5"), "--launcher", "env",
                     "--nmbhpc", f"bash {tmp_path / 'fake_run.sh'}", "--workdir", str(tmp_path),
                     "--write", str(script)]) == 0
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", SLURM_JOB_ID="42")
    proc = subprocess.Popen(["bash", str(script)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while warn and not started.exists():
            assert time.monotonic() < deadline and proc.poll() is None, "the run never started"
            time.sleep(0.02)
        if warn:
            proc.send_signal(signal.SIGUSR1)  # what SLURM's --signal=B:USR1 does
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == rc, out
    log = tmp_path / "scontrol.log"
    assert (log.exists() and log.read_text().split() == ["requeue", "42"]) == requeued, out


@pytest.mark.parametrize("argv, message", [
    (["single", "c.toml"], "give CONFIG and -o"),
    (["array", "--scan-dir", "s"], "give --table"),
    (["analyze"], "give --scan-dir"),
    (["array", "--scan-dir", "s", "--table", "/nonexistent/table"], "--table"),
    (["analyze", "--scan-dir", "s", "c.toml"], "unexpected argument 'c.toml'"),
    (["single", "--checkpoint-every", "x", "c.toml", "-o", "o.h5"], "--checkpoint-every"),
    (["single", "c.toml", "-o", "o.h5", "--set", "nokey"], "--set: expected KEY=VALUE"),
])
def test_bad_render_requests_are_usage_errors(argv, message, comm, capsys):
    try:
        status = cli_main(["slurm", *argv])
    except SystemExit as exc:  # argparse's own refusals
        status = exc.code
    assert status == 2
    if comm.Get_rank() == 0:
        assert message in capsys.readouterr().err


@serial
@pytest.mark.parametrize("argv", [
    ["single", "--set", "model.mu=3", "--force", "c.toml", "-o", "o.h5", "-mfn_tol", "1e-9"],
    ["single", "c.toml", "--set", "model.mu=3", "-o", "o.h5", "--force", "-mfn_tol", "1e-9"],
])
def test_run_options_reach_the_job_wherever_they_stand(argv, capsys):
    script = _render(capsys, *argv)
    assert "config=c.toml\n" in script
    assert 'run "$config" -o "$output" --set model.mu=3 --force -mfn_tol 1e-9' in script


@serial
def test_mpirun_scan_script_runs_the_table_and_the_analysis(tmp_path):
    cfg = write_config(tmp_path, "meanfield", n_out=5)
    table = tmp_path / "table.txt"
    table.write_text(f"name config\nloose {cfg} -mf_ts_rtol 1e-6\ntight {cfg}\n")
    env = python_env()
    env["NMBHPC"] = f"{sys.executable} -m nmbhpc"
    env["MPIEXEC"] = "mpirun --allow-run-as-root --oversubscribe"
    res = subprocess.run(["bash", str(REPO / "jobs" / "mpirun" / "scan.sh"), str(table),
                          str(tmp_path / "scan"), "2"], env=env, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    with open(tmp_path / "scan" / "analysis" / "summary.csv") as fh:
        rows = {os.path.basename(r["file"]): r for r in csv.DictReader(fh)}
    assert set(rows) == {"loose.h5", "tight.h5"}
    assert all(r["status"] == "completed" and r["mpi_size"] == "2" for r in rows.values())


# -- hostile values in every field of every template -----------------------------------
#
# Each case renders a script with one hostile value in one field, runs it with bash and
# stand-ins on PATH (srun, mpirun, sbatch, nmbhpc, module, scontrol, touch: each records
# its argv), and checks that exactly the intended commands ran, with exactly the intended
# argv, and that the marker file of the injected `touch` does not exist. Values that
# cannot go into a script are refused: exit status 2 and one line naming the field.

#: values that must arrive verbatim, as one argument; "{m}" is the marker file's path
HOSTILE = {
    "cmdsubst": "$(touch {m})",
    "backticks": "`touch {m}`",
    "semicolon": "x; touch {m}",
    "and": "x && touch {m}",
    "pipe": "x | touch {m}",
    "redirect": "> {m}",
    "single-quotes": "'; touch {m}; '",
    "double-quotes": '"; touch {m}; "',
    "pre-quoted": "'/s/scan $(touch {m})'",
    "dq-subst": '"$(touch {m})"',
    "spaces": "a b  c",
    "star": "*",
    "glob": "[a-z]*?",
    "brace": "{a,b}",
    "dash": "-rf",
    "dashdash": "--help",
    "vars": "$HOME ${PATH} $((1+1))",
    "ansi-c": "$'\\x41'",
    "tilde": "~root",
    "history": "!! !$",
    "hash": "#not-a-comment",
    "percent": "%x-%j",
    "backslash": "a\\b\\n",
    "unicode": "ünïcødé-Δt-αβ",
    "emoji": "run-\U0001f4a5",
    "long": ("d" * 99 + "/") * 30 + "end",
}
#: values that must be refused in every field
REFUSED = {
    "newline": "x\ntouch {m}",
    "cr": "x\rtouch {m}",
    "tab": "a\tb",
    "nul": "a\x00b",
    "escape": "\x1b[31mred",
    "del": "a\x7fb",
    "nel": "a\x85b",
    "line-sep": "a\u2028b",
    "not-utf8": "a\udcffb",
}
#: what the error line names, per field
LABEL = {"config": "CONFIG", "output": "-o", "opt": "run option", "launcher": "--launcher",
         "nmbhpc": "--nmbhpc", "module": "--module", "workdir": "--workdir",
         "scan_dir": "--scan-dir", "table": "--table", "log_dir": "--log-dir",
         "row_name": "--table", "row_config": "--table", "row_opt": "--table",
         "job_name": "--job-name", "time": "--time", "partition": "--partition",
         "account": "--account", "qos": "--qos", "sbatch": "--sbatch", "setup": "--setup"}
#: the shell-word fields of each kind (#SBATCH fields are tested separately)
WORD_FIELDS = {
    "single": ("config", "output", "opt", "launcher", "nmbhpc", "module", "workdir"),
    "long": ("config", "output", "opt", "launcher", "nmbhpc"),
    "array": ("scan_dir", "table", "row_name", "row_config", "row_opt", "opt", "launcher"),
    "analyze": ("scan_dir", "workdir", "nmbhpc"),
}
STANDINS = ("srun", "mpirun", "sbatch", "nmbhpc", "module", "scontrol", "touch")


@pytest.fixture(scope="module")
def standin_bin(tmp_path_factory):
    """Stand-ins that append `argc name args...` (NUL-separated) to $ARGV_LOG."""
    bin_dir = tmp_path_factory.mktemp("standins")
    for name in STANDINS:
        extra = {"sbatch": "echo 4242\n",
                 "touch": 'PATH=/usr/bin:/bin command touch -- "$@"\n'}.get(name, "")
        path = bin_dir / name
        path.write_text('#!/bin/bash\nprintf \'%s\\0\' "$#" "${0##*/}" "$@" >> "$ARGV_LOG"\n'
                        + extra)
        path.chmod(0o755)
    return bin_dir


def _calls(log) -> list[list[str]]:
    if not log.exists():
        return []
    parts = [p.decode("utf-8", "surrogateescape") for p in log.read_bytes().split(b"\0")[:-1]]
    calls, i = [], 0
    while i < len(parts):
        n = int(parts[i])
        calls.append(parts[i + 1:i + 2 + n])
        i += 2 + n
    return calls


def _run_script(script, tmp_path, standin_bin, *args, env=None):
    log = tmp_path / "argv.log"
    base = {k: v for k, v in os.environ.items() if k not in ("NMBHPC", "MPIEXEC")}
    env = dict(base, PATH=f"{standin_bin}:{os.environ['PATH']}", ARGV_LOG=str(log),
               SLURM_JOB_ID="7", SLURM_ARRAY_TASK_ID="1", SLURM_NTASKS="2", **(env or {}))
    res = subprocess.run(["bash", str(script), *args], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    return res, _calls(log)


def _as_path(value: str) -> str:
    """What a relative path becomes in a script: `./` before a leading '-'."""
    return "./" + value if value.startswith("-") else value


def _applies(field, value) -> bool:
    """Whether ``value`` can be given to ``field`` at all."""
    if field in ("config", "opt") and value.startswith("-"):
        return False  # argparse reads it as an option (a user writes ./-x)
    if field.startswith("row_"):  # a table word has no blanks; '#' first makes a comment row
        return not (any(c.isspace() for c in value) or (field == "row_name" and value[0] == "#"))
    return True


def _job(kind, tmp_path, field, value):
    """(argv of `nmbhpc slurm`, calls the rendered script must make), with ``value`` in
    ``field``."""
    v = dict(config="c.toml", output="out/c.h5", opt=None, launcher=None, nmbhpc=None,
             module=None, workdir=str(tmp_path / "work"), scan_dir="scan", table=None,
             row_name="r1", row_config="r1.toml", row_opt=None)
    v[field] = value
    if field == "workdir":
        v["workdir"] = str(tmp_path / "work" / value)
    launch = ["srun"] + ([value] if field == "launcher" else [])
    nmbhpc = ["nmbhpc"] + ([value] if field == "nmbhpc" else [])
    opts = ["-x_opt", v["opt"]] if v["opt"] is not None else []
    argv = ["slurm", kind] + ([v["config"]] if kind in ("single", "long") else [])
    argv += ["--workdir=" + v["workdir"], "--launcher=" + shlex.join(launch),
            "--nmbhpc=" + shlex.join(nmbhpc), *opts]
    calls = []
    if v["module"] is not None:
        argv.append("--module=" + v["module"])
        calls.append(["module", "load", v["module"]])
    if kind in ("single", "long"):
        argv.append("--output=" + v["output"])
        config, output = _as_path(v["config"]), _as_path(v["output"])
        extra = ["--resume", "--checkpoint-interval", "1800"] if kind == "long" else []
        calls += [[*launch, *nmbhpc, "run", config, "-o", output, *extra, *opts],
                  [*nmbhpc, "info", output]]
    elif kind == "analyze":
        scan = _as_path(v["scan_dir"])
        argv.append("--scan-dir=" + v["scan_dir"])
        calls.append([*nmbhpc, "analyze", scan, "-o", scan + "/analysis"])
    else:
        table = tmp_path / "tables" / (v["table"] or "table.txt")
        table.parent.mkdir(parents=True, exist_ok=True)
        row_opts = [v["row_opt"]] if v["row_opt"] is not None else []
        table.write_text(" ".join(["name", "config\nr0", "r0.toml\n", v["row_name"],
                                   v["row_config"], *row_opts]) + "\n")
        scan = _as_path(v["scan_dir"])
        argv += ["--scan-dir=" + v["scan_dir"], "--table=" + str(table)]
        calls.append([*launch, *nmbhpc, "run", v["row_config"], "-o",
                      f"{scan}/{v['row_name']}.h5", "--resume", *opts, *row_opts])
    return argv, calls


def _refused(capsys, argv, label):
    """Exit status 2 on every rank; rank 0 (it prints) prints one line naming ``label``."""
    capsys.readouterr()
    rc = cli_main(argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    if _rank() != 0:
        assert err == ""
        return err
    assert err.count("\n") == 1 and err.endswith("\n"), f"not one line: {err!r}"
    assert f"error: {label} " in err or f"error: {label}=" in err, err
    return err


def _cases(fields, values):
    return [pytest.param(kind, field, key, id=f"{kind}-{field}-{key}")
            for kind, kf in fields.items() for field in kf for key in values
            if _applies(field, values[key])]


@serial
@pytest.mark.parametrize("kind, field, key", _cases(WORD_FIELDS, HOSTILE))
def test_hostile_value_reaches_the_command_as_one_argument(kind, field, key, tmp_path,
                                                           standin_bin, capsys):
    marker = tmp_path / "PWNED"
    value = HOSTILE[key].replace("{m}", str(marker))
    argv, expected = _job(kind, tmp_path, field, value)
    os.makedirs(tmp_path / "work" / (value if field == "workdir" else ""), exist_ok=True)
    script = tmp_path / "job.sbatch"
    refuse = ((field in ("module", "row_config") and value.startswith("-"))
              or (field == "workdir" and "\\" in value)  # the default log directory
              or (field == "row_name" and ("/" in value or value.startswith("-"))))
    if refuse:
        _refused(capsys, argv + ["--write", str(script)], LABEL[field])
        assert not script.exists()
        return
    assert cli_main(argv + ["--write", str(script)]) == 0
    res, calls = _run_script(script, tmp_path, standin_bin)
    assert res.returncode == 0, res.stderr[-2000:]
    assert calls == expected, res.stderr[-2000:]
    assert not marker.exists()


@pytest.mark.parametrize("kind, field, key", [
    pytest.param(kind, field, key, id=f"{kind}-{field}-{key}")
    for kind, fields in {
        "single": ("config", "output", "opt", "launcher", "nmbhpc", "module", "workdir",
                   "log_dir", "setup", "job_name", "time", "partition", "account", "qos",
                   "sbatch"),
        "array": ("scan_dir", "table", "row_name", "row_config", "row_opt")}.items()
    for field in fields for key in REFUSED
    # in a table, a tab separates columns and a newline rows
    if not (field.startswith("row_") and key in ("tab", "newline"))])
def test_control_characters_are_refused_in_every_field(kind, field, key, tmp_path, capsys):
    value = REFUSED[key].replace("{m}", str(tmp_path / "PWNED"))
    table = tmp_path / "table.txt"
    table.write_text("name config\nr1 r1.toml\n")
    argv = ["slurm", kind, "c.toml", "--workdir", str(tmp_path), "--output=o.h5"] \
        if kind == "single" else \
        ["slurm", kind, "--workdir", str(tmp_path), "--scan-dir=scan", "--table=" + str(table)]
    flag = {"workdir": "--workdir", "log_dir": "--log-dir", "setup": "--setup",
            "module": "--module", "job_name": "--job-name", "time": "--time",
            "partition": "--partition", "account": "--account", "qos": "--qos",
            "launcher": "--launcher", "nmbhpc": "--nmbhpc", "scan_dir": "--scan-dir"}
    if field in flag:
        argv.append(f"{flag[field]}={value}")
    elif field == "sbatch":
        argv.append(f"--sbatch=--mem={value}")
    elif field == "config":
        argv[2] = value
    elif field == "output":
        argv[-1] = "--output=" + value
    elif field == "opt":
        argv += ["-x_opt", value]
    elif field == "table":
        argv[-1] = "--table=" + str(tmp_path / value)
    else:  # a row of the table
        row = {"row_name": [value, "r1.toml"], "row_config": ["r1", value],
               "row_opt": ["r1", "r1.toml", value]}[field]
        table.write_bytes(("name config\n" + " ".join(row) + "\n").encode("utf-8",
                                                                          "surrogateescape"))
    err = _refused(capsys, argv + ["--write", str(tmp_path / "job.sbatch")], LABEL[field])
    assert _rank() != 0 or "contains" in err or (key == "not-utf8" and "not UTF-8" in err), err
    assert not (tmp_path / "job.sbatch").exists() and not (tmp_path / "PWNED").exists()


SBATCH_FIELDS = {"job_name": "--job-name", "time": "--time", "partition": "--partition",
                 "account": "--account", "qos": "--qos", "sbatch": "--sbatch=--mem-per-cpu"}


@pytest.mark.parametrize("field, key", [
    pytest.param(f, k, id=f"{f}-{k}") for f in SBATCH_FIELDS for k in HOSTILE])
def test_sbatch_directive_values_outside_sbatch_syntax_are_refused(field, key, tmp_path, capsys):
    value = HOSTILE[key].replace("{m}", str(tmp_path / "PWNED"))
    argv = ["slurm", "single", "c.toml", "--output=o.h5", f"{SBATCH_FIELDS[field]}={value}",
            "--write", str(tmp_path / "job.sbatch")]
    _refused(capsys, argv, LABEL[field])
    assert not (tmp_path / "job.sbatch").exists()


@serial
@pytest.mark.parametrize("option, value, line", [
    ("--time", "30", "--time=30"), ("--time", "30:00", "--time=30:00"),
    ("--time", "12:00:00", "--time=12:00:00"), ("--time", "2-0", "--time=2-0"),
    ("--time", "2-12:30", "--time=2-12:30"), ("--time", "2-12:30:00", "--time=2-12:30:00"),
    ("--time", "UNLIMITED", "--time=UNLIMITED"),
    ("--job-name", "mu05_scan.v2+x", "--job-name=mu05_scan.v2+x"),
    ("--partition", "short,debug", "--partition=short,debug"),
    ("--account", "phys-42", "--account=phys-42"), ("--qos", "normal", "--qos=normal"),
    ("--sbatch", "--mem-per-cpu=4G", "--mem-per-cpu=4G"), ("--sbatch", "--mem=512M", "--mem=512M"),
    ("--sbatch", "--nodes=2-4", "--nodes=2-4"), ("--sbatch", "--exclusive", "--exclusive"),
    ("--sbatch", "--constraint=skylake&ib", "--constraint=skylake&ib"),
    ("--sbatch", "--mail-type=END,FAIL", "--mail-type=END,FAIL"),
])
def test_sbatch_values_in_sbatch_syntax_are_written(option, value, line, tmp_path, capsys):
    capsys.readouterr()
    assert cli_main(["slurm", "single", "c.toml", "--output=o.h5", f"{option}={value}"]) == 0
    script = capsys.readouterr().out
    assert f"\n#SBATCH {line}\n" in script


@pytest.mark.parametrize("option, value", [
    ("--time", "1h"), ("--time", "1:00:00:00"), ("--time", "-1"), ("--time", "1.5"),
    ("--time", ""), ("--time", " 1:00"), ("--job-name", ""), ("--job-name", "a/b"),
    ("--job-name", "x" * 300), ("--partition", "a,,b"), ("--account", "a,b"),
    ("--sbatch", "--mem-per-cpu=4 G"), ("--sbatch", "--nodes=0"), ("--sbatch", "--ntasks=two"),
    ("--sbatch", "--exclusive=yes"), ("--sbatch", "--mem"), ("--sbatch", "-N 2"),
    ("--sbatch", "--wrap=touch x"), ("--sbatch", "--time=1:00"), ("--sbatch", "--output=/x"),
    ("--sbatch", "--constraint=a b"), ("--sbatch", "--constraint=a#b"),
    ("--sbatch", "--mail-user=x'y"), ("--module", "-f"),
])
def test_sbatch_values_outside_sbatch_syntax_are_refused(option, value, tmp_path, capsys):
    _refused(capsys, ["slurm", "single", "c.toml", "--output=o.h5", f"{option}={value}"], option)


@pytest.mark.parametrize("option, value", [
    ("--ntasks", "0"), ("--ntasks", "-2"), ("--signal-lead", "0"),
    ("--checkpoint-interval", "nan"), ("--checkpoint-interval", "inf"),
    ("--checkpoint-interval", "-1"), ("--checkpoint-interval", "0"),
    ("--checkpoint-interval", "1e400"), ("--launcher", "srun 'unbalanced"),
    ("--nmbhpc", ""), ("--nmbhpc", "'"), ("--workdir", ""), ("--log-dir", "/a\\b"),
])
def test_bad_numbers_and_commands_are_refused(option, value, tmp_path, capsys):
    _refused(capsys, ["slurm", "long", "c.toml", "--output=o.h5", f"{option}={value}"], option)


def _sbatch_words(line: str) -> list[str]:
    """The arguments sbatch takes from one `#SBATCH` line: its rules for script lines
    (src/sbatch/opt.c): blanks separate, '...' and "..." group, a backslash escapes the
    next character, an unquoted '#' starts a comment."""
    words, cur, quote, escape, i = [], None, None, False, 0
    for ch in line:
        if not quote and not escape and ch.isspace():
            if cur is not None:
                words.append(cur)
            cur = None
            continue
        cur = cur or ""
        if escape:
            escape = False
            cur += ch
        elif ch == "\\":
            escape = True
        elif quote:
            if ch == quote:
                quote = None
            else:
                cur += ch
        elif ch in "'\"":
            quote = ch
        elif ch == "#":
            break
        else:
            cur += ch
    assert quote is None, f"unmatched quote in {line!r}"
    return words + ([cur] if cur else [])


@serial
@pytest.mark.parametrize("key", sorted(HOSTILE))
def test_hostile_log_dir_is_one_sbatch_argument(key, tmp_path, standin_bin, capsys):
    marker = tmp_path / "PWNED"
    value = HOSTILE[key].replace("{m}", str(marker))
    log_dir = str(tmp_path / "logs" / value)
    argv = ["slurm", "single", "c.toml", "--workdir", str(tmp_path), "--output=o.h5",
            "--log-dir=" + log_dir]
    if "\\" in value:
        _refused(capsys, argv, "--log-dir")
        return
    capsys.readouterr()
    assert cli_main(argv) == 0
    script = capsys.readouterr().out
    line = next(ln for ln in script.splitlines() if ln.startswith("#SBATCH --output="))
    assert _sbatch_words(line[len("#SBATCH"):]) == [
        "--output=" + log_dir.replace("%", "%%") + "/%x-%j.out"]
    path = tmp_path / "job.sbatch"
    path.write_text(script)
    res, calls = _run_script(path, tmp_path, standin_bin)
    assert res.returncode == 0, res.stderr[-2000:]
    assert calls == [["srun", "nmbhpc", "run", "c.toml", "-o", "o.h5"], ["nmbhpc", "info", "o.h5"]]
    assert not marker.exists()


def test_sbatch_word_reader_follows_sbatch_rules():
    """The reader the log-dir test relies on, on lines whose sbatch reading is documented."""
    assert _sbatch_words(' --output="/a b/\\#c\\"d"/%x.out # comment') == \
        ['--output=/a b/#c"d/%x.out']
    assert _sbatch_words(" --job-name=x#y") == ["--job-name=x"]
    assert _sbatch_words(" --a='b c' --d") == ["--a=b c", "--d"]


#: jobs/ scripts that take values as arguments: (script, argv, expected calls); {v} is the value
SCRIPT_CASES = {
    "run_mpirun-config": ("run_mpirun.sh", ["{v}", "out/o.h5"],
                          [["mpirun", "-n", "2", "nmbhpc", "run", "{v}", "-o", "out/o.h5"],
                           ["nmbhpc", "info", "out/o.h5"]]),
    "run_mpirun-output": ("run_mpirun.sh", ["c.toml", "{v}"],
                          [["mpirun", "-n", "2", "nmbhpc", "run", "c.toml", "-o", "{v}"],
                           ["nmbhpc", "info", "{v}"]]),
    "run_mpirun-option": ("run_mpirun.sh", ["c.toml", "o.h5", "3", "-x_opt", "{v}"],
                          [["mpirun", "-n", "3", "nmbhpc", "run", "c.toml", "-o", "o.h5",
                            "-x_opt", "{v}"], ["nmbhpc", "info", "o.h5"]]),
    "submit_scan-array": ("slurm/submit_scan.sh", ["{v}", "b.sbatch"],
                          [["sbatch", "--parsable", "{v}"],
                           ["sbatch", "--parsable", "--dependency=afterok:4242", "b.sbatch"]]),
    "submit_scan-analysis": ("slurm/submit_scan.sh", ["a.sbatch", "{v}"],
                             [["sbatch", "--parsable", "a.sbatch"],
                              ["sbatch", "--parsable", "--dependency=afterok:4242", "{v}"]]),
}


@serial
@pytest.mark.parametrize("case, key", [
    pytest.param(c, k, id=f"{c}-{k}") for c in SCRIPT_CASES for k in HOSTILE])
def test_hostile_arguments_of_the_shipped_scripts(case, key, tmp_path, standin_bin):
    marker = tmp_path / "PWNED"
    value = HOSTILE[key].replace("{m}", str(marker))
    script, args, expected = SCRIPT_CASES[case]
    fill = lambda words: [w.replace("{v}", value) for w in words]  # noqa: E731
    res, calls = _run_script(REPO / "jobs" / script, tmp_path, standin_bin, *fill(args),
                             env={"MPIEXEC": "mpirun", "NMBHPC": "nmbhpc"})
    assert res.returncode == 0, res.stderr[-2000:]
    assert calls == [fill(c) for c in expected], res.stderr[-2000:]
    assert not marker.exists()


@pytest.mark.parametrize("line, refused", [
    ('"@@SCAN_DIR@@/$name.h5"', True),           # the pasted-inside-quotes injection
    ("'@@CONFIG@@'", True),
    ('echo "run: @@NMBHPC@@ x"', True),
    ('mkdir -p "$(dirname @@OUTPUT@@)"', False),  # a $(...) is a new, unquoted context
    ('x=@@SCAN_DIR@@; echo "it\'s" @@SCAN_DIR@@', False),
    ('echo "@@TIME@@"', False),                   # not a shell-word field
])
def test_site_template_that_quotes_a_shell_word_field_is_refused(line, refused, tmp_path,
                                                                  capsys):
    (tmp_path / "analyze.sbatch").write_text(
        "#!/bin/bash\n#SBATCH --time=@@TIME@@\n# a comment's @@SCAN_DIR@@\n"
        f"{line}\n@@NMBHPC@@ analyze @@SCAN_DIR@@ -o @@OUTPUT@@\n")
    argv = ["slurm", "analyze", "--scan-dir=s", "--template-dir", str(tmp_path)]
    if refused:
        err = _refused(capsys, argv, "template")
        assert _rank() != 0 or "line 4: @@" in err
    else:
        capsys.readouterr()
        assert cli_main(argv) == 2  # the analyze kind has no OUTPUT field
        assert _rank() != 0 or "fields without a value: OUTPUT" in capsys.readouterr().err
