"""core.safety: polygons, depth verdicts and the gate (e-stop, timeouts, stop and slow-down), without ROS."""

from __future__ import annotations

import math

import numpy as np
import pytest

from robot_vision_nav.core.config import ConfigError
from robot_vision_nav.core.geometry import PinholeIntrinsics
from robot_vision_nav.core.safety import (
    Action,
    DepthSafety,
    SafetyConfig,
    SafetyError,
    SafetyGate,
    Verdict,
    judge_points,
    points_in_polygon,
    polygon_from_flat,
)

NS = 1_000_000_000
SQUARE = polygon_from_flat((0, 0, 1, 0, 1, 1, 0, 1), "square")
# A camera looking straight ahead (no pitch) from 0.3 m, so a wall at x metres fills the image.
LEVEL_MOUNT = (0.0, 0.0, 0.3, 0.0, 0.0, 0.0)
K = PinholeIntrinsics(fx=60.0, fy=60.0, cx=39.5, cy=29.5, width=80, height=60)


def wall_depth(distance_m: float, k: PinholeIntrinsics = K) -> np.ndarray:
    """A flat wall facing the camera at `distance_m` (depth along the optical axis, 32FC1)."""
    return np.full((k.height, k.width), distance_m, dtype=np.float32)


def floor_depth(k: PinholeIntrinsics, mount: tuple[float, ...]) -> np.ndarray:
    """Depth of an empty, flat floor seen from `mount` (inf where a ray never meets it)."""
    cfg = SafetyConfig(camera_mount_xyzrpy=mount)
    rot = cfg.mount.rotation_base_optical()
    u = (np.arange(k.width) - k.cx) / k.fx
    v = (np.arange(k.height) - k.cy) / k.fy
    uu, vv = np.meshgrid(u, v)
    rays = np.einsum("ij,jhw->ihw", rot, np.stack([uu, vv, np.ones_like(uu)]))
    with np.errstate(divide="ignore"):
        z = np.where(rays[2] < -1e-6, -mount[2] / rays[2], np.inf)
    return z.astype(np.float32)


def test_polygon_needs_three_finite_vertices_and_an_area() -> None:
    for bad, words in [((0, 0, 1, 0), "at least 3"), ((0, 0, 1, 0, 1), "pairs"), ((0, 0, 1, 1, 2, 2), "no area")]:
        with pytest.raises(SafetyError, match=words):
            polygon_from_flat(bad, "stop_polygon_xy")
    with pytest.raises(SafetyError, match="finite"):
        polygon_from_flat((0, 0, 1, 0, math.nan, 1), "stop_polygon_xy")


def test_points_in_polygon_even_odd_rule() -> None:
    pts = np.array([[0.5, 0.5], [1.5, 0.5], [-0.1, 0.5], [0.5, 1.2], [0.99, 0.01]])
    assert points_in_polygon(pts, SQUARE).tolist() == [True, False, False, False, True]
    concave = polygon_from_flat((0, 0, 2, 0, 2, 2, 1, 1, 0, 2), "notch")  # a V cut from the top
    assert points_in_polygon(np.array([[1.0, 1.5], [1.0, 0.5], [0.3, 1.5]]), concave).tolist() == [False, True, True]
    assert points_in_polygon(np.empty((0, 2)), SQUARE).shape == (0,)


def test_config_refuses_bad_polygons_and_ranges_naming_the_parameter() -> None:
    with pytest.raises(ConfigError, match="stop_polygon_xy"):
        SafetyConfig(stop_polygon_xy=(0.0, 0.0, 1.0, 0.0))
    with pytest.raises(ConfigError, match="slowdown_ratio"):
        SafetyConfig(slowdown_ratio=1.5)
    with pytest.raises(ConfigError, match="max_depth_m"):
        SafetyConfig(min_depth_m=2.0, max_depth_m=1.0)


