"""ros/warn.py: the throttled warnings every node gives about bad input."""

from __future__ import annotations

import time

from robot_vision_nav.ros.warn import ThrottledWarnings


class Lines:
    """Collects what would go to the node's logger."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def warning(self, text: str) -> None:
        self.lines.append(text)


def test_one_warning_per_kind_and_topic_per_period_and_the_last_problem_for_diagnostics() -> None:
    log = Lines()
    w = ThrottledWarnings(log)
    w.warn("/odom", "wrong frame: odometry is in 'map'", 60.0)
    w.warn("/odom", "wrong frame: odometry is in 'world'", 60.0)  # same kind, same topic: not logged
    w.warn("/plan", "wrong frame: plan is in 'map'", 60.0)  # another topic
    w.warn("/odom", "non-finite pose", 60.0)  # another kind
    assert log.lines == ["/odom: wrong frame: odometry is in 'map'", "/plan: wrong frame: plan is in 'map'",
                         "/odom: non-finite pose"]  # fmt: skip
    assert w.take_last_problem() == "/odom: non-finite pose"
    assert w.take_last_problem() == ""  # taken: the next diagnostics say nothing unless a new one comes


def test_the_period_runs_out_and_zero_logs_every_time() -> None:
    log = Lines()
    w = ThrottledWarnings(log)
    for _ in range(3):
        w.warn("/camera", "bad image: short data", 0.0)
    assert len(log.lines) == 3
    w.warn("/depth", "stale", 0.05)
    w.warn("/depth", "stale", 0.05)
    time.sleep(0.06)
    w.warn("/depth", "stale", 0.05)
    assert log.lines[3:] == ["/depth: stale"] * 2


def test_an_explicit_kind_and_no_topic() -> None:
    log = Lines()
    w = ThrottledWarnings(log)
    w.warn("", "/cmd_vel: non-finite command (nan, 0.0) ignored", 60.0, kind="cmd")
    w.warn("", "/cmd_vel: non-finite command (inf, 0.0) ignored", 60.0, kind="cmd")
    assert log.lines == ["/cmd_vel: non-finite command (nan, 0.0) ignored"]
    assert w.last_problem == "/cmd_vel: non-finite command (inf, 0.0) ignored"
