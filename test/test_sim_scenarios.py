"""sim/scenarios: random Nav2-inflated windows with a start and an oracle path, for the controller tests."""

from __future__ import annotations

import math

import numpy as np
import pytest

from robot_vision_nav.core.costmap import COST_TO_OCCUPANCY, inflation_costs
from robot_vision_nav.core.grid import OCC_INSCRIBED
from robot_vision_nav.sim.scenarios import grid_path, inflated_grid, random_scenario


def test_grid_path_matches_a_known_shortest_path() -> None:
    grid = inflated_grid(np.zeros((10, 10), dtype=bool), 1.0)
    path = grid_path(grid, (0, 0), (3, 5), clearance_m=0.0, cost_weight=0.0)
    assert path is not None
    length = float(np.sum(np.hypot(*np.diff(path, axis=0).T)))
    assert length == pytest.approx(3 * math.sqrt(2) + 2)  # octile distance
    walled = np.zeros((10, 10), dtype=bool)
    walled[:, 5] = True
    assert grid_path(inflated_grid(walled, 1.0, 0.2, 0.2), (0, 0), (0, 9), 0.0) is None


def test_inflated_grid_is_the_core_inflation_in_occupancy_values() -> None:
    lethal = np.random.default_rng(2).uniform(size=(40, 50)) < 0.02
    grid = inflated_grid(lethal, 0.05, 0.2, 0.55, 3.0, origin_xy_m=(-1.0, 2.0))
    np.testing.assert_array_equal(grid.values, COST_TO_OCCUPANCY[inflation_costs(lethal, 0.05, 0.2, 0.55, 3.0)])
    assert (grid.resolution_m, grid.origin_x_m, grid.origin_y_m) == (0.05, -1.0, 2.0)


@pytest.mark.parametrize("seed", [0, 7, 1234])
def test_random_scenario_is_deterministic_and_its_path_stays_clear(seed: int) -> None:
    grid, start, path, yaw = random_scenario(seed, 120, 120, n_boxes=8)
    again = random_scenario(seed, 120, 120, n_boxes=8)
    np.testing.assert_array_equal(grid.values, again[0].values)
    assert (start, yaw) == (again[1], again[3])
    np.testing.assert_array_equal(path, again[2])
    assert math.dist(path[0], path[-1]) >= 2.0
    assert (start.x_m, start.y_m) == pytest.approx(tuple(path[0]))
    assert all(grid.value_at(float(x), float(y)) < OCC_INSCRIBED for x, y in path)
