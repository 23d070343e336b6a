"""A stand-in for the running stack, for goal-following tests: it is the environment, never the thing tested.

`StackDriver` is one node that plays the robot and the planner/controller topics: it publishes
odometry (moving toward a target at a set speed), `planner_status` and `controller_status`, records
every goal on `goal_pose` and hands it to a scenario function. Optionally it publishes /clock.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import Odometry
from rclpy.context import Context
from rclpy.node import Node
from rosgraph_msgs.msg import Clock
from std_msgs.msg import String

from robot_vision_nav.core.geometry import Pose2D, Transform3D
from robot_vision_nav.ros.messages import ns_to_stamp, pose2d_to_odometry
from robot_vision_nav.ros.qos import CLOCK_QOS, DEFAULT_QOS, SENSOR_QOS
from robot_vision_nav.ros.runner import make_executor
from robot_vision_nav.ros.tf import transform_stamped

TICK_S = 0.05


class StackDriver(Node):
    """Odometry, planner_status and controller_status on demand; goals recorded and passed to `on_goal`.

    Args:
        context: the rclpy context.
        on_goal: called (in the executor thread) with the driver and each goal received.
        subscribe_goal: False: nothing subscribes to goal_pose (no planner).
        speed_mps: how fast the robot drives toward `target`.
        sim_clock_rate: publish /clock running this many times faster than the wall clock (None: no /clock).
        pose: the robot's start pose (x m, y m, yaw rad).
        diagnostics_status: publish this controller status on /diagnostics every 0.5 s, as controller_node
            reports it (None: no /diagnostics).
        pose_as: "odom" (nav_msgs/Odometry on odom) or "tf" (odom -> base_link on /tf, no odometry topic).

    """

    def __init__(
        self,
        context: Context,
        on_goal: Callable[[StackDriver, PoseStamped], None] | None = None,
        subscribe_goal: bool = True,
        speed_mps: float = 2.0,
        sim_clock_rate: float | None = None,
        pose: tuple[float, float, float] = (0.0, 0.0, 0.0),
        diagnostics_status: str | None = None,
        pose_as: str = "odom",
    ) -> None:
        super().__init__("stack_driver", context=context)
        self.lock = threading.Lock()
        self.pose = pose
        self.diagnostics_status = diagnostics_status
        self._ticks = 0
        self.target: tuple[float, float] | None = None
        self.speed_mps = speed_mps
        self.goals: list[PoseStamped] = []
        self.on_goal = on_goal
        self.sim_ns = 1_000 * 1_000_000_000
        self.sim_clock_rate = sim_clock_rate
        self._odom_pub = self.create_publisher(Odometry, "odom", SENSOR_QOS) if pose_as == "odom" else None
        self._tf_broadcaster = None
        if pose_as == "tf":
            import tf2_ros

            self._tf_broadcaster = tf2_ros.TransformBroadcaster(self)
        self._planner_pub = self.create_publisher(String, "planner_status", DEFAULT_QOS)
        self._controller_pub = self.create_publisher(String, "controller_status", DEFAULT_QOS)
        self._clock_pub = self.create_publisher(Clock, "/clock", CLOCK_QOS) if sim_clock_rate else None
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", DEFAULT_QOS)
        if subscribe_goal:
            self.create_subscription(PoseStamped, "goal_pose", self._on_goal, DEFAULT_QOS)
        self.create_timer(TICK_S, self._tick)

    def planner(self, text: str) -> None:
        """Publish a planner_status string."""
        self._planner_pub.publish(String(data=text))

    def controller(self, text: str) -> None:
        """Publish a controller_status string."""
        self._controller_pub.publish(String(data=text))

    def _on_goal(self, msg: PoseStamped) -> None:
        with self.lock:
            self.goals.append(msg)
        if self.on_goal is not None:
            self.on_goal(self, msg)

    def _tick(self) -> None:
        self._ticks += 1
        if self.diagnostics_status is not None and self._ticks % 10 == 0:
            status = DiagnosticStatus(name="controller_node: controller")
            status.values = [KeyValue(key="status", value=self.diagnostics_status)]
            self._diag_pub.publish(DiagnosticArray(status=[status]))
        if self._clock_pub is not None and self.sim_clock_rate:
            self.sim_ns += round(TICK_S * self.sim_clock_rate * 1e9)
            self._clock_pub.publish(Clock(clock=ns_to_stamp(self.sim_ns)))
        x, y, yaw = self.pose
        speed = 0.0
        if self.target is not None:
            dx, dy = self.target[0] - x, self.target[1] - y
            distance = math.hypot(dx, dy)
            step = self.speed_mps * TICK_S
            if distance <= step:
                x, y = self.target
                self.target = None
                self.controller("goal_reached")
            else:
                x, y, speed = x + dx / distance * step, y + dy / distance * step, self.speed_mps
                yaw = math.atan2(dy, dx)
        self.pose = (x, y, yaw)
        stamp = self.sim_ns if self.sim_clock_rate else time.time_ns()
        if self._odom_pub is not None:
            self._odom_pub.publish(pose2d_to_odometry(Pose2D(x, y, yaw, stamp), speed, 0.0, "odom", "base_link"))
        if self._tf_broadcaster is not None:
            transform = Transform3D((x, y, 0.0), (0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2)))
            self._tf_broadcaster.sendTransform(transform_stamped("odom", "base_link", transform, ns_to_stamp(stamp)))

    def goal_count(self) -> int:
        """How many goals arrived so far."""
        with self.lock:
            return len(self.goals)


def drive_to_goal(driver: StackDriver, goal: PoseStamped) -> None:
    """The stack working: a plan, the controller following, then goal_reached at the goal."""
    driver.planner("ok: path found")
    driver.controller("following")
    driver.target = (goal.pose.position.x, goal.pose.position.y)


@contextmanager
def spinning(context: Context, *nodes: Node, executor: str = "single") -> Iterator[None]:
    """Spin `nodes` in a background thread until the block ends, then destroy them."""
    ex = make_executor(executor, context, len(nodes))
    for node in nodes:
        ex.add_node(node)
    thread = threading.Thread(target=ex.spin, daemon=True)
    thread.start()
    try:
        yield
    finally:
        ex.shutdown(timeout_sec=2.0)
        thread.join(timeout=5.0)
        for node in nodes:
            node.destroy_node()


def wait_for(condition: Callable[[], bool], timeout_s: float) -> bool:
    """Poll `condition` every 20 ms until it holds or `timeout_s` (wall) passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()
