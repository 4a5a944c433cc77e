"""``python -m emotalk_ros`` runs the ``emotalk`` command line."""

import sys

from emotalk_ros.cli.main import main

sys.exit(main())
