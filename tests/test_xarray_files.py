"""Every file kind is self-describing: xarray (h5netcdf engine) sees named dimensions
with coordinates and units, h5dump shows the dimension scales.

Collective: each file is written by every rank (parallel HDF5), then read serially.
"""
from __future__ import annotations

import shutil
import subprocess

import h5py
import numpy as np
import pytest
import xarray as xr

from nmbhpc import load_config
from nmbhpc.pipeline.driver import run

SPIN = """solver = "{solver}"
[model]
theta = 0.161
mu = 5.0
[model.generator]
kind = "single_angle"
n_modes = 4
n_per_mode = 1
omega0 = 1.0
states = "split"
[output]
t_final = 0.5
n_out = 4
pair_correlations = true
save_state = true
"""

KINETICS = """[kinetics.grid]
nx = 12
length = 10.0
n_dir = 2
[kinetics.physics]
omega = [0.0]
mu = 1.0
omega0_per_second = 9.418e10
[kinetics.nu]
n_e = 1.0
[kinetics.nubar]
n_e = 0.5
[kinetics.time]
t_end = 1.0
output_interval = 0.5
snapshot_times = [0.5, 1.0]
"""

#: per file kind and group: dimensions every such file has
EXPECTED = {
    "spin": {None: {"time", "planned_times"},
             "modes": {"time", "mode", "component", "flavor_row", "flavor_col"},
             "monitors": {"time"}, "correlations": {"time", "mode", "mode_q"}},
    "kinetics": {None: {"time"},
                 "kinetics": {"time", "species", "energy", "dir", "p_component", "flavor",
                              "lepton", "limiter_quantity"},
                 "kinetics/snapshots": {"time", "z_cell", "species", "energy", "dir",
                                        "p_component"},
                 "kinetics/grid": {"dir", "component", "energy", "z_cell"}},
}
SOLVERS = ("manybody", "meanfield", "cumulant", "twa", "kinetics")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """One file per solver (collective: every rank writes each)."""
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    base = tmp_path_factory.mktemp("xr") if comm.Get_rank() == 0 else None
    base = comm.bcast(str(base) if base else None)
    out = {}
    for solver in SOLVERS:
        text = KINETICS if solver == "kinetics" else SPIN.format(solver=solver)
        path = f"{base}/{solver}.h5"
        assert run(load_config(text), path, comm).status == 0
        out[solver] = path
    comm.Barrier()
    return out


def groups_of(path) -> list:
    found = [None]
    with h5py.File(path, "r") as f:
        f.visititems(lambda n, o: found.append(n) if isinstance(o, h5py.Group) else None)
    return found


@pytest.mark.parametrize("solver", SOLVERS)
def test_every_group_opens_with_named_dimensions_units_and_time(files, solver):
    path = files[solver]
    kind = "kinetics" if solver == "kinetics" else "spin"
    with h5py.File(path, "r") as f:
        n_records = int(f.attrs["n_records"])
    seen = set()
    for group in groups_of(path):
        # phony_dims=None: h5netcdf raises on any axis without a dimension scale
        with xr.open_dataset(path, engine="h5netcdf", group=group) as ds:
            seen.add(group)
            assert not [d for d in ds.dims if "phony" in str(d)], (group, ds.dims)
            assert EXPECTED[kind].get(group, set()) <= set(ds.dims), (group, set(ds.dims))
            for name, var in ds.variables.items():
                assert "units" in var.attrs and "description" in var.attrs, (group, name)
                if name not in ds.coords:
                    assert var.attrs["description"], (group, name)
                if "time" in var.dims and name != "time":
                    assert "time" in ds.coords, (group, name)
            if "time" in ds.coords and group in (None, "modes", "monitors", "kinetics"):
                assert ds["time"].attrs["units"] == "1/omega0"
                assert ds.sizes["time"] == n_records
    assert set(EXPECTED[kind]) <= seen


def test_coordinates_label_the_axes(files):
    with xr.open_dataset(files["meanfield"], engine="h5netcdf", group="modes") as ds:
        assert [c.decode() for c in ds["component"].values] == ["x", "y", "z"]
        assert list(ds["mode"].values) == [0, 1, 2, 3]
        assert ds["polarization"].dims == ("time", "mode", "component")
        assert ds["polarization"].attrs["units"] == "1"
        np.testing.assert_array_equal(ds["time"].values, np.linspace(0.0, 0.5, 4))
        pz = ds["polarization"].sel(component=b"z").values
        np.testing.assert_allclose(ds["nue_fraction"].values, (1 + pz) / 2, atol=1e-12)
    with xr.open_dataset(files["manybody"], engine="h5netcdf", group="modes") as ds:
        assert ds["omega"].attrs["units"] == "omega0"
        assert ds["rho1"].dims == ("time", "mode", "flavor_row", "flavor_col")
    with xr.open_dataset(files["twa"], engine="h5netcdf", group="state") as ds:
        assert ds["final"].dims == ("sample", "mode", "component")


def test_kinetic_file_records_the_physical_scale_of_its_config(files):
    from nmbhpc.io import describe, read_file
    from nmbhpc.plots.kinetics import physical_scale

    with h5py.File(files["kinetics"], "r") as f:  # kinetics.physics.omega0_per_second
        assert f.attrs["omega0_per_second"] == 9.418e10
        assert f.attrs["length_unit_cm"] == pytest.approx(2.99792458e10 / 9.418e10, rel=1e-12)
    scale = physical_scale(read_file(files["kinetics"]))   # the plots' axes: ns and cm
    assert scale.source == "attribute omega0_per_second" and "ns" in scale.time_label
    assert scale.time_factor == pytest.approx(1e9 / 9.418e10)
    assert "1/omega0 = 1.062e-11 s, c/omega0 = 0.3183 cm" in describe(files["kinetics"])
    with h5py.File(files["manybody"], "r") as f:  # no scale in the config: nothing guessed
        assert "omega0_per_second" not in f.attrs and "length_unit_cm" not in f.attrs
    with xr.open_dataset(files["kinetics"], engine="h5netcdf", group="kinetics/snapshots") as ds:
        assert ds["field"].dims == ("time", "z_cell", "species", "energy", "dir", "p_component")
        assert ds.sizes["time"] >= 1 and ds["time"].attrs["units"] == "1/omega0"


def test_nmbhpc_open_merges_groups(files):
    import nmbhpc

    ds = nmbhpc.open(files["kinetics"])
    assert "kinetics/polarization" in ds and "kinetics/snapshots/field" in ds
    assert ds["kinetics/snapshots/field"].dims[0] == "kinetics_snapshots_time"
    assert list(ds["species"].values) == ["nu", "nubar"]
    assert ds.attrs["format"] == "nmbhpc-kinetics" and ds.attrs["kinetics/nx"] == 12
    ds.close()
    ds = nmbhpc.open(files["cumulant"])
    assert ds["modes/polarization"].dims == ("time", "mode", "component")
    assert ds["correlations/pair"].dims == ("time", "mode", "mode_q")
    assert ds["modes/polarization"].attrs["units"] == "1"
    ds.close()


@pytest.mark.serial
@pytest.mark.skipif(shutil.which("h5dump") is None, reason="h5dump (hdf5-tools) not installed")
def test_h5dump_shows_dimension_scales(files):
    out = subprocess.run(["h5dump", "-A", files["meanfield"]], capture_output=True, text=True,
                         check=True).stdout
    assert "DIMENSION_LIST" in out and "REFERENCE_LIST" in out and '"units"' in out
