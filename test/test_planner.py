"""core.planner: optimal against a Dijkstra oracle, safe around refused cells, and its special cases.

The oracle is scipy.sparse.csgraph Dijkstra on the explicit 8-connected graph with the same rules
(sqrt 2 diagonals, a diagonal step only when both side cells are usable, lethal/inscribed never
entered, unknown by parameter, step cost = length * (1 + w * value / 98) of the entered cell).
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import dijkstra

from robot_vision_nav.core.config import ConfigError
from robot_vision_nav.core.grid import Grid
from robot_vision_nav.core.maps import load_movingai_map, read_movingai_scen
from robot_vision_nav.core.planner import (
    Plan,
    PlannerConfig,
    PlannerError,
    PlanStatus,
    nearest_usable_goal,
    path_blocked,
    plan,
    plan_cells,
    prepare,
)

DATA = Path(__file__).resolve().parent / "data"
SHORTEST = PlannerConfig(cost_weight=0.0, smooth=False)


# ---------------------------------------------------------------------------------------- oracle
def usable_mask(values: NDArray[np.int8], allow_unknown: bool = True) -> NDArray[np.bool_]:
    v = values.astype(np.int64)
    return ((v >= 0) & (v <= 98)) | ((v == -1) & allow_unknown)


def oracle_graph(values: NDArray[np.int8], cost_weight: float = 0.0, allow_unknown: bool = True) -> csr_matrix:
    h, w = values.shape
    usable = usable_mask(values, allow_unknown)
    factor = 1.0 + cost_weight * np.clip(values.astype(np.float64), 0, 98) / 98.0
    index = np.arange(h * w).reshape(h, w)
    src, dst, weight = [], [], []
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            if dr == 0 and dc == 0:
                continue
            r0, r1, c0, c1 = max(0, -dr), h - max(0, dr), max(0, -dc), w - max(0, dc)
            ok = usable[r0:r1, c0:c1] & usable[r0 + dr : r1 + dr, c0 + dc : c1 + dc]
            if dr and dc:
                ok &= usable[r0 + dr : r1 + dr, c0:c1] & usable[r0:r1, c0 + dc : c1 + dc]
            src.append(index[r0:r1, c0:c1][ok])
            dst.append(index[r0 + dr : r1 + dr, c0 + dc : c1 + dc][ok])
            weight.append(math.hypot(dr, dc) * factor[r0 + dr : r1 + dr, c0 + dc : c1 + dc][ok])
    return coo_matrix(
        (np.concatenate(weight), (np.concatenate(src), np.concatenate(dst))), shape=(h * w, h * w)
    ).tocsr()


def oracle_cost(values: NDArray[np.int8], start: tuple[int, int], goal: tuple[int, int], cost_weight: float = 0.0,
                allow_unknown: bool = True) -> float:  # fmt: skip
    w = values.shape[1]
    dist = dijkstra(oracle_graph(values, cost_weight, allow_unknown), indices=start[0] * w + start[1])
    return float(dist[goal[0] * w + goal[1]])


def random_grid(rng: np.random.Generator, weighted: bool) -> NDArray[np.int8]:
    h, w = (int(v) for v in rng.integers(2, 36, size=2))
    density = rng.uniform(0.0, 0.45)
    values = np.where(rng.random((h, w)) < density, 100, 0)
    if weighted:
        inflated = rng.integers(0, 99, size=(h, w))
        values = np.where(values == 0, inflated, values)
        values = np.where(rng.random((h, w)) < 0.05, 99, values)
        values = np.where(rng.random((h, w)) < 0.05, -1, values)
    return values.astype(np.int8)


def path_cost(values: NDArray[np.int8], cells: NDArray[np.intp], cost_weight: float) -> float:
    """Cost of a cell path recomputed from the rules, checking every step is legal on the way."""
    usable = usable_mask(values)
    total = 0.0
    for (r0, c0), (r1, c1) in itertools.pairwise(cells):
        dr, dc = int(r1 - r0), int(c1 - c0)
        assert max(abs(dr), abs(dc)) == 1, "steps must join neighbouring cells"
        assert usable[r1, c1]
        if dr and dc:
            assert usable[r0 + dr, c0] and usable[r0, c0 + dc], "diagonal step cuts a corner"
        total += math.hypot(dr, dc) * (1.0 + cost_weight * max(0, int(values[r1, c1])) / 98.0)
    return total


def random_pair(rng: np.random.Generator, values: NDArray[np.int8]) -> tuple[tuple[int, int], tuple[int, int]]:
    h, w = values.shape
    start = (int(rng.integers(h)), int(rng.integers(w)))
    goal = (int(rng.integers(h)), int(rng.integers(w)))
    values[start] = 0
    values[goal] = 0
    return start, goal


# ---------------------------------------------------------------------------------------- optimality
def test_shortest_paths_equal_the_dijkstra_oracle_on_hundreds_of_random_grids() -> None:
    rng = np.random.default_rng(20240601)
    found_count = no_path_count = 0
    for _ in range(400):
        values = random_grid(rng, weighted=False)
        start, goal = random_pair(rng, values)
        found, cells, cost, _expansions = plan_cells(values, start, goal, SHORTEST)
        expected = oracle_cost(values, start, goal)
        assert found == math.isfinite(expected), (values.shape, start, goal)
        if found:
            found_count += 1
            assert abs(cost - expected) <= 1e-9
            assert tuple(cells[0]) == start and tuple(cells[-1]) == goal
            assert abs(path_cost(values, cells, 0.0) - expected) <= 1e-9
        else:
            no_path_count += 1
            assert cells.shape == (0, 2) and cost == math.inf
    assert found_count > 200 and no_path_count > 20  # both kinds really exercised


def test_weighted_paths_are_optimal_within_the_tie_break_bound() -> None:
    """A* (weighted cells, unknown cells, inscribed cells) against the oracle: at most (1 + 1e-10) x optimal."""
    rng = np.random.default_rng(7)
    for i in range(200):
        values = random_grid(rng, weighted=True)
        start, goal = random_pair(rng, values)
        weight = (1.0, 3.0, 50.0, 1000.0)[i % 4]
        allow_unknown = i % 3 != 0
        config = PlannerConfig(cost_weight=weight, allow_unknown=allow_unknown, smooth=False)
        found, cells, cost, _ = plan_cells(values, start, goal, config)
        expected = oracle_cost(values, start, goal, weight, allow_unknown)
        assert found == math.isfinite(expected)
        if found:
            assert abs(cost - expected) <= 1e-9 * expected + 1e-12
            assert abs(path_cost(values, cells, weight) - cost) <= 1e-9 * cost + 1e-12
            if not allow_unknown:
                assert np.all(values[cells[:, 0], cells[:, 1]] != -1)


def test_astar_and_jump_point_search_agree_on_uniform_grids() -> None:
    """plan_cells uses JPS where all steps cost alike; the A* kernel must give the same optimum there."""
    rng = np.random.default_rng(11)
    for _ in range(150):
        values = random_grid(rng, weighted=False)
        start, goal = random_pair(rng, values)
        grid = prepare(values, SHORTEST)
        a = grid.astar(start, goal)
        j = grid.jps(start, goal)
        assert a.found == j.found
        if a.found:
            assert abs(a.cost - j.cost) <= 1e-9
            assert tuple(a.cells[0]) == tuple(j.cells[0]) == start and tuple(a.cells[-1]) == tuple(j.cells[-1]) == goal


def test_movingai_scenario_lengths_match() -> None:
    grid = load_movingai_map(DATA / "rooms32.map")
    scenarios = read_movingai_scen(DATA / "rooms32.map.scen")
    assert len(scenarios) >= 20
    for sc in scenarios:
        found, _, cost, _ = plan_cells(grid.values, (sc.start_y, sc.start_x), (sc.goal_y, sc.goal_x), SHORTEST)
        assert found
        assert abs(cost - sc.optimal_length) <= 1e-8  # the file prints 8 decimals
        # The same through plan(): the .map grid centres cell (y, x) on the world point (x, y).
        result = plan(grid, (sc.start_x, sc.start_y), (sc.goal_x, sc.goal_y), SHORTEST)
        assert result.status == "ok"
        assert abs(result.length_m - sc.optimal_length) <= 1e-8


# ---------------------------------------------------------------------------------------- safety
def costmap_like(rng: np.random.Generator, size: int = 60, blobs: int = 8) -> NDArray[np.int8]:
    """Discs of lethal cells with Nav2-like inflation: 99 within 3 cells, decaying values out to 8, some unknown."""
    from scipy import ndimage

    occupied = np.zeros((size, size), dtype=bool)
    yy, xx = np.mgrid[:size, :size]
    for _ in range(blobs):
        r, c, radius = rng.integers(0, size), rng.integers(0, size), rng.integers(1, 5)
        occupied |= (yy - r) ** 2 + (xx - c) ** 2 <= radius**2
    d = ndimage.distance_transform_edt(~occupied)
    values = np.where(d <= 8, np.floor(1 + 97 * np.exp(-0.6 * (d - 3))), 0)
    values = np.where(d <= 3, 99, values)
    values = np.where(occupied, 100, values)
    values = np.where((rng.random((size, size)) < 0.03) & (values == 0), -1, values)
    return values.astype(np.int8)


def sample_segments(path_xy: NDArray[np.float64], step_m: float) -> NDArray[np.float64]:
    """Points every `step_m` along a polyline (and its vertices)."""
    out = [path_xy]
    for a, b in itertools.pairwise(path_xy):
        n = max(2, math.ceil(float(np.hypot(*(b - a))) / step_m) + 1)
        out.append(a + np.linspace(0.0, 1.0, n)[:, None] * (b - a))
    return np.concatenate(out)


def cell_values_under(grid: Grid, points: NDArray[np.float64]) -> NDArray[np.int8]:
    rows = np.floor((points[:, 1] - grid.origin_y_m) / grid.resolution_m).astype(int)
    cols = np.floor((points[:, 0] - grid.origin_x_m) / grid.resolution_m).astype(int)
    assert np.all((rows >= 0) & (rows < grid.shape[0]) & (cols >= 0) & (cols < grid.shape[1]))
    return grid.values[rows, cols]


def free_pair(rng: np.random.Generator, grid: Grid) -> tuple[tuple[float, float], tuple[float, float]]:
    free = np.argwhere(grid.values == 0)
    a, b = free[rng.integers(len(free), size=2)]
    jitter = rng.uniform(0.05, 0.95, size=4) * grid.resolution_m
    return (
        (grid.cell_center(int(a[0]), int(a[1]))[0] - 0.5 * grid.resolution_m + jitter[0],
         grid.cell_center(int(a[0]), int(a[1]))[1] - 0.5 * grid.resolution_m + jitter[1]),
        (grid.cell_center(int(b[0]), int(b[1]))[0] - 0.5 * grid.resolution_m + jitter[2],
         grid.cell_center(int(b[0]), int(b[1]))[1] - 0.5 * grid.resolution_m + jitter[3]),
    )  # fmt: skip


@pytest.mark.parametrize("any_angle", [False, True])
def test_paths_never_touch_lethal_inscribed_or_refused_unknown_cells(any_angle: bool) -> None:
    rng = np.random.default_rng(3 + any_angle)
    checked = 0
    for i in range(40):
        grid = Grid(costmap_like(rng), 0.05, origin_x_m=-1.5, origin_y_m=2.0)
        allow_unknown = i % 2 == 0
        start, goal = free_pair(rng, grid)
        for smooth in (False, True):
            config = PlannerConfig(any_angle=any_angle, smooth=smooth, allow_unknown=allow_unknown)
            result = plan(grid, start, goal, config)
            if not result.found:
                assert result.status == "no_path" and result.path_xy.shape == (0, 2)
                continue
            checked += 1
            assert result.status == "ok"
            np.testing.assert_allclose(result.path_xy[0], start, atol=1e-12)
            np.testing.assert_allclose(result.path_xy[-1], goal, atol=1e-12)
            under = cell_values_under(grid, sample_segments(result.path_xy, 0.002))
            assert np.all(under <= 98), f"path enters a lethal or inscribed cell: {sorted(set(under.tolist()))}"
            if not allow_unknown:
                assert np.all(under != -1)
    assert checked > 40


def test_smoother_shortens_the_path_and_never_moves_it_into_a_refused_cell() -> None:
    rng = np.random.default_rng(5)
    shorter = 0
    for _ in range(30):
        grid = Grid(costmap_like(rng, size=80, blobs=12), 0.05)
        start, goal = free_pair(rng, grid)
        raw = plan(grid, start, goal, PlannerConfig(smooth=False, allow_unknown=False))
        smooth = plan(grid, start, goal, PlannerConfig(smooth=True, allow_unknown=False))
        assert raw.found == smooth.found
        if not smooth.found:
            continue
        assert smooth.length_m <= raw.length_m + 1e-12
        shorter += smooth.length_m < raw.length_m - 1e-6
        under = cell_values_under(grid, sample_segments(smooth.path_xy, 0.001))
        assert np.all((under >= 0) & (under <= 98))
    assert shorter > 10


def test_smoother_segment_check_refuses_corner_crossings_and_refused_cells() -> None:
    values = np.zeros((4, 4), dtype=np.int8)
    values[1, 2] = 100
    grid = prepare(values, SHORTEST)
    assert grid.line_clear((0.5, 0.5), (3.5, 0.5))
    assert not grid.line_clear((0.5, 1.5), (3.5, 1.5))  # straight through the lethal cell
    assert not grid.line_clear((1.5, 0.5), (3.5, 2.5))  # exactly through its corner
    assert not grid.line_clear((0.5, 0.5), (4.5, 0.5))  # leaves the grid


def test_cost_term_keeps_the_path_away_from_inflated_cells_when_cheap() -> None:
    # A 40 x 20 corridor at 0.1 m; a band of value-90 cells (step factor 1 + 3 * 90 / 98 = 3.76)
    # crosses the straight line on row 4 and leaves a gap on rows 0..2: going round costs about
    # 4 * (sqrt 2 - 1) = 1.66 cells more, crossing 2.76 more, so the weighted plan goes round.
    values = np.zeros((20, 40), dtype=np.int8)
    values[3:, 20] = 90
    grid = Grid(values, 0.1)
    start, goal = (0.55, 0.45), (3.95, 0.45)
    direct = plan(grid, start, goal, PlannerConfig(cost_weight=0.0, smooth=False))
    weighted = plan(grid, start, goal, PlannerConfig(cost_weight=3.0, smooth=False))
    crossed = cell_values_under(grid, sample_segments(direct.path_xy, 0.01))
    avoided = cell_values_under(grid, sample_segments(weighted.path_xy, 0.01))
    assert crossed.max() == 90 and avoided.max() == 0
    assert weighted.length_m > direct.length_m  # it took the detour
    assert math.isclose(direct.length_m, 3.4)
    # With no way round, the path crosses the band once and stays straight.
    values[:, 20] = 90
    through = plan(Grid(values, 0.1), start, goal, PlannerConfig(cost_weight=3.0, smooth=False))
    assert through.found and math.isclose(through.length_m, 3.4)
    assert math.isclose(through.cost, 3.4 + 0.1 * 3.0 * 90 / 98)


def test_unknown_cells_are_entered_only_when_allowed() -> None:
    values = np.zeros((10, 30), dtype=np.int8)
    values[:, 15] = -1
    grid = Grid(values, 1.0)
    allowed = plan(grid, (2.5, 5.5), (27.5, 5.5), PlannerConfig(allow_unknown=True, smooth=False))
    refused = plan(grid, (2.5, 5.5), (27.5, 5.5), PlannerConfig(allow_unknown=False, smooth=False))
    assert allowed.status == "ok" and math.isclose(allowed.length_m, 25.0)
    assert refused.status == "no_path" and "unknown" in refused.message
    values[9, 15] = 0  # a gap: refused unknown means a detour through it
    detour = plan(Grid(values, 1.0), (2.5, 5.5), (27.5, 5.5), PlannerConfig(allow_unknown=False, smooth=False))
    assert detour.found and detour.length_m > 25.0
    # unknown_cost makes unknown cells cost like inflated ones
    pricey = plan(Grid(values, 1.0), (2.5, 5.5), (27.5, 5.5),
                  PlannerConfig(allow_unknown=True, unknown_cost=98.0, cost_weight=10.0, smooth=False))  # fmt: skip
    assert pricey.found and pricey.length_m > 25.0


# ---------------------------------------------------------------------------------------- special cases
def test_goal_outside_the_window_reaches_the_best_edge_cell() -> None:
    rng = np.random.default_rng(9)
    for _ in range(30):
        values = np.where(rng.random((25, 30)) < 0.25, 100, 0).astype(np.int8)
        values[12, 15] = 0
        grid = Grid(values, 0.2, origin_x_m=-3.0, origin_y_m=-2.5)
        goal = (float(rng.uniform(-10, 10)), float(rng.choice([-8.0, 8.0])))
        result = plan(grid, grid.cell_center(12, 15), goal, PlannerConfig(cost_weight=0.0, smooth=False))
        # Best = min over reachable edge cells of (path cost + straight-line distance to the goal).
        dist = dijkstra(oracle_graph(values), indices=12 * 30 + 15).reshape(25, 30) * 0.2
        edge = np.zeros_like(values, dtype=bool)
        edge[0, :] = edge[-1, :] = edge[:, 0] = edge[:, -1] = True
        best = math.inf
        for r, c in np.argwhere(edge & np.isfinite(dist)):
            x, y = grid.cell_center(int(r), int(c))
            best = min(best, dist[r, c] + math.hypot(goal[0] - x, goal[1] - y))
        if not math.isfinite(best):
            assert result.status == "no_path"
            continue
        assert result.status == "goal_outside" and result.found
        end = result.path_xy[-1]
        assert math.isclose(result.cost + math.hypot(goal[0] - end[0], goal[1] - end[1]), best, rel_tol=1e-9)
        r, c = grid.world_to_cell(*end)
        assert edge[r, c]
        assert "outside" in result.message


def test_start_in_an_inscribed_cell_escapes_to_the_nearest_usable_cell() -> None:
    values = np.zeros((40, 40), dtype=np.int8)
    values[11:30, 13:27] = 99  # the robot stands in an inscribed square
    values[20, 10:30] = 100  # ... with a wall through it the escape must not cross
    values[22, 20] = 0  # usable and 4 cells away, but only across the wall
    values[18, 25:27] = 0  # a usable notch to the outside, 5 cells right of the start: the nearest by a path
    grid = Grid(values, 0.1)
    start = grid.cell_center(18, 20)
    result = plan(grid, start, grid.cell_center(35, 20), PlannerConfig(escape_radius_m=0.8, smooth=False))
    assert result.status == "escaped_start" and result.found
    assert "escaping" in result.message
    np.testing.assert_allclose(result.path_xy[0], start)
    first_usable = next(p for p in result.path_xy if grid.value_at(*p) <= 98)
    assert grid.world_to_cell(*first_usable) == (18, 25)
    under = cell_values_under(grid, sample_segments(result.path_xy, 0.005))
    assert np.all(under != 100)  # the escape never crosses the lethal wall
    # Too small a radius: nothing usable in reach.
    blocked = plan(grid, start, grid.cell_center(35, 20), PlannerConfig(escape_radius_m=0.3))
    assert blocked.status == "start_blocked" and not blocked.found and blocked.path_xy.shape == (0, 2)
    never = plan(grid, start, grid.cell_center(35, 20), PlannerConfig(escape_radius_m=0.0))
    assert never.status == "start_blocked"


def test_goal_in_a_refused_cell_is_reported() -> None:
    values = np.zeros((10, 10), dtype=np.int8)
    values[5, 5] = 99
    result = plan(Grid(values, 1.0), (0.5, 0.5), (5.5, 5.5), PlannerConfig())
    assert result.status == "goal_blocked" and not result.found and "inscribed" in result.message


def test_any_angle_paths_are_no_longer_and_their_segments_have_line_of_sight() -> None:
    rng = np.random.default_rng(13)
    for _ in range(150):
        values = random_grid(rng, weighted=False)
        start, goal = random_pair(rng, values)
        found, _cells, cost, _ = plan_cells(values, start, goal, SHORTEST)
        found_aa, corners, cost_aa, _ = plan_cells(values, start, goal, PlannerConfig(cost_weight=0.0, any_angle=True))
        assert found == found_aa
        if not found:
            continue
        assert cost_aa <= cost + 1e-9
        length = float(np.sum(np.hypot(*np.diff(corners.astype(float), axis=0).T)))
        assert math.isclose(length, cost_aa, rel_tol=1e-9, abs_tol=1e-12)
        usable = usable_mask(values)
        for (r0, c0), (r1, c1) in itertools.pairwise(corners):
            # Sample the segment between cell centres; every sampled cell must be usable, and at
            # an exact corner crossing both side cells too.
            t = np.linspace(0.0, 1.0, 400)
            rr = r0 + 0.5 + t * (r1 - r0)
            cc = c0 + 0.5 + t * (c1 - c0)
            assert np.all(usable[np.floor(rr).astype(int), np.floor(cc).astype(int)])
            for k in range(1, 400):
                if rr[k] % 1 == 0 and cc[k] % 1 == 0 and 0 < rr[k] < values.shape[0] and 0 < cc[k] < values.shape[1]:
                    sides = [(int(rr[k]) - (r1 > r0), int(cc[k]) - (c1 < c0)),
                             (int(rr[k]) - (r1 < r0), int(cc[k]) - (c1 > c0))]  # fmt: skip
                    assert all(usable[s] for s in sides)


def test_plan_reports_length_cost_and_one_sentence() -> None:
    grid = Grid(np.zeros((10, 10), dtype=np.int8), 0.5, origin_x_m=1.0, origin_y_m=-2.0)
    result = plan(grid, (1.25, -1.75), (5.75, -1.75), PlannerConfig(smooth=False))
    assert isinstance(result, Plan) and result.status is PlanStatus.OK and result.status == "ok"
    assert math.isclose(result.length_m, 4.5) and math.isclose(result.cost, 4.5)
    assert result.path_xy.dtype == np.float64 and result.path_xy.shape[1] == 2
    assert "\n" not in result.message and result.message.startswith("path found")
    same_cell = plan(grid, (1.1, -1.9), (1.3, -1.7), PlannerConfig())
    assert same_cell.found and same_cell.path_xy.shape == (2, 2)


# ---------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("start", "goal", "words"),
    [
        ((math.nan, 0.5), (1.0, 1.0), "start_xy"),
        ((0.5, 0.5), (1.0, math.inf), "goal_xy"),
        ((-5.0, 0.5), (1.0, 1.0), "outside the grid"),
        (("a", 0.5), (1.0, 1.0), "two numbers"),
    ],
)
def test_bad_coordinates_raise_planner_error(start: tuple, goal: tuple, words: str) -> None:
    grid = Grid(np.zeros((10, 10), dtype=np.int8), 0.5)
    with pytest.raises(PlannerError, match=words):
        plan(grid, start, goal, PlannerConfig())


def test_plan_cells_checks_its_arrays_and_cells() -> None:
    values = np.zeros((5, 6), dtype=np.int8)
    with pytest.raises(PlannerError, match="int8"):
        plan_cells(values.astype(np.int16), (0, 0), (1, 1), PlannerConfig())  # type: ignore[arg-type]
    with pytest.raises(PlannerError, match="int8"):
        plan_cells(np.zeros(5, dtype=np.int8), (0, 0), (1, 1), PlannerConfig())
    with pytest.raises(PlannerError, match="outside the 5 x 6 grid"):
        plan_cells(values, (0, 0), (5, 1), PlannerConfig())
    with pytest.raises(PlannerError, match="whole numbers"):
        plan_cells(values, (0.5, 0), (1, 1), PlannerConfig())  # type: ignore[arg-type]
    values[1, 1] = 100
    found, cells, cost, expansions = plan_cells(values, (0, 0), (1, 1), PlannerConfig())
    assert (found, cells.shape, cost, expansions) == (False, (0, 2), math.inf, 0)
    assert issubclass(PlannerError, ValueError)


def test_config_refuses_out_of_range_values_naming_them() -> None:
    with pytest.raises(ConfigError, match="cost_weight"):
        PlannerConfig(cost_weight=-1.0)
    with pytest.raises(ConfigError, match="escape_radius_m"):
        PlannerConfig(escape_radius_m=math.nan)
    with pytest.raises(ConfigError, match="unknown_cost"):
        PlannerConfig(unknown_cost=99.0)


def test_values_outside_the_occupancy_range_are_refused() -> None:
    values = np.zeros((3, 5), dtype=np.int8)
    values[:, 2] = 120  # no OccupancyGrid value: treated as a wall, not as cost
    found, _, _, _ = plan_cells(values, (1, 0), (1, 4), PlannerConfig())
    assert not found
    values[:, 2] = -7
    assert not plan_cells(values, (1, 0), (1, 4), PlannerConfig(allow_unknown=True))[0]


def test_nearest_usable_goal_is_the_closest_usable_cell_within_the_tolerance() -> None:
    values = np.zeros((40, 40), np.int8)
    values[10:30, 10:30] = 100  # a 1 m lethal square, cells 0.05 m, origin (0, 0)
    values[9, 10:30] = 99  # an inscribed rim below it
    values[30:32, 10:30] = -1  # unknown above it
    grid = Grid(values, 0.05, 0.0, 0.0)
    goal = (1.0, 0.52)  # in the square, 0.02 m above its lower edge (y = 0.5)
    near = nearest_usable_goal(grid, goal, 0.5, allow_unknown=False)
    assert near is not None and near[1] == pytest.approx(0.425)  # row 8: below the inscribed row 9
    assert int(values[grid.world_to_cell(*near)]) < 99
    assert nearest_usable_goal(grid, goal, 0.05, allow_unknown=False) is None  # too far for the tolerance
    assert nearest_usable_goal(grid, goal, 0.0, allow_unknown=False) is None
    top = (1.01, 1.45)  # 0.05 m below the unknown band, nearer column 20 (x 1.0..1.05) than 19
    assert nearest_usable_goal(grid, top, 0.12, allow_unknown=True) == pytest.approx((1.025, 1.525))
    assert nearest_usable_goal(grid, top, 0.12, allow_unknown=False) is None  # free cells start 0.175 m away


def test_after_warm_up_nothing_compiles_on_the_first_real_input() -> None:
    from test.numba_helpers import compiled_by

    # A fresh process (here earlier tests have compiled the kernels): warm up, then a realistic first input.
    setup = "from robot_vision_nav.core import planner as module\nmodule.warm_up(module.PlannerConfig())"
    workload = """
