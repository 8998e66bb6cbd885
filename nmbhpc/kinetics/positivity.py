"""Positivity limiter for the density matrices: enforce P0 >= |P| after each step.

rho = (P0 + P.sigma)/2 is positive semi-definite iff |P| <= P0. Collisionless
dynamics moves each rho along its characteristic by a rotation of P, so |P|
and P0 are conserved there. A *pure* state (|P| = P0: any state with one
flavor empty, as in the fast-flavor code-comparison set-ups) sits on the
boundary with no margin, so every truncation error of the advection in |P|
that has the wrong sign is a violation; once the nonlinear flavor cascade
reaches the grid scale those errors are O(1) (docs/kinetics.md, "Positivity").

The ``norm`` limiter (``NumericsSettings.limiter``) projects every matrix
with |P| > P0 radially back onto the sphere, P -> P P0 / |P|: the nearest
positive matrix with the same P0 (number of the species) and the same
direction of P. It removes the overshoot and nothing else, so it is inactive
on mixed states with a margin and leaves linear growth untouched (tested).
P0 is unchanged, so the total lepton number is conserved exactly; ELN and
XLN change by the Pz part of the removed overshoot (reported, see below).
:func:`limit_norm` is this projection on whole cells, reporting that change as
the cell's lepton moment (the third total, the same quantity for both limiters).

Rejected alternative: shortening only the off-diagonal part (which would keep
every flavor number exactly) turns a round-off-level overshoot of a nearly
pure state into an O(1) cut of the coherence, sqrt(P0^2 - Pz^2) ~ 0: it halved
the simulated fast-flavor growth rate (0.347 instead of 0.690 for the Fiducial
set-up).

The ``conservative`` limiter (the default, :func:`limit_conservative`) makes the
same radial projection and then gives the Pz it moved back to the matrices of
the same cell that have a margin, so P0 and the ELN and XLN densities of every
cell are unchanged (to round-off) and rho >= 0 holds together. With theta = 0
and no collisions ELN and XLN are invariants of the equations, and the scheme
(flux form, symmetric self-interaction kernel) keeps them to round-off; this
limiter keeps it so.

Not collective: each rank limits its own cells; the counts are local (the
caller reduces them).
"""
from __future__ import annotations

import numpy as np

from ..runtime.jit import njit


def limit(p: np.ndarray) -> tuple[int, float, float]:
    """Project the cells ``p`` (..., 4) with |P| > P0 radially onto |P| = P0, in place.

    Returns ``(n_limited, overshoot, pz_change)``: how many matrices were
    rescaled, the sum of (|P| - P0) over them before limiting, and the sum of
    their change of Pz (occupation units, unweighted; it shrinks |Pz|: the flavor
    content moved by the limiter). The solver uses :func:`limit_norm`, which
    weighs that change into the cells' ELN - XLN instead.
    """
    p0 = p[..., 0]
    norm = np.sqrt(p[..., 1] ** 2 + p[..., 2] ** 2 + p[..., 3] ** 2)
    over = norm > p0
    if not over.any():
        return 0, 0.0, 0.0
    overshoot = float((norm[over] - p0[over]).sum())
    scale = np.maximum(p0[over], 0.0) / norm[over]
    pz = p[..., 3]
    dz = float(((scale - 1.0) * pz[over]).sum())
    for c in (1, 2, 3):
        p[..., c][over] *= scale
    return int(over.sum()), overshoot, dz


