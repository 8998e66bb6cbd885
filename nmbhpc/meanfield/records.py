"""ObservableRecord construction for the classical solvers (flavor frame)."""
from __future__ import annotations

import numpy as np

from ..physics.model import ObservableRecord


def make_record(time, polarization, energy, b_dot_j, mu, pair_correlation=None) -> ObservableRecord:
    """Record for polarisations ``P[M, 3] = <J_p>/j_p`` (norm is 1 by construction)."""
    pol = np.ascontiguousarray(polarization, dtype=np.float64)
    nue, rho1, ent = ObservableRecord.one_body_from_polarization(pol)
    return ObservableRecord(time=float(time), polarization=pol, nue_fraction=nue, rho1=rho1,
                            entropy=ent, norm=1.0, energy=float(energy), b_dot_j=float(b_dot_j),
                            mu=float(mu), pair_correlation=pair_correlation)


def mode_partition(n_modes: int, size: int, rank: int) -> slice:
    """Contiguous block of modes owned by ``rank`` (PETSc's default split)."""
    base, extra = divmod(n_modes, size)
    start = rank * base + min(rank, extra)
    return slice(start, start + base + (1 if rank < extra else 0))
