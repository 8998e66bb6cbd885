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

Cost: a 1D block is one compiled sweep (:func:`_sweep_1d`): the block is laid
out as rows (species, energy, direction) of (x, component), each face value is
computed once, in flux form, and used by both cells, and every loop runs over x,
so the compiler vectorises the WENO faces and the local terms (self-interaction
moments, h x P, collisions) alike. :meth:`KineticRHS.hamiltonian` is the numpy form of
h, kept for analysis and tests.

In a 2D/3D box (:attr:`GridSettings.axes`) the advection is dimension by
dimension: v_a d_a P for each resolved axis a with the velocity component v_a
of each direction (upwind side chosen by its sign), the same 1D scheme along
every axis of the DMDA block (a star stencil of width 3). Every other term is
local to a cell and unchanged.
"""
from __future__ import annotations

import numpy as np

from ..runtime.jit import njit
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


_JIT = dict(cache=True, error_model="numpy", boundscheck=False)


@njit(**_JIT)
def _smoothness(a, b, m, p, q):
    """One component's share of the three WENO5 smoothness indicators of the stencil
    a, b, m, p, q (upwind to downwind; the face lies between m and p)."""
    t0, t1 = a - 2.0 * b + m, a - 4.0 * b + 3.0 * m
    t2, t3 = b - 2.0 * m + p, b - p
    t4, t5 = m - 2.0 * p + q, 3.0 * m - 4.0 * p + q
    return (13.0 / 12.0 * (t0 * t0) + 0.25 * (t1 * t1), 13.0 / 12.0 * (t2 * t2) + 0.25 * (t3 * t3),
            13.0 / 12.0 * (t4 * t4) + 0.25 * (t5 * t5))


@njit(**_JIT)
def _weno_z_weights(b0, b1, b2, m0, p0):
    """WENO-Z weights of the three candidate stencils from the smoothness indicators
    summed over the components, ``m0``, ``p0``: P0 on both sides of the face."""
    # floor relative to the local occupation (P0 bounds |P|), so the switch does
    # not depend on the units of n_ref, and large: the weights stay linear (to
    # ~tau/eps) for structure below ~1e-3 P0, e.g. a seed of 1e-6 that is to grow
    # through the linear phase (a floor of 1e-12 P0^2, the square of such a seed,
    # let WENO act on the seed itself); 1e-100 keeps an empty region finite
    eps = _WENO_EPS * (m0 * m0 + p0 * p0) + 1e-100
    tau = abs(b0 - b2)
    g0 = 1.0 + tau / (b0 + eps)
    g1 = 1.0 + tau / (b1 + eps)
    g2 = 1.0 + tau / (b2 + eps)
    a0, a1, a2 = _D0 * (g0 * g0), _D1 * (g1 * g1), _D2 * (g2 * g2)
    return a0 / (a0 + a1 + a2), a1 / (a0 + a1 + a2), a2 / (a0 + a1 + a2)


@njit(**_JIT)
def _face_value(w0, w1, w2, a, b, m, p, q):
    """The face value of one component from the weights of the three candidate stencils."""
    return (w0 * (2.0 * a - 7.0 * b + 11.0 * m) + w1 * (-b + 5.0 * m + 2.0 * p)
            + w2 * (2.0 * m + 5.0 * p - q)) / 6.0


@njit(**_JIT)
def _faces(u, i, s, e, vel, nonlinear, face):
    """Face values between rows i + 3 and i + 4 of ``u`` (n + 6, S, E, D, 4) for every
    direction d of (s, e), upwind by the sign of vel[d], into ``face`` (D, 4).

    ``nonlinear``: WENO-Z weights, shared by the 4 components of the density matrix
    (so the scheme commutes with flavor rotations); else the optimal (linear) weights,
    i.e. the fifth-order upwind-biased scheme. Used by the 2D/3D sweeps; the 1D sweep
    evaluates the same formulas vectorised over x (:func:`_weno_faces`).
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
                s0, s1, s2 = _smoothness(u[r0, s, e, d, c], u[r1, s, e, d, c], u[r2, s, e, d, c],
                                         u[r3, s, e, d, c], u[r4, s, e, d, c])
                b0 += s0
                b1 += s1
                b2 += s2
            w0, w1, w2 = _weno_z_weights(b0, b1, b2, u[r2, s, e, d, 0], u[r3, s, e, d, 0])
        else:
            w0, w1, w2 = _D0, _D1, _D2
        for c in range(4):
            face[d, c] = _face_value(w0, w1, w2, u[r0, s, e, d, c], u[r1, s, e, d, c],
                                     u[r2, s, e, d, c], u[r3, s, e, d, c], u[r4, s, e, d, c])


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


