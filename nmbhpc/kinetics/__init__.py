"""Quantum kinetics of x-dependent Wigner density matrices (docs/kinetics.md).

Modules: settings (dataclasses), config ([kinetics] TOML section), grid
(phase space, initial field), rhs (numpy right-hand side), solver (PETSc
DMDA + TS), diagnostics (domain averages), output (parallel HDF5), run (CLI
entry), dispersion (linear stability of the same discretised distributions),
presets (published set-ups: Richers et al. 2022 Fiducial).
"""
