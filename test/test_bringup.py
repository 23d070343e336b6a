"""Bring-up: the one node list (`ros.bringup.stack_nodes`), parameter-file checks, the launch files
that turn the list into launch_ros Nodes, the RViz config and the package's launch dependencies.

Where `launch_ros` is not installed (here) the launch files run against stand-in `launch` /
`launch_ros` modules that record what they are given, so their arguments and nodes are still
checked; with ROS 2 launch installed they run against the real one.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import importlib.util
import subprocess
import sys
import types
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

from robot_vision_nav.ros import topics
from robot_vision_nav.ros.bringup import (
    CAMERA_INFO_TOPIC,
    CAMERA_PRESETS,
    CMD_VEL_TOPIC,
    COLOR_TOPIC,
    DEPTH_TOPIC,
    NODE_KINDS,
    ODOM_TOPIC,
    STACK,
    STACK_WIDE_PARAMETERS,
    BringupError,
    BringupOptions,
    NodeSpec,
    _yaml_value,
    check_params_file,
    file_parameters,
    perception_nodes,
    resolved_parameter,
    share_file,
    stack_nodes,
)
from robot_vision_nav.ros.launch_files import (
    LAUNCH_ARGUMENTS,
    SIM_LAUNCH_ARGUMENTS,
    launch_arguments,
    launch_bool,
    launch_node_kwargs,
    options_from_launch_values,
    rviz_config,
    rviz_node_kwargs,
)
from robot_vision_nav.ros.security import SECURITY_LAUNCH_ARGUMENTS
from test.ros2_launch_helpers import require_ros2_launch

REPO = Path(__file__).resolve().parents[1]
STACK_YAML = REPO / "config" / "robot_vision_nav.yaml"
SIM_YAML = REPO / "config" / "sim.yaml"
RVIZ = REPO / "config" / "robot_vision_nav.rviz"
LAUNCH_FILES = {"bringup.launch.py": False, "sim.launch.py": True}
REMAPPED = {
    "color_topic": "/cam/rgb/image",
    "depth_topic": "/cam/depth/image",
    "camera_info_topic": "/cam/rgb/info",
    "odom_topic": "/wheels/odom",
    "cmd_vel_topic": "/base/cmd_vel",
}


def write_yaml(path: Path, data: Any) -> str:
    path.write_text(yaml.safe_dump(data, sort_keys=False))  # in order: rclpy applies sections in file order
    return str(path)


# ------------------------------------------------------------------ stack_nodes
def test_default_stack_is_five_nodes_in_order_on_the_shipped_params_file() -> None:
    specs = stack_nodes(BringupOptions())
    assert [s.executable for s in specs] == [s.name for s in specs] == list(STACK)
    assert list(STACK) == ["segmentation_node", "costmap_node", "planner_node", "controller_node", "safety_node"]
    sections = yaml.safe_load(STACK_YAML.read_text())
    for spec in specs:
        assert spec.params_files == (str(share_file("config", "robot_vision_nav.yaml")),)
        assert all(Path(p).is_file() for p in spec.params_files)
        # The controller commands the safety layer, which alone commands the base.
        expected_remaps = (("cmd_vel", "cmd_vel_nav"),) if spec.name == "controller_node" else ()
        assert spec.namespace == "" and spec.remappings == expected_remaps and spec.log_level == "info"
        assert spec.parameters == {"use_sim_time": False}
        declared = spec.kind.parameter_names()
        assert set(sections[spec.name]["ros__parameters"]) <= declared, spec.name
        assert set(spec.parameters) - {"use_sim_time"} <= declared


def test_sim_adds_the_simulator_first_and_puts_the_stack_on_sim_time() -> None:
    specs = stack_nodes(BringupOptions(sim=True, world_seed=7))
    assert [s.name for s in specs] == ["sim_node", *STACK]
    sim, *stack = specs
    assert sim.params_files == (str(share_file("config", "sim.yaml")),)
    # The simulator makes /clock: never use_sim_time itself. It takes the stack's command type.
    assert sim.parameters == {"world_seed": 7, "use_stamped_cmd_vel": True}
    assert all(s.parameters["use_sim_time"] is True for s in stack)
    assert stack_nodes(BringupOptions(sim=True))[0].parameters == {"use_stamped_cmd_vel": True}  # -1: the file's seed


def test_remapping_options_give_each_node_the_rules_for_the_topics_it_uses() -> None:
    specs = {s.name: s for s in stack_nodes(BringupOptions(sim=True, namespace="/robot1/", **REMAPPED))}
    rule = dict(
        zip(
            (COLOR_TOPIC, DEPTH_TOPIC, CAMERA_INFO_TOPIC, ODOM_TOPIC, CMD_VEL_TOPIC),
            REMAPPED.values(),
            strict=True,
        )
    )
    expected = {
        "sim_node": [COLOR_TOPIC, DEPTH_TOPIC, CAMERA_INFO_TOPIC, ODOM_TOPIC, CMD_VEL_TOPIC],
        "segmentation_node": [COLOR_TOPIC],
        "costmap_node": [DEPTH_TOPIC, CAMERA_INFO_TOPIC, ODOM_TOPIC],
        "planner_node": [ODOM_TOPIC],
        "controller_node": [ODOM_TOPIC],
        "safety_node": [DEPTH_TOPIC, CAMERA_INFO_TOPIC, CMD_VEL_TOPIC],
    }
    # Under a namespace, the nodes that read or write TF get the robot's own tree, as Nav2's bringup does.
    tf = {"sim_node", "costmap_node", "planner_node", "safety_node"}
    for name, inputs in expected.items():
        fixed = (("cmd_vel", "cmd_vel_nav"),) if name == "controller_node" else ()
        own_tree = (("/tf", "tf"), ("/tf_static", "tf_static")) if name in tf else ()
        assert specs[name].remappings == fixed + tuple((t, rule[t]) for t in inputs) + own_tree, name
        assert specs[name].namespace == "robot1"
        args = specs[name].ros_args()
        assert "__ns:=/robot1" in args
        assert f"robot1.{name}:=info" in args  # rcl's logger name for a namespaced node
    # A "remap" to the default topic is no remap at all.
    assert stack_nodes(BringupOptions(odom_topic=ODOM_TOPIC))[2].remappings == ()


REALSENSE = {
    COLOR_TOPIC: "camera/camera/color/image_raw",
    DEPTH_TOPIC: "camera/camera/aligned_depth_to_color/image_raw",
    CAMERA_INFO_TOPIC: "camera/camera/color/camera_info",
}


def test_realsense_camera_preset_remaps_colour_depth_and_camera_info_to_the_driver_topics() -> None:
    # realsense2_camera 4.x: camera_namespace and camera_name "camera", align_depth.enable:=true.
    assert dict(zip(REALSENSE, CAMERA_PRESETS["realsense"], strict=True)) == REALSENSE
    assert CAMERA_PRESETS["default"] == (COLOR_TOPIC, DEPTH_TOPIC, CAMERA_INFO_TOPIC)
    for namespace in ("", "robot1"):
        specs = stack_nodes(BringupOptions(camera="realsense", namespace=namespace))
        assert [s.name for s in specs] == list(STACK)
        for spec in specs:
            camera_rules = tuple(rule for rule in spec.remappings if rule[0] in REALSENSE)
            assert camera_rules == tuple((t, REALSENSE[t]) for t in REALSENSE if t in spec.kind.topics), spec.name
        seg, costmap, *_, safety = specs
        assert seg.remappings == ((COLOR_TOPIC, REALSENSE[COLOR_TOPIC]),)
        assert f"{DEPTH_TOPIC}:={REALSENSE[DEPTH_TOPIC]}" in costmap.ros_args()
        assert f"{CAMERA_INFO_TOPIC}:={REALSENSE[CAMERA_INFO_TOPIC]}" in safety.ros_args()
    # An explicit topic overrides the preset for that topic only.
    seg, costmap, *_ = stack_nodes(BringupOptions(camera="realsense", color_topic="/cam/rgb", depth_topic="/cam/d"))
    assert seg.remappings == ((COLOR_TOPIC, "/cam/rgb"),)
    assert costmap.remappings[:2] == ((DEPTH_TOPIC, "/cam/d"), (CAMERA_INFO_TOPIC, REALSENSE[CAMERA_INFO_TOPIC]))
    # default is the stack's own names: no camera remap at all.
    assert stack_nodes(BringupOptions(camera="default")) == stack_nodes(BringupOptions())
    from robot_vision_nav.ros.bringup import perception_nodes

    seg, obstacles = perception_nodes(BringupOptions(camera="realsense"))
    assert seg.remappings == ((COLOR_TOPIC, REALSENSE[COLOR_TOPIC]),)
    assert obstacles.remappings == tuple((t, REALSENSE[t]) for t in (DEPTH_TOPIC, CAMERA_INFO_TOPIC))
    with pytest.raises(BringupError, match="camera 'zed' is not one of default, realsense"):
        BringupOptions(camera="zed")


def test_a_node_started_with_the_realsense_preset_reads_the_driver_topics_raw_or_compressed(
    ros_context: Any,
) -> None:
    from robot_vision_nav.ros.runner import make_node

    for namespace, extra, expected in (
        ("", {}, "/camera/camera/aligned_depth_to_color/image_raw"),
        ("robot1", {"depth_transport": "compressedDepth"}, "/robot1/camera/camera/aligned_depth_to_color/image_raw"),
    ):
        options = BringupOptions(camera="realsense", namespace=namespace, extra_parameters={"safety_node": extra})
        spec = next(s for s in stack_nodes(options) if s.name == "safety_node")
        node = make_node(spec, ros_context)  # what `rvn run --camera realsense` does with each spec
        try:
            topics = {sub.topic_name for sub in node.subscriptions}
            info = expected.replace("aligned_depth_to_color/image_raw", "color/camera_info")
            depth = expected + ("/compressedDepth" if extra else "")  # image_transport's name for it
            assert {depth, info} <= topics, topics
        finally:
            node.destroy_node()


def test_logger_name_is_the_one_rclpy_gives_the_node(ros_context: Any) -> None:
    from rclpy.node import Node

    spec = stack_nodes(BringupOptions(namespace="fleet/robot1"))[2]
    node = Node(spec.name, namespace="/fleet/robot1", context=ros_context)
    try:
        assert node.get_logger().name == spec.logger_name == "fleet.robot1.planner_node"
    finally:
        node.destroy_node()


def test_device_and_model_go_to_segmentation_node_only(tmp_path: Path) -> None:
    model = tmp_path / "mine.safetensors"
    model.write_bytes(b"")
    specs = stack_nodes(BringupOptions(device="cuda:1", model=str(model)))
    assert specs[0].parameters == {"use_sim_time": False, "device": "cuda:1", "model_path": str(model.resolve())}
    assert all(set(s.parameters) == {"use_sim_time"} for s in specs[1:])
    assert 'device:="cuda:1"' in specs[0].ros_args()  # quoted: a string parameter stays a string


def test_missing_model_or_params_file_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(BringupError, match=r"model .*nowhere\.safetensors does not exist"):
        stack_nodes(BringupOptions(model=str(tmp_path / "nowhere.safetensors")))
    with pytest.raises(BringupError, match=r"params_file .*absent\.yaml does not exist"):
        stack_nodes(BringupOptions(params_file=str(tmp_path / "absent.yaml")))
    with pytest.raises(BringupError, match="log_level 'loud'"):
        BringupOptions(log_level="loud")


# ------------------------------------------------------------------ check_params_file
def test_shipped_params_files_pass_the_check() -> None:
    check_params_file(STACK_YAML)
    check_params_file(SIM_YAML, ["sim_node", *STACK])


def test_unknown_parameter_is_refused_naming_it_and_the_node(tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "p.yaml", {"planner_node": {"ros__parameters": {"replan_period": 1.0}}})
    with pytest.raises(BringupError, match=r"unknown parameter 'replan_period' for planner_node"):
        check_params_file(path)
    with pytest.raises(BringupError, match="replan_period"):
        stack_nodes(BringupOptions(params_file=path))


def test_misspelt_node_section_is_refused(tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "p.yaml", {"planer_node": {"ros__parameters": {"replan_period_s": 1.0}}})
    with pytest.raises(BringupError, match="section 'planer_node' names no node"):
        check_params_file(path)


def test_wildcard_and_namespaced_sections_are_accepted_where_they_apply(tmp_path: Path) -> None:
    path = write_yaml(
        tmp_path / "p.yaml",
        {
            "/**": {"ros__parameters": {"use_sim_time": True}},
            "/robot1/costmap_node": {"ros__parameters": {"resolution_m": 0.1}},
            "/**/planner_node": {"ros__parameters": {"replan_period_s": 2.0}},
        },
    )
    check_params_file(path, STACK, namespace="robot1")
    # Without the namespace, /robot1/costmap_node would apply to nothing: rcl would silently ignore it.
    with pytest.raises(BringupError, match=r"section '/robot1/costmap_node' applies to /robot1/costmap_node, which"):
        check_params_file(path)
    # A wildcard parameter must be one that every started node has.
    path = write_yaml(tmp_path / "q.yaml", {"/**": {"ros__parameters": {"global_frame": "odom"}}})
    with pytest.raises(BringupError, match="global_frame"):
        check_params_file(path)
    path = write_yaml(tmp_path / "r.yaml", {"/*/costmap_node": {"ros__parameters": {"replan_period_s": 1.0}}})
    with pytest.raises(BringupError, match="unknown parameter 'replan_period_s' for costmap_node"):
        check_params_file(path, STACK, namespace="robot1")


def test_a_section_for_a_node_that_is_not_started_is_refused_naming_it(tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "p.yaml", {"sim_node": {"ros__parameters": {"world_seed": 3}}})
    with pytest.raises(BringupError, match=r"section 'sim_node' applies to /sim_node, which this launch does not"):
        stack_nodes(BringupOptions(params_file=path))
    path = write_yaml(tmp_path / "q.yaml", {"/r2/costmap_node": {"ros__parameters": {"resolution_m": 0.1}}})
    with pytest.raises(BringupError, match=r"section '/r2/costmap_node' applies to /r2/costmap_node.*/r1/costmap_node"):
        stack_nodes(BringupOptions(params_file=path, namespace="r1"))


def test_namespace_moves_the_params_file_sections_under_it() -> None:
    specs = stack_nodes(BringupOptions(namespace="robot1", sim=True))
    shipped = {
        "sim_node": yaml.safe_load(SIM_YAML.read_text()),
        "costmap_node": yaml.safe_load(STACK_YAML.read_text()),
    }
    for spec in specs:
        assert spec.namespace == "robot1"
        (path,) = spec.params_files
        data = yaml.safe_load(Path(path).read_text())
        assert f"/robot1/{spec.name}" in data, f"{spec.name}: {sorted(data)}"
        original = shipped["sim_node" if spec.name == "sim_node" else "costmap_node"]
        assert data[f"/robot1/{spec.name}"] == original[spec.name]
        # The copy is what rcl will see: checking it under the namespace passes, without it it fails.
        check_params_file(path, [s.name for s in specs], namespace="robot1")
    assert specs[0].params_files != (str(SIM_YAML),)
    # Without a namespace the shipped files are used as they are.
    assert stack_nodes(BringupOptions())[0].params_files == (str(STACK_YAML),)


def test_namespaced_sections_resolve_shared_parameters(tmp_path: Path) -> None:
    mount = [0.2, 0.0, 0.5, 0.0, 0.35, 0.0]
    path = write_yaml(tmp_path / "p.yaml", {"/r1/costmap_node": {"ros__parameters": {"camera_mount_xyzrpy": mount}}})
    with pytest.raises(BringupError, match=r"costmap_node\.camera_mount_xyzrpy"):
        stack_nodes(BringupOptions(params_file=path, namespace="r1"))
    path = write_yaml(tmp_path / "q.yaml", {"/**": {"ros__parameters": {}}, "/r1/**": {"ros__parameters": {}}})
    assert len(stack_nodes(BringupOptions(params_file=path, namespace="r1"))) == len(STACK)


@pytest.mark.parametrize("namespace", ["robot 1", "1robot", "robot-1", "rob//ot", "röbot"])
def test_an_illegal_namespace_is_refused_naming_it(namespace: str) -> None:
    with pytest.raises(BringupError, match=f"namespace {namespace!r} is not a valid ROS namespace"):
        BringupOptions(namespace=namespace)


def test_rviz_config_follows_the_namespace() -> None:
    plain = rviz_config()
    moved = rviz_config("robot1").read_text()
    assert plain == RVIZ
    topics = rviz_topics(yaml.safe_load(moved))
    assert topics and all(t.startswith("/robot1/") for t in topics), topics
    assert "/robot1/local_costmap/costmap" in topics and "/robot1/goal_pose" in moved


def test_out_of_range_value_passes_the_file_check_and_the_node_refuses_it(tmp_path: Path, ros_context: Any) -> None:
    from robot_vision_nav.ros.params import ParameterError
    from robot_vision_nav.ros.runner import make_node

    path = write_yaml(tmp_path / "p.yaml", {"costmap_node": {"ros__parameters": {"resolution_m": 5.0}}})
    check_params_file(path)  # ranges are the node's to check: one rule, in one place
    spec = next(s for s in stack_nodes(BringupOptions(params_file=path)) if s.name == "costmap_node")
    with pytest.raises(ParameterError, match="resolution_m"):
        make_node(spec, ros_context)


def test_node_refuses_an_unknown_parameter_from_its_params_file(tmp_path: Path, ros_context: Any) -> None:
    from robot_vision_nav.ros.params import ParameterError
    from robot_vision_nav.ros.runner import make_node

    # Past check_params_file (a spec made by hand): the node itself still refuses the misspelt name.
    path = write_yaml(tmp_path / "p.yaml", {"costmap_node": {"ros__parameters": {"resolution": 0.05}}})
    spec = NodeSpec("costmap_node", "costmap_node", "", (path,), {}, (), "info")
    with pytest.raises(ParameterError, match=r"unknown parameter 'resolution' for node '/costmap_node'"):
        make_node(spec, ros_context)


def test_autostart_false_reaches_every_managed_node_and_true_leaves_the_params_file_alone() -> None:
    managed = {"segmentation_node", "costmap_node", "planner_node", "controller_node", "safety_node", "navigator_node"}

    def autostart_of(spec: NodeSpec) -> Any:
        # What rcl gives the node: its params files in order, each file's sections in file order.
        value = None
        for path in spec.params_files:
            given = file_parameters(yaml.safe_load(Path(path).read_text()), spec.name, spec.namespace)
            value = given.get("autostart", value)
        return value

    waiting = stack_nodes(BringupOptions(sim=True, navigator=True, namespace="r1", autostart=False))
    assert {s.name for s in waiting if autostart_of(s) is False} == managed  # not sim_node
    assert {s.name: autostart_of(s) for s in stack_nodes(BringupOptions(sim=True, navigator=True))} == {
        "sim_node": None,
        **dict.fromkeys(managed, True),  # the shipped file's `/**`
    }
    perception = perception_nodes(options_from_launch_values({"autostart": "false", "namespace": "r1"}))
    assert [autostart_of(s) for s in perception] == [False, False]
    with pytest.raises(BringupError, match="autostart"):
        options_from_launch_values({"autostart": "maybe"})


# ------------------------------------------------------------------ launch argument helpers
def test_launch_arguments_are_described_and_file_defaults_are_under_the_share_directory() -> None:
    names = [name for name, _, _ in LAUNCH_ARGUMENTS]
    assert names == [
        "params_file",
        "use_sim_time",
        "namespace",
        "device",
        "model",
        "camera",
        "color_topic",
        "depth_topic",
        "camera_info_topic",
        "odom_topic",
        "cmd_vel_topic",
        "log_level",
        "rviz",
        "navigator",
        "autostart",
    ]
    for sim in (False, True):
        args = launch_arguments("/opt/share/robot_vision_nav", sim=sim)
        assert all(description.strip() for _, _, description in args)
        defaults = {name: default for name, default, _ in args}
        assert defaults["params_file"] == "/opt/share/robot_vision_nav/config/robot_vision_nav.yaml"
        assert defaults["log_level"] == "info" and defaults["rviz"] == "false"
    sim_names = [name for name, _, _ in launch_arguments(sim=True)]
    # The simulator's /clock is always followed, and it is the camera: no use_sim_time, no camera.
    assert sim_names == [n for n in names if n not in ("use_sim_time", "camera")] + [
        n for n, _, _ in SIM_LAUNCH_ARGUMENTS
    ]
    assert dict((n, d) for n, d, _ in launch_arguments("/s", sim=True))["sim_params_file"] == "/s/config/sim.yaml"


def test_camera_launch_argument_picks_a_preset_and_sim_launch_has_none() -> None:
    from robot_vision_nav.ros.bringup import perception_nodes
    from robot_vision_nav.ros.launch_files import perception_launch_arguments

    assert options_from_launch_values({"camera": "realsense"}).camera == "realsense"
    assert options_from_launch_values({"camera": ""}).camera == "default"
    # sim.launch.py does not declare it: the simulator is the camera (an including file's value is ignored).
    assert options_from_launch_values({"camera": "realsense"}, sim=True).camera == "default"
    with pytest.raises(BringupError, match="launch argument camera:='zed' is not one of default, realsense"):
        options_from_launch_values({"camera": "zed"})
    values = {n: d for n, d, _ in launch_arguments(REPO)}
    assert values["camera"] == "default"
    seg = stack_nodes(options_from_launch_values(values | {"camera": "realsense", "color_topic": "/cam/rgb"}))[0]
    assert seg.remappings == ((COLOR_TOPIC, "/cam/rgb"),)  # color_topic:= overrides camera:=
    values = {n: d for n, d, _ in perception_launch_arguments(REPO)}
    _, obstacles = perception_nodes(options_from_launch_values(values | {"camera": "realsense"}))
    assert obstacles.remappings == tuple((t, REALSENSE[t]) for t in (DEPTH_TOPIC, CAMERA_INFO_TOPIC))


def test_options_from_launch_values_parses_words_and_refuses_bad_ones() -> None:
    assert options_from_launch_values({}) == BringupOptions()
    assert options_from_launch_values({"world_seed": "5"}) == BringupOptions()  # not a bringup argument
    options = options_from_launch_values(
        {"use_sim_time": "True", "log_level": "DEBUG", "namespace": "r1", "rviz": "1", "other": "x", **REMAPPED}
    )
    assert options.use_sim_time and options.log_level == "debug" and options.namespace == "r1"
    assert options.odom_topic == "/wheels/odom"
    sim = options_from_launch_values({"world_seed": "12", "sim_params_file": str(SIM_YAML)}, sim=True)
    assert sim.sim and sim.use_sim_time and sim.world_seed == 12 and sim.sim_params_file == str(SIM_YAML)
    assert launch_bool({"rviz": "on"}, "rviz") and not launch_bool({}, "rviz")
    with pytest.raises(BringupError, match="use_sim_time:='maybe'"):
        options_from_launch_values({"use_sim_time": "maybe"})
    with pytest.raises(BringupError, match="world_seed:='abc'"):
        options_from_launch_values({"world_seed": "abc"}, sim=True)
    with pytest.raises(BringupError, match="log_level 'verbose'"):
        options_from_launch_values({"log_level": "verbose"})


def setup_py_nodes() -> dict[str, str]:
    # setup.py runs setup() when imported: read its NODES table instead.
    for node in ast.parse((REPO / "setup.py").read_text()).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "NODES" for t in node.targets):
            nodes: dict[str, str] = ast.literal_eval(node.value)
            return nodes
    raise AssertionError("setup.py has no NODES table")


def ros_args_of_launch_kwargs(kwargs: dict[str, Any]) -> list[str]:
    """What launch_ros puts on a Node's command line, in NodeSpec.ros_args()'s order."""
    args = ["--ros-args", "-r", f"__node:={kwargs['name']}"]
    if kwargs["namespace"]:
        args += ["-r", f"__ns:=/{kwargs['namespace']}"]
    for entry in kwargs["parameters"]:
        if isinstance(entry, str):
            args += ["--params-file", entry]
        else:
            for name, value in entry.items():
                # launch_ros writes these to a YAML file: the same values as -p with YAML text.
                args += ["-p", f"{name}:={_yaml_value(value)}"]
    for src, dst in kwargs["remappings"]:
        args += ["-r", f"{src}:={dst}"]
    assert kwargs["arguments"][0] == "--ros-args"
    return args + kwargs["arguments"][1:]


@pytest.mark.parametrize("remap", [False, True], ids=["defaults", "remapped"])
@pytest.mark.parametrize("sim", [False, True], ids=["bringup", "sim"])
def test_launch_defaults_give_runnable_nodes_that_match_the_in_process_arguments(sim: bool, remap: bool) -> None:
    values = {name: default for name, default, _ in launch_arguments(REPO, sim=sim)}
    if remap:
        values |= REMAPPED | {"namespace": "robot1", "log_level": "warn"}
    specs = stack_nodes(options_from_launch_values(values, sim=sim))
    assert [s.name for s in specs] == (["sim_node"] if sim else []) + list(STACK)
    scripts = setup_py_nodes()
    for spec in specs:
        assert scripts[spec.executable] == f"{spec.kind.module}:main"
        module = importlib.import_module(spec.kind.module)
        assert callable(module.main)
        assert all(Path(p).is_file() for p in spec.params_files)
        source = Path(module.__file__ or "").read_text()
        used = {value for name, value in vars(topics).items() if name.isupper() and f"topics.{name}" in source}
        if "PoseAtStamp(" in source:
            used.add(topics.ODOM)  # ros/robot_pose.PoseAtStamp subscribes to odometry for the node
        if "NewestPose(" in source:
            used.add(topics.ODOM)  # ros/newest_pose.NewestPose subscribes to odometry for the node
        if "GoalInput(" in source:
            used.add(topics.GOAL_POSE)  # ros/goal_input.GoalInput subscribes to goals for the node
        if "state_publishers(" in source:  # ros/sim_messages publishes the simulator's state for the node
            used |= {topics.CLOCK, topics.ODOM, topics.SIM_GROUND_TRUTH}
        if "camera_publishers(" in source:  # ros/sim_messages publishes the simulated camera for the node
            used |= {topics.COLOR_IMAGE, topics.CAMERA_INFO, topics.DEPTH_IMAGE, topics.SIM_LABELS}
        if "TfPublishers(" in source:
            used |= {topics.TF, topics.TF_STATIC}  # ros/sim_messages.TfPublishers publishes TF for the node
        for src, _dst in spec.remappings:
            if src in ("/tf", "/tf_static") and "TfReader(" in source:
                continue  # tf2_ros's TransformListener subscribes to them (ros/tf.py)
            assert f'"{src}"' in source or src in used, f"{spec.name} does not use {src}"
        kwargs = launch_node_kwargs(spec)
        assert kwargs["package"] == "robot_vision_nav" and kwargs["output"] == "screen"
        assert kwargs["executable"] == spec.executable and kwargs["name"] == spec.name
        assert kwargs["namespace"] == spec.namespace
        assert kwargs["parameters"][: len(spec.params_files)] == list(spec.params_files)
        assert ros_args_of_launch_kwargs(kwargs) == spec.ros_args()
    if remap:
        assert any(spec.remappings for spec in specs)


def test_launch_node_kwargs_wrap_string_parameters_for_launch_ros() -> None:
    spec = NodeSpec("segmentation_node", "segmentation_node", "", (), {"device": "cpu", "threads": 2}, (), "info")
    kwargs = launch_node_kwargs(spec, string_value=lambda v: ("str", v))
    assert kwargs["parameters"] == [{"device": ("str", "cpu"), "threads": 2}]
    assert launch_node_kwargs(NodeSpec("sim_node", "sim_node", "", ("f.yaml",), {}, (), "info"))["parameters"] == [
        "f.yaml"
    ]
    rviz = rviz_node_kwargs(RVIZ, use_sim_time=True)
    assert rviz["package"] == rviz["executable"] == "rviz2"
    assert rviz["arguments"] == ["-d", str(RVIZ)] and rviz["parameters"] == [{"use_sim_time": True}]


# ------------------------------------------------------------------ the launch files
class Recorded:
    """A stand-in launch action: keeps its arguments."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = args, kwargs


