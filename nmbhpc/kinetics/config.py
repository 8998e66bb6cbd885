"""Parse and validate the ``[kinetics]`` section of a TOML config into KineticSettings.

The keys are declared in :mod:`nmbhpc.kinetics.settings` and validated by the
schema of :mod:`nmbhpc.schema` (one error format, "did you mean" for unknown
keys and bad choices, bounds, sizes checked before allocation); this module
combines them (grid shape, collision pairs, perturbation modes) and checks
what spans several keys. Every problem is raised as
:class:`nmbhpc.config.ConfigError` naming the dotted key (``kinetics.grid.nx``).

A kinetics config is a TOML document with a ``[kinetics]`` table and, at the
top level, at most ``solver = "kinetics"`` (optional: a ``[kinetics]`` table
and no ``solver`` key select the kinetic solver too, as in the files written
for ``nmbhpc kinetics``). The ``[model]``/``[output]`` sections of the other
solvers have no meaning here and are refused by name.
:func:`is_kinetics_document` is the one rule that tells the two kinds of config
apart (:func:`nmbhpc.config.load_any_config_text` applies it).
Not collective: every rank may parse the same text.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ..schema import (parse_toml, read_config_file, MAX_RECORDS, MAX_STEPS, ConfigError, Key, Table, build, did_you_mean, fail,
                      human_bytes, keys_of, petsc_int_max, show, to_dict, unit_vector)
from .grid import axis_cosines, beam_mask
from .settings import (COLLISION_KEYS, GRID_KEYS, KINETICS_KEYS, MIN_CELLS, PHYSICS_KEYS,
                       SPECIES_KEYS, TIME_KEYS, CollisionSettings, GridSettings, KineticSettings,
                       NumericsSettings, PerturbationSettings, PhysicsSettings, SpeciesInit,
                       TABLE_COLUMNS, TimeSettings)

__all__ = ["is_kinetics_document", "settings_from_dict", "settings_to_dict", "load_kinetics_text",
           "load_kinetics", "SOLVER_NAME", "TOP_LEVEL_KEYS", "MIN_CELLS"]

AXIS_NAMES = ("x", "y", "z")
#: fewest azimuths with a nonzero velocity along x (phi = 0, pi) and along y (phi = 2 pi / 3, ...)
MIN_PHI = {0: 2, 1: 3}
#: real numbers per cell, direction and energy bin: 2 species x 4 components (P0, P)
_DOF_PER_BIN = 8

SOLVER_NAME = "kinetics"
TOP_LEVEL_KEYS = ("solver", "kinetics")

_NUMBER = Key("", "real")
_NONNEG = Key("", "real", low=0.0)
_POSITIVE = Key("", "real", low=0.0, open_low=True)
_MODE_NUMBER = Key("", "int", low=-(2**31 - 1), high=2**31 - 1)
_PERTURBATION_KEYS = keys_of(PerturbationSettings)


def _spec(keys) -> dict:
    return {k.name: k for k in keys}


def _numbers(key: str, v: Any) -> tuple:
    items = v if isinstance(v, list) else [v]
    if not items:
        raise fail(key, "must hold at least one number", v)
    return tuple(_NUMBER.parse(f"{key}[{i}]", x) for i, x in enumerate(items))


def _pair(key: str, v: Any) -> tuple:
    if not isinstance(v, list) or len(v) != 2:
        raise fail(key, "must be an array [e, x] of 2 numbers", v)
    return tuple(_NONNEG.parse(f"{key}[{i}]", x) for i, x in enumerate(v))


def _columns(key: str, v: Any) -> tuple:
    """The columns of an angular table: names from TABLE_COLUMNS, each once, u and g among them."""
    if not (isinstance(v, list) and all(isinstance(c, str) for c in v)):
        raise fail(key, "must be an array of column names, e.g. [\"u\", \"phi\", \"g\"]", v)
    for c in v:
        if c not in TABLE_COLUMNS:
            raise ConfigError(key, f"unknown column {c!r}{did_you_mean(c, TABLE_COLUMNS)} "
                              f"(columns: {', '.join(TABLE_COLUMNS)})")
    if len(set(v)) != len(v) or not {"u", "g"} <= set(v):
        raise fail(key, "must name u and g, and each column once", v)
    return tuple(v)


def _angular_table(key: str, v: Any, base: Path, n_columns: int):
    """The rows of the text file ``v`` (relative to ``base``) as an array of ``n_columns``."""
    if not isinstance(v, str):
        raise fail(key, "must be a file name (string)", v)
    path = base / v
    try:
        data = np.loadtxt(path, ndmin=2)
    except (OSError, ValueError) as exc:
        raise ConfigError(key, f"cannot read the angular table {str(path)!r}: {exc}") from None
    return data, repr(str(path))


def _inline_table(key: str, v: Any, n_columns: int):
    """The rows of an inline ``[[u, g], ...]`` array."""
    if not (isinstance(v, list) and all(isinstance(r, list) and len(r) == n_columns for r in v)):
        raise fail(key, f"must be an array of rows of {n_columns} numbers", v)
    return np.array([[_NUMBER.parse(key, x) for x in r] for r in v]).reshape(-1, n_columns), \
        "the table"


def _table_rows(key: str, data, what: str, columns: tuple, n_energy: int) -> tuple:
    """Checked rows in the canonical column order (TABLE_COLUMNS), sorted by energy, u, phi.

    Each energy bin's rows must be the full grid of its u and phi values:
    g is interpolated linearly in u and periodically in phi between them.
    """
    names = " ".join(columns)
    if data.ndim != 2 or data.shape[1] != len(columns) or data.shape[0] < 2:
        raise ConfigError(key, f"{what}: need >= 2 rows of the columns '{names}', got shape "
                          f"{list(data.shape)}")
    if not np.isfinite(data).all():
        raise ConfigError(key, f"{what}: every value must be finite")
    col = {c: data[:, i] for i, c in enumerate(columns)}
    u, g = col["u"], col["g"]
    if u.min() < -1.0 or u.max() > 1.0 or np.any(g < 0) or not np.any(g > 0):
        raise ConfigError(key, f"{what}: u must lie in [-1, 1] and g be >= 0 (not all 0)")
    if "phi" in col and (col["phi"].min() < 0.0 or col["phi"].max() >= 2.0 * math.pi):
        raise ConfigError(key, f"{what}: phi (the azimuth about z, rad) must lie in [0, 2 pi)")
    if "energy" in col:
        e = col["energy"]
        bins = set(np.unique(e).tolist())
        if not np.array_equal(e, np.round(e)) or bins != set(range(n_energy)):
            raise ConfigError(key, f"{what}: the energy column must hold the bin indices 0.."
                              f"{n_energy - 1} of kinetics.physics.omega, got "
                              f"{sorted(bins)[:8]}")
    order = [c for c in TABLE_COLUMNS if c in col]
    rows = np.column_stack([col[c] for c in order])
    rows = rows[np.lexsort(rows[:, :-1].T[::-1])]
    n_bins = n_energy if "energy" in col else 1
    if rows.shape[0] % n_bins:
        raise ConfigError(key, f"{what}: every energy bin needs the same (u, phi) rows")
    for k, b in enumerate(rows.reshape(n_bins, -1, rows.shape[1])):
        if "energy" in col and not np.all(b[:, 0] == k):
            raise ConfigError(key, f"{what}: every energy bin needs the same (u, phi) rows")
        us = np.unique(b[:, order.index("u")])
        phis = np.unique(b[:, order.index("phi")]) if "phi" in col else np.zeros(1)
        grid = np.array([(x, y) for x in us for y in phis])
        have = np.column_stack([b[:, order.index("u")],
                                b[:, order.index("phi")] if "phi" in col else np.zeros(len(b))])
        if us.size < 2 or have.shape != grid.shape or not np.array_equal(have, grid):
            raise ConfigError(key, f"{what}: the rows of each energy bin must be the full grid of "
                              "its u values (at least 2, each once) times its phi values, each "
                              "combination once")
    return tuple(tuple(float(x) for x in r) for r in rows), tuple(order)


def _species(t: Table, n_phi: int, n_energy: int, base: Path) -> SpeciesInit:
    t.check_keys(SPECIES_KEYS)
    s = _spec(SPECIES_KEYS)
    shape = t.read(s["shape"])
    table, columns = (), ("u", "g")
    axis = t.get("axis", unit_vector, s["axis"].default)
    if n_phi == 1 and (axis[0] != 0.0 or axis[1] != 0.0):
        raise ConfigError(t.key("axis"), f"{list(axis)} is not along the box axis z: an "
                          "axisymmetric grid cannot hold it; set kinetics.grid.n_phi > 1")
    if shape == "table":
        if ("file" in t) == ("table" in t):
            raise ConfigError(t.key("file"), "shape = \"table\" needs exactly one of file = "
                              "\"u_g.txt\" and table = [[u, g], ...]")
        columns = t.get("columns", _columns, columns)
        if "phi" in columns and n_phi == 1:
            raise ConfigError(t.key("columns"), "a table in phi needs an azimuth grid: set "
                              "kinetics.grid.n_phi > 1 (or leave phi out for g(u))")
        if "phi" in columns and axis != (0.0, 0.0, 1.0):
            raise ConfigError(t.key("axis"), f"{list(axis)}: a table in (u, phi) is about the box "
                              "axis z (leave axis out)")
        name = "file" if "file" in t else "table"
        data, what = t.get(name, (lambda key, v: _angular_table(key, v, base, len(columns)))
                           if name == "file" else (lambda key, v: _inline_table(key, v, len(columns))))
        table, columns = _table_rows(t.key(name), data, what, columns, n_energy)
    else:
        for name in ("file", "table", "columns"):
            if name in t:
                raise ConfigError(t.key(name), f"is only read for shape = \"table\", not {shape!r}")
    if shape == "gaussian" and "parameter" not in t:
        raise ConfigError(t.key("parameter"), "is required with shape = \"gaussian\" (its width)")
    param = t.read(s["parameter"])
    if shape == "linear" and abs(param) > 1.0:
        raise ConfigError(t.key("parameter"), f"|a| <= 1 keeps g = 1 + a v >= 0, got {param!r}")
    if shape == "gaussian" and param <= 0.0:
        raise ConfigError(t.key("parameter"), f"the gaussian width must be > 0, got {param!r}")
    if shape == "beam" and abs(param) > 1.0:
        raise ConfigError(t.key("parameter"), f"a beam's cosine must be in [-1, 1], got {param!r}")
    return SpeciesInit(n_e=t.read(s["n_e"]), n_x=t.read(s["n_x"]), shape=shape, parameter=param,
                       axis=axis, table=table, columns=columns)


def _cells(key: str, v: Any) -> tuple:
    if not isinstance(v, list) or len(v) != 3:
        raise fail(key, "must be an array [n_x, n_y, n_z] of 3 cell counts", v)
    for i, n in enumerate(v):
        if (isinstance(n, bool) or not isinstance(n, int) or not (n == 1 or n >= MIN_CELLS)
                or n > 2**31 - 1):
            raise fail(f"{key}[{i}]", f"cells along {AXIS_NAMES[i]}: 1 (not resolved) or an "
                       f"integer >= {MIN_CELLS} (<= 2147483647)", n)
    if all(n == 1 for n in v):
        raise fail(key, f"at least one axis needs >= {MIN_CELLS} cells", v)
    return tuple(v)


def _lengths(key: str, v: Any) -> tuple:
    if not isinstance(v, list) or len(v) != 3:
        raise fail(key, "must be an array [L_x, L_y, L_z] of 3 lengths", v)
    return tuple(_POSITIVE.parse(f"{key}[{i}]", x) for i, x in enumerate(v))


def _grid(g: Table) -> GridSettings:
    """The box: either the 1D keys ``nx``/``length`` (along z) or ``shape``/``lengths`` (x, y, z)."""
    g.check_keys(GRID_KEYS)
    s = _spec(GRID_KEYS)
    for new, old in (("shape", "nx"), ("lengths", "length")):
        if new in g.data and old in g.data:
            raise ConfigError(g.key(new), f"give either {old} (the 1D box along z) or "
                              f"{new} ([x, y, z]), not both")
    n_phi = g.read(s["n_phi"])
    shape = g.get("shape", _cells, (1, 1, g.read(s["nx"])))
    lengths = g.get("lengths", _lengths, (10.0, 10.0, g.read(s["length"])))
    for axis, need in MIN_PHI.items():
        if shape[axis] > 1 and n_phi < need:
            raise ConfigError(g.key("n_phi"), f"{shape[axis]} cells along {AXIS_NAMES[axis]} need "
                              f"n_phi >= {need}, got {n_phi}: with fewer azimuths every direction "
                              f"has v_{AXIS_NAMES[axis]} = 0 (n_phi = 1 stands for rings around z), "
                              "so nothing would move along that axis")
    return GridSettings(nx=shape[2], length=lengths[2], n_dir=g.read(s["n_dir"]),
                        quadrature=g.read(s["quadrature"]), n_phi=n_phi, transverse=shape[:2],
                        transverse_length=lengths[:2])


def _mode(q: Table, grid: GridSettings, kind: str):
    """``perturbation.mode``: an integer m (along z) or [m_x, m_y, m_z] (integers)."""
    key = q.key("mode")
    v = q.data.get("mode", 1)
    if isinstance(v, list):
        if len(v) != 3:
            raise fail(key, "must be an integer or an array [m_x, m_y, m_z]", v)
        mode = tuple(_MODE_NUMBER.parse(f"{key}[{i}]", m) for i, m in enumerate(v))
    else:
        mode = _MODE_NUMBER.parse(key, v)
    numbers = (0, 0, mode) if isinstance(mode, int) else mode
    for axis, m in enumerate(numbers):
        if kind == "mode" and m != 0 and grid.shape[axis] == 1:
            raise ConfigError(key, f"m_{AXIS_NAMES[axis]} = {m} on an axis of one cell (not "
                              f"resolved; kinetics.grid.shape = {list(grid.shape)})")
    return mode


def _physics(p: Table, collisions: CollisionSettings) -> PhysicsSettings:
    p.check_keys(PHYSICS_KEYS)
    s = _spec(PHYSICS_KEYS)
    omega = p.get("omega", _numbers, s["omega"].default)
    weights = p.get("weights", _numbers, tuple(1.0 / len(omega) for _ in omega))
    if len(weights) != len(omega):
        raise ConfigError(p.key("weights"),
                          f"needs one entry per energy bin ({len(omega)}), got {len(weights)}")
    if any(x < 0 for x in weights) or abs(sum(weights) - 1.0) > 1e-12:
        raise ConfigError(p.key("weights"), f"must be >= 0 and sum to 1, got {list(weights)}")
    return PhysicsSettings(omega=omega, weights=weights, theta=p.read(s["theta"]),
                           lam=p.read(s["lambda"]), mu=p.read(s["mu"]), collisions=collisions,
                           omega0_per_second=p.read(s["omega0_per_second"]))


def _collisions(c: Table) -> CollisionSettings:
    c.check_keys(COLLISION_KEYS)
    s = _spec(COLLISION_KEYS)
    pair = {name: c.get(name, _pair, s[name].default) for name in
            ("gamma_nu", "gamma_nubar", "equilibrium_nu", "equilibrium_nubar")}
    return CollisionSettings(gamma=(pair["gamma_nu"], pair["gamma_nubar"]),
                             equilibrium=(pair["equilibrium_nu"], pair["equilibrium_nubar"]),
                             scattering=c.read(s["scattering"]))


def _time(t: Table) -> TimeSettings:
    t.check_keys(TIME_KEYS)
    s = _spec(TIME_KEYS)
    return TimeSettings(t_end=t.read(s["t_end"]), output_interval=t.read(s["output_interval"]),
                        dt=t.read(s["dt"]), cfl=t.read(s["cfl"]), phase_step=t.read(s["phase_step"]),
                        snapshot_times=tuple(sorted(t.read(s["snapshot_times"]))))


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
    try:
        return _settings(data, source_text, source_path)
    except ConfigError as exc:
        exc.source_path = source_path
        raise


def _top_level(data: dict) -> None:
    if "kinetics" not in data:
        raise ConfigError("kinetics", "is required: add a [kinetics] table")
    if "solver" in data and data["solver"] != SOLVER_NAME:
        raise fail("solver", f"a config with a [kinetics] table runs the kinetic solver: "
                   f"set solver = \"{SOLVER_NAME}\" (or remove the [kinetics] table)", data["solver"])
    for name in data:
        if name not in TOP_LEVEL_KEYS:
            raise ConfigError(str(name), f"is not used by solver \"{SOLVER_NAME}\""
                              f"{did_you_mean(name, TOP_LEVEL_KEYS)} (valid top-level keys: "
                              f"{', '.join(TOP_LEVEL_KEYS)}; times and outputs are set in "
                              "[kinetics.time])")


def _settings(data: dict, source_text: str, source_path: str) -> KineticSettings:
    if not isinstance(data, dict):
        raise fail("<top level>", "must be a table", data)
    _top_level(data)
    k = Table(data["kinetics"], "kinetics")
    k.check_keys(KINETICS_KEYS)
    grid = _grid(k.table("grid", empty=True))
    collisions = _collisions(k.table("collisions", empty=True))
    physics = _physics(k.table("physics", empty=True), collisions)
    # a table file is found relative to the config file
    base = Path(source_path).parent if source_path != "<string>" else Path(".")
    nu = _species(k.table("nu", empty=True), grid.n_phi, physics.n_energy, base)
    nubar = _species(k.table("nubar", empty=True), grid.n_phi, physics.n_energy, base)
    if grid.quadrature == "gauss-lobatto" and grid.n_dir < 2:
        raise ConfigError("kinetics.grid.n_dir", f"gauss-lobatto needs n_dir >= 2, got {grid.n_dir}")
    for name, init in (("nu", nu), ("nubar", nubar)):
        if init.shape == "beam" and not beam_mask(init, axis_cosines(init, grid)).any():
            raise ConfigError(f"kinetics.{name}.parameter",
                              f"no direction of the grid has cosine {init.parameter!r} to the axis "
                              "(v = +-1 needs kinetics.grid.quadrature = \"gauss-lobatto\")")
    q = k.table("perturbation", empty=True)
    q.check_keys(_PERTURBATION_KEYS)
    kind = q.read(_spec(_PERTURBATION_KEYS)["kind"])
    pert = build(PerturbationSettings, q, mode=_mode(q, grid, kind))
    time = _time(k.table("time", empty=True))
    numerics = build(NumericsSettings, k.table("numerics", empty=True))
    _check_sizes(grid, physics, (nu, nubar), time)
    return KineticSettings(grid=grid, physics=physics, nu=nu, nubar=nubar, perturbation=pert,
                           time=time, numerics=numerics, source_text=source_text,
                           source_path=source_path)


def _check_sizes(grid: GridSettings, physics: PhysicsSettings, species, time: TimeSettings) -> None:
    """Refuse fields, step counts and record counts no run can hold, before allocation."""
    length = float(grid.n_cells) * grid.n_directions * physics.n_energy * _DOF_PER_BIN
    limit = petsc_int_max()
    if length > limit:
        key = "kinetics.grid.n_dir" if grid.n_directions * physics.n_energy > grid.n_cells else \
            "kinetics.grid.shape" if grid.ndim > 1 or grid.transverse != (1, 1) else "kinetics.grid.nx"
        value = grid.n_dir if key.endswith("n_dir") else (list(grid.shape) if key.endswith("shape")
                                                          else grid.nx)
        raise ConfigError(key, f"{show(value)}: the field has {length:.3g} numbers ({grid.n_cells} "
                          f"cells x {grid.n_directions} directions x {physics.n_energy} energies x "
                          f"{_DOF_PER_BIN}; {human_bytes(8 * length)} per copy), more than this PETSc "
                          f"build indexes ({limit}, PetscInt)")
    n_out = time.t_end / time.output_interval
    if n_out > MAX_RECORDS:
        raise ConfigError("kinetics.time.output_interval", f"{show(time.output_interval)}: "
                          f"t_end / output_interval = {n_out:.3g} records, more than {MAX_RECORDS:.0e}")
    if time.dt is not None:
        steps, key, value = time.t_end / time.dt, "kinetics.time.dt", time.dt
    else:
        dx = min(L / n for L, n in zip(grid.lengths, grid.shape) if n > 1)
        density = sum(s.n_e + s.n_x for s in species)
        rates = physics.collisions
        h = (max(abs(w) for w in physics.omega) + abs(physics.lam) + 2 * abs(physics.mu) * density
             + max(max(max(r) for r in rates.gamma), rates.scattering))
        dt = min(time.cfl * dx, time.phase_step / h if h > 0 else math.inf)
        steps = time.t_end / dt if dt > 0 else math.inf
        key, value = "kinetics.time.t_end", time.t_end
    if not steps <= MAX_STEPS:
        raise ConfigError(key, f"{show(value)}: about {steps:.3g} time steps (t_end / dt, dt = "
                          "min(cfl dx, phase_step / max|h|) unless given), more than "
                          f"{MAX_STEPS:.0e}")


def settings_to_dict(s: KineticSettings) -> dict:
    """The TOML document of KineticSettings (loads back into equal settings)."""
    g, p, c = s.grid, s.physics, s.physics.collisions

    def species(sp: SpeciesInit) -> dict:
        return {"n_e": sp.n_e, "n_x": sp.n_x, "shape": sp.shape, "parameter": sp.parameter,
                "axis": list(sp.axis),
                **({"table": [list(r) for r in sp.table], "columns": list(sp.columns)}
                   if sp.table else {})}

    pert = to_dict(s.perturbation)
    if isinstance(s.perturbation.mode, tuple):
        pert["mode"] = list(s.perturbation.mode)
    time = {k.name: getattr(s.time, k.attr) for k in TIME_KEYS if getattr(s.time, k.attr) is not None}
    time["snapshot_times"] = list(s.time.snapshot_times)
    return {"solver": SOLVER_NAME, "kinetics": {
        "grid": {"shape": list(g.shape), "lengths": list(g.lengths), "n_dir": g.n_dir,
                 "quadrature": g.quadrature, "n_phi": g.n_phi},
        "physics": {"omega": list(p.omega), "weights": list(p.weights), "theta": p.theta,
                    "lambda": p.lam, "mu": p.mu,
                    **({} if p.omega0_per_second is None
                       else {"omega0_per_second": p.omega0_per_second})},
        "collisions": {"gamma_nu": list(c.gamma[0]), "gamma_nubar": list(c.gamma[1]),
                       "equilibrium_nu": list(c.equilibrium[0]),
                       "equilibrium_nubar": list(c.equilibrium[1]), "scattering": c.scattering},
        "nu": species(s.nu), "nubar": species(s.nubar), "perturbation": pert, "time": time,
        "numerics": to_dict(s.numerics)}}


def load_kinetics_text(text: str, source_path: str = "<string>") -> KineticSettings:
    """Parse TOML text; syntax errors become ConfigError with an empty key."""
    return settings_from_dict(parse_toml(text, source_path), source_text=text,
                              source_path=source_path)


def load_kinetics(path_or_text: str) -> KineticSettings:
    """A path to a TOML file, or TOML text itself (anything containing a newline or '[')."""
    s = str(path_or_text)
    if "\n" in s or s.lstrip().startswith("["):
        return load_kinetics_text(s)
    return load_kinetics_text(read_config_file(s), s)
