"""Every node of the stack as a managed node (ros/lifecycle.py), driven through the lifecycle services
that `ros2 lifecycle` and Nav2's lifecycle_manager call: what exists in each state, what an inactive
node does (nothing), what deactivating the nodes that command the wheels sends (zero), and a failed
configure. navigator_node's own lifecycle is in test_navigator_lifecycle.py."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from geometry_msgs.msg import PoseStamped, TwistStamped
from lifecycle_msgs.msg import Transition
from nav_msgs.msg import Path as PathMsg
from rclpy.context import Context
from rclpy.node import Node
from rclpy.parameter import Parameter
from std_msgs.msg import Bool, String

from robot_vision_nav.nodes.controller_node import ControllerNode
from robot_vision_nav.nodes.costmap_node import CostmapNode
from robot_vision_nav.nodes.obstacles_node import SemanticObstaclesNode
from robot_vision_nav.nodes.planner_node import PlannerNode
from robot_vision_nav.nodes.safety_node import SafetyNode
from robot_vision_nav.nodes.segmentation_node import SegmentationNode
from robot_vision_nav.ros.qos import COMMAND_QOS, PLAN_QOS
from test.lifecycle_helpers import Manager
from test.segmentation_helpers import constant_model
from test.test_costmap_node import Harness as CostmapHarness
from test.test_safety_node import FAR, SafetyRig

pytestmark = pytest.mark.ros


def _segmentation(context: Context, tmp_path: Path, autostart: bool) -> Node:
    model = constant_model(tmp_path / "floor.safetensors", "warehouse", 0, (48, 64))
    overrides = [
        Parameter("model_path", value=str(model)),
        Parameter("device", value="cpu"),
        Parameter("autostart", value=autostart),
    ]
    return SegmentationNode(context=context, parameter_overrides=overrides)


def _plain(cls: type[Node]) -> Callable[[Context, Path, bool], Node]:
    def make(context: Context, tmp_path: Path, autostart: bool) -> Node:
        overrides = [Parameter("autostart", value=autostart)]
        if cls in (CostmapNode, SafetyNode, SemanticObstaclesNode):
            overrides.append(Parameter("camera_mount_source", value="parameter"))
        return cls(context=context, parameter_overrides=overrides)

    return make


# node name: (factory, an output topic, an input topic)
MANAGED: dict[str, tuple[Callable[[Context, Path, bool], Node], str, str]] = {
    "segmentation_node": (_segmentation, "/segmentation/traversable", "/camera/color/image_raw"),
    "costmap_node": (_plain(CostmapNode), "/local_costmap/costmap", "/odom"),
    "planner_node": (_plain(PlannerNode), "/plan", "/goal_pose"),
    "controller_node": (_plain(ControllerNode), "/cmd_vel", "/plan"),
    "safety_node": (_plain(SafetyNode), "/cmd_vel", "/cmd_vel_nav"),
    "semantic_obstacles_node": (
        _plain(SemanticObstaclesNode),
        "/segmentation/obstacles",
        "/camera/aligned_depth_to_color/image_raw",
    ),
}


@pytest.mark.parametrize("name", list(MANAGED))
def test_a_lifecycle_manager_walks_each_node_through_every_state(
    name: str, ros_context: Context, tmp_path: Path
) -> None:
    make, output, input_topic = MANAGED[name]
    m = Manager(ros_context, make(ros_context, tmp_path, False))
    try:
        assert m.node.get_name() == name
        assert m.state() == "unconfigured"
        assert m.endpoints(output) == (0, 0) and m.endpoints(input_topic) == (0, 0)  # configure makes them
        assert m.transition(Transition.TRANSITION_CONFIGURE) and m.state() == "inactive"
        assert m.spin_until(lambda: m.endpoints(output)[0] == 1 and m.endpoints(input_topic)[1] == 1, 20.0)
        assert m.transition(Transition.TRANSITION_ACTIVATE) and m.state() == "active"
        assert m.transition(Transition.TRANSITION_DEACTIVATE) and m.state() == "inactive"
        assert m.transition(Transition.TRANSITION_CLEANUP) and m.state() == "unconfigured"
        # Cleanup takes down what configure made: nothing of the node left on its topics.
        assert m.spin_until(lambda: m.endpoints(output) == (0, 0) and m.endpoints(input_topic) == (0, 0), 20.0)
        # A lifecycle_manager's reset then startup: configured again from the current parameters.
        assert m.transition(Transition.TRANSITION_CONFIGURE) and m.transition(Transition.TRANSITION_ACTIVATE)
        assert m.state() == "active"
        assert m.spin_until(lambda: m.endpoints(output)[0] == 1, 20.0)
        assert m.transition(Transition.TRANSITION_ACTIVE_SHUTDOWN) and m.state() == "finalized"
        assert m.spin_until(lambda: m.endpoints(output) == (0, 0), 20.0)
    finally:
        m.close()


def test_an_inactive_costmap_node_neither_computes_nor_publishes(ros_context: Context) -> None:
    h = CostmapHarness(ros_context, [Parameter("publish_rate_hz", value=0.0), Parameter("autostart", value=False)])
    try:
        assert h.node.lifecycle_state == "unconfigured"
        h.node.trigger_configure()
        assert h.node.lifecycle_state == "inactive"
        for i in range(10):  # a second of camera frames and odometry, matched and all
            h.publish((i + 1) * 100_000_000)
        h.spin_until(lambda: False, 0.5)
        assert h.grids == [] and h.node.step.times.count == 0
        h.node.trigger_activate()
        stamp = h.publish_until_grid(2_000_000_000)
        assert h.grid_at(stamp) is not None and h.node.step.times.count >= 1
    finally:
        h.close()


def test_deactivating_the_safety_layer_stops_the_base_and_forwards_nothing(ros_context: Context) -> None:
    rig = SafetyRig(ros_context)
    try:
        rig.camera(FAR)
        assert rig.command() == (0.4, 0.2)
        rig.node.trigger_deactivate()
        assert rig.spin_until(lambda: rig.out[-1][1:] == (0.0, 0.0), 2.0), rig.out[-3:]
        assert rig.state_is("inactive"), rig.states
        sent = len(rig.out)
        for _ in range(5):  # the controller still talks; the base hears nothing more
            rig.camera(FAR)
            rig.pub_cmd.publish(TwistStamped())
            rig.spin(0.1)
        assert len(rig.out) == sent, rig.out[sent:]
        rig.node.trigger_activate()
        rig.camera(FAR)
        assert rig.command() == (0.4, 0.2)
    finally:
        rig.close()


def test_an_e_stop_said_while_inactive_holds_once_active(ros_context: Context) -> None:
    rig = SafetyRig(ros_context)
    try:
        rig.node.trigger_deactivate()
        rig.pub_e_stop.publish(Bool(data=True))
        assert rig.logged("e-stop ENGAGED"), rig.logs[-3:]
        rig.node.trigger_activate()
        assert rig.state_is("e_stop"), rig.states
        rig.camera(FAR)
        assert rig.command() == (0.0, 0.0)
        # Cleaned up and configured again (a lifecycle_manager's reset): still engaged.
        rig.node.trigger_deactivate()
        rig.node.trigger_cleanup()
        rig.node.trigger_configure()
        rig.node.trigger_activate()
        assert rig.state_is("e_stop"), rig.states
        assert rig.logged("engaged before the node was cleaned up")
        rig.pub_e_stop.publish(Bool(data=False))
        assert rig.spin_until(lambda: rig.states[-1] != "e_stop", 2.0), rig.states
        assert rig.spin_until(lambda: rig.pub_cmd.get_subscription_count() > 0, 10.0)  # the new subscription
        rig.camera(FAR)
        assert rig.command() == (0.4, 0.2)
    finally:
        rig.close()


def test_deactivating_the_controller_sends_zero_and_says_so(ros_context: Context) -> None:
    node = ControllerNode(context=ros_context)
    m = Manager(ros_context, node)
    commands: list[TwistStamped] = []
    status: list[str] = []
    m.client_node.create_subscription(TwistStamped, "/cmd_vel", commands.append, COMMAND_QOS)
    m.client_node.create_subscription(String, "/controller_status", lambda s: status.append(s.data), 10)
    try:
        assert m.spin_until(lambda: node._cmd_pub.get_subscription_count() > 0, 20.0)
        assert m.transition(Transition.TRANSITION_DEACTIVATE)
        assert m.spin_until(lambda: bool(commands) and bool(status), 5.0)
        last = commands[-1].twist
        assert (last.linear.x, last.angular.z) == (0.0, 0.0) and commands[-1].header.frame_id == "base_link"
        assert status[-1] == "inactive"
    finally:
        m.close()


def test_deactivating_the_planner_drops_its_goal_with_an_empty_plan(ros_context: Context) -> None:
    node = PlannerNode(context=ros_context)
    m = Manager(ros_context, node)
    plans: list[PathMsg] = []
    status: list[str] = []
    m.client_node.create_subscription(PathMsg, "/plan", plans.append, PLAN_QOS)
    m.client_node.create_subscription(String, "/planner_status", lambda s: status.append(s.data), 10)
    goal_pub = m.client_node.create_publisher(PoseStamped, "/goal_pose", 10)
    try:
        assert m.spin_until(lambda: goal_pub.get_subscription_count() > 0, 20.0)
        goal = PoseStamped()
        goal.header.frame_id = "odom"
        goal.pose.position.x, goal.pose.orientation.w = 3.0, 1.0
        goal_pub.publish(goal)
        assert m.spin_until(lambda: node._goal is not None, 10.0)
        assert m.transition(Transition.TRANSITION_DEACTIVATE)
        dropped = "goal_rejected: goal dropped: planner_node deactivated"
        assert m.spin_until(lambda: dropped in status and bool(plans), 5.0), status
        assert plans[-1].poses == [] and node._goal is None
    finally:
        m.close()


def test_a_failed_configure_names_the_problem_and_leaves_the_node_unconfigured(
    ros_context: Context, tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere.safetensors"
    overrides = [Parameter("model_path", value=str(missing)), Parameter("autostart", value=False)]
    m = Manager(ros_context, SegmentationNode(context=ros_context, parameter_overrides=overrides))
    try:
        assert not m.transition(Transition.TRANSITION_CONFIGURE)
        assert m.state() == "unconfigured"
        assert m.spin_until(lambda: any("configure failed" in x and str(missing) in x for x in m.logs), 5.0), m.logs
        assert m.endpoints("/segmentation/traversable") == (0, 0)
        # The parameter fixed, the same node configures (parameters are read at configure).
        model = constant_model(tmp_path / "floor.safetensors", "warehouse", 0, (48, 64))
        m.node.set_parameters([Parameter("model_path", value=str(model)), Parameter("device", value="cpu")])
        assert m.transition(Transition.TRANSITION_CONFIGURE) and m.state() == "inactive"
        # Cleanup lets the model go (its GPU memory, on a GPU).
        assert m.transition(Transition.TRANSITION_CLEANUP) and not hasattr(m.node, "engine")
    finally:
        m.close()
