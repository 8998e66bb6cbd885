"""Exact many-body dynamics of H_MB (Eq. (1), eq1.py): sector basis, distributed operators, MFN stepping.

The compiled (numba) kernels are cached on disk (``cache=True``): the first run
after an install or a change of the kernels compiles them (tens of seconds),
and says so once in the log (nmbhpc/runtime/jit.py). Importing the package
imports no kernel: the operator registry (operators.py) loads each operator's
module on first use.
"""
