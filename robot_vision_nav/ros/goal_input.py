"""planner_node's goal input: goal_pose checked, placed in global_frame, and followed through TF.

A goal in `global_frame` is used as it is. A goal in another frame (`map` from RViz's 2D Goal Pose,
`base_link` for "1 m ahead") is placed in `global_frame` through TF: at its own stamp first, then,
for a frame that is not below `global_frame` (a map the localiser corrects), again at every
costmap with the newest transform, so the goal follows the corrections. A frame TF does not connect
within `goal_transform_timeout_s` refuses the goal (`goal_frame_unknown`), as does a goal without a
frame or with a bad pose (core/goals.planar_goal). What the planner does about each event (drop the
plan, replan, stop, draw) is the node's: it implements `GoalListener`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from geometry_msgs.msg import PoseStamped
from rclpy.node import Node

from robot_vision_nav.core.goals import GoalError, planar_goal
from robot_vision_nav.core.units import NS_PER_S
from robot_vision_nav.ros import topics
from robot_vision_nav.ros.messages import stamp_to_ns
from robot_vision_nav.ros.tf import TfReader

GOAL_TOPIC = topics.GOAL_POSE
GOAL_RECHECK_S = 0.1  # while a goal waits for its transform, how often it is looked for again (node clock)
GOAL_MOVED_M = 0.05  # a re-transformed goal that moved this far (map -> odom corrected) is replanned to at once


@dataclass(frozen=True)
class GoalInFrame:
    """A goal as it was sent: its frame, planar pose there, stamp, and when it arrived (node clock)."""

    frame: str
    x_m: float
    y_m: float
    yaw_rad: float
    stamp_ns: int
    received_ns: int


class GoalListener(Protocol):
    """What the planner does when the goal changes."""

    def goal_accepted(self) -> None:
        """A new goal passed the checks: the plan in use no longer holds."""

    def goal_rejected(self, topic: str, problem: str, status: str) -> None:
        """The goal was refused or dropped (`status`: goal_rejected, goal_frame_unknown): stop."""

    def goal_placed(self) -> None:
        """The goal has a place in global_frame now (or a new one): redraw."""

    def goal_moved(self) -> None:
        """A followed goal moved by more than GOAL_MOVED_M: replan now."""

    def goal_waiting(self) -> None:
        """The goal waits for TF to connect its frame: the old goal's plan must not be followed."""


