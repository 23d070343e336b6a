"""Bag reading and writing (replay/bags.py) and input topic resolution (replay/topics.py) on real files.

Every bag here is generated in tmp_path: rosbag2 mcap bags by BagWriter or rosbags' Writer, sqlite3
bags and ROS 1 bags by rosbags' writers. Nothing is mocked; corrupt bags are real files cut or
overwritten with garbage.
"""

from __future__ import annotations

import dataclasses
import json
import os
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

# DDS discovery must stay on loopback; conftest sets this too, but this module imports rclpy itself.
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"

import numpy as np
import pytest
import yaml
from backports import zstd
from mcap.reader import make_reader
from mcap.records import Chunk, Message
from mcap.stream_reader import StreamReader, breakup_chunk
from rosbags.rosbag1 import Writer as Ros1Writer
from rosbags.rosbag2 import StoragePlugin
from rosbags.rosbag2 import Writer as Ros2Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

from robot_vision_nav.cli import main
from robot_vision_nav.replay.bags import BagError, BagReader, BagWriter, bag_storage, read_info
from robot_vision_nav.replay.topics import (
    CAMERA_INFO,
    COLOR,
    COMPRESSED,
    DEPTH,
    IMAGE,
    INPUT_TYPES,
    ODOM,
    REQUIRED_INPUTS,
    load_topic_map,
    resolve_inputs,
)

TS2 = get_typestore(Stores.ROS2_KILTED)
TS1 = get_typestore(Stores.ROS1_NOETIC)

IMAGE_T = "sensor_msgs/msg/Image"
INFO_T = "sensor_msgs/msg/CameraInfo"
ODOM_T = "nav_msgs/msg/Odometry"
TWIST_T = "geometry_msgs/msg/Twist"
BLOB_T = "custom_msgs/msg/Blob"

COLOR_TOPIC = "/camera/color/image_raw"
DEPTH_TOPIC = "/camera/aligned_depth_to_color/image_raw"
INFO_TOPIC = "/camera/color/camera_info"
ODOM_TOPIC = "/odom"
CMD_TOPIC = "/cmd_vel"
T0_NS = 1_700_000_000_000_000_000


# --- message builders -------------------------------------------------------------------------


def header(ts: Typestore, stamp_ns: int, frame_id: str, seq: int | None = None) -> Any:
    time = ts.types["builtin_interfaces/msg/Time"](sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9)
    if seq is None:
        return ts.types["std_msgs/msg/Header"](stamp=time, frame_id=frame_id)
    return ts.types["std_msgs/msg/Header"](seq=seq, stamp=time, frame_id=frame_id)


def image_msg(ts: Typestore, stamp_ns: int, width: int = 4, height: int = 3, seq: int | None = None) -> Any:
    data = (np.arange(width * height * 3, dtype=np.uint32) * 7 + stamp_ns % 251).astype(np.uint8)
    return ts.types[IMAGE_T](
        header=header(ts, stamp_ns, "camera_color_optical_frame", seq),
        height=height,
        width=width,
        encoding="rgb8",
        is_bigendian=0,
        step=width * 3,
        data=data,
    )


