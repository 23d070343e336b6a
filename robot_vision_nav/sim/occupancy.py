"""A warehouse world's floor as an occupancy grid, and routes planned on it as the generator plans them.

Footprints are rasterised into OccupancyGrid values (0 free, 100 lethal) with every cell a shape
touches lethal, so a free cell is truly free; `inflate_occupancy` grows the lethal cells by a
clearance (`core.costmap.grow_lethal`) and `plan_route` runs the grid planner
(`core.planner.plan_cells`) on the result. Grids have row 0 at the lowest y, the OccupancyGrid
layout. This module must never import ROS or MuJoCo.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import cv2
import numpy as np
from numpy.typing import NDArray

from robot_vision_nav.core.costmap import grow_lethal
from robot_vision_nav.core.grid import OCC_FREE, OCC_LETHAL
from robot_vision_nav.core.planner import PlannerConfig, plan_cells
from robot_vision_nav.sim.world_types import XY, Footprint, World, WorldConfig, round_coord


def occupancy(
    length_m: float,
    width_m: float,
    footprints: Iterable[Footprint],
    resolution_m: float,
) -> tuple[NDArray[np.int8], XY]:
    """Rasterise footprints into OccupancyGrid values over the floor (0 free, 100 lethal).

    A cell is lethal when a footprint covers any part of it (shapes are grown by half a cell
    diagonal before filling), and cells outside the floor are lethal, so a free cell is truly free.

    Returns:
        (values with row 0 at the lowest y, origin (x, y) of the lower-left corner of cell (0, 0)).

    """
    cols = math.ceil(length_m / resolution_m)
    rows = math.ceil(width_m / resolution_m)
    origin = (-cols * resolution_m / 2.0, -rows * resolution_m / 2.0)
    values = np.zeros((rows, cols), np.uint8)
    grow = resolution_m * math.sqrt(0.5)
    for fp in footprints:
        g = fp.inflated(grow)
        if fp.circle:
            centre = ((fp.x_m - origin[0]) / resolution_m - 0.5, (fp.y_m - origin[1]) / resolution_m - 0.5)
            cv2.circle(values, (round(centre[0] * 16), round(centre[1] * 16)), round(g.half_x_m / resolution_m * 16),
                       OCC_LETHAL, -1, lineType=cv2.LINE_8, shift=4)  # fmt: skip
        else:
            pts = (g.corners() - origin) / resolution_m - 0.5
            cv2.fillPoly(values, [np.round(pts * 16).astype(np.int32)], OCC_LETHAL, lineType=cv2.LINE_8, shift=4)
    # The floor edge: cells reaching past the walls' inner faces.
    edge_x = math.ceil((cols * resolution_m - length_m) / 2.0 / resolution_m)
    edge_y = math.ceil((rows * resolution_m - width_m) / 2.0 / resolution_m)
    if edge_x:
        values[:, :edge_x] = OCC_LETHAL
        values[:, cols - edge_x :] = OCC_LETHAL
    if edge_y:
        values[:edge_y, :] = OCC_LETHAL
        values[rows - edge_y :, :] = OCC_LETHAL
    return values.astype(np.int8), origin


def inflate_occupancy(values: NDArray[np.int8], radius_m: float, resolution_m: float) -> NDArray[np.int8]:
    """Every cell whose centre is within `radius_m` of a lethal cell's centre becomes lethal, the rest free."""
    grown = grow_lethal(values == OCC_LETHAL, radius_m, resolution_m)
    return np.where(grown, OCC_LETHAL, OCC_FREE).astype(np.int8)


def cell_to_xy(rc: NDArray[np.intp], origin: XY, res: float) -> NDArray[np.float64]:
    """World (x, y) of the centres of (N, 2) (row, col) cells."""
    return np.stack([origin[0] + (rc[:, 1] + 0.5) * res, origin[1] + (rc[:, 0] + 0.5) * res], axis=1)


def xy_to_cell(x: float, y: float, origin: XY, res: float) -> tuple[int, int]:
    """(row, col) of the cell holding a world point; may lie outside the grid."""
    return int((y - origin[1]) // res), int((x - origin[0]) // res)


def corners_only(path: NDArray[np.float64]) -> NDArray[np.float64]:
    """Drop the points of a grid path that lie on a straight line between their neighbours."""
    if len(path) <= 2:
        return path
    keep = [0]
    for i in range(1, len(path) - 1):
        d0 = path[i] - path[keep[-1]]
        d1 = path[i + 1] - path[i]
        if abs(d0[0] * d1[1] - d0[1] * d1[0]) > 1e-9 or d0 @ d1 < 0:
            keep.append(i)
    keep.append(len(path) - 1)
    return path[keep]


def world_occupancy(world: World, resolution_m: float = 0.05, *, zones: bool = True) -> tuple[NDArray[np.int8], XY]:
    """The world's static occupancy (0 free, 100 lethal; zones lethal unless `zones` is False) and grid origin."""
    shapes = [*world.obstacles, *([z.area for z in world.zones] if zones else [])]
    return occupancy(world.length_m, world.width_m, shapes, resolution_m)


def plan_route(
    length_m: float,
    width_m: float,
    shapes: Iterable[Footprint],
    start_xy: XY,
    goal_xy: XY,
    config: WorldConfig | None = None,
) -> tuple[XY, ...] | None:
    """The grid route between two points around `shapes` (obstacles and zones), or None when there is none.

    Planned like the generator's: `plan_cells` on the occupancy inflated by robot radius + margin;
    the exact start and goal replace the first and last cell centres.
    """
    config = WorldConfig() if config is None else config
    res = config.grid_resolution_m
    raw, origin = occupancy(length_m, width_m, shapes, res)
    grid = inflate_occupancy(raw, config.robot_radius_m + config.route_margin_m, res)
    s = xy_to_cell(*start_xy, origin, res)
    g = xy_to_cell(*goal_xy, origin, res)
    rows, cols = grid.shape
    if not (0 <= s[0] < rows and 0 <= s[1] < cols and 0 <= g[0] < rows and 0 <= g[1] < cols):
        return None
    found, path, _, _ = plan_cells(grid, s, g, PlannerConfig(cost_weight=0.0, smooth=False))
    if not found:
        return None
    route = corners_only(cell_to_xy(path, origin, res))
    route[0], route[-1] = start_xy, goal_xy
    return tuple((round_coord(x), round_coord(y)) for x, y in route)
