"""The TOML run configuration, validated once into a :class:`~nmbhpc.settings.RunConfig`.

This is the only place raw user input is looked at: every key is checked
(unknown keys, types, ranges, cross-key consistency) before any work starts,
and the first problem is raised as :class:`ConfigError` naming the key by its
dotted path (``model.modes[3].n``, 0-based indices) and the offending value.
The schema is documented in docs/config.md.

Loading is not collective: every rank may load the same file independently
(the result depends only on the text, including seeded random directions).
"""
from __future__ import annotations

import datetime
import difflib
import json
import math
import re
import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from . import generators
from .errors import ConfigError  # one class with the engines' SettingsError
from .model import Mode, Model
from .schedule import MuSchedule
from .settings import ManyBodySettings, MeanFieldSettings, OutputSettings, RunConfig

__all__ = ["ConfigError", "load_config", "load_config_text", "config_from_dict", "dump_toml",
           "SOLVER_NAMES"]

# Solver names the config accepts. The registry (nmbhpc.solvers.SOLVERS) says
# which of them are runnable in this build; the config only checks the name.
SOLVER_NAMES = ("manybody", "meanfield", "cumulant", "twa")

# below this norm a direction cannot be normalised meaningfully
_MIN_DIRECTION_NORM = 1e-12
# pure product states: |P| = 1 up to rounding in a hand-written config
_POLARIZATION_TOL = 1e-8

_REQUIRED = object()


# --- value formatting and leaf parsers --------------------------------------

def _show(value: Any) -> str:
    """A short, TOML-flavoured rendering of an offending value and its type."""
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, str):
        return f"{value!r} (a string)"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        text = repr(value)
        return (text if len(text) <= 60 else text[:57] + "...]") + " (an array)"
    if isinstance(value, (datetime.date, datetime.time)):
        return f"{value.isoformat()} (a date/time)"
    if value is None:
        return "nothing (None)"
    return repr(value)


def _fail(key: str, what: str, value: Any) -> ConfigError:
    return ConfigError(key, f"{what}, got {_show(value)}")


def _is_number(v: Any) -> bool:
    # bool is an int subclass in Python but never a number in a config
    # (numpy scalars are accepted for configs built in Python)
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def _real(key: str, v: Any, *, positive: bool = False, nonnegative: bool = False) -> float:
    if not _is_number(v):
        raise _fail(key, "must be a number", v)
    x = float(v)
    if not math.isfinite(x):
        raise _fail(key, "must be a finite number", v)
    if positive and not x > 0:
        raise _fail(key, "must be a positive number", v)
    if nonnegative and not x >= 0:
        raise _fail(key, "must be a non-negative number", v)
    return x


def _integer(key: str, v: Any, *, minimum: int) -> int:
    what = {0: "must be a non-negative integer", 1: "must be a positive integer"}.get(
        minimum, f"must be an integer >= {minimum}")
    if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < minimum:
        raise _fail(key, what, v)
    return int(v)


def _boolean(key: str, v: Any) -> bool:
    if not isinstance(v, bool):
        raise _fail(key, "must be true or false", v)
    return v


def _choice(key: str, v: Any, choices: tuple) -> str:
    options = ", ".join(f'"{c}"' for c in choices)
    if not isinstance(v, str):
        raise _fail(key, f"must be one of {options}", v)
    if v not in choices:
        hint = difflib.get_close_matches(v.lower(), choices, n=1, cutoff=0.6)
        extra = f" (did you mean \"{hint[0]}\"?)" if hint else ""
        raise _fail(key, f"must be one of {options}{extra}", v)
    return v


def _nonempty_string(key: str, v: Any) -> str:
    if not isinstance(v, str) or not v.strip():
        raise _fail(key, "must be a non-empty string", v)
    return v


