"""Scoring and the kinematic base: driving into a box is a collision, across a keep-out zone a violation,
around them neither; speed and acceleration limits hold; odometry drifts only when asked, as seeded."""

from __future__ import annotations

import math

import numpy as np
import pytest

from robot_vision_nav.core.config import ConfigError
from robot_vision_nav.core.geometry import Pose2D, wrap_angle
from robot_vision_nav.sim.robot import DiffDriveBase, RobotConfig, limit_velocity
from robot_vision_nav.sim.sim import SimConfig, Simulator
from robot_vision_nav.sim.world import build_world, generate_world
from robot_vision_nav.sim.world_types import Footprint, World, Zone

BOX = Footprint("box", 3.0, 0.0, 0.3, 0.3)
ZONE = Zone(Footprint("keep_out", 0.0, 2.5, 0.6, 0.6), "hazard")


def world(start: Pose2D, goal: tuple[float, float]) -> World:
    return build_world(10.0, 8.0, [(BOX, 0.8)], [ZONE], start=start, goal_xy=goal)


def drive_straight(sim: Simulator, v: float, seconds: float) -> None:
    for _ in range(round(seconds / sim.config.step_s)):
        sim.command(v, 0.0)
        sim.step()


def follow_route(sim: Simulator, route: tuple[tuple[float, float], ...], speed: float = 0.5) -> None:
    """Turn in place toward each route corner, then drive straight to it (no corner cutting)."""
    for tx, ty in route[1:]:
        for _ in range(5000):
            p = sim.pose
            dist = math.hypot(tx - p.x_m, ty - p.y_m)
            if dist < 0.01:
                break
            err = wrap_angle(math.atan2(ty - p.y_m, tx - p.x_m) - p.yaw_rad)
            if abs(err) > 0.02:
                sim.command(0.0, max(-1.0, min(1.0, 3.0 * err)))
            else:
                sim.command(min(speed, 2.0 * dist), 2.0 * err)
            sim.step()
        else:
            pytest.fail(f"did not reach route corner ({tx}, {ty}); robot at {sim.pose}")


def test_driving_into_a_box_counts_one_collision_and_stops_the_robot() -> None:
    sim = Simulator(world(Pose2D(0.0, 0.0, 0.0), (4.0, -3.0)))
    drive_straight(sim, 0.8, 6.0)
    s = sim.score
    assert s.collisions == 1 and s.collision_steps > 10 and s.hit_labels == {"box"}
    assert s.keep_out_violations == 0
    # Stopped at the contact: the footprint never entered the box.
    assert sim.pose.x_m == pytest.approx(2.7 - 0.25, abs=0.002) and sim.pose.x_m <= 2.7 - 0.25
    assert sim.base.linear_mps == 0.0
    assert float(BOX.distance(sim.pose.x_m, sim.pose.y_m)) >= sim.robot_config.radius_m


def test_without_blocking_the_robot_drives_through_and_every_step_inside_counts() -> None:
    sim = Simulator(world(Pose2D(0.0, 0.0, 0.0), (4.0, -3.0)), config=SimConfig(block_on_collision=False))
    drive_straight(sim, 0.5, 9.0)
    assert sim.pose.x_m > 4.0
    assert sim.score.collisions == 1
    # Touching while the centre is within box half-width + radius of x = 3: 1.1 m at 0.5 m/s = 2.2 s.
    assert sim.score.collision_steps == pytest.approx(220, abs=3)


def test_driving_across_a_keep_out_zone_counts_a_violation() -> None:
    sim = Simulator(world(Pose2D(-3.0, 2.5, 0.0), (4.0, -3.0)))
    drive_straight(sim, 0.5, 10.0)
    s = sim.score
    assert s.keep_out_violations == 1 and s.collisions == 0
    # Overlapping while the centre is within zone half-width + radius of x = 0: 1.7 m at 0.5 m/s.
    assert s.keep_out_steps == pytest.approx(340, abs=3)


