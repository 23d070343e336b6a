"""Throttled warnings about bad input, the way every node gives them.

A node warns naming the topic the bad message came from ("/odom: wrong frame: ..."), logs the same
kind of problem (the text before its first colon, per topic) at most once per its
`warn_throttle_s`, and keeps the last problem for its next /diagnostics, which takes it.
Throttling reads the monotonic clock, never the node's: it only paces logging.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

from robot_vision_nav.core.config import param

if TYPE_CHECKING:
    from rclpy.impl.rcutils_logger import RcutilsLogger


def warn_throttle_param() -> float:
    """The `warn_throttle_s` parameter every node declares, described once."""
    field: float = param(  # a dataclass field typed as its default, as dataclasses.field is
        2.0, "the same warning is logged at most once per this period", unit="s", min_value=0.0, max_value=600.0
    )
    return field


class ThrottledWarnings:
    """One node's warnings. `logger` is the node's (`node.get_logger()`)."""

    def __init__(self, logger: RcutilsLogger) -> None:
        self._logger = logger
        self._warned_at: dict[tuple[str, str], float] = {}
        self.last_problem = ""

    def warn(self, topic: str, problem: str, period_s: float, kind: str | None = None) -> None:
        """Log "topic: problem" unless the same kind was logged for `topic` less than `period_s` ago.

        `kind` defaults to the problem's text before its first colon (at most 40 characters).
        """
        text = f"{topic}: {problem}" if topic else problem
        self.last_problem = text
        key = (topic, problem.split(":")[0][:40] if kind is None else kind)
        now = time.monotonic()
        if now - self._warned_at.get(key, -math.inf) >= period_s:
            self._warned_at[key] = now
            self._logger.warning(text)

    def take_last_problem(self) -> str:
        """The last problem warned about since the previous call ("" when none), and forget it."""
        text, self.last_problem = self.last_problem, ""
        return text
