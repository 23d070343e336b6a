"""replay.launch.py: `ros2 bag play --clock` through the stack (use_sim_time), `ros2 bag record` of its outputs.

The command lines are built by plain functions of `replay.launch_plan` and tested here argv for argv; the
launch file runs against the stand-in `launch` / `launch_ros` modules of test_bringup where ROS 2
launch is not installed, and against the real one where it is.
"""

from __future__ import annotations

import ast
import importlib.util
import math
import signal
import sys
import types
from glob import glob
from pathlib import Path
from typing import Any

import pytest
import yaml

from robot_vision_nav.replay.bags import BagError
from robot_vision_nav.replay.launch_plan import (
    REPLAY_LAUNCH_ARGUMENTS,
    bag_play_command,
    bag_record_command,
    replay_input_topics,
    replay_launch_arguments,
    replay_output_topics,
    replay_plan,
)
from robot_vision_nav.replay.topics import INPUT_TYPES, OUTPUTS
from robot_vision_nav.ros.bringup import STACK, BringupError, stack_nodes
from robot_vision_nav.ros.launch_files import LAUNCH_ARGUMENTS, launch_node_kwargs, rviz_node_kwargs
from robot_vision_nav.ros.security import SECURITY_LAUNCH_ARGUMENTS
from test.ros2_launch_helpers import require_ros2_launch
from test.test_bringup import Recorded, load_launch_file, stand_in_launch

REPO = Path(__file__).resolve().parents[1]
LAUNCH_FILE = "replay.launch.py"
INPUTS = [
    "/camera/color/image_raw",
    "/camera/aligned_depth_to_color/image_raw",
    "/camera/color/camera_info",
    "/odom",
    "/goal_pose",
]
RECORDED = [
    "/segmentation/traversable",
    "/local_costmap/costmap",
    "/plan",
    "/cmd_vel",
    "/planner_status",
    "/controller_status",
]


@pytest.fixture
def bag(tmp_path: Path) -> Path:
    path = tmp_path / "run1"
    path.mkdir()  # replay_plan only checks that it is there; ros2 bag play reads it
    return path


def topics_map(tmp_path: Path, data: Any, name: str = "map.yaml") -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return str(path)


# ------------------------------------------------------------------ ros2 bag play
def test_play_command_publishes_the_bags_clock_and_leaves_defaults_out() -> None:
    assert bag_play_command("run1") == ["ros2", "bag", "play", "run1", "--clock"]
    assert bag_play_command(Path("/bags/run1"), rate=1.0, delay_s=0.0) == [
        "ros2",
        "bag",
        "play",
        "/bags/run1",
        "--clock",
    ]


def test_play_command_with_rate_delay_topics_and_one_remap_flag_for_every_rule() -> None:
    cmd = bag_play_command(
        "run1",
        rate=0.5,
        remaps=[("/cam/rgb", "/camera/color/image_raw"), ("/wheel/odom", "/odom")],
        topics=["/cam/rgb", "/wheel/odom"],
        delay_s=2,
    )
    # ros2 bag play's --remap takes nargs='+' and keeps only the last flag: every rule after one.
    assert cmd == [
        "ros2",
        "bag",
        "play",
        "run1",
        "--clock",
        "--rate",
        "0.5",
        "--delay",
        "2",
        "--topics",
        "/cam/rgb",
        "/wheel/odom",
        "--remap",
        "/cam/rgb:=/camera/color/image_raw",
        "/wheel/odom:=/odom",
    ]
    assert bag_play_command("b", rate=2.0)[-2:] == ["--rate", "2"]


@pytest.mark.parametrize("rate", [0.0, -1.0, math.nan, math.inf])
def test_play_command_refuses_a_rate_that_is_not_positive(rate: float) -> None:
    with pytest.raises(BringupError, match=r"rate .* must be > 0"):
        bag_play_command("run1", rate=rate)


@pytest.mark.parametrize("delay", [-0.5, math.nan])
def test_play_command_refuses_a_negative_delay(delay: float) -> None:
    with pytest.raises(BringupError, match=r"delay .* must be >= 0"):
        bag_play_command("run1", delay_s=delay)


