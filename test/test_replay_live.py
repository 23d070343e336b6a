"""replay.live: `rvn bag play` into real subscribers and `rvn bag record` of real publishers (no rosbag2)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from robot_vision_nav.replay.bags import BagError, BagReader
from robot_vision_nav.replay.live import PlayOptions, RecordOptions, play, record
from robot_vision_nav.replay.replay import ReplayError

BAGS = Path(__file__).resolve().parent / "data" / "bags"
pytestmark = pytest.mark.ros


class Listener:
    """Subscribers to /clock and the stack's inputs (under a namespace), spun in a thread."""

    def __init__(self, context: Any, namespace: str = "") -> None:
        from geometry_msgs.msg import PoseStamped
        from nav_msgs.msg import Odometry
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.node import Node
        from rosgraph_msgs.msg import Clock
        from sensor_msgs.msg import CameraInfo, Image

        from robot_vision_nav.ros.qos import COMMAND_QOS, SENSOR_QOS

        prefix = f"/{namespace}" if namespace else ""
        self.events: list[tuple[str, int]] = []  # (topic, clock ns when it arrived) in arrival order
        self.clock_ns = 0
        self.node = Node("play_listener", context=context)
        self.node.create_subscription(Clock, "/clock", self._on_clock, 10)
        topics = {
            "camera/color/image_raw": Image,
            "camera/aligned_depth_to_color/image_raw": Image,
            "camera/color/camera_info": CameraInfo,
            "odom": Odometry,
        }
        self.node.create_subscription(PoseStamped, f"{prefix}/goal_pose", self._on("goal_pose"), COMMAND_QOS)
        self.encodings: dict[str, set[str]] = {}
        for topic, kind in topics.items():
            self.node.create_subscription(kind, f"{prefix}/{topic}", self._on(topic), SENSOR_QOS)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self._stop = False
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _on_clock(self, msg: Any) -> None:
        self.clock_ns = msg.clock.sec * 1_000_000_000 + msg.clock.nanosec

    def _on(self, topic: str) -> Any:
        def callback(msg: Any) -> None:
            self.events.append((topic, self.clock_ns))
            if hasattr(msg, "encoding"):
                self.encodings.setdefault(topic, set()).add(msg.encoding)

        return callback

    def _spin(self) -> None:
        while not self._stop:
            self.executor.spin_once(timeout_sec=0.05)

    def close(self) -> None:
        self._stop = True
        self._thread.join(timeout=10)
        self.node.destroy_node()


def counts(events: list[tuple[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for topic, _ in events:
        out[topic] = out.get(topic, 0) + 1
    return out


def test_play_publishes_every_input_after_its_clock_under_the_namespace(ros_context: Any) -> None:
    listener = Listener(ros_context, namespace="robot1")
    try:
        published = play(PlayOptions(BAGS / "sim_db3", rate=4.0, namespace="robot1", linger_s=0.5), ros_context)
        assert published == {
            "/camera/color/image_raw": 15,
            "/camera/color/camera_info": 15,
            "/camera/aligned_depth_to_color/image_raw": 15,
            "/odom": 199,
            "/goal_pose": 1,
        }
        time.sleep(0.5)
        got = counts(listener.events)
        # Best effort within one process: all of them, or nearly (a loaded machine).
        assert got.get("camera/color/image_raw", 0) >= 13 and got.get("odom", 0) >= 190, got
        with BagReader(BAGS / "sim_db3") as bag:
            first_odom_ns = next(ns for topic, _t, ns, _c in bag.messages(["/odom"]))
        # Every message found the clock at (or past) its own log time: /clock goes first.
        odom_clocks = [clock for topic, clock in listener.events if topic == "odom"]
        assert odom_clocks[0] >= first_odom_ns and odom_clocks == sorted(odom_clocks)
    finally:
        listener.close()


def test_play_decodes_compressed_images_like_rvn_replay(ros_context: Any) -> None:
    listener = Listener(ros_context)
    try:
        play(PlayOptions(BAGS / "sim_compressed", rate=4.0, linger_s=0.5), ros_context)
        time.sleep(0.5)
        assert listener.encodings.get("camera/color/image_raw") in ({"rgb8"}, {"bgr8"})
        assert listener.encodings.get("camera/aligned_depth_to_color/image_raw") in ({"16UC1"}, {"32FC1"})
    finally:
        listener.close()


def test_play_waits_for_subscribers_and_names_the_missing_ones(ros_context: Any) -> None:
    options = PlayOptions(BAGS / "sim_db3", wait_s=0.5, subscribers=(("odom", 3),))
    with pytest.raises(ReplayError, match=r"too few subscribers on .*/odom \(0 of 3\)"):
        play(options, ros_context)


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [({"rate": 0.0}, "rate 0.0 must be > 0"), ({"delay_s": -1.0}, "delay -1.0 must be >= 0 seconds")],
)
def test_play_options_refuse_bad_values_naming_them(kwargs: dict[str, float], problem: str) -> None:
    with pytest.raises(BagError, match=problem):
        PlayOptions(BAGS / "sim_db3", **kwargs)


def test_record_writes_what_it_hears_with_sim_time_and_only_when_complete(ros_context: Any, tmp_path: Path) -> None:
    from rclpy.node import Node
    from rosgraph_msgs.msg import Clock
    from std_msgs.msg import String

    from robot_vision_nav.ros.messages import ns_to_stamp
    from robot_vision_nav.ros.qos import CLOCK_QOS, COMMAND_QOS

    talker = Node("talker", context=ros_context)
    clock = talker.create_publisher(Clock, "/clock", CLOCK_QOS)
    chatter = talker.create_publisher(String, "/chatter", COMMAND_QOS)
    out = tmp_path / "out"
    sent = 0
    result: dict[str, Any] = {}

    def run() -> None:
        result["counts"] = record(
            RecordOptions(out, ("chatter",)), ros_context, stop=lambda: sent >= 5 and done.is_set()
        )

    done = threading.Event()
    thread = threading.Thread(target=run)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while chatter.get_subscription_count() == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        for i in range(5):
            clock.publish(Clock(clock=ns_to_stamp((i + 1) * 1_000_000_000)))
            time.sleep(0.2)
            chatter.publish(String(data=f"hello {i}"))
            sent += 1
            time.sleep(0.2)
        assert not out.exists()  # nothing under OUT until the bag is complete
    finally:
        done.set()
        thread.join(timeout=30)
        talker.destroy_node()
    assert result["counts"] == {"/chatter": 5}
    with BagReader(out) as bag:
        messages = list(bag.messages(["/chatter"]))
        assert [bag.deserialize(c, t, "/chatter").data for _n, t, _ns, c in messages] == [
            f"hello {i}" for i in range(5)
        ]
        assert [ns for _n, _t, ns, _c in messages] == [(i + 1) * 1_000_000_000 for i in range(5)]


def test_record_refuses_an_existing_output_and_no_topics(tmp_path: Path) -> None:
    with pytest.raises(BagError, match="needs at least one topic"):
        record(RecordOptions(tmp_path / "out", ()))
    (tmp_path / "taken").mkdir()
    with pytest.raises(BagError, match="exists already"):
        record(RecordOptions(tmp_path / "taken", ("/chatter",)))
