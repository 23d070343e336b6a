"""planner_node: local costmap + odometry + goal -> /plan (nav_msgs/Path).

Subscribes:
  local_costmap/costmap   nav_msgs/OccupancyGrid (reliable, transient local)
  odom                    nav_msgs/Odometry (robot_pose_source odom; with tf, TF global_frame ->
                          base_frame at the costmap stamp instead: ros/robot_pose.py)
  goal_pose               geometry_msgs/PoseStamped (RViz "2D Goal Pose") in `global_frame`, or in any
                          frame TF connects to it: transformed at its stamp; a goal in a frame above
                          `global_frame` (`map` on an AMCL or SLAM robot) again at every replan as
                          map -> odom moves, one in a frame below it (base_link: "1 m ahead") once;
                          no transform within `goal_transform_timeout_s` is the status goal_frame_unknown
Publishes:
  plan                    nav_msgs/Path in `global_frame`, stamped with the costmap it was planned
                          on; an empty path means "no plan: stop" (no goal, no path, bad goal)
  planner_status          std_msgs/String: "<status>: <one sentence>" after every planning attempt
  ~/markers               visualization_msgs/MarkerArray for RViz: the goal (ARROW, deleted when there
                          is none) and the robot footprint (CYLINDER of `footprint_radius_m`) at the
                          odometry pose, in `global_frame`, stamped with the odometry; only while
                          subscribed, at most once per odometry or goal message
  /diagnostics            diagnostic_msgs/DiagnosticArray

Planning is driven by costmap arrivals, not a wall-clock timer: with a goal set, each costmap
triggers a replan when `replan_period_s` of costmap time has passed since the last plan, when the
current path crosses a cell the planner would refuse (blocked), or when there is no path yet.
Replays of the same messages therefore give the same plans. The algorithm is `core.planner`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticStatus
from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import OccupancyGrid, Odometry, Path
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import ColorRGBA, String
from visualization_msgs.msg import Marker, MarkerArray

from robot_vision_nav.core.config import param
from robot_vision_nav.core.geometry import Pose2D
from robot_vision_nav.core.goals import GoalError, planar_goal
from robot_vision_nav.core.grid import OCC_INSCRIBED, Grid
from robot_vision_nav.core.planner import Plan, PlannerConfig, PlannerError, nearest_usable_goal, path_blocked, plan
from robot_vision_nav.core.planner import warm_up as warm_up_planner
from robot_vision_nav.core.units import NS_PER_S
from robot_vision_nav.ros.diagnostics import DiagnosticsReporter
from robot_vision_nav.ros.entry import run_node
from robot_vision_nav.ros.latency import InputAges, behind_message, diagnostics_period_param, max_input_age_param
from robot_vision_nav.ros.lifecycle import ManagedNode, autostart_param
from robot_vision_nav.ros.messages import (
    grid_from_msg,
    ns_to_stamp,
    odometry_in_frame,
    same_frame,
    stamp_to_ns,
    yaw_orientation,
)
from robot_vision_nav.ros.qos import MAP_QOS, SENSOR_QOS
from robot_vision_nav.ros.robot_pose import (
    READ_AT_CONFIGURE,
    check_robot_pose_source,
    pose_from_tf,
    pose_input_name,
    robot_pose_source_param,
)
from robot_vision_nav.ros.tf import TfReader, base_frame_param
from robot_vision_nav.ros.warn import ThrottledWarnings, warn_throttle_param

NODE_NAME = "planner_node"

# The plan is latched like a map: a controller that starts late still gets the current one.
PLAN_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)


@dataclass(frozen=True)
class PlannerNodeConfig:
    """The node's own parameters (the search's are in PlannerConfig)."""

    global_frame: str = param("odom", "frame of the costmap, goals and plans")
    base_frame: str = base_frame_param()
    robot_pose_source: str = robot_pose_source_param()
    replan_period_s: float = param(
        1.0,
        "replan at most this often, in costmap time, while the path stays clear",
        unit="s",
        min_value=0.05,
        max_value=60.0,
    )
    odom_max_age_s: float = param(
        0.5,
        "odometry (or TF's robot pose) farther than this from the costmap stamp is stale: no plan is made",
        unit="s",
        min_value=0.01,
        max_value=10.0,
    )
    goal_tolerance_m: float = param(
        0.5,
        "a goal in a lethal or inscribed cell is approached up to the nearest usable cell this close to it "
        "(Nav2 GridBased tolerance), and replanned to as soon as it clears; 0 stops the robot instead",
        unit="m",
        min_value=0.0,
        max_value=5.0,
    )
    warn_throttle_s: float = warn_throttle_param()
    max_input_age_s: float = max_input_age_param()
    goal_transform_timeout_s: float = param(
        1.0,
        "a goal in another frame than global_frame waits this long (node clock) for TF to connect the two, "
        "then is refused as goal_frame_unknown",
        unit="s",
        min_value=0.0,
        max_value=60.0,
    )
    diagnostics_period_s: float = diagnostics_period_param()
    footprint_radius_m: float = param(
        0.25,
        "radius of the robot footprint drawn on ~/markers (the costmap's robot_radius_m)",
        unit="m",
        min_value=0.01,
        max_value=10.0,
    )
    autostart: bool = autostart_param()

    def __post_init__(self) -> None:
        check_robot_pose_source(self.robot_pose_source)


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


FOOTPRINT_HEIGHT_M = 0.1  # a flat disc: it shows the footprint without hiding the costmap under it
GOAL_ARROW_M = (0.5, 0.08, 0.08)  # length, shaft width, head height


class PlannerNode(ManagedNode):
    """The thin ROS wrapper around core.planner, a managed node (ros/lifecycle.py)."""

    def __init__(self, **node_kwargs: Any) -> None:
        super().__init__(NODE_NAME, **node_kwargs)
        self._params = self.declare_config(
            [PlannerConfig, PlannerNodeConfig], self._on_config, read_at_configure=READ_AT_CONFIGURE
        )
        self.start(self._params.get(PlannerNodeConfig).autostart)

    def configure(self) -> None:
        """The search, the publishers, the costmap / odometry / goal subscriptions and the timers."""
        self.planner_config: PlannerConfig = self._params.get(PlannerConfig)
        self.node_config: PlannerNodeConfig = self._params.get(PlannerNodeConfig)
        warm_up_planner(self.planner_config)  # a compile on the first goal would stall it for seconds
        self._goal: tuple[float, float, float] | None = None  # in global_frame: what is planned to
        self._goal_sent: GoalInFrame | None = None  # as sent, while its frame is not global_frame
        self._goal_follows_tf = False  # re-placed at every replan: its frame is not below global_frame
        self._tf = TfReader(self)
        self._pose: Pose2D | None = None
        self._pose_from_tf = self.node_config.robot_pose_source == "tf"
        self._tf_pose_why = ""  # robot_pose_source tf: why the last lookup found no pose ("" when it did)
        self._plan: Plan | None = None
        self._plan_stamp_ns: int | None = None
        self._force_replan = False
        self._warnings = ThrottledWarnings(self.get_logger())
        self.ages = InputAges()
        self._plans = 0
        self._plan_ms = 0.0
        self._plan_pub = self.create_publisher(Path, "plan", PLAN_QOS)
        self._status_pub = self.create_publisher(String, "planner_status", 10)
        self._diagnostics = DiagnosticsReporter(self, "planner")
        self._marker_pub = self.create_publisher(MarkerArray, "~/markers", 10)
        self.create_subscription(OccupancyGrid, "local_costmap/costmap", self._on_costmap, MAP_QOS)
        if self._pose_from_tf:
            self._tf.listen()
        else:
            self.create_subscription(Odometry, "odom", self._on_odom, SENSOR_QOS)
        self.create_subscription(PoseStamped, "goal_pose", self._on_goal, 10)
        self._topics = {name: self.resolve_topic_name(name) for name in ("local_costmap/costmap", "odom", "goal_pose")}
        self.create_timer(self.node_config.diagnostics_period_s, self._publish_diagnostics)
        self._goal_timer = self.create_timer(GOAL_RECHECK_S, self._check_pending_goal)
        self._goal_timer.cancel()
        self.get_logger().info(
            f"planning in '{self.node_config.global_frame}', cost_weight "
            f"{self.planner_config.cost_weight}, replan every {self.node_config.replan_period_s} s"
        )

    def deactivate(self) -> None:
        """Drop the goal and publish an empty plan: the controller stops now, not at plan_timeout_s.

        A goal does not outlive a deactivation (Nav2's navigator aborts it too): activated again, the
        robot waits for a new one instead of driving off on its own.
        """
        if self._goal is not None or self._goal_sent is not None:
            self._reject_goal(self._topics["goal_pose"], "goal dropped: planner_node deactivated")
        else:
            self._publish_path(None, None)

    def cleanup(self) -> None:
        """Drop the TF listener with the subscriptions."""
        self._tf.close()

    @property
    def _pose_input(self) -> str:
        """The robot pose's input as warnings name it: the odom topic, or the TF transform."""
        return pose_input_name(self.node_config, self._topics["odom"])

    def _on_config(self, cls: type[Any], config: Any) -> None:
        if cls is PlannerConfig:
            self.planner_config = config
        else:
            self.node_config = config
        self._force_replan = True

    def _warn(self, topic: str, problem: str) -> None:
        """Warn naming the topic, throttled per kind of problem (ros/warn.py)."""
        self._warnings.warn(topic, problem, self.node_config.warn_throttle_s)

    # ------------------------------------------------------------------ inputs
    def _on_odom(self, msg: Odometry) -> None:
        pose, problem = odometry_in_frame(msg, self.node_config.global_frame)
        if pose is None:  # the last good pose ages out
            self._warn(self._topics["odom"], problem)
            return
        self._pose = pose
        self.ages.record("odom", self.get_clock().now().nanoseconds, self._pose.stamp_ns)
        self._publish_markers()

    def _on_goal(self, msg: PoseStamped) -> None:
        topic = self._topics["goal_pose"]
        frame = self.node_config.global_frame
        p, q = msg.pose.position, msg.pose.orientation
        goal_frame = msg.header.frame_id.lstrip("/")
        if not goal_frame:
            self._reject_goal(topic, f"goal refused: it has no frame_id (expected '{frame}' or a frame TF reaches)")
            return
        try:
            _, _, yaw = planar_goal((p.x, p.y), (q.x, q.y, q.z, q.w))
        except GoalError as err:
            self._reject_goal(topic, f"goal refused: {err}")
            return
        assert yaw is not None  # without zero_is_no_heading a zero quaternion is refused
        self._plan = None
        self._force_replan = True
        if goal_frame == frame:
            self._goal, self._goal_sent = (float(p.x), float(p.y), yaw), None
            self._goal_timer.cancel()
            self.get_logger().info(f"new goal ({p.x:.2f}, {p.y:.2f}) in '{frame}'")
            self._publish_markers()
            return
        if not self._tf.available:
            self._reject_goal(
                topic,
                f"goal refused: it is in frame '{goal_frame}', and without tf2_ros only '{frame}' goals can be used",
                status="goal_frame_unknown",
            )
            return
        self._goal = None
        self._goal_sent = GoalInFrame(
            goal_frame, float(p.x), float(p.y), yaw, stamp_to_ns(msg.header.stamp), self.get_clock().now().nanoseconds
        )
        self.get_logger().info(f"new goal ({p.x:.2f}, {p.y:.2f}) in '{goal_frame}', planned in '{frame}'")
        if not self._transform_goal(first=True):
            self._goal_timer.reset()  # TF may not have the frames yet: look again until the timeout
            self._publish_path(None, None)  # the old goal's plan no longer holds: stop until this one is placed
        self._publish_markers()

    def _transform_goal(self, first: bool = False) -> bool:
        """Place the sent goal in global_frame (at its stamp the first time, then the newest); False if TF can't."""
        sent = self._goal_sent
        if sent is None:
            return self._goal is not None
        frame = self.node_config.global_frame
        # At the goal's stamp first (where the map said the goal was when it was clicked); later the
        # newest map -> odom, so the goal follows the localiser's corrections.
        transform, why = self._tf.lookup(frame, sent.frame, sent.stamp_ns if first and sent.stamp_ns else None)
        if transform is None:
            if self._goal is not None:  # placed before: keep the last placement, say TF went quiet
                self._warn(self._topics["goal_pose"], f"goal kept where it was last placed: {why}")
            return self._goal is not None
        try:
            x, y, yaw = transform.apply_to_pose2d(sent.x_m, sent.y_m, sent.yaw_rad)
        except ValueError as err:
            self._reject_goal(self._topics["goal_pose"], f"goal refused: {err}", status="goal_frame_unknown")
            return False
        old = self._goal
        self._goal = (x, y, yaw)
        if first:
            # A frame that hangs below global_frame moves with the robot (base_link, a camera): "1 m
            # ahead" is placed once, where the robot was, or the goal would recede forever.
            self._goal_follows_tf = not self._tf.is_below(sent.frame, frame)
        if old is None:
            self._goal_timer.cancel()
            self.get_logger().info(
                f"goal ({sent.x_m:.2f}, {sent.y_m:.2f}) in '{sent.frame}' is ({x:.2f}, {y:.2f}) in '{frame}'"
            )
            self._publish_markers()
        elif math.hypot(x - old[0], y - old[1]) > GOAL_MOVED_M:
            self._force_replan = True
        return True

    def _check_pending_goal(self) -> None:
        sent = self._goal_sent
        if sent is None or self._goal is not None:
            self._goal_timer.cancel()
            return
        if self._transform_goal(first=True):
            return
        waited_s = (self.get_clock().now().nanoseconds - sent.received_ns) / NS_PER_S
        if waited_s >= self.node_config.goal_transform_timeout_s:
            _, why = self._tf.lookup(self.node_config.global_frame, sent.frame, None)
            self._reject_goal(
                self._topics["goal_pose"],
                f"goal refused: no transform from '{sent.frame}' to '{self.node_config.global_frame}' within "
                f"goal_transform_timeout_s = {self.node_config.goal_transform_timeout_s} s ({why})",
                status="goal_frame_unknown",
            )

    def _reject_goal(self, topic: str, problem: str, status: str = "goal_rejected") -> None:
        self._goal = None
        self._goal_sent = None
        self._goal_timer.cancel()
        self._plan = None
        self._warn(topic, problem)
        self._publish_status(status, problem)
        self._publish_path(None, None)
        self._publish_markers()

    def _on_costmap(self, msg: OccupancyGrid) -> None:
        topic = self._topics["local_costmap/costmap"]
        if not same_frame(msg.header.frame_id, self.node_config.global_frame):
            self._warn(topic, f"wrong frame '{msg.header.frame_id}', expected '{self.node_config.global_frame}'")
            return
        try:
            grid = grid_from_msg(msg)
        except ValueError as err:
            self._warn(topic, f"unusable costmap: {err}")
            return
        self.ages.record("costmap", self.get_clock().now().nanoseconds, grid.stamp_ns)
        if self._pose_from_tf:
            self._pose_from_tf_at(grid.stamp_ns)
        if self._goal_sent is not None and self._goal is not None and self._goal_follows_tf:
            self._transform_goal()  # the localiser may have moved map -> odom since
        if self._goal is None:
            return
        stamp = grid.stamp_ns
        due = (
            self._force_replan
            or self._plan is None
            or not self._plan.found
            or self._plan_stamp_ns is None
            or stamp - self._plan_stamp_ns >= round(self.node_config.replan_period_s * NS_PER_S)
        )
        if not due and self._plan is not None:
            due = path_blocked(grid, self._plan.path_xy, self.planner_config.allow_unknown)
        if due:
            self._replan(grid)

    def _pose_from_tf_at(self, stamp_ns: int) -> None:
        """robot_pose_source tf: the robot pose at a costmap's stamp (else TF's newest), for plans and markers."""
        cfg = self.node_config
        pose, self._tf_pose_why = pose_from_tf(self._tf, cfg.global_frame, cfg.base_frame, stamp_ns)
        if pose is not None:
            self._pose = pose
            self._publish_markers()

    # ------------------------------------------------------------------ planning
    def _replan(self, grid: Grid) -> None:
        assert self._goal is not None
        source = "robot pose from TF" if self._pose_from_tf else "odometry"
        if self._pose is None:
            why = f" ({self._tf_pose_why})" if self._pose_from_tf and self._tf_pose_why else " received yet"
            self._warn(self._pose_input, f"no {source}{why}: cannot plan")
            return
        age_s = abs(grid.stamp_ns - self._pose.stamp_ns) / NS_PER_S
        if age_s > self.node_config.odom_max_age_s:
            self._warn(
                self._pose_input,
                f"stale {source}: {age_s:.3f} s from the costmap stamp "
                f"(odom_max_age_s = {self.node_config.odom_max_age_s}); not planning",
            )
            return
        goal_xy = (self._goal[0], self._goal[1])
        row, col = grid.world_to_cell(*goal_xy)
        if grid.contains(row, col) and int(grid.values[row, col]) >= OCC_INSCRIBED:
            # Kept, not forgotten: a cell seen lethal now (a person passing, a misread pixel) may be
            # clear on the next costmap. Meanwhile the robot goes as near as goal_tolerance_m allows
            # (closer, the camera sees the floor better) or stops; whoever sent the goal decides how
            # long to wait (rvn goto and the navigate_to_pose server give up after a while).
            kind = "a lethal" if grid.values[row, col] == 100 else "an inscribed"
            near = nearest_usable_goal(
                grid, goal_xy, self.node_config.goal_tolerance_m, self.planner_config.allow_unknown
            )
            if near is None:
                problem = (
                    f"goal blocked: ({goal_xy[0]:.2f}, {goal_xy[1]:.2f}) is in {kind} cell and no usable cell is "
                    f"within goal_tolerance_m = {self.node_config.goal_tolerance_m}; stopped until it clears"
                )
                self._warn(self._topics["goal_pose"], problem)
                self._plan = None
                self._plan_stamp_ns = grid.stamp_ns
                self._publish_status("goal_blocked", problem)
                self._publish_path(None, grid.stamp_ns)
                return
            self._warn(
                self._topics["goal_pose"],
                f"goal blocked: ({goal_xy[0]:.2f}, {goal_xy[1]:.2f}) is in {kind} cell; planning to the nearest "
                f"usable point ({near[0]:.2f}, {near[1]:.2f}) until it clears",
            )
            goal_xy = near
        started = time.perf_counter()
        try:
            result = plan(grid, (self._pose.x_m, self._pose.y_m), goal_xy, self.planner_config)
        except PlannerError as err:  # the robot outside this costmap's window: stop until one covers it
            self._warn(self._topics["local_costmap/costmap"], f"no path: {err}")
            self._plan = None
            self._plan_stamp_ns = grid.stamp_ns
            self._publish_status("no_path", str(err))
            self._publish_path(None, grid.stamp_ns)
            return
        self._plan_ms = (time.perf_counter() - started) * 1e3
        self._plans += 1
        self._plan = result
        self._plan_stamp_ns = grid.stamp_ns
        self._force_replan = False
        self._publish_status(str(result.status), result.message)
        if not result.found:
            self._warn(self._topics["local_costmap/costmap"], f"no path: {result.message}")
            self._publish_path(None, grid.stamp_ns)
            return
        self._publish_path(result, grid.stamp_ns)

    def _publish_path(self, result: Plan | None, stamp_ns: int | None) -> None:
        msg = Path()
        msg.header.frame_id = self.node_config.global_frame
        msg.header.stamp = ns_to_stamp(stamp_ns) if stamp_ns is not None else self.get_clock().now().to_msg()
        if result is not None and result.found:
            points = result.path_xy
            headings = np.arctan2(np.diff(points[:, 1]), np.diff(points[:, 0])) if len(points) > 1 else np.zeros(0)
            for i, (x, y) in enumerate(points):
                yaw = float(headings[min(i, len(headings) - 1)]) if len(headings) else 0.0
                if i == len(points) - 1 and self._goal is not None and result.status != "goal_outside":
                    yaw = self._goal[2]
                pose = PoseStamped()
                pose.header = msg.header
                pose.pose.position.x, pose.pose.position.y = float(x), float(y)
                pose.pose.orientation = yaw_orientation(yaw)
                msg.poses.append(pose)
        self._plan_pub.publish(msg)

    def _publish_markers(self) -> None:
        # Built only for a listener (RViz): odometry comes at up to 100 Hz and nobody may be looking.
        if self._pose is None or self._marker_pub.get_subscription_count() == 0:
            return
        header = Marker().header
        header.frame_id = self.node_config.global_frame
        header.stamp = ns_to_stamp(self._pose.stamp_ns)
        footprint = Marker(header=header, ns="footprint", id=0, type=Marker.CYLINDER, action=Marker.ADD)
        footprint.pose.position.x, footprint.pose.position.y = self._pose.x_m, self._pose.y_m
        footprint.pose.position.z = FOOTPRINT_HEIGHT_M / 2.0
        footprint.pose.orientation.w = 1.0
        diameter = 2.0 * self.node_config.footprint_radius_m
        footprint.scale.x, footprint.scale.y, footprint.scale.z = diameter, diameter, FOOTPRINT_HEIGHT_M
        footprint.color = ColorRGBA(r=0.2, g=0.4, b=1.0, a=0.5)
        goal = Marker(header=header, ns="goal", id=0, type=Marker.ARROW)
        if self._goal is None:
            goal.action = Marker.DELETE  # a refused or absent goal leaves no arrow behind
        else:
            x, y, yaw = self._goal
            goal.action = Marker.ADD
            goal.pose.position.x, goal.pose.position.y = x, y
            goal.pose.orientation = yaw_orientation(yaw)
            goal.scale.x, goal.scale.y, goal.scale.z = GOAL_ARROW_M
            goal.color = ColorRGBA(r=0.1, g=0.9, b=0.2, a=1.0)
        self._marker_pub.publish(MarkerArray(markers=[goal, footprint]))

    def _publish_status(self, status: str, message: str) -> None:
        self._status_pub.publish(String(data=f"{status}: {message}"))

    def _publish_diagnostics(self) -> None:
        last_problem = self._warnings.take_last_problem()
        status = self._diagnostics.status()
        behind = behind_message(self.ages, self.node_config.max_input_age_s)
        if last_problem or behind:
            status.level, status.message = DiagnosticStatus.WARN, last_problem or behind
        elif self._goal is None:
            status.level, status.message = DiagnosticStatus.OK, "idle: no goal"
        else:
            status.level, status.message = DiagnosticStatus.OK, (self._plan.message if self._plan else "waiting")
        values = [
            ("plans", str(self._plans)),
            ("plan_ms_last", f"{self._plan_ms:.2f}"),
            ("status", str(self._plan.status) if self._plan else "none"),
            *self.ages.key_values(),
        ]
        self._diagnostics.publish(status, values)


def main(args: list[str] | None = None) -> int:
    """Run planner_node until shutdown; a bad parameter ends it with a one-line error (exit 1)."""
    return run_node(PlannerNode, NODE_NAME, args)


if __name__ == "__main__":
    raise SystemExit(main())