import numpy as np
from robot_vision_nav.core.grid import Grid
values = np.zeros((80, 80), np.int8)
values[40, 10:70] = 100
values[20:30, 50] = 60
grid = Grid(values, 0.05)
for any_angle in (False, True):
    config = module.PlannerConfig(any_angle=any_angle)
    module.plan(grid, (0.5, 0.5), (3.5, 3.5), config)
    module.plan(grid, (1.0, 2.0), (3.5, 3.5), config)
"""
    assert compiled_by(setup, workload) == []


def test_warm_up_compiles_the_kernels_a_later_parameter_change_needs() -> None:
    """cost_weight and smooth may change at run time (`ros2 param set`): 0 and false must not leave kernels out."""
    from test.numba_helpers import compiled_by

    setup = """from robot_vision_nav.core import planner as module
module.warm_up(module.PlannerConfig(cost_weight=0.0, smooth=False))"""
    workload = """
import numpy as np
from robot_vision_nav.core.grid import Grid
values = np.zeros((40, 40), np.int8)
values[20, 5:35] = 100
values[10:15, 25] = 60
grid = Grid(values, 0.05)
for any_angle in (False, True):
    module.plan(grid, (0.5, 0.5), (1.5, 1.5), module.PlannerConfig(any_angle=any_angle))
