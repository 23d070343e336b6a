"""core/controller: regulated pure pursuit in closed loop with the unicycle model, and piece by piece.

Closed-loop property tests drive random worlds (random boxes inflated as Nav2 does, a shortest path
from a scipy Dijkstra oracle in sim/scenarios.py, not our planner) and check what issue 3 asks:
the goal is reached within tolerance, no pose ever lies in an inscribed or lethal cell, no velocity
or acceleration limit is ever exceeded, and an obstacle that appears on the path stops the robot
before it. Unit tests then pin each part: lookahead, carrot, each regulation, rotate-in-place,
goal tolerances, the smoother, bad input.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from robot_vision_nav.core.config import ConfigError, param_info
from robot_vision_nav.core.controller import (
    COLLISION_AHEAD,
    FOLLOWING,
    GOAL_REACHED,
    NO_PLAN,
    ROTATING_TO_GOAL,
    ROTATING_TO_HEADING,
    STOPPING,
    Command,
    ControllerConfig,
    ControllerError,
    RegulatedPurePursuit,
)
from robot_vision_nav.core.costmap import COST_TO_OCCUPANCY
from robot_vision_nav.core.geometry import GeometryError, Pose2D, wrap_angle
from robot_vision_nav.core.grid import Grid
from robot_vision_nav.core.kinematics import Trajectory, simulate, step_unicycle
from robot_vision_nav.sim.scenarios import inflated_grid, random_scenario

# Fixed, bounded property runs: the same examples every run, and the whole file well under 30 s.
CLOSED_LOOP = settings(
    max_examples=60, derandomize=True, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
RANDOM_INPUTS = settings(max_examples=150, derandomize=True, deadline=None, database=None)

RES = 0.05
INSCRIBED_M = 0.2  # sim.scenarios.inflated_grid's default robot radius
# Accelerations high enough that one 0.1 s step reaches any target: shows the raw regulated command.
UNLIMITED = {"max_linear_accel_mps2": 50.0, "max_linear_decel_mps2": 50.0, "max_angular_accel_rps2": 100.0}
EPS = 1e-9


def config(**overrides: Any) -> ControllerConfig:
    """Defaults with the test worlds' inscribed radius and tighter goal tolerances."""
    base: dict[str, Any] = {"inscribed_radius_m": INSCRIBED_M, "xy_goal_tolerance_m": 0.1,
                            "yaw_goal_tolerance_rad": 0.1}  # fmt: skip
    return ControllerConfig(**(base | overrides))


def straight_path(x0: float, x1: float, y: float = 0.0, step: float = RES) -> NDArray[np.float64]:
    xs = np.arange(x0, x1 + step / 2, step)
    return np.column_stack((xs, np.full_like(xs, y)))


def free_grid(rows: int = 60, cols: int = 200, origin: tuple[float, float] = (0.0, 0.0)) -> Grid:
    return Grid(np.zeros((rows, cols), dtype=np.int8), RES, origin[0], origin[1])


def box_grid(shape: tuple[int, int], x: tuple[float, float], y: tuple[float, float]) -> Grid:
    """A grid with one lethal box (world metres, origin 0), inflated with the test radius."""
    lethal = np.zeros(shape, dtype=bool)
    lethal[round(y[0] / RES) : round(y[1] / RES), round(x[0] / RES) : round(x[1] / RES)] = True
    return inflated_grid(lethal, RES, INSCRIBED_M)


def limit_violations(commands: Sequence[Command], cfg: ControllerConfig, dt: float,
                     prev: tuple[float, float] = (0.0, 0.0)) -> list[str]:  # fmt: skip
    """Every velocity or acceleration limit a command sequence breaks, described."""
    bad: list[str] = []
    pv, pw = prev
    for k, c in enumerate(commands):
        if abs(c.linear_mps) > cfg.desired_linear_vel_mps + EPS or abs(c.angular_rps) > cfg.max_angular_vel_rps + EPS:
            bad.append(f"step {k}: velocity ({c.linear_mps}, {c.angular_rps}) over its limit")
        speeding_up = abs(c.linear_mps) >= abs(pv) and c.linear_mps * pv >= 0.0
        lin = (cfg.max_linear_accel_mps2 if speeding_up else cfg.max_linear_decel_mps2) * dt
        if abs(c.linear_mps - pv) > lin + EPS:
            bad.append(f"step {k}: linear {pv} -> {c.linear_mps} in {dt} s ({c.status})")
        if abs(c.angular_rps - pw) > cfg.max_angular_accel_rps2 * dt + EPS:
            bad.append(f"step {k}: angular {pw} -> {c.angular_rps} in {dt} s ({c.status})")
        pv, pw = c.linear_mps, c.angular_rps
    return bad


def blocked_poses(traj: Trajectory, threshold: int = 99) -> list[str]:
    """Poses (and the midpoints of each step's arc) in a cell at or above `threshold` of the grid in force."""
    bad: list[str] = []
    for k, (command, grid) in enumerate(zip(traj.commands, traj.grids, strict=True)):
        if grid is None:
            continue
        start = traj.poses[k]
        dt = (traj.poses[k + 1].stamp_ns - start.stamp_ns) * 1e-9
        for frac in (0.25, 0.5, 0.75, 1.0):
            p = step_unicycle(start, command.linear_mps, command.angular_rps, frac * dt)
            if grid.value_at(p.x_m, p.y_m) >= threshold:
                bad.append(f"step {k}: ({p.x_m:.3f}, {p.y_m:.3f}) in a cell of value {grid.value_at(p.x_m, p.y_m)}")
    return bad


