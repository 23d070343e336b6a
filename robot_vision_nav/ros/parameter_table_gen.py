"""Writes `ros/parameter_table.py`: every node's parameters and defaults, read from its config dataclasses.

    python -m robot_vision_nav.ros.parameter_table_gen      # after changing a config dataclass

The launch files check a params file before anything starts (`ros.bringup.check_params_file`), and
`ros2 launch` may run under a Python without torch, numba or OpenCV (the container's apt Python), so
they cannot import the node modules to ask them. They read the generated table instead;
`test/test_bringup.py` regenerates it in memory and fails while the committed table differs.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import sys
from pathlib import Path

TABLE = Path(__file__).with_name("parameter_table.py")
HEADER = '''"""Every parameter each node of the package declares, with its default. GENERATED: do not edit.

Written by `python -m robot_vision_nav.ros.parameter_table_gen` from the nodes' config dataclasses
(`ros.bringup.NODE_KINDS[...].config_classes`); a test fails while it differs from them. Plain data,
so that launch-time code reads it without importing torch, numba or OpenCV.
"""

from __future__ import annotations

from typing import TypeAlias

ParameterDefault: TypeAlias = "bool | int | float | str | tuple[float, ...] | tuple[str, ...]"
'''


def parameters_of(config_classes: tuple[str, ...]) -> dict[str, object]:
    """{name: default} of every declared parameter of the "module:Class" dataclasses, in declaration order."""
    out: dict[str, object] = {}
    for ref in config_classes:
        module, name = ref.split(":")
        cls = getattr(importlib.import_module(module), name)
        for f in dataclasses.fields(cls):
            if "param" in f.metadata:
                out[f.name] = f.default
    return out


def _literal(value: object) -> str:
    # Python literals as ruff formats them (double quotes), so the generated file passes the lint.
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, tuple | list):
        items = ", ".join(_literal(v) for v in value)
        if isinstance(value, list):
            return f"[{items}]"
        return f"({items},)" if len(value) == 1 else f"({items})"
    if isinstance(value, bool | int | float):
        return repr(value)
    raise TypeError(f"parameter default {value!r} of type {type(value).__name__} has no literal here")


def render() -> str:
    """The text of parameter_table.py for the node kinds of `ros.bringup` (imports every node module)."""
    from robot_vision_nav.ros.bringup import NODE_KINDS

    lines = [HEADER, "NODE_PARAMETERS: dict[str, dict[str, ParameterDefault]] = {"]
    for kind in NODE_KINDS.values():
        lines.append(f"    {_literal(kind.name)}: {{")
        defaults = parameters_of(kind.config_classes)
        lines += [f"        {_literal(name)}: {_literal(value)}," for name, value in defaults.items()]
        lines.append("    },")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main() -> int:
    """Rewrite the table; print whether it changed."""
    text = render()
    changed = not TABLE.is_file() or TABLE.read_text() != text
    if changed:
        TABLE.write_text(text)
    print(f"{TABLE}: {'rewritten' if changed else 'unchanged'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
