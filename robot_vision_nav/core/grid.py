"""An occupancy grid placed in a world frame, with the values nav_msgs/OccupancyGrid carries.

The planner and the controller read the local costmap in this form: what arrives over ROS (an
OccupancyGrid from costmap_node or any Nav2 costmap), what `RollingCostmap.grid()` gives in
process, and what map files load into. Values follow Nav2's costmap publisher: -1 unknown,
0 free, 1..98 inflated cost, 99 inscribed (the robot centre there means a collision), 100 lethal.
Row 0 is the lowest y, columns grow with x. This module must never import ROS.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

OCC_UNKNOWN = -1
OCC_FREE = 0
OCC_MAX_INFLATED = 98
OCC_INSCRIBED = 99
OCC_LETHAL = 100

# The finest cell a grid may have. Finer is no costmap (costmap_node's own floor is 5 mm) but a
# corrupt message, and walking a path at a quarter cell per step would take astronomically many.
MIN_RESOLUTION_M = 1e-3


class GridError(ValueError):
    """A grid that cannot be used (wrong dtype or shape, bad resolution), saying why."""


@dataclass(frozen=True, eq=False)
class Grid:
    """Occupancy values on a regular grid whose cell (0, 0) has its lower-left corner at the origin.

    Attributes:
        values: (rows, cols) int8 OccupancyGrid values.
        resolution_m: cell size.
        origin_x_m: world x of the lower-left corner of cell (0, 0).
        origin_y_m: world y of that corner.
        frame_id: the world frame, `odom` for the local costmap.
        stamp_ns: stamp of the data the grid was made from.

    """

    values: NDArray[np.int8]
    resolution_m: float
    origin_x_m: float = 0.0
    origin_y_m: float = 0.0
    frame_id: str = "odom"
    stamp_ns: int = 0

    def __post_init__(self) -> None:
        if self.values.dtype != np.int8 or self.values.ndim != 2 or 0 in self.values.shape:
            raise GridError(
                f"grid values must be a non-empty 2-D int8 array, got {self.values.dtype} {self.values.shape}"
            )
        if not (math.isfinite(self.resolution_m) and self.resolution_m >= MIN_RESOLUTION_M):
            raise GridError(
                f"grid resolution must be finite and at least {MIN_RESOLUTION_M:g} m, got {self.resolution_m}"
            )
        if not (math.isfinite(self.origin_x_m) and math.isfinite(self.origin_y_m)):
            raise GridError(f"grid origin must be finite, got ({self.origin_x_m}, {self.origin_y_m})")

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols)."""
        rows, cols = self.values.shape
        return int(rows), int(cols)

    def world_to_cell(self, x_m: float, y_m: float) -> tuple[int, int]:
        """(row, col) of the cell holding a world point; may lie outside the grid (see `contains`)."""
        return (
            math.floor((y_m - self.origin_y_m) / self.resolution_m),
            math.floor((x_m - self.origin_x_m) / self.resolution_m),
        )

    def cell_center(self, row: int, col: int) -> tuple[float, float]:
        """World (x, y) of a cell's centre."""
        return (
            self.origin_x_m + (col + 0.5) * self.resolution_m,
            self.origin_y_m + (row + 0.5) * self.resolution_m,
        )

    def contains(self, row: int, col: int) -> bool:
        """Whether (row, col) is a cell of this grid."""
        rows, cols = self.shape
        return 0 <= row < rows and 0 <= col < cols

    def value_at(self, x_m: float, y_m: float) -> int:
        """The value under a world point; unknown (-1) outside the grid."""
        row, col = self.world_to_cell(x_m, y_m)
        return int(self.values[row, col]) if self.contains(row, col) else OCC_UNKNOWN