# The 1D sweep below works on one (species, energy, direction) row at a time in the layout
# (x, component): every loop runs over x (and the 4 components), so LLVM vectorises it.
# Its helpers are inlined at the numba level ("always") so that the work arrays, made in
# the sweep with a literal last axis of 4, keep constant strides: with the strides of
# arguments (runtime values) LLVM cannot bound the accesses and keeps the loops scalar,
# and a branch inside the loop over faces (``nonlinear``) has the same effect.
_INLINE = dict(_JIT, inline="always")


@njit(**_INLINE)
def _weno_faces(a, b, m, p, q, face):
    """WENO-Z face values face[j, :] from the stencil rows a..q (nf, 4), upwind to downwind."""
    for j in range(face.shape[0]):
        b0 = b1 = b2 = 0.0
        for c in range(4):
            s0, s1, s2 = _smoothness(a[j, c], b[j, c], m[j, c], p[j, c], q[j, c])
            b0 += s0
            b1 += s1
            b2 += s2
        w0, w1, w2 = _weno_z_weights(b0, b1, b2, m[j, 0], p[j, 0])
        for c in range(4):
            face[j, c] = _face_value(w0, w1, w2, a[j, c], b[j, c], m[j, c], p[j, c], q[j, c])


@njit(**_INLINE)
def _linear_faces(a, b, m, p, q, face):
    """Face values of the fifth-order upwind-biased scheme (the optimal WENO weights)."""
    for j in range(face.shape[0]):
        for c in range(4):
            face[j, c] = _face_value(_D0, _D1, _D2, a[j, c], b[j, c], m[j, c], p[j, c], q[j, c])


@njit(**_INLINE)
def _face_row(r, positive, nonlinear, face):
    """Faces j = 0..n of one ghosted row ``r`` (n + 6, 4): face j lies between owned cells
    j - 1 and j (rows j + 2 and j + 3), upwind by the sign of the velocity."""
    nf = face.shape[0]
    if positive:
        a, b, m, p, q = r[0:nf], r[1:nf + 1], r[2:nf + 2], r[3:nf + 3], r[4:nf + 4]
    else:
        a, b, m, p, q = r[5:nf + 5], r[4:nf + 4], r[3:nf + 3], r[2:nf + 2], r[1:nf + 1]
    if nonlinear:
        _weno_faces(a, b, m, p, q, face)
    else:
        _linear_faces(a, b, m, p, q, face)


@njit(**_INLINE)
def _rows(u):
    """``u`` (m, S, E, D, 4) as rows (S, E, D, m, 4): a work array with a literal last axis."""
    m_rows, n_s, n_e, n_d = u.shape[0], u.shape[1], u.shape[2], u.shape[3]
    ut = np.empty((n_s, n_e, n_d, m_rows, 4))
    for x in range(m_rows):
        for s in range(n_s):
            for e in range(n_e):
                for d in range(n_d):
                    for c in range(4):
                        ut[s, e, d, x, c] = u[x, s, e, d, c]
    return ut


@njit(**_INLINE)
def _moment_rows(ut, lo, n, ww, wwvec):
    """Moments of P_nu - P_nubar of the cells lo..lo + n of the rows ``ut``, as
    :func:`_self_moments` (component 0 is computed and unused): flat (n * 4) arrays
    d0 = sum W w d and d1a = sum W w v^a d. Elementwise over (x, component), so flat
    unit-stride loops, one accumulator per loop (few enough pointers for LLVM's runtime
    alias checks)."""
    k4 = 4 * n
    d0, d1x, d1y, d1z = np.zeros(k4), np.zeros(k4), np.zeros(k4), np.zeros(k4)
    for e in range(ut.shape[1]):
        for d in range(ut.shape[2]):
            wd = ww[e, d]
            wv0, wv1, wv2 = wwvec[e, d, 0], wwvec[e, d, 1], wwvec[e, d, 2]
            pn, pb = ut[0, e, d, lo:lo + n].reshape(k4), ut[1, e, d, lo:lo + n].reshape(k4)
            for k in range(k4):
                d0[k] += wd * (pn[k] - pb[k])
            for k in range(k4):
                d1x[k] += wv0 * (pn[k] - pb[k])
            for k in range(k4):
                d1y[k] += wv1 * (pn[k] - pb[k])
            for k in range(k4):
                d1z[k] += wv2 * (pn[k] - pb[k])
    return d0, d1x, d1y, d1z


@njit(**_INLINE)
def _self_rows(d0, d1x, d1y, d1z, v, mu, hs):
    """hs = mu D(v) of every cell (flat, as :func:`_self_field`)."""
    v0, v1, v2 = v[0], v[1], v[2]
    for k in range(hs.shape[0]):
        hs[k] = mu * (d0[k] - (v0 * d1x[k] + v1 * d1y[k] + v2 * d1z[k]))


