"""Grid path planning on the local costmap: A*, jump point search or Theta* over OccupancyGrid values.

What it plans on: a `Grid` of Nav2 OccupancyGrid values, 8-connected. Stepping into a cell costs
the step length (1 or sqrt 2 cells) times `1 + cost_weight * value / 98` for inflated values
1..98 (1 for free, and for unknown when allowed, unless `unknown_cost` says otherwise), so a path
keeps away from obstacles where the detour is cheaper than the cost it avoids. Lethal (100) and
inscribed (99) cells are never entered, nor are values outside -1..100 (no OccupancyGrid carries
them); unknown (-1) cells are entered only with `allow_unknown`. A diagonal step needs both cells
beside it usable, so a path never squeezes between two obstacles that touch at a corner (the rule
of the MovingAI grid benchmarks).

The search is A* with the octile distance as heuristic: every step factor is >= 1, so octile is a
lower bound of the remaining cost (admissible) and changes by at most one step's cost per step
(consistent), which is why a closed cell is never reopened. Among cells of equal f (open ground
is a plateau of equally short paths) the one nearer the goal goes first (`TIE_BREAK`), which
bounds the cost at (1 + 1e-10) x the optimum. Where every usable cell costs the same (cost_weight
0, or a grid without inflated cells such as a MovingAI map) jump point search (Harabor and
Grastien, with the no-corner-cutting rules) replaces A*: exactly optimal, and only the turning
points of paths enter the heap. Theta* (`any_angle`) is A* that also tries the parent's parent by
line of sight, with the Euclidean distance as heuristic (octile overestimates any-angle paths).

Special cases, each reported in `Plan.status`:
- goal outside the window ("goal_outside"): the search ends at the best window-edge cell, the one
  minimising (path cost from the start to it) + (straight-line distance from its centre to the
  goal). It is exact (to the tie-break bound): an edge cell links to a virtual goal node at that
  distance, and the Euclidean heuristic stays consistent on the extended graph.
- start in a refused cell ("escaped_start"): a second search (uniform steps through any non-lethal
  cell, no corner cutting past lethal ones) finds the cell usable under the config that is
  nearest to the start along such a path, within `escape_radius_m`; the plan goes there first.
- a refused goal cell ("goal_blocked"), no escape ("start_blocked"), no path ("no_path").

Speed. The searches run in numba on flat indices into a copy of the grid padded with one ring of
lethal cells (no bounds checks in the inner loop), with a 4-ary heap of (f, cell) and lazy
deletion (a cell may be pushed again with a lower g; stale entries are skipped when popped). A
cell's state, g and parent live in flat arrays allocated per call, only the 1-byte state array
initialised. Measured on this project's 2-core machine, 200x200, start and goal in opposite
corners: a pure-Python heapq A* takes 21 ms (random discs) and 38 ms (20 % random cells); this
takes 0.11 and 1.0 ms (JPS), 0.6 and 1.6 ms with the A* kernel; the planner_node's call
(cost_weight 3 on an inflated window, smoothing) ~1 ms. bench/planner has the numbers against
pyastar2d, tcod, scikit-image, scipy and networkx on 200x200 and 1000x1000, same run.

The smoother (`smooth`) is Nav2's simple smoother (pull each point toward its neighbours'
midpoint and its original place) with one more rule: a move is taken only if both segments
to the neighbouring points still pass through usable cells only, traced exactly cell by cell
(touching a corner counts as touching both cells), so the smoothed path never enters a cell the
planner refuses.

This module reads no clock and never imports ROS.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
from dataclasses import dataclass
from enum import StrEnum

import numba
import numpy as np
from numpy.typing import NDArray

from robot_vision_nav.core.config import param, validate_fields
from robot_vision_nav.core.grid import OCC_INSCRIBED, OCC_LETHAL, OCC_MAX_INFLATED, OCC_UNKNOWN, Grid

SQRT2 = math.sqrt(2.0)

# Search modes of the kernel.
_TO_CELL = 0  # reach the goal cell
_TO_EDGE = 1  # reach the best window-edge cell toward a goal outside the window
_ESCAPE = 2  # reach the nearest cell whose code is a target, within a cost bound

# Smoother: Nav2 SimpleSmoother's default weights; iterations capped so a plan's time is bounded.
SMOOTH_W_DATA = 0.2
SMOOTH_W_SMOOTH = 0.3
SMOOTH_MAX_ITERATIONS = 200
SMOOTH_TOLERANCE_CELLS = 1e-4

# A*'s heap key is g + h * TIE_BREAK: among cells of equal f (a plateau of equally short paths
# over open ground, which float rounding stops from tying exactly, so comparing g on exact ties
# does not help and costs a third heap array) the one nearer the goal goes first: on a 200x200
# free window ~200 cells expanded instead of ~8600, on an inflated window ~550 instead of ~6600.
# It is weighted A* with weight 1 + 1e-10, so a path costs at most (1 + 1e-10) x the optimum.
TIE_BREAK = 1.0 + 1e-10

# Refused marker in the step-factor table; usable factors are >= 1.
_REFUSED = -1.0


class PlannerError(ValueError):
    """Bad planner input (non-finite or out-of-grid coordinates, wrong array type), saying why."""


class PlanStatus(StrEnum):
    """How a plan ended; compares equal to its string value."""

    OK = "ok"
    NO_PATH = "no_path"
    START_BLOCKED = "start_blocked"
    GOAL_BLOCKED = "goal_blocked"
    GOAL_OUTSIDE = "goal_outside"
    ESCAPED_START = "escaped_start"


@dataclass(frozen=True)
class PlannerConfig:
    """Everything that shapes a plan; `planner_node` fills it from its parameters."""

    cost_weight: float = param(
        3.0,
        "step cost = length * (1 + cost_weight * value / 98) for inflated cells (values 1..98); "
        "0 plans the plain shortest path",
        min_value=0.0,
        max_value=1000.0,
    )
    allow_unknown: bool = param(True, "unknown (-1) cells may be entered")
    unknown_cost: float = param(
        0.0,
        "cost value of unknown cells when they may be entered, on the 0..98 inflation scale (0: as free)",
        min_value=0.0,
        max_value=98.0,
    )
    any_angle: bool = param(False, "Theta*-style line-of-sight parents: straight segments at any heading")
    smooth: bool = param(True, "smooth the path, never moving it into a cell the planner refuses")
    escape_radius_m: float = param(
        0.5,
        "a start in a refused cell escapes to the nearest usable cell at most this far along a path "
        "through non-lethal cells; 0 never escapes",
        unit="m",
        min_value=0.0,
        max_value=10.0,
    )

    def __post_init__(self) -> None:
        validate_fields(self)


@dataclass(frozen=True)
class Plan:
    """One planning result.

    Attributes:
        found: whether `path_xy` leads somewhere useful (to the goal, or to the edge cell toward it).
        path_xy: (N, 2) world points (m), start first, goal (or the edge cell's centre) last;
            (0, 2) when not found.
        length_m: length of the polyline `path_xy`.
        cost: search cost of the path in metres weighted by the step factors (before smoothing;
            escape steps count at the top inflated factor 1 + cost_weight).
        expansions: cells expanded by all searches of this plan.
        status: a `PlanStatus` (equal to its string).
        message: one sentence for people.

    """

    found: bool
    path_xy: NDArray[np.float64]
    length_m: float
    cost: float
    expansions: int
    status: PlanStatus
    message: str


# ---------------------------------------------------------------------------------------- tables
@functools.lru_cache(maxsize=64)
def _tables(config: PlannerConfig) -> tuple[NDArray[np.float64], NDArray[np.bool_], NDArray[np.float64]]:
    """Per-code lookups, indexed by the value's uint8 bit pattern (-1 -> 255).

    Returns (step factor or _REFUSED, usable, escape step factor): the last lets the escape search
    cross anything but lethal cells and invalid values.
    """
    step = np.full(256, _REFUSED, dtype=np.float64)
    for value in range(OCC_MAX_INFLATED + 1):
        step[value] = 1.0 + config.cost_weight * value / OCC_MAX_INFLATED
    if config.allow_unknown:
        step[OCC_UNKNOWN & 0xFF] = 1.0 + config.cost_weight * config.unknown_cost / OCC_MAX_INFLATED
    usable = step >= 1.0
    escape = np.full(256, _REFUSED, dtype=np.float64)
    escape[: OCC_INSCRIBED + 1] = 1.0
    escape[OCC_UNKNOWN & 0xFF] = 1.0
    for table in (step, usable, escape):
        table.flags.writeable = False
    return step, usable, escape


def _padded_codes(values: NDArray[np.int8]) -> NDArray[np.uint8]:
    """The grid as uint8 codes with a ring of lethal cells around it, flattened."""
    rows, cols = values.shape
    padded = np.full((rows + 2, cols + 2), OCC_LETHAL, dtype=np.uint8)
    padded[1:-1, 1:-1] = values.view(np.uint8)
    return padded.reshape(-1)


# ---------------------------------------------------------------------------------------- kernels
@numba.njit(cache=True, inline="always")
def _heap_push(hf: NDArray[np.float64], hn: NDArray[np.int64], size: int, f: float, node: int) -> int:
    """Add an entry to the 4-ary min-heap on f (capacity checked by the caller); return the new size."""
    i = size
    while i > 0:
        up = (i - 1) >> 2
        if not f < hf[up]:
            break
        hf[i] = hf[up]
        hn[i] = hn[up]
        i = up
    hf[i] = f
    hn[i] = node
    return size + 1


@numba.njit(cache=True, inline="always")
def _heap_pop(hf: NDArray[np.float64], hn: NDArray[np.int64], size: int) -> int:
    """Remove the top entry of the 4-ary heap (read it first); return the new size.

    The sift-down's comparisons cannot be predicted by the CPU and are what the search spends
    most of its time on: four children per node halve the depth of a binary heap (~1.3x faster
    here), and keeping f and the cell only (no g for tie-breaking) another ~1.5x.
    """
    size -= 1
    f = hf[size]
    node = hn[size]
    i = 0
    while True:
        first = 4 * i + 1
        if first >= size:
            break
        best = first
        best_f = hf[first]
        last = min(first + 4, size)
        for j in range(first + 1, last):
            if hf[j] < best_f:
                best = j
                best_f = hf[j]
        if not best_f < f:
            break
        hf[i] = best_f
        hn[i] = hn[best]
        i = best
    if size > 0:
        hf[i] = f
        hn[i] = node
    return size


@numba.njit(cache=True)
def _heap_grow(hf: NDArray[np.float64], hn: NDArray[np.int64]) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """The heap's arrays at twice the capacity."""
    return np.concatenate((hf, np.empty_like(hf))), np.concatenate((hn, np.empty_like(hn)))


@numba.njit(cache=True, nogil=True)
def _line_cost(codes: NDArray[np.uint8], pw: int, step: NDArray[np.float64], a: int, b: int) -> float:
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


@numba.njit(cache=True, nogil=True)
def _search(
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
    indices, or in _TO_EDGE mode (where the path ends at the best edge cell) any point beyond.
    """
    n = codes.size
    rows = n // pw
    state = np.zeros(n, dtype=np.uint8)  # 0 unseen, 1 open, 2 closed
    g = np.empty(n, dtype=np.float64)
    parent = np.empty(n, dtype=np.int32)
    offsets = np.array([1, -1, pw, -pw, pw + 1, pw - 1, -pw + 1, -pw - 1], dtype=np.int64)
    d_row = np.array([0, 0, 1, -1, 1, 1, -1, -1], dtype=np.int64)
    d_col = np.array([1, -1, 0, 0, 1, -1, 1, -1], dtype=np.int64)
    euclid_h = any_angle or mode == _TO_EDGE
    h_on = mode != _ESCAPE
    virtual = n  # the goal node beyond the edge in _TO_EDGE mode

    hf = np.empty(1024, dtype=np.float64)
    hn = np.empty(1024, dtype=np.int64)
    g[start] = 0.0
    parent[start] = start
    state[start] = 1
    size = _heap_push(hf, hn, 0, 0.0, start)
    expansions = 0
    end = -1
    best_edge = -1
    best_edge_f = math.inf
    while size > 0:
        s = hn[0]
        size = _heap_pop(hf, hn, size)
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
        if mode == _ESCAPE:
            if target[codes[s]]:
                end = s
                break
        elif s == goal:
            end = s
            break
        r = s // pw
        c = s - r * pw
        if mode == _TO_EDGE and (r == 1 or r == rows - 2 or c == 1 or c == pw - 2):
            fv = gs + math.sqrt((r - goal_r) ** 2 + (c - goal_c) ** 2)
            if fv < best_edge_f:
                best_edge_f = fv
                best_edge = s
                if size == hf.size:
                    hf, hn = _heap_grow(hf, hn)
                size = _heap_push(hf, hn, size, fv, virtual)
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
                line = _line_cost(codes, pw, step, p, nb)
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
                hf, hn = _heap_grow(hf, hn)
            size = _heap_push(hf, hn, size, ng + h * TIE_BREAK, nb)

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


@numba.njit(cache=True, nogil=True)
def _uniform(codes: NDArray[np.uint8], step: NDArray[np.float64]) -> bool:
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
def _jps(
    codes: NDArray[np.uint8], pw: int, step: NDArray[np.float64], start: int, goal: int
) -> tuple[bool, NDArray[np.int64], float, int]:
    """Jump point search (Harabor and Grastien), no corner cutting, where every step factor is 1.

    Optimal like A* on such grids, but only jump points enter the heap: the cells between them are
    scanned in straight lines, which costs far less than a heap operation each. Returns what
    `_search` returns, the path with every cell (expansions count jump points).
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
    size = _heap_push(hf, hn, 0, 0.0, start)
    expansions = 0
    while size > 0:
        s = hn[0]
        size = _heap_pop(hf, hn, size)
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
                hf, hn = _heap_grow(hf, hn)
            size = _heap_push(hf, hn, size, ng + h, j)

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


@numba.njit(cache=True, inline="always")
def _usable_cell(codes: NDArray[np.uint8], pw: int, step: NDArray[np.float64], x: int, y: int) -> bool:
    """Whether unpadded cell (row y, col x) exists and may be entered."""
    if x < -1 or y < -1 or x > pw - 2 or (y + 1) * pw + x + 1 >= codes.size:
        return False
    return bool(step[codes[(y + 1) * pw + x + 1]] >= 0.0)


@numba.njit(cache=True, nogil=True, inline="always")
def _segment_clear(
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


@numba.njit(cache=True, nogil=True)
def _smooth(
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
            if not _segment_clear(codes, pw, step, points[i - 1, 0], points[i - 1, 1], nx, ny):
                continue
            if not _segment_clear(codes, pw, step, nx, ny, points[i + 1, 0], points[i + 1, 1]):
                continue
            points[i, 0] = nx
            points[i, 1] = ny
            change += abs(nx - x) + abs(ny - y)
        if change < tolerance:
            break
    return done


# ---------------------------------------------------------------------------------------- checks
def _finite_point(point: tuple[float, float], name: str) -> tuple[float, float]:
    try:
        x, y = (float(v) for v in point)
    except (TypeError, ValueError) as err:
        raise PlannerError(f"{name} must be two numbers (x, y) in metres, got {point!r}") from err
    if not (math.isfinite(x) and math.isfinite(y)):
        raise PlannerError(f"{name} ({x}, {y}) must be finite (m)")
    return x, y


def _check_values(values: NDArray[np.int8]) -> None:
    if not isinstance(values, np.ndarray) or values.dtype != np.int8 or values.ndim != 2 or 0 in values.shape:
        what = f"{values.dtype} {values.shape}" if isinstance(values, np.ndarray) else type(values).__name__
        raise PlannerError(f"values must be a non-empty 2-D int8 OccupancyGrid array, got {what}")


def _check_cell(rc: tuple[int, int], shape: tuple[int, ...], name: str) -> tuple[int, int]:
    try:
        r, c = rc
        if isinstance(r, bool | float) or isinstance(c, bool | float):
            raise TypeError
        r, c = int(r), int(c)  # numpy integers too
    except (TypeError, ValueError) as err:
        raise PlannerError(f"{name} must be two whole numbers (row, col), got {rc!r}") from err
    if not (0 <= r < shape[0] and 0 <= c < shape[1]):
        raise PlannerError(f"{name} {(r, c)} is outside the {shape[0]} x {shape[1]} grid (rows x cols)")
    return r, c


# ---------------------------------------------------------------------------------------- API
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
    _check_values(values)
    sr, sc = _check_cell(start_rc, values.shape, "start_rc")
    gr, gc = _check_cell(goal_rc, values.shape, "goal_rc")
    step, usable, _ = _tables(config)
    empty = np.empty((0, 2), dtype=np.intp)
    if step[int(values[sr, sc]) & 0xFF] < 0.0 or step[int(values[gr, gc]) & 0xFF] < 0.0:
        return False, empty, math.inf, 0
    codes = _padded_codes(values)
    pw = values.shape[1] + 2
    found, path, cost, expansions = _to_cell(codes, pw, step, usable, (sr + 1) * pw + sc + 1,
                                             (gr + 1) * pw + gc + 1, config)  # fmt: skip
    if not found:
        return False, empty, math.inf, int(expansions)
    rows, cols = np.divmod(path, pw)
    return True, np.stack((rows - 1, cols - 1), axis=1).astype(np.intp), float(cost), int(expansions)


def _to_cell(
    codes: NDArray[np.uint8],
    pw: int,
    step: NDArray[np.float64],
    usable: NDArray[np.bool_],
    start: int,
    goal: int,
    config: PlannerConfig,
) -> tuple[bool, NDArray[np.int64], float, int]:
    """Search from one padded cell to another: JPS where all steps cost alike, else A* or Theta*."""
    if not config.any_angle and (config.cost_weight == 0.0 or _uniform(codes, step)):
        return _jps(codes, pw, step, start, goal)
    goal_r = goal // pw
    return _search(
        codes,
        pw,
        step,
        start,
        goal,
        float(goal_r),
        float(goal - goal_r * pw),
        _TO_CELL,
        config.any_angle,
        usable,
        math.inf,
    )


def _centres(path: NDArray[np.int64], pw: int) -> NDArray[np.float64]:
    """Padded cell indices -> continuous unpadded cell coordinates (x = col + 0.5, y = row + 0.5)."""
    rows, cols = np.divmod(path, pw)
    return np.stack((cols - 0.5, rows - 0.5), axis=1).astype(np.float64)


def _densify(points: NDArray[np.float64]) -> NDArray[np.float64]:
    """Insert points on every segment longer than one cell, at most one cell apart."""
    if len(points) < 2:
        return points
    out = [points[:1]]
    for a, b in itertools.pairwise(points):
        pieces = max(1, math.ceil(float(np.hypot(*(b - a))) - 1e-9))
        t = np.arange(1, pieces + 1, dtype=np.float64)[:, None] / pieces
        out.append(a + t * (b - a))
    return np.concatenate(out)


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
    sx, sy = _finite_point(start_xy, "start_xy")
    gx, gy = _finite_point(goal_xy, "goal_xy")
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
    step, usable, escape_step = _tables(config)
    values = grid.values
    goal_inside = grid.contains(g_row, g_col)
    if goal_inside and step[int(values[g_row, g_col]) & 0xFF] < 0.0:
        value = int(values[g_row, g_col])
        return _failed(PlanStatus.GOAL_BLOCKED, f"goal {_fmt(gx, gy)} lies in a cell the planner refuses (value "
                       f"{value}: {_describe(value)})")  # fmt: skip

    codes = _padded_codes(values)
    pw = cols + 2
    start = (s_row + 1) * pw + s_col + 1
    expansions = 0
    prefix = np.empty((0, 2), dtype=np.float64)
    escape_cost = 0.0
    if step[codes[start]] < 0.0:
        value = int(values[s_row, s_col])
        radius_cells = config.escape_radius_m / res
        found, esc, esc_len, n_exp = (False, np.empty(0, np.int64), 0.0, 0)
        if radius_cells > 0.0:
            found, esc, esc_len, n_exp = _search(
                codes, pw, escape_step, start, -1, 0.0, 0.0, _ESCAPE, False, usable, radius_cells
            )
        expansions += int(n_exp)
        if not found:
            return _failed(PlanStatus.START_BLOCKED, f"start {_fmt(sx, sy)} lies in a refused cell (value {value}: "
                           f"{_describe(value)}) with no usable cell within {config.escape_radius_m:g} m",
                           expansions)  # fmt: skip
        prefix = _centres(esc[:-1], pw)
        prefix[0] = (s_x, s_y)
        escape_cost = float(esc_len) * (1.0 + config.cost_weight)
        start = int(esc[-1])

    if goal_inside:
        found, path, cost, n_exp = _to_cell(codes, pw, step, usable, start, (g_row + 1) * pw + g_col + 1, config)
    else:
        found, path, cost, n_exp = _search(
            codes, pw, step, start, -1, g_y + 0.5, g_x + 0.5, _TO_EDGE, config.any_angle, usable, math.inf
        )
    expansions += int(n_exp)
    if not found:
        where = f"goal {_fmt(gx, gy)}" if goal_inside else f"any edge cell toward the goal {_fmt(gx, gy)}"
        refused = "lethal or inscribed" if config.allow_unknown else "lethal, inscribed or unknown"
        return _failed(PlanStatus.NO_PATH, f"no path from {_fmt(sx, sy)} to {where}: every way is blocked by "
                       f"{refused} cells", expansions)  # fmt: skip

    points = _centres(path, pw)
    if config.any_angle:
        points = _densify(points)
    if len(prefix) == 0:
        # Start exactly at start_xy: replace the start cell's centre when the first segment allows it.
        if len(points) == 1 or _segment_clear(codes, pw, step, s_x, s_y, points[1, 0], points[1, 1]):
            points[0] = (s_x, s_y)
        else:
            points = np.concatenate(([(s_x, s_y)], points))
    if goal_inside:
        if len(points) >= 2 and _segment_clear(codes, pw, step, points[-2, 0], points[-2, 1], g_x, g_y):
            points[-1] = (g_x, g_y)
        else:
            points = np.concatenate((points, [(g_x, g_y)]))
    points = np.concatenate((prefix, points)) if len(prefix) else points
    first_free = max(0, len(prefix))
    if config.smooth and len(points) - first_free >= 3:
        points = np.ascontiguousarray(points)
        _smooth(points, first_free, codes, pw, step, SMOOTH_W_DATA, SMOOTH_W_SMOOTH, SMOOTH_MAX_ITERATIONS,
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


def _describe(value: int) -> str:
    if value == OCC_LETHAL:
        return "lethal"
    if value == OCC_INSCRIBED:
        return "inscribed"
    if value == OCC_UNKNOWN:
        return "unknown, and allow_unknown is false"
    if 0 <= value <= OCC_MAX_INFLATED:
        return "usable"
    return "not an OccupancyGrid value"


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


def warm_up(config: PlannerConfig) -> None:
    """Compile every search kernel now instead of on the first goal (seconds the first time, then numba's cache).

    A node that compiled on its first goal would stall that cycle for seconds on a loaded machine
    (a replay played in real time loses its first plans). Plans on a tiny grid: a free path with
    the configured search and the other one (any-angle or not), and an escape from a lethal start.
    """
    values = np.zeros((12, 12), np.int8)
    values[5, 2:9] = OCC_LETHAL
    grid = Grid(values, 0.1)
    for any_angle in (config.any_angle, not config.any_angle):
        variant = dataclasses.replace(config, any_angle=any_angle)
        plan(grid, (0.15, 0.15), (1.05, 1.05), variant)
        plan(grid, (0.45, 0.55), (1.05, 1.05), variant)  # start on the wall: the escape search
