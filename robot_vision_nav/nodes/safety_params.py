"""safety_node's own parameters: one dataclass, read by the node and by the parameter table."""

from __future__ import annotations

from dataclasses import dataclass

from robot_vision_nav.core.config import param
from robot_vision_nav.ros.latency import diagnostics_period_param, max_input_age_param
from robot_vision_nav.ros.lens import rectify_distorted_param
from robot_vision_nav.ros.lifecycle import autostart_param
from robot_vision_nav.ros.tf import camera_mount_source_param, check_mount_source
from robot_vision_nav.ros.transport import DEPTH_TRANSPORTS, check_transport, depth_transport_param
from robot_vision_nav.ros.warn import warn_throttle_param


@dataclass(frozen=True)
class SafetyNodeConfig:
    """The node's own parameters (the layer's are in SafetyConfig)."""

    use_stamped_cmd_vel: bool = param(
        True, "cmd_vel_nav in and cmd_vel out are geometry_msgs/TwistStamped (as the controller's); false: Twist"
    )
    base_frame: str = param("base_link", "frame of the polygons and of TwistStamped output")
    camera_mount_source: str = camera_mount_source_param()
    depth_transport: str = depth_transport_param()
    rectify_distorted: bool = rectify_distorted_param()
    watchdog_rate_hz: float = param(
        20.0, "how often input ages are checked (node clock)", unit="Hz", min_value=1.0, max_value=200.0
    )
    max_input_age_s: float = max_input_age_param()
    diagnostics_period_s: float = diagnostics_period_param()
    warn_throttle_s: float = warn_throttle_param()
    e_stop_at_start: bool = param(
        False,
        "start with the e-stop engaged: nothing moves until a false on e_stop (read at start only). For a node "
        "respawned on a real robot: a restart forgets an e-stop said before it, so a crash while the e-stop is "
        "down must not let go",
    )
    autostart: bool = autostart_param()

    def __post_init__(self) -> None:
        check_mount_source(self.camera_mount_source)
        check_transport("depth_transport", self.depth_transport, DEPTH_TRANSPORTS)