def run(ctl: RegulatedPurePursuit, start: Pose2D, dt: float, seconds: float, grid: Grid | None = None,
        **kwargs: Any) -> Trajectory:  # fmt: skip
    return simulate(ctl, start, dt, round(seconds / dt), grid, **kwargs)


# ======================================================================== closed loop
@CLOSED_LOOP
@given(
    seed=st.integers(0, 100_000),
    speed=st.floats(0.25, 1.0),
    dt=st.sampled_from([0.02, 0.05, 0.1]),
    accel=st.floats(0.5, 3.0),
    decel=st.floats(0.5, 3.0),
    angular_accel=st.floats(1.0, 5.0),
    with_yaw=st.booleans(),
    boxes=st.integers(4, 16),
    clearance=st.sampled_from([0.0, 0.05, 0.15]),
)
def test_reaches_random_goals_without_entering_blocked_cells_or_breaking_limits(
    seed: int,
    speed: float,
    dt: float,
    accel: float,
    decel: float,
    angular_accel: float,
    with_yaw: bool,
    boxes: int,
    clearance: float,
) -> None:
    # clearance 0: paths brush the inscribed cells, where pure pursuit's corner cutting has to be caught.
    grid, start, path, goal_yaw = random_scenario(seed, 120, 120, n_boxes=boxes, clearance_m=clearance)
    cfg = config(desired_linear_vel_mps=speed, max_linear_accel_mps2=accel, max_linear_decel_mps2=decel,
                 max_angular_accel_rps2=angular_accel)  # fmt: skip
    ctl = RegulatedPurePursuit(cfg)
    ctl.set_plan(path, goal_yaw if with_yaw else None)
    traj = run(ctl, start, dt, 120.0, grid)

    assert traj.done, f"not at the goal after 120 s: last status {traj.commands[-1].status}"
    assert ctl.goal_reached
    end = traj.poses[-1]
    assert math.dist((end.x_m, end.y_m), path[-1]) <= cfg.xy_goal_tolerance_m
    if with_yaw:
        assert abs(wrap_angle(end.yaw_rad - goal_yaw)) <= cfg.yaw_goal_tolerance_rad
    assert blocked_poses(traj) == []
    assert limit_violations(traj.commands, cfg, dt) == []
    assert all(c.linear_mps >= 0.0 for c in traj.commands)


def appearing_box_run(
    gap_m: float, dt: float, speed: float, seconds: float, remove_after_s: float | None = None
) -> tuple[Trajectory, ControllerConfig, list[float]]:
    """Drive along y = 1.5; once at x >= 2, a box appears with its inscribed edge `gap_m` ahead.

    Returns the run, the config and [x of the inscribed edge] once the box has appeared.
    """
    cfg = config(desired_linear_vel_mps=speed)
    ctl = RegulatedPurePursuit(cfg)
    ctl.set_plan(straight_path(0.5, 9.5, 1.5))
    free = free_grid()
    edge: list[float] = []
    boxed: list[Grid] = []
    appeared_at: list[int] = []

    def grid_at(step: int, pose: Pose2D) -> Grid:
        if not boxed and pose.x_m >= 2.0:
            x0 = pose.x_m + gap_m + INSCRIBED_M
            boxed.append(box_grid(free.shape, (x0, x0 + 0.3), (1.3, 1.7)))
            row, _ = free.world_to_cell(0.0, 1.5)
            edge.append(float(np.flatnonzero(boxed[0].values[row] >= 99)[0]) * RES)
            appeared_at.append(step)
        if not boxed:
            return free
        if remove_after_s is not None and (step - appeared_at[0]) * dt >= remove_after_s:
            return free
        return boxed[0]

    return run(ctl, Pose2D(0.5, 1.5, 0.0), dt, seconds, grid_at_step=grid_at, until=lambda c: False), cfg, edge


@CLOSED_LOOP
@given(extra=st.floats(0.0, 2.5), dt=st.sampled_from([0.02, 0.05, 0.1]), speed=st.floats(0.25, 1.0))
def test_stops_within_limits_before_an_obstacle_that_appears_on_the_path(extra: float, dt: float, speed: float) -> None:
    # Appearing beyond the braking distance (this step, then braking at the default 2.5 m/s^2) plus a cell.
    gap = speed * dt + speed**2 / (2.0 * 2.5) + RES + extra
    traj, cfg, edge = appearing_box_run(gap, dt, speed, seconds=(1.5 + gap) / speed + 4.0)
    assert edge, "the robot never got to x = 2 m"
    assert blocked_poses(traj) == []
    # Seen beyond the braking distance: stopped within the deceleration limit, no hard stop needed.
    assert limit_violations(traj.commands, cfg, dt) == []
    last = traj.commands[-round(2.0 / dt) :]
    assert all(c.linear_mps == 0.0 and c.angular_rps == 0.0 and c.status == COLLISION_AHEAD for c in last)
    assert 0.0 < edge[0] - traj.poses[-1].x_m <= cfg.max_lookahead_m


@CLOSED_LOOP
@given(gap=st.floats(0.06, 0.2), dt=st.sampled_from([0.02, 0.05, 0.1]), speed=st.floats(0.25, 1.0))
def test_an_obstacle_appearing_inside_the_braking_distance_is_still_never_entered(
    gap: float, dt: float, speed: float
) -> None:
    # From one cell ahead of the robot (an obstacle mapped onto the robot itself is another case: see
    # test_a_robot_already_in_an_inscribed_cell_may_drive_out_but_not_deeper).
    traj, _, edge = appearing_box_run(gap, dt, speed, seconds=1.5 / speed + 3.0)
    assert edge
    assert blocked_poses(traj) == []
    assert traj.commands[-1].linear_mps == 0.0 and traj.commands[-1].status == COLLISION_AHEAD


