"""sim_node: the built-in MuJoCo warehouse as the robot's RGB-D camera, odometry and clock.

Publishes (stamps are sim time, the same stamp on every message of one step):
  /clock                                    rosgraph_msgs/Clock, every step (this node owns sim time;
                                            every other node runs with use_sim_time)
  odom                                      nav_msgs/Odometry odom -> base_link, every step
  camera/color/image_raw                    sensor_msgs/Image rgb8, at camera_rate_hz (sim time)
  camera/color/camera_info                  sensor_msgs/CameraInfo, with each colour image
  camera/aligned_depth_to_color/image_raw   sensor_msgs/Image 16UC1 (mm) or 32FC1 (m), 0 = invalid
  sim/labels                                sensor_msgs/Image mono8 warehouse class ids (ground truth)
  sim/ground_truth                          nav_msgs/Odometry world -> base_link, the true pose
  /tf                                       tf2_msgs/TFMessage odom -> base_link (as the base driver) and
                                            world -> odom (a perfect localiser, as AMCL's map -> odom), every step
  /tf_static                                base_link -> camera_link -> camera_frame, as robot_state_publisher
                                            and the camera driver publish them (TF needs tf2_msgs: the
                                            container has it; without it the node says so once and skips TF)
  /diagnostics                              diagnostic_msgs/DiagnosticArray: rate, timing, score
Subscribes:
  cmd_vel                                   geometry_msgs/TwistStamped (Twist with use_stamped_cmd_vel: false;
                                            bringup gives it the stack's value)

Step modes: `real_time` advances one step per `step_s / real_time_factor` of wall time; `fast`
steps as fast as the machine allows; `lock_step` is `fast` but waits after each camera frame until
a velocity command arrives (the consumers have answered) or `lock_step_timeout_s` of wall time has
passed. The stepping timers run on the steady clock, never on ROS time: this node makes ROS time.
Camera images are in the camera optical frame of the mount given by `mount_xyzrpy` (the costmap's
`camera_mount_xyzrpy` convention). The simulation is `sim.Simulator`; this node only converts
messages, reads parameters, paces steps and reports. A parameter update rebuilds the world and
restarts the robot at its start pose; sim time keeps counting up.
"""

from __future__ import annotations

import math
import statistics
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from diagnostic_msgs.msg import DiagnosticStatus
from geometry_msgs.msg import Twist, TwistStamped
from nav_msgs.msg import Odometry
from rclpy.clock import Clock
from rclpy.clock_type import ClockType
from rclpy.node import Node
from rosgraph_msgs.msg import Clock as ClockMsg
from sensor_msgs.msg import CameraInfo, Image

from robot_vision_nav.core.config import ConfigError, param, validate_fields
from robot_vision_nav.core.geometry import BODY_FROM_OPTICAL, Pose2D, Transform3D, mount_body_transform
from robot_vision_nav.ros.diagnostics import DiagnosticsReporter
from robot_vision_nav.ros.entry import run_node
from robot_vision_nav.ros.image import numpy_to_image
from robot_vision_nav.ros.latency import diagnostics_period_param
from robot_vision_nav.ros.messages import intrinsics_to_camera_info, ns_to_stamp, pose2d_to_odometry
from robot_vision_nav.ros.params import ConfigParameters, ParameterError
from robot_vision_nav.ros.qos import CLOCK_QOS, COMMAND_QOS, SENSOR_QOS, TF_QOS, TF_STATIC_QOS
from robot_vision_nav.ros.tf import transform_stamped
from robot_vision_nav.ros.warn import ThrottledWarnings
from robot_vision_nav.sim.camera import CameraConfig
from robot_vision_nav.sim.robot import RobotConfig
from robot_vision_nav.sim.sim import SimConfig, Simulator, StepResult
from robot_vision_nav.sim.world import WorldError, generate_world
from robot_vision_nav.sim.world_types import WorldConfig

