"""Rendering of the SLURM templates (``nmbhpc slurm``).

The templates are package data, ``nmbhpc/templates/slurm/KIND.sbatch``, so an
installed nmbhpc (wheel, ``pip install .``, site module) renders them without
a source tree; ``jobs/slurm/KIND.sbatch`` in the repository are links to the
same files, not copies.

A template is a batch script with ``@@NAME@@`` fields; :func:`render` fills
them from a dict of strings that are already quoted for the place the field
stands in, and refuses a template with a field left unfilled. The
site-specific parts (partition, account, module loads, environment set-up)
are fields too, so one template serves every cluster.

Quoting, by context:

- shell words (paths, run options, the words of ``--launcher`` and
  ``--nmbhpc``): :func:`shell_word`/:func:`path_word`/:func:`command_words`,
  i.e. :func:`shlex.quote`; a template uses them unquoted (never inside
  ``"..."``), and paths are assigned once to a shell variable at the top of
  the script and used as ``"$var"`` below;
- ``#SBATCH`` values: checked against the syntax sbatch accepts for that
  option (:data:`SBATCH_OPTIONS`) and refused otherwise; the one free-text
  value, the log directory in ``--output``, is quoted the way sbatch reads
  its script lines (double quotes, backslash escapes) by :func:`sbatch_path`;
- every value: a newline, carriage return, tab, NUL, any other control
  character or bytes that are not UTF-8 are refused (:func:`check_text`).

Refusals raise :class:`FieldError`, whose one-line message names the option
and shows the offending value.
"""
from __future__ import annotations

import math
import os
import re
import shlex
import unicodedata
from importlib import resources
from pathlib import Path

FIELD = re.compile(r"@@([A-Z_]+)@@")
KINDS = ("single", "array", "analyze", "long")


class FieldError(ValueError):
    """A value that cannot go into a job script; the message names the option and the value."""


def default_template_dir():
    """The packaged templates (a :class:`importlib.resources.abc.Traversable`; a
    :class:`~pathlib.Path` for an unzipped install)."""
    return resources.files("nmbhpc") / "templates" / "slurm"


def template_path(kind: str, directory=None):
    """Template of ``kind`` in ``directory`` (default: the packaged ones); has ``read_text()``."""
    base = Path(directory) if directory else default_template_dir()
    return base / f"{kind}.sbatch"


#: fields whose values are shell words (already quoted): a template must not quote them again
WORD_FIELDS = frozenset({"WORKDIR", "CONFIG", "OUTPUT", "SCAN_DIR", "TABLE", "LAUNCH", "NMBHPC",
                         "RUN_OPTIONS"})


def render(text: str, fields: dict) -> str:
    """Fill every ``@@NAME@@`` of ``text``; raise KeyError naming the missing fields, or a
    :data:`WORD_FIELDS` field that the template puts inside quotes (where a quoted word is
    no longer one word: ``"@@SCAN_DIR@@"`` turns ``'a $(b)'`` into code)."""
    for lineno, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("#"):
            continue
        for m in FIELD.finditer(line):
            if m.group(1) in WORD_FIELDS and _inside_quotes(line[:m.start()]):
                raise KeyError(f"line {lineno}: @@{m.group(1)}@@ inside quotes; its value "
                               "is a quoted shell word, write the field unquoted")
    missing = sorted({m for m in FIELD.findall(text) if m not in fields})
    if missing:
        raise KeyError(f"template fields without a value: {', '.join(missing)}")
    return FIELD.sub(lambda m: str(fields[m.group(1)]), text)


def _inside_quotes(prefix: str) -> bool:
    """Whether the end of ``prefix`` (shell source) is inside '...' or "..." (a ``$(...)``
    opens a new, unquoted context, also inside "...")."""
    quote, escape, outer = None, False, []
    for i, ch in enumerate(prefix):
        if escape:
            escape = False
        elif ch == "\\" and quote != "'":
            escape = True
        elif quote == "'":
            quote = None if ch == "'" else quote
        elif ch == "(" and prefix[i - 1:i] == "$":
            outer.append(quote)
            quote = None
        elif ch == ")" and quote is None and outer:
            quote = outer.pop()
        elif ch == '"':
            quote = None if quote == '"' else '"'
        elif ch == "'" and quote is None:
            quote = "'"
    return quote is not None


