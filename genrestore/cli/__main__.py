"""``python -m genrestore.cli ...`` runs the CLI (benchmarks and tests start it this way)."""

import sys

from . import main

sys.exit(main())
