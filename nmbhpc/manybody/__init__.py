"""Exact many-body dynamics of H_MB (Eq. (1), eq1.py): sector basis, distributed operators, MFN stepping.

The compiled (numba) kernels are cached on disk (``cache=True``): the first run
after an install or a change of the kernels compiles them (tens of seconds),
and says so once in the log.
"""
from __future__ import annotations

import logging

from numba.core import event as _numba_event

log = logging.getLogger(__name__)


class _CompileNotice(_numba_event.Listener):
    """Logs one INFO line when numba compiles a kernel of this package (a cache hit
    does not compile and says nothing)."""

    announced = False

    def on_start(self, event):
        dispatcher = event.data.get("dispatcher") if isinstance(event.data, dict) else None
        module = getattr(getattr(dispatcher, "py_func", None), "__module__", "") or ""
        if not self.announced and module.startswith(__name__):
            type(self).announced = True
            log.info("compiling kernels (first run only)")

    def on_end(self, event):
        pass


_numba_event.register("numba:compile", _CompileNotice())
