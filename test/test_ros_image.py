"""Round trips and failure modes of sensor_msgs/Image <-> numpy, as cv_bridge's tests check them."""

from __future__ import annotations

import array
import sys

import numpy as np
import pytest
from sensor_msgs.msg import Image

from robot_vision_nav.ros import image as image_module
from robot_vision_nav.ros.image import (
    SUPPORTED_ENCODINGS,
    ImageConversionError,
    image_to_numpy,
    numpy_to_image,
    to_rgb,
)

H, W = 5, 7


def sample(encoding: str, rng: np.random.Generator) -> np.ndarray:
    if encoding in ("rgb8", "bgr8"):
        return rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    if encoding == "mono8":
        return rng.integers(0, 256, (H, W), dtype=np.uint8)
    if encoding in ("16UC1", "mono16"):
        return rng.integers(0, 65536, (H, W), dtype=np.uint16)
    return rng.uniform(0.1, 10.0, (H, W)).astype(np.float32)


def raw_image(encoding: str, payload: bytes, step: int, height: int = H, width: int = W, bigendian: int = 0):
    msg = Image(height=height, width=width, encoding=encoding, step=step, is_bigendian=bigendian)
    msg.data = array.array("B", payload)
    return msg


def padded_rows(arr: np.ndarray, pad: int) -> bytes:
    rows = arr.reshape(arr.shape[0], -1).view(np.uint8).reshape(arr.shape[0], -1)
    filler = np.full((arr.shape[0], pad), 0xAB, dtype=np.uint8)
    return np.hstack([rows, filler]).tobytes()


def test_pure_python_path_is_the_one_under_test() -> None:
    # ROS 2's cv_bridge is not installable here; if it ever appears these tests would silently
    # test it instead, so say so.
    assert image_module._CV_BRIDGE is None


@pytest.mark.parametrize("encoding", [*SUPPORTED_ENCODINGS, "mono16"])
def test_image_roundtrip_keeps_pixels_dtype_and_shape(encoding: str) -> None:
    arr = sample(encoding, np.random.default_rng(0))
    msg = numpy_to_image(arr, encoding, stamp=1_500_000_123, frame_id="camera_optical")
    assert msg.encoding == encoding
    assert (msg.height, msg.width) == (H, W)
    assert msg.step == W * arr.itemsize * (3 if arr.ndim == 3 else 1)
    assert msg.is_bigendian == (sys.byteorder == "big")
    assert len(msg.data) == msg.step * H
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (1, 500_000_123)
    assert msg.header.frame_id == "camera_optical"

    out = image_to_numpy(msg)
    assert out.dtype == arr.dtype
    assert out.shape == arr.shape
    assert out.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(out, arr)


@pytest.mark.parametrize("encoding", SUPPORTED_ENCODINGS)
def test_image_roundtrip_honours_row_padding(encoding: str) -> None:
    arr = sample(encoding, np.random.default_rng(1))
    row_bytes = W * arr.itemsize * (3 if arr.ndim == 3 else 1)
    msg = raw_image(encoding, padded_rows(arr, 8), step=row_bytes + 8)
    np.testing.assert_array_equal(image_to_numpy(msg), arr)


def test_image_accepts_padding_that_is_not_a_multiple_of_the_pixel_size() -> None:
    arr = sample("32FC1", np.random.default_rng(2))
    msg = raw_image("32FC1", padded_rows(arr, 3), step=W * 4 + 3)
    np.testing.assert_array_equal(image_to_numpy(msg), arr)


def test_image_ignores_bytes_beyond_step_times_height() -> None:
    arr = sample("mono8", np.random.default_rng(3))
    msg = raw_image("mono8", arr.tobytes() + b"\x00" * 5, step=W)
    np.testing.assert_array_equal(image_to_numpy(msg), arr)


@pytest.mark.parametrize(("encoding", "wire"), [("16UC1", ">u2"), ("mono16", ">u2"), ("32FC1", ">f4")])
def test_image_reads_big_endian_depth(encoding: str, wire: str) -> None:
    arr = sample(encoding, np.random.default_rng(4))
    msg = raw_image(encoding, arr.astype(wire).tobytes(), step=W * arr.itemsize, bigendian=1)
    out = image_to_numpy(msg)
    assert out.dtype == arr.dtype and out.dtype.isnative
    np.testing.assert_array_equal(out, arr)


def test_image_reads_big_endian_depth_with_row_padding() -> None:
    arr = sample("16UC1", np.random.default_rng(5))
    msg = raw_image("16UC1", padded_rows(arr.astype(">u2"), 6), step=W * 2 + 6, bigendian=1)
    np.testing.assert_array_equal(image_to_numpy(msg), arr)


def test_image_reads_known_millimetre_values_exactly() -> None:
    payload = np.array([[1000, 2], [65535, 0]], dtype="<u2").tobytes()
    msg = raw_image("16UC1", payload, step=4, height=2, width=2)
    assert image_to_numpy(msg).tolist() == [[1000, 2], [65535, 0]]


def test_image_result_does_not_alias_message_data() -> None:
    arr = sample("rgb8", np.random.default_rng(6))
    msg = numpy_to_image(arr, "rgb8")
    out = image_to_numpy(msg)
    assert out.flags["OWNDATA"] and out.flags["WRITEABLE"]
    out[...] = 0
    np.testing.assert_array_equal(image_to_numpy(msg), arr)
    msg.data[0] ^= 0xFF
    assert out[0, 0, 0] == 0


