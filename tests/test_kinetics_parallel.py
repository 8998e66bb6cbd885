"""Rank-count independence, HDF5 output and restart, config validation, CLI."""
from __future__ import annotations

import numpy as np
import pytest
from mpi4py import MPI

from nmbhpc.runtime.stack import petsc_comm_scope
from nmbhpc.config import ConfigError
from nmbhpc.kinetics.config import load_kinetics_text
from nmbhpc.kinetics.run import run_kinetics
from nmbhpc.kinetics.solver import KineticSolver
from nmbhpc.runtime.stack import import_h5py

CONFIG = """
[kinetics.grid]
nx = 18
length = 12.0
n_dir = 4
[kinetics.physics]
omega = [0.2, -0.4]
theta = 0.1
lambda = 0.3
mu = 1.5
[kinetics.collisions]
gamma_nu = [0.05, 0.0]
equilibrium_nu = [1.0, 0.0]
scattering = 0.02
[kinetics.nu]
n_e = 1.0
[kinetics.nubar]
n_e = 0.8
shape = "linear"
parameter = 0.9
[kinetics.perturbation]
kind = "random"
amplitude = 1e-3
seed = 5
[kinetics.time]
t_end = 4.0
output_interval = 0.5
phase_step = 0.3
snapshot_times = [2.0, 4.0]
"""


def test_identical_results_on_1_2_3_ranks(comm):
    """Each sub-communicator of size 1..min(3, size) runs the same config; rank 0 compares."""
    settings = load_kinetics_text(CONFIG)
    rank, fields = comm.Get_rank(), {}
    for size in range(1, min(3, comm.Get_size()) + 1):
        sub = comm.Split(0 if rank < size else MPI.UNDEFINED, rank)
        if sub != MPI.COMM_NULL:
            with petsc_comm_scope(sub):
                solver = KineticSolver(settings, sub)
                solver.run()
                fields[size] = solver.gather_field()
                solver.destroy()
            sub.Free()
    ok = True
    if rank == 0:
        ref = fields[1]
        assert np.abs(ref[..., 1:3]).max() > 1e-3  # the run did something x-dependent
        ok = all(np.allclose(f, ref, rtol=0, atol=1e-13) for f in fields.values())
    assert comm.allreduce(ok, op=MPI.LAND)


def test_output_file_and_restart_continue_the_run(comm, shared_tmp_path):
    h5py = import_h5py()
    full = str(shared_tmp_path / "full.h5")
    recs = run_kinetics(CONFIG, full, comm).records
    with h5py.File(full, "r", driver="mpio", comm=comm) as f:
        assert f.attrs["solver"] == "kinetics" and f.attrs["status"] == "completed"
        assert f.attrs["mpi_size"] == comm.Get_size() and "[kinetics.grid]" in f.attrs["config_toml"]
        assert f.attrs["n_records"] == len(recs) == 9
        assert np.allclose(f["time"][:], np.arange(9) * 0.5)
        assert f["kinetics/lepton_number"].shape == (9, 2)
        assert f["kinetics/polarization"].shape == (9, 2, 2, 4, 4)
        assert np.allclose(f["kinetics/snapshots/time"][:], [2.0, 4.0])
        final = f["kinetics/snapshots/field"][1]
        assert f["kinetics/snapshots/field"].shape == (2, 18, 2, 2, 4, 4)
    # restart from a file whose last snapshot is t = 2: must reproduce the t = 4 field
    half = str(shared_tmp_path / "half.h5")
    run_kinetics(CONFIG.replace("t_end = 4.0", "t_end = 2.0").replace("[2.0, 4.0]", "[2.0]"), half, comm)
    cont = str(shared_tmp_path / "cont.h5")
    run_kinetics(CONFIG, cont, comm, restart_from=half)
    with h5py.File(cont, "r", driver="mpio", comm=comm) as f:
        assert np.allclose(f["time"][:], [2.0, 2.5, 3.0, 3.5, 4.0])
        assert np.allclose(f["kinetics/snapshots/field"][-1], final, rtol=0, atol=1e-13)
    with pytest.raises(FileExistsError):
        run_kinetics(CONFIG, full, comm)


