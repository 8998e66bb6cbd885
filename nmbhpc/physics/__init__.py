"""The physics every solver shares: what follows from the model alone."""
