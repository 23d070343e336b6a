"""Typed, frozen configuration with the metadata a ROS node needs to declare it as parameters.

Each field of a config dataclass carries its default, unit, description and allowed range in
`dataclasses.field(metadata=...)`. The core validates a config when it is built; the node layer
(`robot_vision_nav.ros.params`) turns the same metadata into ROS parameter descriptors, so a
range is written once. This module must never import ROS.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any


class ConfigError(ValueError):
    """A configuration value outside its allowed range, named with the value and the range."""


@dataclass(frozen=True)
class ParamInfo:
    """What a parameter means: unit, description, inclusive range and, for arrays, length."""

    description: str
    unit: str = ""
    min_value: float | None = None
    max_value: float | None = None
    length: int | None = None

    def range_text(self) -> str:
        """The allowed range as people read it, e.g. `[0.01, 5.0] m`."""
        lo = "-inf" if self.min_value is None else f"{self.min_value:g}"
        hi = "inf" if self.max_value is None else f"{self.max_value:g}"
        unit = f" {self.unit}" if self.unit else ""
        return f"[{lo}, {hi}]{unit}"


def param(
    default: Any,
    description: str,
    *,
    unit: str = "",
    min_value: float | None = None,
    max_value: float | None = None,
    length: int | None = None,
) -> Any:
    """A dataclass field that is also a declared parameter (default, unit, description, range)."""
    info = ParamInfo(description, unit, min_value, max_value, length)
    return dataclasses.field(default=default, metadata={"param": info})


def param_info(cls: type[Any]) -> dict[str, ParamInfo]:
    """Parameter metadata of every field of a config dataclass, in declaration order."""
    return {f.name: f.metadata["param"] for f in dataclasses.fields(cls) if "param" in f.metadata}


def check_value(name: str, value: Any, info: ParamInfo) -> None:
    """Raise ConfigError unless `value` is finite, within the range and of the right length."""
    values = list(value) if isinstance(value, tuple | list) else [value]
    if info.length is not None and len(values) != info.length:
        raise ConfigError(f"parameter '{name}' needs {info.length} values, got {len(values)}: {value!r}")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int | float):
            continue
        if not math.isfinite(v):
            raise ConfigError(f"parameter '{name}' = {value!r} must be finite, allowed {info.range_text()}")
        if (info.min_value is not None and v < info.min_value) or (info.max_value is not None and v > info.max_value):
            raise ConfigError(f"parameter '{name}' = {value!r} is outside the allowed range {info.range_text()}")


def validate_fields(config: Any) -> None:
    """Check every declared field of a config dataclass instance against its range."""
    for name, info in param_info(type(config)).items():
        check_value(name, getattr(config, name), info)
