"""``python -m nmbhpc ...`` is the same as the ``nmbhpc`` console script."""
import sys

from .cli import main

sys.exit(main())
