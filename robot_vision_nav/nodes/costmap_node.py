"""costmap_node: depth + traversability mask + camera_info + odometry -> /local_costmap/costmap.

Subscribes (sensor-data QoS, newest only):
  camera/aligned_depth_to_color/image_raw  sensor_msgs/Image 16UC1 (mm) | 32FC1 (m); with
                                           depth_transport: compressedDepth, <that>/compressedDepth
                                           (sensor_msgs/CompressedImage, decoded: ros/transport.py)
  segmentation/traversable                 sensor_msgs/Image mono8, 255 = drivable (if used)
  camera/color/camera_info                 sensor_msgs/CameraInfo
  odom                                     nav_msgs/Odometry (robot_pose_source odom)
TF (robot_pose_source tf)                  global_frame -> base_frame at the depth stamp, in place of odom
Publishes:
  local_costmap/costmap                    nav_msgs/OccupancyGrid, reliable + transient local, in
                                           `global_frame`, stamped with the depth image's stamp
  /diagnostics                             diagnostic_msgs/DiagnosticArray

Depth, mask and camera_info are matched by stamp (approximate time), checked, decoded and given a
camera mount by ros/depth_set.py, as in semantic_obstacles_node; the robot pose is the odometry
interpolated to the image stamp, or TF's at that stamp (ros/robot_pose.py). The algorithm is
`core.costmap.RollingCostmap`; this node only converts messages, reads parameters, times the work
and reports. A camera_info with lens distortion is refused, or undistorted with `rectify_distorted`
(ros/lens.py). Bad input (wrong encoding, size mismatch, missing or zero camera_info, a payload that
does not decode, a distorted image, no valid depth, stamps out of order, stale odometry or TF pose)
gets a throttled warning naming the topic and the problem; the last good costmap stays published
and the node keeps running. It never reads the wall clock inside the update, so a replay is
repeatable.
"""

from __future__ import annotations

import statistics
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from diagnostic_msgs.msg import DiagnosticStatus
from nav_msgs.msg import OccupancyGrid, Odometry

from robot_vision_nav.core.config import param
from robot_vision_nav.core.costmap import CostmapConfig, RollingCostmap
from robot_vision_nav.core.costmap import warm_up as warm_up_costmap
from robot_vision_nav.core.geometry import Pose2D
from robot_vision_nav.core.poses import PoseBuffer
from robot_vision_nav.core.projection import DepthInputError
from robot_vision_nav.core.units import NS_PER_S
from robot_vision_nav.ros.depth_set import (
    TIME_JUMP_CONFIRM,
    TIME_JUMP_NS,
    DepthSet,
    DepthSetInput,
    DepthSetSettings,
    check_depth_input_fields,
    input_timeout_param,
    sync_queue_size_param,
    sync_slop_param,
)
from robot_vision_nav.ros.diagnostics import DiagnosticsReporter
from robot_vision_nav.ros.entry import run_node
from robot_vision_nav.ros.latency import InputAges, behind_message, diagnostics_period_param, max_input_age_param
from robot_vision_nav.ros.lens import rectify_distorted_param
from robot_vision_nav.ros.lifecycle import ManagedNode, autostart_param
from robot_vision_nav.ros.messages import occupancy_grid, odometry_in_frame
from robot_vision_nav.ros.qos import MAP_QOS, SENSOR_QOS
from robot_vision_nav.ros.robot_pose import (
    READ_AT_CONFIGURE,
    check_robot_pose_source,
    pose_from_tf,
    pose_input_name,
    robot_pose_source_param,
)
from robot_vision_nav.ros.tf import TfReader, base_frame_param, camera_mount_source_param
from robot_vision_nav.ros.transport import depth_transport_param
from robot_vision_nav.ros.warn import ThrottledWarnings, warn_throttle_param

NODE_NAME = "costmap_node"
DEPTH_TOPIC = "camera/aligned_depth_to_color/image_raw"
MASK_TOPIC = "segmentation/traversable"
INFO_TOPIC = "camera/color/camera_info"
ODOM_TOPIC = "odom"
COSTMAP_TOPIC = "local_costmap/costmap"

ODOM_BUFFER = 200  # poses kept for interpolation: several seconds at typical 50 Hz odometry