def _real_list(key: str, v: Any, *, min_len: int = 1) -> list[float]:
    if not isinstance(v, list):
        raise _fail(key, "must be an array of numbers", v)
    if len(v) < min_len:
        raise _fail(key, f"must hold at least {min_len} number(s)", v)
    return [_real(f"{key}[{i}]", x) for i, x in enumerate(v)]


def _increasing(key: str, v: Any, *, min_len: int = 2) -> list[float]:
    xs = _real_list(key, v, min_len=min_len)
    for i in range(1, len(xs)):
        if not xs[i] > xs[i - 1]:
            raise ConfigError(f"{key}[{i}]", f"must be strictly increasing: {key}[{i}] = {xs[i]!r} "
                              f"does not exceed {key}[{i - 1}] = {xs[i - 1]!r}")
    return xs


def _vector3(key: str, v: Any) -> np.ndarray:
    if not isinstance(v, list) or len(v) != 3:
        raise _fail(key, "must be an array of 3 numbers", v)
    return np.array([_real(f"{key}[{i}]", x) for i, x in enumerate(v)])


def _direction(key: str, v: Any) -> tuple:
    d = _vector3(key, v)
    norm = float(np.linalg.norm(d))
    if norm < _MIN_DIRECTION_NORM:
        raise _fail(key, "must be a non-zero vector (it is normalised)", v)
    return tuple(float(x) for x in d / norm)


def _state(key: str, v: Any) -> tuple:
    """``"e"``, ``"x"`` or a unit polarisation vector -> flavor-frame P."""
    if isinstance(v, str):
        _choice(key, v, ("e", "x"))
        return generators.NU_E if v == "e" else generators.NU_X
    if not isinstance(v, list):
        raise _fail(key, 'must be "e", "x" or a unit polarisation vector [Px, Py, Pz]', v)
    p = _vector3(key, v)
    norm = float(np.linalg.norm(p))
    if abs(norm - 1.0) > _POLARIZATION_TOL:
        raise ConfigError(key, f"must be a unit vector (|P| = 1 within {_POLARIZATION_TOL:g}: only "
                          f"pure product states are supported), got {_show(v)} with |P| = {norm:.10g}")
    return tuple(float(x) for x in p / norm)


# --- tables -----------------------------------------------------------------

class _Table:
    """One TOML table with its dotted path; checks keys and parses entries."""

    def __init__(self, data: Any, path: str):
        if not isinstance(data, dict):
            raise _fail(path, "must be a table", data)
        self.data = data
        self.path = path

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def __contains__(self, name: str) -> bool:
        return name in self.data

    def check_keys(self, allowed, *, elsewhere: Optional[dict] = None) -> None:
        """Refuse keys not in ``allowed``; ``elsewhere`` maps known-but-misplaced keys to why."""
        allowed = tuple(allowed)
        for name in self.data:
            if name in allowed:
                continue
            if not isinstance(name, str):  # only reachable through config_from_dict
                raise _fail(self.path or "<top level>", "keys must be strings", name)
            if elsewhere and name in elsewhere:
                raise ConfigError(self.key(name), f"key {name!r} {elsewhere[name]}")
            lowered = {a.lower(): a for a in allowed}
            hint = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
            extra = f" (did you mean '{lowered[hint[0]]}'?)" if hint else ""
            valid = ", ".join(allowed)
            raise ConfigError(self.key(name), f"unknown key {name!r}{extra}; valid keys here: {valid}")

    def get(self, name: str, parse: Callable[[str, Any], Any], default: Any = _REQUIRED):
        if name not in self.data:
            if default is _REQUIRED:
                raise ConfigError(self.key(name), "is required")
            return default
        return parse(self.key(name), self.data[name])

    def table(self, name: str, *, required: bool = False) -> Optional["_Table"]:
        if name not in self.data:
            if required:
                raise ConfigError(self.key(name), f"is required: add a [{self.key(name)}] table")
            return None
        return _Table(self.data[name], self.key(name))


def _defaults_of(cls) -> dict:
    return {f.name: f.default for f in fields(cls)}


# --- sections ---------------------------------------------------------------

