"""The config schema: declarative keys, one validator, one error format, TOML out, docs table.

Every TOML key a run config accepts is declared once, as a :class:`Key`
(name, type, default, unit, bounds, choices, one-line doc). Keys whose value
maps one-to-one onto a settings attribute live in the field metadata of the
settings dataclasses themselves (:func:`setting`); keys that are combined
into a value (a ``shape`` array, a ``[gamma_nu, gamma_nubar]`` pair, a model
generator) are declared as plain :class:`Key` tuples next to the code that
combines them. Each solver family registers its sections with
:func:`register` (``manybody``, ``meanfield`` for meanfield/cumulant/twa,
``kinetics``); the common ``model``/``output`` sections are registered by
:mod:`nmbhpc.config`. From the declarations come:

* validation (:meth:`Table.read`: type, finiteness, bounds, choices; unknown
  keys with "did you mean" in every section),
* defaults (:meth:`Table.read_all`),
* one error format, :class:`ConfigError`:
  ``config error at 'section.key': <what>, got <value>``,
* the key table of docs/config.md (:func:`doc_table`; regenerate with
  ``python -m nmbhpc.config --write docs/config.md``),
* TOML text (:func:`dump_toml`).

Why stdlib dataclasses and not pydantic v2 or attrs/cattrs: the settings
objects already are frozen dataclasses read all over the package, the schema
needs nothing beyond metadata on their fields, and Debian's system
``python3-pydantic`` is v1, which a pip-installed v2 in the venv would shadow
inconsistently; no new dependency is needed.

Hard limits (:data:`MAX_MAGNITUDE`, :data:`MAX_STEPS`, :data:`MAX_RECORDS`,
:func:`petsc_int_max`) refuse values that no run could use before anything is
allocated; docs/config.md lists them. Nothing here is collective.
"""
from __future__ import annotations

import dataclasses
import datetime
import difflib
import json
import math
import os
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from . import errors as _errors

__all__ = ["ConfigError", "Key", "setting", "keys_of", "Section", "register", "SECTIONS",
           "Table", "fail", "show", "dump_toml", "doc_table", "MAX_MAGNITUDE", "MAX_TIME",
           "MAX_STEPS", "MAX_RECORDS", "TS_TYPES", "petsc_int_max", "human_bytes"]

#: largest magnitude of a frequency, rate, density or length in a config (units of
#: omega0 or 1/omega0): beyond it products such as mu N^2 or omega t leave the
#: range where double precision keeps the phases meaningful
MAX_MAGNITUDE = 1e15
#: largest |time| (1/omega0): t + dt must still differ from t for any sensible dt
MAX_TIME = 1e12
#: most time steps (or radians of phase, for adaptive solvers) a config may ask for
MAX_STEPS = 10**10
#: most output records (rows of every time series) a config may ask for
MAX_RECORDS = 10**8

#: PETSc TS types a config may name (petsc4py's ``PETSc.TS.Type`` of PETSc 3.18,
#: without "python", which needs a Python context object a config cannot give;
#: tests/test_config.py checks this list against the installed petsc4py)
TS_TYPES = ("alpha", "alpha2", "arkimex", "basicsymplectic", "bdf", "beuler", "cn", "discgrad",
            "eimex", "euler", "glee", "glle", "mimex", "mprk", "pseudo", "radau5", "rk", "rosw",
            "ssp", "sundials", "theta")


# one class for the config parser and the engines (nmbhpc.errors)
ConfigError = _errors.ConfigError
_one_line = _errors.one_line


# --- value formatting ---------------------------------------------------------

def show(value: Any) -> str:
    """A short, one-line, TOML-flavoured rendering of an offending value and its type."""
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, str):
        text = repr(value)
        return (text if len(text) <= 60 else text[:56] + "...'") + " (a string)"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, (list, tuple)):
        text = repr(list(value))
        return (text if len(text) <= 60 else text[:56] + "...]") + " (an array)"
    if isinstance(value, (datetime.date, datetime.time)):
        return f"{value.isoformat()} (a date/time)"
    if value is None:
        return "nothing (None)"
    if isinstance(value, (int, np.integer)) and abs(int(value)) >= 10**15:
        return f"{int(value):.3g}"
    return repr(value)


def fail(key: str, what: str, value: Any) -> ConfigError:
    """``ConfigError(key, "<what>, got <value>")``."""
    return ConfigError(key, f"{what}, got {show(value)}")


