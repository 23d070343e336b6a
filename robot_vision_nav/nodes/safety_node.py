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
Each command from the controller is passed through `core.safety.SafetyGate` with the verdict of the
newest depth frame (`core.safety.DepthSafety`): zero when obstacle points are inside the stop
polygon, scaled in the slow-down polygon. A watchdog on the node clock publishes zero velocity when
the command, the depth or the camera model goes stale while the robot was told to move, the e-stop
publishes zero at once, and destroying the node publishes a last zero and waits (bounded) for the
base to acknowledge it. Bad input (a depth payload that does not decode, a camera_info with lens
distortion unless `rectify_distorted` undistorts it: ros/lens.py) gets a throttled warning naming
the topic and counts as no depth: the robot stops. This node adds no algorithm.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from diagnostic_msgs.msg import DiagnosticStatus
from geometry_msgs.msg import Point32, PolygonStamped, Twist, TwistStamped
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Bool, String

from robot_vision_nav.core.clock import StampOrder
from robot_vision_nav.core.config import param
from robot_vision_nav.core.geometry import PinholeIntrinsics
from robot_vision_nav.core.rectify import Distortion
from robot_vision_nav.core.safety import Action, DepthSafety, GateOutput, SafetyConfig, SafetyError, SafetyGate
from robot_vision_nav.core.units import NS_PER_S
from robot_vision_nav.ros.diagnostics import DiagnosticsReporter
from robot_vision_nav.ros.entry import run_node
from robot_vision_nav.ros.image import ImageConversionError, image_to_numpy
from robot_vision_nav.ros.latency import InputAges, behind_message, diagnostics_period_param, max_input_age_param
from robot_vision_nav.ros.lens import DistortedImageError, LensCorrection, rectify_distorted_param
from robot_vision_nav.ros.lifecycle import ManagedNode, autostart_param
from robot_vision_nav.ros.messages import (
    CameraInfoError,
    camera_info_distortion,
    camera_info_to_intrinsics,
    ns_to_stamp,
    stamp_to_ns,
)
from robot_vision_nav.ros.qos import COMMAND_QOS, E_STOP_QOS, LATCHED_QOS, SENSOR_QOS
from robot_vision_nav.ros.shutdown import send_final_zero
from robot_vision_nav.ros.tf import CameraMountSource, TfReader, camera_mount_source_param, check_mount_source
from robot_vision_nav.ros.transport import DEPTH_TRANSPORTS, ImageInput, check_transport, depth_transport_param
from robot_vision_nav.ros.warn import ThrottledWarnings, warn_throttle_param

NODE_NAME = "safety_node"
CMD_IN_TOPIC = "cmd_vel_nav"
CMD_OUT_TOPIC = "cmd_vel"
DEPTH_TOPIC = "camera/aligned_depth_to_color/image_raw"
INFO_TOPIC = "camera/color/camera_info"
E_STOP_TOPIC = "e_stop"
STATE_TOPIC = "safety_state"
DEPTH_ENCODINGS = ("16UC1", "mono16", "32FC1")


@dataclass(frozen=True)
class SafetyNodeConfig:
    """The node's own parameters (the layer's are in SafetyConfig)."""

    use_stamped_cmd_vel: bool = param(
        True, "cmd_vel_nav in and cmd_vel out are geometry_msgs/TwistStamped (as the controller's); false: Twist"
    )
    base_frame: str = param("base_link", "frame of the polygons and of TwistStamped output")
    camera_mount_source: str = camera_mount_source_param()
    depth_transport: str = depth_transport_param()
    rectify_distorted: bool = rectify_distorted_param()
    watchdog_rate_hz: float = param(
        20.0, "how often input ages are checked (node clock)", unit="Hz", min_value=1.0, max_value=200.0
    )
    max_input_age_s: float = max_input_age_param()
    diagnostics_period_s: float = diagnostics_period_param()
    warn_throttle_s: float = warn_throttle_param()
    e_stop_at_start: bool = param(
        False,
        "start with the e-stop engaged: nothing moves until a false on e_stop (read at start only). For a node "
        "respawned on a real robot: a restart forgets an e-stop said before it, so a crash while the e-stop is "
        "down must not let go",
    )
    autostart: bool = autostart_param()

    def __post_init__(self) -> None:
        check_mount_source(self.camera_mount_source)
        check_transport("depth_transport", self.depth_transport, DEPTH_TRANSPORTS)


