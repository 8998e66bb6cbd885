"""``nmbhpc slurm KIND ...``: print a SLURM batch script from nmbhpc's templates.

Kinds: ``single`` (one run), ``array`` (a scan driven by a parameter table,
one array task per row), ``analyze`` (``nmbhpc analyze`` of a scan directory;
chain it with ``--dependency=afterok``, see jobs/slurm/submit_scan.sh) and
``long`` (checkpoints on SLURM's warning signal and requeues itself).
Cluster-specific lines come from --partition/--account/--qos/--sbatch and
--module/--setup. The run options (``--set``, ``--checkpoint-every 5``, ...;
checked as ``nmbhpc run`` checks them) and PETSc options (``-mfn_tol 1e-12``)
are passed to ``nmbhpc run`` in the script.

Every value lands in the script quoted for its place (one shell word each,
#SBATCH values in the syntax sbatch accepts for the option) or is refused
with exit status 2: a newline or other control character in any value, an
#SBATCH value sbatch would not accept (``--time 1h``, ``--job-name 'a b'``).
"""
from __future__ import annotations

import os
import re

from ..cli import UsageError, add_run_options


def register(subparsers) -> None:
    from ..runtime.job_templates import KINDS

    p = subparsers.add_parser(
        "slurm", help="render a SLURM batch script (single run, scan array, analysis, long run)",
        description=__doc__.split("\n\n", 1)[1])
    p.add_argument("kind", choices=KINDS)
    p.add_argument("config", nargs="?", help="run configuration (single, long)")
    p.add_argument("-o", "--output", help="run file the job writes (single, long)")
    p.add_argument("--table", help="parameter table: header, then `name config [options]` rows (array)")
    p.add_argument("--scan-dir", help="directory of the scan's run files (array, analyze)")
    p.add_argument("--job-name", default=None)
    p.add_argument("--ntasks", type=int, default=2, help="MPI ranks per run (default 2)")
    p.add_argument("--time", default="01:00:00", help="time limit per job (default 01:00:00)")
    p.add_argument("--partition")
    p.add_argument("--account")
    p.add_argument("--qos")
    p.add_argument("--sbatch", action="append", default=[], metavar="OPTION",
                   help="extra #SBATCH option, e.g. --sbatch=--mem-per-cpu=4G (repeatable)")
    p.add_argument("--module", action="append", default=[], help="module to load (repeatable)")
    p.add_argument("--setup", action="append", default=[], metavar="COMMAND",
                   help="shell line run before nmbhpc, e.g. 'source .venv/bin/activate' "
                        "(repeatable; written verbatim: it is shell code)")
    p.add_argument("--launcher", default="srun",
                   help="MPI launcher command inside the job (default srun); split into words "
                        "as a shell would, nothing expanded")
    p.add_argument("--nmbhpc", default="nmbhpc",
                   help="command that runs nmbhpc (default nmbhpc), split like --launcher")
    p.add_argument("--workdir", default=None, help="directory the job runs in (default: here)")
    p.add_argument("--log-dir", default=None, help="directory of the job logs (default: workdir)")
    p.add_argument("--signal-lead", type=int, default=120, metavar="SECONDS",
                   help="long: warning before the time limit (default 120)")
    p.add_argument("--checkpoint-interval", type=float, default=1800.0, metavar="SECONDS",
                   help="long: wall seconds between periodic checkpoints (default 1800)")
    p.add_argument("--template-dir", default=None,
                   help="directory of KIND.sbatch templates (default: the ones shipped with "
                        "nmbhpc, also in jobs/slurm/)")
    p.add_argument("--write", metavar="FILE", help="write the script to FILE instead of stdout")
    # the job's `nmbhpc run` options, known here so that their values are never read as
    # CONFIG; --checkpoint-interval is this command's own (the job passes it on)
    add_run_options(p, forward=True, skip=("--checkpoint-interval",))
    p.set_defaults(func=run)