def stand_in_launch(monkeypatch: pytest.MonkeyPatch) -> dict[str, type]:
    kinds = {name: type(name, (Recorded,), {}) for name in ("LaunchDescription", "LaunchContext", "Declare", "Opaque")}
    kinds |= {"Node": type("Node", (Recorded,), {}), "ParameterValue": type("ParameterValue", (Recorded,), {})}
    kinds |= {"SetEnvironmentVariable": type("SetEnvironmentVariable", (Recorded,), {})}
    modules = {
        "launch": {"LaunchDescription": kinds["LaunchDescription"], "LaunchContext": kinds["LaunchContext"]},
        "launch.actions": {
            "DeclareLaunchArgument": kinds["Declare"],
            "OpaqueFunction": kinds["Opaque"],
            "SetEnvironmentVariable": kinds["SetEnvironmentVariable"],
        },
        "launch_ros": {},
        "launch_ros.actions": {"Node": kinds["Node"]},
        "launch_ros.parameter_descriptions": {"ParameterValue": kinds["ParameterValue"]},
    }
    for name, attributes in modules.items():
        module = types.ModuleType(name)
        module.__dict__.update(attributes)
        monkeypatch.setitem(sys.modules, name, module)
    return kinds


def load_launch_file(name: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(f"launch_file_{name.split('.')[0]}", REPO / "launch" / name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("name", "sim"), LAUNCH_FILES.items())
def test_launch_file_is_thin_and_builds_its_nodes_from_stack_nodes(name: str, sim: bool) -> None:
    text = (REPO / "launch" / name).read_text()
    for call in ("stack_nodes(", "options_from_launch_values(", "launch_node_kwargs(", "launch_arguments("):
        assert call in text, f"{name} does not call {call}"
    assert f"SIM = {sim}" in text
    assert "def generate_launch_description()" in text
    assert len(text.splitlines()) < 80, f"{name} should stay thin: the logic belongs in ros/bringup.py"


@pytest.mark.parametrize(("name", "sim"), LAUNCH_FILES.items())
def test_launch_file_with_real_launch_ros(monkeypatch: pytest.MonkeyPatch, name: str, sim: bool) -> None:
    require_ros2_launch()  # skips, saying why, where it is not installed; fails where it must be
    from launch import LaunchContext
    from launch.actions import DeclareLaunchArgument, OpaqueFunction
    from launch_ros.actions import Node

    # Not colcon-installed here: package_files finds the checkout's config/ (an install's in CI's colcon tests).
    description = load_launch_file(name).generate_launch_description()
    declared = [e for e in description.entities if isinstance(e, DeclareLaunchArgument)]
    assert [d.name for d in declared] == [n for n, _, _ in (*launch_arguments(sim=sim), *SECURITY_LAUNCH_ARGUMENTS)]
    assert all(d.description for d in declared)
    context = LaunchContext()
    for action in declared:
        action.visit(context)
    (opaque,) = [e for e in description.entities if isinstance(e, OpaqueFunction)]
    actions = opaque.execute(context) or []
    nodes = [a for a in actions if isinstance(a, Node)]  # after the SetEnvironmentVariable actions (test_security)
    assert len(nodes) == len(STACK) + sim


@pytest.mark.parametrize(("name", "sim"), LAUNCH_FILES.items())
@pytest.mark.parametrize("rviz", [False, True])
def test_launch_file_declares_every_argument_and_starts_the_stack(
    monkeypatch: pytest.MonkeyPatch, name: str, sim: bool, rviz: bool
) -> None:
    kinds = stand_in_launch(monkeypatch)  # the real launch_ros is tested above where it is installed
    description = load_launch_file(name).generate_launch_description()
    assert isinstance(description, kinds["LaunchDescription"])
    (entities,) = description.args
    declared = [e for e in entities if isinstance(e, kinds["Declare"])]
    expected = [*launch_arguments(REPO, sim=sim), *SECURITY_LAUNCH_ARGUMENTS]
    assert [(d.args[0], d.kwargs["default_value"], d.kwargs["description"]) for d in declared] == expected
    known = {n for n, _, _ in (*LAUNCH_ARGUMENTS, *SIM_LAUNCH_ARGUMENTS, *SECURITY_LAUNCH_ARGUMENTS)}
    assert {d.args[0] for d in declared} <= known
    (opaque,) = [e for e in entities if isinstance(e, kinds["Opaque"])]
    values = {d.args[0]: d.kwargs["default_value"] for d in declared} | {"rviz": str(rviz).lower(), "device": "cpu"}
    actions = opaque.kwargs["function"](types.SimpleNamespace(launch_configurations=values))
    nodes = [a for a in actions if isinstance(a, kinds["Node"])]  # the environment before them: test_security
    specs = stack_nodes(options_from_launch_values(values, sim=sim))
    assert len(nodes) == len(specs) + rviz
    for node, spec in zip(nodes, specs, strict=False):
        kwargs = dict(node.kwargs)
        kwargs["parameters"] = [
            p if isinstance(p, str) else {k: v.args[0] if isinstance(v, Recorded) else v for k, v in p.items()}
            for p in kwargs["parameters"]
        ]
        assert kwargs == launch_node_kwargs(spec)
        # launch_ros would read a plain string value as YAML: every string goes in as ParameterValue(v, str).
        wrapped = [
            v for p in node.kwargs["parameters"] if isinstance(p, dict) for v in p.values() if isinstance(v, str)
        ]
        assert not wrapped, f"{spec.name}: unwrapped string parameters {wrapped}"
        if spec.name == "segmentation_node":
            (device,) = [p["device"] for p in node.kwargs["parameters"] if isinstance(p, dict)]
            assert isinstance(device, kinds["ParameterValue"]) and device.args == ("cpu",)
            assert device.kwargs == {"value_type": str}
    if rviz:
        assert nodes[-1].kwargs == rviz_node_kwargs(REPO / "config" / "robot_vision_nav.rviz", use_sim_time=sim)


# ------------------------------------------------------------------ RViz config and package.xml
def rviz_topics(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["Value"]] if "Value" in node and isinstance(node["Value"], str) and "Depth" in node else []
        return found + [t for value in node.values() for t in rviz_topics(value)]
    if isinstance(node, list):
        return [t for value in node for t in rviz_topics(value)]
    return []


def test_rviz_config_shows_the_stack_in_odom_with_matching_qos() -> None:
    config = yaml.safe_load(RVIZ.read_text())
    manager = config["Visualization Manager"]
    assert manager["Global Options"]["Fixed Frame"] == "odom"
    displays = {d["Class"].split("/")[-1] + ":" + d.get("Topic", {}).get("Value", ""): d for d in manager["Displays"]}
    overlay = f"/{topics.OVERLAY}"
    costmap = f"/{topics.LOCAL_COSTMAP}"
    for key in (
        f"Image:{overlay}",
        f"Image:/{COLOR_TOPIC}",
        f"Map:{costmap}",
        "Path:/plan",
        "MarkerArray:/planner_node/markers",
        f"Odometry:/{ODOM_TOPIC}",
    ):
        assert key in displays, f"no display {key}; have {sorted(displays)}"
        assert displays[key]["Enabled"] is True
    assert displays[f"Map:{costmap}"]["Color Scheme"] == "costmap"
    assert displays[f"Map:{costmap}"]["Topic"]["Durability Policy"] == "Transient Local"
    # Sensor topics are published best effort (ros.qos.SENSOR_QOS): a reliable display would get nothing.
    for key in (f"Image:{overlay}", f"Image:/{COLOR_TOPIC}", f"Odometry:/{ODOM_TOPIC}"):
        assert displays[key]["Topic"]["Reliability Policy"] == "Best Effort"
    (goal_tool,) = [t for t in manager["Tools"] if t["Class"] == "rviz_default_plugins/SetGoal"]
    assert goal_tool["Topic"]["Value"] == "/goal_pose"
    assert {overlay, costmap, "/plan", "/planner_node/markers", "/odom", "/goal_pose"} <= set(rviz_topics(config))


def test_package_xml_names_the_launch_and_visualisation_dependencies() -> None:
    root = ET.parse(REPO / "package.xml").getroot()
    exec_depends = {(e.text or "").strip() for e in root.findall("exec_depend")}
    assert {"launch", "launch_ros", "rviz2", "visualization_msgs", "ament_index_python"} <= exec_depends


def test_every_node_kind_is_a_console_script() -> None:
    assert set(NODE_KINDS) == set(setup_py_nodes())


# ------------------------------------------------------------------ parameters two nodes share
@pytest.mark.parametrize(
    ("node", "partner", "name", "value", "words"),
    [
        ("safety_node", "controller_node", "use_stamped_cmd_vel", False, "controller_node.use_stamped_cmd_vel = True"),
        ("controller_node", "safety_node", "use_stamped_cmd_vel", False, "safety_node.use_stamped_cmd_vel = True"),
        ("safety_node", "controller_node", "base_frame", "base_footprint", "controller_node.base_frame = 'base_link'"),
        ("controller_node", "safety_node", "base_frame", "base_footprint", "safety_node.base_frame = 'base_link'"),
        ("safety_node", "costmap_node", "camera_mount_xyzrpy", [0.1, 0.0, 0.6, 0.0, 0.35, 0.0], "same depth image"),
        ("costmap_node", "safety_node", "rectify_distorted", True, "safety_node.rectify_distorted = False"),
    ],
)
def test_nodes_that_must_agree_on_a_parameter_are_refused_when_they_do_not(
    tmp_path: Path, node: str, partner: str, name: str, value: Any, words: str
) -> None:
    with pytest.raises(BringupError, match=words):
        stack_nodes(BringupOptions(extra_parameters={node: {name: value}}))
    # Through the params file too; the partner given the same value (as an override) agrees again.
    data = yaml.safe_load(STACK_YAML.read_text())
    data[node]["ros__parameters"][name] = value
    path = write_yaml(tmp_path / "p.yaml", data)
    with pytest.raises(BringupError, match=name):
        stack_nodes(BringupOptions(params_file=path))
    if name in STACK_WIDE_PARAMETERS:
        return  # a node's own value of one is refused whatever it is: the `/**` section after it would win
    specs = stack_nodes(BringupOptions(params_file=path, extra_parameters={partner: {name: value}}))
    assert {s.name: s.parameters for s in specs}[partner][name] == value


# ------------------------------------------------------------------ the stack-wide `/**` section
def test_shipped_params_file_sets_the_command_type_and_frame_once_for_the_whole_stack() -> None:
    data = yaml.safe_load(STACK_YAML.read_text())
    assert list(data)[-1] == "/**"  # last: see test_params_file_sections_apply_in_file_order_as_rclpy_does
    assert data["/**"]["ros__parameters"] == {
        "use_stamped_cmd_vel": True,
        "base_frame": "base_link",
        "camera_mount_source": "auto",
        "camera_mount_xyzrpy": [0.1, 0.0, 0.5, 0.0, 0.35, 0.0],
        "rectify_distorted": False,
        "depth_transport": "raw",
        "autostart": True,
        "robot_pose_source": "odom",
    }
    assert set(data["/**"]["ros__parameters"]) == STACK_WIDE_PARAMETERS
    for name in STACK:  # no per-node copies left to disagree
        assert not STACK_WIDE_PARAMETERS & set(data[name]["ros__parameters"]), name
    for namespace in ("", "robot1"):
        for node in ("controller_node", "safety_node"):
            given = file_parameters(data, node, namespace)
            assert given["use_stamped_cmd_vel"] is True and given["base_frame"] == "base_link", (node, namespace)
            assert resolved_parameter(STACK_YAML, node, "use_stamped_cmd_vel", {}, namespace) is True
    assert "use_stamped_cmd_vel" not in yaml.safe_load(SIM_YAML.read_text())["sim_node"]["ros__parameters"]


def test_use_stamped_false_in_the_wildcard_section_drives_controller_safety_and_simulator(tmp_path: Path) -> None:
    data = yaml.safe_load(STACK_YAML.read_text())
    data["/**"]["ros__parameters"]["use_stamped_cmd_vel"] = False
    path = write_yaml(tmp_path / "humble_base.yaml", data)
    specs = {s.name: s for s in stack_nodes(BringupOptions(params_file=path, sim=True))}
    assert specs["sim_node"].parameters == {"use_stamped_cmd_vel": False}
    assert "use_stamped_cmd_vel:=false" in specs["sim_node"].ros_args()
    for node in ("controller_node", "safety_node"):
        assert resolved_parameter(path, node, "use_stamped_cmd_vel", {}) is False
    # Namespaced, the `/**` section still applies (it is kept as written in the moved copy).
    specs = {s.name: s for s in stack_nodes(BringupOptions(params_file=path, sim=True, namespace="r1"))}
    assert specs["sim_node"].parameters["use_stamped_cmd_vel"] is False
    assert yaml.safe_load(Path(specs["safety_node"].params_files[0]).read_text())["/**"] == data["/**"]
    # Overrides of both stack nodes reach the simulator too; the shipped file stamps it.
    extra = {"controller_node": {"use_stamped_cmd_vel": False}, "safety_node": {"use_stamped_cmd_vel": False}}
    assert stack_nodes(BringupOptions(sim=True, extra_parameters=extra))[0].parameters["use_stamped_cmd_vel"] is False
    assert stack_nodes(BringupOptions(sim=True))[0].parameters["use_stamped_cmd_vel"] is True


def test_a_simulator_command_type_that_disagrees_with_the_stack_is_refused_by_name(tmp_path: Path) -> None:
    agreeing = {"sim_node": {"use_stamped_cmd_vel": True}}
    assert stack_nodes(BringupOptions(sim=True, extra_parameters=agreeing))[0].parameters["use_stamped_cmd_vel"]
    with pytest.raises(BringupError, match=r"sim_node\.use_stamped_cmd_vel = False but safety_node\.use_stamped"):
        stack_nodes(BringupOptions(sim=True, extra_parameters={"sim_node": {"use_stamped_cmd_vel": False}}))


def test_a_per_node_override_of_a_stack_wide_parameter_is_refused_by_name(tmp_path: Path) -> None:
    # In the node's own section: the `/**` section after it would override it without a word.
    data = yaml.safe_load(STACK_YAML.read_text())
    data["safety_node"]["ros__parameters"]["use_stamped_cmd_vel"] = False
    path = write_yaml(tmp_path / "p.yaml", data)
    with pytest.raises(BringupError, match=r"section 'safety_node' sets 'use_stamped_cmd_vel', but the '/\*\*'"):
        stack_nodes(BringupOptions(params_file=path))
    # Given to one node only (`rvn run --set`, -p): the nodes would disagree.
    with pytest.raises(BringupError, match=r"controller_node\.use_stamped_cmd_vel = True but safety_node\.use_stamped"):
        stack_nodes(BringupOptions(extra_parameters={"safety_node": {"use_stamped_cmd_vel": False}}))
    with pytest.raises(BringupError, match=r"controller_node\.base_frame = 'base_footprint' but safety_node"):
        stack_nodes(BringupOptions(extra_parameters={"controller_node": {"base_frame": "base_footprint"}}))
    # Changed in the `/**` section, base_frame reaches both.
    data = yaml.safe_load(STACK_YAML.read_text())
    data["/**"]["ros__parameters"]["base_frame"] = "base_footprint"
    path = write_yaml(tmp_path / "r.yaml", data)
    stack_nodes(BringupOptions(params_file=path))
    assert {resolved_parameter(path, n, "base_frame", {}) for n in ("controller_node", "safety_node")} == {
        "base_footprint"
    }


def test_stack_wide_parameters_belong_in_a_wildcard_section_only(tmp_path: Path) -> None:
    # In `/**`: fine, though most nodes do not declare them (they leave them alone).
    path = write_yaml(tmp_path / "p.yaml", {"/**": {"ros__parameters": {"use_stamped_cmd_vel": False}}})
    check_params_file(path)
    check_params_file(path, ["sim_node", *STACK], namespace="robot1")
    # A node's own section naming one it does not declare is a mistake, as any unknown name.
    path = write_yaml(tmp_path / "q.yaml", {"costmap_node": {"ros__parameters": {"use_stamped_cmd_vel": True}}})
    with pytest.raises(BringupError, match=r"unknown parameter 'use_stamped_cmd_vel' for costmap_node"):
        check_params_file(path)
    # So is a wildcard that matches only nodes without it.
    path = write_yaml(tmp_path / "r.yaml", {"/**/segmentation_node": {"ros__parameters": {"base_frame": "base_link"}}})
    with pytest.raises(BringupError, match=r"unknown parameter 'base_frame' for segmentation_node"):
        check_params_file(path)
    # Other parameters in a wildcard must still be ones every node it applies to declares.
    path = write_yaml(tmp_path / "s.yaml", {"/**": {"ros__parameters": {"control_rate_hz": 10.0}}})
    with pytest.raises(BringupError, match="control_rate_hz"):
        check_params_file(path)


@pytest.mark.parametrize("wildcard_last", [True, False])
@pytest.mark.parametrize("given", [None, 0.3])
def test_params_file_sections_apply_in_file_order_as_rclpy_does(
    tmp_path: Path, ros_context: Any, wildcard_last: bool, given: float | None
) -> None:
    from rclpy.node import Node

    own = ("planner_node", {"ros__parameters": {"replan_period_s": 0.5, "any_angle": True}})
    wildcard = ("/**", {"ros__parameters": {"replan_period_s": 2.0}})
    data = dict([own, wildcard] if wildcard_last else [wildcard, own])
    path = write_yaml(tmp_path / "p.yaml", data)  # not a file check_params_file passes: rclpy alone reads it
    args = ["--ros-args", "--params-file", path] + (["-p", f"replan_period_s:={given}"] if given else [])
    node = Node("planner_node", context=ros_context, cli_args=args, use_global_arguments=False)
    try:
        applied = {name: p.value for name, p in node._parameter_overrides.items()}
    finally:
        node.destroy_node()
    assert applied["any_angle"] is True
    assert file_parameters(data, "planner_node")["replan_period_s"] == (2.0 if wildcard_last else 0.5)
    if given is None:
        assert applied["replan_period_s"] == file_parameters(data, "planner_node")["replan_period_s"]
    else:
        # rcl puts -p values in `/**`: last in the file, they win; first, the node's own section does.
        assert applied["replan_period_s"] == (given if wildcard_last else 0.5)


def test_a_wildcard_section_first_is_refused_only_where_it_would_swallow_a_given_value(tmp_path: Path) -> None:
    data = yaml.safe_load(STACK_YAML.read_text())
    first = write_yaml(tmp_path / "first.yaml", {"/**": data.pop("/**"), **data})
    stack_nodes(BringupOptions(params_file=first))  # nothing given that a node section names
    with pytest.raises(BringupError, match=r"section of segmentation_node that sets device"):
        stack_nodes(BringupOptions(params_file=first, device="cpu"))
    # The shipped file keeps `/**` last, so --device reaches the node.
    assert stack_nodes(BringupOptions(device="cpu"))[0].parameters["device"] == "cpu"


def test_a_node_without_a_stack_wide_parameter_starts_with_the_wildcard_section(ros_context: Any) -> None:
    from robot_vision_nav.ros.runner import make_node

    spec = next(s for s in stack_nodes(BringupOptions()) if s.name == "planner_node")
    node = make_node(spec, ros_context)  # the `/**` use_stamped_cmd_vel and camera_mount_source are not refused
    try:
        assert not node.has_parameter("use_stamped_cmd_vel") and not node.has_parameter("camera_mount_source")
    finally:
        node.destroy_node()


# ------------------------------------------------------------------ launch-time imports
HEAVY = ("torch", "torchvision", "numba", "cv2", "mujoco", "rosbags")


def test_parameter_table_matches_the_config_dataclasses() -> None:
    from robot_vision_nav.ros import parameter_table_gen

    assert parameter_table_gen.TABLE.read_text() == parameter_table_gen.render(), (
        "robot_vision_nav/ros/parameter_table.py is stale: run python -m robot_vision_nav.ros.parameter_table_gen"
    )
    for kind in NODE_KINDS.values():
        assert kind.parameter_names() == set(parameter_table_gen.parameters_of(kind.config_classes)), kind.name


def write_import_blocker(folder: Path) -> Path:
    """A folder of modules that refuse to import: first on sys.path, it hides the heavy packages."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in HEAVY:
        (folder / name).mkdir(exist_ok=True)
        (folder / name / "__init__.py").write_text(f"raise ImportError('{name} is blocked in this process')\n")
    return folder


def test_launch_time_code_needs_none_of_the_heavy_modules(tmp_path: Path) -> None:
    blocker = write_import_blocker(tmp_path / "blocker")
    bag = tmp_path / "run1"
    bag.mkdir()
    topics_map = REPO / "config" / "topics_realsense.yaml"
    code = f"""
import sys
sys.path.insert(0, {str(blocker)!r})
from robot_vision_nav.package_files import share_dir
from robot_vision_nav.replay import launch_plan
from robot_vision_nav.ros import bringup, launch_files, security
for sim in (False, True):
    values = {{name: default for name, default, _ in launch_files.launch_arguments(share_dir(), sim=sim)}}
    for ns in ("", "robot1"):
        bringup.stack_nodes(launch_files.options_from_launch_values(values | {{"namespace": ns}}, sim=sim))
        launch_files.rviz_config(ns)
values = {{name: default for name, default, _ in launch_files.perception_launch_arguments(share_dir())}}
for ns in ("", "robot1"):
    bringup.perception_nodes(launch_files.options_from_launch_values(values | {{"namespace": ns}}))
security.launch_environment({{}})
values = {{name: default for name, default, _ in launch_plan.replay_launch_arguments(share_dir())}}
launch_plan.replay_plan(values | {{"bag": {str(bag)!r}}})
try:
    launch_plan.replay_plan(values | {{"bag": {str(bag)!r}, "topics_map": {str(topics_map)!r}}})
except bringup.BringupError as err:
    assert "compressed image topic" in str(err), err
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r})
assert not loaded, loaded
print("ok")
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_a_namespaced_node_started_without_launch_gets_the_file_values(tmp_path: Path, ros_context: Any) -> None:
    from robot_vision_nav.ros.runner import make_node

    data = yaml.safe_load(STACK_YAML.read_text())
    data["costmap_node"]["ros__parameters"]["inflation_radius_m"] = 0.7
    path = write_yaml(tmp_path / "p.yaml", data)
    spec = next(
        s for s in stack_nodes(BringupOptions(params_file=path, namespace="robot1")) if s.name == "costmap_node"
    )
    node = make_node(spec, ros_context)  # what `rvn run --namespace robot1` does with each spec
    try:
        assert node.get_fully_qualified_name() == "/robot1/costmap_node"
        assert node.get_parameter("inflation_radius_m").value == 0.7  # the code default is 0.55
    finally:
        node.destroy_node()


