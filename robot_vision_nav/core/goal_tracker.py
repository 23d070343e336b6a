"""Follow one navigation goal to its end from what the stack reports: success, failure or timeout.

`GoalTracker` is the judge shared by `rvn goto` (`ros.goto`) and the `navigate_to_pose` action
server (`nodes.navigator_node`). It is fed, in any order, with the robot pose (odometry), the
planner's `planner_status` strings ("<status>: <sentence>") and the controller's
`controller_status` strings, each with the time it was seen in ns (node clock: sim time under
`use_sim_time`), and `update(now_ns)` says where the goal stands:

- succeeded: the controller says `goal_reached` and the pose is within `tolerance_m` of the goal.
  The controller publishes its status only when it changes, so a `goal_reached` can be left over
  from the previous goal: it counts when it was seen after this goal was sent (a transition into
  `goal_reached`, after the controller was in another state), or, left over, once the planner has
  planned for this goal and the controller has then stayed silent for `settle_s` (it already stood
  at this goal: a new plan to the same place changes nothing it would report).
- failed: the planner refused the goal (`goal_rejected`), or it kept answering `no_path`,
  `start_blocked` or `goal_blocked` without a plan in between for `patience_s` (a single
  `no_path` while the costmap fills in is not a failure), or the controller kept reporting
  `goal_reached` for `patience_s` while the robot stands farther than `tolerance_m` from the goal
  (it stopped at the end of its path, and it will not move again).
- timed out: `timeout_s` of (node-clock) time passed since the goal was sent (0: no limit).
- canceled: the owner gave up (`cancel`); failed also by `fail`, for what only the owner sees.

Statuses seen before the goal was sent say nothing about it (only the controller's current state
is kept, as a possibly stale one). The distance reported is the straight line from the robot to the
goal, not the remaining path length.

This module must never import ROS and never read a clock: time comes in as arguments only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from robot_vision_nav.core.config import param, validate_fields
from robot_vision_nav.core.units import NS_PER_S

# Planner statuses (core.planner.PlanStatus values, and the node's own goal_rejected / goal_blocked).
PLANNED: Final = frozenset({"ok", "escaped_start", "goal_outside"})  # a path was published
PLANNER_TROUBLE: Final = frozenset({"no_path", "start_blocked", "goal_blocked"})  # no path, may clear
GOAL_REJECTED: Final = "goal_rejected"  # the goal itself is unusable: final
GOAL_FRAME_UNKNOWN: Final = "goal_frame_unknown"  # no transform from the goal's frame: final
GOAL_REACHED: Final = "goal_reached"


class GoalState(StrEnum):
    """Where a goal stands; compares equal to its string value."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELED = "canceled"


@dataclass(frozen=True)
class GoalTrackerConfig:
    """How a goal is judged."""

    tolerance_m: float = param(
        0.3,
        "the goal counts as reached only with the robot this close to it (straight line); keep it at least the "
        "controller's xy_goal_tolerance_m",
        unit="m",
        min_value=0.001,
        max_value=100.0,
    )
    timeout_s: float = param(
        0.0,
        "give up this long after the goal was sent (node clock); 0 = no limit",
        unit="s",
        min_value=0.0,
        max_value=1e6,
    )
    patience_s: float = param(
        5.0,
        "planner trouble (no_path, start_blocked, goal_blocked) or a controller stopped away from the goal "
        "fails the goal only after lasting this long",
        unit="s",
        min_value=0.0,
        max_value=3600.0,
    )
    settle_s: float = param(
        1.0,
        "a goal_reached left over from before the goal counts once the planner has planned and the controller "
        "has said nothing else for this long",
        unit="s",
        min_value=0.0,
        max_value=60.0,
    )

    def __post_init__(self) -> None:
        validate_fields(self)


@dataclass(frozen=True)
class PlanarPose:
    """Robot pose in the goal's frame."""

    x_m: float
    y_m: float
    yaw_rad: float


@dataclass(frozen=True)
class GoalFeedback:
    """What is known about a goal at one moment (for progress lines and action feedback)."""

    state: GoalState
    elapsed_s: float
    distance_m: float | None  # straight line to the goal; None before the first pose
    pose: PlanarPose | None
    planner_status: str  # "" before the planner said anything about this goal
    planner_message: str
    controller_status: str  # "" while unknown; may be left over from before the goal
    reason: str  # why the goal ended; "" while running


