"""What planner_node does with each costmap, without ROS.

`ReplanPolicy` says when to plan again: at once after a new goal or parameter (`force`), while
there is no plan or the last one failed, every `replan_period_s` of costmap time, and as soon as
the current path runs over a cell the planner would refuse now (`path_blocked`). `PlanStep` is the
node's step on each costmap: check the robot pose is fresh for the costmap's stamp, approach a goal
that sits in a lethal or inscribed cell up to `goal_tolerance_m` (Nav2's GridBased tolerance), and
plan. Its outcome is one of:

- None: no plan is due, the current one stands;
- `NoPose`: no fresh robot pose for this costmap, nothing planned (the node warns naming its pose input);
- `Stop`: no plan can be made now (the goal is blocked beyond the tolerance, or the robot is outside
  this costmap's window); the node publishes an empty plan, so the controller stops;
- `Planned`: a search ran; its `Plan` says whether it found a path.

Times are integer ns of the costmap's stamps. This module must never import ROS.
"""

from __future__ import annotations

from dataclasses import dataclass

from robot_vision_nav.core.geometry import Pose2D
from robot_vision_nav.core.grid import OCC_INSCRIBED, OCC_LETHAL, Grid
from robot_vision_nav.core.pacing import StepTimes
from robot_vision_nav.core.planner import Plan, PlannerConfig, PlannerError, nearest_usable_goal, path_blocked, plan
from robot_vision_nav.core.units import NS_PER_S


class ReplanPolicy:
    """When a new plan is due (see the module docstring); `planned` records each attempt."""

    def __init__(self, period_s: float) -> None:
        self.period_s = period_s
        self.forced = False
        self.stamp_ns: int | None = None  # the costmap stamp of the last attempt that ended in a plan or a stop

    def force(self) -> None:
        """Plan on the next costmap whatever the period (a new goal, new parameters, a goal that moved)."""
        self.forced = True

    def due(self, current: Plan | None, grid: Grid, allow_unknown: bool) -> bool:
        """Whether to plan on `grid`, given the plan in use (None: none)."""
        if (
            self.forced
            or current is None
            or not current.found
            or self.stamp_ns is None
            or grid.stamp_ns - self.stamp_ns >= round(self.period_s * NS_PER_S)
        ):
            return True
        return path_blocked(grid, current.path_xy, allow_unknown)

    def planned(self, stamp_ns: int, searched: bool) -> None:
        """An attempt on the costmap stamped `stamp_ns`; `searched`: a search ran (it ends a forced replan)."""
        self.stamp_ns = stamp_ns
        if searched:
            self.forced = False


@dataclass(frozen=True)
class NoPose:
    """No robot pose fresh enough for this costmap: nothing planned."""

    reason: str


@dataclass(frozen=True)
class Stop:
    """No plan can be made now: `status` and `message` for planner_status, `warning` about `about`."""

    status: str  # goal_blocked | no_path
    message: str
    about: str  # "goal" or "costmap": the input the warning names
    warning: str
    detour: str = ""  # as Planned's: said before the search that found no way


@dataclass(frozen=True)
class Planned:
    """A search ran; `detour`, when set, says the goal is blocked and a nearer point was planned to."""

    plan: Plan
    detour: str = ""


class PlanStep:
    """The planner's state between costmaps: the plan in use, the replan policy, the search times.

    Args:
        config: the search's parameters (assign `config` when they change, and `policy.force()`).
        replan_period_s, odom_max_age_s, goal_tolerance_m: planner_node's parameters of those names
            (assign `policy.period_s`, `odom_max_age_s`, `goal_tolerance_m` when they change).

    """

    def __init__(
        self, config: PlannerConfig, replan_period_s: float, odom_max_age_s: float, goal_tolerance_m: float
    ) -> None:
        self.config = config
        self.policy = ReplanPolicy(replan_period_s)
        self.odom_max_age_s = odom_max_age_s
        self.goal_tolerance_m = goal_tolerance_m
        self.plan: Plan | None = None  # the plan in use: None after a new goal, a stop, a refused goal
        self.times = StepTimes()

    def new_goal(self) -> None:
        """A new goal (or none): the plan in use no longer holds, the next costmap plans."""
        self.plan = None
        self.policy.force()

    def on_costmap(
        self, grid: Grid, goal: tuple[float, float, float], pose: Pose2D | None, pose_source: str, no_pose_why: str
    ) -> NoPose | Stop | Planned | None:
        """Plan from `pose` to `goal` (x, y, yaw in the grid's frame) on `grid` when due (module docstring).

        `pose_source` names where poses come from in messages ("odometry", "robot pose from TF");
        `no_pose_why` says why there is none, when `pose` is None (" received yet", " (why)").
        """
        if not self.policy.due(self.plan, grid, self.config.allow_unknown):
            return None
        if pose is None:
            return NoPose(f"no {pose_source}{no_pose_why}: cannot plan")
        age_s = abs(grid.stamp_ns - pose.stamp_ns) / NS_PER_S
        if age_s > self.odom_max_age_s:
            return NoPose(
                f"stale {pose_source}: {age_s:.3f} s from the costmap stamp "
                f"(odom_max_age_s = {self.odom_max_age_s}); not planning"
            )
        goal_xy = (goal[0], goal[1])
        detour = ""
        row, col = grid.world_to_cell(*goal_xy)
        if grid.contains(row, col) and int(grid.values[row, col]) >= OCC_INSCRIBED:
            # Kept, not forgotten: a cell seen lethal now (a person passing, a misread pixel) may be
            # clear on the next costmap. Meanwhile the robot goes as near as goal_tolerance_m allows
            # (closer, the camera sees the floor better) or stops; whoever sent the goal decides how
            # long to wait (rvn goto and the navigate_to_pose server give up after a while).
            kind = "a lethal" if grid.values[row, col] == OCC_LETHAL else "an inscribed"
            near = nearest_usable_goal(grid, goal_xy, self.goal_tolerance_m, self.config.allow_unknown)
            if near is None:
                problem = (
                    f"goal blocked: ({goal_xy[0]:.2f}, {goal_xy[1]:.2f}) is in {kind} cell and no usable cell is "
                    f"within goal_tolerance_m = {self.goal_tolerance_m}; stopped until it clears"
                )
                return self._stop(grid, "goal_blocked", problem, "goal", problem)
            detour = (
                f"goal blocked: ({goal_xy[0]:.2f}, {goal_xy[1]:.2f}) is in {kind} cell; planning to the nearest "
                f"usable point ({near[0]:.2f}, {near[1]:.2f}) until it clears"
            )
            goal_xy = near
        started = self.times.start()
        try:
            result = plan(grid, (pose.x_m, pose.y_m), goal_xy, self.config)
        except PlannerError as err:  # the robot outside this costmap's window: stop until one covers it
            return self._stop(grid, "no_path", str(err), "costmap", f"no path: {err}", detour)
        self.times.done(started)
        self.plan = result
        self.policy.planned(grid.stamp_ns, searched=True)
        return Planned(result, detour)

    def _stop(self, grid: Grid, status: str, message: str, about: str, warning: str, detour: str = "") -> Stop:
        self.plan = None
        self.policy.planned(grid.stamp_ns, searched=False)
        return Stop(status, message, about, warning, detour)
