"""Mean field (Eq. (5) applied to H_MB), its linear stability, and beyond-mean-field
solvers (second-order cumulants, truncated Wigner) on the same model objects.

Modules: ``equations`` (the classical spin flow), ``solver`` (MeanFieldSolver,
distributed PETSc TS), ``stability`` (growth rates), ``twa`` (TWASolver),
``cumulant`` (CumulantSolver), ``timestepping`` (TS set-up), ``records``.
See docs/meanfield.md.
"""
