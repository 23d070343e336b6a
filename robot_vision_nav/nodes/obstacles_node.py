"""semantic_obstacles_node: depth + traversability mask + camera_info -> obstacle points for Nav2.

Subscribes (sensor-data QoS, newest only):
  camera/aligned_depth_to_color/image_raw  sensor_msgs/Image 16UC1 (mm) | 32FC1 (m); with
                                           depth_transport: compressedDepth, <that>/compressedDepth
                                           (sensor_msgs/CompressedImage, decoded: ros/transport.py)
  segmentation/traversable                 sensor_msgs/Image mono8, 255 = drivable (if used)
  camera/color/camera_info                 sensor_msgs/CameraInfo
Publishes:
  segmentation/obstacles                   sensor_msgs/PointCloud2 x, y, z FLOAT32 in `base_frame`, sensor-data
                                           QoS, stamped with the depth image's stamp: obstacles at their
                                           height, keep-out floor and drop-offs at `keepout_height_m`
  /diagnostics                             diagnostic_msgs/DiagnosticArray

For a Nav2 costmap's ObstacleLayer or VoxelLayer (`config/nav2_semantic_obstacles.yaml`): Nav2 then
sees the painted keep-out zones that only segmentation finds. Depth, mask and camera_info are
matched by stamp (approximate time), as costmap_node does. The algorithm is
`core.obstacle_cloud.ObstacleCloudBuilder`; this node only converts messages, reads parameters,
times the work and reports. A frame with nothing in view gives an empty cloud (so Nav2 knows the
source is alive); bad input (wrong encoding, size mismatch, missing or zero camera_info, a payload
that does not decode, a camera_info with lens distortion unless `rectify_distorted` undistorts it
(ros/lens.py), no valid depth, stamps out of order) gets a throttled warning naming the topic and no
cloud, and the node
keeps running. It never reads the wall clock to build a cloud, so a replay is repeatable.
"""

from __future__ import annotations

import statistics
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image, PointCloud2

from robot_vision_nav.core.config import param
from robot_vision_nav.core.geometry import CameraMount
from robot_vision_nav.core.obstacle_cloud import ObstacleCloud, ObstacleCloudBuilder, ObstacleCloudConfig
from robot_vision_nav.core.obstacle_cloud import warm_up as warm_up_cloud
from robot_vision_nav.core.projection import DepthInputError
from robot_vision_nav.ros.entry import run_node
from robot_vision_nav.ros.image import ImageConversionError, image_to_numpy
from robot_vision_nav.ros.latency import InputAges, behind_message, max_input_age_param
from robot_vision_nav.ros.lens import DistortedImageError, LensCorrection, rectify_distorted_param
from robot_vision_nav.ros.messages import (
    CameraInfoError,
    camera_info_distortion,
    camera_info_to_intrinsics,
    stamp_to_ns,
    xyz_point_cloud,
)
from robot_vision_nav.ros.params import ConfigParameters
from robot_vision_nav.ros.qos import SENSOR_QOS
from robot_vision_nav.ros.sync import ApproximateTimeSync
from robot_vision_nav.ros.tf import CameraMountSource, TfReader, camera_mount_source_param, check_mount_source
from robot_vision_nav.ros.transport import DEPTH_TRANSPORTS, ImageInput, check_transport, depth_transport_param
from robot_vision_nav.ros.warn import ThrottledWarnings

NODE_NAME = "semantic_obstacles_node"
DEPTH_TOPIC = "camera/aligned_depth_to_color/image_raw"
MASK_TOPIC = "segmentation/traversable"
INFO_TOPIC = "camera/color/camera_info"
OBSTACLES_TOPIC = "segmentation/obstacles"
DIAGNOSTICS_TOPIC = "/diagnostics"

DEPTH_ENCODINGS = ("16UC1", "mono16", "32FC1")
NS = 1_000_000_000
INPUT_NAMES = {0: "depth", 1: "mask", 2: "camera_info"}  # _add's topic index -> name in diagnostics
# A stamp more than 1 s older than the newest, this many times in a row on one input, is a clock
# that restarted (a looped bag, a restarted simulator): the matching starts afresh. One such frame
# alone is a late retransmission, refused as out of order.
TIME_JUMP_NS = NS
TIME_JUMP_CONFIRM = 3


