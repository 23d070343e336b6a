"""Stamped robot poses, for the pose at another input's stamp.

`PoseBuffer` keeps the newest odometry poses in stamp order and answers "where was the robot when
this depth image was taken": interpolated between the two poses around the stamp, the nearer one
when only one is close enough, nothing when both are farther than the caller's maximum age. It
also tells a stray old message from a clock that restarted (core/clock.StampOrder, in its setting
for a stage with history): one pose stamped more than `jump_ns` before the newest is dropped (a late
retransmission must not throw the history away), `confirm` of them in a row start the buffer over (a
looped bag, a restarted simulator). A pose older than the newest by less than that is out of order
and dropped.

Times are integer ns. This module must never import ROS.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Iterator

from robot_vision_nav.core.clock import StampOrder, StampVerdict
from robot_vision_nav.core.geometry import Pose2D, interpolate_pose
from robot_vision_nav.core.units import NS_PER_S

OUT_OF_ORDER = "stamps out of order: odometry older than the last one; dropped"


class PoseBuffer:
    """The newest `capacity` poses by stamp (see the module docstring for the rules).

    Args:
        capacity: poses kept: several seconds at a typical 50 Hz odometry by default.
        jump_ns: a pose older than the newest by more than this may be a restarted clock.
        confirm: that many such poses in a row are one: the buffer starts over with them.

    """

    def __init__(self, capacity: int = 200, jump_ns: int = NS_PER_S, confirm: int = 3) -> None:
        self._poses: deque[Pose2D] = deque(maxlen=capacity)
        # The newest stamp it holds is the newest pose kept: every pose kept is taken, none other.
        self._order = StampOrder(jump_ns, confirm=None, confirm_jump=confirm)

    @property
    def jump_ns(self) -> int:
        """A pose older than the newest by more than this may be a restarted clock."""
        return self._order.window_ns

    @property
    def confirm(self) -> int:
        """That many such poses in a row start the buffer over."""
        return self._order.confirm_jump

    def __len__(self) -> int:
        return len(self._poses)

    def __iter__(self) -> Iterator[Pose2D]:
        return iter(self._poses)

    def clear(self) -> None:
        """Forget every pose (the inputs restarted, or the frame changed)."""
        self._poses.clear()
        self._order.reset()

    def forget_jumps(self) -> None:
        """Start the count of old poses over (a new matching of the other inputs has begun)."""
        self._order.forget_runs()

    def add(self, pose: Pose2D) -> str:
        """Keep `pose`; "" when kept, else why not (OUT_OF_ORDER)."""
        verdict = self._order.check(pose.stamp_ns)
        if verdict.dropped:
            return OUT_OF_ORDER
        if verdict is StampVerdict.RESTART:
            self._poses.clear()
        self._poses.append(pose)
        self._order.take(pose.stamp_ns)
        return ""

    def gap_s(self, stamp_ns: int) -> float | None:
        """Seconds from `stamp_ns` to the nearest pose kept; None when there is none."""
        if not self._poses:
            return None
        before, after = self._around(stamp_ns)
        return min(abs(p.stamp_ns - stamp_ns) for p in (before, after) if p is not None) / NS_PER_S

    def at(self, stamp_ns: int, max_age_ns: int) -> Pose2D | None:
        """The pose at `stamp_ns`, stamped with it; None when no pose is within `max_age_ns` of it.

        Between two poses within reach it is interpolated (never extrapolated); with one, that one.
        """
        if not self._poses:
            return None
        before, after = self._around(stamp_ns)
        near = [p for p in (before, after) if p is not None and abs(p.stamp_ns - stamp_ns) <= max_age_ns]
        if not near:
            return None
        if len(near) == 2 and before is not None and after is not None:
            return interpolate_pose(before, after, stamp_ns)
        return Pose2D(near[0].x_m, near[0].y_m, near[0].yaw_rad, stamp_ns)

    def _around(self, stamp_ns: int) -> tuple[Pose2D | None, Pose2D | None]:
        stamps = [p.stamp_ns for p in self._poses]
        i = bisect.bisect_left(stamps, stamp_ns)
        before = self._poses[i - 1] if i > 0 else None
        after = self._poses[i] if i < len(self._poses) else None
        return before, after
