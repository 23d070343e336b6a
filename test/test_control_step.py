"""controller_node's step: command pacing by pose stamps, dt, and the watchdog's freshness rule (no ROS)."""

from __future__ import annotations

import numpy as np

from robot_vision_nav.core.control_step import ControlStep, Timeouts
from robot_vision_nav.core.controller import Command, ControllerConfig
from robot_vision_nav.core.geometry import Pose2D

MS = 1_000_000
SEC = 1000 * MS
PATH = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]])


def ready(rate_hz: float = 20.0) -> ControlStep:
    """A step with a plan and every input fresh at t = 1 s."""
    step = ControlStep(ControllerConfig(), rate_hz, Timeouts(plan_s=2.0, odom_s=0.5, costmap_s=1.0))
    assert step.set_plan(PATH, 0.0) == ""
    for name in ("plan", "odom", "costmap"):
        step.received(name, 1 * SEC)
    return step


def test_commands_are_paced_by_pose_stamps() -> None:
    step = ready()
    out = [step.on_pose(Pose2D(0.0, 0.0, 0.0, 1 * SEC + t * 10 * MS), 1 * SEC, True) for t in range(10)]
    assert [isinstance(c, Command) for c in out] == [True, False, False, False, False, True, False, False, False, False]
    assert step.times.count == 2 and step.last_pose_ns == 1 * SEC + 90 * MS


def test_no_command_while_disabled_without_a_plan_or_on_stale_input() -> None:
    step = ready()
    assert step.on_pose(Pose2D(0.0, 0.0, 0.0, 1 * SEC), 1 * SEC, enabled=False) is None
    step = ready()
    assert step.stale_inputs(1 * SEC + 600 * MS) == ["odom"]  # odom's 0.5 s passed, the others' not
    assert step.on_pose(Pose2D(0.0, 0.0, 0.0, 2 * SEC), 1 * SEC + 600 * MS, True) is None
    step = ready()
    step.drop_plan()
    assert step.on_pose(Pose2D(0.0, 0.0, 0.0, 1 * SEC), 1 * SEC, True) is None
    assert step.stale_inputs(10 * SEC) == ["odom", "costmap"]  # the plan is not judged without one


def test_a_refused_plan_says_why_and_leaves_no_plan() -> None:
    step = ready()
    problem = step.set_plan(np.array([[0.0, 0.0], [np.nan, 0.0]]), 0.0)
    assert problem and not step.has_plan