@pytest.mark.parametrize("edit, key", [
    ("nx = 18", "kinetics.grid.nx"),
    ("mu = 1.5", "kinetics.physics.mu"),
    ('shape = "linear"', "kinetics.nubar.shape"),
    ("parameter = 0.9", "kinetics.nubar.parameter"),
    ("gamma_nu = [0.05, 0.0]", "kinetics.collisions.gamma_nu[0]"),
])
def test_config_errors_name_the_key(edit, key):
    bad = {"nx = 18": "nx = 2", "mu = 1.5": 'mu = "big"', 'shape = "linear"': 'shape = "cubic"',
           "parameter = 0.9": "parameter = 1.5", "gamma_nu = [0.05, 0.0]": "gamma_nu = [-1.0, 0.0]"}
    with pytest.raises(ConfigError) as info:
        load_kinetics_text(CONFIG.replace(edit, bad[edit]))
    assert info.value.key == key


def test_unknown_key_and_missing_section():
    with pytest.raises(ConfigError) as info:
        load_kinetics_text(CONFIG.replace("n_dir = 4", "n_dir = 4\nndirs = 3"))
    assert info.value.key == "kinetics.grid.ndirs"
    with pytest.raises(ConfigError) as info:
        load_kinetics_text("[model]\nx = 1\n")
    assert info.value.key == "kinetics"


def test_cli_kinetics_command(comm, shared_tmp_path, capsys):
    from nmbhpc.cli import main

    cfg = shared_tmp_path / "k.toml"
    if comm.Get_rank() == 0:
        cfg.write_text(CONFIG.replace("t_end = 4.0", "t_end = 1.0").replace("[2.0, 4.0]", "[1.0]"))
    comm.Barrier()
    out = str(shared_tmp_path / "cli.h5")
    assert main(["kinetics", str(cfg), "-o", out, "--log-level", "WARNING"]) == 0
    if comm.Get_rank() == 0:
        assert "wrote" in capsys.readouterr().out
    assert main(["kinetics", str(cfg), "-o", out, "--log-level", "WARNING"]) == 2  # exists, no --force


def test_richers2022_example_config_is_the_preset():
    """examples/kinetics_richers2022_fiducial.toml holds exactly nmbhpc.kinetics.presets'
    Fiducial set-up (the preset is what the growth-rate test simulates)."""
    from pathlib import Path

    from nmbhpc.kinetics import presets
    from nmbhpc.kinetics.config import load_kinetics

    path = Path(__file__).resolve().parent.parent / "examples" / "kinetics_richers2022_fiducial.toml"
    s = load_kinetics(str(path))
    p = presets.richers2022_fiducial()
    assert (s.grid, s.physics, s.nu, s.nubar, s.perturbation) == (p.grid, p.physics, p.nu, p.nubar,
                                                                  p.perturbation)
    assert s.time.t_end == pytest.approx(p.time.t_end) and s.time.output_interval == p.time.output_interval
    assert presets.MU_PER_CM == pytest.approx(np.pi, rel=1e-5)  # n was chosen so that mu = pi / cm


def test_perturbation_mode_takes_any_integer():
    """Negative modes seed k < 0 (the growing side of the Fiducial problem); non-integers are errors."""
    text = CONFIG.replace('kind = "random"', 'kind = "mode"\nmode = -2')
    assert load_kinetics_text(text).perturbation.mode == -2
    with pytest.raises(ConfigError) as info:
        load_kinetics_text(text.replace("mode = -2", "mode = 1.5"))
    assert info.value.key == "kinetics.perturbation.mode"


def test_checkpoint_holds_the_field_in_global_x_order(comm, shared_tmp_path):
    """The checkpoint written collectively by x slabs is the gathered field, cell by cell."""
    from nmbhpc.pipeline.driver import Run, RunOptions

    class StopAfterOutput2:
        def decide(self, i):
            return i == 2, i == 2

    path = str(shared_tmp_path / "ck.h5")
    run = Run.open(load_kinetics_text(CONFIG), RunOptions(output=path), comm)
    _, status = run.execute(StopAfterOutput2())
    field = run.solver.gather_field()
    run.close(status)
    run.destroy()
    assert status == 75
    ok = True
    if comm.Get_rank() == 0:
        with import_h5py().File(path, "r") as f:
            g = f["checkpoint"]
            slot = g[f"slot{int(g.attrs['current'])}"]
            ok = (slot.attrs["time"] == 1.0 and slot.attrs["n_records"] == 3
                  and np.array_equal(slot[...], field) and np.abs(field[..., 1:3]).max() > 0)
    assert comm.bcast(ok)
