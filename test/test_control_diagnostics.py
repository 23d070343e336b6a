"""controller_node's /diagnostics status, assembled from its values without a node."""

from __future__ import annotations

from diagnostic_msgs.msg import DiagnosticStatus

from robot_vision_nav.core.pacing import StepTimes
from robot_vision_nav.ros.control_diagnostics import control_diagnostics
from robot_vision_nav.ros.latency import InputAges


def test_ok_says_the_status_idle_before_the_first_and_the_keys_keep_their_order() -> None:
    ages = InputAges()
    level, message, values = control_diagnostics("", [], "", 0, StepTimes(), True, ages, 0.25)
    assert (level, message) == (DiagnosticStatus.OK, "idle")
    assert values == [("status", ""), ("commands", "0"), ("step_ms_last", "nan"), ("enabled", "True")]
    ages.record("odom", 1_010_000_000, 1_000_000_000)
    level, message, values = control_diagnostics("", [], "tracking", 7, StepTimes(), False, ages, 0.25)
    assert (level, message) == (DiagnosticStatus.OK, "tracking")
    assert [k for k, _ in values] == ["status", "commands", "step_ms_last", "enabled", "age_ms_odom"]
    assert dict(values)["commands"] == "7" and dict(values)["enabled"] == "False"


def test_warns_the_last_problem_first_then_stale_inputs_then_late_ones() -> None:
    ages = InputAges()
    ages.record("costmap", 2_000_000_000, 1_000_000_000)  # 1 s old on arrival
    stale = ["odom", "costmap"]
    assert control_diagnostics("/plan: bad", stale, "x", 0, StepTimes(), True, ages, 0.25)[:2] == (
        DiagnosticStatus.WARN,
        "/plan: bad",
    )
    assert control_diagnostics("", stale, "x", 0, StepTimes(), True, ages, 0.25)[:2] == (
        DiagnosticStatus.WARN,
        "stale: odom, costmap",
    )
    level, message, _ = control_diagnostics("", [], "x", 0, StepTimes(), True, ages, 0.25)
    assert level == DiagnosticStatus.WARN and message.startswith("falling behind:") and "costmap 1000 ms" in message
