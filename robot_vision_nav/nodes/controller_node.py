"""controller_node: plan + odometry + costmap -> /cmd_vel, with a watchdog that stops the robot.

Subscribes:
  plan                    nav_msgs/Path (an empty path means stop)
  odom                    nav_msgs/Odometry (robot_pose_source odom)
  /tf                     tf2_msgs/TFMessage (robot_pose_source tf): each message, paced to control_rate_hz
                          by its stamps, has the newest global_frame -> base_frame looked up
  local_costmap/costmap   nav_msgs/OccupancyGrid (collision check and cost regulation)
Publishes (ros/command_output.py):
  cmd_vel                 geometry_msgs/TwistStamped in `base_frame` (Twist with `use_stamped_cmd_vel: false`)
  controller_status       std_msgs/String: the controller's status when it changes
  /diagnostics            diagnostic_msgs/DiagnosticArray

A command is computed for each new robot pose (ros/pose_stream.py), paced to `control_rate_hz` by
the poses' stamps, not by a timer, so a replay or a simulator faster than real time gives the same
commands; dt for the acceleration limits is the stamp step. A watchdog on the node clock (sim time
when `use_sim_time`) publishes zero velocity whenever the plan, the odometry or the costmap is
older than its timeout, and `enabled: false` or shutting the node down publishes zero too: the
robot is never left moving on stale data. The algorithm is `core.controller.RegulatedPurePursuit`;
this node adds no algorithm.
"""

from __future__ import annotations

from typing import Any

from geometry_msgs.msg import Twist, TwistStamped
from nav_msgs.msg import OccupancyGrid, Odometry, Path
from rclpy.publisher import Publisher

from robot_vision_nav.core.control_step import ControlStep, Failed
from robot_vision_nav.core.controller import ControllerConfig
from robot_vision_nav.core.geometry import Pose2D
from robot_vision_nav.nodes.controller_params import ControllerNodeConfig
from robot_vision_nav.ros import topics
from robot_vision_nav.ros.command_output import CommandOutput
from robot_vision_nav.ros.control_diagnostics import control_diagnostics
from robot_vision_nav.ros.diagnostics import DiagnosticsReporter
from robot_vision_nav.ros.entry import run_node
from robot_vision_nav.ros.latency import InputAges
from robot_vision_nav.ros.lifecycle import ManagedNode
from robot_vision_nav.ros.messages import grid_in_frame, path_points, same_frame, stamp_to_ns
from robot_vision_nav.ros.pose_stream import PoseStream
from robot_vision_nav.ros.qos import MAP_QOS, PLAN_QOS
from robot_vision_nav.ros.robot_pose import READ_AT_CONFIGURE
from robot_vision_nav.ros.shutdown import send_final_zero
from robot_vision_nav.ros.tf import TfReader
from robot_vision_nav.ros.timers import PeriodicTimer
from robot_vision_nav.ros.warn import ThrottledWarnings

NODE_NAME = "controller_node"
INPUT_TOPICS = {"plan": topics.PLAN, "odom": topics.ODOM, "costmap": topics.LOCAL_COSTMAP}  # by watchdog name


