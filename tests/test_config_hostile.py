"""Hostile config values: every case ends in a one-line ConfigError naming the key and
the value, raised before any file or PETSc object exists.

The corpus has two parts. Generated from the schema (nmbhpc.schema.SECTIONS): for
every declared number, integer, choice and 3-vector key of every section (spin and
kinetics), non-finite, huge, tiny, out-of-bounds and wrong-typed values put into a
valid document. Hand-written: sizes a config can make large (basis states, mode
counts, output counts, phase spans, step counts, kinetic field lengths) and the
cases of the hostile-input campaign (direction overflow, bogus TS types, mu = 1e200).
``test_corpus_size`` counts them. Loading touches no MPI state: serial-marked.
"""
from __future__ import annotations

import copy
import math
import os

import pytest

from nmbhpc import schema
from nmbhpc.config import ConfigError, load_any_config_text
from nmbhpc.schema import SECTIONS, dump_toml

serial = pytest.mark.serial

SPIN = {
    "solver": "manybody",
    "model": {"theta": 0.1, "mu": 1.0,
              "generator": {"kind": "single_angle", "n_modes": 4}},
    "output": {"t_final": 1.0, "n_out": 3},
    "manybody": {}, "meanfield": {},
}
MODES = {
    "solver": "meanfield",
    "model": {"theta": 0.1, "mu": 1.0,
              "modes": [{"n": 2, "omega": 1.0, "state": "e", "direction": [0.0, 0.0, 1.0]},
                        {"n": 1, "omega": -0.5, "state": "x"}]},
    "output": {"times": [0.0, 0.5, 1.0]},
}
KINETICS = {
    "solver": "kinetics",
    "kinetics": {"grid": {"nx": 12, "length": 10.0, "n_dir": 4},
                 "physics": {"mu": 1.0},
                 "collisions": {},
                 "nu": {"n_e": 1.0, "shape": "linear", "parameter": 0.5},
                 "nubar": {"n_e": 0.8},
                 "perturbation": {"kind": "random"},
                 "time": {"t_end": 1.0, "output_interval": 0.5},
                 "numerics": {}},
}


def _with_table(doc: dict, path: str) -> tuple[dict, dict, str]:
    """A copy of ``doc`` and the table at dotted ``path`` (created if absent)."""
    doc = copy.deepcopy(doc)
    node = doc
    for part in path.split(".") if path else []:
        node = node.setdefault(part, {})
    return doc, node, path


def _base_for(section) -> tuple:
    """(document, table inside it, dotted path of the table) where the section's keys go."""
    path, title = section.path, section.title
    if path.startswith("kinetics"):
        return _with_table(KINETICS, path)
    if path == "model.modes":
        doc = copy.deepcopy(MODES)
        return doc, doc["model"]["modes"][0], "model.modes[0]"
    if path == "model.generator":
        kind = title.split('"')[1]
        doc = copy.deepcopy(SPIN)
        gen = {"single_angle": {"kind": kind, "n_modes": 4},
               "two_beam": {"kind": kind, "n_nu": 2, "n_nubar": 2, "hierarchy": "inverted"},
               "multi_angle": {"kind": kind, "n_modes": 4, "spectrum": "linear"}}[kind]
        doc["model"]["generator"] = gen
        if kind == "two_beam":
            doc["model"]["angular"] = "multi"
        return doc, gen, "model.generator"
    if path == "model.schedule":
        doc = copy.deepcopy(SPIN)
        doc["model"]["schedule"] = {"kind": "bulb", "r0": 2.0, "radius": 1.0, "max_step": 0.1}
        return doc, doc["model"]["schedule"], path
    if path == "output":
        doc = copy.deepcopy(SPIN)
        return doc, doc["output"], path
    return _with_table(SPIN, path)


