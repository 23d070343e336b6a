"""Round trips and failure modes of sensor_msgs/Image <-> numpy, as cv_bridge's tests check them.

image.py converts with ROS 2's cv_bridge where one is installed (the container image has it) and with
numpy where none is (PyPI's ROS wheels): every conversion test runs on both paths, whatever this
machine has. The numpy path runs with cv_bridge hidden; the cv_bridge path runs with a stand-in
written under tmp_path that converts the way ROS 2's cv_bridge/core.py does (a strided view of
`step / itemsize / channels` whole pixels per row, then a byteswap to host order), so what the
product hands to cv_bridge, and what it does with the answer, is exercised.
"""

from __future__ import annotations

import array
import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage, Image

from robot_vision_nav.replay.images import encode_compressed_color, encode_compressed_depth
from robot_vision_nav.ros import image as image_module
from robot_vision_nav.ros.image import (
    SUPPORTED_ENCODINGS,
    ImageConversionError,
    compressed_to_image,
    image_to_numpy,
    numpy_to_image,
    to_rgb,
)
from robot_vision_nav.ros.messages import ns_to_stamp, stamp_to_ns

H, W = 5, 7

# ROS 2 cv_bridge's Python conversions (vision_opencv, cv_bridge/python/cv_bridge/core.py), with the
# encoding table written out instead of asked of its C++ module, and numpy 2's byteswap spelling (the
# numpy-1 `ndarray.newbyteorder()` of older releases is what image.py's probe refuses). CALLS records
# each conversion so a test can tell which path ran.
FAKE_CV_BRIDGE = """
import sys

import numpy as np
from sensor_msgs.msg import Image

CALLS = []
_TYPES = {
    "rgb8": ("uint8", 3), "bgr8": ("uint8", 3), "mono8": ("uint8", 1), "mono16": ("uint16", 1),
    "8UC1": ("uint8", 1), "8UC3": ("uint8", 3), "16UC1": ("uint16", 1), "32FC1": ("float32", 1),
}
_NAMES = {("uint8", 1): "8UC1", ("uint8", 3): "8UC3", ("uint16", 1): "16UC1", ("float32", 1): "32FC1"}


class CvBridgeError(TypeError):
    pass


class CvBridge:
    def encoding_to_dtype_with_channels(self, encoding):
        if encoding not in _TYPES:
            raise CvBridgeError("Unrecognized image encoding [%s]" % encoding)
        return _TYPES[encoding]

    def imgmsg_to_cv2(self, img_msg, desired_encoding="passthrough"):
        CALLS.append(("imgmsg_to_cv2", img_msg.encoding, desired_encoding))
        dtype, n_channels = self.encoding_to_dtype_with_channels(img_msg.encoding)
        dtype = np.dtype(dtype)
        dtype = dtype.newbyteorder(">" if img_msg.is_bigendian else "<")
        img_buf = np.asarray(img_msg.data, dtype=dtype) if isinstance(img_msg.data, list) else img_msg.data
        if n_channels == 1:
            im = np.ndarray(shape=(img_msg.height, int(img_msg.step / dtype.itemsize)), dtype=dtype, buffer=img_buf)
            im = np.ascontiguousarray(im[: img_msg.height, : img_msg.width])
        else:
            im = np.ndarray(
                shape=(img_msg.height, int(img_msg.step / dtype.itemsize / n_channels), n_channels),
                dtype=dtype,
                buffer=img_buf,
            )
            im = np.ascontiguousarray(im[: img_msg.height, : img_msg.width, :])
        if img_msg.is_bigendian == (sys.byteorder == "little"):
            im = im.byteswap().view(im.dtype.newbyteorder())
        if desired_encoding == "passthrough":
            return im
        raise CvBridgeError("colour conversion is cv_bridge_boost's, not this stand-in's")

    def cv2_to_imgmsg(self, cvim, encoding="passthrough", header=None):
        CALLS.append(("cv2_to_imgmsg", encoding))
        if not isinstance(cvim, (np.ndarray, np.generic)):
            raise TypeError("Your input type is not a numpy array")
        img_msg = Image()
        img_msg.height = cvim.shape[0]
        img_msg.width = cvim.shape[1]
        if header is not None:
            img_msg.header = header
        cv_type = _NAMES[(cvim.dtype.newbyteorder("=").name, 1 if cvim.ndim < 3 else cvim.shape[2])]
        if encoding == "passthrough":
            img_msg.encoding = cv_type
        else:
            img_msg.encoding = encoding
            if _NAMES[self.encoding_to_dtype_with_channels(encoding)] != cv_type:
                raise CvBridgeError(
                    "encoding specified as %s, but image has incompatible type %s" % (encoding, cv_type)
                )
        if cvim.dtype.byteorder == ">":
            img_msg.is_bigendian = True
        img_msg.data.frombytes(cvim.tobytes())
        img_msg.step = len(img_msg.data) // img_msg.height
        return img_msg
"""

