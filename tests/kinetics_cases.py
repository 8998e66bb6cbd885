"""Small kinetic set-ups and helpers shared by tests/test_kinetics_*.py."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from nmbhpc.kinetics.settings import (CollisionSettings, GridSettings, KineticSettings,
                                      PerturbationSettings, PhysicsSettings, SpeciesInit,
                                      TimeSettings)

NO_SEED = PerturbationSettings(kind="none", amplitude=0.0)


def homogeneous(*, omega=(1.0,), theta=0.0, lam=0.0, mu=0.0, n_dir=2, nu=None, nubar=None,
                t_end=1.0, dt_out=0.1, dt=None, collisions=None, nx=12) -> KineticSettings:
    """A spatially homogeneous box (few cells, no seed): reduces to ODEs per direction."""
    return KineticSettings(
        grid=GridSettings(nx=nx, length=1000.0, n_dir=n_dir),  # long cells: dt not CFL-bound
        physics=PhysicsSettings(omega=tuple(omega), weights=tuple(1.0 / len(omega) for _ in omega),
                                theta=theta, lam=lam, mu=mu,
                                collisions=collisions or CollisionSettings()),
        nu=nu or SpeciesInit(n_e=1.0), nubar=nubar or SpeciesInit(n_e=1.0),
        perturbation=NO_SEED, time=TimeSettings(t_end=t_end, output_interval=dt_out, dt=dt))


def rotate(p: np.ndarray, axis: np.ndarray, angle: float) -> np.ndarray:
    """Rodrigues rotation of vector p about ``axis`` by ``angle`` (right-handed)."""
    n = axis / np.linalg.norm(axis)
    return (p * np.cos(angle) + np.cross(n, p) * np.sin(angle)
            + n * np.dot(n, p) * (1.0 - np.cos(angle)))


def growth_slope(times, amp, lo: float, hi: float) -> float:
    """Least-squares slope of log(amp) over the samples with lo <= amp <= hi."""
    times, amp = np.asarray(times), np.asarray(amp)
    sel = (amp >= lo) & (amp <= hi)
    assert sel.sum() >= 10, f"only {sel.sum()} samples in the fit window [{lo:g}, {hi:g}]"
    return float(np.polyfit(times[sel], np.log(amp[sel]), 1)[0])


def with_time(s: KineticSettings, **kw) -> KineticSettings:
    return replace(s, time=replace(s.time, **kw))


def fiducial_offdiagonal(comm, advection: str, amplitude: float, t_end: float):
    """Collective. (Px, Py) of the whole Fiducial box (nx = 64, n_dir = 8, 50/mu, white-noise
    seed of ``amplitude``, no limiter) at ``t_end``, on every rank (also used by
    benchmarks/kinetics_seed.py)."""
    from nmbhpc.kinetics import presets
    from nmbhpc.kinetics.settings import NumericsSettings
    from nmbhpc.kinetics.solver import KineticSolver
    s = presets.richers2022_fiducial(nx=64, n_dir=8, length=50.0, t_end=t_end,
                                     output_interval=t_end,
                                     perturbation=PerturbationSettings(kind="random",
                                                                       amplitude=amplitude, seed=1))
    solver = KineticSolver(replace(s, numerics=NumericsSettings(advection, "none")), comm)
    solver.run()
    full = solver.gather_field()
    solver.destroy()
    return comm.bcast(None if full is None else full[..., 1:3])
