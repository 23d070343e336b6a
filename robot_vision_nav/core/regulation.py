"""The regulated pure pursuit heuristics as plain functions of numbers, as Nav2 keeps them.

`controller.RegulatedPurePursuit` holds the state (plan, progress, previous command) and calls
these for every number it derives: the lookahead distance, the curvature to the carrot, when to
rotate in place, the linear speed regulated by curvature, by proximity to obstacles, by the
approach to the goal and by the distance left to stop in, in-place rotation speeds, braking and
collision-check distances, the costmap value that blocks, whether a goal tolerance is reached,
and the acceleration-limited smoothing of the command. Each is a pure function: same arguments,
same float result, so each can be tested on hand-computed values.

The arithmetic is written exactly as the controller has always done it (same operations, same
order): a replayed bag must give the same commands bit for bit. Keep it that way; do not tidy
the algebra. This module must never hold state, read a clock (time comes in as `dt_s`), or
import ROS.
"""

from __future__ import annotations

import math

from robot_vision_nav.core.costmap import COST_TO_OCCUPANCY, INSCRIBED_INFLATED_OBSTACLE, LETHAL_OBSTACLE
from robot_vision_nav.core.geometry import Pose2D
from robot_vision_nav.core.grid import OCC_LETHAL

# Below this squared distance (m^2) the carrot is on the robot: no direction, so no curvature.
_MIN_CARROT_DIST2_M2 = 1e-12


# ---------------------------------------------------------------- lookahead and curvature
def lookahead_distance(speed_mps: float, lookahead_time_s: float, min_m: float, max_m: float) -> float:
    """Velocity-scaled lookahead: `|speed| * lookahead_time_s`, clamped to [min_m, max_m]."""
    return min(max(abs(speed_mps) * lookahead_time_s, min_m), max_m)


def pure_pursuit_curvature(x_m: float, y_m: float) -> float:
    """Curvature (1/m, left positive) of the arc from base_link through the point (x, y) in base_link.

    `2 y / d^2`, d the distance to the point; 0 for a point on the robot.
    """
    dist2 = x_m * x_m + y_m * y_m
    return 2.0 * y_m / dist2 if dist2 > _MIN_CARROT_DIST2_M2 else 0.0


def should_rotate_to_heading(angle_rad: float, min_angle_rad: float) -> bool:
    """Whether a carrot `angle_rad` off the heading calls for rotating in place instead of driving an arc."""
    return abs(angle_rad) > min_angle_rad


# ---------------------------------------------------------------- linear speed regulation
def curvature_constraint(linear_mps: float, curvature: float, min_radius_m: float) -> float:
    """Speed on an arc of `curvature`: scaled by radius / `min_radius_m` below that radius, else unchanged."""
    if curvature == 0.0:
        return linear_mps
    radius = 1.0 / abs(curvature)
    if radius < min_radius_m:
        return linear_mps * radius / min_radius_m
    return linear_mps


def distance_from_cost(cost: int, inscribed_radius_m: float, cost_scaling_factor: float) -> float:
    """Distance (m, >= 0) to the nearest lethal cell that a Nav2 inflation cost 1..252 stands for.

    Inverts the inflation layer's `252 * exp(-factor * (d - inscribed))`, as Nav2's RPP does.
    """
    d = inscribed_radius_m - math.log(cost / (INSCRIBED_INFLATED_OBSTACLE - 1)) / (cost_scaling_factor)
    return max(0.0, d)


def obstacle_distance_table(inscribed_radius_m: float, cost_scaling_factor: float) -> list[float]:
    """Distance to the nearest lethal cell (m) estimated for each OccupancyGrid value 0..100.

    A value stands for a range of costs (costmap_2d_publisher's table), so the highest cost of the
    range is used: the nearest distance it may mean, the cautious choice. Value 0 is far: inf.
    """
    highest_cost = [0] * (OCC_LETHAL + 1)
    for cost in range(1, LETHAL_OBSTACLE + 1):
        highest_cost[int(COST_TO_OCCUPANCY[cost])] = cost
    table = [math.inf]
    for value in range(1, OCC_LETHAL + 1):
        table.append(distance_from_cost(highest_cost[value], inscribed_radius_m, cost_scaling_factor))
    return table


def cost_constraint(linear_mps: float, obstacle_distance_m: float, cost_scaling_dist_m: float, gain: float) -> float:
    """Speed near an obstacle: scaled by `gain * distance / cost_scaling_dist_m` within that distance, else as is."""
    if obstacle_distance_m < cost_scaling_dist_m:
        return linear_mps * gain * obstacle_distance_m / cost_scaling_dist_m
    return linear_mps


