"""The TOML run configuration, validated once into a :class:`~nmbhpc.settings.RunConfig`.

This is the only place raw user input is looked at: every key is checked
(unknown keys, types, ranges, cross-key consistency, and sizes against an
estimate) before any work starts, and the first problem is raised as
:class:`ConfigError` naming the key by its dotted path (``model.modes[3].n``,
0-based indices) and the offending value. The keys are declared in
:mod:`nmbhpc.schema` form: the common ``[model]``/``[output]`` sections here,
``[manybody]``/``[meanfield]`` on their settings dataclasses
(:mod:`nmbhpc.settings`), ``[kinetics]`` in :mod:`nmbhpc.kinetics.settings`.
docs/config.md documents them (its key table is generated from the schema).

:func:`load_any_config_text` is the one loader that tells a kinetics document
from a spin-solver document. Loading is not collective: every rank may load
the same file independently (the result depends only on the text, including
seeded random directions, and on the PETSc build's index size).
"""
from __future__ import annotations

import math
import tomllib
from pathlib import Path
from typing import Any, Optional

import numpy as np

from .physics import generators
from .kinetics import settings as _kinetic_settings  # noqa: F401  (registers [kinetics])
from .manybody import operators as _operators
from .physics.model import Mode, Model
from .physics.schedule import MuSchedule
from .schema import (parse_toml, read_config_file, MAX_MAGNITUDE, MAX_RECORDS, MAX_STEPS, MAX_TIME, SECTIONS, ConfigError, Key,
                     Section, Table, build, choice, dump_toml, fail, human_bytes, petsc_int_max,
                     register, show, to_dict, toml_value, unit_vector)
from .settings import ManyBodySettings, MeanFieldSettings, OutputSettings, RunConfig

__all__ = ["ConfigError", "load_config", "load_config_text", "config_from_dict", "dump_toml",
           "dump_config", "load_any_config_text", "solver_names", "SOLVER_NAMES"]

# below this norm a direction cannot be normalised meaningfully
_MIN_DIRECTION_NORM = 1e-12
# pure product states: |P| = 1 up to rounding in a hand-written config
_POLARIZATION_TOL = 1e-8
_TWO_PI = 2 * math.pi
_TIME = dict(unit="1/omega0", low=-MAX_TIME, high=MAX_TIME)
_MAX_INT = 2**31 - 1


def solver_names() -> tuple:
    """Every solver name a config may give: the registry :data:`nmbhpc.solvers.SOLVERS`
    plus ``"kinetics"`` (its own document type) when the registry lacks it."""
    from .solvers import SOLVERS

    return tuple(SOLVERS) + (() if "kinetics" in SOLVERS else ("kinetics",))


SOLVER_NAMES = solver_names()

# --- declared keys of the common sections -------------------------------------

TOP_KEYS = (
    Key("solver", "choice", "manybody", "which solver runs the model", choices=SOLVER_NAMES),
)
MODEL_KEYS = (
    Key("theta", "real", 0.0, "vacuum mixing angle", unit="rad", low=-_TWO_PI, high=_TWO_PI),
    Key("mu", "real", doc="mu0, any real; with a bulb schedule mu at t = 0; left out with a "
        "table schedule", unit="omega0", default_doc="*required* (refused with a `table` schedule)"),
    Key("angular", "choice", None, "c_pq = 1 - p.q (multi) or single_angle_factor (single)",
        choices=("multi", "single"),
        default_doc='`"multi"` for explicit modes; set by the generator otherwise'),
    Key("single_angle_factor", "real", 1.0, "single-angle coupling constant (angular = single)"),
    Key("schedule", "any", None, "[model.schedule]: mu(t); constant mu by default"),
    Key("modes", "any", None, "[[model.modes]]: explicit modes (or a generator)",
        default_doc="one of modes/generator"),
    Key("generator", "any", None, "[model.generator]: a standard model (or explicit modes)",
        default_doc="one of modes/generator"),
)
SCHEDULE_KEYS = (
    Key("kind", "choice", "constant", "constant: mu; table: interpolated; bulb: mu0 D(r0 + t) / D(r0)",
        choices=("constant", "table", "bulb")),
    Key("times", "reals", doc="(table) >= 2 strictly increasing times", min_len=2, **_TIME),
    Key("values", "reals", doc="(table) mu at those times, same length; model.mu left out",
        unit="omega0"),
    Key("r0", "real", doc="(bulb) radius at t = 0, > radius", unit="1/omega0", low=0.0,
        open_low=True),
    Key("radius", "real", doc="(bulb) neutrinosphere radius R", unit="1/omega0", low=0.0,
        open_low=True),
    Key("max_step", "real", MuSchedule.max_step, "(table, bulb) longest step of the time "
        "integrator (manybody.time_integrator)", unit="1/omega0", low=0.0, open_low=True),
)
_SCHEDULE_KINDS = {"constant": ("kind",), "table": ("kind", "times", "values", "max_step"),
                   "bulb": ("kind", "r0", "radius", "max_step")}
