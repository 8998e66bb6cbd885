"""Running a config: the driver every solver goes through and its run control.

* :mod:`nmbhpc.pipeline.driver` — open or resume the file, restore, records -> writer,
  progress, summary, failure handling (:func:`~nmbhpc.pipeline.driver.run` from Python,
  :func:`~nmbhpc.pipeline.driver.main` for ``nmbhpc run``).
* :mod:`nmbhpc.pipeline.control` — when to checkpoint and stop (wall-clock policy,
  SLURM's warning signal, test faults).
"""
