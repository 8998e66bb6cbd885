"""Standard flavor models of the literature, as tuples of :class:`~nmbhpc.physics.model.Mode`.

Plain functions, usable from Python and from the config (``[model.generator]``,
docs/config.md). Frequencies are in units of omega0, directions are unit
3-vectors, initial states are flavor-frame isospin polarisations
(``(0, 0, +1)`` = isospin up = nu_e for a neutrino mode; see
docs/conventions.md for the flipped-isospin convention of antineutrino-like
modes). Arguments are checked with ``ValueError``; the config layer validates
them first so that its errors can name the offending key.

The angular coupling (single- or multi-angle) is a property of the
:class:`~nmbhpc.physics.model.Model`, not of the modes: each docstring says which one
the model was designed for.
"""
from __future__ import annotations

from typing import Sequence, Union

import numpy as np

from .model import Mode

__all__ = [
    "single_angle",
    "two_beam",
    "multi_angle",
    "flavor_states",
    "random_directions",
    "polar_directions",
]

NU_E = (0.0, 0.0, 1.0)   # isospin up
NU_X = (0.0, 0.0, -1.0)  # isospin down

StateSpec = Union[str, Sequence]


def _state_vector(spec) -> tuple:
    if isinstance(spec, str):
        if spec == "e":
            return NU_E
        if spec == "x":
            return NU_X
        raise ValueError(f"unknown flavor state {spec!r} (expected 'e' or 'x')")
    v = np.asarray(spec, dtype=np.float64)
    if v.shape != (3,) or not np.all(np.isfinite(v)):
        raise ValueError(f"a polarisation must be a finite 3-vector, got {spec!r}")
    norm = float(np.linalg.norm(v))
    if abs(norm - 1.0) > 1e-8:
        raise ValueError(f"a polarisation must be a unit vector (pure product states only), "
                         f"got norm {norm!r}")
    return tuple(float(x) for x in v / norm)


def flavor_states(states: StateSpec, n_modes: int) -> list[tuple]:
    """Initial polarisation of each of ``n_modes`` modes.

    ``states``: ``"e"`` (all isospin up), ``"x"`` (all down), ``"split"`` (the
    first ``ceil(n_modes/2)`` modes ``"e"``, the rest ``"x"``: with an
    increasing spectrum, the low-frequency half starts as nu_e), or a sequence
    of ``n_modes`` entries each ``"e"``, ``"x"`` or a unit 3-vector.
    """
    if n_modes < 1:
        raise ValueError(f"n_modes must be >= 1, got {n_modes}")
    if isinstance(states, str):
        if states == "split":
            n_e = (n_modes + 1) // 2
            return [NU_E] * n_e + [NU_X] * (n_modes - n_e)
        return [_state_vector(states)] * n_modes
    states = list(states)
    if len(states) != n_modes:
        raise ValueError(f"{len(states)} states for {n_modes} modes")
    return [_state_vector(s) for s in states]


def random_directions(n: int, seed: int = 0) -> np.ndarray:
    """``n`` directions uniform on the unit sphere, float64[n, 3].

    ``numpy.random.default_rng(seed)`` draws an ``(n, 2)`` block ``u`` of
    uniforms; ``cos(polar) = 2 u[:, 0] - 1``, ``azimuth = 2 pi u[:, 1]``. The
    result depends only on ``(n, seed)``, so every MPI rank builds the same model.
    """
    u = np.random.default_rng(seed).random((n, 2))
    cz = 2.0 * u[:, 0] - 1.0
    sz = np.sqrt(np.clip(1.0 - cz * cz, 0.0, 1.0))
    phi = 2.0 * np.pi * u[:, 1]
    return np.stack([sz * np.cos(phi), sz * np.sin(phi), cz], axis=1)


def polar_directions(n: int) -> np.ndarray:
    """``n`` directions in the xz plane at evenly spaced polar angles, float64[n, 3].

    Polar angles ``(k + 1/2) pi / n``, k = 0..n-1 (cell midpoints of [0, pi]):
    ``(sin a, 0, cos a)``. No two directions coincide, so every pair couples.
    """
    a = (np.arange(n) + 0.5) * np.pi / n
    return np.stack([np.sin(a), np.zeros(n), np.cos(a)], axis=1)


def _unit_rows(directions, n_modes: int) -> list[tuple]:
    d = np.asarray(directions, dtype=np.float64)
    if d.shape != (n_modes, 3) or not np.all(np.isfinite(d)):
        raise ValueError(f"directions must be a finite array of shape ({n_modes}, 3), "
                         f"got shape {d.shape}")
    norms = np.linalg.norm(d, axis=1)
    if np.any(norms < 1e-12):
        raise ValueError(f"direction {int(np.argmin(norms))} is (near) zero: cannot normalise")
    d = d / norms[:, None]
    return [tuple(float(x) for x in row) for row in d]


