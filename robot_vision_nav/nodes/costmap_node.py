"""costmap_node: depth + traversability mask + camera_info + odometry -> /local_costmap/costmap.

Subscribes (sensor-data QoS, newest only):
  camera/aligned_depth_to_color/image_raw  sensor_msgs/Image 16UC1 (mm) | 32FC1 (m); with
                                           depth_transport: compressedDepth, <that>/compressedDepth
                                           (sensor_msgs/CompressedImage, decoded: ros/transport.py)
  segmentation/traversable                 sensor_msgs/Image mono8, 255 = drivable (if used)
  camera/color/camera_info                 sensor_msgs/CameraInfo
  odom                                     nav_msgs/Odometry
Publishes:
  local_costmap/costmap                    nav_msgs/OccupancyGrid, reliable + transient local, in
                                           `global_frame`, stamped with the depth image's stamp
  /diagnostics                             diagnostic_msgs/DiagnosticArray

Depth, mask and camera_info are matched by stamp (approximate time); the robot pose is the odometry
interpolated to the image stamp. The algorithm is `core.costmap.RollingCostmap`; this node only
converts messages, reads parameters, times the work and reports. A camera_info with lens distortion
is refused, or undistorted with `rectify_distorted` (ros/lens.py). Bad input (wrong encoding, size
mismatch, missing or zero camera_info, a payload that does not decode, a distorted image, no valid
depth, stamps out of order, stale odometry) gets a
throttled warning naming the topic and the problem; the last good costmap stays published and the
node keeps running. It never reads the wall clock inside the update, so a replay is repeatable.
"""

from __future__ import annotations

import bisect
import statistics
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from nav_msgs.msg import OccupancyGrid, Odometry
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image

from robot_vision_nav.core.config import param
from robot_vision_nav.core.costmap import CostmapConfig, RollingCostmap
from robot_vision_nav.core.costmap import warm_up as warm_up_costmap
from robot_vision_nav.core.geometry import Pose2D, interpolate_pose
from robot_vision_nav.core.projection import DepthInputError
from robot_vision_nav.ros.entry import run_node
from robot_vision_nav.ros.image import ImageConversionError, image_to_numpy
from robot_vision_nav.ros.latency import InputAges, behind_message, max_input_age_param
from robot_vision_nav.ros.lens import DistortedImageError, LensCorrection, rectify_distorted_param
from robot_vision_nav.ros.messages import (
    CameraInfoError,
    camera_info_distortion,
    camera_info_to_intrinsics,
    occupancy_grid,
    odometry_to_pose2d,
    stamp_to_ns,
)
from robot_vision_nav.ros.params import ConfigParameters
from robot_vision_nav.ros.qos import MAP_QOS, SENSOR_QOS
from robot_vision_nav.ros.sync import ApproximateTimeSync
from robot_vision_nav.ros.tf import (
    CameraMountSource,
    TfReader,
    base_frame_param,
    camera_mount_source_param,
    check_mount_source,
)
from robot_vision_nav.ros.transport import DEPTH_TRANSPORTS, ImageInput, check_transport, depth_transport_param
from robot_vision_nav.ros.warn import ThrottledWarnings

NODE_NAME = "costmap_node"
DEPTH_TOPIC = "camera/aligned_depth_to_color/image_raw"
MASK_TOPIC = "segmentation/traversable"
INFO_TOPIC = "camera/color/camera_info"
ODOM_TOPIC = "odom"
COSTMAP_TOPIC = "local_costmap/costmap"
DIAGNOSTICS_TOPIC = "/diagnostics"

DEPTH_ENCODINGS = ("16UC1", "mono16", "32FC1")
ODOM_BUFFER = 200  # poses kept for interpolation: several seconds at typical 50 Hz odometry
NS = 1_000_000_000
INPUT_NAMES = {0: "depth", 1: "mask", 2: "camera_info"}  # _add's topic index -> name in diagnostics
TIME_JUMP_NS = NS  # stamps more than 1 s older than the newest: a clock that restarted, not jitter, ...
# ... once this many in a row on one input are that old. One stale frame (a late retransmission, an
# old buffer flushed) is followed by current ones again: it is refused, the map is kept.
TIME_JUMP_CONFIRM = 3


