"""Property-based fuzzing of every message conversion and of the bag reader on random and malformed input.

Each boundary must answer bad input with its own documented exception (ImageConversionError,
CameraInfoError, ValueError, CompressedImageError, BagError, CompareError), never another type,
a crash, a hang or an allocation the input does not justify. Hangs become failures through
CPU-time and wall-time timer signals (no thread), allocations are bounded with tracemalloc.
"""

from __future__ import annotations

import array
import contextlib
import json
import math
import os
import shutil
import signal
import struct
import tempfile
import threading
import tracemalloc
import zlib
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from nav_msgs.msg import OccupancyGrid, Odometry
from rosbags.rosbag1 import Writer as Ros1Writer
from rosbags.typesys import Stores, get_typestore
from sensor_msgs.msg import Image

from robot_vision_nav.replay.bags import BagError, BagReader, BagWriter
from robot_vision_nav.replay.compare import CompareError, load_summary
from robot_vision_nav.replay.images import (
    CompressedImageError,
    decode_compressed,
    encode_compressed_color,
    encode_compressed_depth,
)
from robot_vision_nav.ros.image import SUPPORTED_ENCODINGS, ImageConversionError, image_to_numpy, numpy_to_image
from robot_vision_nav.ros.messages import (
    CameraInfoError,
    camera_info_to_intrinsics,
    grid_from_msg,
    occupancy_grid_to_numpy,
    odometry_to_pose2d,
)

TS2 = get_typestore(Stores.ROS2_KILTED)
TS1 = get_typestore(Stores.ROS1_NOETIC)

_DTYPES = {"rgb8": np.uint8, "bgr8": np.uint8, "mono8": np.uint8, "16UC1": np.uint16, "32FC1": np.float32}
_CHANNELS = {"rgb8": 3, "bgr8": 3, "mono8": 1, "16UC1": 1, "32FC1": 1}
_ALIASES = {"mono16": "16UC1", "8UC1": "mono8"}

HUGE_U32 = [2**16, 2**31 - 1, 2**32 - 1]
sizes = st.one_of(st.integers(0, 6), st.sampled_from(HUGE_U32))
steps = st.one_of(st.integers(0, 40), st.sampled_from(HUGE_U32))
floats_any = st.floats(allow_nan=True, allow_infinity=True)


@contextlib.contextmanager
def alarm(seconds: int = 5, wall_seconds: int = 60) -> Iterator[None]:
    """Turn a hang into a failure, without a thread (the signals interrupt the main thread).

    Two budgets: `seconds` of the process's CPU time (ITIMER_PROF) catches a decoder spinning in a
    loop without tripping on a test process starved by a loaded CI machine (a 16x12 PNG once took
    5 s of wall time in CI and decoded at once when Hypothesis retried it); `wall_seconds` of wall
    time (SIGALRM) catches a hang that waits instead of spinning (a lock, a read).
    """

    def _cpu(signum: int, frame: Any) -> None:
        raise TimeoutError(f"no answer within {seconds} s of CPU time: a hang")

    def _wall(signum: int, frame: Any) -> None:
        raise TimeoutError(f"no answer within {wall_seconds} s of wall time: a hang")

    old_prof, old_alrm = signal.signal(signal.SIGPROF, _cpu), signal.signal(signal.SIGALRM, _wall)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    signal.setitimer(signal.ITIMER_REAL, wall_seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGPROF, old_prof)
        signal.signal(signal.SIGALRM, old_alrm)


def test_alarm_catches_a_spinning_loop_and_a_wait() -> None:
    """The hang guard itself works: a loop that burns CPU, and a wait that burns none."""
    with pytest.raises(TimeoutError, match="CPU time"), alarm(1):
        while True:
            pass
    with pytest.raises(TimeoutError, match="wall time"), alarm(5, wall_seconds=1):
        threading.Event().wait(10)