def test_numpy_to_image_does_not_alias_the_array() -> None:
    arr = sample("mono8", np.random.default_rng(7))
    msg = numpy_to_image(arr, "mono8")
    arr[...] = 0
    assert bytes(msg.data) != arr.tobytes()


def test_numpy_to_image_accepts_non_contiguous_and_byteswapped_arrays() -> None:
    base = sample("16UC1", np.random.default_rng(8))
    msg = numpy_to_image(base.astype(">u2")[:, ::2], "16UC1")
    assert msg.width == base[:, ::2].shape[1]
    np.testing.assert_array_equal(image_to_numpy(msg), base[:, ::2])


def test_unsupported_encoding_is_refused_listing_the_supported_ones() -> None:
    msg = raw_image("yuv422", bytes(H * W * 2), step=W * 2)
    with pytest.raises(ImageConversionError, match="unsupported image encoding 'yuv422'") as info:
        image_to_numpy(msg)
    for encoding in SUPPORTED_ENCODINGS:
        assert encoding in str(info.value)


@pytest.mark.parametrize(("height", "width"), [(0, W), (H, 0), (0, 0)])
def test_zero_sized_image_is_refused(height: int, width: int) -> None:
    msg = raw_image("mono8", b"", step=width, height=height, width=width)
    with pytest.raises(ImageConversionError, match=rf"image size must be > 0, got {width}x{height}"):
        image_to_numpy(msg)


def test_step_shorter_than_a_row_is_refused_with_the_expected_minimum() -> None:
    msg = raw_image("rgb8", bytes(H * W * 3), step=W * 3 - 1)
    with pytest.raises(ImageConversionError, match=rf"step {W * 3 - 1} B .* expected >= .* = {W * 3} B"):
        image_to_numpy(msg)


def test_data_shorter_than_step_times_height_is_refused() -> None:
    msg = raw_image("16UC1", bytes(W * 2 * H - 1), step=W * 2)
    with pytest.raises(ImageConversionError, match=rf"data has {W * 2 * H - 1} B, expected >= .*{W * 2 * H} B"):
        image_to_numpy(msg)


@pytest.mark.parametrize(
    ("arr", "encoding", "match"),
    [
        (np.zeros((H, W), np.uint16), "mono8", "mono8 needs dtype uint8, got uint16"),
        (np.zeros((H, W), np.float64), "32FC1", "32FC1 needs dtype float32, got float64"),
        (np.zeros((H, W), np.uint8), "rgb8", r"rgb8 needs a HxWx3 array, got shape \(5, 7\)"),
        (np.zeros((H, W, 4), np.uint8), "bgr8", r"bgr8 needs a HxWx3 array, got shape \(5, 7, 4\)"),
        (np.zeros((H, W, 1), np.uint16), "16UC1", r"16UC1 needs a HxW array"),
        (np.zeros((0, W), np.uint8), "mono8", "image size must be > 0"),
        (np.zeros((H, W), np.uint8), "rgba8", "unsupported image encoding 'rgba8'"),
    ],
)
def test_numpy_to_image_refuses_dtype_or_shape_that_does_not_match(arr: np.ndarray, encoding: str, match: str) -> None:
    with pytest.raises(ImageConversionError, match=match):
        numpy_to_image(arr, encoding)


def test_conversion_errors_are_value_errors() -> None:
    assert issubclass(ImageConversionError, ValueError)


def test_to_rgb_swaps_bgr_and_passes_rgb_through() -> None:
    bgr = sample("bgr8", np.random.default_rng(9))
    rgb = to_rgb(bgr, "bgr8")
    np.testing.assert_array_equal(rgb[..., 0], bgr[..., 2])
    np.testing.assert_array_equal(rgb[..., 2], bgr[..., 0])
    assert rgb.flags["C_CONTIGUOUS"]
    assert to_rgb(rgb, "rgb8") is rgb


def test_to_rgb_refuses_non_colour_encodings() -> None:
    with pytest.raises(ImageConversionError, match="rgb8 or bgr8"):
        to_rgb(np.zeros((H, W, 3), np.uint8), "mono8")


class _ViewingBridge:
    """Stands in for ROS 2's cv_bridge: returns a view of msg.data, as the real one does."""

    def imgmsg_to_cv2(self, msg: Image, desired_encoding: str) -> np.ndarray:
        assert desired_encoding == "passthrough"
        return np.frombuffer(msg.data, np.uint8).reshape(msg.height, msg.width, 3)


def test_cv_bridge_branch_returns_a_copy_when_a_bridge_is_present(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(image_module, "_CV_BRIDGE", _ViewingBridge())
    arr = sample("rgb8", np.random.default_rng(10))
    msg = numpy_to_image(arr, "rgb8")
    out = image_to_numpy(msg)
    assert out.flags["OWNDATA"] and out.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(out, arr)
    # Errors are still ours: the header is checked before the bridge is asked.
    msg.step = 1
    with pytest.raises(ImageConversionError, match="step 1 B"):
        image_to_numpy(msg)
