"""Questions about a costmap that need no search: is a path blocked now, where may a blocked goal go instead."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from robot_vision_nav.core.grid import OCC_INSCRIBED, OCC_UNKNOWN, Grid


def path_blocked(grid: Grid, path_xy: NDArray[np.float64], allow_unknown: bool) -> bool:
    """Whether any point of a path lies on a cell the planner would refuse now (a replan is due).

    Points outside the grid's window are not judged: there the costmap says nothing.
    """
    for x, y in path_xy:
        row, col = grid.world_to_cell(float(x), float(y))
        if not grid.contains(row, col):
            continue
        value = int(grid.values[row, col])
        if value >= OCC_INSCRIBED or (value == OCC_UNKNOWN and not allow_unknown):
            return True
    return False


def nearest_usable_goal(
    grid: Grid, goal_xy: tuple[float, float], tolerance_m: float, allow_unknown: bool
) -> tuple[float, float] | None:
    """The centre of the usable cell nearest to a goal in a refused cell, within `tolerance_m`.

    Nav2's GridBased planner `tolerance`: when the goal cell is lethal or inscribed, plan to the
    nearest cell the planner may end in (below inscribed; unknown only with `allow_unknown`) no
    farther than `tolerance_m` from the goal. Ties go to the lower row, then column.

    Returns:
        (x, y) of that cell's centre, or None when none is that close (or the tolerance is 0).

    """
    if tolerance_m <= 0.0:
        return None
    res = grid.resolution_m
    row, col = grid.world_to_cell(*goal_xy)
    reach = int(math.ceil(tolerance_m / res)) + 1
    rows, cols = grid.shape
    r0, r1 = max(0, row - reach), min(rows, row + reach + 1)
    c0, c1 = max(0, col - reach), min(cols, col + reach + 1)
    if r0 >= r1 or c0 >= c1:
        return None
    window = grid.values[r0:r1, c0:c1].astype(np.int16)
    usable = (window >= 0) & (window < OCC_INSCRIBED)
    if allow_unknown:
        usable |= window == OCC_UNKNOWN
    rr, cc = np.nonzero(usable)
    if len(rr) == 0:
        return None
    xs = grid.origin_x_m + (cc + c0 + 0.5) * res
    ys = grid.origin_y_m + (rr + r0 + 0.5) * res
    d = np.hypot(xs - goal_xy[0], ys - goal_xy[1])
    best = int(np.argmin(d))
    if d[best] > tolerance_m:
        return None
    return float(xs[best]), float(ys[best])