def test_robot_drives_on_to_the_goal_when_the_obstacle_goes_away() -> None:
    traj, cfg, _ = appearing_box_run(1.0, 0.05, 0.5, seconds=40.0, remove_after_s=5.0)
    statuses = [c.status for c in traj.commands]
    assert COLLISION_AHEAD in statuses and statuses[-1] == GOAL_REACHED
    assert math.dist((traj.poses[-1].x_m, traj.poses[-1].y_m), (9.5, 1.5)) <= cfg.xy_goal_tolerance_m
    assert limit_violations(traj.commands, cfg, 0.05) == []


def test_hard_stop_when_braking_within_the_limits_would_not_be_enough() -> None:
    # At 0.5 m/s, braking at 2.5 m/s^2 after this 0.05 s step needs 0.019 + 0.028 m at best: an inscribed cell
    # 0.01 m ahead cannot be avoided within the deceleration limit, so the command drops to zero at once
    # (documented: safety wins over the limit).
    cfg = config()
    ctl = RegulatedPurePursuit(cfg)
    ctl.set_plan(straight_path(0.5, 9.5, 1.5))
    ctl.reset(0.5, 0.0)
    grid = box_grid((60, 200), (3.2, 3.5), (1.3, 1.7))
    assert grid.value_at(2.99, 1.5) < 99 <= grid.value_at(3.0, 1.5)
    cmd = ctl.compute(Pose2D(2.99, 1.5, 0.0), grid, 0.05)
    assert (cmd.linear_mps, cmd.angular_rps, cmd.status) == (0.0, 0.0, COLLISION_AHEAD)
    assert limit_violations([cmd], cfg, 0.05, prev=(0.5, 0.0)) != []  # it does break the decel limit, on purpose


def test_obstacle_seen_in_time_is_braked_for_within_the_limit() -> None:
    cfg = config()
    ctl = RegulatedPurePursuit(cfg)
    ctl.set_plan(straight_path(0.5, 9.5, 1.5))
    ctl.reset(0.5, 0.0)
    grid = box_grid((60, 200), (3.2, 3.5), (1.3, 1.7))  # inscribed from x = 3.0, 0.4 m ahead
    cmd = ctl.compute(Pose2D(2.6, 1.5, 0.0), grid, 0.05)
    assert cmd.status == COLLISION_AHEAD
    assert cmd.linear_mps == pytest.approx(0.5 - cfg.max_linear_decel_mps2 * 0.05)


# ================================================================ limits under any input
@RANDOM_INPUTS
@given(st.data())
def test_no_command_ever_breaks_a_limit_except_a_hard_stop_to_exactly_zero(data: st.DataObject) -> None:
    cfg = config(
        desired_linear_vel_mps=data.draw(st.floats(0.25, 2.0)), max_angular_vel_rps=data.draw(st.floats(1.9, 4.0)),
        max_linear_accel_mps2=data.draw(st.floats(0.1, 5.0)), max_linear_decel_mps2=data.draw(st.floats(0.5, 5.0)),
        max_angular_accel_rps2=data.draw(st.floats(0.1, 8.0)), use_rotate_to_heading=data.draw(st.booleans()),
    )  # fmt: skip
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    lethal = np.zeros((80, 80), dtype=bool)
    for _ in range(3):
        r, c = rng.integers(0, 75, size=2)
        lethal[r : r + 5, c : c + 5] = True
    grid = inflated_grid(lethal, RES, INSCRIBED_M)
    ctl = RegulatedPurePursuit(cfg)
    xy = st.floats(0.0, 4.0)
    pv = pw = 0.0
    for _ in range(25):
        action = data.draw(st.sampled_from(["compute"] * 6 + ["plan", "clear", "reset"]))
        if action == "plan":
            n = data.draw(st.integers(1, 6))
            ctl.set_plan(rng.uniform(0.0, 4.0, size=(n, 2)), data.draw(st.none() | st.floats(-4.0, 4.0)))
            continue
        if action == "clear":
            ctl.clear_plan()
            continue
        if action == "reset":
            # Within the velocity limits: a reset above them is cut at once, by design (see below).
            v_max = min(0.5, cfg.desired_linear_vel_mps)
            pv, pw = data.draw(st.floats(-v_max, v_max)), data.draw(st.floats(-1.0, 1.0))
            ctl.reset(pv, pw)
            continue
        pose = Pose2D(data.draw(xy), data.draw(xy), data.draw(st.floats(-math.pi, math.pi)))
        dt = data.draw(st.floats(0.005, 0.3))
        cmd = ctl.compute(pose, data.draw(st.sampled_from([grid, None])), dt)
        hard_stop = cmd.linear_mps == 0.0 and cmd.angular_rps == 0.0 and cmd.status == COLLISION_AHEAD
        assert hard_stop or limit_violations([cmd], cfg, dt, prev=(pv, pw)) == []
        assert abs(cmd.linear_mps) <= cfg.desired_linear_vel_mps and abs(cmd.angular_rps) <= cfg.max_angular_vel_rps
        pv, pw = cmd.linear_mps, cmd.angular_rps


# ============================================================================== config
def test_every_config_field_is_a_declared_parameter_with_description_and_range() -> None:
    info = param_info(ControllerConfig)
    fields = dataclasses.fields(ControllerConfig)
    assert set(info) == {f.name for f in fields}
    for f in fields:
        assert info[f.name].description, f.name
        if f.type in ("float", "int"):
            assert info[f.name].min_value is not None and info[f.name].max_value is not None, f.name
        if f.name.endswith(("_m", "_s", "_mps", "_rps", "_rad", "_mps2", "_rps2")):
            assert info[f.name].unit, f"{f.name} has a unit suffix but no declared unit"
    ControllerConfig()  # the defaults pass their own checks


