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

Rejected alternative: shortening only the off-diagonal part (which would keep
every flavor number exactly) turns a round-off-level overshoot of a nearly
pure state into an O(1) cut of the coherence, sqrt(P0^2 - Pz^2) ~ 0: it halved
the simulated fast-flavor growth rate (0.347 instead of 0.690 for the Fiducial
set-up).

Not collective: each rank limits its own cells; the counts are local (the
caller reduces them).
"""
from __future__ import annotations

import numpy as np


def limit(p: np.ndarray) -> tuple[int, float, float]:
    """Project the cells ``p`` (..., 4) with |P| > P0 radially onto |P| = P0, in place.

    Returns ``(n_limited, overshoot, eln_change)``: how many matrices were
    rescaled, the sum of (|P| - P0) over them before limiting, and the sum of
    their change of Pz (occupation units, unweighted; <= 0 in magnitude terms:
    the flavor content moved by the limiter).
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
