"""The compiled-kernel boundary: what imports numba, and the first-compile notice."""
from __future__ import annotations

import logging
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
