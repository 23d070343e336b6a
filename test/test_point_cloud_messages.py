"""sensor_msgs/PointCloud2 packing and reading (ros/messages.py) against the real message type.

sensor_msgs_py is not installed, so the layout is checked byte for byte against what its
create_cloud_xyz32 writes (fields x, y, z FLOAT32 at offsets 0, 4, 8, point_step 12, one row,
little-endian, dense), and the reader against other layouts a driver may send.
"""

from __future__ import annotations

import array
import struct

import numpy as np
import pytest
from sensor_msgs.msg import PointCloud2, PointField

from robot_vision_nav.ros.messages import PointCloudError, point_cloud_to_xyz, stamp_to_ns, xyz_point_cloud

POINTS = np.array([[1.0, -2.0, 0.5], [0.25, 3.5, 0.1], [-1.5e-3, 7.0, 2.0]], dtype=np.float32)


def test_roundtrip_keeps_every_point_bit_for_bit() -> None:
    rng = np.random.default_rng(7)
    points = rng.normal(0.0, 3.0, (1000, 3)).astype(np.float32)
    msg = xyz_point_cloud(points, "base_link", 12_000_000_345)
    assert isinstance(msg, PointCloud2)
    back = point_cloud_to_xyz(msg)
    assert back.dtype == np.float32 and back.shape == (1000, 3)
    assert back.tobytes() == points.tobytes()
    assert msg.header.frame_id == "base_link" and stamp_to_ns(msg.header.stamp) == 12_000_000_345


def test_layout_is_the_standard_xyz32_one() -> None:
    msg = xyz_point_cloud(POINTS, "base_link", 0)
    assert (msg.height, msg.width, msg.point_step, msg.row_step) == (1, 3, 12, 36)
    assert msg.is_bigendian is False and msg.is_dense is True
    assert [(f.name, f.offset, f.datatype, f.count) for f in msg.fields] == [
        ("x", 0, PointField.FLOAT32, 1),
        ("y", 4, PointField.FLOAT32, 1),
        ("z", 8, PointField.FLOAT32, 1),
    ]
    assert len(msg.data) == 36
    # Little-endian whatever the host: the first point, written by hand.
    assert bytes(msg.data[:12]) == struct.pack("<3f", 1.0, -2.0, 0.5)


def test_float64_input_and_an_empty_cloud() -> None:
    msg = xyz_point_cloud(POINTS.astype(np.float64), "odom", 5)
    np.testing.assert_array_equal(point_cloud_to_xyz(msg), POINTS)
    empty = xyz_point_cloud(np.empty((0, 3), np.float32), "base_link", 5)
    assert (empty.width, empty.row_step, len(empty.data)) == (0, 0, 0)
    assert point_cloud_to_xyz(empty).shape == (0, 3)


@pytest.mark.parametrize(
    ("points", "words"),
    [
        (np.zeros((4, 2), np.float32), r"\(N, 3\)"),
        (np.zeros(3, np.float32), r"\(N, 3\)"),
        (np.array([[0.0, np.nan, 1.0]], np.float32), "finite"),
        (np.array([[0.0, np.inf, 1.0]]), "finite"),
    ],
)
def test_bad_points_are_refused(points: np.ndarray, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        xyz_point_cloud(points, "base_link", 0)


def cloud(
    points: np.ndarray, *, big_endian: bool = False, point_step: int = 16, pad: int = 0, rows: int = 1
) -> PointCloud2:
    """A cloud as another driver might send it: x, y, z, intensity, either byte order, padded rows."""
    width = len(points) // rows
    order = ">" if big_endian else "<"
    fields = [
        PointField(name="x", offset=0, datatype=PointField.FLOAT32, count=1),
        PointField(name="y", offset=4, datatype=PointField.FLOAT32, count=1),
        PointField(name="z", offset=8, datatype=PointField.FLOAT32, count=1),
        PointField(name="intensity", offset=12, datatype=PointField.FLOAT32, count=1),
    ]
    data = b""
    for r in range(rows):
        for p in points[r * width : (r + 1) * width]:
            data += struct.pack(f"{order}4f", *p, 9.0) + b"\0" * (point_step - 16)
        data += b"\xff" * pad
    msg = PointCloud2(height=rows, width=width, fields=fields, is_bigendian=big_endian, point_step=point_step)
    msg.row_step = width * point_step + pad
    msg.data = array.array("B", data)
    return msg


@pytest.mark.parametrize("big_endian", [False, True])
@pytest.mark.parametrize(("point_step", "pad", "rows"), [(16, 0, 1), (20, 0, 1), (16, 7, 2)])
def test_reader_takes_other_layouts(big_endian: bool, point_step: int, pad: int, rows: int) -> None:
    points = np.arange(24, dtype=np.float32).reshape(8, 3) / 4.0
    msg = cloud(points, big_endian=big_endian, point_step=point_step, pad=pad, rows=rows)
    np.testing.assert_array_equal(point_cloud_to_xyz(msg), points)


def test_reader_refuses_what_it_cannot_read() -> None:
    msg = cloud(POINTS)
    msg.fields = msg.fields[:2]
    with pytest.raises(PointCloudError, match="no 'z' field"):
        point_cloud_to_xyz(msg)
    msg = cloud(POINTS)
    msg.fields[1].datatype = PointField.FLOAT64
    with pytest.raises(PointCloudError, match="'y' must be one FLOAT32"):
        point_cloud_to_xyz(msg)
    msg = cloud(POINTS)
    msg.fields[2].offset = 14
    with pytest.raises(PointCloudError, match="beyond point_step"):
        point_cloud_to_xyz(msg)
    msg = cloud(POINTS)
    msg.data = msg.data[:-1]
    with pytest.raises(PointCloudError, match="data has 47 B"):
        point_cloud_to_xyz(msg)
    msg = cloud(POINTS)
    msg.row_step = 8
    with pytest.raises(PointCloudError, match="row_step 8 B is shorter"):
        point_cloud_to_xyz(msg)
