"""Rolling costmap on constructed scenes with known answers (core only, no ROS)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from robot_vision_nav.core.config import ConfigError
from robot_vision_nav.core.costmap import (
    COST_TO_OCCUPANCY,
    FREE,
    INSCRIBED_INFLATED_OBSTACLE,
    LETHAL,
    LETHAL_KEEPOUT,
    LETHAL_OBSTACLE,
    NO_INFORMATION,
    UNKNOWN,
    CostmapConfig,
    RollingCostmap,
    grow_lethal,
    inflation_cell_radius,
    inflation_costs,
    nav2_inflation_cost,
)
from robot_vision_nav.core.geometry import CameraMount, PinholeIntrinsics, Pose2D
from robot_vision_nav.core.projection import DepthInputError
from robot_vision_nav.sim.synthetic import Box, FloorPatch, Scene, d435_intrinsics, render

K = d435_intrinsics(320, 240)
SEC = 1_000_000_000


def lethal_cells_world(cm: RollingCostmap) -> np.ndarray:
    rows, cols = np.nonzero(cm.state >= LETHAL)
    return np.array([cm.cell_center(r, c) for r, c in zip(rows, cols, strict=True)]).reshape(-1, 2)


def update(cm: RollingCostmap, scene: Scene, pose: Pose2D, stamp_ns: int, *, mm: bool = True) -> None:
    frame = render(scene, K, cm.config.mount, pose)
    depth = frame.depth_mm() if mm else frame.depth_m
    cm.update(depth, K, pose, stamp_ns, frame.mask)


def test_box_of_known_size_lands_on_the_right_cells() -> None:
    cm = RollingCostmap(CostmapConfig())
    box = Box(x_m=2.0, y_m=0.3, size_x_m=0.4, size_y_m=0.6, height_m=0.5)
    update(cm, Scene(boxes=(box,)), Pose2D(0.0, 0.0, 0.0), 1)
    pts = lethal_cells_world(cm)
    assert len(pts) > 0
    res = cm.resolution_m
    # Only the face toward the camera is seen: x near 1.8, y across the box's width.
    assert pts[:, 0].min() >= 1.8 - res and pts[:, 0].max() <= 1.8 + res
    assert pts[:, 1].min() == pytest.approx(0.0, abs=1.5 * res)
    assert pts[:, 1].max() == pytest.approx(0.6, abs=1.5 * res)
    # Nothing lethal anywhere else.
    assert np.all(np.abs(pts[:, 0] - 1.8) <= res)


def test_box_seen_from_a_rotated_and_moved_robot_lands_in_the_same_world_cells() -> None:
    box = Box(x_m=3.0, y_m=2.0, size_x_m=0.5, size_y_m=0.5, height_m=1.0)
    cm = RollingCostmap(CostmapConfig())
    pose = Pose2D(1.0, 0.5, math.atan2(2.0 - 0.5, 3.0 - 1.0))
    update(cm, Scene(boxes=(box,)), pose, 1)
    pts = lethal_cells_world(cm)
    res = cm.resolution_m
    inside = (np.abs(pts[:, 0] - 3.0) <= 0.25 + res) & (np.abs(pts[:, 1] - 2.0) <= 0.25 + res)
    assert len(pts) > 5 and inside.all()


def test_floor_keepout_patch_is_lethal_only_through_the_mask() -> None:
    patch = FloorPatch(1.5, -0.5, 2.0, 0.5, drivable=False)
    scene = Scene(patches=(patch,))
    cm = RollingCostmap(CostmapConfig())
    update(cm, scene, Pose2D(0.0, 0.0, 0.0), 1)
    pts = lethal_cells_world(cm)
    res = cm.resolution_m
    assert len(pts) > 50
    assert pts[:, 0].min() >= 1.5 - res and pts[:, 0].max() <= 2.0 + res
    assert pts[:, 1].min() >= -0.5 - res and pts[:, 1].max() <= 0.5 + res
    # Depth alone sees a flat floor there.
    depth_only = RollingCostmap(CostmapConfig(use_traversability_mask=False))
    update(depth_only, scene, Pose2D(0.0, 0.0, 0.0), 1)
    assert not (depth_only.state >= LETHAL).any()
    assert depth_only.state[depth_only.world_to_cell(1.75, 0.0)] == FREE


def test_drivable_floor_marking_stays_free() -> None:
    scene = Scene(patches=(FloorPatch(1.5, -0.5, 2.0, 0.5, drivable=True, colour_rgb=(250, 250, 0)),))
    cm = RollingCostmap(CostmapConfig())
    update(cm, scene, Pose2D(0.0, 0.0, 0.0), 1)
    assert not (cm.state >= LETHAL).any()


def test_cells_behind_an_obstacle_stay_unknown_and_in_front_become_free() -> None:
    cm = RollingCostmap(CostmapConfig())
    update(cm, Scene(boxes=(Box(2.0, 0.0, 0.4, 1.0, 1.5),)), Pose2D(0.0, 0.0, 0.0), 1)
    assert cm.state[cm.world_to_cell(1.2, 0.0)] == FREE
    assert cm.state[cm.world_to_cell(3.0, 0.0)] == UNKNOWN
    assert cm.state[cm.world_to_cell(-2.0, 0.0)] == UNKNOWN  # behind the camera


def test_clearing_removes_an_obstacle_that_moved_away() -> None:
    cm = RollingCostmap(CostmapConfig(obstacle_decay_s=0.0))
    pose = Pose2D(0.0, 0.0, 0.0)
    update(cm, Scene(boxes=(Box(2.0, 0.0, 0.3, 0.3, 0.5),)), pose, 1)
    cell = cm.world_to_cell(1.87, 0.0)
    assert cm.state[cell] == LETHAL
    update(cm, Scene(boxes=(Box(2.0, 1.5, 0.3, 0.3, 0.5),)), pose, 2)
    assert cm.state[cell] == FREE
    assert (cm.state == LETHAL).any()  # the box in its new place


def test_obstacles_out_of_view_are_kept_until_they_decay() -> None:
    cm = RollingCostmap(CostmapConfig(obstacle_decay_s=2.0))
    update(cm, Scene(boxes=(Box(2.0, 0.0, 0.3, 0.3, 0.5),)), Pose2D(0.0, 0.0, 0.0), 1 * SEC)
    cell = cm.world_to_cell(1.87, 0.0)
    assert cm.state[cell] == LETHAL
    # Turn around: the box is out of view, remembered, then forgotten after the decay time.
    away = Pose2D(0.0, 0.0, math.pi)
    update(cm, Scene(), away, 2 * SEC)
    assert cm.state[cell] == LETHAL
    update(cm, Scene(), away, 3 * SEC + 1)
    assert cm.state[cell] == UNKNOWN


def test_window_shift_keeps_old_cells_in_the_right_world_place() -> None:
    cm = RollingCostmap(CostmapConfig(width_m=6.0, height_m=6.0))
    update(cm, Scene(boxes=(Box(2.0, 0.0, 0.3, 0.3, 0.5),)), Pose2D(0.0, 0.0, 0.0), 1)
    before = {tuple(p) for p in np.round(lethal_cells_world(cm), 6)}
    assert before
    # Drive 1.3 m in x and 0.72 m in y looking away: nothing new is marked, the map must move.
    cm.recenter(1.3, 0.72)
    after = {tuple(p) for p in np.round(lethal_cells_world(cm), 6)}
    assert after == before
    ox, oy = cm.origin_m
    assert ox == pytest.approx(1.3 - 3.0, abs=cm.resolution_m)
    assert oy == pytest.approx(0.72 - 3.0, abs=cm.resolution_m)
    # Far enough that the box leaves the window: it is forgotten, and everything else unknown.
    cm.recenter(-10.0, 0.0)
    assert not (cm.state >= LETHAL).any()
    assert (cm.state == UNKNOWN).all()


def test_inflation_matches_nav2_formula_on_random_obstacles() -> None:
    cfg = CostmapConfig(
        width_m=5.0,
        height_m=4.0,
        resolution_m=0.05,
        robot_radius_m=0.22,
        inflation_radius_m=0.55,
        cost_scaling_factor=3.0,
    )
    cm = RollingCostmap(cfg)
    cm.recenter(0.0, 0.0)
    rng = np.random.default_rng(7)
    rows = rng.integers(0, cm.shape[0], 25)
    cols = rng.integers(0, cm.shape[1], 25)
    cm.state.fill(FREE)
    cm.mark_lethal(rows, cols, 1)
    dist = ndimage.distance_transform_edt(cm.state < LETHAL)
    radius = inflation_cell_radius(cfg.inflation_radius_m, cfg.resolution_m)
    expected = np.zeros(cm.shape, dtype=np.int64)
    for (r, c), d in np.ndenumerate(dist):
        if d <= radius:
            expected[r, c] = nav2_inflation_cost(d, cfg.resolution_m, cfg.robot_radius_m, cfg.cost_scaling_factor)
    np.testing.assert_array_equal(cm.costs, expected)
    # Spot values of the formula itself.
    assert nav2_inflation_cost(0, 0.05, 0.22, 3.0) == LETHAL_OBSTACLE
    assert nav2_inflation_cost(4, 0.05, 0.22, 3.0) == INSCRIBED_INFLATED_OBSTACLE
    assert nav2_inflation_cost(5, 0.05, 0.22, 3.0) == int(252 * math.exp(-3.0 * (0.25 - 0.22)))
    assert radius == 11
    assert inflation_cell_radius(0.52, 0.05) == 11  # ceil, as Nav2's cellDistance


def test_inflation_costs_of_a_lethal_mask_are_the_rolling_costmaps_on_known_cells() -> None:
    cfg = CostmapConfig(
        width_m=5.0,
        height_m=4.0,
        resolution_m=0.05,
        robot_radius_m=0.22,
        inflation_radius_m=0.52,
        cost_scaling_factor=3.0,
    )
    cm = RollingCostmap(cfg)
    cm.recenter(0.0, 0.0)
    rng = np.random.default_rng(3)
    cm.state.fill(FREE)
    cm.mark_lethal(rng.integers(0, cm.shape[0], 25), rng.integers(0, cm.shape[1], 25), 1)
    costs = inflation_costs(
        cm.state >= LETHAL, cfg.resolution_m, cfg.robot_radius_m, cfg.inflation_radius_m, cfg.cost_scaling_factor
    )
    np.testing.assert_array_equal(costs, cm.costs)
    np.testing.assert_array_equal(COST_TO_OCCUPANCY[costs], cm.occupancy)
    assert not inflation_costs(np.zeros((4, 5), dtype=bool), 0.05, 0.22, 0.52, 3.0).any()


def test_grow_lethal_takes_every_cell_within_the_radius_of_a_lethal_cell() -> None:
    lethal = np.zeros((21, 21), dtype=bool)
    lethal[10, 10] = True
    rows, cols = np.mgrid[:21, :21]
    # 0.26 m is 5.2 cells: squared cell distances up to 27 (5.196 cells) are in, 29 (5.385) is not.
    np.testing.assert_array_equal(grow_lethal(lethal, 0.26, 0.05), (rows - 10) ** 2 + (cols - 10) ** 2 <= 27)
    assert not grow_lethal(np.zeros((3, 3), dtype=bool), 10.0, 0.05).any()


def test_unknown_cells_stay_unknown_unless_inscribed_as_in_nav2() -> None:
    cm = RollingCostmap(CostmapConfig(width_m=3.0, height_m=3.0))
    cm.recenter(0.0, 0.0)
    cm.mark_lethal(np.array([30]), np.array([30]), 1)
    assert cm.costs[30, 30] == LETHAL_OBSTACLE
    assert cm.costs[30, 33] == INSCRIBED_INFLATED_OBSTACLE  # 0.15 m < 0.25 m inscribed
    assert cm.costs[30, 38] == NO_INFORMATION  # inflated but unknown
    inflate_unknown = RollingCostmap(CostmapConfig(width_m=3.0, height_m=3.0, inflate_unknown=True))
    inflate_unknown.recenter(0.0, 0.0)
    inflate_unknown.mark_lethal(np.array([30]), np.array([30]), 1)
    assert 0 < inflate_unknown.costs[30, 38] < INSCRIBED_INFLATED_OBSTACLE
    untracked = RollingCostmap(CostmapConfig(width_m=3.0, height_m=3.0, track_unknown_space=False))
    assert (untracked.occupancy == 0).all()


def test_occupancy_values_follow_nav2_translation_table() -> None:
    assert COST_TO_OCCUPANCY[0] == 0
    assert COST_TO_OCCUPANCY[1] == 1
    assert COST_TO_OCCUPANCY[252] == 98
    assert COST_TO_OCCUPANCY[253] == 99
    assert COST_TO_OCCUPANCY[254] == 100
    assert COST_TO_OCCUPANCY[255] == -1
    for cost in range(1, 253):
        assert COST_TO_OCCUPANCY[cost] == 1 + (97 * (cost - 1)) // 251
    cm = RollingCostmap(CostmapConfig())
    update(cm, Scene(boxes=(Box(2.0, 0.0, 0.4, 0.4, 0.5),)), Pose2D(0.0, 0.0, 0.0), 1)
    np.testing.assert_array_equal(cm.occupancy, COST_TO_OCCUPANCY[cm.costs])
    assert set(np.unique(cm.occupancy)) >= {-1, 0, 99, 100}


def test_millimetre_and_metre_depth_give_the_same_map() -> None:
    scene = Scene(boxes=(Box(2.0, 0.0, 0.4, 0.4, 0.5),), patches=(FloorPatch(1.0, -1.0, 1.4, -0.4),))
    a, b = RollingCostmap(CostmapConfig()), RollingCostmap(CostmapConfig())
    update(a, scene, Pose2D(0.0, 0.0, 0.0), 1, mm=True)
    update(b, scene, Pose2D(0.0, 0.0, 0.0), 1, mm=False)
    assert (a.costs != b.costs).mean() < 0.002


def test_same_input_gives_byte_identical_maps() -> None:
    scene = Scene(boxes=(Box(2.0, 0.0, 0.4, 0.4, 0.5),), patches=(FloorPatch(1.0, -1.0, 1.4, -0.4),))
    maps = []
    for _ in range(2):
        cm = RollingCostmap(CostmapConfig())
        for i in range(3):
            update(cm, scene, Pose2D(0.1 * i, 0.0, 0.05 * i), (i + 1) * SEC)
        maps.append(cm.occupancy.tobytes())
    assert maps[0] == maps[1]


def test_invalid_depth_values_are_ignored() -> None:
    cm = RollingCostmap(CostmapConfig())
    frame = render(Scene(boxes=(Box(2.0, 0.0, 0.4, 0.4, 0.5),)), K, cm.config.mount, Pose2D(0.0, 0.0, 0.0))
    depth = frame.depth_m.copy()
    depth[:, ::3] = np.nan
    depth[:, 1::3] = np.inf
    depth[:10] = 0.0
    stats = cm.update(depth, K, Pose2D(0.0, 0.0, 0.0), 1, frame.mask)
    kept = depth[10:, 2::3]
    assert stats.valid_pixels == int(((kept >= 0.1) & (kept <= 10.0)).sum()) > 0
    all_nan = np.full_like(depth, np.nan)
    before = cm.occupancy.copy()
    stats = cm.update(all_nan, K, Pose2D(0.0, 0.0, 0.0), 2, frame.mask)
    assert stats.valid_pixels == 0
    np.testing.assert_array_equal(cm.occupancy, before)


def test_wrong_sizes_and_dtypes_are_refused_with_a_clear_error() -> None:
    cm = RollingCostmap(CostmapConfig())
    frame = render(Scene(), K, cm.config.mount, Pose2D(0.0, 0.0, 0.0))
    with pytest.raises(DepthInputError, match="camera_info says 320x240"):
        cm.update(frame.depth_m[:100], K, Pose2D(0.0, 0.0, 0.0), 1, None)
    with pytest.raises(DepthInputError, match="mask must be mono8"):
        cm.update(frame.depth_m, K, Pose2D(0.0, 0.0, 0.0), 1, frame.mask[:, :100])
    with pytest.raises(DepthInputError, match="uint16"):
        cm.update(frame.depth_m.astype(np.int32), K, Pose2D(0.0, 0.0, 0.0), 1, None)


def test_overhead_points_are_neither_marked_nor_cleared() -> None:
    # A shelf board 0.8-1.0 m up, above the 0.5 m robot: the robot drives under it.
    cfg = CostmapConfig(max_obstacle_height_m=0.5, camera_mount_xyzrpy=(0.0, 0.0, 0.3, 0.0, 0.0, 0.0))
    cm = RollingCostmap(cfg)
    board = Box(3.0, 0.0, 1.0, 3.0, 1.0, base_m=0.8)
    frame = render(Scene(boxes=(board,)), K, cfg.mount, Pose2D(0.0, 0.0, 0.0))
    stats = cm.update(frame.depth_m, K, Pose2D(0.0, 0.0, 0.0), 1)
    assert stats.overhead_pixels > 100
    assert stats.obstacle_pixels == 0
    assert not (cm.state >= LETHAL).any()
    # The same board resting on the floor is an obstacle.
    on_floor = RollingCostmap(cfg)
    frame = render(Scene(boxes=(Box(3.0, 0.0, 1.0, 3.0, 1.0),)), K, cfg.mount, Pose2D(0.0, 0.0, 0.0))
    stats = on_floor.update(frame.depth_m, K, Pose2D(0.0, 0.0, 0.0), 1)
    assert stats.obstacle_pixels > 100
    assert (on_floor.state >= LETHAL).any()


def test_footprint_is_cleared() -> None:
    cm = RollingCostmap(CostmapConfig())
    cm.recenter(0.0, 0.0)
    r, c = cm.world_to_cell(0.0, 0.0)
    cm.mark_lethal(np.array([r]), np.array([c]), 1)
    update(cm, Scene(), Pose2D(0.0, 0.0, 0.0), 2)
    assert cm.state[r, c] == FREE


def test_config_refuses_bad_values_naming_parameter_value_and_range() -> None:
    with pytest.raises(ConfigError, match=r"'resolution_m' = -0.1 is outside the allowed range \[0.005, 1\] m"):
        CostmapConfig(resolution_m=-0.1)
    with pytest.raises(ConfigError, match="'max_obstacle_height_m'"):
        CostmapConfig(min_obstacle_height_m=1.0, max_obstacle_height_m=0.5)
    with pytest.raises(ConfigError, match="'inflation_radius_m'"):
        CostmapConfig(robot_radius_m=0.5, inflation_radius_m=0.3)
    with pytest.raises(ConfigError, match="needs 6 values"):
        CostmapConfig(camera_mount_xyzrpy=(0.0, 0.0, 0.5))
    with pytest.raises(ConfigError, match="must be finite"):
        CostmapConfig(cost_scaling_factor=float("nan"))


def test_camera_mount_pitch_down_sees_the_floor_closer() -> None:
    level = RollingCostmap(CostmapConfig(camera_mount_xyzrpy=(0.0, 0.0, 0.5, 0.0, 0.1, 0.0)))
    steep = RollingCostmap(CostmapConfig(camera_mount_xyzrpy=(0.0, 0.0, 0.5, 0.0, 0.6, 0.0)))
    for cm in (level, steep):
        update(cm, Scene(), Pose2D(0.0, 0.0, 0.0), 1)
    mount = CameraMount(0.0, 0.0, 0.5, 0.0, 0.6, 0.0)
    assert mount.rotation_base_optical()[2, 2] < 0  # optical axis points down
    assert (steep.state == FREE).sum() < (level.state == FREE).sum()


def test_far_keepout_patch_does_not_vanish_where_floor_rows_are_sparse() -> None:
    # At 3-4 m a 320x240 camera puts about one pixel row on each 5 cm floor cell: fewer hits than
    # min_points_per_cell, so the keep-out pixels' majority in the cell has to mark it (with the
    # keep-out range out to the marking range; the default 2.5 m leaves such far paint unsure).
    cm = RollingCostmap(CostmapConfig(keepout_max_range_m=4.0))
    update(cm, Scene(patches=(FloorPatch(3.0, -0.5, 3.8, 0.5, drivable=False),)), Pose2D(0.0, 0.0, 0.0), 1)
    res = cm.resolution_m
    inner = [
        cm.world_to_cell(x, y)
        for x in np.arange(3.0 + res, 3.8 - res, res)
        for y in np.arange(-0.5 + res, 0.5 - res, res)
    ]
    states = np.array([cm.state[c] for c in inner])
    assert (states == LETHAL_KEEPOUT).mean() > 0.95
    assert not (states == FREE).any()


def test_keepout_beyond_keepout_max_range_is_unsure_until_the_robot_comes_nearer() -> None:
    patch = FloorPatch(3.0, -0.5, 3.8, 0.5, drivable=False)
    res = 0.05
    xs, ys = np.arange(3.0 + res, 3.8 - res, res), np.arange(-0.5 + res, 0.5 - res, res)
    cm = RollingCostmap(CostmapConfig())  # keepout_max_range_m 2.5 by default
    assert cm.config.keepout_max_range_m == 2.5
    frame = render(Scene(patches=(patch,)), K, cm.config.mount, Pose2D(0.0, 0.0, 0.0))
    stats = cm.update(frame.depth_mm(), K, Pose2D(0.0, 0.0, 0.0), 1, frame.mask)
    assert stats.keepout_pixels > 500  # classified not drivable, but too far to mark
    states = np.array([cm.state[cm.world_to_cell(x, y)] for x in xs for y in ys])
    # Neither marked nor cleared by the rays that land on it: unknown.
    assert (states == UNKNOWN).mean() > 0.95 and not (states == LETHAL_KEEPOUT).any()
    near = np.array([cm.state[cm.world_to_cell(x, 0.0)] for x in np.arange(1.0, 2.4, res)])
    assert (near == FREE).all()  # drivable floor short of the patch is cleared as before
    # From 1.5 m nearer the same paint is within range and marked.
    update(cm, Scene(patches=(patch,)), Pose2D(1.5, 0.0, 0.0), 2)
    states = np.array([cm.state[cm.world_to_cell(x, y)] for x in xs for y in ys])
    assert (states == LETHAL_KEEPOUT).mean() > 0.95
    # Backing off again leaves it marked: far unsure paint does not clear a keep-out cell.
    update(cm, Scene(patches=(patch,)), Pose2D(0.0, 0.0, 0.0), 3)
    states = np.array([cm.state[cm.world_to_cell(x, y)] for x in xs for y in ys])
    assert (states == LETHAL_KEEPOUT).mean() > 0.9


def test_keepout_max_range_at_the_marking_range_marks_as_before() -> None:
    scene = Scene(patches=(FloorPatch(1.0, -0.4, 3.6, 0.4, drivable=False),))
    off = RollingCostmap(CostmapConfig(keepout_max_range_m=4.0))
    far = RollingCostmap(CostmapConfig(keepout_max_range_m=100.0))
    update(off, scene, Pose2D(0.0, 0.0, 0.0), 1)
    update(far, scene, Pose2D(0.0, 0.0, 0.0), 1)
    assert np.array_equal(off.state, far.state) and (off.state == LETHAL_KEEPOUT).sum() > 300
    short = RollingCostmap(CostmapConfig(keepout_max_range_m=2.0))
    update(short, scene, Pose2D(0.0, 0.0, 0.0), 1)
    cells = np.argwhere(short.state == LETHAL_KEEPOUT)
    x = short.origin_m[0] + (cells[:, 1] + 0.5) * short.resolution_m
    assert 0 < len(cells) < (off.state == LETHAL_KEEPOUT).sum() and x.max() < 2.0 + 0.3


def test_rays_passing_over_a_keepout_zone_do_not_erase_it() -> None:
    # Seen up close, then from where it is beyond the marking range but inside the clearing range:
    # rays cross its cells without landing there, which proves no obstacle stands there but says
    # nothing about the paint.
    cfg = CostmapConfig(obstacle_max_range_m=2.5, raytrace_max_range_m=5.0)
    patch = FloorPatch(1.5, -0.3, 2.0, 0.3, drivable=False)
    cm = RollingCostmap(cfg)
    update(cm, Scene(patches=(patch,)), Pose2D(0.0, 0.0, 0.0), 1)
    cell = cm.world_to_cell(1.9, 0.0)
    assert cm.state[cell] == LETHAL_KEEPOUT
    update(cm, Scene(patches=(patch,)), Pose2D(-1.5, 0.0, 0.0), 2)
    cell = cm.world_to_cell(1.9, 0.0)  # the window moved with the robot
    assert cm.state[cell] == LETHAL_KEEPOUT
    # A box there instead is cleared by the same rays once it is gone (Nav2's obstacle layer).
    box = RollingCostmap(cfg)
    update(box, Scene(boxes=(Box(1.9, 0.0, 0.2, 0.6, 0.3),)), Pose2D(0.0, 0.0, 0.0), 1)
    assert box.state[box.world_to_cell(1.82, 0.0)] == LETHAL
    update(box, Scene(), Pose2D(-1.5, 0.0, 0.0), 2)
    assert box.state[box.world_to_cell(1.82, 0.0)] == FREE


def test_keepout_cell_seen_drivable_again_becomes_free() -> None:
    cm = RollingCostmap(CostmapConfig())
    update(cm, Scene(patches=(FloorPatch(1.5, -0.3, 2.0, 0.3, drivable=False),)), Pose2D(0.0, 0.0, 0.0), 1)
    cell = cm.world_to_cell(1.75, 0.0)
    assert cm.state[cell] == LETHAL_KEEPOUT
    update(cm, Scene(), Pose2D(0.0, 0.0, 0.0), 2)  # the zone was painted over
    assert cm.state[cell] == FREE


def test_low_obstacle_in_the_blind_zone_is_not_forgotten() -> None:
    # A 12 cm box ahead; the robot drives up to it. Once the box is below the camera's view, floor
    # rays pass over it: they must not clear it (it is still ahead, outside the footprint).
    cm = RollingCostmap(CostmapConfig())
    box = Box(2.0, 0.0, 0.2, 0.6, 0.12)
    for i, x in enumerate(np.arange(0.0, 1.61, 0.05)):
        update(cm, Scene(boxes=(box,)), Pose2D(float(x), 0.0, 0.0), (i + 1) * SEC // 10)
    # Robot centre at 1.6 m: the box face is 0.3 m ahead, outside the 0.25 m footprint.
    assert cm.state[cm.world_to_cell(1.92, 0.0)] == LETHAL
    assert cm.costs[cm.world_to_cell(1.92, 0.0)] == LETHAL_OBSTACLE


def test_steeply_pitched_camera_keeps_clearing_bins_narrow() -> None:
    from robot_vision_nav.core.projection import MAX_BIN_WIDTH_RAD, DepthProjector

    k = d435_intrinsics(640, 480)
    projector = DepthProjector(k, CameraMount(0.0, 0.0, 0.5, 0.0, 1.2, 0.0))  # looking almost straight down
    assert projector.bin_width_rad <= MAX_BIN_WIDTH_RAD + 1e-9
    # A pole beside the view is not cleared by a floor-only frame.
    cfg = CostmapConfig(camera_mount_xyzrpy=(0.0, 0.0, 0.5, 0.0, 1.2, 0.0))
    cm = RollingCostmap(cfg)
    cm.recenter(0.0, 0.0)
    cell = cm.world_to_cell(0.1, 0.45)
    cm.mark_lethal(np.array([cell[0]]), np.array([cell[1]]), 1)
    update(cm, Scene(), Pose2D(0.0, 0.0, 0.0), 2)
    assert cm.state[cell] == LETHAL


def test_zero_depth_is_invalid_even_with_min_depth_zero() -> None:
    cm = RollingCostmap(CostmapConfig(min_depth_m=0.0))
    stats = cm.update(np.zeros((K.height, K.width), np.uint16), K, Pose2D(0.0, 0.0, 0.0), 1)
    assert stats.valid_pixels == 0


def test_projection_matches_hand_computed_points() -> None:
    # Camera 0.5 m up at x = 0.1, pitched down 0.35 rad: the optical axis meets the floor at
    # x = 0.1 + 0.5 / tan(0.35); the centre pixel's depth along the axis is 0.5 / sin(0.35).
    from robot_vision_nav.core.projection import GROUND, DepthProjector, PointFilter

    k = PinholeIntrinsics(100.0, 100.0, 2.0, 2.0, 5, 5)
    projector = DepthProjector(k, CameraMount(0.1, 0.0, 0.5, 0.0, 0.35, 0.0))
    depth = np.full((5, 5), 0.5 / math.sin(0.35), np.float32)
    points, classes = projector.classify(depth, None, PointFilter())
    assert points[2, 2] == pytest.approx([0.1 + 0.5 / math.tan(0.35), 0.0, 0.0], abs=1e-5)
    assert classes[2, 2] == GROUND
    # A pixel right of centre (u > cx) looks to the robot's right: y < 0. Below centre: nearer.
    assert points[2, 4, 1] < 0.0 < points[2, 0, 1]
    assert points[4, 2, 0] < points[2, 2, 0]
    # Yaw the camera 90 degrees left: the optical axis points along +y of base_link.
    left = DepthProjector(k, CameraMount(0.0, 0.0, 0.5, 0.0, 0.0, math.pi / 2))
    pts, _ = left.classify(np.full((5, 5), 2.0, np.float32), None, PointFilter())
    assert pts[2, 2] == pytest.approx([0.0, 2.0, 0.5], abs=1e-5)


def test_inflation_costs_equal_literal_nav2_values() -> None:
    # Values from Nav2's computeCost: 252 * exp(-3 * (d * 0.05 - 0.22)) truncated.
    cm = RollingCostmap(
        CostmapConfig(width_m=3.0, height_m=3.0, robot_radius_m=0.22, inflation_radius_m=0.55, cost_scaling_factor=3.0)
    )
    cm.recenter(0.0, 0.0)
    cm.state.fill(FREE)
    cm.mark_lethal(np.array([30]), np.array([30]), 1)
    assert [int(cm.costs[30, 30 + d]) for d in range(0, 13)] == [
        254,
        253,
        253,
        253,
        253,
        230,
        198,
        170,
        146,
        126,
        108,
        93,
        0,
    ]


def test_after_warm_up_nothing_compiles_on_the_first_real_input() -> None:
    from test.numba_helpers import compiled_by

    # A fresh process (here earlier tests have compiled the kernels): warm up, then a realistic first input.
    setup = "from robot_vision_nav.core import costmap as module\nmodule.warm_up(module.CostmapConfig())"
    workload = """