class GoalInput:
    """The goal_pose subscription, the goal in global_frame (`goal`) and the one waiting for TF (`sent`)."""

    def __init__(
        self, node: Node, tf: TfReader, config: Any, listener: GoalListener, warn: Callable[[str, str], None]
    ) -> None:
        # config (Any): planner_node's, read for global_frame and goal_transform_timeout_s;
        # warn: the node's throttled warning, (topic, problem).
        self._node = node
        self._tf = tf
        self.config = config
        self._listener = listener
        self._warn = warn
        self.goal: tuple[float, float, float] | None = None  # x, y, yaw in global_frame: what is planned to
        self.sent: GoalInFrame | None = None  # as sent, while its frame is not global_frame
        self._follows_tf = False  # re-placed at every costmap: its frame is not below global_frame
        self.topic: str = node.resolve_topic_name(GOAL_TOPIC)
        node.create_subscription(PoseStamped, GOAL_TOPIC, self.on_goal, 10)
        self._timer = node.create_timer(GOAL_RECHECK_S, self._check_pending)
        self._timer.cancel()

    @property
    def active(self) -> bool:
        """Whether a goal is set, placed or still waiting for TF."""
        return self.goal is not None or self.sent is not None

    def clear(self) -> None:
        """Forget the goal (refused, dropped)."""
        self.goal = None
        self.sent = None
        self._timer.cancel()

    def reject(self, problem: str, status: str = "goal_rejected") -> None:
        """Drop the goal and let the planner stop, saying why."""
        self.clear()
        self._listener.goal_rejected(self.topic, problem, status)

    def on_goal(self, msg: PoseStamped) -> None:
        """A goal_pose message: checked, then used, placed through TF, or left waiting for TF."""
        frame = self.config.global_frame
        p, q = msg.pose.position, msg.pose.orientation
        goal_frame = msg.header.frame_id.lstrip("/")
        if not goal_frame:
            self.reject(f"goal refused: it has no frame_id (expected '{frame}' or a frame TF reaches)")
            return
        try:
            _, _, yaw = planar_goal((p.x, p.y), (q.x, q.y, q.z, q.w))
        except GoalError as err:
            self.reject(f"goal refused: {err}")
            return
        assert yaw is not None  # without zero_is_no_heading a zero quaternion is refused
        self._listener.goal_accepted()
        log = self._node.get_logger()
        if goal_frame == frame:
            self.goal, self.sent = (float(p.x), float(p.y), yaw), None
            self._timer.cancel()
            log.info(f"new goal ({p.x:.2f}, {p.y:.2f}) in '{frame}'")
            self._listener.goal_placed()
            return
        if not self._tf.available:
            self.reject(
                f"goal refused: it is in frame '{goal_frame}', and without tf2_ros only '{frame}' goals can be used",
                status="goal_frame_unknown",
            )
            return
        self.goal = None
        now_ns = self._node.get_clock().now().nanoseconds
        self.sent = GoalInFrame(goal_frame, float(p.x), float(p.y), yaw, stamp_to_ns(msg.header.stamp), now_ns)
        log.info(f"new goal ({p.x:.2f}, {p.y:.2f}) in '{goal_frame}', planned in '{frame}'")
        if not self.place(first=True):
            self._timer.reset()  # TF may not have the frames yet: look again until the timeout
            self._listener.goal_waiting()
        self._listener.goal_placed()

    def follow(self) -> None:
        """On each costmap: a goal in a frame that moves against global_frame is placed again."""
        if self.sent is not None and self.goal is not None and self._follows_tf:
            self.place()  # the localiser may have moved map -> odom since

    def place(self, first: bool = False) -> bool:
        """Place the sent goal in global_frame (at its stamp the first time, then the newest); False if TF can't."""
        sent = self.sent
        if sent is None:
            return self.goal is not None
        frame = self.config.global_frame
        # At the goal's stamp first (where the map said the goal was when it was clicked); later the
        # newest map -> odom, so the goal follows the localiser's corrections.
        transform, why = self._tf.lookup(frame, sent.frame, sent.stamp_ns if first and sent.stamp_ns else None)
        if transform is None:
            if self.goal is not None:  # placed before: keep the last placement, say TF went quiet
                self._warn(self.topic, f"goal kept where it was last placed: {why}")
            return self.goal is not None
        try:
            x, y, yaw = transform.apply_to_pose2d(sent.x_m, sent.y_m, sent.yaw_rad)
        except ValueError as err:
            self.reject(f"goal refused: {err}", status="goal_frame_unknown")
            return False
        old = self.goal
        self.goal = (x, y, yaw)
        if first:
            # A frame that hangs below global_frame moves with the robot (base_link, a camera): "1 m
            # ahead" is placed once, where the robot was, or the goal would recede forever.
            self._follows_tf = not self._tf.is_below(sent.frame, frame)
        if old is None:
            self._timer.cancel()
            self._node.get_logger().info(
                f"goal ({sent.x_m:.2f}, {sent.y_m:.2f}) in '{sent.frame}' is ({x:.2f}, {y:.2f}) in '{frame}'"
            )
            self._listener.goal_placed()
        elif math.hypot(x - old[0], y - old[1]) > GOAL_MOVED_M:
            self._listener.goal_moved()
        return True

    def _check_pending(self) -> None:
        sent = self.sent
        if sent is None or self.goal is not None:
            self._timer.cancel()
            return
        if self.place(first=True):
            return
        waited_s = (self._node.get_clock().now().nanoseconds - sent.received_ns) / NS_PER_S
        timeout_s = self.config.goal_transform_timeout_s
        if waited_s >= timeout_s:
            frame = self.config.global_frame
            _, why = self._tf.lookup(frame, sent.frame, None)
            self.reject(
                f"goal refused: no transform from '{sent.frame}' to '{frame}' within "
                f"goal_transform_timeout_s = {timeout_s} s ({why})",
                status="goal_frame_unknown",
            )
