"""planner_node's /diagnostics status: level, message and key/value pairs from the node's values.

A pure function, so the report is tested without a node: WARN with the last problem or the late
inputs, else OK with what the planner is doing (idle, waiting for a first plan, the plan's message).
"""

from __future__ import annotations

from diagnostic_msgs.msg import DiagnosticStatus

from robot_vision_nav.core.plan_step import PlanStep
from robot_vision_nav.ros.latency import InputAges, behind_message


def plan_diagnostics(
    last_problem: str, has_goal: bool, step: PlanStep, ages: InputAges, max_input_age_s: float
) -> tuple[bytes, str, list[tuple[str, str]]]:
    """Level, message and values; `has_goal`: whether a goal is placed in global_frame."""
    behind = behind_message(ages, max_input_age_s)
    plan = step.plan
    if last_problem or behind:
        level, message = DiagnosticStatus.WARN, last_problem or behind
    elif not has_goal:
        level, message = DiagnosticStatus.OK, "idle: no goal"
    else:
        level, message = DiagnosticStatus.OK, (plan.message if plan else "waiting")
    values = [
        ("plans", str(step.times.count)),
        ("plan_ms_last", step.times.last_ms()),
        ("status", str(plan.status) if plan else "none"),
        *ages.key_values(),
    ]
    return level, message, values
