"""The node list of the stack, in one function that the launch files and `rvn run` / `rvn demo` share.

`stack_nodes(BringupOptions(...))` returns one `NodeSpec` per node: the executable, the node name,
the parameter files, the parameter values given on top of them and the topic remappings. The
launch files turn each spec into a `launch_ros.actions.Node`; the in-process runner
(`ros.runner`) turns it into the same command-line arguments (`NodeSpec.ros_args`) and hands them to
the node class as `cli_args`, so a node started either way sees the same parameters and names.

The launch files reach it through `ros.launch_files` (their arguments, `BringupOptions` from the
resolved values, the keyword arguments of each `launch_ros.actions.Node`); `launch/replay.launch.py`
plans its bags in `replay.launch_plan`. Both build on this module; nothing here imports from them.

`check_params_file` reads a parameter file the way rcl applies it (a section per node name, or the
`/**` wildcard) and refuses a section or a parameter no node of the stack has, before anything
starts; each node repeats the parameter check itself at start-up (`ros.params.ConfigParameters`),
which covers `ros2 run ... -p name:=value` too.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

import yaml

from robot_vision_nav.files import write_bytes_atomic
from robot_vision_nav.package_files import PackageFileError, package_file
from robot_vision_nav.ros import topics
from robot_vision_nav.ros.parameter_table import NODE_PARAMETERS, ParameterDefault

if TYPE_CHECKING:  # launch files import this module under a Python that may lack rclpy
    from rclpy.context import Context
    from rclpy.node import Node

# A params file as yaml.safe_load reads it: node sections of ros__parameters, values of any YAML type.
ParamsYaml: TypeAlias = Mapping[str, Any]  # Any: parsed YAML, checked where it is read

STACK_PARAMS = "robot_vision_nav.yaml"
SIM_PARAMS = "sim.yaml"
LOG_LEVELS = ("debug", "info", "warn", "error", "fatal")

# The camera topics each node subscribes to, relative to the namespace; a launch argument remaps them.
COLOR_TOPIC = topics.COLOR_IMAGE
DEPTH_TOPIC = topics.DEPTH_IMAGE
CAMERA_INFO_TOPIC = topics.CAMERA_INFO
ODOM_TOPIC = topics.ODOM
CMD_VEL_TOPIC = topics.CMD_VEL
GOAL_TOPIC = topics.GOAL_POSE  # not remappable (RViz's 2D Goal Pose publishes it), but an input all the same
# `camera:=NAME` / `rvn run --camera NAME`: (colour, depth, camera_info) topics of a camera driver's
# defaults, remapped onto the stack's inputs; color_topic, depth_topic and camera_info_topic still
# override each. Relative like the stack's own: a namespace moves them too, as it moves a driver
# launched in it. Only the base topics: image_transport / depth_transport pick /compressed(Depth).
CAMERA_PRESETS: dict[str, tuple[str, str, str]] = {
    "default": (COLOR_TOPIC, DEPTH_TOPIC, CAMERA_INFO_TOPIC),
    # realsense2_camera 4.x (ROS 2 wrapper), camera_namespace and camera_name both "camera" (its
    # defaults), depth aligned to colour with align_depth.enable:=true; bags: config/topics_realsense.yaml.
    "realsense": (
        "camera/camera/color/image_raw",
        "camera/camera/aligned_depth_to_color/image_raw",
        "camera/camera/color/camera_info",
    ),
}


class BringupError(ValueError):
    """A bring-up option or parameter file that cannot be used, naming what is wrong."""


class NodeFactory(Protocol):
    """A node class of the stack: made from the keyword arguments `ros.runner.make_node` gives it."""

    def __call__(self, *, context: Context, cli_args: list[str], use_global_arguments: bool) -> Node:
        """The node, made in `context` with the `--ros-args` of its spec."""
        ...


@dataclass(frozen=True)
class NodeKind:
    """One node of the package: its executable (= node name), module and the config classes it declares."""

    name: str
    module: str
    class_name: str
    config_classes: tuple[str, ...]  # "module:Class" of each parameter dataclass
    topics: tuple[str, ...] = ()  # the stack topics (COLOR_TOPIC, ...) it subscribes or publishes
    uses_tf: bool = False  # reads or writes /tf and /tf_static (a namespace gives it the robot's own tree)

    def parameter_names(self) -> set[str]:
        """Every parameter the node declares (from the generated table: no node module is imported)."""
        return set(NODE_PARAMETERS[self.name])

    def parameter_default(self, name: str) -> ParameterDefault:
        """The default of one of the node's parameters (KeyError if it has none of that name)."""
        return NODE_PARAMETERS[self.name][name]

    def node_class(self) -> NodeFactory:
        """The rclpy Node subclass (imports the node module: torch for segmentation_node)."""
        cls: NodeFactory = getattr(importlib.import_module(self.module), self.class_name)
        return cls


