"""planner_node's own parameters: one dataclass, read by the node and by the parameter table."""

from __future__ import annotations

from dataclasses import dataclass

from robot_vision_nav.core.config import param
from robot_vision_nav.ros.latency import diagnostics_period_param, max_input_age_param
from robot_vision_nav.ros.lifecycle import autostart_param
from robot_vision_nav.ros.robot_pose import (
    check_robot_pose_source,
    robot_pose_source_param,
)
from robot_vision_nav.ros.tf import base_frame_param
from robot_vision_nav.ros.warn import warn_throttle_param


@dataclass(frozen=True)
class PlannerNodeConfig:
    """The node's own parameters (the search's are in PlannerConfig)."""

    global_frame: str = param("odom", "frame of the costmap, goals and plans")
    base_frame: str = base_frame_param()
    robot_pose_source: str = robot_pose_source_param()
    replan_period_s: float = param(
        1.0,
        "replan at most this often, in costmap time, while the path stays clear",
        unit="s",
        min_value=0.05,
        max_value=60.0,
    )
    odom_max_age_s: float = param(
        0.5,
        "odometry (or TF's robot pose) farther than this from the costmap stamp is stale: no plan is made",
        unit="s",
        min_value=0.01,
        max_value=10.0,
    )
    goal_tolerance_m: float = param(
        0.5,
        "a goal in a lethal or inscribed cell is approached up to the nearest usable cell this close to it "
        "(Nav2 GridBased tolerance), and replanned to as soon as it clears; 0 stops the robot instead",
        unit="m",
        min_value=0.0,
        max_value=5.0,
    )
    warn_throttle_s: float = warn_throttle_param()
    max_input_age_s: float = max_input_age_param()
    goal_transform_timeout_s: float = param(
        1.0,
        "a goal in another frame than global_frame waits this long (node clock) for TF to connect the two, "
        "then is refused as goal_frame_unknown",
        unit="s",
        min_value=0.0,
        max_value=60.0,
    )
    diagnostics_period_s: float = diagnostics_period_param()
    footprint_radius_m: float = param(
        0.25,
        "radius of the robot footprint drawn on ~/markers (the costmap's robot_radius_m)",
        unit="m",
        min_value=0.01,
        max_value=10.0,
    )
    autostart: bool = autostart_param()

    def __post_init__(self) -> None:
        check_robot_pose_source(self.robot_pose_source)
