"""Generated warehouses: deterministic from the seed, a route that clears every obstacle and keep-out
zone by the robot radius, colours that do not give meaning away, labels from the one label set."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from robot_vision_nav.core.config import ConfigError
from robot_vision_nav.core.geometry import Pose2D
from robot_vision_nav.package_files import load_label_set
from robot_vision_nav.sim.mjcf import world_xml
from robot_vision_nav.sim.occupancy import world_occupancy
from robot_vision_nav.sim.world import WorldError, build_world, generate_world
from robot_vision_nav.sim.world_types import LABEL_SET, Footprint, World, WorldConfig, Zone

ROUTE_SEEDS = range(40)


def route_points(world: World, step_m: float = 0.02) -> np.ndarray:
    pts = np.asarray(world.route_xy, np.float64)
    out = [pts[:1]]
    for a, b in itertools.pairwise(pts):
        n = max(1, math.ceil(float(np.hypot(*(b - a))) / step_m))
        out.append(a + np.linspace(0.0, 1.0, n + 1)[1:, None] * (b - a))
    return np.concatenate(out)


def clearance(shapes: list[Footprint], pts: np.ndarray) -> float:
    if not shapes:
        return math.inf
    return float(min(np.min(s.distance(pts[:, 0], pts[:, 1])) for s in shapes))


def test_same_seed_same_world_and_xml_different_seeds_differ() -> None:
    a, b = generate_world(11), generate_world(11)
    assert a == b
    assert world_xml(a) == world_xml(b)
    assert world_xml(generate_world(12)) != world_xml(a)
    assert generate_world(12).route_xy != a.route_xy


@pytest.mark.parametrize("seed", ROUTE_SEEDS)
def test_route_exists_and_clears_obstacles_and_keep_out_zones(seed: int) -> None:
    world = generate_world(seed)
    config = WorldConfig()
    assert len(world.route_xy) >= 2
    start, goal = np.array(world.route_xy[0]), np.array(world.route_xy[-1])
    assert np.allclose(start, (world.start.x_m, world.start.y_m)) and np.allclose(goal, world.goal_xy)
    assert float(np.hypot(*(goal - start))) >= config.min_route_m
    pts = route_points(world)
    # Exact footprints, not the grid: every point of the polyline keeps the robot off everything.
    assert clearance(list(world.obstacles), pts) >= world.robot_radius_m
    assert clearance([z.area for z in world.zones], pts) >= world.robot_radius_m
    half = np.array([world.length_m / 2, world.width_m / 2]) - world.robot_radius_m
    assert np.all(np.abs(pts) <= half)
    # People never stand on the start or the goal.
    for mover in world.movers:
        for t in np.linspace(0.0, 30.0, 61):
            fp = mover.footprint_at(float(t))
            assert float(fp.distance(*start)) > world.robot_radius_m
            assert float(fp.distance(*goal)) > world.robot_radius_m


def test_worlds_contain_what_the_issue_asks_for() -> None:
    worlds = [generate_world(s) for s in range(12)]
    labels = {p.label for w in worlds for p in w.parts}
    assert {"wall", "rack", "box", "pallet", "post", "keep_out", "marking", "other"} <= labels
    assert all(w.zones for w in worlds)
    assert any(w.movers for w in worlds)
    assert {z.style for w in worlds for z in w.zones} == {"hazard", "red", "red_white"}
    assert len({w.length_m for w in worlds}) > 1 and len({w.textures[0].rgb_a for w in worlds}) > 1
    assert len({w.lights for w in worlds}) == len(worlds)
    # Colour is no shortcut to meaning: yellow and red paint are both on drivable markings and in zones.
    marking_rgbs = [p.rgba[:3] for w in worlds for p in w.parts if p.label == "marking"]
    assert any(r > 0.85 and g > 0.7 and b < 0.2 for r, g, b in marking_rgbs)  # yellow lines
    assert any(r > 0.7 and g < 0.2 and b < 0.2 for r, g, b in marking_rgbs)  # red lines
    hazard = worlds[0].textures[1]
    assert hazard.name == "zone_hazard" and hazard.rgb_a[0] > 200 and hazard.rgb_a[1] > 150  # yellow stripes


def test_paint_is_flat_and_zones_sit_on_markings() -> None:
    world = generate_world(3)
    for p in world.parts:
        if p.label in ("marking", "keep_out"):
            assert p.shape == "box" and p.z_m + p.size[2] <= 0.003 + 1e-9
    zone_top = max(p.z_m + p.size[2] for p in world.parts if p.label == "keep_out")
    marking_top = max(p.z_m + p.size[2] for p in world.parts if p.label == "marking")
    assert zone_top > marking_top  # a zone painted over a lane line shows as the zone


def test_every_part_and_footprint_is_labelled_with_a_class_of_the_label_set() -> None:
    names = set(load_label_set(LABEL_SET).names)
    for seed in range(5):
        world = generate_world(seed)
        assert {p.label for p in world.parts} <= names
        assert {fp.label for fp in (*world.obstacles, *world.markings, *[z.area for z in world.zones])} <= names


def test_every_geom_is_named_by_its_class() -> None:
    xml = world_xml(generate_world(5))
    names = [chunk.split('"')[0] for chunk in xml.split('geom name="')[1:]]
    assert names and all(n.split(":")[0] in load_label_set(LABEL_SET).names for n in names)
    assert len(names) == len(set(names))


def test_occupancy_marks_obstacles_and_zones_and_leaves_the_route_free() -> None:
    world = generate_world(8)
    grid, origin = world_occupancy(world, 0.05)
    assert grid.dtype == np.int8 and set(np.unique(grid)) <= {0, 100}
    for fp in (*world.obstacles[4:], *(z.area for z in world.zones)):  # skip the walls, outside the floor
        col = int((fp.x_m - origin[0]) // 0.05)
        row = int((fp.y_m - origin[1]) // 0.05)
        assert grid[row, col] == 100
    no_zones, _ = world_occupancy(world, 0.05, zones=False)
    assert (no_zones == 100).sum() < (grid == 100).sum()
    for x, y in route_points(world, 0.05):
        assert grid[int((y - origin[1]) // 0.05), int((x - origin[0]) // 0.05)] == 0


def test_hand_made_world_routes_around_a_zone_that_blocks_the_straight_line() -> None:
    zone = Zone(Footprint("keep_out", 0.0, 0.0, 0.5, 1.2), "red")
    world = build_world(8.0, 5.0, zones=[zone], start=Pose2D(-3.0, 0.0, 0.0), goal_xy=(3.0, 0.0))
    pts = route_points(world)
    assert clearance([zone.area], pts) >= world.robot_radius_m
    assert world.route_length_m() > 6.0 + 0.5


def test_hand_made_world_without_a_route_is_refused() -> None:
    wall = Footprint("box", 0.0, 0.0, 0.3, 2.6)
    with pytest.raises(WorldError, match="no route"):
        build_world(8.0, 5.0, solids=[(wall, 1.0)], start=Pose2D(-3.0, 0.0, 0.0), goal_xy=(3.0, 0.0))


def test_bad_config_and_seed_are_refused_with_the_parameter_named() -> None:
    with pytest.raises(ConfigError, match="min must be <= max"):
        WorldConfig(min_length_m=30.0, max_length_m=20.0)
    with pytest.raises(ConfigError, match="'robot_radius_m'"):
        WorldConfig(robot_radius_m=0.0)
    with pytest.raises(WorldError, match="seed must be >= 0"):
        generate_world(-1)