NODE_NAME = "sim_node"
CLOCK_TOPIC = "/clock"
ODOM_TOPIC = "odom"
COLOR_TOPIC = "camera/color/image_raw"
INFO_TOPIC = "camera/color/camera_info"
DEPTH_TOPIC = "camera/aligned_depth_to_color/image_raw"
LABELS_TOPIC = "sim/labels"
TRUTH_TOPIC = "sim/ground_truth"
CMD_TOPIC = "cmd_vel"

STEP_MODES = ("real_time", "fast", "lock_step")
DEPTH_ENCODINGS = ("16UC1", "32FC1")
LOCK_STEP_POLL_S = 0.005  # how often a lock-step wait checks its wall-clock timeout


@dataclass(frozen=True)
class SimNodeConfig:
    """The node's own parameters (the simulator's are in SimConfig, RobotConfig and CameraConfig)."""

    world_seed: int = param(0, "seed of the generated warehouse", min_value=0, max_value=999_999)
    noise_seed: int = param(0, "seed of odometry drift and depth noise", min_value=0, max_value=999_999)
    step_mode: str = param(
        "real_time", "real_time (paced by wall time), fast (flat out) or lock_step (each frame waits for cmd_vel)"
    )
    real_time_factor: float = param(1.0, "sim seconds per wall second in real_time mode", min_value=0.01,
                                    max_value=100.0)  # fmt: skip
    lock_step_timeout_s: float = param(
        1.0, "lock_step: wall time to wait for a cmd_vel after a camera frame before stepping on", unit="s",
        min_value=0.001, max_value=60.0,
    )  # fmt: skip
    depth_encoding: str = param("16UC1", "depth image encoding: 16UC1 (millimetres) or 32FC1 (metres)")
    publish_labels: bool = param(True, "publish the ground-truth class ids on sim/labels")
    use_stamped_cmd_vel: bool = param(True, "subscribe to geometry_msgs/TwistStamped; false: Twist")
    odom_frame: str = param("odom", "frame of the odometry pose (coincides with world_frame at t = 0)")
    base_frame: str = param("base_link", "robot body frame (odometry child frame)")
    camera_frame: str = param("camera_color_optical_frame", "frame of the camera images and camera_info")
    world_frame: str = param(
        "world", "frame of the ground-truth pose, and parent of odom in TF (map: the sim acts as a localised robot)"
    )
    camera_link_frame: str = param("camera_link", "the camera body frame in TF, parent of camera_frame")
    publish_tf: bool = param(
        True,
        "publish TF as a real robot's drivers do: odom -> base_link and world -> odom on /tf, base_link -> "
        "camera_link -> camera_frame on /tf_static",
    )
    diagnostics_period_s: float = diagnostics_period_param("period of /diagnostics (wall time)")

    def __post_init__(self) -> None:
        validate_fields(self)
        if self.step_mode not in STEP_MODES:
            raise ConfigError(f"parameter 'step_mode' = {self.step_mode!r} is not one of {', '.join(STEP_MODES)}")
        if self.depth_encoding not in DEPTH_ENCODINGS:
            raise ConfigError(
                f"parameter 'depth_encoding' = {self.depth_encoding!r} is not one of {', '.join(DEPTH_ENCODINGS)}"
            )


