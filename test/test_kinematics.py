"""core/kinematics: the exact unicycle step and the closed-loop simulation the controller tests use."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robot_vision_nav.core.geometry import Pose2D, wrap_angle
from robot_vision_nav.core.grid import Grid
from robot_vision_nav.core.kinematics import KinematicsError, simulate, step_unicycle

FAST = settings(max_examples=200, derandomize=True, deadline=None, database=None)

poses = st.builds(
    Pose2D,
    st.floats(-50.0, 50.0),
    st.floats(-50.0, 50.0),
    st.floats(-math.pi, math.pi, exclude_max=True),
    st.integers(0, 10**15),
)
speeds = st.floats(-2.0, 2.0)
rates = st.floats(-6.0, 6.0)
steps = st.floats(0.0, 0.5)


def same_pose(a: Pose2D, b: Pose2D, tol: float = 1e-9) -> bool:
    return abs(a.x_m - b.x_m) <= tol and abs(a.y_m - b.y_m) <= tol and abs(wrap_angle(a.yaw_rad - b.yaw_rad)) <= tol


def test_straight_line_moves_along_the_heading_and_advances_the_stamp() -> None:
    end = step_unicycle(Pose2D(1.0, 2.0, math.pi / 2, 1_000), 0.5, 0.0, 2.0)
    assert end.x_m == pytest.approx(1.0, abs=1e-12)
    assert end.y_m == pytest.approx(3.0)
    assert end.yaw_rad == pytest.approx(math.pi / 2)
    assert end.stamp_ns == 1_000 + 2_000_000_000


def test_rotation_in_place_changes_only_the_yaw() -> None:
    end = step_unicycle(Pose2D(1.0, 2.0, 3.0), 0.0, 1.0, 0.5)
    assert (end.x_m, end.y_m) == (1.0, 2.0)
    assert end.yaw_rad == pytest.approx(wrap_angle(3.5))


def test_quarter_circle_lands_on_the_circle() -> None:
    # v = 1 m/s, w = 1 rad/s: radius 1 m, centre at (0, 1); a quarter turn ends at (1, 1) facing +y.
    end = step_unicycle(Pose2D(0.0, 0.0, 0.0), 1.0, 1.0, math.pi / 2)
    assert (end.x_m, end.y_m, end.yaw_rad) == pytest.approx((1.0, 1.0, math.pi / 2))


def test_full_circle_returns_to_the_start() -> None:
    end = step_unicycle(Pose2D(0.3, -0.2, 0.7), 0.8, -2.0, math.pi)
    assert same_pose(end, Pose2D(0.3, -0.2, 0.7), 1e-12)


@FAST
@given(poses, speeds, rates, steps, st.floats(0.0, 1.0))
def test_two_parts_of_a_step_make_the_whole_step(pose: Pose2D, v: float, w: float, dt: float, part: float) -> None:
    # Exact integration composes: what a fine-grained simulation does equals one big step.
    whole = step_unicycle(pose, v, w, dt)
    halves = step_unicycle(step_unicycle(pose, v, w, part * dt), v, w, (1.0 - part) * dt)
    assert same_pose(whole, halves, 1e-9)


@FAST
@given(poses, speeds, rates, steps)
def test_matches_fine_euler_integration(pose: Pose2D, v: float, w: float, dt: float) -> None:
    x, y, yaw = pose.x_m, pose.y_m, pose.yaw_rad
    n = 2000
    h = dt / n
    for _ in range(n):  # midpoint rule: second order, converged far below the tolerance
        mid = yaw + 0.5 * w * h
        x, y, yaw = x + v * h * math.cos(mid), y + v * h * math.sin(mid), yaw + w * h
    end = step_unicycle(pose, v, w, dt)
    assert same_pose(end, Pose2D(x, y, yaw), 1e-6)


@FAST
@given(poses, speeds, rates, steps)
def test_distance_travelled_never_exceeds_speed_times_time(pose: Pose2D, v: float, w: float, dt: float) -> None:
    end = step_unicycle(pose, v, w, dt)
    assert math.hypot(end.x_m - pose.x_m, end.y_m - pose.y_m) <= abs(v) * dt + 1e-12


@pytest.mark.parametrize(
    ("v", "w", "dt", "word"),
    [(math.nan, 0.0, 0.1, "velocities"), (0.0, math.inf, 0.1, "velocities"), (1.0, 0.0, -0.1, "time step"),
     (1.0, 0.0, math.nan, "time step"), (1.0, 0.0, math.inf, "time step")],
)  # fmt: skip
def test_bad_step_input_is_refused_with_what_was_wrong(v: float, w: float, dt: float, word: str) -> None:
    with pytest.raises(KinematicsError, match=word):
        step_unicycle(Pose2D(0.0, 0.0, 0.0), v, w, dt)


@dataclass(frozen=True)
class _Cmd:
    linear_mps: float
    angular_rps: float
    status: str


class _Constant:
    """Drives at a constant command, saying `goal_reached` after `n` calls; records the grids it saw."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.calls = 0
        self.grids: list[Grid | None] = []

    def compute(self, pose: Pose2D, grid: Grid | None, dt_s: float) -> _Cmd:
        self.calls += 1
        self.grids.append(grid)
        done = self.calls >= self.n
        return _Cmd(0.0 if done else 1.0, 0.0, "goal_reached" if done else "following")


def test_simulate_steps_the_robot_by_each_command_and_stops_when_told() -> None:
    traj = simulate(_Constant(5), Pose2D(0.0, 0.0, 0.0), 0.1, 100)
    assert traj.done
    assert len(traj.commands) == 5 and len(traj.poses) == 6 and len(traj.grids) == 5
    assert traj.poses[-1].x_m == pytest.approx(0.4)
    assert traj.poses[-1].stamp_ns == 500_000_000


def test_simulate_gives_out_after_max_steps_and_uses_the_grid_schedule() -> None:
    a = Grid(np.zeros((2, 2), dtype=np.int8), 1.0)
    b = Grid(np.ones((2, 2), dtype=np.int8), 1.0)
    ctl = _Constant(100)
    traj = simulate(ctl, Pose2D(0.0, 0.0, 0.0), 0.1, 4, grid_at_step=lambda k, _pose: a if k < 2 else b)
    assert not traj.done and len(traj.commands) == 4
    assert ctl.grids == [a, a, b, b] == traj.grids


def test_simulate_refuses_a_bad_step() -> None:
    with pytest.raises(KinematicsError, match="simulation step"):
        simulate(_Constant(1), Pose2D(0.0, 0.0, 0.0), 0.0, 10)
    with pytest.raises(KinematicsError, match="max_steps"):
        simulate(_Constant(1), Pose2D(0.0, 0.0, 0.0), 0.1, -1)