@contextlib.contextmanager
def allocation_limit(max_bytes: int) -> Iterator[None]:
    """Fail if the block's peak traced allocation (numpy's included) exceeds `max_bytes`."""
    tracemalloc.start()
    try:
        yield
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak <= max_bytes, f"peak allocation {peak} B exceeds {max_bytes} B for a tiny input"


# --- sensor_msgs/Image <-> numpy ---------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    height=sizes,
    width=sizes,
    step=steps,
    encoding=st.one_of(st.sampled_from([*SUPPORTED_ENCODINGS, *_ALIASES]), st.text(max_size=8)),
    bigendian=st.integers(0, 1),
    data=st.binary(max_size=200),
)
def test_image_to_numpy_returns_expected_array_or_image_conversion_error(
    height: int, width: int, step: int, encoding: str, bigendian: int, data: bytes
) -> None:
    msg = Image(height=height, width=width, step=step, encoding=encoding, is_bigendian=bigendian)
    msg.data = array.array("B", data)
    with alarm(), allocation_limit(64 * 1024 + 4 * len(data)):
        try:
            out = image_to_numpy(msg)
        except ImageConversionError:
            return
    canonical = _ALIASES.get(encoding, encoding)
    channels = _CHANNELS[canonical]
    assert out.shape == ((height, width) if channels == 1 else (height, width, channels))
    assert out.dtype == _DTYPES[canonical] and out.flags.c_contiguous and out.flags.owndata
    assert out.nbytes <= len(data)  # never more pixels than the data holds


def _image_arrays(encoding: str) -> st.SearchStrategy[np.ndarray]:
    dtype = np.dtype(_DTYPES[encoding])
    shape = hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=9)
    if _CHANNELS[encoding] == 3:
        shape = shape.map(lambda s: (*s, 3))
    return hnp.arrays(dtype, shape)


@st.composite
def awkward_images(draw: st.DrawFn) -> tuple[str, np.ndarray]:
    """A valid array for a random encoding, often non-contiguous and/or byte-swapped."""
    encoding = draw(st.sampled_from([*SUPPORTED_ENCODINGS, "mono16", "8UC1"]))
    arr = draw(_image_arrays(_ALIASES.get(encoding, encoding)))
    layout = draw(st.sampled_from(["c", "fortran", "every_other_row", "reversed_cols", "padded"]))
    if layout == "fortran":
        arr = np.asfortranarray(arr)
    elif layout == "every_other_row":
        arr = np.repeat(arr, 2, axis=0)[::2]
    elif layout == "reversed_cols":
        arr = np.ascontiguousarray(arr[:, ::-1])[:, ::-1]
    elif layout == "padded":
        padded = np.zeros((arr.shape[0], arr.shape[1] + 3, *arr.shape[2:]), dtype=arr.dtype)
        padded[:, : arr.shape[1]] = arr
        arr = padded[:, : arr.shape[1]]
    if draw(st.booleans()) and arr.dtype.itemsize > 1:
        arr = arr.astype(arr.dtype.newbyteorder())
    return encoding, arr


@settings(max_examples=200, deadline=None)
@given(awkward_images())
def test_numpy_to_image_round_trips_any_layout_and_byte_order(case: tuple[str, np.ndarray]) -> None:
    encoding, arr = case
    msg = numpy_to_image(arr, encoding, stamp=123, frame_id="cam")
    assert msg.step * msg.height == len(msg.data)
    out = image_to_numpy(msg)
    assert out.dtype == arr.dtype.newbyteorder("=") and out.shape == arr.shape
    # bit-exact, NaN payloads included
    assert out.tobytes() == np.ascontiguousarray(arr, dtype=out.dtype).tobytes()


@settings(max_examples=100, deadline=None)
@given(awkward_images(), st.integers(0, 5), st.booleans())
def test_padded_and_swapped_messages_decode_to_the_same_pixels(
    case: tuple[str, np.ndarray], pad: int, swap: bool
) -> None:
    encoding, arr = case
    native = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("="))
    wire = native.astype(native.dtype.newbyteorder(">" if swap else "<"))
    rows = wire.reshape(native.shape[0], -1).view(np.uint8)
    padded = np.concatenate([rows, np.full((rows.shape[0], pad), 0xAB, np.uint8)], axis=1)
    msg = Image(
        height=native.shape[0],
        width=native.shape[1],
        encoding=encoding,
        is_bigendian=int(swap),
        step=padded.shape[1],
    )
    msg.data = array.array("B", padded.tobytes())
    assert image_to_numpy(msg).tobytes() == native.tobytes()


