"""safety_node: the last stage before the base; stops or slows the robot from raw depth alone.

Subscribes:
  cmd_vel_nav                              geometry_msgs/TwistStamped (Twist by param): the controller's command
  camera/aligned_depth_to_color/image_raw  sensor_msgs/Image 16UC1 (mm) | 32FC1 (m), sensor-data QoS; with
                                           depth_transport: compressedDepth, <that>/compressedDepth
                                           (sensor_msgs/CompressedImage, decoded: ros/transport.py)
  camera/color/camera_info                 sensor_msgs/CameraInfo, sensor-data QoS
  e_stop                                   std_msgs/Bool: true stops the robot and holds it stopped until
                                           a false releases it (reliable; `ros2 topic pub --once` works);
                                           with e_stop_at_start it starts engaged
Publishes:
  cmd_vel                                  geometry_msgs/TwistStamped in base_frame (Twist by param), to the base
  safety_state                             std_msgs/String, latched: free, slowdown, stop, stop: depth blind,
                                           e_stop, stale: ...
  safety/stop_zone, safety/slowdown_zone   geometry_msgs/PolygonStamped in base_link, latched (RViz)
  /diagnostics                             diagnostic_msgs/DiagnosticArray

It is independent of perception: it never reads the segmentation mask, the costmap or the plan.
What to send is decided by `core.safety_step.SafetyStep`: each command from the controller passes
through `core.safety.SafetyGate` with the verdict of the newest depth frame
(`core.safety.DepthSafety`): zero when obstacle points are inside the stop polygon, scaled in the
slow-down polygon. A watchdog on the node clock publishes zero velocity when the command, the depth
or the camera model goes stale while the robot was told to move, the e-stop publishes zero at once,
and destroying the node publishes a last zero and waits (bounded) for the base to acknowledge it.
Bad input (a depth payload that does not decode, a camera_info with lens distortion unless
`rectify_distorted` undistorts it: ros/lens.py) gets a throttled warning naming the topic and counts
as no depth: the robot stops. This node converts messages, reads parameters and publishes what the
step decides; it adds no algorithm.
"""

from __future__ import annotations

from typing import Any

from diagnostic_msgs.msg import DiagnosticStatus
from geometry_msgs.msg import Twist, TwistStamped
from rclpy.publisher import Publisher
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Bool

from robot_vision_nav.core.safety import SafetyConfig
from robot_vision_nav.core.safety_step import CLOCK, CMD, DEPTH, INFO, Reaction, SafetyStep
from robot_vision_nav.nodes.safety_params import SafetyNodeConfig
from robot_vision_nav.ros.depth_frames import DepthFrames
from robot_vision_nav.ros.diagnostics import DiagnosticsReporter
from robot_vision_nav.ros.e_stop import EStopInput
from robot_vision_nav.ros.entry import run_node
from robot_vision_nav.ros.latched_topics import LatchedPolygons, LatchedText
from robot_vision_nav.ros.latency import InputAges, behind_message
from robot_vision_nav.ros.lens import DistortedImageError
from robot_vision_nav.ros.lifecycle import ManagedNode
from robot_vision_nav.ros.messages import (
    CameraInfoError,
    camera_info_distortion,
    camera_info_to_intrinsics,
    stamp_to_ns,
    twist_velocity,
)
from robot_vision_nav.ros.qos import SENSOR_QOS
from robot_vision_nav.ros.shutdown import send_final_zero
from robot_vision_nav.ros.tf import TfReader
from robot_vision_nav.ros.timers import PeriodicTimer
from robot_vision_nav.ros.velocity_topics import CommandPublisher, CommandSubscription
from robot_vision_nav.ros.warn import ThrottledWarnings

NODE_NAME = "safety_node"
CMD_IN_TOPIC = "cmd_vel_nav"
CMD_OUT_TOPIC = "cmd_vel"
DEPTH_TOPIC = "camera/aligned_depth_to_color/image_raw"
INFO_TOPIC = "camera/color/camera_info"
E_STOP_TOPIC = "e_stop"
STATE_TOPIC = "safety_state"
TOPICS = {CMD: CMD_IN_TOPIC, "cmd_out": CMD_OUT_TOPIC, DEPTH: DEPTH_TOPIC, INFO: INFO_TOPIC}
ZONE_TOPICS = ("safety/stop_zone", "safety/slowdown_zone")


