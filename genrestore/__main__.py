"""``python -m genrestore ...`` (and ``torchrun -m genrestore ...``) runs the CLI."""

import sys

from .cli import main

sys.exit(main())
