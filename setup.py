"""ament_python set-up for robot_vision_nav: colcon builds it, pip installs it editable for tests."""

from __future__ import annotations

from glob import glob
from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "robot_vision_nav"


def share_files(folder: str) -> list[tuple[str, list[str]]]:
    """Every file below `folder`, installed under share/<package>/<folder> with its sub-folders kept."""
    entries: dict[str, list[str]] = {}
    for path in sorted(glob(f"{folder}/**/*", recursive=True)):
        if Path(path).is_file() and Path(path).name != ".gitkeep":
            entries.setdefault(str(Path("share", PACKAGE, Path(path).parent)), []).append(path)
    return sorted(entries.items())


NODES = {
    "segmentation_node": "robot_vision_nav.nodes.segmentation_node:main",
    "costmap_node": "robot_vision_nav.nodes.costmap_node:main",
    "planner_node": "robot_vision_nav.nodes.planner_node:main",
    "controller_node": "robot_vision_nav.nodes.controller_node:main",
    "safety_node": "robot_vision_nav.nodes.safety_node:main",
    "sim_node": "robot_vision_nav.nodes.sim_node:main",
    "navigator_node": "robot_vision_nav.nodes.navigator_node:main",
    "semantic_obstacles_node": "robot_vision_nav.nodes.obstacles_node:main",
}

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test", "test.*", "bench", "bench.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        # requirements.txt: the pins `rvn doctor` compares the installed torch with (in the image too)
        (f"share/{PACKAGE}", ["package.xml", "requirements.txt"]),
        *share_files("launch"),
        *share_files("config"),
        *share_files("models"),
    ],
    install_requires=["setuptools"],
    zip_safe=False,
    maintainer="robot_vision_nav maintainers",
    maintainer_email="robot-vision-nav@example.com",
    description="Camera-to-wheels local navigation stack in Python for ROS 2.",
    license="Apache-2.0",
    extras_require={"test": ["pytest"], "ray": ["ray==2.60.0"]},
    entry_points={
        "console_scripts": [
            "rvn = robot_vision_nav.cli:main",
            *(f"{name} = {target}" for name, target in NODES.items()),
        ],
    },
)
