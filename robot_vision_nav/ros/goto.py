"""Send one goal to the running stack and follow it to the end: `rvn goto` and the navigator's glue.

`StackWatcher` is what `rvn goto` and the `navigate_to_pose` action server (`nodes.navigator_node`)
share: on a given node it publishes goals on `goal_pose` (a PoseStamped, as RViz's "2D Goal Pose"
does), subscribes to `odom`, `planner_status`, `controller_status` and `/diagnostics` (the
controller's periodic report gives its current status to a late joiner: `controller_status` is
only published on change), and feeds the current `core.goal_tracker.GoalTracker`, which decides.
With the robot pose from TF (`robot_pose_source: tf`, ros/robot_pose.py) it looks up
`global_frame -> base_frame` every POSE_POLL_S instead of subscribing to `odom`.

`goto(...)` is `rvn goto`: it waits, bounded in wall time, until the planner subscribes to
`goal_pose`, the planner and controller publish their status topics and odometry arrives (and,
with `use_sim_time`, /clock), sends the goal, and spins until the tracker says succeeded, failed
or timed out. Time limits count on the node clock, so under `use_sim_time` they are simulated
seconds; a /clock that stops for `CLOCK_STALL_S` wall seconds fails the goal instead of hanging.
On Ctrl-C it sends a goal at the robot's current pose (the robot stops there) and lets the
KeyboardInterrupt through.

This module holds no algorithm: the judgement is the tracker's.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import Odometry
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from std_msgs.msg import String

from robot_vision_nav.core.goal_tracker import GoalFeedback, GoalOutcome, GoalState, GoalTracker, GoalTrackerConfig
from robot_vision_nav.ros import topics
from robot_vision_nav.ros.messages import ns_to_stamp, odometry_to_pose2d, same_frame, yaw_orientation
from robot_vision_nav.ros.qos import DEFAULT_QOS, SENSOR_QOS
from robot_vision_nav.ros.robot_pose import pose_from_tf, tf_pose_name
from robot_vision_nav.ros.tf import TfReader

if TYPE_CHECKING:
    from builtin_interfaces.msg import Time as TimeMsg
    from rclpy.timer import Timer

GOAL_TOPIC = topics.GOAL_POSE
ODOM_TOPIC = topics.ODOM
PLANNER_STATUS_TOPIC = topics.PLANNER_STATUS
CONTROLLER_STATUS_TOPIC = topics.CONTROLLER_STATUS
DIAGNOSTICS_TOPIC = topics.DIAGNOSTICS
CONTROLLER_DIAGNOSTIC_SUFFIX = ": controller"  # controller_node's DiagnosticStatus name is "<node>: controller"

WAIT_S = 10.0  # how long (wall) goto waits for the stack before giving up
CLOCK_STALL_S = 10.0  # under use_sim_time, a /clock silent this long (wall) fails the goal
DISCOVERY_GRACE_S = 0.3  # discovery is not symmetric: let the other side match us before the goal goes out
PROGRESS_PERIOD_S = 0.5  # wall seconds between progress reports (a status change reports at once)
SPIN_STEP_S = 0.05
FRAME_WAIT_S = 2.0  # how long (wall) a goal in another frame waits for TF to place the robot in it
POSE_POLL_S = 0.05  # with the pose from TF, how often (node clock) the newest is looked up


def goal_pose_msg(x_m: float, y_m: float, yaw_rad: float, frame: str, stamp: TimeMsg) -> PoseStamped:
    """The PoseStamped RViz's "2D Goal Pose" would publish for (x, y, yaw) in `frame`."""
    msg = PoseStamped()
    msg.header.frame_id = frame
    msg.header.stamp = stamp
    msg.pose.position.x, msg.pose.position.y = float(x_m), float(y_m)
    msg.pose.orientation = yaw_orientation(yaw_rad)
    return msg


