"""Stamped robot poses, for the pose at another input's stamp.

`PoseBuffer` keeps the newest odometry poses in stamp order and answers "where was the robot when
this depth image was taken": interpolated between the two poses around the stamp, the nearer one
when only one is close enough, nothing when both are farther than the caller's maximum age. It
also tells a stray old message from a clock that restarted: one pose stamped more than `jump_ns`
before the newest is dropped (a late retransmission must not throw the history away), `confirm`
of them in a row start the buffer over (a looped bag, a restarted simulator). A pose older than the
newest by less than that is out of order and dropped.

Times are integer ns. This module must never import ROS.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Iterator

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
        self.jump_ns = jump_ns
        self.confirm = confirm
        self._behind = 0  # poses in a row more than jump_ns older than the newest

    def __len__(self) -> int:
        return len(self._poses)

    def __iter__(self) -> Iterator[Pose2D]:
        return iter(self._poses)

    def clear(self) -> None:
        """Forget every pose (the inputs restarted, or the frame changed)."""
        self._poses.clear()
        self._behind = 0

    def forget_jumps(self) -> None:
        """Start the count of old poses over (a new matching of the other inputs has begun)."""
        self._behind = 0

    def add(self, pose: Pose2D) -> str:
        """Keep `pose`; "" when kept, else why not (OUT_OF_ORDER)."""
        newest = self._poses[-1].stamp_ns if self._poses else None
        if newest is not None and newest - pose.stamp_ns > self.jump_ns:
            self._behind += 1
            if self._behind >= self.confirm:
                self.clear()
                newest = None
        else:
            self._behind = 0
        if newest is not None and pose.stamp_ns < newest:
            return OUT_OF_ORDER
        self._poses.append(pose)
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