def _fields(args) -> dict:
    """The template fields, each quoted for where it stands (see nmbhpc.runtime.job_templates)."""
    from ..runtime import job_templates as jt

    kind = args.kind
    if kind in ("single", "long") and (args.config is None or args.output is None):
        raise UsageError(f"slurm {kind}: give CONFIG and -o OUTPUT")
    if kind in ("array", "analyze") and args.config is not None:
        raise UsageError(f"slurm {kind}: unexpected argument {args.config!r} (CONFIG is for "
                         f"single and long; an array's table names each run's config)")
    if kind in ("array", "analyze") and args.scan_dir is None:
        raise UsageError(f"slurm {kind}: give --scan-dir")
    if kind == "array" and args.table is None:
        raise UsageError("slurm array: give --table")
    workdir = _absolute("--workdir", args.workdir) if args.workdir is not None else os.getcwd()
    log_dir = _absolute("--log-dir", args.log_dir) if args.log_dir is not None else workdir
    if args.job_name is not None:
        job_name = jt.sbatch_value("--job-name", "job-name", args.job_name)
    elif kind in ("single", "long"):
        # a name sbatch takes, whatever the config file is called
        stem = os.path.splitext(os.path.basename(jt.check_text("CONFIG", args.config)))[0]
        job_name = re.sub(r"[^A-Za-z0-9_.+-]", "_", stem).lstrip("-.+")[:64] or "nmbhpc"
    else:
        job_name = "nmbhpc"
    fields = {
        "JOB_NAME": job_name,
        "NTASKS": jt.positive("--ntasks", args.ntasks),
        "TIME": jt.sbatch_value("--time", "time", args.time),
        "WORKDIR": jt.path_word("--workdir", workdir),
        # the log directory defaults to workdir: name the option the value came from
        "LOG_DIR": jt.sbatch_path("--log-dir" if args.log_dir is not None else "--workdir",
                                  log_dir),
        "SITE_SBATCH": jt.site_sbatch(args.partition, args.account, args.qos, args.sbatch),
        "SITE_SETUP": jt.site_setup(args.module, args.setup),
        "LAUNCH": jt.join_words(jt.command_words("--launcher", args.launcher)),
        "NMBHPC": jt.join_words(_nonempty("--nmbhpc", jt.command_words("--nmbhpc", args.nmbhpc))),
        "RUN_OPTIONS": " ".join(jt.shell_word("run option", a)
                                for a in (args.run_options or []) + args.petsc_args),
        "SIGNAL_LEAD": jt.positive("--signal-lead", args.signal_lead),
        "CHECKPOINT_INTERVAL": jt.positive("--checkpoint-interval", args.checkpoint_interval,
                                           integer=False),
    }
    if kind in ("single", "long"):
        fields.update(CONFIG=jt.path_word("CONFIG", args.config),
                      OUTPUT=jt.path_word("-o", args.output))
    if kind in ("array", "analyze"):
        fields["SCAN_DIR"] = jt.path_word("--scan-dir", args.scan_dir)
    if kind == "array":
        # read here, relative to this directory: absolute in the script, which runs in workdir
        table = _absolute("--table", args.table)
        fields["TABLE"] = jt.path_word("--table", table)
        try:
            rows = jt.table_rows(table)
        except OSError as exc:
            raise UsageError(f"--table {jt.show(args.table)}: {exc.strerror}") from None
        if not rows:
            raise UsageError(f"--table {args.table}: no rows after the header")
        fields["ARRAY"] = f"0-{len(rows) - 1}"
    return fields


def _absolute(option: str, path: str) -> str:
    from ..runtime import job_templates as jt

    if not jt.check_text(option, path):
        raise UsageError(f"{option} '': an empty path")
    return os.path.abspath(path)


def _nonempty(option: str, words: list) -> list:
    if not words:
        raise UsageError(f"{option} '': give the command that runs nmbhpc")
    return words


def run(args) -> int:
    """Not collective: rank 0 renders (harmless under mpirun)."""
    from ..runtime import job_templates as jt

    path = jt.template_path(args.kind, args.template_dir)
    try:
        text = path.read_text()
    except OSError as exc:
        raise UsageError(f"template {path}: {exc}") from None
    try:
        script = jt.render(text, _fields(args))
        if args.write is not None and not jt.check_text("--write", args.write):
            raise jt.FieldError("--write '': an empty path")
    except KeyError as exc:
        raise UsageError(f"template {path}: {exc.args[0]}") from None
    except jt.FieldError as exc:
        raise UsageError(str(exc)) from None
    if _rank() != 0:
        return 0
    if args.write is not None:
        try:
            with open(args.write, "w") as fh:
                fh.write(script)
            os.chmod(args.write, 0o755)
        except OSError as exc:
            raise UsageError(f"--write {jt.show(args.write)}: {exc.strerror}") from None
    else:
        print(script, end="")
    return 0


def _rank() -> int:
    from ..cli import _rank

    return _rank()
