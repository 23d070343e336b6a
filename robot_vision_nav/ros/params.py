"""Declare a node's parameters from config dataclasses and keep them valid at run time.

A config dataclass (see `robot_vision_nav.core.config`) carries each parameter's default, unit,
description and range. `ConfigParameters` declares them all with a ParameterDescriptor (so
`ros2 param describe` shows the unit and range, and rclpy refuses out-of-range scalars at start-up
and at `ros2 param set`), builds the frozen config, and re-validates the whole config on every
`set_parameters`: a refused update names the parameter, the value and the allowed range, and the
running config is left as it was. It never clamps a bad value into range.

Field types: bool, int, float, str, tuple[float, ...] (a double array) and tuple[str, ...] (a string
array). ROS 2 cannot type an empty array by itself (a YAML `[]` or `-p name:=[]` arrives with no
type at all), so a string array is declared by type and an untyped value takes the field's
default: give string arrays an empty default, and `[]` in a params file means what it says.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence, Sized
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar, cast, get_args, get_type_hints

from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    ParameterType,
    SetParametersResult,
)
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.node import Node
from rclpy.parameter import Parameter

from robot_vision_nav.core.config import ConfigError, ParamInfo, param_info
from robot_vision_nav.ros.bringup import STACK_WIDE_PARAMETERS

if TYPE_CHECKING:
    from _typeshed import DataclassInstance
    from rclpy.parameter import AllowableParameterValue

ConfigT = TypeVar("ConfigT", bound="DataclassInstance")
# A config field's value: what `_python_value` makes of a parameter for the field types this module declares.
ConfigValue: TypeAlias = "bool | int | float | str | tuple[float, ...] | tuple[str, ...] | None"
# Called with (config class, config of that class); Any: each node's callback takes its own config classes.
ConfigCallback: TypeAlias = "Callable[[type[DataclassInstance], Any], None]"

_INT_LIMIT = 2**62

# Parameters rclpy itself understands on every node; any other name given to a node (params file,
# `-p`) must be one the node declares, else it is a typo that would silently leave a default.
BUILTIN_PARAMETERS = frozenset({"use_sim_time", "start_type_description_service"})
BUILTIN_PREFIXES = ("qos_overrides.",)


def unknown_parameters(given: Sequence[str], declared: Sequence[str]) -> list[str]:
    """The names in `given` that are neither declared nor built into every rclpy node, sorted.

    The stack-wide parameters (`ros.bringup.STACK_WIDE_PARAMETERS`) are not unknown either: the
    params file's `/**` section gives them to every node, and a node that does not use one leaves it
    alone, as rcl does (`ros.bringup.check_params_file` still refuses one in a node's own section).
    """
    known = set(declared) | BUILTIN_PARAMETERS | STACK_WIDE_PARAMETERS
    return sorted(n for n in given if n not in known and not n.startswith(BUILTIN_PREFIXES))


class ParameterError(ValueError):
    """A parameter that cannot be used, with its name, its value and what is allowed."""


def _ros_type(py_type: object) -> int:
    if py_type is bool:
        return int(ParameterType.PARAMETER_BOOL)
    if py_type is int:
        return int(ParameterType.PARAMETER_INTEGER)
    if py_type is float:
        return int(ParameterType.PARAMETER_DOUBLE)
    if py_type is str:
        return int(ParameterType.PARAMETER_STRING)
    if get_args(py_type)[:1] == (str,):
        return int(ParameterType.PARAMETER_STRING_ARRAY)  # tuple[str, ...]
    return int(ParameterType.PARAMETER_DOUBLE_ARRAY)  # tuple[float, ...]


def _type_name(ros_type: int) -> str:
    return {
        ParameterType.PARAMETER_BOOL: "a bool (true/false)",
        ParameterType.PARAMETER_INTEGER: "an integer",
        ParameterType.PARAMETER_DOUBLE: "a double (write 1.0, not 1)",
        ParameterType.PARAMETER_STRING: "a string",
        ParameterType.PARAMETER_DOUBLE_ARRAY: "a list of doubles (write [0.0, 1.0], not [0, 1])",
        ParameterType.PARAMETER_STRING_ARRAY: 'a list of strings (write ["a", "b"])',
    }.get(ros_type, "another type")


def descriptor_for(name: str, info: ParamInfo, ros_type: int) -> ParameterDescriptor:
    """A ParameterDescriptor with description, unit and, for scalars, the inclusive range."""
    text = info.description
    if info.unit:
        text += f" [{info.unit}]"
    if info.min_value is not None or info.max_value is not None:
        text += f"; allowed {info.range_text()}"
    if info.length is not None:
        text += f"; {info.length} values"
    descriptor = ParameterDescriptor(name=name, type=ros_type, description=text)
    lo = -math.inf if info.min_value is None else info.min_value
    hi = math.inf if info.max_value is None else info.max_value
    if ros_type == ParameterType.PARAMETER_DOUBLE and (info.min_value is not None or info.max_value is not None):
        descriptor.floating_point_range = [
            FloatingPointRange(from_value=max(lo, -1e300), to_value=min(hi, 1e300), step=0.0)
        ]
    elif ros_type == ParameterType.PARAMETER_INTEGER and (info.min_value is not None or info.max_value is not None):
        descriptor.integer_range = [
            IntegerRange(from_value=int(max(lo, -_INT_LIMIT)), to_value=int(min(hi, _INT_LIMIT)), step=1)
        ]
    return descriptor


def _python_value(value: Any, ros_type: int) -> ConfigValue:  # Any: rclpy's value, of the type ros_type names
    # rclpy hands arrays back as array.array or list; the configs hold tuples (hashable, frozen).
    if ros_type == ParameterType.PARAMETER_STRING_ARRAY:
        return () if value is None else tuple(str(v) for v in value)
    if isinstance(value, str | bool | int | float) or value is None:
        return value
    return tuple(float(v) for v in value)


class ConfigParameters:
    """The parameters of one node, declared from one or more config dataclasses.

    Args:
        node: the node to declare on.
        classes: config dataclasses whose fields become parameters (names must not collide).
        on_change: called with (class, new config) after an accepted `set_parameters`.
        check: called with (class, candidate config) before a `set_parameters` is accepted, for
            what a range cannot say (a file that must load, a class the model must know); a
            ValueError it raises refuses the update with its message. Not called at start-up.

    Raises:
        ParameterError: a start-up value (from a params file or `-p`) of the wrong type, out of
            range, or inconsistent with another parameter; or a start-up value for a parameter
            this node does not have (a misspelt name in the YAML would otherwise leave the default
            in force without a word).

    """

    def __init__(
        self,
        node: Node,
        classes: Sequence[type[DataclassInstance]],
        on_change: ConfigCallback | None = None,
        check: ConfigCallback | None = None,
    ) -> None:
        self._node = node
        self._on_change = on_change
        self._check = check
        self._owner: dict[str, type[DataclassInstance]] = {}
        self._descriptors: dict[str, tuple[ParameterDescriptor, int]] = {}
        self.configs: dict[type[DataclassInstance], DataclassInstance] = {}  # each class -> a config of it
        for cls in classes:
            hints = get_type_hints(cls)
            defaults = {f.name: f.default for f in dataclasses.fields(cls)}
            for name, info in param_info(cls).items():
                if name in self._owner:
                    raise ValueError(f"parameter '{name}' is declared by both {self._owner[name]} and {cls}")
                self._owner[name] = cls
                ros_type = _ros_type(hints[name])
                default = defaults[name]
                if isinstance(default, tuple):
                    default = list(default)
                # rclpy types [] as a byte array; declared by type, a string array keeps the
                # override (typed or not) and is set to its default below when it has none.
                declared = Parameter.Type.STRING_ARRAY if ros_type == ParameterType.PARAMETER_STRING_ARRAY else default
                try:
                    node.declare_parameter(name, declared, descriptor_for(name, info, ros_type))
                except InvalidParameterTypeException as err:
                    raise ParameterError(f"parameter '{name}' must be {_type_name(ros_type)}: {err}") from err
                except InvalidParameterValueException as err:
                    raise ParameterError(
                        f"parameter '{name}' is outside the allowed range {info.range_text()}: {err}"
                    ) from err
                if (
                    ros_type == ParameterType.PARAMETER_STRING_ARRAY
                    and node.get_parameter_or(name).type_ == Parameter.Type.NOT_SET
                ):
                    node.set_parameters([Parameter(name, Parameter.Type.STRING_ARRAY, default)])
                # Typed statically for the start-up check above; at run time the type is checked by
                # _on_set instead, which names the parameter (rclpy's own check says only "Wrong
                # parameter type, expected '3' got '4'"). describe_parameter gives rclpy's own object.
                stored = node.describe_parameter(name)
                stored.dynamic_typing = True
                self._descriptors[name] = (stored, ros_type)
            values = {
                name: _python_value(node.get_parameter(name).value, _ros_type(hints[name])) for name in param_info(cls)
            }
            self.configs[cls] = self._build(cls, values)
        unknown = unknown_parameters(list(node._parameter_overrides), list(self._owner))
        if unknown:
            raise ParameterError(
                f"unknown parameter{'s' if len(unknown) > 1 else ''} {', '.join(repr(n) for n in unknown)} for node "
                f"'{node.get_fully_qualified_name()}' (from a params file or -p); check the spelling against "
                "config/robot_vision_nav.yaml"
            )
        self._pending: dict[type[DataclassInstance], DataclassInstance] = {}
        node.add_on_set_parameters_callback(self._on_set)
        node.add_post_set_parameters_callback(self._on_set_done)

    def get(self, cls: type[ConfigT]) -> ConfigT:
        """The current config of that class."""
        return cast(ConfigT, self.configs[cls])  # `configs` holds a config of each class under that class

    @staticmethod
    def _build(cls: type[ConfigT], values: dict[str, ConfigValue]) -> ConfigT:
        try:
            return cls(**values)
        except ConfigError as err:
            raise ParameterError(str(err)) from err

    def _on_set(self, params: list[Parameter[AllowableParameterValue]]) -> SetParametersResult:
        # A dynamically typed descriptor takes the type of each value tried, refused or not (also by
        # rclpy's range check, before this callback): put the declared ones back, so `ros2 param
        # describe` keeps telling the truth. An accepted value has the declared type anyway.
        for descriptor, ros_type in self._descriptors.values():
            descriptor.type = ros_type
        return self._validate(params)

    def _validate(self, params: list[Parameter[AllowableParameterValue]]) -> SetParametersResult:
        updates: dict[type[DataclassInstance], dict[str, ConfigValue]] = {}
        for p in params:
            cls = self._owner.get(p.name)
            if cls is None:
                continue  # not ours (e.g. use_sim_time)
            info = param_info(cls)[p.name]
            expected = _ros_type(get_type_hints(cls)[p.name])
            if p.type_ == Parameter.Type.NOT_SET:
                return SetParametersResult(
                    successful=False, reason=f"parameter '{p.name}' cannot be unset (declared by {cls.__name__})"
                )
            if p.type_ != Parameter.Type(expected):
                return SetParametersResult(
                    successful=False,
                    reason=f"parameter '{p.name}' = {p.value!r} must be {_type_name(expected)}; update refused",
                )
            value = _python_value(p.value, expected)
            count = None if info.length is None else len(cast("Sized", value))  # a field with a length is an array
            if info.length is not None and count != info.length:
                return SetParametersResult(
                    successful=False,
                    reason=f"parameter '{p.name}' needs {info.length} values, got {count}; update refused",
                )
            updates.setdefault(cls, {})[p.name] = value
        candidates: dict[type[DataclassInstance], DataclassInstance] = {}
        for cls, values in updates.items():
            try:
                candidates[cls] = dataclasses.replace(self.configs[cls], **values)
                if self._check is not None:
                    self._check(cls, candidates[cls])
            except ValueError as err:  # ConfigError, or what `check` refuses
                return SetParametersResult(successful=False, reason=f"{err}; update refused")
        # Applied only after rclpy has committed the values (post-set callback): another on-set
        # callback, or rclpy's own checks, may still refuse the update after this one accepts it.
        self._pending = candidates
        return SetParametersResult(successful=True)

    def _on_set_done(self, params: list[Parameter[AllowableParameterValue]]) -> None:
        pending, self._pending = self._pending, {}
        for cls, config in pending.items():
            self.configs[cls] = config
            if self._on_change is not None:
                self._on_change(cls, config)