# ------------------------------------------------------------------ perception.launch.py
def test_perception_nodes_are_segmentation_and_semantic_obstacles_on_the_shipped_params_file() -> None:
    from robot_vision_nav.ros.bringup import PERCEPTION, perception_nodes

    specs = perception_nodes(BringupOptions())
    assert [s.executable for s in specs] == [s.name for s in specs] == list(PERCEPTION)
    assert list(PERCEPTION) == ["segmentation_node", "semantic_obstacles_node"]
    sections = yaml.safe_load(STACK_YAML.read_text())
    for spec in specs:
        # The stack's own file: its costmap, planner, ... sections are accepted and left alone.
        assert spec.params_files == (str(share_file("config", "robot_vision_nav.yaml")),)
        assert spec.parameters == {"use_sim_time": False} and spec.remappings == () and spec.namespace == ""
        assert set(sections[spec.name]["ros__parameters"]) <= spec.kind.parameter_names(), spec.name
    # The stack, started with the same file, accepts the semantic_obstacles_node section it does not start.
    assert "semantic_obstacles_node" in sections and "semantic_obstacles_node" not in STACK
    assert [s.name for s in stack_nodes(BringupOptions())] == list(STACK)


def test_perception_nodes_take_device_model_remaps_and_namespace_like_the_stack(tmp_path: Path) -> None:
    from robot_vision_nav.ros.bringup import perception_nodes

    model = tmp_path / "mine.safetensors"
    model.write_bytes(b"")
    options = BringupOptions(
        namespace="robot1", device="cuda:1", model=str(model), use_sim_time=True, log_level="warn",
        color_topic=REMAPPED["color_topic"], depth_topic=REMAPPED["depth_topic"],
        camera_info_topic=REMAPPED["camera_info_topic"],
    )  # fmt: skip
    seg, obstacles = perception_nodes(options)
    assert seg.parameters == {"use_sim_time": True, "device": "cuda:1", "model_path": str(model.resolve())}
    assert obstacles.parameters == {"use_sim_time": True}
    # The camera topics each uses, then what the stack's nodes get under a namespace (stack_nodes).
    stack_seg = stack_nodes(dataclasses.replace(options, model="", device=""))[0]
    assert seg.remappings == stack_seg.remappings
    assert seg.remappings[0] == (COLOR_TOPIC, REMAPPED["color_topic"])
    assert obstacles.remappings == (
        (DEPTH_TOPIC, REMAPPED["depth_topic"]),
        (CAMERA_INFO_TOPIC, REMAPPED["camera_info_topic"]),
        *seg.remappings[1:],
        ("/tf", "tf"),  # the robot's own TF tree under a namespace; segmentation reads no TF
        ("/tf_static", "tf_static"),
    )
    assert seg.namespace == obstacles.namespace == "robot1" and seg.log_level == "warn"
    # The file moved under the namespace, as stack_nodes does; rcl applies it as the check reads it.
    (path,) = obstacles.params_files
    data = yaml.safe_load(Path(path).read_text())
    assert data["/robot1/semantic_obstacles_node"] == yaml.safe_load(STACK_YAML.read_text())["semantic_obstacles_node"]
    assert seg.params_files == obstacles.params_files
    assert "__ns:=/robot1" in obstacles.ros_args() and "robot1.semantic_obstacles_node:=warn" in obstacles.ros_args()


