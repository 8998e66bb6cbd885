"""The TOML config loader and the model generators.

Loading is not collective and touches no MPI state, so almost every test is
serial-marked: running it on every rank of an MPI pass adds nothing. The one
collective test checks that all ranks build the same model from one file.
"""
from __future__ import annotations

import copy
import datetime
import math
import tomllib
from pathlib import Path

import numpy as np
import pytest

from nmbhpc.physics import generators
from nmbhpc.config import ConfigError, config_from_dict, dump_toml, load_config, load_config_text

serial = pytest.mark.serial

# kinetics_*.toml use the kinetic solver's own schema (nmbhpc.kinetics.config, tested there)
EXAMPLES = sorted(p for p in (Path(__file__).resolve().parent.parent / "examples").glob("*.toml")
                  if not p.name.startswith("kinetics_"))

BASE = """
[model]
theta = 0.1
mu = 1.0

[[model.modes]]
n = 2
omega = 1.0
state = "e"

[[model.modes]]
n = 1
omega = -0.5
direction = [0.0, 3.0, 4.0]
state = [0.6, 0.0, 0.8]

[[model.modes]]
n = 1
omega = 2.0
state = "x"

[[model.modes]]
n = 3
omega = 0.0
state = "x"

[output]
times = [0.0, 0.5, 1.0]
"""


def full_dict():
    """A valid config using every section (the fuzz-lite starting point)."""
    return {
        "solver": "manybody",
        "model": {
            "theta": 0.161, "angular": "single", "single_angle_factor": 1.0,
            "schedule": {"kind": "table", "times": [0.0, 1.0], "values": [2.0, 1.0],
                         "max_step": 0.1},
            "modes": [
                {"n": 1, "omega": 1.0, "direction": [0.0, 0.0, 1.0], "state": "e"},
                {"n": 2, "omega": -1.0, "direction": [1.0, 0.0, 0.0], "state": [0.0, 1.0, 0.0]},
            ],
        },
        "output": {"t_start": 0.0, "t_final": 1.0, "n_out": 3, "pair_correlations": True,
                   "save_state": False},
        "manybody": {"operator": "auto", "mfn_tol": 1e-10, "mfn_ncv": 0, "max_step": 1.0},
        "meanfield": {"rtol": 1e-8, "atol": 1e-10, "ts_type": "rk", "twa_samples": 10,
                      "seed": 3},
    }


def generator_dict(kind):
    gen = {
        "single_angle": {"kind": "single_angle", "n_modes": 5, "states": ["e", "x", "e", "x", "e"]},
        "two_beam": {"kind": "two_beam", "n_nu": 3, "n_nubar": 2, "omega": 0.5,
                     "hierarchy": "normal", "flavor": "e"},
        "multi_angle": {"kind": "multi_angle", "n_modes": 3, "spectrum": "linear",
                        "omega0": 2.0, "directions": [[1, 0, 0], [0, 2, 0], [0, 0, 3]],
                        "states": "x"},
    }[kind]
    return {"model": {"mu": 1.0, "generator": gen},
            "output": {"t_final": 1.0, "n_out": 2}}


# --- valid input --------------------------------------------------------------

@serial
@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_example_loads(path):
    cfg = load_config(path)
    assert cfg.source_text == path.read_text()
    assert cfg.source_path == str(path)
    assert cfg.model.n_modes >= 2
    assert np.all(np.diff(cfg.output.times) > 0)


@serial
def test_examples_present():
    names = {p.name for p in EXAMPLES}
    assert {"default.toml", "bipolar.toml", "multi_angle_n20.toml", "bulb.toml"} <= names


@serial
def test_default_example_is_the_documented_model():
    cfg = load_config(EXAMPLES[0].parent / "default.toml")
    m = cfg.model
    assert m.single_angle and m.n_modes == 12 and m.n_total == 12
    assert np.array_equal(m.omegas, np.arange(1, 13))
    assert m.theta == 0.161 and m.mu(3.0) == 5.0
    assert np.array_equal(m.initial_polarizations[:, 2], [1] * 6 + [-1] * 6)
    assert cfg.output.pair_correlations and len(cfg.output.times) == 101
    assert cfg.output.times[-1] == 20.0


