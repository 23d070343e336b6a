"""How often a node does something, by input stamps, and how long it took.

`RatePacer` lets an event through when its stamp is far enough after the last one let through: the
costmap publishes at `publish_rate_hz`, the controller commands at `control_rate_hz`, both paced by
the stamps of what they receive (never the wall clock, so a replay repeats). `StepTimes` keeps the
recent durations of a node's core step for /diagnostics.

Times are integer ns. This module must never import ROS.
"""

from __future__ import annotations

import statistics
import time
from collections import deque

from robot_vision_nav.core.units import NS_PER_S


class RatePacer:
    """At most `rate_hz` events per second of stamp time; `rate_hz` 0 lets every event through.

    An event stamped before the last one let through is not due unless `older_is_due`: a caller that
    must restart on a clock that jumped back (a looped bag) detects that itself and calls `reset`;
    one that keeps no history lets the older stamp through (`older_is_due`).

    Args:
        rate_hz: the rate; a change takes effect at the next event.
        fraction: the share of a period that must have passed (0.9 lets a source that is a little
            early, or jitters, through at the full rate instead of every other event).
        older_is_due: an event stamped before the last one let through is due.

    """

    def __init__(self, rate_hz: float, fraction: float = 1.0, older_is_due: bool = False) -> None:
        self.rate_hz = rate_hz
        self.fraction = fraction
        self.older_is_due = older_is_due
        self.last_ns: int | None = None

    @property
    def min_gap_ns(self) -> float:
        """The least stamp difference between two events let through (0 without a rate)."""
        return 0.0 if self.rate_hz <= 0.0 else round(NS_PER_S / self.rate_hz) * self.fraction

    def due(self, stamp_ns: int) -> bool:
        """Whether an event stamped `stamp_ns` is let through (nothing is recorded: see `take`)."""
        if self.rate_hz <= 0.0 or self.last_ns is None:
            return True
        gap = stamp_ns - self.last_ns
        return gap >= self.min_gap_ns or (self.older_is_due and gap < 0)

    def take(self, stamp_ns: int) -> bool:
        """`due`, and when it is, record `stamp_ns` as the last event let through."""
        if not self.due(stamp_ns):
            return False
        self.last_ns = stamp_ns
        return True

    def reset(self) -> None:
        """Forget the last event: the next one is due whatever its stamp."""
        self.last_ns = None


class StepTimes:
    """Wall-clock durations of the last `keep` runs of a step, and how many ran, for /diagnostics."""

    def __init__(self, keep: int = 100) -> None:
        self._ms: deque[float] = deque(maxlen=keep)
        self.count = 0
        self.last_wall_s: float | None = None  # time.monotonic() when the last run ended

    def start(self) -> float:
        """A start time to hand to `done`."""
        return time.perf_counter()

    def done(self, started: float) -> None:
        """A run that began at `started` (from `start`) ended now."""
        self._ms.append((time.perf_counter() - started) * 1e3)
        self.count += 1
        self.last_wall_s = time.monotonic()

    def idle_s(self) -> float | None:
        """Seconds since the last run ended; None before the first."""
        return None if self.last_wall_s is None else time.monotonic() - self.last_wall_s

    def last_ms(self, decimals: int = 2) -> str:
        """The last duration in ms with `decimals` decimals, "nan" before the first."""
        return f"{self._ms[-1]:.{decimals}f}" if self._ms else "nan"

    def median_ms(self) -> str:
        """The median of the kept durations in ms with two decimals, "nan" before the first."""
        return f"{statistics.median(self._ms):.2f}" if self._ms else "nan"