class StackWatcher:
    """The goal publisher and status subscriptions on `node`, feeding the tracker of the current goal.

    Args:
        node: the node to create the publisher and subscriptions on (its clock is the tracker's).
        pose_from_tf: (global_frame, base_frame) to take the robot pose from TF instead of the
            `odom` topic (robot_pose_source tf); None: odometry.

    """

    def __init__(self, node: Node, pose_from_tf: tuple[str, str] | None = None) -> None:
        self.node = node
        self._pose_from_tf = pose_from_tf
        self.tracker: GoalTracker | None = None
        self.odom_frame = ""
        self.odom_stamp: TimeMsg | None = None  # header stamp of the latest odometry
        self.speed_mps = 0.0  # forward speed of the latest odometry
        self.controller_status = ""  # latest known, whatever goal it was about
        self._pose: tuple[float, float, float] | None = None
        self._heard_controller = False
        self.goal_frame = ""  # the frame of the current goal; the tracker sees the robot in it
        self._tf = TfReader(node)
        self.goal_pub = node.create_publisher(PoseStamped, GOAL_TOPIC, DEFAULT_QOS)
        self._planner_sub = node.create_subscription(String, PLANNER_STATUS_TOPIC, self._on_planner, DEFAULT_QOS)
        self._controller_sub = node.create_subscription(
            String, CONTROLLER_STATUS_TOPIC, self._on_controller, DEFAULT_QOS
        )
        self._other_subs = [
            node.create_subscription(DiagnosticArray, DIAGNOSTICS_TOPIC, self._on_diagnostics, DEFAULT_QOS)
        ]
        self._pose_timer: Timer | None = None
        self._pose_stamp_ns = 0  # with the pose from TF: the stamp of the last pose taken
        if pose_from_tf is None:
            self._other_subs.append(node.create_subscription(Odometry, ODOM_TOPIC, self._on_odom, SENSOR_QOS))
        else:
            self._tf.listen()
            self._pose_timer = node.create_timer(POSE_POLL_S, self._on_pose_timer)
        self.topics = {
            name: node.resolve_topic_name(name)
            for name in (GOAL_TOPIC, ODOM_TOPIC, PLANNER_STATUS_TOPIC, CONTROLLER_STATUS_TOPIC)
        }

    def close(self) -> None:
        """Destroy the publisher, the subscriptions and the TF listener it made on the node."""
        self._tf.close()
        for sub in (self._planner_sub, self._controller_sub, *self._other_subs):
            self.node.destroy_subscription(sub)
        if self._pose_timer is not None:
            self.node.destroy_timer(self._pose_timer)
            self._pose_timer = None
        self.node.destroy_publisher(self.goal_pub)
        self._other_subs = []
        self.tracker = None

    def now_ns(self) -> int:
        """The node clock (sim time under use_sim_time) in ns."""
        return int(self.node.get_clock().now().nanoseconds)

    @property
    def pose(self) -> tuple[float, float, float] | None:
        """The latest robot pose (x m, y m, yaw rad) in `odom_frame`, None before the first."""
        return self._pose

    # ------------------------------------------------------------------ inputs
    def _on_odom(self, msg: Odometry) -> None:
        try:
            pose = odometry_to_pose2d(msg)
        except ValueError:
            return  # the planner and controller warn about bad odometry; the tracker keeps the last good pose
        self._take_pose((pose.x_m, pose.y_m, pose.yaw_rad), msg.header.frame_id, msg.header.stamp)
        self.speed_mps = float(msg.twist.twist.linear.x)

    def _on_pose_timer(self) -> None:
        """The pose from TF: the newest, taken when it is newer than the last (its speed from the two)."""
        assert self._pose_from_tf is not None
        global_frame, base_frame = self._pose_from_tf
        pose, _ = pose_from_tf(self._tf, global_frame, base_frame)
        if pose is None or pose.stamp_ns <= self._pose_stamp_ns:
            return  # `missing()` names the transform while there is none
        if self._pose is not None and self._pose_stamp_ns > 0:
            x, y, _ = self._pose
            dt_s = (pose.stamp_ns - self._pose_stamp_ns) / 1e9
            self.speed_mps = ((pose.x_m - x) * math.cos(pose.yaw_rad) + (pose.y_m - y) * math.sin(pose.yaw_rad)) / dt_s
        self._pose_stamp_ns = pose.stamp_ns
        self._take_pose((pose.x_m, pose.y_m, pose.yaw_rad), global_frame, ns_to_stamp(pose.stamp_ns))

    def _take_pose(self, pose: tuple[float, float, float], frame: str, stamp: TimeMsg) -> None:
        self._pose = pose
        self.odom_frame = frame
        self.odom_stamp = stamp
        if self.tracker is not None:
            in_goal_frame = self.pose_in(self.goal_frame)
            if in_goal_frame is not None:  # else the tracker keeps the last pose it could place
                self.tracker.observe_pose(*in_goal_frame)

    def pose_in(self, frame: str) -> tuple[float, float, float] | None:
        """The latest odometry pose in `frame` (TF from the odometry's frame; newest), None if it can't be placed."""
        if self._pose is None:
            return None
        if not frame or same_frame(frame, self.odom_frame) or not self.odom_frame:
            return self._pose
        transform, _ = self._tf.lookup(frame, self.odom_frame)
        if transform is None:
            return None
        try:
            return transform.apply_to_pose2d(*self._pose)
        except ValueError:
            return None

    def _on_planner(self, msg: String) -> None:
        if self.tracker is not None:
            self.tracker.observe_planner(msg.data, self.now_ns())

    def _on_controller(self, msg: String) -> None:
        self._heard_controller = True
        self.controller_status = msg.data
        if self.tracker is not None:
            self.tracker.observe_controller(msg.data, self.now_ns())

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if not status.name.endswith(CONTROLLER_DIAGNOSTIC_SUFFIX):
                continue
            value = next((kv.value for kv in status.values if kv.key == "status"), "")
            if not value:
                continue
            if not self._heard_controller:
                self.controller_status = value
            if self.tracker is not None:
                self.tracker.observe_controller(value, self.now_ns(), snapshot=True)

    # ------------------------------------------------------------------ readiness and goals
    def missing(self, use_sim_time: bool = False) -> str:
        """What the stack still lacks before a goal can be followed ("" when nothing)."""
        if use_sim_time and self.now_ns() == 0:
            return "no /clock received (use_sim_time): is the simulator running?"
        if self.goal_pub.get_subscription_count() == 0:
            return f"nothing subscribes to {self.topics[GOAL_TOPIC]}: is planner_node running?"
        if self._planner_sub.get_publisher_count() == 0:
            return f"nothing publishes {self.topics[PLANNER_STATUS_TOPIC]}: is planner_node running?"
        if self._controller_sub.get_publisher_count() == 0:
            return f"nothing publishes {self.topics[CONTROLLER_STATUS_TOPIC]}: is controller_node running?"
        if self._pose is None and self._pose_from_tf is not None:
            return f"no robot pose from {tf_pose_name(*self._pose_from_tf)}: is the robot (or simulator) running?"
        if self._pose is None:
            return f"no odometry on {self.topics[ODOM_TOPIC]}: is the robot (or simulator) running?"
        return ""

    def send_goal(
        self, x_m: float, y_m: float, yaw_rad: float | None, frame: str, config: GoalTrackerConfig
    ) -> GoalTracker:
        """Publish a goal and start a new tracker for it (the previous one is dropped).

        A goal without a yaw gets the heading from the robot to the goal, so the robot does not turn
        on the spot once there; with the robot already within the tolerance, its own heading.
        """
        self.goal_frame = frame
        robot = self.pose_in(frame)
        if yaw_rad is None:
            yaw_rad = 0.0
            if robot is not None:
                x, y, yaw = robot
                near = math.hypot(x_m - x, y_m - y) <= config.tolerance_m
                yaw_rad = yaw if near else math.atan2(y_m - y, x_m - x)
        now = self.node.get_clock().now()
        track_x, track_y = x_m, y_m
        if self._moves_with_robot(frame):
            # "1 m ahead" in base_link: judged where it was when sent (in odom), as the planner places it.
            transform, _ = self._tf.lookup(self.odom_frame, frame)
            if transform is not None:
                track_x, track_y, _ = transform.apply_to_pose2d(x_m, y_m, yaw_rad)
                self.goal_frame = self.odom_frame
                robot = self._pose
        tracker = GoalTracker(track_x, track_y, int(now.nanoseconds), config, controller_status=self.controller_status)
        if robot is not None:
            tracker.observe_pose(*robot)
        self.tracker = tracker
        self.goal_pub.publish(goal_pose_msg(x_m, y_m, yaw_rad, frame, now.to_msg()))
        return tracker

    def _moves_with_robot(self, frame: str) -> bool:
        frame = frame.lstrip("/")
        odom = self.odom_frame.lstrip("/")
        return bool(frame and odom and frame != odom and self._tf.is_below(frame, odom))

    def wait_for_frame(self, frame: str, spin: Callable[[], None], timeout_s: float) -> bool:
        """Spin until the odometry pose can be placed in `frame` (TF heard), at most `timeout_s` (wall)."""
        if not frame or same_frame(frame, self.odom_frame) or not self._tf.listen():
            return True
        deadline = time.monotonic() + timeout_s
        while self.pose_in(frame) is None:
            if time.monotonic() >= deadline:
                return False
            spin()
        return True

    def send_stop(self, frame: str) -> bool:
        """Publish a goal at the robot's current pose, so that it stops there; False without odometry.

        The goal is in the odometry's frame whatever `frame` the cancelled goal had: that is where the
        pose is known without TF.
        """
        if self._pose is None:
            return False
        x, y, yaw = self._pose
        stop_frame = self.odom_frame or frame
        self.goal_pub.publish(goal_pose_msg(x, y, yaw, stop_frame, self.node.get_clock().now().to_msg()))
        return True


