"""planner_node's step on each costmap: replan policy, pose checks, blocked goals (core only, no ROS)."""

from __future__ import annotations

import numpy as np

from robot_vision_nav.core.geometry import Pose2D
from robot_vision_nav.core.grid import Grid
from robot_vision_nav.core.plan_step import NoPose, Planned, PlanStep, ReplanPolicy, Stop
from robot_vision_nav.core.planner import PlannerConfig

SEC = 1_000_000_000
RES = 0.05


def grid(stamp_ns: int, lethal: tuple[slice, slice] | None = None) -> Grid:
    """A 4 m x 4 m free grid at the origin, with an optional lethal block (rows, cols)."""
    values = np.zeros((80, 80), np.int8)
    if lethal is not None:
        values[lethal] = 100
    return Grid(values, RES, stamp_ns=stamp_ns)


def step() -> PlanStep:
    return PlanStep(PlannerConfig(), replan_period_s=1.0, odom_max_age_s=0.5, goal_tolerance_m=0.5)


GOAL = (3.5, 2.0, 0.0)


def at(stamp_ns: int) -> Pose2D:
    return Pose2D(0.5, 2.0, 0.0, stamp_ns)


def test_a_new_goal_plans_on_the_next_costmap_then_only_every_period() -> None:
    s = step()
    s.new_goal()
    first = s.on_costmap(grid(1 * SEC), GOAL, at(1 * SEC), "odometry", " received yet")
    assert isinstance(first, Planned) and first.plan.found and first.detour == ""
    assert s.on_costmap(grid(1 * SEC + SEC // 2), GOAL, at(1 * SEC + SEC // 2), "odometry", "") is None
    assert isinstance(s.on_costmap(grid(2 * SEC), GOAL, at(2 * SEC), "odometry", ""), Planned)
    assert s.times.count == 2


def test_a_blocked_path_replans_before_the_period() -> None:
    s = step()
    first = s.on_costmap(grid(1 * SEC), GOAL, at(1 * SEC), "odometry", "")
    assert isinstance(first, Planned)
    blocked = grid(1 * SEC + SEC // 10, lethal=(slice(38, 42), slice(30, 34)))  # on the straight path
    assert isinstance(s.on_costmap(blocked, GOAL, at(1 * SEC + SEC // 10), "odometry", ""), Planned)


def test_no_pose_or_a_stale_one_plans_nothing_and_names_the_source() -> None:
    s = step()
    none = s.on_costmap(grid(1 * SEC), GOAL, None, "robot pose from TF", " (no transform)")
    assert isinstance(none, NoPose) and none.reason == "no robot pose from TF (no transform): cannot plan"
    stale = s.on_costmap(grid(2 * SEC), GOAL, at(1 * SEC), "odometry", "")
    assert isinstance(stale, NoPose) and stale.reason.startswith("stale odometry: 1.000 s from the costmap stamp")
    assert s.plan is None and s.times.count == 0


def test_a_goal_in_a_lethal_cell_is_approached_within_the_tolerance_or_stops() -> None:
    block = (slice(36, 45), slice(66, 75))  # around the goal cell (row 40, col 70)
    near = step().on_costmap(grid(1 * SEC, lethal=block), GOAL, at(1 * SEC), "odometry", "")
    assert isinstance(near, Planned) and near.detour.startswith("goal blocked: (3.50, 2.00) is in a lethal cell")
    s = PlanStep(PlannerConfig(), replan_period_s=1.0, odom_max_age_s=0.5, goal_tolerance_m=0.0)
    stop = s.on_costmap(grid(1 * SEC, lethal=block), GOAL, at(1 * SEC), "odometry", "")
    assert isinstance(stop, Stop) and (stop.status, stop.about) == ("goal_blocked", "goal")
    assert s.plan is None and s.policy.forced is False


def test_a_robot_outside_the_window_stops_with_no_path() -> None:
    stop = step().on_costmap(grid(1 * SEC), GOAL, Pose2D(-5.0, 2.0, 0.0, 1 * SEC), "odometry", "")
    assert isinstance(stop, Stop) and (stop.status, stop.about) == ("no_path", "costmap")
    assert stop.warning == f"no path: {stop.message}"


def test_replan_policy_forced_lasts_until_a_search_ran() -> None:
    policy = ReplanPolicy(1.0)
    policy.force()
    policy.planned(1 * SEC, searched=False)  # a stop: the next costmap tries again
    assert policy.forced
    policy.planned(2 * SEC, searched=True)
    assert not policy.forced and policy.stamp_ns == 2 * SEC
