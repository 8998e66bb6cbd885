"""Reading run files for ``info``, ``compare`` and ``analyze``: damage ends in one error.

The readers (:func:`nmbhpc.io.read_run`, :func:`nmbhpc.kinetics.output.read_kinetics`)
report missing, non-HDF5 and non-nmbhpc files as RunFileError/KineticFileError.
A file damaged inside its HDF5 metadata (a flipped bit in a B-tree, an object
header cut off) can still make HDF5 raise something else on the way in; here
every such failure becomes a RunFileError naming the file. Not collective.
"""
from __future__ import annotations

from ..io import RunFileError, read_run
from ..kinetics.output import KineticFileError, is_kinetics_file, read_kinetics

#: what HDF5/h5py and numpy raise on damaged metadata or data
DAMAGE = (OSError, RuntimeError, KeyError, ValueError, TypeError, IndexError, AttributeError)


def checked(path, fn, *args):
    """``fn(*args)``, with any damage reported as RunFileError naming ``path``."""
    try:
        return fn(*args)
    except (RunFileError, KineticFileError):
        raise
    except DAMAGE as exc:
        raise RunFileError(f"{path}: damaged or unreadable run file "
                           f"({type(exc).__name__}: {exc})") from None


def is_kinetics(path) -> bool:
    """Whether ``path`` is a kinetic run file; False for anything unreadable."""
    try:
        return is_kinetics_file(path)
    except DAMAGE:
        return False


def read_any(path):
    """(True, KineticRunData) or (False, RunData) for ``path``; RunFileError or
    KineticFileError naming it otherwise."""
    if is_kinetics(path):
        return True, checked(path, read_kinetics, path)
    return False, checked(path, read_run, path)


def read_flavor_run(path):
    """RunData of a flavor (non-kinetic) run file; RunFileError naming ``path`` otherwise."""
    return checked(path, read_run, path)