def test_judge_points_stop_beats_slowdown_and_needs_min_points() -> None:
    cfg = SafetyConfig(min_points=3)
    in_stop = np.array([[0.3, 0.0, 0.2]] * 3)
    in_slow = np.array([[0.8, 0.0, 0.2]] * 3)
    outside = np.array([[2.0, 0.0, 0.2]] * 10)
    assert judge_points(in_stop, cfg).action == Action.STOP
    assert judge_points(in_slow, cfg).action == Action.SLOWDOWN
    assert judge_points(outside, cfg).action == Action.FREE
    two = judge_points(in_stop[:2], cfg)  # stop zone points also count for the slow-down zone
    assert two.action == Action.FREE and two.stop_points == 2 and two.slowdown_points == 2
    v = judge_points(np.vstack([in_stop, in_slow]), cfg)
    assert (v.stop_points, v.slowdown_points) == (3, 6) and v.nearest_m == pytest.approx(0.3)
    assert judge_points(np.array([[np.nan, 0.0, 0.2]] * 5), cfg).action == Action.FREE


@pytest.mark.parametrize(
    ("distance_m", "action"), [(0.30, Action.STOP), (0.85, Action.SLOWDOWN), (1.5, Action.FREE), (0.05, Action.STOP)]
)
def test_depth_wall_distance_gives_the_zone(distance_m: float, action: Action) -> None:
    # 0.05 m is under min_depth_m: no reading, as a real camera returns nothing that close. A view
    # full of nothing is blind, and blind stops (it said free before the blind rule).
    safety = DepthSafety(SafetyConfig(camera_mount_xyzrpy=LEVEL_MOUNT))
    assert safety.judge(wall_depth(distance_m), K).action == action


@pytest.mark.parametrize(
    "depth",
    [
        np.zeros((60, 80), np.float32),  # a failed sensor, or everything nearer than its minimum range
        np.full((60, 80), np.nan, np.float32),
        np.zeros((60, 80), np.uint16),
        np.full((60, 80), 0.05, np.float32),  # a box against the lens
    ],
)
def test_a_blind_depth_frame_stops_the_robot_and_says_so(depth: np.ndarray) -> None:
    safety = DepthSafety(SafetyConfig(camera_mount_xyzrpy=LEVEL_MOUNT))
    verdict = safety.judge(depth, K)
    assert verdict.action == Action.STOP and verdict.blind and verdict.valid_fraction == 0.0
    gate = SafetyGate(SafetyConfig(camera_mount_xyzrpy=LEVEL_MOUNT))
    gate.on_verdict(verdict, received_ns=10 * NS, stamp_ns=10 * NS)
    gate.on_command(10 * NS)
    out = gate.filter(0.4, 0.2, 10 * NS)
    assert (out.linear_mps, out.state) == (0.0, "stop: depth blind")
    assert out.angular_rps == 0.2  # turning in place, as in the stop zone (stop_allows_rotation)
    # 0 turns the rule off: the polygons alone see no points.
    off = DepthSafety(SafetyConfig(camera_mount_xyzrpy=LEVEL_MOUNT, min_valid_depth_fraction=0.0))
    assert off.judge(depth, K).action == Action.FREE


def test_blind_is_a_fraction_of_the_image() -> None:
    safety = DepthSafety(SafetyConfig(camera_mount_xyzrpy=LEVEL_MOUNT, min_valid_depth_fraction=0.25))
    depth = np.zeros((60, 80), np.float32)
    depth[:15, :] = 1.5  # exactly a quarter of the pixels: a wall out of every zone
    verdict = safety.judge(depth, K)
    assert (verdict.action, verdict.blind, verdict.valid_fraction) == (Action.FREE, False, 0.25)
    depth[14, 0] = 0.0  # one pixel fewer
    assert safety.judge(depth, K).blind


