"""Differential-drive (unicycle) kinematics and a plain closed-loop simulation for the controller.

`step_unicycle` moves a pose by a constant (linear, angular) velocity for one time step along the
exact arc, so a test that drives the controller in closed loop measures the controller, not an
integration error. `simulate` is the loop a test or a benchmark needs: ask the controller for a
command, move the robot exactly as commanded, repeat. There is no slip, no motor lag and no noise:
the robot does what it is told, which is what the controller's guarantees (limits, never entering a
blocked cell) are stated against.

Time only comes in as `dt_s`; this module must never read a clock, and must never import ROS.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from robot_vision_nav.core.geometry import Pose2D, wrap_angle
from robot_vision_nav.core.grid import Grid


class KinematicsError(ValueError):
    """A time step or velocity the model cannot integrate (non-finite, negative time)."""


class CommandLike(Protocol):
    """What `simulate` reads from a controller's command: velocities and a status word."""

    @property
    def linear_mps(self) -> float: ...  # noqa: D102

    @property
    def angular_rps(self) -> float: ...  # noqa: D102

    @property
    def status(self) -> str: ...  # noqa: D102


class ControllerLike(Protocol):
    """Anything with the controller's `compute(pose, grid, dt_s)` (RegulatedPurePursuit, a bench peer)."""

    def compute(self, pose: Pose2D, grid: Grid | None, dt_s: float) -> CommandLike: ...  # noqa: D102


def step_unicycle(pose: Pose2D, linear_mps: float, angular_rps: float, dt_s: float) -> Pose2D:
    """The pose after driving at constant velocities for `dt_s`, integrated exactly along the arc.

    The displacement is the chord of the arc: length `v * dt * sinc(w * dt / 2)` in the direction
    `yaw + w * dt / 2`. Written this way it stays exact and well-conditioned as w -> 0 (the
    textbook `v / w * (sin(...) - sin(...))` form divides by w).

    Args:
        pose: start pose in the odom frame.
        linear_mps: forward speed along base_link x (negative drives backwards).
        angular_rps: yaw rate, counter-clockwise positive.
        dt_s: step length, >= 0.

    Returns:
        The new pose, yaw wrapped to [-pi, pi), stamp advanced by `dt_s` (rounded to whole ns).

    Raises:
        KinematicsError: a non-finite velocity or a negative or non-finite `dt_s`.

    """
    if not (math.isfinite(linear_mps) and math.isfinite(angular_rps)):
        raise KinematicsError(f"velocities must be finite, got linear={linear_mps} m/s, angular={angular_rps} rad/s")
    if not (math.isfinite(dt_s) and dt_s >= 0.0):
        raise KinematicsError(f"time step must be finite and >= 0 s, got {dt_s}")
    half = 0.5 * angular_rps * dt_s
    sinc = math.sin(half) / half if abs(half) > 1e-9 else 1.0 - half * half / 6.0
    chord = linear_mps * dt_s * sinc
    heading = pose.yaw_rad + half
    return Pose2D(
        pose.x_m + chord * math.cos(heading),
        pose.y_m + chord * math.sin(heading),
        wrap_angle(pose.yaw_rad + 2.0 * half),
        pose.stamp_ns + round(dt_s * 1e9),
    )


@dataclass
class Trajectory:
    """What a closed-loop run did: `poses[k + 1]` is where `commands[k]` took the robot from `poses[k]`.

    Attributes:
        poses: every pose, the start first (len = steps + 1).
        commands: every command the controller returned (len = steps).
        grids: the grid handed to the controller at each step (len = steps), so a test can check
            each pose against the map that was in force when it was reached.
        done: whether the run ended because `until` said so (not because `max_steps` ran out).

    """

    poses: list[Pose2D] = field(default_factory=list)
    commands: list[CommandLike] = field(default_factory=list)
    grids: list[Grid | None] = field(default_factory=list)
    done: bool = False


def _at_rest_after_goal(command: CommandLike) -> bool:
    return command.status == "goal_reached" and command.linear_mps == 0.0 and command.angular_rps == 0.0


def simulate(
    controller: ControllerLike,
    start_pose: Pose2D,
    dt_s: float,
    max_steps: int,
    grid: Grid | None = None,
    *,
    grid_at_step: Callable[[int, Pose2D], Grid | None] | None = None,
    until: Callable[[CommandLike], bool] = _at_rest_after_goal,
) -> Trajectory:
    """Run controller and unicycle in closed loop with a fixed step; no ROS, no clock.

    The controller must already hold its plan. Each step: pick the grid, `compute`, then move the
    robot exactly by the command for `dt_s`.

    Args:
        controller: anything with `compute(pose, grid, dt_s)`.
        start_pose: the robot's pose at step 0.
        dt_s: control period, > 0.
        max_steps: stop after this many commands at the latest.
        grid: the costmap handed to the controller at every step (unless `grid_at_step` is given).
        grid_at_step: `(step, pose) -> grid`, for a map that changes during the run (an obstacle
            that appears); overrides `grid`.
        until: stop after the first command for which this is true (default: goal reached and the
            command is zero, i.e. the robot has come to rest at the goal).

    Returns:
        The trajectory; `done` says whether `until` ended it.

    Raises:
        KinematicsError: `dt_s` not finite and > 0, or `max_steps` < 0.

    """
    if not (math.isfinite(dt_s) and dt_s > 0.0):
        raise KinematicsError(f"simulation step must be finite and > 0 s, got {dt_s}")
    if max_steps < 0:
        raise KinematicsError(f"max_steps must be >= 0, got {max_steps}")
    traj = Trajectory(poses=[start_pose])
    pose = start_pose
    for step in range(max_steps):
        step_grid = grid_at_step(step, pose) if grid_at_step is not None else grid
        command = controller.compute(pose, step_grid, dt_s)
        pose = step_unicycle(pose, command.linear_mps, command.angular_rps, dt_s)
        traj.commands.append(command)
        traj.grids.append(step_grid)
        traj.poses.append(pose)
        if until(command):
            traj.done = True
            break
    return traj
