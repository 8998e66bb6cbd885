"""The compiled-kernel boundary: what imports numba, the first-compile notice, and the
freshness stamp of cached kernels."""
from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest

serial = pytest.mark.serial


@serial
def test_config_and_registries_import_no_kernel():
    """Loading a config, the settings and the operator and solver registries imports
    neither numba nor PETSc (a login node renders job scripts without them); building
    an operator would."""
    code = ("import sys, nmbhpc.config, nmbhpc.settings, nmbhpc.solvers\n"
            "from nmbhpc.manybody import operators\n"
            "assert operators.NAMES[0] == 'auto'\n"
            "heavy = sorted(m for m in ('numba', 'petsc4py', 'slepc4py') if m in sys.modules)\n"
            "print(heavy)\n"
            "operators.KINDS['separable'].load()\n"
            "print('numba' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split("\n")
    assert out[0] == "[]"
    assert out[1] == "True"


@serial
def test_first_compile_is_logged_once(caplog):
    """A kernel of the package that numba compiles gives one INFO line; a second
    compile says nothing more; a function of another package none."""
    from nmbhpc.runtime import jit

    def package_kernel(x):
        return x + 1

    def foreign_kernel(x):
        return x + 2

    package_kernel.__module__ = "nmbhpc.runtime.test_kernel"
    foreign_kernel.__module__ = "elsewhere"
    jit._CompileNotice.announced = False
    with caplog.at_level(logging.INFO, logger=jit.__name__):
        assert jit.njit(foreign_kernel)(1) == 3
        assert "compiling kernels" not in caplog.text
        assert jit.njit(package_kernel)(1) == 2
        assert jit.njit(package_kernel)(1.5) == 2.5
    assert caplog.text.count("compiling kernels (first run only)") == 1


def test_kernel_stamp_follows_every_kernel_module(tmp_path):
    """The cache stamp changes with any module that uses njit (a helper inlined into
    another module's kernel), and not with the others."""
    from nmbhpc.runtime.jit import kernel_sources_stamp

    (tmp_path / "sub").mkdir()
    helper, kernel, plain = (tmp_path / "sub" / "helper.py", tmp_path / "kernel.py",
                             tmp_path / "plain.py")
    helper.write_text("from x import njit\n@njit(inline='always')\ndef h(v):\n    return v\n")
    kernel.write_text("from x import njit\n@njit(cache=True)\ndef k(v):\n    return h(v)\n")
    plain.write_text("A = 1\n")
    first = kernel_sources_stamp(tmp_path)
    assert kernel_sources_stamp(tmp_path) == first
    plain.write_text("A = 22\n")
    assert kernel_sources_stamp(tmp_path) == first
    helper.write_text(helper.read_text().replace("return v", "return v + 1"))
    second = kernel_sources_stamp(tmp_path)
    assert second != first
    st = helper.stat()
    os.utime(helper, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # same size, newer
    assert kernel_sources_stamp(tmp_path) != second


def test_package_kernels_carry_the_package_stamp():
    """A cached kernel of the package is stamped with every kernel source; a cached
    function of another package keeps numba's own stamp (its file's time and size)."""
    from numba import njit as numba_njit

    from nmbhpc.manybody import lean_kernels
    from nmbhpc.runtime import jit

    locator = lean_kernels.binomials_t._cache._impl.locator
    assert locator.get_source_stamp() == jit.kernel_sources_stamp()

    def foreign(x):
        return x + 1

    foreign_locator = numba_njit(cache=True)(foreign)._cache._impl.locator
    st = os.stat(__file__)
    assert foreign_locator.get_source_stamp() == (st.st_mtime, st.st_size)