import numpy as np
from robot_vision_nav.core.geometry import PinholeIntrinsics, Pose2D
intr = PinholeIntrinsics(fx=100.0, fy=100.0, cx=80.0, cy=60.0, width=160, height=120)
costmap = module.RollingCostmap(module.CostmapConfig())
rng = np.random.default_rng(0)
frames = (rng.integers(300, 5000, (120, 160)).astype(np.uint16), rng.uniform(0.3, 5, (120, 160)).astype(np.float32))
for i, depth in enumerate(frames):
    costmap.update(depth, intr, Pose2D(0.1 * i, 0.0, 0.2), i, np.full((120, 160), 255, np.uint8))
    costmap.update(depth, intr, Pose2D(0.1 * i, 0.0, 0.2), i + 1, None)
"""
    assert compiled_by(setup, workload) == []


def test_a_mount_given_with_the_frame_is_used_instead_of_the_configured_one() -> None:
    """The node passes the TF mount per frame: the map is the one a config with that mount would make."""
    from robot_vision_nav.core.geometry import CameraMount, Pose2D
    from robot_vision_nav.sim.synthetic import Box, Scene, d435_intrinsics, render

    k = d435_intrinsics(160, 120)
    tf_mount = CameraMount(0.15, 0.05, 0.45, 0.0, 0.3, 0.05)
    frame = render(Scene(boxes=(Box(2.0, 0.3, 0.4, 0.4, 0.6),)), k, tf_mount, Pose2D(0.0, 0.0, 0.0))
    configured = RollingCostmap(CostmapConfig(camera_mount_xyzrpy=(0.1, 0.0, 0.5, 0.0, 0.35, 0.0)))
    configured.update(frame.depth_mm(), k, Pose2D(0.0, 0.0, 0.0, 1), 1, frame.mask, tf_mount)
    reference = RollingCostmap(CostmapConfig(camera_mount_xyzrpy=tuple(
        (tf_mount.x_m, tf_mount.y_m, tf_mount.z_m, tf_mount.roll_rad, tf_mount.pitch_rad, tf_mount.yaw_rad)
    )))  # fmt: skip
    reference.update(frame.depth_mm(), k, Pose2D(0.0, 0.0, 0.0, 1), 1, frame.mask)
    np.testing.assert_array_equal(configured.occupancy, reference.occupancy)
    assert (configured.occupancy == 100).sum() > 5
