"""Time dependence of the self-interaction strength mu(t), and the exponential
integrators for ``H(t) = D + mu(t) A``.

mu is in units of omega0 and t in units of 1/omega0. Solvers that step with
exponentials of a time-independent operator (the exact many-body engine) get
the factors from :meth:`MuSchedule.exponentials`: pairs ``(dt, mu)`` whose
product ``... exp(-i dt_2 H(mu_2)) exp(-i dt_1 H(mu_1))`` (first pair applied
first) approximates the propagator over an interval. Two integrators
(:data:`INTEGRATORS`), on steps no longer than ``max_step``:

* ``"midpoint"``, the exponential midpoint rule, second order:
  ``exp(-i h H(t + h/2))``, one exponential per step;
* ``"cf4"``, the fourth-order commutator-free Magnus integrator with two
  exponentials (Blanes & Moan, Appl. Numer. Math. 56, 1519 (2006);
  Alvermann & Fehske, J. Comput. Phys. 230, 5930 (2011), their CF4:2)::

      U(t + h, t) = exp(-i h (a1 H1 + a2 H2)) exp(-i h (a2 H1 + a1 H2)) + O(h^5),
      H_k = H(t + c_k h),  c_{1,2} = 1/2 -+ sqrt(3)/6  (Gauss-Legendre nodes),
      a_{1,2} = 1/4 -+ sqrt(3)/6,

  the right factor (weighted towards the earlier node) applied first. As H
  is affine in mu and ``a1 + a2 = 1/2``, each factor is
  ``exp(-i (h/2) H(mu_eff))`` of the same operator family, with
  ``mu_eff = 2 (a2 mu1 + a1 mu2)`` first and ``2 (a1 mu1 + a2 mu2)`` second:
  no commutator and no new operator. Where ``mu1 == mu2`` (constant mu, or a
  table's constant stretch) the two factors are one exponential over h.

A constant mu takes one exponential per interval with either integrator (both
are exact). For a table, cf4's steps also break at the table's times: mu(t)
has a kink there, and a step across it would lose two orders.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: names of the exponential integrators (``manybody.time_integrator``)
INTEGRATORS = ("midpoint", "cf4")

_SQRT3 = float(np.sqrt(3.0))
#: CF4:2 Gauss-Legendre nodes c_1, c_2 (fractions of the step)
CF4_NODES = (0.5 - _SQRT3 / 6.0, 0.5 + _SQRT3 / 6.0)
#: CF4:2 weights a_1, a_2 (Blanes & Moan 2006; Alvermann & Fehske 2011)
CF4_WEIGHTS = (0.25 - _SQRT3 / 6.0, 0.25 + _SQRT3 / 6.0)


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
        ignored for constant mu).
    """

    kind: str = "constant"
    mu0: float = 0.0
    times: tuple = ()
    values: tuple = ()
    r0: float = 1.0
    radius: float = 1.0
    max_step: float = 0.05

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

    def step_edges(self, t0: float, t1: float, integrator: str = "midpoint") -> np.ndarray:
        """Edges of the integrator's steps over [t0, t1]: equal steps no longer than
        ``max_step``, and for cf4 with a table, on each stretch between the table's
        times (kinks of mu(t)) separately. Constant mu: ``[t0, t1]``."""
        if t1 <= t0:
            return np.array([t0])
        if self.is_constant:
            return np.array([t0, t1])
        stops = [t0, t1]
        if integrator == "cf4" and self.kind == "table":
            stops = [t0] + [float(k) for k in self.times if t0 < k < t1] + [t1]
        edges = [np.array([t0])]
        for a, b in zip(stops[:-1], stops[1:]):
            n = max(1, int(np.ceil((b - a) / self.max_step - 1e-12)))
            edges.append(np.linspace(a, b, n + 1)[1:])
        return np.concatenate(edges)

    def exponentials(self, t0: float, t1: float,
                     integrator: str = "midpoint") -> list[tuple[float, float]]:
        """The factors ``(dt, mu)`` of ``integrator`` over [t0, t1], in the order they are
        applied: the propagator is approximated by the product of
        ``exp(-i dt (D + mu A))`` (the module docstring gives both schemes)."""
        if t1 <= t0:
            return []
        if self.is_constant:
            return [(t1 - t0, float(self.mu0))]
        edges = self.step_edges(t0, t1, integrator)
        starts, h = edges[:-1], np.diff(edges)
        if integrator == "midpoint":
            mids = 0.5 * (edges[1:] + edges[:-1])
            return [(float(dt), float(m)) for dt, m in zip(h, np.atleast_1d(self(mids)))]
        if integrator != "cf4":  # validated at the config edge; this is a programming error
            raise ValueError(f"unknown time integrator {integrator!r}")
        (c1, c2), (a1, a2) = CF4_NODES, CF4_WEIGHTS
        mu1 = np.atleast_1d(self(starts + c1 * h))
        mu2 = np.atleast_1d(self(starts + c2 * h))
        out = []
        for dt, m1, m2 in zip(h.tolist(), mu1.tolist(), mu2.tolist()):
            if m1 == m2:
                out.append((dt, m1))
            else:
                out.append((0.5 * dt, 2.0 * (a2 * m1 + a1 * m2)))
                out.append((0.5 * dt, 2.0 * (a1 * m1 + a2 * m2)))
        return out
