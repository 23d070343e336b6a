"""Where the robot is: the odometry topic, or TF `global_frame -> base_frame`.

`robot_pose_source` is a stack-wide parameter (the `/**` section):

- `odom` (the default): nav_msgs/Odometry on `odom`, in `global_frame`, as the simulator and most
  base drivers publish it;
- `tf`: the transform `global_frame -> base_frame` (REP-105 `odom -> base_link`), for a robot whose
  pose comes only as TF (robot_localization's EKF with `publish_tf`, a driver with the odometry
  topic off, a bag recorded without it). No node then subscribes to `odom`.

With TF, a pose is looked up at the stamp it is needed for (a depth image, a costmap) without
waiting: the transform's own stamp travels with the pose, so a TF publisher that stopped gives a
stale pose, refused like stale odometry (`odom_max_age_s`, `odom_timeout_s`), never the last pose
TF heard used as if it were current. The parameter is read at configure: changing it needs the
node cleaned up and configured again (as Nav2's nodes do for their plugins).
"""

from __future__ import annotations

from typing import Any

from robot_vision_nav.core.config import ConfigError, param
from robot_vision_nav.core.geometry import Pose2D
from robot_vision_nav.ros.tf import TF_IMPORT_ERROR, TfReader, tf_available

ROBOT_POSE_SOURCES = ("odom", "tf")
# Parameters a node reads at configure only (ManagedNode.declare_config refuses their change while configured).
READ_AT_CONFIGURE = ("robot_pose_source",)


def robot_pose_source_param() -> Any:
    """`robot_pose_source`: odom (the odometry topic) or tf (TF global_frame -> base_frame)."""
    return param(
        "odom",
        "where the robot pose comes from: odom (nav_msgs/Odometry on the odom topic, in global_frame) or tf "
        "(TF global_frame -> base_frame; nothing subscribes to odom); read at configure",
    )


def check_robot_pose_source(value: str) -> None:
    """Refuse a `robot_pose_source` that is not a known word, or `tf` where tf2_ros is missing."""
    if value not in ROBOT_POSE_SOURCES:
        raise ConfigError(f"parameter 'robot_pose_source' = {value!r} is not one of {', '.join(ROBOT_POSE_SOURCES)}")
    if value == "tf" and not tf_available():
        raise ConfigError(f"parameter 'robot_pose_source' = 'tf' needs tf2_ros: {TF_IMPORT_ERROR}")


def tf_pose_name(global_frame: str, base_frame: str) -> str:
    """How warnings and diagnostics name the TF pose input, where they would name the odom topic."""
    return f"TF {global_frame} -> {base_frame}"


def pose_input_name(config: Any, odom_topic: str) -> str:
    """The pose input of a node (its config has robot_pose_source, global_frame, base_frame) as warnings name it."""
    if config.robot_pose_source == "tf":
        return tf_pose_name(config.global_frame, config.base_frame)
    return odom_topic


def pose_from_tf(
    reader: TfReader, global_frame: str, base_frame: str, stamp_ns: int | None = None
) -> tuple[Pose2D | None, str]:
    """The robot's planar pose in `global_frame` at `stamp_ns` (None: the newest), or (None, why not).

    The pose's `stamp_ns` is the time the transform holds for: `stamp_ns` itself when TF could
    interpolate to it, else the newest transform's stamp. The caller compares it with what it needs.
    """
    transform, stamp, why = reader.lookup_stamped(global_frame, base_frame, stamp_ns)
    if transform is None:
        return None, why
    try:
        x, y, yaw = transform.apply_to_pose2d(0.0, 0.0, 0.0)
        return Pose2D(x, y, yaw, stamp), ""
    except ValueError as err:  # GeometryError: the heading turned vertical, a position beyond any odometry
        return None, f"transform {global_frame} <- {base_frame} unusable: {err}"