def test_perception_nodes_refuse_what_does_not_apply_or_is_misspelt(tmp_path: Path) -> None:
    from robot_vision_nav.ros.bringup import perception_nodes

    for options in (BringupOptions(sim=True), BringupOptions(odom_topic="/odom2"), BringupOptions(cmd_vel_topic="/c")):
        with pytest.raises(BringupError, match="no simulator and use no odom or cmd_vel topic"):
            perception_nodes(options)
    with pytest.raises(BringupError, match=r"model .*nowhere\.safetensors does not exist"):
        perception_nodes(BringupOptions(model=str(tmp_path / "nowhere.safetensors")))
    with pytest.raises(BringupError, match=r"params_file .*absent\.yaml does not exist"):
        perception_nodes(BringupOptions(params_file=str(tmp_path / "absent.yaml")))
    path = write_yaml(tmp_path / "p.yaml", {"semantic_obstacles_node": {"ros__parameters": {"voxel_size": 0.05}}})
    with pytest.raises(BringupError, match="unknown parameter 'voxel_size' for semantic_obstacles_node"):
        perception_nodes(BringupOptions(params_file=path))
    path = write_yaml(tmp_path / "q.yaml", {"semantic_obstacle_node": {"ros__parameters": {}}})
    with pytest.raises(BringupError, match="section 'semantic_obstacle_node' names no node"):
        perception_nodes(BringupOptions(params_file=path))
    path = write_yaml(tmp_path / "r.yaml", {"sim_node": {"ros__parameters": {"world_seed": 3}}})
    with pytest.raises(BringupError, match="section 'sim_node' applies to /sim_node, which this launch does not"):
        perception_nodes(BringupOptions(params_file=path))
    # A stack section is still checked against that node's parameters.
    path = write_yaml(tmp_path / "s.yaml", {"planner_node": {"ros__parameters": {"replan_period": 1.0}}})
    with pytest.raises(BringupError, match="unknown parameter 'replan_period' for planner_node"):
        perception_nodes(BringupOptions(params_file=path))
    with pytest.raises(BringupError, match=r"unknown parameter\(s\) resolution_m given to semantic_obstacles_node"):
        perception_nodes(BringupOptions(extra_parameters={"semantic_obstacles_node": {"resolution_m": 0.1}}))
    # A file with only the perception nodes' sections (and the stack-wide one) is enough.
    data = yaml.safe_load(STACK_YAML.read_text())
    mine = {k: v for k, v in data.items() if k in ("segmentation_node", "semantic_obstacles_node", "/**")}
    assert len(perception_nodes(BringupOptions(params_file=write_yaml(tmp_path / "t.yaml", mine)))) == 2