def _hostile_values(key) -> list:
    """(label, value, text the message must show) for one declared key."""
    out = []
    if key.type == "real":
        out += [("nan", math.nan, "nan"), ("inf", math.inf, "inf"), ("-inf", -math.inf, "-inf"),
                ("1e300", 1e300, "1e+300"), ("-1e308", -1e308, "-1e+308"),
                ("string", "1.0", "'1.0'"), ("bool", True, "true")]
        if key.low is not None:
            below = key.low if key.open_low else key.low - max(1.0, abs(key.low))
            out.append(("below", below, repr(float(below))))
        if key.high is not None:
            above = key.high if key.open_high else key.high * 10 + 1
            out.append(("above", above, repr(float(above))))
    elif key.type == "int":
        out += [("float", 1.5, "1.5"), ("bool", True, "true"), ("string", "3", "'3'"),
                ("2^63", 2**63, "9.22e+18"), ("nan", math.nan, "nan")]
        if key.low is not None:
            out.append(("below", int(key.low) - 1, str(int(key.low) - 1)))
    elif key.type == "choice":
        typo = key.choices[-1][:-1] + "q" if len(key.choices[-1]) > 2 else "zz"
        out += [("bogus", "bogus", "'bogus'"), ("typo", typo, repr(typo)), ("number", 3, "3")]
    elif key.type == "vector3":
        out += [("overflow", [1e300, 1e300, 0.0], "1e+300"), ("nan", [0.0, math.nan, 1.0], "nan"),
                ("short", [0.0, 1.0], "[0.0, 1.0]")]
        if key.name in ("direction", "axis"):
            out.append(("zero", [0.0, 0.0, 0.0], "[0.0, 0.0, 0.0]"))
    elif key.type == "bool":
        out += [("int", 1, "1"), ("string", "true", "'true'")]
    return out


def _generated():
    cases = []
    seen = set()
    for section in SECTIONS.values():
        for key in section.keys:
            for label, value, shown in _hostile_values(key):
                doc, table, where = _base_for(section)
                table[key.name] = value
                path = f"{where}.{key.name}" if where else key.name
                case_id = f"{section.title or section.path or 'top'}:{key.name}={label}"
                if case_id in seen:
                    continue
                seen.add(case_id)
                cases.append(pytest.param(doc, path, shown, id=case_id))
    return cases


def _doc(base, **edits):
    """A copy of ``base`` with dotted-path edits (``model__mu=...``: ``__`` separates levels)."""
    doc = copy.deepcopy(base)
    for dotted, value in edits.items():
        parts = dotted.split("__")
        node = doc
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return doc


def _gen(**kw):
    doc = copy.deepcopy(SPIN)
    doc["model"]["generator"].update(kw)
    return doc


