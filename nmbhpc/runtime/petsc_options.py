"""Config values as PETSc options defaults: the command line always wins.

A solver that takes a setting from the TOML config (``manybody.mfn_type``,
the kinetic solver's fixed-step TS adaptor, ...) and also lets the user
override it with a PETSc option (``-mfn_type``, ``-kin_ts_adapt_type``) puts
the config value into the options database only for the options the command
line did not set, for the duration of the object's ``setFromOptions()``:

    with petsc_option_defaults("kin_", {"ts_adapt_type": "none"}) as user_set:
        ts.setFromOptions()
    # "ts_adapt_type" in user_set: the command line chose the adaptor

The defaults are removed again afterwards, so a second object built from a
different config in the same process sees its own values, and PETSc's
``-options_left`` report lists only options nobody used. Not collective (the
options database is per process), but call it identically on every rank of the
object's communicator, as setFromOptions is collective.
"""
from __future__ import annotations

import contextlib
from typing import Iterator, Mapping

from .stack import init_petsc

__all__ = ["petsc_option_defaults"]


def _text(value) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


@contextlib.contextmanager
def petsc_option_defaults(prefix: str, values: Mapping[str, object]) -> Iterator[frozenset]:
    """Set ``-<prefix><name> value`` for every entry of ``values`` the command line left unset.

    Entries whose value is None are skipped (no default). Yields the names (without
    the prefix) the command line had set; the defaults added here are deleted on exit.
    """
    PETSc, _ = init_petsc()
    opts = PETSc.Options()
    added, user_set = [], set()
    try:
        for name, value in values.items():
            key = prefix + name
            if opts.hasName(key):
                user_set.add(name)
            elif value is not None:
                opts.setValue(key, _text(value))
                added.append(key)
        yield frozenset(user_set)
    finally:
        for key in added:
            opts.delValue(key)
