"""Physical constants (MeV, s, cm, g) for the physical scales of the hierarchy estimates and
the kinetic runs.

Sources
-------
* Fermi constant: PDG 2024, "Physical constants" table (R. L. Workman et al.
  [Particle Data Group], Review of Particle Physics), ``G_F/(hbar c)^3 =
  1.1663788(6) x 10^-5 GeV^-2`` (CODATA 2018 lists 1.1663787(6); the
  difference is far below anything these order-of-magnitude estimates resolve).
* ``hbar``, ``hbar c``, ``c``, the electron volt and the atomic mass constant:
  CODATA 2018 (E. Tiesinga et al., Rev. Mod. Phys. 93, 025010 (2021);
  physics.nist.gov/constants). Since the 2019 SI redefinition ``hbar``, ``c``
  and ``e`` (hence ``hbar c`` and the eV) are exact.

Natural-unit quantities are converted with ``hbar c``: an energy ``E`` (MeV)
corresponds to the length ``hbar c / E`` (cm) and the time ``hbar / E`` (s).
"""
from __future__ import annotations

import math

#: Fermi constant G_F/(hbar c)^3 in MeV^-2 (PDG 2024: 1.1663788e-5 GeV^-2).
G_F_MEV2 = 1.1663788e-11

#: Reduced Planck constant in MeV s (CODATA 2018, exact).
HBAR_MEV_S = 6.582119569e-22

#: hbar c in MeV cm (CODATA 2018: 197.3269804 MeV fm, exact).
HBARC_MEV_CM = 197.3269804e-13

#: Speed of light in cm/s (exact).
C_CM_S = 2.99792458e10

#: 1 MeV in erg (e = 1.602176634e-19 C exact).
MEV_ERG = 1.602176634e-6

#: Atomic mass constant m_u in g (CODATA 2018): baryon density n_b = rho / m_u.
ATOMIC_MASS_G = 1.66053906660e-24

#: G_F in MeV cm^3: the coefficient of the forward-scattering potential
#: ``V = sqrt(2) G_F n`` with n in cm^-3 and V in MeV (about 8.96e-44).
G_F_MEV_CM3 = G_F_MEV2 * HBARC_MEV_CM ** 3

#: Mean energy of a massless Fermi-Dirac gas with zero chemical potential in
#: units of its temperature: <E>/T = 7 pi^4 / (180 zeta(3)) = 3.1514.
ZETA3 = 1.2020569031595942
FD_MEAN_ENERGY_OVER_T = 7.0 * math.pi ** 4 / (180.0 * ZETA3)

KM_CM = 1.0e5
