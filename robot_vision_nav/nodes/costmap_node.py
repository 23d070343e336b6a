"""costmap_node: depth + traversability mask + camera_info + odometry -> /local_costmap/costmap.

Subscribes (sensor-data QoS, newest only):
  camera/aligned_depth_to_color/image_raw  sensor_msgs/Image 16UC1 (mm) | 32FC1 (m); with
                                           depth_transport: compressedDepth, <that>/compressedDepth
                                           (sensor_msgs/CompressedImage, decoded: ros/transport.py)
  segmentation/traversable                 sensor_msgs/Image mono8, 255 = drivable (if used)
  segmentation/confidence                  sensor_msgs/Image mono8, 255 x soft-max probability (only with
                                           min_floor_confidence > 0 and the mask)
  camera/color/camera_info                 sensor_msgs/CameraInfo
  odom                                     nav_msgs/Odometry (robot_pose_source odom)
TF (robot_pose_source tf)                  global_frame -> base_frame at the depth stamp, in place of odom
Publishes:
  local_costmap/costmap                    nav_msgs/OccupancyGrid, reliable + transient local, in
                                           `global_frame`, stamped with the depth image's stamp
  /diagnostics                             diagnostic_msgs/DiagnosticArray

Depth, mask and camera_info (and the confidence, when used) are matched by stamp (approximate
time), checked, decoded and given a camera mount by ros/depth_set.py, as in semantic_obstacles_node;
the robot pose is the odometry interpolated to the image stamp, or TF's at that stamp
(ros/robot_pose.py). The algorithm is
`core.costmap.RollingCostmap`; this node only converts messages, reads parameters, times the work
and reports. A camera_info with lens distortion is refused, or undistorted with `rectify_distorted`
(ros/lens.py). Bad input (wrong encoding, size mismatch, missing or zero camera_info, a payload that
does not decode, a distorted image, no valid depth, stamps out of order, stale odometry or TF pose)
gets a throttled warning naming the topic and the problem; the last good costmap stays published
and the node keeps running. It never reads the wall clock inside the update, so a replay is
repeatable.
"""

from __future__ import annotations

from typing import Any

from nav_msgs.msg import OccupancyGrid
from sensor_msgs.msg import CameraInfo, Image

from robot_vision_nav.core.costmap import CostmapConfig
from robot_vision_nav.core.costmap import warm_up as warm_up_costmap
from robot_vision_nav.core.depth_steps import CostmapStep, Skipped
from robot_vision_nav.nodes.costmap_params import CostmapNodeConfig
from robot_vision_nav.ros import topics
from robot_vision_nav.ros.depth_set import (
    TIME_JUMP_CONFIRM,
    TIME_JUMP_NS,
    DepthSet,
    DepthSetInput,
    DepthSetSettings,
)
from robot_vision_nav.ros.diagnostics import DiagnosticsReporter
from robot_vision_nav.ros.entry import run_node
from robot_vision_nav.ros.latency import InputAges
from robot_vision_nav.ros.lifecycle import ManagedNode
from robot_vision_nav.ros.messages import occupancy_grid
from robot_vision_nav.ros.qos import MAP_QOS
from robot_vision_nav.ros.robot_pose import READ_AT_CONFIGURE, PoseAtStamp
from robot_vision_nav.ros.tf import TfReader
from robot_vision_nav.ros.timers import PeriodicTimer
from robot_vision_nav.ros.warn import ThrottledWarnings

NODE_NAME = "costmap_node"

ODOM_BUFFER = 200  # poses kept for interpolation: several seconds at typical 50 Hz odometry