def _parse_output(t: _Table) -> OutputSettings:
    t.check_keys(("times", "t_start", "t_final", "n_out", "pair_correlations", "save_state"))
    if "times" in t:
        for other in ("t_start", "t_final", "n_out"):
            if other in t:
                raise ConfigError(t.key(other), f"give either output.times or output.t_start/"
                                  f"t_final/n_out, not both (got output.{other} = "
                                  f"{_show(t.data[other])})")
        times = np.array(t.get("times", _increasing))
    else:
        if "t_final" not in t:
            raise ConfigError(t.key("t_final"), "is required (or give output.times)")
        t_start = t.get("t_start", _real, 0.0)
        t_final = t.get("t_final", _real)
        n_out = t.get("n_out", lambda k, v: _integer(k, v, minimum=2))
        if not t_final > t_start:
            raise _fail(t.key("t_final"), f"must be greater than output.t_start = {t_start!r}",
                        t.data["t_final"])
        times = np.linspace(t_start, t_final, n_out)
    return OutputSettings(
        times=times,
        pair_correlations=t.get("pair_correlations", _boolean, False),
        save_state=t.get("save_state", _boolean, False),
    )


_SCHEDULE_KEYS = {
    "constant": ("kind",),
    "table": ("kind", "times", "values", "max_step"),
    "bulb": ("kind", "r0", "radius", "max_step"),
}


def _parse_schedule(model: _Table) -> MuSchedule:
    t = model.table("schedule")
    kind = "constant" if t is None else t.get(
        "kind", lambda k, v: _choice(k, v, tuple(_SCHEDULE_KEYS)), "constant")
    if t is not None:
        allowed = _SCHEDULE_KEYS[kind]
        others = {name: f"is not used by schedule kind {kind!r} (valid keys: {', '.join(allowed)})"
                  for keys in _SCHEDULE_KEYS.values() for name in keys if name not in allowed}
        t.check_keys(allowed, elsewhere=others)
    max_step = MuSchedule.max_step if t is None else t.get(
        "max_step", lambda k, v: _real(k, v, positive=True), MuSchedule.max_step)
    if kind == "table":
        if "mu" in model:
            raise _fail(model.key("mu"), "must not be given with a tabulated schedule "
                        "(model.schedule.values holds mu(t))", model.data["mu"])
        times = t.get("times", _increasing)
        values = t.get("values", lambda k, v: _real_list(k, v, min_len=1))
        if len(values) != len(times):
            raise ConfigError(t.key("values"), f"must have as many entries as "
                              f"model.schedule.times ({len(times)}), got {len(values)}")
        return MuSchedule(kind="table", mu0=values[0], times=tuple(times), values=tuple(values),
                          max_step=max_step)
    mu0 = model.get("mu", _real)
    if kind == "bulb":
        radius = t.get("radius", lambda k, v: _real(k, v, positive=True))
        r0 = t.get("r0", _real)
        if not r0 > radius:
            raise _fail(t.key("r0"), f"must exceed model.schedule.radius = {radius!r} "
                        "(the run starts above the neutrinosphere)", t.data["r0"])
        return MuSchedule(kind="bulb", mu0=mu0, r0=r0, radius=radius, max_step=max_step)
    return MuSchedule(kind="constant", mu0=mu0)


_MODE_KEYS = ("n", "omega", "direction", "state")


def _parse_modes(key: str, v: Any) -> tuple:
    if not isinstance(v, list) or not v:
        raise _fail(key, "must be a non-empty array of tables ([[model.modes]] entries)", v)
    modes = []
    for i, entry in enumerate(v):
        t = _Table(entry, f"{key}[{i}]")
        t.check_keys(_MODE_KEYS)
        modes.append(Mode(
            n=t.get("n", lambda k, x: _integer(k, x, minimum=1)),
            omega=t.get("omega", _real),
            direction=t.get("direction", _direction, (0.0, 0.0, 1.0)),
            polarization=t.get("state", _state),
        ))
    return tuple(modes)