def single_angle(n_modes: int, n_per_mode: int = 1, omega0: float = 1.0,
                 states: StateSpec = "split") -> tuple:
    """Single-angle model with the linear spectrum ``omega_p = p * omega0``, p = 1..n_modes.

    The spin-model of collective oscillations studied exactly by Pehlivan,
    Balantekin, Kajino & Yoshida, PRD 84, 065008 (2011) and, with
    entanglement, by Cervia, Patwardhan, Balantekin, Coppersmith & Johnson,
    PRD 100, 083001 (2019): ``n_modes`` modes of ``n_per_mode`` neutrinos each,
    all directions +z (irrelevant: use it with a single-angle coupling).
    ``states`` as in :func:`flavor_states`; the default ``"split"`` starts the
    low-frequency half as nu_e and the rest as nu_x, as in those papers.
    """
    if n_per_mode < 1:
        raise ValueError(f"n_per_mode must be >= 1, got {n_per_mode}")
    if not (np.isfinite(omega0) and omega0 > 0):
        raise ValueError(f"omega0 must be positive and finite, got {omega0!r}")
    pols = flavor_states(states, n_modes)
    return tuple(Mode(n=int(n_per_mode), omega=float(p * omega0), polarization=pol)
                 for p, pol in zip(range(1, n_modes + 1), pols))


def two_beam(n_nu: int, n_nubar: int, omega: float = 1.0, hierarchy: str = "inverted",
             flavor: str = "e", beam_angle: float = np.pi) -> tuple:
    """The bipolar (two-beam) model: one neutrino mode and one antineutrino mode.

    Hannestad, Raffelt, Sigl & Wong, PRD 74, 105010 (2006) ("flavor pendulum").
    Mode 0 holds ``n_nu`` neutrinos of frequency ``+omega`` (normal hierarchy)
    or ``-omega`` (inverted), direction +z, isospin up (``flavor="e"``: nu_e)
    or down (``"x"``). Mode 1 holds ``n_nubar`` antineutrinos in the
    flipped-isospin convention: frequency of the opposite sign and isospin
    *opposite* to mode 0 (``flavor="e"``: nubar_e = isospin down), direction
    ``(sin beam_angle, 0, cos beam_angle)`` (default: counter-propagating).
    Designed for a single-angle coupling; with a multi-angle coupling the two
    beams couple with ``1 - cos(beam_angle)`` (2 when counter-propagating).
    With ``theta = 0`` the mean-field flavor state is an equilibrium (unstable
    in the inverted hierarchy, where a small mixing angle makes the pendulum
    swing); in the exact many-body evolution the product state is not an
    eigenstate of ``J_1.J_2``, so quantum fluctuations alone start it.
    """
    for name, n in (("n_nu", n_nu), ("n_nubar", n_nubar)):
        if n < 1:
            raise ValueError(f"{name} must be >= 1, got {n}")
    if not (np.isfinite(omega) and omega > 0):
        raise ValueError(f"omega must be positive and finite, got {omega!r}")
    if hierarchy not in ("normal", "inverted"):
        raise ValueError(f"hierarchy must be 'normal' or 'inverted', got {hierarchy!r}")
    if flavor not in ("e", "x"):
        raise ValueError(f"flavor must be 'e' or 'x', got {flavor!r}")
    w = float(omega) if hierarchy == "normal" else -float(omega)
    up = _state_vector(flavor)
    down = tuple(-x for x in up)
    nubar_dir = _unit_rows([[np.sin(beam_angle), 0.0, np.cos(beam_angle)]], 1)[0]
    return (Mode(n=int(n_nu), omega=w, direction=(0.0, 0.0, 1.0), polarization=up,
                 species="nu"),
            Mode(n=int(n_nubar), omega=-w, direction=nubar_dir, polarization=down,
                 species="nubar"))


def multi_angle(n_modes: int, n_per_mode: int = 1, omega: float = 1.0,
                directions: Union[str, Sequence] = "random", seed: int = 0,
                states: StateSpec = "split", spectrum: str = "constant",
                omega0: float = 1.0) -> tuple:
    """Multi-angle model: modes with distinct momentum directions.

    The all-to-all coupling ``1 - p.q`` of the many-body Hamiltonian as in
    Roggero, PRD 104, 103016 (2021) (random directions, one neutrino per mode).
    ``spectrum="constant"``: every mode has frequency ``omega``;
    ``spectrum="linear"``: ``omega_p = p * omega0``, p = 1..n_modes.
    ``directions``: ``"random"`` (:func:`random_directions` with ``seed``),
    ``"polar"`` (:func:`polar_directions`) or an ``(n_modes, 3)`` array
    (normalised here). ``states`` as in :func:`flavor_states`.
    Designed for the multi-angle coupling.
    """
    if n_per_mode < 1:
        raise ValueError(f"n_per_mode must be >= 1, got {n_per_mode}")
    pols = flavor_states(states, n_modes)
    if spectrum == "constant":
        omegas = np.full(n_modes, float(omega))
    elif spectrum == "linear":
        omegas = float(omega0) * np.arange(1, n_modes + 1)
    else:
        raise ValueError(f"spectrum must be 'constant' or 'linear', got {spectrum!r}")
    if not np.all(np.isfinite(omegas)):
        raise ValueError("frequencies must be finite")
    if isinstance(directions, str):
        if directions == "random":
            dirs = random_directions(n_modes, seed)
        elif directions == "polar":
            dirs = polar_directions(n_modes)
        else:
            raise ValueError(f"directions must be 'random', 'polar' or an array, got {directions!r}")
    else:
        dirs = directions
    dirs = _unit_rows(dirs, n_modes)
    return tuple(Mode(n=int(n_per_mode), omega=float(w), direction=d, polarization=pol)
                 for w, d, pol in zip(omegas, dirs, pols))
