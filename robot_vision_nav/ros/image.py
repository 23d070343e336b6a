"""sensor_msgs/Image <-> numpy conversion for the encodings this stack reads and writes.

Handles row padding (`step`) and byte order (`is_bigendian`) the way cv_bridge does, and uses
ROS 2's cv_bridge for the pixel copy when it is installed and passes a self-check.
`compressed_to_image` decodes image_transport's `compressed` and `compressedDepth` payloads into
an Image (OpenCV is imported on first use, never with this module). It must never
hand back an array that aliases the message buffer (a node may keep the array while rclpy reuses
or frees the message), never guess an encoding it does not know, and never loop over pixels in
Python: a 640x480 frame at 30 Hz leaves no room for that.
"""

from __future__ import annotations

import array as _pyarray
import sys
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from builtin_interfaces.msg import Time
from numpy.typing import NDArray
from sensor_msgs.msg import CompressedImage, Image

from robot_vision_nav.ros.messages import ns_to_stamp

if TYPE_CHECKING:
    from cv_bridge import CvBridge

SUPPORTED_ENCODINGS: tuple[str, ...] = ("rgb8", "bgr8", "mono8", "16UC1", "32FC1")

# REP-118 and image_encodings.hpp treat mono16 as the same pixel layout as 16UC1; drivers use both.
# cv_bridge's cv2_to_imgmsg(mask) with its default passthrough encoding writes 8UC1 for a mono8 mask.
_ENCODING_ALIASES: dict[str, str] = {"mono16": "16UC1", "8UC1": "mono8"}

_HOST_IS_BIGENDIAN = sys.byteorder == "big"


class ImageConversionError(ValueError):
    """An Image message or array that cannot be converted, saying what was wrong and what was expected."""


class _PixelFormat(NamedTuple):
    dtype: np.dtype[np.uint8 | np.uint16 | np.float32]  # native byte order
    channels: int

    @property
    def pixel_bytes(self) -> int:
        return self.dtype.itemsize * self.channels


_FORMATS: dict[str, _PixelFormat] = {
    "rgb8": _PixelFormat(np.dtype(np.uint8), 3),
    "bgr8": _PixelFormat(np.dtype(np.uint8), 3),
    "mono8": _PixelFormat(np.dtype(np.uint8), 1),
    "16UC1": _PixelFormat(np.dtype(np.uint16), 1),
    "32FC1": _PixelFormat(np.dtype(np.float32), 1),
}


def _canonical_encoding(encoding: str) -> str:
    canonical = _ENCODING_ALIASES.get(encoding, encoding)
    if canonical not in _FORMATS:
        raise ImageConversionError(
            f"unsupported image encoding {encoding!r}; expected one of {', '.join(SUPPORTED_ENCODINGS)}"
            f" (or 'mono16' for 16UC1)"
        )
    return canonical


def _shape(height: int, width: int, channels: int) -> tuple[int, ...]:
    return (height, width) if channels == 1 else (height, width, channels)


def _load_ros2_cv_bridge() -> CvBridge | None:
    """Return a ROS 2 CvBridge that converts a padded big-endian probe correctly, else None.

    PyPI's `cv-bridge` is ROS 1's and breaks on numpy 2, and older ROS 2 releases call the
    numpy-1-only `ndarray.newbyteorder`; a probe catches all of these instead of trusting a version.
    """
    try:
        from cv_bridge import CvBridge
    except (ImportError, AttributeError):
        return None
    if not hasattr(CvBridge, "imgmsg_to_cv2"):
        return None
    probe = Image(height=1, width=2, encoding="16UC1", is_bigendian=1, step=6)
    probe.data = _pyarray.array("B", b"\x01\x02\x03\x04\xff\xff")
    try:
        bridge = CvBridge()
        out = np.asarray(bridge.imgmsg_to_cv2(probe, desired_encoding="passthrough"))
        ok = out.shape == (1, 2) and out.dtype == np.uint16 and out.tolist() == [[0x0102, 0x0304]]
    except Exception:  # any failure in a foreign library means: do not use it
        return None
    return bridge if ok else None