MODE_KEYS = (
    Key("n", "int", doc="neutrinos in the mode; spin j = n/2", low=1, high=_MAX_INT),
    Key("omega", "real", doc="omega_p; negative = antineutrino-like", unit="omega0"),
    Key("direction", "vector3", (0.0, 0.0, 1.0), "momentum direction, normalised (multi-angle only)"),
    Key("state", "any", doc='"e" = [0, 0, 1], "x" = [0, 0, -1], or a unit polarisation vector'),
    Key("species", "choice", "auto", '"nu", "nubar" (flipped isospin), or "auto": nubar if '
        "omega < 0; labels output only", choices=("auto", "nu", "nubar")),
)
_N_MODES = Key("n_modes", "int", doc="number of modes", low=1, high=_MAX_INT)
_N_PER_MODE = Key("n_per_mode", "int", 1, "neutrinos per mode", low=1, high=_MAX_INT)
_STATES = Key("states", "any", "split", '"e", "x", "split" or one "e"/"x"/unit vector per mode')
_GEN_KIND = Key("kind", "choice", doc="generator", choices=("single_angle", "two_beam", "multi_angle"))
GENERATOR_KEYS = {
    "single_angle": (_GEN_KIND, _N_MODES, _N_PER_MODE,
                     Key("omega0", "real", 1.0, "spectrum spacing: omega_p = p omega0", unit="omega0",
                         low=0.0, open_low=True),
                     _STATES),
    "two_beam": (_GEN_KIND,
                 Key("n_nu", "int", doc="neutrinos in beam 0", low=1, high=_MAX_INT),
                 Key("n_nubar", "int", doc="antineutrinos in beam 1", low=1, high=_MAX_INT),
                 Key("omega", "real", 1.0, "|omega| of both beams", unit="omega0", low=0.0,
                     open_low=True),
                 Key("hierarchy", "choice", doc="sign of omega of beam 0 (inverted: -omega)",
                     choices=("inverted", "normal")),
                 Key("flavor", "choice", "e", "nu_e and nubar_e beams, or nu_x and nubar_x",
                     choices=("e", "x")),
                 Key("beam_angle", "real", math.pi, "angle of beam 1 to +z (angular = multi only)",
                     unit="rad", low=-_TWO_PI, high=_TWO_PI, default_doc="pi")),
    "multi_angle": (_GEN_KIND, _N_MODES, _N_PER_MODE,
                    Key("spectrum", "choice", "constant", "omega_p = omega, or p omega0",
                        choices=("constant", "linear")),
                    Key("omega", "real", 1.0, "(constant spectrum) every omega_p", unit="omega0"),
                    Key("omega0", "real", 1.0, "(linear spectrum) spacing", unit="omega0", low=0.0,
                        open_low=True),
                    Key("directions", "any", "random", '"random" (seeded), "polar", or one 3-vector '
                        "per mode"),
                    Key("seed", "int", 0, "(random directions) seed", low=0, high=2**63 - 1),
                    _STATES),
}
OUTPUT_KEYS = (
    Key("times", "reals", doc="strictly increasing output times; the run starts at times[0]",
        min_len=2, default_doc="or t_start/t_final/n_out", **_TIME),
    Key("t_start", "real", 0.0, "first output time", **_TIME),
    Key("t_final", "real", doc="last output time, > t_start", default_doc="*required* without times",
        **_TIME),
    Key("n_out", "int", doc="linspace(t_start, t_final, n_out)", low=2, high=MAX_RECORDS,
        default_doc="*required* without times"),
    Key("pair_correlations", "bool", False, "record <J_p.J_q> - <J_p>.<J_q> (O(M^2) per record)"),
    Key("save_state", "bool", False, "write the final state"),
)

register(Section("", TOP_KEYS, doc="Tables: [model], [output] (required), [manybody], "
                 "[meanfield]; a kinetics document has only solver and [kinetics]."))
register(Section("model", MODEL_KEYS, doc="The model H_MB of Eq. (1) of the paper (common to "
                 "the spin solvers)."))
