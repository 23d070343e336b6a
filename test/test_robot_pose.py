"""robot_pose_source tf: the robot pose from TF odom -> base_link instead of the odom topic.

Every node that needs the robot's pose (costmap, planner, controller, navigator, rvn goto) is run
over real rclpy with the pose published by tf2_ros's TransformBroadcaster and, where it matters, a
contradicting odometry on /odom that must be ignored. A TF that stops is stale, as odometry is.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import pytest
from rclpy.parameter import Parameter

from robot_vision_nav.core.config import ConfigError
from robot_vision_nav.core.geometry import Pose2D, Transform3D
from robot_vision_nav.nodes.controller_params import ControllerNodeConfig
from robot_vision_nav.nodes.costmap_params import CostmapNodeConfig
from robot_vision_nav.nodes.navigator_params import NavigatorNodeConfig
from robot_vision_nav.nodes.planner_node import PlannerNode, PlannerNodeConfig
from robot_vision_nav.ros import robot_pose
from robot_vision_nav.ros.messages import ns_to_stamp, occupancy_grid_to_numpy
from robot_vision_nav.ros.tf import transform_stamped
from test.test_nav_nodes import RES, SEC, Rig, controller_rig, goal, odometry, plan_points, straight_plan
from test.tf_helpers import require_tf

CONFIGS = (CostmapNodeConfig, PlannerNodeConfig, ControllerNodeConfig, NavigatorNodeConfig)
TF_POSE = "TF odom -> base_link"


def planar(x: float, y: float, yaw: float) -> Transform3D:
    return Transform3D((x, y, 0.0), (0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2)))


class BasePose:
    """odom -> base_link on /tf, as a base driver or robot_localization publishes it."""

    def __init__(self, node: Any) -> None:
        import tf2_ros

        self._broadcaster = tf2_ros.TransformBroadcaster(node)

    def send(self, x: float, y: float, yaw: float, stamp_ns: int) -> None:
        self._broadcaster.sendTransform(
            transform_stamped("odom", "base_link", planar(x, y, yaw), ns_to_stamp(stamp_ns))
        )


# ------------------------------------------------------------------ the parameter
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.__name__)
def test_an_unknown_pose_source_is_refused_by_name(config: type) -> None:
    with pytest.raises(ConfigError, match=r"'robot_pose_source' = 'gps' is not one of odom, tf"):
        config(robot_pose_source="gps")
    assert config().robot_pose_source == "odom"  # the default: the odometry topic, as before


def test_tf_is_refused_where_tf2_ros_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The path of a pip-only machine (run everywhere: tf2_ros is made to look absent)."""
    monkeypatch.setattr(robot_pose, "tf_available", lambda: False)
    with pytest.raises(ConfigError, match=r"'robot_pose_source' = 'tf' needs tf2_ros"):
        PlannerNodeConfig(robot_pose_source="tf")
    PlannerNodeConfig(robot_pose_source="odom")  # odometry needs nothing more


@pytest.mark.ros
def test_changing_the_source_while_configured_is_refused_with_how_to(ros_context: Any) -> None:
    node = PlannerNode(context=ros_context)
    try:
        (result,) = node.set_parameters([Parameter("robot_pose_source", value="tf")])
        assert not result.successful
        assert "'robot_pose_source' is read at configure" in result.reason, result.reason
        assert "ros2 lifecycle set" in result.reason
        assert node.node_config.robot_pose_source == "odom"
    finally:
        node.destroy_node()


