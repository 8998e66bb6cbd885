"""Right-hand side of the quantum kinetic equations on one rank's cells (pure numpy).

For every species s (nu, nubar), energy bin e and direction v_i (a unit
vector; the box axis x is its z component v_z), in polarisation form
rho = (P0 + P.sigma)/2 (flavor basis, Pz > 0 is nu_e excess):

    d_t P0 + v_z d_x P0 = C0
    d_t P  + v_z d_x P  = h_s x P + C,   h_s = eta_s omega_e B + lam z + mu D(v)
    D(v_i) = sum_{e', j} W_e' w_j (1 - v_i . v_j) (P_{nu} - P_{nubar})(v_j, E_e')

On an axisymmetric grid (n_phi = 1) v_i . v_j = v_z,i v_z,j; with an azimuth
grid the transverse moments enter as well
(:func:`nmbhpc.kinetics.grid.direction_vectors`).

with eta_nu = +1, eta_nubar = -1 (Hannestad et al. 2006 / Raffelt-Sigl
convention; docs/kinetics.md relates it to Richers et al. 2022). Not collective:
the caller provides ghost cells.

Advection (``NumericsSettings.advection``), stencil width 3 for both:

* ``upwind5``: fifth-order upwind-biased finite differences (the linear
  scheme underlying WENO5);
* ``weno5``: the same fluxes with nonlinear WENO-Z weights (Jiang & Shu,
  J. Comput. Phys. 126, 202 (1996); Borges et al., J. Comput. Phys. 227, 3191
  (2008)): fifth order where the field is resolved, non-oscillatory where it
  has grid-scale structure. The weights are computed once per (x, species,
  energy, direction) from the smoothness of all four components (P0, Px, Py,
  Pz) together, so the scheme commutes with global flavor rotations (a
  componentwise WENO would not) and keeps the flux a linear map of the
  stencil's density matrices.

In a 2D/3D box (:attr:`GridSettings.axes`) the advection is dimension by
dimension: v_a d_a P for each resolved axis a with the velocity component v_a
of each direction (upwind side chosen by its sign), the same 1D scheme along
every axis of the DMDA block (a star stencil of width 3). Every other term is
local to a cell and unchanged.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .grid import direction_vectors, directions
from .settings import KineticSettings

STENCIL_WIDTH = 3
# d/dx for v > 0 on offsets -3..+2 and for v < 0 on offsets -2..+3, times 60 dx
_UPWIND_POS = (-2.0, 15.0, -60.0, 20.0, 30.0, -3.0)
_UPWIND_NEG = (3.0, -30.0, -20.0, 60.0, -15.0, 2.0)


def upwind5(u: np.ndarray, n: int, dx: float, positive: bool) -> np.ndarray:
    """Fifth-order upwind-biased d/dx along axis 0 of ghosted ``u`` (n + 6 rows) -> n rows."""
    coeffs, first = (_UPWIND_POS, 0) if positive else (_UPWIND_NEG, 1)
    out = coeffs[0] * u[first:first + n]
    for k, c in enumerate(coeffs[1:], start=1):
        out += c * u[first + k:first + k + n]
    out *= 1.0 / (60.0 * dx)
    return out


# WENO5: optimal (linear) weights of the three 3-point candidate stencils, smoothness floor
_D0, _D1, _D2 = 0.1, 0.6, 0.3
_WENO_EPS = 1e-6


@njit(cache=True)
def _weno5_face(u, rows, s, e, d, face):
    """WENO-Z value at one face into ``face[4]``; ``rows`` = 5 x-indices, upwind side first.

    The nonlinear weights are shared by the 4 components of the density matrix.
    """
    b0 = b1 = b2 = 0.0
    for c in range(4):
        a, b, m = u[rows[0], s, e, d, c], u[rows[1], s, e, d, c], u[rows[2], s, e, d, c]
        p, q = u[rows[3], s, e, d, c], u[rows[4], s, e, d, c]
        b0 += 13.0 / 12.0 * (a - 2.0 * b + m) ** 2 + 0.25 * (a - 4.0 * b + 3.0 * m) ** 2
        b1 += 13.0 / 12.0 * (b - 2.0 * m + p) ** 2 + 0.25 * (b - p) ** 2
        b2 += 13.0 / 12.0 * (m - 2.0 * p + q) ** 2 + 0.25 * (3.0 * m - 4.0 * p + q) ** 2
    # floor relative to the local occupation (P0 bounds |P|), so the switch does not
    # depend on the units of n_ref, and large: the weights stay linear (to ~tau/eps) for
    # structure below ~1e-3 P0, e.g. a seed of 1e-6 that is to grow through the linear
    # phase (a floor of 1e-12 P0^2, the square of such a seed, let WENO act on the seed
    # itself); 1e-100 keeps an empty region finite
    eps = _WENO_EPS * (u[rows[2], s, e, d, 0] ** 2 + u[rows[3], s, e, d, 0] ** 2) + 1e-100
    tau = abs(b0 - b2)
    a0 = _D0 * (1.0 + tau / (b0 + eps)) ** 2
    a1 = _D1 * (1.0 + tau / (b1 + eps)) ** 2
    a2 = _D2 * (1.0 + tau / (b2 + eps)) ** 2
    w0, w1, w2 = a0 / (a0 + a1 + a2), a1 / (a0 + a1 + a2), a2 / (a0 + a1 + a2)
    for c in range(4):
        a, b, m = u[rows[0], s, e, d, c], u[rows[1], s, e, d, c], u[rows[2], s, e, d, c]
        p, q = u[rows[3], s, e, d, c], u[rows[4], s, e, d, c]
        face[c] = (w0 * (2.0 * a - 7.0 * b + 11.0 * m) + w1 * (-b + 5.0 * m + 2.0 * p)
                   + w2 * (2.0 * m + 5.0 * p - q)) / 6.0


@njit(cache=True)
def _weno5_accumulate_kernel(u, n, inv_dx, vel, out):
    """out[i, a, s, e, d, :] -= vel[d] * (WENO5 d/dx along axis 0 of ``u``), upwind by sign(vel[d]).

    ``u`` (n + 6, A, S, E, D, 4) and ``out`` (n, A, S, E, D, 4) may be strided views
    (the other spatial axes of a 2D/3D block folded into A): no copies are made.
    """
    rows = np.empty(5, dtype=np.int64)
    left = np.empty(4)
    right = np.empty(4)
    for a in range(u.shape[1]):
        ua = u[:, a]
        for s in range(u.shape[2]):
            for e in range(u.shape[3]):
                for d in range(u.shape[4]):
                    v = vel[d]
                    if v == 0.0:
                        continue
                    positive = v > 0.0
                    for i in range(-1, n):
                        for k in range(5):
                            rows[k] = i + 1 + k if positive else i + 6 - k
                        _weno5_face(ua, rows, s, e, d, right)
                        if i >= 0:
                            for c in range(4):
                                out[i, a, s, e, d, c] -= v * ((right[c] - left[c]) * inv_dx)
                        left[:] = right


def weno5(u: np.ndarray, n: int, dx: float, positive: bool) -> np.ndarray:
    """WENO5 (Z weights) d/dx along axis 0 of ghosted ``u`` (n + 6, S, E, D, 4) -> n rows.

    Upwind for velocity sign ``positive``; equals :func:`upwind5` where the
    smoothness indicators agree. The last axis holds the 4 components of one
    density matrix and shares the nonlinear weights (compiled with numba).
    """
    # the accumulating kernel adds -v du/dx upwind by sign(v): with v = -1 it adds
    # +du/dx; with v = +1 it adds -du/dx, negated after. Starting from -0.0 makes
    # both bit-exact, signed zeros included.
    out = np.full((n,) + u.shape[1:], -0.0)
    vel = np.full(u.shape[3], 1.0 if positive else -1.0)
    _weno5_accumulate_kernel(u[:, None], n, 1.0 / dx, vel, out[:, None])
    if positive:
        np.negative(out, out=out)
    return out


ADVECTION_SCHEMES = {"upwind5": upwind5, "weno5": weno5}


class KineticRHS:
    """F(U) of the semi-discrete system for one block of cells.

    Call with the ghosted local field ``u`` of shape (n + 2*3, 2, nE, n_dir, 4)
    (1D; in 2D/3D one ghosted spatial axis per resolved axis, in the order of
    :attr:`GridSettings.axes`) and get F of shape (n, 2, nE, n_dir, 4), n the
    number of owned cells (flattened in C order in 2D/3D; n_dir here: all
    n_dir n_phi directions). Directions are sorted by v_z, so along z the left-
    and right-moving groups are contiguous slices (views, no copies); along x
    and y they are index sets.
    """

    def __init__(self, settings: KineticSettings):
        g, ph = settings.grid, settings.physics
        self.v, self.w = directions(g)
        # full unit vectors only when an azimuth grid makes the transverse moments nonzero
        self.vectors = direction_vectors(g) if g.n_phi > 1 else None
        self.dx = g.length / g.nx
        self.axes = g.axes
        #: cell width along each array axis, and the (negative, positive) direction groups
        #: of the velocity component along it (directions with v_a = 0 do not move along a)
        self.spacing = tuple(g.lengths[a] / g.shape[a] for a in g.axes)
        vec = direction_vectors(g)
        self.velocity = tuple(self.v if a == 2 else vec[:, a] for a in g.axes)
        self._groups = []
        for va in self.velocity:
            neg, pos = np.flatnonzero(va < 0), np.flatnonzero(va > 0)
            self._groups.append([(sel, va[sel], sign) for sel, sign in ((neg, False), (pos, True))
                                 if sel.size])
        self.energy_weights = np.asarray(ph.weights, dtype=float)
        self.mu = ph.mu
        # angular-energy quadrature weights W_e w_i and W_e w_i v_i of the (1 - v.v') moments
        self._ww = np.outer(self.energy_weights, self.w)
        #: W_e w_i (nE, n_dir): weights of the per-cell angular-energy moments (densities)
        self.moment_weights = self._ww
        self._wwv = self._ww * self.v[None, :]
        if self.vectors is not None:
            self._wwvec = self._ww[:, :, None] * self.vectors[None, :, :]
        b = np.array([np.sin(2 * ph.theta), 0.0, -np.cos(2 * ph.theta)])
        eta = np.array([1.0, -1.0])
        # h of each (species, energy) without the self-interaction: eta omega B + lam z
        self.h_fixed = (eta[:, None, None] * np.asarray(ph.omega)[None, :, None] * b
                        + np.array([0.0, 0.0, ph.lam]))[:, :, None, :]
        self.n_neg = int(np.sum(self.v < 0))
        self.advect = True
        self.derivative = ADVECTION_SCHEMES[settings.numerics.advection]
        col = ph.collisions
        self.scattering = col.scattering
        self.emission = col.emission_absorption
        gam = np.asarray(col.gamma, dtype=float)
        eq = np.asarray(col.equilibrium, dtype=float)
        self.gbar = 0.5 * (gam[:, 0] + gam[:, 1])        # per species
        self.gdelta = 0.5 * (gam[:, 0] - gam[:, 1])
        self.eq0 = eq[:, 0] + eq[:, 1]
        self.eqz = eq[:, 0] - eq[:, 1]

    def hamiltonian(self, p: np.ndarray) -> np.ndarray:
        """h(x, s, e, i, 3) for the owned cells ``p`` (n, 2, nE, n_dir, 4)."""
        d = p[:, 0, :, :, 1:] - p[:, 1, :, :, 1:]
        d0 = np.tensordot(d, self._ww, axes=([1, 2], [0, 1]))
        if self.vectors is None:
            d1 = np.tensordot(d, self._wwv, axes=([1, 2], [0, 1]))
            h_self = self.mu * (d0[:, None, :] - self.v[None, :, None] * d1[:, None, :])
        else:
            # flux moments d1[x, c, a] = sum W w v^a d_c; D_c(v_i) = d0_c - v_i . d1_c
            d1 = np.tensordot(d, self._wwvec, axes=([1, 2], [0, 1]))
            flux = np.tensordot(d1, self.vectors, axes=([2], [1])).transpose(0, 2, 1)
            h_self = self.mu * (d0[:, None, :] - flux)
        return h_self[:, None, None, :, :] + self.h_fixed[None]

    def __call__(self, u: np.ndarray) -> np.ndarray:
        gw = STENCIL_WIDTH
        nd = len(self.axes)
        if self.axes == (2,):
            n = u.shape[0] - 2 * gw
            p = u[gw:gw + n]
            out = np.zeros_like(p)
            if self.advect:
                k = self.n_neg
                if k:
                    out[..., :k, :] = -self.v[:k, None] * self.derivative(u[..., :k, :], n, self.dx, False)
                if k < self.v.size:
                    out[..., k:, :] = -self.v[k:, None] * self.derivative(u[..., k:, :], n, self.dx, True)
        else:
            block = tuple(m - 2 * gw for m in u.shape[:nd])
            p = u[(slice(gw, -gw),) * nd].reshape((-1,) + u.shape[nd:])
            out = np.zeros_like(p)
            if self.advect:
                self._advect_nd(u, out.reshape(block + u.shape[nd:]))
        h = self.hamiltonian(p)
        hx, hy, hz = h[..., 0], h[..., 1], h[..., 2]
        px, py, pz = p[..., 1], p[..., 2], p[..., 3]
        out[..., 1] += hy * pz - hz * py
        out[..., 2] += hz * px - hx * pz
        out[..., 3] += hx * py - hy * px
        if self.emission:
            self._emission_absorption(p, out)
        if self.scattering:
            avg = np.tensordot(p, self.w, axes=([3], [0]))
            out += self.scattering * (avg[:, :, :, None, :] - p)
        return out

    def _advect_nd(self, u: np.ndarray, out: np.ndarray) -> None:
        """Add -sum_a v_a d_a P over the array axes of ``u`` into ``out`` (the owned block).

        Along axis i the other spatial axes are cut to the owned cells (a star
        stencil needs no corner ghosts) and folded into the species axis, so the
        1D kernels see the (n + 6, ..., n_dir, 4) layout they were written for.
        """
        gw, nd = STENCIL_WIDTH, len(self.axes)
        for i, groups in enumerate(self._groups):
            cut = [slice(gw, -gw)] * nd
            cut[i] = slice(None)
            ua = np.moveaxis(u[tuple(cut)], i, 0)
            n = ua.shape[0] - 2 * gw
            if self.derivative is weno5:
                # in place on strided views: (n + 6, A, species, E, D, 4), one call per
                # plane of a third axis (A = 1 for a 1D box along x or y)
                oa = np.moveaxis(out, i, 0)
                if nd == 1:
                    planes = [(ua[:, None], oa[:, None])]
                elif nd == 2:
                    planes = [(ua, oa)]
                else:
                    planes = [(ua[:, j], oa[:, j]) for j in range(ua.shape[1])]
                for up, op in planes:
                    _weno5_accumulate_kernel(up, n, 1.0 / self.spacing[i], self.velocity[i], op)
                continue
            for sel, va, positive in groups:
                part = np.ascontiguousarray(ua[..., sel, :])
                folded = part.reshape((part.shape[0], -1) + part.shape[nd + 1:])
                d = self.derivative(folded, n, self.spacing[i], positive)
                d = np.moveaxis(d.reshape((n,) + part.shape[1:]), 0, i)
                out[..., sel, :] -= va[:, None] * d

    def _emission_absorption(self, p: np.ndarray, out: np.ndarray) -> None:
        """C = {Gamma, rho_eq - rho}/2 with Gamma = diag(gamma_e, gamma_x), per species."""
        for s in range(2):
            a0 = self.eq0[s] - p[:, s, ..., 0]
            az = self.eqz[s] - p[:, s, ..., 3]
            gb, gd = self.gbar[s], self.gdelta[s]
            out[:, s, ..., 0] += gb * a0 + gd * az
            out[:, s, ..., 1] -= gb * p[:, s, ..., 1]
            out[:, s, ..., 2] -= gb * p[:, s, ..., 2]
            out[:, s, ..., 3] += gb * az + gd * a0

    def max_frequency(self, p: np.ndarray) -> float:
        """max |h| over the given cells (local; the caller reduces)."""
        if p.shape[0] == 0:
            return 0.0
        return float(np.sqrt((self.hamiltonian(p) ** 2).sum(axis=-1)).max())
