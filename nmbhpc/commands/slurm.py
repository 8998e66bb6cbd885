"""``nmbhpc slurm KIND ...``: print a SLURM batch script from nmbhpc's templates.

Kinds: ``single`` (one run), ``array`` (a scan driven by a parameter table,
one array task per row), ``analyze`` (``nmbhpc analyze`` of a scan directory;
chain it with ``--dependency=afterok``, see jobs/slurm/submit_scan.sh) and
``long`` (checkpoints on SLURM's warning signal and requeues itself).
Cluster-specific lines come from --partition/--account/--qos/--sbatch and
--module/--setup. Options this command does not know (``--checkpoint-every
5``, ``-mfn_tol 1e-12``) are passed to ``nmbhpc run`` in the script.
"""
from __future__ import annotations

import os
import shlex

from ..cli import UsageError


def register(subparsers) -> None:
    from ..job_templates import KINDS

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
                   help="shell line run before nmbhpc, e.g. 'source .venv/bin/activate' (repeatable)")
    p.add_argument("--launcher", default="srun", help="MPI launcher inside the job (default srun)")
    p.add_argument("--nmbhpc", default="nmbhpc", help="command that runs nmbhpc (default nmbhpc)")
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
    p.set_defaults(func=run)


def _fields(args) -> dict:
    from .. import job_templates as jt

    q = jt.q
    workdir = os.path.abspath(args.workdir or os.getcwd())
    fields = {
        "JOB_NAME": args.job_name or "nmbhpc",
        "NTASKS": str(args.ntasks), "TIME": args.time, "WORKDIR": q(workdir),
        "LOG_DIR": os.path.abspath(args.log_dir or workdir),
        "SITE_SBATCH": jt.site_sbatch(args.partition, args.account, args.qos, args.sbatch),
        "SITE_SETUP": jt.site_setup(args.module, args.setup),
        "LAUNCH": args.launcher, "NMBHPC": args.nmbhpc,
        "RUN_OPTIONS": " ".join(shlex.quote(a) for a in args.petsc_args),
        "SIGNAL_LEAD": str(args.signal_lead),
        "CHECKPOINT_INTERVAL": f"{args.checkpoint_interval:g}",
    }
    kind = args.kind
    if kind in ("single", "long"):
        if not args.config or not args.output:
            raise UsageError(f"slurm {kind}: give CONFIG and -o OUTPUT")
        fields.update(CONFIG=q(args.config), OUTPUT=q(args.output))
        if not args.job_name:
            fields["JOB_NAME"] = os.path.splitext(os.path.basename(args.config))[0]
    if kind in ("array", "analyze") and not args.scan_dir:
        raise UsageError(f"slurm {kind}: give --scan-dir")
    if args.scan_dir:
        fields["SCAN_DIR"] = q(args.scan_dir)
    if kind == "array":
        if not args.table:
            raise UsageError("slurm array: give --table")
        try:
            rows = jt.table_rows(args.table)
        except OSError as exc:
            raise UsageError(f"--table: {exc}") from None
        if not rows:
            raise UsageError(f"--table {args.table}: no rows after the header")
        bad = [r[0] for r in rows if len(r) < 2]
        if bad:
            raise UsageError(f"--table {args.table}: rows without a config: {', '.join(bad)}")
        fields.update(TABLE=q(args.table), ARRAY=f"0-{len(rows) - 1}")
    if args.signal_lead <= 0 or args.ntasks <= 0:
        raise UsageError("--signal-lead and --ntasks must be positive")
    return fields


def run(args) -> int:
    """Not collective: rank 0 renders (harmless under mpirun)."""
    from .. import job_templates as jt

    path = jt.template_path(args.kind, args.template_dir)
    try:
        text = path.read_text()
    except OSError as exc:
        raise UsageError(f"template {path}: {exc}") from None
    try:
        script = jt.render(text, _fields(args))
    except KeyError as exc:
        raise UsageError(f"template {path}: {exc.args[0]}") from None
    if _rank() != 0:
        return 0
    if args.write:
        with open(args.write, "w") as fh:
            fh.write(script)
        os.chmod(args.write, 0o755)
    else:
        print(script, end="")
    return 0


def _rank() -> int:
    from ..cli import _rank

    return _rank()
