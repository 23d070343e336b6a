"""What a goal pose may be: one rule for every way a goal comes in (goal_pose, NavigateToPose).

A goal is a planar pose: a finite position within MAX_POSITION_M of the origin (farther overflows
the grid's cell arithmetic: no odometry gets there) and a heading taken from its quaternion. A
finite quaternion can still have no planar yaw (components around 1e300 overflow into NaN): refused
like a non-finite one. A zero quaternion is a driver or client that never set the orientation:
Nav2's NavigateToPose reads it as "no heading" (the navigator then faces the robot toward the goal),
while a goal on goal_pose, which the planner uses as given, must have one.

This module must never import ROS.
"""

from __future__ import annotations

import math

from robot_vision_nav.core.geometry import MAX_POSITION_M, yaw_from_quaternion

ZERO_QUATERNION_NORM2 = 1e-9  # below this squared norm a quaternion was never set


class GoalError(ValueError):
    """A goal pose that cannot be used, saying why."""


def planar_goal(
    position_xy: tuple[float, float],
    quaternion_xyzw: tuple[float, float, float, float],
    *,
    zero_is_no_heading: bool = False,
) -> tuple[float, float, float | None]:
    """(x m, y m, yaw rad) of a goal pose; the yaw is None for a zero quaternion with `zero_is_no_heading`.

    Raises:
        GoalError: a value is not finite; the position is farther than MAX_POSITION_M from the
            origin; the quaternion is zero (unless `zero_is_no_heading`) or has no planar yaw.

    """
    x, y = position_xy
    qx, qy, qz, qw = quaternion_xyzw
    values = (x, y, qx, qy, qz, qw)
    if not all(math.isfinite(v) for v in values):
        raise GoalError(f"position/orientation not finite {values}")
    if max(abs(x), abs(y)) > MAX_POSITION_M:
        raise GoalError(f"({x}, {y}) is farther than {MAX_POSITION_M:g} m from the origin")
    if qx * qx + qy * qy + qz * qz + qw * qw < ZERO_QUATERNION_NORM2:
        if zero_is_no_heading:
            return float(x), float(y), None
        raise GoalError(f"zero quaternion {values[2:]}: the orientation was never set")
    yaw = yaw_from_quaternion(qx, qy, qz, qw)
    if not math.isfinite(yaw):
        raise GoalError(f"orientation {values[2:]} has no usable yaw")
    return float(x), float(y), yaw
