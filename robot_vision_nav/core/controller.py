"""Regulated pure pursuit for a differential-drive base: from a path and a costmap to (v, w).

Follows the semantics of Nav2's regulated_pure_pursuit_controller (Macenski et al., 2023), plus
the velocity-smoother stage Nav2 runs after it, in one object that `controller_node` calls at its
control rate:

1. Track: project the robot onto the path (searching forward from the last projection only, so a
   path that passes near itself is never short-cut), and take the carrot, the first point along the
   path at the lookahead distance `clamp(|v| * lookahead_time_s, min, max)` from the robot,
   interpolated on its segment. `v` is the last command (set from odometry with `reset`).
2. Mode: at the goal (within `xy_goal_tolerance_m`, latched) rotate in place to the goal yaw, if
   one was given, then stop; else rotate in place toward the carrot when it is more than
   `rotate_to_heading_min_angle_rad` off the heading; else follow the arc through the carrot,
   curvature `2 y / d^2` (d = distance to the carrot, the lookahead except near the path's end).
3. Regulate the linear speed down by curvature (radius below `regulated_min_radius_m`), by
   proximity to obstacles (distance estimated from the costmap cost under the robot, inverting
   Nav2's inflation formula), never below `regulated_min_linear_vel_mps`; by the remaining path
   length near the goal, never below `min_approach_linear_vel_mps`; and so that the robot can
   still stop at the goal within the deceleration limit. Where the angular limit binds, the
   linear speed is lowered with it so the curvature (the arc being tracked) is kept.
4. Collision ahead: project the desired motion along its arc for `collision_check_time_s` (at most
   to the carrot, as Nav2 does, since the path turns away beyond it), and at least twice its
   braking distance (`v * dt + v^2 / (2 * decel)`); if it would put the robot centre in a cell of
   value >= `collision_min_value` (99 inscribed by default: for the circular footprint the costmap
   inflates for, that means touching an obstacle), the target is a stop.
5. Smooth: reach the target as far as the acceleration limits allow in `dt_s`, keeping the
   curvature where the limits let it (see `regulation.smooth_velocities`), then clamp each axis to
   its velocity limit.
6. Stop check: project the smoothed command itself (which may lag the target) along its own arc
   as far as step 4 looked; if that enters a blocked cell, brake along the current arc within the
   deceleration limit; and if even that brake would end in a blocked cell, command zero at once.

Safety first: the last case of step 6 is the only place where the output may change faster than
the acceleration limits. It happens only when an obstacle appears within about the braking
distance (7.5 cm at 0.5 m/s, 2.5 m/s^2 and 20 Hz); a hard stop is a jerk, a collision is damage,
so the hard stop wins. Everywhere else (no plan, goal reached, collision seen in time) the robot is
brought to rest within the deceleration limits, which may take several calls: the caller must keep
calling `compute` until the command is zero (status `stopping`, or `goal_reached` or
`collision_ahead` with non-zero velocities, says it is not there yet). A caller that stops calling
(stale inputs, node shutdown) must publish zero itself.

When the arc to the carrot is blocked but the path itself is not (at speed, or off the path, pure
pursuit cuts the corners the path goes round), the robot aims at a nearer point of the path, slowly
enough to stop there, and keeps that aim until it gets there; failing that it turns in place toward
the path (even with `use_rotate_to_heading` false: it is the only motion that cannot hit
anything), rather than freeze beside a free path. Only a blocked path is a collision ahead.

After a stop for a collision the robot creeps on only as far as the shortest check allows: it
stays put once the blocked cell is within `min_lookahead_m` along its way, and drives on when the
costmap clears. When the robot already stands in a blocked cell (an obstacle was mapped against
it), only a higher value stops it, so it can drive out instead of freezing.

Not handled: reversing (targets are never negative; after a `reset` to a negative speed the
smoother brings it up to zero within the deceleration limit), non-circular footprints (the check
follows the robot centre through costmap values, which encode a circular robot), and moving
obstacles (each call sees the costmap it is given). Unknown cells (-1) and cells outside the grid
never stop the robot, as in Nav2 with `track_unknown_space`: the planner decides whether unknown
space is used.

The heuristics themselves (each speed limit, distance and decision above) are plain functions in
`regulation`; this module keeps the state and the geometry of the path and the costmap.

Frames: the path, the pose and the grid are all in the odom frame; the caller transforms.
This module must never read a clock (time only comes in as `dt_s`), never import ROS, and never
return a command outside the configured velocity limits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
from numpy.typing import NDArray

from robot_vision_nav.core.config import ConfigError, param, validate_fields
from robot_vision_nav.core.geometry import MAX_POSITION_M, Pose2D, wrap_angle
from robot_vision_nav.core.grid import OCC_LETHAL, Grid
from robot_vision_nav.core.regulation import (
    approach_constraint,
    arc_velocities,
    braking_distance,
    collision_check_distance,
    collision_threshold,
    cost_constraint,
    curvature_constraint,
    goal_stop_constraint,
    lookahead_distance,
    obstacle_distance_table,
    pure_pursuit_curvature,
    regulated_linear_vel,
    rotation_speed,
    should_rotate_to_heading,
    smooth_velocities,
    stopping_speed,
    xy_goal_reached,
    yaw_goal_reached,
)

Status = Literal[
    "no_plan", "following", "rotating_to_heading", "rotating_to_goal", "goal_reached", "collision_ahead", "stopping"
]
NO_PLAN: Final = "no_plan"
FOLLOWING: Final = "following"
ROTATING_TO_HEADING: Final = "rotating_to_heading"
ROTATING_TO_GOAL: Final = "rotating_to_goal"
GOAL_REACHED: Final = "goal_reached"
COLLISION_AHEAD: Final = "collision_ahead"
STOPPING: Final = "stopping"

# Carrot search reads the path this many points at a time: the carrot is almost always within the
# first chunk (max lookahead / cell size), so most calls touch a few dozen points, not the whole path.
_CARROT_CHUNK = 48


# When every arc toward the path is blocked the robot turns in place toward it; closer than this to
# pointing straight at it, turning further opens no new arc.
_AIM_TOLERANCE_RAD = 0.02


class ControllerError(ValueError):
    """Input the controller cannot use (a non-finite pose, an empty path, a bad time step), saying why."""


@dataclass(frozen=True)
class ControllerConfig:
    """Everything that shapes the controller's commands; `controller_node` fills it from parameters.

    Names follow Nav2's RPP and velocity smoother parameters, with units appended.
    """

    desired_linear_vel_mps: float = param(
        0.5, "cruise speed, and the linear velocity limit", unit="m/s", min_value=0.01, max_value=5.0
    )
    max_angular_vel_rps: float = param(2.0, "angular velocity limit", unit="rad/s", min_value=0.01, max_value=10.0)
    lookahead_time_s: float = param(
        1.5, "lookahead distance = current speed x this, then clamped", unit="s", min_value=0.0, max_value=10.0
    )
    min_lookahead_m: float = param(0.3, "shortest lookahead distance", unit="m", min_value=0.01, max_value=10.0)
    max_lookahead_m: float = param(0.9, "longest lookahead distance", unit="m", min_value=0.01, max_value=20.0)
    use_rotate_to_heading: bool = param(True, "rotate in place toward the path when the carrot is far off the heading")
    rotate_to_heading_min_angle_rad: float = param(
        0.785,
        "angle to the carrot above which the robot rotates in place",
        unit="rad",
        min_value=0.01,
        max_value=math.pi,
    )
    rotate_to_heading_angular_vel_rps: float = param(
        1.8,
        "angular speed of in-place rotations (toward the path and to the goal yaw)",
        unit="rad/s",
        min_value=0.01,
        max_value=10.0,
    )
    use_curvature_regulation: bool = param(True, "slow down on tight curves")
    regulated_min_radius_m: float = param(
        0.9,
        "below this turning radius the speed scales with radius / this",
        unit="m",
        min_value=0.01,
        max_value=100.0,
    )
    use_cost_regulation: bool = param(True, "slow down near obstacles, from the costmap cost under the robot")
    cost_scaling_dist_m: float = param(
        0.3,
        "closer to an obstacle than this the speed scales with distance / this",
        unit="m",
        min_value=0.01,
        max_value=10.0,
    )
    cost_scaling_gain: float = param(
        1.0, "extra factor (<= 1) on the proximity scaling; lower slows down sooner", min_value=0.01, max_value=1.0
    )
    inflation_cost_scaling_factor: float = param(
        3.0,
        "the costmap's cost_scaling_factor, to turn cost back into distance",
        unit="1/m",
        min_value=0.01,
        max_value=100.0,
    )
    inscribed_radius_m: float = param(
        0.25,
        "the costmap's robot_radius_m (inscribed radius), to turn cost back into distance",
        unit="m",
        min_value=0.0,
        max_value=10.0,
    )
    regulated_min_linear_vel_mps: float = param(
        0.25,
        "curvature and proximity regulation never go below this speed",
        unit="m/s",
        min_value=0.0,
        max_value=5.0,
    )
    approach_velocity_scaling_dist_m: float = param(
        0.6,
        "within this remaining path length the speed scales with remaining / this; 0 disables",
        unit="m",
        min_value=0.0,
        max_value=10.0,
    )
    min_approach_linear_vel_mps: float = param(
        0.05,
        "approach regulation never goes below this speed (the robot stops at the goal)",
        unit="m/s",
        min_value=0.001,
        max_value=5.0,
    )
    max_linear_accel_mps2: float = param(
        2.5, "largest rise of |linear velocity| per second", unit="m/s^2", min_value=0.01, max_value=50.0
    )
    max_linear_decel_mps2: float = param(
        2.5,
        "largest fall of |linear velocity| per second (a collision hard stop may exceed it)",
        unit="m/s^2",
        min_value=0.01,
        max_value=50.0,
    )
    max_angular_accel_rps2: float = param(
        3.2,
        "largest change of angular velocity per second, up or down",
        unit="rad/s^2",
        min_value=0.01,
        max_value=100.0,
    )
    collision_check_time_s: float = param(
        1.0,
        "project the desired motion this far ahead (at most to the carrot); 0 checks the next step only",
        unit="s",
        min_value=0.0,
        max_value=10.0,
    )
    collision_min_value: int = param(
        99,
        "costmap values at or above this stop the robot (99 inscribed, 100 lethal only)",
        min_value=1,
        max_value=100,
    )
    max_robot_pose_search_dist_m: float = param(
        2.0,
        "the robot's projection on the path is searched this far along it from the last one",
        unit="m",
        min_value=0.1,
        max_value=1000.0,
    )
    xy_goal_tolerance_m: float = param(
        0.25,
        "within this distance of the path's end the position goal is reached",
        unit="m",
        min_value=0.001,
        max_value=10.0,
    )
    yaw_goal_tolerance_rad: float = param(
        0.25,
        "within this angle of the goal yaw the goal is reached",
        unit="rad",
        min_value=0.001,
        max_value=math.pi,
    )

    def __post_init__(self) -> None:
        validate_fields(self)
        pairs = (
            ("max_lookahead_m", "min_lookahead_m", "at least"),
            ("desired_linear_vel_mps", "min_approach_linear_vel_mps", "at least"),
            ("desired_linear_vel_mps", "regulated_min_linear_vel_mps", "at least"),
            ("max_angular_vel_rps", "rotate_to_heading_angular_vel_rps", "at least"),
        )
        for big, small, relation in pairs:
            if getattr(self, big) < getattr(self, small):
                raise ConfigError(
                    f"parameter '{big}' = {getattr(self, big)} must be {relation} '{small}' = {getattr(self, small)}"
                )
        # The robot crosses into the xy tolerance at >= min_approach speed and must come to rest inside it.
        stop_m = self.min_approach_linear_vel_mps**2 / (2.0 * self.max_linear_decel_mps2)
        if stop_m >= 0.5 * self.xy_goal_tolerance_m:
            raise ConfigError(
                f"parameter 'min_approach_linear_vel_mps' = {self.min_approach_linear_vel_mps} needs {stop_m:.3g} m "
                f"to stop at 'max_linear_decel_mps2' = {self.max_linear_decel_mps2}, which must be under half of "
                f"'xy_goal_tolerance_m' = {self.xy_goal_tolerance_m}"
            )


@dataclass(frozen=True)
class Command:
    """One velocity command for base_link, with what the controller is doing and where it looks.

    Attributes:
        linear_mps: forward speed.
        angular_rps: yaw rate, counter-clockwise positive.
        status: `no_plan` (at rest, no plan), `following`, `rotating_to_heading`, `rotating_to_goal`,
            `goal_reached` (decelerating to, or at, rest at the goal), `collision_ahead` (braking or
            stopped for a blocked cell ahead), `stopping` (plan cleared, decelerating to rest).
        lookahead_xy: the carrot (or the goal while rotating to it) in the odom frame, for display.

    """

    linear_mps: float
    angular_rps: float
    status: Status
    lookahead_xy: tuple[float, float] | None = None


def _distance_table(config: ControllerConfig) -> list[float]:
    """Distance to the nearest lethal cell (m) estimated for each OccupancyGrid value 0..100 (see `regulation`)."""
    return obstacle_distance_table(config.inscribed_radius_m, config.inflation_cost_scaling_factor)


@dataclass
class _Plan:
    """A validated path with what every call needs precomputed."""

    points: NDArray[np.float64]  # (N, 2), N >= 2 (a one-point path is doubled)
    seg: NDArray[np.float64]  # (N-1, 2) segment vectors
    inv_len2: NDArray[np.float64]  # (N-1,) 1 / squared length, 0 for zero-length segments
    seg_len: NDArray[np.float64]  # (N-1,)
    cum: NDArray[np.float64]  # (N,) arc length at each point
    goal_yaw_rad: float | None


@dataclass(frozen=True)
class _Track:
    """Where the robot is along the plan at one call."""

    carrot_x: float
    carrot_y: float
    s_proj_m: float  # path length from the start to the robot's projection
    s_carrot_m: float  # path length from the start to the carrot
    remaining_m: float  # distance to the projection + path length from it to the end
    at_end: bool  # the projection is within xy tolerance of the end along the path, or on the last segment


class RegulatedPurePursuit:
    """Regulated pure pursuit with a velocity smoother and a collision stop (see the module docstring).

    Attributes:
        config: the configuration in force; change it with `reconfigure`.

    """

    def __init__(self, config: ControllerConfig) -> None:
        self.config = config
        self._dist_table = _distance_table(config)
        self._plan: _Plan | None = None
        self._seg = 0  # index of the segment the robot was last projected on
        self._searched_whole_plan = False
        self._xy_reached = False
        self._goal_reached = False
        self._aim_s: float | None = None  # path length of a nearer point of the path aimed at instead of the carrot
        self._look_m = 0.0  # distance to the point the target command drives toward; 0: none
        self._prev_v = 0.0
        self._prev_w = 0.0

    # ------------------------------------------------------------------ state
    def reconfigure(self, config: ControllerConfig) -> None:
        """Use a new configuration from the next call on; plan, progress and smoother state are kept."""
        self.config = config
        self._dist_table = _distance_table(config)

    def set_plan(self, path_xy: NDArray[np.float64], goal_yaw_rad: float | None = None) -> None:
        """Follow a new path; the smoother state is kept, so a replan mid-motion does not jerk.

        Args:
            path_xy: (N, 2) points in the odom frame, N >= 1, from the robot's end to the goal.
            goal_yaw_rad: yaw to turn to at the goal; None: stop wherever the heading is.

        Raises:
            ControllerError: a path that is not (N, 2) with N >= 1, or has a non-finite value; a
                non-finite goal yaw. A refused path leaves the plan in force as it was.

        """
        try:
            points = np.array(path_xy, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise ControllerError(f"path must be an (N, 2) array of x, y in metres: {err}") from err
        if points.ndim != 2 or points.shape[1] != 2 or points.shape[0] < 1:
            raise ControllerError(f"path must be an (N, 2) array with N >= 1 points, got shape {points.shape}")
        if not np.all(np.isfinite(points)):
            bad = int(np.flatnonzero(~np.all(np.isfinite(points), axis=1))[0])
            raise ControllerError(f"path point {bad} is not finite: {points[bad].tolist()}")
        if np.abs(points).max() > MAX_POSITION_M:
            # Farther than any odometry: squared segment lengths overflow to inf and tracking to NaN.
            bad = int(np.flatnonzero(np.abs(points).max(axis=1) > MAX_POSITION_M)[0])
            raise ControllerError(f"path point {bad} {points[bad].tolist()} is more than {MAX_POSITION_M:g} m away")
        if goal_yaw_rad is not None and not math.isfinite(goal_yaw_rad):
            raise ControllerError(f"goal yaw must be finite or None, got {goal_yaw_rad}")
        if points.shape[0] == 1:
            points = np.vstack((points, points))
        seg = np.diff(points, axis=0)
        len2 = np.einsum("ij,ij->i", seg, seg)
        inv_len2 = np.divide(1.0, len2, out=np.zeros_like(len2), where=len2 > 0.0)
        seg_len = np.sqrt(len2)
        cum = np.concatenate(([0.0], np.cumsum(seg_len)))
        self._plan = _Plan(
            points, seg, inv_len2, seg_len, cum, None if goal_yaw_rad is None else wrap_angle(goal_yaw_rad)
        )
        self._seg = 0
        self._searched_whole_plan = False
        self._xy_reached = False
        self._goal_reached = False
        self._aim_s = None

    def clear_plan(self) -> None:
        """Drop the plan: the next calls bring the robot to rest within the deceleration limits."""
        self._plan = None
        self._xy_reached = False
        self._goal_reached = False
        self._aim_s = None

    def reset(self, linear_mps: float = 0.0, angular_rps: float = 0.0) -> None:
        """Set the smoother's previous command, e.g. from odometry after the robot was moved by hand.

        Raises:
            ControllerError: a non-finite velocity.

        """
        if not (math.isfinite(linear_mps) and math.isfinite(angular_rps)):
            raise ControllerError(f"reset velocities must be finite, got linear={linear_mps}, angular={angular_rps}")
        self._prev_v = float(linear_mps)
        self._prev_w = float(angular_rps)

    @property
    def goal_reached(self) -> bool:
        """Whether the current plan's goal was reached (within both tolerances); False with no plan."""
        return self._goal_reached

    @property
    def has_plan(self) -> bool:
        """Whether a plan is held."""
        return self._plan is not None

    # ---------------------------------------------------------------- compute
    def compute(self, pose: Pose2D, grid: Grid | None, dt_s: float) -> Command:
        """The command for the next `dt_s`, within the velocity and acceleration limits.

        Args:
            pose: base_link in the odom frame, at the time the command takes effect.
            grid: the local costmap in the odom frame; None skips the cost regulation and the
                collision check (only for a caller that has no costmap on purpose).
            dt_s: time since the previous call (> 0): the acceleration limits are applied over it.

        Returns:
            The command. Relative to the previous command (or `reset`), each axis changes by at most
            its acceleration limit x `dt_s`, except a collision hard stop, which is exactly zero.

        Raises:
            ControllerError: a non-finite pose or a `dt_s` that is not finite and > 0.

        """
        if not (math.isfinite(pose.x_m) and math.isfinite(pose.y_m) and math.isfinite(pose.yaw_rad)):
            raise ControllerError(f"pose must be finite, got x={pose.x_m}, y={pose.y_m}, yaw={pose.yaw_rad}")
        if not (math.isfinite(dt_s) and dt_s > 0.0):
            raise ControllerError(f"dt_s must be finite and > 0 s, got {dt_s}")
        cfg = self.config
        lookahead = lookahead_distance(self._prev_v, cfg.lookahead_time_s, cfg.min_lookahead_m, cfg.max_lookahead_m)
        self._look_m = 0.0
        status, target_v, target_w, look = self._target(pose, grid, dt_s, lookahead)
        v, w = self._smooth(target_v, target_w, dt_s)
        # The motion as it is (not the target: the limits may keep it off the target's arc) may run
        # into a blocked cell. Looked along exactly as far as the target was checked (see `_reach`),
        # so a command on the target's arc never fails a check its target passed. If it does, brake
        # now, within the limits.
        if grid is not None and v != 0.0:
            reach = math.copysign(self._reach(abs(v), dt_s, self._look_m), v)
            if self._blocked(pose, grid, w / v, reach):
                status = COLLISION_AHEAD
                v, w = self._smooth(0.0, 0.0, dt_s)
                if v != 0.0 and self._blocked(pose, grid, w / v, braking_distance(v, dt_s, cfg.max_linear_decel_mps2)):
                    # Safety over smoothness: braking at the limit would still end in the obstacle.
                    v, w = 0.0, 0.0
        self._prev_v, self._prev_w = v, w
        return Command(v, w, status, look)

    def _target(
        self, pose: Pose2D, grid: Grid | None, dt_s: float, lookahead: float
    ) -> tuple[Status, float, float, tuple[float, float] | None]:
        """Status, desired (v, w) before smoothing, and the point looked at."""
        cfg, plan = self.config, self._plan
        if plan is None:
            moving = self._prev_v != 0.0 or self._prev_w != 0.0
            return (STOPPING if moving else NO_PLAN), 0.0, 0.0, None
        goal = (float(plan.points[-1, 0]), float(plan.points[-1, 1]))
        if self._goal_reached:
            return GOAL_REACHED, 0.0, 0.0, goal

        track = self._track(plan, pose.x_m, pose.y_m, lookahead)
        if not self._xy_reached and track.at_end:
            # Within the tolerance, and still within it after braking from the present speed.
            self._xy_reached = xy_goal_reached(
                pose, goal, self._prev_v, dt_s, cfg.max_linear_decel_mps2, cfg.xy_goal_tolerance_m
            )
        if self._xy_reached:
            if plan.goal_yaw_rad is None:
                self._goal_reached = True
                return GOAL_REACHED, 0.0, 0.0, goal
            error = wrap_angle(plan.goal_yaw_rad - pose.yaw_rad)
            # Reached only if braking the rotation now still ends inside the tolerance.
            if yaw_goal_reached(error, self._prev_w, dt_s, cfg.max_angular_accel_rps2, cfg.yaw_goal_tolerance_rad):
                self._goal_reached = True
                return GOAL_REACHED, 0.0, 0.0, goal
            return ROTATING_TO_GOAL, 0.0, math.copysign(self._rotation_speed(abs(error), dt_s), error), goal

        to_goal = math.hypot(goal[0] - pose.x_m, goal[1] - pose.y_m)
        carrot, s_carrot, slow = (track.carrot_x, track.carrot_y), track.s_carrot_m, False
        if self._aim_s is not None:
            # Committed to a nearer point of the path (below) until there, so that turning toward the
            # carrot and toward the nearer point do not take turns for ever.
            aim = self._point_at(plan, self._aim_s)
            if track.s_proj_m >= self._aim_s or math.hypot(aim[0] - pose.x_m, aim[1] - pose.y_m) < 0.5 * _cell(grid):
                self._aim_s = None
            else:
                carrot, s_carrot, slow = aim, self._aim_s, True
        result = self._pursue(pose, grid, dt_s, carrot, track.remaining_m, to_goal, slow=slow)
        if result is not None:
            return result
        # The arc to the carrot is blocked. If the path itself is clear up to the carrot, the arc only
        # cuts a corner the path goes round: aim at nearer points of the path (a tighter arc, slowly
        # enough to stop before the point), and failing that turn in place toward the nearest one,
        # instead of stopping for good next to a path that is free.
        if grid is not None and not self._path_blocked(pose, plan, grid, track.s_proj_m, s_carrot):
            ahead = s_carrot - track.s_proj_m
            nearer = carrot
            while ahead > 2.0 * grid.resolution_m:
                ahead *= 0.5
                nearer = self._point_at(plan, track.s_proj_m + ahead)
                result = self._pursue(pose, grid, dt_s, nearer, track.remaining_m, to_goal, slow=True)
                if result is not None:
                    self._aim_s = track.s_proj_m + ahead
                    return result
            angle = wrap_angle(math.atan2(nearer[1] - pose.y_m, nearer[0] - pose.x_m) - pose.yaw_rad)
            if abs(angle) > _AIM_TOLERANCE_RAD:
                self._aim_s = track.s_proj_m + ahead
                return ROTATING_TO_HEADING, 0.0, math.copysign(self._rotation_speed(abs(angle), dt_s), angle), nearer
        return COLLISION_AHEAD, 0.0, 0.0, carrot

    def _pursue(
        self,
        pose: Pose2D,
        grid: Grid | None,
        dt_s: float,
        carrot: tuple[float, float],
        remaining_m: float,
        to_goal_m: float,
        *,
        slow: bool = False,
    ) -> tuple[Status, float, float, tuple[float, float]] | None:
        """Rotate toward or drive the arc to `carrot`; None if that arc runs into a blocked cell.

        `slow`: no faster than what can stop at the carrot (for a carrot nearer than the lookahead,
        whose arc is only checked that far).
        """
        cfg = self.config
        dx, dy = carrot[0] - pose.x_m, carrot[1] - pose.y_m
        c, s = math.cos(pose.yaw_rad), math.sin(pose.yaw_rad)
        x_r, y_r = c * dx + s * dy, -s * dx + c * dy  # carrot in base_link
        dist2 = x_r * x_r + y_r * y_r
        angle = math.atan2(y_r, x_r)
        if cfg.use_rotate_to_heading and should_rotate_to_heading(angle, cfg.rotate_to_heading_min_angle_rad):
            # In place: a circular robot cannot hit anything by turning.
            return ROTATING_TO_HEADING, 0.0, math.copysign(cfg.rotate_to_heading_angular_vel_rps, angle), carrot
        curvature = pure_pursuit_curvature(x_r, y_r)
        dist = math.sqrt(dist2)
        v = self._regulated_speed(curvature, grid, pose, remaining_m, to_goal_m, dt_s)
        if slow:
            v = min(v, stopping_speed(0.5 * dist, dt_s, cfg.max_linear_decel_mps2))
        v, w = arc_velocities(v, curvature, cfg.max_angular_vel_rps)
        if grid is not None and v > 0.0 and self._blocked(pose, grid, curvature, self._reach(v, dt_s, dist)):
            return None
        self._look_m = dist
        return FOLLOWING, v, w, carrot

    def _reach(self, v: float, dt_s: float, look_m: float) -> float:
        """How far along its arc a motion at speed v >= 0 toward a point `look_m` away is checked.

        `collision_check_time_s` of travel, at most to the point (beyond it the path turns away, as
        Nav2 caps its check at the carrot), and never less than twice the braking distance (this
        step, then braking at the limit), so that braking starts with room to spare. Speeds are
        capped (`_regulated_speed`, `slow` in `_pursue`) so that the latter stays within the point.
        """
        cfg = self.config
        return collision_check_distance(v, dt_s, look_m, cfg.collision_check_time_s, cfg.max_linear_decel_mps2)

    def _rotation_speed(self, error_rad: float, dt_s: float) -> float:
        """In-place rotation speed that stops on the target angle within the angular acceleration limit.

        Largest w with `w * dt + w^2 / (2 * accel) <= error`: turn at w for this step, then brake at
        the limit, and stop before the target (`rotation_speed`).
        """
        cfg = self.config
        return rotation_speed(error_rad, dt_s, cfg.max_angular_accel_rps2, cfg.rotate_to_heading_angular_vel_rps)

    def _regulated_speed(
        self, curvature: float, grid: Grid | None, pose: Pose2D, remaining_m: float, to_goal_m: float, dt_s: float
    ) -> float:
        """Desired linear speed after curvature, proximity and approach regulation (Nav2 RPP's order).

        The speed is also kept low enough to stop at the goal within the deceleration limit
        (`goal_stop_constraint`), as a separate velocity smoother cannot know where the goal is: a
        robot that slows down too late overshoots the tolerance it was stopped in. That bound uses
        the straight-line distance to the goal, not the path length, because the robot cuts the
        path's corners toward the carrot and may get there sooner than the path says.
        """
        cfg = self.config
        desired = cfg.desired_linear_vel_mps
        by_curvature = by_cost = desired
        if cfg.use_curvature_regulation:
            by_curvature = curvature_constraint(desired, curvature, cfg.regulated_min_radius_m)
        if cfg.use_cost_regulation and grid is not None:
            value = grid.value_at(pose.x_m, pose.y_m)
            if value > 0:  # 0 is free; -1 (unknown, or outside the grid) says nothing about obstacles
                distance = self._dist_table[value]
                by_cost = cost_constraint(desired, distance, cfg.cost_scaling_dist_m, cfg.cost_scaling_gain)
        v = regulated_linear_vel(desired, by_curvature, by_cost, cfg.regulated_min_linear_vel_mps)
        v = approach_constraint(
            v, desired, remaining_m, cfg.approach_velocity_scaling_dist_m, cfg.min_approach_linear_vel_mps
        )
        v = goal_stop_constraint(v, to_goal_m, dt_s, cfg.max_linear_decel_mps2, cfg.min_approach_linear_vel_mps)
        return min(max(v, 0.0), desired)

    # ------------------------------------------------------------------ track
    def _track(self, plan: _Plan, x: float, y: float, lookahead_m: float) -> _Track:
        """Project the robot on the plan (forward of the last projection) and find the carrot."""
        pts = plan.points
        n_seg = plan.seg.shape[0]
        first = self._seg
        if self._searched_whole_plan:
            # Only ahead, and only so far: a path that loops back near the robot must not be skipped.
            last = int(np.searchsorted(plan.cum, plan.cum[first] + self.config.max_robot_pose_search_dist_m, "right"))
            last = min(max(last, first + 1), n_seg)
        else:
            last = n_seg  # the first call after set_plan may find the robot anywhere along the path
            self._searched_whole_plan = True
        start = pts[first:last]
        rel_x = x - start[:, 0]
        rel_y = y - start[:, 1]
        seg = plan.seg[first:last]
        t = np.clip((rel_x * seg[:, 0] + rel_y * seg[:, 1]) * plan.inv_len2[first:last], 0.0, 1.0)
        off_x = rel_x - t * seg[:, 0]
        off_y = rel_y - t * seg[:, 1]
        k = int(np.argmin(off_x * off_x + off_y * off_y))
        j = first + k
        self._seg = j
        t_j = float(t[k])
        proj_x = float(pts[j, 0] + t_j * plan.seg[j, 0])
        proj_y = float(pts[j, 1] + t_j * plan.seg[j, 1])
        s_proj = float(plan.cum[j] + t_j * plan.seg_len[j])
        total = float(plan.cum[-1])
        to_proj = math.hypot(x - proj_x, y - proj_y)
        at_end = total - s_proj <= self.config.xy_goal_tolerance_m or j == n_seg - 1

        carrot, s_carrot = (float(pts[-1, 0]), float(pts[-1, 1])), total
        if to_proj >= lookahead_m:
            carrot, s_carrot = (proj_x, proj_y), s_proj  # far off the path: head for it first, as Nav2 does
        else:
            for chunk in range(j + 1, pts.shape[0], _CARROT_CHUNK):
                block = pts[chunk : chunk + _CARROT_CHUNK]
                bx = block[:, 0] - x
                by = block[:, 1] - y
                far = bx * bx + by * by >= lookahead_m * lookahead_m
                if far.any():
                    idx = chunk + int(np.argmax(far))
                    if idx == j + 1:
                        prev, s_prev = (proj_x, proj_y), s_proj
                    else:
                        prev, s_prev = (float(pts[idx - 1, 0]), float(pts[idx - 1, 1])), float(plan.cum[idx - 1])
                    carrot = _circle_crossing(prev, (float(pts[idx, 0]), float(pts[idx, 1])), x, y, lookahead_m)
                    s_carrot = s_prev + math.hypot(carrot[0] - prev[0], carrot[1] - prev[1])
                    break
        return _Track(carrot[0], carrot[1], s_proj, s_carrot, to_proj + total - s_proj, at_end)

    def _point_at(self, plan: _Plan, s_m: float) -> tuple[float, float]:
        """The path point `s_m` along the path from its start."""
        return (
            float(np.interp(s_m, plan.cum, plan.points[:, 0])),
            float(np.interp(s_m, plan.cum, plan.points[:, 1])),
        )

    # -------------------------------------------------------------- collision
    def _threshold(self, grid: Grid, x_m: float, y_m: float) -> int:
        """The lowest costmap value that blocks a robot standing at (x, y); above 100: nothing blocks.

        Normally `collision_min_value`. When the robot already stands in a blocked cell (an obstacle
        was mapped against it), only a higher value blocks, so it can drive out instead of freezing.
        """
        return collision_threshold(grid.value_at(x_m, y_m), self.config.collision_min_value)

    def _blocked(self, pose: Pose2D, grid: Grid, curvature: float, reach_m: float) -> bool:
        """Whether the robot centre, moved along the arc of `curvature` up to `reach_m`, enters a blocked cell.

        `reach_m` is signed (negative: backwards). Samples every quarter cell, and the end.
        """
        threshold = self._threshold(grid, pose.x_m, pose.y_m)
        if threshold > OCC_LETHAL:
            return False
        n = max(1, math.ceil(abs(reach_m) / (0.25 * grid.resolution_m)))
        s = np.arange(n + 1) * (reach_m / n)  # from the robot itself, so leaving its cell is checked too
        yaw = pose.yaw_rad
        if abs(curvature) < 1e-9:
            xs = pose.x_m + s * math.cos(yaw)
            ys = pose.y_m + s * math.sin(yaw)
        else:
            heading = yaw + curvature * s
            xs = pose.x_m + (np.sin(heading) - math.sin(yaw)) / curvature
            ys = pose.y_m - (np.cos(heading) - math.cos(yaw)) / curvature
        return _cells_blocked(grid, xs, ys, threshold)

    def _path_blocked(self, pose: Pose2D, plan: _Plan, grid: Grid, s_from_m: float, s_to_m: float) -> bool:
        """Whether the path itself, between two path lengths, crosses a cell that blocks the robot."""
        threshold = self._threshold(grid, pose.x_m, pose.y_m)
        if threshold > OCC_LETHAL:
            return False
        s = np.append(np.arange(s_from_m, s_to_m, 0.25 * grid.resolution_m), s_to_m)
        xs = np.interp(s, plan.cum, plan.points[:, 0])
        ys = np.interp(s, plan.cum, plan.points[:, 1])
        return _cells_blocked(grid, xs, ys, threshold)

    # --------------------------------------------------------------- smoother
    def _smooth(self, target_v: float, target_w: float, dt_s: float) -> tuple[float, float]:
        """The command nearest the target that the limits reach from the previous one (see `smooth_velocities`)."""
        cfg = self.config
        return smooth_velocities(
            self._prev_v,
            self._prev_w,
            target_v,
            target_w,
            dt_s,
            max_linear_accel_mps2=cfg.max_linear_accel_mps2,
            max_linear_decel_mps2=cfg.max_linear_decel_mps2,
            max_angular_accel_rps2=cfg.max_angular_accel_rps2,
            max_linear_vel_mps=cfg.desired_linear_vel_mps,
            max_angular_vel_rps=cfg.max_angular_vel_rps,
        )