# ------------------------------------------------------------------ planner_node
@pytest.mark.ros
def test_planner_starts_its_plans_where_tf_puts_the_robot_and_refuses_a_stale_pose(ros_context: Any) -> None:
    require_tf()
    from robot_vision_nav.ros.messages import occupancy_grid

    node = PlannerNode(
        context=ros_context,
        parameter_overrides=[Parameter("robot_pose_source", value="tf"), Parameter("warn_throttle_s", value=0.0)],
    )
    rig = Rig(ros_context, [node])
    base = BasePose(rig.driver)
    free = np.zeros((200, 200), np.int8)
    try:
        assert rig.pub_odom.get_subscription_count() == 0  # nothing listens to odom
        stamp = SEC
        for _ in range(60):
            base.send(1.0, 0.5, 0.0, stamp)
            rig.pub_odom.publish(odometry(Pose2D(-2.0, -2.0, 0.0), stamp))  # a contradicting odometry: unheard
            rig.pub_goal.publish(goal(3.0, 0.0))
            rig.spin_until(lambda: False, 0.03)
            rig.pub_costmap.publish(occupancy_grid(free, RES, -5.0, -5.0, "odom", stamp))
            stamp += SEC // 10
            if rig.spin_until(lambda: any(p.poses for p in rig.plans), 0.2):
                break
        path = next(p for p in rig.plans if p.poses)
        assert plan_points(path)[0] == pytest.approx([1.0, 0.5], abs=RES)
        assert plan_points(path)[-1] == pytest.approx([3.0, 0.0], abs=1e-6)
        # TF stops; costmaps go on: 2 s later the newest transform is stale, no plan is made from it.
        plans = node.step.times.count
        stale = stamp + 2 * SEC
        for i in range(15):
            rig.pub_costmap.publish(occupancy_grid(free, RES, -5.0, -5.0, "odom", stale + i * SEC))
            if rig.spin_until(lambda: any("stale robot pose from TF" in line for line in rig.logs), 0.2):
                break
        line = next(line for line in rig.logs if "stale robot pose from TF" in line)
        assert TF_POSE in line and "odom_max_age_s" in line, line
        assert node.step.times.count == plans
    finally:
        rig.close()


# ------------------------------------------------------------------ controller_node
@pytest.mark.ros
def test_controller_drives_on_tf_poses_and_stops_when_tf_stops(ros_context: Any) -> None:
    require_tf()
    from robot_vision_nav.ros.messages import occupancy_grid

    rig = controller_rig(ros_context, Parameter("robot_pose_source", value="tf"))
    rig.listen_cmd_vel()
    base = BasePose(rig.driver)
    free = np.zeros((200, 200), np.int8)
    try:
        assert rig.pub_odom.get_subscription_count() == 0
        moving = False
        for _ in range(100):
            now = rig.driver.get_clock().now().nanoseconds
            rig.pub_plan.publish(straight_plan(now))
            rig.pub_costmap.publish(occupancy_grid(free, RES, -5.0, -5.0, "odom", now))
            base.send(0.0, 0.0, 0.0, now)
            if rig.spin_until(lambda: any(m.linear.x > 0.0 for _, m in rig.twists), 0.05):
                moving = True
                break
        assert moving, rig.logs[-5:]
        # TF stops (the plan and costmap keep coming): within odom_timeout_s (0.3 s) + a tick, zero.
        last_tf = time.monotonic()
        for _ in range(20):
            now = rig.driver.get_clock().now().nanoseconds
            rig.pub_plan.publish(straight_plan(now))
            rig.pub_costmap.publish(occupancy_grid(free, RES, -5.0, -5.0, "odom", now))
            if rig.spin_until(lambda: any(t > last_tf and m.linear.x == 0.0 for t, m in rig.twists), 0.1):
                break
        zeros = [t for t, m in rig.twists if t > last_tf and m.linear.x == 0.0 and m.angular.z == 0.0]
        assert zeros, rig.twists[-3:]
        assert any("stale input" in line and TF_POSE in line for line in rig.logs), rig.logs[-5:]
    finally:
        rig.close()


