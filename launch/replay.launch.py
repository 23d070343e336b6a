"""A rosbag2 played with --clock through the stack (use_sim_time), its outputs recorded into a new bag.

    ros2 launch robot_vision_nav replay.launch.py bag:=run1 out_bag:=run1_out rate:=0.5

`player:=ros2bag`: `ros2 bag play BAG --clock` feeds the stack's inputs (only those: a robot's own
/cmd_vel or /clock in the bag would mix with the stack's) and, with `out_bag`, `ros2 bag record -s
mcap` writes the stack's outputs (replay.topics.OUTPUTS). `player:=rvn`: `rvn bag play` / `rvn bag
record` (replay.live) do the same with rclpy and rosbags alone, and decode compressed images;
`player:=auto` (the default) takes rosbag2 where it is installed. A `topics_map` YAML (`stack input:
bag topic`, the file `rvn replay --topics-map` reads) renames the bag's topics to the stack's. When
the bag has been played the recorder is stopped (SIGINT: it closes its bag), then the launch.

ros2 bag play does not decode images: with player:=ros2bag a bag holding sensor_msgs/CompressedImage
(image_transport's `.../compressed`, `.../compressedDepth`) needs `ros2 run image_transport
republish` beside this launch, with the topics map naming the raw topic it publishes; a topics map
naming a compressed topic is refused. player:=rvn, or `rvn replay BAG`, decode it themselves.

The node list comes from `robot_vision_nav.ros.bringup.stack_nodes` as in bringup.launch.py; the
command lines come from `robot_vision_nav.replay.launch_plan.replay_plan`. `ros2 launch ... --show-args`
lists the arguments.
"""

from __future__ import annotations

import signal

from launch import LaunchContext, LaunchDescription
from launch.actions import (
    DeclareLaunchArgument,
    EmitEvent,
    ExecuteProcess,
    OpaqueFunction,
    RegisterEventHandler,
    Shutdown,
)
from launch.event_handlers import OnProcessExit
from launch.events import matches_action
from launch.events.process import SignalProcess
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import ExecutableInPackage

from robot_vision_nav.package_files import share_dir
from robot_vision_nav.replay.launch_plan import replay_launch_arguments, replay_plan
from robot_vision_nav.ros.bringup import stack_nodes
from robot_vision_nav.ros.launch_files import (
    PACKAGE,
    launch_bool,
    launch_node_kwargs,
    rviz_config,
    rviz_node_kwargs,
)
from robot_vision_nav.ros.security import SECURITY_LAUNCH_ARGUMENTS, launch_environment


def _command(cmd: list[str]) -> list[object]:
    # `rvn ...` is the package's own command, wherever the package is installed.
    return [ExecutableInPackage("rvn", PACKAGE), *cmd[1:]] if cmd[0] == "rvn" else list(cmd)


def _actions(context: LaunchContext) -> list[object]:
    values = context.launch_configurations
    plan = replay_plan(values)
    # Domain, discovery and SROS2 for the nodes and ros2 bag alike, and for no other process of a
    # launch file that includes this one (checked before any starts).
    env = dict(launch_environment(values))
    actions: list[object] = [
        Node(**launch_node_kwargs(spec, string_value=lambda v: ParameterValue(v, value_type=str), env=env))
        for spec in stack_nodes(plan.options)
    ]
    if launch_bool(values, "rviz"):
        rviz = rviz_config(plan.options.namespace)
        actions.append(Node(**rviz_node_kwargs(rviz, True, plan.options.namespace, env)))
    play = ExecuteProcess(cmd=_command(plan.play), name="bag_play", output="screen", additional_env=env)
    if plan.record is None:
        done = OnProcessExit(target_action=play, on_exit=[Shutdown(reason="the bag has been played")])
        return [*actions, play, RegisterEventHandler(done)]
    record = ExecuteProcess(cmd=_command(plan.record), name="bag_record", output="screen", additional_env=env)
    # When the bag has been played the recording ends first, then the stack: the nodes' zero
    # commands at shutdown are not part of the replay (as in rvn replay).
    stop_recording = EmitEvent(event=SignalProcess(signal_number=signal.SIGINT, process_matcher=matches_action(record)))
    played = OnProcessExit(target_action=play, on_exit=[stop_recording])
    recorded = OnProcessExit(target_action=record, on_exit=[Shutdown(reason="the bag has been played and recorded")])
    return [*actions, record, play, RegisterEventHandler(played), RegisterEventHandler(recorded)]


def generate_launch_description() -> LaunchDescription:
    """The declared arguments, then the nodes and the bag processes built from their values."""
    share = share_dir()
    return LaunchDescription(
        [
            *(
                DeclareLaunchArgument(name, default_value=default, description=description)
                if name != "bag"  # no default: ros2 launch refuses to start without it
                else DeclareLaunchArgument(name, description=description)
                for name, default, description in (*replay_launch_arguments(share), *SECURITY_LAUNCH_ARGUMENTS)
            ),
            OpaqueFunction(function=_actions),
        ]
    )
