"""Replay regressions: the committed bags of test/data/bags through the real stack, against their goldens.

Each bag was recorded by `rvn record` from the simulator (test/data/bags/make_bags.py says how) and
its golden summary written by `rvn replay --summary` on the same code. A test fails when the
stack's answer on a bag moves beyond the tolerances of `replay.compare.Tolerances`; then either the
change is a bug, or it is deliberate and the goldens are regenerated with make_bags.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from robot_vision_nav.cli import main
from robot_vision_nav.replay.bags import BagReader, read_info
from robot_vision_nav.replay.replay import ReplayOptions, replay, summarize_bag

pytestmark = pytest.mark.ros

REPO = Path(__file__).resolve().parents[2]
BAGS = REPO / "test" / "data" / "bags"
REALSENSE_MAP = REPO / "config" / "topics_realsense.yaml"
CASES = {
    "sim_compressed": (BAGS / "sim_compressed", None),
    "sim_db3": (BAGS / "sim_db3", None),
    "realsense_ros1": (BAGS / "realsense_ros1.bag", REALSENSE_MAP),
}


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("name", sorted(CASES))
def test_committed_bag_replays_within_tolerance_of_its_golden(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    bag, topics_map = CASES[name]
    golden = BAGS / f"{name}.golden.json"
    args = ["replay", str(bag), "--check", str(golden), "--no-progress", "--json"]
    if topics_map is not None:
        args += ["--topics-map", str(topics_map)]
    status = main(args)
    result = json.loads(capsys.readouterr().out)
    assert status == 0, result
    assert result["passed"] is True
    rows = {row["stream"]: row for row in result["check"]}
    assert set(rows) == {"mask", "costmap", "plan", "cmd_vel"}
    # The bags are short but every stream carries something: a golden that checks nothing proves nothing.
    for stream in ("mask", "costmap", "plan", "cmd_vel"):
        assert rows[stream]["golden"] > 0 and rows[stream]["matched"] == rows[stream]["golden"], rows[stream]
    assert result["realtime_factor"] > 0


def test_same_bag_twice_gives_byte_identical_output_bags(tmp_path: Path) -> None:
    # Once here and once in a fresh process: object addresses, hash seeds and thread timing differ.
    for run in ("a", "b"):
        (tmp_path / run).mkdir()
    bag = BAGS / "sim_compressed"
    replay(ReplayOptions(bag=bag, out_bag=tmp_path / "a" / "out"))  # same name: the mcap is named after its folder
    subprocess.run(
        [sys.executable, "-m", "robot_vision_nav.cli", "replay", str(bag), "--out", str(tmp_path / "b" / "out"),
         "--no-progress"],
        check=True, capture_output=True, env=dict(os.environ, PYTHONHASHSEED="12345"),
    )  # fmt: skip
    a, b = _digest(tmp_path / "a" / "out"), _digest(tmp_path / "b" / "out")
    assert a == b
    assert set(a) == {"metadata.yaml", "out.mcap"}


def test_output_bag_is_valid_mcap_and_holds_what_the_summary_says(tmp_path: Path) -> None:
    from mcap.reader import make_reader

    out = tmp_path / "out"
    result = replay(ReplayOptions(bag=BAGS / "sim_db3", out_bag=out))
    with (out / "out.mcap").open("rb") as f:
        reader = make_reader(f)
        assert reader.get_header().profile == "ros2"
        summary = reader.get_summary()
        assert summary is not None
        counts = {summary.channels[cid].topic: n for cid, n in summary.statistics.channel_message_counts.items()}
        assert {s.encoding for s in summary.schemas.values()} == {"ros2msg"}
    assert counts == {t: n for t, n in result.outputs.items() if n}
    meta = yaml.safe_load((out / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert meta["storage_identifier"] == "mcap" and meta["relative_file_paths"] == ["out.mcap"]
    assert read_info(out).messages == sum(result.outputs.values())
    # A golden can be the output bag itself: its summary is the replay's.
    assert summarize_bag(out)["streams"] == result.summary["streams"]
    with BagReader(out) as bag:  # /cmd_vel as the stack publishes it by default
        assert bag.topics()["/cmd_vel"].msgtype == "geometry_msgs/msg/TwistStamped"


def test_deliberate_parameter_change_is_reported_as_a_regression(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    golden = BAGS / "sim_compressed.golden.json"
    args = ["replay", str(BAGS / "sim_compressed"), "--check", str(golden), "--no-progress"]
    status = main([*args, "--set", "costmap_node.inflation_radius_m=1.0"])
    out = capsys.readouterr().out
    assert status == 1, out
    lines = {
        line.split()[0]: line for line in out.splitlines() if line.split() and line.split()[0] in ("costmap", "mask")
    }
    assert "FAIL" in lines["costmap"]  # inflation changes the costmap ...
    assert "PASS" in lines["mask"]  # ... and nothing upstream of it
    assert "FAIL: the replay differs" in out


def test_golden_bag_works_as_well_as_a_golden_summary(tmp_path: Path) -> None:
    out = tmp_path / "golden"
    replay(ReplayOptions(bag=BAGS / "realsense_ros1.bag", topics_map=REALSENSE_MAP, out_bag=out))
    again = replay(ReplayOptions(bag=BAGS / "realsense_ros1.bag", topics_map=REALSENSE_MAP, check=out))
    assert again.check is not None and again.passed
    assert all(row.worst in (0.0, 1.0) for row in again.check)  # identical, not merely close


def test_committed_bags_are_small_and_readable_in_their_formats() -> None:
    storages = {name: read_info(bag).storage for name, (bag, _map) in CASES.items()}
    assert storages == {"sim_compressed": "mcap", "sim_db3": "sqlite3", "realsense_ros1": "rosbag1"}
    total = sum(p.stat().st_size for p in BAGS.rglob("*") if p.is_file())
    assert total < 5_000_000  # "a few MB in all"
    with BagReader(BAGS / "sim_compressed") as bag:
        types = {t.name: t.msgtype for t in bag.topics().values()}
    assert types["/camera/color/image_raw/compressed"] == "sensor_msgs/msg/CompressedImage"
    assert types["/camera/aligned_depth_to_color/image_raw/compressedDepth"] == "sensor_msgs/msg/CompressedImage"
    # Recorded when Twist was the default; its golden compares twists, whichever type a replay publishes.
    assert types["/cmd_vel"] == "geometry_msgs/msg/Twist"
