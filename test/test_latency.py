"""Latency discipline: input ages measured and reported, a node that falls behind says so in
/diagnostics, and every sensor subscription of the stack keeps only the newest message."""

from __future__ import annotations

import time
from typing import Any

import pytest
from diagnostic_msgs.msg import DiagnosticArray
from nav_msgs.msg import Odometry
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import HistoryPolicy, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image

from robot_vision_nav.core.geometry import Pose2D
from robot_vision_nav.nodes.controller_node import ControllerNode
from robot_vision_nav.ros.bringup import BringupOptions, stack_nodes
from robot_vision_nav.ros.latency import InputAges, behind_message
from robot_vision_nav.ros.messages import pose2d_to_odometry
from robot_vision_nav.ros.qos import SENSOR_QOS
from robot_vision_nav.ros.runner import InProcessStack

MS = 1_000_000


def test_ages_are_receipt_minus_stamp_with_window_percentiles() -> None:
    ages = InputAges(window=100)
    for i in range(100):
        ages.record("image", now_ns=1000 * MS + i * MS, stamp_ns=1000 * MS)  # 0..99 ms old
    s = ages.summary("image")
    assert s is not None
    assert (s.last_ms, s.p50_ms, s.p99_ms, s.max_ms, s.count) == (99.0, 49.0, 98.0, 99.0, 100)
    ages.record("image", now_ns=5000 * MS, stamp_ns=4000 * MS)  # the window slides: the 0 ms age leaves
    s = ages.summary("image")
    assert s is not None and s.max_ms == 1000.0 and s.count == 101
    assert ages.summary("odom") is None


def test_unstamped_and_future_stamps_do_not_poison_the_ages() -> None:
    ages = InputAges()
    assert ages.record("odom", now_ns=10 * 1000 * MS, stamp_ns=0) == 0.0  # a driver that never stamps
    assert ages.summary("odom") is None
    assert ages.record("odom", now_ns=10 * MS, stamp_ns=20 * MS) == 0.0  # another host's clock ahead
    assert ages.behind(0.001) == []


def test_behind_names_the_late_inputs_and_their_age() -> None:
    ages = InputAges()
    ages.record("depth", now_ns=1000 * MS, stamp_ns=600 * MS)
    ages.record("odom", now_ns=1000 * MS, stamp_ns=990 * MS)
    assert ages.behind(0.25) == ["depth"]
    message = behind_message(ages, 0.25)
    assert "falling behind" in message and "depth 400 ms" in message and "odom" not in message
    assert behind_message(ages, 0.5) == ""
    keys = dict(ages.key_values())
    assert keys["age_ms_depth"].startswith("400.0 (p50 400.0")


@pytest.mark.ros
def test_every_sensor_subscription_of_the_stack_keeps_only_the_newest_message(ros_context: Any) -> None:
    specs = stack_nodes(BringupOptions(sim=True, device="cpu"))
    stack = InProcessStack(specs, ros_context, executor="single")
    try:
        checked = 0
        for name, node in stack.nodes.items():
            for sub in node.subscriptions:
                if sub.msg_type in (Image, CameraInfo, Odometry):
                    qos = sub.qos_profile
                    assert (qos.history, qos.depth) == (HistoryPolicy.KEEP_LAST, 1), f"{name} {sub.topic_name}"
                    assert qos.reliability == ReliabilityPolicy.BEST_EFFORT, f"{name} {sub.topic_name}"
                    checked += 1
            assert hasattr(node, "node_config") or hasattr(node, "config")
        assert checked >= 8  # segmentation 1, costmap 4, planner 1, controller 1, safety 2
    finally:
        stack.close()


@pytest.mark.ros
def test_controller_reports_falling_behind_when_odometry_arrives_old(ros_context: Any) -> None:
    node = ControllerNode(context=ros_context, parameter_overrides=[Parameter("max_input_age_s", value=0.1)])
    driver = Node("latency_driver", context=ros_context)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(node)
    executor.add_node(driver)
    reports: list[Any] = []
    driver.create_subscription(
        DiagnosticArray,
        "/diagnostics",
        lambda m: reports.extend(s for s in m.status if s.name.startswith("controller_node")),
        10,
    )
    pub = driver.create_publisher(Odometry, "/odom", SENSOR_QOS)
    try:
        end = time.monotonic() + 5.0
        while time.monotonic() < end and not pub.get_subscription_count():
            executor.spin_once(timeout_sec=0.02)
        now_ns = node.get_clock().now().nanoseconds
        # Odometry stamped 400 ms in the past, as from a driver whose messages queue somewhere upstream.
        for i in range(5):
            old = Pose2D(0.0, 0.0, 0.0, now_ns - 400 * MS + i * MS)
            pub.publish(pose2d_to_odometry(old, 0.0, 0.0, "odom", "base_link"))
            executor.spin_once(timeout_sec=0.02)
        end = time.monotonic() + 3.0
        while time.monotonic() < end and not any("falling behind" in r.message for r in reports):
            executor.spin_once(timeout_sec=0.05)
        late = [r for r in reports if "falling behind" in r.message]
        assert late, [r.message for r in reports]
        assert "odom" in late[-1].message and "max_input_age_s = 0.1 s" in late[-1].message
        values = {kv.key: kv.value for kv in late[-1].values}
        assert float(values["age_ms_odom"].split()[0]) >= 390.0
    finally:
        executor.shutdown()
        node.destroy_node()
        driver.destroy_node()
