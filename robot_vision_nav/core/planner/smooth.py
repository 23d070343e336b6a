"""Path post-processing in continuous cell coordinates: the smoother, and densifying any-angle corners.

The smoother (`smooth_path`) is Nav2's simple smoother (pull each point toward its neighbours'
midpoint and its original place) with one more rule: a move is taken only if both segments
to the neighbouring points still pass through usable cells only, traced exactly cell by cell
(touching a corner counts as touching both cells), so the smoothed path never enters a cell the
planner refuses.
"""

from __future__ import annotations

import itertools
import math

import numba
import numpy as np
from numpy.typing import NDArray

from robot_vision_nav.core.planner.sight import segment_clear

# Smoother: Nav2 SimpleSmoother's default weights; iterations capped so a plan's time is bounded.
SMOOTH_W_DATA = 0.2
SMOOTH_W_SMOOTH = 0.3
SMOOTH_MAX_ITERATIONS = 200
SMOOTH_TOLERANCE_CELLS = 1e-4


@numba.njit(cache=True, nogil=True)
def smooth_path(
    points: NDArray[np.float64],
    first: int,
    codes: NDArray[np.uint8],
    pw: int,
    step: NDArray[np.float64],
    w_data: float,
    w_smooth: float,
    iterations: int,
    tolerance: float,
) -> int:
    """Smooth points[first + 1 : -1] in place (continuous cell coordinates); return iterations run.

    A point moves only if both segments to its neighbours stay on usable cells, so if every
    segment was clear before, every segment is clear after.
    """
    original = points.copy()
    last = points.shape[0] - 1
    done = 0
    for _ in range(iterations):
        done += 1
        change = 0.0
        for i in range(first + 1, last):
            x = points[i, 0]
            y = points[i, 1]
            nx = x + w_data * (original[i, 0] - x) + w_smooth * (points[i - 1, 0] + points[i + 1, 0] - 2.0 * x)
            ny = y + w_data * (original[i, 1] - y) + w_smooth * (points[i - 1, 1] + points[i + 1, 1] - 2.0 * y)
            if not segment_clear(codes, pw, step, points[i - 1, 0], points[i - 1, 1], nx, ny):
                continue
            if not segment_clear(codes, pw, step, nx, ny, points[i + 1, 0], points[i + 1, 1]):
                continue
            points[i, 0] = nx
            points[i, 1] = ny
            change += abs(nx - x) + abs(ny - y)
        if change < tolerance:
            break
    return done


def densify(points: NDArray[np.float64]) -> NDArray[np.float64]:
    """Insert points on every segment longer than one cell, at most one cell apart."""
    if len(points) < 2:
        return points
    out = [points[:1]]
    for a, b in itertools.pairwise(points):
        pieces = max(1, math.ceil(float(np.hypot(*(b - a))) - 1e-9))
        t = np.arange(1, pieces + 1, dtype=np.float64)[:, None] / pieces
        out.append(a + t * (b - a))
    return np.concatenate(out)
