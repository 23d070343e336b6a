"""navigator_node's action server over real rclpy ActionServer/ActionClient.

nav2_msgs is not installed here, so the server is exercised with test_msgs' Fibonacci action (a
real generated action type from the ros-kilted-test-msgs wheel) and an adapter that packs a goal
and its feedback into Fibonacci's int32 fields; Nav2Adapter is checked on its own against
Nav2's field names.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import pytest
import rclpy
from action_msgs.msg import GoalStatus
from geometry_msgs.msg import PoseStamped
from rclpy.action import ActionClient
from rclpy.context import Context
from rclpy.node import Node
from rclpy.parameter import Parameter

from robot_vision_nav.core.goal_tracker import GoalFeedback, GoalOutcome, GoalState
from robot_vision_nav.nodes import navigator_node
from robot_vision_nav.nodes.navigator_node import NavigatorNode
from robot_vision_nav.ros.nav2_action import GoalTarget, Nav2Adapter
from robot_vision_nav.ros.runner import make_executor
from test.stack_driver import StackDriver, drive_to_goal

pytestmark = pytest.mark.ros
STATES = list(GoalState)


class FibonacciAdapter:
    """test_msgs/action/Fibonacci standing in for NavigateToPose: goal x = order / 10 m, y = 0, in odom."""

    def target(self, goal: Any) -> GoalTarget:
        if goal.order < 0:
            raise ValueError(f"order {goal.order} < 0")
        return GoalTarget("odom", goal.order / 10.0, 0.0, None)

    def feedback(self, action_type: Any, progress: GoalFeedback, current_pose: PoseStamped, eta_s: float) -> Any:
        distance_mm = -1 if progress.distance_m is None else round(progress.distance_m * 1000)
        return action_type.Feedback(sequence=[distance_mm, round(current_pose.pose.position.x * 1000)])

    def result(self, action_type: Any, outcome: GoalOutcome) -> Any:
        return action_type.Result(sequence=[STATES.index(outcome.state)])


@pytest.fixture
def fibonacci() -> Any:
    action = pytest.importorskip("test_msgs.action", reason="ros-kilted-test-msgs not installed")
    return action.Fibonacci


class Harness:
    """The navigator, the stand-in stack and an ActionClient in one executor, spun in the test thread.

    One thread only: rclpy's EventsExecutor deadlocks when another thread calls into rcl while it
    spins (an intra-process delivery waits for it), so the test never spins it in the background.
    """

    def __init__(self, context: Context, action_type: Any, *nodes: Node, executor: str = "single") -> None:
        self.nodes = nodes
        self.client_node = Node("navigator_test_client", context=context)
        self.client = ActionClient(self.client_node, action_type, "navigate_to_pose")
        self.action_type = action_type
        self.feedback: list[list[int]] = []
        self.executor = make_executor(executor, context, len(nodes) + 1)
        for node in (*nodes, self.client_node):
            self.executor.add_node(node)
        assert self.spin_until(self.client.server_is_ready, 20.0), "navigate_to_pose server not found"

    def spin_until(self, condition: Callable[[], bool], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while not condition() and time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.02)
        return condition()

    def wait(self, future: Any, timeout_s: float = 30.0) -> Any:
        assert self.spin_until(future.done, timeout_s), "timed out"
        return future.result()

    def send(self, order: int) -> Any:
        def on_feedback(msg: Any) -> None:
            self.feedback.append(list(msg.feedback.sequence))

        future = self.client.send_goal_async(self.action_type.Goal(order=order), feedback_callback=on_feedback)
        return self.wait(future, 20.0)

    def close(self) -> None:
        self.client.destroy()
        self.executor.shutdown(timeout_sec=1.0)
        for node in (*self.nodes, self.client_node):
            node.destroy_node()


@contextmanager
def harness(context: Context, action_type: Any, *nodes: Node, executor: str = "single") -> Iterator[Harness]:
    h = Harness(context, action_type, *nodes, executor=executor)
    try:
        yield h
    finally:
        h.close()


def make_navigator(context: Context, action_type: Any, **params: Any) -> NavigatorNode:
    overrides = [Parameter(name, value=value) for name, value in params.items()]
    adapter = FibonacciAdapter()
    return NavigatorNode(action_type=action_type, adapter=adapter, context=context, parameter_overrides=overrides)


@pytest.mark.parametrize("executor", ["single", "events"])
def test_goal_succeeds_with_feedback(ros_context: Context, fibonacci: Any, executor: str) -> None:
    navigator = make_navigator(ros_context, fibonacci)
    driver = StackDriver(ros_context, drive_to_goal, speed_mps=1.0)
    with harness(ros_context, fibonacci, navigator, driver, executor=executor) as h:
        handle = h.send(15)
        assert handle.accepted
        response = h.wait(handle.get_result_async())
    assert response.status == GoalStatus.STATUS_SUCCEEDED
    assert list(response.result.sequence) == [STATES.index(GoalState.SUCCEEDED)]
    assert driver.goals[0].pose.position.x == 1.5 and driver.goals[0].header.frame_id == "odom"
    distances = [fb[0] for fb in h.feedback if fb[0] >= 0]
    assert distances and distances[0] > distances[-1]


def test_planner_refusal_aborts_the_goal(ros_context: Context, fibonacci: Any) -> None:
    def reject(driver: StackDriver, goal: PoseStamped) -> None:
        driver.planner("goal_rejected: goal refused: position/orientation not finite")

    navigator = make_navigator(ros_context, fibonacci)
    driver = StackDriver(ros_context, reject)
    with harness(ros_context, fibonacci, navigator, driver) as h:
        response = h.wait(h.send(10).get_result_async())
    assert response.status == GoalStatus.STATUS_ABORTED
    assert list(response.result.sequence) == [STATES.index(GoalState.FAILED)]


@pytest.mark.parametrize("executor", ["single", "events"])
def test_cancel_stops_the_robot_where_it_is(ros_context: Context, fibonacci: Any, executor: str) -> None:
    navigator = make_navigator(ros_context, fibonacci)
    driver = StackDriver(ros_context, drive_to_goal, speed_mps=0.5)
    with harness(ros_context, fibonacci, navigator, driver, executor=executor) as h:
        handle = h.send(100)  # 10 m away
        result_future = handle.get_result_async()
        assert h.spin_until(lambda: len(h.feedback) >= 3, 20.0)
        h.wait(handle.cancel_goal_async())
        response = h.wait(result_future)
        assert h.spin_until(lambda: driver.goal_count() == 2, 5.0)
    assert response.status == GoalStatus.STATUS_CANCELED
    assert list(response.result.sequence) == [STATES.index(GoalState.CANCELED)]
    stop = driver.goals[1].pose.position
    assert 0.0 < stop.x < 5.0  # at the robot, not at the goal


def test_newer_goal_preempts_the_running_one(ros_context: Context, fibonacci: Any) -> None:
    navigator = make_navigator(ros_context, fibonacci)
    driver = StackDriver(ros_context, drive_to_goal, speed_mps=1.0)
    with harness(ros_context, fibonacci, navigator, driver) as h:
        first = h.send(200)
        first_result = first.get_result_async()
        assert h.spin_until(lambda: driver.goal_count() == 1, 10.0)
        second = h.send(5)
        second_response = h.wait(second.get_result_async())
        first_response = h.wait(first_result)
    assert first_response.status == GoalStatus.STATUS_ABORTED
    assert second_response.status == GoalStatus.STATUS_SUCCEEDED


def test_unusable_goal_is_rejected(ros_context: Context, fibonacci: Any) -> None:
    navigator = make_navigator(ros_context, fibonacci)
    driver = StackDriver(ros_context, drive_to_goal)
    with harness(ros_context, fibonacci, navigator, driver) as h:
        handle = h.send(-1)
    assert not handle.accepted
    assert driver.goals == []


def test_goal_aborts_when_the_stack_is_not_there(ros_context: Context, fibonacci: Any) -> None:
    navigator = make_navigator(ros_context, fibonacci, wait_s=0.5)
    driver = StackDriver(ros_context, subscribe_goal=False)
    with harness(ros_context, fibonacci, navigator, driver) as h:
        response = h.wait(h.send(10).get_result_async())
    assert response.status == GoalStatus.STATUS_ABORTED


# ---------------------------------------------------------------------------------------- Nav2 adapter
class _Nav2Result:
    NONE, UNKNOWN, TIMEOUT = 0, 9000, 9002

    def __init__(self) -> None:
        self.error_code = 0
        self.error_msg = ""


FAKE_NAV2 = SimpleNamespace(Feedback=SimpleNamespace, Result=_Nav2Result)


def nav2_goal(x: float, y: float, qz: float, qw: float, frame: str = "odom") -> Any:
    pose = PoseStamped()
    pose.header.frame_id = frame
    pose.pose.position.x, pose.pose.position.y = x, y
    pose.pose.orientation.z, pose.pose.orientation.w = qz, qw
    return SimpleNamespace(pose=pose, behavior_tree="")


def test_nav2_adapter_reads_the_goal_pose() -> None:
    adapter = Nav2Adapter()
    target = adapter.target(nav2_goal(1.0, 2.0, math.sin(0.4), math.cos(0.4), "odom"))
    assert (target.frame, target.x_m, target.y_m) == ("odom", 1.0, 2.0)
    assert target.yaw_rad == pytest.approx(0.8)
    assert adapter.target(nav2_goal(1.0, 2.0, 0.0, 0.0)).yaw_rad is None  # zero quaternion: no heading
    with pytest.raises(ValueError, match="finite"):
        adapter.target(nav2_goal(float("nan"), 0.0, 0.0, 1.0))


def test_nav2_adapter_fills_nav2_feedback_and_result_fields() -> None:
    adapter = Nav2Adapter()
    progress = GoalFeedback(GoalState.RUNNING, 12.25, 3.5, None, "ok", "", "following", "")
    fb = adapter.feedback(FAKE_NAV2, progress, PoseStamped(), eta_s=7.0)
    assert fb.distance_remaining == 3.5 and fb.number_of_recoveries == 0
    assert (fb.navigation_time.sec, fb.navigation_time.nanosec) == (12, 250_000_000)
    assert (fb.estimated_time_remaining.sec, fb.estimated_time_remaining.nanosec) == (7, 0)
    ok = adapter.result(FAKE_NAV2, GoalOutcome(GoalState.SUCCEEDED, "goal reached", 3.0, 0.1))
    assert (ok.error_code, ok.error_msg) == (0, "")
    late = adapter.result(FAKE_NAV2, GoalOutcome(GoalState.TIMED_OUT, "timed out after 5 s", 5.0, 2.0))
    assert (late.error_code, late.error_msg) == (9002, "timed out after 5 s")
    bad = adapter.result(FAKE_NAV2, GoalOutcome(GoalState.FAILED, "planner refused the goal", 0.1, 2.0))
    assert (bad.error_code, bad.error_msg) == (9000, "planner refused the goal")


def test_main_without_nav2_msgs_logs_one_error_and_exits_1(
    capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Where nav2_msgs is installed (the container) it is hidden: None in sys.modules makes the
    # import raise ImportError, so this runs everywhere instead of skipping there.
    monkeypatch.setitem(sys.modules, "nav2_msgs", None)
    monkeypatch.setitem(sys.modules, "nav2_msgs.action", None)

    def no_init(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("rclpy.init called although the node cannot run")

    monkeypatch.setattr(rclpy, "init", no_init)
    assert navigator_node.main([]) == 1
    err = capfd.readouterr().err
    assert "nav2_msgs is not installed" in err and "Traceback" not in err
