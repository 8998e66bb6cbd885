"""Scales of Eqs. (11), (12), (17), (19) of the paper for physical conditions.

Units: energies in MeV, times in s, lengths in cm, densities in cm^-3 (mass
density in g cm^-3), luminosities in erg/s, radii in km. Constants and their
sources: :mod:`nmbhpc.physics.constants`. Every estimate here is an order of
magnitude; the O(1) factors chosen are stated in each docstring.

The quantities (``E`` = mean neutrino energy, ``n`` = neutrino number density):

* ``Sigma = sqrt(2) G_F n``: the neutrino self-energy (forward-scattering
  potential) from the neutrino background; ``Sigma/E`` is Eq. (11).
* ``V_matter = sqrt(2) G_F n_e``: the matter (electron) potential. It is a
  one-body term for the neutrinos (the medium is a classical background), so it
  builds no neutrino-neutrino correlations and does not enter tau_mfp^fs; it is
  reported for comparison.
* ``tau_int = hbar/E`` (interaction/overlap time), ``tau_mfp^fs = hbar/Sigma``
  (time between forward-scattering events), ``tau_mfp^c = 1/(sigma n_target c)``
  with the weak cross-section estimate ``sigma ~ G_F^2 E^2`` (natural units,
  i.e. ``G_F^2 E^2 (hbar c)^2`` in cm^2; no 1/pi or coupling factors) and
  ``n_target = n_b + n_e + n`` (nucleons, electrons, neutrinos) unless given.
* ``g = sqrt(2) G_F t / V`` of Eq. (19) with ``t = tau_int`` and ``V`` the
  interaction volume (default the de Broglie volume ``(hbar c/E)^3``), which
  makes ``g = sqrt(2) G_F E^2``; also ``g(t)`` at an elapsed time t.

Note on Eq. (11): ``Sigma/E ~ G_F E^2`` holds when ``n V ~ 1`` (one neutrino
per de Broglie volume); in general ``Sigma/E = g * n V`` exactly with the
definitions above. At E = 10 MeV, ``G_F E^2 = 1.2e-9`` while the paper's
``Sigma/E ~ 1e-12`` corresponds to ``n ~ 1e32 cm^-3`` (``n V ~ 1e-3``); both
rows are in the table.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Optional

from ..physics.constants import (
    ATOMIC_MASS_G, C_CM_S, FD_MEAN_ENERGY_OVER_T, G_F_MEV2, G_F_MEV_CM3, HBAR_MEV_S,
    HBARC_MEV_CM, KM_CM, MEV_ERG,
)
from .table import DEFAULT_THRESHOLD, Inequality, Row

SQRT2 = math.sqrt(2.0)


class ConditionsError(ValueError):
    """Invalid physical conditions; ``field`` names the offending Conditions field."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Conditions:
    """Physical conditions of a neutrino gas (validated on construction).

    Give exactly one of ``energy`` / ``temperature``; exactly one of
    ``density`` / (``luminosity`` and ``radius``); at most one of
    ``electron_density`` / ``mass_density``.

    energy : mean neutrino energy <E> (MeV).
    temperature : temperature T (MeV); then ``<E> = 3.1514 T`` (Fermi-Dirac, zero
        chemical potential).
    density : neutrino number density n (cm^-3).
    luminosity, radius : neutrino luminosity L (erg/s) at radius r (km); then
        ``n = L / (4 pi r^2 c <E>)`` (free streaming, radial).
    electron_density : n_e (cm^-3); then the baryon density is ``n_e / Y_e``.
    mass_density : rho (g cm^-3); then ``n_b = rho/m_u`` and ``n_e = Y_e n_b``.
    electron_fraction : Y_e in (0, 1].
    volume : interaction volume V (cm^3); default ``(hbar c / <E>)^3``.
    target_density : density of collision partners (cm^-3); default
        ``n_b + n_e + n``.
    elapsed : elapsed evolution time t of Eq. (17) (s), optional.
    label : free name (the preset's name).
    """

    energy: Optional[float] = None
    temperature: Optional[float] = None
    density: Optional[float] = None
    luminosity: Optional[float] = None
    radius: Optional[float] = None
    electron_density: Optional[float] = None
    mass_density: Optional[float] = None
    electron_fraction: float = 0.5
    volume: Optional[float] = None
    target_density: Optional[float] = None
    elapsed: Optional[float] = None
    label: str = "custom"

    def __post_init__(self):
        def positive(name, allow_zero=False):
            v = getattr(self, name)
            if v is None:
                return
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) \
                    or v < 0 or (v == 0 and not allow_zero):
                need = ">= 0" if allow_zero else "> 0"
                raise ConditionsError(name, f"{name} must be a finite number {need}, got {v!r}")

        for name in ("energy", "temperature", "density", "luminosity", "radius", "volume",
                     "elapsed"):
            positive(name)
        for name in ("electron_density", "mass_density", "target_density"):
            positive(name, allow_zero=True)
        positive("electron_fraction")
        if self.electron_fraction > 1:
            raise ConditionsError("electron_fraction",
                                  f"electron_fraction must be in (0, 1], got {self.electron_fraction!r}")
        if (self.energy is None) == (self.temperature is None):
            raise ConditionsError("energy", "give exactly one of energy (MeV) and temperature (MeV)")
        flux = (self.luminosity is not None, self.radius is not None)
        if self.density is not None and any(flux):
            raise ConditionsError("density", "give either density or luminosity and radius, not both")
        if self.density is None and not all(flux):
            raise ConditionsError("density" if not any(flux) else
                                  ("radius" if flux[0] else "luminosity"),
                                  "give the neutrino density, or both luminosity (erg/s) "
                                  "and radius (km)")
        if self.electron_density is not None and self.mass_density is not None:
            raise ConditionsError("electron_density",
                                  "give at most one of electron_density and mass_density")

    # --- derived inputs ---------------------------------------------------------
    @property
    def mean_energy(self) -> float:
        """<E> in MeV."""
        if self.energy is not None:
            return float(self.energy)
        return FD_MEAN_ENERGY_OVER_T * float(self.temperature)

    @property
    def neutrino_density(self) -> float:
        """n in cm^-3."""
        if self.density is not None:
            return float(self.density)
        r = self.radius * KM_CM
        return self.luminosity / (4.0 * math.pi * r * r * C_CM_S * self.mean_energy * MEV_ERG)

    @property
    def baryon_density(self) -> float:
        """n_b in cm^-3 (0 without matter)."""
        if self.mass_density is not None:
            return self.mass_density / ATOMIC_MASS_G
        if self.electron_density is not None:
            return self.electron_density / self.electron_fraction
        return 0.0

    @property
    def n_electrons(self) -> float:
        """n_e in cm^-3 (0 without matter)."""
        if self.electron_density is not None:
            return float(self.electron_density)
        return self.electron_fraction * self.baryon_density

    @property
    def collision_targets(self) -> float:
        """n_target in cm^-3."""
        if self.target_density is not None:
            return float(self.target_density)
        return self.baryon_density + self.n_electrons + self.neutrino_density

    @property
    def interaction_volume(self) -> float:
        """V in cm^3."""
        if self.volume is not None:
            return float(self.volume)
        return (HBARC_MEV_CM / self.mean_energy) ** 3