def regulated_linear_vel(
    desired_mps: float, curvature_limited_mps: float, cost_limited_mps: float, min_mps: float
) -> float:
    """`desired_mps`, or the lower of the two regulated speeds where that is lower, but never below `min_mps`."""
    regulated = min(curvature_limited_mps, cost_limited_mps)
    if regulated < desired_mps:
        return max(regulated, min_mps)
    return desired_mps


def approach_constraint(
    linear_mps: float, desired_mps: float, remaining_m: float, approach_dist_m: float, min_approach_mps: float
) -> float:
    """Speed near the goal: at most `desired * remaining / approach_dist_m` inside that distance, never below the min.

    Never raises `linear_mps`; `approach_dist_m` 0 disables it (`remaining_m` is never negative).
    """
    if remaining_m < approach_dist_m:
        approach = desired_mps * remaining_m / approach_dist_m
        return min(linear_mps, max(approach, min_approach_mps))
    return linear_mps


def stopping_speed(distance_m: float, dt_s: float, decel: float) -> float:
    """Largest v with `v * dt + v^2 / (2 * decel) <= distance`: one step at v, then braking, stops in time.

    Works for any axis: m and m/s^2 give m/s, rad and rad/s^2 give rad/s.
    """
    return decel * (math.sqrt(dt_s * dt_s + 2.0 * distance_m / decel) - dt_s)


def goal_stop_constraint(
    linear_mps: float, to_goal_m: float, dt_s: float, decel_mps2: float, min_approach_mps: float
) -> float:
    """Speed that can still stop in half the straight-line distance to the goal, never below the approach min.

    Half: the collision checks look twice the braking distance ahead and must not look past the
    goal, so that a goal just short of a wall stays reachable.
    """
    return min(linear_mps, max(stopping_speed(0.5 * to_goal_m, dt_s, decel_mps2), min_approach_mps))


def arc_velocities(linear_mps: float, curvature: float, max_angular_rps: float) -> tuple[float, float]:
    """(v, w) driving the arc of `curvature` at `linear_mps`, slowed along the arc where w would pass its limit.

    Clamping w alone would steer off the arc (and the path); lowering v with it keeps the curvature.
    """
    w = linear_mps * curvature
    if abs(w) > max_angular_rps:
        return max_angular_rps / abs(curvature), math.copysign(max_angular_rps, w)
    return linear_mps, w


# ---------------------------------------------------------------- rotation
def rotation_speed(error_rad: float, dt_s: float, accel_rps2: float, max_rps: float) -> float:
    """In-place rotation speed (<= `max_rps`) that can still stop on the target angle within `accel_rps2`.

    Checked discretely (see `stopping_speed`), not the continuous sqrt(2 a e), so the next step's
    bound is always reachable from this one without exceeding the limit.
    """
    return min(max_rps, stopping_speed(error_rad, dt_s, accel_rps2))


# ---------------------------------------------------------------- braking and collision checks
def braking_distance(linear_mps: float, dt_s: float, decel_mps2: float) -> float:
    """Signed distance covered driving at `linear_mps` for `dt_s`, then braking to rest at `decel_mps2`."""
    return linear_mps * dt_s + math.copysign(linear_mps * linear_mps / (2.0 * decel_mps2), linear_mps)


def collision_check_distance(
    linear_mps: float, dt_s: float, look_m: float, check_time_s: float, decel_mps2: float
) -> float:
    """How far along its arc a motion at speed >= 0 toward a point `look_m` away is checked.

    `check_time_s` of travel, at most to the point (beyond it the path turns away, as Nav2 caps its
    check at the carrot), and never less than twice the braking distance, so that braking starts
    with room to spare.
    """
    return max(2.0 * braking_distance(linear_mps, dt_s, decel_mps2), min(linear_mps * check_time_s, look_m))


def collision_threshold(value_here: int, collision_min_value: int) -> int:
    """The lowest costmap value that blocks a robot standing on `value_here`; above 100: nothing blocks.

    Normally `collision_min_value`. Where the robot already stands in a blocked cell (an obstacle
    was mapped against it), only a higher value blocks, so it can drive out instead of freezing.
    """
    return value_here + 1 if value_here >= collision_min_value else collision_min_value