def test_empty_floor_is_free_and_a_box_on_it_is_not() -> None:
    mount = (0.10, 0.0, 0.50, 0.0, 0.35, 0.0)
    k = PinholeIntrinsics(fx=320.0, fy=320.0, cx=159.5, cy=119.5, width=320, height=240)
    depth = floor_depth(k, mount)
    safety = DepthSafety(SafetyConfig(camera_mount_xyzrpy=mount))
    assert safety.judge(depth, k).action == Action.FREE
    # A 0.3 m tall box face 0.7 m ahead: the rows that see it read the box's distance instead.
    box = depth.copy()
    box[100:240, 120:200] = np.minimum(box[100:240, 120:200], 0.62)
    verdict = safety.judge(box, k)
    assert verdict.action in (Action.SLOWDOWN, Action.STOP) and verdict.slowdown_points >= 4


def test_depth_in_millimetres_and_wrong_size_refused() -> None:
    safety = DepthSafety(SafetyConfig(camera_mount_xyzrpy=LEVEL_MOUNT))
    assert safety.judge((wall_depth(0.3) * 1000).astype(np.uint16), K).action == Action.STOP
    with pytest.raises(SafetyError, match="camera_info says 80x60"):
        safety.judge(np.zeros((10, 10), np.float32), K)
    with pytest.raises(SafetyError, match="dtype"):
        safety.judge(np.zeros((60, 80), np.int32), K)


def fresh_gate(verdict: Action = Action.FREE, **overrides: object) -> SafetyGate:
    gate = SafetyGate(SafetyConfig(**overrides))  # type: ignore[arg-type]
    gate.on_verdict(Verdict(verdict), received_ns=10 * NS, stamp_ns=10 * NS)
    gate.on_command(10 * NS)
    return gate


def test_gate_starts_stopped_until_command_and_depth_arrive() -> None:
    gate = SafetyGate(SafetyConfig())
    out = gate.filter(0.5, 0.1, NS)
    assert out.is_zero and out.state == "stale: cmd_vel, depth"
    gate.on_command(NS)
    assert gate.filter(0.5, 0.1, NS).state == "stale: depth"
    gate.on_verdict(Verdict(Action.FREE), NS, NS)
    assert gate.filter(0.5, 0.1, NS) == gate.filter(0.5, 0.1, NS) and not gate.filter(0.5, 0.1, NS).is_zero


def test_a_clock_at_zero_or_jumped_back_makes_everything_stale() -> None:
    # use_sim_time before the first /clock: the node clock reads 0 and every age would look fresh.
    gate = SafetyGate(SafetyConfig())
    gate.on_command(0)
    gate.on_verdict(Verdict(Action.FREE), 0, 0)
    out = gate.filter(0.5, 0.1, 0)
    assert out.is_zero and out.state == "stale: clock"
    # A clock that jumped back (a reset simulator, a looped bag): what came "later" is not fresh.
    gate = fresh_gate()
    assert gate.filter(0.5, 0.1, 10 * NS).state == "free"
    back = gate.filter(0.5, 0.1, 2 * NS)
    assert back.is_zero and back.state == "stale: cmd_vel, depth"


def test_gate_passes_slows_and_stops() -> None:
    assert (fresh_gate().filter(0.4, -0.2, 10 * NS).linear_mps, fresh_gate().filter(0.4, -0.2, 10 * NS).state) == (
        0.4,
        "free",
    )
    slow = fresh_gate(Action.SLOWDOWN, slowdown_ratio=0.25).filter(0.4, -0.2, 10 * NS)
    assert (slow.linear_mps, slow.angular_rps, slow.state) == (0.1, -0.05, "slowdown")
    stop = fresh_gate(Action.STOP).filter(0.4, -0.2, 10 * NS)
    assert (stop.linear_mps, stop.angular_rps, stop.state) == (0.0, -0.2, "stop")  # turning in place is allowed
    nav2 = fresh_gate(Action.STOP, stop_allows_rotation=False).filter(0.4, -0.2, 10 * NS)
    assert nav2.is_zero and nav2.state == "stop"


