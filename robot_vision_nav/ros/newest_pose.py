"""The newest robot pose, for planner_node: odometry as it arrives, or TF at each costmap's stamp.

With `robot_pose_source` odom (ros/robot_pose.py) each odometry message in `global_frame` replaces
the pose; a bad one is warned about and the last good pose ages out. With tf nothing subscribes to
`odom`: the pose is looked up at the stamp of the costmap it is planned on (TF's newest where it
cannot interpolate; the pose keeps the transform's stamp, so the step refuses a stale one).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nav_msgs.msg import Odometry

from robot_vision_nav.core.geometry import Pose2D
from robot_vision_nav.ros.latency import InputAges
from robot_vision_nav.ros.messages import odometry_in_frame
from robot_vision_nav.ros.robot_pose import PoseInput, pose_from_tf
from robot_vision_nav.ros.tf import TfReader


class NewestPose(PoseInput):
    """The robot pose to plan from (`pose`, None before the first), from odometry or TF.

    Args:
        node, config, tf, warn, ages: as for PoseInput (ros/robot_pose.py).
        on_pose: called after each new pose (the planner redraws its markers).

    """

    def __init__(
        self,
        node: Any,  # rclpy Node: subscriptions, clock, topic names
        config: Any,  # a node config dataclass: robot_pose_source, global_frame, base_frame
        tf: TfReader,
        warn: Callable[[str, str], None],
        ages: InputAges,
        on_pose: Callable[[], None],
    ) -> None:
        self._on_pose = on_pose
        self.pose: Pose2D | None = None
        self._tf_why = ""  # robot_pose_source tf: why the last lookup found no pose ("" when it did)
        super().__init__(node, config, tf, warn, ages, self.on_odom)

    @property
    def source(self) -> str:
        """Where poses come from, as the plan step's messages say it."""
        return "robot pose from TF" if self.from_tf else "odometry"

    @property
    def why_none(self) -> str:
        """Why there is no pose, as the plan step's message ends: TF's reason, else " received yet"."""
        return f" ({self._tf_why})" if self.from_tf and self._tf_why else " received yet"

    def on_odom(self, msg: Odometry) -> None:
        """An odometry message: the new pose, or a warning naming the topic."""
        pose, problem = odometry_in_frame(msg, self.config.global_frame)
        if pose is None:  # the last good pose ages out
            self._warn(self.odom_topic, problem)
            return
        self.pose = pose
        self._ages.record("odom", self._node.get_clock().now().nanoseconds, pose.stamp_ns)
        self._on_pose()

    def at_costmap(self, stamp_ns: int) -> None:
        """With TF: look the pose up at a costmap's stamp (else TF's newest); with odometry nothing to do."""
        if not self.from_tf:
            return
        cfg = self.config
        pose, self._tf_why = pose_from_tf(self._tf, cfg.global_frame, cfg.base_frame, stamp_ns)
        if pose is not None:
            self.pose = pose
            self._on_pose()