def test_perception_launch_file_declares_its_arguments_and_starts_the_perception_nodes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from robot_vision_nav.ros.bringup import perception_nodes
    from robot_vision_nav.ros.launch_files import PERCEPTION_LAUNCH_ARGUMENTS, perception_launch_arguments

    text = (REPO / "launch" / "perception.launch.py").read_text()
    calls = ("perception_nodes(", "options_from_launch_values(", "launch_node_kwargs(", "perception_launch_arguments(")
    for call in calls:
        assert call in text, f"perception.launch.py does not call {call}"
    assert len(text.splitlines()) < 80, "perception.launch.py should stay thin: the logic belongs in ros/bringup.py"
    assert [n for n, _, _ in perception_launch_arguments()] == list(PERCEPTION_LAUNCH_ARGUMENTS)
    assert {n for n, _, _ in perception_launch_arguments()} <= {n for n, _, _ in LAUNCH_ARGUMENTS}
    kinds = stand_in_launch(monkeypatch)
    description = load_launch_file("perception.launch.py").generate_launch_description()
    (entities,) = description.args
    declared = [e for e in entities if isinstance(e, kinds["Declare"])]
    expected = [*perception_launch_arguments(REPO), *SECURITY_LAUNCH_ARGUMENTS]
    assert [(d.args[0], d.kwargs["default_value"], d.kwargs["description"]) for d in declared] == expected
    assert all(d.kwargs["description"] for d in declared)
    (opaque,) = [e for e in entities if isinstance(e, kinds["Opaque"])]
    values = {d.args[0]: d.kwargs["default_value"] for d in declared} | {"device": "cpu", "namespace": "r1"}
    actions = opaque.kwargs["function"](types.SimpleNamespace(launch_configurations=values))
    nodes = [a for a in actions if isinstance(a, kinds["Node"])]
    specs = perception_nodes(options_from_launch_values(values))
    assert [n.kwargs["name"] for n in nodes] == ["segmentation_node", "semantic_obstacles_node"]
    for node, spec in zip(nodes, specs, strict=True):
        kwargs = dict(node.kwargs)
        kwargs["parameters"] = [
            p if isinstance(p, str) else {k: v.args[0] if isinstance(v, Recorded) else v for k, v in p.items()}
            for p in kwargs["parameters"]
        ]
        assert kwargs == launch_node_kwargs(spec)
        assert kwargs["namespace"] == "r1"


