"""Locate and initialise the numerical stack: complex PETSc/SLEPc, MPI, parallel h5py.

Debian installs petsc4py for several PETSc builds side by side and picks one
from ``PETSC_DIR``; its h5py picks the MPI build only when it sees an MPI
launcher. Both choices must be made *before* the first import, so every module
of nmbhpc that needs PETSc, SLEPc or h5py gets them from here.
"""
from __future__ import annotations

import glob
import os
import sys

_DEBIAN_PETSC = "/usr/lib/petscdir/petsc3.*/*-linux-gnu-complex"
_DEBIAN_SLEPC = "/usr/lib/slepcdir/slepc3.*/*-linux-gnu-complex"


def _default_dir(var: str, pattern: str) -> None:
    """Default ``var`` to Debian's complex build and put its Python dir on sys.path.

    Debian's petsc4py.pth/slepc4py.pth read PETSC_DIR/SLEPC_DIR at interpreter
    start-up; when nmbhpc sets them itself, it must add the path the .pth
    would have added.
    """
    if not os.environ.get(var):
        found = sorted(glob.glob(pattern))
        if not found:
            return
        os.environ[var] = found[-1]
    pydir = os.path.join(os.environ[var], "lib", "python3", "dist-packages")
    if os.path.isdir(pydir) and pydir not in sys.path:
        sys.path.insert(0, pydir)


_default_dir("PETSC_DIR", _DEBIAN_PETSC)
_default_dir("SLEPC_DIR", _DEBIAN_SLEPC)
# Debian's h5py dispatches to its MPI build only under mpirun; nmbhpc always
# writes through the mpio driver, also for a single process.
os.environ.setdefault("H5PY_ALWAYS_USE_MPI", "1")

_initialised = False


class StackError(RuntimeError):
    """The numerical stack is missing or built with the wrong options."""


def init_petsc(petsc_args: list[str] | None = None):
    """Initialise petsc4py/slepc4py once, with PETSc options ``petsc_args``.

    ``petsc_args`` are command-line options such as ``["-mfn_tol", "1e-12"]``;
    they are added to the PETSc options database. Later calls add options but
    cannot re-initialise. Returns ``(PETSc, SLEPc)``. Collective on
    MPI.COMM_WORLD the first time it is called (PetscInitialize).
    """
    global _initialised
    try:
        import petsc4py
        import slepc4py
    except ImportError as exc:  # pragma: no cover - depends on the machine
        raise StackError(
            "petsc4py/slepc4py not importable: install Debian's python3-petsc4py-complex "
            "and python3-slepc4py-complex (make setup) or see docs/install.md "
            f"(PETSC_DIR={os.environ.get('PETSC_DIR')!r}): {exc}"
        ) from exc
    args = [sys.argv[0] if sys.argv else "nmbhpc"] + list(petsc_args or [])
    if not _initialised:
        petsc4py.init(args)
        slepc4py.init(args)
        _initialised = True
    from petsc4py import PETSc
    from slepc4py import SLEPc

    if not _initialised or petsc_args:
        opts = PETSc.Options()
        key = None
        for a in petsc_args or []:
            if a.startswith("-") and not _is_number(a):
                if key is not None:
                    opts.setValue(key, "")
                key = a.lstrip("-")
            elif key is not None:
                opts.setValue(key, a)
                key = None
        if key is not None:
            opts.setValue(key, "")
    if PETSc.ScalarType is not __import__("numpy").complex128:
        raise StackError(
            f"PETSc at PETSC_DIR={os.environ.get('PETSC_DIR')!r} has scalar type "
            f"{PETSc.ScalarType.__name__}; nmbhpc needs a complex-scalar build "
            "(--with-scalar-type=complex), see docs/install.md"
        )
    return PETSc, SLEPc


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def import_h5py():
    """Return h5py, refusing a build without MPI (parallel HDF5) support."""
    import h5py

    if not h5py.get_config().mpi:
        raise StackError(
            "h5py is not built against parallel HDF5 (h5py.get_config().mpi is False); "
            "install Debian's python3-h5py-mpi or see docs/install.md"
        )
    return h5py
