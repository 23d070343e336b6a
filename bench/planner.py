"""bench/planner: our grid planner against the planners a user would otherwise pick, same grids, same run.

Grids: 200x200 local windows and 1000x1000 maps, each with random obstacles (discs of lethal
cells, as a costmap shows them), with a maze (corridors 4 cells wide, some walls knocked out so
that routes compete) and with random single-cell noise (20 % of cells: the worst case for jump
point search). Start and goal sit in opposite corners; every planner gets the same grid, start
and goal. Ours is `plan_cells` with cost_weight 0 (the plain shortest path), which runs jump
point search on such uniform-cost grids; `ours_astar_ms` times the A* kernel that weighted
costmaps use, on the same problem, for reference.

Peers (each skipped with a note when not installed):
- scipy: `scipy.sparse.csgraph.dijkstra` on our exact graph (8-connected, sqrt 2 diagonals, no
  corner cutting), built from the grid inside the timed call as a user must per costmap. Exact.
- networkx: `astar_path` with the octile heuristic on the same graph (built inside the timed
  call from the scipy matrix). Exact; 200x200 only (a 1000x1000 graph takes minutes to build).
- tcod: `tcod.path.path2d`, cardinal 70 / diagonal 99 (sqrt 2 to 5e-5). Octile, but it cuts
  corners (a diagonal step between two blocked cells), so its paths can be a little shorter.
- skimage: `skimage.graph.MCP_Geometric`, fully connected: octile, cuts corners.
- pyastar2d: `astar_path` with diagonals: costs a diagonal step like a straight one (Chebyshev),
  cuts corners; approximate. Its paths, measured with sqrt 2 diagonals, are longer.

Each row: median times (ms), speedup = peer / ours, and length_ratio = peer path length (with
sqrt 2 diagonals) / ours. `exact` marks the peers that solve the same problem; `metric` says
what each minimises. Run on an otherwise idle machine: the load average is in the notes.

Run: `python -m bench.planner [--json] [--quick]` (or `rvn bench planner`).
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import math
import os
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import dijkstra

from bench.common import machine, print_table, row, summary, time_call
from robot_vision_nav.core.grid import Grid
from robot_vision_nav.core.planner import PlannerConfig, plan, plan_cells, prepare

NAME = "planner"
SHORTEST = PlannerConfig(cost_weight=0.0, smooth=False)
SIZES = (200, 1000)
QUICK_SIZE = 100
KINDS = ("discs", "maze", "noise")
REPEATS = {100: 2, 200: 30, 1000: 7}
PEER_REPEATS = {100: 2, 200: 10, 1000: 3}
SLOW_PEER_MAX_CELLS = 200 * 200  # networkx beyond this takes minutes per call
SEED = 20240611

PEERS: dict[str, dict[str, Any]] = {
    "scipy": {"module": "scipy.sparse.csgraph", "exact": True, "metric": "octile, no corner cutting (same graph)"},
    "networkx": {"module": "networkx", "exact": True, "metric": "octile, no corner cutting (same graph)"},
    "tcod": {"module": "tcod.path", "exact": False, "metric": "octile (70/99), cuts corners"},
    "skimage": {"module": "skimage.graph", "exact": False, "metric": "octile, cuts corners"},
    "pyastar2d": {"module": "pyastar2d", "exact": False, "metric": "Chebyshev (diagonal = 1), cuts corners"},
}


# ---------------------------------------------------------------------------------------- grids
def discs_grid(n: int, rng: np.random.Generator, coverage: float = 0.2) -> NDArray[np.int8]:
    """Random lethal discs (radius 2..n/25 cells) until about `coverage` of the cells are covered."""
    blocked = np.zeros((n, n), dtype=bool)
    yy, xx = np.mgrid[:n, :n]
    r_max = max(3, n // 25)
    while blocked.mean() < coverage:
        r, c = rng.integers(0, n, size=2)
        radius = int(rng.integers(2, r_max + 1))
        r0, r1, c0, c1 = max(0, r - radius), min(n, r + radius + 1), max(0, c - radius), min(n, c + radius + 1)
        blocked[r0:r1, c0:c1] |= (yy[r0:r1, c0:c1] - r) ** 2 + (xx[r0:r1, c0:c1] - c) ** 2 <= radius**2
    return np.where(blocked, 100, 0).astype(np.int8)


def maze_grid(n: int, rng: np.random.Generator, corridor: int = 4, knock_out: float = 0.08) -> NDArray[np.int8]:
    """A depth-first maze with corridors `corridor` cells wide and 1-cell walls, some walls removed."""
    pitch = corridor + 1
    cells = (n - 1) // pitch
    grid = np.full((n, n), 100, dtype=np.int8)
    seen = np.zeros((cells, cells), dtype=bool)

    def carve(r: int, c: int) -> None:
        grid[1 + r * pitch : 1 + r * pitch + corridor, 1 + c * pitch : 1 + c * pitch + corridor] = 0

    stack = [(0, 0)]
    seen[0, 0] = True
    carve(0, 0)
    while stack:
        r, c = stack[-1]
        options = [(r + dr, c + dc) for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1))
                   if 0 <= r + dr < cells and 0 <= c + dc < cells and not seen[r + dr, c + dc]]  # fmt: skip
        if not options:
            stack.pop()
            continue
        nr, nc = options[int(rng.integers(len(options)))]
        seen[nr, nc] = True
        carve(nr, nc)
        # open the wall between the two cells
        r0, c0 = 1 + min(r, nr) * pitch, 1 + min(c, nc) * pitch
        if nr != r:
            grid[r0 + corridor, c0 : c0 + corridor] = 0
        else:
            grid[r0 : r0 + corridor, c0 + corridor] = 0
        stack.append((nr, nc))
    # Knock out some interior walls so that several routes compete.
    for _ in range(int(knock_out * cells * cells)):
        r, c = (int(v) for v in rng.integers(0, cells - 1, size=2))
        r0, c0 = 1 + r * pitch, 1 + c * pitch
        if rng.random() < 0.5:
            grid[r0 + corridor, c0 : c0 + corridor] = 0
        else:
            grid[r0 : r0 + corridor, c0 + corridor] = 0
    return grid


def noise_grid(n: int, rng: np.random.Generator, density: float = 0.2) -> NDArray[np.int8]:
    """Independent random lethal cells."""
    return np.where(rng.random((n, n)) < density, 100, 0).astype(np.int8)


MAKERS: dict[str, Callable[[int, np.random.Generator], NDArray[np.int8]]] = {
    "discs": discs_grid, "maze": maze_grid, "noise": noise_grid,
}  # fmt: skip


def make_problem(kind: str, n: int, seed: int) -> tuple[NDArray[np.int8], tuple[int, int], tuple[int, int]]:
    """A grid with start and goal in opposite corners and a path between them (redrawn until there is one)."""
    rng = np.random.default_rng(seed)
    for _ in range(50):
        values = MAKERS[kind](n, rng)
        start, goal = (1, 1), (n - 3, n - 3)
        if kind == "maze":
            far = np.argwhere(values == 0)[-1]  # the maze's far corner
            goal = (int(far[0]), int(far[1]))
        else:
            values[:4, :4] = 0
            values[-5:-1, -5:-1] = 0
        if plan_cells(values, start, goal, SHORTEST)[0]:
            return values, start, goal
    raise RuntimeError(f"no solvable {kind} grid of {n}x{n} in 50 draws")


# ---------------------------------------------------------------------------------------- peers
def graph_of(values: NDArray[np.int8]) -> csr_matrix:
    """Our planner's graph as a sparse matrix: 8-connected, sqrt 2 diagonals, no corner cutting."""
    h, w = values.shape
    free = values == 0
    index = np.arange(h * w).reshape(h, w)
    src, dst, weight = [], [], []
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            if dr == 0 and dc == 0:
                continue
            r0, r1, c0, c1 = max(0, -dr), h - max(0, dr), max(0, -dc), w - max(0, dc)
            ok = free[r0:r1, c0:c1] & free[r0 + dr : r1 + dr, c0 + dc : c1 + dc]
            if dr and dc:
                ok &= free[r0 + dr : r1 + dr, c0:c1] & free[r0:r1, c0 + dc : c1 + dc]
            src.append(index[r0:r1, c0:c1][ok])
            dst.append(index[r0 + dr : r1 + dr, c0 + dc : c1 + dc][ok])
            weight.append(np.full(int(ok.sum()), math.hypot(dr, dc)))
    shape = (h * w, h * w)
    return coo_matrix((np.concatenate(weight), (np.concatenate(src), np.concatenate(dst))), shape=shape).tocsr()


