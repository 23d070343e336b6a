"""core.goal_tracker: every way a goal ends, and the left-over statuses that must not end it."""

from __future__ import annotations

import pytest

from robot_vision_nav.core.config import ConfigError
from robot_vision_nav.core.goal_tracker import GoalState, GoalTracker, GoalTrackerConfig, split_status

S = 1_000_000_000
T0 = 100 * S  # the goal is sent at t = 100 s


def tracker(controller_status: str = "", **config: float) -> GoalTracker:
    return GoalTracker(2.0, 0.0, T0, GoalTrackerConfig(**config), controller_status=controller_status)


def test_succeeds_on_goal_reached_within_tolerance() -> None:
    t = tracker()
    t.observe_pose(0.0, 0.0)
    t.observe_planner("ok: path of 2.00 m", T0 + S // 10)
    t.observe_controller("following", T0 + S // 5)
    assert t.update(T0 + S) == GoalState.RUNNING
    t.observe_pose(1.9, 0.05)
    t.observe_controller("goal_reached", T0 + 4 * S)
    assert t.update(T0 + 4 * S) == GoalState.SUCCEEDED
    outcome = t.outcome(T0 + 9 * S)
    assert outcome.time_s == pytest.approx(4.0)  # frozen at the end
    assert outcome.distance_m == pytest.approx(0.1118, abs=1e-3)
    assert outcome.as_dict() == {"result": "succeeded", "reason": outcome.reason, "time_s": 4.0, "distance_m": 0.112}


def test_goal_reached_needs_the_pose_within_tolerance() -> None:
    t = tracker(tolerance_m=0.1)
    t.observe_pose(1.8, 0.0)  # 0.2 m short
    t.observe_planner("ok: path", T0 + 1)
    t.observe_controller("goal_reached", T0 + S)
    assert t.update(T0 + 2 * S) == GoalState.RUNNING
    t.observe_pose(1.95, 0.0)
    assert t.update(T0 + 3 * S) == GoalState.SUCCEEDED


def test_goal_reached_without_odometry_is_not_success() -> None:
    t = tracker(timeout_s=10.0)
    t.observe_controller("goal_reached", T0 + S)
    assert t.update(T0 + 5 * S) == GoalState.RUNNING
    assert t.update(T0 + 10 * S) == GoalState.TIMED_OUT
    assert "no odometry" in t.outcome(T0 + 10 * S).reason


def test_left_over_goal_reached_from_another_place_is_not_success() -> None:
    # The controller stood at the previous goal; the robot is 2 m from this one.
    t = tracker(controller_status="goal_reached")
    t.observe_pose(0.0, 0.0)
    t.observe_planner("ok: path", T0 + S // 10)
    assert t.update(T0 + 3 * S) == GoalState.RUNNING
    t.observe_controller("following", T0 + 3 * S)
    assert t.update(T0 + 4 * S) == GoalState.RUNNING


def test_left_over_goal_reached_at_this_place_counts_after_a_plan_and_quiet_time() -> None:
    # Sent to where the robot already stands: the controller has nothing new to say.
    t = tracker(controller_status="goal_reached", settle_s=1.0)
    t.observe_pose(2.0, 0.05)
    assert t.update(T0 + 5 * S) == GoalState.RUNNING  # no plan for this goal yet: the status may be stale
    t.observe_planner("ok: path", T0 + 5 * S)
    assert t.update(T0 + 5 * S + S // 2) == GoalState.RUNNING  # the controller may still react to the plan
    assert t.update(T0 + 6 * S) == GoalState.SUCCEEDED


def test_left_over_goal_reached_then_controller_moves_is_not_success() -> None:
    # Same place, other heading: the controller turns (rotating_to_goal) before it is done.
    t = tracker(controller_status="goal_reached", settle_s=1.0)
    t.observe_pose(2.0, 0.0)
    t.observe_planner("ok: path", T0 + S // 10)
    t.observe_controller("rotating_to_goal", T0 + S // 5)
    assert t.update(T0 + 3 * S) == GoalState.RUNNING
    t.observe_controller("goal_reached", T0 + 3 * S)
    assert t.update(T0 + 3 * S) == GoalState.SUCCEEDED


def test_goal_reached_seen_before_the_goal_was_sent_is_not_fresh() -> None:
    t = tracker()
    t.observe_pose(2.0, 0.0)
    t.observe_controller("goal_reached", T0 - S)  # arrived late, about the previous goal
    assert t.update(T0 + S // 2) == GoalState.RUNNING


def test_snapshot_status_is_never_fresh_and_yields_to_events() -> None:
    t = tracker(settle_s=1.0)
    t.observe_pose(2.0, 0.0)
    t.observe_controller("goal_reached", T0 + S // 10, snapshot=True)
    assert t.update(T0 + S // 2) == GoalState.RUNNING
    t.observe_controller("following", T0 + S // 2)  # an event: from now on snapshots are ignored
    t.observe_controller("goal_reached", T0 + S, snapshot=True)
    t.observe_planner("ok: path", T0 + S)
    assert t.update(T0 + 5 * S) == GoalState.RUNNING
    assert t.feedback(T0 + 5 * S).controller_status == "following"


def test_goal_rejected_fails_at_once_with_the_planner_reason() -> None:
    t = tracker()
    t.observe_planner("goal_rejected: goal refused: it is in frame 'map', expected 'odom'", T0 + S // 10)
    assert t.done and t.state == GoalState.FAILED
    assert t.update(T0 + S) == GoalState.FAILED
    assert "frame 'map', expected 'odom'" in t.outcome(T0 + S).reason


def test_goal_frame_unknown_fails_at_once_and_names_the_status() -> None:
    t = tracker()
    t.observe_planner("goal_frame_unknown: goal refused: no transform from 'map' to 'odom' within 1.0 s", T0 + S // 10)
    assert t.done and t.state == GoalState.FAILED
    reason = t.outcome(T0 + S).reason
    assert "goal_frame_unknown" in reason and "no transform from 'map'" in reason


def test_a_single_no_path_does_not_fail_the_goal() -> None:
    t = tracker(patience_s=5.0)
    t.observe_pose(0.0, 0.0)
    t.observe_planner("no_path: costmap still unknown", T0 + S)
    assert t.update(T0 + 2 * S) == GoalState.RUNNING
    t.observe_planner("ok: path of 2 m", T0 + 3 * S)
    t.observe_planner("no_path: blocked for a moment", T0 + 7 * S)
    assert t.update(T0 + 11 * S) == GoalState.RUNNING  # 4 s since the trouble came back


@pytest.mark.parametrize("status", ["no_path", "start_blocked", "goal_blocked"])
def test_planner_trouble_lasting_past_patience_fails(status: str) -> None:
    t = tracker(patience_s=5.0)
    t.observe_planner(f"{status}: the reason", T0 + S)
    t.observe_planner(f"{status}: the reason", T0 + 3 * S)
    assert t.update(T0 + 5 * S) == GoalState.RUNNING
    assert t.update(T0 + 6 * S) == GoalState.FAILED
    reason = t.outcome(T0 + 6 * S).reason
    assert status in reason and "the reason" in reason and "5.0 s" in reason


def test_planner_statuses_from_before_the_goal_are_ignored() -> None:
    t = tracker(patience_s=1.0)
    t.observe_planner("goal_rejected: about the previous goal", T0 - 1)
    t.observe_planner("no_path: about the previous goal", T0 - 1)
    assert t.update(T0 + 10 * S) == GoalState.RUNNING


def test_controller_stopped_away_from_the_goal_fails_after_patience() -> None:
    t = tracker(tolerance_m=0.1, patience_s=5.0)
    t.observe_pose(1.7, 0.0)
    t.observe_planner("ok: path", T0 + 1)
    t.observe_controller("goal_reached", T0 + S)
    assert t.update(T0 + 5 * S) == GoalState.RUNNING
    assert t.update(T0 + 6 * S) == GoalState.FAILED
    assert "0.30 m from the goal" in t.outcome(T0 + 6 * S).reason


def test_times_out_on_the_given_clock() -> None:
    t = tracker(timeout_s=30.0)
    t.observe_pose(0.5, 0.0)
    assert t.update(T0 + 29 * S) == GoalState.RUNNING
    assert t.update(T0 + 30 * S) == GoalState.TIMED_OUT
    outcome = t.outcome(T0 + 31 * S)
    assert outcome.time_s == 30.0 and outcome.distance_m == 1.5
    assert "1.50 m from the goal" in outcome.reason


def test_no_timeout_when_zero() -> None:
    assert tracker(timeout_s=0.0).update(T0 + 10**6 * S) == GoalState.RUNNING


def test_success_wins_over_a_timeout_at_the_same_moment() -> None:
    t = tracker(timeout_s=5.0)
    t.observe_pose(2.0, 0.0)
    t.observe_controller("goal_reached", T0 + 5 * S)
    assert t.update(T0 + 5 * S) == GoalState.SUCCEEDED


def test_cancel_and_fail_end_a_running_goal_only() -> None:
    t = tracker()
    t.cancel(T0 + S, "canceled by the client")
    t.fail(T0 + 2 * S, "too late")
    assert t.outcome(T0 + 3 * S).as_dict()["result"] == "canceled"
    u = tracker()
    u.fail(T0 + S, "no /clock")
    assert u.state == GoalState.FAILED and u.outcome(T0 + S).reason == "no /clock"


def test_feedback_reports_statuses_and_distance() -> None:
    t = tracker()
    assert t.feedback(T0).distance_m is None
    t.observe_pose(0.0, 0.0, 0.5)
    t.observe_planner("escaped_start: left the inflated cell", T0 + 1)
    t.observe_controller("rotating_to_heading", T0 + 2)
    fb = t.feedback(T0 + 3 * S // 2)
    assert fb.distance_m == 2.0 and fb.elapsed_s == 1.5 and fb.pose is not None and fb.pose.yaw_rad == 0.5
    assert (fb.planner_status, fb.planner_message) == ("escaped_start", "left the inflated cell")
    assert fb.controller_status == "rotating_to_heading" and fb.state == GoalState.RUNNING


def test_clock_going_backwards_never_gives_negative_time() -> None:
    assert tracker().elapsed_s(T0 - 5 * S) == 0.0


def test_bad_goal_and_config_are_refused() -> None:
    with pytest.raises(ValueError, match="finite"):
        GoalTracker(float("nan"), 0.0, 0)
    with pytest.raises(ConfigError, match="tolerance_m"):
        GoalTrackerConfig(tolerance_m=0.0)
    with pytest.raises(ConfigError, match="timeout_s"):
        GoalTrackerConfig(timeout_s=-1.0)


def test_split_status() -> None:
    assert split_status("no_path: a: b") == ("no_path", "a: b")
    assert split_status("following") == ("following", "")
