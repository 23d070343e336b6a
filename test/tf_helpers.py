"""TF in tests: tf2_ros where it is built (`make test` builds it from ../shared/ros2-src), else a skip.

The rule is the launch tests' (test/ros2_launch_helpers.py): where ../shared/ros2-src exists, or
RVN_REQUIRE_TF=1, a missing tf2_ros fails the test (a skipped TF test there is a defect); elsewhere
the test skips and says how to get it.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_SRC = REPO.parent / "shared" / "ros2-src"
EXTRA = REPO / "build" / "ros2-extra"


def _require(modules: tuple[str, ...], what: str) -> None:
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if not missing:
        return
    why = f"{what} not importable ({', '.join(missing)}): it is not on the package index"
    if SHARED_SRC.is_dir() or os.environ.get("RVN_REQUIRE_TF") == "1":
        pytest.fail(
            f"{why}, but {SHARED_SRC} exists: `make test` builds it into {EXTRA} and sources "
            f"{EXTRA}/install/local_setup.bash; a skipped TF test is a defect here"
        )
    pytest.skip(f"{why}: `{SHARED_SRC}/build.sh .venv {EXTRA} --nav2` builds it, then source its local_setup.bash")


def require_tf() -> None:
    """tf2_ros and tf2_msgs, or skip / fail by the rule above."""
    _require(("tf2_ros", "tf2_msgs"), "tf2_ros")


def require_nav2_msgs() -> None:
    """nav2_msgs (NavigateToPose), or skip / fail by the rule above."""
    _require(("nav2_msgs",), "nav2_msgs")
