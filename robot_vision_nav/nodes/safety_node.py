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
from geometry_msgs.msg import Point32, PolygonStamped, Twist, TwistStamped
from numpy.typing import NDArray
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Bool, String

from robot_vision_nav.core.geometry import PinholeIntrinsics
from robot_vision_nav.core.rectify import Distortion
from robot_vision_nav.core.safety import SafetyConfig, SafetyError, check_depth_size
from robot_vision_nav.core.safety_step import CLOCK, CMD, DEPTH, INFO, Reaction, SafetyStep
from robot_vision_nav.nodes.safety_params import SafetyNodeConfig
from robot_vision_nav.ros.depth_set import DEPTH_ENCODINGS
from robot_vision_nav.ros.diagnostics import DiagnosticsReporter
from robot_vision_nav.ros.entry import run_node
from robot_vision_nav.ros.image import ImageConversionError, image_to_numpy
from robot_vision_nav.ros.latency import InputAges, behind_message
from robot_vision_nav.ros.lens import DistortedImageError, LensCorrection
from robot_vision_nav.ros.lifecycle import ManagedNode
from robot_vision_nav.ros.messages import (
    CameraInfoError,
    camera_info_distortion,
    camera_info_to_intrinsics,
    ns_to_stamp,
    stamp_to_ns,
    twist_message,
    twist_velocity,
)
from robot_vision_nav.ros.qos import COMMAND_QOS, E_STOP_QOS, LATCHED_QOS, SENSOR_QOS
from robot_vision_nav.ros.shutdown import send_final_zero
from robot_vision_nav.ros.tf import CameraMountSource, TfReader
from robot_vision_nav.ros.transport import ImageInput
from robot_vision_nav.ros.warn import ThrottledWarnings