# -- checks every value passes ---------------------------------------------------------

def show(value) -> str:
    """``value`` for a one-line error message: repr (escapes control characters), shortened."""
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:60]}...' ({len(value)} characters)"


def _bad_char(ch: str) -> str | None:
    cat = unicodedata.category(ch)
    if cat == "Cs":
        return "bytes that are not UTF-8"
    if cat == "Cc" or ch in "\u2028\u2029":
        return f"the control character {ch!r}"
    return None


def check_text(option: str, value) -> str:
    """``value`` as a string without control characters; FieldError naming ``option`` otherwise.

    A newline, carriage return, NUL or tab inside a value would end or split a
    script line (or an ``#SBATCH`` line), so none is accepted anywhere.
    """
    text = os.fspath(value)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    for ch in text:
        reason = _bad_char(ch)
        if reason:
            raise FieldError(f"{option} {show(text)}: contains {reason}")
    return text


# -- shell words -------------------------------------------------------------------------

def shell_word(option: str, value) -> str:
    """``value`` as one shell word (:func:`shlex.quote`), after :func:`check_text`."""
    return shlex.quote(check_text(option, value))


def path_word(option: str, value) -> str:
    """A path as one shell word; a relative path starting with ``-`` gets ``./`` so that
    no command takes it for an option. Empty paths are refused."""
    text = check_text(option, value)
    if not text:
        raise FieldError(f"{option} '': an empty path")
    if text.startswith("-"):
        text = "./" + text
    return shlex.quote(text)


def command_words(option: str, value) -> list[str]:
    """A command line given as one string (``--launcher "mpirun -n 4"``) split into words
    the way a POSIX shell would (:func:`shlex.split`: quotes group, nothing is expanded)."""
    text = check_text(option, value)
    try:
        return shlex.split(text)
    except ValueError as exc:
        raise FieldError(f"{option} {show(text)}: {exc}") from None


def join_words(words) -> str:
    """Already split words as shell source: each one :func:`shlex.quote`-d."""
    return " ".join(shlex.quote(w) for w in words)


# -- #SBATCH values ----------------------------------------------------------------------

_NAME = r"[A-Za-z0-9_][A-Za-z0-9_.+-]*"
_NAMES = rf"{_NAME}(,{_NAME})*"
_INT = r"[1-9][0-9]{0,8}"
_TIME = (r"[0-9]{1,9}(:[0-9]{1,2}){0,2}"             # minutes[:seconds], hours:minutes:seconds
         r"|[0-9]{1,5}-[0-9]{1,2}(:[0-9]{1,2}){0,2}"  # days-hours[:minutes[:seconds]]
         r"|(?i:unlimited|infinite)")
_MEM = r"[0-9]{1,12}[KMGTkmgt]?"
_TOKEN = r"[A-Za-z0-9_.,:=@+%/*&|!\[\]-]+"           # gres, constraint, nodelist, mail user ...