# --- presets -------------------------------------------------------------------
# Illustrative orders of magnitude near the neutrinosphere, not fits to a
# simulation. E = 10 MeV is the paper's value for both sites (Sec. III).
PRESETS = {
    # accretion phase: L ~ 1e52 erg/s per species at r ~ 30 km -> n ~ 2e32 cm^-3;
    # rho ~ 1e12 g/cm^3, Y_e ~ 0.2 -> n_e ~ 1e35 cm^-3
    "supernova": Conditions(energy=10.0, luminosity=1e52, radius=30.0,
                            mass_density=1e12, electron_fraction=0.2, label="supernova"),
    # remnant + disk: L ~ 5e52 erg/s at r ~ 60 km -> n ~ 2e32 cm^-3;
    # rho ~ 1e11 g/cm^3, neutron rich (Y_e ~ 0.1)
    "merger": Conditions(energy=10.0, luminosity=5e52, radius=60.0,
                         mass_density=1e11, electron_fraction=0.1, label="merger"),
}

# fields that replace each other when overriding a preset
_EXCLUSIVE = {
    "energy": ("temperature",), "temperature": ("energy",),
    "density": ("luminosity", "radius"), "luminosity": ("density",), "radius": ("density",),
    "electron_density": ("mass_density",), "mass_density": ("electron_density",),
}


