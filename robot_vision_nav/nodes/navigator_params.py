"""navigator_node's own parameters: one dataclass, read by the node and by the parameter table."""

from __future__ import annotations

from dataclasses import dataclass

from robot_vision_nav.core.config import param
from robot_vision_nav.ros.lifecycle import autostart_param
from robot_vision_nav.ros.robot_pose import check_robot_pose_source, robot_pose_source_param
from robot_vision_nav.ros.tf import base_frame_param


@dataclass(frozen=True)
class NavigatorNodeConfig:
    """The node's own parameters (how goals are judged is in GoalTrackerConfig)."""

    update_rate_hz: float = param(
        10.0,
        "how often a goal is judged and feedback published (node clock)",
        unit="Hz",
        min_value=1.0,
        max_value=100.0,
    )
    wait_s: float = param(
        10.0,
        "how long (wall) a goal waits for the planner, the controller and odometry before it is aborted",
        unit="s",
        min_value=0.0,
        max_value=600.0,
    )
    robot_pose_source: str = robot_pose_source_param()
    global_frame: str = param("odom", "the planner's global_frame: with robot_pose_source tf, the robot pose is in it")
    base_frame: str = base_frame_param()
    autostart: bool = autostart_param()

    def __post_init__(self) -> None:
        check_robot_pose_source(self.robot_pose_source)
