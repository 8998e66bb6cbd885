"""Running a config: the driver every solver goes through and its run control.

* :mod:`nmbhpc.run.driver` — open or resume the file, restore, records -> writer,
  progress, summary, failure handling (:func:`~nmbhpc.run.driver.run` from Python,
  :func:`~nmbhpc.run.driver.main` for ``nmbhpc run``).
* :mod:`nmbhpc.run.control` — when to checkpoint and stop (wall-clock policy,
  SLURM's warning signal, test faults).
"""
