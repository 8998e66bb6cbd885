"""What a run needs from its surroundings: the numerical stack (PETSc/SLEPc/h5py),
logging, PETSc options from the config, and batch job scripts."""
