"""Goals in any frame TF reaches: planner_node places a `map` goal in `odom`, follows map -> odom as the
localiser corrects it, and refuses a frame nobody connects with the status goal_frame_unknown."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from rclpy.parameter import Parameter

from robot_vision_nav.core.geometry import Transform3D
from robot_vision_nav.nodes.planner_node import PlannerNode
from robot_vision_nav.ros.tf import transform_stamped
from test.test_nav_nodes import SEC, Rig, feed_world, goal, plan_points
from test.tf_helpers import require_tf

pytestmark = pytest.mark.ros


def planar(x: float, y: float, yaw: float) -> Transform3D:
    return Transform3D((x, y, 0.0), (0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2)))


def open_world() -> np.ndarray:
    return np.zeros((200, 200), np.int8)


def make_rig(ros_context: Any, *overrides: Parameter) -> Rig:
    node = PlannerNode(context=ros_context, parameter_overrides=[Parameter("warn_throttle_s", value=0.0), *overrides])
    return Rig(ros_context, [node])


def plan_until(rig: Rig, done: Any, start_ns: int, rounds: int = 60, tick: Any = None) -> int:
    """Costmaps (and odometry) every 0.1 s of stamps until `done`; `tick` re-publishes the robot's TF,
    as a localiser and a base driver do all the time (a listener made later hears only what follows)."""
    stamp = start_ns
    for _ in range(rounds):
        if tick is not None:
            tick()
        feed_world(rig, stamp, values=open_world())
        stamp += SEC // 10
        if rig.spin_until(done, 0.2):
            break
    return stamp


def test_without_tf2_ros_a_map_goal_is_goal_frame_unknown_at_once(ros_context: Any) -> None:
    """The path where tf2_ros is missing (run everywhere: the reader is emptied as on such a machine)."""
    rig = make_rig(ros_context)
    try:
        planner = rig.nodes[0]
        planner._tf.close()
        planner._tf.buffer = None  # what TfReader is where tf2_ros cannot be imported
        rig.pub_goal.publish(goal(2.0, 0.0, frame="map"))
        plan_until(rig, lambda: any(s.startswith("goal_frame_unknown") for s in rig.statuses), SEC)
        status = next(s for s in rig.statuses if s.startswith("goal_frame_unknown"))
        assert "'map'" in status and "tf2_ros" in status
    finally:
        rig.close()


def test_map_goal_is_placed_in_odom_and_follows_map_to_odom(ros_context: Any) -> None:
    require_tf()
    import tf2_ros

    rig = make_rig(ros_context)
    try:
        broadcaster = tf2_ros.TransformBroadcaster(rig.driver)
        odom_from_map = planar(0.5, -0.3, 0.4)  # map -> odom as a localiser publishes it (parent map)
        localiser = {"map_from_odom": odom_from_map.inverse()}

        def tick() -> None:
            broadcaster.sendTransform(transform_stamped("map", "odom", localiser["map_from_odom"], Time()))

        rig.pub_goal.publish(goal(2.0, 1.0, frame="map"))
        stamp = plan_until(rig, lambda: any(p.poses for p in rig.plans), SEC, tick=tick)
        path = next(p for p in rig.plans if p.poses)
        assert path.header.frame_id == "odom"
        expected = odom_from_map.apply_to_pose2d(2.0, 1.0, 0.0)
        assert plan_points(path)[-1] == pytest.approx(expected[:2], abs=0.03)
        # The localiser corrects map -> odom by 0.4 m: the next plans end where the goal now is.
        corrected = planar(0.9, -0.3, 0.4)
        localiser["map_from_odom"] = corrected.inverse()
        moved = corrected.apply_to_pose2d(2.0, 1.0, 0.0)
        before = len(rig.plans)
        plan_until(
            rig,
            lambda: (
                len(rig.plans) > before
                and bool(rig.plans[-1].poses)
                and np.allclose(plan_points(rig.plans[-1])[-1], moved[:2], atol=0.03)
            ),
            stamp,
            tick=tick,
        )
        assert np.allclose(plan_points(rig.plans[-1])[-1], moved[:2], atol=0.03), plan_points(rig.plans[-1])[-1]
    finally:
        rig.close()


def test_goal_in_a_frame_nobody_publishes_is_goal_frame_unknown(ros_context: Any) -> None:
    require_tf()
    rig = make_rig(ros_context, Parameter("goal_transform_timeout_s", value=0.5))
    try:
        rig.pub_goal.publish(goal(2.0, 0.0, frame="nowhere"))
        plan_until(rig, lambda: any(s.startswith("goal_frame_unknown") for s in rig.statuses), SEC)
        status = next(s for s in rig.statuses if s.startswith("goal_frame_unknown"))
        assert "'nowhere'" in status and "goal_transform_timeout_s" in status
        assert rig.plans and not rig.plans[-1].poses  # no plan: the robot stops
        assert any("nowhere" in line for line in rig.logs)
    finally:
        rig.close()


def test_goto_judges_a_map_goal_in_map(ros_context: Any) -> None:
    """rvn goto --frame map: the robot's odometry pose is placed in map through TF before it is compared with
    the goal, so arriving where map -> odom puts the goal is success (and the odom numbers alone are not)."""
    require_tf()
    import tf2_ros

    from robot_vision_nav.ros.goto import goto
    from test.stack_driver import StackDriver, spinning

    odom_from_map = planar(1.0, 0.5, 0.3)

    def drive_to_placed_goal(driver: StackDriver, msg: Any) -> None:
        # What planner_node does with a map goal: place it in odom, then the robot drives there.
        x, y, _ = odom_from_map.apply_to_pose2d(msg.pose.position.x, msg.pose.position.y, 0.0)
        driver.planner("ok: path found")
        driver.controller("following")
        driver.target = (x, y)

    driver = StackDriver(ros_context, drive_to_placed_goal)
    broadcaster = tf2_ros.StaticTransformBroadcaster(driver)
    broadcaster.sendTransform(transform_stamped("map", "odom", odom_from_map.inverse(), Time()))
    with spinning(ros_context, driver):
        result = goto(1.5, 0.5, None, frame="map", timeout_s=30.0, context=ros_context)
    assert result["result"] == "succeeded", result
    assert result["distance_m"] < 0.3
    assert driver.goals[0].header.frame_id == "map"
    # The robot stands at the goal's odom place, well away from (1.5, 0.5) read as odom numbers.
    x, y, _ = driver.pose
    assert math.hypot(x - 1.5, y - 0.5) > 0.5


def test_goal_in_a_frame_that_moves_with_the_robot_is_placed_once(ros_context: Any) -> None:
    """'1 m ahead' in base_link is placed where the robot was when it was sent, not re-placed as the robot
    drives (it would recede forever), unlike a map goal."""
    require_tf()
    import tf2_ros

    rig = make_rig(ros_context)
    try:
        broadcaster = tf2_ros.TransformBroadcaster(rig.driver)
        robot = {"x": 1.0}

        def tick() -> None:  # the base driver's odom -> base_link
            broadcaster.sendTransform(transform_stamped("odom", "base_link", planar(robot["x"], 0.0, 0.0), Time()))

        rig.pub_goal.publish(goal(1.0, 0.0, frame="base_link"))
        stamp = plan_until(rig, lambda: any(p.poses for p in rig.plans), SEC, tick=tick)
        assert plan_points(next(p for p in rig.plans if p.poses))[-1] == pytest.approx([2.0, 0.0], abs=0.03)
        robot["x"] = 1.5
        before = len(rig.plans)
        plan_until(rig, lambda: len(rig.plans) > before + 2, stamp, rounds=40, tick=tick)
        assert len(rig.plans) > before, "no replans after the robot moved"
        assert plan_points(rig.plans[-1])[-1] == pytest.approx([2.0, 0.0], abs=0.03)
    finally:
        rig.close()
