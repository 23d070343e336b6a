"""Regenerate the regression bags of test/data/bags and their golden summaries.

    .venv/bin/python test/data/bags/make_bags.py            # writes into test/data/bags (refuses to overwrite)

Each bag is recorded by `rvn record` from the built-in simulator (the shipped SegNet, the default
config/robot_vision_nav.yaml), at a small camera size so that all of them stay a few MB:

- sim_compressed/  rosbag2 mcap, colour as .../compressed (JPEG), depth as .../compressedDepth (PNG):
      rvn record sim_compressed --seconds 3 --world-seed 2 --compress \
          --set sim_node.width_px=160 --set sim_node.height_px=120
- sim_db3/         rosbag2 sqlite3 (bag format 8, as Humble writes), raw Image colour and 16UC1 depth:
      rvn record RAW --seconds 2 --world-seed 3 --set sim_node.width_px=128 --set sim_node.height_px=96 \
          --set sim_node.camera_rate_hz=7.5
  then its input topics copied into a .db3 bag with rosbags' writer.
- realsense_ros1.bag  ROS 1 bag with realsense2_camera's topic names (/camera/camera/...):
      rvn record RS --seconds 2 --world-seed 4 --compress --set sim_node.width_px=160 --set sim_node.height_px=120
  then its input topics renamed and converted to ROS 1 with rosbags (config/topics_realsense.yaml maps them back).

The goldens are `rvn replay BAG [--topics-map config/topics_realsense.yaml] --summary NAME.golden.json`
on this machine; a change of the stack's behaviour shows up as a failing test/regression test,
after which the goldens are regenerated deliberately (delete them and run this script).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from rosbags.rosbag1 import Writer as Writer1
from rosbags.rosbag2 import StoragePlugin
from rosbags.rosbag2 import Writer as Writer2
from rosbags.typesys import Stores, get_typestore

from robot_vision_nav.replay.bags import BagReader
from robot_vision_nav.replay.record import RECORDED_INPUTS

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
RVN = [sys.executable, "-m", "robot_vision_nav.cli"]
REALSENSE_MAP = REPO / "config" / "topics_realsense.yaml"
RENAME_REALSENSE = {
    "/camera/color/image_raw/compressed": "/camera/camera/color/image_raw/compressed",
    "/camera/aligned_depth_to_color/image_raw/compressedDepth": (
        "/camera/camera/aligned_depth_to_color/image_raw/compressedDepth"
    ),
    "/camera/color/camera_info": "/camera/camera/color/camera_info",
    "/odom": "/odom",
    "/goal_pose": "/goal_pose",
}
SMALL = ["--set", "sim_node.width_px=160", "--set", "sim_node.height_px=120"]


def rvn(*args: str) -> None:
    env = dict(os.environ, ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", MUJOCO_GL=os.environ.get("MUJOCO_GL", "egl"))
    print("+ rvn " + " ".join(args), flush=True)
    subprocess.run([*RVN, *args], check=True, env=env, cwd=REPO)


def input_topics(path: Path) -> list[str]:
    inputs = (
        set(RECORDED_INPUTS)
        | {t + "/compressed" for t in RECORDED_INPUTS}
        | {t + "/compressedDepth" for t in RECORDED_INPUTS}
    )
    with BagReader(path) as bag:
        return [t for t in bag.topics() if t in inputs]


def to_db3(src: Path, dst: Path) -> None:
    store = get_typestore(Stores.ROS2_KILTED)
    with BagReader(src) as bag, Writer2(dst, version=8, storage_plugin=StoragePlugin.SQLITE3) as out:
        topics = bag.topics()
        conns = {t: out.add_connection(t, topics[t].msgtype, typestore=store) for t in input_topics(src)}
        for topic, _msgtype, log_ns, cdr in bag.messages(list(conns)):
            out.write(conns[topic], log_ns, cdr)


def to_ros1(src: Path, dst: Path) -> None:
    store2 = get_typestore(Stores.ROS2_KILTED)
    store1 = get_typestore(Stores.ROS1_NOETIC)
    with BagReader(src) as bag, Writer1(dst) as out:
        topics = bag.topics()
        wanted = [t for t in input_topics(src) if t in RENAME_REALSENSE]
        conns = {t: out.add_connection(RENAME_REALSENSE[t], topics[t].msgtype, typestore=store1) for t in wanted}
        for topic, msgtype, log_ns, cdr in bag.messages(wanted):
            out.write(conns[topic], log_ns, store2.cdr_to_ros1(cdr, msgtype))


def main() -> int:
    targets = [HERE / "sim_compressed", HERE / "sim_db3", HERE / "realsense_ros1.bag"]
    if existing := [str(t) for t in targets if t.exists()]:
        print(f"refusing to overwrite {', '.join(existing)}: delete them first", file=sys.stderr)
        return 1
    rvn("record", str(HERE / "sim_compressed"), "--seconds", "3", "--world-seed", "2", "--compress", *SMALL)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw"
        rvn("record", str(raw), "--seconds", "2", "--world-seed", "3", "--set", "sim_node.width_px=128",
            "--set", "sim_node.height_px=96", "--set", "sim_node.camera_rate_hz=7.5")  # fmt: skip
        to_db3(raw, HERE / "sim_db3")
        rs = Path(tmp) / "rs"
        rvn("record", str(rs), "--seconds", "2", "--world-seed", "4", "--compress", *SMALL)
        to_ros1(rs, HERE / "realsense_ros1.bag")
    for bag, extra in (
        (HERE / "sim_compressed", []),
        (HERE / "sim_db3", []),
        (HERE / "realsense_ros1.bag", ["--topics-map", str(REALSENSE_MAP)]),
    ):
        golden = HERE / f"{bag.name.removesuffix('.bag')}.golden.json"
        golden.unlink(missing_ok=True)
        rvn("replay", str(bag), *extra, "--summary", str(golden), "--no-progress")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
