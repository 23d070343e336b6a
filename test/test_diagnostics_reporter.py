"""ros/diagnostics.DiagnosticsReporter over real rclpy: the name, hardware id, values and stamp a node reports."""

from __future__ import annotations

import time
from typing import Any

import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node

from robot_vision_nav.ros.diagnostics import DiagnosticsReporter
from robot_vision_nav.ros.messages import ns_to_stamp

pytestmark = pytest.mark.ros


def test_a_status_is_named_after_the_node_and_carries_its_values_in_order(ros_context: Any) -> None:
    node = Node("reporter_test", namespace="r1", context=ros_context)
    listener = Node("listener", context=ros_context)
    got: list[DiagnosticArray] = []
    listener.create_subscription(DiagnosticArray, "/diagnostics", got.append, 10)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(node)
    executor.add_node(listener)
    try:
        reporter = DiagnosticsReporter(node, "widget")
        deadline = time.monotonic() + 10.0
        while not got and time.monotonic() < deadline:
            status = reporter.status()
            status.level, status.message = DiagnosticStatus.WARN, "last problem: x"
            reporter.publish(status, {"b": "2", "a": "1"}, stamp=ns_to_stamp(5_000_000_000))
            executor.spin_once(timeout_sec=0.1)
        assert got, "no /diagnostics arrived"
        (status,) = got[0].status
        assert status.name == "reporter_test: widget" and status.hardware_id == "/r1/reporter_test"
        assert (status.level, status.message) == (DiagnosticStatus.WARN, "last problem: x")
        assert [(kv.key, kv.value) for kv in status.values] == [("b", "2"), ("a", "1")]
        assert (got[0].header.stamp.sec, got[0].header.stamp.nanosec) == (5, 0)
        reporter.publish(reporter.status(), [("only", "pairs")])  # pairs work too; stamped with the node clock
        deadline = time.monotonic() + 10.0
        while len(got) < 2 and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.1)
        assert [(kv.key, kv.value) for kv in got[-1].status[0].values] == [("only", "pairs")]
        assert got[-1].header.stamp.sec > 1_000_000  # the system clock, not zero
    finally:
        executor.shutdown()
        node.destroy_node()
        listener.destroy_node()