register(Section("model.schedule", SCHEDULE_KEYS, doc="mu(t); keys by kind."))
register(Section("model.modes", MODE_KEYS, title="[[model.modes]]", doc="One table per mode."))
for _kind, _keys in GENERATOR_KEYS.items():
    register(Section("model.generator", _keys, title=f'[model.generator] kind = "{_kind}"'))
register(Section("output", OUTPUT_KEYS, doc="Either times, or t_final and n_out (t_start optional)."))


def _key(keys, name: str) -> Key:
    return next(k for k in keys if k.name == name)


# --- leaf parsers that combine keys -------------------------------------------

def _increasing(key: str, v: Any, spec: Key) -> list[float]:
    xs = spec.parse(key, v)
    for i in range(1, len(xs)):
        if not xs[i] > xs[i - 1]:
            raise ConfigError(f"{key}[{i}]", f"must be strictly increasing: {key}[{i}] = {xs[i]!r} "
                              f"does not exceed {key}[{i - 1}] = {xs[i - 1]!r}")
    _check_resolution(key, xs)
    return xs


def _check_resolution(key: str, xs) -> None:
    """Refuse times closer than double precision resolves at their magnitude."""
    xs = np.asarray(xs, dtype=np.float64)
    if len(xs) < 2:
        return
    gaps = np.diff(xs)
    scale = float(np.max(np.abs(xs)))
    i = int(np.argmin(gaps))
    if gaps[i] < 1e3 * np.finfo(np.float64).eps * scale:
        raise ConfigError(f"{key}[{i + 1}]", f"{xs[i + 1]!r} is only {gaps[i]:.3g} after "
                          f"{xs[i]!r}: below what double precision resolves at |t| = {scale:.3g}")


def _direction(key: str, v: Any) -> tuple:
    return unit_vector(key, v, min_norm=_MIN_DIRECTION_NORM)


def _species(value: str):
    """``Mode.species`` from the config's choice (``"auto"``: from the sign of omega)."""
    return None if value == "auto" else value


def _state(key: str, v: Any) -> tuple:
    """``"e"``, ``"x"`` or a unit polarisation vector -> flavor-frame P."""
    if isinstance(v, str):
        choice(key, v, ("e", "x"))
        return generators.NU_E if v == "e" else generators.NU_X
    if not isinstance(v, list):
        raise fail(key, 'must be "e", "x" or a unit polarisation vector [Px, Py, Pz]', v)
    p = np.array(Key("", "vector3").parse(key, v))
    norm = float(np.linalg.norm(p))
    if abs(norm - 1.0) > _POLARIZATION_TOL:
        raise ConfigError(key, f"must be a unit vector (|P| = 1 within {_POLARIZATION_TOL:g}: only "
                          f"pure product states are supported), got {show(v)} with |P| = {norm:.10g}")
    if abs(norm - 1.0) <= 4 * np.finfo(np.float64).eps:  # already unit: keep it bit for bit
        return tuple(float(x) for x in p)
    return tuple(float(x) for x in p / norm)


def _states(key: str, v: Any, n_modes: int) -> list[tuple]:
    """Generator ``states`` -> one polarisation per mode."""
    if isinstance(v, str):
        choice(key, v, ("e", "x", "split"))
        return generators.flavor_states(v, n_modes)
    if not isinstance(v, list):
        raise fail(key, 'must be "e", "x", "split" or an array of per-mode states', v)
    if len(v) != n_modes:
        raise fail(key, f"must hold one state per mode ({n_modes})", v)
    return [_state(f"{key}[{i}]", s) for i, s in enumerate(v)]


def _directions(key: str, v: Any, n_modes: int):
    if isinstance(v, str):
        return choice(key, v, ("random", "polar"))
    if not isinstance(v, list):
        raise fail(key, 'must be "random", "polar" or an array of 3-vectors', v)
    if len(v) != n_modes:
        raise fail(key, f"must hold one direction per mode ({n_modes})", v)
    return [_direction(f"{key}[{i}]", d) for i, d in enumerate(v)]


# --- sizes: refused before anything is allocated ----------------------------------

#: replicated arrays below this size are never checked (no need to read /proc/meminfo)
_SMALL_BYTES = 2**26


def _check_replicated(key: str, value: Any, nbytes: float, what: str) -> None:
    """Refuse an array every rank holds whole when it exceeds this node's MemAvailable."""
    if nbytes < _SMALL_BYTES:
        return
    from .manybody.memory import mem_available

    budget = mem_available()
    if budget and nbytes > budget:
        raise ConfigError(key, f"{show(value)}: {what} needs {human_bytes(nbytes)} on every rank, "
                          f"more than the {human_bytes(budget)} this node has available")