@njit(cache=True, error_model="numpy", boundscheck=False)
def _cell_kernel(p, ww, totals, restore):
    """Per cell of ``p`` (n, 2, nE, D, 4): radial projection, then (``restore``) the cell's
    Pz lepton moment restored from the margin of the other matrices (see
    :func:`limit_conservative`). ``totals`` (3,) accumulates (matrices limited, overshoot
    removed, change of the lepton moment left).

    |P| is taken once per matrix and again only where the projection changed P; the
    margins P0 - |P| serve both the capacity and the shift (nothing changes in between).
    """
    n, n_s, n_e, n_d = p.shape[0], p.shape[1], p.shape[2], p.shape[3]
    norm = np.empty((n_s, n_e, n_d))
    for x in range(n):
        over = 0
        for s in range(n_s):
            for e in range(n_e):
                for d in range(n_d):
                    p0 = p[x, s, e, d, 0]
                    px, py, pz = p[x, s, e, d, 1], p[x, s, e, d, 2], p[x, s, e, d, 3]
                    if px * px + py * py + pz * pz > p0 * p0 or p0 < 0.0:
                        over += 1
        if over == 0:
            continue
        for s in range(n_s):
            for e in range(n_e):
                for d in range(n_d):
                    px, py, pz = p[x, s, e, d, 1], p[x, s, e, d, 2], p[x, s, e, d, 3]
                    norm[s, e, d] = np.sqrt(px * px + py * py + pz * pz)
        # radial projection; `moved` = its change of sum W w (Pz_nu - Pz_nubar)
        moved = 0.0
        for s in range(n_s):
            sign = 1.0 if s == 0 else -1.0
            for e in range(n_e):
                for d in range(n_d):
                    q = p[x, s, e, d]
                    if norm[s, e, d] > q[0]:
                        totals[0] += 1.0
                        totals[1] += norm[s, e, d] - q[0]
                        scale = max(q[0], 0.0) / norm[s, e, d]
                        moved += sign * ww[e, d] * (scale - 1.0) * q[3]
                        q[1] *= scale
                        q[2] *= scale
                        q[3] *= scale
                        norm[s, e, d] = np.sqrt(q[1] * q[1] + q[2] * q[2] + q[3] * q[3])
        if not restore:
            totals[2] += moved
            continue
        # margins m = P0 - |P| of the projected cell and their weighted sum over m > 0
        cap = 0.0
        for s in range(n_s):
            for e in range(n_e):
                for d in range(n_d):
                    m = p[x, s, e, d, 0] - norm[s, e, d]
                    norm[s, e, d] = m
                    if m > 0.0:
                        cap += ww[e, d] * m
        if not abs(moved) > cap:
            # undo the change of the moment from the margin
            if moved != 0.0:
                _shift(p[x], norm, -moved / cap)
        else:
            # too little margin: use all of it, report the rest
            c = -1.0 if moved > 0.0 else 1.0
            if cap > 0.0:
                _shift(p[x], norm, c)
            totals[2] += moved + c * cap


@njit(cache=True, error_model="numpy", boundscheck=False)
def _shift(cell, margin, c):
    """Pz += c m (nu) and Pz -= c m (nubar) where the margin m = (P0 - |P|) > 0: |P| stays
    <= P0 for |c| <= 1 and sum W w (Pz_nu - Pz_nubar) changes by c * capacity."""
    for s in range(cell.shape[0]):
        sign = 1.0 if s == 0 else -1.0
        for e in range(cell.shape[1]):
            for d in range(cell.shape[2]):
                m = margin[s, e, d]
                if m > 0.0:
                    cell[s, e, d, 3] += sign * c * m


def limit_conservative(p: np.ndarray, ww: np.ndarray) -> np.ndarray:
    """Positivity with the lepton-number densities of every cell kept, in place.

    ``p`` (n, 2, nE, D, 4) are whole cells (species nu, nubar), ``ww`` (nE, D) the
    weights W_e w_i of the angular-energy moments. In each cell with a matrix outside
    the cone |P| <= P0:

    1. the overshooting matrices are projected radially (as :func:`limit`), which
       keeps P0 but changes the cell's ELN/XLN through the Pz moment
       ``M = sum_{e,i} W_e w_i (Pz_nu - Pz_nubar)``;
    2. that change is given back by ``Pz += c m`` (nu) and ``Pz -= c m`` (nubar) on the
       matrices with a margin ``m = P0 - |P|``, one c per cell: such a matrix stays
       inside the cone for ``|c| <= 1``, and the cell's P0 and M are as before;
    3. if the cell's margin is too small for that (a cell of nearly pure states, e.g.
       round-off overshoots in the linear phase of a pure background), all of it is
       used and the rest is reported, not forced: shortening the transverse part
       instead would cut the coherence of nearly pure states by O(1) (see above).

    Returns (matrices limited, sum of overshoots |P| - P0 removed, change of
    sum M over cells not restored) — the last is 0 unless step 3 happened.
    Not collective; cell-local, so independent of the partition.
    """
    totals = np.zeros(3)
    _cell_kernel(p, np.ascontiguousarray(ww, dtype=float), totals, True)
    return totals


def limit_norm(p: np.ndarray, ww: np.ndarray) -> np.ndarray:
    """The ``norm`` limiter on whole cells: :func:`limit`'s radial projection, in place.

    ``p`` and ``ww`` as for :func:`limit_conservative`, and the same totals: (matrices
    limited, sum of overshoots removed, change of sum M over cells), where nothing
    is restored, so the last is the whole change of the cells' ELN - XLN that
    the projection made. Not collective.
    """
    totals = np.zeros(3)
    _cell_kernel(p, np.ascontiguousarray(ww, dtype=float), totals, False)
    return totals