@dataclass(frozen=True)
class GoalOutcome:
    """How a goal ended: the state, a one-sentence reason, the time it took and the distance left."""

    state: GoalState
    reason: str
    time_s: float
    distance_m: float | None

    def as_dict(self) -> dict[str, object]:
        """{"result", "reason", "time_s", "distance_m"}: what `rvn goto --json` prints."""
        distance = None if self.distance_m is None else round(self.distance_m, 3)
        return {
            "result": str(self.state),
            "reason": self.reason,
            "time_s": round(self.time_s, 3),
            "distance_m": distance,
        }


def split_status(text: str) -> tuple[str, str]:
    """`"no_path: goal unreachable"` -> `("no_path", "goal unreachable")`; a bare word has no message."""
    status, _, message = text.partition(":")
    return status.strip(), message.strip()


class GoalTracker:
    """The state machine of one goal (see the module docstring for the rules).

    Args:
        goal_x_m, goal_y_m: the goal position, in the frame of the poses given to `observe_pose`.
        start_ns: when the goal was sent (node clock).
        config: tolerance, timeout, patience and settle time.
        controller_status: the controller's status as last seen before the goal was sent ("" when
            unknown); it is treated as possibly left over from an earlier goal.

    """

    def __init__(
        self,
        goal_x_m: float,
        goal_y_m: float,
        start_ns: int,
        config: GoalTrackerConfig | None = None,
        controller_status: str = "",
    ) -> None:
        if not (math.isfinite(goal_x_m) and math.isfinite(goal_y_m)):
            raise ValueError(f"goal must be finite, got ({goal_x_m}, {goal_y_m})")
        self.goal_xy = (float(goal_x_m), float(goal_y_m))
        self.start_ns = int(start_ns)
        self.config = config or GoalTrackerConfig()
        self._pose: PlanarPose | None = None
        self._planner_status = ""
        self._planner_message = ""
        self._planned_ns: int | None = None  # first plan for this goal
        self._trouble_since_ns: int | None = None  # start of the current run of planner trouble
        self._controller_status = controller_status
        self._controller_changed_ns = self.start_ns  # a left-over status is taken as seen at the start
        self._fresh_reached = False  # goal_reached entered after the goal was sent
        self._controller_heard = False  # a controller_status message arrived (not just snapshots)
        self._state = GoalState.RUNNING
        self._reason = ""
        self._end_ns: int | None = None

    # ------------------------------------------------------------------ inputs
    def observe_pose(self, x_m: float, y_m: float, yaw_rad: float = 0.0) -> None:
        """The robot's latest pose (odometry), in the goal's frame; non-finite poses are ignored."""
        if math.isfinite(x_m) and math.isfinite(y_m):
            self._pose = PlanarPose(float(x_m), float(y_m), float(yaw_rad))

    def observe_planner(self, text: str, now_ns: int) -> None:
        """A `planner_status` string ("<status>: <sentence>") seen at `now_ns`."""
        if self.done or now_ns < self.start_ns:
            return  # about an earlier goal
        status, message = split_status(text)
        self._planner_status, self._planner_message = status, message
        if status in (GOAL_REJECTED, GOAL_FRAME_UNKNOWN):
            self._finish(GoalState.FAILED, f"planner refused the goal ({status}): {message or status}", now_ns)
        elif status in PLANNER_TROUBLE:
            if self._trouble_since_ns is None:
                self._trouble_since_ns = now_ns
        elif status in PLANNED:
            self._trouble_since_ns = None
            if self._planned_ns is None:
                self._planned_ns = now_ns

    def observe_controller(self, status: str, now_ns: int, snapshot: bool = False) -> None:
        """A `controller_status` string seen at `now_ns`.

        Args:
            status: the controller's status word.
            now_ns: when it was seen.
            snapshot: True for a periodic report of the current status (the controller's
                /diagnostics), which is not a transition: it is used only until the first
                `controller_status` message arrives, and it never makes a goal_reached fresh.

        """
        status = split_status(status)[0]
        if snapshot and self._controller_heard:
            return  # the event stream is the better source once heard; a late snapshot could undo it
        if not snapshot:
            self._controller_heard = True
        if status != self._controller_status:
            self._controller_status = status
            self._controller_changed_ns = max(now_ns, self.start_ns)
            if status != GOAL_REACHED:
                self._fresh_reached = False
            elif not snapshot and now_ns >= self.start_ns:
                self._fresh_reached = True

    def cancel(self, now_ns: int, reason: str = "canceled") -> None:
        """End a running goal as canceled (its owner gave up on it)."""
        if not self.done:
            self._finish(GoalState.CANCELED, reason, now_ns)

    def fail(self, now_ns: int, reason: str) -> None:
        """End a running goal as failed for a reason found outside the tracker (a stopped clock)."""
        if not self.done:
            self._finish(GoalState.FAILED, reason, now_ns)

    # ------------------------------------------------------------------ judgement
    def update(self, now_ns: int) -> GoalState:
        """Decide where the goal stands at `now_ns`; once ended, the state stays."""
        if self.done:
            return self._state
        cfg = self.config
        distance = self.distance_m
        reached = self._controller_status == GOAL_REACHED and self._reached_counts(now_ns)
        if reached and distance is not None and distance <= cfg.tolerance_m:
            self._finish(GoalState.SUCCEEDED, f"goal reached, {distance:.2f} m from it", now_ns)
        elif self._trouble_since_ns is not None and now_ns - self._trouble_since_ns >= cfg.patience_s * NS_PER_S:
            lasted = (now_ns - self._trouble_since_ns) / NS_PER_S
            detail = (
                f"{self._planner_status}: {self._planner_message}" if self._planner_message else self._planner_status
            )
            self._finish(GoalState.FAILED, f"planner found no way for {lasted:.1f} s ({detail})", now_ns)
        elif reached and distance is not None and now_ns - self._controller_changed_ns >= cfg.patience_s * NS_PER_S:
            self._finish(
                GoalState.FAILED,
                f"controller stopped at the end of its path {distance:.2f} m from the goal, outside the tolerance "
                f"of {cfg.tolerance_m:g} m",
                now_ns,
            )
        elif cfg.timeout_s > 0.0 and now_ns - self.start_ns >= cfg.timeout_s * NS_PER_S:
            where = "no odometry yet" if distance is None else f"{distance:.2f} m from the goal"
            self._finish(GoalState.TIMED_OUT, f"timed out after {cfg.timeout_s:g} s, {where}", now_ns)
        return self._state

    def _reached_counts(self, now_ns: int) -> bool:
        if self._fresh_reached:
            return True
        if self._planned_ns is None:
            return False
        quiet_since = max(self._controller_changed_ns, self._planned_ns)
        return now_ns - quiet_since >= self.config.settle_s * NS_PER_S

    def _finish(self, state: GoalState, reason: str, now_ns: int) -> None:
        self._state, self._reason, self._end_ns = state, reason, now_ns

    # ------------------------------------------------------------------ outputs
    @property
    def done(self) -> bool:
        """Whether the goal has ended (any state but running)."""
        return self._state != GoalState.RUNNING

    @property
    def state(self) -> GoalState:
        """The state as of the last `update` (or `cancel`, or a goal_rejected)."""
        return self._state

    @property
    def distance_m(self) -> float | None:
        """Straight-line distance from the latest pose to the goal; None before any pose."""
        if self._pose is None:
            return None
        return math.hypot(self.goal_xy[0] - self._pose.x_m, self.goal_xy[1] - self._pose.y_m)

    @property
    def pose(self) -> PlanarPose | None:
        """The latest pose given to `observe_pose`."""
        return self._pose

    def elapsed_s(self, now_ns: int) -> float:
        """Time since the goal was sent (frozen at the end once the goal has ended), never negative."""
        end = self._end_ns if self._end_ns is not None else now_ns
        return max(0, end - self.start_ns) / NS_PER_S

    def feedback(self, now_ns: int) -> GoalFeedback:
        """A snapshot for progress lines and action feedback."""
        return GoalFeedback(
            state=self._state,
            elapsed_s=self.elapsed_s(now_ns),
            distance_m=self.distance_m,
            pose=self._pose,
            planner_status=self._planner_status,
            planner_message=self._planner_message,
            controller_status=self._controller_status,
            reason=self._reason,
        )

    def outcome(self, now_ns: int) -> GoalOutcome:
        """The result so far (state running while the goal runs)."""
        return GoalOutcome(self._state, self._reason, self.elapsed_s(now_ns), self.distance_m)