# ------------------------------------------------------------------ ros2 bag record
def test_record_command_writes_the_outputs_into_a_new_mcap_bag(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert bag_record_command(out, ["/plan", "/cmd_vel"]) == [
        "ros2",
        "bag",
        "record",
        "-s",
        "mcap",
        "--use-sim-time",
        "-o",
        str(out),
        "/plan",
        "/cmd_vel",
    ]


def test_record_command_refuses_an_existing_out_bag(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    with pytest.raises(BringupError, match=r"out_bag .*out already exists"):
        bag_record_command(tmp_path / "out", RECORDED)
    with pytest.raises(BringupError, match="at least one topic"):
        bag_record_command(tmp_path / "new", [])


def test_recorded_topics_are_the_replay_outputs_moved_into_the_namespace() -> None:
    assert replay_output_topics() == list(OUTPUTS) == RECORDED
    assert replay_output_topics("/robot1/") == [f"/robot1{t}" for t in RECORDED]


# ------------------------------------------------------------------ topics map
def test_inputs_play_under_their_own_names_without_a_map() -> None:
    assert list(INPUT_TYPES) == [t.lstrip("/") for t in INPUTS]
    assert replay_input_topics({}) == [(t, t) for t in INPUTS]
    assert replay_input_topics({}, namespace="robot1") == [(t, f"/robot1{t}") for t in INPUTS]


def test_topics_map_becomes_remaps_of_ros2_bag_play(tmp_path: Path, bag: Path) -> None:
    mapping = {
        "camera/color/image_raw": "/camera/camera/color/image_raw",
        "/camera/aligned_depth_to_color/image_raw": "camera/camera/aligned_depth_to_color/image_raw",
        "odom": "/wheel/odom",
    }
    values = {"player": "ros2bag", "bag": str(bag), "topics_map": topics_map(tmp_path, mapping)}
    plan = replay_plan(values | {"rate": "0.25", "delay": "0"})
    played = [
        "/camera/camera/color/image_raw",
        "/camera/camera/aligned_depth_to_color/image_raw",
        "/camera/color/camera_info",
        "/wheel/odom",
        "/goal_pose",
    ]
    assert plan.play == [
        "ros2",
        "bag",
        "play",
        str(bag),
        "--clock",
        "--rate",
        "0.25",
        "--topics",
        *played,
        "--remap",
        "/camera/camera/color/image_raw:=/camera/color/image_raw",
        "/camera/camera/aligned_depth_to_color/image_raw:=/camera/aligned_depth_to_color/image_raw",
        "/wheel/odom:=/odom",
    ]
    assert plan.record is None


def test_topics_map_and_namespace_remap_every_input_into_the_namespace(tmp_path: Path, bag: Path) -> None:
    mapping = {"odom": "/wheel/odom"}
    values = {"player": "ros2bag", "bag": str(bag), "topics_map": topics_map(tmp_path, mapping), "namespace": "robot1"}
    values["delay"] = "0"
    plan = replay_plan(values | {"out_bag": str(tmp_path / "out")})
    remaps = plan.play[plan.play.index("--remap") + 1 :]
    assert remaps == [f"{'/wheel/odom' if t == '/odom' else t}:=/robot1{t}" for t in INPUTS]
    assert plan.record == ["ros2", "bag", "record", "-s", "mcap", "--use-sim-time", "-o", str(tmp_path / "out")] + [
        f"/robot1{t}" for t in RECORDED
    ]
    assert all(spec.namespace == "robot1" for spec in stack_nodes(plan.options))


@pytest.mark.parametrize(
    ("stack_input", "topic"),
    [
        ("camera/color/image_raw", "/camera/color/image_raw/compressed"),
        ("camera/aligned_depth_to_color/image_raw", "/camera/aligned_depth_to_color/image_raw/compressedDepth"),
    ],
)
def test_topics_map_naming_a_compressed_topic_is_refused(
    tmp_path: Path, bag: Path, stack_input: str, topic: str
) -> None:
    path = topics_map(tmp_path, {stack_input: topic})
    with pytest.raises(BringupError) as caught:
        replay_plan({"player": "ros2bag", "bag": str(bag), "topics_map": path})
    message = str(caught.value)
    assert path in message and f"{stack_input} -> {topic}" in message
    assert "image_transport republish" in message and "rvn replay" in message


def test_a_bag_topic_feeding_two_inputs_is_refused(tmp_path: Path, bag: Path) -> None:
    path = topics_map(tmp_path, {"odom": "/state", "goal_pose": "/state"})
    with pytest.raises(BringupError, match="bag topic /state feeds more than one input"):
        replay_plan({"player": "ros2bag", "bag": str(bag), "topics_map": path})


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (None, "no such file"),
        (["odom", "/wheel/odom"], "expected a mapping of stack input to bag topic"),
        ({"cmd_vel": "/x"}, "'cmd_vel' is not an input of the stack"),
    ],
)
def test_a_bad_topics_map_is_refused_with_the_readers_message(
    tmp_path: Path, bag: Path, data: Any, problem: str
) -> None:
    path = str(tmp_path / "missing.yaml") if data is None else topics_map(tmp_path, data)
    with pytest.raises(BringupError, match=f"launch argument topics_map: topic map {path}: {problem}") as caught:
        replay_plan({"player": "ros2bag", "bag": str(bag), "topics_map": path})
    assert isinstance(caught.value.__cause__, BagError)