@serial
def test_explicit_modes():
    cfg = load_config_text(BASE)
    m = cfg.model
    assert cfg.solver == "manybody" and cfg.source_path == "<string>" and cfg.source_text == BASE
    assert m.name == "modes" and not m.single_angle  # explicit modes default to multi-angle
    assert list(m.counts) == [2, 1, 1, 3] and m.n_total == 7
    assert np.allclose(m.omegas, [1.0, -0.5, 2.0, 0.0])
    assert np.allclose(m.directions[0], [0, 0, 1])       # default +z
    assert np.allclose(m.directions[1], [0, 0.6, 0.8])   # normalised
    assert np.allclose(m.initial_polarizations[:, 2], [1, 0.8, -1, -1])
    assert m.mu.kind == "constant" and m.mu(7.0) == 1.0
    assert np.array_equal(cfg.output.times, [0.0, 0.5, 1.0])
    assert not cfg.output.pair_correlations and not cfg.output.save_state
    # multi-angle coupling 1 - p.q between modes 0 (+z) and 1
    assert math.isclose(m.couplings()[0, 1], 1 - 0.8)


@serial
def test_all_sections_and_defaults():
    cfg = config_from_dict(full_dict())
    assert cfg.model.single_angle and cfg.model.mu.kind == "table"
    assert cfg.model.mu(0.5) == pytest.approx(1.5)
    assert np.allclose(cfg.output.times, [0, 0.5, 1])
    assert cfg.meanfield.seed == 3 and cfg.meanfield.twa_samples == 10
    assert cfg.manybody.operator == "auto"
    # the text generated for a dict reproduces it
    assert tomllib.loads(cfg.source_text) == full_dict()
    assert config_from_dict(tomllib.loads(cfg.source_text)).model == cfg.model


@serial
def test_bulb_schedule():
    text = BASE.replace("[output]", "[model.schedule]\nkind = \"bulb\"\nr0 = 3.0\nradius = 1.0\n\n[output]")
    mu = load_config_text(text).model.mu
    assert mu.kind == "bulb" and mu.mu0 == 1.0 and mu(0.0) == pytest.approx(1.0)
    # D(r) ~ R^4 / (8 r^4) far out: mu(t) falls like ((r0)/(r0 + t))^4
    assert mu(997.0) / mu(497.0) == pytest.approx((500 / 1000) ** 4, rel=1e-3)


@serial
def test_dump_toml_round_trip():
    data = tomllib.loads(BASE)
    data["x"] = {"a b": "q\"uote", "t": True, "deep": {"v": [[1, 2], [3.5]]}}
    assert tomllib.loads(dump_toml(data)) == data


# --- generators ---------------------------------------------------------------

@serial
def test_single_angle_generator():
    modes = generators.single_angle(7, n_per_mode=3, omega0=0.5)
    assert len(modes) == 7 and all(m.n == 3 for m in modes)
    assert [m.omega for m in modes] == [0.5 * p for p in range(1, 8)]
    assert [m.polarization[2] for m in modes] == [1, 1, 1, 1, -1, -1, -1]  # ceil(7/2) nu_e
    cfg = config_from_dict(generator_dict("single_angle"))
    assert cfg.model.single_angle and cfg.model.name == "single_angle"
    assert list(cfg.model.initial_polarizations[:, 2]) == [1, -1, 1, -1, 1]


@serial
@pytest.mark.parametrize("hierarchy,sign", [("normal", 1), ("inverted", -1)])
def test_two_beam_generator(hierarchy, sign):
    nu, nubar = generators.two_beam(40, 30, omega=2.0, hierarchy=hierarchy)
    assert (nu.n, nubar.n) == (40, 30)
    assert (nu.omega, nubar.omega) == (2.0 * sign, -2.0 * sign)
    # nu_e is isospin up; nubar_e is isospin down (flipped-isospin convention)
    assert nu.polarization == (0, 0, 1) and nubar.polarization == (0, 0, -1)
    assert np.allclose(nubar.direction, [0, 0, -1])  # counter-propagating by default
    nu, nubar = generators.two_beam(1, 1, flavor="x", beam_angle=np.pi / 2)
    assert nu.polarization == (0, 0, -1) and nubar.polarization == (0, 0, 1)
    assert np.allclose(nubar.direction, [1, 0, 0])


