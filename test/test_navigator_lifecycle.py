"""navigator_node as a managed node: the lifecycle services Nav2's lifecycle_manager and `ros2 lifecycle`
call, what each state serves, and a goal ended with a stop when the node is deactivated under it."""

from __future__ import annotations

from typing import Any

import pytest
from action_msgs.msg import GoalStatus
from lifecycle_msgs.msg import Transition
from rclpy.action import ActionClient
from rclpy.context import Context
from rclpy.node import Node

from test.lifecycle_helpers import Manager as LifecycleManager
from test.stack_driver import StackDriver, drive_to_goal
from test.test_navigator_node import make_navigator

pytestmark = pytest.mark.ros


class Manager(LifecycleManager):
    """navigator_node's lifecycle services plus a navigate_to_pose client, one executor."""

    def __init__(self, context: Context, action_type: Any, *nodes: Node) -> None:
        super().__init__(context, *nodes)
        self.action = ActionClient(self.client_node, action_type, "navigate_to_pose")

    def close(self) -> None:
        self.action.destroy()
        super().close()


@pytest.fixture
def fibonacci() -> Any:
    action = pytest.importorskip("test_msgs.action", reason="ros-kilted-test-msgs not installed")
    return action.Fibonacci


def test_autostart_false_waits_unconfigured_and_serves_only_when_active(ros_context: Context, fibonacci: Any) -> None:
    navigator = make_navigator(ros_context, fibonacci, autostart=False)
    driver = StackDriver(ros_context, drive_to_goal, speed_mps=1.0)
    m = Manager(ros_context, fibonacci, navigator, driver)
    try:
        assert m.state() == "unconfigured"
        assert not m.spin_until(m.action.server_is_ready, 1.0)  # nothing served yet
        assert m.transition(Transition.TRANSITION_CONFIGURE) and m.state() == "inactive"
        assert not m.spin_until(m.action.server_is_ready, 1.0)
        assert m.transition(Transition.TRANSITION_ACTIVATE) and m.state() == "active"
        assert m.spin_until(m.action.server_is_ready, 20.0)
        goal = m.action.send_goal_async(fibonacci.Goal(order=15))
        assert m.spin_until(goal.done, 20.0) and goal.result().accepted
        result = goal.result().get_result_async()
        assert m.spin_until(result.done, 30.0)
        assert result.result().status == GoalStatus.STATUS_SUCCEEDED
        assert m.transition(Transition.TRANSITION_DEACTIVATE) and m.state() == "inactive"
        assert m.spin_until(lambda: not m.action.server_is_ready(), 20.0), "still served while inactive"
        assert m.transition(Transition.TRANSITION_CLEANUP) and m.state() == "unconfigured"
        # And again, as a lifecycle_manager's reset then startup does.
        assert m.transition(Transition.TRANSITION_CONFIGURE) and m.transition(Transition.TRANSITION_ACTIVATE)
        assert m.spin_until(m.action.server_is_ready, 20.0)
    finally:
        m.close()


def test_deactivating_under_a_running_goal_aborts_it_and_stops_the_robot(ros_context: Context, fibonacci: Any) -> None:
    navigator = make_navigator(ros_context, fibonacci)  # autostart: active at once
    driver = StackDriver(ros_context, drive_to_goal, speed_mps=0.3)
    m = Manager(ros_context, fibonacci, navigator, driver)
    try:
        assert m.state() == "active"
        assert m.spin_until(m.action.server_is_ready, 20.0)
        goal = m.action.send_goal_async(fibonacci.Goal(order=100))  # 10 m away
        assert m.spin_until(goal.done, 20.0) and goal.result().accepted
        result = goal.result().get_result_async()
        assert m.spin_until(lambda: driver.goal_count() >= 1, 20.0)
        assert m.transition(Transition.TRANSITION_DEACTIVATE)
        assert m.spin_until(lambda: driver.goal_count() >= 2, 10.0), "no stop goal after deactivate"
        stop = driver.goals[-1].pose.position
        assert stop.x < 5.0  # at the robot, not at the goal
        m.spin_until(result.done, 5.0)
        if result.done():  # the server may be gone before the result went out; never a success
            assert result.result().status != GoalStatus.STATUS_SUCCEEDED
    finally:
        m.close()
