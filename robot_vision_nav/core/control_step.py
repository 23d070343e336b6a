"""What controller_node does with each robot pose, and when its watchdog stops the robot, without ROS.

`ControlStep` holds the control law (`RegulatedPurePursuit`), the plan state, the costmap in use,
when each input last arrived (node clock) and the command pacing. `on_pose` paces commands to
`control_rate_hz` by pose stamps (a replay gives the same commands), takes dt for the acceleration
limits from the stamp step (at most three periods), and computes a command only while the node is
enabled, a plan is set and no input is stale: otherwise the watchdog has already sent zero.
`stale_inputs` is the one freshness rule of the watchdog and the diagnostics (core/clock.is_fresh).

Times are integer ns. This module must never import ROS.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from robot_vision_nav.core.clock import is_fresh
from robot_vision_nav.core.controller import Command, ControllerConfig, ControllerError, RegulatedPurePursuit
from robot_vision_nav.core.geometry import Pose2D
from robot_vision_nav.core.grid import Grid
from robot_vision_nav.core.pacing import RatePacer, StepTimes
from robot_vision_nav.core.units import NS_PER_S

INPUTS = ("plan", "odom", "costmap")  # the inputs whose age the watchdog checks, in its order


@dataclass(frozen=True)
class Failed:
    """The control law refused this step (a pose it cannot use): stop."""

    reason: str


@dataclass(frozen=True)
class Timeouts:
    """How old each input may be before the robot stops (the node's *_timeout_s parameters)."""

    plan_s: float
    odom_s: float
    costmap_s: float


class ControlStep:
    """The controller's state between poses (see the module docstring).

    Args:
        config: the control law's parameters (`reconfigure` when they change).
        control_rate_hz: commands per second of stamp time (assign `pacer.rate_hz` when it changes).
        timeouts: the input timeouts (assign `timeouts` when they change).

    """

    def __init__(self, config: ControllerConfig, control_rate_hz: float, timeouts: Timeouts) -> None:
        self.controller = RegulatedPurePursuit(config)
        self.pacer = RatePacer(control_rate_hz, fraction=0.9)
        self.timeouts = timeouts
        self.grid: Grid | None = None
        self.has_plan = False
        self.received_ns: dict[str, int] = {}  # node-clock receipt times, for the watchdog
        self.last_pose_ns: int | None = None  # stamp of the newest pose used
        self.times = StepTimes()

    def received(self, name: str, now_ns: int) -> None:
        """Input `name` (one of INPUTS) arrived at `now_ns` on the node clock."""
        self.received_ns[name] = now_ns

    def set_plan(self, path_xy: NDArray[np.float64], goal_yaw_rad: float) -> str:
        """Follow a new plan; "" when taken, else why it was refused (the plan is then dropped)."""
        try:
            self.controller.set_plan(path_xy, goal_yaw_rad)
        except ControllerError as err:
            self.drop_plan()
            return str(err)
        self.has_plan = True
        return ""

    def drop_plan(self) -> None:
        """No plan: the robot is to stop."""
        self.has_plan = False
        self.controller.clear_plan()

    def stale_inputs(self, now_ns: int) -> list[str]:
        """The inputs older than their timeout at `now_ns` (the plan only while there is one)."""
        limits = {"plan": self.timeouts.plan_s, "odom": self.timeouts.odom_s, "costmap": self.timeouts.costmap_s}
        stale = []
        for name, limit_s in limits.items():
            if name == "plan" and not self.has_plan:
                continue
            if not is_fresh(self.received_ns.get(name), now_ns, limit_s):
                stale.append(name)
        return stale

    def on_pose(self, pose: Pose2D, now_ns: int, enabled: bool) -> Command | Failed | None:
        """A command for a new robot pose when one is due and may be sent; None when not."""
        stamp = pose.stamp_ns
        self.last_pose_ns = stamp
        last = self.pacer.last_ns
        if not self.pacer.take(stamp):
            return None
        dt_s = 1.0 / self.pacer.rate_hz
        if last is not None:
            dt_s = min((stamp - last) / NS_PER_S, 3.0 * dt_s)
        if not enabled or self.stale_inputs(now_ns) or not self.has_plan:
            return None  # the watchdog (or the plan handler) has already sent zero
        started = self.times.start()
        try:
            command = self.controller.compute(pose, self.grid, dt_s)
        except ControllerError as err:
            return Failed(f"control step failed: {err}; stopping")
        self.times.done(started)
        return command