def _check_mode_count(key: str, n_modes: int, solver: str) -> None:
    """Every solver holds the M x M coupling matrix on every rank; the cumulant solver
    its M^2 correlations (about 10 copies in the TS)."""
    _check_replicated(key, n_modes, 8.0 * n_modes * n_modes, f"the {n_modes} x {n_modes} "
                      "coupling matrix")
    if solver == "cumulant":
        _check_replicated(key, n_modes, 10 * 8.0 * (3 * n_modes + 9.0 * n_modes * n_modes),
                          "the cumulant state (about 10 copies of 9 M^2 numbers)")


def _log_sector_dim(counts: np.ndarray, k: int) -> float:
    """log of the number of configurations with sum k_p = k, 0 <= k_p <= n_p.

    Exact (float64 convolution) for small M k, else the central-limit estimate.
    """
    n_total = int(counts.sum())
    k = min(k, n_total - k)
    if k <= 0:
        return 0.0
    if len(counts) * k <= 2_000_000:
        c = np.zeros(k + 1)
        c[0] = 1.0
        for n in counts:
            run = np.cumsum(c)
            shifted = np.zeros_like(run)
            w = int(n) + 1
            if w <= k:
                shifted[w:] = run[:-w]
            c = run - shifted
            top = c.max()
            if top > 1e250:  # keep the scale, count it in the log
                return math.log(top) + _log_sector_dim_gauss(counts, k) - math.log(top)
        return math.log(c[k]) if c[k] > 0 else -math.inf
    return _log_sector_dim_gauss(counts, k)


def _log_sector_dim_gauss(counts: np.ndarray, k: int) -> float:
    n = counts.astype(np.float64)
    var = float(np.sum(n * (n + 2) / 12.0))
    mean = float(n.sum()) / 2
    return float(np.sum(np.log1p(n))) - 0.5 * math.log(2 * math.pi * var) - (k - mean) ** 2 / (2 * var)


def _check_manybody_size(key: str, value: Any, model: Model) -> None:
    """The exact engine's basis holds at least the sector of the initial state's mean
    magnetisation: its size must be a PetscInt and its state vector must exist."""
    rot = model.flavor_rotation()
    pz = (model.initial_polarizations @ rot)[:, 2]  # computational-frame z
    counts = model.counts
    k = int(round(float(np.sum(counts * (1.0 - pz) / 2.0))))
    log_dim = _log_sector_dim(counts, max(0, min(k, int(counts.sum()))))
    limit = petsc_int_max()
    if log_dim > math.log(limit):
        dim = math.exp(min(log_dim, 700.0))
        raise ConfigError(key, f"{show(value)}: the many-body basis of the initial state holds at "
                          f"least {dim:.2g} states ({human_bytes(16.0 * dim)} per state vector); "
                          f"this PETSc build indexes at most {limit} (PetscInt)")
    # the basis tables and the configurations are replicated/local; the vector is distributed
    _check_replicated(key, value, 8.0 * (len(counts) + 1) * (counts.sum() + 2),
                      "the basis counting table")


def _check_phase(model: Model, times: np.ndarray, where: dict) -> None:
    """Refuse runs whose phase span (t_final - t_start) x (max|omega| + max|mu| max|c|)
    no solver can step through (:data:`nmbhpc.schema.MAX_STEPS` radians)."""
    span = float(times[-1] - times[0])
    mu = model.mu
    mu_max = max(abs(v) for v in mu.values) if mu.kind == "table" else abs(mu.mu0)
    c_max = abs(model.single_angle_factor) if model.single_angle else 2.0
    w_max = float(np.max(np.abs(model.omegas))) if model.n_modes else 0.0
    freq = w_max + mu_max * c_max
    phase = span * freq
    if phase > MAX_STEPS:
        if span >= freq:
            key, value = where["time"]
        else:
            key, value = where["mu"] if mu_max * c_max >= w_max else where["omega"]
        raise ConfigError(key, f"{show(value)}: the run spans {phase:.3g} rad of phase "
                          f"((t_final - t_start) x (max|omega| + max|mu| max|c_pq|) = {span:.3g} x "
                          f"{freq:.3g}), more than the {MAX_STEPS:.0e} any solver can step through")


def _check_steps(key: str, value: float, span: float, step: float) -> None:
    if span / step > MAX_STEPS:
        raise ConfigError(key, f"{show(value)}: (t_final - t_start) / {key.split('.')[-1]} = "
                          f"{span / step:.3g} steps, more than {MAX_STEPS:.0e}")


