"""Exception types shared by the configuration layer and the engines.

Engines raise :class:`SettingsError` for settings they cannot honour (an
operator kind that the chosen propagator cannot use, a problem larger than
the memory or the PETSc index range); it is the same class as
``nmbhpc.config.ConfigError``, so the command line reports both the same way
(one line naming the key, exit status 2) and an engine never has to import
the config parser.
"""
from __future__ import annotations

from typing import Optional


class ConfigError(ValueError):
    """Invalid run configuration.

    Attributes
    ----------
    key : str
        Dotted path of the offending entry (``"model.modes[3].n"``); ``""`` for
        problems with the file as a whole (unreadable, TOML syntax).
    source_path : str or None
        The file (or ``"<string>"``) when known.
    """

    def __init__(self, key: str, message: str, source_path: Optional[str] = None):
        # one line whatever the input: control characters of keys and values are escaped
        self.key = one_line(key)
        self.detail = one_line(message)
        self.source_path = source_path
        where = f"at '{self.key}'" if key else f"in '{one_line(source_path or '<string>')}'"
        super().__init__(f"config error {where}: {self.detail}")

    def __reduce__(self):  # picklable (e.g. broadcast from the rank that loaded the file)
        return (type(self), (self.key, self.detail, self.source_path))


def one_line(text) -> str:
    """``text`` with control characters escaped (``\\n``, ``\\x00`` ...): one printable line."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


#: what an engine raises for settings it refuses (``SettingsError(key, message)``)
SettingsError = ConfigError