_CV_BRIDGE = _load_ros2_cv_bridge()


def image_to_numpy(msg: Image) -> NDArray[Any]:  # Any: the dtype follows msg.encoding
    """Copy the pixels of an Image message into a native-byte-order, C-contiguous array.

    Args:
        msg: A sensor_msgs/Image in one of SUPPORTED_ENCODINGS (or mono16).

    Returns:
        HxW uint8 (mono8), uint16 (16UC1/mono16) or float32 (32FC1), or HxWx3 uint8 (rgb8/bgr8,
        channel order as in the message). The array owns its memory.

    Raises:
        ImageConversionError: Unsupported encoding, zero size, `step` shorter than a row, or
            `data` shorter than `step * height`.

    """
    encoding = _canonical_encoding(msg.encoding)
    fmt = _FORMATS[encoding]
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if width <= 0 or height <= 0:
        raise ImageConversionError(f"image size must be > 0, got {width}x{height} ({encoding})")
    row_bytes = width * fmt.pixel_bytes
    if step < row_bytes:
        raise ImageConversionError(
            f"step {step} B is shorter than one row: expected >= width {width} x {fmt.pixel_bytes} B"
            f" = {row_bytes} B for {encoding}"
        )
    try:
        buffer = np.frombuffer(msg.data, dtype=np.uint8)
    except TypeError:
        # A message built with plain Python ints (field checks off keeps what it is given).
        buffer = np.asarray(msg.data, dtype=np.uint8)
    if buffer.size < step * height:
        raise ImageConversionError(
            f"data has {buffer.size} B, expected >= step {step} x height {height} = {step * height} B"
        )

    # cv_bridge reads each row as step // pixel size whole pixels (a view with no row stride of its
    # own), so padding that is not whole pixels stays on our path: for rgb8 a row padded to 4 bytes
    # (width 5: 15 B + 1) would come back with every row after the first shifted.
    if _CV_BRIDGE is not None and step % fmt.pixel_bytes == 0:
        # Passthrough keeps the dtype; the copy breaks the alias cv_bridge keeps to msg.data.
        out = np.asarray(_CV_BRIDGE.imgmsg_to_cv2(msg, desired_encoding="passthrough"))
        return np.array(out.reshape(_shape(height, width, fmt.channels)), dtype=fmt.dtype, order="C")

    wire_dtype = fmt.dtype.newbyteorder(">" if msg.is_bigendian else "<")
    # A strided view skips the row padding without a copy; astype then makes the one copy and
    # byteswaps in the same pass when the wire order differs from the host's.
    view: NDArray[np.uint8 | np.uint16 | np.float32] = np.ndarray(
        shape=_shape(height, width, fmt.channels),
        dtype=wire_dtype,
        buffer=buffer,
        strides=(step, fmt.pixel_bytes) if fmt.channels == 1 else (step, fmt.pixel_bytes, fmt.dtype.itemsize),
    )
    return view.astype(fmt.dtype, order="C", copy=True)