def test_out_of_range_value_is_refused_naming_parameter_value_and_range() -> None:
    with pytest.raises(ConfigError, match=r"'desired_linear_vel_mps' = -1.0 .*\[0.01, 5\] m/s"):
        ControllerConfig(desired_linear_vel_mps=-1.0)
    with pytest.raises(ConfigError, match="'lookahead_time_s' = nan must be finite"):
        ControllerConfig(lookahead_time_s=math.nan)


@pytest.mark.parametrize(
    ("overrides", "names"),
    [
        ({"min_lookahead_m": 1.0, "max_lookahead_m": 0.5}, ("max_lookahead_m", "min_lookahead_m")),
        ({"desired_linear_vel_mps": 0.2, "regulated_min_linear_vel_mps": 0.3},
         ("desired_linear_vel_mps", "regulated_min_linear_vel_mps")),
        ({"desired_linear_vel_mps": 0.2, "min_approach_linear_vel_mps": 0.3, "regulated_min_linear_vel_mps": 0.1},
         ("desired_linear_vel_mps", "min_approach_linear_vel_mps")),
        ({"max_angular_vel_rps": 1.0, "rotate_to_heading_angular_vel_rps": 1.5},
         ("max_angular_vel_rps", "rotate_to_heading_angular_vel_rps")),
        ({"min_approach_linear_vel_mps": 0.5, "max_linear_decel_mps2": 1.0, "xy_goal_tolerance_m": 0.25},
         ("min_approach_linear_vel_mps", "max_linear_decel_mps2", "xy_goal_tolerance_m")),
    ],
)  # fmt: skip
def test_inconsistent_parameters_are_refused_naming_each(overrides: dict[str, float], names: tuple[str, ...]) -> None:
    with pytest.raises(ConfigError) as err:
        ControllerConfig(**overrides)
    for name in names:
        assert f"'{name}'" in str(err.value)


# ============================================================================= basics
def test_no_plan_gives_zero_velocity() -> None:
    ctl = RegulatedPurePursuit(config())
    cmd = ctl.compute(Pose2D(0.0, 0.0, 0.0), None, 0.05)
    assert cmd == Command(0.0, 0.0, NO_PLAN, None)
    assert not ctl.goal_reached and not ctl.has_plan


def test_clearing_the_plan_decelerates_within_the_limit_then_says_no_plan() -> None:
    cfg = config(max_linear_decel_mps2=1.0, max_angular_accel_rps2=2.0)
    ctl = RegulatedPurePursuit(cfg)
    ctl.set_plan(straight_path(0.0, 5.0))
    ctl.reset(0.5, 0.3)
    ctl.clear_plan()
    commands = [ctl.compute(Pose2D(0.0, 0.0, 0.0), free_grid(), 0.1) for _ in range(8)]
    assert [c.status for c in commands[:5]] == [STOPPING] * 5  # 0.5 m/s at 1 m/s^2 takes 5 steps of 0.1 s
    assert [c.linear_mps for c in commands[:5]] == pytest.approx([0.4, 0.3, 0.2, 0.1, 0.0])
    assert commands[-1] == Command(0.0, 0.0, NO_PLAN, None)
    assert limit_violations(commands, cfg, 0.1, prev=(0.5, 0.3)) == []


def test_acceleration_from_rest_is_limited() -> None:
    cfg = config(max_linear_accel_mps2=1.0)
    ctl = RegulatedPurePursuit(cfg)
    ctl.set_plan(straight_path(0.0, 9.0))
    traj = run(ctl, Pose2D(0.0, 0.0, 0.0), 0.1, 0.8)
    assert [c.linear_mps for c in traj.commands] == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5, 0.5, 0.5, 0.5])


def test_a_reset_above_the_velocity_limit_is_cut_at_once() -> None:
    cfg = config()
    ctl = RegulatedPurePursuit(cfg)
    ctl.set_plan(straight_path(0.0, 9.0))
    ctl.reset(2.0, 5.0)
    cmd = ctl.compute(Pose2D(0.0, 0.0, 0.0), None, 0.05)
    assert cmd.linear_mps == cfg.desired_linear_vel_mps and abs(cmd.angular_rps) <= cfg.max_angular_vel_rps


def test_replanning_mid_motion_keeps_the_speed() -> None:
    ctl = RegulatedPurePursuit(config())
    ctl.set_plan(straight_path(0.0, 9.0))
    ctl.reset(0.5, 0.0)
    ctl.set_plan(straight_path(0.0, 9.0, 0.01))
    assert ctl.compute(Pose2D(1.0, 0.0, 0.0), None, 0.05).linear_mps == pytest.approx(0.5, abs=0.01)


def test_same_inputs_give_the_same_commands() -> None:
    grid, start, path, yaw = random_scenario(7, 120, 120, n_boxes=8)
    trajectories = []
    for _ in range(2):
        ctl = RegulatedPurePursuit(config())
        ctl.set_plan(path, yaw)
        trajectories.append(run(ctl, start, 0.05, 30.0, grid))
    assert trajectories[0].commands == trajectories[1].commands


def test_reconfigure_applies_new_limits_and_keeps_the_plan() -> None:
    ctl = RegulatedPurePursuit(config())
    ctl.set_plan(straight_path(0.0, 9.0))
    ctl.reset(0.5, 0.0)
    ctl.reconfigure(config(desired_linear_vel_mps=0.3, **UNLIMITED))
    cmd = ctl.compute(Pose2D(1.0, 0.0, 0.0), None, 0.1)
    assert (cmd.linear_mps, cmd.status) == (pytest.approx(0.3), FOLLOWING)


