"""Time dependence of the self-interaction strength mu(t), and the exponential
integrators for ``H(t) = D + mu(t) A``.

mu is in units of omega0 and t in units of 1/omega0. Solvers that step with
exponentials of a time-independent operator (the exact many-body engine) get
the factors from :meth:`MuSchedule.exponentials`: pairs ``(dt, mu)`` whose
product ``... exp(-i dt_2 H(mu_2)) exp(-i dt_1 H(mu_1))`` (first pair applied
first) approximates the propagator over an interval.

The integrators (:data:`INTEGRATORS`) are commutator-free Magnus schemes
(:class:`CommutatorFree`): on a step [t, t + h], with ``H_k = H(t + c_k h)`` at
the nodes ``c_k``,

    U(t + h, t) = exp(-i h sum_k a_Jk H_k) ... exp(-i h sum_k a_1k H_k) + O(h^(p+1)),

the row ``a_1`` applied first. Since H is affine in mu, row j is
``exp(-i h s_j (D + mu_j A))`` with ``s_j = sum_k a_jk`` and
``mu_j = sum_k a_jk mu(t + c_k h) / s_j``: one exponential of the same operator
family, no commutator; a negative ``s_j`` is a step backwards in time.

* ``"midpoint"``: the exponential midpoint rule, p = 2, one exponential
  (``c = 1/2``, ``a = 1``).
* ``"cf4"``: CF4:2 of Blanes & Moan, Appl. Numer. Math. 56, 1519 (2006) and
  Alvermann & Fehske, J. Comput. Phys. 230, 5930 (2011): p = 4, two
  exponentials of h/2, Gauss-Legendre nodes ``c = 1/2 -+ sqrt(3)/6``,
  ``a = [[1/4 + sqrt(3)/6, 1/4 - sqrt(3)/6], [1/4 - sqrt(3)/6, 1/4 + sqrt(3)/6]]``.
* ``"cf6"``: a sixth-order scheme with four exponentials on the three
  Gauss-Legendre nodes ``c = 1/2 - sqrt(15)/10, 1/2, 1/2 + sqrt(15)/10``
  (coefficients :data:`CF6_WEIGHTS`, as tabulated with the mkprop package of
  Auzinger, Hofstaetter, Koch et al.; the sixth order is checked against an
  independent dense integration in tests/test_manybody_magnus.py). Its exponentials
  span ``s = 0.724, -0.447, 0.447, 0.276`` of the step (one backwards), 1.89 h in all.

Where mu takes the same value at all nodes of a step (constant mu, a table's
constant stretch) the scheme's factors are one exponential over h.

Steps (:meth:`MuSchedule.step_edges`): equal steps no longer than ``max_step``
for midpoint, and for cf4/cf6 when ``step_tol`` is 0; else (cf4, cf6) steps that
follow the schedule: the step density
(steps per unit time) is ``max(1/max_step, (Phi(t) / step_tol)^(1/(p+1)))``
with ``Phi = |mu'(t)| (1 + |mu(t)|)^2``, so that a step of length h commits a
local error ~ h^(p+1) Phi ~ step_tol. ``Phi`` stands for the size of the
leading commutator terms ``[H, [H, ..., H']]`` of the Magnus expansion
(H' = mu' A, |H| ~ 1 + |mu| in units of omega0); it is a model from mu(t)
alone, so the steps are the same on every rank and on a resumed run. The steps
of each output interval (and, for p > 2 with a table, of each stretch between
the table's times, kinks of mu(t) where a step across would lose orders) are
placed by equidistributing that density. A constant mu takes one exponential
per interval whatever the integrator (every scheme is exact there).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CommutatorFree:
    """A commutator-free Magnus scheme: ``order`` p, ``nodes`` c_k (fractions of the
    step), ``weights`` a_jk (one row per exponential, in the order applied)."""

    order: int
    nodes: tuple
    weights: tuple

    def factors(self, h: float, mus) -> list[tuple[float, float]]:
        """``(dt, mu)`` of the exponentials of one step of length h, given mu at the
        nodes (the module docstring gives the rule)."""
        mus = [float(m) for m in mus]
        if all(m == mus[0] for m in mus):
            return [(h, mus[0])]
        out = []
        for row in self.weights:
            s = float(sum(row))
            out.append((h * s, sum(a * m for a, m in zip(row, mus)) / s))
        return out


_SQRT3 = float(np.sqrt(3.0))
_SQRT15 = float(np.sqrt(15.0))
#: CF4:2 Gauss-Legendre nodes c_1, c_2 (fractions of the step)
CF4_NODES = (0.5 - _SQRT3 / 6.0, 0.5 + _SQRT3 / 6.0)
#: CF4:2 weights a_1, a_2 (Blanes & Moan 2006; Alvermann & Fehske 2011)
CF4_WEIGHTS = (0.25 - _SQRT3 / 6.0, 0.25 + _SQRT3 / 6.0)
#: three-point Gauss-Legendre nodes of cf6
CF6_NODES = (0.5 - _SQRT15 / 10.0, 0.5, 0.5 + _SQRT15 / 10.0)
#: cf6 weights a_jk, one row per exponential in the order applied
CF6_WEIGHTS = ((0.79124225942889763, -0.080400755305553218, 0.012765293626634554),
               (-0.48931475164583259, 0.054170980027798808, -0.012069823881924156),
               (-0.029025638294289255, 0.50138457552775674, -0.025145341733509552),
               (0.0048759082890019896, -0.030710355805557892, 0.30222764976657693))

#: the exponential integrators (``manybody.time_integrator``)
SCHEMES = {
    "midpoint": CommutatorFree(2, (0.5,), ((1.0,),)),
    "cf4": CommutatorFree(4, CF4_NODES, ((CF4_WEIGHTS[1], CF4_WEIGHTS[0]),
                                         (CF4_WEIGHTS[0], CF4_WEIGHTS[1]))),
    "cf6": CommutatorFree(6, CF6_NODES, CF6_WEIGHTS),
}
#: names of the exponential integrators (``manybody.time_integrator``)
INTEGRATORS = tuple(SCHEMES)
#: samples per stretch for the integral of the step density
_DENSITY_SAMPLES = 513


def bulb_geometric_factor(r: np.ndarray, radius: float) -> np.ndarray:
    """Single-angle bulb-model factor ``D(r) = (1 - sqrt(1 - (R/r)^2))^2 / 2``.

    Duan, Fuller, Carlson & Qian, PRD 74, 105014 (2006), Eq. (8): the
    neutrino-neutrino coupling above a neutrinosphere of radius R falls like
    D(r), i.e. ~ R^4 / (8 r^4) at large r.
    """
    x = np.clip(radius / np.asarray(r, dtype=np.float64), 0.0, 1.0)
    return 0.5 * (1.0 - np.sqrt(1.0 - x * x)) ** 2


@dataclass(frozen=True)
class MuSchedule:
    """mu(t) in units of omega0.

    kind : "constant" | "table" | "bulb"
        constant: ``mu(t) = mu0``.
        table: linear interpolation in (``times``, ``values``), held constant
        outside the table.
        bulb: ``mu(t) = mu0 * D(r0 + t) / D(r0)`` with D the bulb geometric
        factor for neutrinosphere radius ``radius`` (lengths in 1/omega0, c = 1).
    max_step : float
        Longest step of the exponential integrators (:meth:`exponentials`;
        ignored for constant mu): the step of midpoint, and of cf4/cf6 with
        ``step_tol = 0``; with a ``step_tol`` the steps follow mu(t) and only
        where mu hardly changes reach this length.
    """

    kind: str = "constant"
    mu0: float = 0.0
    times: tuple = ()
    values: tuple = ()
    r0: float = 1.0
    radius: float = 1.0
    max_step: float = 0.5

    @property
    def is_constant(self) -> bool:
        return self.kind == "constant"

    def __call__(self, t) -> np.ndarray | float:
        t = np.asarray(t, dtype=np.float64)
        if self.kind == "constant":
            out = np.full(t.shape, float(self.mu0))
        elif self.kind == "table":
            out = np.interp(t, np.asarray(self.times), np.asarray(self.values))
        elif self.kind == "bulb":
            d0 = bulb_geometric_factor(self.r0, self.radius)
            out = self.mu0 * bulb_geometric_factor(self.r0 + t, self.radius) / d0
        else:  # validated at the config edge; this is a programming error
            raise ValueError(f"unknown mu schedule kind {self.kind!r}")
        return float(out) if out.ndim == 0 else out

    def rate(self, t) -> np.ndarray:
        """d mu / dt (omega0^2) at t: the slope of the table's stretch (0 outside the
        table; at a table time, the slope of the stretch after it), the bulb's
        analytic derivative, 0 for a constant mu."""
        t = np.atleast_1d(np.asarray(t, dtype=np.float64))
        if self.kind == "table":
            times, values = np.asarray(self.times), np.asarray(self.values)
            if len(times) < 2:
                return np.zeros_like(t)
            slopes = np.diff(values) / np.diff(times)
            k = np.searchsorted(times, t, side="right") - 1
            inside = (k >= 0) & (k < len(slopes))
            return np.where(inside, slopes[np.clip(k, 0, len(slopes) - 1)], 0.0)
        if self.kind == "bulb":
            # D(r) = (1 - s)^2 / 2, s = sqrt(1 - x^2), x = R/r: dD/dr = -(1 - s) x^2 / (s r)
            r = self.r0 + t
            x = np.clip(self.radius / r, 0.0, 1.0 - 1e-15)
            root = np.sqrt(1.0 - x * x)
            d0 = bulb_geometric_factor(self.r0, self.radius)
            return -self.mu0 * (1.0 - root) * x * x / (root * r) / d0
        return np.zeros_like(t)

    def step_edges(self, t0: float, t1: float, integrator: str = "midpoint",
                   step_tol: float = 0.0) -> np.ndarray:
        """Edges of the integrator's steps over [t0, t1] (the module docstring gives the
        rule): equal steps no longer than ``max_step`` for midpoint or if ``step_tol`` is
        0, else steps from the step density of the schedule; for p > 2 with a table, on each stretch
        between the table's times separately. Constant mu: ``[t0, t1]``."""
        if t1 <= t0:
            return np.array([t0])
        if self.is_constant:
            return np.array([t0, t1])
        order = SCHEMES[integrator].order
        stops = [t0, t1]
        if order > 2 and self.kind == "table":
            stops = [t0] + [float(k) for k in self.times if t0 < k < t1] + [t1]
        edges = [np.array([t0])]
        for a, b in zip(stops[:-1], stops[1:]):
            if step_tol > 0.0 and order > 2:
                x = np.linspace(a, b, _DENSITY_SAMPLES)
                # the slope of the stretch, not of its neighbour at a table time
                inner = np.clip(x, a + 1e-12 * (b - a), b - 1e-12 * (b - a))
                phi = np.abs(self.rate(inner)) * (1.0 + np.abs(np.asarray(self(inner)))) ** 2
                density = np.maximum(1.0 / self.max_step, (phi / step_tol) ** (1.0 / (order + 1)))
                s = np.concatenate([[0.0], np.cumsum(0.5 * (density[1:] + density[:-1]) * np.diff(x))])
                n = max(1, int(np.ceil(s[-1] - 1e-9)))
                inner_edges = np.interp(np.linspace(0.0, s[-1], n + 1)[1:-1], s, x)
                edges.append(np.append(inner_edges, b))
            else:
                n = max(1, int(np.ceil((b - a) / self.max_step - 1e-12)))
                edges.append(np.linspace(a, b, n + 1)[1:])
        return np.concatenate(edges)

    def exponentials(self, t0: float, t1: float, integrator: str = "midpoint",
                     step_tol: float = 0.0) -> list[tuple[float, float]]:
        """The factors ``(dt, mu)`` of ``integrator`` over [t0, t1], in the order they are
        applied: the propagator is approximated by the product of
        ``exp(-i dt (D + mu A))`` (the module docstring gives the schemes and the steps;
        dt < 0 is a step backwards)."""
        if t1 <= t0:
            return []
        if self.is_constant:
            return [(t1 - t0, float(self.mu0))]
        if integrator not in SCHEMES:  # validated at the config edge; a programming error
            raise ValueError(f"unknown time integrator {integrator!r}")
        scheme = SCHEMES[integrator]
        edges = self.step_edges(t0, t1, integrator, step_tol)
        starts, h = edges[:-1], np.diff(edges)
        mus = np.atleast_1d(self(starts[:, None] + np.asarray(scheme.nodes)[None, :] * h[:, None]))
        mus = mus.reshape(len(h), len(scheme.nodes))
        out = []
        for dt, m in zip(h.tolist(), mus):
            out.extend(scheme.factors(dt, m))
        return out
