"""What Nav2 marks from semantic_obstacles_node's cloud agrees with what costmap_node marks lethal.

The same simulator frames (the demo's worlds, poses along their routes, ground-truth mask) go to our
RollingCostmap (one update, no decay) and, as a cloud, to an independent model of Nav2's
ObstacleLayer (test/nav2_obstacle_layer.py) configured from config/nav2_semantic_obstacles.yaml.
Every lethal cell of one must have a marked cell of the other within one cell (8-neighbourhood).

Measured (bench/semantic_obstacles_agreement.py, 40 frames of worlds 1-10): our lethal cells near a
Nav2 cell 99.97 %, Nav2's cells near ours 99.99 % as shipped (voxel_size_m 0.025, which mirrors the
costmap's min_points_per_cell and keepout_min_fraction per voxel column); 99.98 % / 100 % with
every point published against a costmap that filters nothing. About 10 % of our cells are marked by
Nav2 only in a neighbouring cell: the costmap spreads each far floor pixel (keep-out paint, the
strip of not-drivable floor at a wall's foot) over the patch of floor it sees, a few centimetres
past faces and between pixel rows, and the cloud keeps one point per pixel. The thresholds leave
that margin, and the same-cell share (89.7 % measured) guards against a shift the one-cell
tolerance would hide.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from robot_vision_nav.core.obstacle_cloud import ObstacleCloudConfig
from robot_vision_nav.ros.topics import OBSTACLES as OBSTACLES_TOPIC
from test.nav2_obstacle_layer import (
    DemoFrame,
    agreement,
    compare_frame,
    demo_frames,
    load_source,
)

MIN_AGREEMENT = 0.98
MIN_SAME_CELL = 0.8
SETTINGS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "shipped": ({}, {}),
    "unfiltered": ({"min_points_per_cell": 1, "keepout_min_fraction": 0.0}, {"voxel_size_m": 0.0}),
}


@pytest.fixture(scope="module")
def frames() -> list[DemoFrame]:
    return list(demo_frames(poses_per_world=2))


def test_the_nav2_snippet_agrees_with_the_node_defaults() -> None:
    source = load_source()
    node = ObstacleCloudConfig()
    assert source.topic == f"/{OBSTACLES_TOPIC}" and source.data_type == "PointCloud2"
    assert source.marking and not source.clearing and not source.inf_is_valid
    # Keep-out and drop-off points mark; so do the node's lowest and highest obstacles.
    assert source.min_obstacle_height <= node.min_obstacle_height_m
    assert source.min_obstacle_height <= node.keepout_height_m <= source.max_obstacle_height
    assert source.max_obstacle_height >= node.max_obstacle_height_m
    # Nav2's range (3-D, from the cloud's frame origin, base_link) never cuts what the node sends:
    # points within obstacle_max_range_m horizontally of the camera, at most max_obstacle_height_m up.
    mount = node.mount
    farthest = np.hypot(node.obstacle_max_range_m + abs(mount.x_m) + abs(mount.y_m), node.max_obstacle_height_m)
    assert source.obstacle_max_range > farthest


@pytest.mark.parametrize("setting", sorted(SETTINGS))
def test_nav2_marks_from_the_cloud_what_our_costmap_marks_lethal(frames: list[DemoFrame], setting: str) -> None:
    source = load_source()
    costmap_kw, cloud_kw = SETTINGS[setting]
    totals = np.zeros(5, dtype=np.int64)  # ours near, ours, cloud near, cloud, same cell
    for frame in frames:
        both = compare_frame(frame, costmap_kw, cloud_kw, source)
        ours, marked = both.ours, both.marked
        ours_near, n_ours = agreement(ours, marked)
        cloud_near, n_cloud = agreement(marked, ours)
        totals += (ours_near, n_ours, cloud_near, n_cloud, np.count_nonzero(ours & marked))
        if n_ours >= 50:  # one frame alone, where it has enough cells to say something
            assert ours_near >= 0.9 * n_ours, f"world {frame.seed} at {frame.pose}: {ours_near}/{n_ours}"
            assert cloud_near >= 0.9 * n_cloud, f"world {frame.seed} at {frame.pose}: {cloud_near}/{n_cloud}"
    ours_near, n_ours, cloud_near, n_cloud, same = (int(v) for v in totals)
    assert n_ours > 2000 and n_cloud > 2000, "the frames should see plenty of obstacles and keep-out zones"
    assert ours_near / n_ours >= MIN_AGREEMENT, f"our lethal cells near a Nav2 cell: {ours_near}/{n_ours}"
    assert cloud_near / n_cloud >= MIN_AGREEMENT, f"Nav2 cells near our lethal ones: {cloud_near}/{n_cloud}"
    assert same / n_ours >= MIN_SAME_CELL, f"cells marked by both exactly: {same}/{n_ours}"
