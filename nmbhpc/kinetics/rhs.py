"""Right-hand side of the quantum kinetic equations on one rank's cells (numba-compiled).

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

Cost: a 1D block is one compiled sweep over its cells (:func:`_fused_1d_kernel`):
each face value is computed once, in flux form, and used by both cells, then the
local terms of the cell (self-interaction moments, h x P, collisions) follow
while its data are in cache. :meth:`KineticRHS.hamiltonian` is the numpy form of
h, kept for analysis and tests.

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


@njit(cache=True, error_model="numpy")
def _faces(u, i, s, e, vel, nonlinear, face):
    """Face values between rows i + 3 and i + 4 of ``u`` (n + 6, S, E, D, 4) for every
    direction d of (s, e), upwind by the sign of vel[d], into ``face`` (D, 4).

    ``nonlinear``: WENO-Z weights, shared by the 4 components of the density matrix
    (so the scheme commutes with flavor rotations); else the optimal (linear) weights,
    i.e. the fifth-order upwind-biased scheme.
    """
    for d in range(u.shape[3]):
        v = vel[d]
        if v == 0.0:
            continue
        if v > 0.0:
            r0, r1, r2, r3, r4 = i + 1, i + 2, i + 3, i + 4, i + 5
        else:
            r0, r1, r2, r3, r4 = i + 6, i + 5, i + 4, i + 3, i + 2
        if nonlinear:
            b0 = b1 = b2 = 0.0
            for c in range(4):
                a, b, m = u[r0, s, e, d, c], u[r1, s, e, d, c], u[r2, s, e, d, c]
                p, q = u[r3, s, e, d, c], u[r4, s, e, d, c]
                b0 += 13.0 / 12.0 * (a - 2.0 * b + m) ** 2 + 0.25 * (a - 4.0 * b + 3.0 * m) ** 2
                b1 += 13.0 / 12.0 * (b - 2.0 * m + p) ** 2 + 0.25 * (b - p) ** 2
                b2 += 13.0 / 12.0 * (m - 2.0 * p + q) ** 2 + 0.25 * (3.0 * m - 4.0 * p + q) ** 2
            # floor relative to the local occupation (P0 bounds |P|), so the switch does
            # not depend on the units of n_ref, and large: the weights stay linear (to
            # ~tau/eps) for structure below ~1e-3 P0, e.g. a seed of 1e-6 that is to grow
            # through the linear phase (a floor of 1e-12 P0^2, the square of such a seed,
            # let WENO act on the seed itself); 1e-100 keeps an empty region finite
            eps = _WENO_EPS * (u[r2, s, e, d, 0] ** 2 + u[r3, s, e, d, 0] ** 2) + 1e-100
            tau = abs(b0 - b2)
            a0 = _D0 * (1.0 + tau / (b0 + eps)) ** 2
            a1 = _D1 * (1.0 + tau / (b1 + eps)) ** 2
            a2 = _D2 * (1.0 + tau / (b2 + eps)) ** 2
            w0, w1, w2 = a0 / (a0 + a1 + a2), a1 / (a0 + a1 + a2), a2 / (a0 + a1 + a2)
        else:
            w0, w1, w2 = _D0, _D1, _D2
        for c in range(4):
            a, b, m = u[r0, s, e, d, c], u[r1, s, e, d, c], u[r2, s, e, d, c]
            p, q = u[r3, s, e, d, c], u[r4, s, e, d, c]
            face[d, c] = (w0 * (2.0 * a - 7.0 * b + 11.0 * m) + w1 * (-b + 5.0 * m + 2.0 * p)
                          + w2 * (2.0 * m + 5.0 * p - q)) / 6.0


@njit(cache=True, error_model="numpy")
def _flux_difference(u, i, inv_dx, vel, nonlinear, left, right, out):
    """Faces right of row i + 3 into ``right``; for i >= 0 also
    out[i] -= v (right - left) / dx. ``left``, ``right``: (S, E, D, 4)."""
    for s in range(u.shape[1]):
        for e in range(u.shape[2]):
            _faces(u, i, s, e, vel, nonlinear, right[s, e])
    if i >= 0:
        for s in range(u.shape[1]):
            for e in range(u.shape[2]):
                for d in range(u.shape[3]):
                    v = vel[d]
                    for c in range(4):
                        out[i, s, e, d, c] -= v * ((right[s, e, d, c] - left[s, e, d, c]) * inv_dx)


@njit(cache=True, error_model="numpy")
def _weno5_accumulate_kernel(u, n, inv_dx, vel, out):
    """out[i, a, s, e, d, :] -= vel[d] * (WENO5 d/dx along axis 0 of ``u``), upwind by sign(vel[d]).

    ``u`` (n + 6, A, S, E, D, 4) and ``out`` (n, A, S, E, D, 4) may be strided views
    (the other spatial axes of a 2D/3D block folded into A): no copies are made.
    """
    shape = (u.shape[2], u.shape[3], u.shape[4], 4)
    for a in range(u.shape[1]):
        left, right = np.zeros(shape), np.zeros(shape)
        for i in range(-1, n):
            _flux_difference(u[:, a], i, inv_dx, vel, True, left, right, out[:, a])
            left, right = right, left


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



@njit(cache=True, error_model="numpy")
def _self_moments(p, ww, wwvec):
    """Moments of P_nu - P_nubar of one cell ``p`` (2, E, D, 4): d0[c] = sum W w d_c,
    d1[c, a] = sum W w v^a d_c."""
    d0 = np.zeros(3)
    d1 = np.zeros((3, 3))
    for e in range(p.shape[1]):
        for d in range(p.shape[2]):
            for c in range(3):
                diff = p[0, e, d, c + 1] - p[1, e, d, c + 1]
                d0[c] += ww[e, d] * diff
                for a in range(3):
                    d1[c, a] += wwvec[e, d, a] * diff
    return d0, d1


@njit(cache=True, error_model="numpy")
def _self_field(d0, d1, v, mu, hs):
    """hs = mu D(v), D_c(v) = d0_c - v . d1_c: the (1 - v.v') kernel."""
    for c in range(3):
        hs[c] = mu * (d0[c] - (v[0] * d1[c, 0] + v[1] * d1[c, 1] + v[2] * d1[c, 2]))


@njit(cache=True, error_model="numpy")
def _max_frequency_kernel(p, vec, ww, wwvec, h_fixed, mu):
    """max |h| over the cells ``p`` (n, 2, E, D, 4)."""
    best = 0.0
    hs = np.empty(3)
    for i in range(p.shape[0]):
        d0, d1 = _self_moments(p[i], ww, wwvec)
        for d in range(p.shape[3]):
            _self_field(d0, d1, vec[d], mu, hs)
            for s in range(2):
                for e in range(p.shape[2]):
                    hx = hs[0] + h_fixed[s, e, 0]
                    hy = hs[1] + h_fixed[s, e, 1]
                    hz = hs[2] + h_fixed[s, e, 2]
                    best = max(best, hx * hx + hy * hy + hz * hz)
    return np.sqrt(best)


@njit(cache=True, error_model="numpy")
def _local_terms(p, out, vec, ww, wwvec, h_fixed, mu, w, gbar, gdelta, eq0, eqz, kappa,
                 emission):
    """Add h x P, emission/absorption and scattering of one cell ``p`` (2, E, D, 4) to ``out``."""
    n_e, n_d = p.shape[1], p.shape[2]
    d0, d1 = _self_moments(p, ww, wwvec)
    hs = np.empty(3)
    for d in range(n_d):
        _self_field(d0, d1, vec[d], mu, hs)
        for s in range(2):
            for e in range(n_e):
                hx = hs[0] + h_fixed[s, e, 0]
                hy = hs[1] + h_fixed[s, e, 1]
                hz = hs[2] + h_fixed[s, e, 2]
                px, py, pz = p[s, e, d, 1], p[s, e, d, 2], p[s, e, d, 3]
                out[s, e, d, 1] += hy * pz - hz * py
                out[s, e, d, 2] += hz * px - hx * pz
                out[s, e, d, 3] += hx * py - hy * px
    if emission:
        for s in range(2):
            gb, gd = gbar[s], gdelta[s]
            for e in range(n_e):
                for d in range(n_d):
                    a0 = eq0[s] - p[s, e, d, 0]
                    az = eqz[s] - p[s, e, d, 3]
                    out[s, e, d, 0] += gb * a0 + gd * az
                    out[s, e, d, 1] -= gb * p[s, e, d, 1]
                    out[s, e, d, 2] -= gb * p[s, e, d, 2]
                    out[s, e, d, 3] += gb * az + gd * a0
    if kappa != 0.0:
        for s in range(2):
            for e in range(n_e):
                for c in range(4):
                    avg = 0.0
                    for d in range(n_d):
                        avg += w[d] * p[s, e, d, c]
                    for d in range(n_d):
                        out[s, e, d, c] += kappa * (avg - p[s, e, d, c])


@njit(cache=True, error_model="numpy")
def _fused_1d_kernel(u, inv_dx, vel, nonlinear, vec, ww, wwvec, h_fixed, mu, w, gbar, gdelta,
                     eq0, eqz, kappa, emission, advect, out):
    """The whole right-hand side of a 1D block in one sweep over the cells.

    ``u`` (n + 6, 2, E, D, 4) ghosted, ``out`` (n, 2, E, D, 4) overwritten. Advection in
    flux form: the face value between cells i and i + 1 (WENO-Z if ``nonlinear``, else
    the linear fifth-order one; upwind by the sign of v) is computed once and used by
    both cells; then the local terms of cell i.
    """
    n = out.shape[0]
    shape = (u.shape[1], u.shape[2], u.shape[3], 4)
    left, right = np.zeros(shape), np.zeros(shape)
    for i in range(-1 if advect else 0, n):
        if i >= 0:
            out[i] = 0.0
        if advect:
            _flux_difference(u, i, inv_dx, vel, nonlinear, left, right, out)
            left, right = right, left
        if i >= 0:
            _local_terms(u[i + 3], out[i], vec, ww, wwvec, h_fixed, mu, w, gbar, gdelta, eq0, eqz,
                         kappa, emission)


@njit(cache=True, error_model="numpy")
def _local_block_kernel(p, vec, ww, wwvec, h_fixed, mu, w, gbar, gdelta, eq0, eqz, kappa,
                        emission, out):
    """The local terms (everything but advection) of every cell of ``p`` (n, 2, E, D, 4)."""
    for i in range(p.shape[0]):
        _local_terms(p[i], out[i], vec, ww, wwvec, h_fixed, mu, w, gbar, gdelta, eq0, eqz, kappa,
                     emission)


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
        # arguments of the compiled kernels (contiguous float arrays)
        self._nonlinear = settings.numerics.advection == "weno5"
        self._local_args = (np.ascontiguousarray(vec), np.ascontiguousarray(self._ww),
                            np.ascontiguousarray(self._ww[:, :, None] * vec[None, :, :]),
                            np.ascontiguousarray(self.h_fixed[:, :, 0, :]), float(self.mu),
                            np.ascontiguousarray(self.w, dtype=float), self.gbar, self.gdelta,
                            self.eq0, self.eqz, float(self.scattering), bool(self.emission))

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
            # one compiled sweep: advection fluxes and local terms, cell by cell
            out = np.empty((u.shape[0] - 2 * gw,) + u.shape[1:])
            _fused_1d_kernel(np.ascontiguousarray(u), 1.0 / self.dx, self.v, self._nonlinear,
                             *self._local_args, self.advect, out)
            return out
        block = tuple(m - 2 * gw for m in u.shape[:nd])
        p = np.ascontiguousarray(u[(slice(gw, -gw),) * nd]).reshape((-1,) + u.shape[nd:])
        out = np.zeros_like(p)
        if self.advect:
            self._advect_nd(u, out.reshape(block + u.shape[nd:]))
        _local_block_kernel(p, *self._local_args, out)
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

    def max_frequency(self, p: np.ndarray) -> float:
        """max |h| over the given cells (local; the caller reduces)."""
        if p.shape[0] == 0:
            return 0.0
        return float(_max_frequency_kernel(np.ascontiguousarray(p), *self._local_args[:4],
                                           self._local_args[4]))
