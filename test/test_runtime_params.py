"""Runtime tuning and bad configuration over real rclpy.

Runtime tuning: another node sets a parameter through the target node's `set_parameters` service
(rclpy's AsyncParameterClient, the path `ros2 param set` takes), and the node's next output follows
it; a refused value comes back over the service with successful=false and a reason naming the
parameter and what is allowed. Bad configuration: an unknown parameter name or an out-of-range
value in the params file, a missing model file and camera topics nobody publishes each give a
message naming them, and the robot does not move: no node is left running, or cmd_vel stays zero.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from geometry_msgs.msg import PoseStamped, Twist, TwistStamped
from nav_msgs.msg import Odometry
from rcl_interfaces.msg import SetParametersResult
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.parameter_client import AsyncParameterClient

from robot_vision_nav.core.costmap import CostmapConfig, RollingCostmap
from robot_vision_nav.core.geometry import Pose2D
from robot_vision_nav.nodes.planner_node import PlannerNode
from robot_vision_nav.ros.bringup import (
    STACK,
    STACK_PARAMS,
    BringupError,
    BringupOptions,
    NodeSpec,
    check_params_file,
    share_file,
    stack_nodes,
)
from robot_vision_nav.ros.image import image_to_numpy
from robot_vision_nav.ros.messages import occupancy_grid_to_numpy, stamp_to_ns
from robot_vision_nav.ros.params import ParameterError
from robot_vision_nav.ros.qos import COMMAND_QOS, SENSOR_QOS
from robot_vision_nav.ros.runner import InProcessStack, make_node, ros_environment, run_in_process
from test.segmentation_helpers import constant_model
from test.test_costmap_node import Harness as CostmapHarness
from test.test_costmap_node import K
from test.test_nav_nodes import Rig, controller_rig, drive, feed_world, goal, odometry, plan_points, straight_plan
from test.test_segmentation_node import FLOOR, INPUT, camera_image
from test.test_segmentation_node import Harness as SegmentationHarness
from test.test_sim_node import Rig as SimRig
from test.test_sim_node import small

pytestmark = pytest.mark.ros

REPO = Path(__file__).resolve().parents[1]
SEC = 1_000_000_000


class RemoteParameters:
    """`ros2 param set` from a driver node: the target's set_parameters service, answered over DDS."""

    def __init__(self, driver: Node, spin_until: Callable[[Callable[[], bool], float], bool], node: str) -> None:
        self._client = AsyncParameterClient(driver, node)
        self._spin_until = spin_until
        self._node = node
        assert spin_until(self._client.services_are_ready, 10.0), f"/{node}'s parameter services never appeared"

    def set(self, name: str, value: Any, type_: Parameter.Type | None = None) -> SetParametersResult:
        param = Parameter(name, value=value) if type_ is None else Parameter(name, type_, value)
        future = self._client.set_parameters([param])
        assert self._spin_until(future.done, 10.0), f"/{self._node}/set_parameters did not answer"
        response = future.result()
        assert response is not None
        (result,) = response.results
        return result


def refused(result: SetParametersResult, *words: str) -> bool:
    return not result.successful and all(w in result.reason for w in words)


# ---------------------------------------------------------------------------------------- runtime tuning
def test_segmentation_threshold_and_classes_set_remotely_change_the_next_mask(ros_context: Any, tmp_path: Path) -> None:
    # The model calls every pixel floor (drivable) with soft-max ~0.94, whatever the image.
    h = SegmentationHarness(ros_context, constant_model(tmp_path / "floor.safetensors", "warehouse", FLOOR, INPUT))
    try:
        remote = RemoteParameters(h.driver, h.spin_until, "segmentation_node")
        rgb = camera_image()

        def mask_at(stamp_ns: int) -> np.ndarray:
            return image_to_numpy(h.segment(rgb, stamp_ns)[0])

        assert (mask_at(1 * SEC) == 255).all()
        result = remote.set("confidence_threshold", 1.5)
        assert refused(result, "confidence_threshold", "1.5", "Max: 1.0"), result.reason
        result = remote.set("drivable_classes", ["floor", "grass"])
        assert refused(result, "'drivable_classes'", "'grass'", "its classes are floor, marking"), result.reason
        assert (mask_at(2 * SEC) == 255).all()  # refused: nothing changed
        assert remote.set("confidence_threshold", 0.95).successful
        assert (mask_at(3 * SEC) == 0).all()
        assert remote.set("confidence_threshold", 0.5).successful
        assert (mask_at(4 * SEC) == 255).all()
        assert remote.set("drivable_classes", ["marking", "wall"]).successful
        assert (mask_at(5 * SEC) == 0).all()
        # `ros2 param set segmentation_node drivable_classes "[]"` sends a typed empty string array.
        assert remote.set("drivable_classes", [], Parameter.Type.STRING_ARRAY).successful
        assert (mask_at(6 * SEC) == 255).all()
    finally:
        h.close()


