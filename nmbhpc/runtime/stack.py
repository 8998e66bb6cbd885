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
import math
import os
import re
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
    cannot re-initialise. Raises :class:`PetscOptionError` (before any PETSc
    object exists) for arguments that are not PETSc options and for values
    PETSc would reject (see :func:`check_petsc_values`). Returns ``(PETSc, SLEPc)``. Collective on
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
    pairs = parse_petsc_args(petsc_args or [])  # before PetscInitialize sees them
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

    if pairs:
        check_petsc_values(pairs, PETSc, SLEPc)
        opts = PETSc.Options()
        for name, val in pairs:
            opts.setValue(name, "" if val is None else val)
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


class PetscOptionError(ValueError):
    """A PETSc option on the command line that PETSc would reject or cannot parse."""


_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")

# Option values whose type PETSc fixes by the name's ending (PETSc/SLEPc 3.18
# manual pages of the options nmbhpc's solvers read: MFN, EPS, TS, KSP). A bad
# value is otherwise only found by setFromOptions, after the run file and the
# operator exist.
_REAL_ENDINGS = ("ts_dt", "max_time", "dt_min", "dt_max", "adapt_safety",
                 "adapt_reject_safety", "eps_target")
_INT_ENDINGS = ("max_it", "ncv", "mpd", "nev", "max_steps", "max_reject",
                "max_snes_failures", "gmres_restart")
# ``<prefix>mfn_type`` etc.: the implementations petsc4py/slepc4py name
_TYPE_ENDINGS = {"mfn_type": ("SLEPc", "MFN"), "eps_type": ("SLEPc", "EPS"),
                 "st_type": ("SLEPc", "ST"), "bv_type": ("SLEPc", "BV"),
                 "fn_type": ("SLEPc", "FN"), "ts_type": ("PETSc", "TS"),
                 "ksp_type": ("PETSc", "KSP"), "pc_type": ("PETSc", "PC")}


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def parse_petsc_args(petsc_args: list[str]) -> list[tuple[str, str | None]]:
    """``["-mfn_tol", "1e-12", "-log_view"]`` -> ``[("mfn_tol", "1e-12"), ("log_view", None)]``.

    A token starting with ``-`` that is not a number starts an option; the
    token after it, if any and not itself an option, is its value. Raises
    :class:`PetscOptionError` for a token that is neither an option nor
    follows one, and for an option name PETSc cannot have (``-``,
    ``-mfn_tol=1e-8``, ``--checkpoint-every``). Not collective.
    """
    pairs: list[tuple[str, str | None]] = []
    for tok in petsc_args:
        if tok.startswith("-") and not _is_number(tok):
            name = tok[1:]
            if not _NAME.match(name):
                hint = " (nmbhpc's own options are listed by --help)" if tok.startswith("--") \
                    else " (PETSc option names are letters, digits and '_'; the value is the " \
                    "next argument)"
                raise PetscOptionError(f"unrecognized argument {tok!r}{hint}")
            pairs.append((name, None))
        elif pairs and pairs[-1][1] is None:
            pairs[-1] = (pairs[-1][0], tok)
        else:
            raise PetscOptionError(f"unexpected argument {tok!r} (PETSc options start with '-')")
    return pairs


def _type_names(module, cls: str) -> set[str]:
    kind = getattr(getattr(module, cls), "Type")
    return {v for k, v in vars(kind).items() if not k.startswith("_") and isinstance(v, str)}


def check_petsc_values(pairs, PETSc, SLEPc) -> None:
    """Refuse option values that PETSc would reject in setFromOptions.

    Reals and integers are parsed by PETSc itself, in a scratch options
    database (so the global one's record of used options is untouched);
    ``*_type`` values must name an implementation of that class. Raises
    :class:`PetscOptionError` naming the option and the value. Options whose
    type is not known here pass unchecked. Not collective (same argv, same
    verdict on every rank).
    """
    scratch = PETSc.Options()
    scratch.create()
    try:
        for name, val in pairs:
            kind = _value_kind(name)
            if kind is None:
                continue
            if val is None:
                raise PetscOptionError(f"PETSc option -{name} needs a value")
            if isinstance(kind, tuple):
                allowed = _type_names(SLEPc if kind[0] == "SLEPc" else PETSc, kind[1])
                if val not in allowed:
                    raise PetscOptionError(f"PETSc option -{name}: {val!r} is not a "
                                           f"{kind[1]} type (one of {', '.join(sorted(allowed))})")
                continue
            scratch.setValue(name, val)
            try:
                got = scratch.getReal(name) if kind == "real" else scratch.getInt(name)
            except (PETSc.Error, KeyError):  # KeyError: an empty value
                raise PetscOptionError(f"PETSc option -{name}: {val!r} is not "
                                       f"{'a real number' if kind == 'real' else 'an integer'}"
                                       ) from None
            if kind == "real" and not math.isfinite(got) and val.strip().lower() not in \
                    ("default", "petsc_default", "decide", "petsc_decide", "determine",
                     "petsc_determine"):
                raise PetscOptionError(f"PETSc option -{name}: {val!r} is not a finite number")
    finally:
        scratch.destroy()


def _value_kind(name: str):
    """"real", "int", ("PETSc"|"SLEPc", class name) or None for option ``name``."""
    for ending, kind in _TYPE_ENDINGS.items():
        if name == ending or name.endswith("_" + ending):
            return kind
    if name.endswith("tol"):  # tol, rtol, atol, abstol, stol, divtol
        return "real"
    for endings, kind in ((_REAL_ENDINGS, "real"), (_INT_ENDINGS, "int")):
        if any(name == e or name.endswith("_" + e) for e in endings):
            return kind
    return None


def unused_petsc_options(pairs) -> list[str]:
    """Names (``-name``) among ``pairs`` that no PETSc object has read so far.

    Uses PETSc's own record (PetscOptionsUsed, the ``-options_left``
    mechanism). Empty if PETSc was not initialised. Not collective.
    """
    if not _initialised or not pairs:
        return []
    import ctypes

    from petsc4py import PETSc

    try:
        used_fn = ctypes.CDLL(PETSc.__file__).PetscOptionsUsed
    except (OSError, AttributeError):  # pragma: no cover - a static PETSc build
        return []
    present = {k.lower() for k in PETSc.Options().getAll()}  # getAll marks nothing used
    used = ctypes.c_int(0)
    left = []
    for name, _ in pairs:
        if name.lower() not in present:
            continue  # never reached PETSc's database (the command kept it)
        if used_fn(None, name.encode(), ctypes.byref(used)) == 0 and not used.value:
            left.append("-" + name)
    return left


def import_h5py():
    """Return h5py, refusing a build without MPI (parallel HDF5) support."""
    import h5py

    if not h5py.get_config().mpi:
        raise StackError(
            "h5py is not built against parallel HDF5 (h5py.get_config().mpi is False); "
            "install Debian's python3-h5py-mpi or see docs/install.md"
        )
    return h5py