@dataclass(frozen=True)
class CostmapNodeConfig:
    """The node's own parameters (the map's are in CostmapConfig)."""

    global_frame: str = param("odom", "frame of the published costmap; odometry must be in it")
    base_frame: str = base_frame_param()
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
    sync_queue_size: int = param(
        20,
        "messages kept per input while matching depth, mask and camera_info; reach back far enough for the "
        "slowest mask (20 frames = 1.3 s at 15 Hz), else a late segmentation starves the costmap",
        min_value=1,
        max_value=100,
    )
    sync_slop_s: float = param(
        0.05,
        "largest stamp difference within one matched depth/mask/camera_info set",
        unit="s",
        min_value=0.0,
        max_value=1.0,
    )
    odom_max_age_s: float = param(
        0.2,
        "odometry farther than this from the image stamp is stale: the frame is skipped",
        unit="s",
        min_value=0.001,
        max_value=10.0,
    )
    input_timeout_s: float = param(
        1.0,
        "diagnostics warn when no depth set was processed for this long",
        unit="s",
        min_value=0.01,
        max_value=60.0,
    )
    diagnostics_period_s: float = param(1.0, "period of /diagnostics", unit="s", min_value=0.05, max_value=60.0)
    warn_throttle_s: float = param(
        2.0, "the same warning is logged at most once per this period", unit="s", min_value=0.0, max_value=600.0
    )
    max_input_age_s: float = max_input_age_param()

    def __post_init__(self) -> None:
        check_mount_source(self.camera_mount_source)
        check_transport("depth_transport", self.depth_transport, DEPTH_TRANSPORTS)


