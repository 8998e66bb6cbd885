"""The 2D and 3D periodic box (``kinetics.grid.shape``): a DMDA of dimension 2/3.

Checked against: the 1D solver (a field that does not depend on the transverse
axis must evolve exactly as the 1D one); the dispersion relation at an oblique
wave vector (computed independently of the PDE solver, no spatial
discretisation); the exact conservation of ELN and XLN without mixing; a
one-rank run (1, 2 and 3 ranks give the same field); an uninterrupted run
(checkpoint/resume and restart from a snapshot).
"""
from __future__ import annotations

import numpy as np
import pytest
from mpi4py import MPI

from kinetics_cases import growth_slope
from nmbhpc.runtime.stack import petsc_comm_scope
from nmbhpc.config import ConfigError
from nmbhpc.kinetics import dispersion
from nmbhpc.kinetics.config import load_kinetics_text
from nmbhpc.kinetics.output import read_kinetics
from nmbhpc.kinetics.run import run_kinetics
from nmbhpc.kinetics.settings import (GridSettings, KineticSettings, NumericsSettings,
                                      PerturbationSettings, PhysicsSettings, SpeciesInit,
                                      TimeSettings)
from nmbhpc.kinetics.solver import KineticSolver
from nmbhpc.runtime.stack import import_h5py

# every RHS term (vacuum, matter, self-interaction with transverse fluxes, emission/absorption,
# scattering), a non-axisymmetric nubar, fixed steps
CONFIG = """solver = "kinetics"
[kinetics.grid]
{box}
n_dir = 3
n_phi = 4
[kinetics.physics]
omega = [0.2, -0.4]
theta = 0.1
lambda = 0.3
mu = 1.5
[kinetics.collisions]
gamma_nu = [0.3, 0.0]
equilibrium_nu = [1.5, 0.0]
scattering = 0.02
[kinetics.nu]
n_e = 1.0
[kinetics.nubar]
n_e = 0.8
shape = "linear"
parameter = 0.9
axis = [0.6, 0.0, 0.8]
[kinetics.perturbation]
kind = "{kind}"
amplitude = 1e-3
mode = {mode}
seed = 5
[kinetics.time]
t_end = {t_end}
output_interval = 0.25
dt = 0.05
snapshot_times = [0.5, 1.0]
"""
BOX_1D = "nx = 14\nlength = 7.0"
BOX_2D = "shape = [12, 1, 14]\nlengths = [5.0, 1.0, 7.0]"
BOX_3D = "shape = [6, 6, 9]\nlengths = [4.0, 3.0, 6.0]"


def _config(box=BOX_2D, kind="random", mode="[1, 0, -1]", t_end=1.0) -> str:
    return CONFIG.format(box=box, kind=kind, mode=mode, t_end=t_end)


def test_transverse_invariant_2d_and_3d_runs_equal_the_1d_run(comm):
    """Initial data independent of x (and y): the 2D/3D field equals the 1D field in every
    column, to round-off (the transverse derivative of a uniform field vanishes)."""
    one = KineticSolver(load_kinetics_text(_config(BOX_1D, "mode", "-1")), comm)
    one.run()
    ref = one.gather_field()
    one.destroy()
    fields = {}
    for box in ("shape = [6, 1, 14]\nlengths = [5.0, 1.0, 7.0]",
                "shape = [6, 6, 14]\nlengths = [5.0, 2.0, 7.0]"):
        solver = KineticSolver(load_kinetics_text(_config(box, "mode", "[0, 0, -1]")), comm)
        solver.run()
        fields[box] = solver.gather_field()
        solver.destroy()
    if comm.Get_rank() == 0:
        assert np.abs(ref[..., 1:3]).max() > 1e-3            # the mode is there and z-dependent
        two, three = fields.values()
        assert two.shape == (14, 6) + ref.shape[1:] and three.shape == (14, 6, 6) + ref.shape[1:]
        assert np.abs(two - ref[:, None]).max() < 1e-13
        assert np.abs(three - ref[:, None, None]).max() < 1e-13