#: the sbatch options a script may carry (``--sbatch=--NAME=VALUE``), each with the
#: syntax of its value as sbatch documents it (None: the option takes no value)
SBATCH_OPTIONS = {
    "job-name": _NAME, "partition": _NAMES, "account": _NAME, "qos": _NAMES,
    "reservation": _NAME, "wckey": _NAME, "time": _TIME, "time-min": _TIME,
    "nodes": rf"{_INT}(-{_INT})?", "ntasks": _INT, "ntasks-per-node": _INT,
    "ntasks-per-socket": _INT, "ntasks-per-core": _INT, "cpus-per-task": _INT,
    "sockets-per-node": _INT, "cores-per-socket": _INT, "threads-per-core": _INT,
    "mem": _MEM, "mem-per-cpu": _MEM, "mem-per-gpu": _MEM, "tmp": _MEM,
    "gpus": _TOKEN, "gpus-per-node": _TOKEN, "gpus-per-task": _TOKEN, "gres": _TOKEN,
    "constraint": _TOKEN, "nodelist": _TOKEN, "exclude": _TOKEN, "licenses": _TOKEN,
    "mail-type": r"[A-Za-z_0-9]+(,[A-Za-z_0-9]+)*", "mail-user": _TOKEN,
    "distribution": _TOKEN, "hint": _TOKEN, "switches": _TOKEN, "clusters": _NAMES,
    "cpu-freq": _TOKEN, "priority": r"[0-9]{1,9}|TOP", "nice": r"-?[0-9]{1,9}",
    "exclusive": None, "oversubscribe": None, "contiguous": None, "no-requeue": None,
    "requeue": None, "hold": None,
}
#: what the templates set from nmbhpc slurm's own options (not through --sbatch)
OWN_OPTIONS = {"job-name": "--job-name", "time": "--time", "ntasks": "--ntasks",
               "partition": "--partition", "account": "--account", "qos": "--qos",
               "output": "--log-dir", "array": "--table", "signal": "--signal-lead"}


def sbatch_value(option: str, name: str, value) -> str:
    """``value`` of the sbatch option ``--name``, if it has the syntax sbatch accepts for it
    (:data:`SBATCH_OPTIONS`); FieldError naming ``option`` otherwise. No quoting is needed
    for the accepted values: none has a space, quote, backslash or ``#``."""
    text = check_text(option, value)
    pattern = SBATCH_OPTIONS[name]
    if pattern is None or not re.fullmatch(pattern, text) or len(text) > 256:
        raise FieldError(f"{option} {show(text)}: not a value of sbatch --{name}"
                         + ("" if pattern is None else f" (accepted: {_describe(name)})"))
    return text


def _describe(name: str) -> str:
    if name == "time":
        return ("minutes, minutes:seconds, hours:minutes:seconds, days-hours, "
                "days-hours:minutes, days-hours:minutes:seconds or UNLIMITED")
    if SBATCH_OPTIONS[name] in (_MEM,):
        return "a size like 4000, 4G or 512M"
    if SBATCH_OPTIONS[name] in (_INT,) or name == "nodes":
        return "a positive integer" + (" or MIN-MAX" if name == "nodes" else "")
    if SBATCH_OPTIONS[name] in (_NAME, _NAMES):
        return "letters, digits, '_', '.', '+', '-', not starting with '-'" + (
            ", comma-separated" if SBATCH_OPTIONS[name] == _NAMES else "")
    return "no spaces, quotes, backslashes, '#' or '$'"


def sbatch_extra(value) -> str:
    """One ``--sbatch`` value (``--mem-per-cpu=4G``, ``--exclusive``) as the text of an
    ``#SBATCH`` line, after checking the option name and its value."""
    option = "--sbatch"
    text = check_text(option, value)
    m = re.fullmatch(r"--([a-z][a-z-]*)(?:[= ](.*))?", text)
    if not m:
        raise FieldError(f"{option} {show(text)}: give one long sbatch option, "
                         "e.g. --sbatch=--mem-per-cpu=4G")
    name, arg = m.groups()
    if name in OWN_OPTIONS:
        raise FieldError(f"{option} {show(text)}: the template sets --{name}; "
                         f"use nmbhpc slurm {OWN_OPTIONS[name]}")
    if name not in SBATCH_OPTIONS:
        raise FieldError(f"{option} {show(text)}: --{name} is not an sbatch option "
                         f"nmbhpc slurm writes (known: {', '.join(sorted(SBATCH_OPTIONS))})")
    if SBATCH_OPTIONS[name] is None:
        if arg is not None:
            raise FieldError(f"{option} {show(text)}: --{name} takes no value")
        return f"--{name}"
    if arg is None:
        raise FieldError(f"{option} {show(text)}: --{name} needs a value (--{name}=VALUE)")
    return f"--{name}={sbatch_value(f'{option}=--{name}', name, arg)}"


