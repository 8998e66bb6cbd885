"""The plotting layer of nmbhpc: every figure the package draws.

* :mod:`.style` -- the one style: colours per solver and species, rc settings,
  legends outside the data, :func:`~.style.save` to PNG/PDF/SVG.
* :mod:`.runs` -- run files: per-mode survival probability / polarisation vs
  time (TWA error bands), final spectra, ``nmbhpc compare`` and ``nmbhpc
  analyze`` figures.
* :mod:`.kinetics` -- kinetic run files, in ns and cm when omega0 is known.
* :mod:`.experiments` -- the figures of ``nmbhpc experiment``.

Matplotlib runs on the Agg backend (no display). Nothing here is collective:
draw on one rank. Reference: docs/analysis.md.
"""