class CostmapNode(Node):
    """The thin ROS wrapper around RollingCostmap."""

    def __init__(self, **node_kwargs: Any) -> None:
        super().__init__(NODE_NAME, **node_kwargs)
        try:
            self._params = ConfigParameters(self, [CostmapConfig, CostmapNodeConfig], on_change=self._on_config)
        except BaseException:
            super().destroy_node()  # a refused start leaves no half-made node in the graph
            raise
        self.map_config: CostmapConfig = self._params.get(CostmapConfig)
        self.node_config: CostmapNodeConfig = self._params.get(CostmapNodeConfig)
        warm_up_costmap(self.map_config)  # a compile on the first frame would stall it for seconds
        self.costmap = RollingCostmap(self.map_config)

        self._poses: deque[Pose2D] = deque(maxlen=ODOM_BUFFER)
        self._last_stamp_ns: int | None = None
        self._last_published_ns: int | None = None
        self._last_processed_wall: float | None = None
        self._update_ms: deque[float] = deque(maxlen=100)
        self._updates = 0
        self._published = 0
        self._skipped = 0
        self._warnings = ThrottledWarnings(self.get_logger())
        self.ages = InputAges()
        self._last_out_of_order = [0, 0, 0]
        self._last_stats: Any = None

        self._tf = TfReader(self)
        self._mounts = CameraMountSource(self._tf, self.get_logger().info, self.get_logger().warning)
        self._mount_source = ""
        self._lens = LensCorrection()
        self._pub = self.create_publisher(OccupancyGrid, COSTMAP_TOPIC, MAP_QOS)
        self._diag_pub = self.create_publisher(DiagnosticArray, DIAGNOSTICS_TOPIC, 10)
        self._odom_topic = self.resolve_topic_name(ODOM_TOPIC)
        self._make_sync()
        self._depth_in = ImageInput(
            self, DEPTH_TOPIC, self.node_config.depth_transport, lambda m: self._add(0, m), self._skip, SENSOR_QOS
        )
        self._topics = (
            self._depth_in.topic,  # the one subscribed: <depth>/compressedDepth with that transport
            self.resolve_topic_name(MASK_TOPIC),
            self.resolve_topic_name(INFO_TOPIC),
        )
        self.create_subscription(Image, MASK_TOPIC, lambda m: self._add(1, m), SENSOR_QOS)
        self.create_subscription(CameraInfo, INFO_TOPIC, lambda m: self._add(2, m), SENSOR_QOS)
        self.create_subscription(Odometry, ODOM_TOPIC, self._on_odom, SENSOR_QOS)
        self._diag_timer = self.create_timer(self.node_config.diagnostics_period_s, self._publish_diagnostics)
        self.get_logger().info(
            f"local costmap {self.map_config.width_m} x {self.map_config.height_m} m at "
            f"{self.map_config.resolution_m} m in '{self.node_config.global_frame}'; depth from "
            f"{self._topics[0]}, mask {'from ' + self._topics[1] if self.map_config.use_traversability_mask else 'off'}"
            f"; camera mount: {self.node_config.camera_mount_source}"
            f"{'' if self._tf.available else ' (no tf2_ros here)'}"
        )

    # ------------------------------------------------------------------ configuration
    def _make_sync(self) -> None:
        cfg = self.node_config
        # Without the mask the set is depth + camera_info: input 1 is simply never required.
        self._inputs = (0, 1, 2) if self.map_config.use_traversability_mask else (0, 2)
        self._sync: ApproximateTimeSync[Any] = ApproximateTimeSync(
            len(self._inputs), cfg.sync_queue_size, round(cfg.sync_slop_s * NS), self._on_set, pivot=0
        )
        self._last_out_of_order = [0] * len(self._inputs)
        self._newest_ns: dict[int, int] = {}
        self._behind: dict[int, int] = {}  # per input, messages in a row more than TIME_JUMP_NS old
        self._odom_behind = 0  # the same for odometry
        self._last_missing = [0] * len(self._inputs)

    def _on_config(self, cls: type[Any], config: Any) -> None:
        if cls is CostmapConfig:
            kept = self.costmap.reconfigure(config)
            mask_changed = config.use_traversability_mask != self.map_config.use_traversability_mask
            self.map_config = config
            if mask_changed:
                self._make_sync()
            self.get_logger().info("costmap parameters updated" + ("" if kept else "; grid changed, map reset"))
        else:
            old = self.node_config
            self.node_config = config
            if (old.sync_queue_size, old.sync_slop_s) != (config.sync_queue_size, config.sync_slop_s):
                self._make_sync()
            if old.diagnostics_period_s != config.diagnostics_period_s:
                self.destroy_timer(self._diag_timer)
                self._diag_timer = self.create_timer(config.diagnostics_period_s, self._publish_diagnostics)
            if old.global_frame != config.global_frame:
                self._restart("global_frame changed: map and odometry from the old frame dropped")
            if old.depth_transport != config.depth_transport:
                self._depth_in.switch(config.depth_transport)
                self._topics = (self._depth_in.topic, self._topics[1], self._topics[2])

    def _restart(self, reason: str) -> None:
        """Forget everything time- or frame-bound: queued inputs, poses, the map and the stamps."""
        self._sync.reset()
        self._newest_ns.clear()
        self._behind.clear()
        self._last_missing = [0] * len(self._inputs)
        self._last_out_of_order = [0] * len(self._inputs)
        self._poses.clear()
        self._last_stamp_ns = None
        self._last_published_ns = None
        self.costmap.reset()
        self.get_logger().warning(f"costmap restarted: {reason}")

    # ------------------------------------------------------------------ inputs
    def _warn(self, topic: str, problem: str) -> None:
        """Warn naming the topic, throttled per kind of problem (ros/warn.py)."""
        self._warnings.warn(topic, problem, self.node_config.warn_throttle_s)

    def _add(self, topic_index: int, msg: Any) -> None:
        if topic_index not in self._inputs:
            return
        slot = self._inputs.index(topic_index)
        stamp_ns = stamp_to_ns(msg.header.stamp)
        self.ages.record(INPUT_NAMES[topic_index], self.get_clock().now().nanoseconds, stamp_ns)
        newest = self._newest_ns.get(topic_index)
        if newest is not None and newest - stamp_ns > TIME_JUMP_NS:
            # Restarting on one stale frame would wipe the map and the odometry for nothing; until the
            # old timeline is confirmed the frame is refused by the sync below as out of order.
            self._behind[topic_index] = self._behind.get(topic_index, 0) + 1
            if self._behind[topic_index] >= TIME_JUMP_CONFIRM:
                self._restart(
                    f"time jumped back {(newest - stamp_ns) / NS:.1f} s on {self._topics[topic_index]} "
                    "(a looped bag or a restarted simulator)"
                )
        else:
            self._behind[topic_index] = 0
        # The newest ever, not the last: an out-of-order message must not lower the bar for the next.
        self._newest_ns[topic_index] = max(stamp_ns, self._newest_ns.get(topic_index, stamp_ns))
        self._sync.add(slot, stamp_ns, msg)
        if self._sync.missing != self._last_missing:
            self._check_partners()
        out_of_order = self._sync.out_of_order[slot]
        if out_of_order != self._last_out_of_order[slot]:
            self._last_out_of_order[slot] = out_of_order
            self._warn(
                self._topics[topic_index],
                f"stamps out of order: {stamp_ns} ns is older than an earlier message; message dropped",
            )

    def _check_partners(self) -> None:
        """Name the input that keeps depth frames from being used: never seen, or out of slop."""
        missing = self._sync.missing
        for slot, index in enumerate(self._inputs[1:], start=1):
            if missing[slot] == self._last_missing[slot]:
                continue
            if index not in self._newest_ns:
                self._warn(self._topics[index], f"nothing received yet: {missing[slot]} depth frames dropped waiting")
            else:
                newest = self._newest_ns[index]
                depth = self._newest_ns.get(0, newest)
                self._warn(
                    self._topics[index],
                    f"no message within sync_slop_s = {self.node_config.sync_slop_s} s "
                    f"of a depth frame (newest is {(newest - depth) / NS:+.3f} s from the newest depth); "
                    f"{missing[slot]} depth frames dropped for it",
                )
        self._last_missing = missing

    def _on_odom(self, msg: Odometry) -> None:
        frame = self.node_config.global_frame
        if msg.header.frame_id and msg.header.frame_id.lstrip("/") != frame:
            self._warn(self._odom_topic, f"wrong frame: odometry is in '{msg.header.frame_id}', expected '{frame}'")
            return
        try:
            pose = odometry_to_pose2d(msg)
        except ValueError as err:
            self._warn(self._odom_topic, f"bad pose: {err}")
            return
        self.ages.record("odom", self.get_clock().now().nanoseconds, pose.stamp_ns)
        if self._poses and self._poses[-1].stamp_ns - pose.stamp_ns > TIME_JUMP_NS:
            # The clock restarted (the image side restarts on its own jump), once confirmed: one
            # stale message must not throw away every pose the depth frames are placed with.
            self._odom_behind += 1
            if self._odom_behind >= TIME_JUMP_CONFIRM:
                self._poses.clear()
                self._odom_behind = 0
        else:
            self._odom_behind = 0
        if self._poses and pose.stamp_ns < self._poses[-1].stamp_ns:
            self._warn(self._odom_topic, "stamps out of order: odometry older than the last one; dropped")
            return
        self._poses.append(pose)

    def _pose_at(self, stamp_ns: int) -> Pose2D | None:
        if not self._poses:
            self._warn(self._odom_topic, "no odometry received yet: cannot place the depth image")
            return None
        stamps = [p.stamp_ns for p in self._poses]
        i = bisect.bisect_left(stamps, stamp_ns)
        before = self._poses[i - 1] if i > 0 else None
        after = self._poses[i] if i < len(self._poses) else None
        max_age_ns = round(self.node_config.odom_max_age_s * NS)
        near = [p for p in (before, after) if p is not None and abs(p.stamp_ns - stamp_ns) <= max_age_ns]
        if not near:
            gap = min(abs(p.stamp_ns - stamp_ns) for p in (before, after) if p is not None) / NS
            self._warn(
                self._odom_topic,
                f"stale odometry: nearest pose is {gap:.3f} s from the depth stamp "
                f"(odom_max_age_s = {self.node_config.odom_max_age_s}); frame skipped",
            )
            return None
        if len(near) == 2 and before is not None and after is not None:
            return interpolate_pose(before, after, stamp_ns)
        return Pose2D(near[0].x_m, near[0].y_m, near[0].yaw_rad, stamp_ns)

    # ------------------------------------------------------------------ update
    def _on_set(self, msgs: tuple[Any, ...]) -> None:
        depth_msg = msgs[0]
        mask_msg = msgs[1] if len(msgs) == 3 else None
        info_msg = msgs[-1]
        depth_topic, mask_topic, info_topic = self._topics
        stamp_ns = stamp_to_ns(depth_msg.header.stamp)
        if self._last_stamp_ns is not None and stamp_ns <= self._last_stamp_ns:
            self._skip(
                depth_topic,
                f"stamps out of order: {stamp_ns} ns is not after the last processed "
                f"{self._last_stamp_ns} ns; frame skipped",
            )
            return
        if depth_msg.encoding not in DEPTH_ENCODINGS:
            self._skip(depth_topic, f"wrong encoding '{depth_msg.encoding}', expected 16UC1 (mm) or 32FC1 (m)")
            return
        if mask_msg is not None and mask_msg.encoding not in ("mono8", "8UC1"):
            self._skip(mask_topic, f"wrong encoding '{mask_msg.encoding}', expected mono8 (255 = drivable)")
            return
        try:
            intrinsics = camera_info_to_intrinsics(info_msg)
        except CameraInfoError as err:
            self._skip(info_topic, f"unusable camera_info: {err}")
            return
        try:
            depth = image_to_numpy(depth_msg)
        except ImageConversionError as err:
            self._skip(depth_topic, f"bad image: {err}")
            return
        try:
            mask = image_to_numpy(mask_msg) if mask_msg is not None else None
        except ImageConversionError as err:
            self._skip(mask_topic, f"bad image: {err}")
            return
        if depth.shape != (intrinsics.height, intrinsics.width):
            self._skip(
                depth_topic,
                f"size mismatch: depth is {depth.shape[1]}x{depth.shape[0]}, {info_topic} says "
                f"{intrinsics.width}x{intrinsics.height}",
            )
            return
        if mask is not None and mask.shape != depth.shape:
            self._skip(
                mask_topic,
                f"size mismatch: mask is {mask.shape[1]}x{mask.shape[0]}, depth is {depth.shape[1]}x{depth.shape[0]}",
            )
            return
        try:
            distortion = camera_info_distortion(info_msg)
            depth, mask = self._lens.correct(distortion, intrinsics, depth, mask, self.node_config.rectify_distorted)
        except DistortedImageError as err:
            self._skip(info_topic, f"{err}; frame skipped")
            return
        pose = self._pose_at(stamp_ns)
        if pose is None:
            self._skipped += 1
            return
        cfg = self.node_config
        found = self._mounts.mount(
            cfg.base_frame, depth_msg.header.frame_id, cfg.camera_mount_source, self.map_config.mount, stamp_ns
        )
        if found.problem:
            self._warn(depth_topic, found.problem)
        if found.mount is None:
            self._skipped += 1
            return
        self._mount_source = found.source
        started = time.perf_counter()
        try:
            stats = self.costmap.update(depth, intrinsics, pose, stamp_ns, mask, found.mount)
        except DepthInputError as err:
            self._skip(depth_topic, f"bad input: {err}")
            return
        except Exception as err:  # last resort: a frame we did not foresee must not end the node
            self._skip(depth_topic, f"frame skipped, update failed: {type(err).__name__}: {err}")
            return
        self._update_ms.append((time.perf_counter() - started) * 1e3)
        self._updates += 1
        self._last_stamp_ns = stamp_ns
        self._last_processed_wall = time.monotonic()
        self._last_stats = stats
        if stats.valid_pixels == 0:
            self._warn(
                depth_topic,
                "no valid depth: every pixel is 0, NaN, inf or out of range; "
                "nothing marked or cleared, last costmap kept",
            )
            return
        self._maybe_publish(stamp_ns)

    def _skip(self, topic: str, problem: str) -> None:
        self._skipped += 1
        self._warn(topic, problem)

    def _maybe_publish(self, stamp_ns: int) -> None:
        rate = self.node_config.publish_rate_hz
        last = self._last_published_ns
        if rate > 0.0 and last is not None and stamp_ns - last < round(NS / rate):
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
        status = DiagnosticStatus(name=f"{self.get_name()}: local costmap", hardware_id=self.get_fully_qualified_name())
        level, message = DiagnosticStatus.OK, "ok"
        idle_s = None if self._last_processed_wall is None else time.monotonic() - self._last_processed_wall
        if idle_s is None or idle_s > self.node_config.input_timeout_s:
            # Name the inputs that never arrived: a topic nobody publishes gives no other warning.
            silent = [self._topics[i] for i in self._inputs if i not in self._newest_ns]
            if not self._poses:
                silent.append(self._odom_topic)
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
        if self._last_stamp_ns is not None:
            age_ms = (self.get_clock().now().nanoseconds - self._last_stamp_ns) / 1e6
        values = {
            "update_ms_last": f"{self._update_ms[-1]:.2f}" if self._update_ms else "nan",
            "update_ms_median": f"{statistics.median(self._update_ms):.2f}" if self._update_ms else "nan",
            "input_age_ms": f"{age_ms:.1f}",
            "updates": str(self._updates),
            "published": str(self._published),
            "skipped_frames": str(self._skipped),
            "dropped_sets": str(self._sync.dropped_sets),
            "camera_mount_from": self._mount_source or "none yet",
            "out_of_order": str(sum(self._sync.out_of_order)),
            **dict(self.ages.key_values()),
        }
        status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self._diag_pub.publish(array)


def main(args: list[str] | None = None) -> int:
    """Run costmap_node until shutdown; a bad parameter ends it with a one-line error (exit 1)."""
    return run_node(CostmapNode, NODE_NAME, args)


if __name__ == "__main__":
    raise SystemExit(main())