def test_upwind5_and_weno5_agree_on_a_resolved_oblique_mode(comm):
    """The two schemes' 2D paths (upwind5: copies of the direction groups; weno5: the in-place
    kernel) agree on a smooth oblique mode (12 x 14 cells per wavelength) to truncation error,
    and tightly enough that stencils on the wrong side would fail."""
    out = {}
    for scheme in ("weno5", "upwind5"):
        text = _config(kind="mode", t_end=0.5) + f'[kinetics.numerics]\nadvection = "{scheme}"\n'
        solver = KineticSolver(load_kinetics_text(text), comm)
        solver.run()
        out[scheme] = solver.gather_field()
        solver.destroy()
    if comm.Get_rank() == 0:
        start = KineticSolver(load_kinetics_text(_config(kind="mode", t_end=0.5)), MPI.COMM_SELF)
        moved = np.abs(out["weno5"][..., 1:3] - start.gather_field()[..., 1:3]).max()
        start.destroy()
        diff = np.abs(out["weno5"][..., 1:3] - out["upwind5"][..., 1:3]).max()
        # measured 8e-10 relative; the upwind path with downwind stencils gives 2.5e-5
        assert diff < 1e-7 * moved, (diff, moved)


def _oblique(k_xz, mode, t_end=1.0, seed_amplitude=1e-12) -> KineticSettings:
    """nu_e flux along z, nubar_e flux along x (a test set-up of ours, not a published one);
    an x-z box of one wavelength of k = (k_x, 0, k_z) along each axis, 16 x 16 cells."""
    lengths = tuple(2 * np.pi / abs(k) for k in k_xz)
    return KineticSettings(
        grid=GridSettings(nx=16, length=lengths[1], n_dir=4, n_phi=4, transverse=(16, 1),
                          transverse_length=(lengths[0], 1.0)),
        physics=PhysicsSettings(omega=(0.0,), mu=1.0),
        nu=SpeciesInit(n_e=1.0, shape="linear", parameter=1.0),
        nubar=SpeciesInit(n_e=1.0, shape="linear", parameter=1.0, axis=(1.0, 0.0, 0.0)),
        perturbation=PerturbationSettings(kind="mode", amplitude=seed_amplitude, mode=mode, seed=3),
        time=TimeSettings(t_end=t_end, output_interval=t_end / 40),
        numerics=NumericsSettings(limiter="none"))


def test_oblique_mode_grows_at_the_dispersion_rate(comm):
    """A 2D FFI run seeded with the single Fourier mode k = (0.5, 0, -0.5) grows at
    max Re eig M(k) of the dispersion module (2%); k along z with the same |k| or the
    mirrored oblique k grow at clearly different rates, so the direction of k matters."""
    k = np.array([0.5, 0.0, -0.5])
    s = _oblique((k[0], k[2]), (1, 0, -1))
    assert np.allclose(s.perturbation.wave_vector(s.grid), k)
    gamma = dispersion.growth_rate(s, k)
    assert gamma > 0.3
    along_z = dispersion.growth_rate(s, (0.0, 0.0, -np.linalg.norm(k)))
    mirrored = dispersion.growth_rate(s, (-k[0], 0.0, k[2]))
    assert abs(along_z / gamma - 1) > 0.1 and abs(mirrored / gamma - 1) > 0.1, (along_z, mirrored)
    seed = 1e-12
    solver = KineticSolver(_oblique((k[0], k[2]), (1, 0, -1), np.log(1e5) / gamma, seed), comm)
    recs = solver.run()
    solver.destroy()
    measured = growth_slope([r.time for r in recs], [r.offdiag_amplitude.sum() for r in recs],
                            1e3 * seed, 1e5 * seed)
    assert measured == pytest.approx(gamma, rel=0.02), (measured, gamma)


