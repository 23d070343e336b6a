"""Grid path planning on the local costmap: A*, jump point search or Theta* over OccupancyGrid values.

What it plans on: a `Grid` of Nav2 OccupancyGrid values, 8-connected. Stepping into a cell costs
the step length (1 or sqrt 2 cells) times `1 + cost_weight * value / 98` for inflated values
1..98 (1 for free, and for unknown when allowed, unless `unknown_cost` says otherwise), so a path
keeps away from obstacles where the detour is cheaper than the cost it avoids. Lethal (100) and
inscribed (99) cells are never entered, nor are values outside -1..100 (no OccupancyGrid carries
them); unknown (-1) cells are entered only with `allow_unknown`. A diagonal step needs both cells
beside it usable, so a path never squeezes between two obstacles that touch at a corner (the rule
of the MovingAI grid benchmarks).

The modules, one job each:
- `types`: PlannerConfig, Plan, PlanStatus, PlannerError.
- `api`: `plan` (world metres, with the special cases of its docstring), `plan_cells`, `warm_up`.
- `queries`: `path_blocked` and `nearest_usable_goal`, which need no search.
- `search_grid`: `prepare(values, config)` -> `SearchGrid`, the padded codes and step tables the
  kernels read, with `astar`, `jps`, `route` and `line_clear` on (row, col) cells; tests and
  bench/planner use it instead of the kernels.
- numba kernels: `search` (A*/Theta*, its three modes, speed notes), `jps` (jump point search),
  `heap` (the 4-ary heap), `sight` (line of sight), `smooth` (the smoother).
- `validate`: input checks.

numba's cache (cache=True) stamps each kernel with its own file only: a kernel that calls one in
another file (search and jps call heap; search and smooth call sight) keeps its cached code when
only the callee's file changes. After editing heap.py, sight.py or a constant that another file
imports, delete this folder's __pycache__/*.nbi and *.nbc.

Nothing here reads a clock or imports ROS.
"""

from __future__ import annotations

from robot_vision_nav.core.planner.api import plan, plan_cells, warm_up
from robot_vision_nav.core.planner.queries import nearest_usable_goal, path_blocked
from robot_vision_nav.core.planner.search import SQRT2, TIE_BREAK
from robot_vision_nav.core.planner.search_grid import SearchGrid, SearchResult, prepare
from robot_vision_nav.core.planner.smooth import (
    SMOOTH_MAX_ITERATIONS,
    SMOOTH_TOLERANCE_CELLS,
    SMOOTH_W_DATA,
    SMOOTH_W_SMOOTH,
)
from robot_vision_nav.core.planner.types import Plan, PlannerConfig, PlannerError, PlanStatus

__all__ = [
    "SMOOTH_MAX_ITERATIONS",
    "SMOOTH_TOLERANCE_CELLS",
    "SMOOTH_W_DATA",
    "SMOOTH_W_SMOOTH",
    "SQRT2",
    "TIE_BREAK",
    "Plan",
    "PlanStatus",
    "PlannerConfig",
    "PlannerError",
    "SearchGrid",
    "SearchResult",
    "nearest_usable_goal",
    "path_blocked",
    "plan",
    "plan_cells",
    "prepare",
    "warm_up",
]