class CostmapNode(ManagedNode):
    """The thin ROS wrapper around core.depth_steps.CostmapStep, a managed node (ros/lifecycle.py)."""

    def __init__(self, **node_kwargs: Any) -> None:  # Any: rclpy Node's keyword arguments (context, cli_args...)
        super().__init__(NODE_NAME, **node_kwargs)
        self._params = self.declare_config(
            [CostmapConfig, CostmapNodeConfig], self._on_config, read_at_configure=READ_AT_CONFIGURE
        )
        self.start(self._params.get(CostmapNodeConfig).autostart)

    def configure(self) -> None:
        """The map, the publishers, the depth-set and robot pose inputs, the diagnostics timer."""
        self.map_config: CostmapConfig = self._params.get(CostmapConfig)
        self.node_config: CostmapNodeConfig = self._params.get(CostmapNodeConfig)
        warm_up_costmap(self.map_config)  # a compile on the first frame would stall it for seconds
        self.step = CostmapStep(self.map_config, self.node_config.publish_rate_hz)
        self._warnings = ThrottledWarnings(self.get_logger())
        self.ages = InputAges()
        self._tf = TfReader(self)
        self._mount_source = ""
        self._pub = self.create_publisher(OccupancyGrid, topics.LOCAL_COSTMAP, MAP_QOS)
        self._diagnostics = DiagnosticsReporter(self, "local costmap")
        warn = lambda topic, problem: self._warn(topic, problem)  # noqa: E731 looked up per call: tests spy on _warn
        self._depth_sets = DepthSetInput(
            self,
            (topics.DEPTH_IMAGE, topics.TRAVERSABLE, topics.CAMERA_INFO),
            self._tf,
            self._input_settings(),
            on_set=self._on_set,
            on_restart=self._on_restart,
            warn=warn,
            ages=self.ages,
            admit=lambda stamp_ns: self._pose.admit(stamp_ns),  # checked before the camera mount
            confidence_topic=topics.CONFIDENCE,
        )
        self._pose = PoseAtStamp(
            self, self.node_config, self._tf, warn, self.ages, capacity=ODOM_BUFFER, jump_ns=TIME_JUMP_NS,
            confirm=TIME_JUMP_CONFIRM,
        )  # fmt: skip
        self._diag_timer = PeriodicTimer(self, self.node_config.diagnostics_period_s, self._publish_diagnostics)
        mask = self.map_config.use_traversability_mask
        self.get_logger().info(
            f"local costmap {self.map_config.width_m} x {self.map_config.height_m} m at "
            f"{self.map_config.resolution_m} m in '{self.node_config.global_frame}'; depth from "
            f"{self._topics[0]}, mask {'from ' + self._topics[1] if mask else 'off'}"
            f"{self._confidence_words()}"
            f"; robot pose from {self._pose.name}; camera mount: {self.node_config.camera_mount_source}"
            f"{'' if self._tf.available else ' (no tf2_ros here)'}"
        )

    def cleanup(self) -> None:
        """Drop the map: a node configured again starts from an empty one."""
        self._tf.close()
        self.step.costmap.reset()

    @property
    def _topics(self) -> tuple[str, str, str]:
        """Depth (as subscribed: <depth>/compressedDepth with that transport), mask, camera_info."""
        return self._depth_sets.topics

    # ------------------------------------------------------------------ configuration
    def _on_config(self, cls: type[Any], config: Any) -> None:  # Any: ros/params.ConfigCallback, one class per call
        if cls is CostmapConfig:
            kept = self.step.costmap.reconfigure(config)
            self.map_config = config
            self._configure_inputs()
            self.get_logger().info("costmap parameters updated" + ("" if kept else "; grid changed, map reset"))
        else:
            old = self.node_config
            self.node_config = self._pose.config = config
            self.step.pacer.rate_hz = config.publish_rate_hz
            self._diag_timer.set_period(config.diagnostics_period_s)
            if old.global_frame != config.global_frame:
                self._depth_sets.restart("global_frame changed: map and odometry from the old frame dropped")
            self._configure_inputs()

    def _input_settings(self) -> DepthSetSettings:
        return DepthSetSettings.of(self.node_config, self.map_config, confidence=self.map_config.uses_confidence)

    def _confidence_words(self) -> str:
        """'' when the confidence is off (the start-up line stays as it was), else where it comes from."""
        cfg = self.map_config
        if not cfg.uses_confidence:
            return ""
        topic, minimum = self._depth_sets.confidence_topic, cfg.min_floor_confidence
        return f", confidence from {topic} (drivable floor below {minimum:g} is unknown)"

    def _configure_inputs(self) -> None:
        was = self._depth_sets.settings.use_confidence
        if self._depth_sets.configure(self._input_settings()):
            self._pose.poses.forget_jumps()  # a new matching has always restarted the count of stale odometry too
        if self._depth_sets.settings.use_confidence != was:
            now = self._confidence_words()[2:] or f"no confidence: {self._depth_sets.confidence_topic} unsubscribed"
            self.get_logger().info(f"depth sets matched afresh; {now}")

    def _on_restart(self, reason: str) -> None:
        """Forget everything time- or frame-bound (the queued inputs are gone already): poses, the map, stamps."""
        self._pose.clear()
        self.step.restart()
        self.get_logger().warning(f"costmap restarted: {reason}")

    # ------------------------------------------------------------------ inputs and update
    def _warn(self, topic: str, problem: str) -> None:
        """Warn naming the topic, throttled per kind of problem (ros/warn.py)."""
        self._warnings.warn(topic, problem, self.node_config.warn_throttle_s)

    def _add(self, topic_index: int, msg: Image | CameraInfo) -> None:
        """One depth (0), mask (1), camera_info (2) or confidence (3) message, as its subscription hands it over."""
        self._depth_sets.add(topic_index, msg)

    def _on_set(self, frame: DepthSet) -> None:
        pose = self._pose.take()  # the pose admitted at the set's stamp, before its camera mount
        self._mount_source = frame.mount_source
        result = self.step.on_frame(
            frame.depth, frame.intrinsics, pose, frame.stamp_ns, frame.mask, frame.mount, frame.confidence
        )
        if isinstance(result, Skipped):
            self._depth_sets.skip(frame.topics[0], result.reason)
            return
        self._depth_sets.processed(frame.stamp_ns)
        if result.problem:
            self._warn(frame.topics[0], result.problem)
        if result.publish:
            cm = self.step.costmap
            ox, oy = cm.origin_m
            grid = occupancy_grid(cm.occupancy, cm.resolution_m, ox, oy, self.node_config.global_frame, frame.stamp_ns)
            self._pub.publish(grid)

    # ------------------------------------------------------------------ diagnostics
    def _publish_diagnostics(self) -> None:
        status = self._diagnostics.status()
        values = self._depth_sets.report(
            status,
            self.step.times,
            self.step.published,
            timeout_s=self.node_config.input_timeout_s,
            max_input_age_s=self.node_config.max_input_age_s,
            last_problem=self._warnings.take_last_problem(),
            now_ns=self.get_clock().now().nanoseconds,
            extra_silent=[] if self._pose.seen else [self._pose.name],
            values={"camera_mount_from": self._mount_source or "none yet"},
        )
        self._diagnostics.publish(status, values)


def main(args: list[str] | None = None) -> int:
    """Run costmap_node until shutdown; a bad parameter ends it with a one-line error (exit 1)."""
    return run_node(CostmapNode, NODE_NAME, args)


if __name__ == "__main__":
    raise SystemExit(main())