@dataclass(frozen=True)
class CostmapNodeConfig:
    """The node's own parameters (the map's are in CostmapConfig)."""

    global_frame: str = param("odom", "frame of the published costmap; odometry must be in it")
    base_frame: str = base_frame_param()
    robot_pose_source: str = robot_pose_source_param()
    camera_mount_source: str = camera_mount_source_param()
    depth_transport: str = depth_transport_param()
    rectify_distorted: bool = rectify_distorted_param()
    publish_rate_hz: float = param(
        5.0,
        "costmap publish rate, paced by input stamps; 0 publishes every update",
        unit="Hz",
        min_value=0.0,
        max_value=100.0,
    )
    sync_queue_size: int = sync_queue_size_param()
    sync_slop_s: float = sync_slop_param()
    odom_max_age_s: float = param(
        0.2,
        "odometry (or TF's robot pose) farther than this from the image stamp is stale: the frame is skipped",
        unit="s",
        min_value=0.001,
        max_value=10.0,
    )
    input_timeout_s: float = input_timeout_param()
    diagnostics_period_s: float = diagnostics_period_param()
    warn_throttle_s: float = warn_throttle_param()
    max_input_age_s: float = max_input_age_param()
    autostart: bool = autostart_param()

    def __post_init__(self) -> None:
        check_depth_input_fields(self)
        check_robot_pose_source(self.robot_pose_source)