NODE_KINDS: dict[str, NodeKind] = {
    kind.name: kind
    for kind in (
        NodeKind(
            "sim_node",
            "robot_vision_nav.nodes.sim_node",
            "SimNode",
            (
                "robot_vision_nav.nodes.sim_params:SimNodeConfig",
                "robot_vision_nav.sim.sim:SimConfig",
                "robot_vision_nav.sim.robot:RobotConfig",
                "robot_vision_nav.sim.camera:CameraConfig",
            ),
            (COLOR_TOPIC, DEPTH_TOPIC, CAMERA_INFO_TOPIC, ODOM_TOPIC, CMD_VEL_TOPIC),
            uses_tf=True,
        ),
        NodeKind(
            "segmentation_node",
            "robot_vision_nav.nodes.segmentation_node",
            "SegmentationNode",
            ("robot_vision_nav.nodes.segmentation_params:SegmentationNodeConfig",),
            (COLOR_TOPIC,),
        ),
        NodeKind(
            "costmap_node",
            "robot_vision_nav.nodes.costmap_node",
            "CostmapNode",
            ("robot_vision_nav.core.costmap:CostmapConfig", "robot_vision_nav.nodes.costmap_params:CostmapNodeConfig"),
            (DEPTH_TOPIC, CAMERA_INFO_TOPIC, ODOM_TOPIC),
            uses_tf=True,
        ),
        NodeKind(
            "planner_node",
            "robot_vision_nav.nodes.planner_node",
            "PlannerNode",
            ("robot_vision_nav.core.planner:PlannerConfig", "robot_vision_nav.nodes.planner_params:PlannerNodeConfig"),
            (ODOM_TOPIC, GOAL_TOPIC),
            uses_tf=True,
        ),
        NodeKind(
            "controller_node",
            "robot_vision_nav.nodes.controller_node",
            "ControllerNode",
            (
                "robot_vision_nav.core.controller:ControllerConfig",
                "robot_vision_nav.nodes.controller_params:ControllerNodeConfig",
            ),
            (ODOM_TOPIC,),
        ),
        NodeKind(
            "safety_node",
            "robot_vision_nav.nodes.safety_node",
            "SafetyNode",
            ("robot_vision_nav.core.safety:SafetyConfig", "robot_vision_nav.nodes.safety_params:SafetyNodeConfig"),
            (DEPTH_TOPIC, CAMERA_INFO_TOPIC, CMD_VEL_TOPIC),
            uses_tf=True,
        ),
        # Nav2's navigate_to_pose action over this stack; needs nav2_msgs (the container), so it is
        # not in STACK: start it beside the stack with `ros2 run robot_vision_nav navigator_node`.
        NodeKind(
            "navigator_node",
            "robot_vision_nav.nodes.navigator_node",
            "NavigatorNode",
            (
                "robot_vision_nav.core.goal_tracker:GoalTrackerConfig",
                "robot_vision_nav.nodes.navigator_params:NavigatorNodeConfig",
            ),
            (ODOM_TOPIC,),
            uses_tf=True,
        ),
        # Obstacle points for an existing Nav2 stack's costmap; not in STACK: perception.launch.py
        # starts it beside segmentation_node (`perception_nodes`).
        NodeKind(
            "semantic_obstacles_node",
            "robot_vision_nav.nodes.obstacles_node",
            "SemanticObstaclesNode",
            (
                "robot_vision_nav.core.obstacle_cloud:ObstacleCloudConfig",
                "robot_vision_nav.nodes.obstacles_params:SemanticObstaclesNodeConfig",
            ),
            (DEPTH_TOPIC, CAMERA_INFO_TOPIC),
            uses_tf=True,
        ),
    )
}
STACK = ("segmentation_node", "costmap_node", "planner_node", "controller_node", "safety_node")
# Set once for the whole stack, in the params file's `/**` section: every node started with the file
# gets them, and a node that does not declare one leaves it alone (`ros.params.unknown_parameters`).
# A wildcard section may name one if at least one node it applies to declares it; a node's own
# section only if that node does. sim_node, started with its own file, gets `use_stamped_cmd_vel`
# from `stack_nodes`, so one value drives the controller, the safety layer and the simulator.
STACK_WIDE_PARAMETERS = frozenset(
    {
        "use_stamped_cmd_vel",
        "base_frame",
        "camera_mount_source",
        "camera_mount_xyzrpy",
        "rectify_distorted",
        "depth_transport",
        "autostart",
        "robot_pose_source",
    }
)
# The controller's command goes to safety_node, which alone talks to the base (Nav2's name for it).
CMD_VEL_NAV_TOPIC = "cmd_vel_nav"
# perception.launch.py's nodes (`perception_nodes`): camera obstacles for a robot's own Nav2.
PERCEPTION = ("segmentation_node", "semantic_obstacles_node")
# The nodes with a section in config/robot_vision_nav.yaml; a launch that starts some of them (the
# stack, perception.launch.py) reads the same file, so the others' sections are not a mistake there.
PARAMS_FILE_NODES = (*STACK, "semantic_obstacles_node")


