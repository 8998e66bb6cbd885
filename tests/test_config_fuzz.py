"""Hypothesis fuzzing of the config loader: any input gives a RunConfig or a
ConfigError that names the offending key, never another exception.

Starting points are the shipped examples and a hand-written config using
explicit modes; each example mutates one entry (new value of any TOML type,
deletion, or an unknown key) somewhere in the tree. Loading touches no MPI
state, so the tests are serial-marked.
"""
from __future__ import annotations

import math
import tomllib
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from nmbhpc.config import ConfigError, config_from_dict, load_config_text  # noqa: E402
from nmbhpc.settings import RunConfig  # noqa: E402

pytestmark = pytest.mark.serial

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.toml"))

EXPLICIT = """
solver = "meanfield"
[model]
theta = 0.1
[[model.modes]]
n = 2
omega = 1.0
state = "e"
[[model.modes]]
n = 1
omega = -0.5
direction = [0.0, 3.0, 4.0]
state = [0.6, 0.0, 0.8]
[model.schedule]
kind = "table"
times = [0.0, 1.0]
values = [1.0, 2.0]
[output]
times = [0.0, 0.5, 1.0]
[meanfield]
rtol = 1e-8
"""


def _bases():
    out = [tomllib.loads(EXPLICIT)]
    for path in EXAMPLES:
        data = tomllib.loads(path.read_text())
        if data.get("solver") != "kinetics":  # its own loader (nmbhpc.kinetics.config)
            out.append(data)
    return out


BASES = _bases()

# small magnitudes only where a valid value allocates (mode counts): the
# loader's job is to reject bad input, not to guard the machine's memory
scalars = st.one_of(
    st.booleans(), st.integers(-5, 40), st.integers(-2**63, 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
    st.sampled_from(["e", "x", "single", "multi", "rk", "inverted", "normal", "bulb", ""]),
)
values = st.recursive(scalars, lambda kids: st.one_of(st.lists(kids, max_size=4),
                                                      st.dictionaries(st.text(max_size=6), kids,
                                                                      max_size=3)),
                      max_leaves=6)


def _paths(node, prefix=()):
    """Every (path, container) in a parsed TOML tree; path items are keys or list indices."""
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for k, v in items:
        yield prefix + (k,)
        if isinstance(v, (dict, list)):
            yield from _paths(v, prefix + (k,))


def _dotted(path) -> str:
    out = ""
    for k in path:
        out += f"[{k}]" if isinstance(k, int) else (f".{k}" if out else str(k))
    return out


@st.composite
def mutated(draw):
    import copy

    data = copy.deepcopy(draw(st.sampled_from(BASES)))
    paths = list(_paths(data))
    path = draw(st.sampled_from(paths))
    parent = data
    for k in path[:-1]:
        parent = parent[k]
    action = draw(st.sampled_from(["replace", "replace", "delete", "unknown"]))
    if action == "replace":
        parent[path[-1]] = draw(values)
    elif action == "delete" and isinstance(parent, dict):
        del parent[path[-1]]
    elif isinstance(parent, dict):
        parent[draw(st.text(min_size=1, max_size=6))] = draw(scalars)
    return data, _dotted(path), action


def _check(load):
    try:
        cfg = load()
    except ConfigError as exc:
        assert str(exc).startswith("config error"), str(exc)
        return exc
    assert isinstance(cfg, RunConfig)
    times = cfg.output.times
    assert len(times) >= 1 and all(math.isfinite(t) for t in times)
    return None


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_configs_fail_with_a_key(case):
    data, path, action = case
    exc = _check(lambda: config_from_dict(data))
    if exc is not None:
        # a structural problem of one entry names a key: never a file-level message
        assert exc.key, f"mutating {path} ({action}) gave a message naming no key: {exc}"
        assert f"'{exc.key}'" in str(exc)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(st.text(max_size=200))
def test_arbitrary_text_never_raises_anything_else(text):
    exc = _check(lambda: load_config_text(text))
    if exc is not None and exc.key == "":
        assert "invalid TOML" in str(exc) or "config error in" in str(exc)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(st.data())
def test_truncated_and_spliced_example_text(data):
    text = data.draw(st.sampled_from([EXPLICIT] + [p.read_text() for p in EXAMPLES
                                                   if "kinetics" not in p.name]))
    cut = data.draw(st.integers(0, len(text)))
    junk = data.draw(st.text(max_size=10))
    _check(lambda: load_config_text(text[:cut] + junk + text[cut:][:0]))
