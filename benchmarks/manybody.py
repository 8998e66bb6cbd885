"""`make bench` entry (the first benchmarks/*.py): nmbhpc vs scipy.sparse.linalg.expm_multiply.

Runs benchmarks/manybody_vs_scipy.py with its defaults (N = 20, t = 1,
-mfn_tol 1e-10); the other benchmarks and their commands are listed in
docs/performance.md. Each one is a separate MPI job so that its peak-memory
numbers are its own.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from manybody_vs_scipy import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