@settings(max_examples=100, deadline=None)
@given(
    encoding=st.one_of(st.sampled_from(SUPPORTED_ENCODINGS), st.text(max_size=8)),
    arr=hnp.arrays(
        st.sampled_from([np.uint8, np.int8, np.uint16, np.float32, np.float64, np.int32]),
        hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4),
    ),
)
def test_numpy_to_image_refuses_mismatches_with_image_conversion_error(encoding: str, arr: np.ndarray) -> None:
    try:
        msg = numpy_to_image(arr, encoding)
    except ImageConversionError:
        return
    assert image_to_numpy(msg).shape == arr.shape


# --- CameraInfo, Odometry, OccupancyGrid -------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    width=st.one_of(st.integers(-3, 5), st.sampled_from(HUGE_U32)),
    height=st.one_of(st.integers(-3, 5), st.sampled_from(HUGE_U32)),
    k=st.one_of(
        st.lists(floats_any, min_size=9, max_size=9),
        st.lists(st.sampled_from([0.0, -1.0, 1.0, 500.0, math.nan, math.inf, -math.inf]), min_size=9, max_size=9),
        st.lists(floats_any, max_size=12),
    ),
)
def test_camera_info_to_intrinsics_gives_usable_intrinsics_or_camera_info_error(
    width: int, height: int, k: list[float]
) -> None:
    # A stand-in with the fields the function reads: a real CameraInfo refuses a K of the wrong length.
    msg = SimpleNamespace(width=width, height=height, k=k)
    try:
        intr = camera_info_to_intrinsics(msg)  # type: ignore[arg-type]
    except CameraInfoError:
        return
    assert len(k) == 9 and width > 0 and height > 0
    assert math.isfinite(intr.fx) and intr.fx > 0 and math.isfinite(intr.fy) and intr.fy > 0
    assert math.isfinite(intr.cx) and math.isfinite(intr.cy)


@settings(max_examples=300, deadline=None)
@given(
    position=st.tuples(floats_any, floats_any),
    quat=st.one_of(
        st.tuples(floats_any, floats_any, floats_any, floats_any),
        st.just((0.0, 0.0, 0.0, 0.0)),
        st.floats(-10, 10).map(lambda yaw: (0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2))),
    ),
)
def test_odometry_to_pose2d_gives_finite_pose_or_value_error(
    position: tuple[float, float], quat: tuple[float, float, float, float]
) -> None:
    msg = Odometry()
    msg.pose.pose.position.x, msg.pose.pose.position.y = position
    o = msg.pose.pose.orientation
    o.x, o.y, o.z, o.w = quat
    try:
        pose = odometry_to_pose2d(msg)
    except ValueError:
        return
    assert all(math.isfinite(v) for v in (*position, *quat))
    assert abs(math.hypot(*quat) - 1.0) <= 0.01
    assert math.isfinite(pose.x_m) and math.isfinite(pose.y_m) and -math.pi <= pose.yaw_rad <= math.pi


