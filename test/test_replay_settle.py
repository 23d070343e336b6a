"""The lock-step core of `rvn replay`: one settle() runs a whole cascade, in a fixed node order."""

from __future__ import annotations

from typing import Any

import pytest

from robot_vision_nav.replay.replay import lock_step_executor, settle

pytestmark = pytest.mark.ros


def _relay_chain(context: Any, hops: int) -> tuple[Any, list[Any], list[str]]:
    from rclpy.node import Node
    from std_msgs.msg import String

    from robot_vision_nav.ros.qos import SENSOR_QOS

    heard: list[str] = []
    nodes = [Node(f"hop{i}", context=context) for i in range(hops)]
    pubs = [n.create_publisher(String, f"/t{i}", SENSOR_QOS) for i, n in enumerate(nodes)]
    for i, node in enumerate(nodes[1:], start=1):

        def relay(msg: String, i: int = i) -> None:
            heard.append(f"hop{i}:{msg.data}")
            if i < hops - 1:
                pubs[i].publish(String(data=msg.data))

        node.create_subscription(String, f"/t{i - 1}", relay, SENSOR_QOS)
    return pubs[0], nodes, heard


def test_one_settle_runs_a_cascade_of_hops_to_its_end(ros_context: Any) -> None:
    from std_msgs.msg import String

    first, nodes, heard = _relay_chain(ros_context, hops=5)
    executor = lock_step_executor(ros_context)
    for node in reversed(nodes):  # added last-first: the order must not matter for a chain
        executor.add_node(node)
    for n in range(3):
        first.publish(String(data=str(n)))
        ran = settle(executor, "chain")
        assert ran == 4 and heard[-4:] == [f"hop{i}:{n}" for i in range(1, 5)]  # every hop, before the next message
    assert settle(executor, "idle") == 0


def test_lock_step_executor_visits_nodes_in_the_order_they_were_added(ros_context: Any) -> None:
    from rclpy.node import Node

    nodes = [Node(f"n{i}", context=ros_context) for i in range(6)]
    executor = lock_step_executor(ros_context)
    for node in (nodes[3], nodes[0], nodes[5], nodes[1], nodes[4], nodes[2]):
        executor.add_node(node)
    executor.remove_node(nodes[5])
    assert [n.get_name() for n in executor.get_nodes()] == ["n3", "n0", "n1", "n4", "n2"]
