"""The planner's entry points: `plan` in world metres, `plan_cells` between cells, and `warm_up`.

Special cases of `plan`, each reported in `Plan.status`:
- goal outside the window ("goal_outside"): the search ends at the best window-edge cell, the one
  minimising (path cost from the start to it) + (straight-line distance from its centre to the
  goal). It is exact (to the tie-break bound): an edge cell links to a virtual goal node at that
  distance, and the Euclidean heuristic stays consistent on the extended graph.
- start in a refused cell ("escaped_start"): a second search (uniform steps through any non-lethal
  cell, no corner cutting past lethal ones) finds the cell usable under the config that is
  nearest to the start along such a path, within `escape_radius_m`; the plan goes there first.
- a refused goal cell ("goal_blocked"), no escape ("start_blocked"), no path ("no_path").
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from numpy.typing import NDArray

from robot_vision_nav.core.grid import OCC_LETHAL, Grid
from robot_vision_nav.core.planner.search import ESCAPE, TO_EDGE, search
from robot_vision_nav.core.planner.search_grid import prepare, step_tables
from robot_vision_nav.core.planner.smooth import (
    SMOOTH_MAX_ITERATIONS,
    SMOOTH_TOLERANCE_CELLS,
    SMOOTH_W_DATA,
    SMOOTH_W_SMOOTH,
    densify,
    smooth_path,
)
from robot_vision_nav.core.planner.types import Plan, PlannerConfig, PlannerError, PlanStatus
from robot_vision_nav.core.planner.validate import check_cell, check_values, describe_value, finite_point


def plan_cells(
    values: NDArray[np.int8], start_rc: tuple[int, int], goal_rc: tuple[int, int], config: PlannerConfig
) -> tuple[bool, NDArray[np.intp], float, int]:
    """The bare search between two cells: no start escape, no edge goal, no smoothing.

    Args:
        values: (rows, cols) int8 OccupancyGrid values, row 0 the lowest y.
        start_rc: start (row, col).
        goal_rc: goal (row, col).
        config: cost weight, unknown handling and any-angle as in `plan`.

    Returns:
        (found, (N, 2) cells (row, col) from start to goal, cost in cell units, expansions). With
        `any_angle` the cells are the path's corners. A refused start or goal gives
        (False, (0, 2), inf, 0).

    Raises:
        PlannerError: values not a 2-D int8 array, or a cell outside the grid.

    """
    check_values(values)
    sr, sc = check_cell(start_rc, values.shape, "start_rc")
    gr, gc = check_cell(goal_rc, values.shape, "goal_rc")
    step = step_tables(config)[0]
    if step[int(values[sr, sc]) & 0xFF] < 0.0 or step[int(values[gr, gc]) & 0xFF] < 0.0:
        return False, np.empty((0, 2), dtype=np.intp), math.inf, 0
    found, cells, cost, expansions = prepare(values, config).route((sr, sc), (gr, gc))
    return found, cells, cost, expansions


def _centres(path: NDArray[np.int64], pw: int) -> NDArray[np.float64]:
    """Padded cell indices -> continuous unpadded cell coordinates (x = col + 0.5, y = row + 0.5)."""
    rows, cols = np.divmod(path, pw)
    return np.stack((cols - 0.5, rows - 0.5), axis=1).astype(np.float64)


def _fmt(x: float, y: float) -> str:
    return f"({x:.3g}, {y:.3g})"


def _failed(status: PlanStatus, message: str, expansions: int = 0) -> Plan:
    return Plan(False, np.empty((0, 2), dtype=np.float64), 0.0, math.inf, expansions, status, message)


def plan(grid: Grid, start_xy: tuple[float, float], goal_xy: tuple[float, float], config: PlannerConfig) -> Plan:
    """Plan from a start to a goal on a grid, in the grid's world frame.

    Args:
        grid: the costmap (values, resolution, origin).
        start_xy: start (x, y) in metres; must lie in the grid.
        goal_xy: goal (x, y) in metres; outside the grid the plan reaches the best edge cell toward it.
        config: planner settings.

    Returns:
        The plan; see `Plan` and `PlanStatus`. A found path starts at start_xy exactly and ends at
        goal_xy exactly (or at the edge cell's centre).

    Raises:
        PlannerError: non-finite coordinates, or a start outside the grid.

    """
    sx, sy = finite_point(start_xy, "start_xy")
    gx, gy = finite_point(goal_xy, "goal_xy")
    rows, cols = grid.shape
    res = grid.resolution_m
    ox, oy = grid.origin_x_m, grid.origin_y_m
    # Continuous cell coordinates: cell (r, c) spans [c, c + 1) x [r, r + 1).
    s_x, s_y = (sx - ox) / res, (sy - oy) / res
    g_x, g_y = (gx - ox) / res, (gy - oy) / res
    s_row, s_col = grid.world_to_cell(sx, sy)
    g_row, g_col = grid.world_to_cell(gx, gy)
    if not grid.contains(s_row, s_col):
        raise PlannerError(
            f"start {_fmt(sx, sy)} m is outside the grid window x [{ox:.3g}, {ox + cols * res:.3g}], "
            f"y [{oy:.3g}, {oy + rows * res:.3g}] m"
        )
    step = step_tables(config)[0]
    values = grid.values
    goal_inside = grid.contains(g_row, g_col)
    if goal_inside and step[int(values[g_row, g_col]) & 0xFF] < 0.0:
        value = int(values[g_row, g_col])
        return _failed(PlanStatus.GOAL_BLOCKED, f"goal {_fmt(gx, gy)} lies in a cell the planner refuses (value "
                       f"{value}: {describe_value(value)})")  # fmt: skip

    search_grid = prepare(values, config)
    codes, pw = search_grid.codes, search_grid.pw
    start = search_grid.index((s_row, s_col))
    expansions = 0
    prefix = np.empty((0, 2), dtype=np.float64)
    escape_cost = 0.0
    if step[codes[start]] < 0.0:
        value = int(values[s_row, s_col])
        radius_cells = config.escape_radius_m / res
        found, esc, esc_len, n_exp = (False, np.empty(0, np.int64), 0.0, 0)
        if radius_cells > 0.0:
            found, esc, esc_len, n_exp = search(
                codes, pw, search_grid.escape_step, start, -1, 0.0, 0.0, ESCAPE, False, search_grid.usable, radius_cells
            )
        expansions += int(n_exp)
        if not found:
            return _failed(PlanStatus.START_BLOCKED, f"start {_fmt(sx, sy)} lies in a refused cell (value {value}: "
                           f"{describe_value(value)}) with no usable cell within {config.escape_radius_m:g} m",
                           expansions)  # fmt: skip
        prefix = _centres(esc[:-1], pw)
        prefix[0] = (s_x, s_y)
        escape_cost = float(esc_len) * (1.0 + config.cost_weight)
        start = int(esc[-1])

    if goal_inside:
        found, path, cost, n_exp = search_grid.route_index(start, search_grid.index((g_row, g_col)))
    else:
        found, path, cost, n_exp = search(
            codes, pw, step, start, -1, g_y + 0.5, g_x + 0.5, TO_EDGE, config.any_angle, search_grid.usable, math.inf
        )
    expansions += int(n_exp)
    if not found:
        where = f"goal {_fmt(gx, gy)}" if goal_inside else f"any edge cell toward the goal {_fmt(gx, gy)}"
        refused = "lethal or inscribed" if config.allow_unknown else "lethal, inscribed or unknown"
        return _failed(PlanStatus.NO_PATH, f"no path from {_fmt(sx, sy)} to {where}: every way is blocked by "
                       f"{refused} cells", expansions)  # fmt: skip

    points = _centres(path, pw)
    if config.any_angle:
        points = densify(points)
    if len(prefix) == 0:
        # Start exactly at start_xy: replace the start cell's centre when the first segment allows it.
        if len(points) == 1 or search_grid.line_clear((s_x, s_y), (points[1, 0], points[1, 1])):
            points[0] = (s_x, s_y)
        else:
            points = np.concatenate(([(s_x, s_y)], points))
    if goal_inside:
        if len(points) >= 2 and search_grid.line_clear((points[-2, 0], points[-2, 1]), (g_x, g_y)):
            points[-1] = (g_x, g_y)
        else:
            points = np.concatenate((points, [(g_x, g_y)]))
    points = np.concatenate((prefix, points)) if len(prefix) else points
    first_free = max(0, len(prefix))
    if config.smooth and len(points) - first_free >= 3:
        points = np.ascontiguousarray(points)
        smooth_path(points, first_free, codes, pw, step, SMOOTH_W_DATA, SMOOTH_W_SMOOTH, SMOOTH_MAX_ITERATIONS,
                    SMOOTH_TOLERANCE_CELLS)  # fmt: skip

    path_xy = np.empty_like(points)
    path_xy[:, 0] = ox + points[:, 0] * res
    path_xy[:, 1] = oy + points[:, 1] * res
    length_m = float(np.sum(np.hypot(*np.diff(path_xy, axis=0).T))) if len(path_xy) > 1 else 0.0
    total_cost = (float(cost) + escape_cost) * res
    end_x, end_y = path_xy[-1]
    parts = []
    status = PlanStatus.OK
    if not goal_inside:
        status = PlanStatus.GOAL_OUTSIDE
        parts.append(
            f"goal {_fmt(gx, gy)} is outside the {cols * res:.3g} x {rows * res:.3g} m window: planning to the edge "
            f"cell {_fmt(end_x, end_y)} toward it"
        )
    if len(prefix):
        status = PlanStatus.ESCAPED_START  # the more urgent news when both apply; the message keeps both
        parts.insert(0, f"start {_fmt(sx, sy)} lies in a refused cell: escaping to {_fmt(*path_xy[len(prefix)])} "
                     "first")  # fmt: skip
    if not parts:
        parts.append(f"path found from {_fmt(sx, sy)} to {_fmt(gx, gy)}")
    message = "; ".join(parts) + f" ({length_m:.3g} m, {expansions} cell{'' if expansions == 1 else 's'} expanded)"
    return Plan(True, path_xy, length_m, total_cost, expansions, status, message)


def warm_up(config: PlannerConfig) -> None:
    """Compile every search kernel now instead of on the first goal (seconds the first time, then numba's cache).

    A node that compiled on its first goal would stall that cycle for seconds on a loaded machine
    (a replay played in real time loses its first plans). Plans on a tiny grid: a free path with
    the configured search and the other one (any-angle or not), and an escape from a lethal start.
    Those plans smooth and weigh cost even where the config does not, so that setting `smooth` or
    a non-zero `cost_weight` at run time compiles nothing either.
    """
    values = np.zeros((12, 12), np.int8)
    values[5, 2:9] = OCC_LETHAL
    grid = Grid(values, 0.1)
    for any_angle in (config.any_angle, not config.any_angle):
        variant = dataclasses.replace(config, any_angle=any_angle, smooth=True, cost_weight=config.cost_weight or 1.0)
        plan(grid, (0.15, 0.15), (1.05, 1.05), variant)
        plan(grid, (0.45, 0.55), (1.05, 1.05), variant)  # start on the wall: the escape search