def preset(name: str, **overrides) -> Conditions:
    """The named preset with ``overrides`` (Conditions fields) applied.

    An override replaces the alternatives it excludes (``temperature=`` drops the
    preset's energy, ``density=`` its luminosity and radius, ...). Overrides
    whose value is None are ignored.
    """
    if name not in PRESETS:
        raise ConditionsError("preset", f"unknown preset {name!r} (known: {', '.join(sorted(PRESETS))})")
    overrides = {k: v for k, v in overrides.items() if v is not None}
    fields = {f.name for f in dataclasses.fields(Conditions)}
    for k in overrides:
        if k not in fields:
            raise ConditionsError(k, f"unknown condition {k!r}")
    base = dataclasses.asdict(PRESETS[name])
    for k in overrides:
        for other in _EXCLUSIVE.get(k, ()):
            if other not in overrides:
                base[other] = None
    base.update(overrides)
    return Conditions(**base)


# --- the scales ---------------------------------------------------------------------
def self_energy(c: Conditions) -> float:
    """Sigma = sqrt(2) G_F n (MeV)."""
    return SQRT2 * G_F_MEV_CM3 * c.neutrino_density


def matter_potential(c: Conditions) -> float:
    """sqrt(2) G_F n_e (MeV)."""
    return SQRT2 * G_F_MEV_CM3 * c.n_electrons


def gf_e2(c: Conditions) -> float:
    """G_F E^2 (dimensionless), Eq. (11)."""
    return G_F_MEV2 * c.mean_energy ** 2


def cross_section(c: Conditions) -> float:
    """sigma ~ G_F^2 E^2 in cm^2 (G_F^2 E^2 (hbar c)^2)."""
    return G_F_MEV2 ** 2 * c.mean_energy ** 2 * HBARC_MEV_CM ** 2


def tau_int(c: Conditions) -> float:
    """hbar / E (s)."""
    return HBAR_MEV_S / c.mean_energy


def tau_forward(c: Conditions) -> float:
    """tau_mfp^fs = hbar / Sigma (s)."""
    return HBAR_MEV_S / self_energy(c)


def tau_collision(c: Conditions) -> float:
    """tau_mfp^c = 1 / (sigma n_target c) (s); inf without targets."""
    rate = cross_section(c) * c.collision_targets * C_CM_S
    return math.inf if rate == 0 else 1.0 / rate


def coupling_g(c: Conditions, t: Optional[float] = None) -> float:
    """g = sqrt(2) G_F t / V of Eq. (19) (dimensionless); t defaults to tau_int (s)."""
    t = tau_int(c) if t is None else t
    return SQRT2 * G_F_MEV_CM3 * (t / HBAR_MEV_S) / c.interaction_volume


def inequalities(c: Conditions, t: Optional[float] = None,
                 threshold: float = DEFAULT_THRESHOLD) -> list[Inequality]:
    """The three strong inequalities of Eq. (17), tau_int << t << tau_mfp^fs << tau_mfp^c,
    at elapsed time t (s; default ``c.elapsed``; without one the first two are n/a)."""
    t = c.elapsed if t is None else t
    tt = math.nan if t is None else float(t)
    ti, tf, tc = tau_int(c), tau_forward(c), tau_collision(c)
    return [
        Inequality.test("tau_int << t", ti, tt, threshold),
        Inequality.test("t << tau_mfp^fs", tt, tf, threshold),
        Inequality.test("tau_mfp^fs << tau_mfp^c", tf, tc, threshold),
    ]


