"""Post-processing of run files: comparisons between solvers (``compare``)."""
