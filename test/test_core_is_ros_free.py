"""robot_vision_nav/core must stay free of ROS: no rclpy, messages, launch or ROS glue below it.

Two checks: a static one over the source (finds imports that only run on some paths, and names the
line), and a dynamic one that imports every core module in a fresh interpreter and looks at what
ended up loaded (finds ROS pulled in indirectly, through another package).
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORE = REPO / "robot_vision_nav" / "core"

FORBIDDEN_EXACT = frozenset(
    {
        "rclpy",
        "builtin_interfaces",
        "rcl_interfaces",
        "cv_bridge",
        "tf2_ros",
        "tf2_py",
        "message_filters",
        "ament_index_python",
        "rosbag2_py",
    }
)
FORBIDDEN_PREFIXES = ("rosidl", "launch")  # rosidl_runtime_py, launch_ros, launch_testing, ...
FORBIDDEN_SUFFIXES = ("_msgs", "_srvs", "_interfaces")  # sensor_msgs, std_srvs, ...
# The package's own ROS layers: core importing them would bring rclpy in with them.
FORBIDDEN_OWN = ("robot_vision_nav.nodes", "robot_vision_nav.ros")


def is_forbidden(module: str) -> bool:
    """Whether an absolute module name is ROS, or one of this package's ROS layers."""
    top = module.split(".", 1)[0]
    return (
        top in FORBIDDEN_EXACT
        or any(top == prefix or top.startswith(prefix + "_") for prefix in FORBIDDEN_PREFIXES)
        or top.endswith(FORBIDDEN_SUFFIXES)
        or any(module == own or module.startswith(own + ".") for own in FORBIDDEN_OWN)
    )


def module_name(path: Path, root: Path = REPO) -> str:
    """Dotted name of a source file below `root` (`a/b/__init__.py` -> `a.b`)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path, root: Path = REPO) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in a file, relative ones resolved.

    Also catches `importlib.import_module("x")` and `__import__("x")` with a literal name.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module_name(path, root)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(base_parts)
                if node.module:
                    found.append((node.lineno, f"{base}.{node.module}"))
                else:
                    found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
            else:
                module = node.module or ""
                found.append((node.lineno, module))
                found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in {"import_module", "__import__"} and isinstance(node.args[0].value, str):
                found.append((node.lineno, node.args[0].value))
    return found


def test_core_sources_import_nothing_from_ros() -> None:
    sources = sorted(CORE.rglob("*.py"))
    assert sources, f"no Python files found under {CORE}"
    offences: dict[tuple[Path, int], str] = {}
    for path in sources:
        for line, module in imported_modules(path):
            if is_forbidden(module):
                offences.setdefault((path, line), module)  # `from x.msg import Y` once, not twice
    report = [f"{path.relative_to(REPO)}:{line}: imports {module}" for (path, line), module in offences.items()]
    assert not report, "core/ must stay ROS-free:\n" + "\n".join(report)


def test_import_scan_sees_every_import_form(tmp_path: Path) -> None:
    core = tmp_path / "robot_vision_nav" / "core"
    core.mkdir(parents=True)
    (core / "bad.py").write_text(
        "import numpy as np\n"
        "import rclpy.node\n"
        "from sensor_msgs.msg import Image\n"
        "from .. import ros\n"
        "from ..nodes.costmap_node import main\n"
        "from . import geometry\n"
        "def late():\n"
        "    import importlib\n"
        "    return importlib.import_module('launch_ros')\n"
    )
    flagged = [(line, name) for line, name in imported_modules(core / "bad.py", tmp_path) if is_forbidden(name)]
    assert flagged == [
        (2, "rclpy.node"),
        (3, "sensor_msgs.msg"),
        (3, "sensor_msgs.msg.Image"),
        (4, "robot_vision_nav.ros"),
        (5, "robot_vision_nav.nodes.costmap_node"),
        (9, "launch_ros"),
    ]


def test_forbidden_module_rule_matches_ros_and_spares_the_rest() -> None:
    ros = [
        "rclpy.node",
        "sensor_msgs.msg",
        "rosidl_runtime_py",
        "launch",
        "launch_ros.actions",
        "builtin_interfaces.msg",
        "cv_bridge",
        "tf2_ros",
        "message_filters",
        "ament_index_python.packages",
        "std_srvs.srv",
        "robot_vision_nav.ros.qos",
        "robot_vision_nav.nodes",
    ]
    not_ros = [
        "numpy",
        "torch.nn",
        "cv2",
        "robot_vision_nav.core.geometry",
        "launchpad",
        "robot_vision_nav.rosette",
        "ros_wheels_bootstrapper",
        "dataclasses",
    ]
    assert [name for name in ros if not is_forbidden(name)] == []
    assert [name for name in not_ros if is_forbidden(name)] == []


# Runs in a fresh interpreter: this pytest process may already hold rclpy from other tests.
IMPORT_ALL_CORE = """
import importlib, json, pkgutil, sys, traceback
loaded_at_start = sorted(name for name in sys.modules if name.split(".")[0] == "rclpy")
import robot_vision_nav.core as core
errors = {}
def onerror(name):
    errors[name] = traceback.format_exc(limit=3)
names = []
for info in pkgutil.walk_packages(core.__path__, core.__name__ + ".", onerror=onerror):
    names.append(info.name)
    try:
        importlib.import_module(info.name)
    except Exception:
        errors[info.name] = traceback.format_exc(limit=3)
print(json.dumps({"core_file": core.__file__, "loaded_at_start": loaded_at_start,
                  "imported": names, "errors": errors, "modules": sorted(sys.modules)}))
"""


def test_importing_every_core_module_loads_no_ros() -> None:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env["PYTHONPATH"] = str(REPO)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_ALL_CORE],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    result = json.loads(done.stdout.strip().splitlines()[-1])

    assert Path(result["core_file"]).resolve().is_relative_to(CORE), result["core_file"]
    assert result["loaded_at_start"] == [], "rclpy already loaded at interpreter start: check is void"
    assert result["imported"], "pkgutil.walk_packages found no module under robot_vision_nav.core"
    assert not result["errors"], "core modules failed to import:\n" + "\n".join(
        f"{name}:\n{trace}" for name, trace in result["errors"].items()
    )
    assert "rclpy" not in result["modules"]
    ros_loaded = [name for name in result["modules"] if is_forbidden(name)]
    assert not ros_loaded, f"importing core loaded ROS modules: {ros_loaded}"
