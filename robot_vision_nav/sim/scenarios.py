"""Random local-costmap scenarios: boxes inflated as Nav2 does, a start, and a path to a goal.

A scenario is a window of random lethal boxes inflated into OccupancyGrid values
(`core.costmap.inflation_costs`), a start pose and the shortest 8-connected path from it to a goal
that keeps a clearance from inscribed cells. The path comes from a plain scipy Dijkstra, not from
our planner, so the controller tests and bench/controller that drive these scenarios do not
depend on it. Deterministic for a seed. This module must never import ROS.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from robot_vision_nav.core.costmap import COST_TO_OCCUPANCY, inflation_costs
from robot_vision_nav.core.geometry import Pose2D
from robot_vision_nav.core.grid import OCC_INSCRIBED, Grid

ROWS = COLS = 200  # the default window: 10 m x 10 m at RESOLUTION_M
RESOLUTION_M = 0.05


def inflated_grid(
    lethal: NDArray[np.bool_],
    resolution_m: float,
    robot_radius_m: float = 0.2,
    inflation_radius_m: float = 0.55,
    cost_scaling_factor: float = 3.0,
    origin_xy_m: tuple[float, float] = (0.0, 0.0),
) -> Grid:
    """A lethal mask inflated as Nav2's InflationLayer does (`core.costmap.inflation_costs`), as a Grid."""
    costs = inflation_costs(lethal, resolution_m, robot_radius_m, inflation_radius_m, cost_scaling_factor)
    return Grid(COST_TO_OCCUPANCY[costs], resolution_m, origin_xy_m[0], origin_xy_m[1])


def random_costmap(
    rng: np.random.Generator,
    rows: int,
    cols: int,
    *,
    resolution_m: float = RESOLUTION_M,
    n_boxes: int = 12,
    box_m: tuple[float, float] = (0.2, 1.2),
    robot_radius_m: float = 0.2,
    inflation_radius_m: float = 0.55,
    cost_scaling_factor: float = 3.0,
) -> Grid:
    """A grid of random lethal boxes inflated as Nav2's InflationLayer does, in OccupancyGrid values."""
    lethal = np.zeros((rows, cols), dtype=bool)
    for _ in range(n_boxes):
        h, w = (np.maximum(1, rng.uniform(*box_m, size=2) / resolution_m)).astype(int)
        r0, c0 = int(rng.integers(0, max(1, rows - h))), int(rng.integers(0, max(1, cols - w)))
        lethal[r0 : r0 + h, c0 : c0 + w] = True
    return inflated_grid(lethal, resolution_m, robot_radius_m, inflation_radius_m, cost_scaling_factor)


def usable_cells(grid: Grid, clearance_m: float) -> NDArray[np.bool_]:
    """Known cells below inscribed that are at least `clearance_m` from every inscribed or lethal cell."""
    blocked = (grid.values >= OCC_INSCRIBED) | (grid.values < 0)
    if not blocked.any():
        return np.ones(grid.values.shape, dtype=bool)
    return np.asarray(ndimage.distance_transform_edt(~blocked) * grid.resolution_m > clearance_m)


def grid_path(
    grid: Grid,
    start_rc: tuple[int, int],
    goal_rc: tuple[int, int],
    clearance_m: float = 0.15,
    cost_weight: float = 1.0,
) -> NDArray[np.float64] | None:
    """Shortest 8-connected path of cell centres (N, 2) in metres over usable cells, or None.

    Step cost = step length x (1 + cost_weight x value / 98), no corner cutting. A test oracle, not a
    planner: a plain Dijkstra over a scipy sparse graph.
    """
    ok = usable_cells(grid, clearance_m)
    rows, cols = ok.shape
    if not (ok[start_rc] and ok[goal_rc]):
        return None
    index = np.arange(rows * cols).reshape(rows, cols)
    penalty = 1.0 + cost_weight * np.clip(grid.values, 0, None).astype(np.float64) / 98.0
    src_all: list[NDArray[np.intp]] = []
    dst_all: list[NDArray[np.intp]] = []
    w_all: list[NDArray[np.float64]] = []
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            if dr == 0 and dc == 0:
                continue
            r0, r1 = max(0, -dr), rows - max(0, dr)
            c0, c1 = max(0, -dc), cols - max(0, dc)
            both = ok[r0:r1, c0:c1] & ok[r0 + dr : r1 + dr, c0 + dc : c1 + dc]
            if dr and dc:  # a diagonal step needs both side cells usable
                both &= ok[r0 + dr : r1 + dr, c0:c1] & ok[r0:r1, c0 + dc : c1 + dc]
            src_all.append(index[r0:r1, c0:c1][both])
            dst_all.append(index[r0 + dr : r1 + dr, c0 + dc : c1 + dc][both])
            w_all.append(math.hypot(dr, dc) * penalty[r0 + dr : r1 + dr, c0 + dc : c1 + dc][both])
    graph = csr_matrix((np.concatenate(w_all), (np.concatenate(src_all), np.concatenate(dst_all))),
                       shape=(rows * cols, rows * cols))  # fmt: skip
    start, goal = int(index[start_rc]), int(index[goal_rc])
    dist, pred = dijkstra(graph, indices=start, return_predecessors=True)
    if not math.isfinite(dist[goal]):
        return None
    chain = [goal]
    while chain[-1] != start:
        chain.append(int(pred[chain[-1]]))
    cells = np.array(chain[::-1])
    r, c = np.divmod(cells, cols)
    return np.column_stack(
        (grid.origin_x_m + (c + 0.5) * grid.resolution_m, grid.origin_y_m + (r + 0.5) * grid.resolution_m)
    )


def random_scenario(
    seed: int,
    rows: int = ROWS,
    cols: int = COLS,
    *,
    n_boxes: int = 12,
    min_distance_m: float = 2.0,
    clearance_m: float = 0.15,
) -> tuple[Grid, Pose2D, NDArray[np.float64], float]:
    """A world, a start pose (random yaw) and a path to a goal at least `min_distance_m` away, and a goal yaw."""
    rng = np.random.default_rng(seed)
    for _ in range(100):
        grid = random_costmap(rng, rows, cols, n_boxes=n_boxes)
        free = np.argwhere(usable_cells(grid, clearance_m))
        if len(free) < 2:
            continue
        for _ in range(20):
            a, b = free[rng.integers(len(free), size=2)]
            start_xy, goal_xy = grid.cell_center(int(a[0]), int(a[1])), grid.cell_center(int(b[0]), int(b[1]))
            if math.dist(start_xy, goal_xy) < min_distance_m:
                continue
            path = grid_path(grid, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), clearance_m)
            if path is not None:
                start = Pose2D(start_xy[0], start_xy[1], float(rng.uniform(-math.pi, math.pi)))
                return grid, start, path, float(rng.uniform(-math.pi, math.pi))
    raise RuntimeError(f"no scenario with a path found for seed {seed}")