# ==================================================================== lookahead, carrot
@pytest.mark.parametrize(("speed", "lookahead"), [(0.0, 0.3), (0.1, 0.3), (0.3, 0.45), (0.5, 0.75), (0.9, 0.9)])
def test_lookahead_is_speed_times_time_clamped_to_min_and_max(speed: float, lookahead: float) -> None:
    ctl = RegulatedPurePursuit(config(desired_linear_vel_mps=1.0, lookahead_time_s=1.5, **UNLIMITED))
    ctl.set_plan(straight_path(0.0, 5.0))
    ctl.reset(speed)
    cmd = ctl.compute(Pose2D(0.0, 0.0, 0.0), None, 0.05)
    assert cmd.lookahead_xy == pytest.approx((lookahead, 0.0))


def test_carrot_is_interpolated_on_its_segment_at_the_lookahead_distance() -> None:
    ctl = RegulatedPurePursuit(config(**UNLIMITED))
    ctl.set_plan(np.array([[0.0, 0.0], [2.0, 0.0], [2.0, 2.0]]))
    cmd = ctl.compute(Pose2D(0.5, 0.1, 0.0), None, 0.05)
    assert cmd.lookahead_xy == pytest.approx((0.5 + math.sqrt(0.3**2 - 0.1**2), 0.0))
    # Past the corner, on the second segment (at rest again: the lookahead is back to its minimum).
    ctl.reset()
    cmd = ctl.compute(Pose2D(1.9, 0.0, 0.0), None, 0.05)
    assert cmd.lookahead_xy is not None and math.dist(cmd.lookahead_xy, (1.9, 0.0)) == pytest.approx(0.3)
    assert cmd.lookahead_xy[0] == pytest.approx(2.0)


def test_path_behind_the_robot_is_pruned_even_where_the_path_comes_back_close() -> None:
    # Out along y = 0 and back along y = 0.4: from (2, 0.2), between the legs, the carrot stays on the way out.
    out = straight_path(0.0, 3.0)
    back = straight_path(0.0, 3.0, 0.4)[::-1]
    ctl = RegulatedPurePursuit(config(**UNLIMITED))
    ctl.set_plan(np.vstack((out, back)))
    for x in np.arange(0.0, 2.0, 0.1):
        ctl.compute(Pose2D(float(x), 0.0, 0.0), None, 0.05)
    cmd = ctl.compute(Pose2D(2.0, 0.19, 0.0), None, 0.05)
    assert cmd.lookahead_xy is not None and cmd.lookahead_xy[1] == pytest.approx(0.0)
    assert cmd.lookahead_xy[0] > 2.0


def test_far_from_the_path_the_robot_heads_for_it() -> None:
    ctl = RegulatedPurePursuit(config(**UNLIMITED))
    ctl.set_plan(straight_path(0.0, 5.0))
    cmd = ctl.compute(Pose2D(2.0, 1.0, -math.pi / 2), None, 0.05)
    assert cmd.lookahead_xy == pytest.approx((2.0, 0.0))
    assert cmd.status == FOLLOWING and cmd.angular_rps == pytest.approx(0.0)


def test_curvature_is_two_y_over_distance_squared() -> None:
    cfg = config(use_curvature_regulation=False, **UNLIMITED)
    ctl = RegulatedPurePursuit(cfg)
    ctl.set_plan(straight_path(0.0, 5.0))
    cmd = ctl.compute(Pose2D(1.0, -0.1, 0.0), None, 0.1)
    # Carrot at 0.3 m: 0.1 m to the left in base_link.
    assert cmd.angular_rps == pytest.approx(cmd.linear_mps * 2.0 * 0.1 / 0.3**2)
    assert cmd.linear_mps == pytest.approx(cfg.desired_linear_vel_mps)


# ========================================================================= regulation
def arc_path(radius: float, turns: float = 0.5) -> NDArray[np.float64]:
    """Counter-clockwise arc from (0, 0) heading +x, centre (0, radius), points every 1 cm."""
    n = max(2, round(turns * 2 * math.pi * radius / 0.01))
    a = np.linspace(0.0, turns * 2 * math.pi, n)
    return np.column_stack((radius * np.sin(a), radius - radius * np.cos(a)))


@pytest.mark.parametrize(("radius", "expected"), [(2.0, 0.5), (0.6, 0.5 * 0.6 / 0.9), (0.3, 0.25)])
def test_curvature_regulation_scales_speed_by_radius_down_to_the_regulated_minimum(
    radius: float, expected: float
) -> None:
    cfg = config(regulated_min_radius_m=0.9, regulated_min_linear_vel_mps=0.25, approach_velocity_scaling_dist_m=0.0,
                 **UNLIMITED)  # fmt: skip
    ctl = RegulatedPurePursuit(cfg)
    ctl.set_plan(arc_path(radius))
    cmd = ctl.compute(Pose2D(0.0, 0.0, 0.0), None, 0.1)
    # On the circle, tangent to it, with the carrot on it: pure pursuit's curvature is exactly 1 / radius.
    assert cmd.linear_mps == pytest.approx(expected, rel=1e-3)
    assert cmd.angular_rps == pytest.approx(cmd.linear_mps / radius, rel=1e-3)


def nav2_distance(value: int, inscribed: float = INSCRIBED_M, factor: float = 3.0) -> float:
    """Distance for the highest Nav2 cost that maps to `value`, from the inflation formula."""
    cost = max(c for c in range(1, 255) if COST_TO_OCCUPANCY[c] == value)
    return inscribed - math.log(cost / 252.0) / factor


