"""An independent model of how Nav2's ObstacleLayer marks a PointCloud2, and demo-world frames to feed it.

Written from Nav2's rules, not from our costmap's code, so that comparing the two checks the cloud
(`semantic_obstacles_node`) against the costmap (`costmap_node`) rather than one implementation
against itself. A point of the cloud, taken into the costmap's global frame, marks the cell holding
its (x, y), `floor((x - origin_x) / resolution)` (Nav2's worldToMap), when
`min_obstacle_height <= z <= max_obstacle_height` (ObservationBuffer's height filter) and its 3-D
distance from the sensor origin is below `obstacle_max_range` (ObstacleLayer::updateBounds). The
layer parameters are read from the shipped snippet, config/nav2_semantic_obstacles.yaml.

`demo_frames` renders simulator frames (depth, ground-truth traversability mask) in the worlds
`make demo` drives (seeds 1-10) at poses along each world's own route: the test and
bench/semantic_obstacles_agreement.py use the same frames.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from numpy.typing import NDArray
from scipy import ndimage

from robot_vision_nav.core.costmap import CostmapConfig, RollingCostmap
from robot_vision_nav.core.geometry import PinholeIntrinsics, Pose2D
from robot_vision_nav.core.obstacle_cloud import ObstacleCloudBuilder, ObstacleCloudConfig

REPO = Path(__file__).resolve().parents[1]
NAV2_SNIPPET = REPO / "config" / "nav2_semantic_obstacles.yaml"
DEMO_SEEDS = tuple(range(1, 11))  # `rvn demo` / `make demo`: --seed 1 --scenes 10


@dataclass(frozen=True)
class ObservationSource:
    """The parameters of one Nav2 observation source that decide which points mark."""

    topic: str
    data_type: str
    marking: bool
    clearing: bool
    min_obstacle_height: float
    max_obstacle_height: float
    obstacle_max_range: float
    inf_is_valid: bool


def load_source(
    path: Path = NAV2_SNIPPET, layer: str = "semantic_obstacle_layer", source: str = "semantic"
) -> ObservationSource:
    """The observation source `source` of `layer` in the local costmap of a Nav2 params file."""
    params = yaml.safe_load(path.read_text())["local_costmap"]["local_costmap"]["ros__parameters"]
    assert layer in params["plugins"], f"{layer} not in plugins {params['plugins']}"
    assert source in str(params[layer]["observation_sources"]).split()
    s = params[layer][source]
    return ObservationSource(
        topic=s["topic"],
        data_type=s["data_type"],
        marking=s["marking"],
        clearing=s["clearing"],
        min_obstacle_height=float(s["min_obstacle_height"]),
        max_obstacle_height=float(s["max_obstacle_height"]),
        obstacle_max_range=float(s["obstacle_max_range"]),
        inf_is_valid=s["inf_is_valid"],
    )


def base_to_global(points_base: NDArray[np.float32], pose: Pose2D) -> NDArray[np.float64]:
    """Points in base_link to the global (odom) frame of a planar robot pose (z unchanged)."""
    c, s = math.cos(pose.yaw_rad), math.sin(pose.yaw_rad)
    p = np.asarray(points_base, dtype=np.float64)
    out = np.empty_like(p)
    out[:, 0] = pose.x_m + c * p[:, 0] - s * p[:, 1]
    out[:, 1] = pose.y_m + s * p[:, 0] + c * p[:, 1]
    out[:, 2] = p[:, 2]
    return out


def nav2_marked_cells(
    points_global: NDArray[np.float64],
    sensor_origin: tuple[float, float, float],
    grid_origin: tuple[float, float],
    resolution_m: float,
    shape: tuple[int, int],
    source: ObservationSource,
) -> NDArray[np.bool_]:
    """(rows, cols) bool grid, row 0 at the lowest y: the cells an ObstacleLayer marks LETHAL for this cloud."""
    marked = np.zeros(shape, dtype=bool)
    if not source.marking or points_global.shape[0] == 0:
        return marked
    x, y, z = points_global[:, 0], points_global[:, 1], points_global[:, 2]
    ox, oy, oz = sensor_origin
    sq_dist = (x - ox) ** 2 + (y - oy) ** 2 + (z - oz) ** 2
    keep = (z >= source.min_obstacle_height) & (z <= source.max_obstacle_height)
    keep &= sq_dist < source.obstacle_max_range**2
    # worldToMap: below the origin is outside; otherwise truncation of a non-negative number = floor.
    gx, gy = (x - grid_origin[0]) / resolution_m, (y - grid_origin[1]) / resolution_m
    keep &= (gx >= 0.0) & (gy >= 0.0)
    col, row = gx[keep].astype(np.int64), gy[keep].astype(np.int64)
    inside = (col < shape[1]) & (row < shape[0])
    marked[row[inside], col[inside]] = True
    return marked


def agreement(cells: NDArray[np.bool_], other: NDArray[np.bool_]) -> tuple[int, int]:
    """(how many of `cells` have a cell of `other` in their 8-neighbourhood or on them, how many there are)."""
    near = ndimage.binary_dilation(other, structure=np.ones((3, 3), dtype=bool))
    return int(np.count_nonzero(cells & near)), int(np.count_nonzero(cells))


@dataclass(frozen=True)
class DemoFrame:
    """One rendered camera frame of a demo world, with its ground-truth traversability mask."""

    seed: int
    pose: Pose2D
    depth_mm: NDArray[np.uint16]
    mask: NDArray[np.uint8]
    rgb: NDArray[np.uint8]
    intrinsics: PinholeIntrinsics
    mount_xyzrpy: tuple[float, ...]


def route_poses(route_xy: tuple[tuple[float, float], ...], count: int) -> list[Pose2D]:
    """`count` poses spread along a route polyline (start included), each facing along the route."""
    pts = np.asarray(route_xy, dtype=np.float64)
    seg = np.hypot(*np.diff(pts, axis=0).T)
    total = float(seg.sum())
    poses: list[Pose2D] = []
    for k in range(count):
        s = total * k / max(count, 1) * 0.9  # never the goal itself: the camera would face the end wall
        i = int(np.searchsorted(np.cumsum(seg), s, side="right"))
        i = min(i, len(seg) - 1)
        t = (s - float(seg[:i].sum())) / float(seg[i]) if seg[i] > 0 else 0.0
        x, y = pts[i] + t * (pts[i + 1] - pts[i])
        dx, dy = pts[i + 1] - pts[i]
        poses.append(Pose2D(float(x), float(y), math.atan2(float(dy), float(dx))))
    return poses


def demo_frames(seeds: tuple[int, ...] = DEMO_SEEDS, poses_per_world: int = 4) -> Iterator[DemoFrame]:
    """Frames of the demo's worlds at poses along their routes, rendered as sim_node renders them."""
    from robot_vision_nav.package_files import load_label_set
    from robot_vision_nav.sim.camera import CameraConfig
    from robot_vision_nav.sim.robot import RobotConfig
    from robot_vision_nav.sim.sim import Simulator
    from robot_vision_nav.sim.world import generate_world
    from robot_vision_nav.sim.world_types import WorldConfig

    drivable = load_label_set("warehouse").drivable_lut()
    robot, camera = RobotConfig(), CameraConfig()
    for seed in seeds:
        world = generate_world(seed, WorldConfig(robot_radius_m=robot.radius_m))
        with Simulator(world, robot=robot, camera=camera) as sim:
            for pose in route_poses(world.route_xy, poses_per_world):
                sim.set_pose(pose)
                frame = sim.render()
                mask = np.where(drivable[frame.labels], 255, 0).astype(np.uint8)
                yield DemoFrame(
                    seed, pose, frame.depth_mm(), mask, frame.rgb, sim.intrinsics, tuple(camera.mount_xyzrpy)
                )


