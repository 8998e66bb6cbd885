"""``nmbhpc doctor``: report the numerical stack and run live checks on it.

Collective on MPI.COMM_WORLD: run it under the same launcher and rank count as
the real jobs (``mpirun -n 4 nmbhpc doctor --tmpdir $SCRATCH``). Rank 0 prints

* versions: Python, numpy, numba, mpi4py and the MPI library, PETSc/SLEPc
  (with PETSC_DIR/SLEPC_DIR, scalar type, index size), h5py and HDF5;
* checks, each ``OK`` or ``FAIL`` with a reason:
  - PETSc scalar type is complex (the Schroedinger evolution needs it),
  - h5py is built against parallel HDF5,
  - a collective parallel-HDF5 write and read-back in ``--tmpdir``,
  - a SLEPc MFN solve ``exp(-i H t) v`` against its closed form.

Exit status 0 when every check passes, 1 otherwise.
"""
from __future__ import annotations

import os
import platform
import shutil
import sys
import tempfile
from dataclasses import dataclass

import numpy as np

from .. import __version__
from ..runtime import stack


@dataclass
class Check:
    """Outcome of one live check, identical on every rank after :func:`_agree`."""

    name: str
    ok: bool
    detail: str


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "doctor",
        help="report versions of the MPI/PETSc/SLEPc/HDF5 stack and run live checks (collective)",
        description="Report the numerical stack and check it: complex PETSc scalars, parallel "
        "HDF5 (a collective write/read), SLEPc MFN against a closed form. Run it under mpirun "
        "with the rank count of your jobs. Exit status 1 if a check fails.",
    )
    p.add_argument(
        "--tmpdir",
        default=None,
        help="directory for the parallel-HDF5 test file; must be visible to every rank "
        "(on a cluster: your scratch file system). Default: the system temporary directory",
    )
    p.set_defaults(func=run)


def run(args) -> int:
    """Collective. Print the report on rank 0; return 0 if every check passed, else 1."""
    report: list[tuple[str, str]] = []
    checks: list[Check] = []

    report.append(("nmbhpc", f"{__version__} ({os.path.dirname(os.path.dirname(__file__))})"))
    report.append(("python", f"{platform.python_version()} ({sys.executable})"))
    report.append(("numpy", np.__version__))
    report.append(("numba", _module_version("numba")))

    # PETSc first: PetscInitialize also initialises MPI, with PETSc's options.
    PETSc = SLEPc = None
    try:
        PETSc, SLEPc = stack.init_petsc(args.petsc_args)
        complex_ok, complex_why = True, "complex128"
    except stack.StackError as exc:
        complex_ok, complex_why = False, str(exc)
        try:  # still report what was found
            from petsc4py import PETSc
            from slepc4py import SLEPc
        except ImportError:
            PETSc = SLEPc = None

    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    library = (MPI.Get_library_version().replace("\x00", "").strip().splitlines() or ["?"])[0]
    standard = ".".join(map(str, MPI.Get_version()))
    report.append(("mpi4py", _module_version("mpi4py")))
    report.append(("MPI library", f"{library.strip()} (MPI {standard})"))
    report.append(("MPI size", str(comm.Get_size())))

    if PETSc is not None:
        import petsc4py
        import slepc4py

        report.append(("petsc4py", f"{petsc4py.__version__}  PETSc {_version(PETSc)}"))
        report.append(("slepc4py", f"{slepc4py.__version__}  SLEPc {_version(SLEPc)}"))
        report.append(("PETSC_DIR", _petsc_dir(petsc4py)))
        report.append(("SLEPC_DIR", _slepc_dir(slepc4py)))
        report.append(("scalar type", np.dtype(PETSc.ScalarType).name))
        bits = 8 * np.dtype(PETSc.IntType).itemsize
        report.append(("index size", f"{bits}-bit PetscInt" + ("" if bits == 64 else
                       " (matrices up to 2^31-1 rows and local nonzeros; "
                       "larger needs --with-64-bit-indices)")))
    else:
        report.append(("petsc4py", "NOT IMPORTABLE"))
    checks.append(Check("PETSc scalar type is complex", complex_ok, complex_why))

    h5py = None
    try:
        h5py = stack.import_h5py()
        checks.append(Check("h5py built with MPI (parallel HDF5)", True,
                            f"HDF5 {h5py.version.hdf5_version}, mpio driver"))
    except (ImportError, stack.StackError) as exc:
        checks.append(Check("h5py built with MPI (parallel HDF5)", False, str(exc)))
        try:
            import h5py
        except ImportError:
            h5py = None
    if h5py is not None:
        report.append(("h5py", f"{h5py.version.version}  HDF5 {h5py.version.hdf5_version}  "
                       f"MPI support: {'yes' if h5py.get_config().mpi else 'NO'}"))
    else:
        report.append(("h5py", "NOT IMPORTABLE"))

    if h5py is not None and h5py.get_config().mpi:
        checks.append(_agree(comm, _check_parallel_hdf5(comm, h5py, args.tmpdir)))
    else:
        checks.append(Check("parallel HDF5 collective write/read", False, "skipped: no parallel h5py"))

    if PETSc is not None and complex_ok:
        checks.append(_agree(comm, _check_mfn(comm, PETSc, SLEPc)))
    else:
        checks.append(Check("SLEPc MFN exp(-iHt)v vs closed form", False,
                            "skipped: no complex-scalar PETSc/SLEPc"))

    if comm.Get_rank() == 0:
        width = max(len(k) for k, _ in report)
        print("nmbhpc doctor")
        for key, value in report:
            print(f"  {key:<{width}}  {value}")
        print("checks")
        for c in checks:
            print(f"  [{'OK' if c.ok else 'FAIL'}]{' ' if c.ok else ''} {c.name}: {c.detail}")
        failed = sum(not c.ok for c in checks)
        print("all checks passed" if not failed else f"{failed} check(s) FAILED; see docs/install.md")
        sys.stdout.flush()
    return 0 if all(c.ok for c in checks) else 1