def camera_info_msg(ts: Typestore, stamp_ns: int) -> Any:
    roi = ts.types["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)
    return ts.types[INFO_T](
        header=header(ts, stamp_ns, "camera_color_optical_frame"),
        height=3,
        width=4,
        distortion_model="plumb_bob",
        d=np.zeros(5, dtype=np.float64),
        k=np.array([2.0, 0, 2.0, 0, 2.0, 1.5, 0, 0, 1], dtype=np.float64),
        r=np.eye(3, dtype=np.float64).ravel(),
        p=np.array([2.0, 0, 2.0, 0, 0, 2.0, 1.5, 0, 0, 0, 1, 0], dtype=np.float64),
        binning_x=0,
        binning_y=0,
        roi=roi,
    )


def odom_msg(ts: Typestore, stamp_ns: int, x_m: float, seq: int | None = None) -> Any:
    t = ts.types
    vec = t["geometry_msgs/msg/Vector3"]
    pose = t["geometry_msgs/msg/Pose"](
        position=t["geometry_msgs/msg/Point"](x=x_m, y=-0.5, z=0.0),
        orientation=t["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=0.0, w=1.0),
    )
    twist = t["geometry_msgs/msg/Twist"](linear=vec(x=0.3, y=0.0, z=0.0), angular=vec(x=0.0, y=0.0, z=0.1))
    return t[ODOM_T](
        header=header(ts, stamp_ns, "odom", seq),
        child_frame_id="base_link",
        pose=t["geometry_msgs/msg/PoseWithCovariance"](pose=pose, covariance=np.arange(36, dtype=np.float64)),
        twist=t["geometry_msgs/msg/TwistWithCovariance"](twist=twist, covariance=np.zeros(36, dtype=np.float64)),
    )


def twist_msg(ts: Typestore, vx_mps: float) -> Any:
    vec = ts.types["geometry_msgs/msg/Vector3"]
    return ts.types[TWIST_T](linear=vec(x=vx_mps, y=0.0, z=0.0), angular=vec(x=0.0, y=0.0, z=0.2))


def cdr(msg: Any, msgtype: str) -> bytes:
    return bytes(TS2.serialize_cdr(msg, msgtype))


# (topic, msgtype, log_ns, cdr), deliberately written not in log-time order across topics
Record = tuple[str, str, int, bytes]


def sample_records() -> list[Record]:
    records: list[Record] = []
    for i in range(3):
        stamp = T0_NS + i * 100_000_000
        records.append((COLOR_TOPIC, IMAGE_T, stamp + 10, cdr(image_msg(TS2, stamp), IMAGE_T)))
        records.append((INFO_TOPIC, INFO_T, stamp + 20, cdr(camera_info_msg(TS2, stamp), INFO_T)))
    for i in range(4):
        stamp = T0_NS + i * 70_000_000
        records.append((ODOM_TOPIC, ODOM_T, stamp + 5, cdr(odom_msg(TS2, stamp, 0.1 * i), ODOM_T)))
    records.append((CMD_TOPIC, TWIST_T, T0_NS + 150_000_000, cdr(twist_msg(TS2, 0.25), TWIST_T)))
    return records


def write_bag(path: Path, records: Iterable[Record], *, compress: bool = True) -> Path:
    with BagWriter(path, compress=compress) as writer:
        for topic, msgtype, log_ns, data in records:
            writer.add_topic(topic, msgtype)
            writer.write(topic, log_ns, data)
    return path


def read_all(path: Path) -> list[Record]:
    """Open the bag and read every message: where rosbags notices damage depends on the damage."""
    with BagReader(path) as bag:
        return list(bag.messages())


def mcap_file(bag: Path) -> Path:
    (file,) = bag.glob("*.mcap")
    return file


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".partial-" in p.name)


# --- rosbag2 mcap round trip ------------------------------------------------------------------


def test_bag_writer_round_trip_gives_identical_cdr_in_log_time_order(tmp_path: Path) -> None:
    records = sample_records()
    bag = write_bag(tmp_path / "run1", records)
    expected = sorted(records, key=lambda r: r[2])

    with BagReader(bag) as reader:
        assert reader.storage == "mcap"
        got = list(reader.messages())
        topics = reader.topics()
        first_image = reader.deserialize(got[1][3], IMAGE_T, COLOR_TOPIC)
    assert got == expected
    assert [r[2] for r in got] == sorted(r[2] for r in got)
    assert {name: (t.msgtype, t.count, t.serialization) for name, t in topics.items()} == {
        COLOR_TOPIC: (IMAGE_T, 3, "cdr"),
        INFO_TOPIC: (INFO_T, 3, "cdr"),
        ODOM_TOPIC: (ODOM_T, 4, "cdr"),
        CMD_TOPIC: (TWIST_T, 1, "cdr"),
    }
    assert got[1][0] == COLOR_TOPIC
    assert (first_image.width, first_image.height, first_image.encoding) == (4, 3, "rgb8")
    assert first_image.header.stamp.sec == T0_NS // 10**9

    info = read_info(bag)
    assert info.storage == "mcap"
    assert info.messages == len(records) == 11
    assert info.start_ns == expected[0][2] and info.end_ns == expected[-1][2]
    assert info.duration_ns == expected[-1][2] - expected[0][2]
    assert [(t.name, t.count) for t in info.topics] == [
        (INFO_TOPIC, 3),
        (COLOR_TOPIC, 3),
        (CMD_TOPIC, 1),
        (ODOM_TOPIC, 4),
    ]
    assert info.as_dict()["duration_s"] == pytest.approx(info.duration_ns / 1e9)


def test_bag_writer_output_reads_with_the_mcap_package(tmp_path: Path) -> None:
    records = sample_records()
    bag = write_bag(tmp_path / "run1", records)
    file = mcap_file(bag)
    assert file.name == "run1.mcap"

    with file.open("rb") as f:
        reader = make_reader(f)
        assert reader.get_header().profile == "ros2"
        summary = reader.get_summary()
    assert summary is not None and summary.statistics is not None
    assert {s.encoding for s in summary.schemas.values()} == {"ros2msg"}
    assert {s.name for s in summary.schemas.values()} == {IMAGE_T, INFO_T, ODOM_T, TWIST_T}
    assert {c.message_encoding for c in summary.channels.values()} == {"cdr"}
    assert {c.topic for c in summary.channels.values()} == {COLOR_TOPIC, INFO_TOPIC, ODOM_TOPIC, CMD_TOPIC}
    assert summary.statistics.message_count == len(records)
    assert {i.compression for i in summary.chunk_indexes} == {"zstd"}

    # The mcap package decompresses zstd only through `zstandard`; decompress with backports.zstd
    # and let mcap parse (and CRC-check) the chunk records.
    channels = {c.id: c.topic for c in summary.channels.values()}
    got: list[tuple[str, int, bytes]] = []
    with file.open("rb") as f:
        for record in StreamReader(f, emit_chunks=True, validate_crcs=True).records:
            if isinstance(record, Chunk):
                raw = zstd.decompress(record.data)
                assert record.uncompressed_crc == zlib.crc32(raw) != 0  # ros2 bag writes them; rosbags leaves 0
                plain = dataclasses.replace(record, compression="", data=raw)
                got += [
                    (channels[m.channel_id], m.log_time, bytes(m.data))
                    for m in breakup_chunk(plain, validate_crc=True)
                    if isinstance(m, Message)
                ]
    assert sorted(got) == sorted((t, ns, data) for t, _m, ns, data in records)


def test_uncompressed_bag_reads_with_mcap_iter_messages(tmp_path: Path) -> None:
    records = sample_records()
    bag = write_bag(tmp_path / "plain", records, compress=False)
    with mcap_file(bag).open("rb") as f:
        got = [(c.topic, s.name, m.log_time, bytes(m.data)) for s, c, m in make_reader(f).iter_messages()]
    assert got == sorted(records, key=lambda r: r[2])


def test_bag_writer_metadata_yaml_is_rosbag2_version_9_mcap(tmp_path: Path) -> None:
    bag = write_bag(tmp_path / "run1", sample_records())
    meta = yaml.safe_load((bag / "metadata.yaml").read_text())
    info = meta["rosbag2_bagfile_information"]
    assert info["version"] == 9
    assert info["storage_identifier"] == "mcap"
    assert info["relative_file_paths"] == ["run1.mcap"]
    assert (bag / info["relative_file_paths"][0]).is_file()
    assert info["message_count"] == 11
    counts = {t["topic_metadata"]["name"]: t["message_count"] for t in info["topics_with_message_count"]}
    assert counts == {COLOR_TOPIC: 3, INFO_TOPIC: 3, ODOM_TOPIC: 4, CMD_TOPIC: 1}


def test_bare_mcap_file_is_read_without_metadata(tmp_path: Path) -> None:
    records = sample_records()
    file = mcap_file(write_bag(tmp_path / "run1", records))
    assert bag_storage(file) == "mcap"
    assert read_all(file) == sorted(records, key=lambda r: r[2])


# --- sqlite3 and ROS 1 ------------------------------------------------------------------------


@pytest.mark.parametrize("version", [8, 9])
def test_sqlite3_rosbag2_bag_is_read(tmp_path: Path, version: int) -> None:
    records = sample_records()
    bag = tmp_path / "sqlite_bag"
    with Ros2Writer(bag, version=version, storage_plugin=StoragePlugin.SQLITE3) as writer:
        conns = {}
        for topic, msgtype, log_ns, data in sorted(records, key=lambda r: r[2]):
            if topic not in conns:
                conns[topic] = writer.add_connection(topic, msgtype, typestore=TS2)
            writer.write(conns[topic], log_ns, data)
    assert list(bag.glob("*.db3"))

    with BagReader(bag) as reader:
        assert reader.storage == "sqlite3"
        topics = reader.topics()
        got = list(reader.messages())
    assert {name: (t.msgtype, t.count, t.serialization) for name, t in topics.items()} == {
        COLOR_TOPIC: (IMAGE_T, 3, "cdr"),
        INFO_TOPIC: (INFO_T, 3, "cdr"),
        ODOM_TOPIC: (ODOM_T, 4, "cdr"),
        CMD_TOPIC: (TWIST_T, 1, "cdr"),
    }
    assert got == sorted(records, key=lambda r: r[2])
    info = read_info(bag)
    assert (info.storage, info.messages) == ("sqlite3", 11)


def write_ros1_bag(path: Path) -> Path:
    with Ros1Writer(path) as writer:
        img = writer.add_connection(COLOR_TOPIC, IMAGE_T, typestore=TS1)
        odom = writer.add_connection(ODOM_TOPIC, ODOM_T, typestore=TS1)
        for i in range(3):
            stamp = T0_NS + i * 100_000_000
            writer.write(img, stamp, bytes(TS1.serialize_ros1(image_msg(TS1, stamp, seq=40 + i), IMAGE_T)))
            writer.write(odom, stamp + 1, bytes(TS1.serialize_ros1(odom_msg(TS1, stamp, 0.5 * i, seq=i), ODOM_T)))
    return path


def test_ros1_bag_messages_come_out_as_ros2_cdr(tmp_path: Path) -> None:
    from rclpy.serialization import deserialize_message
    from sensor_msgs.msg import Image

    bag = write_ros1_bag(tmp_path / "old.bag")
    with BagReader(bag) as reader:
        assert reader.storage == "rosbag1" and reader.is_ros1
        topics = reader.topics()
        got = list(reader.messages())
        images = [(reader.deserialize(data, t, topic), data) for topic, t, _ns, data in got if topic == COLOR_TOPIC]
        odoms = [reader.deserialize(data, t, topic) for topic, t, _ns, data in got if topic == ODOM_TOPIC]
    assert {n: (t.msgtype, t.count, t.serialization) for n, t in topics.items()} == {
        COLOR_TOPIC: (IMAGE_T, 3, "ros1"),
        ODOM_TOPIC: (ODOM_T, 3, "ros1"),
    }
    assert [ns for _t, _m, ns, _d in got] == sorted(ns for _t, _m, ns, _d in got)
    assert len(images) == 3 and len(odoms) == 3

    for i, (msg, data) in enumerate(images):
        stamp = T0_NS + i * 100_000_000
        want = image_msg(TS2, stamp)  # the ROS 2 message: no seq
        assert data == cdr(want, IMAGE_T)
        assert not hasattr(msg.header, "seq")
        assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (stamp // 10**9, stamp % 10**9)
        assert msg.header.frame_id == "camera_color_optical_frame"
        assert (msg.width, msg.height, msg.encoding, msg.step) == (4, 3, "rgb8", 12)
        np.testing.assert_array_equal(msg.data, want.data)

        ros = deserialize_message(data, Image)
        assert (ros.header.stamp.sec, ros.header.stamp.nanosec) == (stamp // 10**9, stamp % 10**9)
        assert ros.header.frame_id == "camera_color_optical_frame"
        assert (ros.width, ros.height, ros.encoding, ros.step) == (4, 3, "rgb8", 12)
        assert bytes(ros.data) == want.data.tobytes()

    assert [o.pose.pose.position.x for o in odoms] == [0.0, 0.5, 1.0]
    assert odoms[2].child_frame_id == "base_link"
    np.testing.assert_array_equal(odoms[0].pose.covariance, np.arange(36))

    info = read_info(bag)
    assert (info.storage, info.messages) == ("rosbag1", 6)
    assert {t.serialization for t in info.topics} == {"ros1"}


# --- /cmd_vel of either type --------------------------------------------------------------------


def test_a_golden_bag_reads_alike_with_twist_or_twist_stamped_on_cmd_vel(tmp_path: Path) -> None:
    # Bags recorded before TwistStamped became the default carry Twist on /cmd_vel; both must compare.
    from robot_vision_nav.replay.compare import Tolerances, compare_summaries
    from robot_vision_nav.replay.replay import summarize_bag
    from robot_vision_nav.replay.topics import OUTPUTS, TWIST_STAMPED, output_types

    assert OUTPUTS[CMD_TOPIC][0] == output_types(True)[CMD_TOPIC][0] == TWIST_STAMPED  # what the stack publishes
    assert output_types(False)[CMD_TOPIC][0] == TWIST_T
    stamped_t = TWIST_STAMPED
    summaries = []
    for name, msgtype in (("old", TWIST_T), ("new", stamped_t)):
        with BagWriter(tmp_path / name) as writer:
            writer.add_topic(CMD_TOPIC, msgtype)
            for i, vx in enumerate((0.0, 0.25, 0.5)):
                twist = twist_msg(TS2, vx)
                stamp = T0_NS + i * 50_000_000
                msg = twist if msgtype == TWIST_T else TS2.types[stamped_t](header(TS2, stamp, "base_link"), twist)
                writer.write(CMD_TOPIC, stamp, cdr(msg, msgtype))
        summaries.append(summarize_bag(tmp_path / name))
    old, new = summaries
    assert old["streams"]["cmd_vel"] == new["streams"]["cmd_vel"] != []
    assert [r["v"] for r in new["streams"]["cmd_vel"]] == [0.0, 0.25, 0.5]
    (cmd,) = [row for row in compare_summaries(old, new, Tolerances()) if row.stream == "cmd_vel"]
    assert cmd.passed and cmd.matched == 3 and cmd.worst == 0.0


# --- atomic writing ---------------------------------------------------------------------------


def test_exception_inside_writer_leaves_no_bag_and_no_partial_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="boom"), BagWriter(out) as writer:
        writer.add_topic(CMD_TOPIC, TWIST_T)
        writer.write(CMD_TOPIC, T0_NS, cdr(twist_msg(TS2, 0.1), TWIST_T))
        assert leftovers(tmp_path)  # written under a temporary name meanwhile
        raise RuntimeError("boom")
    assert not out.exists()
    assert leftovers(tmp_path) == []


def test_existing_path_is_refused_and_left_untouched(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.write_bytes(b"precious \x00 bytes")
    with pytest.raises(BagError, match="exists already") as err:
        BagWriter(out)
    assert str(out) in str(err.value)
    assert out.read_bytes() == b"precious \x00 bytes"
    assert leftovers(tmp_path) == []


def test_path_appearing_while_writing_is_not_overwritten(tmp_path: Path) -> None:
    out = tmp_path / "out"
    writer = BagWriter(out)
    writer.add_topic(CMD_TOPIC, TWIST_T)
    writer.write(CMD_TOPIC, T0_NS, cdr(twist_msg(TS2, 0.1), TWIST_T))
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(BagError, match="appeared") as err:
        writer.close()
    assert str(out) in str(err.value)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert leftovers(tmp_path) == []


def test_abort_removes_everything(tmp_path: Path) -> None:
    out = tmp_path / "out"
    writer = BagWriter(out)
    writer.add_topic(ODOM_TOPIC, ODOM_T)
    writer.write(ODOM_TOPIC, T0_NS, cdr(odom_msg(TS2, T0_NS, 1.0), ODOM_T))
    writer.abort()
    writer.abort()  # idempotent
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(BagError, match="closed"):
        writer.write(ODOM_TOPIC, T0_NS, b"")


def test_missing_parent_folder_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "nope" / "out"
    with pytest.raises(BagError, match="does not exist") as err:
        BagWriter(out)
    assert str(out.parent) in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_writer_refuses_undeclared_topic_and_type_change(tmp_path: Path) -> None:
    with BagWriter(tmp_path / "out") as writer:
        writer.add_topic(CMD_TOPIC, TWIST_T)
        writer.add_topic(CMD_TOPIC, TWIST_T)  # idempotent
        with pytest.raises(BagError, match=f"topic {ODOM_TOPIC} was not declared"):
            writer.write(ODOM_TOPIC, T0_NS, b"")
        with pytest.raises(BagError, match=f"topic {CMD_TOPIC} is already {TWIST_T}"):
            writer.add_topic(CMD_TOPIC, ODOM_T)
    assert read_info(tmp_path / "out").messages == 0


# --- bad input --------------------------------------------------------------------------------


def test_truncated_mcap_is_a_bag_error_naming_the_file(tmp_path: Path) -> None:
    bag = write_bag(tmp_path / "cut", sample_records())
    file = mcap_file(bag)
    data = file.read_bytes()
    file.write_bytes(data[: len(data) // 2])
    with pytest.raises(BagError) as err:
        read_all(bag)
    assert str(bag) in str(err.value)
    assert isinstance(err.value.__cause__, Exception)


def test_corrupt_mcap_chunk_is_a_bag_error(tmp_path: Path) -> None:
    # Images big enough for several chunks, so that the middle one can be damaged.
    records = [
        (COLOR_TOPIC, IMAGE_T, T0_NS + i, cdr(image_msg(TS2, T0_NS + i, width=640, height=480), IMAGE_T))
        for i in range(12)
    ]
    bag = write_bag(tmp_path / "bad", records)
    file = mcap_file(bag)
    with file.open("rb") as f:
        summary = make_reader(f).get_summary()
    assert summary is not None
    chunks = sorted(summary.chunk_indexes, key=lambda c: c.chunk_start_offset)
    assert len(chunks) >= 3
    middle = chunks[len(chunks) // 2]
    data = bytearray(file.read_bytes())
    at = middle.chunk_start_offset + middle.chunk_length // 2
    data[at : at + 64] = np.random.default_rng(0).integers(0, 256, 64, dtype=np.uint8).tobytes()
    file.write_bytes(bytes(data))
    with pytest.raises(BagError) as err:
        read_all(bag)
    assert str(bag) in str(err.value)


def test_corrupt_db3_is_a_bag_error(tmp_path: Path) -> None:
    bag = tmp_path / "sqlite_bag"
    with Ros2Writer(bag, version=9, storage_plugin=StoragePlugin.SQLITE3) as writer:
        conn = writer.add_connection(CMD_TOPIC, TWIST_T, typestore=TS2)
        writer.write(conn, T0_NS, cdr(twist_msg(TS2, 0.1), TWIST_T))
    (db,) = bag.glob("*.db3")
    db.write_bytes(np.random.default_rng(1).integers(0, 256, 8192, dtype=np.uint8).tobytes())
    with pytest.raises(BagError) as err:
        read_all(bag)
    assert str(bag) in str(err.value)


def test_truncated_ros1_bag_is_a_bag_error(tmp_path: Path) -> None:
    bag = write_ros1_bag(tmp_path / "old.bag")
    data = bag.read_bytes()
    bag.write_bytes(data[: len(data) // 2])
    with pytest.raises(BagError) as err:
        read_all(bag)
    assert str(bag) in str(err.value)


def test_folder_without_metadata_is_not_a_rosbag2(tmp_path: Path) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "x.mcap").write_bytes(b"")
    with pytest.raises(BagError, match="not a rosbag2") as err:
        BagReader(folder)
    assert str(folder) in str(err.value)


def test_missing_path_is_a_bag_error(tmp_path: Path) -> None:
    with pytest.raises(BagError, match="no such bag"):
        read_info(tmp_path / "missing")


def test_non_bag_file_is_a_bag_error(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a bag\n")
    with pytest.raises(BagError, match="not a bag") as err:
        read_all(text)
    assert str(text) in str(err.value)


def test_bare_db3_is_read_through_its_folder(tmp_path: Path) -> None:
    db = tmp_path / "x.db3"
    db.write_bytes(b"")
    with pytest.raises(BagError, match="rosbag2 folder"):
        bag_storage(db)


def test_missing_topic_is_a_bag_error(tmp_path: Path) -> None:
    bag = write_bag(tmp_path / "run1", sample_records())
    with BagReader(bag) as reader, pytest.raises(BagError, match="no topic /nope"):
        list(reader.messages(["/nope", ODOM_TOPIC]))


# --- unknown types and topic resolution -------------------------------------------------------


def write_custom_type_bag(path: Path) -> Path:
    store = get_typestore(Stores.ROS2_KILTED)  # a fresh typestore: the module's own stays untouched
    store.register(get_types_from_msg("uint8[] data", BLOB_T))
    blob = store.types[BLOB_T](data=np.frombuffer(b"\x01\x02\x03", dtype=np.uint8))
    with Ros2Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conn = writer.add_connection(COLOR_TOPIC, BLOB_T, typestore=store)
        writer.write(conn, T0_NS, bytes(store.serialize_cdr(blob, BLOB_T)))
    return path


def test_custom_type_on_an_input_topic_cannot_feed_it(tmp_path: Path) -> None:
    bag = write_custom_type_bag(tmp_path / "custom")
    assert BLOB_T not in TS2.types
    with BagReader(bag) as reader:
        topics = reader.topics()
        ((_topic, msgtype, _ns, data),) = reader.messages()
        blob = reader.deserialize(data, msgtype, COLOR_TOPIC)  # the bag's own definition
    assert topics[COLOR_TOPIC].msgtype == BLOB_T
    assert bytes(blob.data) == b"\x01\x02\x03"
    with pytest.raises(BagError) as err:
        resolve_inputs(topics, str(bag))
    text = str(err.value)
    assert COLOR_TOPIC in text and BLOB_T in text
    assert f"expected {IMAGE} or {COMPRESSED}" in text


def test_bag_writer_refuses_an_unknown_type(tmp_path: Path) -> None:
    with BagWriter(tmp_path / "out") as writer, pytest.raises(BagError, match="unknown message type") as err:
        writer.add_topic("/blob", BLOB_T)
    assert "/blob" in str(err.value) and BLOB_T in str(err.value)


def stack_bag(path: Path, topics: dict[str, str]) -> dict[str, Any]:
    """A bag with one (empty-bodied) message per topic; returns its `BagReader.topics()`."""
    samples = {
        IMAGE_T: cdr(image_msg(TS2, T0_NS), IMAGE_T),
        COMPRESSED: cdr(
            TS2.types[COMPRESSED](header=header(TS2, T0_NS, "cam"), format="jpeg", data=np.zeros(4, np.uint8)),
            COMPRESSED,
        ),
        INFO_T: cdr(camera_info_msg(TS2, T0_NS), INFO_T),
        ODOM_T: cdr(odom_msg(TS2, T0_NS, 0.0), ODOM_T),
        TWIST_T: cdr(twist_msg(TS2, 0.0), TWIST_T),
    }
    write_bag(path, [(topic, msgtype, T0_NS, samples[msgtype]) for topic, msgtype in topics.items()])
    with BagReader(path) as reader:
        return reader.topics()


def test_missing_camera_info_is_named(tmp_path: Path) -> None:
    topics = stack_bag(tmp_path / "b", {COLOR_TOPIC: IMAGE_T, DEPTH_TOPIC: IMAGE_T, ODOM_TOPIC: ODOM_T})
    with pytest.raises(BagError, match="camera/color/camera_info") as err:
        resolve_inputs(topics, "the.bag")
    assert "the.bag" in str(err.value) and "--topics-map" in str(err.value)


def test_defaults_find_compressed_image_transport_topics(tmp_path: Path) -> None:
    topics = stack_bag(
        tmp_path / "b",
        {
            COLOR_TOPIC + "/compressed": COMPRESSED,
            DEPTH_TOPIC + "/compressedDepth": COMPRESSED,
            INFO_TOPIC: INFO_T,
            ODOM_TOPIC: ODOM_T,
            CMD_TOPIC: TWIST_T,
        },
    )
    chosen = resolve_inputs(topics, "b")
    assert set(chosen) == set(REQUIRED_INPUTS)  # no goal topic: optional
    assert chosen[COLOR].bag_topic == "/camera/color/image_raw/compressed" and chosen[COLOR].compressed
    assert chosen[DEPTH].bag_topic == "/camera/aligned_depth_to_color/image_raw/compressedDepth"
    assert chosen[DEPTH].compressed
    assert chosen[CAMERA_INFO].bag_topic == INFO_TOPIC and not chosen[CAMERA_INFO].compressed
    assert chosen[ODOM].msgtype == ODOM_T


def test_raw_topic_is_preferred_over_compressed(tmp_path: Path) -> None:
    topics = stack_bag(
        tmp_path / "b",
        {
            COLOR_TOPIC: IMAGE_T,
            COLOR_TOPIC + "/compressed": COMPRESSED,
            DEPTH_TOPIC: IMAGE_T,
            INFO_TOPIC: INFO_T,
            ODOM_TOPIC: ODOM_T,
        },
    )
    chosen = resolve_inputs(topics, "b")
    assert chosen[COLOR].bag_topic == COLOR_TOPIC and not chosen[COLOR].compressed


# --- topic maps -------------------------------------------------------------------------------

REALSENSE = {
    COLOR: "/camera/camera/color/image_raw",
    DEPTH: "/camera/camera/aligned_depth_to_color/image_raw",
    CAMERA_INFO: "/camera/camera/color/camera_info",
    ODOM: "/wheel/odom",
}


def test_topic_map_maps_realsense_topics(tmp_path: Path) -> None:
    map_file = tmp_path / "map.yaml"
    # leading slashes are optional on both sides
    map_file.write_text(
        "camera/color/image_raw: /camera/camera/color/image_raw\n"
        "/camera/aligned_depth_to_color/image_raw: camera/camera/aligned_depth_to_color/image_raw\n"
        "camera/color/camera_info: /camera/camera/color/camera_info\n"
        "odom: /wheel/odom\n"
    )
    topic_map = load_topic_map(map_file)
    assert topic_map == REALSENSE
    topics = stack_bag(
        tmp_path / "b",
        {REALSENSE[COLOR]: IMAGE_T, REALSENSE[DEPTH]: IMAGE_T, REALSENSE[CAMERA_INFO]: INFO_T, REALSENSE[ODOM]: ODOM_T},
    )
    chosen = resolve_inputs(topics, "b", topic_map, str(map_file))
    assert {name: item.bag_topic for name, item in chosen.items()} == REALSENSE


def test_topic_map_naming_a_missing_topic_names_the_map_and_topic(tmp_path: Path) -> None:
    map_file = tmp_path / "map.yaml"
    map_file.write_text(yaml.safe_dump({ODOM: "/robot/odom"}))
    topics = stack_bag(
        tmp_path / "b", {COLOR_TOPIC: IMAGE_T, DEPTH_TOPIC: IMAGE_T, INFO_TOPIC: INFO_T, ODOM_TOPIC: ODOM_T}
    )
    with pytest.raises(BagError) as err:
        resolve_inputs(topics, str(tmp_path / "b"), load_topic_map(map_file), str(map_file))
    text = str(err.value)
    assert str(map_file) in text and "/robot/odom" in text and str(tmp_path / "b") in text


def test_topic_map_key_that_is_not_an_input_is_refused(tmp_path: Path) -> None:
    map_file = tmp_path / "map.yaml"
    map_file.write_text("camera/rgb: /camera/camera/color/image_raw\n")
    with pytest.raises(BagError, match="'camera/rgb' is not an input of the stack") as err:
        load_topic_map(map_file)
    assert str(map_file) in str(err.value)
    assert all(name in str(err.value) for name in INPUT_TYPES)


@pytest.mark.parametrize("text", ["- odom\n- /odom\n", "odom: 3\n", "just a string\n"])
def test_topic_map_that_is_not_a_mapping_is_refused(tmp_path: Path, text: str) -> None:
    map_file = tmp_path / "map.yaml"
    map_file.write_text(text)
    with pytest.raises(BagError, match="expected a mapping") as err:
        load_topic_map(map_file)
    assert str(map_file) in str(err.value)


def test_topic_map_errors_for_missing_and_unparsable_files(tmp_path: Path) -> None:
    with pytest.raises(BagError, match="no such file"):
        load_topic_map(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("odom: [unclosed\n")
    with pytest.raises(BagError, match="not readable YAML"):
        load_topic_map(bad)
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert load_topic_map(empty) == {}


# --- rvn bag info -----------------------------------------------------------------------------


def test_rvn_bag_info_prints_storage_topics_and_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bag = write_bag(tmp_path / "run1", sample_records())
    assert main(["bag", "info", str(bag)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert f"Files:             {bag}" in lines
    assert "Storage id:        mcap" in lines
    assert "Messages:          11" in lines
    assert "Duration:          0.210 s" in lines  # odom at +5 ns .. last colour info at +200 ms + 20 ns
    topic_lines = [line for line in lines if "Topic: " in line]
    assert len(topic_lines) == 4
    assert topic_lines[0].startswith("Topic information: Topic: /camera/color/camera_info")
    assert any(f"Topic: {ODOM_TOPIC} " in line and f"Type: {ODOM_T} | Count: 4 |" in line for line in topic_lines)
    assert all(line.endswith("Serialization Format: cdr") for line in topic_lines)


def test_rvn_bag_info_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bag = write_ros1_bag(tmp_path / "old.bag")
    assert main(["bag", "info", str(bag), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["storage"] == "rosbag1" and data["messages"] == 6 and data["path"] == str(bag)
    assert data["duration_s"] == pytest.approx(0.200000001)
    assert data["topics"] == [
        {"name": COLOR_TOPIC, "type": IMAGE_T, "count": 3, "serialization": "ros1"},
        {"name": ODOM_TOPIC, "type": ODOM_T, "count": 3, "serialization": "ros1"},
    ]


def test_rvn_bag_info_on_a_corrupt_bag_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bag = write_ros1_bag(tmp_path / "old.bag")
    bag.write_bytes(bag.read_bytes()[:100])
    assert main(["bag", "info", str(bag)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"rvn bag: error: {bag}: ")