@pytest.mark.parametrize("value", [0, -1, 30, 80, 90, 98, 99])
def test_cost_regulation_scales_speed_by_the_estimated_distance_to_the_obstacle(value: int) -> None:
    cfg = config(regulated_min_linear_vel_mps=0.0, cost_scaling_dist_m=0.3, cost_scaling_gain=0.8, **UNLIMITED)
    ctl = RegulatedPurePursuit(cfg)
    ctl.set_plan(straight_path(0.0, 9.0, 1.5))
    grid = Grid(np.full((60, 200), value, dtype=np.int8), RES)
    # Uniform cost: nothing is higher than the cell the robot stands on, so nothing ahead blocks it.
    cmd = ctl.compute(Pose2D(1.0, 1.5, 0.0), grid, 0.1)
    expected = 0.5
    if value > 0:
        d = nav2_distance(value)
        if d < 0.3:
            expected = 0.5 * 0.8 * max(d, 0.0) / 0.3
    assert (cmd.linear_mps, cmd.status) == (pytest.approx(expected), FOLLOWING)


def test_cost_regulation_on_a_real_inflation_profile() -> None:
    # A wall along y = 0; the robot drives along it at 0.4 m from the wall's edge: cost regulation slows it.
    lethal = np.zeros((60, 200), dtype=bool)
    lethal[:10, :] = True  # y < 0.5
    grid = inflated_grid(lethal, RES, INSCRIBED_M)
    cfg = config(regulated_min_linear_vel_mps=0.0, **UNLIMITED)
    ctl = RegulatedPurePursuit(cfg)
    ctl.set_plan(straight_path(0.0, 9.0, 0.5 + 0.26))
    cmd = ctl.compute(Pose2D(1.0, 0.76, 0.0), grid, 0.1)
    d = nav2_distance(grid.value_at(1.0, 0.76))
    assert 0.2 < d < 0.3
    assert cmd.linear_mps == pytest.approx(0.5 * d / 0.3) and cmd.status == FOLLOWING


@pytest.mark.parametrize(("remaining", "expected"), [(1.0, 0.5), (0.3, 0.25), (0.12, 0.1), (0.105, 0.1)])
def test_approach_regulation_slows_near_the_goal_but_not_below_its_minimum(remaining: float, expected: float) -> None:
    cfg = config(approach_velocity_scaling_dist_m=0.6, min_approach_linear_vel_mps=0.1, xy_goal_tolerance_m=0.05,
                 **UNLIMITED)  # fmt: skip
    ctl = RegulatedPurePursuit(cfg)
    ctl.set_plan(straight_path(0.0, 3.0))
    cmd = ctl.compute(Pose2D(3.0 - remaining, 0.0, 0.0), None, 0.1)
    assert (cmd.linear_mps, cmd.status) == (pytest.approx(expected), FOLLOWING)


def test_angular_limit_lowers_the_speed_and_keeps_the_arc() -> None:
    cfg = config(max_angular_vel_rps=0.5, rotate_to_heading_angular_vel_rps=0.5, use_curvature_regulation=False,
                 approach_velocity_scaling_dist_m=0.0, **UNLIMITED)  # fmt: skip
    ctl = RegulatedPurePursuit(cfg)
    ctl.set_plan(arc_path(0.4))
    cmd = ctl.compute(Pose2D(0.0, 0.0, 0.0), None, 0.1)
    assert cmd.angular_rps == pytest.approx(0.5)
    assert cmd.linear_mps == pytest.approx(0.5 * 0.4, rel=1e-3)  # v / w = radius


# ================================================================== rotate in place
@pytest.mark.parametrize(("yaw", "direction"), [(-2.5, 1.0), (-2.0, 1.0), (2.0, -1.0), (math.pi / 2, -1.0)])
def test_rotates_in_place_the_short_way_when_the_path_is_behind(yaw: float, direction: float) -> None:
    cfg = config()
    ctl = RegulatedPurePursuit(cfg)
    ctl.set_plan(straight_path(0.0, 5.0))
    traj = run(ctl, Pose2D(0.0, 0.0, yaw), 0.05, 1.0)
    first = traj.commands[0]
    assert first.status == ROTATING_TO_HEADING and first.linear_mps == 0.0
    assert math.copysign(1.0, first.angular_rps) == direction
    assert all(p.x_m == 0.0 and p.y_m == 0.0 for p in traj.poses[:2])
    assert max(abs(c.angular_rps) for c in traj.commands) == pytest.approx(cfg.rotate_to_heading_angular_vel_rps)
    assert limit_violations(traj.commands, cfg, 0.05) == []


def test_without_rotate_to_heading_it_turns_while_driving() -> None:
    ctl = RegulatedPurePursuit(config(use_rotate_to_heading=False, **UNLIMITED))
    ctl.set_plan(straight_path(0.0, 5.0))
    cmd = ctl.compute(Pose2D(0.0, 0.0, 2.0), None, 0.1)
    assert cmd.status == FOLLOWING and cmd.linear_mps > 0.0 and cmd.angular_rps < 0.0


# ============================================================================== goal
def test_within_xy_tolerance_without_a_yaw_the_goal_is_reached_and_the_robot_stays_stopped() -> None:
    ctl = RegulatedPurePursuit(config())
    ctl.set_plan(straight_path(0.0, 2.0))
    for _ in range(3):
        cmd = ctl.compute(Pose2D(1.95, 0.03, 1.0), free_grid(), 0.05)
        assert cmd == Command(0.0, 0.0, GOAL_REACHED, (2.0, 0.0))
    assert ctl.goal_reached
    ctl.set_plan(straight_path(0.0, 3.0))
    assert not ctl.goal_reached
    ctl.clear_plan()
    assert not ctl.goal_reached


