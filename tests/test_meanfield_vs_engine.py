"""Mean field against the exact many-body engine where they must agree exactly.

A single mode of any spin has no pair interaction, and at mu = 0 no mode
interacts: the Heisenberg equations of <J_p> are then linear and closed, so
the classical spin vectors reproduce the exact one-body observables.
"""
import numpy as np
import pytest

from nmbhpc.physics.model import Mode, Model
from nmbhpc.physics.schedule import MuSchedule
from nmbhpc.settings import ManyBodySettings, MeanFieldSettings, OutputSettings, RunConfig
from nmbhpc.solvers import solver_class


def _config(modes, theta, mu, single_angle=False):
    return RunConfig(
        model=Model(modes=tuple(modes), theta=theta, mu=MuSchedule(kind="constant", mu0=mu),
                    single_angle=single_angle),
        output=OutputSettings(times=np.linspace(0.0, 3.0, 7)),
        manybody=ManyBodySettings(mfn_tol=1e-12),
        meanfield=MeanFieldSettings(rtol=1e-12, atol=1e-14),
    )


def _polarizations(name, config, comm):
    solver = solver_class(name)(config, comm)
    return np.array([r.polarization for r in solver.records()])


CASES = {
    "single-spin-5/2": ([Mode(5, 1.3, polarization=(0.6, 0.0, 0.8))], 0.35, 4.0, True),
    "single-spin-4-antinu": ([Mode(8, -0.7, polarization=(0.0, 0.6, -0.8))], 0.1, 2.0, True),
    "mu0-multi-angle": ([Mode(1, 1.0, (0.0, 0.0, 1.0), (0.0, 0.0, 1.0)),
                         Mode(2, -2.0, (1.0, 0.0, 0.0), (0.0, 0.0, -1.0)),
                         Mode(3, 0.5, (0.0, 1.0, 0.0), (0.8, 0.0, 0.6))], 0.2, 0.0, False),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_meanfield_equals_exact_engine(case, comm):
    modes, theta, mu, single = CASES[case]
    cfg = _config(modes, theta, mu, single)
    exact = _polarizations("manybody", cfg, comm)
    classical = _polarizations("meanfield", cfg, comm)
    err = comm.allreduce(float(np.abs(exact - classical).max()), op=_max())
    moved = float(np.abs(exact[-1] - exact[0]).max())
    assert moved > 0.1, "the test case must actually evolve"
    assert err < 1e-8, f"{case}: max |P_exact - P_mf| = {err:.2e}"


def _max():
    from mpi4py import MPI

    return MPI.MAX
