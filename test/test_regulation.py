"""core/regulation: each regulated pure pursuit heuristic on hand-computed values and simple properties.

The closed-loop behaviour these add up to is tested in test_controller.py.
"""

from __future__ import annotations

import math

from pytest import approx

from robot_vision_nav.core.geometry import Pose2D
from robot_vision_nav.core.regulation import (
    approach_constraint,
    arc_velocities,
    braking_distance,
    collision_check_distance,
    collision_threshold,
    cost_constraint,
    curvature_constraint,
    distance_from_cost,
    goal_stop_constraint,
    lookahead_distance,
    obstacle_distance_table,
    pure_pursuit_curvature,
    reachable_interval,
    regulated_linear_vel,
    rotation_speed,
    should_rotate_to_heading,
    smooth_velocities,
    stopping_speed,
    xy_goal_reached,
    yaw_goal_reached,
)

LIMITS = {
    "max_linear_accel_mps2": 2.5,
    "max_linear_decel_mps2": 2.5,
    "max_angular_accel_rps2": 3.2,
    "max_linear_vel_mps": 0.5,
    "max_angular_vel_rps": 2.0,
}
SPEEDS = (0.0, 0.1, 0.25, 0.5, 1.0)


# lookahead and curvature
def test_lookahead_is_speed_times_time() -> None:
    assert lookahead_distance(0.4, 1.5, 0.3, 0.9) == approx(0.6)


def test_lookahead_uses_the_speed_magnitude() -> None:
    assert lookahead_distance(-0.4, 1.5, 0.3, 0.9) == lookahead_distance(0.4, 1.5, 0.3, 0.9)


def test_lookahead_is_clamped_to_min_and_max() -> None:
    assert (lookahead_distance(0.0, 1.5, 0.3, 0.9), lookahead_distance(5.0, 1.5, 0.3, 0.9)) == (0.3, 0.9)


def test_straight_ahead_has_curvature_zero() -> None:
    assert pure_pursuit_curvature(1.0, 0.0) == 0.0


def test_curvature_is_two_y_over_distance_squared() -> None:
    assert (pure_pursuit_curvature(1.0, 1.0), pure_pursuit_curvature(0.0, 1.0)) == (1.0, 2.0)


def test_a_point_on_the_right_has_negative_curvature() -> None:
    assert pure_pursuit_curvature(1.0, -1.0) == -1.0


def test_a_point_on_the_robot_has_curvature_zero() -> None:
    assert pure_pursuit_curvature(0.0, 0.0) == 0.0


def test_rotate_to_heading_only_above_the_angle_either_side() -> None:
    assert [should_rotate_to_heading(a, 0.785) for a in (0.5, 0.785, 0.8, -0.8)] == [False, False, True, True]


# curvature regulation
def test_curvature_regulation_scales_by_radius_over_min_radius() -> None:
    assert curvature_constraint(0.5, 2.0, 0.9) == approx(0.5 * 0.5 / 0.9)


def test_curvature_regulation_leaves_wide_arcs_and_straight_lines_alone() -> None:
    assert (curvature_constraint(0.5, 1.0, 0.9), curvature_constraint(0.5, 0.0, 0.9)) == (0.5, 0.5)


def test_curvature_regulation_is_symmetric_left_and_right() -> None:
    assert curvature_constraint(0.5, -2.0, 0.9) == curvature_constraint(0.5, 2.0, 0.9)


def test_curvature_regulation_never_raises_speed() -> None:
    assert all(curvature_constraint(v, k, 0.9) <= v for v in SPEEDS for k in (-50.0, -1.2, 0.0, 0.5, 1.2, 50.0))


# cost (proximity) regulation
def test_cost_252_is_the_inscribed_radius() -> None:
    assert distance_from_cost(252, 0.25, 3.0) == 0.25


def test_cost_1_is_farthest() -> None:
    assert distance_from_cost(1, 0.25, 3.0) == approx(0.25 + math.log(252.0) / 3.0)


def test_cost_above_252_never_gives_a_negative_distance() -> None:
    assert distance_from_cost(254, 0.0, 3.0) == 0.0


