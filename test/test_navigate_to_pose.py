"""navigator_node with Nav2's real NavigateToPose (nav2_msgs built from source where ../shared/ros2-src is):
goals in odom and in map reach the robot through the planner's topics and end as Nav2 clients expect."""

from __future__ import annotations

import math
from typing import Any

import pytest
from builtin_interfaces.msg import Time
from rclpy.context import Context
from rclpy.parameter import Parameter

from robot_vision_nav.core.geometry import Transform3D
from robot_vision_nav.ros.tf import transform_stamped
from test.stack_driver import StackDriver
from test.test_navigator_node import harness
from test.tf_helpers import require_nav2_msgs, require_tf

pytestmark = pytest.mark.ros


def planar(x: float, y: float, yaw: float) -> Transform3D:
    return Transform3D((x, y, 0.0), (0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2)))


def nav_goal(action: Any, x: float, y: float, frame: str) -> Any:
    goal = action.Goal()
    goal.pose.header.frame_id = frame
    goal.pose.pose.position.x, goal.pose.pose.position.y = x, y
    goal.pose.pose.orientation.w = 1.0
    return goal


@pytest.mark.parametrize("frame", ["odom", "map"])
def test_navigate_to_pose_succeeds_in_odom_and_in_map(ros_context: Context, frame: str) -> None:
    require_nav2_msgs()
    require_tf()
    import tf2_ros
    from action_msgs.msg import GoalStatus
    from nav2_msgs.action import NavigateToPose

    from robot_vision_nav.nodes.navigator_node import NavigatorNode

    odom_from_map = planar(1.5, -1.0, 0.5)

    def planner_and_controller(driver: StackDriver, msg: Any) -> None:
        # What planner_node does: a goal in map is placed in odom; the controller drives there.
        x, y = msg.pose.position.x, msg.pose.position.y
        if msg.header.frame_id == "map":
            x, y, _ = odom_from_map.apply_to_pose2d(x, y, 0.0)
        driver.planner("ok: path found")
        driver.controller("following")
        driver.target = (x, y)

    driver = StackDriver(ros_context, planner_and_controller)
    tf2_ros.StaticTransformBroadcaster(driver).sendTransform(
        transform_stamped("map", "odom", odom_from_map.inverse(), Time())
    )
    navigator = NavigatorNode(
        context=ros_context, action_type=NavigateToPose, parameter_overrides=[Parameter("wait_s", value=20.0)]
    )
    distances: list[float] = []
    with harness(ros_context, NavigateToPose, navigator, driver) as h:
        handle = h.wait(
            h.client.send_goal_async(
                nav_goal(NavigateToPose, 1.5, 0.5, frame),
                feedback_callback=lambda m: distances.append(m.feedback.distance_remaining),
            ),
            20.0,
        )
        assert handle.accepted
        result = h.wait(handle.get_result_async(), 40.0)
    assert result.status == GoalStatus.STATUS_SUCCEEDED, result.result
    assert result.result.error_code == NavigateToPose.Result.NONE
    assert driver.goals[0].header.frame_id == frame
    assert distances and distances[-1] < 0.3 and max(distances) > 1.0
    if frame == "map":  # the robot went where map -> odom puts the goal, not to (1.5, 0.5) read in odom
        x, y, _ = driver.pose
        assert math.hypot(x - 1.5, y - 0.5) > 0.5