def test_driving_around_them_along_the_route_counts_nothing() -> None:
    w = world(Pose2D(-3.0, 2.5, 0.0), (4.2, 0.0))  # the straight line crosses the zone and the box
    sim = Simulator(w)
    follow_route(sim, w.route_xy)
    assert math.hypot(sim.pose.x_m - 4.2, sim.pose.y_m) < 0.02
    assert sim.score.collisions == 0 and sim.score.keep_out_violations == 0
    assert sim.score.distance_m > 7.2


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_generated_routes_drive_clean(seed: int) -> None:
    w = generate_world(seed)
    sim = Simulator(w, config=SimConfig(moving_people=False))
    follow_route(sim, w.route_xy, speed=1.0)
    static_hits = sim.score.hit_labels - {"person"}
    assert not static_hits and sim.score.keep_out_violations == 0


def test_velocity_and_acceleration_limits() -> None:
    cfg = RobotConfig()
    v, w = limit_velocity(cfg, 5.0, 0.0, 0.0, 0.0, 0.01)
    assert v == pytest.approx(cfg.max_linear_accel_mps2 * 0.01) and w == 0.0
    v, w = limit_velocity(cfg, 5.0, 0.0, 0.99, 0.0, 1.0)
    assert v == cfg.max_linear_mps
    v, w = limit_velocity(cfg, 1.0, 2.0, 1.0, 2.0, 0.01)  # wheel limit scales both, keeps the curvature
    assert max(abs(v - w * 0.2), abs(v + w * 0.2)) == pytest.approx(cfg.max_wheel_mps)
    assert w / v == pytest.approx(2.0)
    with pytest.raises(ConfigError, match="wheel_separation_m"):
        RobotConfig(radius_m=0.1, wheel_separation_m=0.4)


def test_command_timeout_brakes_to_a_stop() -> None:
    sim = Simulator(world(Pose2D(-3.0, -2.5, 0.0), (4.0, -3.0)))
    for _ in range(100):
        sim.command(0.5, 0.0)
        sim.step()
    assert sim.base.linear_mps == pytest.approx(0.5)
    for _ in range(49):  # the last command holds for cmd_timeout_s (0.5 s)
        sim.step()
    assert sim.base.linear_mps == pytest.approx(0.5)
    for _ in range(40):  # then the base brakes at 1.5 m/s^2: 0.34 s to stop
        sim.step()
    assert sim.base.linear_mps == 0.0


def test_odometry_is_exact_without_drift_and_drifts_as_seeded_with_it() -> None:
    def run(drift: bool, seed: int) -> tuple[Pose2D, Pose2D]:
        base = DiffDriveBase(RobotConfig(odom_drift=drift), Pose2D(1.0, 2.0, 0.3), seed=seed)
        for _ in range(500):
            pose, v, w = base.propose(0.6, 0.4, 0.01)
            base.commit(pose, v, w, 0.01)
        return base.pose, base.odom

    truth, odom = run(False, 0)
    assert (odom.x_m, odom.y_m, odom.yaw_rad) == pytest.approx((truth.x_m, truth.y_m, truth.yaw_rad))
    truth_a, odom_a = run(True, 7)
    _, odom_b = run(True, 7)
    _, odom_c = run(True, 8)
    assert (truth_a.x_m, truth_a.y_m) == pytest.approx((truth.x_m, truth.y_m))
    assert odom_a == odom_b and odom_a != odom_c
    error = math.hypot(odom_a.x_m - truth_a.x_m, odom_a.y_m - truth_a.y_m)
    assert 1e-4 < error < 0.5


def test_people_walk_and_a_person_walking_into_the_robot_is_a_collision() -> None:
    w = generate_world(0)  # world 0 has walking people (seeds 0, 2, 6, 8 do); fail loudly if that changes
    assert w.movers, "world 0 no longer has people: pick another seed for this test"
    mover = w.movers[0]
    a, b = np.array(mover.a_xy), np.array(mover.b_xy)
    sim = Simulator(w)
    x0 = sim.people_at(0)[0]
    x1 = sim.people_at(10**9)[0]
    assert math.hypot(x1.x_m - x0.x_m, x1.y_m - x0.y_m) == pytest.approx(mover.speed_mps, abs=0.01) or (
        math.hypot(*(b - a)) < mover.speed_mps
    )
    mid = (a + b) / 2
    yaw = math.atan2(*(b - a)[::-1]) + math.pi / 2
    sim.set_pose(Pose2D(float(mid[0]), float(mid[1]), yaw))
    for _ in range(round(2 * math.hypot(*(b - a)) / mover.speed_mps / 0.01) + 10):
        sim.step()
    assert "person" in sim.score.hit_labels and sim.score.collisions >= 1