class SimNode(Node):
    """The thin ROS wrapper around Simulator."""

    def __init__(self, **node_kwargs: Any) -> None:
        super().__init__(NODE_NAME, **node_kwargs)
        classes = [SimNodeConfig, SimConfig, RobotConfig, CameraConfig]
        try:
            self._params = ConfigParameters(self, classes, on_change=self._on_config)
            self.node_config: SimNodeConfig = self._params.get(SimNodeConfig)
            self._time_offset_ns = 0
            self.sim = self._make_sim()
        except BaseException:
            super().destroy_node()  # a refused start leaves no half-made node in the graph
            raise
        self._steady = Clock(clock_type=ClockType.STEADY_TIME)

        self._clock_pub = self.create_publisher(ClockMsg, CLOCK_TOPIC, CLOCK_QOS)
        self._odom_pub = self.create_publisher(Odometry, ODOM_TOPIC, SENSOR_QOS)
        self._truth_pub = self.create_publisher(Odometry, TRUTH_TOPIC, SENSOR_QOS)
        self._color_pub = self.create_publisher(Image, COLOR_TOPIC, SENSOR_QOS)
        self._info_pub = self.create_publisher(CameraInfo, INFO_TOPIC, SENSOR_QOS)
        self._depth_pub = self.create_publisher(Image, DEPTH_TOPIC, SENSOR_QOS)
        self._labels_pub = self.create_publisher(Image, LABELS_TOPIC, SENSOR_QOS)
        self._diagnostics = DiagnosticsReporter(self, "simulator")
        self._cmd_sub = self._subscribe_cmd()
        self._tf_pub: Any = None
        self._tf_static_pub: Any = None
        self._make_tf_publishers()

        self._waiting_since: float | None = None
        self._frames = 0
        self._render_ms: deque[float] = deque(maxlen=100)
        self._rate_mark = (time.monotonic(), self.stamp_ns)
        self._warnings = ThrottledWarnings(self.get_logger())
        self._step_timer = self._make_step_timer()
        self._wait_timer = self.create_timer(LOCK_STEP_POLL_S, self._check_wait, clock=self._steady)
        self._wait_timer.cancel()
        self._diag_timer = self.create_timer(
            self.node_config.diagnostics_period_s, self._publish_diagnostics, clock=self._steady
        )
        w = self.sim.world
        self.get_logger().info(
            f"warehouse seed {w.seed}: {w.length_m} x {w.width_m} m, {len(w.zones)} keep-out zones, "
            f"{len(w.movers)} people; start ({w.start.x_m:.2f}, {w.start.y_m:.2f}, {w.start.yaw_rad:.2f} rad), goal "
            f"({w.goal_xy[0]:.2f}, {w.goal_xy[1]:.2f}); camera {self.sim.camera_config.width_px}x"
            f"{self.sim.camera_config.height_px} at {self.sim.config.camera_rate_hz:g} Hz; {self.node_config.step_mode}"
        )

    # ------------------------------------------------------------------ set-up
    def _make_sim(self) -> Simulator:
        cfg = self.node_config
        robot: RobotConfig = self._params.get(RobotConfig)
        try:
            world = generate_world(cfg.world_seed, WorldConfig(robot_radius_m=robot.radius_m))
        except (WorldError, ConfigError) as err:
            raise ParameterError(f"parameter 'world_seed' = {cfg.world_seed}: {err}") from err
        return Simulator(world, robot, self._params.get(CameraConfig), self._params.get(SimConfig), cfg.noise_seed)

    def _subscribe_cmd(self) -> Any:
        msg_type = TwistStamped if self.node_config.use_stamped_cmd_vel else Twist
        return self.create_subscription(msg_type, CMD_TOPIC, self._on_cmd, COMMAND_QOS)

    def _make_tf_publishers(self) -> None:
        if not self.node_config.publish_tf:
            return
        try:
            from tf2_msgs.msg import TFMessage
        except ImportError as err:  # a pip-only machine: no tf2_msgs wheel; the container has it
            self.get_logger().warning(f"publish_tf is true but tf2_msgs is not installed ({err}): no TF published")
            return
        if self._tf_pub is None:
            # The QoS of tf2_ros's TransformBroadcaster and StaticTransformBroadcaster.
            self._tf_pub = self.create_publisher(TFMessage, "/tf", TF_QOS)
            self._tf_static_pub = self.create_publisher(TFMessage, "/tf_static", TF_STATIC_QOS)
        self._publish_static_tf()

    def _publish_static_tf(self) -> None:
        if self._tf_static_pub is None or not self.node_config.publish_tf:
            return
        from tf2_msgs.msg import TFMessage

        cfg = self.node_config
        stamp = ns_to_stamp(self.stamp_ns)
        body = mount_body_transform(self.sim.camera_config.mount)
        self._tf_static_pub.publish(
            TFMessage(
                transforms=[
                    transform_stamped(cfg.base_frame, cfg.camera_link_frame, body, stamp),
                    transform_stamped(cfg.camera_link_frame, cfg.camera_frame, BODY_FROM_OPTICAL, stamp),
                ]
            )
        )

    def _publish_tf(self, result: StepResult, stamp_ns: int) -> None:
        if self._tf_pub is None or not self.node_config.publish_tf:
            return
        from tf2_msgs.msg import TFMessage

        cfg = self.node_config
        stamp = ns_to_stamp(stamp_ns)
        odom_from_base = _planar(result.odom)
        world_from_odom = _planar(result.pose).compose(odom_from_base.inverse())
        self._tf_pub.publish(
            TFMessage(
                transforms=[
                    transform_stamped(cfg.world_frame, cfg.odom_frame, world_from_odom, stamp),
                    transform_stamped(cfg.odom_frame, cfg.base_frame, odom_from_base, stamp),
                ]
            )
        )

    def _make_step_timer(self) -> Any:
        cfg = self.node_config
        period = self.sim.config.step_s / cfg.real_time_factor if cfg.step_mode == "real_time" else 0.0
        return self.create_timer(period, self._on_step, clock=self._steady)

    def _on_config(self, cls: type[Any], config: Any) -> None:
        old = self.node_config
        if cls is SimNodeConfig:
            self.node_config = config
            if old.use_stamped_cmd_vel != config.use_stamped_cmd_vel:
                self.destroy_subscription(self._cmd_sub)
                self._cmd_sub = self._subscribe_cmd()
            if (old.publish_tf, old.base_frame, old.camera_link_frame, old.camera_frame) != (
                config.publish_tf,
                config.base_frame,
                config.camera_link_frame,
                config.camera_frame,
            ):
                self._make_tf_publishers()
            if old.diagnostics_period_s != config.diagnostics_period_s:
                self.destroy_timer(self._diag_timer)
                self._diag_timer = self.create_timer(
                    config.diagnostics_period_s, self._publish_diagnostics, clock=self._steady
                )
            rebuild = (old.world_seed, old.noise_seed) != (config.world_seed, config.noise_seed)
        else:
            rebuild = True
        if rebuild:
            try:
                new_sim = self._make_sim()
            except ParameterError as err:  # a seed with no route: the running world carries on
                self.get_logger().error(f"{err}; the simulator carries on unchanged")
            else:
                self._time_offset_ns += self.sim.time_ns
                self.sim.close()
                self.sim = new_sim
                self._publish_static_tf()  # the camera may have moved
                self.get_logger().warning(f"simulator rebuilt ({cls.__name__} changed): robot back at its start pose")
        self.destroy_timer(self._step_timer)
        self._waiting_since = None
        self._wait_timer.cancel()
        self._step_timer = self._make_step_timer()

    # ------------------------------------------------------------------ inputs
    def _warn(self, key: str, text: str, period_s: float = 2.0) -> None:
        self._warnings.warn("", text, period_s, kind=key)

    def _on_cmd(self, msg: Twist | TwistStamped) -> None:
        twist = msg.twist if isinstance(msg, TwistStamped) else msg
        v, w = float(twist.linear.x), float(twist.angular.z)
        if not (math.isfinite(v) and math.isfinite(w)):
            self._warn("cmd", f"{self.resolve_topic_name(CMD_TOPIC)}: non-finite command ({v}, {w}) ignored")
            return
        self.sim.command(v, w)
        if self._waiting_since is not None:
            self._resume()

    # ------------------------------------------------------------------ stepping
    @property
    def stamp_ns(self) -> int:
        """Sim time now, as published."""
        return self._time_offset_ns + self.sim.time_ns

    def _resume(self) -> None:
        self._waiting_since = None
        self._wait_timer.cancel()
        self._step_timer.reset()

    def _check_wait(self) -> None:
        if self._waiting_since is None:
            self._wait_timer.cancel()
        elif time.monotonic() - self._waiting_since >= self.node_config.lock_step_timeout_s:
            self._resume()

    def _on_step(self) -> None:
        result = self.sim.step()
        stamp_ns = self.stamp_ns
        self._publish_state(result, stamp_ns)
        if result.camera_due:
            self._publish_frame(stamp_ns)
            if self.node_config.step_mode == "lock_step":
                self._waiting_since = time.monotonic()
                self._step_timer.cancel()
                self._wait_timer.reset()

    def _publish_state(self, result: StepResult, stamp_ns: int) -> None:
        cfg = self.node_config
        self._clock_pub.publish(ClockMsg(clock=ns_to_stamp(stamp_ns)))
        self._odom_pub.publish(
            pose2d_to_odometry(
                result.odom, result.odom_linear_mps, result.odom_angular_rps, cfg.odom_frame, cfg.base_frame, stamp_ns
            )
        )
        self._truth_pub.publish(
            pose2d_to_odometry(
                result.pose, result.linear_mps, result.angular_rps, cfg.world_frame, cfg.base_frame, stamp_ns
            )
        )
        self._publish_tf(result, stamp_ns)
        if result.collided:
            self._warn("collision", f"collision with {', '.join(result.collided_with)} at t = {stamp_ns / 1e9:.2f} s")
        if result.in_keep_out:
            self._warn("keep_out", f"robot footprint in a keep-out zone at t = {stamp_ns / 1e9:.2f} s")

    def _publish_frame(self, stamp_ns: int) -> None:
        cfg = self.node_config
        started = time.perf_counter()
        frame = self.sim.render()
        self._render_ms.append((time.perf_counter() - started) * 1e3)
        self._frames += 1
        frame_id = cfg.camera_frame
        self._color_pub.publish(numpy_to_image(frame.rgb, "rgb8", stamp_ns, frame_id))
        self._info_pub.publish(intrinsics_to_camera_info(self.sim.intrinsics, frame_id, stamp_ns))
        if cfg.depth_encoding == "16UC1":
            depth = numpy_to_image(frame.depth_mm(), "16UC1", stamp_ns, frame_id)
        else:
            depth = numpy_to_image(frame.depth_m, "32FC1", stamp_ns, frame_id)
        self._depth_pub.publish(depth)
        if cfg.publish_labels:
            self._labels_pub.publish(numpy_to_image(frame.labels, "mono8", stamp_ns, frame_id))

    # ------------------------------------------------------------------ diagnostics
    def _publish_diagnostics(self) -> None:
        now = time.monotonic()
        wall0, sim0 = self._rate_mark
        factor = (self.stamp_ns - sim0) / 1e9 / max(now - wall0, 1e-9)
        self._rate_mark = (now, self.stamp_ns)
        status = self._diagnostics.status()
        status.level, status.message = DiagnosticStatus.OK, "ok"
        score = self.sim.score
        values = {
            "sim_time_s": f"{self.stamp_ns / 1e9:.3f}",
            "real_time_factor": f"{factor:.2f}",
            "frames": str(self._frames),
            "render_ms_median": f"{statistics.median(self._render_ms):.2f}" if self._render_ms else "nan",
            "world_seed": str(self.sim.world.seed),
            "collisions": str(score.collisions),
            "collision_steps": str(score.collision_steps),
            "keep_out_violations": str(score.keep_out_violations),
            "keep_out_steps": str(score.keep_out_steps),
            "distance_m": f"{score.distance_m:.2f}",
        }
        self._diagnostics.publish(status, values, stamp=ns_to_stamp(self.stamp_ns))

    def destroy_node(self) -> None:
        """Free the renderer with the node."""
        self.sim.close()
        super().destroy_node()


def _planar(pose: Pose2D) -> Transform3D:
    half = pose.yaw_rad / 2.0
    return Transform3D((pose.x_m, pose.y_m, 0.0), (0.0, 0.0, math.sin(half), math.cos(half)))


def main(args: list[str] | None = None) -> int:
    """Run sim_node until shutdown; a bad parameter ends it with a one-line error (exit 1)."""
    return run_node(SimNode, NODE_NAME, args)


if __name__ == "__main__":
    raise SystemExit(main())
