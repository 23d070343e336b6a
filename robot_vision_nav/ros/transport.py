"""How a node reads a camera image: raw, or from image_transport's compressed topics.

A camera driver that publishes through image_transport (realsense2_camera does) puts, beside each
raw `<topic>`, a JPEG or PNG of it on `<topic>/compressed` (compressed_image_transport) and, for
depth, a PNG on `<topic>/compressedDepth` (compressed_depth_image_transport), both as
sensor_msgs/CompressedImage. Over a network, or recorded, those are what there is. With
`image_transport: compressed` (segmentation_node) or `depth_transport: compressedDepth`
(costmap_node, safety_node, semantic_obstacles_node) the node subscribes there instead, the way an
image_transport subscriber does: the base topic is resolved first (so remappings, a camera preset
and the namespace apply to it), then the suffix is appended. Each message is decoded into a
sensor_msgs/Image with the original header (`ros.image.compressed_to_image`), and the node's own
callback takes it as if it had come raw; one that does not decode goes to the node's `on_error`,
which warns naming the topic (safety_node also stops the robot), and is dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from rclpy.node import Node
from rclpy.qos import QoSProfile
from sensor_msgs.msg import CompressedImage, Image

from robot_vision_nav.core.config import ConfigError, param
from robot_vision_nav.ros.image import ImageConversionError, compressed_to_image

if TYPE_CHECKING:
    from rclpy.subscription import Subscription

IMAGE_TRANSPORTS = ("raw", "compressed")
DEPTH_TRANSPORTS = ("raw", "compressedDepth")


def image_transport_param() -> str:
    """`image_transport`: how segmentation_node gets the colour image."""
    field: str = param(  # a dataclass field typed as its default, as dataclasses.field is
        "raw",
        "how the colour image arrives: raw (sensor_msgs/Image on the colour topic) or compressed "
        "(sensor_msgs/CompressedImage, JPEG or PNG, on <colour topic>/compressed: image_transport's compressed "
        "plugin)",
    )
    return field


def depth_transport_param() -> str:
    """`depth_transport`: how costmap_node, safety_node and semantic_obstacles_node get the depth image."""
    field: str = param(  # a dataclass field typed as its default, as dataclasses.field is
        "raw",
        "how the depth image arrives: raw (sensor_msgs/Image on the depth topic) or compressedDepth "
        "(sensor_msgs/CompressedImage, PNG, on <depth topic>/compressedDepth: image_transport's compressedDepth "
        "plugin; its rvl format is not supported)",
    )
    return field


def check_transport(name: str, value: str, allowed: tuple[str, ...]) -> None:
    """Refuse a transport parameter that is not one of `allowed`, naming it.

    Raises:
        ConfigError: naming the parameter, the value and the allowed values.

    """
    if value not in allowed:
        raise ConfigError(f"parameter '{name}' = {value!r} is not one of {', '.join(allowed)}")


class ImageInput:
    """One camera image subscription of a node, raw or compressed, switchable at run time.

    Args:
        node: the node that subscribes.
        base_topic: the raw image topic as the node names it (relative: remaps and namespace apply).
        transport: "raw", "compressed" or "compressedDepth".
        callback: takes each image as a sensor_msgs/Image (decoded ones too).
        on_error: called with (topic, problem) for a message that does not decode; it is dropped.
        qos: the subscription's QoS (the node's sensor-data profile).

    """

    def __init__(
        self,
        node: Node,
        base_topic: str,
        transport: str,
        callback: Callable[[Image], None],
        on_error: Callable[[str, str], None],
        qos: QoSProfile,
    ) -> None:
        self._node = node
        self._base = base_topic
        self._callback = callback
        self._on_error = on_error
        self._qos = qos
        self._subscription: Subscription[Image] | Subscription[CompressedImage] | None = None
        self.transport = ""
        self.topic = ""
        self.switch(transport)

    def switch(self, transport: str) -> None:
        """Subscribe with `transport` (a no-op when it is the current one): the old subscription goes first."""
        if transport == self.transport:
            return
        if transport not in {*IMAGE_TRANSPORTS, *DEPTH_TRANSPORTS}:
            raise ValueError(f"unknown image transport {transport!r}")
        if self._subscription is not None:
            self._node.destroy_subscription(self._subscription)
        resolved = self._node.resolve_topic_name(self._base)
        self.transport = transport
        if transport == "raw":
            self.topic = resolved
            self._subscription = self._node.create_subscription(Image, self._base, self._callback, self._qos)
        else:
            # The decoder (OpenCV) is loaded now, not on the first frame: an import of a second or more
            # inside a callback would stall the node's executor (the safety layer's watchdog with it).
            import robot_vision_nav.replay.images  # noqa: F401

            self.topic = f"{resolved}/{transport}"
            self._subscription = self._node.create_subscription(
                CompressedImage, self.topic, self._on_compressed, self._qos
            )

    def _on_compressed(self, msg: CompressedImage) -> None:
        try:
            image = compressed_to_image(msg)
        except ImageConversionError as err:
            self._on_error(self.topic, f"undecodable CompressedImage (format {msg.format!r}): {err}")
            return
        self._callback(image)
