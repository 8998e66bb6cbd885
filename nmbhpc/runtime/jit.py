"""numba's ``njit`` for the package's compiled kernels, with one log line when they compile.

Every kernel module imports ``njit`` from here, not from numba: importing this
module registers a listener that logs "compiling kernels (first run only)" once,
at INFO, when numba compiles a kernel of nmbhpc (a kernel found in numba's disk
cache, ``cache=True``, does not compile and says nothing). The first run after
an install or a change of the kernels compiles them, which takes tens of seconds.

Only the modules that hold kernels import numba: the configuration, the
registries and the job templates do not, so they work on a login node without
the compute stack.
"""
from __future__ import annotations

import logging

from numba import njit
from numba.core import event as _numba_event

__all__ = ["njit"]

log = logging.getLogger(__name__)
_PACKAGE = __name__.split(".")[0]


class _CompileNotice(_numba_event.Listener):
    """Logs one INFO line when numba compiles a kernel of this package."""

    announced = False

    def on_start(self, event):
        dispatcher = event.data.get("dispatcher") if isinstance(event.data, dict) else None
        module = getattr(getattr(dispatcher, "py_func", None), "__module__", "") or ""
        if not self.announced and module.split(".")[0] == _PACKAGE:
            type(self).announced = True
            log.info("compiling kernels (first run only)")

    def on_end(self, event):
        pass


_numba_event.register("numba:compile", _CompileNotice())