SIZES = [
    # (id, document, key, text the message must show)
    ("mb-n_modes-34", _gen(n_modes=34), "model.generator.n_modes", "2.3e+09 states"),
    ("mb-n_modes-40", _gen(n_modes=40), "model.generator.n_modes", "1.4e+11 states"),
    ("mb-n_modes-60", _gen(n_modes=60), "model.generator.n_modes", "PetscInt"),
    ("mb-n_modes-1e6", _gen(n_modes=10**6), "model.generator.n_modes", "1000000"),
    ("mf-n_modes-1e6", _doc(_gen(n_modes=10**6), solver="meanfield"), "model.generator.n_modes",
     "coupling matrix"),
    ("twa-n_modes-1e6", _doc(_gen(n_modes=10**6), solver="twa"), "model.generator.n_modes",
     "coupling matrix"),
    ("cumulant-n_modes-1e5", _doc(_gen(n_modes=10**5), solver="cumulant"), "model.generator.n_modes",
     "100000"),
    ("n_modes-int64-max", _gen(n_modes=2**63 - 1), "model.generator.n_modes", "9.22e+18"),
    ("mb-n_per_mode-1e12", _gen(n_modes=4, n_per_mode=10**12), "model.generator.n_per_mode",
     "1000000000000"),
    ("mb-n_per_mode-1e9", _gen(n_modes=4, n_per_mode=10**9), "model.generator.n_modes", "PetscInt"),
    ("mb-two-beam-1e9", _doc(SPIN, model__generator={"kind": "two_beam", "n_nu": 10**9,
                                                    "n_nubar": 10**9, "hierarchy": "normal"}),
     "model.generator.n_nu", "1000000000"),
    ("n_out-1e12", _doc(SPIN, output__n_out=10**12), "output.n_out", "1000000000000"),
    ("twa_samples-1e12", _doc(SPIN, solver="twa", meanfield__twa_samples=10**12),
     "meanfield.twa_samples", "1000000000000"),
    ("twa_samples-1", _doc(SPIN, solver="twa", meanfield__twa_samples=1), "meanfield.twa_samples",
     "got 1"),
    ("t_final-1e20", _doc(SPIN, output__t_final=1e20), "output.t_final", "1e+20"),
    ("t_final-1e11-phase", _doc(SPIN, output__t_final=1e11), "output.t_final", "rad of phase"),
    ("mu-1e12-phase", _doc(SPIN, model__mu=1e12, output__t_final=100.0), "model.mu", "rad of phase"),
    ("mu-1e200", _doc(SPIN, model__mu=1e200), "model.mu", "1e+200"),
    ("mu-1e308", _doc(SPIN, model__mu=1e308), "model.mu", "1e+308"),
    ("omega-1e14-phase", _doc(MODES, model__modes=[{"n": 1, "omega": 1e14, "state": "e"}],
                              output__times=[0.0, 1.0]), "model.modes[0].omega", "rad of phase"),
    ("max_step-1e-300", _doc(SPIN, manybody__max_step=1e-300), "manybody.max_step", "1e-300"),
    ("max_step-1e-12", _doc(SPIN, manybody__max_step=1e-12, output__t_final=100.0),
     "manybody.max_step", "1e-12"),
    ("schedule-max_step-tiny", _doc(SPIN, model__schedule={"kind": "bulb", "r0": 2.0, "radius": 1.0,
                                                           "max_step": 1e-300}),
     "model.schedule.max_step", "1e-300"),
    ("times-unresolved", _doc(MODES, output__times=[1e11, 1e11 + 1e-4]), "output.times[1]",
     "double precision"),
    ("table-values-huge", _doc(_doc(SPIN, model__schedule={"kind": "table", "times": [0.0, 1.0],
                                                            "values": [1.0, 1e300]}),
                               model__mu=None), "model.schedule.values[1]", "1e+300"),
    ("direction-overflow", _doc(MODES, model__modes=[{"n": 1, "omega": 1.0, "state": "e",
                                                      "direction": [1e300, 1e300, 0.0]}]),
     "model.modes[0].direction[0]", "1e+300"),
    ("direction-zero", _doc(MODES, model__modes=[{"n": 1, "omega": 1.0, "state": "e",
                                                  "direction": [0.0, 0.0, 0.0]}]),
     "model.modes[0].direction", "[0.0, 0.0, 0.0]"),
    ("directions-overflow", _gen(kind="multi_angle", n_modes=2,
                                 directions=[[0.0, 0.0, 1.0], [1e300, 1e300, 0.0]]),
     "model.generator.directions[1][0]", "1e+300"),
    ("state-overflow", _doc(MODES, model__modes=[{"n": 1, "omega": 1.0, "state": [1e300, 0, 0]}]),
     "model.modes[0].state[0]", "1e+300"),
    ("linear-spectrum-overflow", _gen(kind="multi_angle", n_modes=10, spectrum="linear",
                                      omega0=1e15), "model.generator.omega0", "omega_10 = 1e+16"),
    ("ts_type-bogus-meanfield", _doc(SPIN, solver="meanfield", meanfield__ts_type="bogus"),
     "meanfield.ts_type", "'bogus'"),
    ("ts_type-bogus-twa", _doc(SPIN, solver="twa", meanfield__ts_type="bogus"), "meanfield.ts_type",
     "'bogus'"),
    ("ts_type-bogus-cumulant", _doc(SPIN, solver="cumulant", meanfield__ts_type="rk4"),
     "meanfield.ts_type", "did you mean 'rk'"),
    ("ts_type-python", _doc(SPIN, solver="meanfield", meanfield__ts_type="python"),
     "meanfield.ts_type", "'python'"),
    ("shell-expokit", _doc(SPIN, manybody__operator="shell", manybody__mfn_type="expokit"),
     "manybody.mfn_type", "expokit"),
    ("solver-typo", _doc(SPIN, solver="kinetic"), "solver", "did you mean 'kinetics'"),
    ("solver-kinetics-spin-doc", _doc(SPIN, solver="kinetics"), "kinetics", "required"),
    ("kin-nx-2^31", _doc(KINETICS, kinetics__grid__nx=2**31), "kinetics.grid.nx", "2147483648"),
    ("kin-nx-field", _doc(KINETICS, kinetics__grid__nx=10**9), "kinetics.grid.nx", "PetscInt"),
    ("kin-shape-field", _doc(KINETICS, kinetics__grid={"shape": [4096, 4096, 4096], "n_phi": 4,
                                                       "n_dir": 4}), "kinetics.grid.shape", "PetscInt"),
    ("kin-n_dir-field", _doc(KINETICS, kinetics__grid__n_dir=10**9), "kinetics.grid.n_dir", "PetscInt"),
    ("kin-n_phi-field", _doc(KINETICS, kinetics__grid={"nx": 12, "n_dir": 4, "n_phi": 10**9}),
     "kinetics.grid.n_dir", "PetscInt"),
    ("kin-energies-field", _doc(KINETICS, kinetics__grid__nx=10**6,
                                kinetics__physics__omega=[0.1] * 1000), "kinetics.grid.nx", "PetscInt"),
    ("kin-t_end-1e30", _doc(KINETICS, kinetics__time__t_end=1e30), "kinetics.time.t_end", "1e+30"),
    ("kin-t_end-steps", _doc(KINETICS, kinetics__time={"t_end": 1e11, "output_interval": 1e4}),
     "kinetics.time.t_end", "time steps"),
    ("kin-output_interval-1e-12", _doc(KINETICS, kinetics__time__output_interval=1e-12),
     "kinetics.time.output_interval", "1e-12"),
    ("kin-dt-1e-300", _doc(KINETICS, kinetics__time__dt=1e-300), "kinetics.time.dt", "1e-300"),
    ("kin-mu-1e200", _doc(KINETICS, kinetics__physics__mu=1e200), "kinetics.physics.mu", "1e+200"),
    ("kin-mu-steps", _doc(KINETICS, kinetics__physics__mu=1e14), "kinetics.time.t_end", "time steps"),
    ("kin-axis-overflow", _doc(KINETICS, kinetics__nu__axis=[1e300, 1e300, 0.0]),
     "kinetics.nu.axis[0]", "1e+300"),
    ("kin-axis-zero", _doc(KINETICS, kinetics__nu__axis=[0.0, 0.0, 0.0]), "kinetics.nu.axis",
     "[0.0, 0.0, 0.0]"),
    ("kin-unknown-n_x-typo", _doc(KINETICS, kinetics__nu__nx=1.0), "kinetics.nu.nx",
     "did you mean 'n_x'"),
    ("kin-unknown-section-typo", _doc(KINETICS, kinetics__numeric={}), "kinetics.numeric",
     "did you mean 'numerics'"),
    ("kin-advection-typo", _doc(KINETICS, kinetics__numerics__advection="weno"),
     "kinetics.numerics.advection", "did you mean 'weno5'"),
    ("kin-mode-huge", _doc(KINETICS, kinetics__perturbation={"kind": "mode", "mode": 2**40}),
     "kinetics.perturbation.mode", "1099511627776"),
    ("kin-omega-nan", _doc(KINETICS, kinetics__physics__omega=[0.0, math.nan]),
     "kinetics.physics.omega[1]", "nan"),
    ("kin-gamma-inf", _doc(KINETICS, kinetics__collisions__gamma_nu=[math.inf, 0.0]),
     "kinetics.collisions.gamma_nu[0]", "inf"),
    ("kin-snapshot-nan", _doc(KINETICS, kinetics__time__snapshot_times=[math.nan]),
     "kinetics.time.snapshot_times[0]", "nan"),
    ("kin-shape-huge-axis", _doc(KINETICS, kinetics__grid={"shape": [1, 1, 2**40]}),
     "kinetics.grid.shape[2]", "1099511627776"),
]