def share_file(*parts: str) -> Path:
    """A file of the package (`package_files.package_file`), or BringupError listing every place looked."""
    try:
        return package_file(*parts)
    except PackageFileError as err:
        raise BringupError(str(err)) from err


@dataclass(frozen=True)
class BringupOptions:
    """What `bringup.launch.py` takes as launch arguments (and `rvn run` as options); '' keeps the default.

    Attributes:
        params_file: the stack's parameter YAML; '' = config/robot_vision_nav.yaml.
        use_sim_time: every node of the stack follows /clock.
        namespace: pushed onto every node ('' = none); the relative topics move with it.
        device: segmentation_node's `device` (auto, cpu, cuda, cuda:N); '' = the params file's.
        model: segmentation_node's `model_path`; '' = the params file's.
        camera: a CAMERA_PRESETS name: the camera driver whose colour, depth and camera_info topics
            the stack subscribes to; "default" = the stack's own (camera/color/image_raw, ...).
        color_topic, depth_topic, camera_info_topic, odom_topic, cmd_vel_topic: remap the stack's
            inputs and output; '' = the camera preset's (the first three), else the defaults.
        log_level: debug, info, warn, error or fatal.
        sim: start the built-in simulator too (sim_node), and use sim time.
        sim_params_file: the simulator's YAML; '' = config/sim.yaml.
        world_seed: overrides sim_node's `world_seed` when >= 0.
        navigator: also start navigator_node (Nav2's navigate_to_pose action; it needs nav2_msgs).
        autostart: the managed nodes configure and activate themselves; False gives each of them
            `autostart: false` (they wait for Nav2's lifecycle_manager or `ros2 lifecycle set`).

    """

    params_file: str = ""
    use_sim_time: bool = False
    namespace: str = ""
    device: str = ""
    model: str = ""
    camera: str = "default"
    color_topic: str = ""
    depth_topic: str = ""
    camera_info_topic: str = ""
    odom_topic: str = ""
    cmd_vel_topic: str = ""
    log_level: str = "info"
    sim: bool = False
    sim_params_file: str = ""
    world_seed: int = -1
    navigator: bool = False
    autostart: bool = True
    extra_parameters: dict[str, dict[str, object]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.log_level not in LOG_LEVELS:
            raise BringupError(f"log_level {self.log_level!r} is not one of {', '.join(LOG_LEVELS)}")
        ns = self.namespace.strip("/")
        if ns and not all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", part) for part in ns.split("/")):
            raise BringupError(
                f"namespace {self.namespace!r} is not a valid ROS namespace: tokens of ASCII letters, digits "
                "and _, not starting with a digit, separated by single '/'"
            )
        for node in self.extra_parameters:
            if node not in NODE_KINDS:
                raise BringupError(f"extra parameters for unknown node {node!r}; nodes: {', '.join(NODE_KINDS)}")
        if self.camera not in CAMERA_PRESETS:
            raise BringupError(f"camera {self.camera!r} is not one of {', '.join(CAMERA_PRESETS)}")


@dataclass(frozen=True)
class NodeSpec:
    """One node to start: what a `launch_ros.actions.Node` gets, in plain data."""

    executable: str
    name: str
    namespace: str
    params_files: tuple[str, ...]
    parameters: dict[str, object]
    remappings: tuple[tuple[str, str], ...]
    log_level: str

    @property
    def kind(self) -> NodeKind:
        """The package's description of this node."""
        return NODE_KINDS[self.executable]

    @property
    def logger_name(self) -> str:
        """The node's logger as rcl names it: the namespace, '/' turned into '.', then the node name."""
        return ".".join([*self.namespace.strip("/").split("/"), self.name]) if self.namespace.strip("/") else self.name

    def ros_args(self) -> list[str]:
        """The `--ros-args ...` arguments that give the node the same names and parameters as launch does."""
        args = ["--ros-args", "-r", f"__node:={self.name}"]
        if self.namespace:
            args += ["-r", f"__ns:=/{self.namespace}"]
        for path in self.params_files:
            args += ["--params-file", path]
        for name, value in self.parameters.items():
            args += ["-p", f"{name}:={_yaml_value(value)}"]
        for src, dst in self.remappings:
            args += ["-r", f"{src}:={dst}"]
        args += ["--log-level", f"{self.logger_name}:={self.log_level}"]
        return args


def _yaml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return str(yaml.safe_dump(value, default_style='"')).strip()  # quoted: "8" stays a string
    return str(yaml.safe_dump(value, default_flow_style=True)).strip().removesuffix("...").strip()


def stack_nodes(options: BringupOptions) -> list[NodeSpec]:
    """The nodes of the stack (and of the simulator with `options.sim`), in start order."""
    params_file = (
        str(Path(options.params_file).expanduser()) if options.params_file else str(share_file("config", STACK_PARAMS))
    )
    if not Path(params_file).is_file():
        raise BringupError(f"params_file {params_file} does not exist")
    sim_time = options.use_sim_time or options.sim
    remaps = tuple(
        (default, topic)
        for default, topic in (
            *_camera_topics(options),
            (ODOM_TOPIC, options.odom_topic),
            (CMD_VEL_TOPIC, options.cmd_vel_topic),
        )
        if topic and topic != default
    )
    namespace = options.namespace.strip("/")
    specs: list[NodeSpec] = []
    if options.sim:
        sim_file = (
            str(Path(options.sim_params_file).expanduser())
            if options.sim_params_file
            else str(share_file("config", SIM_PARAMS))
        )
        if not Path(sim_file).is_file():
            raise BringupError(f"sim_params_file {sim_file} does not exist")
        sim_params: dict[str, object] = {}
        if options.world_seed >= 0:
            sim_params["world_seed"] = options.world_seed
        sim_params |= options.extra_parameters.get("sim_node", {})
        # The simulator makes sim time (it publishes /clock): it runs on its own clocks, never use_sim_time.
        sim_remaps = (*_remaps_for("sim_node", remaps), *tf_remaps("sim_node", namespace))
        specs.append(
            NodeSpec("sim_node", "sim_node", namespace, (sim_file,), sim_params, sim_remaps, options.log_level)
        )
    lifecycle = _lifecycle_files(options)
    for name in STACK:
        parameters: dict[str, object] = {"use_sim_time": sim_time}
        if name == "segmentation_node":
            parameters |= _segmentation_parameters(options)
        parameters |= options.extra_parameters.get(name, {})
        node_remaps = (*_remaps_for(name, remaps), *tf_remaps(name, namespace))
        if name == "controller_node":
            node_remaps = ((CMD_VEL_TOPIC, CMD_VEL_NAV_TOPIC), *node_remaps)
        specs.append(
            NodeSpec(name, name, namespace, (params_file, *lifecycle), parameters, node_remaps, options.log_level)
        )
    if options.navigator:
        # After the stack: it serves goals to the planner's topics and judges them from the odometry.
        parameters = {"use_sim_time": sim_time} | options.extra_parameters.get("navigator_node", {})
        nav_remaps = (*_remaps_for("navigator_node", remaps), *tf_remaps("navigator_node", namespace))
        specs.append(
            NodeSpec(
                "navigator_node",
                "navigator_node",
                namespace,
                (params_file, *lifecycle),
                parameters,
                nav_remaps,
                options.log_level,
            )
        )
    started = [s.executable for s in specs]
    for path in dict.fromkeys(p for spec in specs for p in spec.params_files):  # each file once
        check_params_file(path, started, namespace, idle=PARAMS_FILE_NODES)
    check_shared_parameters(params_file, options.extra_parameters, namespace)
    if options.sim:
        # sim_node is started with its own file, not the stack's: it gets the stack's command type
        # here (the safety layer's, which alone talks to the base), unless given its own.
        safety_extra = options.extra_parameters.get("safety_node", {})
        stack_stamped = resolved_parameter(params_file, "safety_node", "use_stamped_cmd_vel", safety_extra, namespace)
        sim_stamped = specs[0].parameters.setdefault("use_stamped_cmd_vel", stack_stamped)
        if sim_stamped != stack_stamped:
            raise BringupError(
                f"sim_node.use_stamped_cmd_vel = {sim_stamped!r} but safety_node.use_stamped_cmd_vel = "
                f"{stack_stamped!r} ({params_file}): they must be equal, because the simulator subscribes to the "
                "safety layer's command with that message type"
            )
    _check_given_parameters(specs, namespace)
    if namespace:
        # rcl applies a section only under the node's full name (or a wildcard): the file's
        # `costmap_node:` sections are moved under the namespace, as Nav2's RewrittenYaml(root_key) does.
        moved = {
            path: str(namespaced_params_file(path, namespace)) for path in {p for s in specs for p in s.params_files}
        }
        specs = [dataclasses.replace(s, params_files=tuple(moved[p] for p in s.params_files)) for s in specs]
    return specs


AUTOSTART_FALSE_FILE = "robot_vision_nav-autostart-false.yaml"


def _lifecycle_files(options: BringupOptions) -> tuple[str, ...]:
    """With autostart off: a params file of `/**: autostart: false`, given after the stack's own.

    Not a node parameter: launch_ros files a node's given parameters under the node's name, and the
    params file's `/**` section (where `autostart` lives) comes later and would win over them.
    Nothing is added with autostart on, so a params file's own `autostart` still counts.
    """
    if options.autostart:
        return ()
    text = (
        "# written by robot_vision_nav's bringup for autostart:=false\n/**:\n  ros__parameters:\n    autostart: false\n"
    )
    return (str(generated_file(AUTOSTART_FALSE_FILE, text)),)


def tf_remaps(node: str, namespace: str) -> tuple[tuple[str, str], ...]:
    """The /tf and /tf_static remappings of `node` (or "rviz2") in `namespace`: none without one."""
    # Under a namespace each robot has its own TF tree (`/r1/tf`), as Nav2's multi-robot bringup does:
    # two robots' odom -> base_link on one /tf would be one robot jumping between two places.
    uses = node == "rviz2" or NODE_KINDS[node].uses_tf
    return (("/tf", "tf"), ("/tf_static", "tf_static")) if namespace and uses else ()


def _check_given_parameters(specs: Sequence[NodeSpec], namespace: str) -> None:
    """Refuse a parameter given to a node that it does not declare, or that its params files would override."""
    files: dict[str, ParamsYaml] = {}
    for spec in specs:
        unknown = sorted(set(spec.parameters) - spec.kind.parameter_names() - {"use_sim_time"})
        if unknown:
            raise BringupError(f"unknown parameter(s) {', '.join(unknown)} given to {spec.name}")
        for path in spec.params_files:
            data = files.setdefault(path, yaml.safe_load(Path(path).read_text()) or {})
            lost = _shadowed_overrides(data, spec.name, spec.parameters, namespace)
            if lost:
                raise BringupError(
                    f"params file {path}: its '/**' section comes before a section of {spec.name} that sets "
                    f"{', '.join(lost)}, so the value{'s' if len(lost) > 1 else ''} given to {spec.name} would be "
                    "lost (rclpy applies sections in file order, and given values join '/**'); move '/**' to the end"
                )


def _shadowed_overrides(data: ParamsYaml, node: str, given: Mapping[str, object], namespace: str) -> list[str]:
    """The names in `given` (the node's `-p` values) that a section after the file's `/**` one sets for `node`.

    rcl puts `-p name:=value` in its `/**` section; when the file has one, that is where they go,
    and any section after it that applies to the node and names the same parameter wins over them.
    """
    sections = [(str(key), section) for key, section in data.items()]
    keys = [key for key, _ in sections]
    if "/**" not in keys:
        return []
    full = full_node_name(node, namespace)
    later: set[str] = set()
    for key, section in sections[keys.index("/**") + 1 :]:
        if isinstance(section, dict) and _matches(section_target(key, namespace), full):
            later |= set(section.get("ros__parameters") or {})
    return sorted(set(given) & later)


def _camera_topics(options: BringupOptions) -> tuple[tuple[str, str], ...]:
    """(stack topic, topic it is read from) for colour, depth and camera_info: the option, else the camera preset's."""
    color, depth, info = CAMERA_PRESETS[options.camera]
    return (
        (COLOR_TOPIC, options.color_topic or color),
        (DEPTH_TOPIC, options.depth_topic or depth),
        (CAMERA_INFO_TOPIC, options.camera_info_topic or info),
    )


def _remaps_for(node: str, remaps: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    # Only the topics the node uses: a rule for a topic it never opens would do nothing but mislead.
    return tuple(rule for rule in remaps if rule[0] in NODE_KINDS[node].topics)


def _segmentation_parameters(options: BringupOptions) -> dict[str, object]:
    """segmentation_node's `device` and `model_path` from the options (a missing model is refused by name)."""
    parameters: dict[str, object] = {}
    if options.device:
        parameters["device"] = options.device
    if options.model:
        model = Path(options.model).expanduser()
        if not model.is_file():
            raise BringupError(f"model {model} does not exist")
        parameters["model_path"] = str(model.resolve())
    return parameters


def perception_nodes(options: BringupOptions) -> list[NodeSpec]:
    """segmentation_node and semantic_obstacles_node (PERCEPTION), for a robot that runs its own Nav2.

    What perception.launch.py starts: the camera's semantic obstacles as a PointCloud2 for Nav2's
    costmap, and no costmap, planner or controller of ours. The same machinery as `stack_nodes`:
    the same params file (config/robot_vision_nav.yaml by default; its sections for the stack's
    other nodes are accepted and left alone), checked before anything starts, moved under the
    namespace, and the camera topics remapped; device and model go to segmentation_node.

    Raises:
        BringupError: a missing params file or model, a params file the check refuses, options
            that do not apply here (the simulator, odom or cmd_vel topics), or unknown extra parameters.

    """
    if options.sim or options.odom_topic or options.cmd_vel_topic:
        raise BringupError(
            "the perception nodes start no simulator and use no odom or cmd_vel topic; "
            f"got sim={options.sim}, odom_topic={options.odom_topic!r}, cmd_vel_topic={options.cmd_vel_topic!r}"
        )
    params_file = (
        str(Path(options.params_file).expanduser()) if options.params_file else str(share_file("config", STACK_PARAMS))
    )
    if not Path(params_file).is_file():
        raise BringupError(f"params_file {params_file} does not exist")
    remaps = tuple((default, topic) for default, topic in _camera_topics(options) if topic and topic != default)
    namespace = options.namespace.strip("/")
    specs: list[NodeSpec] = []
    lifecycle = _lifecycle_files(options)
    for name in PERCEPTION:
        parameters: dict[str, object] = {"use_sim_time": options.use_sim_time}
        if name == "segmentation_node":
            parameters |= _segmentation_parameters(options)
        parameters |= options.extra_parameters.get(name, {})
        node_remaps = (*_remaps_for(name, remaps), *tf_remaps(name, namespace))
        specs.append(
            NodeSpec(name, name, namespace, (params_file, *lifecycle), parameters, node_remaps, options.log_level)
        )
    check_params_file(params_file, PERCEPTION, namespace, idle=PARAMS_FILE_NODES)
    _check_given_parameters(specs, namespace)
    if namespace:
        moved = str(namespaced_params_file(params_file, namespace))  # as stack_nodes does
        specs = [dataclasses.replace(s, params_files=(moved, *lifecycle)) for s in specs]
    return specs


def _is_pattern(key: str) -> bool:
    return "*" in key


def section_target(key: str, namespace: str = "") -> str:
    """The fully qualified node name (or wildcard pattern) a params-file section applies to once started.

    A plain node name (`costmap_node`, `/costmap_node`) is the stack's node and moves under
    `namespace`; a key that names a namespace of its own (`/r2/costmap_node`) or holds a wildcard
    (`/**`, `/**/costmap_node`) is kept as written, as rcl reads it.
    """
    name = str(key)
    parts = [p for p in name.strip("/").split("/") if p]
    if _is_pattern(name) or len(parts) > 1:
        return name if name.startswith("/") or name.startswith("*") else f"/{name}"
    ns = namespace.strip("/")
    return f"/{ns}/{parts[0]}" if ns else f"/{parts[0]}" if parts else "/"


def _matches(target: str, full_name: str) -> bool:
    """Whether a section's target (see `section_target`) applies to the node `full_name`, as rcl matches it."""
    if not _is_pattern(target):
        return target == full_name
    # rcl: `*` stands for one token, `**` for any number of them (including none, with its slash).
    regex = ""
    i = 0
    pattern = target if target.startswith("/") else f"/{target}"
    while i < len(pattern):
        if pattern.startswith("/**", i):
            regex += "(/[^/]+)*"
            i += 3
        elif pattern[i] == "*":
            regex += "[^/]+"
            i += 1
        else:
            regex += re.escape(pattern[i])
            i += 1
    return re.fullmatch(regex, full_name) is not None


def full_node_name(node: str, namespace: str = "") -> str:
    """`/ns/node` (or `/node` without a namespace)."""
    ns = namespace.strip("/")
    return f"/{ns}/{node}" if ns else f"/{node}"


def check_params_file(
    path: str | os.PathLike[str],
    nodes: list[str] | tuple[str, ...] = STACK,
    namespace: str = "",
    idle: Sequence[str] = PARAMS_FILE_NODES,
) -> None:
    """Refuse a parameter file that would not apply as written to the named nodes started in `namespace`.

    Each section is matched the way rcl will match it once the file is moved under the namespace
    (`namespaced_params_file`): a section must apply to at least one started node, and name only
    parameters that every node it applies to declares. A section for one of the `idle` nodes that
    this launch does not start (by default the shared file's nodes, PARAMS_FILE_NODES: the stack
    does not start semantic_obstacles_node, perception.launch.py not the costmap) is checked against
    that node's parameters instead, and a wildcard may name a stack-wide parameter one of them declares.

    Raises:
        BringupError: unreadable YAML, a section that is not `NAME: {ros__parameters: {...}}`, a
            section for a node this package does not have (a misspelt node name) or that this
            launch does not start (including one written for another namespace), or a parameter
            name that the node (for a wildcard: every node it matches; for a STACK_WIDE_PARAMETERS
            name, at least one) does not declare.

    """
    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as err:
        raise BringupError(f"params file {path}: cannot be read: {err}") from err
    if data is None:
        return
    if not isinstance(data, dict):
        raise BringupError(f"params file {path}: the top level must map node names to ros__parameters")
    started = {full_node_name(n, namespace): NODE_KINDS[n] for n in nodes if n in NODE_KINDS}
    idle_kinds = {full_node_name(n, namespace): NODE_KINDS[n] for n in idle if n in NODE_KINDS and n not in nodes}
    for key, section in data.items():
        if not isinstance(section, dict) or set(section) != {"ros__parameters"}:
            raise BringupError(f"params file {path}: section '{key}' must hold exactly one key, ros__parameters")
        params = section["ros__parameters"] or {}
        if not isinstance(params, dict):
            raise BringupError(f"params file {path}: '{key}.ros__parameters' must be a mapping")
        target = section_target(str(key), namespace)
        applies = [kind for name, kind in started.items() if _matches(target, name)]
        idle_applies = [kind for name, kind in idle_kinds.items() if _matches(target, name)]
        if not applies and not _is_pattern(target):
            applies = idle_applies
        if not applies:
            base = str(key).strip("/").rsplit("/", 1)[-1]
            if not _is_pattern(str(key)) and base not in NODE_KINDS:
                raise BringupError(
                    f"params file {path}: section '{key}' names no node of this package "
                    f"({', '.join(NODE_KINDS)}, or /** for all)"
                )
            if _is_pattern(str(key)):
                continue  # a wildcard matching none of these nodes (`/**/other_node`) does no harm
            raise BringupError(
                f"params file {path}: section '{key}' applies to {target}, which this launch does not start "
                f"(it starts {', '.join(started) or 'no node'}); remove the section or start that node"
            )
        known = set.intersection(*(k.parameter_names() for k in applies))
        if _is_pattern(target):
            known |= STACK_WIDE_PARAMETERS & set[str]().union(*(k.parameter_names() for k in (*applies, *idle_applies)))
        unknown = sorted(set(_flatten(params)) - known - {"use_sim_time"})
        if unknown:
            names = ", ".join(sorted({k.name for k in applies}))
            raise BringupError(
                f"params file {path}: unknown parameter{'s' if len(unknown) > 1 else ''} "
                f"{', '.join(repr(n) for n in unknown)} for {names}"
            )
    _refuse_shadowed_sections(path, data, namespace)


def _refuse_shadowed_sections(path: str | os.PathLike[str], data: ParamsYaml, namespace: str) -> None:
    """Refuse a node section's value that a wildcard section after it sets too: rclpy applies them in file order.

    So a node's own `use_stamped_cmd_vel` above the `/**` section would be silently overridden.
    """
    sections = [
        (str(key), section_target(str(key), namespace), section["ros__parameters"] or {})
        for key, section in data.items()
    ]
    for i, (key, target, params) in enumerate(sections):
        if _is_pattern(target):
            continue
        for later_key, later_target, later_params in sections[i + 1 :]:
            dead = sorted(set(_flatten(params)) & set(_flatten(later_params))) if _is_pattern(later_target) else []
            if dead and _matches(later_target, target):
                them = "them" if len(dead) > 1 else "it"
                raise BringupError(
                    f"params file {path}: section '{key}' sets {', '.join(repr(n) for n in dead)}, but the "
                    f"'{later_key}' section after it sets {them} too and wins (rclpy applies sections in file "
                    f"order); set {them} in one of the two"
                )


def namespaced_params_file(path: str | os.PathLike[str], namespace: str) -> Path:
    """A copy of the params file with each plain node section moved under `namespace` (see `section_target`).

    Written once per content into `$TMPDIR/rvn_params/` (atomically; a file with the same content
    is reused), like the files launch_ros writes for its parameters; the original is not touched.
    """
    data = yaml.safe_load(Path(path).read_text()) or {}
    moved = {section_target(str(key), namespace): section for key, section in data.items()}
    text = f"# {path} with its node sections under the namespace /{namespace.strip('/')} (robot_vision_nav)\n"
    text += yaml.safe_dump(moved, sort_keys=False, default_flow_style=None)
    return generated_file(f"{Path(path).stem}-{hashlib.sha1(text.encode()).hexdigest()[:16]}.yaml", text)


def generated_file(name: str, text: str) -> Path:
    """`text` in `$TMPDIR/rvn_params/NAME`, written atomically (a launch reading it never sees half a file)."""
    folder = Path(tempfile.gettempdir()) / "rvn_params"
    folder.mkdir(mode=0o755, exist_ok=True)
    out = folder / name
    if not (out.is_file() and out.read_text() == text):
        write_bytes_atomic(out, text.encode())
    return out


# Parameters two nodes must agree on: (node, parameter, node, parameter, why).
SHARED_PARAMETERS: tuple[tuple[str, str, str, str, str], ...] = (
    (
        "controller_node",
        "use_stamped_cmd_vel",
        "safety_node",
        "use_stamped_cmd_vel",
        "the safety layer subscribes to the controller's command with that message type",
    ),
    (
        "controller_node",
        "base_frame",
        "safety_node",
        "base_frame",
        "both stamp the base's velocity commands in the robot's body frame",
    ),
    (
        "costmap_node",
        "camera_mount_xyzrpy",
        "safety_node",
        "camera_mount_xyzrpy",
        "both place the same depth image in base_link",
    ),
    (
        "costmap_node",
        "rectify_distorted",
        "safety_node",
        "rectify_distorted",
        "both read the same depth image: one undistorting it while the other refuses it would map obstacles "
        "while the safety layer holds the robot stopped",
    ),
)


def resolved_parameter(
    params_file: str | os.PathLike[str], node: str, name: str, extra: Mapping[str, object], namespace: str = ""
) -> object:
    """A node's parameter as the stack starts it: `extra`, else the file's (`file_parameters`), else the default."""
    return _resolved(yaml.safe_load(Path(params_file).read_text()) or {}, node, name, extra, namespace)


def file_parameters(data: ParamsYaml, node: str, namespace: str = "") -> dict[str, object]:
    """The parameters a parsed params file gives `node` started in `namespace`, as rclpy applies them.

    Every section that applies to the node (its own, a wildcard), in file order: a later section
    overrides an earlier one, whatever its kind. rclpy (Kilted) applies rcl's sections in the order
    they first appear, and `-p name:=value` (and launch_ros's parameter dicts) join rcl's `/**`
    section: a file's `/**` section goes last, else it would come before the node's own and every
    `-p` for a parameter that section names would be lost (test_bringup pins this on real rclpy).
    """
    full = full_node_name(node, namespace)
    params: dict[str, object] = {}
    for key, section in data.items():
        if isinstance(section, dict) and _matches(section_target(str(key), namespace), full):
            params |= section.get("ros__parameters") or {}
    return params


def _resolved(data: ParamsYaml, node: str, name: str, extra: Mapping[str, object], namespace: str = "") -> object:
    if name in extra:
        return extra[name]
    params = file_parameters(data, node, namespace)
    if name in params:
        return params[name]
    if name in NODE_KINDS[node].parameter_names():
        return NODE_KINDS[node].parameter_default(name)
    raise KeyError(f"{node} has no parameter {name}")


def check_shared_parameters(
    params_file: str | os.PathLike[str], extra: Mapping[str, Mapping[str, object]], namespace: str = ""
) -> None:
    """Refuse a stack whose nodes disagree on a parameter they must share (SHARED_PARAMETERS).

    Raises:
        BringupError: naming both nodes, the parameter, both values and why they must agree.

    """
    data = yaml.safe_load(Path(params_file).read_text()) or {}  # once, for every pair
    for node_a, name_a, node_b, name_b, why in SHARED_PARAMETERS:
        a = _resolved(data, node_a, name_a, extra.get(node_a, {}), namespace)
        b = _resolved(data, node_b, name_b, extra.get(node_b, {}), namespace)
        norm = (lambda v: [float(x) for x in v]) if isinstance(a, list | tuple) else (lambda v: v)
        try:
            same = norm(a) == norm(b)
        except (TypeError, ValueError):
            same = False
        if not same:
            raise BringupError(
                f"{node_a}.{name_a} = {a!r} but {node_b}.{name_b} = {b!r} ({params_file}): they must be equal, "
                f"because {why}"
            )


def _flatten(params: Mapping[str, object], prefix: str = "") -> list[str]:
    # ROS 2 params files may nest: {a: {b: 1}} is the parameter "a.b".
    names: list[str] = []
    for key, value in params.items():
        name = f"{prefix}{key}"
        names += _flatten(value, f"{name}.") if isinstance(value, dict) else [name]
    return names
