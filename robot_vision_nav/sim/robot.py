"""The simulated differential-drive base: velocity and acceleration limits, wheel odometry with drift.

The base is kinematic, not dynamic: each step the commanded (linear, angular) velocity is limited
(speed, acceleration, wheel speed), and the pose moves exactly along the arc of the unicycle model
(`core.kinematics.step_unicycle`). There are no masses, motors or tyre forces; what a local planner
and controller need from a simulator is where the robot ends up and what its odometry says, and a
kinematic base makes both exact and repeatable. Odometry integrates the wheel speeds as the
encoders would report them: exact by default, or with a constant per-wheel scale error and
per-step noise (seeded), which makes it drift the way real wheel odometry does.

Times come in as `dt_s`; this module must never read a clock, and must never import ROS or MuJoCo.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robot_vision_nav.core.config import ConfigError, param, validate_fields
from robot_vision_nav.core.geometry import Pose2D, yaw_to_quaternion
from robot_vision_nav.core.kinematics import step_unicycle


@dataclass(frozen=True)
class RobotConfig:
    """Shape, limits and odometry model of the simulated base."""

    radius_m: float = param(0.25, "circular footprint radius", unit="m", min_value=0.05, max_value=2.0)
    body_height_m: float = param(0.30, "height of the body (what other cameras see)", unit="m", min_value=0.05,
                                 max_value=2.0)  # fmt: skip
    wheel_separation_m: float = param(0.40, "distance between the wheels", unit="m", min_value=0.05, max_value=4.0)
    max_linear_mps: float = param(1.0, "largest |forward speed|", unit="m/s", min_value=0.01, max_value=10.0)
    max_angular_rps: float = param(2.0, "largest |yaw rate|", unit="rad/s", min_value=0.01, max_value=20.0)
    max_wheel_mps: float = param(
        1.2, "largest |wheel rim speed|; turning while driving fast is limited by it", unit="m/s", min_value=0.01,
        max_value=20.0,
    )  # fmt: skip
    max_linear_accel_mps2: float = param(
        1.5, "largest change of forward speed per second", unit="m/s^2", min_value=0.01, max_value=100.0
    )
    max_angular_accel_rps2: float = param(
        4.0, "largest change of yaw rate per second", unit="rad/s^2", min_value=0.01, max_value=200.0
    )
    cmd_timeout_s: float = param(
        0.5, "with no velocity command for this long (sim time) the base brakes to a stop", unit="s",
        min_value=0.01, max_value=60.0,
    )  # fmt: skip
    odom_drift: bool = param(False, "odometry from noisy wheel encoders (false: odometry equals the true motion)")
    odom_wheel_scale_std: float = param(
        0.01, "with odom_drift: standard deviation of each wheel's constant scale error", min_value=0.0, max_value=0.5
    )
    odom_wheel_noise_std: float = param(
        0.02, "with odom_drift: standard deviation of the per-step relative wheel speed noise", min_value=0.0,
        max_value=1.0,
    )  # fmt: skip

    def __post_init__(self) -> None:
        validate_fields(self)
        if self.wheel_separation_m > 2.0 * self.radius_m:
            raise ConfigError(
                f"parameter 'wheel_separation_m' = {self.wheel_separation_m} m puts the wheels outside the footprint "
                f"(radius_m = {self.radius_m} m); it must be <= 2 x radius_m"
            )


def limit_velocity(
    config: RobotConfig, v_mps: float, w_rps: float, v_now_mps: float, w_now_rps: float, dt_s: float
) -> tuple[float, float]:
    """The velocity the base reaches after `dt_s` when asked for (v, w) while moving at (v_now, w_now).

    Speed limits first, then acceleration limits from the current velocity, then the wheel speed
    limit (both velocities scaled by the same factor, so the path's curvature is kept).
    """
    v = min(max(v_mps, -config.max_linear_mps), config.max_linear_mps)
    w = min(max(w_rps, -config.max_angular_rps), config.max_angular_rps)
    dv = config.max_linear_accel_mps2 * dt_s
    dw = config.max_angular_accel_rps2 * dt_s
    v = min(max(v, v_now_mps - dv), v_now_mps + dv)
    w = min(max(w, w_now_rps - dw), w_now_rps + dw)
    half = 0.5 * config.wheel_separation_m
    fastest = max(abs(v - w * half), abs(v + w * half))
    if fastest > config.max_wheel_mps:
        scale = config.max_wheel_mps / fastest
        v, w = v * scale, w * scale
    return v, w


class DiffDriveBase:
    """True pose, velocity and wheel odometry of the simulated robot.

    Args:
        config: shape, limits and odometry model.
        start: true start pose (world frame). Odometry starts there too: the odom frame coincides
            with the world frame at t = 0, so goals in world coordinates are goals in odom.
        seed: seed of the odometry errors (used only with `config.odom_drift`).

    """

    def __init__(self, config: RobotConfig, start: Pose2D, seed: int = 0) -> None:
        self.config = config
        self._rng = np.random.default_rng(seed)
        self.pose = Pose2D(start.x_m, start.y_m, start.yaw_rad, 0)
        self.odom = self.pose
        self.linear_mps = 0.0
        self.angular_rps = 0.0
        self.odom_linear_mps = 0.0
        self.odom_angular_rps = 0.0
        if config.odom_drift:
            self._wheel_scale = 1.0 + self._rng.normal(0.0, config.odom_wheel_scale_std, 2)
        else:
            self._wheel_scale = np.ones(2)

    def reset(self, pose: Pose2D) -> None:
        """Put the base at `pose` at rest, odometry reset to the same pose."""
        self.pose = pose
        self.odom = pose
        self.linear_mps = self.angular_rps = 0.0
        self.odom_linear_mps = self.odom_angular_rps = 0.0

    def propose(self, v_mps: float, w_rps: float, dt_s: float) -> tuple[Pose2D, float, float]:
        """Where the base would be after `dt_s` under the command, and the velocity it would have."""
        v, w = limit_velocity(self.config, v_mps, w_rps, self.linear_mps, self.angular_rps, dt_s)
        return step_unicycle(self.pose, v, w, dt_s), v, w

    def commit(self, pose: Pose2D, v_mps: float, w_rps: float, dt_s: float) -> None:
        """Accept a step: the new true pose and velocity; odometry integrates the encoders' view of it."""
        self.pose = pose
        self.linear_mps, self.angular_rps = v_mps, w_rps
        half = 0.5 * self.config.wheel_separation_m
        wheels = np.array([v_mps - w_rps * half, v_mps + w_rps * half]) * self._wheel_scale
        if self.config.odom_drift and self.config.odom_wheel_noise_std > 0.0:
            wheels = wheels * (1.0 + self._rng.normal(0.0, self.config.odom_wheel_noise_std, 2))
        v_odom = float(wheels.mean())
        w_odom = float((wheels[1] - wheels[0]) / self.config.wheel_separation_m)
        self.odom = step_unicycle(self.odom, v_odom, w_odom, dt_s)
        self.odom_linear_mps, self.odom_angular_rps = v_odom, w_odom

    def stop(self, dt_s: float) -> None:
        """A refused step (the footprint would enter an obstacle): the base stays and its velocity drops to 0."""
        self.commit(Pose2D(self.pose.x_m, self.pose.y_m, self.pose.yaw_rad, self.pose.stamp_ns + round(dt_s * 1e9)),
                    0.0, 0.0, dt_s)  # fmt: skip

    @staticmethod
    def quaternion_wxyz(yaw_rad: float) -> tuple[float, float, float, float]:
        """Unit quaternion (w, x, y, z) of a rotation by `yaw_rad` about z."""
        x, y, z, w = yaw_to_quaternion(yaw_rad)
        return w, x, y, z
