"""Exact many-body dynamics of H_MB: sector basis, distributed operators, MFN stepping."""
