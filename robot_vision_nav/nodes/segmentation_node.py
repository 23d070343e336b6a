"""segmentation_node: camera image -> traversability mask, class ids, colour overlay, confidence (SegNet).

Subscribes (sensor-data QoS, newest only, so a slow GPU drops stale frames instead of queuing them):
  camera/color/image_raw      sensor_msgs/Image rgb8 | bgr8; with image_transport: compressed,
                              <that>/compressed (sensor_msgs/CompressedImage JPEG | PNG, decoded:
                              ros/transport.py)
Publishes (sensor-data QoS, each with the input image's header and size):
  segmentation/traversable    sensor_msgs/Image mono8, 255 = drivable (a drivable class, confident enough)
  segmentation/labels         sensor_msgs/Image mono8 class ids (the model card's label set)
  segmentation/overlay        sensor_msgs/Image rgb8, class colours over the image; only computed
                              while someone subscribes
  segmentation/confidence     sensor_msgs/Image mono8, round(255 x the soft-max probability of the
                              class in segmentation/labels); only computed while someone subscribes
                              (costmap_node with min_floor_confidence > 0)
  /diagnostics                diagnostic_msgs/DiagnosticArray: fps, processing latency p50/p99
                              (conversion in to publish), frames skipped, out of order and dropped, device,
                              GPU memory

What is done with each frame (stamp order, dropped-frame estimate, the engine, the overlay and the
confidence image, timing)
is `core.segmentation.step.SegmentationStep`; the network and its pre/post-processing are
`core.segmentation.inference.Segmenter`, loaded from the parameters by ros/segmentation_engine.py;
this node only converts messages (ros/segmentation_images.py), reads parameters, publishes and
reports. A model file that is missing, does not match its card, or predicts other classes than
`expected_labels` stops the node at start-up with a message naming the file (and the classes). Bad
input (wrong encoding, empty image, truncated data, a compressed payload that does not decode) and
any failure inside the engine get a throttled warning naming the topic; that frame has no outputs
and the node keeps running. The wall clock is read only for timing and log throttling.
"""

from __future__ import annotations

from typing import Any

from diagnostic_msgs.msg import DiagnosticStatus
from sensor_msgs.msg import Image

from robot_vision_nav.core.segmentation.step import SegmentationStep, Segmented, Skipped
from robot_vision_nav.gpu_monitor import GpuMonitor
from robot_vision_nav.nodes.segmentation_params import SegmentationNodeConfig
from robot_vision_nav.ros import topics
from robot_vision_nav.ros.diagnostics import DiagnosticsReporter
from robot_vision_nav.ros.entry import run_node
from robot_vision_nav.ros.latency import InputAges, behind_message
from robot_vision_nav.ros.lifecycle import ManagedNode
from robot_vision_nav.ros.messages import stamp_to_ns
from robot_vision_nav.ros.qos import SENSOR_QOS
from robot_vision_nav.ros.segmentation_engine import (
    Engine,
    describe,
    engine_values,
    load,
    prepare,
    release_device_memory,
    updated,
)
from robot_vision_nav.ros.segmentation_images import colour_pixels, confidence_image, segmentation_images
from robot_vision_nav.ros.timers import PeriodicTimer
from robot_vision_nav.ros.transport import ImageInput
from robot_vision_nav.ros.warn import ThrottledWarnings

NODE_NAME = "segmentation_node"


