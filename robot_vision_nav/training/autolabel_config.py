"""`rvn autolabel`'s settings, in a module of their own that imports nothing heavy.

The command line builds its options (and their defaults) from `AutolabelConfig`'s fields while
`rvn --help` must not import numpy; `training.autolabel` does the work.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

# The settings `rvn autolabel` exposes as options (--robot-radius for robot_radius_m, ...), with their help.
CLI_HELP = {
    "robot_radius_m": "the robot's footprint radius (the costmap's robot_radius_m)",
    "footprint_margin_m": "the swept footprint is this much narrower than the robot (odometry drift)",
    "max_range_m": "depth beyond this is not labelled",
    "floor_tolerance_m": "largest height above the fitted floor plane that is floor, at 0 m range (+0.005 per m)",
    "min_obstacle_height_m": "points this high above the floor (or this far below it) are not drivable",
    "max_obstacle_height_m": "points higher than this are ignored (overhangs the robot passes under)",
}


class AutolabelError(ValueError):
    """Settings or inputs autolabel cannot use, naming the thing that is wrong."""


@dataclass(frozen=True)
class AutolabelConfig:
    """How pixels are sorted (m unless said)."""

    robot_radius_m: float = 0.25  # the costmap's robot_radius_m
    footprint_margin_m: float = 0.05  # the swept footprint is this much narrower than the robot
    max_range_m: float = 5.0  # depth beyond this is too noisy to call
    floor_tolerance_m: float = 0.03
    floor_tolerance_per_m: float = 0.005  # depth noise grows with range
    min_obstacle_height_m: float = 0.08
    max_obstacle_height_m: float = 2.0
    floor_search_m: float = 0.15  # points within this of z = 0 are floor candidates for the fit
    sweep_resolution_m: float = 0.02

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not (math.isfinite(value) and value >= 0.0):
                raise AutolabelError(f"{name} must be a finite number >= 0, got {value}")
        if self.robot_radius_m <= self.footprint_margin_m:
            raise AutolabelError(
                f"robot_radius_m {self.robot_radius_m} must be larger than footprint_margin_m {self.footprint_margin_m}"
            )
        if self.sweep_resolution_m <= 0.0 or self.max_range_m <= 0.0:
            raise AutolabelError("sweep_resolution_m and max_range_m must be > 0")
        if self.min_obstacle_height_m >= self.max_obstacle_height_m:
            raise AutolabelError(
                f"min_obstacle_height_m {self.min_obstacle_height_m} must be below max_obstacle_height_m "
                f"{self.max_obstacle_height_m}"
            )
