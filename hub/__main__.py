"""``python -m hub``: the ``hub`` command for the Python it runs under.

In a venv or conda env this is the sure way to reach the plugins installed there, whatever
``hub`` on PATH resolves to.
"""

import sys

from hub.cli import main

sys.exit(main())