@njit(**_JIT)
def _sweep_1d(u, inv_dx, vel, nonlinear, vec, ww, wwvec, h_fixed, mu, w, gbar, gdelta,
              eq0, eqz, kappa, emission, advect, out):
    """The whole right-hand side of a 1D block: ``u`` (n + 6, 2, E, D, 4) ghosted, ``out``
    (n, 2, E, D, 4) overwritten.

    Advection in flux form: the face value between cells i and i + 1 (WENO-Z if
    ``nonlinear``, else the linear fifth-order one; upwind by the sign of v) is computed
    once and used by both cells. Each element of ``out`` gets the same operations in the
    same order as :func:`_local_terms` after the flux difference, so the result does not
    depend on where a cell sits in the block (vector body or remainder of a loop): no
    fast-math, no reassociation.
    """
    n = out.shape[0]
    n_s, n_e, n_d = u.shape[1], u.shape[2], u.shape[3]
    ut = _rows(u)
    face = np.empty((n + 1, 4))
    row = np.empty((n, 4))
    hs = np.empty((n, 4))
    k4 = 4 * n
    fh = hs.reshape(k4)
    d0, d1x, d1y, d1z = _moment_rows(ut, 3, n, ww, wwvec)
    for d in range(n_d):
        v = vel[d]
        _self_rows(d0, d1x, d1y, d1z, vec[d], mu, fh)
        for s in range(n_s):
            for e in range(n_e):
                r = ut[s, e, d]
                if advect and v != 0.0:
                    _face_row(r, v > 0.0, nonlinear, face)
                    ff, fr = face.reshape(k4 + 4), row.reshape(k4)
                    for k in range(k4):
                        fr[k] = 0.0 - v * ((ff[k + 4] - ff[k]) * inv_dx)
                else:
                    row[:] = 0.0
                hx0, hy0, hz0 = h_fixed[s, e, 0], h_fixed[s, e, 1], h_fixed[s, e, 2]
                gb, gd, e0, ez = gbar[s], gdelta[s], eq0[s], eqz[s]
                # h x P, then emission/absorption, into the cell's slot of ``out``
                for x in range(n):
                    hx, hy, hz = hs[x, 1] + hx0, hs[x, 2] + hy0, hs[x, 3] + hz0
                    p0, px, py, pz = r[x + 3, 0], r[x + 3, 1], r[x + 3, 2], r[x + 3, 3]
                    o0 = row[x, 0]
                    o1 = row[x, 1] + (hy * pz - hz * py)
                    o2 = row[x, 2] + (hz * px - hx * pz)
                    o3 = row[x, 3] + (hx * py - hy * px)
                    if emission:
                        a0, az = e0 - p0, ez - pz
                        o0 += gb * a0 + gd * az
                        o1 -= gb * px
                        o2 -= gb * py
                        o3 += gb * az + gd * a0
                    out[x, s, e, d, 0] = o0
                    out[x, s, e, d, 1] = o1
                    out[x, s, e, d, 2] = o2
                    out[x, s, e, d, 3] = o3
    if kappa != 0.0:
        avg = hs
        for s in range(n_s):
            for e in range(n_e):
                fh[:] = 0.0
                for d in range(n_d):
                    wd, pr = w[d], ut[s, e, d, 3:3 + n].reshape(k4)
                    for k in range(k4):
                        fh[k] += wd * pr[k]
                for d in range(n_d):
                    pr = ut[s, e, d, 3:3 + n]
                    for x in range(n):
                        for c in range(4):
                            out[x, s, e, d, c] += kappa * (avg[x, c] - pr[x, c])


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
        self._inv_dx = 1.0 / self.dx
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
        gw, nd = STENCIL_WIDTH, len(self.axes)
        n = int(np.prod([m - 2 * gw for m in u.shape[:nd]]))
        out = np.empty((n,) + u.shape[nd:])
        self.evaluate(u, out)
        return out

    def evaluate(self, u: np.ndarray, out: np.ndarray) -> None:
        """F(U) of the ghosted ``u`` into ``out`` (n, 2, nE, n_dir, 4), C-contiguous,
        overwritten (the solver passes the view of PETSc's F: no copy)."""
        gw = STENCIL_WIDTH
        nd = len(self.axes)
        if self.axes == (2,):
            # one compiled sweep: advection fluxes and local terms, vectorised over x
            _sweep_1d(np.ascontiguousarray(u), self._inv_dx, self.v, self._nonlinear,
                      *self._local_args, self.advect, out)
            return
        block = tuple(m - 2 * gw for m in u.shape[:nd])
        p = np.ascontiguousarray(u[(slice(gw, -gw),) * nd]).reshape((-1,) + u.shape[nd:])
        out[...] = 0.0
        if self.advect:
            self._advect_nd(u, out.reshape(block + u.shape[nd:]))
        _local_block_kernel(p, *self._local_args, out)

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
