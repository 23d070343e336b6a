"""obstacles_node's own parameters: one dataclass, read by the node and by the parameter table."""

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
from robot_vision_nav.ros.tf import camera_mount_source_param
from robot_vision_nav.ros.transport import depth_transport_param
from robot_vision_nav.ros.warn import warn_throttle_param


@dataclass(frozen=True)
class SemanticObstaclesNodeConfig:
    """The node's own parameters (the cloud's are in ObstacleCloudConfig)."""

    base_frame: str = param(
        "base_link", "frame of the published cloud: the robot's body frame, the one camera_mount_xyzrpy is given in"
    )
    camera_mount_source: str = camera_mount_source_param()
    depth_transport: str = depth_transport_param()
    rectify_distorted: bool = rectify_distorted_param()
    sync_queue_size: int = sync_queue_size_param()
    sync_slop_s: float = sync_slop_param()
    input_timeout_s: float = input_timeout_param()
    diagnostics_period_s: float = diagnostics_period_param()
    warn_throttle_s: float = warn_throttle_param()
    max_input_age_s: float = max_input_age_param()
    autostart: bool = autostart_param()

    def __post_init__(self) -> None:
        check_depth_input_fields(self)
