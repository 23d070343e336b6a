"""OccupancyGrid values prepared for the search kernels, and the seam tests and benchmarks search through.

`prepare(values, config)` turns the values into what the numba kernels read: uint8 codes (each
value's bit pattern, -1 -> 255) with a ring of lethal cells around them, flattened, and the
config's per-code tables. A `SearchGrid` runs the kernels on (row, col) cells and continuous cell
coordinates, so no caller handles padded indices; `plan` and `plan_cells` search through it too.
The wrappers call the njit kernels unchanged and only convert the cells at either end.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from robot_vision_nav.core.grid import OCC_INSCRIBED, OCC_LETHAL, OCC_MAX_INFLATED, OCC_UNKNOWN
from robot_vision_nav.core.planner.jps import jps, uniform
from robot_vision_nav.core.planner.search import TO_CELL, search
from robot_vision_nav.core.planner.sight import segment_clear
from robot_vision_nav.core.planner.types import PlannerConfig
from robot_vision_nav.core.planner.validate import check_cell, check_values

# Refused marker in the step-factor table; usable factors are >= 1.
_REFUSED = -1.0


@functools.lru_cache(maxsize=64)
def step_tables(config: PlannerConfig) -> tuple[NDArray[np.float64], NDArray[np.bool_], NDArray[np.float64]]:
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


def padded_codes(values: NDArray[np.int8]) -> NDArray[np.uint8]:
    """The grid as uint8 codes with a ring of lethal cells around it, flattened."""
    rows, cols = values.shape
    padded = np.full((rows + 2, cols + 2), OCC_LETHAL, dtype=np.uint8)
    padded[1:-1, 1:-1] = values.view(np.uint8)
    return padded.reshape(-1)


class SearchResult(NamedTuple):
    """One search between two cells.

    Attributes:
        found: whether the goal was reached.
        cells: (N, 2) cells (row, col) from start to goal: every cell of the path, or a Theta*
            path's corners; (0, 2) when not found.
        cost: path cost in cell units (step lengths times step factors); inf when not found.
        expansions: cells expanded (jump points for JPS).

    """

    found: bool
    cells: NDArray[np.intp]
    cost: float
    expansions: int


@dataclass(frozen=True, eq=False)
class SearchGrid:
    """OccupancyGrid values ready for the search kernels under one config; `prepare` builds it.

    Attributes:
        shape: (rows, cols) of the grid, without the padding.
        codes: (rows + 2) * (cols + 2) uint8 codes, the grid inside a ring of lethal cells, flattened.
        pw: the padded row width, cols + 2.
        step: step factor per code, < 0 where refused.
        usable: whether a code may be entered.
        escape_step: the escape search's step factor per code (1 for anything but lethal and
            invalid values).
        config: the settings the tables come from.

    """

    shape: tuple[int, int]
    codes: NDArray[np.uint8]
    pw: int
    step: NDArray[np.float64]
    usable: NDArray[np.bool_]
    escape_step: NDArray[np.float64]
    config: PlannerConfig

    def index(self, rc: tuple[int, int]) -> int:
        """The padded flat index of cell (row, col); not checked."""
        return (rc[0] + 1) * self.pw + rc[1] + 1

    def cells(self, path: NDArray[np.int64]) -> NDArray[np.intp]:
        """Padded flat indices as (N, 2) cells (row, col)."""
        rows, cols = np.divmod(path, self.pw)
        return np.stack((rows - 1, cols - 1), axis=1).astype(np.intp)

    def astar(self, start_rc: tuple[int, int], goal_rc: tuple[int, int]) -> SearchResult:
        """A* between two cells (Theta* with `any_angle`), whatever the step costs.

        The start and goal cells' own values are not judged: a refused goal is simply not reached.

        Raises:
            PlannerError: a cell outside the grid, or not two whole numbers.

        """
        start, goal = self._ends(start_rc, goal_rc)
        goal_r = goal // self.pw
        return self._result(
            *search(self.codes, self.pw, self.step, start, goal, float(goal_r), float(goal - goal_r * self.pw),
                    TO_CELL, self.config.any_angle, self.usable, math.inf)
        )  # fmt: skip

    def jps(self, start_rc: tuple[int, int], goal_rc: tuple[int, int]) -> SearchResult:
        """Jump point search between two cells, optimal where every usable cell costs the same.

        Raises:
            PlannerError: a cell outside the grid, or not two whole numbers.

        """
        start, goal = self._ends(start_rc, goal_rc)
        return self._result(*jps(self.codes, self.pw, self.step, start, goal))

    def route(self, start_rc: tuple[int, int], goal_rc: tuple[int, int]) -> SearchResult:
        """The search `plan_cells` runs: JPS where all steps cost alike (and not any-angle), else `astar`.

        Raises:
            PlannerError: a cell outside the grid, or not two whole numbers.

        """
        return self._result(*self.route_index(*self._ends(start_rc, goal_rc)))

    def route_index(self, start: int, goal: int) -> tuple[bool, NDArray[np.int64], float, int]:
        """`route` between padded flat indices; returns the kernel's tuple (padded indices, start to goal)."""
        if not self.config.any_angle and (self.config.cost_weight == 0.0 or uniform(self.codes, self.step)):
            return jps(self.codes, self.pw, self.step, start, goal)
        goal_r = goal // self.pw
        return search(
            self.codes,
            self.pw,
            self.step,
            start,
            goal,
            float(goal_r),
            float(goal - goal_r * self.pw),
            TO_CELL,
            self.config.any_angle,
            self.usable,
            math.inf,
        )

    def line_clear(self, a_xy: tuple[float, float], b_xy: tuple[float, float]) -> bool:
        """Whether the segment from a to b crosses usable cells only, both ends included.

        Points are continuous cell coordinates (x, y): cell (row r, col c) spans [c, c + 1) x
        [r, r + 1). A segment through a cell corner must find both cells beside it usable, and one
        that leaves the grid is not clear.
        """
        (ax, ay), (bx, by) = a_xy, b_xy
        return bool(segment_clear(self.codes, self.pw, self.step, float(ax), float(ay), float(bx), float(by)))

    def _ends(self, start_rc: tuple[int, int], goal_rc: tuple[int, int]) -> tuple[int, int]:
        start = check_cell(start_rc, self.shape, "start_rc")
        goal = check_cell(goal_rc, self.shape, "goal_rc")
        return self.index(start), self.index(goal)

    def _result(self, found: bool, path: NDArray[np.int64], cost: float, expansions: int) -> SearchResult:
        if not found:
            return SearchResult(False, np.empty((0, 2), dtype=np.intp), math.inf, int(expansions))
        return SearchResult(True, self.cells(path), float(cost), int(expansions))


def prepare(values: NDArray[np.int8], config: PlannerConfig) -> SearchGrid:
    """Pad and encode OccupancyGrid values for searches under `config`.

    Args:
        values: (rows, cols) int8 OccupancyGrid values, row 0 the lowest y.
        config: the settings whose step tables the searches use.

    Raises:
        PlannerError: values not a non-empty 2-D int8 array.

    """
    check_values(values)
    step, usable, escape_step = step_tables(config)
    rows, cols = values.shape
    return SearchGrid((int(rows), int(cols)), padded_codes(values), cols + 2, step, usable, escape_step, config)