# ------------------------------------------------------------------ the launch arguments
def test_replay_arguments_are_described_and_reuse_the_stacks(tmp_path: Path) -> None:
    arguments = replay_launch_arguments(tmp_path)
    names = [name for name, _, _ in arguments]
    assert names[: len(REPLAY_LAUNCH_ARGUMENTS)] == ["bag", "out_bag", "rate", "player", "delay", "topics_map"]
    assert names[len(REPLAY_LAUNCH_ARGUMENTS) :] == ["params_file", "namespace", "device", "model", "log_level", "rviz"]
    assert len(set(names)) == len(names) and "use_sim_time" not in names
    assert all(description.strip() for _, _, description in arguments)
    stack = {name: (default, description) for name, default, description in LAUNCH_ARGUMENTS}
    for name, _default, description in arguments[len(REPLAY_LAUNCH_ARGUMENTS) :]:
        assert description == stack[name][1]
    assert dict((n, d) for n, d, _ in arguments)["params_file"] == str(tmp_path / "config" / "robot_vision_nav.yaml")
    defaults = {name: default for name, default, _ in arguments}
    assert (defaults["out_bag"], defaults["rate"], defaults["topics_map"]) == ("", "1.0", "")


def test_replay_plan_runs_the_stack_on_sim_time_with_the_given_options(bag: Path) -> None:
    values = {"player": "ros2bag", "bag": str(bag), "device": "cpu", "log_level": "warn"}
    values["color_topic"] = "/from/an/including/file"
    plan = replay_plan(values)
    assert plan.options.use_sim_time and plan.options.device == "cpu" and plan.options.log_level == "warn"
    assert plan.options.color_topic == ""  # replay renames the bag's topics, not the stack's
    specs = stack_nodes(plan.options)
    assert [s.name for s in specs] == list(STACK)
    assert all(s.parameters["use_sim_time"] is True for s in specs)
    # No topic remapped but the controller's command, which goes to the safety layer.
    assert {s.name: s.remappings for s in specs if s.remappings} == {"controller_node": (("cmd_vel", "cmd_vel_nav"),)}
    assert plan.play == ["ros2", "bag", "play", str(bag), "--clock", "--delay", "5", "--topics", *INPUTS]


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"bag": ""}, "launch argument bag is required"),
        ({"bag": "  "}, "launch argument bag is required"),
        ({"bag": "/no/such/bag"}, "bag:=/no/such/bag: no such bag folder or file"),
        ({"rate": "fast"}, "launch argument rate:='fast' is not a number"),
        ({"rate": "0"}, "rate 0.0 must be > 0"),
        ({"delay": "-1"}, "delay -1.0 must be >= 0"),
        ({"log_level": "loud"}, "log_level 'loud' is not one of"),
    ],
)
def test_replay_plan_refuses_bad_arguments_naming_them(bag: Path, values: dict[str, str], problem: str) -> None:
    with pytest.raises(BringupError, match=problem.replace("(", r"\(")):
        replay_plan({"player": "ros2bag", "bag": str(bag)} | values)