NODE_NAME = "safety_node"
CMD_IN_TOPIC = "cmd_vel_nav"
CMD_OUT_TOPIC = "cmd_vel"
DEPTH_TOPIC = "camera/aligned_depth_to_color/image_raw"
INFO_TOPIC = "camera/color/camera_info"
E_STOP_TOPIC = "e_stop"
STATE_TOPIC = "safety_state"
TOPICS = {CMD: CMD_IN_TOPIC, "cmd_out": CMD_OUT_TOPIC, DEPTH: DEPTH_TOPIC, INFO: INFO_TOPIC, "e_stop": E_STOP_TOPIC}
ZONES = ("stop", "slowdown")  # published on safety/<zone>_zone


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
        self._shown_state = self.step.state  # published at activate
        self.ages = InputAges()
        self._lens = LensCorrection()
        self._warnings = ThrottledWarnings(self.get_logger())
        self._topics = {key: self.resolve_topic_name(name) for key, name in TOPICS.items()} | {CLOCK: "/clock"}
        self._tf = TfReader(self)
        self._mounts = CameraMountSource(self._tf, self.get_logger().info, self.get_logger().warning)
        self._mount_source = ""
        # Any: Twist or TwistStamped, chosen by use_stamped_cmd_vel; both made by _make_cmd_topics below.
        self._cmd_pub: Any = None
        self._cmd_sub: Any = None
        self._make_cmd_topics()
        self._state_pub = self.create_publisher(String, STATE_TOPIC, LATCHED_QOS)
        self._zone_pubs = {n: self.create_publisher(PolygonStamped, f"safety/{n}_zone", LATCHED_QOS) for n in ZONES}
        self._diagnostics = DiagnosticsReporter(self, "safety")
        self._depth_in = ImageInput(
            self, DEPTH_TOPIC, cfg.depth_transport, self._on_depth, self._on_bad_depth, SENSOR_QOS
        )
        self._topics[DEPTH] = self._depth_in.topic  # <depth>/compressedDepth with that transport
        self.create_subscription(CameraInfo, INFO_TOPIC, self._on_info, SENSOR_QOS)
        with self.ungated():  # an e-stop said while inactive still holds once active
            self.create_subscription(Bool, E_STOP_TOPIC, self._on_e_stop, E_STOP_QOS)
        self._watchdog = self.create_timer(1.0 / cfg.watchdog_rate_hz, self._on_watchdog)
        self._diag_timer = self.create_timer(cfg.diagnostics_period_s, self._publish_diagnostics)
        if self.step.gate.e_stop:
            why = "e_stop_at_start" if cfg.e_stop_at_start else "engaged before the node was cleaned up"
            self.get_logger().warning(
                f"e-stop engaged at start ({why}): publish false on {self._topics['e_stop']} to release"
            )
        self.get_logger().info(
            f"safety layer between {self._topics[CMD]} and {self._topics['cmd_out']}; "
            f"e-stop on {self._topics['e_stop']}; depth {'checked' if self.config.use_depth else 'NOT checked'}"
        )

    def activate(self) -> None:
        """Publish the zones and the state; with the e-stop engaged, a zero at once.

        After a crash the base may still be running the last command it got.
        """
        self._publish_zones()
        self._state_pub.publish(String(data=self._shown_state))
        if self.step.gate.e_stop:
            self._apply(self.step.stop("e_stop"))

    def deactivate(self) -> None:
        """Zero velocity on cmd_vel, acknowledged by the base (bounded wait)."""
        send_final_zero(self, self._cmd_pub, lambda: self._apply(self.step.stop("inactive")))

    def cleanup(self) -> None:
        """Drop the TF listener with the subscriptions (the step's e-stop is kept for the next configure)."""
        self._tf.close()

    # ------------------------------------------------------------------ configuration
    def _make_cmd_topics(self) -> None:
        msg_type = TwistStamped if self.node_config.use_stamped_cmd_vel else Twist
        if self._cmd_pub is not None:
            self.destroy_publisher(self._cmd_pub)
            self.destroy_subscription(self._cmd_sub)
        self._cmd_pub = self.create_publisher(msg_type, CMD_OUT_TOPIC, COMMAND_QOS)
        self._cmd_sub = self.create_subscription(msg_type, CMD_IN_TOPIC, self._on_cmd, COMMAND_QOS)

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
            self._make_cmd_topics()
        if old.watchdog_rate_hz != config.watchdog_rate_hz:
            self._watchdog.cancel()
            self._watchdog = self.create_timer(1.0 / config.watchdog_rate_hz, self._on_watchdog)
        if old.diagnostics_period_s != config.diagnostics_period_s:
            self._diag_timer.cancel()
            self._diag_timer = self.create_timer(config.diagnostics_period_s, self._publish_diagnostics)
        if old.base_frame != config.base_frame:
            self._publish_zones()
        if old.depth_transport != config.depth_transport:
            self._depth_in.switch(config.depth_transport)
            self._topics[DEPTH] = self._depth_in.topic
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
        if msg.encoding not in DEPTH_ENCODINGS:
            problem = f"encoding '{msg.encoding}' is not one of {', '.join(DEPTH_ENCODINGS)}; stopping"
            self._apply(self.step.lose_depth(DEPTH, problem))
            return
        cfg = self.node_config
        found = self._mounts.mount(
            cfg.base_frame, msg.header.frame_id, cfg.camera_mount_source, self.config.mount, stamp_ns, now
        )
        if found.mount is None:  # where the camera is, is unknown: nothing it sees can be placed
            self._apply(self.step.lose_depth(DEPTH, found.problem and f"{found.problem}; stopping"))
            return
        if found.problem:
            self._warn(self._topics[DEPTH], found.problem)
        self._mount_source = found.source
        try:
            reaction = self.step.on_depth(lambda k, lens: self._depth_image(msg, k, lens), found.mount, stamp_ns, now)
        except DistortedImageError as err:
            reaction = self.step.lose_depth(INFO, f"{err}; stopping")
        self._apply(reaction)

    def _depth_image(  # Any: uint16 (mm) or float32 (m), as the encoding says
        self, msg: Image, intrinsics: PinholeIntrinsics, distortion: Distortion | None
    ) -> NDArray[Any]:
        """The depth image as the pinhole camera `intrinsics` sees it (undistorted or refused: ros/lens.py)."""
        try:
            depth = image_to_numpy(msg)
        except ImageConversionError as err:
            raise SafetyError(str(err)) from err
        if distortion is None or distortion.is_zero:
            return depth
        check_depth_size(depth, intrinsics)  # before undistortion sizes its maps from camera_info
        return self._lens.correct(distortion, intrinsics, depth, None, self.node_config.rectify_distorted)[0]

    def _on_e_stop(self, msg: Bool) -> None:
        engaged = bool(msg.data)
        changed, reaction = self.step.on_e_stop(engaged, self._now_ns())
        if changed:  # rclpy refuses two severities from one call site: one call each
            if engaged:
                self.get_logger().error("e-stop ENGAGED: zero velocity until released")
            else:
                self.get_logger().warning("e-stop released")
        self._apply(reaction)

    def _on_watchdog(self) -> None:
        self._apply(self.step.on_watchdog(self._now_ns()))

    # ------------------------------------------------------------------ outputs
    def _apply(self, reaction: Reaction) -> None:
        """Warn, publish the step's state when it changed, then send the command, as the step said."""
        if reaction.problem:
            self._warn(", ".join(self._topics[name] for name in reaction.about), reaction.problem)
        if self.step.state != self._shown_state:
            self._shown_state = self.step.state
            self._state_pub.publish(String(data=self.step.state))
        if reaction.send is not None:
            frame = self.node_config.base_frame if self._cmd_pub.msg_type is TwistStamped else None
            at = self.get_clock().now().to_msg() if reaction.stamp_ns is None else ns_to_stamp(reaction.stamp_ns)
            self._cmd_pub.publish(twist_message(reaction.send.linear_mps, reaction.send.angular_rps, frame, at))

    def _publish_zones(self) -> None:
        for name, poly in zip(ZONES, (self.config.stop_polygon, self.config.slowdown_polygon), strict=True):
            msg = PolygonStamped()
            msg.header.frame_id = self.node_config.base_frame
            msg.header.stamp = self.get_clock().now().to_msg()
            msg.polygon.points = [Point32(x=float(x), y=float(y), z=0.0) for x, y in poly]
            self._zone_pubs[name].publish(msg)

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
        values = {**self.step.values(self._mount_source or "none yet"), **dict(self.ages.key_values())}
        self._diagnostics.publish(status, values)


def main(args: list[str] | None = None) -> int:
    """Run safety_node until shutdown; a bad parameter ends it with a one-line error (exit 1)."""
    return run_node(SafetyNode, NODE_NAME, args)


if __name__ == "__main__":
    raise SystemExit(main())
