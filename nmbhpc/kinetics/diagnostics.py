"""Domain-averaged flavor quantities of the kinetic field (one output row).

All functions take the owned cells ``p`` (n, 2, nE, n_dir, 4) and are
collective on ``comm`` (sum/min reductions); every rank gets the same values,
equal for any rank count up to the order of floating-point summation.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from mpi4py import MPI


@dataclass
class KineticRecord:
    """Domain averages at one time (occupations in units of n_ref).

    polarization[s, e, i, c]: <P_c>_x per species, energy, direction;
    number_density[s, f]: sum_e W_e sum_i w_i <rho_ff>_x;
    lepton_number: (ELN, XLN) = n_nu - n_nubar for flavors e and x;
    offdiag_amplitude[s]: sqrt(<sum_e W_e sum_i w_i |Px + i Py|^2>_x) (= 2 |rho_ex| rms);
    trace_margin: min over the domain of P0 - |P| (>= 0 for a physical state);
    limiter: cumulative totals of the positivity limiter since the run started:
    matrices limited and the sum of the overshoots |P| - P0 removed (unweighted,
    over x, species, energy, direction), and the change of the cells' lepton moment
    sum_e W_e sum_i w_i (Pz_nu - Pz_nubar) = ELN - XLN that the limiter left (summed
    over cells: all of it for ``norm``, what the margin could not restore for
    ``conservative``); all zero without a limiter (:mod:`nmbhpc.kinetics.positivity`);
    total_lepton_number: n_nu - n_nubar summed over flavors.
    """
    time: float
    polarization: np.ndarray
    number_density: np.ndarray
    lepton_number: np.ndarray
    offdiag_amplitude: np.ndarray
    trace_margin: float
    limiter: np.ndarray = field(default_factory=lambda: np.zeros(3))

    @property
    def total_lepton_number(self) -> float:
        return float(self.lepton_number.sum())


def record(time: float, p: np.ndarray, nx: int, w: np.ndarray, energy_weights: np.ndarray,
           comm, limited=None) -> KineticRecord:
    """Collective. Reduce the owned cells ``p`` into a KineticRecord.

    ``limited``: this rank's limiter totals (3 numbers), summed over ranks.
    """
    local_pol = p.sum(axis=0)
    local_off = np.einsum("e,i,xsei->s", energy_weights, w, p[..., 1] ** 2 + p[..., 2] ** 2)
    lim = np.zeros(3) if limited is None else np.asarray(limited, dtype=float)
    buf = np.concatenate([local_pol.ravel(), local_off, lim])
    comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
    pol = buf[:local_pol.size].reshape(local_pol.shape) / nx
    off = np.sqrt(buf[local_pol.size:-3] / nx)
    ang = np.einsum("e,i,seic->sc", energy_weights, w, pol)
    ree, rxx = 0.5 * (ang[:, 0] + ang[:, 3]), 0.5 * (ang[:, 0] - ang[:, 3])
    dens = np.stack([ree, rxx], axis=1)
    margin = np.inf
    if p.shape[0]:
        margin = float((p[..., 0] - np.sqrt((p[..., 1:] ** 2).sum(axis=-1))).min())
    margin = comm.allreduce(margin, op=MPI.MIN)
    return KineticRecord(time=time, polarization=pol, number_density=dens,
                         lepton_number=dens[0] - dens[1], offdiag_amplitude=off,
                         trace_margin=margin, limiter=buf[-3:].copy())
