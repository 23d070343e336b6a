"""Shared by the tests of the nodes that take depth + mask + camera_info (costmap_node, semantic_obstacles_node).

Both take their camera through `ros.depth_set.DepthSetInput`, so their harnesses are the same up to
the output: a driver node publishes the camera on real topics, the /rosout warnings and /diagnostics
come back.
"""

from __future__ import annotations

import array
import struct
import time
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import Log
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from robot_vision_nav.core.geometry import PinholeIntrinsics
from robot_vision_nav.ros.image import numpy_to_image
from robot_vision_nav.ros.messages import ns_to_stamp
from robot_vision_nav.ros.qos import SENSOR_QOS
from robot_vision_nav.sim.synthetic import d435_intrinsics

K = d435_intrinsics(160, 120)
SEC = 1_000_000_000
DEPTH, MASK, INFO = (
    "/camera/aligned_depth_to_color/image_raw",
    "/segmentation/traversable",
    "/camera/color/camera_info",
)
OPTICAL_FRAME = "camera_color_optical_frame"
# A lens with barrel distortion, as a calibration gives it (k1, k2, p1, p2, k3).
PLUMB_BOB = (-0.12, 0.05, 0.001, -0.0005, 0.01)


def camera_info(k: PinholeIntrinsics, stamp_ns: int) -> CameraInfo:
    msg = CameraInfo(width=k.width, height=k.height)
    msg.header.stamp = ns_to_stamp(stamp_ns)
    msg.header.frame_id = OPTICAL_FRAME
    msg.k = [k.fx, 0.0, k.cx, 0.0, k.fy, k.cy, 0.0, 0.0, 1.0]
    return msg


def distorted_info(stamp_ns: int, model: str = "plumb_bob", d: tuple[float, ...] = PLUMB_BOB) -> CameraInfo:
    msg = camera_info(K, stamp_ns)
    msg.distortion_model = model
    msg.d = list(d)
    return msg


def compressed_depth(
    depth_mm: np.ndarray, stamp_ns: int, fmt: str = "16UC1; compressedDepth png", data: bytes | None = None
) -> CompressedImage:
    """What compressed_depth_image_transport publishes for a 16UC1 frame: a 12-byte ConfigHeader
    (int32 INV_DEPTH = 0, float32 depthQuantA/B unused for 16UC1), then a 16-bit PNG."""
    if data is None:
        ok, png = cv2.imencode(".png", depth_mm)
        assert ok
        data = struct.pack("<iff", 0, 0.0, 0.0) + png.tobytes()
    msg = CompressedImage(format=fmt)
    msg.header.stamp = ns_to_stamp(stamp_ns)
    msg.header.frame_id = OPTICAL_FRAME
    msg.data = array.array("B", data)
    return msg


class DepthNodeHarness:
    """A depth node plus a driver node in one executor; the driver publishes the camera and reads the logs.

    A subclass makes the node, subscribes to its output and sets `depth_mm` and `mask`, the frame
    `publish` sends by default.
    """

    depth_mm: np.ndarray
    mask: np.ndarray

    def __init__(self, node: Any, context: Any) -> None:
        self.node = node
        self.driver = Node("driver", context=context)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self.executor.add_node(self.driver)
        d = self.driver
        self.pub_depth = d.create_publisher(Image, DEPTH, SENSOR_QOS)
        self.pub_depth_png = d.create_publisher(CompressedImage, DEPTH + "/compressedDepth", SENSOR_QOS)
        self.pub_mask = d.create_publisher(Image, MASK, SENSOR_QOS)
        self.pub_info = d.create_publisher(CameraInfo, INFO, SENSOR_QOS)
        self.logs: list[str] = []
        self.diagnostics: list[DiagnosticArray] = []
        rosout_qos = QoSProfile(
            depth=100, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
        )
        d.create_subscription(Log, "/rosout", lambda m: self.logs.append(f"{m.name}: {m.msg}"), rosout_qos)
        d.create_subscription(DiagnosticArray, "/diagnostics", self.diagnostics.append, 10)

    def spin_until(self, done: Callable[[], bool], timeout_s: float = 5.0) -> bool:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            self.executor.spin_once(timeout_sec=0.02)
            if done():
                return True
        return False

    def publish(
        self,
        stamp_ns: int,
        *,
        depth: Any = None,
        mask: Any = None,
        info: Any = None,
        depth_encoding: str = "16UC1",
        payload: tuple[str, bytes] | None = None,
    ) -> None:
        """Depth (raw, or compressedDepth when the node takes that), mask and camera_info, all stamped `stamp_ns`."""
        depth_arr = self.depth_mm if depth is None else depth
        if self.node.node_config.depth_transport == "compressedDepth":  # as the driver's image_transport would
            self.pub_depth_png.publish(compressed_depth(depth_arr, stamp_ns, *(payload or ())))
        else:
            self.pub_depth.publish(numpy_to_image(depth_arr, depth_encoding, stamp_ns, OPTICAL_FRAME))
        self.pub_mask.publish(numpy_to_image(self.mask if mask is None else mask, "mono8", stamp_ns))
        self.pub_info.publish(camera_info(K, stamp_ns) if info is None else info)

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        self.driver.destroy_node()


def expect_warning(harness: DepthNodeHarness, *words: str) -> None:
    ok = harness.spin_until(lambda: any(all(w in line for w in words) for line in harness.logs), 3.0)
    assert ok, f"no warning with {words}; got {harness.logs[-5:]}"