def test_replay_plan_refuses_an_existing_out_bag_before_anything_starts(tmp_path: Path, bag: Path) -> None:
    with pytest.raises(BringupError, match="already exists"):
        replay_plan({"player": "ros2bag", "bag": str(bag), "out_bag": str(bag)})


# ------------------------------------------------------------------ the launch file
def stand_in_replay_launch(monkeypatch: pytest.MonkeyPatch) -> dict[str, type]:
    """test_bringup's stand-ins, plus the process and event actions replay.launch.py uses."""
    kinds = stand_in_launch(monkeypatch)
    names = ("ExecuteProcess", "RegisterEventHandler", "Shutdown", "EmitEvent")
    extra = {name: type(name, (Recorded,), {}) for name in names}
    for name, kind in extra.items():
        monkeypatch.setattr(sys.modules["launch.actions"], name, kind, raising=False)
    extra |= {name: type(name, (Recorded,), {}) for name in ("OnProcessExit", "SignalProcess", "ExecutableInPackage")}
    modules = {
        "launch.event_handlers": {"OnProcessExit": extra["OnProcessExit"]},
        "launch.events": {"matches_action": lambda action: ("matches", action)},
        "launch.events.process": {"SignalProcess": extra["SignalProcess"]},
        "launch_ros.substitutions": {"ExecutableInPackage": extra["ExecutableInPackage"]},
    }
    for name, attributes in modules.items():
        module = types.ModuleType(name)
        module.__dict__.update(attributes)
        monkeypatch.setitem(sys.modules, name, module)
    return kinds | extra


def test_launch_file_is_thin_and_builds_its_nodes_from_stack_nodes() -> None:
    text = (REPO / "launch" / LAUNCH_FILE).read_text()
    for call in ("stack_nodes(", "replay_plan(", "launch_node_kwargs(", "replay_launch_arguments("):
        assert call in text, f"{LAUNCH_FILE} does not call {call}"
    assert "def generate_launch_description()" in text
    assert "compressed" in (ast.get_docstring(ast.parse(text)) or "")
    assert len(text.splitlines()) < 110, f"{LAUNCH_FILE} should stay thin: the logic belongs in replay/launch_plan.py"


