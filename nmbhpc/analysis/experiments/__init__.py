"""Finite-N experiments of Sec. IV of Johns, arXiv:2305.04916 (docs/experiments.md).

* :mod:`.table`        parameter tables (CSV of dotted config keys) -> per-run TOML configs
* :mod:`.fits`         least-squares line and power-law fits with covariances
* :mod:`.measures`     departure and conversion times, deviations, run metadata
* :mod:`.logn`         Eqs. (20)-(25): tau = a + b log N, b vs 1/(2 Omega)
* :mod:`.seeding`      Eqs. (26)-(29): tau vs log theta0, theta0 ~ c / sqrt(N)
* :mod:`.perturbative` Eq. (19): exact minus mean field ~ N^p at fixed g = mu t
* :mod:`.report`       CSV / markdown writers

Nothing here is collective: analysis reads finished run files serially.
"""
