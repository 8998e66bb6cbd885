"""numba's ``njit`` for the package's compiled kernels, with one log line when they compile.

Every kernel module imports ``njit`` from here, not from numba: importing this
module registers a listener that logs "compiling kernels (first run only)" once,
at INFO, when numba compiles a kernel of nmbhpc (a kernel found in numba's disk
cache, ``cache=True``, does not compile and says nothing). The first run after
an install or a change of the kernels compiles them, which takes tens of seconds.

Only the modules that hold kernels import numba: the configuration, the
registries and the job templates do not, so they work on a login node without
the compute stack.

Cached kernels are keyed on all the package's kernel sources, not on their own
file alone. numba stamps a cached kernel with its own file's time and size,
but the kernels inline helpers from other modules (``inline="always"``: the
matrix elements of eq1.py, the accumulations of separable_kernels.py), so after
an edit of a helper's module, or a checkout that changes it, numba would load
the other modules' kernels with the old helper compiled in. Here every cached
kernel of the package carries one stamp over every module of the package that
uses ``njit`` (:func:`kernel_sources_stamp`): a change to any of them compiles
them all again once.
"""
from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

from numba import njit
from numba.core import caching as _caching
from numba.core import event as _numba_event

__all__ = ["njit", "kernel_sources_stamp"]

log = logging.getLogger(__name__)
_PACKAGE = __name__.split(".")[0]
_ROOT = Path(__file__).resolve().parents[1]


def kernel_sources_stamp(root: Path = _ROOT) -> str:
    """A hash of the path, modification time and size of every ``.py`` file under
    ``root`` that mentions ``njit``: the freshness stamp of every cached kernel of
    the package (module docstring)."""
    items = []
    for path in sorted(root.rglob("*.py")):
        if b"njit" in path.read_bytes():
            st = path.stat()
            items.append((path.relative_to(root).as_posix(), st.st_mtime_ns, st.st_size))
    return hashlib.sha1(repr(items).encode()).hexdigest()


_STAMP = None


def _package_stamp() -> str:
    global _STAMP
    if _STAMP is None:
        _STAMP = kernel_sources_stamp()
    return _STAMP


def _package_locator(base):
    """``base`` (a numba cache locator) for the package's own kernels, stamped with
    :func:`kernel_sources_stamp`; other functions are left to numba's locators."""

    class PackageLocator(base):
        def get_source_stamp(self):
            return _package_stamp()

        @classmethod
        def from_function(cls, py_func, py_file):
            inside = os.path.realpath(py_file).startswith(str(_ROOT) + os.sep)
            return super().from_function(py_func, py_file) if inside else None

    PackageLocator.__name__ = PackageLocator.__qualname__ = f"Package{base.__name__}"
    return PackageLocator


# in numba's own order (a user-set NUMBA_CACHE_DIR first, then __pycache__, then the
# user-wide directory), ahead of numba's
_caching.CacheImpl._locator_classes[:0] = [
    _package_locator(base) for base in (_caching._UserProvidedCacheLocator,
                                        _caching._InTreeCacheLocator,
                                        _caching._UserWideCacheLocator)]


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
