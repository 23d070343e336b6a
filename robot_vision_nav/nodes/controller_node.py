"""controller_node: plan + odometry + costmap -> /cmd_vel, with a watchdog that stops the robot.

Subscribes:
  plan                    nav_msgs/Path (an empty path means stop)
  odom                    nav_msgs/Odometry (robot_pose_source odom)
/tf                     tf2_msgs/TFMessage (robot_pose_source tf): each message, paced to control_rate_hz
                          by its stamps, has the newest global_frame -> base_frame looked up
  local_costmap/costmap   nav_msgs/OccupancyGrid (collision check and cost regulation)
Publishes:
  cmd_vel                 geometry_msgs/TwistStamped in `base_frame` (Twist with `use_stamped_cmd_vel: false`)
  controller_status       std_msgs/String: the controller's status when it changes
  /diagnostics            diagnostic_msgs/DiagnosticArray

A command is computed for each odometry message (paced to `control_rate_hz` by odometry stamps,
so a replay gives the same commands); dt for the acceleration limits is the odometry stamp step.
With the pose from TF, /tf traffic paces the lookups the same way (by stamps, not by a timer: a
simulator stepping faster than real time, or a replay, gives the same commands), and a transform
no newer than the last one used is not a new pose: a TF publisher that stops ages out like silent
odometry.
A watchdog on the node clock (sim time when `use_sim_time`) publishes zero velocity whenever the
plan, the odometry or the costmap is older than its timeout, and `enabled: false` or shutting
the node down publishes zero too: the robot is never left moving on stale data. The algorithm is
`core.controller.RegulatedPurePursuit`; this node adds no algorithm.
"""

from __future__ import annotations

from typing import Any

from diagnostic_msgs.msg import DiagnosticStatus
from geometry_msgs.msg import Twist, TwistStamped
from nav_msgs.msg import OccupancyGrid, Odometry, Path
from std_msgs.msg import String

