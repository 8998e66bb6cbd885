"""nmbhpc: MPI-parallel neutrino flavor physics in dense gases.

Importing the package is cheap and touches no MPI/PETSc state; solvers import
``nmbhpc.runtime.stack`` which locates the complex-scalar PETSc/SLEPc build and
parallel h5py.
"""
__version__ = "0.1.0"
