"""A depth image input judged frame by frame, unmatched: how the safety layer sees.

safety_node does not wait for a matched depth + camera_info set (ros/depth_set.py): it judges each
depth image with the newest camera model it has. `DepthFrames` is the ROS side of that input: the
subscription (raw or compressedDepth, ros/transport.py), the check that a frame's encoding is
depth, the camera mount at the frame's stamp (ros/tf.py), and the decoding, size check and lens
correction (ros/lens.py), done only when the node's step asks for the image so that they are timed
with the judging. It decides nothing: what a refused frame means is the node's to say.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from numpy.typing import NDArray
from rclpy.node import Node
from sensor_msgs.msg import Image

from robot_vision_nav.core.geometry import CameraMount, PinholeIntrinsics
from robot_vision_nav.core.rectify import Distortion
from robot_vision_nav.core.safety import SafetyError, check_depth_size
from robot_vision_nav.ros.depth_set import DEPTH_ENCODINGS
from robot_vision_nav.ros.image import ImageConversionError, image_to_numpy
from robot_vision_nav.ros.lens import LensCorrection
from robot_vision_nav.ros.qos import SENSOR_QOS
from robot_vision_nav.ros.tf import CameraMountSource, MountResult, TfReader
from robot_vision_nav.ros.transport import ImageInput


class DepthFrames:
    """A node's depth subscription and what each frame needs before it is judged.

    Args:
        node: the node that subscribes; its logger gets the mount messages.
        topic: the raw depth topic as the node names it (relative: remaps and namespace apply).
        transport: the node's `depth_transport` ("raw" or "compressedDepth"); later ones go to `switch`.
        tf: the node's TfReader (camera mounts from TF).
        on_depth: takes each depth image (decoded ones too).
        on_error: called with (topic, problem) for a payload that does not decode; it is dropped.

    """

    def __init__(
        self,
        node: Node,
        topic: str,
        transport: str,
        tf: TfReader,
        on_depth: Callable[[Image], None],
        on_error: Callable[[str, str], None],
    ) -> None:
        self._input = ImageInput(node, topic, transport, on_depth, on_error, SENSOR_QOS)
        self._mounts = CameraMountSource(tf, node.get_logger().info, node.get_logger().warning)
        self._lens = LensCorrection()
        self.mount_source = ""  # where the last placed frame's mount came from: "tf", "parameter", "" before one

    @property
    def topic(self) -> str:
        """The topic subscribed: the depth topic, or <depth topic>/compressedDepth with that transport."""
        return self._input.topic

    def switch(self, transport: str) -> None:
        """Subscribe with `transport` from now on (a no-op when it is the current one)."""
        self._input.switch(transport)

    def place(
        self, msg: Image, stamp_ns: int, now_ns: int, base_frame: str, source: str, fallback: CameraMount
    ) -> MountResult:
        """Where the camera of the depth image `msg` was at `stamp_ns` (`CameraMountSource.mount`'s arguments).

        Without a mount the frame cannot be used, and the problem says why ("" while TF may still
        come); an encoding that is not depth is refused before any lookup.
        """
        if msg.encoding not in DEPTH_ENCODINGS:
            return MountResult(None, "", f"encoding '{msg.encoding}' is not one of {', '.join(DEPTH_ENCODINGS)}")
        found = self._mounts.mount(base_frame, msg.header.frame_id, source, fallback, stamp_ns, now_ns)
        if found.mount is not None:
            self.mount_source = found.source
        return found

    def image(  # Any: uint16 (mm) or float32 (m), as the encoding says
        self, msg: Image, intrinsics: PinholeIntrinsics, distortion: Distortion | None, rectify: bool
    ) -> NDArray[Any]:
        """The depth image as the pinhole camera `intrinsics` sees it (undistorted or refused: ros/lens.py).

        Raises:
            SafetyError: the payload does not convert, or, with a lens to correct, is not of the camera's size.
            DistortedImageError: the camera declares distortion and `rectify` (`rectify_distorted`) is false.

        """
        try:
            depth = image_to_numpy(msg)
        except ImageConversionError as err:
            raise SafetyError(str(err)) from err
        if distortion is None or distortion.is_zero:
            return depth
        check_depth_size(depth, intrinsics)  # before undistortion sizes its maps from camera_info
        return self._lens.correct(distortion, intrinsics, depth, None, rectify)[0]
