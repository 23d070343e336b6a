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
matched by stamp (approximate time), checked, decoded and given a camera mount by ros/depth_set.py,
as in costmap_node. The algorithm is
`core.obstacle_cloud.ObstacleCloudBuilder`; this node only converts messages, reads parameters,
times the work and reports. A frame with nothing in view gives an empty cloud (so Nav2 knows the
source is alive); bad input (wrong encoding, size mismatch, missing or zero camera_info, a payload
that does not decode, a camera_info with lens distortion unless `rectify_distorted` undistorts it
(ros/lens.py), no valid depth, stamps out of order) gets a throttled warning naming the topic and no
cloud, and the node
keeps running. It never reads the wall clock to build a cloud, so a replay is repeatable.
"""

from __future__ import annotations

from typing import Any

from sensor_msgs.msg import PointCloud2

from robot_vision_nav.core.depth_steps import ObstacleStep, Skipped
from robot_vision_nav.core.obstacle_cloud import ObstacleCloudConfig
from robot_vision_nav.core.obstacle_cloud import warm_up as warm_up_cloud
from robot_vision_nav.nodes.obstacles_params import SemanticObstaclesNodeConfig
from robot_vision_nav.ros import topics
from robot_vision_nav.ros.depth_set import (
    DepthSet,
    DepthSetInput,
    DepthSetSettings,
)
from robot_vision_nav.ros.diagnostics import DiagnosticsReporter
from robot_vision_nav.ros.entry import run_node
from robot_vision_nav.ros.latency import InputAges
from robot_vision_nav.ros.lifecycle import ManagedNode
from robot_vision_nav.ros.messages import xyz_point_cloud
from robot_vision_nav.ros.qos import SENSOR_QOS
from robot_vision_nav.ros.tf import TfReader
from robot_vision_nav.ros.timers import PeriodicTimer
from robot_vision_nav.ros.warn import ThrottledWarnings

NODE_NAME = "semantic_obstacles_node"


class SemanticObstaclesNode(ManagedNode):
    """The thin ROS wrapper around ObstacleCloudBuilder, a managed node (ros/lifecycle.py)."""

    def __init__(self, **node_kwargs: Any) -> None:  # Any: rclpy Node's keyword arguments (context, cli_args...)
        super().__init__(NODE_NAME, **node_kwargs)
        self._params = self.declare_config([ObstacleCloudConfig, SemanticObstaclesNodeConfig], self._on_config)
        self.start(self._params.get(SemanticObstaclesNodeConfig).autostart)

    def configure(self) -> None:
        """The cloud builder, the publishers, the depth-set subscriptions and the diagnostics timer."""
        self.cloud_config: ObstacleCloudConfig = self._params.get(ObstacleCloudConfig)
        self.node_config: SemanticObstaclesNodeConfig = self._params.get(SemanticObstaclesNodeConfig)
        warm_up_cloud(self.cloud_config)  # a compile on the first frame would stall it for seconds
        self.step = ObstacleStep(self.cloud_config)
        self._tf = TfReader(self)
        self._published = 0
        self._warnings = ThrottledWarnings(self.get_logger())
        self.ages = InputAges()

        self._pub = self.create_publisher(PointCloud2, topics.OBSTACLES, SENSOR_QOS)
        self._diagnostics = DiagnosticsReporter(self, "semantic obstacles")
        self._out_topic = self.resolve_topic_name(topics.OBSTACLES)
        self._depth_sets = DepthSetInput(
            self,
            (topics.DEPTH_IMAGE, topics.TRAVERSABLE, topics.CAMERA_INFO),
            self._tf,
            DepthSetSettings.of(self.node_config, self.cloud_config),
            on_set=self._on_set,
            on_restart=lambda reason: self.get_logger().warning(f"input matching restarted: {reason}"),
            warn=lambda topic, problem: self._warn(topic, problem),  # looked up per call: tests spy on _warn
            ages=self.ages,
        )
        self._diag_timer = PeriodicTimer(self, self.node_config.diagnostics_period_s, self._publish_diagnostics)
        cfg = self.cloud_config
        depth, mask, _ = self._depth_sets.topics
        self.get_logger().info(
            f"semantic obstacles on {self._out_topic} in '{self.node_config.base_frame}' from {depth}, "
            f"mask {'from ' + mask if cfg.use_traversability_mask else 'off'}; keep-out at "
            f"{cfg.keepout_height_m} m, voxel {cfg.voxel_size_m} m"
        )

    def cleanup(self) -> None:
        """Drop the TF listener with the subscriptions."""
        self._tf.close()

    # ------------------------------------------------------------------ configuration
    def _on_config(self, cls: type[Any], config: Any) -> None:  # Any: ros/params.ConfigCallback, one class per call
        if cls is ObstacleCloudConfig:
            self.cloud_config = config
            self.step.builder.reconfigure(config)
            self._depth_sets.configure(DepthSetSettings.of(self.node_config, config))
            self.get_logger().info("semantic obstacle parameters updated")
        else:
            self.node_config = config
            self._depth_sets.configure(DepthSetSettings.of(config, self.cloud_config))
            self._diag_timer.set_period(config.diagnostics_period_s)

    def _warn(self, topic: str, problem: str) -> None:
        """Warn naming the topic, throttled per kind of problem (ros/warn.py)."""
        self._warnings.warn(topic, problem, self.node_config.warn_throttle_s)

    # ------------------------------------------------------------------ update
    def _on_set(self, frame: DepthSet) -> None:
        result = self.step.on_frame(frame.depth, frame.intrinsics, frame.mask, frame.mount)
        if isinstance(result, Skipped):
            self._depth_sets.skip(frame.topics[0], result.reason)
            return
        self._depth_sets.processed(frame.stamp_ns)
        if result.problem:
            self._warn(frame.topics[0], result.problem)
            return
        self._pub.publish(xyz_point_cloud(result.cloud.points, self.node_config.base_frame, frame.stamp_ns))
        self._published += 1

    # ------------------------------------------------------------------ diagnostics
    def _publish_diagnostics(self) -> None:
        cloud = self.step.last_cloud
        status = self._diagnostics.status()
        values = self._depth_sets.report(
            status,
            self.step.times,
            self._published,
            timeout_s=self.node_config.input_timeout_s,
            max_input_age_s=self.node_config.max_input_age_s,
            last_problem=self._warnings.take_last_problem(),
            now_ns=self.get_clock().now().nanoseconds,
            values={
                "points_last": str(cloud.points.shape[0]) if cloud is not None else "0",
                "obstacle_pixels_last": str(cloud.obstacle_pixels) if cloud is not None else "0",
                "keepout_pixels_last": str(cloud.keepout_pixels) if cloud is not None else "0",
            },
        )
        self._diagnostics.publish(status, values)


def main(args: list[str] | None = None) -> int:
    """Run semantic_obstacles_node until shutdown; a bad parameter ends it with a one-line error (exit 1)."""
    return run_node(SemanticObstaclesNode, NODE_NAME, args)


if __name__ == "__main__":
    raise SystemExit(main())
