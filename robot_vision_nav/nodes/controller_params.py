"""controller_node's own parameters: one dataclass, read by the node and by the parameter table."""

from __future__ import annotations

from dataclasses import dataclass

from robot_vision_nav.core.config import param
from robot_vision_nav.core.control_step import Timeouts
from robot_vision_nav.ros.latency import max_input_age_param
from robot_vision_nav.ros.lifecycle import autostart_param
from robot_vision_nav.ros.robot_pose import (
    check_robot_pose_source,
    robot_pose_source_param,
)
from robot_vision_nav.ros.warn import warn_throttle_param


@dataclass(frozen=True)
class ControllerNodeConfig:
    """The node's own parameters (the control law's are in ControllerConfig)."""

    global_frame: str = param("odom", "frame of the plan, the costmap and the odometry pose")
    enabled: bool = param(True, "false publishes one zero command and then stays silent")
    use_stamped_cmd_vel: bool = param(
        True, "publish geometry_msgs/TwistStamped (Kilted's diff_drive_controller and Nav2); false: Twist"
    )
    base_frame: str = param(
        "base_link", "the robot body frame: frame_id of TwistStamped commands, and TF's pose with robot_pose_source tf"
    )
    robot_pose_source: str = robot_pose_source_param()
    control_rate_hz: float = param(
        20.0,
        "commands per second, paced by odometry (or /tf) stamps",
        unit="Hz",
        min_value=1.0,
        max_value=500.0,
    )
    plan_timeout_s: float = param(
        2.0,
        "a plan received longer ago than this is stale: zero velocity",
        unit="s",
        min_value=0.05,
        max_value=60.0,
    )
    odom_timeout_s: float = param(
        0.5,
        "odometry (or a new TF robot pose) received longer ago than this is stale: zero velocity",
        unit="s",
        min_value=0.01,
        max_value=10.0,
    )
    costmap_timeout_s: float = param(
        1.0,
        "a costmap received longer ago than this is stale: zero velocity",
        unit="s",
        min_value=0.05,
        max_value=60.0,
    )
    watchdog_rate_hz: float = param(
        20.0, "how often input ages are checked (node clock)", unit="Hz", min_value=1.0, max_value=200.0
    )
    warn_throttle_s: float = warn_throttle_param()
    max_input_age_s: float = max_input_age_param()
    autostart: bool = autostart_param()

    def __post_init__(self) -> None:
        check_robot_pose_source(self.robot_pose_source)

    @property
    def timeouts(self) -> Timeouts:
        """The input timeouts, for the core step."""
        return Timeouts(self.plan_timeout_s, self.odom_timeout_s, self.costmap_timeout_s)