@dataclass(frozen=True)
class FrameComparison:
    """One frame through our costmap (one update, nothing decays) and through the cloud + Nav2's rules."""

    ours: NDArray[np.bool_]  # our lethal cells (OccupancyGrid 100)
    marked: NDArray[np.bool_]  # the cells Nav2's ObstacleLayer marks from the cloud, on the same grid
    costmap: RollingCostmap
    builder: ObstacleCloudBuilder
    points: int  # in the cloud


def compare_frame(
    frame: DemoFrame, costmap_kw: dict[str, Any], cloud_kw: dict[str, Any], source: ObservationSource
) -> FrameComparison:
    """Both sides of the agreement check for `frame`, with config overrides for each side."""
    mount = frame.mount_xyzrpy
    costmap = RollingCostmap(CostmapConfig(camera_mount_xyzrpy=mount, obstacle_decay_s=0.0, **costmap_kw))
    costmap.update(frame.depth_mm, frame.intrinsics, frame.pose, 1, frame.mask)
    builder = ObstacleCloudBuilder(ObstacleCloudConfig(camera_mount_xyzrpy=mount, **cloud_kw))
    cloud = builder.build(frame.depth_mm, frame.intrinsics, frame.mask)
    camera = base_to_global(np.array([mount[:3]], dtype=np.float32), frame.pose)[0]
    marked = nav2_marked_cells(
        base_to_global(cloud.points, frame.pose),
        (float(camera[0]), float(camera[1]), float(camera[2])),
        costmap.origin_m,
        costmap.resolution_m,
        costmap.shape,
        source,
    )
    return FrameComparison(costmap.occupancy == 100, marked, costmap, builder, int(cloud.points.shape[0]))