def _drop_none(doc):
    if isinstance(doc, dict):
        return {k: _drop_none(v) for k, v in doc.items() if v is not None}
    if isinstance(doc, list):
        return [_drop_none(v) for v in doc]
    return doc


GENERATED = _generated()
HAND = [pytest.param(_drop_none(d), k, s, id=i) for i, d, k, s in SIZES]


@pytest.fixture
def no_side_effects(tmp_path, monkeypatch):
    """Run in an empty directory with PETSc initialisation forbidden; check nothing appeared."""
    from nmbhpc.runtime import stack

    def forbidden(*a, **k):
        raise AssertionError("config loading initialised PETSc")

    monkeypatch.setattr(stack, "init_petsc", forbidden)
    monkeypatch.chdir(tmp_path)
    yield
    assert os.listdir(tmp_path) == [], "config loading created files"


def _check(doc, key, shown):
    text = dump_toml(doc)
    with pytest.raises(ConfigError) as info:
        load_any_config_text(text, source_path="hostile.toml")
    err = info.value
    msg = str(err)
    assert "\n" not in msg, msg
    assert err.key == key or err.key.startswith(key + "["), (key, msg)
    assert msg.startswith(f"config error at '{err.key}': "), msg
    assert shown in msg, (shown, msg)


@serial
@pytest.mark.parametrize("doc,key,shown", GENERATED)
def test_generated_hostile_values(doc, key, shown, no_side_effects):
    _check(doc, key, shown)