"""
    assert compiled_by(setup, workload) == []


def test_search_grid_checks_its_cells_and_reports_no_path_as_plan_cells_does() -> None:
    values = np.zeros((5, 6), dtype=np.int8)
    values[:, 3] = 100
    grid = prepare(values, SHORTEST)
    with pytest.raises(PlannerError, match="outside the 5 x 6 grid"):
        grid.astar((0, 0), (5, 1))
    with pytest.raises(PlannerError, match="whole numbers"):
        grid.jps((0.5, 0), (1, 1))  # type: ignore[arg-type]
    with pytest.raises(PlannerError, match="int8"):
        prepare(values.astype(np.int16), SHORTEST)
    for result in (grid.astar((0, 0), (0, 5)), grid.jps((0, 0), (0, 5)), grid.route((0, 0), (0, 5))):
        assert not result.found and result.cells.shape == (0, 2) and result.cost == math.inf
        assert result.expansions > 0
    found, cells, cost, _ = grid.route((0, 0), (4, 0))
    assert (found, cost) == (True, 4.0) and cells.dtype == np.intp
    assert cells.tolist() == [[0, 0], [1, 0], [2, 0], [3, 0], [4, 0]]


def test_path_blocked_judges_points_by_the_planners_refusal_rule() -> None:
    values = np.zeros((10, 10), np.int8)
    grid = Grid(values, 1.0)  # cell (row r, col c) holds the point (c + 0.5, r + 0.5)
    path = np.array([[0.5, 0.5], [1.5, 0.5], [2.5, 0.5]])
    assert not path_blocked(grid, path, allow_unknown=False)
    values[0, 1] = 98  # inflation below inscribed: drivable at a cost
    assert not path_blocked(grid, path, allow_unknown=False)
    values[0, 1] = -1  # unknown: refused unless allowed
    assert path_blocked(grid, path, allow_unknown=False) and not path_blocked(grid, path, allow_unknown=True)
    values[0, 1] = 99  # inscribed
    assert path_blocked(grid, path, allow_unknown=True)
    values[0, 1] = 0
    outside = np.array([[-5.0, 0.5], [50.0, 50.0]])  # beyond the window the costmap says nothing
    assert not path_blocked(grid, outside, allow_unknown=False)