# ------------------------------------------------------------------ costmap_node
@pytest.mark.ros
def test_costmap_places_the_depth_image_at_the_tf_pose_of_its_stamp(ros_context: Any) -> None:
    require_tf()
    from robot_vision_nav.core.costmap import CostmapConfig, RollingCostmap
    from test.test_costmap_node import Harness, K

    h = Harness(
        ros_context,
        [Parameter("robot_pose_source", value="tf"), Parameter("publish_rate_hz", value=0.0),
         Parameter("warn_throttle_s", value=0.0), Parameter("diagnostics_period_s", value=0.2),
         Parameter("input_timeout_s", value=0.3)],
    )  # fmt: skip
    base = BasePose(h.driver)
    try:
        assert h.pub_odom.get_subscription_count() == 0
        # No TF yet: the frame is skipped with the reason, and the diagnostics name the TF input.
        h.publish(SEC)
        assert h.spin_until(lambda: any("no robot pose" in m and TF_POSE in m for m in h.logs), 10.0), h.logs
        assert h.spin_until(
            lambda: any(TF_POSE in s.message for d in h.diagnostics for s in d.status if "costmap" in s.name), 10.0
        )
        assert not h.grids
        # TF brackets each stamp (50 ms either side, the robot turning): the pose between them is used.
        stamp = 2 * SEC
        for i in range(40):
            stamp = 2 * SEC + i * SEC // 10
            base.send(2.0, 1.0, 0.2, stamp - SEC // 20)
            base.send(2.0, 1.0, 0.4, stamp + SEC // 20)
            h.spin_until(lambda: False, 0.03)
            h.publish(stamp)  # with odometry at the origin, which must not count
            if h.spin_until(lambda s=stamp: h.grid_at(s) is not None, 0.25):
                break
        grid = h.grid_at(stamp)
        assert grid is not None, h.logs[-5:]
        values = occupancy_grid_to_numpy(grid)
        # Stale: the next frame comes 1 s after TF's newest.
        late = stamp + SEC
        h.publish(late)
        assert h.spin_until(lambda: any("stale robot pose" in m and TF_POSE in m for m in h.logs), 10.0)
        assert h.grid_at(late) is None
    finally:
        h.close()
    expected = RollingCostmap(CostmapConfig())
    expected.update(h.depth_mm, K, Pose2D(2.0, 1.0, 0.3, stamp), stamp, h.mask)
    np.testing.assert_array_equal(values, expected.occupancy)
    assert grid.info.origin.position.x == pytest.approx(expected.origin_m[0])


# ------------------------------------------------------------------ rvn goto and navigator_node
@pytest.mark.ros
def test_goto_follows_the_robot_by_tf_when_the_stack_takes_its_pose_from_tf(ros_context: Any) -> None:
    require_tf()
    from robot_vision_nav.ros.goto import goto
    from test.stack_driver import StackDriver, drive_to_goal, spinning

    driver = StackDriver(ros_context, drive_to_goal, pose_as="tf")
    with spinning(ros_context, driver):
        result = goto(1.5, 0.5, None, timeout_s=30.0, context=ros_context, pose_from_tf=("odom", "base_link"))
        # Without TF's pose the wait names what is missing.
        failed = goto(
            1.5, 0.5, None, timeout_s=30.0, context=ros_context, wait_s=1.0, pose_from_tf=("odom", "base_footprint")
        )
    assert result["result"] == "succeeded", result
    assert result["distance_m"] < 0.3
    assert failed["result"] == "failed"
    assert "no robot pose from TF odom -> base_footprint" in failed["reason"], failed


@pytest.mark.ros
def test_navigator_feedback_comes_from_tf_with_robot_pose_source_tf(ros_context: Any) -> None:
    require_tf()
    from test.tf_helpers import require_nav2_msgs

    require_nav2_msgs()
    from action_msgs.msg import GoalStatus
    from nav2_msgs.action import NavigateToPose

    from robot_vision_nav.nodes.navigator_node import NavigatorNode
    from test.stack_driver import StackDriver, drive_to_goal
    from test.test_navigate_to_pose import nav_goal
    from test.test_navigator_node import harness

    driver = StackDriver(ros_context, drive_to_goal, pose_as="tf")
    navigator = NavigatorNode(
        context=ros_context,
        action_type=NavigateToPose,
        parameter_overrides=[Parameter("wait_s", value=20.0), Parameter("robot_pose_source", value="tf")],
    )
    distances: list[float] = []
    with harness(ros_context, NavigateToPose, navigator, driver) as h:
        handle = h.wait(
            h.client.send_goal_async(
                nav_goal(NavigateToPose, 1.5, 0.5, "odom"),
                feedback_callback=lambda m: distances.append(m.feedback.distance_remaining),
            ),
            20.0,
        )
        assert handle.accepted
        result = h.wait(handle.get_result_async(), 40.0)
    assert result.status == GoalStatus.STATUS_SUCCEEDED, result.result
    assert distances and distances[-1] < 0.3 and max(distances) > 1.0
