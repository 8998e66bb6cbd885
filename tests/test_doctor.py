"""`nmbhpc doctor`: the stack report and its live checks (collective, any rank count)."""
from __future__ import annotations

import numpy as np
import scipy.linalg

from nmbhpc.cli import main
from nmbhpc.commands import doctor


def test_doctor_passes_on_this_stack(comm, shared_tmp_path, capsys):
    rc = main(["doctor", "--tmpdir", str(shared_tmp_path)])
    out = capsys.readouterr().out
    assert rc == 0, out
    if comm.Get_rank() == 0:
        assert "all checks passed" in out
        assert "[FAIL]" not in out
        assert out.count("[OK]") == 4
        size_line = next(line for line in out.splitlines() if "MPI size" in line)
        assert size_line.split()[-1] == str(comm.Get_size())
        assert "complex128" in out
    else:
        assert out == ""  # only rank 0 prints
    comm.Barrier()
    # the check removes its file and directory again
    assert list(shared_tmp_path.iterdir()) == []


def test_doctor_fails_when_tmpdir_is_unusable(comm, shared_tmp_path, capsys):
    rc = main(["doctor", "--tmpdir", str(shared_tmp_path / "does-not-exist")])
    out = capsys.readouterr().out
    assert rc == 1
    if comm.Get_rank() == 0:
        assert "[FAIL] parallel HDF5 collective write/read" in out
        assert "does-not-exist" in out
        assert "1 check(s) FAILED" in out


def test_mfn_reference_is_the_matrix_exponential():
    """The closed form the MFN check compares against equals scipy's expm."""
    n = 2 * len(doctor._MFN_BLOCKS)
    H = np.zeros((n, n))
    for k, (w, phi) in enumerate(doctor._MFN_BLOCKS):
        H[2 * k:2 * k + 2, 2 * k:2 * k + 2] = w * np.array(
            [[np.cos(phi), np.sin(phi)], [np.sin(phi), -np.cos(phi)]])
    v = np.tile([1.0, 0.0], len(doctor._MFN_BLOCKS))
    expected = scipy.linalg.expm(-1j * doctor._MFN_T * H) @ v
    np.testing.assert_allclose(doctor._mfn_exact(), expected, atol=1e-13)
