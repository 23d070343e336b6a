"""planner_node and controller_node over real rclpy: costmap + odom + goal in, Path and TwistStamped out;
stale inputs stop the robot; bad goals are refused with a warning and no motion."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from geometry_msgs.msg import PoseStamped, Twist, TwistStamped
from nav_msgs.msg import OccupancyGrid, Odometry, Path
from rcl_interfaces.msg import Log
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import String
from visualization_msgs.msg import Marker, MarkerArray

from robot_vision_nav.core.geometry import Pose2D
from robot_vision_nav.nodes.controller_node import ControllerNode
from robot_vision_nav.nodes.planner_node import PlannerNode
from robot_vision_nav.ros.messages import ns_to_stamp, occupancy_grid, stamp_to_ns
from robot_vision_nav.ros.qos import COMMAND_QOS, MAP_QOS, PLAN_QOS, SENSOR_QOS

pytestmark = pytest.mark.ros

SEC = 1_000_000_000
RES = 0.05


def wall_grid() -> np.ndarray:
    """A 10 m window centred on the origin with a wall across x = 1.5 m, a gap at y in [1.0, 1.6]."""
    values = np.zeros((200, 200), np.int8)
    values[:, 128:133] = 100  # x from 1.4 to 1.65 m
    values[120:132, 128:133] = 0  # the gap: y from 1.0 to 1.6 m
    return values


def odometry(pose: Pose2D, stamp_ns: int) -> Odometry:
    msg = Odometry()
    msg.header.stamp = ns_to_stamp(stamp_ns)
    msg.header.frame_id = "odom"
    msg.pose.pose.position.x, msg.pose.pose.position.y = pose.x_m, pose.y_m
    msg.pose.pose.orientation.z, msg.pose.pose.orientation.w = math.sin(pose.yaw_rad / 2), math.cos(pose.yaw_rad / 2)
    return msg


def goal(x: float, y: float, frame: str = "odom") -> PoseStamped:
    msg = PoseStamped()
    msg.header.frame_id = frame
    msg.pose.position.x, msg.pose.position.y = x, y
    msg.pose.orientation.w = 1.0
    return msg


class Rig:
    """The nodes under test plus a driver node, in one executor."""

    def __init__(self, context: Any, nodes: list[Node]) -> None:
        self.nodes = nodes
        self.driver = Node("driver", context=context)
        self.executor = SingleThreadedExecutor(context=context)
        for n in [*nodes, self.driver]:
            self.executor.add_node(n)
        d = self.driver
        self.pub_costmap = d.create_publisher(OccupancyGrid, "/local_costmap/costmap", MAP_QOS)
        self.pub_odom = d.create_publisher(Odometry, "/odom", SENSOR_QOS)
        self.pub_goal = d.create_publisher(PoseStamped, "/goal_pose", 10)
        self.pub_plan = d.create_publisher(Path, "/plan", PLAN_QOS)
        self.plans: list[Path] = []
        self.twists: list[tuple[float, Any]] = []  # the Twist of each command
        self.stamped: list[tuple[float, TwistStamped]] = []  # each command that came as a TwistStamped
        self.logs: list[str] = []
        self.statuses: list[str] = []
        d.create_subscription(Path, "/plan", self.plans.append, PLAN_QOS)
        d.create_subscription(String, "/planner_status", lambda m: self.statuses.append(m.data), 10)
        d.create_subscription(
            Log,
            "/rosout",
            lambda m: self.logs.append(f"{m.name}: {m.msg}"),
            QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL),
        )

    def listen_cmd_vel(self, msg_type: type = TwistStamped) -> None:
        def on_cmd(msg: Any) -> None:
            now = time.monotonic()
            if isinstance(msg, TwistStamped):
                self.stamped.append((now, msg))
            self.twists.append((now, msg.twist if isinstance(msg, TwistStamped) else msg))

        self.driver.create_subscription(msg_type, "/cmd_vel", on_cmd, COMMAND_QOS)

    def spin_until(self, done: Callable[[], bool], timeout_s: float = 5.0) -> bool:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            self.executor.spin_once(timeout_sec=0.02)
            if done():
                return True
        return False

    def close(self) -> None:
        self.executor.shutdown()
        for n in [*self.nodes, self.driver]:
            n.destroy_node()


@pytest.fixture
def planner_rig(ros_context: Any) -> Iterator[Rig]:
    rig = Rig(
        ros_context, [PlannerNode(context=ros_context, parameter_overrides=[Parameter("warn_throttle_s", value=0.0)])]
    )
    try:
        yield rig
    finally:
        rig.close()


ORIGIN = Pose2D(0.0, 0.0, 0.0)


def feed_world(rig: Rig, stamp_ns: int, pose: Pose2D = ORIGIN, values: np.ndarray | None = None) -> None:
    rig.pub_odom.publish(odometry(pose, stamp_ns))
    rig.spin_until(lambda: False, 0.03)
    grid = wall_grid() if values is None else values
    rig.pub_costmap.publish(occupancy_grid(grid, RES, -5.0, -5.0, "odom", stamp_ns))


def plan_points(path: Path) -> np.ndarray:
    return np.array([[p.pose.position.x, p.pose.position.y] for p in path.poses]).reshape(-1, 2)


def test_planner_node_plans_through_the_gap_to_the_goal(planner_rig: Rig) -> None:
    rig = planner_rig
    stamp = SEC
    for _ in range(50):
        rig.pub_goal.publish(goal(3.0, 0.0))
        feed_world(rig, stamp)
        if rig.spin_until(lambda: any(p.poses for p in rig.plans), 0.2):
            break
        stamp += SEC // 10
    path = next(p for p in rig.plans if p.poses)
    pts = plan_points(path)
    assert path.header.frame_id == "odom"
    assert pts[0] == pytest.approx([0.0, 0.0], abs=1e-6) and pts[-1] == pytest.approx([3.0, 0.0], abs=1e-6)
    # It goes through the gap, never through the wall cells.
    cols = np.floor((pts[:, 0] + 5.0) / RES).astype(int)
    rows = np.floor((pts[:, 1] + 5.0) / RES).astype(int)
    assert (wall_grid()[rows, cols] < 99).all()
    assert pts[:, 1].max() > 1.0


def test_planner_node_replans_at_once_when_the_path_is_blocked_and_says_when_no_path_exists(
    planner_rig: Rig,
) -> None:
    rig = planner_rig
    stamp = SEC
    for _ in range(50):
        rig.pub_goal.publish(goal(3.0, 0.0))
        feed_world(rig, stamp)
        stamp += SEC // 20
        if rig.spin_until(lambda: any(p.poses for p in rig.plans), 0.2):
            break
    assert plan_points(rig.plans[-1])[:, 1].max() > 1.0  # through the upper gap
    # The upper gap closes and one opens below, well within replan_period_s (1 s) of costmap
    # time: only the blocked path can trigger the new plan.
    moved = wall_grid()
    moved[120:132, 128:133] = 100
    moved[68:80, 128:133] = 0  # y from -1.6 to -1.0 m

    # A goal published twice above may still bring one more plan on the old route: wait for the
    # plan through the new gap, still within five costmaps (0.25 s of costmap time).
    def through_lower_gap() -> bool:
        return bool(rig.plans and rig.plans[-1].poses) and plan_points(rig.plans[-1])[:, 1].min() < -1.0

    for _ in range(5):
        feed_world(rig, stamp, values=moved)
        stamp += SEC // 20
        if rig.spin_until(through_lower_gap, 0.2):
            break
    pts = plan_points(rig.plans[-1])
    assert pts.size and pts[:, 1].min() < -1.0 and pts[:, 1].max() < 0.5
    # Now the wall is closed: an empty plan (stop) and a status that says why.
    closed = wall_grid()
    closed[120:132, 128:133] = 100
    for _ in range(5):
        feed_world(rig, stamp, values=closed)
        stamp += SEC // 20
        if rig.spin_until(lambda: any(s.startswith("no_path") for s in rig.statuses), 0.2):
            break
    assert any(s.startswith("no_path") for s in rig.statuses), rig.statuses[-3:]
    assert not rig.plans[-1].poses


@pytest.mark.parametrize(
    ("bad_goal", "words"),
    [
        (goal(float("nan"), 0.0), ["goal refused", "not finite"]),
        (goal(3.0, 0.0, frame=""), ["goal refused", "no frame_id"]),  # other frames: test_tf_goals.py
    ],
)
def test_planner_node_refuses_bad_goals_with_an_empty_plan(
    planner_rig: Rig, bad_goal: PoseStamped, words: list[str]
) -> None:
    rig = planner_rig
    for i in range(40):
        rig.pub_goal.publish(bad_goal)
        feed_world(rig, SEC + i * SEC // 10)
        if rig.spin_until(lambda: any(all(w in line for w in words) for line in rig.logs), 0.2):
            break
    assert any(all(w in line for w in words) for line in rig.logs), rig.logs[-5:]
    assert rig.plans and not rig.plans[-1].poses  # "no plan: stop"


def test_planner_node_approaches_a_blocked_goal_within_goal_tolerance_else_stops(planner_rig: Rig) -> None:
    rig = planner_rig
    blocked = goal(1.5, -2.0)  # inside the wall (x 1.4..1.65 m)
    for i in range(40):
        rig.pub_goal.publish(blocked)
        feed_world(rig, SEC + i * SEC // 10)
        if rig.spin_until(lambda: bool(rig.plans) and bool(rig.plans[-1].poses), 0.2):
            break
    said = lambda: any("goal blocked" in line and "nearest usable point" in line for line in rig.logs)  # noqa: E731
    assert said() or rig.spin_until(said, 2.0), rig.logs[-5:]
    end = plan_points(rig.plans[-1])[-1]
    assert math.hypot(end[0] - 1.5, end[1] + 2.0) <= 0.5 and not 1.4 <= end[0] <= 1.65  # beside the wall
    # Tolerance 0: nothing to approach, the robot stops with an empty plan and a goal_blocked status.
    (result,) = rig.nodes[0].set_parameters([Parameter("goal_tolerance_m", value=0.0)])
    assert result.successful
    for i in range(40):
        rig.pub_goal.publish(blocked)
        feed_world(rig, 10 * SEC + i * SEC // 10)
        if rig.spin_until(lambda: any(s.startswith("goal_blocked") for s in rig.statuses), 0.2):
            break
    assert any(s.startswith("goal_blocked") and "lethal" in s for s in rig.statuses), rig.statuses[-3:]
    assert rig.plans and not rig.plans[-1].poses


def straight_plan(stamp_ns: int, length_m: float = 3.0) -> Path:
    msg = Path()
    msg.header.frame_id = "odom"
    msg.header.stamp = ns_to_stamp(stamp_ns)
    for x in np.arange(0.0, length_m + 1e-9, 0.05):
        pose = PoseStamped()
        pose.header = msg.header
        pose.pose.position.x = float(x)
        pose.pose.orientation.w = 1.0
        msg.poses.append(pose)
    return msg


def controller_rig(context: Any, *overrides: Parameter) -> Rig:
    node = ControllerNode(
        context=context,
        parameter_overrides=[
            Parameter("odom_timeout_s", value=0.3),
            Parameter("warn_throttle_s", value=0.0),
            *overrides,
        ],
    )
    return Rig(context, [node])


def drive(rig: Rig, steps: int, start_ns: int = SEC) -> None:
    free = np.zeros((200, 200), np.int8)
    for i in range(steps):
        stamp = start_ns + i * SEC // 20
        rig.pub_costmap.publish(occupancy_grid(free, RES, -5.0, -5.0, "odom", stamp))
        rig.pub_odom.publish(odometry(Pose2D(0.0, 0.0, 0.0), stamp))
        rig.spin_until(lambda: False, 0.05)


def test_controller_node_drives_along_the_plan_and_stops_when_odometry_goes_stale(ros_context: Any) -> None:
    rig = controller_rig(ros_context)
    rig.listen_cmd_vel()
    try:
        for _ in range(20):
            rig.pub_plan.publish(straight_plan(SEC))
            drive(rig, 3)
            if any(m.linear.x > 0.0 for _, m in rig.twists):
                break
        drive(rig, 10, start_ns=3 * SEC)
        assert any(m.linear.x > 0.0 for _, m in rig.twists)
        assert {m.header.frame_id for _, m in rig.stamped} == {"base_link"}  # stamped, in base_frame's default
        # Odometry stops: within the 0.3 s timeout (+ one watchdog tick) a zero command comes.
        last_odom = time.monotonic()
        assert rig.spin_until(
            lambda: any(t > last_odom and m.linear.x == 0.0 and m.angular.z == 0.0 for t, m in rig.twists), 2.0
        )
        first_zero = min(t for t, m in rig.twists if t > last_odom and m.linear.x == 0.0)
        assert first_zero - last_odom < 0.3 + 0.2
        assert any("stale input" in line for line in rig.logs)
    finally:
        rig.close()


def test_controller_node_stops_on_an_empty_plan_and_on_shutdown(ros_context: Any) -> None:
    rig = controller_rig(ros_context)
    rig.listen_cmd_vel()
    try:
        for _ in range(20):
            rig.pub_plan.publish(straight_plan(SEC))
            drive(rig, 3)
            if any(m.linear.x > 0.0 for _, m in rig.twists):
                break
        empty = Path()
        empty.header.frame_id = "odom"
        rig.pub_plan.publish(empty)
        assert rig.spin_until(lambda: rig.twists[-1][1].linear.x == 0.0, 2.0)
        # Moving again, then the node is destroyed: its last word is a zero command.
        rig.pub_plan.publish(straight_plan(2 * SEC))
        drive(rig, 8, start_ns=4 * SEC)
        assert rig.twists[-1][1].linear.x > 0.0
        controller = rig.nodes[0]
        rig.executor.remove_node(controller)
        count = len(rig.twists)
        controller.destroy_node()
        rig.nodes = []
        assert rig.spin_until(lambda: len(rig.twists) > count, 2.0)
        assert rig.twists[-1][1].linear.x == 0.0 and rig.twists[-1][1].angular.z == 0.0
    finally:
        rig.close()


def test_controller_node_stamps_commands_in_base_frame_with_the_odometry_stamp(ros_context: Any) -> None:
    rig = controller_rig(ros_context, Parameter("base_frame", value="base_footprint"))
    rig.listen_cmd_vel()  # TwistStamped: the default
    odom_stamps = {SEC + i * SEC // 20 for i in range(3)}
    try:
        for _ in range(20):
            rig.pub_plan.publish(straight_plan(SEC))
            drive(rig, 3)
            if any(m.linear.x > 0.0 for _, m in rig.twists):
                break
        moving = [m for _, m in rig.stamped if m.twist.linear.x > 0.0]
        assert moving and len(rig.stamped) == len(rig.twists)  # nothing arrived as anything else
        assert {m.header.frame_id for _, m in rig.stamped} == {"base_footprint"}
        # A command carries the stamp of the odometry it answers, so a replay gives the same commands.
        assert all(stamp_to_ns(m.header.stamp) in odom_stamps for m in moving)
    finally:
        rig.close()


def test_controller_node_disabled_and_unstamped(ros_context: Any) -> None:
    rig = controller_rig(ros_context, Parameter("use_stamped_cmd_vel", value=False))  # a Humble-era base
    rig.listen_cmd_vel(Twist)
    try:
        for _ in range(20):
            rig.pub_plan.publish(straight_plan(SEC))
            drive(rig, 3)
            if any(m.linear.x > 0.0 for _, m in rig.twists):
                break
        assert rig.twists and all(type(m) is Twist for _, m in rig.twists) and not rig.stamped
        result = rig.nodes[0].set_parameters([Parameter("enabled", value=False)])[0]
        assert result.successful
        drive(rig, 5, start_ns=5 * SEC)
        assert rig.twists[-1][1].linear.x == 0.0
        bad = rig.nodes[0].set_parameters([Parameter("control_rate_hz", value=-1.0)])[0]
        assert not bad.successful and "control_rate_hz" in bad.reason
    finally:
        rig.close()


def test_controller_node_stops_when_the_costmap_goes_stale(ros_context: Any) -> None:
    rig = controller_rig(ros_context, Parameter("costmap_timeout_s", value=0.3))
    rig.listen_cmd_vel()
    try:
        for _ in range(20):
            rig.pub_plan.publish(straight_plan(SEC))
            drive(rig, 3)
            if any(m.linear.x > 0.0 for _, m in rig.twists):
                break
        assert rig.twists[-1][1].linear.x > 0.0
        # Odometry keeps coming, the costmap does not: zero within its timeout.
        last_costmap = time.monotonic()
        for i in range(30):
            rig.pub_odom.publish(odometry(ORIGIN, 6 * SEC + i * SEC // 20))
            rig.spin_until(lambda: False, 0.05)
        zeros = [t for t, m in rig.twists if t > last_costmap and m.linear.x == 0.0 and m.angular.z == 0.0]
        assert zeros and zeros[0] - last_costmap < 0.3 + 0.2
        assert rig.twists[-1][1].linear.x == 0.0  # and it stays stopped
        assert any("stale input" in line and "costmap" in line for line in rig.logs), rig.logs[-5:]
    finally:
        rig.close()


def test_planner_and_controller_together_costmap_odom_goal_in_path_and_twist_out(ros_context: Any) -> None:
    planner = PlannerNode(context=ros_context)
    controller = ControllerNode(context=ros_context)
    rig = Rig(ros_context, [planner, controller])
    rig.listen_cmd_vel()
    try:
        stamp = SEC
        for _ in range(40):
            if not any(p.poses for p in rig.plans):
                rig.pub_goal.publish(goal(3.0, 0.0))
            feed_world(rig, stamp)
            stamp += SEC // 20
            if rig.spin_until(lambda: any(m.angular.z != 0.0 for _, m in rig.twists), 0.05):
                break
        path = next(p for p in rig.plans if p.poses)
        assert plan_points(path)[-1] == pytest.approx([3.0, 0.0], abs=1e-6)
        # The gap is up and to the left, far off the heading: the robot turns toward it (positive
        # yaw rate), in place at first, and every command respects the configured limits.
        turning = [m for _, m in rig.twists if m.angular.z != 0.0]
        assert turning and turning[0].angular.z > 0.0
        limits = controller.control_config
        assert all(abs(m.angular.z) <= limits.max_angular_vel_rps + 1e-9 for _, m in rig.twists)
        assert all(0.0 <= m.linear.x <= limits.desired_linear_vel_mps + 1e-9 for _, m in rig.twists)
    finally:
        rig.close()


def test_planner_node_draws_the_goal_and_the_footprint_for_a_subscriber(ros_context: Any) -> None:
    planner = PlannerNode(context=ros_context, parameter_overrides=[Parameter("footprint_radius_m", value=0.3)])
    rig = Rig(ros_context, [planner])
    markers: list[MarkerArray] = []
    rig.driver.create_subscription(MarkerArray, "/planner_node/markers", markers.append, 10)
    pose = Pose2D(0.5, -0.25, 0.0)
    try:

        def drawn(action: int) -> bool:
            return any(m.ns == "goal" and m.action == action for array in markers for m in array.markers)

        stamp, sent = SEC, []
        for _ in range(50):  # until discovery has matched the subscription
            rig.pub_goal.publish(goal(3.0, 1.0))
            rig.pub_odom.publish(odometry(pose, stamp))
            sent.append(stamp)
            if rig.spin_until(lambda: drawn(Marker.ADD), 0.1):
                break
            stamp += SEC // 10
        last = next(array for array in reversed(markers) if any(m.action == Marker.ADD for m in array.markers))
        by_ns = {m.ns: m for m in last.markers}
        assert set(by_ns) == {"goal", "footprint"} and len(last.markers) == 2
        arrow, disc = by_ns["goal"], by_ns["footprint"]
        for marker in (arrow, disc):
            assert marker.header.frame_id == "odom"
            assert marker.header.stamp.sec * SEC + marker.header.stamp.nanosec in sent  # the odometry's stamp
        assert arrow.type == Marker.ARROW and arrow.action == Marker.ADD
        assert (arrow.pose.position.x, arrow.pose.position.y) == pytest.approx((3.0, 1.0))
        assert disc.type == Marker.CYLINDER and disc.action == Marker.ADD
        assert (disc.pose.position.x, disc.pose.position.y) == pytest.approx((0.5, -0.25))
        assert disc.scale.x == pytest.approx(0.6) and disc.scale.y == pytest.approx(0.6)

        # A refused goal takes its arrow away; the footprint stays.
        rig.pub_goal.publish(goal(3.0, 1.0, frame="map"))
        assert rig.spin_until(lambda: drawn(Marker.DELETE), 2.0)
        actions = [{m.ns: m.action for m in array.markers} for array in markers]
        assert {"goal": Marker.DELETE, "footprint": Marker.ADD} in actions
    finally:
        rig.close()


def test_planner_node_diagnostics_period_set_remotely_applies_to_its_timer(planner_rig: Rig) -> None:
    node = planner_rig.nodes[0]
    (result,) = node.set_parameters([Parameter("diagnostics_period_s", value=0.25)])
    assert result.successful
    assert 250_000_000 in {timer.timer_period_ns for timer in node.timers}