@serial
def test_two_beam_config_angular():
    d = generator_dict("two_beam")
    cfg = config_from_dict(d)
    assert cfg.model.single_angle and cfg.model.n_total == 5
    assert np.allclose(cfg.model.omegas, [0.5, -0.5])
    d["model"]["angular"] = "multi"
    d["model"]["generator"]["beam_angle"] = np.pi / 3
    cfg = config_from_dict(d)
    assert not cfg.model.single_angle
    assert cfg.model.couplings()[0, 1] == pytest.approx(0.5)  # 1 - cos(pi/3)


@serial
def test_multi_angle_generator():
    modes = generators.multi_angle(50, n_per_mode=2, directions="random", seed=4)
    d = np.array([m.direction for m in modes])
    assert len(modes) == 50 and all(m.n == 2 and m.omega == 1.0 for m in modes)
    assert np.allclose(np.linalg.norm(d, axis=1), 1.0)
    assert len({tuple(r) for r in d}) == 50
    # seeded: reproducible, and a different seed gives different directions
    again = np.array([m.direction for m in generators.multi_angle(50, n_per_mode=2, seed=4)])
    other = np.array([m.direction for m in generators.multi_angle(50, n_per_mode=2, seed=5)])
    assert np.array_equal(d, again) and not np.allclose(d, other)
    # uniform on the sphere: the mean direction of 4000 samples is near 0
    big = generators.random_directions(4000, seed=0)
    assert np.linalg.norm(big.mean(axis=0)) < 0.06
    polar = generators.polar_directions(4)
    assert np.allclose(np.arccos(polar[:, 2]), (np.arange(4) + 0.5) * np.pi / 4)
    assert np.allclose(polar[:, 1], 0.0)
    cfg = config_from_dict(generator_dict("multi_angle"))
    m = cfg.model
    assert not m.single_angle and np.allclose(m.omegas, [2, 4, 6])
    assert np.allclose(m.directions, np.eye(3)) and np.all(m.initial_polarizations[:, 2] == -1)


@serial
def test_generator_python_errors():
    with pytest.raises(ValueError):
        generators.single_angle(0)
    with pytest.raises(ValueError):
        generators.two_beam(1, 1, hierarchy="sideways")
    with pytest.raises(ValueError):
        generators.multi_angle(2, directions=[[0, 0, 0], [0, 0, 1]])
    with pytest.raises(ValueError):
        generators.flavor_states([[0, 0, 0.5]], 1)


# --- refused input ------------------------------------------------------------

def _sub(old, new):
    assert old in BASE
    return BASE.replace(old, new, 1)


GEN = """
[model]
mu = 1.0
{model}
[model.generator]
{gen}

[output]
t_final = 1.0
n_out = 2
"""


def _gen(gen, model=""):
    return GEN.format(gen=gen, model=model)


