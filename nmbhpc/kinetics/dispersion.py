"""Linear stability of a homogeneous, flavor-diagonal state: growth rate vs wavenumber.

Independent of the PDE solver: the perturbation p = Px + i Py of each
(species s, energy e, direction v_i) is taken as exp(i k x) exactly (no
spatial discretisation), on the *same* discrete directions, energies and
angular distributions as a kinetic run. Linearising the equations of
docs/kinetics.md about the background (Pz_{s,e,i}, no transverse part) gives
dq/dt = M(k) q with

    dp_{s,e,i}/dt = [-i k v_z,i + i hz_{s,e,i} - gbar_s - kappa] p_{s,e,i}
                    + kappa sum_j w_j p_{s,e,j} - i Pz_{s,e,i} hperp_i,
    hz_{s,e,i}  = eta_s omega_e B_z + lambda + mu sum_{e',j} W_e' w_j (1 - v_i.v_j)(Pz_nu - Pz_nubar)_{e',j},
    hperp_i     = mu sum_{e',j} W_e' w_j (1 - v_i.v_j)(p_nu - p_nubar)_{e',j},

(eta_nu = +1, eta_nubar = -1; gbar_s = (gamma_e + gamma_x)/2 of species s;
kappa the isotropic scattering rate). Growth rate = max Re eig M(k); fast
(omega = 0), slow (omega != 0) and collisional (gamma) instabilities are all
eigenvalues of the same M(k). Valid only when the background is stationary:
vacuum mixing is dropped from the linearisation (B -> (0, 0, B_z), the usual
small-mixing-angle treatment) and the collision equilibrium must equal the
background.

The directions are all n_dir n_phi discrete directions of the grid, with
full unit vectors v_i when an azimuth grid is used (n_phi > 1): the
distribution need not be axisymmetric. The wave number ``k`` is either a
number (k along the z axis, the box axis of a 1D run: k v_z,i above) or a
3-vector (k_x, k_y, k_z) for an oblique mode of a 2D/3D box, where k v_z,i
becomes k . v_i (:func:`wave_phase`). Nothing else changes: the matrix is the
general linearisation over the discrete directions.
"""
from __future__ import annotations

import numpy as np

from .grid import background, direction_vectors, directions, interaction_kernel
from .settings import KineticSettings


def wave_phase(settings: KineticSettings, k) -> np.ndarray:
    """k . v_i of every direction: k v_z,i for a number k, k . v_i for a 3-vector (1/omega0)."""
    if np.ndim(k) == 0:
        return float(k) * directions(settings.grid)[0]
    k = np.asarray(k, dtype=float)
    if k.shape != (3,):
        raise ValueError(f"wave vector must be a number (along z) or 3 numbers, got {k!r}")
    return direction_vectors(settings.grid) @ k


def stability_matrix(settings: KineticSettings, k) -> np.ndarray:
    """M(k), shape (N, N) with N = 2 nE n_dir n_phi; unknowns ordered (species, energy, direction).

    ``k``: wave number along z, or wave vector (k_x, k_y, k_z), in omega0."""
    ph, col = settings.physics, settings.physics.collisions
    v, w = directions(settings.grid)
    W = np.asarray(ph.weights, dtype=float)
    n_e, nd = ph.n_energy, v.size
    pz = background(settings)[..., 3]                       # (2, nE, nd)
    c = interaction_kernel(settings.grid)                   # (1 - v_i . v_j)
    dz = np.einsum("e,j,ij,ej->i", W, w, c, pz[0] - pz[1])
    eta = np.array([1.0, -1.0])
    bz = -np.cos(2.0 * ph.theta)
    hz = (eta[:, None, None] * np.asarray(ph.omega)[None, :, None] * bz + ph.lam
          + ph.mu * dz[None, None, :])
    gam = np.asarray(col.gamma, dtype=float)
    gbar = 0.5 * gam.sum(axis=1)
    kappa = col.scattering
    if np.ndim(k) == 0:  # (k v_z written out: the 1D matrices stay bit for bit as they were)
        diag = (-1j * k * v[None, None, :] + 1j * hz - gbar[:, None, None] - kappa)
    else:
        diag = (-1j * wave_phase(settings, k)[None, None, :] + 1j * hz - gbar[:, None, None] - kappa)
    n = 2 * n_e * nd
    m = np.diag(diag.ravel()).astype(complex)
    # scattering: kappa sum_j w_j p_{s,e,j}
    blk = np.kron(np.eye(2 * n_e), np.tile(w, (nd, 1)))
    m += kappa * blk
    # self-interaction: -i Pz_{s,e,i} mu sum_{s',e',j} sign_s' W_e' w_j c_ij p_{s',e',j}
    sign = np.array([1.0, -1.0])
    t = (sign[None, :, None, None] * W[None, None, :, None] * (w[None, :] * c)[:, None, None, :])
    m += -1j * ph.mu * pz.reshape(n, 1) * np.tile(t.reshape(nd, n), (2 * n_e, 1))
    return m