# --- live checks -----------------------------------------------------------------

def _agree(comm, local: Check) -> Check:
    """Collective. Combine per-rank outcomes: OK only if OK on every rank.

    The reported reason is the one of the lowest failing rank, prefixed with it.
    """
    outcomes = comm.allgather((local.ok, local.detail))
    for rank, (ok, detail) in enumerate(outcomes):
        if not ok:
            prefix = f"rank {rank}: " if comm.Get_size() > 1 else ""
            return Check(local.name, False, prefix + detail)
    return Check(local.name, True, outcomes[0][1])


def _check_parallel_hdf5(comm, h5py, tmpdir: str | None) -> Check:
    """Collective. Each rank writes its own rows of one dataset through the mpio
    driver with collective I/O, then every rank reads the whole dataset back.

    The file lives in a fresh directory made by rank 0 under ``tmpdir``; ranks
    that cannot see it (node-local /tmp on a multi-node job) fail the check.
    """
    name = "parallel HDF5 collective write/read"
    rank, size = comm.Get_rank(), comm.Get_size()
    made, err = None, None
    if rank == 0:
        try:
            made = tempfile.mkdtemp(prefix="nmbhpc-doctor-", dir=tmpdir)
        except OSError as exc:
            err = f"cannot create a directory in {tmpdir or tempfile.gettempdir()!r}: {exc}"
    made, err = comm.bcast((made, err), root=0)
    if err is not None:
        return Check(name, False, err)
    try:
        if not os.path.isdir(made):
            return Check(name, False, f"{made} is not visible on this rank; "
                         "pass --tmpdir on a file system shared by all ranks")
        path = os.path.join(made, "doctor.h5")
        rows_per_rank, ncol = 3, 4
        # the same array on every rank; the imaginary part tags the writing rank
        expected = (np.arange(size * rows_per_rank * ncol, dtype=np.float64)
                    .reshape(size * rows_per_rank, ncol)
                    + 1j * np.repeat(np.arange(size), rows_per_rank)[:, None])
        mine = slice(rank * rows_per_rank, (rank + 1) * rows_per_rank)
        with h5py.File(path, "w", driver="mpio", comm=comm) as f:
            dset = f.create_dataset("rows", shape=expected.shape, dtype=np.complex128)
            with dset.collective:
                dset[mine] = expected[mine]
            f.attrs["mpi_size"] = size
        with h5py.File(path, "r", driver="mpio", comm=comm) as f:
            got = f["rows"][...]
            got_size = int(f.attrs["mpi_size"])
        if got_size != size or not np.array_equal(got, expected):
            bad = np.argwhere(got != expected)
            return Check(name, False, f"read-back differs from what was written "
                         f"(first bad element {bad[0].tolist() if len(bad) else '?'})")
        return Check(name, True, f"{size} rank(s), {expected.nbytes} bytes, under {os.path.dirname(made)}")
    except Exception as exc:  # any HDF5/MPI-IO error is a failed check, not a crash
        return Check(name, False, f"{type(exc).__name__}: {exc}")
    finally:
        comm.Barrier()
        if rank == 0:
            shutil.rmtree(made, ignore_errors=True)


