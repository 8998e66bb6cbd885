"""Scale hierarchy of quantum kinetics (paper Secs. III-IV, Eqs. 11, 12, 17, 19).

* :mod:`.constants` — physical constants with their sources (PDG 2024, CODATA 2018).
* :mod:`.physical` — :class:`Conditions`, presets, the scales in s, MeV, cm.
* :mod:`.runs` — the same scales for a run config in code units, and the
  window checks (:func:`check_window`); both accept a kinetics config too.
* :mod:`.kinetic` — the table and window of the quantum-kinetic solver.
* :mod:`.table` — the table type (:class:`Row`), formatting and array export.

docs/hierarchy.md has the formulas, the presets and a worked example.
"""
from ..physics.constants import G_F_MEV2, HBAR_MEV_S, HBARC_MEV_CM, C_CM_S  # noqa: F401
from .physical import (  # noqa: F401
    PRESETS, Conditions, ConditionsError, coupling_g, cross_section, gf_e2, inequalities,
    matter_potential, physical_table, preset, self_energy, tau_collision, tau_forward, tau_int,
)
from .kinetic import kinetic_hierarchy, kinetic_window  # noqa: F401
from .runs import check_window, run_hierarchy, run_inequalities  # noqa: F401
from .table import DEFAULT_THRESHOLD, Inequality, Row, format_table, table_arrays, value  # noqa: F401