def human_bytes(b: float) -> str:
    """``1.5 GiB``-style size."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if abs(b) < 1024 or unit == "EiB":
            return f"{b:.3g} {unit}" if unit != "B" else f"{b:.0f} B"
        b /= 1024
    return f"{b:.3g} EiB"  # pragma: no cover


def petsc_int_max() -> int:
    """Largest PetscInt of the PETSc build nmbhpc runs on (2^31 - 1 for Debian's).

    Read from petsc4py if it is already imported, else from PETSc's
    ``petscconf.h`` under ``PETSC_DIR``; 2^31 - 1 when neither is available.
    Not collective.
    """
    petsc = sys.modules.get("petsc4py.PETSc")
    if petsc is not None:
        return int(np.iinfo(petsc.IntType).max)
    from .runtime import stack  # noqa: F401  (sets PETSC_DIR to Debian's complex build)
    for arch in (os.environ.get("PETSC_ARCH", ""), ""):
        conf = Path(os.environ.get("PETSC_DIR", "/nonexistent"), arch, "include", "petscconf.h")
        try:
            text = conf.read_text()
        except OSError:
            continue
        return 2**63 - 1 if re.search(r"#define\s+PETSC_USE_64BIT_INDICES\s+1", text) else 2**31 - 1
    return 2**31 - 1


# --- key declarations ---------------------------------------------------------

class _Required:
    """The default of a required key."""

    def __repr__(self) -> str:
        return "REQUIRED"


_REQUIRED = _Required()

# type name -> words of the docs table
_TYPE_WORDS = {"real": "number", "int": "integer", "bool": "boolean", "choice": "string",
               "string": "string", "reals": "array of numbers", "vector3": "3 numbers",
               "any": "see meaning"}


@dataclass(frozen=True)
class Key:
    """One TOML key.

    type : "real" | "int" | "bool" | "choice" | "string" | "reals" | "vector3" | "any"
        "any" keys are parsed by the code that owns them (the table only
        declares and documents them). "reals": an array of numbers;
        "vector3": exactly 3 numbers.
    default : the value when the key is absent; absent: the key is required.
    low, high : inclusive bounds (None: none); ``open_low``/``open_high`` make them strict.
        Numbers are always finite and at most :data:`MAX_MAGNITUDE` in magnitude.
    choices : the allowed strings of a "choice" key.
    field : the settings attribute it fills (defaults to ``name``).
    min_len : fewest entries of a "reals" key.
    """

    name: str
    type: str
    default: Any = _REQUIRED
    doc: str = ""
    unit: str = ""
    low: Optional[float] = None
    high: Optional[float] = None
    open_low: bool = False
    open_high: bool = False
    choices: tuple = ()
    field: str = ""
    min_len: int = 1
    default_doc: str = ""

    @property
    def attr(self) -> str:
        return self.field or self.name

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED

    # --- parsing -----------------------------------------------------------
    def parse(self, key: str, v: Any) -> Any:
        """Validate one TOML value of this key (``key``: its dotted path)."""
        kind = self.type
        if kind == "real":
            return self._real(key, v)
        if kind == "int":
            return self._int(key, v)
        if kind == "bool":
            if not isinstance(v, bool):
                raise fail(key, "must be true or false", v)
            return v
        if kind == "choice":
            return choice(key, v, self.choices)
        if kind == "string":
            if not isinstance(v, str) or not v.strip() or not v.isprintable():
                raise fail(key, "must be a non-empty one-line string", v)
            return v
        if kind in ("reals", "vector3"):
            if not isinstance(v, list):
                raise fail(key, "must be an array of 3 numbers" if kind == "vector3" else
                           "must be an array of numbers", v)
            if kind == "vector3" and len(v) != 3:
                raise fail(key, "must be an array of 3 numbers", v)
            if len(v) < self.min_len:
                raise fail(key, f"must hold at least {self.min_len} number(s)", v)
            return [self._real(f"{key}[{i}]", x) for i, x in enumerate(v)]
        return v

    def _bounds_text(self) -> str:
        lo, hi = self.low, self.high
        if lo is not None and hi is not None:
            return (f"in {'(' if self.open_low else '['}{lo:g}, {hi:g}{')' if self.open_high else ']'}")
        if lo is not None:
            if lo == 0:
                return "positive" if self.open_low else "non-negative"
            return f"{'>' if self.open_low else '>='} {lo:g}"
        if hi is not None:
            return f"{'<' if self.open_high else '<='} {hi:g}"
        return ""

    def _check_bounds(self, key: str, x: float, v: Any, what: str) -> None:
        lo, hi = self.low, self.high
        bad = ((lo is not None and (x <= lo if self.open_low else x < lo))
               or (hi is not None and (x >= hi if self.open_high else x > hi)))
        if bad:
            bounds = self._bounds_text()
            if bounds in ("positive", "non-negative"):
                raise fail(key, f"must be a {bounds} {what}", v)
            raise fail(key, f"must be {'an' if what == 'integer' else 'a'} {what} {bounds}", v)

    def _real(self, key: str, v: Any) -> float:
        if not is_number(v):
            raise fail(key, "must be a number", v)
        x = float(v) if not isinstance(v, (int, np.integer)) or abs(int(v)) < 2**1000 else math.inf
        if not math.isfinite(x):
            raise fail(key, "must be a finite number", v)
        self._check_bounds(key, x, v, "number")
        if abs(x) > MAX_MAGNITUDE:
            raise fail(key, f"must be at most {MAX_MAGNITUDE:g} in magnitude"
                       f"{' [' + self.unit + ']' if self.unit else ''}", v)
        return x

    def _int(self, key: str, v: Any) -> int:
        if not isinstance(v, (int, np.integer)) or isinstance(v, (bool, np.bool_)):
            raise fail(key, f"must be {self._int_words()}", v)
        n = int(v)
        if self.low is not None and n < self.low:
            raise fail(key, f"must be {self._int_words()}", v)
        if self.high is not None and n > self.high:
            raise fail(key, f"must be an integer <= {int(self.high)}", v)
        return n

    def _int_words(self) -> str:
        lo = self.low
        return {0: "a non-negative integer", 1: "a positive integer"}.get(
            lo, "an integer" if lo is None else f"an integer >= {int(lo)}")

    # --- docs -----------------------------------------------------------------
    def type_text(self) -> str:
        if self.type == "choice":
            return " \\| ".join(f'`"{c}"`' for c in self.choices)
        word = _TYPE_WORDS[self.type]
        lo, hi = self.low, self.high
        if self.type == "int":
            if hi is not None and hi < 2**62:
                return f"{word} {int(lo)} .. {int(hi)}" if lo is not None else f"{word} <= {int(hi)}"
            return f"{word} >= {int(lo)}" if lo is not None else word
        if self.type == "real":
            if lo is not None and hi is not None:
                return f"{word} {self._bounds_text()}"
            if lo is not None:
                return f"{word} {'>' if self.open_low else '>='} {lo:g}"
            if hi is not None:
                return f"{word} {'<' if self.open_high else '<='} {hi:g}"
        return word

    def default_text(self) -> str:
        if self.default_doc:
            return self.default_doc
        if self.required:
            return "*required*"
        return "`" + toml_value(self.default) + "`" if self.default is not None else "none"


def setting(default: Any = _REQUIRED, type: str = "real", doc: str = "", **meta):
    """A dataclass field declaring its TOML key (``Key(name=<field name>, ...)``).

    Use in a settings dataclass: ``mfn_tol: float = setting(1e-10, "real", "...", low=0)``.
    """
    key = dict(type=type, doc=doc, default=default, **meta)
    if default is _REQUIRED:
        return dataclasses.field(metadata={"schema": key})
    return dataclasses.field(default=default, metadata={"schema": key})


def keys_of(cls) -> tuple:
    """The :class:`Key` of every field of dataclass ``cls`` declared with :func:`setting`."""
    out = []
    for f in dataclasses.fields(cls):
        meta = f.metadata.get("schema")
        if meta is not None:
            meta = dict(meta)
            name = meta.pop("name", f.name)
            out.append(Key(name=name, field=f.name, **meta))
    return tuple(out)


@dataclass(frozen=True)
class Section:
    """A registered TOML table: its dotted path, keys, owning solvers and a doc line."""

    path: str
    keys: tuple
    doc: str = ""
    solvers: tuple = ()
    title: str = ""

    def key(self, name: str) -> Key:
        for k in self.keys:
            if k.name == name:
                return k
        raise KeyError(name)

    def names(self) -> tuple:
        return tuple(k.name for k in self.keys)


#: every registered section, in registration order (the docs table's order)
SECTIONS: dict[str, Section] = {}


def register(section: Section) -> Section:
    """Register ``section`` (replacing one of the same title/path). Not collective."""
    SECTIONS[section.title or section.path] = section
    return section


# --- leaf parsers shared by the config modules ----------------------------------

def is_number(v: Any) -> bool:
    # bool is an int subclass in Python but never a number in a config
    # (numpy scalars are accepted for configs built in Python)
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def did_you_mean(name: str, allowed) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``allowed``, or ``""``."""
    if not isinstance(name, str):
        return ""
    lowered = {str(a).lower(): a for a in allowed}
    hint = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
    return f" (did you mean '{lowered[hint[0]]}'?)" if hint else ""


def choice(key: str, v: Any, choices: tuple) -> str:
    """``v`` if it is one of the strings ``choices``; else ConfigError with a hint."""
    options = ", ".join(f'"{c}"' for c in choices)
    if not isinstance(v, str):
        raise fail(key, f"must be one of {options}", v)
    if v not in choices:
        raise fail(key, f"must be one of {options}{did_you_mean(v, choices)}", v)
    return v


def unit_vector(key: str, v: Any, *, min_norm: float = 1e-12, what: str = "a non-zero vector") -> tuple:
    """A 3-vector normalised without overflow (scaled by its largest entry first)."""
    x = np.array(Key("", "vector3").parse(key, v), dtype=np.float64)
    scale = float(np.max(np.abs(x)))
    norm = scale * float(np.linalg.norm(x / scale)) if scale > 0 else 0.0
    if not norm >= min_norm:
        raise fail(key, f"must be {what} (it is normalised)", v)
    if abs(norm - 1.0) <= 4 * np.finfo(np.float64).eps:  # already unit: keep it bit for bit
        return tuple(float(c) for c in x)
    return tuple(float(c) for c in (x / scale) / (norm / scale))


class Table:
    """One TOML table with its dotted path: checks keys, reads declared keys."""

    def __init__(self, data: Any, path: str):
        if not isinstance(data, dict):
            raise fail(path or "<top level>", "must be a table", data)
        self.data = data
        self.path = path

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def __contains__(self, name: str) -> bool:
        return name in self.data

    def check_keys(self, allowed, *, elsewhere: Optional[dict] = None) -> None:
        """Refuse keys not in ``allowed`` (names or Keys); ``elsewhere`` maps
        known-but-misplaced keys to why."""
        allowed = tuple(a.name if isinstance(a, Key) else a for a in allowed)
        for name in self.data:
            if name in allowed:
                continue
            if not isinstance(name, str):  # only reachable through config_from_dict
                raise fail(self.path or "<top level>", "keys must be strings", name)
            if elsewhere and name in elsewhere:
                raise ConfigError(self.key(name), f"key {name!r} {elsewhere[name]}")
            raise ConfigError(self.key(name), f"unknown key {name!r}{did_you_mean(name, allowed)}; "
                              f"valid keys here: {', '.join(allowed)}")

    def get(self, name: str, parse: Callable[[str, Any], Any], default: Any = _REQUIRED):
        """Parse ``name`` with ``parse(dotted_key, value)``, or return ``default``."""
        if name not in self.data:
            if default is _REQUIRED:
                raise ConfigError(self.key(name), "is required")
            return default
        return parse(self.key(name), self.data[name])

    def read(self, key: Key, default: Any = None):
        """Parse the declared ``key`` (its default when absent; ``default`` overrides it)."""
        return self.get(key.name, key.parse, key.default if default is None else default)

    def read_all(self, keys, *, check: bool = True) -> dict:
        """``{attr: value}`` of every declared key ("any" keys excluded); refuses unknown keys."""
        if check:
            self.check_keys(keys)
        return {k.attr: self.read(k) for k in keys if k.type != "any"}

    def table(self, name: str, *, required: bool = False, empty: bool = False) -> Optional["Table"]:
        """The sub-table ``name`` (None if absent, an empty one with ``empty``)."""
        if name not in self.data:
            if required:
                raise ConfigError(self.key(name), f"is required: add a [{self.key(name)}] table")
            return Table({}, self.key(name)) if empty else None
        return Table(self.data[name], self.key(name))


def build(cls, table: Optional[Table], **extra):
    """``cls(**values)`` from the keys declared on ``cls``'s fields (defaults without a table)."""
    keys = keys_of(cls)
    if table is None:
        return cls(**extra)
    return cls(**table.read_all(keys), **extra)


def to_dict(obj, keys=None) -> dict:
    """``{key name: value}`` of the declared keys of a settings object (for TOML)."""
    out = {}
    for k in keys if keys is not None else keys_of(type(obj)):
        value = getattr(obj, k.attr)
        if value is not None:
            out[k.name] = list(value) if isinstance(value, tuple) else value
    return out


# --- writing TOML -------------------------------------------------------------

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _toml_key(k: str) -> str:
    return k if _BARE_KEY.match(k) else json.dumps(k)


def toml_value(v: Any) -> str:
    """One TOML value (scalars, arrays, inline tables, dates)."""
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        x = float(v)
        if math.isnan(x):
            return "nan"
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        return repr(x)
    if isinstance(v, str):
        return json.dumps(v)  # a TOML basic string (\uXXXX escapes are valid TOML)
    if isinstance(v, (list, tuple, np.ndarray)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {toml_value(x)}" for k, x in v.items()) + "}"
    if isinstance(v, (datetime.date, datetime.time)):
        return v.isoformat()
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def _is_table_array(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)


def dump_toml(data: dict) -> str:
    """Write a config dict as TOML text (``tomllib.loads(dump_toml(d)) == d``).

    Covers what configs hold: scalars, arrays, nested tables and arrays of tables.
    """
    lines: list[str] = []

    def emit(table: dict, path: list[str]) -> None:
        subtables = []
        for k, v in table.items():
            if isinstance(v, dict) or _is_table_array(v):
                subtables.append((k, v))
            else:
                lines.append(f"{_toml_key(k)} = {toml_value(v)}")
        for k, v in subtables:
            name = ".".join(_toml_key(p) for p in path + [k])
            items = [v] if isinstance(v, dict) else v
            for item in items:
                if lines:
                    lines.append("")
                lines.append(f"[{name}]" if isinstance(v, dict) else f"[[{name}]]")
                emit(item, path + [k])

    emit(data, [])
    return "\n".join(lines) + "\n"


# --- the docs table -------------------------------------------------------------

# --- reading ------------------------------------------------------------------

def parse_toml(text: str, source_path: str) -> dict:
    """TOML text -> dict; a syntax error is a ConfigError naming the line (not collective)."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        if "(at end of document)" in msg:  # tomllib reports no line here; give the last one
            msg = msg.replace("(at end of document)",
                              f"(at end of document, line {max(1, len(text.splitlines()))})")
        raise ConfigError("", f"invalid TOML: {msg}", source_path) from None


def read_config_file(path: str) -> str:
    """The text of a config file; unreadable files become ConfigError (not collective)."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("", f"cannot read the config file: {exc}", path) from None


DOC_BEGIN = "<!-- BEGIN KEY TABLE: generated by `python -m nmbhpc.config --write docs/config.md` -->"
DOC_END = "<!-- END KEY TABLE -->"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def doc_table() -> str:
    """The markdown key table of every registered section (docs/config.md); the
    sections register when :mod:`nmbhpc.config` is imported."""

    def order(s: Section) -> int:
        return (0 if not s.path else 1 if s.path.startswith("model") else 2 if s.path == "output"
                else 4 if s.path.startswith("kinetics") else 3)

    out = []
    for s in sorted(SECTIONS.values(), key=order):
        head = f"#### `{s.title or '[' + s.path + ']'}`" if s.path else "#### Top level"
        out.append(head)
        out.append("")
        if s.doc:
            out.append(s.doc + (f" Solvers: {', '.join(s.solvers)}." if s.solvers else ""))
            out.append("")
        out.append("| key | type | default | unit | meaning |")
        out.append("|---|---|---|---|---|")
        for k in s.keys:
            out.append(f"| `{k.name}` | {k.type_text()} | {_cell(k.default_text())} | "
                       f"{k.unit or '-'} | {_cell(k.doc)} |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def replace_doc_table(text: str) -> str:
    """``text`` with the generated table between :data:`DOC_BEGIN` and :data:`DOC_END`."""
    start, end = text.index(DOC_BEGIN), text.index(DOC_END)
    return text[:start] + DOC_BEGIN + "\n\n" + doc_table() + "\n" + text[end:]