def sbatch_path(option: str, value) -> str:
    """A directory for ``#SBATCH --output=DIR/...``, quoted for sbatch's reading of script
    lines: double quotes when it has characters other than ``[A-Za-z0-9_./+,:=@-]``, with
    ``\\``, ``"`` and ``#`` backslash-escaped, and ``%`` doubled (sbatch's file-name patterns).
    A backslash is refused: in a file name it turns sbatch's pattern replacement off."""
    text = check_text(option, value)
    if not text:
        raise FieldError(f"{option} '': an empty path")
    if "\\" in text:
        raise FieldError(f"{option} {show(text)}: a backslash in a SLURM log path turns "
                         "off its %j/%x patterns")
    text = text.replace("%", "%%")
    if re.fullmatch(r"[A-Za-z0-9_./+,:=@%-]+", text):
        return text
    return '"' + re.sub(r'(["#])', r"\\\1", text) + '"'


def positive(option: str, value, integer=True):
    """A finite, positive number (an int if ``integer``) as text; FieldError otherwise."""
    ok = (isinstance(value, int) if integer else isinstance(value, (int, float))) and \
        math.isfinite(value) and value > 0
    if not ok:
        raise FieldError(f"{option} {show(value)}: must be a positive "
                         + ("integer" if integer else "finite number"))
    return str(value) if integer else f"{value:g}"


# -- site lines ---------------------------------------------------------------------------

def table_rows(path) -> list[list[str]]:
    """Rows of a parameter table (header dropped; blank and '#' lines skipped).

    Columns: ``name config [options...]``, separated by spaces or tabs. A row's
    name becomes the file name ``NAME.h5``, so it must not contain ``/`` or start
    with ``-``; the config must not start with ``-``; no line may hold a control
    character other than the tab. FieldError (naming the file and line) otherwise;
    OSError if the file cannot be read.
    """
    option = f"--table {path}"
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FieldError(f"{option}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    rows, header = [], True
    for lineno, line in enumerate(text.split("\n"), 1):
        for ch in line:
            if ch != "\t" and _bad_char(ch):
                raise FieldError(f"{option} line {lineno}: contains {_bad_char(ch)}")
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        if header:
            header = False
            continue
        if len(words) < 2:
            raise FieldError(f"{option} line {lineno}: row {show(words[0])} has no config")
        name, config = words[:2]
        if "/" in name or name.startswith("-") or name in (".", ".."):
            raise FieldError(f"{option} line {lineno}: run name {show(name)} is not a file "
                             "name (no '/', not starting with '-')")
        if config.startswith("-"):
            raise FieldError(f"{option} line {lineno}: config {show(config)} starts with '-'")
        rows.append(words)
    return rows


def site_sbatch(partition=None, account=None, qos=None, extra=()) -> str:
    """``#SBATCH`` lines of the site options (empty string if none); every value checked."""
    lines = [f"#SBATCH --partition={sbatch_value('--partition', 'partition', partition)}"
             if partition is not None else None,
             f"#SBATCH --account={sbatch_value('--account', 'account', account)}"
             if account is not None else None,
             f"#SBATCH --qos={sbatch_value('--qos', 'qos', qos)}" if qos is not None else None]
    lines += [f"#SBATCH {sbatch_extra(e)}" for e in extra]
    return "\n".join(ln for ln in lines if ln)


def site_setup(modules=(), setup=()) -> str:
    """Environment lines: one ``module load`` of the (quoted) modules, then the set-up
    commands verbatim: ``--setup`` is shell code by design, one line per command."""
    for m in modules:
        if not check_text("--module", m) or m.startswith("-"):
            raise FieldError(f"--module {show(m)}: not a module name")
    lines = [f"module load {join_words(modules)}"] if modules else []
    return "\n".join(lines + [check_text("--setup", s) for s in setup])
