"""rvn bag frames: colour, aligned depth, camera and pose per frame out of the regression bags."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from robot_vision_nav.core.geometry import CameraMount, interpolate_pose
from robot_vision_nav.replay.bags import BagReader, BagWriter, copy_messages
from robot_vision_nav.replay.errors import BagError
from robot_vision_nav.replay.frames import FramesOptions, extract_frames
from robot_vision_nav.training.frame_folder import read_camera, read_frames, read_odometry

DATA = Path(__file__).parent / "data" / "bags"
RVN = [sys.executable, "-m", "robot_vision_nav.cli"]


def test_frames_of_a_compressed_bag(tmp_path: Path) -> None:
    out = tmp_path / "frames"
    info = extract_frames(FramesOptions(DATA / "sim_compressed", out))
    assert (info.frames, info.color_images, info.no_depth, info.no_pose, info.truth) == (42, 42, 0, 0, False)
    frames = read_frames(out)
    assert [f.name for f in frames[:2]] == ["sim_compressed_000000", "sim_compressed_000001"]
    camera = read_camera(out)
    assert (camera.intrinsics.width, camera.intrinsics.height) == (160, 120)
    assert camera.mount == CameraMount(0.1, 0.0, 0.5, 0.0, 0.35, 0.0)
    assert camera.topics is not None and camera.topics["camera/color/image_raw"].endswith("/compressed")
    rgb = cv2.imread(str(out / "images" / f"{frames[5].name}.png"), cv2.IMREAD_UNCHANGED)
    depth = cv2.imread(str(out / "depth" / f"{frames[5].name}.png"), cv2.IMREAD_UNCHANGED)
    assert rgb.shape == (120, 160, 3) and depth.shape == (120, 160) and depth.dtype == np.uint16
    assert 200 < int(np.median(depth[depth > 0])) < 20_000  # millimetres
    # Each pose is the odometry interpolated at the image's stamp.
    with BagReader(DATA / "sim_compressed") as reader:
        odom = [reader.deserialize(c, t, n) for n, t, _l, c in reader.messages(["/odom"])]
    stamps = [o.header.stamp.sec * 10**9 + o.header.stamp.nanosec for o in odom]
    trajectory = read_odometry(out)
    assert len(trajectory) == len(odom)
    last = frames[-1].pose
    i = next(j for j, s in enumerate(stamps) if s >= last.stamp_ns)
    if stamps[i] == last.stamp_ns:
        assert (last.x_m, last.y_m) == pytest.approx(tuple(trajectory[i, :2]))
    else:
        from robot_vision_nav.core.geometry import Pose2D

        a = Pose2D(*trajectory[i - 1], stamps[i - 1])
        b = Pose2D(*trajectory[i], stamps[i])
        assert (last.x_m, last.y_m) == pytest.approx(tuple(interpolate_pose(a, b, last.stamp_ns))[:2])


def test_thinning_topic_maps_and_other_storages(tmp_path: Path) -> None:
    ros1 = extract_frames(
        FramesOptions(DATA / "realsense_ros1.bag", tmp_path / "a", every=5,
                      topics_map=str(Path(__file__).parents[1] / "config" / "topics_realsense.yaml"), prefix="rs")
    )  # fmt: skip
    assert (ros1.frames, ros1.thinned) == (6, 22)
    assert sorted(p.name for p in (tmp_path / "a" / "images").iterdir())[0] == "rs000000.png"
    db3 = extract_frames(FramesOptions(DATA / "sim_db3", tmp_path / "b", min_motion_m=0.05))
    poses = [f.pose for f in read_frames(tmp_path / "b")]
    steps = [np.hypot(b.x_m - a.x_m, b.y_m - a.y_m) for a, b in itertools.pairwise(poses)]
    assert db3.frames == len(poses) >= 2 and min(steps) >= 0.05


def _without(tmp_path: Path, drop: str) -> Path:
    bag = tmp_path / f"no_{drop.strip('/').replace('/', '_')}"
    with BagReader(DATA / "sim_compressed") as reader, BagWriter(bag) as writer:
        topics = [t for t in reader.topics() if not t.startswith(drop)]
        for t in topics:
            writer.add_topic(t, reader.topics()[t].msgtype)
        copy_messages(reader, writer, topics)
    return bag


@pytest.mark.parametrize(
    ("drop", "message"),
    [
        ("/camera/aligned_depth_to_color", "no camera/aligned_depth_to_color/image_raw topic"),
        ("/camera/color/camera_info", "no camera/color/camera_info topic"),
    ],
)
def test_a_bag_without_depth_or_camera_info_is_refused_and_nothing_written(
    tmp_path: Path, drop: str, message: str
) -> None:
    bag = _without(tmp_path, drop)
    out = tmp_path / "frames"
    with pytest.raises(BagError, match=message):
        extract_frames(FramesOptions(bag, out))
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_the_command_line(tmp_path: Path) -> None:
    out = tmp_path / "frames"
    run = subprocess.run([*RVN, "bag", "frames", str(DATA / "sim_db3"), "--out", str(out), "--json"],
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["frames"] == len(read_frames(out))
    again = subprocess.run([*RVN, "bag", "frames", str(DATA / "sim_db3"), "--out", str(out)],
                           capture_output=True, text=True, timeout=300)  # fmt: skip
    assert again.returncode == 2
    assert (
        again.stderr.strip()
        == f"rvn bag: error: {out} already exists; frames go into a new folder (nothing is replaced)"
    )
    both = subprocess.run([*RVN, "bag", "frames", str(DATA / "sim_db3"), "--out", str(tmp_path / "x"), "--every",
                           "2", "--min-motion", "0.1"], capture_output=True, text=True, timeout=300)  # fmt: skip
    assert both.returncode == 2 and "--every: not allowed with --min-motion" in both.stderr


def test_ground_truth_from_a_simulator_bag_goes_to_truth(tmp_path: Path) -> None:
    """A bag with the simulator's sim/labels (what `rvn record --ground-truth` adds) gets truth/ PNGs."""
    from rclpy.serialization import serialize_message
    from sensor_msgs.msg import Image

    bag = tmp_path / "with_truth"
    stamps: list[tuple[int, object]] = []
    with BagReader(DATA / "sim_db3") as reader, BagWriter(bag) as writer:
        for t, info in reader.topics().items():
            writer.add_topic(t, info.msgtype)
        writer.add_topic("/sim/labels", "sensor_msgs/msg/Image")
        for topic, msgtype, log_ns, cdr in reader.messages():
            writer.write(topic, log_ns, cdr)
            if topic == "/camera/color/image_raw":
                colour = reader.deserialize(cdr, msgtype, topic)
                label = Image(height=colour.height, width=colour.width, encoding="mono8", step=colour.width)
                label.header.stamp.sec, label.header.stamp.nanosec = (
                    colour.header.stamp.sec,
                    colour.header.stamp.nanosec,
                )
                ids = np.full((colour.height, colour.width), 4, np.uint8)
                ids[colour.height // 2 :] = 0
                label.data = ids.tobytes()
                writer.write("/sim/labels", log_ns, serialize_message(label))
                stamps.append((log_ns, ids))
    info = extract_frames(FramesOptions(bag, tmp_path / "frames"))
    assert info.truth and info.frames == len(stamps)
    truth = cv2.imread(str(tmp_path / "frames" / "truth" / "with_truth_000003.png"), cv2.IMREAD_UNCHANGED)
    assert truth.tolist() == stamps[3][1].tolist()  # type: ignore[attr-defined]
