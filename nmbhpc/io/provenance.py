"""Where a run file came from: package, library versions and git revision.

Not collective: :class:`~nmbhpc.io.run_writer.RunWriter` calls these on rank 0
and broadcasts the result, so every rank writes identical attributes.
"""
from __future__ import annotations

import os
import subprocess
import sys

from .. import __version__

_SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def git_revision(root: str = _SOURCE_ROOT) -> str:
    """Commit of the nmbhpc source tree (``+dirty`` if modified), else ``"unknown"``.

    Only a checkout whose top level *is* the directory holding the ``nmbhpc``
    package counts: an installed copy inside some unrelated repository (a
    venv in a user's project) must not report that repository's commit.
    """
    # without GIT_OPTIONAL_LOCKS=0 `git status` refreshes the index, i.e. writes
    # .git/index.lock: a run must not write into the source checkout (a killed or
    # size-limited run would leave the lock behind, and concurrent runs contend for it)
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}

    def git(*args: str) -> str:
        out = subprocess.run(["git", "-C", root, *args], capture_output=True, text=True,
                             timeout=10, check=True, env=env)
        return out.stdout.strip()

    try:
        if os.path.realpath(git("rev-parse", "--show-toplevel")) != os.path.realpath(root):
            return "unknown"
        rev = git("rev-parse", "HEAD")
        if git("status", "--porcelain", "--untracked-files=no"):
            rev += "+dirty"
        return rev
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def library_versions() -> dict:
    """Versions of nmbhpc, PETSc, SLEPc, h5py and HDF5 as strings.

    PETSc/SLEPc are reported only if already initialised by this process
    (every solver does so first); the writer never initialises PETSc itself.
    """
    from ..runtime.stack import import_h5py

    h5py = import_h5py()
    out = {
        "nmbhpc_version": __version__,
        "h5py_version": h5py.version.version,
        "hdf5_version": h5py.version.hdf5_version,
        "petsc_version": "not loaded",
        "slepc_version": "not loaded",
    }
    petsc = sys.modules.get("petsc4py.PETSc")
    if petsc is not None:
        out["petsc_version"] = "%d.%d.%d" % tuple(petsc.Sys.getVersion())
    slepc = sys.modules.get("slepc4py.SLEPc")
    if slepc is not None:
        out["slepc_version"] = "%d.%d.%d" % tuple(slepc.Sys.getVersion())
    return out
