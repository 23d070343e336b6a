"""Line of sight on the padded codes: Theta*'s segment cost between cell centres, and the smoother's check.

`line_cost` walks the cells between two cell centres (integer supercover) and prices the segment
as Theta* needs it; `segment_clear` traces a segment between any two continuous points
(Amanatides-Woo). Both refuse a segment through a cell corner unless both cells beside the corner
are usable, the corner rule of a single diagonal step.

numba's cache notices a change to a kernel's own file only: `search` and `smooth_path` compile
these kernels into their own cached code. After editing this file, delete
robot_vision_nav/core/planner/__pycache__/*.nb[ci] (or touch search.py and smooth.py).
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numpy.typing import NDArray


@numba.njit(cache=True, nogil=True)
def line_cost(codes: NDArray[np.uint8], pw: int, step: NDArray[np.float64], a: int, b: int) -> float:
    """Cost of the straight segment between the centres of padded cells a and b, or -1 if blocked.

    Walks every cell the segment passes through (integer supercover); where it passes exactly
    through a cell corner both side cells must be usable, the corner rule of single diagonal
    steps. The cost is the length times the mean step factor of the cells entered (not a), which
    for one step equals the 8-connected step cost.
    """
    r0 = a // pw
    c0 = a - r0 * pw
    r1 = b // pw
    c1 = b - r1 * pw
    dr = abs(r1 - r0)
    dc = abs(c1 - c0)
    sr = 1 if r1 > r0 else -1
    sc = 1 if c1 > c0 else -1
    err = dc - dr
    dr2 = 2 * dr
    dc2 = 2 * dc
    r = r0
    c = c0
    left = dr + dc
    total = 0.0
    count = 0
    while left > 0:
        if err > 0:
            c += sc
            err -= dr2
            left -= 1
        elif err < 0:
            r += sr
            err += dc2
            left -= 1
        else:
            if step[codes[r * pw + c + sc]] < 0.0 or step[codes[(r + sr) * pw + c]] < 0.0:
                return -1.0
            r += sr
            c += sc
            err += dc2 - dr2
            left -= 2
        factor = step[codes[r * pw + c]]
        if factor < 0.0:
            return -1.0
        total += factor
        count += 1
    if count == 0:
        return 0.0
    return math.sqrt(float(dr * dr + dc * dc)) * total / count


@numba.njit(cache=True, inline="always")
def _usable_cell(codes: NDArray[np.uint8], pw: int, step: NDArray[np.float64], x: int, y: int) -> bool:
    """Whether unpadded cell (row y, col x) exists and may be entered."""
    if x < -1 or y < -1 or x > pw - 2 or (y + 1) * pw + x + 1 >= codes.size:
        return False
    return bool(step[codes[(y + 1) * pw + x + 1]] >= 0.0)


@numba.njit(cache=True, nogil=True, inline="always")
def segment_clear(
    codes: NDArray[np.uint8], pw: int, step: NDArray[np.float64], x0: float, y0: float, x1: float, y1: float
) -> bool:
    """Whether a segment crosses usable cells only (Amanatides-Woo traversal, every cell it enters).

    Coordinates are continuous cell units: cell (r, c) spans [c, c + 1) x [r, r + 1). A segment
    through a cell corner tests both cells beside the corner, as a diagonal step does.
    """
    cx = int(math.floor(x0))
    cy = int(math.floor(y0))
    ex = int(math.floor(x1))
    ey = int(math.floor(y1))
    if not _usable_cell(codes, pw, step, cx, cy) or not _usable_cell(codes, pw, step, ex, ey):
        return False
    if abs(ex - cx) + abs(ey - cy) <= 1:
        return True  # one cell or two side by side: a convex box, the segment stays inside
    dx = x1 - x0
    dy = y1 - y0
    sx = 1 if dx > 0.0 else -1
    sy = 1 if dy > 0.0 else -1
    t_dx = abs(1.0 / dx) if dx != 0.0 else math.inf
    t_dy = abs(1.0 / dy) if dy != 0.0 else math.inf
    if dx > 0.0:
        t_x = (cx + 1.0 - x0) / dx
    elif dx < 0.0:
        t_x = (x0 - cx) / -dx
    else:
        t_x = math.inf
    if dy > 0.0:
        t_y = (cy + 1.0 - y0) / dy
    elif dy < 0.0:
        t_y = (y0 - cy) / -dy
    else:
        t_y = math.inf
    left = abs(ex - cx) + abs(ey - cy)
    while left > 0:
        if abs(t_x - t_y) <= 1e-12:
            if not _usable_cell(codes, pw, step, cx + sx, cy) or not _usable_cell(codes, pw, step, cx, cy + sy):
                return False
            cx += sx
            cy += sy
            t_x += t_dx
            t_y += t_dy
            left -= 2
        elif t_x < t_y:
            cx += sx
            t_x += t_dx
            left -= 1
        else:
            cy += sy
            t_y += t_dy
            left -= 1
        if not _usable_cell(codes, pw, step, cx, cy):
            return False
    return True
