"""Sub-commands of the ``nmbhpc`` CLI, one module each (see nmbhpc.cli)."""