# ---------------------------------------------------------------- goal checks
def xy_goal_reached(
    pose: Pose2D, goal_xy: tuple[float, float], linear_mps: float, dt_s: float, decel_mps2: float, tolerance_m: float
) -> bool:
    """Whether the robot is within `tolerance_m` of the goal and still will be after braking from `linear_mps`.

    The brake is taken along the heading: the stop is short, the arc's bend over it negligible.
    """
    coast = braking_distance(linear_mps, dt_s, decel_mps2)
    end_x = pose.x_m + coast * math.cos(pose.yaw_rad)
    end_y = pose.y_m + coast * math.sin(pose.yaw_rad)
    return (
        math.hypot(goal_xy[0] - pose.x_m, goal_xy[1] - pose.y_m) <= tolerance_m
        and math.hypot(goal_xy[0] - end_x, goal_xy[1] - end_y) <= tolerance_m
    )


def yaw_goal_reached(
    error_rad: float, angular_rps: float, dt_s: float, accel_rps2: float, tolerance_rad: float
) -> bool:
    """Whether the yaw error is within tolerance and still will be after braking the rotation from `angular_rps`.

    A robot that arrives turning fast would otherwise sweep through the tolerance and stop outside.
    """
    w = angular_rps
    coast = math.copysign(abs(w) * dt_s + w * w / (2.0 * accel_rps2), w)
    return abs(error_rad) <= tolerance_rad and abs(error_rad - coast) <= tolerance_rad


# ---------------------------------------------------------------- velocity smoothing
def reachable_interval(prev: float, accel: float, decel: float) -> tuple[float, float]:
    """Interval of velocities reachable from `prev` in one step: speeding up by `accel`, slowing by `decel`.

    Moving away from zero is speeding up; toward zero (and through it) is slowing down.
    """
    if prev > 0.0:
        return prev - decel, prev + accel
    if prev < 0.0:
        return prev - accel, prev + decel
    return -accel, accel


def smooth_velocities(
    prev_v: float,
    prev_w: float,
    target_v: float,
    target_w: float,
    dt_s: float,
    *,
    max_linear_accel_mps2: float,
    max_linear_decel_mps2: float,
    max_angular_accel_rps2: float,
    max_linear_vel_mps: float,
    max_angular_vel_rps: float,
) -> tuple[float, float]:
    """The (v, w) nearest the target that the acceleration limits reach from (prev_v, prev_w) in `dt_s`.

    Tracking the arc matters more than reaching either speed, so: a stop (zero target) brakes
    along the current arc, the arc the collision checks look along; otherwise the target is
    scaled by one factor s in [0, 1] on both axes where possible (keeps the curvature w / v, as
    Nav2's velocity smoother `scale_velocities` does); where no s is reachable (w still winding
    down from a turn), w is limited on its own and v chosen for the target curvature, so the
    robot never speeds up while it is still turning the wrong way. Velocity limits are applied
    last and win over the deceleration limit (a previous command above them is cut at once).
    """
    v_lo, v_hi = reachable_interval(prev_v, max_linear_accel_mps2 * dt_s, max_linear_decel_mps2 * dt_s)
    ang = max_angular_accel_rps2 * dt_s
    w_lo, w_hi = prev_w - ang, prev_w + ang
    if target_v == 0.0 and target_w == 0.0 and prev_v != 0.0:
        v = min(max(0.0, v_lo), v_hi)
        w = min(max(prev_w * v / prev_v, w_lo), w_hi)
    else:
        s_lo, s_hi = 0.0, 1.0
        for target, lo, hi in ((target_v, v_lo, v_hi), (target_w, w_lo, w_hi)):
            if target > 0.0:
                s_lo, s_hi = max(s_lo, lo / target), min(s_hi, hi / target)
            elif target < 0.0:
                s_lo, s_hi = max(s_lo, hi / target), min(s_hi, lo / target)
            elif not lo <= 0.0 <= hi:
                s_lo, s_hi = 1.0, 0.0  # a zero target the limits cannot reach this step
        if s_lo <= s_hi:
            v, w = s_hi * target_v, s_hi * target_w
        else:
            w = min(max(target_w, w_lo), w_hi)
            v = target_v
            if target_v > 0.0 and target_w != 0.0:
                curvature = target_w / target_v
                v = min(target_v, w / curvature) if w * curvature > 0.0 else 0.0
            v = min(max(v, v_lo), v_hi)
    v_max, w_max = max_linear_vel_mps, max_angular_vel_rps
    return min(max(v, -v_max), v_max), min(max(w, -w_max), w_max)
