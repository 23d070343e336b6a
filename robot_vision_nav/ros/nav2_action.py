"""The navigate_to_pose action's messages as plain values, for navigator_node.

`GoalAdapter` converts between an action type's goal, feedback and result and the navigator's
values; `Nav2Adapter` is nav2_msgs/action/NavigateToPose's. nav2_msgs is imported only by
`import_navigate_to_pose` (and `navigate_to_pose_or_none`, which says what to install when it is
missing), so the navigator is tested where it is not installed (with a test action type and
adapter). `current_pose` and `eta_s` are the feedback's pose and time remaining.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from builtin_interfaces.msg import Duration
from geometry_msgs.msg import PoseStamped

from robot_vision_nav.core.goal_tracker import GoalFeedback, GoalOutcome, GoalState, GoalTracker
from robot_vision_nav.core.goals import planar_goal
from robot_vision_nav.core.units import NS_PER_S
from robot_vision_nav.ros.goto import StackWatcher
from robot_vision_nav.ros.messages import yaw_orientation

MIN_SPEED_MPS = 0.01  # below this the robot is taken as standing: no time-remaining estimate (Nav2 does the same)


@dataclass(frozen=True)
class GoalTarget:
    """Where a goal asks the robot to go."""

    frame: str
    x_m: float
    y_m: float
    yaw_rad: float | None  # None: heading from the robot to the goal


class GoalAdapter(Protocol):
    """Converts between an action type's messages and the navigator's plain values."""

    def target(self, goal: Any) -> GoalTarget:
        """The goal's target; raises ValueError for a goal that cannot be used (non-finite values)."""
        ...

    def feedback(self, action_type: Any, progress: GoalFeedback, current_pose: PoseStamped, eta_s: float) -> Any:
        """An `action_type.Feedback` for the goal's progress."""
        ...

    def result(self, action_type: Any, outcome: GoalOutcome) -> Any:
        """An `action_type.Result` for how the goal ended."""
        ...


def _duration(seconds: float) -> Duration:
    sec, nanosec = divmod(max(0, round(seconds * NS_PER_S)), NS_PER_S)
    return Duration(sec=int(sec), nanosec=int(nanosec))


class Nav2Adapter:
    """nav2_msgs/action/NavigateToPose: goal `pose` (+ `behavior_tree`, ignored), Nav2's feedback and result."""

    def target(self, goal: Any) -> GoalTarget:
        """The goal pose; a zero quaternion means no heading."""
        p, q = goal.pose.pose.position, goal.pose.pose.orientation
        x, y, yaw = planar_goal((p.x, p.y), (q.x, q.y, q.z, q.w), zero_is_no_heading=True)  # GoalError: ValueError
        return GoalTarget(goal.pose.header.frame_id, x, y, yaw)

    def feedback(self, action_type: Any, progress: GoalFeedback, current_pose: PoseStamped, eta_s: float) -> Any:
        """NavigateToPose.Feedback: current_pose, navigation_time, estimated_time_remaining, distance_remaining."""
        fb = action_type.Feedback()
        fb.current_pose = current_pose
        fb.navigation_time = _duration(progress.elapsed_s)
        fb.estimated_time_remaining = _duration(eta_s)
        fb.number_of_recoveries = 0
        fb.distance_remaining = float(progress.distance_m or 0.0)
        return fb

    def result(self, action_type: Any, outcome: GoalOutcome) -> Any:
        """NavigateToPose.Result: error_code and error_msg where the distro has them (Jazzy on)."""
        result = action_type.Result()
        if hasattr(result, "error_code"):
            unknown = getattr(action_type.Result, "UNKNOWN", 9000)
            codes = {GoalState.SUCCEEDED: getattr(action_type.Result, "NONE", 0)}
            codes[GoalState.TIMED_OUT] = getattr(action_type.Result, "TIMEOUT", unknown)
            result.error_code = codes.get(outcome.state, unknown)
        if hasattr(result, "error_msg") and outcome.state != GoalState.SUCCEEDED:
            result.error_msg = outcome.reason
        return result


def import_navigate_to_pose() -> Any:
    """nav2_msgs.action.NavigateToPose; ImportError where nav2_msgs is not installed."""
    from nav2_msgs.action import NavigateToPose

    return NavigateToPose


def navigate_to_pose_or_none(logger_name: str) -> Any:
    """nav2_msgs.action.NavigateToPose; None, with one error line from `logger_name`, without nav2_msgs."""
    try:
        return import_navigate_to_pose()
    except ImportError as err:
        import rclpy.logging

        rclpy.logging.get_logger(logger_name).error(
            f"cannot serve navigate_to_pose: nav2_msgs is not installed ({err}); install it "
            "(apt install ros-$ROS_DISTRO-nav2-msgs) or use `rvn goto` / the goal_pose topic instead"
        )
        return None


def current_pose(watcher: StackWatcher) -> PoseStamped:
    """The robot's pose for feedback (an empty PoseStamped before odometry or TF placed it)."""
    # In the goal's frame where TF places the robot there (a map goal: the pose in map, as Nav2's
    # feedback gives it in its global frame), else in the odometry's.
    msg = PoseStamped()
    frame = watcher.goal_frame or watcher.odom_frame
    pose = watcher.pose_in(frame)
    if pose is None:
        frame, pose = watcher.odom_frame, watcher.pose
    if pose is None:
        return msg
    msg.header.frame_id = frame
    if watcher.odom_stamp is not None:
        msg.header.stamp = watcher.odom_stamp
    msg.pose.position.x, msg.pose.position.y = pose[0], pose[1]
    msg.pose.orientation = yaw_orientation(pose[2])
    return msg


def eta_s(tracker: GoalTracker, watcher: StackWatcher) -> float:
    """Seconds to the goal at the current speed; 0 while standing (or the speed is unknown)."""
    distance = tracker.distance_m
    speed = abs(watcher.speed_mps)
    # `not >=`: a NaN speed from odometry's twist gives no estimate, not a NaN duration
    return 0.0 if distance is None or not speed >= MIN_SPEED_MPS else distance / speed