def polyline_length(cells: NDArray[Any]) -> float:
    """Length of a cell path with sqrt 2 diagonals."""
    if len(cells) < 2:
        return 0.0
    return float(np.sum(np.hypot(*np.diff(np.asarray(cells, dtype=np.float64), axis=0).T)))


def _import(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(PEERS[name]["module"])
    except ImportError:
        return None


def peer_solver(name: str, module: ModuleType, values: NDArray[np.int8], start: tuple[int, int],
                goal: tuple[int, int]) -> Callable[[], float]:  # fmt: skip
    """A no-argument call that solves the problem the peer's way and returns its path length."""
    n_cols = values.shape[1]
    if name == "scipy":

        def solve() -> float:
            dist = dijkstra(graph_of(values), indices=start[0] * n_cols + start[1])
            return float(dist[goal[0] * n_cols + goal[1]])

    elif name == "networkx":

        def octile(a: int, b: int) -> float:
            dy, dx = abs(a // n_cols - b // n_cols), abs(a % n_cols - b % n_cols)
            return float(max(dx, dy) + (math.sqrt(2.0) - 1.0) * min(dx, dy))

        def solve() -> float:
            graph = module.from_scipy_sparse_array(graph_of(values), create_using=module.DiGraph)
            nodes = module.astar_path(graph, start[0] * n_cols + start[1], goal[0] * n_cols + goal[1],
                                      heuristic=octile, weight="weight")  # fmt: skip
            return polyline_length(np.stack(np.divmod(np.asarray(nodes), n_cols), axis=1))

    elif name == "tcod":
        cost = (values == 0).astype(np.int8)

        def solve() -> float:
            return polyline_length(module.path2d(cost, start_points=[start], end_points=[goal], cardinal=70,
                                                 diagonal=99))  # fmt: skip

    elif name == "skimage":
        costs = np.where(values == 0, 1.0, np.inf)

        def solve() -> float:
            mcp = module.MCP_Geometric(costs, fully_connected=True)
            mcp.find_costs([start], [goal])
            return polyline_length(np.asarray(mcp.traceback(goal)))

    elif name == "pyastar2d":
        weights = np.where(values == 0, 1.0, np.inf).astype(np.float32)

        def solve() -> float:
            return polyline_length(module.astar_path(weights, start, goal, allow_diagonal=True))

    else:
        raise ValueError(f"unknown peer {name!r}")
    return solve


# ---------------------------------------------------------------------------------------- run
def _astar_only(values: NDArray[np.int8], start: tuple[int, int], goal: tuple[int, int]) -> Callable[[], object]:
    """Our A* kernel (what weighted costmaps use) on the same problem, padding and cell conversion included."""

    def solve() -> object:
        return prepare(values, SHORTEST).astar(start, goal)

    return solve


def costmap_window_note(quick: bool) -> str:
    """Our full plan() (cost_weight 3, smoothing) on a 200x200 inflated window: the planner_node's call."""
    from scipy import ndimage

    rng = np.random.default_rng(SEED)
    config = PlannerConfig()
    start, goal = (-4.9, -4.9), (4.85, 4.85)
    for _ in range(50):
        lethal = discs_grid(200, rng, coverage=0.03) == 100
        d = ndimage.distance_transform_edt(~lethal) * 0.05  # Nav2 inflation: 0.25 m inscribed, 0.55 m radius
        values = np.where(d <= 0.55, np.floor(1 + 97 * np.exp(-3.0 * (d - 0.25))), 0)
        values = np.where(d <= 0.25, 99, values)
        values = np.where(lethal, 100, values).astype(np.int8)
        values[:8, :8] = 0
        values[-8:, -8:] = 0
        grid = Grid(values, 0.05, -5.0, -5.0)
        result = plan(grid, start, goal, config)
        if result.found:
            break
    times = summary(time_call(lambda: plan(grid, start, goal, config), 3 if quick else 50, warmup=2))
    return (f"ours plan() with the defaults (cost_weight 3, smoothing) on a 200x200 inflated window: "
            f"{times['median']:.3f} ms median ({result.status}, {result.length_m:.2f} m, {result.expansions} "
            "expansions)")  # fmt: skip


def run(quick: bool = False) -> dict[str, Any]:
    """Time ours and every installed peer on each case; return the bench JSON object."""
    notes: list[str] = []
    if hasattr(os, "getloadavg"):
        notes.append("load average at start (1, 5, 15 min): " + ", ".join(f"{v:.2f}" for v in os.getloadavg()))
    modules = {name: _import(name) for name in PEERS}
    for name, module in modules.items():
        if module is None:
            notes.append(f"{name} not installed: skipped (pip install -r requirements-bench.txt)")
    sizes = (QUICK_SIZE,) if quick else SIZES
    kinds = KINDS[:2] if quick else KINDS
    rows: list[dict[str, Any]] = []
    plan_cells(np.zeros((3, 3), dtype=np.int8), (0, 0), (2, 2), SHORTEST)  # numba loads or compiles here
    notes.append(costmap_window_note(quick))  # first, before the big grids churn the caches
    for n in sizes:
        for kind in kinds:
            values, start, goal = make_problem(kind, n, SEED + n)
            _, cells, ours_length, expansions = plan_cells(values, start, goal, SHORTEST)
            ours_ms = time_call(functools.partial(plan_cells, values, start, goal, SHORTEST), REPEATS[n], warmup=2)
            astar_ms = summary(time_call(_astar_only(values, start, goal), REPEATS[n], warmup=1))["median"]
            case = f"{kind} {n}x{n}"
            for name, module in modules.items():
                if module is None:
                    continue
                if name == "networkx" and n * n > SLOW_PEER_MAX_CELLS:
                    note = f"networkx skipped at {n}x{n}: building the graph alone takes minutes"
                    if note not in notes:
                        notes.append(note)
                    continue
                solve = peer_solver(name, module, values, start, goal)
                peer_length = solve()
                peer_ms = time_call(solve, PEER_REPEATS[n], warmup=1)
                rows.append(row(
                    case, ours_ms, name, peer_ms, exact=PEERS[name]["exact"], metric=PEERS[name]["metric"],
                    ours_length=round(ours_length, 6), peer_length=round(peer_length, 6),
                    length_ratio=round(peer_length / ours_length, 6), expansions=expansions,
                    ours_astar_ms=round(astar_ms, 4), ours_path_cells=len(cells), cells=n * n,
                ))  # fmt: skip
    return {"bench": NAME, "machine": machine(), "rows": rows, "notes": notes}


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.planner [--json] [--quick]`; exit 1 if an exact peer's length differs from ours."""
    parser = argparse.ArgumentParser(prog="bench.planner", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_SIZE}x{QUICK_SIZE} grids, 2 repeats (smoke test)")
    args = parser.parse_args(argv)
    result = run(quick=args.quick)
    if args.json:
        print(json.dumps(result))
    else:
        print_table(result)
        for r in result["rows"]:
            print(f"  {r['case']:<16} {r['peer']:<10} length ratio {r['length_ratio']:.4f}  ({r['metric']}); "
                  f"ours by A* instead of JPS {r['ours_astar_ms']:.3f} ms")  # fmt: skip
    sys.stdout.flush()
    bad = [r for r in result["rows"] if r["exact"] and abs(r["length_ratio"] - 1.0) > 1e-9]
    for r in bad:
        print(f"{r['case']}: {r['peer']} found length {r['peer_length']} but ours is {r['ours_length']}",
              file=sys.stderr)  # fmt: skip
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
