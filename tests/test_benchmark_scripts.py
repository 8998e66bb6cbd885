"""The many-body benchmark scripts that docs/performance.md quotes run to the end on
a small model, for every operator whose figures they print (a script that fails
after its run loses the run)."""
import subprocess
import sys

import pytest

from production_cases import REPO, python_env


def _run(*argv) -> str:
    out = subprocess.run([sys.executable, *argv], cwd=REPO, env=python_env(),
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


@pytest.mark.serial
@pytest.mark.parametrize("operator,propagator", [("lean", "chebyshev"), ("separable", "mfn"),
                                                 ("real", "mfn"), ("shell", "mfn")])
def test_scaling_script_prints_its_bound(operator, propagator):
    text = _run("benchmarks/manybody_scaling.py", "--n", "8", "--operator", operator,
                "--propagator", propagator, "--profile", "3")
    assert f"operator = {operator}," in text
    assert "measured/bound" in text
    table = text[text.index("where the evolution's"):].splitlines()
    assert table[1] == "| function | rank 0 |" and len(table) == 6, table


@pytest.mark.serial
@pytest.mark.parametrize("operator", ["lean", "separable"])
def test_products_script_times_products_build_and_observables(operator):
    text = _run("benchmarks/manybody_products.py", "--n", "8", "--operator", operator,
                "--products", "3")
    assert "ms cpu per product" in text and "observables" in text
