"""Locate and initialise the numerical stack: complex PETSc/SLEPc, MPI, parallel h5py.

Debian installs petsc4py for several PETSc builds side by side and picks one
from ``PETSC_DIR``; its h5py picks the MPI build only when it sees an MPI
launcher. Both choices must be made *before* the first import, so every module
of nmbhpc that needs PETSc, SLEPc or h5py gets them from here.
"""
from __future__ import annotations

import contextlib
import gc
import glob
import os
import sys

#: Debian's complex-scalar builds by PetscInt size (python3-petsc4py-complex,
#: python3-petsc4py-64-complex and the matching slepc4py packages)
_DEBIAN_PETSC = {32: "/usr/lib/petscdir/petsc3.*/*-linux-gnu-complex",
                 64: "/usr/lib/petscdir/petsc64-3.*/*-linux-gnu-complex"}
_DEBIAN_SLEPC = {32: "/usr/lib/slepcdir/slepc3.*/*-linux-gnu-complex",
                 64: "/usr/lib/slepcdir/slepc64-3.*/*-linux-gnu-complex"}
#: environment variable choosing Debian's 32- or 64-bit-index build when PETSC_DIR is unset
INDEX_BITS_ENV = "NMBHPC_PETSC_INDEX_BITS"


def _index_bits() -> int:
    """PetscInt size of the build to load: PETSC_DIR's if set (Debian's petsc64-* dirs are
    64-bit), else ``$NMBHPC_PETSC_INDEX_BITS`` (32 or 64), else 32."""
    petsc_dir = os.environ.get("PETSC_DIR", "")
    if petsc_dir:
        return 64 if "/petsc64-" in petsc_dir else 32
    value = os.environ.get(INDEX_BITS_ENV, "32").strip()
    if value not in ("32", "64"):
        sys.stderr.write(f"nmbhpc: {INDEX_BITS_ENV}={value!r}: must be 32 or 64\n")
        raise SystemExit(2)
    return int(value)


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


_bits = _index_bits()
_default_dir("PETSC_DIR", _DEBIAN_PETSC[_bits])
_default_dir("SLEPC_DIR", _DEBIAN_SLEPC[_bits])
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
    first = not _initialised
    if first:
        petsc4py.init(args)
        slepc4py.init(args)
        _initialised = True
    from petsc4py import PETSc
    from slepc4py import SLEPc

    if first:
        _hold_petsc_comm(PETSc, PETSc.COMM_WORLD)

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


# PETSc keeps one inner communicator per user communicator, alive while any
# PETSc object on it (or in its garbage) is. Python frees PETSc objects when
# its collector runs, which differs from rank to rank, so without a holder one
# rank may still have the inner communicator when another has dropped it. The
# next operation that looks it up (an object's creation, PetscGarbageCleanup,
# and PetscFinalize, which cleans COMM_WORLD's garbage) then calls
# MPI_Comm_dup on some ranks and an MPI_Allreduce on the inner communicator on
# the others: a hang, seen at interpreter exit. A holder object created
# collectively keeps the inner communicator alive on every rank alike.
_holders: dict[int, object] = {}


def _hold_petsc_comm(PETSc, comm):
    """Create a tiny PETSc object on ``comm`` so that its inner communicator exists on
    every rank until the holder is destroyed. Collective on ``comm``."""
    holder = PETSc.Random().create(comm=comm)
    holder.setOptionsPrefix("nmbhpc_comm_holder_")
    _holders[id(holder)] = holder
    return holder


def petsc_cleanup(comm=None) -> None:
    """Destroy PETSc objects that Python's collector freed on ``comm`` (default COMM_WORLD).

    Collective on ``comm``: every rank must call it at the same point. Runs the
    Python collector first, so that objects in reference cycles reach PETSc's
    garbage on every rank before the ranks agree on what to destroy
    (``PetscGarbageCleanup``).
    """
    from petsc4py import PETSc

    gc.collect()
    PETSc.garbage_cleanup(PETSc.COMM_WORLD if comm is None else comm)


@contextlib.contextmanager
def petsc_comm_scope(comm):
    """Use PETSc objects on a communicator other than COMM_WORLD (e.g. from ``Split``).

    Collective on ``comm``. Inside the block PETSc's inner communicator for
    ``comm`` exists on every rank; on leaving it, objects the collector freed
    are destroyed collectively and the holder is released, so ``comm`` can be
    freed afterwards. Objects still referenced after the block must be
    destroyed by the caller before freeing ``comm``::

        sub = MPI.COMM_WORLD.Split(color, key)
        with petsc_comm_scope(sub):
            solver = SomeSolver(config, sub)
            ...
            solver.destroy()
        sub.Free()
    """
    PETSc, _ = init_petsc([])
    holder = _hold_petsc_comm(PETSc, comm)
    try:
        yield comm
    finally:
        petsc_cleanup(comm)
        _holders.pop(id(holder), None)
        holder.destroy()


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
