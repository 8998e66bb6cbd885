"""Flavor content of neutrino and antineutrino modes from flavor-isospin polarisations.

Convention (docs/conventions.md): a neutrino mode is the doublet ``(nu_e, nu_x)``,
so its nu_e occupation is ``(1 + P^z_p)/2``; an antineutrino mode is the flipped
doublet ``(-nubar_x, nubar_e)``, so its nubar_e occupation is ``(1 - P^z_p)/2``.
Which modes are antineutrinos: ``Mode.is_antineutrino``. Mixing the two in one average (the per-mode
``nue_fraction`` column of the run file is ``(1 + P^z)/2`` for every mode)
cancels a nu_e and a nubar_e beam that convert together: the bipolar model goes
from 1 to 0.56 in nu_e while the mixed average stays at 0.5.
"""
from __future__ import annotations

import numpy as np


def species_fractions(model, polarization: np.ndarray) -> dict[str, float]:
    """Particle-weighted flavor fractions by species, from ``polarization[M, 3]``
    (flavor frame). Keys present only for species the model has: ``"nu_e"``
    (nu_e fraction of the neutrino modes) and ``"nubar_e"`` (nubar_e fraction of
    the antineutrino modes, ``Mode.is_antineutrino``). Not collective."""
    nubar = np.array([m.is_antineutrino for m in model.modes], dtype=bool)
    nu = ~nubar
    n = np.asarray(model.counts, dtype=np.float64)
    pz = np.asarray(polarization, dtype=np.float64)[:, 2]
    out = {}
    if nu.any():
        out["nu_e"] = float(np.sum(n[nu] * 0.5 * (1 + pz[nu])) / np.sum(n[nu]))
    if nubar.any():
        out["nubar_e"] = float(np.sum(n[nubar] * 0.5 * (1 - pz[nubar])) / np.sum(n[nubar]))
    return out