def test_gate_zero_when_command_or_depth_goes_stale() -> None:
    gate = fresh_gate(cmd_timeout_s=0.5, depth_timeout_s=0.3)
    assert gate.filter(0.4, 0.0, 10 * NS + NS // 4).state == "free"
    assert gate.filter(0.4, 0.0, 10 * NS + 4 * NS // 10).state == "stale: depth"
    gate.on_verdict(Verdict(Action.FREE), received_ns=10 * NS + 4 * NS // 10, stamp_ns=10 * NS + 4 * NS // 10)
    assert gate.filter(0.4, 0.0, 10 * NS + 6 * NS // 10).state == "stale: cmd_vel"
    # A frame received now but stamped long ago (a lagging driver) is stale too.
    gate.on_command(20 * NS)
    gate.on_verdict(Verdict(Action.FREE), received_ns=20 * NS, stamp_ns=19 * NS)
    assert gate.filter(0.4, 0.0, 20 * NS).state == "stale: depth"
    no_depth = fresh_gate(use_depth=False)
    no_depth.forget_depth()
    assert no_depth.filter(0.4, 0.0, 10 * NS).state == "free"


def test_e_stop_latches_until_released() -> None:
    gate = fresh_gate()
    assert gate.set_e_stop(True) and not gate.set_e_stop(True)
    for t in range(5):
        gate.on_command(10 * NS + t)
        assert gate.filter(0.4, 0.0, 10 * NS + t).state == "e_stop"
    assert gate.set_e_stop(False)
    assert gate.filter(0.4, 0.0, 10 * NS + 5).state == "free"


def test_non_finite_command_becomes_zero() -> None:
    out = fresh_gate().filter(math.nan, 0.0, 10 * NS)
    assert out.is_zero and "non-finite" in out.state


def test_a_camera_model_far_larger_than_the_image_is_refused_before_allocating() -> None:
    huge = PinholeIntrinsics(fx=1.0, fy=1.0, cx=0.5, cy=0.5, width=65536, height=65536)
    with pytest.raises(SafetyError, match="camera_info says 65536x65536"):
        DepthSafety(SafetyConfig()).judge(np.ones((6, 8), np.float32), huge)


def box_depth(k: PinholeIntrinsics, mount: tuple[float, ...], x_m: float, height_m: float, half_width_m: float):
    """Depth of a flat floor with a box face across x = `x_m` (`height_m` tall, |y| <= `half_width_m`)."""
    from robot_vision_nav.core.projection import DepthProjector

    cfg = SafetyConfig(camera_mount_xyzrpy=mount)
    proj = DepthProjector(k, cfg.mount)
    rx, ry, rz = (proj.rays[i].astype(np.float64) for i in range(3))
    tx, ty, tz = proj.t_base_camera
    with np.errstate(divide="ignore", invalid="ignore"):
        floor = np.where(rz < -1e-9, -tz / rz, np.inf)
        face = np.where(rx > 1e-9, (x_m - tx) / rx, np.inf)
        hit = (np.abs(ty + face * ry) <= half_width_m) & (tz + face * rz >= 0.0) & (tz + face * rz <= height_m)
    return np.where(hit & (face < floor), face, floor).astype(np.float32)


@pytest.mark.parametrize("height_m", [0.08, 0.15, 0.3])
def test_a_low_box_approached_head_on_stops_the_robot_while_still_in_view(height_m: float) -> None:
    # The shipped mount (0.5 m high, pitched 0.35 rad) sees the floor from 0.56 m on; nearer, only
    # what stands taller. The stop zone reaches past that, so a box is seen inside it (and the robot
    # stops) before it can slip under the camera's view; while the robot stands it stays in view.
    mount = (0.10, 0.0, 0.50, 0.0, 0.35, 0.0)
    k = PinholeIntrinsics(fx=230.0, fy=230.0, cx=159.5, cy=119.5, width=320, height=240)
    safety = DepthSafety(SafetyConfig(camera_mount_xyzrpy=mount))
    verdicts = {x: safety.judge(box_depth(k, mount, x, height_m, 0.2), k).action for x in (1.3, 0.9, 0.62)}
    assert verdicts == {1.3: Action.FREE, 0.9: Action.SLOWDOWN, 0.62: Action.STOP}, verdicts
