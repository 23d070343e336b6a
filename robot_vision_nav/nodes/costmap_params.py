"""costmap_node's own parameters: one dataclass, read by the node and by the parameter table."""

from __future__ import annotations

from dataclasses import dataclass

from robot_vision_nav.core.config import param
from robot_vision_nav.ros.depth_set import (
    check_depth_input_fields,
    input_timeout_param,
    sync_queue_size_param,
    sync_slop_param,
)
from robot_vision_nav.ros.latency import diagnostics_period_param, max_input_age_param
from robot_vision_nav.ros.lens import rectify_distorted_param
from robot_vision_nav.ros.lifecycle import autostart_param
from robot_vision_nav.ros.robot_pose import (
    check_robot_pose_source,
    robot_pose_source_param,
)
from robot_vision_nav.ros.tf import base_frame_param, camera_mount_source_param
from robot_vision_nav.ros.transport import depth_transport_param
from robot_vision_nav.ros.warn import warn_throttle_param


@dataclass(frozen=True)
class CostmapNodeConfig:
    """The node's own parameters (the map's are in CostmapConfig)."""

    global_frame: str = param("odom", "frame of the published costmap; odometry must be in it")
    base_frame: str = base_frame_param()
    robot_pose_source: str = robot_pose_source_param()
    camera_mount_source: str = camera_mount_source_param()
    depth_transport: str = depth_transport_param()
    rectify_distorted: bool = rectify_distorted_param()
    publish_rate_hz: float = param(
        5.0,
        "costmap publish rate, paced by input stamps; 0 publishes every update",
        unit="Hz",
        min_value=0.0,
        max_value=100.0,
    )
    sync_queue_size: int = sync_queue_size_param()
    sync_slop_s: float = sync_slop_param()
    odom_max_age_s: float = param(
        0.2,
        "odometry (or TF's robot pose) farther than this from the image stamp is stale: the frame is skipped",
        unit="s",
        min_value=0.001,
        max_value=10.0,
    )
    input_timeout_s: float = input_timeout_param()
    diagnostics_period_s: float = diagnostics_period_param()
    warn_throttle_s: float = warn_throttle_param()
    max_input_age_s: float = max_input_age_param()
    autostart: bool = autostart_param()

    def __post_init__(self) -> None:
        check_depth_input_fields(self)
        check_robot_pose_source(self.robot_pose_source)
