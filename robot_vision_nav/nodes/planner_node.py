"""planner_node: local costmap + odometry + goal -> /plan (nav_msgs/Path).

Subscribes:
  local_costmap/costmap   nav_msgs/OccupancyGrid (reliable, transient local)
  odom                    nav_msgs/Odometry (robot_pose_source odom; with tf, TF global_frame ->
                          base_frame at the costmap stamp instead: ros/newest_pose.py)
  goal_pose               geometry_msgs/PoseStamped (RViz "2D Goal Pose") in `global_frame`, or in any
                          frame TF connects to it (`map`: placed again at every replan as map -> odom
                          moves; base_link: once), as ros/goal_input.py places it; no transform
                          within `goal_transform_timeout_s` is the status goal_frame_unknown
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
Replays of the same messages therefore give the same plans. The step on each costmap (pose check,
replan policy, blocked goal, search) is `core.plan_step.PlanStep`; the goal input, with its TF
placement, is `ros/goal_input.py`; the diagnostics, `ros/plan_diagnostics.py`.
"""

from __future__ import annotations

from typing import Any

from nav_msgs.msg import OccupancyGrid, Path
from std_msgs.msg import String
from visualization_msgs.msg import MarkerArray

from robot_vision_nav.core.geometry import Pose2D
from robot_vision_nav.core.plan_step import NoPose, Planned, PlanStep, Stop
from robot_vision_nav.core.planner import Plan, PlannerConfig
from robot_vision_nav.core.planner import warm_up as warm_up_planner
from robot_vision_nav.nodes.planner_params import PlannerNodeConfig
from robot_vision_nav.ros import topics
from robot_vision_nav.ros.diagnostics import DiagnosticsReporter
from robot_vision_nav.ros.entry import run_node
from robot_vision_nav.ros.goal_input import GoalInput
from robot_vision_nav.ros.latency import InputAges
from robot_vision_nav.ros.lifecycle import ManagedNode
from robot_vision_nav.ros.markers import planner_markers
from robot_vision_nav.ros.messages import grid_in_frame, ns_to_stamp, path_message
from robot_vision_nav.ros.newest_pose import NewestPose
from robot_vision_nav.ros.plan_diagnostics import plan_diagnostics
from robot_vision_nav.ros.qos import MAP_QOS, PLAN_QOS
from robot_vision_nav.ros.robot_pose import READ_AT_CONFIGURE
from robot_vision_nav.ros.tf import TfReader
from robot_vision_nav.ros.timers import PeriodicTimer
from robot_vision_nav.ros.warn import ThrottledWarnings

NODE_NAME = "planner_node"


