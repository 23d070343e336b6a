"""Parameters: the YAML is complete and agrees with the declared defaults; bad values stop start-up
with a message naming the parameter, the value and the range; a good start and Ctrl-C are clean."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from rcl_interfaces.msg import ParameterType
from rclpy.node import Node
from rclpy.parameter import Parameter

from robot_vision_nav.core.config import param as param_field
from robot_vision_nav.core.config import param_info
from robot_vision_nav.core.controller import ControllerConfig
from robot_vision_nav.core.costmap import CostmapConfig
from robot_vision_nav.core.planner import PlannerConfig
from robot_vision_nav.core.safety import SafetyConfig
from robot_vision_nav.nodes.controller_params import ControllerNodeConfig
from robot_vision_nav.nodes.costmap_params import CostmapNodeConfig
from robot_vision_nav.nodes.planner_node import PlannerNodeConfig
from robot_vision_nav.nodes.safety_params import SafetyNodeConfig
from robot_vision_nav.nodes.segmentation_params import SegmentationNodeConfig
from robot_vision_nav.ros.bringup import STACK_WIDE_PARAMETERS, file_parameters
from robot_vision_nav.ros.params import ConfigParameters, ParameterError, unknown_parameters
from test.segmentation_helpers import constant_model

REPO = Path(__file__).resolve().parents[1]
PARAMS = REPO / "config" / "robot_vision_nav.yaml"


NODE_CONFIGS = {
    "segmentation_node": (SegmentationNodeConfig,),
    "costmap_node": (CostmapNodeConfig, CostmapConfig),
    "planner_node": (PlannerNodeConfig, PlannerConfig),
    "controller_node": (ControllerNodeConfig, ControllerConfig),
    "safety_node": (SafetyNodeConfig, SafetyConfig),
}


@pytest.mark.parametrize("node", sorted(NODE_CONFIGS))
def test_yaml_lists_every_parameter_with_its_declared_default(node: str) -> None:
    declared: dict[str, object] = {}
    for cls in NODE_CONFIGS[node]:
        declared |= {f.name: f.default for f in dataclasses.fields(cls) if f.name in param_info(cls)}
    # The node's own section and the stack-wide `/**` one, whose parameters a node without them ignores.
    given = file_parameters(yaml.safe_load(PARAMS.read_text()), node)
    section = {k: v for k, v in given.items() if k in declared or k not in STACK_WIDE_PARAMETERS}
    assert set(section) == set(declared)
    for name, default in declared.items():
        value = section[name]
        assert (tuple(value) if isinstance(value, list) else value) == default, name
        # A YAML 1 for a double is a type error in ROS 2: doubles must be written as doubles.
        assert type(value) is (list if isinstance(default, tuple) else type(default)), name


def test_stack_wide_parameters_are_not_unknown_to_a_node_without_them() -> None:
    # The `/**` section reaches every node; one that does not use a stack-wide name leaves it alone,
    # while a misspelt name is still refused.
    given = ["use_stamped_cmd_vel", "base_frame", "use_stampd_cmd_vel", "resolution_m"]
    assert unknown_parameters(given, ["resolution_m"]) == ["use_stampd_cmd_vel"]


def test_yaml_comments_give_meaning_for_every_parameter() -> None:
    lines = PARAMS.read_text().splitlines()
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped and not stripped.startswith("#") and line.startswith("    ") and ":" in stripped:
            assert lines[i - 1].strip().startswith("#"), f"no comment above {stripped}"


def test_descriptors_carry_description_unit_and_range(ros_context: object) -> None:
    node = Node("describe_me", context=ros_context)
    try:
        ConfigParameters(node, [CostmapConfig])
        d = node.describe_parameter("resolution_m")
        assert "cell size" in d.description and "[m]" in d.description
        assert d.type == ParameterType.PARAMETER_DOUBLE
        assert d.floating_point_range[0].from_value == 0.005 and d.floating_point_range[0].to_value == 1.0
        assert node.describe_parameter("min_points_per_cell").integer_range[0].from_value == 1
    finally:
        node.destroy_node()


def test_wrong_typed_update_is_refused_naming_the_parameter_and_changes_nothing(ros_context: object) -> None:
    node = Node("typed", context=ros_context)
    try:
        params = ConfigParameters(node, [CostmapConfig])
        before = params.get(CostmapConfig)
        for wrong, words in [
            (Parameter("resolution_m", Parameter.Type.STRING, "fine"), ["'resolution_m'", "'fine'", "a double"]),
            (Parameter("resolution_m", Parameter.Type.INTEGER, 1), ["'resolution_m'", "write 1.0, not 1"]),
            (Parameter("min_points_per_cell", Parameter.Type.DOUBLE, 2.0), ["'min_points_per_cell'", "an integer"]),
            # An update without a value would undeclare a dynamically typed parameter.
            (Parameter("resolution_m", Parameter.Type.NOT_SET), ["'resolution_m'", "cannot be unset"]),
        ]:
            (result,) = node.set_parameters([wrong])
            assert not result.successful
            assert all(w in result.reason for w in words), result.reason
            assert node.has_parameter(wrong.name)
            assert node.describe_parameter("resolution_m").type == ParameterType.PARAMETER_DOUBLE
            assert node.describe_parameter("min_points_per_cell").type == ParameterType.PARAMETER_INTEGER
            assert params.get(CostmapConfig) == before
        assert node.get_parameter("resolution_m").value == before.resolution_m
        # The range is still rclpy's to refuse, and its reason names the parameter too.
        (result,) = node.set_parameters([Parameter("resolution_m", value=5.0)])
        assert not result.successful and "resolution_m" in result.reason
        # rclpy's range check refuses before ConfigParameters hears of it: the wrong type tried on the
        # other parameter is in its descriptor until the next update puts the declared one back.
        result = node.set_parameters_atomically(
            [Parameter("resolution_m", Parameter.Type.STRING, "fine"), Parameter("min_points_per_cell", value=-5)]
        )
        assert not result.successful and params.get(CostmapConfig) == before
        assert node.set_parameters([Parameter("resolution_m", value=0.1)])[0].successful
        assert params.get(CostmapConfig).resolution_m == 0.1
        assert node.describe_parameter("resolution_m").type == ParameterType.PARAMETER_DOUBLE
    finally:
        node.destroy_node()


def test_inconsistent_start_values_raise_parameter_error(ros_context: object) -> None:
    node = Node("bad", context=ros_context, parameter_overrides=[Parameter("inflation_radius_m", value=0.1)])
    try:
        with pytest.raises(ParameterError, match=r"'inflation_radius_m' = 0\.1"):
            ConfigParameters(node, [CostmapConfig])
    finally:
        node.destroy_node()


@dataclasses.dataclass(frozen=True)
class _Names:
    names: tuple[str, ...] = param_field((), "some class names")


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        (None, ()),
        (Parameter("names", value=["floor", "marking"]), ("floor", "marking")),
        # What a params file's `names: []` or `-p names:=[]` becomes: a value without a type.
        (Parameter("names", Parameter.Type.NOT_SET), ()),
    ],
)
def test_string_arrays_are_declared_typed_even_when_empty(
    ros_context: object, override: Parameter | None, expected: tuple[str, ...]
) -> None:
    node = Node("names", context=ros_context, parameter_overrides=[] if override is None else [override])
    try:
        params = ConfigParameters(node, [_Names])
        assert params.get(_Names).names == expected
        assert node.describe_parameter("names").type == ParameterType.PARAMETER_STRING_ARRAY
        assert node.get_parameter("names").type_ == Parameter.Type.STRING_ARRAY
        assert node.set_parameters([Parameter("names", value=["a"])])[0].successful
        assert params.get(_Names).names == ("a",)
        (refused,) = node.set_parameters([Parameter("names", value=[1.0])])
        assert not refused.successful
        assert node.set_parameters([Parameter("names", Parameter.Type.STRING_ARRAY, [])])[0].successful
        assert params.get(_Names).names == ()
    finally:
        node.destroy_node()


def test_a_check_hook_refuses_an_update_with_its_message(ros_context: object) -> None:
    def check(cls: type, config: _Names) -> None:
        if "grass" in config.names:
            raise ValueError("parameter 'names' = ['grass']: no class 'grass'")

    node = Node("checked", context=ros_context)
    try:
        params = ConfigParameters(node, [_Names], check=check)
        (result,) = node.set_parameters([Parameter("names", value=["grass"])])
        assert not result.successful and "no class 'grass'; update refused" in result.reason
        assert params.get(_Names).names == () and node.get_parameter("names").value == []
    finally:
        node.destroy_node()


def run_node(*ros_args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    cmd = [sys.executable, "-m", "robot_vision_nav.nodes.costmap_node", "--ros-args", *ros_args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO)


@pytest.mark.parametrize(
    ("override", "words"),
    [
        ("resolution_m:=-1.0", ["resolution_m", "-1.0", "Min: 0.005"]),
        ("publish_rate_hz:=5", ["publish_rate_hz", "must be a double"]),
        ("inflation_radius_m:=0.1", ["inflation_radius_m", "0.1", "robot_radius_m"]),
    ],
)
def test_bad_start_parameter_exits_with_one_clear_message(override: str, words: list[str]) -> None:
    result = run_node("--params-file", str(PARAMS), "-p", override)
    assert result.returncode == 1
    out = result.stdout + result.stderr
    assert "refusing to start" in out and all(w in out for w in words), out
    assert "Traceback" not in out


@pytest.mark.parametrize(
    ("module", "ready"),
    [
        ("costmap_node", "local costmap 10.0 x 10.0 m at 0.05 m"),
        ("planner_node", "planning in 'odom'"),
        ("controller_node", "controller enabled"),
        ("segmentation_node", "segmenting /camera/color/image_raw with segnet_tiny"),
    ],
)
def test_node_starts_from_the_yaml_and_stops_cleanly_on_ctrl_c(module: str, ready: str, tmp_path: Path) -> None:
    env = dict(os.environ, ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    cmd = [sys.executable, "-m", f"robot_vision_nav.nodes.{module}", "--ros-args", "--params-file", str(PARAMS)]
    if module == "segmentation_node":  # no trained model ships with the source: a tiny stand-in
        cmd += ["-p", f"model_path:={constant_model(tmp_path / 'm.safetensors', 'warehouse', 0, (48, 64))}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=REPO)
    try:
        deadline = time.monotonic() + 30.0
        assert proc.stdout is not None
        line = ""
        while time.monotonic() < deadline and ready not in line:
            line = proc.stdout.readline()
        assert ready in line
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10.0) == 0
        rest = proc.stdout.read()
        assert "Traceback" not in rest
    finally:
        if proc.poll() is None:
            proc.kill()