def _states(key: str, v: Any, n_modes: int) -> list[tuple]:
    """Generator ``states`` -> one polarisation per mode."""
    if isinstance(v, str):
        _choice(key, v, ("e", "x", "split"))
        return generators.flavor_states(v, n_modes)
    if not isinstance(v, list):
        raise _fail(key, 'must be "e", "x", "split" or an array of per-mode states', v)
    if len(v) != n_modes:
        raise _fail(key, f"must hold one state per mode ({n_modes})", v)
    return [_state(f"{key}[{i}]", s) for i, s in enumerate(v)]


def _positive_int(k, v):
    return _integer(k, v, minimum=1)


def _positive_real(k, v):
    return _real(k, v, positive=True)


# generator kind -> (valid keys, forced angular or None, default angular)
_GENERATORS = {
    "single_angle": (("kind", "n_modes", "n_per_mode", "omega0", "states"), "single", "single"),
    "two_beam": (("kind", "n_nu", "n_nubar", "omega", "hierarchy", "flavor", "beam_angle"),
                 None, "single"),
    "multi_angle": (("kind", "n_modes", "n_per_mode", "spectrum", "omega", "omega0",
                     "directions", "seed", "states"), "multi", "multi"),
}


def _generator_kind(t: _Table) -> str:
    return t.get("kind", lambda k, v: _choice(k, v, tuple(_GENERATORS)))


def _build_generator(t: _Table, kind: str, angular: str) -> tuple:
    allowed = _GENERATORS[kind][0]
    others = {name: f"is not used by generator kind {kind!r} (valid keys: {', '.join(allowed)})"
              for keys, _, _ in _GENERATORS.values() for name in keys if name not in allowed}
    t.check_keys(allowed, elsewhere=others)
    if kind == "single_angle":
        n_modes = t.get("n_modes", _positive_int)
        return generators.single_angle(
            n_modes, n_per_mode=t.get("n_per_mode", _positive_int, 1),
            omega0=t.get("omega0", _positive_real, 1.0),
            states=t.get("states", lambda k, v: _states(k, v, n_modes), "split"))
    if kind == "two_beam":
        if "beam_angle" in t and angular != "multi":
            raise _fail(t.key("beam_angle"), "is only used with model.angular = \"multi\" "
                        "(the two-beam model is single-angle by default)", t.data["beam_angle"])
        return generators.two_beam(
            t.get("n_nu", _positive_int), t.get("n_nubar", _positive_int),
            omega=t.get("omega", _positive_real, 1.0),
            hierarchy=t.get("hierarchy", lambda k, v: _choice(k, v, ("inverted", "normal"))),
            flavor=t.get("flavor", lambda k, v: _choice(k, v, ("e", "x")), "e"),
            beam_angle=t.get("beam_angle", _real, math.pi))
    # multi_angle
    n_modes = t.get("n_modes", _positive_int)
    spectrum = t.get("spectrum", lambda k, v: _choice(k, v, ("constant", "linear")), "constant")
    unused = "omega0" if spectrum == "constant" else "omega"
    if unused in t:
        raise _fail(t.key(unused), f"is not used with spectrum = \"{spectrum}\" (constant: "
                    "omega_p = omega; linear: omega_p = p * omega0)", t.data[unused])
    directions = t.get("directions", lambda k, v: _directions(k, v, n_modes), "random")
    if "seed" in t and directions != "random":
        raise _fail(t.key("seed"), 'is only used with directions = "random"', t.data["seed"])
    return generators.multi_angle(
        n_modes, n_per_mode=t.get("n_per_mode", _positive_int, 1),
        omega=t.get("omega", _real, 1.0), spectrum=spectrum,
        omega0=t.get("omega0", _positive_real, 1.0), directions=directions,
        seed=t.get("seed", lambda k, v: _integer(k, v, minimum=0), 0),
        states=t.get("states", lambda k, v: _states(k, v, n_modes), "split"))


