"""Initial product states: one spin-coherent state per mode.

A mode of ``n`` neutrinos all with the same one-body state is the spin
``j = n/2`` coherent state along its polarisation ``P``. In the computational
frame with ``P = (sin a cos b, sin a sin b, cos a)``, its amplitude on ``k``
down quanta (``m = j - k``) is

    sqrt(C(n, k)) cos(a/2)^(n-k) sin(a/2)^k e^{i k b}

(Condon-Shortley phases, J^+ real and non-negative), evaluated in logs so that
``n = 10^6`` neither overflows nor underflows.
"""
from __future__ import annotations

from math import lgamma

import numpy as np


def coherent_amplitudes(n: int, pol_comp: np.ndarray) -> np.ndarray:
    """Amplitudes over k = 0..n of the spin-n/2 coherent state along ``pol_comp`` (unit)."""
    px, py, pz = (float(v) for v in pol_comp)
    if px == 0.0 and py == 0.0:
        # a J^z eigenstate: exact, not cos(pi/2) = 6e-17 times sqrt(C(n, k)) spill-over
        amp = np.zeros(n + 1, dtype=np.complex128)
        amp[0 if pz > 0 else n] = 1.0
        return amp
    a = np.arccos(np.clip(pz, -1.0, 1.0))
    b = np.arctan2(py, px)
    c, s = np.cos(a / 2), np.sin(a / 2)
    k = np.arange(n + 1)
    with np.errstate(divide="ignore"):
        logc = np.log(c) if c > 0 else -np.inf
        logs = np.log(s) if s > 0 else -np.inf
    lbin = np.array([lgamma(n + 1) - lgamma(i + 1) - lgamma(n - i + 1) for i in k])
    with np.errstate(invalid="ignore"):
        la = 0.5 * lbin + np.where(n - k > 0, (n - k) * logc, 0.0) + np.where(k > 0, k * logs, 0.0)
    amp = np.exp(la) * np.exp(1j * b * k)
    amp[~np.isfinite(la)] = 0.0
    # cos(pi/2) is 6e-17, not 0: amplitudes 16 orders below the largest are
    # round-off of exact zeros (or tails of weight < 1e-32) and are dropped so
    # that the sector range stays tight
    amp[np.abs(amp) < 1e-16 * np.abs(amp).max()] = 0.0
    return amp


#: rows per block of :func:`product_state_local` (bounds its temporaries)
_BLOCK = 2**16


def product_state_local(amplitudes: list[np.ndarray], configs: np.ndarray,
                        out: np.ndarray | None = None) -> np.ndarray:
    """Amplitudes of the product state on the local configurations [n_local, M], into
    ``out`` (complex, n_local) when given. Blocks of rows keep the temporaries small
    (N = 30 on 2 ranks: 1.2 GB per state-sized temporary)."""
    if out is None:
        out = np.empty(len(configs), dtype=np.complex128)
    for start in range(0, len(configs), _BLOCK):
        rows = configs[start:start + _BLOCK]
        block = out[start:start + len(rows)]
        block[:] = 1.0
        for p, amp in enumerate(amplitudes):
            block *= amp[rows[:, p]]
    return out
