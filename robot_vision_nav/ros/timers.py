"""A node timer whose period a parameter sets: a changed period replaces the timer.

rclpy cannot change a timer's period, so a new one is made and the old one destroyed (not only
cancelled: a cancelled timer stays in the node's wait set). Made inside a managed node's
configure or parameter callback, the new timer runs only while the node is active, like the first.
"""

from __future__ import annotations

from collections.abc import Callable

from rclpy.clock import Clock
from rclpy.node import Node
from rclpy.timer import Timer


class PeriodicTimer:
    """`callback` every `period_s` seconds of `clock` (None: the node clock); `set_period` when it changes."""

    def __init__(self, node: Node, period_s: float, callback: Callable[[], None], clock: Clock | None = None) -> None:
        self._node = node
        self._callback = callback
        self._clock = clock
        self.period_s = period_s
        self.timer: Timer = node.create_timer(period_s, callback, clock=clock)

    def set_period(self, period_s: float) -> None:
        """Run every `period_s` from now on (nothing happens when that is the period already)."""
        if period_s == self.period_s:
            return
        self._node.destroy_timer(self.timer)
        self.period_s = period_s
        self.timer = self._node.create_timer(period_s, self._callback, clock=self._clock)