# --- sections ---------------------------------------------------------------

def _parse_output(t: Table) -> tuple[OutputSettings, tuple]:
    t.check_keys(OUTPUT_KEYS)
    if "times" in t:
        for other in ("t_start", "t_final", "n_out"):
            if other in t:
                raise ConfigError(t.key(other), f"give either output.times or output.t_start/"
                                  f"t_final/n_out, not both (got output.{other} = "
                                  f"{show(t.data[other])})")
        spec = _key(OUTPUT_KEYS, "times")
        times = np.array(t.get("times", lambda k, v: _increasing(k, v, spec)))
        where = (t.key("times"), t.data["times"][-1] if isinstance(t.data["times"], list) else None)
    else:
        if "t_final" not in t:
            raise ConfigError(t.key("t_final"), "is required (or give output.times)")
        t_start = t.read(_key(OUTPUT_KEYS, "t_start"))
        t_final = t.read(_key(OUTPUT_KEYS, "t_final"))
        n_out = t.read(_key(OUTPUT_KEYS, "n_out"))
        if not t_final > t_start:
            raise fail(t.key("t_final"), f"must be greater than output.t_start = {t_start!r}",
                       t.data["t_final"])
        _check_replicated(t.key("n_out"), n_out, 8.0 * n_out, "the output times")
        times = np.linspace(t_start, t_final, n_out)
        _check_resolution(t.key("n_out"), times[:2] if abs(t_start) >= abs(t_final) else times[-2:])
        where = (t.key("t_final"), t_final)
    return OutputSettings(times=times,
                          pair_correlations=t.read(_key(OUTPUT_KEYS, "pair_correlations")),
                          save_state=t.read(_key(OUTPUT_KEYS, "save_state"))), where


def _parse_schedule(model: Table) -> MuSchedule:
    t = model.table("schedule")
    spec = {k.name: k for k in SCHEDULE_KEYS}
    kind = "constant" if t is None else t.read(spec["kind"])
    if t is not None:
        allowed = _SCHEDULE_KINDS[kind]
        others = {name: f"is not used by schedule kind {kind!r} (valid keys: {', '.join(allowed)})"
                  for keys in _SCHEDULE_KINDS.values() for name in keys if name not in allowed}
        t.check_keys(allowed, elsewhere=others)
    max_step = MuSchedule.max_step if t is None else t.read(spec["max_step"])
    if kind == "table":
        if "mu" in model:
            raise fail(model.key("mu"), "must not be given with a tabulated schedule "
                       "(model.schedule.values holds mu(t))", model.data["mu"])
        times = t.get("times", lambda k, v: _increasing(k, v, spec["times"]))
        values = t.read(spec["values"])
        if len(values) != len(times):
            raise ConfigError(t.key("values"), f"must have as many entries as "
                              f"model.schedule.times ({len(times)}), got {len(values)}")
        return MuSchedule(kind="table", mu0=values[0], times=tuple(times), values=tuple(values),
                          max_step=max_step)
    mu0 = model.read(_key(MODEL_KEYS, "mu"))
    if kind == "bulb":
        radius = t.read(spec["radius"])
        r0 = t.read(spec["r0"])
        if not r0 > radius:
            raise fail(t.key("r0"), f"must exceed model.schedule.radius = {radius!r} "
                       "(the run starts above the neutrinosphere)", t.data["r0"])
        return MuSchedule(kind="bulb", mu0=mu0, r0=r0, radius=radius, max_step=max_step)
    return MuSchedule(kind="constant", mu0=mu0)


def _parse_modes(key: str, v: Any) -> tuple:
    if not isinstance(v, list) or not v:
        raise fail(key, "must be a non-empty array of tables ([[model.modes]] entries)", v)
    modes = []
    spec = {k.name: k for k in MODE_KEYS}
    for i, entry in enumerate(v):
        t = Table(entry, f"{key}[{i}]")
        t.check_keys(MODE_KEYS)
        modes.append(Mode(n=t.read(spec["n"]), omega=t.read(spec["omega"]),
                          direction=t.get("direction", _direction, spec["direction"].default),
                          polarization=t.get("state", _state),
                          species=_species(t.read(spec["species"]))))
    return tuple(modes)


# generator kind -> (forced angular or None, default angular)
_GENERATOR_ANGULAR = {"single_angle": ("single", "single"), "two_beam": (None, "single"),
                      "multi_angle": ("multi", "multi")}