from robot_vision_nav.core.control_step import ControlStep, Failed
from robot_vision_nav.core.controller import Command, ControllerConfig
from robot_vision_nav.core.geometry import Pose2D
from robot_vision_nav.core.pacing import RatePacer
from robot_vision_nav.nodes.controller_params import ControllerNodeConfig
from robot_vision_nav.ros import topics
from robot_vision_nav.ros.diagnostics import DiagnosticsReporter
from robot_vision_nav.ros.entry import run_node
from robot_vision_nav.ros.latency import InputAges, behind_message
from robot_vision_nav.ros.lifecycle import ManagedNode
from robot_vision_nav.ros.messages import (
    grid_in_frame,
    ns_to_stamp,
    odometry_in_frame,
    path_points,
    same_frame,
    stamp_to_ns,
    twist_message,
)
from robot_vision_nav.ros.qos import COMMAND_QOS, MAP_QOS, PLAN_QOS, SENSOR_QOS, TF_TRIGGER_QOS
from robot_vision_nav.ros.robot_pose import (
    READ_AT_CONFIGURE,
    pose_from_tf,
    pose_input_name,
)
from robot_vision_nav.ros.shutdown import send_final_zero
from robot_vision_nav.ros.tf import TfReader
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
        self._status = ""
        self._warnings = ThrottledWarnings(self.get_logger())
        self.ages = InputAges()
        self._commands = 0
        self._cmd_pub = self.create_publisher(
            TwistStamped if cfg.use_stamped_cmd_vel else Twist, topics.CMD_VEL, COMMAND_QOS
        )
        self._status_pub = self.create_publisher(String, topics.CONTROLLER_STATUS, 10)
        self._diagnostics = DiagnosticsReporter(self, "controller")
        self.create_subscription(Path, topics.PLAN, self._on_plan, PLAN_QOS)
        self._pose_from_tf = cfg.robot_pose_source == "tf"
        self._tf = TfReader(self)
        # /tf messages that trigger a lookup, paced by their stamps; an older stamp is a clock that jumped back.
        self._tf_pacer = RatePacer(cfg.control_rate_hz, fraction=0.9, older_is_due=True)
        if self._pose_from_tf:
            from tf2_msgs.msg import TFMessage  # installed with tf2_ros, which robot_pose_source tf needs

            self._tf.listen()
            self.create_subscription(TFMessage, topics.TF, self._on_tf, TF_TRIGGER_QOS)
        else:
            self.create_subscription(Odometry, topics.ODOM, self._on_odom, SENSOR_QOS)
        self.create_subscription(OccupancyGrid, topics.LOCAL_COSTMAP, self._on_costmap, MAP_QOS)
        self._topics = {n: self.resolve_topic_name(t) for n, t in INPUT_TOPICS.items()}
        self._watchdog = self.create_timer(1.0 / cfg.watchdog_rate_hz, self._on_watchdog)
        self.create_timer(1.0, self._publish_diagnostics)
        self.get_logger().info(
            f"controller {'enabled' if cfg.enabled else 'disabled'}, "
            f"{f'TwistStamped in {cfg.base_frame}' if cfg.use_stamped_cmd_vel else 'Twist'} on "
            f"{self.resolve_topic_name(topics.CMD_VEL)}; robot pose from {self._pose_input}"
        )

    # ------------------------------------------------------------------ configuration
    def deactivate(self) -> None:
        """Zero velocity, acknowledged by the base (bounded wait), and the plan dropped."""
        self.step.drop_plan()
        send_final_zero(self, self._cmd_pub, lambda: self._publish_zero("inactive"))

    def cleanup(self) -> None:
        """Drop the TF listener with the subscriptions."""
        self._tf.close()

    @property
    def _pose_input(self) -> str:
        """The robot pose's input as warnings name it: the odom topic, or the TF transform."""
        return pose_input_name(self.node_config, self._topics["odom"])

    def _on_config(self, cls: type[Any], config: Any) -> None:  # Any: ros/params.ConfigCallback, one class per call
        if cls is ControllerConfig:
            self.control_config = config
            self.step.controller.reconfigure(config)
            return
        old: ControllerNodeConfig = self.node_config
        self.node_config = config
        self.step.timeouts = config.timeouts
        self.step.pacer.rate_hz = self._tf_pacer.rate_hz = config.control_rate_hz
        if old.use_stamped_cmd_vel != config.use_stamped_cmd_vel:
            self._publish_zero("switching_message_type")
            self.destroy_publisher(self._cmd_pub)
            self._cmd_pub = self.create_publisher(
                TwistStamped if config.use_stamped_cmd_vel else Twist, topics.CMD_VEL, COMMAND_QOS
            )
        if old.enabled and not config.enabled:
            self._publish_zero("disabled")
        if old.watchdog_rate_hz != config.watchdog_rate_hz:
            self._watchdog.cancel()
            self._watchdog = self.create_timer(1.0 / config.watchdog_rate_hz, self._on_watchdog)

    def _warn(self, topic: str, problem: str) -> None:
        """Warn naming the topic, throttled per kind of problem (ros/warn.py)."""
        self._warnings.warn(topic, problem, self.node_config.warn_throttle_s)

    def _now_ns(self) -> int:
        return int(self.get_clock().now().nanoseconds)

    def _received(self, name: str, stamp_ns: int) -> None:
        now = self._now_ns()
        self.step.received(name, now)
        self.ages.record(name, now, stamp_ns)

    # ------------------------------------------------------------------ inputs
    def _on_plan(self, msg: Path) -> None:
        topic = self._topics["plan"]
        if not same_frame(msg.header.frame_id, self.node_config.global_frame):
            self._warn(
                topic,
                f"wrong frame '{msg.header.frame_id}', expected '{self.node_config.global_frame}'; "
                "plan dropped, stopping",
            )
            self._drop_plan()
            return
        self._received("plan", stamp_to_ns(msg.header.stamp))
        if not msg.poses:
            self._drop_plan()
            return
        problem = self.step.set_plan(*path_points(msg))
        if problem:
            self._warn(topic, f"plan refused: {problem}; stopping")
            self._publish_zero("no_plan")

    def _drop_plan(self) -> None:
        self.step.drop_plan()
        self._publish_zero("no_plan")

    def _on_costmap(self, msg: OccupancyGrid) -> None:
        grid, problem = grid_in_frame(msg, self.node_config.global_frame)
        if grid is None:  # the last good one ages out
            self._warn(self._topics["costmap"], problem)
            return
        self.step.grid = grid
        self._received("costmap", grid.stamp_ns)

    def _on_odom(self, msg: Odometry) -> None:
        topic = self._topics["odom"]
        pose, problem = odometry_in_frame(msg, self.node_config.global_frame)
        if pose is None:
            self._warn(topic, f"{problem}; stopping")
            self._publish_zero("bad_odometry")
            return
        self._received("odom", pose.stamp_ns)
        last = self.step.last_pose_ns
        if last is not None and pose.stamp_ns <= last:
            self._warn(topic, f"stamps out of order: {pose.stamp_ns} ns is not after {last} ns; ignored")
            return
        self._on_pose(pose)

    def _on_tf(self, msg: Any) -> None:  # tf2_msgs/TFMessage: imported only with robot_pose_source tf
        """robot_pose_source tf: a /tf message, paced by its stamps, triggers a lookup of the newest pose.

        The lookup may still see the transform before this message (the listener's subscription on
        the same topic can run second): one message of lag, never a wrong pose.
        """
        newest = max((stamp_to_ns(t.header.stamp) for t in msg.transforms), default=None)
        if newest is None or not self._tf_pacer.take(newest):
            return
        cfg = self.node_config
        pose, why = pose_from_tf(self._tf, cfg.global_frame, cfg.base_frame)
        if pose is None:
            if self.step.has_plan:  # the watchdog stops the robot once the last pose is older than odom_timeout_s
                self._warn(self._pose_input, f"no robot pose: {why}")
            return
        last = self.step.last_pose_ns
        if last is not None and pose.stamp_ns <= last:
            return  # TF has nothing newer: not a new pose (a publisher that stopped ages out)
        self._received("odom", pose.stamp_ns)
        self._on_pose(pose)

    def _on_pose(self, pose: Pose2D) -> None:
        """One new robot pose in global_frame: a command when one is due."""
        result = self.step.on_pose(pose, self._now_ns(), self.node_config.enabled)
        if isinstance(result, Failed):
            self._warn(self._pose_input, result.reason)
            self._publish_zero("error")
        elif result is not None:
            self._publish(result, pose.stamp_ns)

    # ------------------------------------------------------------------ outputs
    def _on_watchdog(self) -> None:
        if not self.node_config.enabled or not self.step.has_plan:
            return
        stale = self.step.stale_inputs(self._now_ns())
        if stale:
            inputs = {"plan": self._topics["plan"], "odom": self._pose_input}
            names = ", ".join(inputs.get(n, self._topics["costmap"]) for n in stale)
            self._warn(names, "stale input: older than its timeout; zero velocity")
            self.step.controller.reset()
            self._publish_zero("stale_input")

    def _publish(self, command: Command, stamp_ns: int | None) -> None:
        self._commands += 1
        self._set_status(command.status)
        self._cmd_pub.publish(self._twist(command.linear_mps, command.angular_rps, stamp_ns))

    def _publish_zero(self, status: str) -> None:
        self._set_status(status)
        self._cmd_pub.publish(self._twist(0.0, 0.0, None))

    def _twist(self, linear_mps: float, angular_rps: float, stamp_ns: int | None) -> Twist | TwistStamped:
        # The publisher's type, not the parameter's: a switch sends its zero on the old publisher.
        if self._cmd_pub.msg_type is not TwistStamped:
            return twist_message(linear_mps, angular_rps)
        stamp = self.get_clock().now().to_msg() if stamp_ns is None else ns_to_stamp(stamp_ns)
        return twist_message(linear_mps, angular_rps, self.node_config.base_frame, stamp)

    def _set_status(self, status: str) -> None:
        if status != self._status:
            self._status = status
            self._status_pub.publish(String(data=status))

    def _publish_diagnostics(self) -> None:
        last_problem = self._warnings.take_last_problem()
        status = self._diagnostics.status()
        stale = self.step.stale_inputs(self._now_ns()) if self.step.has_plan else []
        behind = behind_message(self.ages, self.node_config.max_input_age_s)
        if stale or last_problem or behind:
            status.level = DiagnosticStatus.WARN
            status.message = last_problem or (f"stale: {', '.join(stale)}" if stale else behind)
        else:
            status.level, status.message = DiagnosticStatus.OK, self._status or "idle"
        values = [
            ("status", self._status),
            ("commands", str(self._commands)),
            ("step_ms_last", self.step.times.last_ms(3)),
            ("enabled", str(self.node_config.enabled)),
            *self.ages.key_values(),
        ]
        self._diagnostics.publish(status, values)


def main(args: list[str] | None = None) -> int:
    """Run controller_node until shutdown; a bad parameter ends it with a one-line error (exit 1)."""
    return run_node(ControllerNode, NODE_NAME, args)


if __name__ == "__main__":
    raise SystemExit(main())
