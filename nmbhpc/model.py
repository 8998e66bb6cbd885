"""The physical model shared by every solver: modes, couplings, mixing, mu(t).

Conventions (docs/conventions.md pins them; tests check them):

* Units: hbar = c = 1. Frequencies in units of the reference ``omega0`` of the
  config, times in ``1/omega0``.
* Flavor isospin: ``J^z = +1/2`` is nu_e in the *flavor* frame, and
  ``B = (sin 2theta, 0, -cos 2theta)`` in that frame.
* ``H = sum_p omega_p B.J_p + (mu/N) sum_{p<q} c_pq J_p.J_q`` with
  ``N = sum_p n_p`` the total neutrino number, ``c_pq = 1 - p_hat.q_hat``
  (multi-angle) or a constant (single-angle, 1 by default).
* Antineutrino modes use the flipped isospin doublet (docs/conventions.md);
  ``Mode.species`` says which modes they are (by default: negative omega).

The solvers work in the *computational frame* whose z axis is ``-B``
(``B.J = -J^z_comp``), so that total ``B.J`` is the conserved magnetisation of
the many-body sector. ``R = flavor_rotation(theta)`` maps computational-frame
vectors to flavor-frame vectors: ``v_flavor = R @ v_comp``. For ``theta = 0``
the two frames coincide.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .schedule import MuSchedule


@dataclass(frozen=True)
class Mode:
    """One momentum mode: ``n`` neutrinos in a permutation-symmetric state.

    Attributes
    ----------
    n : int
        Neutrino count; the mode is a spin ``j = n/2`` (``n = 1``: a qubit).
    omega : float
        Vacuum oscillation frequency in units of omega0 (negative: antineutrino-like).
    direction : tuple of 3 floats
        Unit momentum direction ``p_hat`` (only used by multi-angle couplings).
    polarization : tuple of 3 floats
        Initial polarisation ``P = <J>/j`` in the flavor frame, a unit vector
        (the initial state is the spin-coherent state along it; ``(0, 0, 1)``
        is pure nu_e, ``(0, 0, -1)`` pure nu_x; for an antineutrino mode
        ``(0, 0, -1)`` is pure nubar_e).
    species : "nu", "nubar" or None
        Neutrinos or antineutrinos (flipped isospin). ``None``: from the sign of
        omega (negative: antineutrinos). The inverted-hierarchy bipolar model
        has neutrinos at negative omega, so generators set it explicitly.
        It only labels output (flavor fractions by species); H does not use it.
    """

    n: int
    omega: float
    direction: tuple = (0.0, 0.0, 1.0)
    polarization: tuple = (0.0, 0.0, 1.0)
    species: Optional[str] = None

    @property
    def j(self) -> float:
        return 0.5 * self.n

    @property
    def is_antineutrino(self) -> bool:
        return self.species == "nubar" if self.species is not None else self.omega < 0


@dataclass(frozen=True)
class Model:
    """The flavor Hamiltonian H_MB (Eq. (1) of Johns, arXiv:2305.04916) and its initial product state.

    ``H = sum_p omega_p B.J_p + (mu/N) sum_{p<q} c_pq J_p.J_q`` with ``mu/N = 2 sqrt(2) G_F/V``
    (docs/conventions.md relates the normalisation to Eq. (1)).

    Attributes
    ----------
    modes : tuple of Mode
    theta : float
        Vacuum mixing angle (radians).
    mu : MuSchedule
        Self-interaction strength mu(t) in units of omega0 (the coupling is mu/N).
    single_angle : bool
        If true every pair couples with ``single_angle_factor`` instead of
        ``1 - p_hat.q_hat``.
    single_angle_factor : float
    name : str
        Free label (e.g. the generator that built the model).
    """

    modes: tuple
    theta: float = 0.0
    mu: MuSchedule = field(default_factory=MuSchedule)
    single_angle: bool = False
    single_angle_factor: float = 1.0
    name: str = "custom"

    # --- derived arrays (cheap; recomputed on demand) -----------------------
    @property
    def n_modes(self) -> int:
        return len(self.modes)

    @property
    def counts(self) -> np.ndarray:
        """Neutrino count per mode, int64[M]."""
        return np.array([m.n for m in self.modes], dtype=np.int64)

    @property
    def n_total(self) -> int:
        """Total neutrino number N (the coupling is mu/N)."""
        return int(self.counts.sum())

    @property
    def omegas(self) -> np.ndarray:
        """omega_p in units of omega0, float64[M]."""
        return np.array([m.omega for m in self.modes], dtype=np.float64)

    @property
    def directions(self) -> np.ndarray:
        """Unit momentum directions, float64[M, 3]."""
        return np.array([m.direction for m in self.modes], dtype=np.float64)

    @property
    def initial_polarizations(self) -> np.ndarray:
        """Initial polarisation vectors in the flavor frame, float64[M, 3]."""
        return np.array([m.polarization for m in self.modes], dtype=np.float64)

    def couplings(self) -> np.ndarray:
        """Symmetric angular coupling matrix c_pq (zero diagonal), float64[M, M].

        Multiply by ``mu(t)/N`` to get the coefficient of ``J_p.J_q`` (p < q).
        """
        m = self.n_modes
        if self.single_angle:
            c = np.full((m, m), float(self.single_angle_factor))
        else:
            d = self.directions
            c = 1.0 - d @ d.T
            c[np.abs(c) < 1e-15] = 0.0
        np.fill_diagonal(c, 0.0)
        return c

    def b_vector(self) -> np.ndarray:
        """Mass-basis vector B in the flavor frame: (sin 2theta, 0, -cos 2theta)."""
        return np.array([np.sin(2 * self.theta), 0.0, -np.cos(2 * self.theta)])

    def flavor_rotation(self) -> np.ndarray:
        """R with ``v_flavor = R @ v_comp`` (computational frame z = -B).

        R is the rotation about y by ``-2 theta``; its third column is ``-B``.
        """
        a = -2.0 * self.theta
        c, s = np.cos(a), np.sin(a)
        return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


@dataclass(frozen=True)
class ObservableRecord:
    """One-body and monitor observables at one output time (same on every rank).

    All vectors are in the flavor frame. Every solver produces these, so the
    output layout and the comparison tools do not depend on the solver.

    Attributes
    ----------
    time : float
        In units of 1/omega0.
    polarization : float64[M, 3]
        ``P_p = <J_p>/j_p``.
    nue_fraction : float64[M]
        ``(1 + P_p^z)/2``.
    rho1 : complex128[M, 2, 2]
        One-neutrino reduced density matrix of each mode in the flavor basis
        (row/column 0 = nu_e): ``(1 + P_p.sigma)/2``.
    entropy : float64[M]
        Von Neumann entropy ``-tr rho1 log rho1`` (natural log).
    norm : float
        ``||psi||`` (1 for classical solvers).
    energy : float
        ``<H>`` in units of omega0 at this time's mu.
    b_dot_j : float
        Total ``<B.J>``.
    pair_correlation : float64[M, M] or None
        Connected ``<J_p.J_q> - <J_p>.<J_q>`` (diagonal: ``<J_p^2> - <J_p>^2``).
    mu : float
        mu(t) used at this time.
    pehlivan : float64[M] or None
        Pehlivan invariants ``<h_p>`` (units of omega0) of a single-angle model
        with distinct omegas, from the pair correlations
        (:mod:`nmbhpc.physics.invariants`); conserved at constant mu.
    """

    time: float
    polarization: np.ndarray
    nue_fraction: np.ndarray
    rho1: np.ndarray
    entropy: np.ndarray
    norm: float
    energy: float
    b_dot_j: float
    mu: float
    pair_correlation: Optional[np.ndarray] = None
    pehlivan: Optional[np.ndarray] = None

    @staticmethod
    def one_body_from_polarization(pol: np.ndarray):
        """Return (nue_fraction, rho1, entropy) for flavor-frame polarisations [M, 3]."""
        pol = np.asarray(pol, dtype=np.float64)
        nue = 0.5 * (1.0 + pol[:, 2])
        rho = np.empty((pol.shape[0], 2, 2), dtype=np.complex128)
        rho[:, 0, 0] = 0.5 * (1 + pol[:, 2])
        rho[:, 1, 1] = 0.5 * (1 - pol[:, 2])
        rho[:, 0, 1] = 0.5 * (pol[:, 0] - 1j * pol[:, 1])
        rho[:, 1, 0] = 0.5 * (pol[:, 0] + 1j * pol[:, 1])
        r = np.clip(np.linalg.norm(pol, axis=1), 0.0, 1.0)
        lam = np.stack([0.5 * (1 + r), 0.5 * (1 - r)], axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            ent = -np.sum(np.where(lam > 0, lam * np.log(lam), 0.0), axis=1)
        ent[ent == 0.0] = 0.0  # no "-0.0" for pure states
        return nue, rho, ent