# Three 2x2 blocks H_k = w_k (cos(phi_k) sigma_z + sin(phi_k) sigma_x): with two
# or three ranks the block boundaries and the row ownership do not coincide, so
# the MatMult inside MFN needs off-process entries.
_MFN_BLOCKS = ((1.0, 0.3), (2.5, 1.1), (0.7, 2.0))   # (w_k, phi_k)
_MFN_T = 0.9


def _mfn_exact() -> np.ndarray:
    """exp(-i H t) v for v = (1, 0, 1, 0, 1, 0): per block, since H_k^2 = w_k^2,
    exp(-i H_k t) e_0 = cos(w_k t) e_0 - i sin(w_k t) (cos phi_k, sin phi_k)."""
    out = []
    for w, phi in _MFN_BLOCKS:
        c, s = np.cos(w * _MFN_T), np.sin(w * _MFN_T)
        out += [c - 1j * s * np.cos(phi), -1j * s * np.sin(phi)]
    return np.array(out)


def _check_mfn(comm, PETSc, SLEPc) -> Check:
    """Collective. Solve y = exp(-i H t) v with SLEPc MFN (options prefix
    ``doctor_``, e.g. ``-doctor_mfn_type expokit``) and compare with the closed form."""
    from mpi4py import MPI

    name = "SLEPc MFN exp(-iHt)v vs closed form"
    try:
        n = 2 * len(_MFN_BLOCKS)
        H = PETSc.Mat().createAIJ([n, n], nnz=2, comm=comm)
        H.setOptionsPrefix("doctor_")
        H.setFromOptions()
        H.setUp()
        lo, hi = H.getOwnershipRange()
        for i in range(lo, hi):
            w, phi = _MFN_BLOCKS[i // 2]
            sign = 1.0 if i % 2 == 0 else -1.0
            H.setValue(i, i, sign * w * np.cos(phi))
            H.setValue(i, i ^ 1, w * np.sin(phi))
        H.assemble()
        v, y = H.createVecs()
        v.setArray(np.array([1.0 if i % 2 == 0 else 0.0 for i in range(lo, hi)]))

        mfn = SLEPc.MFN().create(comm)
        mfn.setOptionsPrefix("doctor_")
        mfn.setOperator(H)
        fn = mfn.getFN()
        fn.setType(SLEPc.FN.Type.EXP)
        fn.setScale(-1j * _MFN_T, 1.0)
        mfn.setTolerances(tol=1e-12)
        mfn.setFromOptions()
        mfn.solve(v, y)
        reason = mfn.getConvergedReason()
        local_err = np.max(np.abs(y.getArray() - _mfn_exact()[lo:hi]), initial=0.0)
        err = comm.allreduce(local_err, op=MPI.MAX)
        for obj in (mfn, v, y, H):
            obj.destroy()
    except Exception as exc:  # a PETSc error is a failed check, not a crash
        return Check(name, False, f"{type(exc).__name__}: {exc}")
    if reason <= 0:
        return Check(name, False, f"MFN did not converge (reason {reason})")
    if not err < 1e-10:
        return Check(name, False, f"max error {err:.2e} > 1e-10")
    return Check(name, True, f"n={n}, t={_MFN_T}, max error {err:.1e}")


# --- helpers ---------------------------------------------------------------------

def _module_version(name: str) -> str:
    try:
        mod = __import__(name)
    except ImportError as exc:
        return f"NOT IMPORTABLE ({exc})"
    return getattr(mod, "__version__", "?")


def _version(lib) -> str:
    major, minor, patch = lib.Sys.getVersion()[:3]
    return f"{major}.{minor}.{patch}"


def _petsc_dir(petsc4py) -> str:
    cfg = petsc4py.get_config()
    arch = cfg.get("PETSC_ARCH") or ""
    return os.path.join(cfg.get("PETSC_DIR", "?"), arch) if arch else cfg.get("PETSC_DIR", "?")


def _slepc_dir(slepc4py) -> str:
    # slepc4py (unlike petsc4py) has no get_config(); report the environment
    # and where the bindings were loaded from, which together identify the build
    where = os.path.dirname(os.path.dirname(slepc4py.__file__))
    return f"{os.environ.get('SLEPC_DIR') or '(unset)'}  (slepc4py from {where})"