def _build_generator(t: Table, kind: str, angular: str, solver: str) -> tuple:
    keys = GENERATOR_KEYS[kind]
    spec = {k.name: k for k in keys}
    others = {k.name: f"is not used by generator kind {kind!r} (valid keys: "
              f"{', '.join(spec)})" for ks in GENERATOR_KEYS.values() for k in ks if k.name not in spec}
    t.check_keys(keys, elsewhere=others)
    if kind == "two_beam":
        if "beam_angle" in t and angular != "multi":
            raise fail(t.key("beam_angle"), "is only used with model.angular = \"multi\" "
                       "(the two-beam model is single-angle by default)", t.data["beam_angle"])
        return generators.two_beam(t.read(spec["n_nu"]), t.read(spec["n_nubar"]),
                                   omega=t.read(spec["omega"]), hierarchy=t.read(spec["hierarchy"]),
                                   flavor=t.read(spec["flavor"]), beam_angle=t.read(spec["beam_angle"]))
    n_modes = t.read(spec["n_modes"])
    _check_mode_count(t.key("n_modes"), n_modes, solver)
    n_per_mode = t.read(spec["n_per_mode"])
    states = t.get("states", lambda k, v: _states(k, v, n_modes), "split")
    if kind == "single_angle":
        return generators.single_angle(n_modes, n_per_mode=n_per_mode,
                                       omega0=t.read(spec["omega0"]), states=states)
    spectrum = t.read(spec["spectrum"])
    unused = "omega0" if spectrum == "constant" else "omega"
    if unused in t:
        raise fail(t.key(unused), f"is not used with spectrum = \"{spectrum}\" (constant: "
                   "omega_p = omega; linear: omega_p = p * omega0)", t.data[unused])
    omega0 = t.read(spec["omega0"])
    if spectrum == "linear" and n_modes * omega0 > MAX_MAGNITUDE:
        raise fail(t.key("omega0"), f"gives omega_{n_modes} = {n_modes * omega0:.3g}, beyond "
                   "the largest frequency a config may hold", t.data.get("omega0", omega0))
    directions = t.get("directions", lambda k, v: _directions(k, v, n_modes), "random")
    if "seed" in t and directions != "random":
        raise fail(t.key("seed"), 'is only used with directions = "random"', t.data["seed"])
    return generators.multi_angle(n_modes, n_per_mode=n_per_mode, omega=t.read(spec["omega"]),
                                  spectrum=spectrum, omega0=omega0, directions=directions,
                                  seed=t.read(spec["seed"]), states=states)


def _parse_model(t: Table, solver: str) -> tuple[Model, str]:
    """The Model and the key that sets its size (for size errors)."""
    t.check_keys(MODEL_KEYS)
    spec = {k.name: k for k in MODEL_KEYS}
    if "modes" in t and "generator" in t:
        raise ConfigError(t.key("generator"), "give either [[model.modes]] or [model.generator], "
                          "not both")
    if "modes" not in t and "generator" not in t:
        raise ConfigError(t.key("modes"), "no modes: give [[model.modes]] entries or a "
                          "[model.generator] table")
    theta = t.read(spec["theta"])
    schedule = _parse_schedule(t)

    gen = t.table("generator")
    kind = gen.read(_GEN_KIND) if gen is not None else None
    forced, default = _GENERATOR_ANGULAR[kind] if kind else (None, "multi")
    angular = t.read(spec["angular"], default)
    if forced and angular != forced:
        raise fail(t.key("angular"), f"must be \"{forced}\" for generator kind {kind!r} "
                   "(or left out)", t.data["angular"])
    if "single_angle_factor" in t and angular != "single":
        raise fail(t.key("single_angle_factor"), "is only used with a single-angle coupling "
                   "(model.angular = \"single\")", t.data["single_angle_factor"])
    factor = t.read(spec["single_angle_factor"])

    if gen is not None:
        modes = _build_generator(gen, kind, angular, solver)
        size_key = gen.key("n_nu" if kind == "two_beam" else "n_modes")
    else:
        modes = _parse_modes(t.key("modes"), t.data["modes"])
        size_key = t.key("modes")
        _check_mode_count(size_key, len(modes), solver)
    model = Model(modes=modes, theta=theta, mu=schedule, single_angle=(angular == "single"),
                  single_angle_factor=factor, name=kind or "modes")
    return model, size_key


def _parse_manybody(t: Optional[Table]) -> ManyBodySettings:
    return build(ManyBodySettings, t)


def _parse_meanfield(t: Optional[Table]) -> MeanFieldSettings:
    return build(MeanFieldSettings, t)


