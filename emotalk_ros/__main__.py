"""``python -m emotalk_ros`` runs the ``emotalk`` command line."""

import sys

from .cli import main

sys.exit(main())