@dataclass(frozen=True)
class SemanticObstaclesNodeConfig:
    """The node's own parameters (the cloud's are in ObstacleCloudConfig)."""

    base_frame: str = param(
        "base_link", "frame of the published cloud: the robot's body frame, the one camera_mount_xyzrpy is given in"
    )
    camera_mount_source: str = camera_mount_source_param()
    depth_transport: str = depth_transport_param()
    rectify_distorted: bool = rectify_distorted_param()
    sync_queue_size: int = param(
        20,
        "messages kept per input while matching depth, mask and camera_info; reach back far enough for the "
        "slowest mask (20 frames = 1.3 s at 15 Hz)",
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


class SemanticObstaclesNode(Node):
    """The thin ROS wrapper around ObstacleCloudBuilder."""

    def __init__(self, **node_kwargs: Any) -> None:
        super().__init__(NODE_NAME, **node_kwargs)
        try:
            self._params = ConfigParameters(
                self, [ObstacleCloudConfig, SemanticObstaclesNodeConfig], on_change=self._on_config
            )
        except BaseException:
            super().destroy_node()  # a refused start leaves no half-made node in the graph
            raise
        self.cloud_config: ObstacleCloudConfig = self._params.get(ObstacleCloudConfig)
        self.node_config: SemanticObstaclesNodeConfig = self._params.get(SemanticObstaclesNodeConfig)
        warm_up_cloud(self.cloud_config)  # a compile on the first frame would stall it for seconds
        self.builder = ObstacleCloudBuilder(self.cloud_config)
        self._tf = TfReader(self)
        self._mounts = CameraMountSource(self._tf, self.get_logger().info, self.get_logger().warning)
        self._lens = LensCorrection()

        self._last_stamp_ns: int | None = None
        self._last_processed_wall: float | None = None
        self._update_ms: deque[float] = deque(maxlen=100)
        self._updates = 0
        self._published = 0
        self._skipped = 0
        self._last_cloud: ObstacleCloud | None = None
        self._warnings = ThrottledWarnings(self.get_logger())
        self.ages = InputAges()

        self._pub = self.create_publisher(PointCloud2, OBSTACLES_TOPIC, SENSOR_QOS)
        self._diag_pub = self.create_publisher(DiagnosticArray, DIAGNOSTICS_TOPIC, 10)
        self._out_topic = self.resolve_topic_name(OBSTACLES_TOPIC)
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
        self._diag_timer = self.create_timer(self.node_config.diagnostics_period_s, self._publish_diagnostics)
        cfg = self.cloud_config
        self.get_logger().info(
            f"semantic obstacles on {self._out_topic} in '{self.node_config.base_frame}' from {self._topics[0]}, "
            f"mask {'from ' + self._topics[1] if cfg.use_traversability_mask else 'off'}; keep-out at "
            f"{cfg.keepout_height_m} m, voxel {cfg.voxel_size_m} m"
        )

    # ------------------------------------------------------------------ configuration
    def _make_sync(self) -> None:
        cfg = self.node_config
        # Without the mask the set is depth + camera_info: input 1 is simply never required.
        self._inputs = (0, 1, 2) if self.cloud_config.use_traversability_mask else (0, 2)
        self._sync: ApproximateTimeSync[Any] = ApproximateTimeSync(
            len(self._inputs), cfg.sync_queue_size, round(cfg.sync_slop_s * NS), self._on_set, pivot=0
        )
        self._last_out_of_order = [0] * len(self._inputs)
        self._last_missing = [0] * len(self._inputs)
        self._newest_ns: dict[int, int] = {}
        self._behind: dict[int, int] = {}  # per input, messages in a row more than TIME_JUMP_NS old

    def _on_config(self, cls: type[Any], config: Any) -> None:
        if cls is ObstacleCloudConfig:
            mask_changed = config.use_traversability_mask != self.cloud_config.use_traversability_mask
            self.cloud_config = config
            self.builder.reconfigure(config)
            if mask_changed:
                self._make_sync()
            self.get_logger().info("semantic obstacle parameters updated")
        else:
            old = self.node_config
            self.node_config = config
            if (old.sync_queue_size, old.sync_slop_s) != (config.sync_queue_size, config.sync_slop_s):
                self._make_sync()
            if old.diagnostics_period_s != config.diagnostics_period_s:
                self.destroy_timer(self._diag_timer)
                self._diag_timer = self.create_timer(config.diagnostics_period_s, self._publish_diagnostics)
            if old.depth_transport != config.depth_transport:
                self._depth_in.switch(config.depth_transport)
                self._topics = (self._depth_in.topic, self._topics[1], self._topics[2])

    def _mount(self, frame_id: str, stamp_ns: int) -> CameraMount | None:
        """The pose in `base_frame` of the camera whose image is in `frame_id` at `stamp_ns`; None skips it.

        TF base_frame <- frame_id, or `camera_mount_xyzrpy`, as `camera_mount_source` says (ros/tf.py);
        a missing transform in `tf` mode is warned about, naming the frame, and the frame is skipped.
        """
        cfg = self.node_config
        found = self._mounts.mount(cfg.base_frame, frame_id, cfg.camera_mount_source, self.cloud_config.mount, stamp_ns)
        if found.problem:
            self._warn(self._topics[0], found.problem)
        return found.mount

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

    def _restart(self, reason: str) -> None:
        """Forget the queued inputs and the stamps: the new timeline starts afresh."""
        self._make_sync()
        self._last_stamp_ns = None
        self.get_logger().warning(f"input matching restarted: {reason}")

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
        mount = self._mount(depth_msg.header.frame_id, stamp_ns)
        if mount is None:
            self._skipped += 1
            return
        started = time.perf_counter()
        try:
            cloud = self.builder.build(depth, intrinsics, mask, mount)
        except DepthInputError as err:
            self._skip(depth_topic, f"bad input: {err}")
            return
        except Exception as err:  # last resort: a frame we did not foresee must not end the node
            self._skip(depth_topic, f"frame skipped, cloud failed: {type(err).__name__}: {err}")
            return
        self._update_ms.append((time.perf_counter() - started) * 1e3)
        self._updates += 1
        self._last_stamp_ns = stamp_ns
        self._last_processed_wall = time.monotonic()
        self._last_cloud = cloud
        if cloud.valid_pixels == 0:
            self._warn(
                depth_topic,
                "no valid depth: every pixel is 0, NaN, inf or out of range; no cloud published for this frame",
            )
            return
        self._pub.publish(xyz_point_cloud(cloud.points, self.node_config.base_frame, stamp_ns))
        self._published += 1

    def _skip(self, topic: str, problem: str) -> None:
        self._skipped += 1
        self._warn(topic, problem)

    # ------------------------------------------------------------------ diagnostics
    def _publish_diagnostics(self) -> None:
        last_problem = self._warnings.take_last_problem()
        status = DiagnosticStatus(
            name=f"{self.get_name()}: semantic obstacles", hardware_id=self.get_fully_qualified_name()
        )
        level, message = DiagnosticStatus.OK, "ok"
        idle_s = None if self._last_processed_wall is None else time.monotonic() - self._last_processed_wall
        if idle_s is None or idle_s > self.node_config.input_timeout_s:
            # Name the inputs that never arrived: a topic nobody publishes gives no other warning.
            silent = [self._topics[i] for i in self._inputs if i not in self._newest_ns]
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
        cloud = self._last_cloud
        values = {
            "update_ms_last": f"{self._update_ms[-1]:.2f}" if self._update_ms else "nan",
            "update_ms_median": f"{statistics.median(self._update_ms):.2f}" if self._update_ms else "nan",
            "input_age_ms": f"{age_ms:.1f}",
            "points_last": str(cloud.points.shape[0]) if cloud is not None else "0",
            "obstacle_pixels_last": str(cloud.obstacle_pixels) if cloud is not None else "0",
            "keepout_pixels_last": str(cloud.keepout_pixels) if cloud is not None else "0",
            "updates": str(self._updates),
            "published": str(self._published),
            "skipped_frames": str(self._skipped),
            "dropped_sets": str(self._sync.dropped_sets),
            "out_of_order": str(sum(self._sync.out_of_order)),
            **dict(self.ages.key_values()),
        }
        status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self._diag_pub.publish(array)


def main(args: list[str] | None = None) -> int:
    """Run semantic_obstacles_node until shutdown; a bad parameter ends it with a one-line error (exit 1)."""
    return run_node(SemanticObstaclesNode, NODE_NAME, args)


if __name__ == "__main__":
    raise SystemExit(main())