def test_collisionless_2d_box_conserves_eln_and_xln(comm):
    """The oblique fast instability into its nonlinear phase (no mixing, no collisions,
    limiter off): ELN and XLN are each conserved to round-off (flux form on a box
    periodic in both directions) while a large part of nu_e converts."""
    k = (0.5, -0.5)
    solver = KineticSolver(_oblique(k, (1, 0, -1), t_end=20.0, seed_amplitude=1e-3), comm)
    recs = solver.run()
    solver.destroy()
    ln = np.array([r.lepton_number for r in recs])          # densities are O(1)
    assert np.abs(ln - ln[0]).max() < 1e-13
    nue = np.array([r.number_density[0, 0] for r in recs])
    assert nue.min() < 0.9 * nue[0], nue.min()   # flavor did change: the check is not vacuous


@pytest.mark.parametrize("box", [BOX_2D, BOX_3D, "shape = [12, 1, 1]\nlengths = [5.0, 1.0, 1.0]"],
                         ids=["2d", "3d", "1d-along-x"])
def test_identical_fields_on_1_2_3_ranks(comm, box):
    """Sub-communicators of 1..min(3, size) ranks run the same config; rank 0 compares."""
    settings = load_kinetics_text(_config(box, t_end=0.5))
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
        assert ref.shape[:-4] == settings.grid.spatial_shape
        assert np.abs(ref[..., 1:3]).max() > 1e-4  # the seed is there
        ok = all(np.allclose(f, ref, rtol=0, atol=1e-13) for f in fields.values())
    assert comm.allreduce(ok, op=MPI.LAND)


class _StopAt:
    """A RunControl stand-in: checkpoint and stop after output ``index``."""

    def __init__(self, index: int):
        self.index = index

    def decide(self, i):
        return i == self.index, i == self.index


def _snapshots(path):
    with import_h5py().File(path, "r") as f:
        n = int(f["kinetics/snapshots"].attrs["n_snapshots"])
        return f["kinetics/snapshots/time"][:n], f["kinetics/snapshots/field"][:n]


def test_2d_resume_and_snapshot_restart_equal_the_uninterrupted_run(comm, shared_tmp_path):
    text = _config()
    ref, out = str(shared_tmp_path / "ref2d.h5"), str(shared_tmp_path / "out2d.h5")
    run_kinetics(text, ref, comm)
    assert run_kinetics(text, out, comm, control=_StopAt(2)).status != 0   # checkpoint at t = 0.5
    assert run_kinetics(text, out, comm, resume=True).status == 0
    comm.Barrier()
    full, done = read_kinetics(ref), read_kinetics(out)
    t_full, snap_full = _snapshots(ref)
    t_done, snap_done = _snapshots(out)
    assert snap_full.shape == (2, 14, 12, 2, 2, 12, 4)          # (S, z, x, species, E, dir, 4)
    assert full.grid["axes"] == "z,x" and list(full.grid["shape"]) == [12, 1, 14]
    for name in ("time", "polarization", "lepton_number", "offdiag_amplitude", "trace_margin"):
        assert np.array_equal(getattr(done, name), getattr(full, name)), name
    assert np.array_equal(t_done, t_full) and np.array_equal(snap_done, snap_full)
    # a new run from the t = 0.5 snapshot of a shorter run: the same t = 1 field
    half = str(shared_tmp_path / "half2d.h5")
    run_kinetics(text.replace("t_end = 1.0", "t_end = 0.5"), half, comm)
    cont = str(shared_tmp_path / "cont2d.h5")
    run_kinetics(text, cont, comm, restart_from=half)
    comm.Barrier()
    t_cont, snap_cont = _snapshots(cont)
    assert t_cont[-1] == 1.0 and np.abs(snap_cont[-1] - snap_full[-1]).max() < 1e-13


