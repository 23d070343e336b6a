"""Checks of the planner's inputs, each failing with a PlannerError that says what was wrong."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from robot_vision_nav.core.grid import OCC_INSCRIBED, OCC_LETHAL, OCC_MAX_INFLATED, OCC_UNKNOWN
from robot_vision_nav.core.planner.types import PlannerError


def finite_point(point: tuple[float, float], name: str) -> tuple[float, float]:
    """A world point (x, y) in metres as two finite floats; `name` is the argument's name in the message."""
    try:
        x, y = (float(v) for v in point)
    except (TypeError, ValueError) as err:
        raise PlannerError(f"{name} must be two numbers (x, y) in metres, got {point!r}") from err
    if not (math.isfinite(x) and math.isfinite(y)):
        raise PlannerError(f"{name} ({x}, {y}) must be finite (m)")
    return x, y


def check_values(values: NDArray[np.int8]) -> None:
    """Refuse anything but a non-empty 2-D int8 array of OccupancyGrid values."""
    if not isinstance(values, np.ndarray) or values.dtype != np.int8 or values.ndim != 2 or 0 in values.shape:
        what = f"{values.dtype} {values.shape}" if isinstance(values, np.ndarray) else type(values).__name__
        raise PlannerError(f"values must be a non-empty 2-D int8 OccupancyGrid array, got {what}")


def check_cell(rc: tuple[int, int], shape: tuple[int, ...], name: str) -> tuple[int, int]:
    """A (row, col) of whole numbers inside `shape`, as two ints; `name` is the argument's name in the message."""
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


def describe_value(value: int) -> str:
    """A cell value in words, for the messages that say why the planner refuses a cell."""
    if value == OCC_LETHAL:
        return "lethal"
    if value == OCC_INSCRIBED:
        return "inscribed"
    if value == OCC_UNKNOWN:
        return "unknown, and allow_unknown is false"
    if 0 <= value <= OCC_MAX_INFLATED:
        return "usable"
    return "not an OccupancyGrid value"
