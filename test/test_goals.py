"""core.goals.planar_goal: the one rule for goal poses, from goal_pose and from NavigateToPose."""

from __future__ import annotations

import math

import pytest

from robot_vision_nav.core.geometry import MAX_POSITION_M
from robot_vision_nav.core.goals import GoalError, planar_goal

HEADING = (0.0, 0.0, math.sin(0.3), math.cos(0.3))  # yaw 0.6


def test_a_goal_is_its_position_and_the_yaw_of_its_quaternion() -> None:
    x, y, yaw = planar_goal((1.0, -2.0), HEADING)
    assert (x, y) == (1.0, -2.0) and yaw == pytest.approx(0.6)


def test_a_zero_quaternion_is_no_heading_only_where_asked() -> None:
    assert planar_goal((1.0, 2.0), (0.0, 0.0, 0.0, 0.0), zero_is_no_heading=True) == (1.0, 2.0, None)
    with pytest.raises(GoalError, match="zero quaternion"):
        planar_goal((1.0, 2.0), (0.0, 0.0, 0.0, 0.0))


@pytest.mark.parametrize(
    ("position", "quaternion", "words"),
    [
        ((math.nan, 0.0), HEADING, "not finite"),
        ((0.0, 0.0), (0.0, 0.0, math.inf, 1.0), "not finite"),
        ((MAX_POSITION_M * 2, 0.0), HEADING, "farther than"),
        ((0.0, 0.0), (0.0, 0.0, 1e300, 1e300), "no usable yaw"),  # finite, but the yaw overflows
    ],
)
def test_unusable_goals_are_refused_saying_why_in_both_modes(
    position: tuple[float, float], quaternion: tuple[float, float, float, float], words: str
) -> None:
    for zero_is_no_heading in (False, True):
        with pytest.raises(GoalError, match=words):
            planar_goal(position, quaternion, zero_is_no_heading=zero_is_no_heading)
