"""What the launch files call: their arguments, `BringupOptions` from the resolved values, `Node` arguments.

`launch/bringup.launch.py`, `launch/sim.launch.py` and `launch/perception.launch.py` stay thin: their
arguments are `launch_arguments()` (`perception_launch_arguments()`), `options_from_launch_values`
turns the resolved values into `ros.bringup.BringupOptions`, and `launch_node_kwargs` /
`rviz_node_kwargs` give the keyword arguments of each `launch_ros.actions.Node` for a
`ros.bringup.NodeSpec`. Plain data, no `launch` import: all of it is tested where `launch_ros` is not
installed, and it runs under the launch file's Python.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import NotRequired, TypedDict

from robot_vision_nav.ros.bringup import (
    CAMERA_PRESETS,
    CMD_VEL_TOPIC,
    LOG_LEVELS,
    ODOM_TOPIC,
    SIM_PARAMS,
    STACK_PARAMS,
    BringupError,
    BringupOptions,
    NodeSpec,
    generated_file,
    share_file,
    tf_remaps,
)

PACKAGE = "robot_vision_nav"
RVIZ_CONFIG = "robot_vision_nav.rviz"
TRUE_WORDS = ("true", "1", "yes", "on")  # what launch's IfCondition also accepts, case-insensitive
FALSE_WORDS = ("false", "0", "no", "off", "")

# (name, default, description) of bringup.launch.py's arguments. A file argument's '' default stands
# for the package share's file; launch_arguments() writes the installed path in, so that
# `ros2 launch robot_vision_nav bringup.launch.py --show-args` shows it.
LAUNCH_ARGUMENTS: tuple[tuple[str, str, str], ...] = (
    (
        "params_file",
        "",
        f"the stack's parameter YAML, one ros__parameters section per node; default: <share>/config/{STACK_PARAMS}",
    ),
    ("use_sim_time", "false", "every node follows /clock (a simulator, or a bag replayed with --clock)"),
    ("namespace", "", "namespace pushed onto every node; their relative topics move with it; '' = none"),
    ("device", "", "segmentation_node's device: auto, cpu, cuda or cuda:N; '' = the params file's"),
    ("model", "", "segmentation_node's weights (.safetensors with NAME.card.yaml beside it); '' = the params file's"),
    (
        "camera",
        "default",
        "camera driver whose colour, depth and camera_info topics the stack reads: default ("
        + ", ".join(CAMERA_PRESETS["default"])
        + "), realsense (realsense2_camera 4.x with align_depth.enable:=true: "
        + ", ".join(CAMERA_PRESETS["realsense"])
        + "); color_topic, depth_topic and camera_info_topic override it",
    ),
    ("color_topic", "", "colour image topic (sensor_msgs/Image rgb8 | bgr8); '' = the camera's"),
    ("depth_topic", "", "depth image aligned to colour (16UC1 mm | 32FC1 m); '' = the camera's"),
    ("camera_info_topic", "", "colour camera intrinsics (sensor_msgs/CameraInfo); '' = the camera's"),
    ("odom_topic", "", f"odometry (nav_msgs/Odometry, pose in the odom frame); '' = {ODOM_TOPIC}"),
    (
        "cmd_vel_topic",
        "",
        f"velocity command output (geometry_msgs/TwistStamped; Twist with use_stamped_cmd_vel: false); "
        f"'' = {CMD_VEL_TOPIC}",
    ),
    ("log_level", "info", f"log level of every node: {', '.join(LOG_LEVELS)}"),
    ("rviz", "false", f"also start RViz2 with config/{RVIZ_CONFIG}"),
    (
        "navigator",
        "false",
        "also start navigator_node: Nav2's navigate_to_pose action (nav2_simple_commander, RViz's Nav2 panel); "
        "needs nav2_msgs",
    ),
    (
        "autostart",
        "true",
        "the managed nodes configure and activate themselves at start; false: they wait unconfigured for Nav2's "
        "lifecycle_manager (README 'Beside Nav2') or `ros2 lifecycle set <node> configure`, then activate",
    ),
)
# sim.launch.py: these and LAUNCH_ARGUMENTS less SIM_LEAVES_OUT (the simulator's /clock is always
# followed, and the simulator is the camera).
SIM_LEAVES_OUT = ("use_sim_time", "camera")
SIM_LAUNCH_ARGUMENTS: tuple[tuple[str, str, str], ...] = (
    ("world_seed", "-1", "seed of the simulator's generated warehouse, [0, 999999]; -1 = the sim params file's"),
    ("sim_params_file", "", f"the simulator's parameter YAML (sim_node section); default: <share>/config/{SIM_PARAMS}"),
)
_FILE_ARGUMENTS = {"params_file": STACK_PARAMS, "sim_params_file": SIM_PARAMS}


def launch_arguments(share_dir: str | os.PathLike[str] | None = None, sim: bool = False) -> list[tuple[str, str, str]]:
    """The (name, default, description) of each launch argument; file defaults under `share_dir`/config.

    Args:
        share_dir: the package share directory (the launch files pass `get_package_share_directory`);
            None leaves the file defaults '' (= the package's files, found by `share_file`).
        sim: the arguments of sim.launch.py instead of bringup.launch.py.

    """
    table = LAUNCH_ARGUMENTS
    if sim:
        table = (*(a for a in LAUNCH_ARGUMENTS if a[0] not in SIM_LEAVES_OUT), *SIM_LAUNCH_ARGUMENTS)
    out: list[tuple[str, str, str]] = []
    for name, default, description in table:
        if name in _FILE_ARGUMENTS and share_dir is not None:
            default = str(Path(share_dir, "config", _FILE_ARGUMENTS[name]))
        out.append((name, default, description))
    return out


# perception.launch.py: the arguments of LAUNCH_ARGUMENTS that apply to segmentation + semantic obstacles.
PERCEPTION_LAUNCH_ARGUMENTS = (
    "params_file",
    "use_sim_time",
    "namespace",
    "device",
    "model",
    "camera",
    "color_topic",
    "depth_topic",
    "camera_info_topic",
    "log_level",
    "autostart",
)


def perception_launch_arguments(share_dir: str | os.PathLike[str] | None = None) -> list[tuple[str, str, str]]:
    """The (name, default, description) of each argument of perception.launch.py (see `launch_arguments`)."""
    return [a for a in launch_arguments(share_dir) if a[0] in PERCEPTION_LAUNCH_ARGUMENTS]


def launch_bool(values: Mapping[str, str], name: str) -> bool:
    """A true/false launch argument (also 1/0, yes/no, on/off, any case); '' or absent is its default.

    Raises:
        BringupError: any other word, naming the argument.

    """
    text = str(values.get(name, _launch_default(name))).strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise BringupError(f"launch argument {name}:={values.get(name)!r} is not true or false")


def _launch_default(name: str) -> str:
    for arg, default, _ in (*LAUNCH_ARGUMENTS, *SIM_LAUNCH_ARGUMENTS):
        if arg == name:
            return default
    raise KeyError(name)


def options_from_launch_values(values: Mapping[str, str], sim: bool = False) -> BringupOptions:
    """BringupOptions from resolved launch arguments (launch's `context.launch_configurations`).

    Values absent from `values` take their LAUNCH_ARGUMENTS default; names that are not launch
    arguments (an including file's own) are ignored.

    Raises:
        BringupError: a value that is not a boolean, integer, log level or camera preset where one
            is needed.

    """

    def text(name: str) -> str:
        return str(values.get(name, _launch_default(name))).strip()

    seed_text = text("world_seed") if sim else "-1"
    try:
        world_seed = int(seed_text or "-1")
    except ValueError as err:
        raise BringupError(f"launch argument world_seed:={seed_text!r} is not an integer") from err
    if world_seed < -1:
        raise BringupError(f"launch argument world_seed:={world_seed} must be >= 0 (or -1: the params file's)")
    camera = "default" if sim else text("camera") or "default"
    if camera not in CAMERA_PRESETS:
        raise BringupError(f"launch argument camera:={camera!r} is not one of {', '.join(CAMERA_PRESETS)}")
    return BringupOptions(
        params_file=text("params_file"),
        use_sim_time=sim or launch_bool(values, "use_sim_time"),
        namespace=text("namespace"),
        device=text("device"),
        model=text("model"),
        camera=camera,
        color_topic=text("color_topic"),
        depth_topic=text("depth_topic"),
        camera_info_topic=text("camera_info_topic"),
        odom_topic=text("odom_topic"),
        cmd_vel_topic=text("cmd_vel_topic"),
        log_level=text("log_level").lower() or "info",
        sim=sim,
        sim_params_file=text("sim_params_file") if sim else "",
        world_seed=world_seed,
        navigator=launch_bool(values, "navigator"),
        autostart=launch_bool(values, "autostart"),
    )


class NodeKwargs(TypedDict):
    """The keyword arguments of a `launch_ros.actions.Node` (`launch_node_kwargs`, `rviz_node_kwargs`)."""

    package: str
    executable: str
    name: str
    namespace: NotRequired[str]
    parameters: list[str | dict[str, object]]  # params files, then {name: value}
    remappings: NotRequired[list[tuple[str, str]]]
    arguments: list[str]
    output: str
    additional_env: NotRequired[dict[str, str]]


def launch_node_kwargs(
    spec: NodeSpec, string_value: Callable[[str], object] | None = None, env: Mapping[str, str] | None = None
) -> NodeKwargs:
    """The keyword arguments of the `launch_ros.actions.Node` that starts `spec` as `spec.ros_args()` does.

    Args:
        spec: the node.
        string_value: wraps each string parameter value; the launch files pass
            `lambda v: ParameterValue(v, value_type=str)`, since launch_ros otherwise reads a string
            value as YAML (a model path with ': ' in it would not survive).
        env: environment variables for this node's process only (`additional_env`): the domain,
            discovery range and SROS2 settings reach the stack's nodes and no other process of a
            launch file that includes ours.

    """
    parameters: dict[str, object] = {
        name: string_value(value) if string_value is not None and isinstance(value, str) else value
        for name, value in spec.parameters.items()
    }
    kwargs: NodeKwargs = {
        "package": PACKAGE,
        "executable": spec.executable,
        "name": spec.name,
        "namespace": spec.namespace,
        "parameters": [*spec.params_files, parameters] if parameters else list(spec.params_files),
        "remappings": list(spec.remappings),
        "arguments": ["--ros-args", "--log-level", f"{spec.logger_name}:={spec.log_level}"],
        "output": "screen",
    }
    if env:
        kwargs["additional_env"] = dict(env)
    return kwargs


def rviz_config(namespace: str = "") -> Path:
    """The shipped RViz config, its topics moved under `namespace` (a copy in $TMPDIR) when one is given."""
    source = share_file("config", RVIZ_CONFIG)
    ns = namespace.strip("/")
    if not ns:
        return source
    # Every display's topic is absolute in the file (`Value: /plan`): each gets the namespace in front.
    text = re.sub(r"^(\s+Value: )/(?=\S)", rf"\1/{ns}/", source.read_text(), flags=re.MULTILINE)
    return generated_file(f"robot_vision_nav-{ns.replace('/', '_')}.rviz", text)


def rviz_node_kwargs(
    config_file: str | os.PathLike[str], use_sim_time: bool, namespace: str = "", env: Mapping[str, str] | None = None
) -> NodeKwargs:
    """The keyword arguments of the RViz2 `launch_ros.actions.Node` showing `config_file`."""
    kwargs: NodeKwargs = {
        "package": "rviz2",
        "executable": "rviz2",
        "name": "rviz2",
        "arguments": ["-d", str(config_file)],
        "parameters": [{"use_sim_time": use_sim_time}],
        "output": "screen",
    }
    if namespace.strip("/"):
        kwargs["namespace"] = namespace.strip("/")
        kwargs["remappings"] = list(tf_remaps("rviz2", namespace.strip("/")))  # the robot's own TF tree
    if env:
        kwargs["additional_env"] = dict(env)
    return kwargs