def _top_level_sections() -> tuple:
    """``model``, ``output`` and the registered solver sections (not kinetics: its own document)."""
    return ("model", "output") + tuple(s.path for s in SECTIONS.values()
                                       if s.path and "." not in s.path and s.path not in
                                       ("model", "output", "kinetics"))


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
        config = _config(data, source_path)
    except ConfigError as exc:
        exc.source_path = source_path
        raise
    if source_text is None:
        source_text = dump_toml(data)
    return RunConfig(**config, source_text=source_text, source_path=source_path)


def _config(data: dict, source_path: str) -> dict:
    top = Table(data, "")
    top.check_keys(("solver",) + _top_level_sections())
    solver = top.read(_key(TOP_KEYS, "solver"))
    if solver == "kinetics":
        raise ConfigError("solver", "\"kinetics\" needs a [kinetics] table (and no [model]/[output]: "
                          "docs/kinetics.md)")
    model, size_key = _parse_model(top.table("model", required=True), solver)
    output, where_time = _parse_output(top.table("output", required=True))
    manybody = _parse_manybody(top.table("manybody"))
    meanfield = _parse_meanfield(top.table("meanfield"))
    mu = model.mu
    times = output.times
    if mu.kind == "bulb" and not mu.r0 + times[0] > mu.radius:
        raise ConfigError("model.schedule.r0", f"the run starts at r = r0 + output start time "
                          f"= {mu.r0 + times[0]!r}, inside model.schedule.radius = {mu.radius!r}")
    mu_where = (("model.schedule.values", list(mu.values)) if mu.kind == "table"
                else ("model.mu", mu.mu0))
    i_w = int(np.argmax(np.abs(model.omegas)))
    omega_where = ((f"model.modes[{i_w}].omega", model.omegas[i_w]) if size_key == "model.modes"
                   else (size_key.rsplit(".", 1)[0], model.omegas[i_w]))
    _check_phase(model, times, {"time": where_time, "mu": mu_where, "omega": omega_where})
    span = float(times[-1] - times[0])
    if not mu.is_constant:
        _check_steps("model.schedule.max_step", mu.max_step, span, mu.max_step)
    if solver == "manybody":
        _check_manybody_size(size_key, _size_value(data, size_key), model)
        _check_manybody_settings(manybody, mu)
        if manybody.propagator == "mfn":
            _check_steps("manybody.max_step", manybody.max_step, span, manybody.max_step)
    return dict(model=model, output=output, solver=solver, manybody=manybody, meanfield=meanfield)


def _size_value(data: dict, key: str):
    node: Any = data
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return len(node) if isinstance(node, list) else node


def _check_manybody_settings(manybody: ManyBodySettings, mu: MuSchedule) -> None:
    """The propagator rules of the operator registry (manybody/operators.py), for the
    TOML's settings (the solver checks again with a command-line ``-mfn_type``)."""
    if manybody.propagator == "spectral" and not mu.is_constant:
        raise ConfigError("manybody.propagator", "\"spectral\" expands psi in eigenpairs of "
                          "one H and needs a constant mu; this model.schedule varies mu: use "
                          "\"mfn\"")
    if manybody.operator != "auto":
        bad = _operators.incompatibility(manybody.operator, manybody.propagator, manybody.mfn_type)
        if bad is not None:
            raise ConfigError(*bad)


def load_config_text(text: str, source_path: str = "<string>") -> RunConfig:
    """Parse and validate TOML ``text``; TOML syntax errors become ConfigError."""
    return config_from_dict(parse_toml(text, source_path), source_text=text,
                            source_path=source_path)


def load_config(path) -> RunConfig:
    """Read and validate the TOML file at ``path`` (not collective)."""
    path = str(path)
    return load_config_text(read_config_file(path), source_path=path)


def load_any_config_text(text: str, source_path: str = "<string>"):
    """A RunConfig or, for a kinetics document
    (:func:`nmbhpc.kinetics.config.is_kinetics_document`), KineticSettings. Not collective."""
    from .kinetics.config import is_kinetics_document, settings_from_dict

    data = parse_toml(text, source_path)
    if is_kinetics_document(data):
        return settings_from_dict(data, source_text=text, source_path=source_path)
    return config_from_dict(data, source_text=text, source_path=source_path)


# --- writing ------------------------------------------------------------------