@settings(max_examples=300, deadline=None)
@given(
    width=sizes,
    height=sizes,
    data=st.one_of(st.none(), st.lists(st.integers(-128, 127), max_size=40)),
    resolution=st.one_of(st.sampled_from([0.0, -0.05, 0.05, math.nan, math.inf]), floats_any),
    origin=st.one_of(st.just((1.0, -2.0)), st.tuples(floats_any, floats_any)),
    quat=st.one_of(
        st.just((0.0, 0.0, 0.0, 1.0)),
        st.sampled_from([(0.0, 0.0, 0.0, math.nan), (math.inf, 0.0, 0.0, 1.0), (0.0, 0.0, 0.0, 0.0)]),
        st.tuples(floats_any, floats_any, floats_any, floats_any),
    ),
)
@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
def test_occupancy_grid_conversions_give_matching_grid_or_value_error(
    width: int,
    height: int,
    data: list[int] | None,
    resolution: float,
    origin: tuple[float, float],
    quat: tuple[float, ...],
) -> None:
    if data is None:  # often exactly the declared size, so the resolution, origin and orientation checks run
        data = [0] * (width * height) if width * height <= 64 else []
    msg = OccupancyGrid()
    msg.info.width, msg.info.height = width, height
    msg.info.resolution = resolution if not math.isfinite(resolution) else float(np.float32(resolution))
    msg.info.origin.position.x, msg.info.origin.position.y = origin
    o = msg.info.origin.orientation
    o.x, o.y, o.z, o.w = quat
    msg.data = array.array("b", data)
    with alarm(), allocation_limit(64 * 1024):
        try:
            cells = occupancy_grid_to_numpy(msg)
        except ValueError:
            assert len(data) != width * height
            cells = None
        try:
            grid = grid_from_msg(msg)
        except ValueError:
            return
    assert cells is not None and cells.shape == (height, width) and cells.tobytes() == bytes(array.array("b", data))
    assert grid.values.shape == (height, width)
    assert math.isfinite(grid.resolution_m) and grid.resolution_m > 0
    assert math.isfinite(grid.origin_x_m) and math.isfinite(grid.origin_y_m)
    assert all(math.isfinite(v) for v in quat)  # a NaN orientation is not "axis-aligned"


# --- CompressedImage payloads -----------------------------------------------------------------

FORMATS = [
    "rgb8; jpeg compressed bgr8",
    "rgb8; png compressed bgr8",
    "bgr8; jpeg compressed bgr8",
    "mono8; png compressed",
    "16UC1; png compressed",
    "jpeg",
    "png",
    "16UC1; compressedDepth png",
    "32FC1; compressedDepth png",
    "16UC1; compressedDepth",
    "mono16; compressedDepth png",
    "32FC1; compressedDepth rvl",
]
formats = st.one_of(st.sampled_from(FORMATS), st.text(max_size=30))

_RNG = np.random.default_rng(7)
_RGB = _RNG.integers(0, 256, (12, 16, 3), dtype=np.uint8)
VALID_PAYLOADS = [
    encode_compressed_color(_RGB, "jpeg"),
    encode_compressed_color(_RGB, "png"),
    ("mono8; png compressed", bytes(cv2.imencode(".png", _RGB[..., 0])[1])),
    encode_compressed_depth(_RNG.integers(0, 5000, (12, 16), dtype=np.uint16), "16UC1"),
    encode_compressed_depth(_RNG.uniform(0.1, 12.0, (12, 16)).astype(np.float32), "32FC1"),
]


def _decode_or_error(fmt: str, data: bytes) -> None:
    with alarm(), allocation_limit(16 * 1024 * 1024):
        try:
            decoded = decode_compressed(fmt, data, "/fuzz")
        except CompressedImageError:
            return
    assert decoded.array.ndim in (2, 3) and decoded.array.size > 0
    assert decoded.encoding in ("rgb8", "mono8", "16UC1", "32FC1")


@settings(max_examples=300, deadline=None)
@given(fmt=formats, data=st.binary(max_size=300))
def test_decode_compressed_on_random_bytes_gives_image_or_compressed_image_error(fmt: str, data: bytes) -> None:
    _decode_or_error(fmt, data)


@settings(max_examples=300, deadline=None)
@given(
    case=st.sampled_from(VALID_PAYLOADS),
    fmt=st.one_of(st.none(), formats),
    cut=st.floats(0.0, 1.0),
    flips=st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(1, 255)), max_size=4),
)
def test_decode_compressed_on_truncated_or_flipped_payloads(
    case: tuple[str, bytes], fmt: str | None, cut: float, flips: list[tuple[float, int]]
) -> None:
    valid_fmt, payload = case
    data = bytearray(payload[: int(len(payload) * cut)] if cut < 1.0 else payload)
    for where, xor in flips:
        if data:
            data[min(int(where * len(data)), len(data) - 1)] ^= xor
    _decode_or_error(valid_fmt if fmt is None else fmt, bytes(data))