def physical_table(c: Conditions, t: Optional[float] = None,
                   threshold: float = DEFAULT_THRESHOLD) -> list[Row]:
    """All scales for conditions ``c`` (and elapsed time t in s, default ``c.elapsed``)."""
    t = c.elapsed if t is None else t
    E, n = c.mean_energy, c.neutrino_density
    sig, vm = self_energy(c), matter_potential(c)
    ti, tf, tc = tau_int(c), tau_forward(c), tau_collision(c)
    with_tgt = c.collision_targets
    rows = [
        Row("E", E, "MeV", "input" if c.energy is not None else "3.1514 T (Fermi-Dirac mean)"),
        Row("n", n, "cm^-3", "input" if c.density is not None else "L / (4 pi r^2 c <E>)"),
        Row("n_e", c.n_electrons, "cm^-3",
            "input" if c.electron_density is not None else "Y_e rho / m_u"),
        Row("n_b", c.baryon_density, "cm^-3",
            "rho / m_u" if c.mass_density is not None else "n_e / Y_e"),
        Row("n_target", with_tgt, "cm^-3",
            "input" if c.target_density is not None else "n_b + n_e + n"),
        Row("V", c.interaction_volume, "cm^3",
            "input" if c.volume is not None else "(hbar c / E)^3, de Broglie volume (Eq. 19)"),
        Row("n V", n * c.interaction_volume, "1", "neutrinos per interaction volume"),
        Row("G_F E^2", gf_e2(c), "1", "Eq. (11)"),
        Row("Sigma", sig, "MeV", "sqrt(2) G_F n"),
        Row("Sigma/E", sig / E, "1", "Eq. (11) = tau_int/tau_mfp^fs"),
        Row("V_matter", vm, "MeV", "sqrt(2) G_F n_e (one-body; not in tau_mfp^fs)"),
        Row("V_matter/E", vm / E, "1", "sqrt(2) G_F n_e / E"),
        Row("sigma_c", cross_section(c), "cm^2", "G_F^2 E^2 (hbar c)^2"),
        Row("lambda_c", C_CM_S * tc, "cm", "1 / (sigma_c n_target)"),
        Row("tau_int", ti, "s", "hbar / E"),
        Row("tau_mfp^fs", tf, "s", "hbar / Sigma"),
        Row("tau_matter", HBAR_MEV_S / vm if vm > 0 else math.inf, "s", "hbar / V_matter"),
        Row("tau_mfp^c", tc, "s", "1 / (sigma_c n_target c)"),
        Row("tau_int/tau_mfp^c", ti / tc, "1", "Eq. (12) with n_target"),
        Row("(G_F E^2)^2", gf_e2(c) ** 2, "1", "Eq. (12) with n_target ~ E^3"),
        Row("tau_mfp^fs/tau_mfp^c", tf / tc, "1", "Eq. (17)"),
        Row("g", coupling_g(c), "1", "sqrt(2) G_F t/V at t = tau_int (Eq. 19)"),
        Row("t_min", ti / threshold, "s", f"tau_int / {threshold:g}: tau_int << t above it"),
        Row("t_max", threshold * tf, "s", f"{threshold:g} tau_mfp^fs: t << tau_mfp^fs below it"),
    ]
    if t is not None:
        rows += [
            Row("t", float(t), "s", "elapsed time (input)"),
            Row("tau_int/t", ti / t, "1", "Eq. (17)"),
            Row("t/tau_mfp^fs", t / tf, "1", "Eq. (17)"),
            Row("t/tau_mfp^c", t / tc, "1", "collisions matter when >~ 1"),
            Row("g(t)", coupling_g(c, t), "1", "sqrt(2) G_F t/V at the elapsed t (Sec. IV)"),
        ]
    return rows