def test_distance_table_is_inf_for_value_0() -> None:
    assert obstacle_distance_table(0.25, 3.0)[0] == math.inf


def test_distance_table_covers_0_to_100_and_never_grows_with_value() -> None:
    assert len(t := obstacle_distance_table(0.25, 3.0)) == 101 and t == sorted(t, reverse=True)


def test_cost_regulation_scales_by_gain_and_distance() -> None:
    assert (cost_constraint(0.5, 0.15, 0.3, 1.0), cost_constraint(0.5, 0.15, 0.3, 0.5)) == (0.25, 0.125)


def test_cost_regulation_leaves_speed_alone_far_from_obstacles() -> None:
    assert (cost_constraint(0.5, 0.3, 0.3, 1.0), cost_constraint(0.5, math.inf, 0.3, 1.0)) == (0.5, 0.5)


def test_cost_regulation_never_raises_speed() -> None:
    assert all(cost_constraint(v, d, 0.3, g) <= v for v in SPEEDS for d in (0.0, 0.1, 0.3, 9.0) for g in (0.5, 1.0))


def test_regulated_speed_is_the_lower_regulation() -> None:
    assert regulated_linear_vel(0.5, 0.3, 0.4, 0.25) == 0.3


def test_regulated_speed_never_goes_below_its_min() -> None:
    assert regulated_linear_vel(0.5, 0.5, 0.1, 0.25) == 0.25


def test_regulated_speed_unregulated_is_the_desired_speed() -> None:
    assert regulated_linear_vel(0.5, 0.5, 0.5, 0.25) == 0.5


# approach to the goal
def test_inside_the_approach_distance_speed_scales_with_distance() -> None:
    assert approach_constraint(0.5, 0.5, 0.3, 0.6, 0.05) == 0.25


def test_approach_speed_never_goes_below_its_min() -> None:
    assert approach_constraint(0.5, 0.5, 0.0, 0.6, 0.05) == 0.05


def test_approach_leaves_speed_alone_outside_the_distance_or_when_disabled() -> None:
    assert (approach_constraint(0.5, 0.5, 0.6, 0.6, 0.05), approach_constraint(0.5, 0.5, 0.0, 0.0, 0.05)) == (0.5, 0.5)


def test_approach_never_raises_speed() -> None:
    assert approach_constraint(0.1, 0.5, 0.5, 0.6, 0.05) == 0.1


def test_stopping_speed_is_zero_with_no_room() -> None:
    assert stopping_speed(0.0, 0.05, 2.5) == 0.0


def test_stopping_speed_one_step_then_braking_covers_exactly_the_distance() -> None:
    assert (v := stopping_speed(1.0, 0.1, 2.0)) * 0.1 + v * v / (2.0 * 2.0) == approx(1.0)


def test_stopping_speed_without_a_step_is_sqrt_two_a_d() -> None:
    assert stopping_speed(1.0, 0.0, 2.0) == 2.0


def test_at_the_goal_the_goal_stop_bound_is_the_approach_min() -> None:
    assert goal_stop_constraint(0.5, 0.0, 0.05, 2.5, 0.05) == 0.05


def test_far_from_the_goal_the_goal_stop_bound_leaves_speed_alone() -> None:
    assert goal_stop_constraint(0.5, 10.0, 0.05, 2.5, 0.05) == 0.5


# angular limit on the arc
def test_arc_within_the_angular_limit_is_v_times_curvature() -> None:
    assert arc_velocities(0.5, 1.0, 2.0) == (0.5, 0.5)


def test_arc_past_the_angular_limit_slows_down_keeping_the_curvature() -> None:
    assert (arc_velocities(0.5, 8.0, 2.0), arc_velocities(0.5, -8.0, 2.0)) == ((0.25, 2.0), (0.25, -2.0))


# rotation
def test_rotation_far_from_the_target_is_the_rotation_speed() -> None:
    assert rotation_speed(math.pi, 0.05, 3.2, 1.8) == 1.8


def test_rotation_on_the_target_is_zero() -> None:
    assert rotation_speed(0.0, 0.05, 3.2, 1.8) == 0.0