# A bridge that reads every message as little-endian (ROS 1's on some builds): the probe must refuse it.
BYTE_ORDER_BLIND_CV_BRIDGE = """
import numpy as np


class CvBridge:
    def imgmsg_to_cv2(self, img_msg, desired_encoding="passthrough"):
        dtype = np.dtype("<u2") if img_msg.encoding in ("16UC1", "mono16") else np.dtype("u1")
        row = np.frombuffer(bytes(img_msg.data), dtype=np.uint8).reshape(img_msg.height, img_msg.step)
        return row[:, : img_msg.width * dtype.itemsize].copy().view(dtype)
"""

# Importable, but without the conversion API (a namesake package, or a broken install).
NO_API_CV_BRIDGE = """
class CvBridge:
    pass
"""


def install_cv_bridge(monkeypatch: pytest.MonkeyPatch, folder: Path, source: str) -> ModuleType:
    """Make `import cv_bridge` give the module in `source` (written to folder/cv_bridge) until the test ends.

    It replaces whatever sys.modules holds (the real cv_bridge, where installed, was imported with image.py).
    """
    package = folder / "cv_bridge"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(source)
    spec = importlib.util.spec_from_file_location(
        "cv_bridge", package / "__init__.py", submodule_search_locations=[str(package)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "cv_bridge", module)
    spec.loader.exec_module(module)
    return module


def hide_cv_bridge(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make `import cv_bridge` fail with ModuleNotFoundError, as where none is installed."""
    for name in [n for n in sys.modules if n.startswith("cv_bridge.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "cv_bridge", None)


def reload_bridge(monkeypatch: pytest.MonkeyPatch) -> Any:
    """What image.py decides at import time, decided again now; restored after the test."""
    bridge = image_module._load_ros2_cv_bridge()
    monkeypatch.setattr(image_module, "_CV_BRIDGE", bridge)
    return bridge


@dataclass
class ConversionPath:
    name: str  # "numpy" or "cv_bridge"
    bridge: ModuleType | None  # the stand-in on the cv_bridge path

    def calls(self) -> list[tuple[str, ...]]:
        return [] if self.bridge is None else list(self.bridge.CALLS)

    def expect_bridge_used(self, used: bool = True) -> None:
        """On the cv_bridge path, that image_to_numpy asked the bridge (or, for `used=False`, did not)."""
        if self.bridge is not None:
            reads = [c for c in self.calls() if c[0] == "imgmsg_to_cv2"]
            assert bool(reads) == used, reads
            assert all(c[2] == "passthrough" for c in reads), reads
        else:
            assert image_module._CV_BRIDGE is None


@pytest.fixture(params=["numpy", "cv_bridge"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[ConversionPath]:
    """image.py with cv_bridge hidden, or with the ROS 2 cv_bridge stand-in installed."""
    if request.param == "numpy":
        hide_cv_bridge(monkeypatch)
        assert reload_bridge(monkeypatch) is None
        yield ConversionPath("numpy", None)
    else:
        module = install_cv_bridge(monkeypatch, tmp_path, FAKE_CV_BRIDGE)
        assert isinstance(reload_bridge(monkeypatch), module.CvBridge)
        module.CALLS.clear()  # the probe's
        yield ConversionPath("cv_bridge", module)


def sample(encoding: str, rng: np.random.Generator) -> np.ndarray:
    if encoding in ("rgb8", "bgr8"):
        return rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    if encoding == "mono8":
        return rng.integers(0, 256, (H, W), dtype=np.uint8)
    if encoding in ("16UC1", "mono16"):
        return rng.integers(0, 65536, (H, W), dtype=np.uint16)
    return rng.uniform(0.1, 10.0, (H, W)).astype(np.float32)


def raw_image(encoding: str, payload: bytes, step: int, height: int = H, width: int = W, bigendian: int = 0) -> Image:
    msg = Image(height=height, width=width, encoding=encoding, step=step, is_bigendian=bigendian)
    msg.data = array.array("B", payload)
    return msg


def padded_rows(arr: np.ndarray, pad: int) -> bytes:
    rows = arr.reshape(arr.shape[0], -1).view(np.uint8).reshape(arr.shape[0], -1)
    filler = np.full((arr.shape[0], pad), 0xAB, dtype=np.uint8)
    return np.hstack([rows, filler]).tobytes()


def pixel_bytes(arr: np.ndarray) -> int:
    return arr.itemsize * (arr.shape[2] if arr.ndim == 3 else 1)


def load_source(folder: Path, name: str, source: str) -> ModuleType:
    """A module made of `source`, not importable by name (sys.modules is left alone)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.py").write_text(source)
    spec = importlib.util.spec_from_file_location(name, folder / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------ which path image.py takes


def test_without_cv_bridge_the_numpy_path_is_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    hide_cv_bridge(monkeypatch)
    assert reload_bridge(monkeypatch) is None
    arr = sample("16UC1", np.random.default_rng(20))
    np.testing.assert_array_equal(image_to_numpy(numpy_to_image(arr, "16UC1")), arr)


def test_a_ros2_cv_bridge_that_passes_the_probe_is_used(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    module = install_cv_bridge(monkeypatch, tmp_path, FAKE_CV_BRIDGE)
    bridge = reload_bridge(monkeypatch)
    assert isinstance(bridge, module.CvBridge)
    # the probe: padded big-endian 16UC1, read with passthrough
    assert module.CALLS == [("imgmsg_to_cv2", "16UC1", "passthrough")]
    module.CALLS.clear()
    arr = sample("16UC1", np.random.default_rng(21))
    np.testing.assert_array_equal(image_to_numpy(numpy_to_image(arr, "16UC1")), arr)
    assert module.CALLS == [("imgmsg_to_cv2", "16UC1", "passthrough")]


@pytest.mark.parametrize(
    "source", [BYTE_ORDER_BLIND_CV_BRIDGE, NO_API_CV_BRIDGE, "raise ImportError('libopencv_core.so.4.5d')"]
)
def test_a_cv_bridge_that_fails_the_probe_or_does_not_load_is_not_used(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, source: str
) -> None:
    if source.startswith("raise"):
        # apt's cv_bridge under pip's numpy: the import itself fails
        (tmp_path / "cv_bridge").mkdir()
        (tmp_path / "cv_bridge" / "__init__.py").write_text(source)
        monkeypatch.delitem(sys.modules, "cv_bridge", raising=False)
        for name in [n for n in sys.modules if n.startswith("cv_bridge.")]:
            monkeypatch.delitem(sys.modules, name)
        monkeypatch.syspath_prepend(str(tmp_path))
        try:
            assert reload_bridge(monkeypatch) is None
        finally:
            sys.modules.pop("cv_bridge", None)  # a failed import leaves nothing, but be sure
    else:
        install_cv_bridge(monkeypatch, tmp_path, source)
        assert reload_bridge(monkeypatch) is None
    arr = sample("16UC1", np.random.default_rng(22))
    big_endian = raw_image("16UC1", arr.astype(">u2").tobytes(), step=W * 2, bigendian=1)
    np.testing.assert_array_equal(image_to_numpy(big_endian), arr)


def test_both_paths_give_the_same_arrays_for_every_layout(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    module = install_cv_bridge(monkeypatch, tmp_path, FAKE_CV_BRIDGE)
    bridge = reload_bridge(monkeypatch)
    assert bridge is not None
    rng = np.random.default_rng(23)
    messages = []
    for encoding in [*SUPPORTED_ENCODINGS, "mono16"]:
        arr = sample(encoding, rng)
        for pad in (0, 1, 2, 3, 4, 8):
            for wire in ("<", ">"):
                wire_arr = arr.astype(arr.dtype.newbyteorder(wire))
                step = W * pixel_bytes(arr) + pad
                messages.append(
                    (arr, raw_image(encoding, padded_rows(wire_arr, pad), step, bigendian=int(wire == ">")))
                )
    for arr, msg in messages:
        module.CALLS.clear()
        monkeypatch.setattr(image_module, "_CV_BRIDGE", bridge)
        through_bridge = image_to_numpy(msg)
        bridge_used = bool(module.CALLS)
        monkeypatch.setattr(image_module, "_CV_BRIDGE", None)
        through_numpy = image_to_numpy(msg)
        label = (msg.encoding, msg.step, msg.is_bigendian)
        # cv_bridge reads rows as whole pixels: it is asked exactly when the padding is whole pixels
        assert bridge_used == (msg.step % pixel_bytes(arr) == 0), label
        assert through_bridge.dtype == through_numpy.dtype == arr.dtype and through_bridge.dtype.isnative, label
        assert through_bridge.shape == through_numpy.shape == arr.shape, label
        assert through_bridge.flags["C_CONTIGUOUS"] and through_bridge.flags["OWNDATA"], label
        np.testing.assert_array_equal(through_bridge, through_numpy, err_msg=str(label))
        np.testing.assert_array_equal(through_bridge, arr, err_msg=str(label))


@pytest.mark.parametrize(
    ("encoding", "cv_encoding", "arr"),
    [
        ("mono8", "passthrough", sample("mono8", np.random.default_rng(24))),  # a mask: cv_bridge writes 8UC1
        ("16UC1", "passthrough", sample("16UC1", np.random.default_rng(25))),
        ("16UC1", "passthrough", sample("16UC1", np.random.default_rng(26)).astype(">u2")),  # is_bigendian = 1
        ("32FC1", "passthrough", sample("32FC1", np.random.default_rng(27))),
        ("rgb8", "rgb8", sample("rgb8", np.random.default_rng(28))),
        ("bgr8", "bgr8", sample("bgr8", np.random.default_rng(29))),
    ],
)
def test_messages_written_by_cv_bridge_are_read_back(
    path: ConversionPath, tmp_path: Path, encoding: str, cv_encoding: str, arr: np.ndarray
) -> None:
    writer = load_source(tmp_path / "writer", "cv_bridge_writer", FAKE_CV_BRIDGE).CvBridge()
    msg = writer.cv2_to_imgmsg(arr, encoding=cv_encoding)
    out = image_to_numpy(msg)
    path.expect_bridge_used()
    assert out.dtype == arr.dtype.newbyteorder("=") and out.dtype.isnative
    np.testing.assert_array_equal(out, arr)


# ------------------------------------------------------------------ conversions, on both paths


@pytest.mark.parametrize("encoding", [*SUPPORTED_ENCODINGS, "mono16"])
def test_image_roundtrip_keeps_pixels_dtype_and_shape(path: ConversionPath, encoding: str) -> None:
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
    path.expect_bridge_used()
    assert out.dtype == arr.dtype
    assert out.shape == arr.shape
    assert out.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(out, arr)


@pytest.mark.parametrize("pad", [3, 8])
@pytest.mark.parametrize("encoding", SUPPORTED_ENCODINGS)
def test_image_roundtrip_honours_row_padding(path: ConversionPath, encoding: str, pad: int) -> None:
    arr = sample(encoding, np.random.default_rng(1))
    row_bytes = W * pixel_bytes(arr)
    msg = raw_image(encoding, padded_rows(arr, pad), step=row_bytes + pad)
    np.testing.assert_array_equal(image_to_numpy(msg), arr)
    path.expect_bridge_used(pad % pixel_bytes(arr) == 0)


@pytest.mark.parametrize(("encoding", "pad"), [("32FC1", 3), ("16UC1", 1), ("rgb8", 4), ("bgr8", 8)])
def test_image_accepts_padding_that_is_not_a_multiple_of_the_pixel_size(
    path: ConversionPath, encoding: str, pad: int
) -> None:
    arr = sample(encoding, np.random.default_rng(2))
    msg = raw_image(encoding, padded_rows(arr, pad), step=W * pixel_bytes(arr) + pad)
    np.testing.assert_array_equal(image_to_numpy(msg), arr)
    path.expect_bridge_used(False)  # cv_bridge would read rows of step // pixel size whole pixels


def test_image_ignores_bytes_beyond_step_times_height(path: ConversionPath) -> None:
    arr = sample("mono8", np.random.default_rng(3))
    msg = raw_image("mono8", arr.tobytes() + b"\x00" * 5, step=W)
    np.testing.assert_array_equal(image_to_numpy(msg), arr)
    path.expect_bridge_used()


@pytest.mark.parametrize(("encoding", "wire"), [("16UC1", ">u2"), ("mono16", ">u2"), ("32FC1", ">f4")])
def test_image_reads_big_endian_depth(path: ConversionPath, encoding: str, wire: str) -> None:
    arr = sample(encoding, np.random.default_rng(4))
    msg = raw_image(encoding, arr.astype(wire).tobytes(), step=W * arr.itemsize, bigendian=1)
    out = image_to_numpy(msg)
    path.expect_bridge_used()
    assert out.dtype == arr.dtype and out.dtype.isnative
    np.testing.assert_array_equal(out, arr)


def test_image_reads_big_endian_depth_with_row_padding(path: ConversionPath) -> None:
    arr = sample("16UC1", np.random.default_rng(5))
    msg = raw_image("16UC1", padded_rows(arr.astype(">u2"), 6), step=W * 2 + 6, bigendian=1)
    np.testing.assert_array_equal(image_to_numpy(msg), arr)
    path.expect_bridge_used()


def test_image_reads_known_millimetre_values_exactly(path: ConversionPath) -> None:
    payload = np.array([[1000, 2], [65535, 0]], dtype="<u2").tobytes()
    msg = raw_image("16UC1", payload, step=4, height=2, width=2)
    assert image_to_numpy(msg).tolist() == [[1000, 2], [65535, 0]]
    path.expect_bridge_used()


def test_image_result_does_not_alias_message_data(path: ConversionPath) -> None:
    # ROS 2's cv_bridge hands back a view of msg.data when the rows are unpadded: the copy is ours.
    arr = sample("rgb8", np.random.default_rng(6))
    msg = numpy_to_image(arr, "rgb8")
    out = image_to_numpy(msg)
    path.expect_bridge_used()
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


def test_numpy_to_image_accepts_non_contiguous_and_byteswapped_arrays(path: ConversionPath) -> None:
    base = sample("16UC1", np.random.default_rng(8))
    msg = numpy_to_image(base.astype(">u2")[:, ::2], "16UC1")
    assert msg.width == base[:, ::2].shape[1]
    np.testing.assert_array_equal(image_to_numpy(msg), base[:, ::2])


def test_unsupported_encoding_is_refused_listing_the_supported_ones(path: ConversionPath) -> None:
    msg = raw_image("yuv422", bytes(H * W * 2), step=W * 2)
    with pytest.raises(ImageConversionError, match="unsupported image encoding 'yuv422'") as info:
        image_to_numpy(msg)
    for encoding in SUPPORTED_ENCODINGS:
        assert encoding in str(info.value)
    path.expect_bridge_used(False)  # the header is checked before any bridge is asked


@pytest.mark.parametrize(("height", "width"), [(0, W), (H, 0), (0, 0)])
def test_zero_sized_image_is_refused(path: ConversionPath, height: int, width: int) -> None:
    msg = raw_image("mono8", b"", step=width, height=height, width=width)
    with pytest.raises(ImageConversionError, match=rf"image size must be > 0, got {width}x{height}"):
        image_to_numpy(msg)
    path.expect_bridge_used(False)


def test_step_shorter_than_a_row_is_refused_with_the_expected_minimum(path: ConversionPath) -> None:
    msg = raw_image("rgb8", bytes(H * W * 3), step=W * 3 - 1)
    with pytest.raises(ImageConversionError, match=rf"step {W * 3 - 1} B .* expected >= .* = {W * 3} B"):
        image_to_numpy(msg)
    path.expect_bridge_used(False)


def test_data_shorter_than_step_times_height_is_refused(path: ConversionPath) -> None:
    msg = raw_image("16UC1", bytes(W * 2 * H - 1), step=W * 2)
    with pytest.raises(ImageConversionError, match=rf"data has {W * 2 * H - 1} B, expected >= .*{W * 2 * H} B"):
        image_to_numpy(msg)
    path.expect_bridge_used(False)


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


# ------------------------------------------------------------------ compressed_to_image
def compressed(
    fmt: str, data: bytes, stamp_ns: int = 12 * 10**9 + 5, frame_id: str = "camera_color_optical_frame"
) -> CompressedImage:
    msg = CompressedImage(format=fmt)
    msg.header.stamp = ns_to_stamp(stamp_ns)
    msg.header.frame_id = frame_id
    msg.data = array.array("B", data)
    return msg


def test_compressed_colour_decodes_to_rgb8_with_the_original_header() -> None:
    rgb = np.random.default_rng(5).integers(0, 256, (12, 17, 3), dtype=np.uint8)
    msg = compressed(*encode_compressed_color(rgb, "png"))
    image = compressed_to_image(msg, "/camera/color/image_raw/compressed")
    assert (image.encoding, image.height, image.width) == ("rgb8", 12, 17)
    assert stamp_to_ns(image.header.stamp) == 12 * 10**9 + 5 and image.header.frame_id == "camera_color_optical_frame"
    np.testing.assert_array_equal(image_to_numpy(image), rgb)
    y, x = np.mgrid[0:48, 0:64]
    smooth = np.stack([x * 4, y * 5, (x + y) * 2], -1).astype(np.uint8)  # JPEG keeps a gradient close
    jpeg = image_to_numpy(compressed_to_image(compressed(*encode_compressed_color(smooth, "jpeg", quality=95))))
    assert np.abs(jpeg.astype(int) - smooth.astype(int)).mean() < 2.0  # and in RGB order


def test_compressed_depth_decodes_to_16uc1_and_32fc1() -> None:
    mm = np.random.default_rng(6).integers(0, 9000, (9, 11), dtype=np.uint16)
    image = compressed_to_image(compressed(*encode_compressed_depth(mm, "16UC1"), frame_id="depth"))
    assert image.encoding == "16UC1" and image.header.frame_id == "depth"
    np.testing.assert_array_equal(image_to_numpy(image), mm)
    metres = np.full((9, 11), 1.5, np.float32)
    metres[0, 0] = np.nan
    image = compressed_to_image(compressed(*encode_compressed_depth(metres, "32FC1")))
    depth = image_to_numpy(image)
    assert image.encoding == "32FC1" and depth[0, 0] == 0.0  # invalid: 0, as the node reads 0 and NaN alike
    np.testing.assert_allclose(depth[1:], 1.5, atol=1e-3)


@pytest.mark.parametrize(
    ("fmt", "data", "words"),
    [
        ("rgb8; jpeg compressed bgr8", b"\xff\xd8\xff\xe0 not a jpeg", "cannot decode"),
        ("16UC1; compressedDepth rvl", b"\x00" * 40, "rvl"),
        ("rgb8; webp compressed bgr8", b"RIFF....WEBP", "unknown CompressedImage format"),
        ("rgb8; png compressed bgr8", b"", "empty"),
    ],
)
def test_compressed_that_does_not_decode_is_an_image_conversion_error_naming_the_topic(
    fmt: str, data: bytes, words: str
) -> None:
    with pytest.raises(ImageConversionError, match=words) as info:
        compressed_to_image(compressed(fmt, data), "/cam/image_raw/compressed")
    assert str(info.value).startswith("/cam/image_raw/compressed: ")


def test_importing_the_image_module_loads_no_opencv() -> None:
    code = "import sys, robot_vision_nav.ros.image; assert 'cv2' not in sys.modules, 'cv2 loaded'; print('ok')"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