@pytest.mark.parametrize(("record", "rviz"), [(True, False), (False, True)])
def test_launch_file_declares_every_argument_and_starts_stack_play_record_and_shutdown(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, bag: Path, record: bool, rviz: bool
) -> None:
    kinds = stand_in_replay_launch(monkeypatch)
    description = load_launch_file(LAUNCH_FILE).generate_launch_description()
    assert isinstance(description, kinds["LaunchDescription"])
    (entities,) = description.args
    declared = [e for e in entities if isinstance(e, kinds["Declare"])]
    expected = [*replay_launch_arguments(REPO), *SECURITY_LAUNCH_ARGUMENTS]
    assert [(d.args[0], d.kwargs.get("default_value"), d.kwargs["description"]) for d in declared] == [
        (name, None if name == "bag" else default, description) for name, default, description in expected
    ]
    assert all(d.kwargs["description"].strip() for d in declared)

    (opaque,) = [e for e in entities if isinstance(e, kinds["Opaque"])]
    values = {d.args[0]: d.kwargs.get("default_value", "") for d in declared}
    values |= {"bag": str(bag), "device": "cpu", "rviz": str(rviz).lower(), "player": "ros2bag"}
    if record:
        values["out_bag"] = str(tmp_path / "out")
    actions = opaque.kwargs["function"](types.SimpleNamespace(launch_configurations=values))
    plan = replay_plan(values)

    nodes = [a for a in actions if isinstance(a, kinds["Node"])]
    specs = stack_nodes(plan.options)
    assert [n.kwargs["name"] for n in nodes] == list(STACK) + (["rviz2"] if rviz else [])
    for node, spec in zip(nodes, specs, strict=False):
        kwargs = dict(node.kwargs)
        kwargs["parameters"] = [
            p if isinstance(p, str) else {k: v.args[0] if isinstance(v, Recorded) else v for k, v in p.items()}
            for p in kwargs["parameters"]
        ]
        assert kwargs == launch_node_kwargs(spec)
        assert kwargs["parameters"][-1]["use_sim_time"] is True
    if rviz:
        assert nodes[-1].kwargs == rviz_node_kwargs(REPO / "config" / "robot_vision_nav.rviz", use_sim_time=True)

    processes = [a for a in actions if isinstance(a, kinds["ExecuteProcess"])]
    assert [p.kwargs["name"] for p in processes] == (["bag_record"] if record else []) + ["bag_play"]
    play = processes[-1]
    assert play.kwargs["cmd"] == plan.play and play.kwargs["cmd"][:5] == ["ros2", "bag", "play", str(bag), "--clock"]
    handlers = [a.args[0] for a in actions if isinstance(a, kinds["RegisterEventHandler"])]
    assert all(isinstance(h, kinds["OnProcessExit"]) for h in handlers)
    if record:
        recorder = processes[0]
        assert recorder.kwargs["cmd"] == plan.record
        assert recorder.kwargs["cmd"][-len(RECORDED) :] == RECORDED
        # The bag played: SIGINT to the recorder (it closes its bag); the recorder gone: shut down.
        played, recorded = handlers
        assert played.kwargs["target_action"] is play and recorded.kwargs["target_action"] is recorder
        (stop,) = played.kwargs["on_exit"]
        assert isinstance(stop, kinds["EmitEvent"])
        signal_event = stop.kwargs["event"]
        assert signal_event.kwargs["signal_number"] == signal.SIGINT
        assert signal_event.kwargs["process_matcher"] == ("matches", recorder)
        (shutdown,) = recorded.kwargs["on_exit"]
    else:
        (handler,) = handlers
        assert handler.kwargs["target_action"] is play
        (shutdown,) = handler.kwargs["on_exit"]
    assert isinstance(shutdown, kinds["Shutdown"])


def test_launch_file_refuses_a_compressed_input_before_starting_anything(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, bag: Path
) -> None:
    stand_in_replay_launch(monkeypatch)
    description = load_launch_file(LAUNCH_FILE).generate_launch_description()
    (opaque,) = [e for e in description.args[0] if "function" in getattr(e, "kwargs", {})]
    path = topics_map(tmp_path, {"camera/color/image_raw": "/cam/image_raw/compressed"})
    values = {"player": "ros2bag", "bag": str(bag), "topics_map": path}
    with pytest.raises(BringupError, match="/cam/image_raw/compressed is a compressed image topic"):
        opaque.kwargs["function"](types.SimpleNamespace(launch_configurations=values))


def test_launch_file_with_real_launch_ros(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, bag: Path) -> None:
    require_ros2_launch()  # skips, saying why, where it is not installed; fails where it must be
    from launch import LaunchContext
    from launch.actions import DeclareLaunchArgument, ExecuteProcess, OpaqueFunction, RegisterEventHandler
    from launch_ros.actions import Node

    # Not colcon-installed here: package_files finds the checkout's config/ (an install's in CI's colcon tests).
    description = load_launch_file(LAUNCH_FILE).generate_launch_description()
    declared = [e for e in description.entities if isinstance(e, DeclareLaunchArgument)]
    assert [d.name for d in declared] == [n for n, _, _ in (*replay_launch_arguments(), *SECURITY_LAUNCH_ARGUMENTS)]
    assert all(d.description for d in declared)
    context = LaunchContext()
    context.launch_configurations["bag"] = str(bag)  # required: no default
    context.launch_configurations["out_bag"] = str(tmp_path / "out")
    for action in declared:
        action.visit(context)
    (opaque,) = [e for e in description.entities if isinstance(e, OpaqueFunction)]
    actions = opaque.execute(context) or []
    assert len([a for a in actions if isinstance(a, Node)]) == len(STACK)
    assert len([a for a in actions if isinstance(a, ExecuteProcess) and not isinstance(a, Node)]) == 2
    assert len([a for a in actions if isinstance(a, RegisterEventHandler)]) == 2  # play ends recording, that the launch