@serial
@pytest.mark.parametrize("doc,key,shown", HAND)
def test_hostile_sizes_and_campaign_cases(doc, key, shown, no_side_effects):
    _check(doc, key, shown)


@serial
def test_corpus_size():
    """The issue asks for >= 150 hostile config cases; each is one test id above."""
    assert len(GENERATED) + len(HAND) >= 150, (len(GENERATED), len(HAND))
    numeric = [k for s in SECTIONS.values() for k in s.keys if k.type in ("real", "int")]
    assert len(numeric) >= 40  # every declared number of every section is in the corpus


@serial
def test_bases_are_valid():
    """The corpus starts from valid documents, so each refusal is the edit's."""
    for doc in (SPIN, MODES, KINETICS):
        load_any_config_text(dump_toml(doc))
    for section in SECTIONS.values():
        load_any_config_text(dump_toml(_base_for(section)[0]))


@serial
def test_loading_never_imports_petsc():
    """Run the whole corpus in a fresh interpreter: PETSc, h5py and mpi4py stay unimported."""
    import subprocess
    import sys

    code = (
        "import sys, tests.test_config_hostile as h\n"
        "from nmbhpc.config import ConfigError, load_any_config_text\n"
        "from nmbhpc.schema import dump_toml\n"
        "n = 0\n"
        "for p in h.GENERATED + h.HAND:\n"
        "    try:\n"
        "        load_any_config_text(dump_toml(p.values[0]))\n"
        "    except ConfigError:\n"
        "        n += 1\n"
        "bad = [m for m in ('petsc4py.PETSc', 'h5py', 'mpi4py.MPI') if m in sys.modules]\n"
        "print(n, len(h.GENERATED + h.HAND), bad)\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": root}, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    n, total, bad = out.stdout.split(" ", 2)
    assert n == total and bad.strip() == "[]", out.stdout


@serial
def test_schema_has_every_section():
    titles = set(SECTIONS)
    for name in ("", "model", "output", "manybody", "meanfield", "kinetics", "kinetics.grid",
                 "kinetics.time", "[[model.modes]]"):
        assert name in titles, name
    assert schema.SECTIONS is SECTIONS