@settings(max_examples=100, deadline=None)
@given(
    quant=st.tuples(floats_any, floats_any),
    compression=st.one_of(st.just(0), st.integers(-(2**31), 2**31 - 1)),
    fmt=st.sampled_from(["32FC1; compressedDepth png", "16UC1; compressedDepth png", "32FC1; compressedDepth"]),
)
@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
def test_compressed_depth_header_with_any_quantisation(quant: tuple[float, float], compression: int, fmt: str) -> None:
    png = VALID_PAYLOADS[3][1][12:]
    data = struct.pack("<iff", compression, *(float(np.float32(q)) if math.isfinite(q) else q for q in quant)) + png
    with alarm():
        try:
            decoded = decode_compressed(fmt, data)
        except CompressedImageError:
            return
    assert compression == 0
    if decoded.encoding == "32FC1":
        assert np.isfinite(decoded.array).all()
        assert all(math.isfinite(q) for q in quant)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_declaring(width: int, height: int, color_type: int = 2, bit_depth: int = 8, rows: int = 1) -> bytes:
    """A PNG whose IHDR declares width x height but whose IDAT holds only `rows` rows of zeros."""
    channels = {0: 1, 2: 3, 6: 4}[color_type]
    row = 1 + width * channels * bit_depth // 8
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    idat = zlib.compress(b"\0" * (row * rows), 9)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def jpeg_declaring(width: int, height: int) -> bytes:
    """A real 8x8 JPEG whose SOF0 frame header is patched to declare width x height."""
    data = bytearray(cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))[1].tobytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


@pytest.mark.parametrize(
    ("fmt", "data"),
    [
        ("rgb8; png compressed bgr8", png_declaring(60000, 60000)),
        ("rgb8; png compressed bgr8", png_declaring(20000, 20000, rows=40)),
        ("mono8; png compressed", png_declaring(30000, 30000, color_type=0)),
        # a real bomb: 81 Mpx of zeros that decode (81 MB, 162 MB as colour) from ~80 kB
        ("mono8; png compressed", png_declaring(9000, 9000, color_type=0, rows=9000)),
        ("16UC1; compressedDepth png", struct.pack("<iff", 0, 0.0, 0.0) + png_declaring(20000, 20000, 0, 16)),
        ("16UC1; compressedDepth png", png_declaring(40000, 20000, 0, 16)),
        ("rgb8; jpeg compressed bgr8", jpeg_declaring(30000, 30000)),
        ("rgb8; jpeg compressed bgr8", jpeg_declaring(65535, 65535)),
    ],
)
def test_decompression_bomb_is_refused_before_decoding(fmt: str, data: bytes) -> None:
    assert len(data) < 200_000
    with alarm(), allocation_limit(8 * 1024 * 1024), pytest.raises(CompressedImageError, match="declares"):
        decode_compressed(fmt, data, "/bomb")


def test_payload_that_is_neither_png_nor_jpeg_is_refused() -> None:
    bmp = cv2.imencode(".bmp", np.zeros((4, 4, 3), np.uint8))[1].tobytes()
    with pytest.raises(CompressedImageError, match="not a PNG or JPEG"):
        decode_compressed("rgb8; png compressed bgr8", bmp)


# --- bags -------------------------------------------------------------------------------------

IMAGE_T = "sensor_msgs/msg/Image"
ODOM_T = "nav_msgs/msg/Odometry"


def _image_cdr(i: int) -> bytes:
    t = TS2.types
    header = t["std_msgs/msg/Header"](stamp=t["builtin_interfaces/msg/Time"](sec=i, nanosec=0), frame_id="cam")
    msg = t[IMAGE_T](
        header=header, height=2, width=3, encoding="mono8", is_bigendian=0, step=3, data=np.arange(6, dtype=np.uint8)
    )
    return bytes(TS2.serialize_cdr(msg, IMAGE_T))