def _directions(key: str, v: Any, n_modes: int):
    if isinstance(v, str):
        return _choice(key, v, ("random", "polar"))
    if not isinstance(v, list):
        raise _fail(key, 'must be "random", "polar" or an array of 3-vectors', v)
    if len(v) != n_modes:
        raise _fail(key, f"must hold one direction per mode ({n_modes})", v)
    return [_direction(f"{key}[{i}]", d) for i, d in enumerate(v)]


def _parse_model(t: _Table) -> Model:
    t.check_keys(("theta", "mu", "angular", "single_angle_factor", "schedule", "modes",
                  "generator"))
    if "modes" in t and "generator" in t:
        raise ConfigError(t.key("generator"), "give either [[model.modes]] or [model.generator], "
                          "not both")
    if "modes" not in t and "generator" not in t:
        raise ConfigError(t.key("modes"), "no modes: give [[model.modes]] entries or a "
                          "[model.generator] table")
    theta = t.get("theta", _real, 0.0)
    schedule = _parse_schedule(t)

    gen = t.table("generator")
    kind = _generator_kind(gen) if gen is not None else None
    forced, default = _GENERATORS[kind][1:] if kind else (None, "multi")
    angular = t.get("angular", lambda k, v: _choice(k, v, ("multi", "single")), default)
    if forced and angular != forced:
        raise _fail(t.key("angular"), f"must be \"{forced}\" for generator kind {kind!r} "
                    "(or left out)", t.data["angular"])
    if "single_angle_factor" in t and angular != "single":
        raise _fail(t.key("single_angle_factor"), "is only used with a single-angle coupling "
                    "(model.angular = \"single\")", t.data["single_angle_factor"])
    factor = t.get("single_angle_factor", _real, 1.0)

    if gen is not None:
        modes = _build_generator(gen, kind, angular)
    else:
        modes = _parse_modes(t.key("modes"), t.data["modes"])
    return Model(modes=modes, theta=theta, mu=schedule, single_angle=(angular == "single"),
                 single_angle_factor=factor, name=kind or "modes")


def _parse_manybody(t: Optional[_Table]) -> ManyBodySettings:
    if t is None:
        return ManyBodySettings()
    d = _defaults_of(ManyBodySettings)
    t.check_keys(tuple(d))
    return ManyBodySettings(
        operator=t.get("operator", lambda k, v: _choice(k, v, ("auto", "matrix", "real", "shell",
                                                               "separable")),
                       d["operator"]),
        mfn_tol=t.get("mfn_tol", _positive_real, d["mfn_tol"]),
        mfn_ncv=t.get("mfn_ncv", lambda k, v: _integer(k, v, minimum=0), d["mfn_ncv"]),
        max_step=t.get("max_step", _positive_real, d["max_step"]),
        mfn_type=t.get("mfn_type", lambda k, v: _choice(k, v, ("krylov", "expokit")),
                       d["mfn_type"]),
        propagator=t.get("propagator", lambda k, v: _choice(k, v, ("mfn", "spectral")),
                         d["propagator"]),
        spectral_max_nev=t.get("spectral_max_nev", _positive_int, d["spectral_max_nev"]),
    )


def _parse_meanfield(t: Optional[_Table]) -> MeanFieldSettings:
    if t is None:
        return MeanFieldSettings()
    d = _defaults_of(MeanFieldSettings)
    t.check_keys(tuple(d))
    return MeanFieldSettings(
        rtol=t.get("rtol", _positive_real, d["rtol"]),
        atol=t.get("atol", lambda k, v: _real(k, v, nonnegative=True), d["atol"]),
        ts_type=t.get("ts_type", _nonempty_string, d["ts_type"]),
        twa_samples=t.get("twa_samples", _positive_int, d["twa_samples"]),
        seed=t.get("seed", lambda k, v: _integer(k, v, minimum=0), d["seed"]),
    )


