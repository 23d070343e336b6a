"""sim_node's own parameters: one dataclass, read by the node and by the parameter table."""

from __future__ import annotations

from dataclasses import dataclass

from robot_vision_nav.core.config import ConfigError, param, validate_fields
from robot_vision_nav.ros.latency import diagnostics_period_param
from robot_vision_nav.ros.sim_messages import SimFrames
from robot_vision_nav.sim.stepper import STEP_MODES, Pacing

DEPTH_ENCODINGS = ("16UC1", "32FC1")  # what the simulated camera can publish


@dataclass(frozen=True)
class SimNodeConfig:
    """The node's own parameters (the simulator's are in SimConfig, RobotConfig and CameraConfig)."""

    world_seed: int = param(0, "seed of the generated warehouse", min_value=0, max_value=999_999)
    noise_seed: int = param(0, "seed of odometry drift and depth noise", min_value=0, max_value=999_999)
    step_mode: str = param(
        "real_time", "real_time (paced by wall time), fast (flat out) or lock_step (each frame waits for cmd_vel)"
    )
    real_time_factor: float = param(1.0, "sim seconds per wall second in real_time mode", min_value=0.01,
                                    max_value=100.0)  # fmt: skip
    lock_step_timeout_s: float = param(
        1.0, "lock_step: wall time to wait for a cmd_vel after a camera frame before stepping on", unit="s",
        min_value=0.001, max_value=60.0,
    )  # fmt: skip
    depth_encoding: str = param("16UC1", "depth image encoding: 16UC1 (millimetres) or 32FC1 (metres)")
    publish_labels: bool = param(True, "publish the ground-truth class ids on sim/labels")
    use_stamped_cmd_vel: bool = param(True, "subscribe to geometry_msgs/TwistStamped; false: Twist")
    odom_frame: str = param("odom", "frame of the odometry pose (coincides with world_frame at t = 0)")
    base_frame: str = param("base_link", "robot body frame (odometry child frame)")
    camera_frame: str = param("camera_color_optical_frame", "frame of the camera images and camera_info")
    world_frame: str = param(
        "world", "frame of the ground-truth pose, and parent of odom in TF (map: the sim acts as a localised robot)"
    )
    camera_link_frame: str = param("camera_link", "the camera body frame in TF, parent of camera_frame")
    publish_tf: bool = param(
        True,
        "publish TF as a real robot's drivers do: odom -> base_link and world -> odom on /tf, base_link -> "
        "camera_link -> camera_frame on /tf_static",
    )
    diagnostics_period_s: float = diagnostics_period_param("period of /diagnostics (wall time)")

    def __post_init__(self) -> None:
        validate_fields(self)
        for name, allowed in (("step_mode", STEP_MODES), ("depth_encoding", DEPTH_ENCODINGS)):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"parameter '{name}' = {getattr(self, name)!r} is not one of {', '.join(allowed)}")

    @property
    def pacing(self) -> Pacing:
        """The step mode and its settings, for the stepper."""
        return Pacing(self.step_mode, self.real_time_factor, self.lock_step_timeout_s)

    @property
    def frames(self) -> SimFrames:
        """The frames to publish in."""
        return SimFrames(self.world_frame, self.odom_frame, self.base_frame, self.camera_link_frame, self.camera_frame)
