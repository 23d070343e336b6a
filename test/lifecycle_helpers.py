"""A lifecycle manager's view of managed nodes in tests: their get_state / change_state services, as
Nav2's lifecycle_manager and `ros2 lifecycle` call them, and what the ROS graph shows of them."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from lifecycle_msgs.srv import ChangeState, GetState
from rcl_interfaces.msg import Log
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

ROSOUT_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)


class Manager:
    """The lifecycle services of `node`, and `others` spun with it in one executor."""

    def __init__(self, context: Context, node: Node, *others: Node) -> None:
        self.node = node
        self.nodes = (node, *others)
        self.name = node.get_name()
        self.client_node = Node("lifecycle_test_manager", context=context)
        self.get_state = self.client_node.create_client(GetState, f"/{self.name}/get_state")
        self.change_state = self.client_node.create_client(ChangeState, f"/{self.name}/change_state")
        self.logs: list[str] = []
        self.client_node.create_subscription(Log, "/rosout", lambda m: self.logs.append(m.msg), ROSOUT_QOS)
        self.executor = SingleThreadedExecutor(context=context)
        for n in (*self.nodes, self.client_node):
            self.executor.add_node(n)
        assert self.spin_until(self.change_state.service_is_ready, 20.0), f"no {self.name}/change_state service"

    def spin_until(self, done: Callable[[], bool], timeout_s: float) -> bool:
        end = time.monotonic() + timeout_s
        while not done() and time.monotonic() < end:
            self.executor.spin_once(timeout_sec=0.02)
        return done()

    def call(self, client: Any, request: Any) -> Any:
        future = client.call_async(request)
        assert self.spin_until(future.done, 60.0), "lifecycle service did not answer"
        return future.result()

    def state(self) -> str:
        return str(self.call(self.get_state, GetState.Request()).current_state.label)

    def transition(self, transition_id: int) -> bool:
        request = ChangeState.Request()
        request.transition.id = transition_id
        return bool(self.call(self.change_state, request).success)

    def endpoints(self, topic: str) -> tuple[int, int]:
        """(publishers, subscriptions) the node has on `topic`, as the ROS graph shows them."""
        g = self.client_node
        pubs = [i for i in g.get_publishers_info_by_topic(topic) if i.node_name == self.name]
        subs = [i for i in g.get_subscriptions_info_by_topic(topic) if i.node_name == self.name]
        return len(pubs), len(subs)

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=1.0)
        for n in (*self.nodes, self.client_node):
            n.destroy_node()