BAD = [
    # (id, text, expected key, fragment of the message)
    ("unknown-top", "solvr = 'manybody'\n" + BASE, "solvr", "did you mean 'solver'"),
    ("unknown-model", _sub("theta = 0.1", "theta = 0.1\nmuu = 2"), "model.muu", "did you mean 'mu'"),
    ("unknown-mode", _sub("n = 2\n", "n = 2\nomgea = 1\n"), "model.modes[0].omgea", "'omega'"),
    ("unknown-output", _sub("times = [0.0, 0.5, 1.0]", "times = [0.0, 1.0]\ntfinal = 2"),
     "output.tfinal", "'t_final'"),
    ("unknown-manybody", BASE + "[manybody]\nmfn_tol = 1e-8\nncv = 3\n", "manybody.ncv", "mfn_ncv"),
    ("unknown-meanfield", BASE + "[meanfield]\nsede = 1\n", "meanfield.sede", "seed"),
    ("theta-string", _sub("theta = 0.1", 'theta = "0.1"'), "model.theta", "number"),
    ("mu-bool", _sub("mu = 1.0", "mu = true"), "model.mu", "boolean"),
    ("mu-nan", _sub("mu = 1.0", "mu = nan"), "model.mu", "finite"),
    ("omega-inf", _sub("omega = 2.0", "omega = -inf"), "model.modes[2].omega", "finite"),
    ("n-negative", _sub("n = 3", "n = -1"), "model.modes[3].n", "got -1"),
    ("n-zero", _sub("n = 3", "n = 0"), "model.modes[3].n", "positive integer"),
    ("n-float", _sub("n = 3", "n = 1.5"), "model.modes[3].n", "got 1.5"),
    ("n-integral-float", _sub("n = 3", "n = 3.0"), "model.modes[3].n", "integer"),
    ("n-missing", _sub("n = 3\n", ""), "model.modes[3].n", "required"),
    ("direction-zero", _sub("[0.0, 3.0, 4.0]", "[0.0, 0.0, 0.0]"), "model.modes[1].direction",
     "non-zero"),
    ("direction-tiny", _sub("[0.0, 3.0, 4.0]", "[0.0, 1e-14, 0.0]"), "model.modes[1].direction",
     "non-zero"),
    ("direction-short", _sub("[0.0, 3.0, 4.0]", "[0.0, 1.0]"), "model.modes[1].direction", "3"),
    ("direction-element", _sub("[0.0, 3.0, 4.0]", "[0.0, 'y', 4.0]"),
     "model.modes[1].direction[1]", "number"),
    ("polarization-not-unit", _sub("[0.6, 0.0, 0.8]", "[0.6, 0.0, 0.7]"), "model.modes[1].state",
     "pure product states"),
    ("state-unknown", _sub('state = "x"', 'state = "mu"'), "model.modes[2].state", '"e"'),
    ("times-repeated", _sub("[0.0, 0.5, 1.0]", "[0, 1, 1]"), "output.times[2]", "increasing"),
    ("times-decreasing", _sub("[0.0, 0.5, 1.0]", "[1.0, 0.5]"), "output.times[1]", "increasing"),
    ("times-one", _sub("[0.0, 0.5, 1.0]", "[0.0]"), "output.times", "at least 2"),
    ("times-and-t_final", _sub("times = [0.0, 0.5, 1.0]", "times = [0.0, 1.0]\nt_final = 2.0"),
     "output.t_final", "not both"),
    ("t_final-before-start", _sub("times = [0.0, 0.5, 1.0]", "t_start = 2.0\nt_final = 1.0\nn_out = 3"),
     "output.t_final", "greater than"),
    ("t_final-missing", _sub("times = [0.0, 0.5, 1.0]", "n_out = 3"), "output.t_final", "required"),
    ("n_out-one", _sub("times = [0.0, 0.5, 1.0]", "t_final = 1.0\nn_out = 1"), "output.n_out", ">= 2"),
    ("pair-corr-int", _sub("times = [0.0, 0.5, 1.0]", "times = [0.0, 1.0]\npair_correlations = 1"),
     "output.pair_correlations", "true or false"),
    ("output-missing", BASE.split("[output]")[0], "output", "required"),
    ("table-length-mismatch", BASE.replace("mu = 1.0\n", "") + "[model.schedule]\nkind = 'table'\n"
     "times = [0.0, 1.0, 2.0]\nvalues = [1.0, 2.0]\n", "model.schedule.values", "as many"),
    ("table-not-increasing", BASE.replace("mu = 1.0\n", "") + "[model.schedule]\nkind = 'table'\n"
     "times = [0.0, 2.0, 1.0]\nvalues = [1.0, 2.0, 3.0]\n", "model.schedule.times[2]", "increasing"),
    ("table-and-mu", BASE + "[model.schedule]\nkind = 'table'\ntimes = [0.0, 1.0]\nvalues = [1.0, 2.0]\n",
     "model.mu", "tabulated"),
    ("schedule-kind", BASE + "[model.schedule]\nkind = 'bulbous'\n", "model.schedule.kind", "bulb"),
    ("schedule-key-for-other-kind", BASE + "[model.schedule]\nkind = 'constant'\nr0 = 2.0\n",
     "model.schedule.r0", "not used by schedule kind 'constant'"),
    ("bulb-r0-inside", BASE + "[model.schedule]\nkind = 'bulb'\nr0 = 1.0\nradius = 1.0\n",
     "model.schedule.r0", "exceed"),
    ("bulb-start-inside", _sub("[0.0, 0.5, 1.0]", "[-2.0, 1.0]") + "[model.schedule]\nkind = 'bulb'\n"
     "r0 = 2.0\nradius = 1.0\n", "model.schedule.r0", "inside"),
    ("max_step-zero", BASE + "[model.schedule]\nkind = 'bulb'\nr0 = 2.0\nradius = 1.0\nmax_step = 0\n",
     "model.schedule.max_step", "positive"),
    ("unknown-solver", "solver = 'exact'\n" + BASE, "solver", "manybody"),
    ("solver-number", "solver = 1\n" + BASE, "solver", "got 1"),
    ("angular-unknown", _sub("theta = 0.1", "theta = 0.1\nangular = 'both'"), "model.angular", "multi"),
    ("factor-with-multi", _sub("theta = 0.1", "theta = 0.1\nsingle_angle_factor = 2.0"),
     "model.single_angle_factor", "single-angle"),
    ("modes-and-generator", BASE + "[model.generator]\nkind = 'single_angle'\nn_modes = 2\n",
     "model.generator", "not both"),
    ("neither-modes-nor-generator", "[model]\nmu = 1.0\n[output]\ntimes = [0.0, 1.0]\n",
     "model.modes", "no modes"),
    ("modes-not-tables", "[model]\nmu = 1.0\nmodes = [1, 2]\n[output]\ntimes = [0.0, 1.0]\n",
     "model.modes[0]", "table"),
    ("mu-missing", _sub("mu = 1.0\n", ""), "model.mu", "required"),
    ("mfn_tol-negative", BASE + "[manybody]\nmfn_tol = -1e-10\n", "manybody.mfn_tol", "in [1e-15, 1)"),
    ("operator-unknown", BASE + "[manybody]\noperator = 'dense'\n", "manybody.operator", "shell"),
    ("twa_samples-zero", BASE + "[meanfield]\ntwa_samples = 0\n", "meanfield.twa_samples", "integer >= 2"),
    ("gen-kind-unknown", _gen("kind = 'three_beam'\nn_modes = 2"), "model.generator.kind", "two_beam"),
    ("gen-kind-missing", _gen("n_modes = 2"), "model.generator.kind", "required"),
    ("gen-n_modes-zero", _gen("kind = 'single_angle'\nn_modes = 0"), "model.generator.n_modes",
     "positive integer"),
    ("gen-states-length", _gen("kind = 'single_angle'\nn_modes = 3\nstates = ['e', 'x']"),
     "model.generator.states", "one state per mode"),
    ("gen-states-element", _gen("kind = 'single_angle'\nn_modes = 2\nstates = ['e', 'mu']"),
     "model.generator.states[1]", '"x"'),
    ("gen-states-polarization", _gen("kind = 'single_angle'\nn_modes = 2\nstates = ['e', [0, 0, 2]]"),
     "model.generator.states[1]", "unit vector"),
    ("gen-single-forced-multi", _gen("kind = 'single_angle'\nn_modes = 2", "angular = 'multi'"),
     "model.angular", "single"),
    ("gen-multi-forced-single", _gen("kind = 'multi_angle'\nn_modes = 2", "angular = 'single'"),
     "model.angular", "multi"),
    ("gen-key-of-other-kind", _gen("kind = 'single_angle'\nn_modes = 2\nseed = 3"),
     "model.generator.seed", "not used by generator kind 'single_angle'"),
    ("gen-unknown-key", _gen("kind = 'single_angle'\nn_mode = 2"), "model.generator.n_mode", "n_modes"),
    ("two-beam-hierarchy", _gen("kind = 'two_beam'\nn_nu = 2\nn_nubar = 2\nhierarchy = 'IH'"),
     "model.generator.hierarchy", "inverted"),
    ("two-beam-hierarchy-missing", _gen("kind = 'two_beam'\nn_nu = 2\nn_nubar = 2"),
     "model.generator.hierarchy", "required"),
    ("two-beam-n_nubar-float", _gen("kind = 'two_beam'\nn_nu = 2\nn_nubar = 2.5\nhierarchy = 'normal'"),
     "model.generator.n_nubar", "got 2.5"),
    ("two-beam-omega-negative", _gen("kind = 'two_beam'\nn_nu = 2\nn_nubar = 2\nhierarchy = 'normal'\n"
     "omega = -1.0"), "model.generator.omega", "positive"),
    ("two-beam-angle-single", _gen("kind = 'two_beam'\nn_nu = 2\nn_nubar = 2\nhierarchy = 'normal'\n"
     "beam_angle = 1.0"), "model.generator.beam_angle", "multi"),
    ("multi-directions-zero", _gen("kind = 'multi_angle'\nn_modes = 2\ndirections = [[0, 0, 1], [0, 0, 0]]"),
     "model.generator.directions[1]", "non-zero"),
    ("multi-directions-count", _gen("kind = 'multi_angle'\nn_modes = 3\ndirections = [[0, 0, 1]]"),
     "model.generator.directions", "one direction per mode"),
    ("multi-directions-name", _gen("kind = 'multi_angle'\nn_modes = 3\ndirections = 'isotropic'"),
     "model.generator.directions", "random"),
    ("multi-seed-negative", _gen("kind = 'multi_angle'\nn_modes = 3\nseed = -1"),
     "model.generator.seed", "non-negative"),
    ("multi-seed-not-random", _gen("kind = 'multi_angle'\nn_modes = 3\ndirections = 'polar'\nseed = 1"),
     "model.generator.seed", "random"),
    ("multi-omega0-constant", _gen("kind = 'multi_angle'\nn_modes = 3\nomega0 = 2.0"),
     "model.generator.omega0", "spectrum"),
    ("model-not-table", "model = 3\n[output]\ntimes = [0.0, 1.0]\n", "model", "table"),
]