# ---------------------------------------------------------------------------------------- rvn goto
def format_progress(feedback: GoalFeedback) -> str:
    """One progress line: distance to go, elapsed time, planner and controller status."""
    distance = "?" if feedback.distance_m is None else f"{feedback.distance_m:.2f}"
    planner = feedback.planner_status or "waiting"
    controller = feedback.controller_status or "unknown"
    return f"{distance} m to go, {feedback.elapsed_s:.1f} s, planner {planner}, controller {controller}"


def format_result(result: Mapping[str, object]) -> str:
    """The human form of goto's result dict."""
    state = str(result["result"])
    if state == GoalState.SUCCEEDED:
        return f"succeeded in {result['time_s']:.1f} s: {result['reason']}"
    return f"{state.replace('_', ' ')} after {result['time_s']:.1f} s: {result['reason']}"


def goto(
    x: float,
    y: float,
    yaw: float | None = None,
    frame: str = "odom",
    timeout_s: float = 120.0,
    tolerance_m: float = 0.3,
    context: Context | None = None,
    progress: Callable[[GoalFeedback], None] | None = None,
    *,
    use_sim_time: bool = False,
    patience_s: float = 5.0,
    wait_s: float = WAIT_S,
    pose_from_tf: tuple[str, str] | None = None,
) -> dict[str, object]:
    """Send the goal (x, y, yaw) in `frame` to the running stack and follow it to its end.

    Args:
        x: goal x (m) in `frame` (the planner's global_frame, `odom` by default).
        y: goal y (m) in `frame`.
        yaw: goal heading (rad); None: the heading from the robot to the goal (its own heading when
            it already stands within the tolerance).
        frame: frame_id of the goal.
        timeout_s: give up after this long (node clock: sim seconds under use_sim_time); 0 = never.
        tolerance_m: the robot must stop this close to the goal (straight line) for success.
        context: an initialised rclpy context to use; None: init (and shut down) one here, with
            discovery on loopback and Ctrl-C raising KeyboardInterrupt.
        progress: called with a GoalFeedback every PROGRESS_PERIOD_S and at every status change.
        use_sim_time: follow /clock (the simulator) instead of the system clock.
        patience_s: how long planner trouble may last before the goal fails.
        wait_s: how long (wall) to wait for the stack to be there before sending.
        pose_from_tf: (global_frame, base_frame): the robot pose from TF, for a stack run with
            `robot_pose_source: tf`; None: from the `odom` topic.

    Returns:
        {"result": "succeeded" | "failed" | "timed_out", "reason": one sentence, "time_s": goal time
        (s, node clock), "distance_m": straight-line distance left (m) or None without odometry}.

    Raises:
        ValueError: a coordinate or limit is not finite, or out of range.
        KeyboardInterrupt: Ctrl-C, after a goal at the robot's pose was sent to stop it.

    """
    values = (x, y) if yaw is None else (x, y, yaw)
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"goal must be finite numbers, got {values}")
    if not frame:
        raise ValueError("frame must not be empty")
    config = GoalTrackerConfig(tolerance_m=tolerance_m, timeout_s=timeout_s, patience_s=patience_s)
    own_context = context is None
    if context is None:
        from robot_vision_nav.ros.runner import apply_ros_environment

        apply_ros_environment()
        context = Context()
        rclpy.init(context=context, signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
    node: Node | None = None
    executor: SingleThreadedExecutor | None = None
    try:
        executor = SingleThreadedExecutor(context=context)
        node = Node(
            f"rvn_goto_{os.getpid()}",
            context=context,
            use_global_arguments=False,
            parameter_overrides=[Parameter("use_sim_time", Parameter.Type.BOOL, use_sim_time)],
        )
        executor.add_node(node)
        watcher = StackWatcher(node, pose_from_tf)
        return _follow(executor, watcher, x, y, yaw, frame, config, progress, use_sim_time, wait_s)
    finally:
        if executor is not None:
            executor.shutdown(timeout_sec=1.0)
        if node is not None:
            node.destroy_node()
        if own_context:
            rclpy.try_shutdown(context=context)


def _follow(
    executor: SingleThreadedExecutor,
    watcher: StackWatcher,
    x: float,
    y: float,
    yaw: float | None,
    frame: str,
    config: GoalTrackerConfig,
    progress: Callable[[GoalFeedback], None] | None,
    use_sim_time: bool,
    wait_s: float,
) -> dict[str, object]:
    deadline = time.monotonic() + wait_s
    while missing := watcher.missing(use_sim_time):
        if time.monotonic() >= deadline:
            distance = None if watcher.pose is None else math.hypot(x - watcher.pose[0], y - watcher.pose[1])
            return GoalOutcome(GoalState.FAILED, f"after waiting {wait_s:g} s: {missing}", 0.0, distance).as_dict()
        executor.spin_once(timeout_sec=SPIN_STEP_S)
    grace_end = time.monotonic() + DISCOVERY_GRACE_S
    while time.monotonic() < grace_end:
        executor.spin_once(timeout_sec=SPIN_STEP_S)
    # A goal in another frame (map): TF's map -> odom is not latched; hear it before the goal's heading
    # and the tracker's first pose are worked out. Without it the planner says goal_frame_unknown.
    watcher.wait_for_frame(frame, lambda: executor.spin_once(timeout_sec=SPIN_STEP_S), FRAME_WAIT_S)

    tracker = watcher.send_goal(x, y, yaw, frame, config)
    last_report = -math.inf
    last_key: tuple[str, str] = ("", "")
    clock_ns, clock_wall = watcher.now_ns(), time.monotonic()
    try:
        while True:
            executor.spin_once(timeout_sec=SPIN_STEP_S)
            now = watcher.now_ns()
            if tracker.update(now) != GoalState.RUNNING:
                break
            wall = time.monotonic()
            if now != clock_ns:
                clock_ns, clock_wall = now, wall
            elif use_sim_time and wall - clock_wall >= CLOCK_STALL_S:
                tracker.fail(now, f"simulated time stopped: no /clock for {CLOCK_STALL_S:g} s")
                break
            if progress is not None:
                feedback = tracker.feedback(now)
                key = (feedback.planner_status, feedback.controller_status)
                if key != last_key or wall - last_report >= PROGRESS_PERIOD_S:
                    last_key, last_report = key, wall
                    progress(feedback)
    except KeyboardInterrupt:
        if watcher.send_stop(frame):
            end = time.monotonic() + 0.2  # let the stop goal leave before the node goes
            while time.monotonic() < end:
                executor.spin_once(timeout_sec=SPIN_STEP_S)
        raise
    outcome = tracker.outcome(watcher.now_ns())
    if progress is not None:
        progress(tracker.feedback(watcher.now_ns()))
    return outcome.as_dict()
