"""replay.lockstep: the direct lock-step runs what rclpy's executor runs, in its order, without it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from robot_vision_nav.replay.bags import BagReader
from robot_vision_nav.replay.lockstep import DirectLockStep, LockStepError
from robot_vision_nav.replay.replay import ReplayError, ReplayOptions, lock_step_executor, replay, settle

pytestmark = pytest.mark.ros

BAGS = Path(__file__).resolve().parent / "data" / "bags"


def _diamond(context: Any, log: list[str]) -> tuple[Any, list[Any]]:
    """a -> b, a -> c, b -> d, c -> d: d hears two messages per input, in an order the rounds decide."""
    from rclpy.node import Node
    from std_msgs.msg import String

    from robot_vision_nav.ros.qos import SENSOR_QOS

    nodes = {name: Node(name, context=context) for name in "sabcd"}
    src = nodes["s"].create_publisher(String, "/a", SENSOR_QOS)
    to_d = {n: nodes[n].create_publisher(String, f"/{n}d", SENSOR_QOS) for n in "bc"}
    to_bc = nodes["a"].create_publisher(String, "/bc", SENSOR_QOS)

    def on_a(msg: String) -> None:
        log.append(f"a:{msg.data}")
        to_bc.publish(String(data=msg.data + ">a"))

    def hop(name: str) -> Any:
        def cb(msg: String) -> None:
            log.append(f"{name}:{msg.data}")
            to_d[name].publish(String(data=msg.data + f">{name}"))

        return cb

    nodes["a"].create_subscription(String, "/a", on_a, SENSOR_QOS)
    for name in "bc":
        nodes[name].create_subscription(String, "/bc", hop(name), SENSOR_QOS)
    for name in "bc":
        nodes["d"].create_subscription(String, f"/{name}d", lambda m: log.append(f"d:{m.data}"), SENSOR_QOS)
    return src, [nodes[n] for n in "dcbas"]  # visited downstream-first: rounds, not depth, order the calls


def test_direct_lock_step_runs_the_executors_callbacks_in_its_order(ros_context: Any) -> None:
    from std_msgs.msg import String

    runs: dict[str, list[str]] = {}
    for kind in ("executor", "direct"):
        log: list[str] = []
        src, nodes = _diamond(ros_context, log)
        executor = lock_step_executor(ros_context)
        for node in nodes:
            executor.add_node(node)
        direct = DirectLockStep(ros_context, nodes, 1000)
        for n in range(3):
            src.publish(String(data=str(n)))
            ran = settle(executor, "diamond") if kind == "executor" else direct.settle("diamond")
            log.append(f"ran {ran}")
        runs[kind] = log
        for node in nodes:
            executor.remove_node(node)
            node.destroy_node()
    assert runs["direct"] == runs["executor"]
    # Round by round (a; then c and b, in node order; then d's subscriptions in creation order), each
    # input's cascade to its end before the next input.
    assert runs["direct"][:6] == ["a:0", "c:0>a", "b:0>a", "d:0>a>b", "d:0>a>c", "ran 5"]
    assert runs["direct"][-1] == "ran 5" and len(runs["direct"]) == 18


def test_a_feedback_loop_and_an_awaiting_callback_are_named(ros_context: Any) -> None:
    from rclpy.node import Node
    from std_msgs.msg import String

    from robot_vision_nav.ros.qos import SENSOR_QOS

    node = Node("loop", context=ros_context)
    pub = node.create_publisher(String, "/loop", SENSOR_QOS)
    node.create_subscription(String, "/loop", lambda m: pub.publish(m), SENSOR_QOS)
    direct = DirectLockStep(ros_context, [node], 50)
    pub.publish(String(data="x"))
    with pytest.raises(LockStepError, match="feedback: more than 50 callbacks without settling"):
        direct.settle("feedback")
    node.destroy_node()

    node = Node("waits", context=ros_context)
    pub = node.create_publisher(String, "/waits", SENSOR_QOS)

    async def awaits(msg: String) -> None:
        from rclpy.task import Future

        await Future()

    node.create_subscription(String, "/waits", awaits, SENSOR_QOS)
    direct = DirectLockStep(ros_context, [node], 50)
    pub.publish(String(data="x"))
    with pytest.raises(LockStepError, match="an async callback awaited something"):
        direct.settle("async")
    node.destroy_node()


def test_a_parameter_request_from_outside_is_served_between_messages(ros_context: Any) -> None:
    import time

    from rcl_interfaces.srv import GetParameters
    from rclpy.node import Node

    served = Node("served", context=ros_context)
    served.declare_parameter("answer", 42)
    direct = DirectLockStep(ros_context, [served], 50)
    asker = Node("asker", context=ros_context)
    client = asker.create_client(GetParameters, "/served/get_parameters")
    assert client.wait_for_service(timeout_sec=10.0)
    future = client.call_async(GetParameters.Request(names=["answer"]))
    deadline = time.monotonic() + 30.0
    while not future.done() and time.monotonic() < deadline:
        direct.settle("param")  # the request, served by the direct lock-step
        DirectLockStep(ros_context, [asker], 50).settle("client")  # the response, back to the asker
        time.sleep(0.01)
    assert future.done() and future.result().values[0].integer_value == 42
    asker.destroy_node()
    served.destroy_node()


def _messages(path: Path) -> list[tuple[str, int, bytes]]:
    with BagReader(path) as bag:
        return [(topic, log_ns, bytes(cdr)) for topic, _type, log_ns, cdr in bag.messages(set(bag.topics()))]


def test_a_replay_writes_the_same_bytes_with_either_lock_step(tmp_path: Path) -> None:
    outs = {}
    for kind in ("executor", "direct"):
        result = replay(ReplayOptions(bag=BAGS / "sim_db3", out_bag=tmp_path / kind, lock_step=kind))
        assert result.inputs and sum(result.outputs.values()) > 50
        outs[kind] = _messages(tmp_path / kind)
    assert outs["direct"] == outs["executor"]
    with pytest.raises(ReplayError, match="unknown lock-step 'threads'; expected one of direct, executor"):
        replay(ReplayOptions(bag=BAGS / "sim_db3", lock_step="threads"))