def test_3d_checkpoint_resumes_on_another_rank_count(comm, shared_tmp_path):
    """Checkpoints hold the cells in natural order: stopped on all ranks, resumed on one rank
    fewer (serially: the same one), the run ends with the uninterrupted snapshots bit for bit."""
    text = _config("shape = [12, 6, 9]\nlengths = [5.0, 3.0, 7.0]", t_end=0.75)
    ref, out = str(shared_tmp_path / "ref3d.h5"), str(shared_tmp_path / "out3d.h5")
    run_kinetics(text, ref, comm)
    assert run_kinetics(text, out, comm, control=_StopAt(1)).status != 0   # checkpoint at t = 0.25
    size = max(1, comm.Get_size() - 1)
    sub = comm.Split(0 if comm.Get_rank() < size else MPI.UNDEFINED, comm.Get_rank())
    if sub != MPI.COMM_NULL:
        with petsc_comm_scope(sub):
            assert run_kinetics(text, out, sub, resume=True).status == 0
        sub.Free()
    comm.Barrier()
    full, done = read_kinetics(ref), read_kinetics(out)
    assert done.status == "completed" and done.n_records == full.n_records == 4
    assert np.abs(done.polarization - full.polarization).max() < 1e-12   # MPI sums reordered
    assert np.array_equal(_snapshots(out)[1], _snapshots(ref)[1])


def test_2d_file_is_described_and_analysed(comm, shared_tmp_path):
    from nmbhpc.kinetics.analysis import describe, summary_row

    path = str(shared_tmp_path / "info2d.h5")
    run_kinetics(_config(BOX_3D, t_end=0.25), path, comm)
    comm.Barrier()
    data = read_kinetics(path)
    text = describe(data)
    assert "6 x 6 x 9" in text and summary_row(data)["shape"] == "6x6x9"
    assert np.allclose(data.grid["centres_y"], (np.arange(6) + 0.5) * 0.5)


@pytest.mark.parametrize("edit, key", [
    ("shape = [12, 1, 14]", "kinetics.grid.shape[2]"),        # 4 cells: neither 1 nor >= 6
    ("shape = [12, 1, 14]\nnx = 14", "kinetics.grid.shape"),  # both forms
    ("n_phi = 4", "kinetics.grid.n_phi"),                     # x resolved, axisymmetric grid
    ("lengths = [5.0, 1.0, 7.0]", "kinetics.grid.lengths[1]"),
    ("mode = [1, 0, -1]", "kinetics.perturbation.mode"),      # m_y on an unresolved axis
])
def test_bad_box_config_names_the_key(edit, key):
    bad = {"shape = [12, 1, 14]": "shape = [12, 1, 4]",
           "shape = [12, 1, 14]\nnx = 14": "shape = [12, 1, 14]\nnx = 14",
           "n_phi = 4": "n_phi = 1",
           "lengths = [5.0, 1.0, 7.0]": "lengths = [5.0, -1.0, 7.0]",
           "mode = [1, 0, -1]": "mode = [1, 2, -1]"}
    text = _config(kind="mode")
    if edit == "shape = [12, 1, 14]\nnx = 14":
        text = text.replace("shape = [12, 1, 14]", bad[edit])
    else:
        text = text.replace(edit, bad[edit])
    with pytest.raises(ConfigError) as info:
        load_kinetics_text(text)
    assert info.value.key == key, str(info.value)


def test_y_axis_needs_three_azimuths_and_too_many_ranks_is_refused(comm):
    with pytest.raises(ConfigError) as info:
        load_kinetics_text(_config(BOX_3D).replace("n_phi = 4", "n_phi = 2"))
    assert info.value.key == "kinetics.grid.n_phi" and "v_y = 0" in str(info.value)
    tiny = load_kinetics_text(_config("shape = [6, 1, 6]"))
    if comm.Get_size() == 3:   # 6 x 6 cells cannot give 3 ranks 3 cells along an axis each
        with pytest.raises(ValueError, match="kinetics.grid.shape"):
            KineticSolver(tiny, comm)
    else:
        KineticSolver(tiny, comm).destroy()