def test_costmap_inflation_radius_set_remotely_changes_the_next_costmap(ros_context: Any) -> None:
    h = CostmapHarness(ros_context, [Parameter("publish_rate_hz", value=0.0), Parameter("warn_throttle_s", value=0.0)])
    try:
        remote = RemoteParameters(h.driver, h.spin_until, "costmap_node")
        before = occupancy_grid_to_numpy(h.grid_at(h.publish_until_grid(5 * SEC)))
        result = remote.set("inflation_radius_m", 0.1)
        assert refused(result, "'inflation_radius_m' = 0.1", "robot_radius_m"), result.reason
        result = remote.set("inflation_radius_m", 25.0)
        assert refused(result, "inflation_radius_m", "25.0", "Max: 20.0"), result.reason
        assert remote.set("inflation_radius_m", 1.0).successful
        stamp = h.publish_until_grid(6 * SEC)
        after = occupancy_grid_to_numpy(h.grid_at(stamp))
        inflated = (after > 0) & (after < 99)
        assert inflated.sum() > ((before > 0) & (before < 99)).sum()
        np.testing.assert_array_equal(after >= 99, before >= 99)  # the obstacles themselves are unchanged
        # The same frame through the core with the new radius gives this map, cell for cell.
        expected = RollingCostmap(CostmapConfig(inflation_radius_m=1.0))
        expected.update(h.depth_mm, K, Pose2D(0.0, 0.0, 0.0, stamp), stamp, h.mask)
        np.testing.assert_array_equal(after, expected.occupancy)
    finally:
        h.close()


def unknown_wall() -> np.ndarray:
    """Free space with a wall of never-seen (-1) cells across x = 1.5 m; only a gap at y in [1.0, 1.6] is known free."""
    values = np.zeros((200, 200), np.int8)
    values[:, 128:133] = -1
    values[120:132, 128:133] = 0
    return values


def test_planner_allow_unknown_set_remotely_changes_the_next_plan(ros_context: Any) -> None:
    rig = Rig(ros_context, [PlannerNode(context=ros_context)])
    try:
        remote = RemoteParameters(rig.driver, rig.spin_until, "planner_node")
        stamp = SEC
        for _ in range(50):
            rig.pub_goal.publish(goal(3.0, 0.0))
            feed_world(rig, stamp, values=unknown_wall())
            stamp += SEC // 20
            if rig.spin_until(lambda: any(p.poses for p in rig.plans), 0.2):
                break
        assert np.abs(plan_points(rig.plans[-1])[:, 1]).max() < 0.2  # straight on, through the unknown
        result = remote.set("cost_weight", -1.0)
        assert refused(result, "cost_weight", "-1.0", "Min: 0.0"), result.reason
        rig.spin_until(lambda: False, 0.3)  # every plan made so far has arrived
        count = len(rig.plans)
        assert remote.set("allow_unknown", False).successful
        for _ in range(20):
            feed_world(rig, stamp, values=unknown_wall())
            stamp += SEC // 20
            if rig.spin_until(lambda: len(rig.plans) > count, 0.2):
                break
        pts = plan_points(rig.plans[count])  # the first plan after the update
        assert pts.size and pts[:, 1].max() > 1.0  # round through the known gap
    finally:
        rig.close()


