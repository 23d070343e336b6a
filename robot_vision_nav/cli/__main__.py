"""`python -m robot_vision_nav.cli ...`: the same as the `rvn` console script."""

from __future__ import annotations

import sys

from robot_vision_nav.cli import main

sys.exit(main())