@serial
@pytest.mark.parametrize("text,key,fragment", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_config_names_the_key(text, key, fragment):
    with pytest.raises(ConfigError) as info:
        load_config_text(text, source_path="bad.toml")
    err = info.value
    assert err.key == key, str(err)
    assert str(err).startswith(f"config error at '{key}': "), str(err)
    assert fragment in str(err), str(err)
    assert err.source_path == "bad.toml"


@serial
def test_error_message_format():
    with pytest.raises(ConfigError) as info:
        load_config_text(_sub("n = 3", "n = -1"))
    assert str(info.value) == "config error at 'model.modes[3].n': must be a positive integer, got -1"


@serial
def test_toml_syntax_error_has_line():
    with pytest.raises(ConfigError) as info:
        load_config_text("[model]\nmu = 1.0\ntheta = = 2\n", source_path="x.toml")
    assert info.value.key == "" and "line 3" in str(info.value) and "x.toml" in str(info.value)
    with pytest.raises(ConfigError) as info:
        load_config_text("[model]\nmu = 1.0\ntheta =", source_path="x.toml")
    assert "line 3" in str(info.value)


@serial
def test_missing_file(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.toml")
    assert "nope.toml" in str(info.value)


@serial
def test_config_error_is_a_picklable_value_error():
    import pickle

    assert issubclass(ConfigError, ValueError)
    err = pickle.loads(pickle.dumps(ConfigError("model.mu", "is required", "a.toml")))
    assert (err.key, err.source_path, str(err)) == ("model.mu", "a.toml",
                                                    "config error at 'model.mu': is required")


# --- fuzz-lite: every leaf replaced by values of a wrong type -------------------

_WRONG = {
    "number": ["zzz", True, {"k": 1}, [1.0], None, datetime.date(2020, 1, 1), math.nan],
    "int": [1.5, "1", False, -3],
    "bool": [1, "true", 0.0, {"k": 1}],
    "str": [3, False, 2.5, {"k": 1}, None],
    "list": ["zzz", 3, True, {"k": 1}, []],
    "dict": ["zzz", 3, [1, 2], True],
}


def _kind(v):
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "number"
    return {str: "str", list: "list", dict: "dict"}[type(v)]


def _leaf_paths(node, path=()):
    """Every value position (dict entries and list elements) in a config tree."""
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for k, v in items:
        yield path + (k,), v
        if isinstance(v, (dict, list)):
            yield from _leaf_paths(v, path + (k,))


def _replaced(data, path, value):
    data = copy.deepcopy(data)
    node = data
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    return data


# integer-valued keys: a float or a negative is wrong there; elsewhere an int is a number
_COUNT_KEYS = {"n", "n_modes", "n_per_mode", "n_nu", "n_nubar", "n_out", "mfn_ncv",
               "twa_samples", "seed"}


def _dotted(path):
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else p)
    return out


@serial
@pytest.mark.parametrize("start", ["full", "single_angle", "two_beam", "multi_angle"])
def test_fuzz_wrong_types_always_raise_config_error(start):
    base = full_dict() if start == "full" else generator_dict(start)
    config_from_dict(base)  # the starting point is valid
    checked = 0
    for path, value in _leaf_paths(base):
        kind = _kind(value)
        if kind == "int" and path[-1] not in _COUNT_KEYS:
            kind = "number"
        for bad in _WRONG[kind]:
            try:
                config_from_dict(_replaced(base, path, bad))
            except ConfigError as exc:
                # the error names the mutated entry, an entry inside it, or its table
                key = _dotted(path)
                assert exc.key and (key.startswith(exc.key) or exc.key.startswith(key)), \
                    (key, bad, str(exc))
                checked += 1
            else:
                raise AssertionError(f"accepted {_dotted(path)} = {bad!r}")
    assert checked > 20


def test_every_rank_builds_the_same_model(comm):
    """Collective: seeded random directions make the model rank-independent."""
    cfg = load_config(EXAMPLES[0].parent / "multi_angle_n20.toml")
    mine = np.concatenate([cfg.model.directions.ravel(), cfg.model.omegas,
                           cfg.model.initial_polarizations.ravel(), cfg.output.times])
    everyone = comm.allgather(mine)
    assert all(np.array_equal(mine, other) for other in everyone)


# --- the schema: docs table, TOML round trip, PETSc lists -------------------------

@serial
def test_docs_key_table_is_the_generated_one():
    """docs/config.md's key table is generated from the schema (python -m nmbhpc.config
    --write docs/config.md); this fails when code and docs drift apart."""
    from nmbhpc.schema import DOC_BEGIN, DOC_END, doc_table

    text = (Path(__file__).resolve().parent.parent / "docs" / "config.md").read_text()
    written = text[text.index(DOC_BEGIN) + len(DOC_BEGIN):text.index(DOC_END)].strip()
    assert written == doc_table().strip()
    for key in ("mfn_tol", "twa_samples", "n_phi", "output_interval", "single_angle_factor"):
        assert f"| `{key}` |" in written


ALL_EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.toml"))


def _equal_settings(a, b) -> bool:
    if a.solver == "kinetics":
        return all(getattr(a, n) == getattr(b, n) for n in
                   ("grid", "physics", "nu", "nubar", "perturbation", "time", "numerics"))
    return (a.solver == b.solver and a.model.modes == b.model.modes and a.model.mu == b.model.mu
            and a.model.theta == b.model.theta and a.model.single_angle == b.model.single_angle
            and a.model.single_angle_factor == b.model.single_angle_factor
            and np.array_equal(a.output.times, b.output.times)
            and a.output.pair_correlations == b.output.pair_correlations
            and a.output.save_state == b.output.save_state
            and a.manybody == b.manybody and a.meanfield == b.meanfield)


@serial
@pytest.mark.parametrize("path", ALL_EXAMPLES + ["BASE", "full"], ids=lambda p: getattr(p, "name", p))
def test_load_dump_load_gives_equal_settings(path):
    from nmbhpc.config import dump_config, load_any_config_text

    if path == "BASE":
        text = BASE
    elif path == "full":
        text = dump_toml(full_dict())
    else:
        text = path.read_text()
    first = load_any_config_text(text)
    dumped = dump_config(first)
    second = load_any_config_text(dumped)
    assert _equal_settings(first, second), dumped
    assert dump_config(second) == dumped  # a fixed point
    # every key of the solver sections is written, so defaults are explicit in the text
    if first.solver != "kinetics":
        assert "mfn_tol" in dumped and "twa_samples" in dumped


@serial
def test_round_trip_notices_a_changed_setting():
    from nmbhpc.config import dump_config, load_any_config_text

    first = load_any_config_text(BASE)
    changed = load_any_config_text(dump_config(first).replace("rtol = 1e-10", "rtol = 1e-09"))
    assert not _equal_settings(first, changed)


@serial
def test_ts_types_are_petsc_ts_types():
    """The schema's TS_TYPES is PETSc's list (without 'python', which needs a context object)."""
    from nmbhpc.schema import TS_TYPES
    from nmbhpc.runtime.stack import init_petsc

    PETSc, _ = init_petsc()
    petsc = {v for k, v in vars(PETSc.TS.Type).items() if not k.startswith("_")}
    assert set(TS_TYPES) == petsc - {"python"}


@serial
def test_solver_names_come_from_the_registry():
    from nmbhpc.config import solver_names
    from nmbhpc.solvers import SOLVERS

    assert set(SOLVERS) <= set(solver_names()) and "kinetics" in solver_names()
    with pytest.raises(ConfigError) as info:
        load_config_text("solver = 'kinetic'\n" + BASE)
    assert "did you mean 'kinetics'" in str(info.value) and '"twa"' in str(info.value)


@serial
def test_petsc_int_max_matches_petsc():
    import subprocess
    import sys

    from nmbhpc.schema import petsc_int_max
    from nmbhpc.runtime.stack import init_petsc

    PETSc, _ = init_petsc()
    assert petsc_int_max() == np.iinfo(PETSc.IntType).max
    # without petsc4py imported, petscconf.h gives the same answer
    out = subprocess.run([sys.executable, "-c", "from nmbhpc.schema import petsc_int_max; "
                          "import sys; print(petsc_int_max(), 'petsc4py.PETSc' in sys.modules)"],
                         capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == [str(np.iinfo(PETSc.IntType).max), "False"], out.stderr


def test_petsc_option_defaults_command_line_wins(comm):
    """Collective (a TS on comm): a config default applies only where the options
    database has nothing, and is gone afterwards."""
    from nmbhpc.runtime.petsc_options import petsc_option_defaults
    from nmbhpc.runtime.stack import init_petsc

    PETSc, _ = init_petsc()
    opts = PETSc.Options()
    opts.setValue("cfgtest_ts_type", "euler")  # stands for the command line
    try:
        for prefix, expect_type in (("cfgtest_", "euler"), ("cfgtest2_", "ssp")):
            ts = PETSc.TS().create(comm=PETSc.COMM_WORLD)
            try:
                ts.setOptionsPrefix(prefix)
                with petsc_option_defaults(prefix, {"ts_type": "ssp", "ts_max_steps": 7,
                                                    "ts_rtol": None}) as user_set:
                    ts.setFromOptions()
                assert ts.getType() == expect_type
                assert ts.getMaxSteps() == 7
                assert user_set == ({"ts_type"} if prefix == "cfgtest_" else set())
                assert not opts.hasName(prefix + "ts_max_steps")
                assert opts.hasName(prefix + "ts_type") == (prefix == "cfgtest_")
            finally:
                ts.destroy()
    finally:
        opts.delValue("cfgtest_ts_type")


@serial
@pytest.mark.parametrize("propagator", ["mfn", "chebyshev", "spectral"])
@pytest.mark.parametrize("mfn_type", ["krylov", "expokit"])
def test_operator_rules_are_the_registrys(propagator, mfn_type):
    """Every explicit manybody.operator is refused at load time exactly when the operator
    registry says the propagator settings cannot use it, under the registry's key; the
    schema offers the registry's names."""
    from nmbhpc.manybody import operators
    from nmbhpc.settings import ManyBodySettings
    from nmbhpc.schema import keys_of

    offered = next(k for k in keys_of(ManyBodySettings) if k.name == "operator").choices
    assert tuple(offered) == operators.NAMES
    for name in operators.KINDS:
        text = (BASE + f"[manybody]\noperator = '{name}'\npropagator = '{propagator}'\n"
                f"mfn_type = '{mfn_type}'\n")
        bad = operators.incompatibility(name, propagator, mfn_type)
        if bad is None:
            assert load_config_text(text).manybody.operator == name
        else:
            with pytest.raises(ConfigError) as err:
                load_config_text(text)
            assert err.value.key == bad[0], (name, str(err.value))