def test_controller_speed_limit_and_enabled_set_remotely_apply_on_the_next_command(ros_context: Any) -> None:
    rig = controller_rig(
        ros_context,
        # No input goes stale while the service calls are answered: the next command is not a restart.
        Parameter("odom_timeout_s", value=5.0),
        Parameter("costmap_timeout_s", value=5.0),
        Parameter("plan_timeout_s", value=10.0),
    )
    rig.listen_cmd_vel()  # TwistStamped by default: commands carry the odometry stamp they answer

    def speeds(from_ns: int, to_ns: int) -> list[float]:
        return [m.twist.linear.x for _, m in rig.stamped if from_ns <= stamp_to_ns(m.header.stamp) < to_ns]

    try:
        remote = RemoteParameters(rig.driver, rig.spin_until, "controller_node")
        for _ in range(20):
            rig.pub_plan.publish(straight_plan(SEC))
            drive(rig, 3)
            if any(m.twist.linear.x > 0.0 for _, m in rig.stamped):
                break
        drive(rig, 10, start_ns=2 * SEC)
        assert speeds(2 * SEC, 3 * SEC)[-1] == pytest.approx(0.5)  # cruising at desired_linear_vel_mps
        result = remote.set("desired_linear_vel_mps", 9.0)
        assert refused(result, "desired_linear_vel_mps", "9.0", "Max: 5.0"), result.reason
        result = remote.set("desired_linear_vel_mps", 0.2)
        assert refused(result, "'desired_linear_vel_mps' = 0.2", "'regulated_min_linear_vel_mps' = 0.25")
        assert remote.set("desired_linear_vel_mps", 0.3).successful
        drive(rig, 5, start_ns=4 * SEC)
        after = speeds(4 * SEC, 5 * SEC)
        # The very next command obeys the new limit (limits win over the deceleration limit).
        assert after and after[0] == pytest.approx(0.3) and max(after) <= 0.3 + 1e-9
        assert remote.set("enabled", False).successful
        assert rig.spin_until(lambda: rig.stamped[-1][1].twist.linear.x == 0.0, 2.0)
        count = len(rig.stamped)
        drive(rig, 5, start_ns=6 * SEC)
        assert all(m.twist.linear.x == 0.0 and m.twist.angular.z == 0.0 for _, m in rig.stamped[count - 1 :])
    finally:
        rig.close()


def test_sim_depth_encoding_set_remotely_applies_to_the_next_frame(ros_context: Any) -> None:
    # Lock-step: the simulator holds after each camera frame (no cmd_vel is sent here), so which
    # frame came after the update is certain.
    rig = SimRig(ros_context, small("lock_step", lock_step_timeout_s=30.0))
    try:
        remote = RemoteParameters(rig.driver, rig.spin_until, "sim_node")
        assert rig.spin_until(lambda: len(rig.msgs["depth"]) >= 1)
        result = remote.set("depth_encoding", "mono8")
        assert refused(result, "'depth_encoding' = 'mono8'", "16UC1, 32FC1"), result.reason
        result = remote.set("width_px", 8)
        assert refused(result, "width_px", "8", "Min: 16"), result.reason
        rig.spin_until(lambda: False, 0.2)
        assert [m.encoding for m in rig.msgs["depth"]] == ["16UC1"]  # still held: refusals changed nothing
        assert remote.set("depth_encoding", "32FC1").successful
        assert rig.spin_until(lambda: len(rig.msgs["depth"]) >= 2)
        rig.spin_until(lambda: False, 0.2)
        assert [m.encoding for m in rig.msgs["depth"]] == ["16UC1", "32FC1"]
        assert image_to_numpy(rig.msgs["depth"][-1]).dtype == np.float32
    finally:
        rig.close()


# ---------------------------------------------------------------------------------------- bad configuration
STACK_YAML = share_file("config", STACK_PARAMS)


def stack_yaml_with(tmp_path: Path, node: str, name: str, value: Any) -> Path:
    """The shipped params file with one entry of one node's section set (added when `name` is not there)."""
    data = yaml.safe_load(STACK_YAML.read_text())
    data[node]["ros__parameters"][name] = value
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def spec_of(node: str, params_file: Path, **parameters: Any) -> NodeSpec:
    return NodeSpec(node, node, "", (str(params_file),), parameters, (), "info")


