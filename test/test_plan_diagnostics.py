"""planner_node's /diagnostics status, assembled from its values without a node."""

from __future__ import annotations

from types import SimpleNamespace

from diagnostic_msgs.msg import DiagnosticStatus

from robot_vision_nav.core.plan_step import PlanStep
from robot_vision_nav.core.planner import PlannerConfig
from robot_vision_nav.ros.latency import InputAges
from robot_vision_nav.ros.plan_diagnostics import plan_diagnostics


def make_step() -> PlanStep:
    return PlanStep(PlannerConfig(), replan_period_s=1.0, odom_max_age_s=0.5, goal_tolerance_m=0.5)


def test_idle_waiting_and_planned_are_ok_with_what_the_planner_does() -> None:
    step, ages = make_step(), InputAges()
    level, message, values = plan_diagnostics("", False, step, ages, 0.25)
    assert (level, message) == (DiagnosticStatus.OK, "idle: no goal")
    assert [k for k, _ in values] == ["plans", "plan_ms_last", "status"]
    assert dict(values)["plans"] == "0" and dict(values)["status"] == "none"
    assert plan_diagnostics("", True, step, ages, 0.25)[:2] == (DiagnosticStatus.OK, "waiting")
    step.plan = SimpleNamespace(message="path of 3.2 m", status="ok")  # type: ignore[assignment]
    level, message, values = plan_diagnostics("", True, step, ages, 0.25)
    assert (level, message, dict(values)["status"]) == (DiagnosticStatus.OK, "path of 3.2 m", "ok")


def test_a_problem_or_a_late_input_warns_the_problem_first() -> None:
    step, ages = make_step(), InputAges()
    ages.record("costmap", 2_000_000_000, 1_000_000_000)  # 1 s old on arrival
    level, message, values = plan_diagnostics("", True, step, ages, 0.25)
    assert level == DiagnosticStatus.WARN and message.startswith("falling behind:") and "costmap 1000 ms" in message
    assert [k for k, _ in values][-1] == "age_ms_costmap"
    assert plan_diagnostics("/odom: bad", True, step, ages, 0.25)[:2] == (DiagnosticStatus.WARN, "/odom: bad")
