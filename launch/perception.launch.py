"""Perception for a robot that runs its own Nav2: segmentation + semantic obstacles as a PointCloud2.

    ros2 launch robot_vision_nav perception.launch.py camera:=realsense device:=cuda

Starts segmentation_node and semantic_obstacles_node only (no costmap, planner or controller): Nav2's
costmap reads /segmentation/obstacles (config/nav2_semantic_obstacles.yaml). The node list,
parameters and remappings come from `robot_vision_nav.ros.bringup.perception_nodes`; this file only
declares the arguments and turns each node into a launch_ros Node. `ros2 launch ... --show-args`
lists the arguments with their descriptions.
"""

from __future__ import annotations

from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

from robot_vision_nav.package_files import share_dir
from robot_vision_nav.ros.bringup import perception_nodes
from robot_vision_nav.ros.launch_files import (
    launch_node_kwargs,
    options_from_launch_values,
    perception_launch_arguments,
)
from robot_vision_nav.ros.security import SECURITY_LAUNCH_ARGUMENTS, launch_environment


def _nodes(context: LaunchContext) -> list[object]:
    values = context.launch_configurations
    options = options_from_launch_values(values)
    # Domain, discovery and SROS2 for these processes only (an including file's keep theirs).
    env = dict(launch_environment(values))
    return [
        Node(**launch_node_kwargs(spec, string_value=lambda v: ParameterValue(v, value_type=str), env=env))
        for spec in perception_nodes(options)
    ]


def generate_launch_description() -> LaunchDescription:
    """The declared arguments, then the nodes built from their values."""
    return LaunchDescription(
        [
            *(
                DeclareLaunchArgument(name, default_value=default, description=description)
                for name, default, description in (
                    *perception_launch_arguments(share_dir()),
                    *SECURITY_LAUNCH_ARGUMENTS,
                )
            ),
            OpaqueFunction(function=_nodes),
        ]
    )