def controller_main(params_file: Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "robot_vision_nav.nodes.controller_node", "--ros-args", "--params-file"]
    return subprocess.run(
        [*cmd, str(params_file)], capture_output=True, text=True, timeout=60, env=ros_environment(), cwd=REPO
    )


def nothing_left_running(context: Any) -> None:
    """No node of the stack is in the graph and nobody publishes cmd_vel: the robot cannot move."""
    watcher = Node("watcher", context=context)
    try:
        names = set(watcher.get_node_names())
        assert not names & set(STACK), names
        assert watcher.count_publishers("/cmd_vel") == 0
    finally:
        watcher.destroy_node()


@pytest.fixture
def misspelt_params(tmp_path: Path) -> Path:
    return stack_yaml_with(tmp_path, "controller_node", "desired_linear_vel", 0.3)  # no _mps: a typo


def test_unknown_parameter_in_the_params_file_is_refused_by_bringup_naming_it(misspelt_params: Path) -> None:
    with pytest.raises(BringupError, match="unknown parameter 'desired_linear_vel' for controller_node"):
        check_params_file(misspelt_params)
    with pytest.raises(BringupError, match="'desired_linear_vel'"):
        stack_nodes(BringupOptions(params_file=str(misspelt_params)))


def test_unknown_parameter_in_the_params_file_stops_the_node_and_the_in_process_stack(
    ros_context: Any, misspelt_params: Path
) -> None:
    with pytest.raises(ParameterError, match="unknown parameter 'desired_linear_vel' for node '/controller_node'"):
        make_node(spec_of("controller_node", misspelt_params), ros_context)
    # The file reaches the nodes when bringup's check is bypassed (a hand-written launch file): the
    # other three are made first, the controller refuses, and they are all taken down again.
    specs = [dataclasses.replace(s, params_files=(str(misspelt_params),)) for s in stack_nodes(BringupOptions())]
    with pytest.raises(ParameterError, match="'desired_linear_vel'"):
        InProcessStack(specs, ros_context, "single")
    nothing_left_running(ros_context)


def test_unknown_parameter_in_the_params_file_ends_the_node_process_with_one_line(misspelt_params: Path) -> None:
    result = controller_main(misspelt_params)
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert result.returncode == 1, lines
    assert len(lines) == 1 and "refusing to start" in lines[0] and "'desired_linear_vel'" in lines[0], lines


def test_out_of_range_value_in_the_params_file_stops_start_up_naming_parameter_value_and_range(
    ros_context: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = stack_yaml_with(tmp_path, "controller_node", "desired_linear_vel_mps", 9.0)
    words = ("'desired_linear_vel_mps'", "9.0", "[0.01, 5] m/s")
    with pytest.raises(ParameterError) as err:
        make_node(spec_of("controller_node", bad), ros_context)
    assert all(w in str(err.value) for w in words), err.value
    specs = stack_nodes(BringupOptions(params_file=str(bad)))  # names are fine; the value is the node's to refuse
    with pytest.raises(ParameterError, match="'desired_linear_vel_mps'"):
        InProcessStack(specs, ros_context, "single")
    nothing_left_running(ros_context)
    # `rvn run` (in process): one line and exit code 1.
    assert run_in_process(specs, "single") == 1
    err_lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err_lines) == 1 and "refusing to start" in err_lines[0], err_lines
    assert all(w in err_lines[0] for w in words), err_lines
    # One process per node (ros2 launch, rvn run --processes): the controller exits 1 with one line.
    result = controller_main(bad)
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert result.returncode == 1 and len(lines) == 1 and all(w in lines[0] for w in words), lines


