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

from collections.abc import Callable
from typing import Any

from nav_msgs.msg import Odometry

from robot_vision_nav.core.config import ConfigError, param
from robot_vision_nav.core.geometry import Pose2D
from robot_vision_nav.core.poses import PoseBuffer
from robot_vision_nav.core.units import NS_PER_S
from robot_vision_nav.ros import topics
from robot_vision_nav.ros.latency import InputAges
from robot_vision_nav.ros.messages import odometry_in_frame
from robot_vision_nav.ros.qos import SENSOR_QOS
from robot_vision_nav.ros.tf import TF_IMPORT_ERROR, TfReader, tf_available

ROBOT_POSE_SOURCES = ("odom", "tf")
ODOM_TOPIC = topics.ODOM
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


class PoseInput:
    """What the nodes' pose inputs share: odometry on `odom`, or TF (then nothing subscribes to `odom`).

    Args:
        node: the node (with `odom`, it subscribes; its clock stamps input ages).
        config: the node's config: robot_pose_source, global_frame, base_frame and what the input
            reads. A changed config is assigned to `config` (robot_pose_source is read here only).
        tf: the node's TfReader (with `tf`, it listens from now: TF needs a moment to fill).
        warn: the node's throttled warning, (input, problem).
        ages: the node's input ages; odometry is recorded as "odom".
        on_odom: the odometry callback (robot_pose_source odom).

    """

    def __init__(
        self,
        node: Any,  # rclpy Node: subscriptions, clock, topic names
        config: Any,  # a node config dataclass with the fields named above
        tf: TfReader,
        warn: Callable[[str, str], None],
        ages: InputAges,
        on_odom: Callable[[Odometry], None],
    ) -> None:
        self._node = node
        self.config = config
        self._tf = tf
        self._warn = warn
        self._ages = ages
        self.from_tf = config.robot_pose_source == "tf"
        self.odom_topic: str = node.resolve_topic_name(ODOM_TOPIC)
        if self.from_tf:
            tf.listen()
        else:
            node.create_subscription(Odometry, ODOM_TOPIC, on_odom, SENSOR_QOS)

    @property
    def name(self) -> str:
        """The input as warnings name it: the odom topic, or the TF transform."""
        return pose_input_name(self.config, self.odom_topic)


class PoseAtStamp(PoseInput):
    """The robot pose at a depth image's stamp: odometry interpolated to it, or TF's at that stamp.

    costmap_node places each depth image with it. With `odom` it subscribes to the odometry topic
    and keeps the poses in a core `PoseBuffer` (interpolation, staleness, a clock that restarted);
    with `tf` it looks the transform up at the stamp. Either way a pose farther than
    `odom_max_age_s` from the stamp is refused, with the node's throttled warning naming the input.

    Args:
        node, config, tf, warn, ages: as for PoseInput; the config also has odom_max_age_s.
        capacity, jump_ns, confirm: the PoseBuffer's (core/poses.py).

    """

    def __init__(
        self,
        node: Any,  # rclpy Node: subscriptions, clock, topic names
        config: Any,  # a node config dataclass with the fields named above
        tf: TfReader,
        warn: Callable[[str, str], None],
        ages: InputAges,
        *,
        capacity: int,
        jump_ns: int,
        confirm: int,
    ) -> None:
        self.poses = PoseBuffer(capacity, jump_ns, confirm)
        self._placed: Pose2D | None = None  # where the depth set being handed over was taken (`admit`)
        self._tf_seen = False  # robot_pose_source tf: TF has placed the robot at least once
        super().__init__(node, config, tf, warn, ages, self._on_odom)  # TF from now, not from the first image

    @property
    def seen(self) -> bool:
        """Whether a pose ever arrived (since the last `clear`): diagnostics name a silent input."""
        return self._tf_seen if self.from_tf else bool(self.poses)

    def clear(self) -> None:
        """Forget the poses (the inputs restarted, or the frame changed)."""
        self.poses.clear()

    def _on_odom(self, msg: Odometry) -> None:
        pose, problem = odometry_in_frame(msg, self.config.global_frame)
        if pose is None:
            self._warn(self.odom_topic, problem)
            return
        self._ages.record("odom", self._node.get_clock().now().nanoseconds, pose.stamp_ns)
        problem = self.poses.add(pose)  # a clock that restarted starts the poses over (core/poses.py)
        if problem:
            self._warn(self.odom_topic, problem)

    def at(self, stamp_ns: int) -> Pose2D | None:
        """The pose at the depth stamp `stamp_ns`, stamped with it; None (warned) when none is fresh enough."""
        return self._tf_at(stamp_ns) if self.from_tf else self._odom_at(stamp_ns)

    def admit(self, stamp_ns: int) -> bool:
        """Whether the pose is known at a depth set's stamp (DepthSetInput's `admit`); `take` hands it over."""
        self._placed = self.at(stamp_ns)
        return self._placed is not None

    def take(self) -> Pose2D:
        """The pose `admit` found for the depth set now handed over."""
        pose, self._placed = self._placed, None
        assert pose is not None  # admit found it for this very set
        return pose

    def _odom_at(self, stamp_ns: int) -> Pose2D | None:
        max_age_s = self.config.odom_max_age_s
        pose = self.poses.at(stamp_ns, round(max_age_s * NS_PER_S))
        if pose is None:
            gap = self.poses.gap_s(stamp_ns)
            if gap is None:
                self._warn(self.odom_topic, "no odometry received yet: cannot place the depth image")
            else:
                self._warn(
                    self.odom_topic,
                    f"stale odometry: nearest pose is {gap:.3f} s from the depth stamp "
                    f"(odom_max_age_s = {max_age_s}); frame skipped",
                )
        return pose

    def _tf_at(self, stamp_ns: int) -> Pose2D | None:
        cfg = self.config
        pose, why = pose_from_tf(self._tf, cfg.global_frame, cfg.base_frame, stamp_ns)
        if pose is None:
            self._warn(self.name, f"no robot pose: {why}; frame skipped")
            return None
        self._tf_seen = True
        gap = abs(pose.stamp_ns - stamp_ns)
        if gap > round(cfg.odom_max_age_s * NS_PER_S):
            self._warn(
                self.name,
                f"stale robot pose: TF's newest is {gap / NS_PER_S:.3f} s from the depth stamp "
                f"(odom_max_age_s = {cfg.odom_max_age_s}); frame skipped",
            )
            return None
        return Pose2D(pose.x_m, pose.y_m, pose.yaw_rad, stamp_ns)
