"""The planner's value types: its settings, its result and status, and its input error."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from robot_vision_nav.core.config import param, validate_fields


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
