"""Flavor fractions by species (nmbhpc.physics.flavor) on the bipolar model."""
from __future__ import annotations

import numpy as np
import pytest

from nmbhpc.generators import two_beam
from nmbhpc.model import Model
from nmbhpc.physics.flavor import species_fractions
from nmbhpc.schedule import MuSchedule


def bipolar(hierarchy):
    return Model(modes=two_beam(4, 4, hierarchy=hierarchy), theta=0.0, mu=MuSchedule(mu0=10.0),
                 single_angle=True)


@pytest.mark.parametrize("hierarchy", ["normal", "inverted"])
def test_bipolar_initial_state_is_pure_nu_e_and_nubar_e(hierarchy):
    model = bipolar(hierarchy)   # inverted: the nu_e beam has omega < 0
    f = species_fractions(model, model.initial_polarizations)
    assert f == {"nu_e": 1.0, "nubar_e": 1.0}


@pytest.mark.parametrize("hierarchy", ["normal", "inverted"])
def test_pair_conversion_shows_in_both_species(hierarchy):
    """nu_e nubar_e -> nu_x nubar_x: both fractions drop together, the mixed
    isospin-up average (what the per-mode nue_fraction column averages) does not move."""
    model = bipolar(hierarchy)
    p = np.array([[0.0, 0.0, 0.12], [0.0, 0.0, -0.12]])   # each beam 56% of its flavor
    f = species_fractions(model, p)
    assert np.isclose(f["nu_e"], 0.56) and np.isclose(f["nubar_e"], 0.56)
    assert np.isclose(np.mean(0.5 * (1 + p[:, 2])), 0.5)


def test_only_present_species_are_reported():
    from nmbhpc.model import Mode

    model = Model(modes=(Mode(2, 0.5), Mode(1, 1.5)), theta=0.1, mu=MuSchedule(mu0=1.0))
    f = species_fractions(model, np.array([[0, 0, 1.0], [0, 0, -1.0]]))
    assert f == {"nu_e": 2 / 3}
    anti = Model(modes=(Mode(1, -0.5), Mode(1, 0.5, species="nubar")), theta=0.1,
                 mu=MuSchedule(mu0=1.0))
    assert species_fractions(anti, np.array([[0, 0, -1.0], [0, 0, 1.0]])) == {"nubar_e": 0.5}


BIPOLAR = """solver = "{solver}"
[model]
theta = 0.01
mu = 10.0
angular = "single"
[model.generator]
kind = "two_beam"
n_nu = 4
n_nubar = 4
hierarchy = "inverted"
[output]
t_final = 4.0
n_out = 5
pair_correlations = true
"""


@pytest.mark.parametrize("solver", ["manybody", "meanfield"])
def test_run_summary_reports_species_and_pehlivan_drift(solver, comm, shared_tmp_path, capsys):
    """The summary of the inverted bipolar run names nu_e and nubar_e separately (the
    mixed average stayed at 0.5 while both beams converted) and the invariants' drift."""
    import re

    from nmbhpc.cli import main as cli_main

    cfg = shared_tmp_path / f"bipolar_{solver}.toml"
    if comm.Get_rank() == 0:
        cfg.write_text(BIPOLAR.format(solver=solver))
    comm.Barrier()
    out = str(shared_tmp_path / f"bipolar_{solver}.h5")
    assert cli_main(["run", str(cfg), "-o", out, "--log-level", "ERROR"]) == 0
    text = capsys.readouterr().out
    if comm.Get_rank() != 0:
        return
    m = re.search(r"nu_e fraction 1\.000000 -> ([0-9.]+), nubar_e fraction 1\.000000 -> ([0-9.]+)",
                  text)
    assert m, text
    assert abs(float(m.group(1)) - float(m.group(2))) < 1e-6   # pairs convert together
    drift = re.search(r"Pehlivan invariants: max drift ([0-9.e+-]+)", text)
    assert drift and float(drift.group(1)) < 1e-6, text