def test_rotation_near_the_target_can_stop_on_it() -> None:
    assert (w := rotation_speed(0.1, 0.05, 3.2, 1.8)) < 1.8 and w * 0.05 + w * w / (2.0 * 3.2) == approx(0.1)


# braking and collision checks
def test_braking_distance_is_one_step_plus_v_squared_over_two_a() -> None:
    assert braking_distance(1.0, 0.1, 2.5) == approx(0.3)


def test_braking_distance_is_signed() -> None:
    assert (braking_distance(-1.0, 0.1, 2.5), braking_distance(0.0, 0.1, 2.5)) == (
        -braking_distance(1.0, 0.1, 2.5),
        0.0,
    )


def test_collision_check_looks_check_time_of_travel_ahead() -> None:
    assert collision_check_distance(0.5, 0.05, 0.9, 1.0, 2.5) == 0.5


def test_collision_check_looks_no_farther_than_the_carrot() -> None:
    assert collision_check_distance(0.5, 0.05, 0.3, 1.0, 2.5) == 0.3


def test_collision_check_never_looks_less_than_twice_the_braking_distance() -> None:
    assert collision_check_distance(0.5, 0.05, 0.1, 1.0, 2.5) == approx(2.0 * (0.025 + 0.05))


def test_collision_threshold_is_the_min_value_on_a_free_or_unknown_cell() -> None:
    assert (collision_threshold(0, 99), collision_threshold(-1, 99), collision_threshold(98, 99)) == (99, 99, 99)


def test_standing_in_a_blocked_cell_only_a_higher_value_blocks() -> None:
    assert (collision_threshold(99, 99), collision_threshold(100, 99)) == (100, 101)


# goal checks
def test_xy_goal_reached_within_tolerance_at_rest() -> None:
    assert xy_goal_reached(Pose2D(0.0, 0.0, 0.0), (0.1, 0.0), 0.0, 0.05, 2.5, 0.25)


def test_xy_goal_not_reached_outside_tolerance() -> None:
    assert not xy_goal_reached(Pose2D(0.0, 0.0, 0.0), (0.3, 0.0), 0.0, 0.05, 2.5, 0.25)


def test_xy_goal_not_reached_when_braking_would_carry_the_robot_past_it() -> None:
    assert not xy_goal_reached(Pose2D(0.0, 0.0, 0.0), (0.2, 0.0), 2.0, 0.05, 2.5, 0.25)


def test_yaw_goal_reached_within_tolerance_at_rest() -> None:
    assert yaw_goal_reached(0.1, 0.0, 0.05, 3.2, 0.25) and not yaw_goal_reached(0.3, 0.0, 0.05, 3.2, 0.25)


def test_yaw_goal_not_reached_while_turning_too_fast_to_stop_inside() -> None:
    assert not yaw_goal_reached(0.1, 3.0, 0.05, 3.2, 0.25)


# velocity smoothing
def test_reachable_interval_speeds_up_away_from_zero_and_slows_toward_it() -> None:
    assert [reachable_interval(p, 0.1, 0.2) for p in (1.0, -1.0, 0.0)] == [(0.8, 1.1), (-1.1, -0.8), (-0.1, 0.1)]


def test_smoothing_from_rest_scales_both_axes_keeping_the_curvature() -> None:
    assert smooth_velocities(0.0, 0.0, 0.5, 0.5, 0.1, **LIMITS) == (0.25, 0.25)


def test_smoothing_a_stop_brakes_along_the_current_arc() -> None:
    assert smooth_velocities(0.5, 0.5, 0.0, 0.0, 0.1, **LIMITS) == (0.25, 0.25)


def test_smoothing_a_reachable_target_reaches_it() -> None:
    assert smooth_velocities(0.4, 0.2, 0.5, 0.3, 0.1, **LIMITS) == (0.5, 0.3)


def test_velocity_limits_win_over_the_deceleration_limit() -> None:
    assert smooth_velocities(2.0, 0.0, 0.5, 0.0, 0.1, **LIMITS) == (0.5, 0.0)