def test_just_outside_the_xy_tolerance_it_keeps_following() -> None:
    ctl = RegulatedPurePursuit(config(xy_goal_tolerance_m=0.1))
    ctl.set_plan(straight_path(0.0, 2.0))
    assert ctl.compute(Pose2D(1.89, 0.0, 0.0), None, 0.05).status == FOLLOWING
    assert not ctl.goal_reached


@CLOSED_LOOP
@given(
    error=st.floats(-3.1, 3.1).filter(lambda e: abs(e) > 0.1),  # at +-pi either way is right
    dt=st.floats(0.01, 0.2),
    accel=st.floats(0.5, 8.0),
)
def test_rotation_to_the_goal_yaw_stops_inside_the_tolerance_without_overshoot(
    error: float, dt: float, accel: float
) -> None:
    cfg = config(max_angular_accel_rps2=accel, yaw_goal_tolerance_rad=0.05)
    ctl = RegulatedPurePursuit(cfg)
    ctl.set_plan(straight_path(0.0, 2.0), goal_yaw_rad=error)
    traj = run(ctl, Pose2D(2.0, 0.0, 0.0), dt, 30.0)
    assert traj.done and traj.commands[0].status == ROTATING_TO_GOAL
    assert abs(wrap_angle(traj.poses[-1].yaw_rad - error)) <= cfg.yaw_goal_tolerance_rad
    remaining = [wrap_angle(error - p.yaw_rad) for p in traj.poses]
    assert all(r * error >= -1e-9 for r in remaining), "rotated past the goal yaw"
    assert all((p.x_m, p.y_m) == (2.0, 0.0) for p in traj.poses)
    assert limit_violations(traj.commands, cfg, dt) == []


def test_single_point_plan_drives_to_it_and_stops() -> None:
    cfg = config()
    ctl = RegulatedPurePursuit(cfg)
    ctl.set_plan(np.array([[1.5, 0.5]]), goal_yaw_rad=math.pi)
    traj = run(ctl, Pose2D(0.0, 0.0, 0.0), 0.05, 30.0, free_grid())
    assert traj.done
    end = traj.poses[-1]
    assert math.dist((end.x_m, end.y_m), (1.5, 0.5)) <= cfg.xy_goal_tolerance_m
    assert abs(wrap_angle(end.yaw_rad - math.pi)) <= cfg.yaw_goal_tolerance_rad


# ======================================================================== collisions
def test_unknown_cells_and_cells_outside_the_grid_never_stop_the_robot() -> None:
    ctl = RegulatedPurePursuit(config(**UNLIMITED))
    ctl.set_plan(straight_path(0.0, 9.0, 1.5))
    grid = Grid(np.full((40, 40), -1, dtype=np.int8), RES)  # 2 m x 2 m of unknown, then nothing
    cmd = ctl.compute(Pose2D(1.8, 1.5, 0.0), grid, 0.1)
    assert (cmd.status, cmd.linear_mps) == (FOLLOWING, pytest.approx(0.5))


@pytest.mark.parametrize(("threshold", "stops"), [(99, True), (100, False)])
def test_collision_threshold_chooses_inscribed_or_only_lethal(threshold: int, stops: bool) -> None:
    values = np.zeros((60, 200), dtype=np.int8)
    values[:, 40:44] = 99  # an inscribed band across the path at x = 2.0 .. 2.2, no lethal cell
    ctl = RegulatedPurePursuit(config(collision_min_value=threshold))
    ctl.set_plan(straight_path(0.0, 9.0, 1.5))
    ctl.reset(0.5)
    cmd = ctl.compute(Pose2D(1.7, 1.5, 0.0), Grid(values, RES), 0.05)
    assert (cmd.status == COLLISION_AHEAD) == stops


def test_a_robot_already_in_an_inscribed_cell_may_drive_out_but_not_deeper() -> None:
    lethal = np.zeros((60, 200), dtype=bool)
    lethal[:, 60:] = True  # a wall from x = 3 m
    grid = inflated_grid(lethal, RES, INSCRIBED_M)
    assert grid.value_at(2.88, 1.5) == 99
    ctl = RegulatedPurePursuit(config(**UNLIMITED))
    ctl.set_plan(straight_path(2.88, 0.0, 1.5, -RES))
    ctl.reset(0.0)
    out = ctl.compute(Pose2D(2.88, 1.5, math.pi), grid, 0.1)
    assert out.status == FOLLOWING and out.linear_mps > 0.0
    ctl.set_plan(straight_path(2.88, 5.0, 1.5))
    deeper = ctl.compute(Pose2D(2.88, 1.5, 0.0), grid, 0.1)
    assert deeper.status == COLLISION_AHEAD and deeper.linear_mps == 0.0