def test_perception_launch_file_with_real_launch_ros_needs_none_of_the_heavy_modules(tmp_path: Path) -> None:
    require_ros2_launch()  # skips, saying why, where it is not installed; fails where it must be
    blocker = write_import_blocker(tmp_path / "blocker")
    code = f"""
import sys
sys.path.insert(0, {str(blocker)!r})
import importlib.util
from launch import LaunchContext
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch_ros.actions import Node
spec = importlib.util.spec_from_file_location("perception_launch", {str(REPO / "launch" / "perception.launch.py")!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
description = module.generate_launch_description()
context = LaunchContext()
for action in description.entities:
    if isinstance(action, DeclareLaunchArgument):
        action.visit(context)
(opaque,) = [e for e in description.entities if isinstance(e, OpaqueFunction)]
nodes = [a for a in opaque.execute(context) or [] if isinstance(a, Node)]
assert len(nodes) == 2, nodes
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r})
assert not loaded, loaded
print("ok")
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_navigator_option_starts_navigator_node_after_the_stack() -> None:
    """navigator:=true (and rvn run --navigator) adds Nav2's navigate_to_pose server over the stack's topics."""
    specs = stack_nodes(options_from_launch_values({"navigator": "true", "namespace": "r1"}, sim=True))
    assert [s.name for s in specs] == ["sim_node", *STACK, "navigator_node"]
    nav = specs[-1]
    assert nav.parameters["use_sim_time"] is True and nav.namespace == "r1"
    assert ("/tf", "tf") in nav.remappings  # it places the robot in a map goal's frame through TF
    assert [s.name for s in stack_nodes(options_from_launch_values({}, sim=False))][-1] == "safety_node"
    with pytest.raises(BringupError, match="navigator:='maybe'"):
        options_from_launch_values({"navigator": "maybe"})
