"""Parse and validate the ``[kinetics]`` section of a TOML config into KineticSettings.

The schema is documented in docs/kinetics.md. Every problem is raised as
:class:`nmbhpc.config.ConfigError` naming the dotted key (``kinetics.grid.nx``).

A kinetics config is a TOML document with a ``[kinetics]`` table and, at the
top level, at most ``solver = "kinetics"`` (optional: a ``[kinetics]`` table
and no ``solver`` key select the kinetic solver too, as in the files written
for ``nmbhpc kinetics``). The ``[model]``/``[output]`` sections of the other
solvers have no meaning here and are refused by name.
:func:`is_kinetics_document` is the one rule ``nmbhpc run``, ``nmbhpc
hierarchy`` and ``nmbhpc kinetics`` use to tell the two kinds of config apart.
Not collective: every rank may parse the same text.
"""
from __future__ import annotations

import math
import tomllib
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..config import ConfigError
from .grid import axis_cosines, beam_mask
from .settings import (ADVECTIONS, LIMITERS, PERTURBATIONS, QUADRATURES, SHAPES, CollisionSettings,
                       GridSettings, KineticSettings, NumericsSettings, PerturbationSettings,
                       PhysicsSettings, SpeciesInit, TimeSettings)

_MISSING = object()


def _number(key: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ConfigError(key, f"must be a finite number, got {v!r}")
    return float(v)


def _nonneg(key: str, v: Any) -> float:
    x = _number(key, v)
    if x < 0:
        raise ConfigError(key, f"must be >= 0, got {v!r}")
    return x


def _positive(key: str, v: Any) -> float:
    x = _number(key, v)
    if x <= 0:
        raise ConfigError(key, f"must be > 0, got {v!r}")
    return x


def _int_at_least(minimum: int) -> Callable[[str, Any], int]:
    def parse(key: str, v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
            raise ConfigError(key, f"must be an integer >= {minimum}, got {v!r}")
        return v
    return parse


def _integer(key: str, v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ConfigError(key, f"must be an integer, got {v!r}")
    return v


def _choice(choices: tuple) -> Callable[[str, Any], str]:
    def parse(key: str, v: Any) -> str:
        if v not in choices:
            raise ConfigError(key, f"must be one of {', '.join(map(repr, choices))}, got {v!r}")
        return v
    return parse


def _numbers(key: str, v: Any) -> tuple:
    items = v if isinstance(v, list) else [v]
    if not items:
        raise ConfigError(key, "must hold at least one number")
    return tuple(_number(f"{key}[{i}]", x) for i, x in enumerate(items))


def _pair(parse: Callable) -> Callable[[str, Any], tuple]:
    def pair(key: str, v: Any) -> tuple:
        if not isinstance(v, list) or len(v) != 2:
            raise ConfigError(key, f"must be an array [e, x] of 2 numbers, got {v!r}")
        return tuple(parse(f"{key}[{i}]", x) for i, x in enumerate(v))
    return pair


class _Table:
    def __init__(self, data: Any, path: str, allowed: tuple):
        if not isinstance(data, dict):
            raise ConfigError(path, f"must be a table, got {data!r}")
        for name in data:
            if name not in allowed:
                raise ConfigError(f"{path}.{name}", f"unknown key; valid keys here: {', '.join(allowed)}")
        self.data, self.path = data, path

    def get(self, name: str, parse: Callable, default: Any = _MISSING) -> Any:
        if name not in self.data:
            if default is _MISSING:
                raise ConfigError(f"{self.path}.{name}", "is required")
            return default
        return parse(f"{self.path}.{name}", self.data[name])

    def sub(self, name: str, allowed: tuple) -> "_Table":
        return _Table(self.data.get(name, {}), f"{self.path}.{name}", allowed)


def _unit_vector(key: str, v: Any) -> tuple:
    if not isinstance(v, list) or len(v) != 3:
        raise ConfigError(key, f"must be an array [x, y, z] of 3 numbers, got {v!r}")
    vec = [_number(f"{key}[{i}]", x) for i, x in enumerate(v)]
    norm = math.sqrt(sum(x * x for x in vec))
    if norm == 0.0:
        raise ConfigError(key, f"must be a nonzero vector, got {v!r}")
    return tuple(x / norm for x in vec)


def _angular_table(key: str, v: Any, base: Path) -> tuple:
    """((u, g), ...) from the two-column text file ``v`` (relative to ``base``)."""
    if not isinstance(v, str):
        raise ConfigError(key, f"must be a file name (string), got {v!r}")
    path = base / v
    try:
        data = np.loadtxt(path, ndmin=2)
    except (OSError, ValueError) as exc:
        raise ConfigError(key, f"cannot read the angular table {str(path)!r}: {exc}") from exc
    if data.shape[1] != 2 or data.shape[0] < 2:
        raise ConfigError(key, f"{str(path)!r}: need >= 2 rows of two columns 'u g', got shape "
                          f"{list(data.shape)}")
    u, g = data[:, 0], data[:, 1]
    if not (np.isfinite(data).all() and np.all(np.diff(u) > 0) and u[0] >= -1.0 and u[-1] <= 1.0
            and np.all(g >= 0) and np.any(g > 0)):
        raise ConfigError(key, f"{str(path)!r}: u must increase within [-1, 1] and g be >= 0 "
                          "(not all 0), all finite")
    return tuple((float(a), float(b)) for a, b in data)


def _species(t: _Table, n_phi: int, base: Path = Path(".")) -> SpeciesInit:
    shape = t.get("shape", _choice(SHAPES), "isotropic")
    table = ()
    if shape == "table":
        table = t.get("file", lambda key, v: _angular_table(key, v, base))
    elif "file" in t.data:
        raise ConfigError(f"{t.path}.file", f"is only read for shape = \"table\", not {shape!r}")
    axis = t.get("axis", _unit_vector, (0.0, 0.0, 1.0))
    if n_phi == 1 and (axis[0] != 0.0 or axis[1] != 0.0):
        raise ConfigError(f"{t.path}.axis", f"{list(axis)} is not along the box axis z: an "
                          "axisymmetric grid cannot hold it; set kinetics.grid.n_phi > 1")

    param = t.get("parameter", _number, 0.0 if shape != "gaussian" else _MISSING)
    if shape == "linear" and abs(param) > 1.0:
        raise ConfigError(f"{t.path}.parameter", f"|a| <= 1 keeps g = 1 + a v >= 0, got {param!r}")
    if shape == "gaussian" and param <= 0.0:
        raise ConfigError(f"{t.path}.parameter", f"the gaussian width must be > 0, got {param!r}")
    if shape == "beam" and abs(param) > 1.0:
        raise ConfigError(f"{t.path}.parameter", f"a beam's cosine must be in [-1, 1], got {param!r}")
    return SpeciesInit(n_e=t.get("n_e", _nonneg, 0.0), n_x=t.get("n_x", _nonneg, 0.0),
                       shape=shape, parameter=param, axis=axis, table=table)


AXIS_NAMES = ("x", "y", "z")
#: fewest cells along a resolved axis: two stencil widths, so one rank's block never
#: wraps onto its own ghosts
MIN_CELLS = 6
#: fewest azimuths with a nonzero velocity along x (phi = 0, pi) and along y (phi = 2 pi / 3, ...)
MIN_PHI = {0: 2, 1: 3}


def _cells(key: str, v: Any) -> tuple:
    if not isinstance(v, list) or len(v) != 3:
        raise ConfigError(key, f"must be an array [n_x, n_y, n_z] of 3 cell counts, got {v!r}")
    for i, n in enumerate(v):
        if isinstance(n, bool) or not isinstance(n, int) or not (n == 1 or n >= MIN_CELLS):
            raise ConfigError(f"{key}[{i}]", f"cells along {AXIS_NAMES[i]}: 1 (not resolved) or an "
                              f"integer >= {MIN_CELLS}, got {n!r}")
    if all(n == 1 for n in v):
        raise ConfigError(key, f"at least one axis needs >= {MIN_CELLS} cells, got {v!r}")
    return tuple(v)


def _lengths(key: str, v: Any) -> tuple:
    if not isinstance(v, list) or len(v) != 3:
        raise ConfigError(key, f"must be an array [L_x, L_y, L_z] of 3 lengths, got {v!r}")
    return tuple(_positive(f"{key}[{i}]", x) for i, x in enumerate(v))


def _grid(g: _Table) -> GridSettings:
    """The box: either the 1D keys ``nx``/``length`` (along z) or ``shape``/``lengths`` (x, y, z)."""
    for new, old in (("shape", "nx"), ("lengths", "length")):
        if new in g.data and old in g.data:
            raise ConfigError(f"{g.path}.{new}", f"give either {old} (the 1D box along z) or "
                              f"{new} ([x, y, z]), not both")
    n_phi = g.get("n_phi", _int_at_least(1), 1)
    shape = g.get("shape", _cells, (1, 1, g.get("nx", _int_at_least(MIN_CELLS), 64)))
    lengths = g.get("lengths", _lengths, (10.0, 10.0, g.get("length", _positive, 10.0)))
    for axis, need in MIN_PHI.items():
        if shape[axis] > 1 and n_phi < need:
            raise ConfigError(f"{g.path}.n_phi", f"{shape[axis]} cells along {AXIS_NAMES[axis]} need "
                              f"n_phi >= {need}, got {n_phi}: with fewer azimuths every direction "
                              f"has v_{AXIS_NAMES[axis]} = 0 (n_phi = 1 stands for rings around z), "
                              "so nothing would move along that axis")
    return GridSettings(nx=shape[2], length=lengths[2], n_dir=g.get("n_dir", _int_at_least(1), 8),
                        quadrature=g.get("quadrature", _choice(QUADRATURES), "gauss-legendre"),
                        n_phi=n_phi, transverse=shape[:2], transverse_length=lengths[:2])


def _mode(q: _Table, grid: GridSettings, kind: str):
    """``perturbation.mode``: an integer m (along z) or [m_x, m_y, m_z] (integers)."""
    key = f"{q.path}.mode"
    v = q.data.get("mode", 1)
    if isinstance(v, list):
        if len(v) != 3:
            raise ConfigError(key, f"must be an integer or an array [m_x, m_y, m_z], got {v!r}")
        mode = tuple(_integer(f"{key}[{i}]", m) for i, m in enumerate(v))
    else:
        mode = _integer(key, v)
    numbers = (0, 0, mode) if isinstance(mode, int) else mode
    for axis, m in enumerate(numbers):
        if kind == "mode" and m != 0 and grid.shape[axis] == 1:
            raise ConfigError(key, f"m_{AXIS_NAMES[axis]} = {m} on an axis of one cell (not "
                              f"resolved; kinetics.grid.shape = {list(grid.shape)})")
    return mode


SOLVER_NAME = "kinetics"
TOP_LEVEL_KEYS = ("solver", "kinetics")


def is_kinetics_document(data: dict) -> bool:
    """Whether a parsed config is a kinetics config (validated by this module).

    True for ``solver = "kinetics"`` and for any document with a ``kinetics``
    table: without a ``solver`` key that selects the kinetic solver, and next
    to another solver it is an error this module reports at ``solver``.
    """
    return data.get("solver") == SOLVER_NAME or "kinetics" in data


def settings_from_dict(data: dict, source_text: str = "",
                       source_path: str = "<string>") -> KineticSettings:
    """Validate a parsed TOML document (``solver`` and its ``kinetics`` table) into KineticSettings."""
    if "kinetics" not in data:
        raise ConfigError("kinetics", "is required: add a [kinetics] table", source_path)
    if "solver" in data and data["solver"] != SOLVER_NAME:
        raise ConfigError("solver", f"a config with a [kinetics] table runs the kinetic solver: "
                          f"set solver = \"{SOLVER_NAME}\" (or remove the [kinetics] table), "
                          f"got {data['solver']!r}", source_path)
    for name in data:
        if name not in TOP_LEVEL_KEYS:
            raise ConfigError(name, f"is not used by solver \"{SOLVER_NAME}\" (valid top-level "
                              f"keys: {', '.join(TOP_LEVEL_KEYS)}; times and outputs are set in "
                              "[kinetics.time])", source_path)
    try:
        return _settings(data, source_text, source_path)
    except ConfigError as exc:
        exc.source_path = source_path
        raise


def _settings(data: dict, source_text: str, source_path: str) -> KineticSettings:
    k = _Table(data["kinetics"], "kinetics",
               ("grid", "physics", "collisions", "nu", "nubar", "perturbation", "time", "numerics"))
    grid = _grid(k.sub("grid", ("nx", "length", "shape", "lengths", "n_dir", "quadrature", "n_phi")))
    c = k.sub("collisions", ("gamma_nu", "gamma_nubar", "equilibrium_nu", "equilibrium_nubar",
                             "scattering"))
    collisions = CollisionSettings(
        gamma=(c.get("gamma_nu", _pair(_nonneg), (0.0, 0.0)),
               c.get("gamma_nubar", _pair(_nonneg), (0.0, 0.0))),
        equilibrium=(c.get("equilibrium_nu", _pair(_nonneg), (0.0, 0.0)),
                     c.get("equilibrium_nubar", _pair(_nonneg), (0.0, 0.0))),
        scattering=c.get("scattering", _nonneg, 0.0))
    p = k.sub("physics", ("omega", "weights", "theta", "lambda", "mu"))
    omega = p.get("omega", _numbers, (0.0,))
    weights = p.get("weights", _numbers, tuple(1.0 / len(omega) for _ in omega))
    if len(weights) != len(omega):
        raise ConfigError("kinetics.physics.weights",
                          f"needs one entry per energy bin ({len(omega)}), got {len(weights)}")
    if any(x < 0 for x in weights) or abs(sum(weights) - 1.0) > 1e-12:
        raise ConfigError("kinetics.physics.weights", f"must be >= 0 and sum to 1, got {list(weights)}")
    physics = PhysicsSettings(omega=omega, weights=weights, theta=p.get("theta", _number, 0.0),
                              lam=p.get("lambda", _number, 0.0), mu=p.get("mu", _number, 1.0),
                              collisions=collisions)
    species_keys = ("n_e", "n_x", "shape", "parameter", "axis", "file")
    # a table file is found relative to the config file
    base = Path(source_path).parent if source_path != "<string>" else Path(".")
    nu = _species(k.sub("nu", species_keys), grid.n_phi, base)
    nubar = _species(k.sub("nubar", species_keys), grid.n_phi, base)
    if grid.quadrature == "gauss-lobatto" and grid.n_dir < 2:
        raise ConfigError("kinetics.grid.n_dir", f"gauss-lobatto needs n_dir >= 2, got {grid.n_dir}")
    for name, init in (("nu", nu), ("nubar", nubar)):
        if init.shape == "beam" and not beam_mask(init, axis_cosines(init, grid)).any():
            raise ConfigError(f"kinetics.{name}.parameter",
                              f"no direction of the grid has cosine {init.parameter!r} to the axis "
                              "(v = +-1 needs kinetics.grid.quadrature = \"gauss-lobatto\")")
    q = k.sub("perturbation", ("kind", "amplitude", "mode", "seed"))
    pert = PerturbationSettings(kind=q.get("kind", _choice(PERTURBATIONS), "random"),
                                amplitude=q.get("amplitude", _nonneg, 1e-6),
                                mode=_mode(q, grid, q.get("kind", _choice(PERTURBATIONS), "random")),
                                seed=q.get("seed", _int_at_least(0), 1))
    t = k.sub("time", ("t_end", "output_interval", "dt", "cfl", "phase_step", "snapshot_times"))
    time = TimeSettings(t_end=t.get("t_end", _positive), output_interval=t.get("output_interval", _positive),
                        dt=t.get("dt", _positive, None), cfl=t.get("cfl", _positive, 0.5),
                        phase_step=t.get("phase_step", _positive, 0.1),
                        snapshot_times=tuple(sorted(t.get("snapshot_times", _numbers, ()))))
    nm = k.sub("numerics", ("advection", "limiter"))
    numerics = NumericsSettings(advection=nm.get("advection", _choice(ADVECTIONS), "weno5"),
                                limiter=nm.get("limiter", _choice(LIMITERS), "conservative"))
    return KineticSettings(grid=grid, physics=physics, nu=nu, nubar=nubar, perturbation=pert,
                           time=time, numerics=numerics, source_text=source_text,
                           source_path=source_path)


def load_kinetics_text(text: str, source_path: str = "<string>") -> KineticSettings:
    """Parse TOML text; syntax errors become ConfigError with an empty key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("", f"TOML syntax: {exc}", source_path) from exc
    return settings_from_dict(data, source_text=text, source_path=source_path)


def load_kinetics(path_or_text: str) -> KineticSettings:
    """A path to a TOML file, or TOML text itself (anything containing a newline or '[')."""
    s = str(path_or_text)
    if "\n" in s or s.lstrip().startswith("["):
        return load_kinetics_text(s)
    try:
        text = Path(s).read_text()
    except OSError as exc:
        raise ConfigError("", f"cannot read config: {exc}", s) from exc
    return load_kinetics_text(text, s)


def load_any_config_text(text: str, source_path: str = "<string>"):
    """A RunConfig (:func:`nmbhpc.config.load_config_text`) or, for a kinetics
    document (:func:`is_kinetics_document`), KineticSettings. Not collective."""
    from ..config import load_config_text

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return load_config_text(text, source_path)  # its syntax message
    if is_kinetics_document(data):
        return settings_from_dict(data, source_text=text, source_path=source_path)
    return load_config_text(text, source_path)