class PlannerNode(ManagedNode):
    """The thin ROS wrapper around core.plan_step.PlanStep, a managed node (ros/lifecycle.py)."""

    def __init__(self, **node_kwargs: Any) -> None:  # Any: rclpy Node's keyword arguments (context, cli_args...)
        super().__init__(NODE_NAME, **node_kwargs)
        self._params = self.declare_config(
            [PlannerConfig, PlannerNodeConfig], self._on_config, read_at_configure=READ_AT_CONFIGURE
        )
        self.start(self._params.get(PlannerNodeConfig).autostart)

    def configure(self) -> None:
        """The search, the publishers, the costmap / robot pose / goal inputs and the diagnostics timer."""
        self.planner_config: PlannerConfig = self._params.get(PlannerConfig)
        cfg = self.node_config = self._params.get(PlannerNodeConfig)
        warm_up_planner(self.planner_config)  # a compile on the first goal would stall it for seconds
        self.step = PlanStep(self.planner_config, cfg.replan_period_s, cfg.odom_max_age_s, cfg.goal_tolerance_m)
        self._tf = TfReader(self)
        self._warnings = ThrottledWarnings(self.get_logger())
        self.ages = InputAges()
        self._plan_pub = self.create_publisher(Path, topics.PLAN, PLAN_QOS)
        self._status_pub = self.create_publisher(String, topics.PLANNER_STATUS, 10)
        self._diagnostics = DiagnosticsReporter(self, "planner")
        self._marker_pub = self.create_publisher(MarkerArray, topics.MARKERS, 10)
        self.create_subscription(OccupancyGrid, topics.LOCAL_COSTMAP, self._on_costmap, MAP_QOS)
        warn = lambda topic, problem: self._warn(topic, problem)  # noqa: E731 (looked up per call: tests spy on _warn)
        self._robot = NewestPose(self, cfg, self._tf, warn, self.ages, self._publish_markers)
        self._on_odom = self._robot.on_odom  # the odometry callback (robot_pose_source odom)
        self._goals = GoalInput(self, self._tf, cfg, self, warn)
        self._costmap_topic = self.resolve_topic_name(topics.LOCAL_COSTMAP)
        self._diag_timer = PeriodicTimer(self, cfg.diagnostics_period_s, self._publish_diagnostics)
        self.get_logger().info(
            f"planning in '{cfg.global_frame}', cost_weight "
            f"{self.planner_config.cost_weight}, replan every {cfg.replan_period_s} s"
        )

    def deactivate(self) -> None:
        """Drop the goal and publish an empty plan: the controller stops now, not at plan_timeout_s.

        A goal does not outlive a deactivation (Nav2's navigator aborts it too): activated again, the
        robot waits for a new one instead of driving off on its own.
        """
        if self._goals.active:
            self._goals.reject("goal dropped: planner_node deactivated")
        else:
            self._publish_path(None, None)

    def cleanup(self) -> None:
        """Drop the TF listener with the subscriptions."""
        self._tf.close()

    @property
    def _goal(self) -> tuple[float, float, float] | None:
        """The goal in global_frame (x, y, yaw), None while there is none or it waits for TF."""
        return self._goals.goal

    @property
    def _pose(self) -> Pose2D | None:
        """The robot pose planned from (odometry or TF: ros/newest_pose.py), None before the first."""
        return self._robot.pose

    def _on_config(self, cls: type[Any], config: Any) -> None:  # Any: ros/params.ConfigCallback, one class per call
        if cls is PlannerConfig:
            self.planner_config = self.step.config = config
        else:
            self.node_config = self._goals.config = self._robot.config = config
            self.step.policy.period_s = config.replan_period_s
            self.step.odom_max_age_s = config.odom_max_age_s
            self.step.goal_tolerance_m = config.goal_tolerance_m
            self._diag_timer.set_period(config.diagnostics_period_s)
        self.step.policy.force()

    def _warn(self, topic: str, problem: str) -> None:
        """Warn naming the topic, throttled per kind of problem (ros/warn.py)."""
        self._warnings.warn(topic, problem, self.node_config.warn_throttle_s)

    # ------------------------------------------------------------------ the goal (ros/goal_input.GoalListener)
    def goal_accepted(self) -> None:
        """A new goal: plan to it on the next costmap."""
        self.step.new_goal()

    def goal_rejected(self, topic: str, problem: str, status: str) -> None:
        """The goal is gone: say why, stop and clear the arrow."""
        self.step.plan = None
        self._warn(topic, problem)
        self._publish_outcome(status, problem, None, None)
        self._publish_markers()

    def goal_placed(self) -> None:
        """The goal has a place in global_frame now: redraw."""
        self._publish_markers()

    def goal_moved(self) -> None:
        """The localiser moved the goal: replan now."""
        self.step.policy.force()

    def goal_waiting(self) -> None:
        """The goal waits for TF: the old goal's plan no longer holds, stop until this one is placed."""
        self._publish_path(None, None)

    # ------------------------------------------------------------------ inputs
    def _on_costmap(self, msg: OccupancyGrid) -> None:
        topic = self._costmap_topic
        grid, problem = grid_in_frame(msg, self.node_config.global_frame)
        if grid is None:
            self._warn(topic, problem)
            return
        self.ages.record("costmap", self.get_clock().now().nanoseconds, grid.stamp_ns)
        self._robot.at_costmap(grid.stamp_ns)  # with TF, the pose at the costmap's stamp
        self._goals.follow()
        goal = self._goal
        if goal is None:
            return
        robot = self._robot
        outcome = self.step.on_costmap(grid, goal, self._pose, robot.source, robot.why_none)
        if isinstance(outcome, NoPose):
            self._warn(robot.name, outcome.reason)
        elif isinstance(outcome, Stop | Planned) and outcome.detour:
            self._warn(self._goals.topic, outcome.detour)
        if isinstance(outcome, Stop):
            self._warn(self._goals.topic if outcome.about == "goal" else topic, outcome.warning)
            self._publish_outcome(outcome.status, outcome.message, None, grid.stamp_ns)
        elif isinstance(outcome, Planned):  # a plan not found publishes an empty path
            self._publish_outcome(str(outcome.plan.status), outcome.plan.message, outcome.plan, grid.stamp_ns)
            if not outcome.plan.found:
                self._warn(topic, f"no path: {outcome.plan.message}")

    # ------------------------------------------------------------------ outputs
    def _publish_outcome(self, status: str, message: str, result: Plan | None, stamp_ns: int | None) -> None:
        """A planning attempt's "<status>: <message>" on planner_status, then its path (empty: stop)."""
        self._status_pub.publish(String(data=f"{status}: {message}"))
        self._publish_path(result, stamp_ns)

    def _publish_path(self, result: Plan | None, stamp_ns: int | None) -> None:
        stamp = ns_to_stamp(stamp_ns) if stamp_ns is not None else self.get_clock().now().to_msg()
        goal = self._goal
        final_yaw = goal[2] if goal is not None and result is not None and result.status != "goal_outside" else None
        points = result.path_xy if result is not None and result.found else None
        self._plan_pub.publish(path_message(points, self.node_config.global_frame, stamp, final_yaw))

    def _publish_markers(self) -> None:
        # Built only for a listener (RViz): odometry comes at up to 100 Hz and nobody may be looking.
        pose = self._pose
        if pose is None or self._marker_pub.get_subscription_count() == 0:
            return
        cfg = self.node_config
        self._marker_pub.publish(planner_markers(cfg.global_frame, pose, self._goal, cfg.footprint_radius_m))

    def _publish_diagnostics(self) -> None:
        last_problem = self._warnings.take_last_problem()
        status = self._diagnostics.status()
        status.level, status.message, values = plan_diagnostics(
            last_problem, self._goal is not None, self.step, self.ages, self.node_config.max_input_age_s
        )
        self._diagnostics.publish(status, values)


def main(args: list[str] | None = None) -> int:
    """Run planner_node until shutdown; a bad parameter ends it with a one-line error (exit 1)."""
    return run_node(PlannerNode, NODE_NAME, args)


if __name__ == "__main__":
    raise SystemExit(main())