def _cell(grid: Grid | None) -> float:
    """The grid's cell size; with no grid, 5 cm (the scale of "close enough" to a point of the path)."""
    return grid.resolution_m if grid is not None else 0.05


def _cells_blocked(grid: Grid, xs: NDArray[np.floating[Any]], ys: NDArray[np.floating[Any]], threshold: int) -> bool:
    """Whether the polyline through the points enters a cell of value >= threshold (outside never blocks).

    Exact for the polyline, so that the answer does not depend on where the samples happen to fall
    (two checks of the same arc from a few millimetres apart must agree, or a robot that was told
    "clear" finds itself unable to brake). Points must be less than a cell apart: a step between
    diagonal neighbours then crosses exactly one of the two cells beside their shared corner, the
    one whose grid line it crosses first.
    """
    res = grid.resolution_m
    cols = np.floor((xs - grid.origin_x_m) / res).astype(np.intp)
    rows = np.floor((ys - grid.origin_y_m) / res).astype(np.intp)
    diagonal = np.flatnonzero((rows[1:] != rows[:-1]) & (cols[1:] != cols[:-1]))
    if diagonal.size:
        r0, r1, c0, c1 = rows[diagonal], rows[diagonal + 1], cols[diagonal], cols[diagonal + 1]
        x0, y0 = xs[diagonal], ys[diagonal]
        t_x = (grid.origin_x_m + np.maximum(c0, c1) * res - x0) / (xs[diagonal + 1] - x0)
        t_y = (grid.origin_y_m + np.maximum(r0, r1) * res - y0) / (ys[diagonal + 1] - y0)
        x_first = t_x < t_y
        rows = np.concatenate((rows, np.where(x_first, r0, r1)))
        cols = np.concatenate((cols, np.where(x_first, c1, c0)))
    n_rows, n_cols = grid.values.shape
    inside = (rows >= 0) & (rows < n_rows) & (cols >= 0) & (cols < n_cols)
    if not inside.all():
        rows, cols = rows[inside], cols[inside]
    return bool((grid.values[rows, cols] >= threshold).any())


def _circle_crossing(
    inside: tuple[float, float], outside: tuple[float, float], x: float, y: float, radius: float
) -> tuple[float, float]:
    """Where the segment from `inside` (nearer than `radius` to (x, y)) to `outside` crosses the circle."""
    dx, dy = outside[0] - inside[0], outside[1] - inside[1]
    fx, fy = inside[0] - x, inside[1] - y
    a = dx * dx + dy * dy
    if a <= 0.0:
        return outside
    b = fx * dx + fy * dy
    c = fx * fx + fy * fy - radius * radius  # < 0: inside the circle
    t = (-b + math.sqrt(max(b * b - a * c, 0.0))) / a
    t = min(max(t, 0.0), 1.0)
    return inside[0] + t * dx, inside[1] + t * dy