def _read_everything(path: Path) -> None:
    """Open, list, describe, read and deserialize a bag: succeeds or raises BagError, within 10 s."""
    stage = "open"
    with alarm(10):
        try:
            with BagReader(path) as bag:
                stage = "topics"
                topics = bag.topics()
                bag.info()
                stage = "messages"
                for topic, msgtype, _ns, data in bag.messages():
                    assert topic in topics
                    with contextlib.suppress(BagError):
                        bag.deserialize(data, msgtype, topic)
                stage = "all read"
        except BagError as err:
            assert str(path) in str(err)
    event(f"bag reader got to: {stage}")


@pytest.fixture(scope="module")
def bag_dir() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="rvn-fuzz-bags-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def real_bags(bag_dir: Path) -> dict[str, bytes | dict[str, bytes]]:
    """Small real bags, as bytes: a rosbag2 mcap (compressed and not) folder and a ROS 1 .bag."""
    out: dict[str, Any] = {}
    for compress in (True, False):
        path = bag_dir / f"real_{compress}"
        with BagWriter(path, compress=compress) as writer:
            writer.add_topic("/img", IMAGE_T)
            for i in range(4):
                writer.write("/img", 1_000 + i, _image_cdr(i))
        out[f"mcap_{compress}"] = {p.name: p.read_bytes() for p in path.iterdir()}
    ros1 = bag_dir / "real.bag"
    with Ros1Writer(ros1) as writer:
        conn = writer.add_connection("/img", IMAGE_T, typestore=TS1)
        for i in range(4):
            t = TS1.types
            header = t["std_msgs/msg/Header"](
                seq=i, stamp=t["builtin_interfaces/msg/Time"](sec=i, nanosec=0), frame_id="cam"
            )
            msg = t[IMAGE_T](
                header=header,
                height=2,
                width=3,
                encoding="mono8",
                is_bigendian=0,
                step=3,
                data=np.arange(6, dtype=np.uint8),
            )
            writer.write(conn, 1_000 + i, bytes(TS1.serialize_ros1(msg, IMAGE_T)))
    out["ros1"] = ros1.read_bytes()
    return out


def _fresh(bag_dir: Path, name: str) -> Path:
    path = bag_dir / name
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
    return path


def _damage(data: bytes, cut: float, flips: list[tuple[float, int]]) -> bytes:
    out = bytearray(data[: int(len(data) * cut)] if cut < 1.0 else data)
    for where, xor in flips:
        if out:
            out[min(int(where * len(out)), len(out) - 1)] ^= xor
    return bytes(out)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=400), suffix=st.sampled_from([".mcap", ".bag"]), magic=st.booleans())
def test_bag_reader_on_random_bytes_file(bag_dir: Path, data: bytes, suffix: str, magic: bool) -> None:
    if magic:  # get past the magic check to the record parsers
        data = (b"\x89MCAP0\r\n" if suffix == ".mcap" else b"#ROSBAG V2.0\n") + data
    path = _fresh(bag_dir, "x" + suffix)
    path.write_bytes(data)
    _read_everything(path)


