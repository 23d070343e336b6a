"""One navigate_to_pose goal on its way through navigator_node: sent, followed, ended.

An accepted goal waits (up to the node's `wait_s`) for the planner and controller to be up, is
published on `goal_pose` through `ros.goto.StackWatcher` and followed with the same
`core.goal_tracker.GoalTracker` as `rvn goto`: feedback (current pose, straight-line distance
remaining, navigation time, time remaining at the current speed, recoveries always 0) while it
runs; succeeded when the controller reports goal_reached within `tolerance_m`; aborted when the
planner refuses the goal or finds no path for `patience_s`, on `timeout_s` (0 = none), or when a
newer goal preempts it (as Nav2 does). A cancel sends a goal at the robot's current pose, so the
robot stops there, and ends the goal canceled. The node holds the goal and its timer; the steps
are here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from rclpy.action.server import ServerGoalHandle
from rclpy.task import Future

from robot_vision_nav.core.goal_tracker import GoalOutcome, GoalState, GoalTracker, GoalTrackerConfig
from robot_vision_nav.ros.goto import StackWatcher
from robot_vision_nav.ros.nav2_action import GoalAdapter, GoalTarget, current_pose, eta_s


# Any in this module: the action type is chosen at run time (nav2_msgs is optional), so its goal,
# feedback, result and handles have no static type.
@dataclass
class ActionGoal:
    """One accepted goal on its way through the node."""

    handle: ServerGoalHandle[Any, Any, Any]
    target: GoalTarget
    done: Future[None]
    wait_until: float  # wall time
    tracker: GoalTracker | None = None  # set once the goal was published
    early_end: GoalOutcome | None = None  # ended before it was published

    def try_send(
        self, watcher: StackWatcher, use_sim_time: bool, config: GoalTrackerConfig, wait_s: float
    ) -> tuple[GoalState, str] | None:
        """Publish the goal once the stack is up; how it must end instead (canceled, waited too long), if so."""
        if self.handle.is_cancel_requested:
            return GoalState.CANCELED, "canceled before it was sent"
        missing = watcher.missing(use_sim_time)
        if not missing:
            t = self.target
            self.tracker = watcher.send_goal(t.x_m, t.y_m, t.yaw_rad, t.frame, config)
        elif time.monotonic() >= self.wait_until:
            return GoalState.FAILED, f"after waiting {wait_s:g} s: {missing}"
        return None

    def follow(self, watcher: StackWatcher, adapter: GoalAdapter, action_type: Any, now_ns: int) -> bool:
        """A sent goal's update: a requested cancel stops the robot; feedback while it runs; False once it ended."""
        tracker = self.tracker
        assert tracker is not None  # only a sent goal is followed
        if self.handle.is_cancel_requested and not tracker.done:
            stopped = watcher.send_stop(self.target.frame)
            note = "; sent a goal at the robot's pose so that it stops" if stopped else ""
            tracker.cancel(now_ns, f"canceled on request{note}")
        if tracker.update(now_ns) != GoalState.RUNNING:
            return False
        progress, pose = tracker.feedback(now_ns), current_pose(watcher)
        self.handle.publish_feedback(adapter.feedback(action_type, progress, pose, eta_s(tracker, watcher)))
        return True

    def end(self, state: GoalState, reason: str, now_ns: int) -> None:
        """End the goal: before it was sent, or through its tracker (canceled, else failed)."""
        if self.tracker is None:
            self.early_end = GoalOutcome(state, reason, 0.0, None)
        elif state == GoalState.CANCELED:
            self.tracker.cancel(now_ns, reason)
        else:
            self.tracker.fail(now_ns, reason)

    def outcome(self, now_ns: int) -> GoalOutcome:
        """How the goal ended (call once `done` is set)."""
        outcome = self.early_end or (self.tracker.outcome(now_ns) if self.tracker else None)
        assert outcome is not None  # done is only set once the goal has ended
        return outcome

    def settle(self, outcome: GoalOutcome) -> None:
        """The action's final state: succeeded, canceled (when a cancel was asked for), else aborted."""
        if outcome.state == GoalState.SUCCEEDED:
            self.handle.succeed()
        elif outcome.state == GoalState.CANCELED and self.handle.is_cancel_requested:
            self.handle.canceled()
        else:
            self.handle.abort()