class ControllerNode(ManagedNode):
    """The thin ROS wrapper around RegulatedPurePursuit, a managed node (ros/lifecycle.py).

    Deactivated (or destroyed while active) it sends zero velocity and waits for the base's
    acknowledgement first, then publishes nothing until activated again.
    """

    def __init__(self, **node_kwargs: Any) -> None:  # Any: rclpy Node's keyword arguments (context, cli_args...)
        super().__init__(NODE_NAME, **node_kwargs)
        self._params = self.declare_config(
            [ControllerConfig, ControllerNodeConfig], self._on_config, read_at_configure=READ_AT_CONFIGURE
        )
        self.start(self._params.get(ControllerNodeConfig).autostart)

    def configure(self) -> None:
        """The controller, the command / status publishers, the input subscriptions and the watchdog."""
        self.control_config: ControllerConfig = self._params.get(ControllerConfig)
        cfg = self.node_config = self._params.get(ControllerNodeConfig)
        self.step = ControlStep(self.control_config, cfg.control_rate_hz, cfg.timeouts)
        self._warnings = ThrottledWarnings(self.get_logger())
        self.ages = InputAges()
        self._out = CommandOutput(self, cfg, topics.CMD_VEL, topics.CONTROLLER_STATUS)
        self._diagnostics = DiagnosticsReporter(self, "controller")
        self.create_subscription(Path, topics.PLAN, self._on_plan, PLAN_QOS)
        tf = self._tf = TfReader(self)
        warn = lambda topic, problem: self._warn(topic, problem)  # noqa: E731 looked up per call: tests spy on _warn
        self._poses = PoseStream(
            self, cfg, tf, warn, self.ages, step=self.step, on_pose=self._on_pose, stop=self._out.zero
        )
        self.create_subscription(OccupancyGrid, topics.LOCAL_COSTMAP, self._on_costmap, MAP_QOS)
        self._topics = {n: self.resolve_topic_name(t) for n, t in INPUT_TOPICS.items()}
        self._watchdog = PeriodicTimer(self, 1.0 / cfg.watchdog_rate_hz, self._on_watchdog)
        self.create_timer(1.0, self._publish_diagnostics)
        self.get_logger().info(
            f"controller {'enabled' if cfg.enabled else 'disabled'}, {self._out.describe()}; "
            f"robot pose from {self._poses.name}"
        )

    # ------------------------------------------------------------------ configuration
    def deactivate(self) -> None:
        """Zero velocity, acknowledged by the base (bounded wait), and the plan dropped."""
        self.step.drop_plan()
        send_final_zero(self, self._cmd_pub, lambda: self._out.zero("inactive"))

    def cleanup(self) -> None:
        """Drop the TF listener with the subscriptions."""
        self._tf.close()

    @property
    def _cmd_pub(self) -> Publisher[Twist | TwistStamped]:
        """The cmd_vel publisher (remade when use_stamped_cmd_vel changes)."""
        return self._out.publisher

    def _on_config(self, cls: type[Any], config: Any) -> None:  # Any: ros/params.ConfigCallback, one class per call
        if cls is ControllerConfig:
            self.control_config = config
            self.step.controller.reconfigure(config)
            return
        old: ControllerNodeConfig = self.node_config
        self.node_config = self._poses.config = config
        self.step.timeouts = config.timeouts
        self.step.pacer.rate_hz = self._poses.pacer.rate_hz = config.control_rate_hz
        self._out.reconfigure(config)
        if old.enabled and not config.enabled:
            self._out.zero("disabled")
        self._watchdog.set_period(1.0 / config.watchdog_rate_hz)

    def _warn(self, topic: str, problem: str) -> None:
        """Warn naming the topic, throttled per kind of problem (ros/warn.py)."""
        self._warnings.warn(topic, problem, self.node_config.warn_throttle_s)

    def _stop(self, topic: str, problem: str, status: str) -> None:
        """Warn naming the input, and send zero velocity with `status`."""
        self._warn(topic, problem)
        self._out.zero(status)

    def _now_ns(self) -> int:
        return int(self.get_clock().now().nanoseconds)

    def _received(self, name: str, stamp_ns: int) -> None:
        now = self._now_ns()
        self.step.received(name, now)
        self.ages.record(name, now, stamp_ns)

    # ------------------------------------------------------------------ inputs
    def _on_plan(self, msg: Path) -> None:
        topic, frame, got = self._topics["plan"], self.node_config.global_frame, msg.header.frame_id
        if not same_frame(got, frame):
            self.step.drop_plan()
            self._stop(topic, f"wrong frame '{got}', expected '{frame}'; plan dropped, stopping", "no_plan")
            return
        self._received("plan", stamp_to_ns(msg.header.stamp))
        if not msg.poses:
            self.step.drop_plan()
            self._out.zero("no_plan")
            return
        problem = self.step.set_plan(*path_points(msg))
        if problem:
            self._stop(topic, f"plan refused: {problem}; stopping", "no_plan")

    def _on_costmap(self, msg: OccupancyGrid) -> None:
        grid, problem = grid_in_frame(msg, self.node_config.global_frame)
        if grid is None:  # the last good one ages out
            self._warn(self._topics["costmap"], problem)
            return
        self.step.grid = grid
        self._received("costmap", grid.stamp_ns)

    def _on_odom(self, msg: Odometry) -> None:
        """robot_pose_source odom: one odometry message (ros/pose_stream.py)."""
        self._poses.on_odom(msg)

    def _on_pose(self, pose: Pose2D) -> None:
        """One new robot pose in global_frame: a command when one is due."""
        result = self.step.on_pose(pose, self._now_ns(), self.node_config.enabled)
        if isinstance(result, Failed):
            self._stop(self._poses.name, result.reason, "error")
        elif result is not None:
            self._out.send(result, pose.stamp_ns)

    # ------------------------------------------------------------------ outputs
    def _on_watchdog(self) -> None:
        if not self.node_config.enabled or not self.step.has_plan:
            return
        stale = self.step.stale_inputs(self._now_ns())
        if stale:
            inputs = {"plan": self._topics["plan"], "odom": self._poses.name}
            names = ", ".join(inputs.get(n, self._topics["costmap"]) for n in stale)
            self.step.controller.reset()
            self._stop(names, "stale input: older than its timeout; zero velocity", "stale_input")

    def _publish_diagnostics(self) -> None:
        last_problem = self._warnings.take_last_problem()
        status, cfg, out = self._diagnostics.status(), self.node_config, self._out
        stale = self.step.stale_inputs(self._now_ns()) if self.step.has_plan else []
        status.level, status.message, values = control_diagnostics(
            last_problem, stale, out.status, out.commands, self.step.times, cfg.enabled, self.ages, cfg.max_input_age_s
        )
        self._diagnostics.publish(status, values)


def main(args: list[str] | None = None) -> int:
    """Run controller_node until shutdown; a bad parameter ends it with a one-line error (exit 1)."""
    return run_node(ControllerNode, NODE_NAME, args)


if __name__ == "__main__":
    raise SystemExit(main())
