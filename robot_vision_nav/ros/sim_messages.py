"""sim_node's messages: /clock and odometry of each step, TF as a robot's drivers publish it, camera images.

On /tf: odom -> base_link, as the base driver does, and world -> odom, as a perfect localiser
(AMCL's map -> odom) does, every step. On /tf_static: base_link -> camera_link -> the camera
optical frame, as robot_state_publisher and the camera driver do. Poses and frames come from
`sim/`; every stamp is the sim time handed in, never a clock. TF needs tf2_msgs, imported only
where TF is made: a pip-only machine has no tf2_msgs wheel (`TfPublishers` then says so and sim_node
publishes no TF).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nav_msgs.msg import Odometry
from rosgraph_msgs.msg import Clock as ClockMsg
from sensor_msgs.msg import CameraInfo, Image

from robot_vision_nav.core.geometry import (
    BODY_FROM_OPTICAL,
    CameraMount,
    PinholeIntrinsics,
    Pose2D,
    Transform3D,
    mount_body_transform,
)
from robot_vision_nav.ros import topics
from robot_vision_nav.ros.image import numpy_to_image
from robot_vision_nav.ros.messages import intrinsics_to_camera_info, ns_to_stamp, pose2d_to_odometry
from robot_vision_nav.ros.qos import CLOCK_QOS, SENSOR_QOS, TF_QOS, TF_STATIC_QOS
from robot_vision_nav.ros.tf import transform_stamped
from robot_vision_nav.sim.sim import Frame, StepResult

if TYPE_CHECKING:
    from rclpy.node import Node
    from rclpy.publisher import Publisher


@dataclass(frozen=True)
class SimFrames:
    """The frames sim_node publishes in (its parameters of the same names)."""

    world_frame: str
    odom_frame: str
    base_frame: str
    camera_link_frame: str
    camera_frame: str


def planar_transform(pose: Pose2D) -> Transform3D:
    """The 3-D transform of a planar pose (z = 0, a rotation about z by the yaw)."""
    half = pose.yaw_rad / 2.0
    return Transform3D((pose.x_m, pose.y_m, 0.0), (0.0, 0.0, math.sin(half), math.cos(half)))


def state_messages(result: StepResult, frames: SimFrames, stamp_ns: int) -> Iterator[ClockMsg | Odometry]:
    """/clock, the odometry (odom -> base_link) and the true pose (world -> base_link) after one step.

    In that order, each built only when asked for (see `camera_messages`).
    """
    yield ClockMsg(clock=ns_to_stamp(stamp_ns))
    odom_twist = (result.odom_linear_mps, result.odom_angular_rps)
    yield pose2d_to_odometry(result.odom, *odom_twist, frames.odom_frame, frames.base_frame, stamp_ns)
    yield pose2d_to_odometry(result.pose, result.linear_mps, result.angular_rps, frames.world_frame,
                             frames.base_frame, stamp_ns)  # fmt: skip


def state_publishers(node: Node) -> list[Publisher[ClockMsg] | Publisher[Odometry]]:
    """The publishers of /clock, odom and sim/ground_truth, in the order `state_messages` builds them."""
    return [
        node.create_publisher(ClockMsg, topics.CLOCK, CLOCK_QOS),
        node.create_publisher(Odometry, topics.ODOM, SENSOR_QOS),
        node.create_publisher(Odometry, topics.SIM_GROUND_TRUTH, SENSOR_QOS),
    ]


def robot_tf(result: StepResult, frames: SimFrames, stamp_ns: int) -> Any:  # Any: tf2_msgs is optional
    """A tf2_msgs/TFMessage: world -> odom (a perfect localiser) and odom -> base_link (the odometry).

    world -> odom is the true pose composed with the inverse of the odometry, as AMCL's map -> odom
    puts the robot at its localised pose.
    """
    from tf2_msgs.msg import TFMessage

    stamp = ns_to_stamp(stamp_ns)
    odom_from_base = planar_transform(result.odom)
    world_from_odom = planar_transform(result.pose).compose(odom_from_base.inverse())
    return TFMessage(
        transforms=[
            transform_stamped(frames.world_frame, frames.odom_frame, world_from_odom, stamp),
            transform_stamped(frames.odom_frame, frames.base_frame, odom_from_base, stamp),
        ]
    )


def camera_tf(mount: CameraMount, frames: SimFrames, stamp_ns: int) -> Any:  # Any: tf2_msgs is optional
    """A tf2_msgs/TFMessage for /tf_static: base_link -> camera_link (the mount) -> camera optical frame."""
    from tf2_msgs.msg import TFMessage

    stamp = ns_to_stamp(stamp_ns)
    return TFMessage(
        transforms=[
            transform_stamped(frames.base_frame, frames.camera_link_frame, mount_body_transform(mount), stamp),
            transform_stamped(frames.camera_link_frame, frames.camera_frame, BODY_FROM_OPTICAL, stamp),
        ]
    )


def camera_publishers(node: Node) -> list[Publisher[Image] | Publisher[CameraInfo]]:
    """The publishers of the colour image, camera_info, depth and labels, in the order `camera_messages` builds them."""
    return [
        node.create_publisher(Image, topics.COLOR_IMAGE, SENSOR_QOS),
        node.create_publisher(CameraInfo, topics.CAMERA_INFO, SENSOR_QOS),
        node.create_publisher(Image, topics.DEPTH_IMAGE, SENSOR_QOS),
        node.create_publisher(Image, topics.SIM_LABELS, SENSOR_QOS),
    ]


def camera_messages(
    frame: Frame,
    intrinsics: PinholeIntrinsics,
    frame_id: str,
    stamp_ns: int,
    depth_encoding: str,
    labels: bool,
) -> Iterator[Image | CameraInfo]:
    """The colour image (rgb8), camera_info, depth and, with `labels`, the class ids (mono8) of one frame.

    In that order, each built only when asked for: a caller that publishes each before asking for
    the next sends the colour image before the depth is converted. Depth is 16UC1 millimetres or
    32FC1 metres (`depth_encoding`), 0 = invalid.
    """
    yield numpy_to_image(frame.rgb, "rgb8", stamp_ns, frame_id)
    yield intrinsics_to_camera_info(intrinsics, frame_id, stamp_ns)
    if depth_encoding == "16UC1":
        yield numpy_to_image(frame.depth_mm(), "16UC1", stamp_ns, frame_id)
    else:
        yield numpy_to_image(frame.depth_m, "32FC1", stamp_ns, frame_id)
    if labels:
        yield numpy_to_image(frame.labels, "mono8", stamp_ns, frame_id)


class TfPublishers:
    """A node's /tf and /tf_static publishers, made by the first `make` that finds tf2_msgs.

    Their QoS is that of tf2_ros's TransformBroadcaster and StaticTransformBroadcaster; until they
    are made, nothing is sent.
    """

    def __init__(self, node: Node) -> None:
        self._node = node
        self._pubs: tuple[Any, Any] | None = None  # /tf, /tf_static; Any: tf2_msgs is optional, no static type

    def make(self) -> bool:
        """Make the publishers (once); False, with a warning each time, where tf2_msgs is not installed."""
        try:
            from tf2_msgs.msg import TFMessage
        except ImportError as err:  # a pip-only machine: no tf2_msgs wheel; the container has it
            self._node.get_logger().warning(
                f"publish_tf is true but tf2_msgs is not installed ({err}): no TF published"
            )
            return False
        if self._pubs is None:
            dynamic = self._node.create_publisher(TFMessage, topics.TF, TF_QOS)
            self._pubs = (dynamic, self._node.create_publisher(TFMessage, topics.TF_STATIC, TF_STATIC_QOS))
        return True

    def robot(self, result: StepResult, frames: SimFrames, stamp_ns: int) -> None:
        """Publish `robot_tf` on /tf (built only once there are publishers)."""
        if self._pubs is not None:
            self._pubs[0].publish(robot_tf(result, frames, stamp_ns))

    def camera(self, mount: CameraMount, frames: SimFrames, stamp_ns: int) -> None:
        """Publish `camera_tf` on /tf_static (built only once there are publishers)."""
        if self._pubs is not None:
            self._pubs[1].publish(camera_tf(mount, frames, stamp_ns))