def test_an_arc_that_cuts_a_corner_of_a_free_path_aims_nearer_instead_of_stopping() -> None:
    # East along y = 1 to x = 2, then north. Inscribed cells fill the inside of the corner; at 0.6 m/s the
    # 0.9 m lookahead puts the carrot (2.0, 1.41) up the second leg, and the arc to it cuts through them.
    path = np.vstack((straight_path(0.0, 2.0, 1.0), np.column_stack((np.full(40, 2.0), 1.05 + 0.05 * np.arange(40)))))
    values = np.zeros((80, 80), dtype=np.int8)
    values[21:32, 32:39] = 99  # x 1.6 .. 1.95, y 1.05 .. 1.6
    grid = Grid(values, RES)
    cfg = config()
    ctl = RegulatedPurePursuit(cfg)
    ctl.set_plan(path)
    ctl.reset(0.6)
    cmd = ctl.compute(Pose2D(1.2, 1.0, 0.0), grid, 0.05)
    assert cmd.status == FOLLOWING and cmd.lookahead_xy is not None
    assert math.dist(cmd.lookahead_xy, (1.2, 1.0)) < 0.9 - 0.1  # a nearer point of the path than the carrot
    ctl.set_plan(path)
    ctl.reset(0.6)
    traj = run(ctl, Pose2D(1.2, 1.0, 0.0), 0.05, 30.0, grid)
    assert traj.done and blocked_poses(traj) == []
    assert limit_violations(traj.commands, cfg, 0.05, prev=(0.6, 0.0)) == []


def test_a_goal_just_short_of_a_wall_is_reached() -> None:
    # The goal is 5 cm short of the inscribed cells: the checks look past the goal at speed, but not past it
    # once there.
    cfg = config(desired_linear_vel_mps=1.0)
    ctl = RegulatedPurePursuit(cfg)
    ctl.set_plan(straight_path(0.5, 3.0, 1.5))
    grid = box_grid((60, 200), (3.25, 3.6), (0.5, 2.5))
    assert grid.value_at(3.04, 1.5) < 99 <= grid.value_at(3.06, 1.5)
    traj = run(ctl, Pose2D(0.5, 1.5, 0.0), 0.05, 20.0, grid)
    assert traj.done and blocked_poses(traj) == [] and limit_violations(traj.commands, cfg, 0.05) == []
    assert math.dist((traj.poses[-1].x_m, traj.poses[-1].y_m), (3.0, 1.5)) <= cfg.xy_goal_tolerance_m


def test_a_robot_turning_fast_through_the_goal_yaw_is_not_done_until_it_can_stop_inside() -> None:
    cfg = config(max_angular_accel_rps2=1.0)
    ctl = RegulatedPurePursuit(cfg)
    ctl.set_plan(straight_path(0.0, 2.0), goal_yaw_rad=0.05)
    ctl.reset(0.0, 1.5)  # braking from 1.5 rad/s at 1 rad/s^2 takes 1.1 rad more
    first = ctl.compute(Pose2D(2.0, 0.0, 0.0), None, 0.05)
    assert first.status == ROTATING_TO_GOAL and not ctl.goal_reached
    ctl.reset(0.0, 1.5)
    traj = run(ctl, Pose2D(2.0, 0.0, 0.0), 0.05, 20.0)
    assert traj.done
    assert abs(wrap_angle(traj.poses[-1].yaw_rad - 0.05)) <= cfg.yaw_goal_tolerance_rad
    assert limit_violations(traj.commands, cfg, 0.05, prev=(0.0, 1.5)) == []


# ========================================================================= bad input
def nan_pose() -> Pose2D:
    """A pose that slipped past Pose2D's own check (e.g. built by a caller with object.__new__)."""
    pose = object.__new__(Pose2D)
    for name, value in (("x_m", math.nan), ("y_m", 0.0), ("yaw_rad", 0.0), ("stamp_ns", 0)):
        object.__setattr__(pose, name, value)
    return pose


def test_a_nan_pose_is_refused_by_pose2d_and_by_the_controller() -> None:
    with pytest.raises(GeometryError):
        Pose2D(math.nan, 0.0, 0.0)
    ctl = RegulatedPurePursuit(config())
    ctl.set_plan(straight_path(0.0, 1.0))
    with pytest.raises(ControllerError, match="pose must be finite"):
        ctl.compute(nan_pose(), None, 0.05)


@pytest.mark.parametrize("dt", [math.nan, math.inf, 0.0, -0.05])
def test_a_bad_time_step_is_refused(dt: float) -> None:
    ctl = RegulatedPurePursuit(config())
    with pytest.raises(ControllerError, match=r"dt_s must be finite and > 0"):
        ctl.compute(Pose2D(0.0, 0.0, 0.0), None, dt)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (np.zeros((0, 2)), r"N >= 1 points, got shape \(0, 2\)"),
        (np.zeros((3,)), r"got shape \(3,\)"),
        (np.zeros((3, 3)), r"got shape \(3, 3\)"),
        (np.array([[0.0, 0.0], [1.0, math.nan]]), r"path point 1 is not finite"),
        (np.array([[0.0, 0.0], [math.inf, 1.0]]), r"path point 1 is not finite"),
        # Squared segment lengths overflowed and tracking went NaN (found by fuzzing).
        (np.array([[0.0, 0.0], [0.0, 1.34e154], [0.0, 0.0]]), r"path point 1 .* is more than 1e\+06 m away"),
        ([["a", "b"]], "path must be an"),
    ],
)
def test_a_bad_path_is_refused_with_what_was_wrong(path: object, message: str) -> None:
    ctl = RegulatedPurePursuit(config())
    with pytest.raises(ControllerError, match=message):
        ctl.set_plan(path)  # type: ignore[arg-type]
    assert not ctl.has_plan


def test_bad_goal_yaw_and_reset_are_refused() -> None:
    ctl = RegulatedPurePursuit(config())
    with pytest.raises(ControllerError, match="goal yaw"):
        ctl.set_plan(straight_path(0.0, 1.0), math.nan)
    with pytest.raises(ControllerError, match="reset velocities"):
        ctl.reset(math.nan, 0.0)


def test_controller_error_is_a_value_error() -> None:
    assert issubclass(ControllerError, ValueError)