class SafetyNode(ManagedNode):
    """The thin ROS wrapper around SafetyGate and DepthSafety, a managed node (ros/lifecycle.py).

    Deactivated (or destroyed while active) it sends zero velocity on cmd_vel and waits for the
    base's acknowledgement; inactive, it forwards nothing. The e-stop is heard in every configured
    state, and an e-stop engaged stays engaged through deactivate, cleanup and configure.
    """

    def __init__(self, **node_kwargs: Any) -> None:
        super().__init__(NODE_NAME, **node_kwargs)
        self._params = self.declare_config([SafetyConfig, SafetyNodeConfig], self._on_config)
        self.start(self._params.get(SafetyNodeConfig).autostart)

    def configure(self) -> None:
        """The gate, the depth check, the command topics, the inputs and the timers."""
        self.config: SafetyConfig = self._params.get(SafetyConfig)
        self.node_config: SafetyNodeConfig = self._params.get(SafetyNodeConfig)
        old_gate: SafetyGate | None = getattr(self, "gate", None)  # kept by cleanup
        e_stop = self.node_config.e_stop_at_start or (old_gate is not None and old_gate.e_stop)
        self.gate = SafetyGate(self.config)
        self.depth = DepthSafety(self.config)
        self.depth.warm_up()  # a compile on the first frame would make it look a second old
        self.ages = InputAges()
        self._intrinsics: PinholeIntrinsics | None = None
        self._distortion: Distortion | None = None  # the lens the camera_info declares
        self._lens = LensCorrection()
        self._info_ns: int | None = None
        self._moving = False  # the last command sent to the base was not zero
        self._state = ""
        self._counts = {"commands": 0, "zeroed": 0, "slowed": 0, "e_stops": 0, "out_of_order": 0}
        # A depth frame reordered in transport would put an older verdict (free) over a newer one (stop).
        # A clock that restarted must be followed; a stale frame the gate's age check turns into a stop.
        self._depth_order = StampOrder(NS_PER_S, confirm=3, confirm_jump=1)
        self._judge_ms = 0.0
        self._warnings = ThrottledWarnings(self.get_logger())
        self._topics = {
            n: self.resolve_topic_name(n) for n in (CMD_IN_TOPIC, CMD_OUT_TOPIC, DEPTH_TOPIC, INFO_TOPIC, E_STOP_TOPIC)
        }
        self._tf = TfReader(self)
        self._mounts = CameraMountSource(self._tf, self.get_logger().info, self.get_logger().warning)
        self._mount_source = ""
        self._cmd_type: type[Twist] | type[TwistStamped] = Twist
        self._cmd_pub: Any = None
        self._cmd_sub: Any = None
        self._make_cmd_topics()
        self._state_pub = self.create_publisher(String, STATE_TOPIC, LATCHED_QOS)
        self._zone_pubs = {
            name: self.create_publisher(PolygonStamped, f"safety/{name}_zone", LATCHED_QOS)
            for name in ("stop", "slowdown")
        }
        self._diagnostics = DiagnosticsReporter(self, "safety")
        self._depth_in = ImageInput(
            self, DEPTH_TOPIC, self.node_config.depth_transport, self._on_depth, self._on_bad_depth, SENSOR_QOS
        )
        self._topics[DEPTH_TOPIC] = self._depth_in.topic  # <depth>/compressedDepth with that transport
        self.create_subscription(CameraInfo, INFO_TOPIC, self._on_info, SENSOR_QOS)
        with self.ungated():  # an e-stop said while inactive still holds once active
            self.create_subscription(Bool, E_STOP_TOPIC, self._on_e_stop, E_STOP_QOS)
        self._watchdog = self.create_timer(1.0 / self.node_config.watchdog_rate_hz, self._on_watchdog)
        self._diag_timer = self.create_timer(self.node_config.diagnostics_period_s, self._publish_diagnostics)
        if e_stop:
            self.gate.set_e_stop(True)
            self._counts["e_stops"] += 1
            self._state = "e_stop"
            why = "e_stop_at_start" if self.node_config.e_stop_at_start else "engaged before the node was cleaned up"
            self.get_logger().warning(
                f"e-stop engaged at start ({why}): publish false on {self._topics[E_STOP_TOPIC]} to release"
            )
        else:
            self._state = "stale: cmd_vel, depth" if self.config.use_depth else "stale: cmd_vel"
        self.get_logger().info(
            f"safety layer between {self._topics[CMD_IN_TOPIC]} and {self._topics[CMD_OUT_TOPIC]}; "
            f"e-stop on {self._topics[E_STOP_TOPIC]}; depth {'checked' if self.config.use_depth else 'NOT checked'}"
        )

    def activate(self) -> None:
        """Publish the zones and the state; with the e-stop engaged, a zero at once.

        After a crash the base may still be running the last command it got.
        """
        self._publish_zones()
        self._state_pub.publish(String(data=self._state))
        if self.gate.e_stop:
            self._send(GateOutput(0.0, 0.0, "e_stop"), None)

    def deactivate(self) -> None:
        """Zero velocity on cmd_vel, acknowledged by the base (bounded wait)."""
        send_final_zero(self, self._cmd_pub, lambda: self._send(GateOutput(0.0, 0.0, "inactive"), None))

    def cleanup(self) -> None:
        """Drop the TF listener with the subscriptions (the gate's e-stop is kept for the next configure)."""
        self._tf.close()

    # ------------------------------------------------------------------ configuration
    def _make_cmd_topics(self) -> None:
        msg_type = TwistStamped if self.node_config.use_stamped_cmd_vel else Twist
        if self._cmd_pub is not None:
            self.destroy_publisher(self._cmd_pub)
            self.destroy_subscription(self._cmd_sub)
        self._cmd_type = msg_type
        self._cmd_pub = self.create_publisher(msg_type, CMD_OUT_TOPIC, COMMAND_QOS)
        self._cmd_sub = self.create_subscription(msg_type, CMD_IN_TOPIC, self._on_cmd, COMMAND_QOS)

    def _on_config(self, cls: type[Any], config: Any) -> None:
        if cls is SafetyConfig:
            self.config = config
            self.gate.reconfigure(config)
            self.depth.reconfigure(config)
            self.gate.forget_depth()  # a new mount or zone: judge the next frame afresh, stopped until then
            self._publish_zones()
            return
        old: SafetyNodeConfig = self.node_config
        self.node_config = config
        if old.use_stamped_cmd_vel != config.use_stamped_cmd_vel:
            self._send(GateOutput(0.0, 0.0, "switching_message_type"), None)
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
            self._topics[DEPTH_TOPIC] = self._depth_in.topic
            self._lose_depth()  # nothing from the old topic counts any more

    def _warn(self, topic: str, problem: str) -> None:
        """Warn naming the topic, throttled per kind of problem (ros/warn.py)."""
        self._warnings.warn(topic, problem, self.node_config.warn_throttle_s)

    def _now_ns(self) -> int:
        return int(self.get_clock().now().nanoseconds)

    # ------------------------------------------------------------------ inputs
    def _on_cmd(self, msg: Twist | TwistStamped) -> None:
        now = self._now_ns()
        twist = msg.twist if isinstance(msg, TwistStamped) else msg
        stamp_ns = stamp_to_ns(msg.header.stamp) if isinstance(msg, TwistStamped) else None
        if stamp_ns is not None:
            self.ages.record("cmd_vel_nav", now, stamp_ns)
        self._counts["commands"] += 1
        self.gate.on_command(now)
        out = self.gate.filter(float(twist.linear.x), float(twist.angular.z), now)
        if out.state.startswith("stop: non-finite"):
            self._warn(self._topics[CMD_IN_TOPIC], "non-finite command; zero velocity sent")
        if out.is_zero and (twist.linear.x != 0.0 or twist.angular.z != 0.0):
            self._counts["zeroed"] += 1
        elif out.state == "slowdown":
            self._counts["slowed"] += 1
        self._send(out, stamp_ns)

    def _on_info(self, msg: CameraInfo) -> None:
        try:
            self._intrinsics = camera_info_to_intrinsics(msg)
        except CameraInfoError as err:
            self._warn(self._topics[INFO_TOPIC], f"unusable camera_info: {err}; stopping")
            self._intrinsics = None
            self._lose_depth()
            return
        self._distortion = camera_info_distortion(msg)
        self._info_ns = self._now_ns()

    def _on_bad_depth(self, topic: str, problem: str) -> None:
        """A depth payload that does not decode: no depth, so the robot stops."""
        if not self.config.use_depth:
            return
        self._warn(topic, f"{problem}; stopping")
        self._lose_depth()

    def _on_depth(self, msg: Image) -> None:
        if not self.config.use_depth:
            return
        topic = self._topics[DEPTH_TOPIC]
        now = self._now_ns()
        stamp_ns = stamp_to_ns(msg.header.stamp)
        self.ages.record("depth", now, stamp_ns)
        if self._intrinsics is None or self._info_ns is None:
            self._warn(self._topics[INFO_TOPIC], "no usable camera_info yet: depth cannot be judged; stopping")
            self._lose_depth()
            return
        if now - self._info_ns > self.config.depth_timeout_s * NS_PER_S:
            self._warn(self._topics[INFO_TOPIC], "camera_info is stale; depth cannot be judged; stopping")
            self._lose_depth()
            return
        if msg.encoding not in DEPTH_ENCODINGS:
            self._warn(topic, f"encoding '{msg.encoding}' is not one of {', '.join(DEPTH_ENCODINGS)}; stopping")
            self._lose_depth()
            return
        cfg = self.node_config
        found = self._mounts.mount(
            cfg.base_frame, msg.header.frame_id, cfg.camera_mount_source, self.config.mount, stamp_ns, now
        )
        if found.problem:
            self._warn(topic, found.problem + ("; stopping" if found.mount is None else ""))
        if found.mount is None:
            self._lose_depth()  # where the camera is, is unknown: nothing it sees can be placed
            return
        self._mount_source = found.source
        started = time.perf_counter()
        try:
            depth = image_to_numpy(msg)
            if self._distortion is not None and not self._distortion.is_zero:
                if depth.shape != (self._intrinsics.height, self._intrinsics.width):
                    raise SafetyError(
                        f"depth image is {depth.shape[1]}x{depth.shape[0]}, camera_info says "
                        f"{self._intrinsics.width}x{self._intrinsics.height}"
                    )
                depth, _ = self._lens.correct(
                    self._distortion, self._intrinsics, depth, None, self.node_config.rectify_distorted
                )
            # sizes are checked before any allocation
            verdict = self.depth.judge(depth, self._intrinsics, found.mount)
        except DistortedImageError as err:
            self._warn(self._topics[INFO_TOPIC], f"{err}; stopping")
            self._lose_depth()
            return
        except (ImageConversionError, SafetyError) as err:
            self._warn(topic, f"unusable depth: {err}; stopping")
            self._lose_depth()
            return
        self._judge_ms = (time.perf_counter() - started) * 1e3
        judged = self._depth_order.newest_ns
        if self._depth_order.reordered(stamp_ns):  # after judging: a bad frame stops, in any order
            self._counts["out_of_order"] += 1
            self._warn(topic, f"stamps out of order: {stamp_ns} ns is older than the judged {judged} ns; ignored")
            return
        self.gate.on_verdict(verdict, received_ns=now, stamp_ns=stamp_ns)
        self._depth_order.take(stamp_ns)
        if verdict.blind:
            self._warn(
                topic, f"depth blind: {verdict.valid_fraction:.0%} of the pixels hold a depth in range; stopping"
            )
        if self._moving and verdict.action == Action.STOP and not self.gate.e_stop:
            # Now, not at the controller's next command: it may be late, or never come.
            self._send(GateOutput(0.0, 0.0, "stop: depth blind" if verdict.blind else "stop"), None)

    def _lose_depth(self) -> None:
        self.gate.forget_depth()
        if self._moving:
            self._send(GateOutput(0.0, 0.0, "stale: depth"), None)

    def _on_e_stop(self, msg: Bool) -> None:
        engaged = bool(msg.data)
        if self.gate.set_e_stop(engaged):
            self._counts["e_stops"] += int(engaged)
            # rclpy refuses two severities from one call site: one call each.
            if engaged:
                self.get_logger().error("e-stop ENGAGED: zero velocity until released")
            else:
                self.get_logger().warning("e-stop released")
        if engaged:
            self._send(GateOutput(0.0, 0.0, "e_stop"), None)  # at once, and again on every e_stop message
        else:
            self._set_state(self._idle_state())

    def _on_watchdog(self) -> None:
        now = self._now_ns()
        stale = self.gate.stale(now)
        if self.gate.e_stop or not stale:
            return
        if self._moving:
            topics = {"cmd_vel": self._topics[CMD_IN_TOPIC], "depth": self._topics[DEPTH_TOPIC], "clock": "/clock"}
            names = ", ".join(topics[n] for n in stale)
            self._warn(names, "stale input: older than its timeout; zero velocity")
            self._send(GateOutput(0.0, 0.0, f"stale: {', '.join(stale)}"), None)
        else:
            self._set_state(f"stale: {', '.join(stale)}")

    def _idle_state(self) -> str:
        stale = self.gate.stale(self._now_ns())
        if stale:
            return f"stale: {', '.join(stale)}"
        return self.gate.verdict.name if self.gate.verdict is not None else "free"

    # ------------------------------------------------------------------ outputs
    def _send(self, out: GateOutput, stamp_ns: int | None) -> None:
        self._moving = not out.is_zero
        self._set_state(out.state)
        twist = Twist()
        twist.linear.x, twist.angular.z = out.linear_mps, out.angular_rps
        if self._cmd_type is Twist:
            self._cmd_pub.publish(twist)
            return
        stamped = TwistStamped()
        stamped.header.frame_id = self.node_config.base_frame
        stamped.header.stamp = self.get_clock().now().to_msg() if stamp_ns is None else ns_to_stamp(stamp_ns)
        stamped.twist = twist
        self._cmd_pub.publish(stamped)

    def _set_state(self, state: str) -> None:
        if state != self._state:
            self._state = state
            self._state_pub.publish(String(data=state))

    def _publish_zones(self) -> None:
        for name, poly in (("stop", self.config.stop_polygon), ("slowdown", self.config.slowdown_polygon)):
            msg = PolygonStamped()
            msg.header.frame_id = self.node_config.base_frame
            msg.header.stamp = self.get_clock().now().to_msg()
            msg.polygon.points = [Point32(x=float(x), y=float(y), z=0.0) for x, y in poly]
            self._zone_pubs[name].publish(msg)

    def _publish_diagnostics(self) -> None:
        last_problem = self._warnings.take_last_problem()
        status = self._diagnostics.status()
        behind = behind_message(self.ages, self.node_config.max_input_age_s)
        verdict = self.gate.verdict
        if self.gate.e_stop:
            status.level, status.message = DiagnosticStatus.ERROR, "e-stop engaged"
        elif last_problem or self._state.startswith(("stale", "stop")) or behind:
            status.level = DiagnosticStatus.WARN
            status.message = last_problem or behind or self._state
        else:
            status.level, status.message = DiagnosticStatus.OK, self._state
        values = {
            "state": self._state,
            "e_stop": str(self.gate.e_stop),
            "zone": verdict.name if verdict is not None else "unknown",
            "stop_points": str(verdict.stop_points if verdict else 0),
            "slowdown_points": str(verdict.slowdown_points if verdict else 0),
            "nearest_m": f"{verdict.nearest_m:.3f}" if verdict and math.isfinite(verdict.nearest_m) else "none",
            "valid_depth_fraction": f"{verdict.valid_fraction:.3f}" if verdict else "none",
            "judge_ms_last": f"{self._judge_ms:.3f}",
            "camera_mount_from": self._mount_source or "none yet",
            **{k: str(v) for k, v in self._counts.items()},
            **dict(self.ages.key_values()),
        }
        self._diagnostics.publish(status, values)


def main(args: list[str] | None = None) -> int:
    """Run safety_node until shutdown; a bad parameter ends it with a one-line error (exit 1)."""
    return run_node(SafetyNode, NODE_NAME, args)


if __name__ == "__main__":
    raise SystemExit(main())