def eigenvalues(settings: KineticSettings, k) -> np.ndarray:
    """Eigenvalues lambda of M(k) (perturbations ~ exp(lambda t + i k x)), by decreasing Re."""
    lam = np.linalg.eigvals(stability_matrix(settings, k))
    return lam[np.argsort(-lam.real)]


def growth_rate(settings: KineticSettings, k) -> float:
    """Largest Re lambda at wave number k along z or wave vector k (1/omega0; <= 0 means stable)."""
    return float(eigenvalues(settings, k)[0].real)


def scan(settings: KineticSettings, ks, direction=None) -> np.ndarray:
    """Growth rates for each k in ``ks``: wave numbers along z, or along the 3-vector
    ``direction`` (normalised here; wave vectors k * direction)."""
    ks = np.asarray(ks, dtype=float)
    if direction is None:
        return np.array([growth_rate(settings, k) for k in ks])
    n = np.asarray(direction, dtype=float) / np.linalg.norm(direction)
    return np.array([growth_rate(settings, k * n) for k in ks])


def fastest_mode(settings: KineticSettings, k_max: float, n: int = 401,
                 direction=None) -> tuple[float, float]:
    """(k, growth rate) of the fastest mode on a grid of n wavenumbers in [-k_max, k_max]
    (along z, or along ``direction``: the wave vector is then k * direction / |direction|)."""
    ks = np.linspace(-k_max, k_max, n)
    g = scan(settings, ks, direction)
    i = int(np.argmax(g))
    return float(ks[i]), float(g[i])


def collisional_isotropic(mu: float, n: float, nbar: float, gamma: float, gammabar: float) -> complex:
    """Analytic eigenvalue of the homogeneous isotropic collisional instability.

    nu_e and nubar_e with densities n, nbar (x flavors empty, absorption rates
    gamma, gammabar of the e flavor only, no vacuum term). Returns the
    growing root lambda = i G/2 - g + sqrt(a^2 - G^2/4 + 2 i A a) with
    G = mu (n - nbar), A = mu (n + nbar)/2, g = (gamma + gammabar)/4,
    a = (gamma - gammabar)/4 (docs/kinetics.md derives it; it is the
    isotropic dispersion relation of Johns, PRL 130, 191001 (2023) and
    Xiong et al., PRD 108, 083002 (2023), Omega = i lambda, in our sign
    conventions). Re lambda > 0 means unstable.
    """
    G, A = mu * (n - nbar), 0.5 * mu * (n + nbar)
    g, a = 0.25 * (gamma + gammabar), 0.25 * (gamma - gammabar)
    root = np.sqrt(complex(a * a - G * G / 4.0, 2.0 * A * a))
    lam = [1j * G / 2.0 - g + root, 1j * G / 2.0 - g - root]
    return max(lam, key=lambda z: z.real)
