"""controller_node's /diagnostics status: level, message and key/value pairs from the node's values.

A pure function, so the report is tested without a node: WARN with the last problem, the stale
inputs or the late ones, else OK with the controller's status ("idle" before the first).
"""

from __future__ import annotations

from diagnostic_msgs.msg import DiagnosticStatus

from robot_vision_nav.core.pacing import StepTimes
from robot_vision_nav.ros.latency import InputAges, behind_message


def control_diagnostics(
    last_problem: str,
    stale: list[str],
    status: str,
    commands: int,
    times: StepTimes,
    enabled: bool,
    ages: InputAges,
    max_input_age_s: float,
) -> tuple[bytes, str, list[tuple[str, str]]]:
    """Level, message and values; `stale`: the inputs older than their timeout while a plan is followed."""
    behind = behind_message(ages, max_input_age_s)
    if stale or last_problem or behind:
        level, message = DiagnosticStatus.WARN, last_problem or (f"stale: {', '.join(stale)}" if stale else behind)
    else:
        level, message = DiagnosticStatus.OK, status or "idle"
    values = [
        ("status", status),
        ("commands", str(commands)),
        ("step_ms_last", times.last_ms(3)),
        ("enabled", str(enabled)),
        *ages.key_values(),
    ]
    return level, message, values
