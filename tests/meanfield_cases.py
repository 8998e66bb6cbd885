"""Small models and helpers shared by the mean-field test modules (not a test file)."""
from __future__ import annotations

import numpy as np

from nmbhpc.physics.model import Mode, Model
from nmbhpc.physics.schedule import MuSchedule
from nmbhpc.settings import MeanFieldSettings, OutputSettings, RunConfig


def config(model, times, solver="meanfield", pair=False, **mf):
    return RunConfig(model=model, output=OutputSettings(times=np.asarray(times, dtype=float),
                                                        pair_correlations=pair),
                     solver=solver, meanfield=MeanFieldSettings(**mf))


def run(cls, cfg, comm):
    """All records of solver class ``cls`` on ``comm`` (collective)."""
    solver = cls(cfg, comm)
    return solver, list(solver.records())


def pol(records):
    return np.array([r.polarization for r in records])


def random_model(m, seed, mu=3.0, theta=0.2, max_n=3, single_angle=False):
    """m modes with random directions, polarisations, omegas and n in 1..max_n."""
    rng = np.random.default_rng(seed)
    d = rng.normal(size=(m, 3))
    d /= np.linalg.norm(d, axis=1)[:, None]
    p = rng.normal(size=(m, 3))
    p /= np.linalg.norm(p, axis=1)[:, None]
    modes = tuple(Mode(n=int(rng.integers(1, max_n + 1)), omega=float(rng.normal()),
                       direction=tuple(d[i]), polarization=tuple(p[i])) for i in range(m))
    return Model(modes=modes, theta=theta, mu=MuSchedule(mu0=mu), single_angle=single_angle)


def bipolar(n_each, w=-0.5, mu=4.0, theta=0.0, c=1.0):
    """Two-beam model: nu_e beam (omega = w, P = +z) and nu-bar_e beam (-w, P = -z)."""
    modes = (Mode(n=n_each, omega=w, polarization=(0.0, 0.0, 1.0)),
             Mode(n=n_each, omega=-w, polarization=(0.0, 0.0, -1.0)))
    return Model(modes=modes, theta=theta, mu=MuSchedule(mu0=mu), single_angle=True,
                 single_angle_factor=c)
