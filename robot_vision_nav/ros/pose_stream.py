"""Each new robot pose as it arrives, for controller_node: odometry messages, or TF on /tf traffic.

With `robot_pose_source` odom (ros/robot_pose.py) every odometry message is a pose: one not in
`global_frame` stops the robot, one stamped no later than the last pose used is warned about and
ignored. With tf each /tf message, paced to the control rate by its stamps (not by a timer: a
simulator stepping faster than real time, or a replay, gives the same poses), has the newest
`global_frame -> base_frame` looked up, and a transform no newer than the last pose used is not a
new pose: a TF publisher that stops ages out like silent odometry. Either way a pose that arrived
counts as the "odom" input for the watchdog and the input ages.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nav_msgs.msg import Odometry
from rclpy.node import Node

from robot_vision_nav.core.control_step import ControlStep
from robot_vision_nav.core.geometry import Pose2D
from robot_vision_nav.core.pacing import RatePacer
from robot_vision_nav.ros import topics
from robot_vision_nav.ros.latency import InputAges
from robot_vision_nav.ros.messages import odometry_in_frame, stamp_to_ns
from robot_vision_nav.ros.qos import TF_TRIGGER_QOS
from robot_vision_nav.ros.robot_pose import PoseInput, pose_from_tf
from robot_vision_nav.ros.tf import TfReader


class PoseStream(PoseInput):
    """The odometry or /tf subscription of the controller, handing each new pose to `on_pose`.

    Args:
        node, config, tf, warn, ages: as for PoseInput (ros/robot_pose.py); poses are recorded as
            "odom". The config also has control_rate_hz: a changed rate goes to `pacer.rate_hz`.
        step: the node's ControlStep: the last pose used, whether a plan is followed, arrivals.
        on_pose: called with each new pose.
        stop: called with a status after odometry that cannot be used (warned about): send zero.

    """

    def __init__(
        self,
        node: Node,
        config: Any,  # a node config dataclass with the fields named above
        tf: TfReader,
        warn: Callable[[str, str], None],
        ages: InputAges,
        *,
        step: ControlStep,
        on_pose: Callable[[Pose2D], None],
        stop: Callable[[str], None],
    ) -> None:
        self._step = step
        self._on_pose = on_pose
        self._stop = stop
        # /tf messages that trigger a lookup, paced by their stamps; an older stamp is a clock that jumped back.
        self.pacer = RatePacer(config.control_rate_hz, fraction=0.9, older_is_due=True)
        super().__init__(node, config, tf, warn, ages, self.on_odom)
        if self.from_tf:
            from tf2_msgs.msg import TFMessage  # installed with tf2_ros, which robot_pose_source tf needs

            node.create_subscription(TFMessage, topics.TF, self.on_tf, TF_TRIGGER_QOS)

    def _received(self, stamp_ns: int) -> None:
        now = int(self._node.get_clock().now().nanoseconds)
        self._step.received("odom", now)
        self._ages.record("odom", now, stamp_ns)

    def on_odom(self, msg: Odometry) -> None:
        """robot_pose_source odom: one odometry message."""
        pose, problem = odometry_in_frame(msg, self.config.global_frame)
        if pose is None:
            self._warn(self.odom_topic, f"{problem}; stopping")
            self._stop("bad_odometry")
            return
        self._received(pose.stamp_ns)
        last = self._step.last_pose_ns
        if last is not None and pose.stamp_ns <= last:
            self._warn(self.odom_topic, f"stamps out of order: {pose.stamp_ns} ns is not after {last} ns; ignored")
            return
        self._on_pose(pose)

    def on_tf(self, msg: Any) -> None:  # tf2_msgs/TFMessage: imported only with robot_pose_source tf
        """robot_pose_source tf: a /tf message, paced by its stamps, triggers a lookup of the newest pose.

        The lookup may still see the transform before this message (the listener's subscription on
        the same topic can run second): one message of lag, never a wrong pose.
        """
        newest = max((stamp_to_ns(t.header.stamp) for t in msg.transforms), default=None)
        if newest is None or not self.pacer.take(newest):
            return
        cfg = self.config
        pose, why = pose_from_tf(self._tf, cfg.global_frame, cfg.base_frame)
        if pose is None:
            if self._step.has_plan:  # the watchdog stops the robot once the last pose is older than odom_timeout_s
                self._warn(self.name, f"no robot pose: {why}")
            return
        last = self._step.last_pose_ns
        if last is not None and pose.stamp_ns <= last:
            return  # TF has nothing newer: not a new pose (a publisher that stopped ages out)
        self._received(pose.stamp_ns)
        self._on_pose(pose)