metadata_texts = st.one_of(
    st.text(max_size=200),
    st.builds(
        lambda version, storage, name, count, topic: (
            "rosbag2_bagfile_information:\n"
            f"  version: {version}\n"
            f"  storage_identifier: {storage}\n"
            f"  relative_file_paths: [{name}]\n"
            f"  duration: {{nanoseconds: {count}}}\n"
            f"  starting_time: {{nanoseconds_since_epoch: {count}}}\n"
            f"  message_count: {count}\n"
            f"  topics_with_message_count: [{topic}]\n"
            "  compression_format: ''\n  compression_mode: ''\n"
        ),
        version=st.sampled_from(["1", "4", "8", "9", "99", "x", "-1"]),
        storage=st.sampled_from(["sqlite3", "mcap", "foo", "''"]),
        name=st.sampled_from(["x.db3", "x.mcap", "../x.mcap", "nope.db3", "''"]),
        count=st.sampled_from(["0", "3", "-1", "1e40", "x"]),
        topic=st.sampled_from(
            [
                "",
                "{topic_metadata: {name: /a, type: sensor_msgs/msg/Image, serialization_format: cdr,"
                " offered_qos_profiles: ''}, message_count: 2}",
                "{topic_metadata: {name: /a, type: no/such/Type, serialization_format: cdr}, message_count: x}",
                "{}",
            ]
        ),
    ),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(metadata=metadata_texts, data=st.binary(max_size=300), storage=st.sampled_from(["x.db3", "x.mcap"]))
def test_bag_reader_on_random_rosbag2_folder(bag_dir: Path, metadata: str, data: bytes, storage: str) -> None:
    folder = _fresh(bag_dir, "folder_bag")
    folder.mkdir()
    (folder / "metadata.yaml").write_text(metadata, encoding="utf-8")
    (folder / storage).write_bytes((b"\x89MCAP0\r\n" + data) if storage.endswith(".mcap") else data)
    _read_everything(folder)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    which=st.sampled_from(["mcap_True", "mcap_False", "ros1"]),
    cut=st.one_of(st.just(1.0), st.floats(0.0, 1.0)),
    flips=st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(1, 255)), max_size=6),
    damage_metadata=st.booleans(),
)
def test_bag_reader_on_truncated_or_flipped_real_bags(
    bag_dir: Path,
    real_bags: dict[str, Any],
    which: str,
    cut: float,
    flips: list[tuple[float, int]],
    damage_metadata: bool,
) -> None:
    original = real_bags[which]
    if which == "ros1":
        path = _fresh(bag_dir, "damaged.bag")
        path.write_bytes(_damage(original, cut, flips))
    else:
        path = _fresh(bag_dir, "damaged_bag")
        path.mkdir()
        for name, content in original.items():
            is_meta = name == "metadata.yaml"
            damaged = _damage(content, cut, flips) if is_meta == damage_metadata else content
            (path / name).write_bytes(damaged)
    _read_everything(path)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.binary(max_size=200),
    msgtype=st.sampled_from([IMAGE_T, ODOM_T, "sensor_msgs/msg/CameraInfo", "no_such/msg/Type", ""]),
)
def test_bag_reader_deserialize_random_cdr(bag_dir: Path, real_bags: dict[str, Any], data: bytes, msgtype: str) -> None:
    path = bag_dir / "deser_bag"
    if not path.exists():
        path.mkdir()
        for name, content in real_bags["mcap_True"].items():
            (path / name).write_bytes(content)
    with alarm(), BagReader(path) as bag, contextlib.suppress(BagError):
        bag.deserialize(data, msgtype, "/x")


# --- replay summaries -------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@st.composite
def summaries(draw: st.DrawFn) -> Any:
    value = draw(json_values)
    if draw(st.booleans()):  # often a plausible head, so the field checks run
        streams = draw(
            st.dictionaries(st.sampled_from(["mask", "costmap", "plan", "cmd_vel", "x"]), json_values, max_size=4)
        )
        value = {
            "format": draw(st.sampled_from(["rvn-replay-summary", "x"])),
            "version": draw(st.sampled_from([1, 2, "1"])),
            "bag": draw(st.one_of(st.text(max_size=5), st.integers())),
            "streams": streams,
        }
    return value


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=summaries(), raw=st.one_of(st.none(), st.binary(max_size=50)))
def test_load_summary_gives_dict_or_compare_error(bag_dir: Path, value: Any, raw: bytes | None) -> None:
    path = bag_dir / "summary.json"
    if raw is None:
        path.write_text(json.dumps(value, allow_nan=True), encoding="utf-8")
    else:
        path.write_bytes(raw)
    with alarm():
        try:
            result = load_summary(path)
        except CompareError as err:
            assert str(path) in str(err)
            return
    assert isinstance(result, dict)
