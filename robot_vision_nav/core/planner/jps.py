"""Jump point search (Harabor and Grastien) with the no-corner-cutting rules, for uniform-cost grids.

Where every usable cell costs the same (cost_weight 0, or a grid without inflated cells such as a
MovingAI map) JPS replaces A*: exactly optimal, and only the turning points of paths enter the
heap; the cells between them are scanned in straight lines. `uniform` tells when it applies.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numpy.typing import NDArray

from robot_vision_nav.core.planner.heap import heap_grow, heap_pop, heap_push
from robot_vision_nav.core.planner.search import SQRT2


@numba.njit(cache=True, nogil=True)
def uniform(codes: NDArray[np.uint8], step: NDArray[np.float64]) -> bool:
    """Whether every usable cell costs the same (factor 1): then jump point search is exact."""
    for i in range(codes.size):
        factor = step[codes[i]]
        if factor >= 0.0 and factor != 1.0:
            return False
    return True


@numba.njit(cache=True, inline="always")
def _free(codes: NDArray[np.uint8], step: NDArray[np.float64], i: int) -> bool:
    return bool(step[codes[i]] >= 0.0)


@numba.njit(cache=True, nogil=True)
def _jump_straight(
    codes: NDArray[np.uint8], step: NDArray[np.float64], s: int, d: int, side: int, goal: int
) -> tuple[int, int]:
    """Jump from s along offset d; return (jump point or -1, steps taken).

    With no corner cutting, a straight move has a forced neighbour where a cell beside it is
    usable but the cell beside the previous one is not: a path can turn there that no diagonal
    could have reached first.
    """
    x = s
    k = 0
    while True:
        x += d
        k += 1
        if not _free(codes, step, x):
            return -1, k
        if x == goal:
            return x, k
        if (_free(codes, step, x + side) and not _free(codes, step, x - d + side)) or (
            _free(codes, step, x - side) and not _free(codes, step, x - d - side)
        ):
            return x, k


@numba.njit(cache=True, nogil=True)
def _jump_diagonal(
    codes: NDArray[np.uint8], step: NDArray[np.float64], s: int, dh: int, dv: int, goal: int
) -> tuple[int, int]:
    """Jump from s diagonally (column offset dh, row offset dv); return (jump point or -1, steps).

    A diagonal arrival has no forced neighbours when corners may not be cut (the diagonal step
    itself needed both side cells), so a diagonal jump stops only where a straight jump along
    either of its components finds something, or at the goal.
    """
    x = s
    k = 0
    while True:
        if not (_free(codes, step, x + dh) and _free(codes, step, x + dv)):
            return -1, k
        x += dh + dv
        k += 1
        if not _free(codes, step, x):
            return -1, k
        if x == goal:
            return x, k
        if _jump_straight(codes, step, x, dh, dv, goal)[0] >= 0 or _jump_straight(codes, step, x, dv, dh, goal)[0] >= 0:
            return x, k


@numba.njit(cache=True, nogil=True)
def jps(
    codes: NDArray[np.uint8], pw: int, step: NDArray[np.float64], start: int, goal: int
) -> tuple[bool, NDArray[np.int64], float, int]:
    """Jump point search (Harabor and Grastien), no corner cutting, where every step factor is 1.

    Optimal like A* on such grids, but only jump points enter the heap: the cells between them are
    scanned in straight lines, which costs far less than a heap operation each. Returns what
    `search` returns, the path with every cell (expansions count jump points).
    """
    n = codes.size
    state = np.zeros(n, dtype=np.uint8)
    g = np.empty(n, dtype=np.float64)
    parent = np.empty(n, dtype=np.int64)
    goal_r = goal // pw
    goal_c = goal - goal_r * pw
    hf = np.empty(1024, dtype=np.float64)
    hn = np.empty(1024, dtype=np.int64)
    dir_h = np.empty(8, dtype=np.int64)
    dir_v = np.empty(8, dtype=np.int64)
    g[start] = 0.0
    parent[start] = start
    state[start] = 1
    size = heap_push(hf, hn, 0, 0.0, start)
    expansions = 0
    while size > 0:
        s = hn[0]
        size = heap_pop(hf, hn, size)
        if state[s] == 2:
            continue
        gs = g[s]
        state[s] = 2
        expansions += 1
        if s == goal:
            break
        r = s // pw
        c = s - r * pw
        count = 0
        p = parent[s]
        if p == s:
            for dv in (-1, 0, 1):
                for dh in (-1, 0, 1):
                    if dv != 0 or dh != 0:
                        dir_h[count] = dh
                        dir_v[count] = dv
                        count += 1
        else:
            pr = p // pw
            pc = p - pr * pw
            dh = (c > pc) - (c < pc)
            dv = (r > pr) - (r < pr)
            if dh != 0 and dv != 0:  # natural neighbours only
                dir_h[0], dir_v[0] = dh, 0
                dir_h[1], dir_v[1] = 0, dv
                dir_h[2], dir_v[2] = dh, dv
                count = 3
            elif dh != 0:
                dir_h[0], dir_v[0] = dh, 0
                count = 1
                for side in (-1, 1):  # forced neighbours: turn and the diagonal beyond it
                    if _free(codes, step, s + side * pw) and not _free(codes, step, s - dh + side * pw):
                        dir_h[count], dir_v[count] = 0, side
                        dir_h[count + 1], dir_v[count + 1] = dh, side
                        count += 2
            else:
                dir_h[0], dir_v[0] = 0, dv
                count = 1
                for side in (-1, 1):
                    if _free(codes, step, s + side) and not _free(codes, step, s + side - dv * pw):
                        dir_h[count], dir_v[count] = side, 0
                        dir_h[count + 1], dir_v[count + 1] = side, dv
                        count += 2
        for t in range(count):
            dh = dir_h[t]
            dv = dir_v[t]
            if dh != 0 and dv != 0:
                j, k = _jump_diagonal(codes, step, s, dh, dv * pw, goal)
                length = k * SQRT2
            elif dh != 0:
                j, k = _jump_straight(codes, step, s, dh, pw, goal)
                length = float(k)
            else:
                j, k = _jump_straight(codes, step, s, dv * pw, 1, goal)
                length = float(k)
            if j < 0 or state[j] == 2:
                continue
            ng = gs + length
            if state[j] == 1 and ng >= g[j]:
                continue
            g[j] = ng
            parent[j] = s
            state[j] = 1
            jr = j // pw
            dy = float(abs(jr - goal_r))
            dx = float(abs(j - jr * pw - goal_c))
            h = dx + (SQRT2 - 1.0) * dy if dx > dy else dy + (SQRT2 - 1.0) * dx
            if size == hf.size:
                hf, hn = heap_grow(hf, hn)
            size = heap_push(hf, hn, size, ng + h, j)

    if state[goal] != 2:
        return False, np.empty(0, dtype=np.int64), math.inf, expansions
    # Every cell between consecutive jump points lies on one straight or diagonal line.
    count = 1
    node = goal
    while node != start:
        p = parent[node]
        count += max(abs(node // pw - p // pw), abs(node % pw - p % pw))
        node = p
    path = np.empty(count, dtype=np.int64)
    i = count - 1
    node = goal
    path[i] = node
    while node != start:
        p = parent[node]
        dr = node // pw - p // pw
        dc = node % pw - p % pw
        d = ((dr > 0) - (dr < 0)) * pw + (dc > 0) - (dc < 0)
        for _ in range(max(abs(dr), abs(dc))):
            node -= d
            i -= 1
            path[i] = node
    return True, path, g[goal], expansions