# ------------------------------------------------------------------ install
def test_setup_py_installs_every_launch_file(monkeypatch: pytest.MonkeyPatch) -> None:
    # setup.py runs setup() when imported: run its share_files() alone, from the checkout.
    tree = ast.parse((REPO / "setup.py").read_text())
    (function,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "share_files"]
    namespace: dict[str, Any] = {"glob": glob, "Path": Path, "PACKAGE": "robot_vision_nav"}
    exec(compile(ast.Module(body=[function], type_ignores=[]), "setup.py", "exec"), namespace)
    assert '*share_files("launch")' in (REPO / "setup.py").read_text()
    monkeypatch.chdir(REPO)
    installed = {path for _dest, paths in namespace["share_files"]("launch") for path in paths}
    launch_files = {str(p.relative_to(REPO)) for p in (REPO / "launch").glob("*.launch.py")}
    assert f"launch/{LAUNCH_FILE}" in launch_files
    assert launch_files <= installed
    assert dict(namespace["share_files"]("launch"))["share/robot_vision_nav/launch"]


def test_package_xml_names_the_bag_tools() -> None:
    import xml.etree.ElementTree as ET

    root = ET.parse(REPO / "package.xml").getroot()
    exec_depends = {(e.text or "").strip() for e in root.findall("exec_depend")}
    assert {"ros2bag", "rosbag2_storage_mcap", "launch", "launch_ros"} <= exec_depends


def test_rvn_player_plays_and_records_without_rosbag2_and_decodes_compressed_inputs(tmp_path: Path, bag: Path) -> None:
    path = topics_map(tmp_path, {"camera/color/image_raw": "/cam/image_raw/compressed"})
    values = {"player": "rvn", "bag": str(bag), "topics_map": path, "namespace": "robot1", "rate": "0.5"}
    plan = replay_plan(values | {"out_bag": str(tmp_path / "out"), "delay": "2"})
    assert plan.play[:6] == ["rvn", "bag", "play", str(bag), "--rate", "0.5"]
    assert plan.play[6:12] == ["--delay", "2", "--topics-map", path, "--namespace", "robot1"]
    # It waits for every node of the stack that takes an input, so none misses the first messages.
    assert plan.play[12:] == [
        "--subscribers", "camera/color/image_raw=1",
        "--subscribers", "camera/aligned_depth_to_color/image_raw=2",
        "--subscribers", "camera/color/camera_info=2",
        "--subscribers", "odom=3",
        "--subscribers", "goal_pose=1",
    ]  # fmt: skip
    assert plan.record == ["rvn", "bag", "record", str(tmp_path / "out"), *replay_output_topics("robot1")]
    with pytest.raises(BringupError, match="already exists"):
        replay_plan(values | {"out_bag": str(bag)})
    with pytest.raises(BringupError, match=r"launch argument player:='rosbag' is not one of auto, ros2bag, rvn"):
        replay_plan(values | {"player": "rosbag"})


def test_auto_player_is_rosbag2_where_it_is_installed(monkeypatch: pytest.MonkeyPatch, bag: Path) -> None:
    real = importlib.util.find_spec  # the module replay_plan asks, as launch_plan.importlib.util
    for installed, first in ((True, "ros2"), (False, "rvn")):
        monkeypatch.setattr(
            importlib.util,
            "find_spec",
            lambda name, *a, installed=installed: (
                (object() if installed else None) if name == "ros2bag" else real(name)
            ),
        )
        assert replay_plan({"bag": str(bag)}).play[0] == first


def test_ros1_bag_is_refused_by_ros2bag_with_a_pointer_to_rvn_and_played_by_rvn(tmp_path: Path) -> None:
    bag = tmp_path / "old.bag"
    bag.write_bytes(b"#ROSBAG V2.0\n")
    with pytest.raises(BringupError, match="rvn replay"):
        replay_plan({"player": "ros2bag", "bag": str(bag)})
    assert replay_plan({"player": "rvn", "bag": str(bag)}).play[:4] == ["rvn", "bag", "play", str(bag)]
