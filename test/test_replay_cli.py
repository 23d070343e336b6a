"""`rvn replay` and `rvn record` on bad input: one clear line naming the file and topic, exit 2, and no bag lost.

A failure must never leave a half-written output bag nor replace an existing one; these tests
break the committed regression bag in the ways users' bags break (cut short, a frame that does not
decode, a topic missing or of another type) and check what is left on disk.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from robot_vision_nav.cli import main
from robot_vision_nav.replay.bags import TYPESTORE_ROS2, BagReader, BagWriter, read_info

pytestmark = pytest.mark.ros

REPO = Path(__file__).resolve().parents[1]
BAG = REPO / "test" / "data" / "bags" / "sim_compressed"
COLOR = "/camera/color/image_raw/compressed"


def _copy(dst: Path, *, drop: tuple[str, ...] = (), retype: dict[str, str] | None = None, corrupt_at: int = -1) -> Path:
    """A copy of the regression bag: topics dropped, a topic's type changed, one colour frame made undecodable."""
    retype = retype or {}
    with BagReader(BAG) as bag, BagWriter(dst) as out:
        topics = bag.topics()
        keep = [t for t in topics if t not in drop]
        for t in keep:
            out.add_topic(t, retype.get(t, topics[t].msgtype))
        frames = 0
        for topic, msgtype, log_ns, cdr in bag.messages(keep):
            if topic in retype:
                cdr = bytes(TYPESTORE_ROS2.serialize_cdr(TYPESTORE_ROS2.types[retype[topic]](data="x"), retype[topic]))
            elif topic == COLOR:
                if frames == corrupt_at:
                    msg = bag.deserialize(cdr, msgtype, topic)
                    msg.data = np.frombuffer(b"not a jpeg at all", np.uint8)
                    cdr = bytes(TYPESTORE_ROS2.serialize_cdr(msg, msgtype))
                frames += 1
            out.write(topic, log_ns, cdr)
    return dst


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".partial-" in p.name)


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err, "no error printed"
    return err[-1]


def test_truncated_bag_is_refused_naming_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bag = tmp_path / "cut"
    shutil.copytree(BAG, bag)
    mcap = next(bag.glob("*.mcap"))
    data = mcap.read_bytes()
    mcap.write_bytes(data[: len(data) // 2])
    out = tmp_path / "out"
    assert main(["replay", str(bag), "--out", str(out), "--no-progress"]) == 2
    line = _error_line(capsys)
    assert line.startswith("rvn replay: error:") and str(bag) in line
    assert not out.exists() and _leftovers(tmp_path) == []


def test_frame_that_does_not_decode_stops_the_replay_and_leaves_no_half_bag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bag = _copy(tmp_path / "bad_frame", corrupt_at=10)
    out = tmp_path / "out"
    assert main(["replay", str(bag), "--out", str(out), "--no-progress"]) == 2
    line = _error_line(capsys)
    assert str(bag) in line and COLOR in line
    assert not out.exists() and _leftovers(tmp_path) == []


def test_existing_output_bag_is_never_overwritten(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["replay", str(BAG), "--out", str(out), "--no-progress"]) == 2
    assert "exists already" in _error_line(capsys)
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"] and (out / "keep.txt").read_text() == "mine"


def test_bag_without_camera_info_is_refused_naming_the_topic(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bag = _copy(tmp_path / "no_info", drop=("/camera/color/camera_info",))
    assert main(["replay", str(bag), "--no-progress"]) == 2
    line = _error_line(capsys)
    assert str(bag) in line and "camera/color/camera_info" in line


def test_input_topic_of_an_unusable_type_is_refused_naming_topic_and_type(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bag = _copy(tmp_path / "odd_odom", retype={"/odom": "std_msgs/msg/String"})
    assert main(["replay", str(bag), "--no-progress"]) == 2
    line = _error_line(capsys)
    assert "/odom" in line and "std_msgs/msg/String" in line and "nav_msgs/msg/Odometry" in line


def test_topic_map_naming_a_missing_topic_is_refused_naming_map_and_topic(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    topic_map = tmp_path / "map.yaml"
    topic_map.write_text("camera/color/image_raw: /front/color/image_raw\n")
    assert main(["replay", str(BAG), "--topics-map", str(topic_map), "--no-progress"]) == 2
    line = _error_line(capsys)
    assert str(topic_map) in line and "/front/color/image_raw" in line and str(BAG) in line


def test_bad_set_and_unknown_parameter_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(BAG), "--set", "costmap_node=1", "--no-progress"]) == 2
    assert "NODE.PARAM=VALUE" in _error_line(capsys)
    assert main(["replay", str(BAG), "--set", "costmap_node.no_such_param=1", "--no-progress"]) == 2
    assert "no_such_param" in _error_line(capsys)


def test_summary_is_written_once_and_not_overwritten(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    summary = tmp_path / "golden.json"
    bag = REPO / "test" / "data" / "bags" / "sim_db3"
    assert main(["replay", str(bag), "--summary", str(summary), "--no-progress", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["inputs"] and sum(result["outputs"].values()) > 0
    first = summary.read_bytes()
    assert json.loads(first)["format"] == "rvn-replay-summary"
    assert main(["replay", str(bag), "--summary", str(summary), "--no-progress"]) == 2
    assert summary.read_bytes() == first


def test_record_writes_a_bag_of_inputs_and_outputs_then_replay_reads_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "rec"
    args = ["record", str(out), "--seconds", "1", "--world-seed", "5", "--compress", "--json"]
    args += ["--set", "sim_node.width_px=96", "--set", "sim_node.height_px=72"]
    assert main(args) == 0
    info = json.loads(capsys.readouterr().out)
    counts = {t["name"]: t["count"] for t in info["topics"]}
    wanted = [COLOR, "/camera/aligned_depth_to_color/image_raw/compressedDepth", "/camera/color/camera_info"]
    wanted += ["/odom", "/goal_pose", "/segmentation/traversable", "/local_costmap/costmap", "/cmd_vel"]
    for topic in wanted:
        assert counts.get(topic, 0) > 0, (topic, counts)
    assert 0.9 <= info["duration_s"] <= 1.01
    assert read_info(out).storage == "mcap" and _leftovers(tmp_path) == []
    assert main(["record", str(out), "--seconds", "1"]) == 2  # never overwritten
    assert "exists already" in _error_line(capsys)
    assert main(["replay", str(out), "--no-progress"]) == 0


def test_interrupted_replay_leaves_no_output_bag(tmp_path: Path) -> None:
    from robot_vision_nav.replay.replay import ReplayOptions, replay

    def interrupt(done: int, total: int, bag_s: float, duration_s: float) -> None:
        if done == 100:
            raise KeyboardInterrupt

    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        replay(ReplayOptions(bag=BAG, out_bag=out), progress=interrupt)
    assert not out.exists() and _leftovers(tmp_path) == []


def test_ctrl_c_twice_ends_a_recording_and_keeps_a_readable_bag(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "rec"
    cmd = [sys.executable, "-m", "robot_vision_nav.cli", "record", str(out), "--seconds", "120", "--json"]
    cmd += ["--set", "sim_node.width_px=64", "--set", "sim_node.height_px=48"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        deadline = time.monotonic() + 60
        while not _leftovers(tmp_path) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        time.sleep(8.0)  # the stack is up and recording
        proc.send_signal(signal.SIGINT)
        proc.send_signal(signal.SIGINT)  # impatient: must not lose the bag
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr[-2000:]
    info = json.loads(stdout)
    assert info["messages"] > 0 and read_info(out).messages == info["messages"]
    assert _leftovers(tmp_path) == []
