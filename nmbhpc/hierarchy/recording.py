"""Store a run's scale hierarchy (nmbhpc.hierarchy) in its HDF5 run file.

The one call a run command makes after creating its writer::

    warnings = record_hierarchy(config, writer)

writes ``/hierarchy/{name,value,unit,formula}`` (the rows of
:func:`nmbhpc.hierarchy.run_hierarchy`, code units: frequencies in omega0,
times in 1/omega0), ``/hierarchy/inequalities/{name,ratio,holds}`` (Eq. 17;
holds = 1, 0, or -1 for undefined) and the root attribute
``hierarchy_warnings`` (the :func:`~nmbhpc.hierarchy.check_window` messages,
newline-separated, empty when the run stays inside its solver's window), and
logs each warning. A run warns once: on a restarted file (``--resume``) that
already has the table nothing is written again and the warnings already stored
in ``hierarchy_warnings`` are returned but not logged again; only a warning the
file does not hold yet (a file written by an older version) is logged and added.
"""
from __future__ import annotations

import logging

import numpy as np

from . import check_window, run_hierarchy, run_inequalities, table_arrays

log = logging.getLogger("nmbhpc.hierarchy.recording")

GROUP = "hierarchy"
#: root attribute holding the warnings a run raised (newline-separated; "" for none)
WARNINGS_ATTR = "hierarchy_warnings"


def record_hierarchy(config, writer, conditions=None, collision_rate=None,
                     growth_rate=None) -> list[str]:
    """Collective. Write the hierarchy table of ``config`` into ``writer``; return the warnings.

    config : RunConfig or KineticSettings; writer : an open run file
    (:class:`nmbhpc.io.run_file.RunFile`: ``has_dataset``, ``write_static``,
    ``set_attrs``).
    conditions, collision_rate, growth_rate : as for
    :func:`nmbhpc.hierarchy.run_hierarchy` (defaults: supernova preset,
    the config's collision rate if any, the order-of-magnitude Lambda).
    """
    warnings = check_window(config, conditions, collision_rate, growth_rate)
    if writer.has_dataset(f"{GROUP}/name"):  # a restarted run: the table was written at creation
        stored = [w for w in str(writer.root_attr(WARNINGS_ATTR, "")).split("\n") if w]
        new = [w for w in warnings if w not in stored]
        if len(new) < len(warnings):
            log.info("%d run-window warning(s) were reported when this run started "
                     "(root attribute %s)", len(warnings) - len(new), WARNINGS_ATTR)
        if new:
            writer.set_attrs(**{WARNINGS_ATTR: "\n".join(stored + new)})
            _log(new)
        return warnings
    rows = run_hierarchy(config, conditions, collision_rate, growth_rate)
    for key, arr in table_arrays(rows).items():
        writer.write_static(f"{GROUP}/{key}", arr)
    ineq = run_inequalities(rows)
    names = [i.name.encode("utf-8") for i in ineq]
    writer.write_static(f"{GROUP}/inequalities/name",
                        np.array(names, dtype=f"S{max(len(n) for n in names)}"))
    writer.write_static(f"{GROUP}/inequalities/ratio", np.array([i.ratio for i in ineq]))
    writer.write_static(f"{GROUP}/inequalities/holds",
                        np.array([-1 if i.holds is None else int(i.holds) for i in ineq], dtype=np.int8))
    writer.set_attrs(**{WARNINGS_ATTR: "\n".join(warnings)})
    _log(warnings)
    return warnings


def _log(warnings) -> None:
    for w in warnings:
        log.warning("%s", w)

