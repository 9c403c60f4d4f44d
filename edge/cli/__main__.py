"""``python -m edge.cli ...`` runs edge-run."""

import sys

from edge.cli import run_main

sys.exit(run_main())