def numpy_to_image(
    array: NDArray[np.generic],
    encoding: str,
    stamp: Time | int | None = None,
    frame_id: str = "",
) -> Image:
    """Build an Image message from an array whose dtype and shape match `encoding`.

    Args:
        array: HxW (mono8 uint8, 16UC1/mono16 uint16, 32FC1 float32) or HxWx3 uint8 (rgb8/bgr8).
            Any byte order or memory layout; the message gets host order and no row padding.
        encoding: One of SUPPORTED_ENCODINGS or mono16; written to the message unchanged.
        stamp: Header stamp as a builtin_interfaces/Time or integer ns; None leaves it zero.
        frame_id: Header frame, e.g. the camera optical frame.

    Returns:
        The message, with step = width x pixel size and is_bigendian = host order.

    Raises:
        ImageConversionError: Unsupported encoding, or dtype/shape not what the encoding needs.

    """
    fmt = _FORMATS[_canonical_encoding(encoding)]
    arr = np.asarray(array)
    if arr.dtype.newbyteorder("=") != fmt.dtype:
        raise ImageConversionError(f"{encoding} needs dtype {fmt.dtype}, got {arr.dtype}")
    expected = "HxW" if fmt.channels == 1 else f"HxWx{fmt.channels}"
    if arr.ndim != (2 if fmt.channels == 1 else 3) or (fmt.channels > 1 and arr.shape[2] != fmt.channels):
        raise ImageConversionError(f"{encoding} needs a {expected} array, got shape {arr.shape}")
    height, width = int(arr.shape[0]), int(arr.shape[1])
    if width <= 0 or height <= 0:
        raise ImageConversionError(f"image size must be > 0, got {width}x{height} ({encoding})")
    arr = np.ascontiguousarray(arr, dtype=fmt.dtype)

    msg = Image(
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=int(_HOST_IS_BIGENDIAN),
        step=width * fmt.pixel_bytes,
    )
    if stamp is not None:
        msg.header.stamp = ns_to_stamp(stamp) if isinstance(stamp, int) else stamp
    msg.header.frame_id = frame_id
    # An array.array('B') is stored as-is when ROS_PYTHON_CHECK_FIELDS=1, where `bytes` is checked
    # element by element in Python (63 ms for 640x480 rgb8, measured); without the checks both cost
    # the same (~0.75 ms), so array.array is never slower.
    data = _pyarray.array("B")
    data.frombytes(arr.reshape(-1).view(np.uint8).data)
    msg.data = data
    return msg


def to_rgb(array: NDArray[np.uint8], encoding: str) -> NDArray[np.uint8]:
    """Return the colour image in RGB channel order, as the segmentation model expects.

    Args:
        array: HxWx3 uint8 image from `image_to_numpy`.
        encoding: Its message encoding, rgb8 or bgr8.

    Returns:
        The input itself for rgb8; a C-contiguous channel-swapped copy for bgr8.

    Raises:
        ImageConversionError: Any other encoding, or an array that is not HxWx3.

    """
    if encoding not in ("rgb8", "bgr8"):
        raise ImageConversionError(f"colour image expected (rgb8 or bgr8), got encoding {encoding!r}")
    if array.ndim != 3 or array.shape[2] != 3:
        raise ImageConversionError(f"{encoding} needs an HxWx3 array, got shape {array.shape}")
    if encoding == "rgb8":
        return array
    return np.ascontiguousarray(array[:, :, ::-1])


def compressed_to_image(msg: CompressedImage, topic: str = "") -> Image:
    """Decode a sensor_msgs/CompressedImage into the raw Image an image_transport subscriber would hand on.

    As `rvn replay` decodes them (`replay.images.decode_compressed`): compressed_image_transport's
    JPEG or PNG (format e.g. "rgb8; jpeg compressed bgr8") comes back rgb8 (whatever channel order
    was compressed), mono8 or 16UC1; compressed_depth_image_transport's PNG ("16UC1; compressedDepth
    png") 16UC1 in mm, or 32FC1 in m with 0 where the depth is invalid. The header (stamp and
    frame_id) is the compressed message's.

    Args:
        msg: the compressed message.
        topic: the topic it came from, named in the error message when given.

    Raises:
        ImageConversionError: data that does not decode (empty, corrupt, truncated, too large), an
            unknown or unsupported format (such as "compressedDepth rvl"), or a bit depth other than
            the format states; the decoder's CompressedImageError chained.

    """
    from robot_vision_nav.replay.images import CompressedImageError, decode_compressed  # OpenCV: only when used

    try:
        data = np.frombuffer(msg.data, dtype=np.uint8)
    except TypeError:
        # A message built with plain Python ints (field checks off keeps what it is given).
        try:
            data = np.asarray(msg.data, dtype=np.uint8)
        except (OverflowError, ValueError) as err:
            where = f"{topic}: " if topic else ""
            raise ImageConversionError(f"{where}CompressedImage data is not a byte sequence: {err}") from err
    try:
        decoded = decode_compressed(str(msg.format), data, topic)
    except CompressedImageError as err:
        raise ImageConversionError(str(err)) from err
    return numpy_to_image(decoded.array, decoded.encoding, msg.header.stamp, msg.header.frame_id)