class CostmapNode(ManagedNode):
    """The thin ROS wrapper around RollingCostmap, a managed node (ros/lifecycle.py)."""

    def __init__(self, **node_kwargs: Any) -> None:
        super().__init__(NODE_NAME, **node_kwargs)
        self._params = self.declare_config(
            [CostmapConfig, CostmapNodeConfig], self._on_config, read_at_configure=READ_AT_CONFIGURE
        )
        self.start(self._params.get(CostmapNodeConfig).autostart)

    def configure(self) -> None:
        """The map, the publishers, the depth-set and odometry subscriptions, the diagnostics timer."""
        self.map_config: CostmapConfig = self._params.get(CostmapConfig)
        self.node_config: CostmapNodeConfig = self._params.get(CostmapNodeConfig)
        warm_up_costmap(self.map_config)  # a compile on the first frame would stall it for seconds
        self.costmap = RollingCostmap(self.map_config)

        self._poses = PoseBuffer(ODOM_BUFFER, TIME_JUMP_NS, TIME_JUMP_CONFIRM)
        self._pose: Pose2D | None = None  # where the set being handed over was taken (`_admit`)
        self._pose_from_tf = self.node_config.robot_pose_source == "tf"
        self._tf_pose_seen = False  # robot_pose_source tf: TF has placed the robot at least once
        self._last_published_ns: int | None = None
        self._last_processed_wall: float | None = None
        self._update_ms: deque[float] = deque(maxlen=100)
        self._updates = 0
        self._published = 0
        self._warnings = ThrottledWarnings(self.get_logger())
        self.ages = InputAges()
        self._last_stats: Any = None

        self._tf = TfReader(self)
        self._mount_source = ""
        self._pub = self.create_publisher(OccupancyGrid, COSTMAP_TOPIC, MAP_QOS)
        self._diagnostics = DiagnosticsReporter(self, "local costmap")
        self._odom_topic = self.resolve_topic_name(ODOM_TOPIC)
        self._depth_sets = DepthSetInput(
            self,
            (DEPTH_TOPIC, MASK_TOPIC, INFO_TOPIC),
            self._tf,
            DepthSetSettings.of(self.node_config, self.map_config),
            on_set=self._on_set,
            on_restart=self._on_restart,
            warn=lambda topic, problem: self._warn(topic, problem),  # looked up per call: tests spy on _warn
            ages=self.ages,
            admit=self._admit,
        )
        if self._pose_from_tf:
            self._tf.listen()  # from now, not from the first depth image: TF needs a moment to fill
        else:
            self.create_subscription(Odometry, ODOM_TOPIC, self._on_odom, SENSOR_QOS)
        self._diag_timer = self.create_timer(self.node_config.diagnostics_period_s, self._publish_diagnostics)
        self.get_logger().info(
            f"local costmap {self.map_config.width_m} x {self.map_config.height_m} m at "
            f"{self.map_config.resolution_m} m in '{self.node_config.global_frame}'; depth from "
            f"{self._topics[0]}, mask {'from ' + self._topics[1] if self.map_config.use_traversability_mask else 'off'}"
            f"; robot pose from {self._pose_input}; camera mount: {self.node_config.camera_mount_source}"
            f"{'' if self._tf.available else ' (no tf2_ros here)'}"
        )

    def cleanup(self) -> None:
        """Drop the map: a node configured again starts from an empty one."""
        self._tf.close()
        self.costmap.reset()

    @property
    def _topics(self) -> tuple[str, str, str]:
        """Depth (as subscribed: <depth>/compressedDepth with that transport), mask, camera_info."""
        return self._depth_sets.topics

    @property
    def _pose_input(self) -> str:
        """The robot pose's input as warnings name it: the odom topic, or the TF transform."""
        return pose_input_name(self.node_config, self._odom_topic)

    # ------------------------------------------------------------------ configuration
    def _on_config(self, cls: type[Any], config: Any) -> None:
        if cls is CostmapConfig:
            kept = self.costmap.reconfigure(config)
            self.map_config = config
            self._configure_inputs()
            self.get_logger().info("costmap parameters updated" + ("" if kept else "; grid changed, map reset"))
        else:
            old = self.node_config
            self.node_config = config
            if old.diagnostics_period_s != config.diagnostics_period_s:
                self.destroy_timer(self._diag_timer)
                self._diag_timer = self.create_timer(config.diagnostics_period_s, self._publish_diagnostics)
            if old.global_frame != config.global_frame:
                self._depth_sets.restart("global_frame changed: map and odometry from the old frame dropped")
            self._configure_inputs()

    def _configure_inputs(self) -> None:
        if self._depth_sets.configure(DepthSetSettings.of(self.node_config, self.map_config)):
            self._poses.forget_jumps()  # a new matching has always restarted the count of stale odometry too

    def _on_restart(self, reason: str) -> None:
        """Forget everything time- or frame-bound (the queued inputs are gone already): poses, the map, stamps."""
        self._poses.clear()
        self._last_published_ns = None
        self.costmap.reset()
        self.get_logger().warning(f"costmap restarted: {reason}")

    # ------------------------------------------------------------------ inputs
    def _warn(self, topic: str, problem: str) -> None:
        """Warn naming the topic, throttled per kind of problem (ros/warn.py)."""
        self._warnings.warn(topic, problem, self.node_config.warn_throttle_s)

    def _add(self, topic_index: int, msg: Any) -> None:
        """One depth (0), mask (1) or camera_info (2) message, as its subscription hands it over."""
        self._depth_sets.add(topic_index, msg)

    def _on_odom(self, msg: Odometry) -> None:
        pose, problem = odometry_in_frame(msg, self.node_config.global_frame)
        if pose is None:
            self._warn(self._odom_topic, problem)
            return
        self.ages.record("odom", self.get_clock().now().nanoseconds, pose.stamp_ns)
        problem = self._poses.add(pose)  # a clock that restarted starts the poses over (core/poses.py)
        if problem:
            self._warn(self._odom_topic, problem)

    def _pose_at(self, stamp_ns: int) -> Pose2D | None:
        if self._pose_from_tf:
            return self._tf_pose_at(stamp_ns)
        max_age_ns = round(self.node_config.odom_max_age_s * NS_PER_S)
        pose = self._poses.at(stamp_ns, max_age_ns)
        if pose is None:
            gap = self._poses.gap_s(stamp_ns)
            if gap is None:
                self._warn(self._odom_topic, "no odometry received yet: cannot place the depth image")
            else:
                self._warn(
                    self._odom_topic,
                    f"stale odometry: nearest pose is {gap:.3f} s from the depth stamp "
                    f"(odom_max_age_s = {self.node_config.odom_max_age_s}); frame skipped",
                )
        return pose

    def _tf_pose_at(self, stamp_ns: int) -> Pose2D | None:
        cfg = self.node_config
        pose, why = pose_from_tf(self._tf, cfg.global_frame, cfg.base_frame, stamp_ns)
        if pose is None:
            self._warn(self._pose_input, f"no robot pose: {why}; frame skipped")
            return None
        self._tf_pose_seen = True
        gap = abs(pose.stamp_ns - stamp_ns)
        if gap > round(cfg.odom_max_age_s * NS_PER_S):
            self._warn(
                self._pose_input,
                f"stale robot pose: TF's newest is {gap / NS_PER_S:.3f} s from the depth stamp "
                f"(odom_max_age_s = {cfg.odom_max_age_s}); frame skipped",
            )
            return None
        return Pose2D(pose.x_m, pose.y_m, pose.yaw_rad, stamp_ns)

    # ------------------------------------------------------------------ update
    def _admit(self, stamp_ns: int) -> bool:
        """Whether odometry places a depth set stamped `stamp_ns` (checked before its camera mount)."""
        self._pose = self._pose_at(stamp_ns)
        return self._pose is not None

    def _on_set(self, frame: DepthSet) -> None:
        pose, self._pose = self._pose, None
        assert pose is not None  # _admit found it for this very set
        depth_topic = frame.topics[0]
        self._mount_source = frame.mount_source
        started = time.perf_counter()
        try:
            stats = self.costmap.update(frame.depth, frame.intrinsics, pose, frame.stamp_ns, frame.mask, frame.mount)
        except DepthInputError as err:
            self._depth_sets.skip(depth_topic, f"bad input: {err}")
            return
        except Exception as err:  # last resort: a frame we did not foresee must not end the node
            self._depth_sets.skip(depth_topic, f"frame skipped, update failed: {type(err).__name__}: {err}")
            return
        self._update_ms.append((time.perf_counter() - started) * 1e3)
        self._updates += 1
        self._depth_sets.processed(frame.stamp_ns)
        self._last_processed_wall = time.monotonic()
        self._last_stats = stats
        if stats.valid_pixels == 0:
            self._warn(
                depth_topic,
                "no valid depth: every pixel is 0, NaN, inf or out of range; "
                "nothing marked or cleared, last costmap kept",
            )
            return
        self._maybe_publish(frame.stamp_ns)

    def _maybe_publish(self, stamp_ns: int) -> None:
        rate = self.node_config.publish_rate_hz
        last = self._last_published_ns
        if rate > 0.0 and last is not None and stamp_ns - last < round(NS_PER_S / rate):
            return
        ox, oy = self.costmap.origin_m
        msg = occupancy_grid(
            self.costmap.occupancy, self.costmap.resolution_m, ox, oy, self.node_config.global_frame, stamp_ns
        )
        self._pub.publish(msg)
        self._published += 1
        self._last_published_ns = stamp_ns

    # ------------------------------------------------------------------ diagnostics
    def _publish_diagnostics(self) -> None:
        last_problem = self._warnings.take_last_problem()
        status = self._diagnostics.status()
        level, message = DiagnosticStatus.OK, "ok"
        idle_s = None if self._last_processed_wall is None else time.monotonic() - self._last_processed_wall
        if idle_s is None or idle_s > self.node_config.input_timeout_s:
            # Name the inputs that never arrived: a topic nobody publishes gives no other warning.
            silent = self._depth_sets.silent_topics()
            if not (self._tf_pose_seen if self._pose_from_tf else self._poses):
                silent.append(self._pose_input)
            message = f"no depth set processed for {self.node_config.input_timeout_s} s"
            if silent:
                message += f"; nothing received yet on {', '.join(silent)}"
            if last_problem:
                message += f"; last problem: {last_problem}"
            level = DiagnosticStatus.WARN
        elif last_problem:
            level, message = DiagnosticStatus.WARN, f"last problem: {last_problem}"
        elif behind := behind_message(self.ages, self.node_config.max_input_age_s):
            level, message = DiagnosticStatus.WARN, behind
        status.level, status.message = level, message
        age_ms = float("nan")
        if self._depth_sets.last_stamp_ns is not None:
            age_ms = (self.get_clock().now().nanoseconds - self._depth_sets.last_stamp_ns) / 1e6
        values = {
            "update_ms_last": f"{self._update_ms[-1]:.2f}" if self._update_ms else "nan",
            "update_ms_median": f"{statistics.median(self._update_ms):.2f}" if self._update_ms else "nan",
            "input_age_ms": f"{age_ms:.1f}",
            "updates": str(self._updates),
            "published": str(self._published),
            "skipped_frames": str(self._depth_sets.skipped),
            "dropped_sets": str(self._depth_sets.dropped_sets),
            "camera_mount_from": self._mount_source or "none yet",
            "out_of_order": str(self._depth_sets.out_of_order),
            **dict(self.ages.key_values()),
        }
        self._diagnostics.publish(status, values)


def main(args: list[str] | None = None) -> int:
    """Run costmap_node until shutdown; a bad parameter ends it with a one-line error (exit 1)."""
    return run_node(CostmapNode, NODE_NAME, args)


if __name__ == "__main__":
    raise SystemExit(main())
