"""The A*/Theta* kernel: one numba search over the padded codes, in three modes.

The search is A* with the octile distance as heuristic: every step factor is >= 1, so octile is a
lower bound of the remaining cost (admissible) and changes by at most one step's cost per step
(consistent), which is why a closed cell is never reopened. Among cells of equal f (open ground
is a plateau of equally short paths) the one nearer the goal goes first (`TIE_BREAK`), which
bounds the cost at (1 + 1e-10) x the optimum. Theta* (`any_angle`) is A* that also tries the
parent's parent by line of sight, with the Euclidean distance as heuristic (octile overestimates
any-angle paths).

Modes: `TO_CELL` ends at the goal cell. `TO_EDGE` (goal outside the window) ends at the
window-edge cell minimising (path cost to it) + (straight-line distance from its centre to the
goal): an edge cell links to a virtual goal node at that distance, and the Euclidean heuristic
stays consistent on the extended graph. `ESCAPE` has no heuristic and ends at the nearest cell
whose code is a target, within a cost bound.

Speed. The search runs on flat indices into a copy of the grid padded with one ring of lethal
cells (no bounds checks in the inner loop), with a 4-ary heap of (f, cell) and lazy deletion
(`heap`). A cell's state, g and parent live in flat arrays allocated per call, only the 1-byte
state array initialised. Measured on this project's 2-core machine, 200x200, start and goal in
opposite corners: a pure-Python heapq A* takes 21 ms (random discs) and 38 ms (20 % random
cells); this takes 0.11 and 1.0 ms (JPS), 0.6 and 1.6 ms with the A* kernel; the planner_node's
call (cost_weight 3 on an inflated window, smoothing) ~1 ms. bench/planner has the numbers
against pyastar2d, tcod, scikit-image, scipy and networkx on 200x200 and 1000x1000, same run.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numpy.typing import NDArray

from robot_vision_nav.core.planner.heap import heap_grow, heap_pop, heap_push
from robot_vision_nav.core.planner.sight import line_cost

SQRT2 = math.sqrt(2.0)

# Search modes of the kernel.
TO_CELL = 0  # reach the goal cell
TO_EDGE = 1  # reach the best window-edge cell toward a goal outside the window
ESCAPE = 2  # reach the nearest cell whose code is a target, within a cost bound

# A*'s heap key is g + h * TIE_BREAK: among cells of equal f (a plateau of equally short paths
# over open ground, which float rounding stops from tying exactly, so comparing g on exact ties
# does not help and costs a third heap array) the one nearer the goal goes first: on a 200x200
# free window ~200 cells expanded instead of ~8600, on an inflated window ~550 instead of ~6600.
# It is weighted A* with weight 1 + 1e-10, so a path costs at most (1 + 1e-10) x the optimum.
TIE_BREAK = 1.0 + 1e-10


@numba.njit(cache=True, nogil=True)
def search(
    codes: NDArray[np.uint8],
    pw: int,
    step: NDArray[np.float64],
    start: int,
    goal: int,
    goal_r: float,
    goal_c: float,
    mode: int,
    any_angle: bool,
    target: NDArray[np.bool_],
    max_cost: float,
) -> tuple[bool, NDArray[np.int64], float, int]:
    """A*/Theta* on padded codes from `start`; see the module docstring for the modes.

    Returns (found, padded cell indices start..end, cost in cell units, expansions). goal_r and
    goal_c give the goal in padded index units, a cell's centre at its (row, col): the goal cell's
    indices, or in TO_EDGE mode (where the path ends at the best edge cell) any point beyond.
    """
    n = codes.size
    rows = n // pw
    state = np.zeros(n, dtype=np.uint8)  # 0 unseen, 1 open, 2 closed
    g = np.empty(n, dtype=np.float64)
    parent = np.empty(n, dtype=np.int32)
    offsets = np.array([1, -1, pw, -pw, pw + 1, pw - 1, -pw + 1, -pw - 1], dtype=np.int64)
    d_row = np.array([0, 0, 1, -1, 1, 1, -1, -1], dtype=np.int64)
    d_col = np.array([1, -1, 0, 0, 1, -1, 1, -1], dtype=np.int64)
    euclid_h = any_angle or mode == TO_EDGE
    h_on = mode != ESCAPE
    virtual = n  # the goal node beyond the edge in TO_EDGE mode

    hf = np.empty(1024, dtype=np.float64)
    hn = np.empty(1024, dtype=np.int64)
    g[start] = 0.0
    parent[start] = start
    state[start] = 1
    size = heap_push(hf, hn, 0, 0.0, start)
    expansions = 0
    end = -1
    best_edge = -1
    best_edge_f = math.inf
    while size > 0:
        s = hn[0]
        size = heap_pop(hf, hn, size)
        if s == virtual:
            end = best_edge
            break
        if state[s] == 2:
            continue  # a stale entry: the cell was closed with a lower g
        gs = g[s]  # the lowest g pushed for s: a lower one would have popped first
        if gs > max_cost:
            break
        state[s] = 2
        expansions += 1
        if mode == ESCAPE:
            if target[codes[s]]:
                end = s
                break
        elif s == goal:
            end = s
            break
        r = s // pw
        c = s - r * pw
        if mode == TO_EDGE and (r == 1 or r == rows - 2 or c == 1 or c == pw - 2):
            fv = gs + math.sqrt((r - goal_r) ** 2 + (c - goal_c) ** 2)
            if fv < best_edge_f:
                best_edge_f = fv
                best_edge = s
                if size == hf.size:
                    hf, hn = heap_grow(hf, hn)
                size = heap_push(hf, hn, size, fv, virtual)
        p = parent[s]
        for k in range(8):
            nb = s + offsets[k]
            if state[nb] == 2:
                continue
            factor = step[codes[nb]]
            if factor < 0.0:
                continue
            if k >= 4:
                # No corner cutting: both cells beside a diagonal step must be usable.
                if step[codes[s + d_row[k] * pw]] < 0.0 or step[codes[s + d_col[k]]] < 0.0:
                    continue
                ng = gs + SQRT2 * factor
            else:
                ng = gs + factor
            par = s
            if any_angle and p != s:
                line = line_cost(codes, pw, step, p, nb)
                if line >= 0.0 and g[p] + line < ng:
                    ng = g[p] + line
                    par = p
            if state[nb] == 1 and ng >= g[nb]:
                continue
            g[nb] = ng
            parent[nb] = par
            state[nb] = 1
            h = 0.0
            if h_on:
                dy = abs(r + d_row[k] - goal_r)
                dx = abs(c + d_col[k] - goal_c)
                if euclid_h:
                    h = math.sqrt(dx * dx + dy * dy)
                elif dx > dy:
                    h = dx + (SQRT2 - 1.0) * dy
                else:
                    h = dy + (SQRT2 - 1.0) * dx
            if size == hf.size:
                hf, hn = heap_grow(hf, hn)
            size = heap_push(hf, hn, size, ng + h * TIE_BREAK, nb)

    if end < 0:
        return False, np.empty(0, dtype=np.int64), math.inf, expansions
    count = 1
    node = end
    while node != start:
        node = parent[node]
        count += 1
    path = np.empty(count, dtype=np.int64)
    node = end
    for i in range(count - 1, -1, -1):
        path[i] = node
        node = parent[node]
    return True, path, g[end], expansions