def config_to_dict(config: RunConfig) -> dict:
    """The TOML document of a RunConfig: explicit modes, explicit output times, every key
    of the solver sections. ``config_from_dict(config_to_dict(c))`` equals ``c`` up to
    ``model.name`` and the source text."""
    m = config.model
    model: dict = {"theta": m.theta, "angular": "single" if m.single_angle else "multi"}
    mu = m.mu
    if mu.kind != "table":
        model["mu"] = mu.mu0
    if m.single_angle:
        model["single_angle_factor"] = m.single_angle_factor
    if mu.kind == "table":
        model["schedule"] = {"kind": "table", "times": list(mu.times), "values": list(mu.values),
                             "max_step": mu.max_step}
    elif mu.kind == "bulb":
        model["schedule"] = {"kind": "bulb", "r0": mu.r0, "radius": mu.radius,
                             "max_step": mu.max_step}
    model["modes"] = [{"n": md.n, "omega": md.omega, "direction": list(md.direction),
                       "state": list(md.polarization),
                       **({} if md.species is None else {"species": md.species})}
                      for md in m.modes]
    out = config.output
    times = np.asarray(out.times, dtype=float)
    even = (times.size >= 2 and
            np.array_equal(times, np.linspace(times[0], times[-1], times.size)))
    # evenly spaced times as the three numbers that make them (bit for bit): a run file
    # stores this text, and 10^5 outputs would otherwise be megabytes of attribute
    output = ({"t_start": float(times[0]), "t_final": float(times[-1]), "n_out": int(times.size)}
              if even else {"times": [float(t) for t in times]})
    return {"solver": config.solver, "model": model,
            "output": {**output,
                       "pair_correlations": out.pair_correlations, "save_state": out.save_state},
            "manybody": to_dict(config.manybody), "meanfield": to_dict(config.meanfield)}


def dump_config(config) -> str:
    """TOML text of a RunConfig or KineticSettings that loads back into equal settings."""
    if getattr(config, "solver", None) == "kinetics":
        from .kinetics.config import settings_to_dict

        return dump_toml(settings_to_dict(config))
    return dump_toml(config_to_dict(config))


def _flat(data: dict, prefix: str = "") -> dict:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (arrays, also of tables, stay whole)."""
    out = {}
    for k, v in data.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def config_differences(stored_text: str, config, stored_resolved: str | None = None) -> list:
    """What differs between a run file's config and ``config``, as lines
    ``"model.mu: 3.5 in the file, 4.0 now"`` (values in TOML); [] when both describe
    the same run.

    The comparison is of the validated settings (:func:`dump_config`), so the
    spelling does not matter: ``5`` or ``5.0``, comments, key order, a default
    written out or left implicit, ``n_out`` or the list of times it means.
    ``stored_resolved`` is the file's resolved settings (its
    ``config_toml_resolved``, every default written out): with it, a default
    that changed since the run started shows as a difference. Files without it
    compare ``stored_text`` validated today (equal texts are the same run);
    files it names (angular tables) are then found relative to ``config``'s
    file, as they were when the run started. Not collective.
    """
    if stored_resolved:
        was = _flat(tomllib.loads(stored_resolved))
    elif stored_text == config.source_text:
        return []
    else:
        try:
            stored = load_any_config_text(stored_text, config.source_path or "<string>")
        except ConfigError as exc:
            return [f"the stored config no longer loads ({exc})"]
        was = _flat(tomllib.loads(dump_config(stored)))
    now = _flat(tomllib.loads(dump_config(config)))
    missing = object()

    def brief(v) -> str:
        text = "not set" if v is missing else toml_value(v)
        return text if len(text) <= 60 else text[:56] + " ..."

    return [f"{k}: {brief(was.get(k, missing))} in the file, {brief(now.get(k, missing))} now"
            for k in sorted(was.keys() | now.keys()) if was.get(k, missing) != now.get(k, missing)]


def main(argv=None) -> int:
    """``python -m nmbhpc.config [--write FILE]``: print the key table of every section, or
    replace the generated table in FILE (docs/config.md)."""
    import argparse
    import sys

    from nmbhpc import schema  # the registry this module filled (not __main__'s copy)

    p = argparse.ArgumentParser(prog="python -m nmbhpc.config", description=main.__doc__)
    p.add_argument("--write", metavar="FILE", help="replace the generated table in FILE")
    args = p.parse_args(argv)
    if args.write:
        path = Path(args.write)
        path.write_text(schema.replace_doc_table(path.read_text()))
    else:
        sys.stdout.write(schema.doc_table())
    return 0


if __name__ == "__main__":  # pragma: no cover
    import nmbhpc.config  # noqa: F401  (registers the sections in the package's module)

    raise SystemExit(main())
