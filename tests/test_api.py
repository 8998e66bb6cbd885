"""The Python API (nmbhpc.run / open / load_config) and the examples of docs/api.md.

Collective: the examples call nmbhpc.run, which every rank enters.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pytest

import nmbhpc
from nmbhpc.errors import ConfigError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(REPO, "docs", "api.md")

TINY = {"solver": "meanfield",
        "model": {"theta": 0.3, "mu": 2.0,
                  "generator": {"kind": "single_angle", "n_modes": 3, "n_per_mode": 1,
                                "omega0": 1.0, "states": "split"}},
        "output": {"t_final": 0.5, "n_out": 3}}


def code_blocks(path: str) -> list:
    with open(path, encoding="utf-8") as f:
        return re.findall(r"^```python\n(.*?)^```", f.read(), flags=re.S | re.M)


def test_import_is_cheap_and_touches_no_mpi_or_petsc():
    out = subprocess.run(
        [sys.executable, "-c", "import sys, nmbhpc; "
         "print(sorted(m for m in ('mpi4py', 'petsc4py', 'slepc4py', 'h5py', 'xarray', 'numpy')"
         " if m in sys.modules))"],
        capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": REPO})
    assert out.stdout.strip() == "[]"


def test_docs_examples_cover_every_solver():
    text = "\n".join(code_blocks(DOC))
    for solver in ("manybody", "meanfield", "cumulant", "twa", "[kinetics"):
        assert solver in text, solver


def test_docs_examples_run(shared_tmp_path, monkeypatch, capsys):
    """Every python block of docs/api.md, in order, in one namespace (on every rank)."""
    monkeypatch.chdir(shared_tmp_path)
    namespace: dict = {}
    blocks = code_blocks(DOC)
    assert len(blocks) >= 8
    for i, block in enumerate(blocks):
        try:
            exec(compile(block, f"docs/api.md block {i}", "exec"), namespace)
        except Exception as exc:  # name the block that failed
            raise AssertionError(f"docs/api.md block {i} failed: {exc!r}\n{block}") from exc
    # the study's exact and mean-field runs start equal and differ later (mu = 5, split)
    pee = namespace["pee"]
    assert set(pee) == {"manybody", "meanfield", "cumulant", "twa"}
    np.testing.assert_allclose(float(pee["manybody"][0]), float(pee["meanfield"][0]), atol=1e-12)
    assert os.path.exists(shared_tmp_path / "meanfield.h5")


def test_run_matches_the_file_it_keeps(shared_tmp_path):
    """comm=None works; the returned Dataset is the kept file; overrides reach the config."""
    path = str(shared_tmp_path / "api.h5")
    ds = nmbhpc.run(TINY, output=path, force=True, output__n_out=5)
    assert ds.sizes["time"] == 5 and ds.attrs["solver"] == "meanfield"
    with nmbhpc.open(path) as again:
        np.testing.assert_array_equal(again["modes/polarization"].values,
                                      ds["modes/polarization"].values)
    # independent check: P_p of a mode starts at its configured initial polarization
    np.testing.assert_allclose(ds["modes/polarization"].isel(time=0).values,
                               ds["modes/initial_polarization"].values, atol=1e-12)


def test_run_without_output_leaves_no_file(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    ds = nmbhpc.run(TINY)
    assert ds["nue_fraction"].shape == (3,)
    assert os.listdir(tmp_path) == []


def test_load_config_accepts_dict_text_and_path(tmp_path):
    from nmbhpc.schema import dump_toml

    text = dump_toml(TINY)
    path = tmp_path / "c.toml"
    path.write_text(text)
    for source in (TINY, text, str(path), path):
        cfg = nmbhpc.load_config(source)
        assert cfg.solver == "meanfield" and cfg.model.n_modes == 3
    assert nmbhpc.load_config(TINY, solver="twa").solver == "twa"
    with pytest.raises(ConfigError, match="model.mu"):
        nmbhpc.load_config(TINY, model__mu="strong")
