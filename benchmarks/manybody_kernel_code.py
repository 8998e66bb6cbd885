"""Fingerprints of the machine code numba generates for the many-body kernels.

Compiles the kernels afresh (a private NUMBA_CACHE_DIR) by building every
operator kind of the benchmark model (``--n`` one-neutrino modes) and of one
with spin-1 modes once, then prints per kernel and signature a hash of its
assembly with symbol names, labels and constant addresses blanked out. Two
source trees whose kernels print the same hash run the same instructions:

    PYTHONPATH=/tmp/main python benchmarks/manybody_kernel_code.py > a.txt
    PYTHONPATH=.         python benchmarks/manybody_kernel_code.py > b.txt
    diff a.txt b.txt
"""
from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
import tempfile

os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="nmbhpc-kernel-code-")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import manybody_tools as mt  # noqa: E402

KERNELS = {
    "separable_kernels": ("apply4", "apply", "fill_neighbours", "ladder_diagonal", "row_abs_sums"),
    "real_kernels": ("sym_diag_block", "diag_block", "off_block", "qubit_fill", "generic_fill"),
    "shell_kernels": ("apply_qubit", "apply_generic", "interaction_diagonal"),
    "kernels": ("interaction_rows", "lowering_entries"),
}
_DROP = (".file", ".loc", ".ident", ".section", ".p2align", ".text", ".globl", ".type",
         ".size", ".cfi")


def normalised(asm: str) -> str:
    out = []
    for line in asm.splitlines():
        line = line.split("#")[0].rstrip()
        if not line or line.lstrip().startswith(_DROP):
            continue
        line = re.sub(r"_ZN\w+", "SYM", line)
        line = re.sub(r"\.L\w+", "LBL", line)
        line = re.sub(r"(pickledata|picklebuf)\.[0-9.]+", "CONST", line)
        line = re.sub(r"0x[0-9a-f]+", "ADDR", line)
        out.append(line)
    return "\n".join(out)


def spin_config(operator: str):
    """The benchmark model with two neutrinos per mode and a tilted start (general-spin
    kernels, several sectors)."""
    from dataclasses import replace

    config = mt.model_config(6, operator=operator)
    return replace(config, model=replace(config.model, theta=0.1, modes=tuple(
        replace(m, n=2) for m in config.model.modes)))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--dump", help="also write each normalised listing into this directory")
    args = ap.parse_args(argv)
    mt.init_petsc([])
    from mpi4py import MPI

    import importlib

    for make in (lambda op: mt.model_config(args.n, operator=op), spin_config):
        for op in ("separable", "real", "shell", "matrix"):
            solver, _ = mt.build_timed(make(op), MPI.COMM_WORLD)
            H = solver.propagator.H
            x, y = solver.psi.duplicate(), solver.psi.duplicate()
            x.setRandom()
            H.mult(x, y)
            if op in ("separable", "real"):
                H.norm()
            for v in (x, y):
                v.destroy()
            solver.destroy()
    for module, names in KERNELS.items():
        mod = importlib.import_module(f"nmbhpc.manybody.{module}")
        for name in names:
            for sig, asm in getattr(mod, name).inspect_asm().items():
                code = normalised(asm)
                digest = hashlib.sha1(code.encode()).hexdigest()[:12]
                if args.dump:
                    os.makedirs(args.dump, exist_ok=True)
                    with open(os.path.join(args.dump, f"{module}.{name}.{len(sig)}.s"), "w") as fh:
                        fh.write(code)
                print(f"{module}.{name} {len(sig)} args: {digest} ({len(code.splitlines())} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
