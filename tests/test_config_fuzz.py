"""Hypothesis fuzzing of the config loader: any input gives a RunConfig (or
KineticSettings) or a ConfigError that names the offending key, never another
exception.

Starting points are the shipped examples (kinetics included) and a hand-written
config using explicit modes; each example mutates one entry (new value of any
TOML type, deletion, or an unknown key) somewhere in the tree. Numbers are drawn
with weight on the extremes (NaN, +-inf, +-1e308, subnormals, +-2^63), and
``test_every_numeric_key_meets_every_extreme`` puts each extreme into every
numeric entry of every starting point. Loading touches no MPI state, so the
tests are serial-marked.
"""
from __future__ import annotations

import math
import tomllib
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from nmbhpc.config import (ConfigError, config_from_dict, load_any_config_text,  # noqa: E402
                           load_config_text)
from nmbhpc.kinetics.config import is_kinetics_document, settings_from_dict  # noqa: E402
from nmbhpc.kinetics.settings import KineticSettings  # noqa: E402
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
    return [tomllib.loads(EXPLICIT)] + [tomllib.loads(p.read_text()) for p in EXAMPLES]


BASES = _bases()

#: the values a number must survive: non-finite, huge, tiny (subnormal), int64 extremes
EXTREMES = (math.nan, math.inf, -math.inf, 1e308, -1e308, 1e300, 5e-324, -5e-324, 1e-300, 0.0,
            -0.0, 2**63 - 1, -2**63, 2**31, 10**30, -1)
extremes = st.sampled_from(EXTREMES)
# sizes are no longer limited here: the loader refuses what cannot be allocated
scalars = st.one_of(
    st.booleans(), st.integers(-5, 40), st.integers(-2**63, 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True), extremes, extremes, st.text(max_size=8),
    st.sampled_from(["e", "x", "single", "multi", "rk", "inverted", "normal", "bulb", "", "bogus"]),
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


def _load_dict(data):
    return settings_from_dict(data) if is_kinetics_document(data) else config_from_dict(data)


def _check(load):
    try:
        cfg = load()
    except ConfigError as exc:
        assert str(exc).startswith("config error") and "\n" not in str(exc), str(exc)
        return exc
    if isinstance(cfg, KineticSettings):
        t = cfg.time
        assert math.isfinite(t.t_end) and t.t_end > 0 and t.output_interval > 0
        return None
    assert isinstance(cfg, RunConfig)
    times = cfg.output.times
    assert len(times) >= 1 and all(math.isfinite(t) for t in times)
    assert all(math.isfinite(x) for x in cfg.model.omegas) and math.isfinite(cfg.model.mu.mu0)
    assert all(abs(math.hypot(*d) - 1) < 1e-12 for d in cfg.model.directions)
    return None


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_configs_fail_with_a_key(case):
    data, path, action = case
    exc = _check(lambda: _load_dict(data))
    if exc is not None:
        # a structural problem of one entry names a key: never a file-level message
        assert exc.key, f"mutating {path} ({action}) gave a message naming no key: {exc}"
        assert f"'{exc.key}'" in str(exc)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(st.text(max_size=200))
def test_arbitrary_text_never_raises_anything_else(text):
    exc = _check(lambda: load_any_config_text(text))
    if exc is not None and exc.key == "":
        assert "invalid TOML" in str(exc) or "config error in" in str(exc)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(st.data())
def test_truncated_and_spliced_example_text(data):
    """Cut an example at one point, insert junk, and resume it at a later point."""
    text = data.draw(st.sampled_from([EXPLICIT] + [p.read_text() for p in EXAMPLES]))
    cut = data.draw(st.integers(0, len(text)))
    resume = data.draw(st.integers(cut, len(text)))
    junk = data.draw(st.text(max_size=10))
    spliced = text[:cut] + junk + text[resume:]
    if resume < len(text) and cut < resume:
        assert spliced.endswith(text[resume:])  # the tail really is spliced back on
    _check(lambda: load_any_config_text(spliced))


def _numeric_leaves(node, prefix=()):
    """Paths of every number (not bool) in a parsed TOML tree, list elements included."""
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for k, v in items:
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            yield prefix + (k,)
        elif isinstance(v, (dict, list)):
            yield from _numeric_leaves(v, prefix + (k,))


from test_config import _replaced as _set  # noqa: E402  (tests/ is on sys.path)


NUMERIC = [(i, path) for i, base in enumerate(BASES) for path in _numeric_leaves(base)]


@st.composite
def numeric_extreme(draw):
    i, path = draw(st.sampled_from(NUMERIC))
    return _set(BASES[i], path, draw(extremes)), _dotted(path)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(numeric_extreme())
def test_numeric_entries_with_extreme_values(case):
    data, path = case
    exc = _check(lambda: _load_dict(data))
    if exc is not None:
        assert exc.key and f"'{exc.key}'" in str(exc), (path, str(exc))


def test_every_numeric_key_meets_every_extreme():
    """Each extreme value in each numeric entry of each starting point: a ConfigError naming
    that entry (or the key it breaks), or settings with finite values."""
    tried = refused = 0
    for i, path in NUMERIC:
        for value in EXTREMES:
            data = _set(BASES[i], path, value)
            exc = _check(lambda: _load_dict(data))
            tried += 1
            if exc is not None:
                refused += 1
                assert exc.key, (_dotted(path), value, str(exc))
                if isinstance(value, float) and not math.isfinite(value):
                    # a non-finite number is refused at its own entry
                    assert exc.key == _dotted(path), (_dotted(path), value, str(exc))
                    assert ("nan" if math.isnan(value) else "inf") in str(exc)
    assert tried == len(NUMERIC) * len(EXTREMES) and len(NUMERIC) > 100
    assert refused > tried // 2
