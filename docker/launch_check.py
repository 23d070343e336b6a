"""The image's `ros2 launch` path, checked under the Python it runs on, without starting anything.

In the image `ros2` (/opt/ros/kilted/bin/ros2) runs on Ubuntu's /usr/bin/python3, which cannot
import torch, numba, cv2, mujoco or rosbags; only the node scripts run on the venv's interpreter (the
shebang colcon wrote). Run on that Python with ROS 2 and the install space sourced, this script does
what `ros2 launch robot_vision_nav FILE` does before it starts a process, for bringup.launch.py,
sim.launch.py, replay.launch.py (its bag: an empty temporary folder) and perception.launch.py:

- loads the installed launch file through launch's own loader (the ament index's share directory);
- reads its declared arguments, as `--show-args` prints them, and requires a description for each;
- resolves them (defaults, or `name:=value` given here) and calls the launch file's closing
  OpaqueFunction, which builds the node list with `robot_vision_nav.ros.bringup.stack_nodes`
  (`perception_nodes` for perception.launch.py); the actions it returns are inspected, never executed;
- requires those nodes to be that function's for the same values, each executable to be found in the
  package's lib folder as launch_ros finds it (ExecutableInPackage) with an interpreter that exists,
  and none of the modules above to have been imported.

No process starts and nothing reaches DDS. The Dockerfile runs it after colcon build (the image is
not built if it fails); docker/healthcheck.py runs it as its `launch` row.

Exit status 0 with one line per launch file on stdout; 1 with the reason on stderr.

    /usr/bin/python3 /opt/rvn/launch_check.py [FILE ...] [name:=value ...]
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

PACKAGE = "robot_vision_nav"
LAUNCH_FILES = ("bringup.launch.py", "sim.launch.py", "replay.launch.py", "perception.launch.py")
# What the launch process never imports: in the image its Python has none of them.
HEAVY_MODULES = ("torch", "torchvision", "numba", "cv2", "mujoco", "rosbags")


class LaunchCheckError(Exception):
    """The launch path is broken; the message says where."""


def _interpreter(executable: Path) -> str:
    """The interpreter a script's `#!` line names ('' for a binary or a script without one)."""
    with executable.open("rb") as handle:
        first = handle.readline(512)
    if not first.startswith(b"#!"):
        return ""
    words = first[2:].decode(errors="replace").split()
    return words[0] if words else ""


def check_launch_file(name: str, values: dict[str, str]) -> str:
    """One launch file's arguments and node list, built and not started; a one-line summary.

    Raises:
        LaunchCheckError: the file cannot be found or loaded, an argument has no description, the
            node list cannot be built or is not `stack_nodes`', or a node's executable is missing.

    """
    from launch import LaunchContext
    from launch.actions import DeclareLaunchArgument, ExecuteProcess, OpaqueFunction
    from launch.launch_description_sources import get_launch_description_from_python_launch_file
    from launch.utilities import perform_substitutions
    from launch_ros.actions import Node

    from robot_vision_nav.package_files import share_dir
    from robot_vision_nav.replay import launch_plan
    from robot_vision_nav.ros import bringup, launch_files

    path = share_dir() / "launch" / name
    if not path.is_file():
        raise LaunchCheckError(f"{name}: not in the package's share directory {share_dir()}")
    try:
        description = get_launch_description_from_python_launch_file(str(path))
    except Exception as err:
        raise LaunchCheckError(f"{path}: cannot be loaded: {type(err).__name__}: {err}") from err
    declared = {arg.name: arg for arg in description.get_launch_arguments()}
    undescribed = sorted(n for n, a in declared.items() if a.description in ("", "no description given"))
    if undescribed:
        raise LaunchCheckError(f"{name}: argument(s) without a description: {', '.join(undescribed)}")
    context = LaunchContext()
    for key, value in values.items():
        if key in declared:
            context.launch_configurations[key] = value
    actions: list[Any] = []
    for entity in description.entities:
        if isinstance(entity, DeclareLaunchArgument):
            entity.visit(context)  # sets the default where no value was given; starts nothing
        elif isinstance(entity, OpaqueFunction):
            try:
                actions += entity.visit(context) or []  # the launch file's node list
            except Exception as err:
                raise LaunchCheckError(f"{name}: the node list fails: {type(err).__name__}: {err}") from err
        else:
            raise LaunchCheckError(f"{name}: unexpected top-level action {type(entity).__name__}; update this check")
    resolved = dict(context.launch_configurations)
    nodes = [a for a in actions if isinstance(a, Node) and a.node_package == PACKAGE]
    make_nodes = bringup.perception_nodes if name.startswith("perception") else bringup.stack_nodes
    if name.startswith("replay"):
        options = launch_plan.replay_plan(resolved).options
    else:
        options = launch_files.options_from_launch_values(resolved, sim=name.startswith("sim"))
    expected = [spec.executable for spec in make_nodes(options)]
    got = [str(node.node_executable) for node in nodes]
    if not got or got != expected:
        raise LaunchCheckError(f"{name}: nodes {got}, but {make_nodes.__name__} gives {expected}")
    for node in nodes:
        # launch_ros resolves the executable this way when it starts the node (ament index prefix/lib/PACKAGE/).
        try:
            executable = Path(perform_substitutions(context, node.cmd[0]))
        except Exception as err:
            raise LaunchCheckError(f"{name}: {node.node_executable}: {type(err).__name__}: {err}") from err
        if not os.access(executable, os.X_OK):
            raise LaunchCheckError(f"{name}: {executable} is not executable")
        interpreter = _interpreter(executable)
        if interpreter and not os.access(interpreter, os.X_OK):
            raise LaunchCheckError(f"{name}: {executable} names the interpreter {interpreter}, which does not exist")
    processes = [
        perform_substitutions(context, a.name) if a.name else "unnamed"
        for a in actions
        if isinstance(a, ExecuteProcess) and not isinstance(a, Node)
    ]
    summary = f"{name}: {len(declared)} arguments, nodes {', '.join(got)}"
    return summary + (f", processes {', '.join(processes)}" if processes else "")


def main(argv: list[str] | None = None) -> int:
    """Check the launch files named (default: all of LAUNCH_FILES) with the `name:=value` arguments given."""
    args = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in args):
        print(__doc__)
        return 0
    values = dict(a.split(":=", 1) for a in args if ":=" in a)
    names = [a for a in args if ":=" not in a] or list(LAUNCH_FILES)
    try:
        with tempfile.TemporaryDirectory(prefix="rvn-launch-check-") as empty_bag:
            for name in names:
                extra = {"bag": empty_bag} if name.startswith("replay") and "bag" not in values else {}
                print(check_launch_file(name, {**values, **extra}))
        heavy = sorted(m for m in HEAVY_MODULES if m in sys.modules)
        if heavy:
            raise LaunchCheckError(f"the launch path imported {', '.join(heavy)}, which apt's python3 does not have")
    except Exception as err:  # every failure is the answer: one line naming it
        print(f"launch check under {sys.executable}: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