class SafetyNode(ManagedNode):
    """The thin ROS wrapper around core.safety_step.SafetyStep, a managed node (ros/lifecycle.py).

    Deactivated (or destroyed while active) it sends zero velocity on cmd_vel and waits for the
    base's acknowledgement; inactive, it forwards nothing. The e-stop is heard in every configured
    state, and an e-stop engaged stays engaged through deactivate, cleanup and configure.
    """

    def __init__(self, **node_kwargs: Any) -> None:  # Any: rclpy Node's keyword arguments (context, cli_args...)
        super().__init__(NODE_NAME, **node_kwargs)
        self._params = self.declare_config([SafetyConfig, SafetyNodeConfig], self._on_config)
        self.start(self._params.get(SafetyNodeConfig).autostart)

    def configure(self) -> None:
        """The step, the command topics, the inputs and the timers."""
        self.config: SafetyConfig = self._params.get(SafetyConfig)
        cfg = self.node_config = self._params.get(SafetyNodeConfig)
        old: SafetyStep | None = getattr(self, "step", None)  # kept by cleanup, with its e-stop
        kept = old is not None and old.gate.e_stop
        self.step = SafetyStep(self.config, e_stop=cfg.e_stop_at_start or kept)
        self.step.depth.warm_up()  # a compile on the first frame would make it look a second old
        self.ages = InputAges()
        self._warnings = ThrottledWarnings(self.get_logger())
        self._topics = {key: self.resolve_topic_name(name) for key, name in TOPICS.items()} | {CLOCK: "/clock"}
        self._tf = TfReader(self)
        self._cmd_out = CommandPublisher(self, CMD_OUT_TOPIC, cfg.use_stamped_cmd_vel)
        self._cmd_in = CommandSubscription(self, CMD_IN_TOPIC, self._on_cmd, cfg.use_stamped_cmd_vel)
        self._state = LatchedText(self, STATE_TOPIC, self.step.state)  # published at activate
        self._zones = LatchedPolygons(self, ZONE_TOPICS)
        self._diagnostics = DiagnosticsReporter(self, "safety")
        self._depth = DepthFrames(self, DEPTH_TOPIC, cfg.depth_transport, self._tf, self._on_depth, self._on_bad_depth)
        self._topics[DEPTH] = self._depth.topic  # <depth>/compressedDepth with that transport
        self.create_subscription(CameraInfo, INFO_TOPIC, self._on_info, SENSOR_QOS)
        self._e_stop = EStopInput(self, E_STOP_TOPIC, self._on_e_stop)  # heard while inactive too
        self._watchdog = PeriodicTimer(self, 1.0 / cfg.watchdog_rate_hz, self._on_watchdog)
        self._diag_timer = PeriodicTimer(self, cfg.diagnostics_period_s, self._publish_diagnostics)
        if self.step.gate.e_stop:
            self._e_stop.engaged_at_start(
                "e_stop_at_start" if cfg.e_stop_at_start else "engaged before the node was cleaned up"
            )
        self.get_logger().info(
            f"safety layer between {self._topics[CMD]} and {self._topics['cmd_out']}; "
            f"e-stop on {self._e_stop.topic}; depth {'checked' if self.config.use_depth else 'NOT checked'}"
        )

    def activate(self) -> None:
        """Publish the zones and the state; with the e-stop engaged, a zero at once.

        After a crash the base may still be running the last command it got.
        """
        self._publish_zones()
        self._state.republish()
        if self.step.gate.e_stop:
            self._apply(self.step.stop("e_stop"))

    def deactivate(self) -> None:
        """Zero velocity on cmd_vel, acknowledged by the base (bounded wait)."""
        send_final_zero(self, self._cmd_pub, lambda: self._apply(self.step.stop("inactive")))

    def cleanup(self) -> None:
        """Drop the TF listener with the subscriptions (the step's e-stop is kept for the next configure)."""
        self._tf.close()

    @property
    def _cmd_pub(self) -> Publisher[Twist | TwistStamped]:
        """The cmd_vel publisher of the message type in use."""
        return self._cmd_out.publisher

    # ------------------------------------------------------------------ configuration
    def _on_config(self, cls: type[Any], config: Any) -> None:  # Any: ros/params.ConfigCallback, one class per call
        if cls is SafetyConfig:
            self.config = config
            self.step.reconfigure(config)
            self._publish_zones()
            return
        old: SafetyNodeConfig = self.node_config
        self.node_config = config
        if old.use_stamped_cmd_vel != config.use_stamped_cmd_vel:
            self._apply(self.step.stop("switching_message_type"))
            self._cmd_out.switch(config.use_stamped_cmd_vel)
            self._cmd_in.switch(config.use_stamped_cmd_vel)
        self._watchdog.set_period(1.0 / config.watchdog_rate_hz)
        self._diag_timer.set_period(config.diagnostics_period_s)
        if old.base_frame != config.base_frame:
            self._publish_zones()
        if old.depth_transport != config.depth_transport:
            self._depth.switch(config.depth_transport)
            self._topics[DEPTH] = self._depth.topic
            self._apply(self.step.lose_depth())  # nothing from the old topic counts any more

    def _warn(self, topic: str, problem: str) -> None:
        """Warn naming the topic, throttled per kind of problem (ros/warn.py)."""
        self._warnings.warn(topic, problem, self.node_config.warn_throttle_s)

    def _now_ns(self) -> int:
        return int(self.get_clock().now().nanoseconds)

    # ------------------------------------------------------------------ inputs
    def _on_cmd(self, msg: Twist | TwistStamped) -> None:
        now = self._now_ns()
        linear_mps, angular_rps, stamp_ns = twist_velocity(msg)
        if stamp_ns is not None:
            self.ages.record("cmd_vel_nav", now, stamp_ns)
        self._apply(self.step.on_cmd(linear_mps, angular_rps, stamp_ns, now))

    def _on_info(self, msg: CameraInfo) -> None:
        try:
            intrinsics = camera_info_to_intrinsics(msg)
        except CameraInfoError as err:
            self._apply(self.step.lose_camera(f"unusable camera_info: {err}; stopping"))
            return
        self.step.on_camera(intrinsics, camera_info_distortion(msg), self._now_ns())

    def _on_bad_depth(self, topic: str, problem: str) -> None:
        """A depth payload that does not decode: no depth, so the robot stops."""
        if self.config.use_depth:
            self._warn(topic, f"{problem}; stopping")
            self._apply(self.step.lose_depth())

    def _on_depth(self, msg: Image) -> None:
        if not self.config.use_depth:
            return
        now, stamp_ns = self._now_ns(), stamp_to_ns(msg.header.stamp)
        self.ages.record("depth", now, stamp_ns)
        if (no_camera := self.step.check_camera(now)) is not None:
            self._apply(no_camera)
            return
        cfg = self.node_config
        found = self._depth.place(msg, stamp_ns, now, cfg.base_frame, cfg.camera_mount_source, self.config.mount)
        if found.mount is None:  # not depth, or where the camera is, is unknown: nothing it sees can be placed
            self._apply(self.step.lose_depth(DEPTH, found.problem and f"{found.problem}; stopping"))
            return
        if found.problem:
            self._warn(self._topics[DEPTH], found.problem)
        try:
            reaction = self.step.on_depth(
                lambda k, lens: self._depth.image(msg, k, lens, cfg.rectify_distorted), found.mount, stamp_ns, now
            )
        except DistortedImageError as err:
            reaction = self.step.lose_depth(INFO, f"{err}; stopping")
        self._apply(reaction)

    def _on_e_stop(self, msg: Bool) -> None:
        changed, reaction = self.step.on_e_stop(bool(msg.data), self._now_ns())
        if changed:
            self._e_stop.changed(bool(msg.data))
        self._apply(reaction)

    def _on_watchdog(self) -> None:
        self._apply(self.step.on_watchdog(self._now_ns()))

    # ------------------------------------------------------------------ outputs
    def _apply(self, reaction: Reaction) -> None:
        """Warn, publish the step's state when it changed, then send the command, as the step said."""
        if reaction.problem:
            self._warn(", ".join(self._topics[name] for name in reaction.about), reaction.problem)
        self._state.show(self.step.state)
        if reaction.send is not None:
            send = reaction.send
            self._cmd_out.send(send.linear_mps, send.angular_rps, self.node_config.base_frame, reaction.stamp_ns)

    def _publish_zones(self) -> None:
        self._zones.publish((self.config.stop_polygon, self.config.slowdown_polygon), self.node_config.base_frame)

    def _publish_diagnostics(self) -> None:
        last_problem, state = self._warnings.take_last_problem(), self.step.state
        status = self._diagnostics.status()
        behind = behind_message(self.ages, self.node_config.max_input_age_s)
        if self.step.gate.e_stop:
            status.level, status.message = DiagnosticStatus.ERROR, "e-stop engaged"
        elif last_problem or state.startswith(("stale", "stop")) or behind:
            status.level, status.message = DiagnosticStatus.WARN, last_problem or behind or state
        else:
            status.level, status.message = DiagnosticStatus.OK, state
        values = {**self.step.values(self._depth.mount_source or "none yet"), **dict(self.ages.key_values())}
        self._diagnostics.publish(status, values)


def main(args: list[str] | None = None) -> int:
    """Run safety_node until shutdown; a bad parameter ends it with a one-line error (exit 1)."""
    return run_node(SafetyNode, NODE_NAME, args)


if __name__ == "__main__":
    raise SystemExit(main())
