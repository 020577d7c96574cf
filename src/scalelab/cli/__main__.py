"""``python -m scalelab.cli``: the same as the ``scalelab`` command."""

import sys

from scalelab.cli import run

sys.exit(run())