class SegmentationNode(ManagedNode):
    """The thin ROS wrapper around core.segmentation.step.SegmentationStep, a managed node (ros/lifecycle.py).

    Configure loads the model onto its device (and warms it up); cleanup lets it go, so a node
    cleaned up by a lifecycle manager holds no GPU memory.

    Raises:
        ParameterError: a bad parameter, or (with autostart) a model that is missing, unreadable,
            mismatched with its card, or predicting other classes than `expected_labels`.

    """

    def __init__(self, **node_kwargs: Any) -> None:  # Any: rclpy Node's keyword arguments (context, cli_args...)
        super().__init__(NODE_NAME, **node_kwargs)
        self._params = self.declare_config([SegmentationNodeConfig], self._on_config, check=self._check_config)
        self.start(self._params.get(SegmentationNodeConfig).autostart)

    def configure(self) -> None:
        """Load the model; make the publishers, the image subscription and the diagnostics timer."""
        self.config: SegmentationNodeConfig = self._params.get(SegmentationNodeConfig)
        engine = self.engine = prepare(self.config, *load(self.config), warmup=True)
        self._pending_engine: Engine | None = None
        self.step = SegmentationStep(engine.segmenter, engine.card.labels.palette(), self.config.overlay_alpha)
        # GPU utilisation, memory and temperature in /diagnostics (NVML), where a driver exists.
        self._gpu = GpuMonitor()
        self._warnings = ThrottledWarnings(self.get_logger())
        self.ages = InputAges()
        self._pub_traversable = self.create_publisher(Image, topics.TRAVERSABLE, SENSOR_QOS)
        self._pub_labels = self.create_publisher(Image, topics.LABELS, SENSOR_QOS)
        self._pub_overlay = self.create_publisher(Image, topics.OVERLAY, SENSOR_QOS)
        self._pub_confidence = self.create_publisher(Image, topics.CONFIDENCE, SENSOR_QOS)
        self._diagnostics = DiagnosticsReporter(self, "segmentation")
        self._image_in = ImageInput(
            self, topics.COLOR_IMAGE, self.config.image_transport, self._on_image, self._on_undecodable, SENSOR_QOS
        )
        self._topic = self._image_in.topic  # <colour>/compressed with that transport
        self._diag_timer = PeriodicTimer(self, self.config.diagnostics_period_s, self._publish_diagnostics)
        self.get_logger().info(f"segmenting {self._topic} with {describe(self.engine)}")

    def cleanup(self) -> None:
        """Let the model go (and its GPU memory with it)."""
        del self.engine, self.step
        self._pending_engine = None
        release_device_memory()

    # ------------------------------------------------------------------ configuration
    def _check_config(self, cls: type[Any], config: SegmentationNodeConfig) -> None:
        """Build the engine an update needs before it is accepted; a model that fails refuses it."""
        self._pending_engine = None  # stays so when the update is refused
        self._pending_engine = updated(self.config, config, self.engine)

    def _on_config(self, cls: type[Any], config: SegmentationNodeConfig) -> None:
        old = self.config
        self.config = config
        self.step.overlay_alpha = config.overlay_alpha
        engine, self._pending_engine = self._pending_engine, None
        if engine is not None:
            self.engine = engine
            self.step.segmenter, self.step.palette = engine.segmenter, engine.card.labels.palette()
            self.get_logger().info(f"segmentation parameters updated: now {describe(engine)}")
        self._diag_timer.set_period(config.diagnostics_period_s)
        if old.image_transport != config.image_transport:
            self._image_in.switch(config.image_transport)
            self._topic = self._image_in.topic
            self.get_logger().info(f"segmenting {self._topic} now")

    # ------------------------------------------------------------------ images
    def _warn(self, problem: str) -> None:
        """Warn naming the topic, throttled per kind of problem (ros/warn.py)."""
        self._warnings.warn(self._topic, problem, self.config.warn_throttle_s)

    def _on_undecodable(self, topic: str, problem: str) -> None:
        """A compressed frame that does not decode: counted as received, skipped with a warning."""
        self._warn(self.step.undecodable(f"{problem}; frame skipped").reason)

    def _on_image(self, msg: Image) -> None:
        stamp_ns = stamp_to_ns(msg.header.stamp)
        in_order = self.step.arrive(stamp_ns)  # the latency is measured from here
        self.ages.record("image", self.get_clock().now().nanoseconds, stamp_ns)
        if not in_order:
            return
        rgb = colour_pixels(msg)
        if isinstance(rgb, str):
            result: Segmented | Skipped = self.step.skip(rgb)
        else:
            result = self.step.on_image(
                rgb,
                overlay=self._pub_overlay.get_subscription_count() > 0,
                confidence=self._pub_confidence.get_subscription_count() > 0,
            )
        if isinstance(result, Skipped):
            self._warn(result.reason)
            return
        traversable, labels, overlay = segmentation_images(result, msg.header)
        self._pub_traversable.publish(traversable)
        self._pub_labels.publish(labels)
        if overlay is not None:
            self._pub_overlay.publish(overlay)
        if (confidence := confidence_image(result, msg.header)) is not None:
            self._pub_confidence.publish(confidence)
        self.step.done(stamp_ns, result)

    # ------------------------------------------------------------------ diagnostics
    def _publish_diagnostics(self) -> None:
        cfg, status = self.config, self._diagnostics.status()
        behind = behind_message(self.ages, cfg.max_input_age_s)
        report = self.step.report(self._topic, cfg.input_timeout_s, self._warnings.take_last_problem(), behind)
        status.level = DiagnosticStatus.OK if report.ok else DiagnosticStatus.WARN
        status.message = report.message
        values = {**report.values, **engine_values(self.engine, self._gpu), **dict(self.ages.key_values())}
        self._diagnostics.publish(status, values)


def main(args: list[str] | None = None) -> int:
    """Run segmentation_node until shutdown; a bad parameter or model ends it with one line (exit 1)."""
    return run_node(SegmentationNode, NODE_NAME, args)


if __name__ == "__main__":
    raise SystemExit(main())