def _solver_names() -> tuple:
    from .solvers import SOLVERS  # the registry may know more (later issues)
    return SOLVER_NAMES + tuple(n for n in SOLVERS if n not in SOLVER_NAMES)


# --- entry points -------------------------------------------------------------

def config_from_dict(data: dict, *, source_text: Optional[str] = None,
                     source_path: str = "<dict>") -> RunConfig:
    """Validate a parsed config (the dict ``tomllib`` returns) into a RunConfig.

    ``source_text`` is stored in the result; if None, it is generated from
    ``data`` with :func:`dump_toml` (so programmatic configs, e.g. parameter
    scans, still carry their full text into output files).
    Raises ConfigError on the first problem.
    """
    try:
        top = _Table(data, "")
        top.check_keys(("solver", "model", "output", "manybody", "meanfield"))
        solver = top.get("solver", lambda k, v: _choice(k, v, _solver_names()), "manybody")
        model = _parse_model(top.table("model", required=True))
        output = _parse_output(top.table("output", required=True))
        manybody = _parse_manybody(top.table("manybody"))
        meanfield = _parse_meanfield(top.table("meanfield"))
    except ConfigError as exc:
        exc.source_path = source_path
        raise
    mu = model.mu
    if mu.kind == "bulb" and not mu.r0 + output.times[0] > mu.radius:
        raise ConfigError("model.schedule.r0", f"the run starts at r = r0 + output start time "
                          f"= {mu.r0 + output.times[0]!r}, inside model.schedule.radius = "
                          f"{mu.radius!r}", source_path)
    if manybody.propagator == "spectral" and solver == "manybody":
        if not mu.is_constant:
            raise ConfigError("manybody.propagator", "\"spectral\" expands psi in eigenpairs of "
                              "one H and needs a constant mu; this model.schedule varies mu: use "
                              "\"mfn\"", source_path)
        if manybody.operator in ("real", "shell", "separable"):
            raise ConfigError("manybody.operator", f"{manybody.operator!r} is a MATSHELL; "
                              "manybody.propagator = \"spectral\" factorizes H and needs "
                              "\"matrix\" (or \"auto\")", source_path)
    if source_text is None:
        source_text = dump_toml(data)
    return RunConfig(model=model, output=output, solver=solver, manybody=manybody,
                     meanfield=meanfield, source_text=source_text, source_path=source_path)


def load_config_text(text: str, source_path: str = "<string>") -> RunConfig:
    """Parse and validate TOML ``text``; TOML syntax errors become ConfigError."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        if "(at end of document)" in msg:  # tomllib reports no line here; give the last one
            msg = msg.replace("(at end of document)",
                              f"(at end of document, line {max(1, len(text.splitlines()))})")
        raise ConfigError("", f"invalid TOML: {msg}", source_path) from None
    return config_from_dict(data, source_text=text, source_path=source_path)


def load_config(path) -> RunConfig:
    """Read and validate the TOML file at ``path`` (not collective)."""
    path = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("", f"cannot read the config file: {exc}", path) from None
    return load_config_text(text, source_path=path)


# --- writing ------------------------------------------------------------------

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _toml_key(k: str) -> str:
    return k if _BARE_KEY.match(k) else json.dumps(k)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
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
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    if isinstance(v, (datetime.date, datetime.time)):
        return v.isoformat()
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def _is_table_array(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)


def dump_toml(data: dict) -> str:
    """Write a config dict as TOML text (``tomllib.loads(dump_toml(d)) == d``).

    Covers what configs hold: scalars, arrays, nested tables and arrays of
    tables. Used to store programmatically built configs in output files.
    """
    lines: list[str] = []

    def emit(table: dict, path: list[str]) -> None:
        subtables = []
        for k, v in table.items():
            if isinstance(v, dict) or _is_table_array(v):
                subtables.append((k, v))
            else:
                lines.append(f"{_toml_key(k)} = {_toml_value(v)}")
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
