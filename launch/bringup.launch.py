"""The perception + local navigation stack: segmentation, costmap, planner, controller (and RViz2).

    ros2 launch robot_vision_nav bringup.launch.py color_topic:=/camera/camera/color/image_raw rviz:=true

The node list, parameters and remappings come from `robot_vision_nav.ros.bringup.stack_nodes`, the
function `rvn run` uses too; this file only declares the arguments and turns each node into a
launch_ros Node. `ros2 launch ... --show-args` lists the arguments with their descriptions.
"""

from __future__ import annotations

from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

from robot_vision_nav.package_files import share_dir
from robot_vision_nav.ros.bringup import stack_nodes
from robot_vision_nav.ros.launch_files import (
    launch_arguments,
    launch_bool,
    launch_node_kwargs,
    options_from_launch_values,
    rviz_config,
    rviz_node_kwargs,
)
from robot_vision_nav.ros.security import SECURITY_LAUNCH_ARGUMENTS, launch_environment

SIM = False


def _nodes(context: LaunchContext) -> list[object]:
    values = context.launch_configurations
    options = options_from_launch_values(values, sim=SIM)
    # Domain, discovery and SROS2 for the stack's own processes only (an including file's other
    # processes keep theirs); everything is checked before any node starts.
    env = dict(launch_environment(values))
    nodes: list[object] = [
        Node(**launch_node_kwargs(spec, string_value=lambda v: ParameterValue(v, value_type=str), env=env))
        for spec in stack_nodes(options)
    ]
    if launch_bool(values, "rviz"):
        rviz = rviz_config(options.namespace)
        nodes.append(Node(**rviz_node_kwargs(rviz, options.use_sim_time, options.namespace, env)))
    return nodes


def generate_launch_description() -> LaunchDescription:
    """The declared arguments, then the nodes built from their values."""
    share = share_dir()
    return LaunchDescription(
        [
            *(
                DeclareLaunchArgument(name, default_value=default, description=description)
                for name, default, description in (*launch_arguments(share, sim=SIM), *SECURITY_LAUNCH_ARGUMENTS)
            ),
            OpaqueFunction(function=_nodes),
        ]
    )