def test_missing_model_file_stops_start_up_naming_the_path(ros_context: Any) -> None:
    missing = "/nonexistent/segnet.safetensors"
    with pytest.raises(BringupError, match=f"model {missing} does not exist"):
        stack_nodes(BringupOptions(model=missing))
    spec = spec_of("segmentation_node", STACK_YAML, model_path=missing)
    with pytest.raises(ParameterError, match=f"'model_path'.*'{missing}' does not exist"):
        make_node(spec, ros_context)
    specs = [spec if s.name == "segmentation_node" else s for s in stack_nodes(BringupOptions())]
    with pytest.raises(ParameterError, match=missing):
        InProcessStack(specs, ros_context, "single")
    nothing_left_running(ros_context)


def test_camera_topics_nobody_publishes_are_named_in_diagnostics_and_the_robot_does_not_move(
    ros_context: Any,
) -> None:
    specs = stack_nodes(
        BringupOptions(
            color_topic="/nobody/image",
            depth_topic="/nobody/depth",
            camera_info_topic="/nobody/info",
            extra_parameters={
                "segmentation_node": {"input_timeout_s": 0.5},
                "costmap_node": {"input_timeout_s": 0.5},
            },
        )
    )
    stack = InProcessStack(specs, ros_context, "single")
    driver = Node("driver", context=ros_context)
    stack.executor.add_node(driver)
    diagnostics: list[DiagnosticArray] = []
    twists: list[Twist] = []  # the twist of each TwistStamped on /cmd_vel
    driver.create_subscription(DiagnosticArray, "/diagnostics", diagnostics.append, 50)
    driver.create_subscription(TwistStamped, "/cmd_vel", lambda m: twists.append(m.twist), COMMAND_QOS)
    pub_odom = driver.create_publisher(Odometry, "/odom", SENSOR_QOS)
    pub_goal = driver.create_publisher(PoseStamped, "/goal_pose", 10)

    def warns(node: str, *topics: str) -> bool:
        return any(
            s.level == DiagnosticStatus.WARN and s.name.startswith(node) and all(t in s.message for t in topics)
            for d in diagnostics
            for s in d.status
        )

    def named() -> bool:
        return warns("segmentation_node", "/nobody/image") and warns("costmap_node", "/nobody/depth", "/nobody/info")

    try:
        deadline = time.monotonic() + 8.0
        ticks = 0
        while time.monotonic() < deadline and not named():
            pub_odom.publish(odometry(Pose2D(0.0, 0.0, 0.0), driver.get_clock().now().nanoseconds))
            if ticks % 10 == 0:
                pub_goal.publish(goal(3.0, 0.0))
            ticks += 1
            end = time.monotonic() + 0.05
            while time.monotonic() < end:
                stack.executor.spin_once(timeout_sec=0.01)
        messages = sorted({f"{s.name}: {s.message}" for d in diagnostics for s in d.status})
        assert named(), messages
        assert all(t.linear.x == 0.0 and t.angular.z == 0.0 for t in twists), twists
        # Stopping the stack: the controller's last word is a zero command, and it does reach us.
        count = len(twists)
        stack.close()
        executor = SingleThreadedExecutor(context=ros_context)
        executor.add_node(driver)
        end = time.monotonic() + 3.0
        while time.monotonic() < end and len(twists) == count:
            executor.spin_once(timeout_sec=0.02)
        assert len(twists) > count and all(t.linear.x == 0.0 and t.angular.z == 0.0 for t in twists), twists
        executor.shutdown()
    finally:
        stack.close()
        driver.destroy_node()


def test_in_process_stack_gives_back_the_logger_levels_it_set(ros_context: Any) -> None:
    # rcutils keys levels by logger name, process-wide: a quiet replay (log level error) once
    # silenced the warnings of every later costmap_node made in the same test process.
    import rclpy.logging

    specs = [s for s in stack_nodes(BringupOptions(log_level="error")) if s.name in ("costmap_node", "planner_node")]
    before = {s.logger_name: rclpy.logging.get_logger_level(s.logger_name) for s in specs}
    stack = InProcessStack(specs, ros_context, "single")
    try:
        assert all(rclpy.logging.get_logger_level(n) == rclpy.logging.LoggingSeverity.ERROR for n in before)
    finally:
        stack.close()
    assert {n: rclpy.logging.get_logger_level(n) for n in before} == before
