"""`rvn goto` over real rclpy: ros.goto.goto and the CLI against a stand-in stack (test/stack_driver.py)."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from geometry_msgs.msg import PoseStamped
from rclpy.context import Context

from robot_vision_nav import cli
from robot_vision_nav.core.geometry import yaw_from_quaternion
from robot_vision_nav.core.goal_tracker import GoalFeedback
from robot_vision_nav.ros.goto import format_progress, format_result, goto
from test.stack_driver import StackDriver, drive_to_goal, spinning, wait_for

pytestmark = pytest.mark.ros
REPO = Path(__file__).resolve().parents[1]


def reject_map_frame(driver: StackDriver, goal: PoseStamped) -> None:
    if goal.header.frame_id != "odom":
        driver.planner(f"goal_rejected: goal refused: it is in frame '{goal.header.frame_id}', expected 'odom'")
    else:
        drive_to_goal(driver, goal)


def plan_but_never_move(driver: StackDriver, goal: PoseStamped) -> None:
    driver.planner("ok: path found")
    driver.controller("following")


def test_goto_succeeds_when_the_robot_arrives_and_the_controller_says_goal_reached(ros_context: Context) -> None:
    driver = StackDriver(ros_context, drive_to_goal)
    seen: list[GoalFeedback] = []
    with spinning(ros_context, driver):
        result = goto(1.5, 0.5, None, timeout_s=30.0, context=ros_context, progress=seen.append)
    assert result["result"] == "succeeded", result
    assert set(result) == {"result", "reason", "time_s", "distance_m"}
    assert result["distance_m"] < 0.3 and 0.0 < result["time_s"] < 30.0
    goal = driver.goals[0]
    assert goal.header.frame_id == "odom"
    assert (goal.pose.position.x, goal.pose.position.y) == (1.5, 0.5)
    q = goal.pose.orientation  # no YAW given: the heading from the robot to the goal
    assert yaw_from_quaternion(q.x, q.y, q.z, q.w) == pytest.approx(math.atan2(0.5, 1.5))
    assert seen and seen[-1].state == "succeeded"
    assert any(fb.controller_status == "following" for fb in seen)
    assert "m to go" in format_progress(seen[0]) and format_result(result).startswith("succeeded in")


def test_goto_sends_the_given_yaw(ros_context: Context) -> None:
    driver = StackDriver(ros_context, drive_to_goal)
    with spinning(ros_context, driver):
        result = goto(0.5, 0.0, -1.0, timeout_s=30.0, context=ros_context)
    assert result["result"] == "succeeded", result
    q = driver.goals[0].pose.orientation
    assert yaw_from_quaternion(q.x, q.y, q.z, q.w) == pytest.approx(-1.0)


def test_goto_to_where_the_robot_stands_succeeds_on_the_controllers_periodic_report(ros_context: Context) -> None:
    # A controller already at rest at this place publishes no controller_status for the new plan
    # (nothing changed); its /diagnostics still says goal_reached.
    def plan_only(driver: StackDriver, goal: PoseStamped) -> None:
        driver.planner("ok: path found")

    driver = StackDriver(ros_context, plan_only, pose=(1.0, 2.0, 0.7), diagnostics_status="goal_reached")
    with spinning(ros_context, driver):
        result = goto(1.1, 2.0, None, timeout_s=30.0, context=ros_context)
    assert result["result"] == "succeeded", result
    q = driver.goals[0].pose.orientation  # already there: the robot's own heading, no turn on the spot
    assert yaw_from_quaternion(q.x, q.y, q.z, q.w) == pytest.approx(0.7)


def test_goto_fails_with_the_planner_reason_on_goal_rejected(ros_context: Context) -> None:
    driver = StackDriver(ros_context, reject_map_frame)
    with spinning(ros_context, driver):
        result = goto(1.0, 0.0, 0.0, frame="map", timeout_s=30.0, context=ros_context)
    assert result["result"] == "failed", result
    assert "frame 'map', expected 'odom'" in result["reason"]
    assert result["time_s"] < 5.0


def test_goto_fails_when_the_planner_finds_no_path_for_longer_than_patience(ros_context: Context) -> None:
    def no_path(driver: StackDriver, goal: PoseStamped) -> None:
        driver.planner("no_path: no path to the goal")

    driver = StackDriver(ros_context, no_path)
    with spinning(ros_context, driver):
        result = goto(1.0, 0.0, 0.0, timeout_s=30.0, patience_s=0.5, context=ros_context)
    assert result["result"] == "failed", result
    assert "no_path" in result["reason"]


def test_goto_times_out(ros_context: Context) -> None:
    driver = StackDriver(ros_context, plan_but_never_move)
    started = time.monotonic()
    with spinning(ros_context, driver):
        result = goto(3.0, 0.0, 0.0, timeout_s=1.0, context=ros_context)
    assert result["result"] == "timed_out", result
    assert 1.0 <= result["time_s"] < 2.0  # node-clock time, judged when the loop next looks
    assert result["distance_m"] == pytest.approx(3.0, abs=0.01)
    assert time.monotonic() - started < 15.0


def test_goto_times_out_in_simulated_time_with_use_sim_time(ros_context: Context) -> None:
    driver = StackDriver(ros_context, plan_but_never_move, sim_clock_rate=10.0)
    started = time.monotonic()
    with spinning(ros_context, driver):
        result = goto(3.0, 0.0, 0.0, timeout_s=10.0, use_sim_time=True, context=ros_context)
    wall_s = time.monotonic() - started
    assert result["result"] == "timed_out", result
    assert 10.0 <= result["time_s"] < 15.0  # simulated seconds ...
    assert wall_s < 8.0  # ... ten times faster than the wall clock (plus start-up)


def test_goto_gives_up_waiting_when_no_planner_listens(ros_context: Context) -> None:
    driver = StackDriver(ros_context, subscribe_goal=False)
    with spinning(ros_context, driver):
        result = goto(1.0, 0.0, 0.0, wait_s=1.0, context=ros_context)
    assert result["result"] == "failed"
    assert "goal_pose" in result["reason"] and "planner_node" in result["reason"]
    assert driver.goals == []


def test_goto_refuses_non_finite_goals() -> None:
    with pytest.raises(ValueError, match="finite"):
        goto(float("nan"), 0.0)


def test_interrupt_sends_a_stop_goal_at_the_robot_pose(ros_context: Context) -> None:
    driver = StackDriver(ros_context, drive_to_goal, speed_mps=0.5)

    def interrupt(feedback: GoalFeedback) -> None:
        if feedback.distance_m is not None and feedback.distance_m < 9.5:
            raise KeyboardInterrupt

    with spinning(ros_context, driver):
        with pytest.raises(KeyboardInterrupt):
            goto(10.0, 0.0, 0.0, timeout_s=60.0, context=ros_context, progress=interrupt)
        assert wait_for(lambda: driver.goal_count() == 2, 5.0)
    stop = driver.goals[1].pose.position
    assert 0.3 < stop.x < 2.0 and stop.y == pytest.approx(0.0)


# ---------------------------------------------------------------------------------------- CLI
@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["goto", "nan", "1"], "expected a finite number"),
        (["goto", "1", "inf"], "expected a finite number"),
        (["goto", "1", "2", "nan"], "expected a finite number"),
        (["goto", "1"], "the following arguments are required"),
        (["goto", "1", "2", "--tolerance", "0"], "must be > 0"),
        (["goto", "1", "2", "--timeout", "-1"], "argument --timeout"),
        (["goto", "1", "2", "--frame", ""], "argument --frame"),
    ],
)
def test_cli_goto_refuses_bad_arguments_with_exit_2(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1 and err.startswith("rvn goto: error:")


def test_cli_goto_prints_one_json_line_and_exits_0_on_success(
    ros_context: Context, capsys: pytest.CaptureFixture[str]
) -> None:
    driver = StackDriver(ros_context, drive_to_goal)
    with spinning(ros_context, driver):
        code = cli.main(["goto", "1", "-0.5", "--json", "--timeout", "30"])
    out, err = capsys.readouterr()
    assert code == 0, (out, err)
    result = json.loads(out)
    assert result["result"] == "succeeded" and set(result) == {"result", "reason", "time_s", "distance_m"}
    assert "rvn goto:" in err and "m to go" in err  # progress on stderr


def test_cli_goto_exits_1_on_failure(ros_context: Context, capsys: pytest.CaptureFixture[str]) -> None:
    driver = StackDriver(ros_context, reject_map_frame)
    with spinning(ros_context, driver):
        code = cli.main(["goto", "1", "0", "--frame", "map"])
    out, _ = capsys.readouterr()
    assert code == 1
    assert out.startswith("rvn goto: failed after") and "frame 'map'" in out


def test_cli_goto_ctrl_c_exits_130_without_traceback_and_stops_the_robot(ros_context: Context) -> None:
    driver = StackDriver(ros_context, drive_to_goal, speed_mps=0.5)
    with spinning(ros_context, driver):
        proc = subprocess.Popen(
            [sys.executable, "-m", "robot_vision_nav.cli", "goto", "20", "0"],
            cwd=REPO,
            env=dict(os.environ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert wait_for(lambda: driver.goal_count() >= 1, 60.0), "rvn goto sent no goal"
            time.sleep(0.5)
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=30.0)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert wait_for(lambda: driver.goal_count() == 2, 5.0), err
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in err and "interrupted" in err
    assert driver.goals[1].pose.position.x < 5.0
