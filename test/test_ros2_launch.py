"""The stack under ROS 2's own `ros2 launch`, from a colcon install space, as a ROS 2 user runs it.

Everything here runs the real launch system (`../shared/ros2-launch`, installed by `make test`
where that folder exists; where it exists and these tests cannot run, they fail). The package is
built with colcon into a temporary workspace and run from there with the source checkout off
every path; `ros2 launch` itself runs on an interpreter that cannot import torch, torchvision,
numba, cv2, mujoco or rosbags (the container's apt Python), while the node scripts use the venv.
"""

from __future__ import annotations

import concurrent.futures
import importlib.util
import json
import math
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from robot_vision_nav.replay.launch_plan import REPLAY_LAUNCH_ARGUMENTS
from robot_vision_nav.ros.bringup import NODE_KINDS
from robot_vision_nav.ros.launch_files import (
    LAUNCH_ARGUMENTS,
    PERCEPTION_LAUNCH_ARGUMENTS,
    SIM_LAUNCH_ARGUMENTS,
    SIM_LEAVES_OUT,
)
from robot_vision_nav.ros.security import SECURITY_LAUNCH_ARGUMENTS
from test.ros2_launch_helpers import (
    REPO,
    blocked_ros2,
    build_install_space,
    group_processes,
    launched,
    require_ros2_launch,
    sourced_env,
    wait_until,
)

pytestmark = pytest.mark.ros
WORLD_SEED = 3


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A colcon install space, its sourced environment and the torch-less `ros2` (built once per module)."""
    require_ros2_launch()
    root = tmp_path_factory.mktemp("deploy")
    install = build_install_space(root / "ws")
    env = sourced_env(install) | {"MUJOCO_GL": "egl"}
    return {
        "root": root,
        "install": install,
        "env": env,
        "ros2": blocked_ros2(root),
        "rvn": install / "robot_vision_nav" / "lib" / "robot_vision_nav" / "rvn",
    }


def in_deployment(
    deployment: dict[str, Any], command: list[str], timeout_s: float, check: bool = False
) -> subprocess.CompletedProcess[str]:
    """`command` run as a user of the install space would: its sourced environment, cwd outside the checkout."""
    return subprocess.run(
        command, cwd=deployment["root"], env=deployment["env"], capture_output=True, text=True, timeout=timeout_s,
        check=check,
    )  # fmt: skip


def ros2_lifecycle(deployment: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    """`ros2 lifecycle ARGS`, asked again while a fresh process has not yet discovered the node (bounded).

    `--no-daemon`: otherwise the first call leaves a ros2 daemon running after the tests.
    """
    runs: list[subprocess.CompletedProcess[str]] = []
    command = [str(deployment["ros2"]), "lifecycle", *args, "--no-daemon"]

    def answered() -> bool:
        runs.append(in_deployment(deployment, command, timeout_s=120))
        return runs[-1].returncode == 0

    wait_until(answered, 120, period_s=1.0)
    return runs[-1]


def test_the_install_space_runs_without_the_checkout(deployment: dict[str, Any]) -> None:
    result = in_deployment(deployment, [str(deployment["rvn"]), "doctor", "--json"], timeout_s=300)
    code = (
        "import robot_vision_nav, robot_vision_nav.package_files as f; print(robot_vision_nav.__file__, f.share_dir())"
    )
    where = in_deployment(
        deployment,
        [str(Path(deployment["rvn"]).read_text().splitlines()[0][2:]), "-c", code],
        timeout_s=120,
        check=True,
    ).stdout.split()
    install = str(deployment["install"])
    assert where[0].startswith(install) and where[1].startswith(install), where
    assert result.stdout, result.stderr


@pytest.mark.parametrize(
    ("name", "arguments"),
    [
        ("bringup.launch.py", LAUNCH_ARGUMENTS),
        ("sim.launch.py", (*(a for a in LAUNCH_ARGUMENTS if a[0] not in SIM_LEAVES_OUT), *SIM_LAUNCH_ARGUMENTS)),
        ("replay.launch.py", REPLAY_LAUNCH_ARGUMENTS),
        ("perception.launch.py", tuple(a for a in LAUNCH_ARGUMENTS if a[0] in PERCEPTION_LAUNCH_ARGUMENTS)),
    ],
)
def test_show_args_lists_every_argument_under_a_python_without_torch(
    deployment: dict[str, Any], name: str, arguments: tuple[tuple[str, str, str], ...]
) -> None:
    result = in_deployment(
        deployment, [str(deployment["ros2"]), "launch", "robot_vision_nav", name, "--show-args"], timeout_s=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for arg, _default, description in (*arguments, *SECURITY_LAUNCH_ARGUMENTS):
        assert f"'{arg}':" in result.stdout, f"{name} --show-args lacks {arg}"
        assert description.split(";")[0][:40] in result.stdout.replace("\n        ", " ")
    share = deployment["install"] / "robot_vision_nav" / "share" / "robot_vision_nav" / "config"
    if name != "replay.launch.py":
        assert str(share / "robot_vision_nav.yaml") in result.stdout  # the installed file, not the checkout's


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["world_seed:=three"], "launch argument world_seed:='three' is not an integer"),
        (["namespace:=robot-1"], "namespace 'robot-1' is not a valid ROS namespace"),
        (["rviz:=maybe"], "launch argument rviz:='maybe' is not true or false"),
    ],
)
def test_bad_launch_arguments_stop_the_launch_before_any_node_starts(
    deployment: dict[str, Any], args: list[str], problem: str
) -> None:
    result = in_deployment(
        deployment, [str(deployment["ros2"]), "launch", "robot_vision_nav", "sim.launch.py", *args], timeout_s=120
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert problem in output
    assert "process started" not in output


class CmdVelWatch:
    """Every geometry_msgs/TwistStamped (the stack's default) on a topic, received on a background executor."""

    def __init__(self, context: Any, topic: str = "/cmd_vel") -> None:
        from geometry_msgs.msg import TwistStamped
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.node import Node

        from robot_vision_nav.ros.qos import COMMAND_QOS

        self.messages: list[tuple[float, float]] = []
        self.node = Node("cmd_vel_watch", context=context)
        self.node.create_subscription(TwistStamped, topic, self._on, COMMAND_QOS)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self._stop = False
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _on(self, msg: Any) -> None:
        self.messages.append((msg.twist.linear.x, msg.twist.angular.z))

    def _spin(self) -> None:
        while not self._stop:
            self.executor.spin_once(timeout_sec=0.1)

    def moving(self) -> bool:
        return bool(self.messages) and any(abs(v) > 1e-3 for v in self.messages[-1])

    def close(self) -> None:
        self._stop = True
        self._thread.join(timeout=10)
        self.node.destroy_node()


@pytest.fixture
def cmd_vel(ros_context: Any) -> Iterator[CmdVelWatch]:
    watch = CmdVelWatch(ros_context)
    try:
        yield watch
    finally:
        watch.close()


def near_goal(min_path_m: float) -> tuple[float, float]:
    """The first waypoint of the simulator's route at least `min_path_m` along it (odom = world at start)."""
    from robot_vision_nav.sim.world import generate_world
    from robot_vision_nav.sim.world_types import WorldConfig

    world = generate_world(WORLD_SEED, WorldConfig(robot_radius_m=0.25))
    travelled = 0.0
    for (x0, y0), (x1, y1) in zip(world.route_xy, world.route_xy[1:], strict=False):
        travelled += math.hypot(x1 - x0, y1 - y0)
        if travelled >= min_path_m:
            return x1, y1
    return world.goal_xy


def test_sim_launch_from_the_install_space_reaches_a_goal_and_sigint_leaves_the_robot_stopped(
    deployment: dict[str, Any], cmd_vel: CmdVelWatch
) -> None:
    root, env = deployment["root"], deployment["env"]
    # With nav2_msgs (built from ../shared/ros2-src where it exists), navigator:=true starts the managed
    # navigate_to_pose server too.
    navigator = importlib.util.find_spec("nav2_msgs") is not None
    nodes = ("sim_node", "segmentation_node", "costmap_node", "planner_node", "controller_node", "safety_node")
    nodes += ("navigator_node",) if navigator else ()
    with launched(
        deployment["ros2"],
        ["robot_vision_nav", "sim.launch.py", f"world_seed:={WORLD_SEED}", f"navigator:={str(navigator).lower()}"],
        env,
        root,
        root / "sim_launch.log",
    ) as launch:
        # Every node up, under a launch process that cannot import torch (it would have died first).
        for name in nodes:
            assert launch.wait_for_output(f"[{name}-", 180), launch.output()[-4000:]
        assert launch.wait_for_output(f"warehouse seed {WORLD_SEED}", 180), launch.output()[-4000:]
        assert launch.wait_for_output("[segmentation_node]: segmenting", 180), launch.output()[-4000:]
        x, y = near_goal(2.5)
        goto = in_deployment(
            deployment,
            [str(deployment["rvn"]), "goto", f"{x:.3f}", f"{y:.3f}", "--use-sim-time", "--json", "--wait", "60"],
            timeout_s=600,
        )
        result = json.loads(goto.stdout.strip().splitlines()[-1])
        (root / "goto.json").write_text(goto.stdout)
        print("rvn goto:", goto.stdout.strip())
        assert goto.returncode == 0 and result["result"] == "succeeded", goto.stdout + goto.stderr
        assert result["distance_m"] <= 0.3
        # Every managed node autostarted: `ros2 lifecycle` (and BasicNavigator's wait) finds it active.
        # One `ros2` process per node, side by side: each spends seconds starting and discovering.
        with concurrent.futures.ThreadPoolExecutor(len(nodes) - 1) as pool:
            answers = pool.map(lambda n: ros2_lifecycle(deployment, "get", f"/{n}"), nodes[1:])
            states = dict(zip(nodes[1:], answers, strict=True))
        for name, state in states.items():
            assert state.stdout.startswith("active"), (name, state.stdout + state.stderr)

        # Off again towards the far goal; Ctrl-C (SIGINT to ros2 launch) while the robot is moving.
        far = subprocess.Popen(
            [str(deployment["rvn"]), "goto", "1.68", "3.67", "--use-sim-time", "--json"],
            cwd=root,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            start = len(cmd_vel.messages)
            assert wait_until(lambda: cmd_vel.moving() and len(cmd_vel.messages) > start, 120), cmd_vel.messages[-5:]
            pgid = launch.proc.pid
            assert launch.interrupt(timeout_s=120) == 0, launch.output()[-4000:]
            assert wait_until(lambda: not group_processes(pgid), 30), group_processes(pgid)
        finally:
            far.kill()
            far.wait(timeout=30)
        time.sleep(1.0)  # anything still in flight arrives
        assert cmd_vel.messages[-1] == (0.0, 0.0), cmd_vel.messages[-5:]
        output = launch.output()
        for name in nodes:
            assert f"[INFO] [{name}-" in output and "process has finished cleanly" in output
        assert "process has died" not in output, output[-4000:]


# One parameter per node set away from its code default in copies of the shipped files.
CHANGED = {
    "sim_node": ("camera_rate_hz", 12.0),
    "segmentation_node": ("confidence_threshold", 0.35),
    "costmap_node": ("inflation_radius_m", 0.6),
    "planner_node": ("replan_period_s", 1.5),
    "controller_node": ("desired_linear_vel_mps", 0.45),
    "safety_node": ("slowdown_ratio", 0.6),
}


def changed_params_files(folder: Path, stack_wide: dict[str, Any] | None = None) -> tuple[Path, Path]:
    """Copies of config/robot_vision_nav.yaml and config/sim.yaml with CHANGED (and `stack_wide` in `/**`) applied."""
    out = []
    for name in ("robot_vision_nav.yaml", "sim.yaml"):
        data = yaml.safe_load((REPO / "config" / name).read_text())
        for node, (param, value) in CHANGED.items():
            if node in data:
                assert NODE_KINDS[node].parameter_default(param) != value
                data[node]["ros__parameters"][param] = value
        if "/**" in data and stack_wide:
            data["/**"]["ros__parameters"].update(stack_wide)
        (folder / name).write_text(yaml.safe_dump(data, sort_keys=False))
        out.append(folder / name)
    return out[0], out[1]


def test_namespace_applies_the_params_file_to_every_node(deployment: dict[str, Any]) -> None:
    root, env = deployment["root"], deployment["env"]
    # The robot pose from TF as well: the nodes read the namespaced tree (/robot1/tf) of the simulator.
    stack_file, sim_file = changed_params_files(root, {"robot_pose_source": "tf"})
    args = [f"params_file:={stack_file}", f"sim_params_file:={sim_file}", "namespace:=robot1"]
    with launched(
        deployment["ros2"],
        ["robot_vision_nav", "sim.launch.py", *args],
        env,
        root,
        root / "ns_launch.log",
    ) as launch:
        assert launch.wait_for_output("segmentation_node]: segmenting", 240), launch.output()[-4000:]
        assert launch.wait_for_output("robot pose from TF odom -> base_link", 60), launch.output()[-4000:]
        got = {}
        for node, (name, value) in [*CHANGED.items(), ("controller_node", ("robot_pose_source", "tf"))]:
            command = [str(deployment["ros2"]), "param", "get", f"/robot1/{node}", name, "--no-daemon"]
            results: list[subprocess.CompletedProcess[str]] = []

            def answered(command: list[str] = command, results: list[Any] = results) -> bool:
                # Without the daemon each call discovers the graph anew: "Node not found" until it has.
                run = in_deployment(deployment, command, timeout_s=120)
                results.append(run)
                return run.returncode == 0

            assert wait_until(answered, 120, period_s=1.0), (node, results[-1])
            got[node] = results[-1].stdout.strip()
            assert got[node].endswith(f"value is: {value}"), (node, name, value, got[node])
        print("ros2 param get under /robot1:", json.dumps(got, indent=1))
        (root / "namespaced_params.json").write_text(json.dumps(got, indent=1))


INCLUDING_LAUNCH = """
from launch import LaunchDescription
from launch.actions import ExecuteProcess, IncludeLaunchDescription, TimerAction
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch_ros.substitutions import FindPackageShare
from launch.substitutions import PathJoinSubstitution


def generate_launch_description():
    ours = PathJoinSubstitution([FindPackageShare("robot_vision_nav"), "launch", "bringup.launch.py"])
    return LaunchDescription([
        IncludeLaunchDescription(PythonLaunchDescriptionSource(ours), launch_arguments={"ros_domain_id": "%d"}.items()),
        TimerAction(period=1.0, actions=[ExecuteProcess(
            cmd=["sh", "-c", "echo PARENT_PROCESS_DOMAIN=${ROS_DOMAIN_ID:-unset}"], output="screen")]),
    ])
"""


def test_including_our_launch_file_leaves_the_parents_other_processes_alone(deployment: dict[str, Any]) -> None:
    import os

    root, env = deployment["root"], deployment["env"]
    ours = (int(os.environ["ROS_DOMAIN_ID"]) % 100) + 101  # a domain no test uses: the stack talks to no one
    parent = root / "robot.launch.py"
    parent.write_text(INCLUDING_LAUNCH % ours)
    with launched(deployment["ros2"], [str(parent)], env, root, root / "include_launch.log") as launch:
        assert launch.wait_for_output("PARENT_PROCESS_DOMAIN=", 120), launch.output()[-4000:]
        output = launch.output()
        assert f"PARENT_PROCESS_DOMAIN={env['ROS_DOMAIN_ID']}" in output, output[-4000:]


# Topics every node of a namespaced stack may use outside its namespace, on purpose (README,
# "Namespaces"): the simulator's or bag's clock, the diagnostics aggregator's input, and ROS's own.
GLOBAL_TOPICS = {"/clock", "/diagnostics", "/parameter_events", "/rosout"}


def test_two_namespaced_stacks_in_one_domain_do_not_cross_talk(deployment: dict[str, Any], ros_context: Any) -> None:
    import numpy as np
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from sensor_msgs.msg import Image

    from robot_vision_nav.ros.qos import SENSOR_QOS

    root, env = deployment["root"], deployment["env"]
    node = Node("cross_talk_probe", context=ros_context)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(node)
    masks: dict[str, int] = {"r1": 0, "r2": 0}
    for ns in masks:
        node.create_subscription(
            Image, f"/{ns}/segmentation/traversable", lambda _m, ns=ns: masks.__setitem__(ns, masks[ns] + 1), SENSOR_QOS
        )
    color = node.create_publisher(Image, "/r1/camera/color/image_raw", SENSOR_QOS)
    stacks = {ns: ["robot_vision_nav", "bringup.launch.py", f"namespace:={ns}", "device:=cpu"] for ns in ("r1", "r2")}
    with (
        launched(deployment["ros2"], stacks["r1"], env, root, root / "r1.log") as r1,
        launched(deployment["ros2"], stacks["r2"], env, root, root / "r2.log") as r2,
    ):
        for launch in (r1, r2):
            assert launch.wait_for_output("segmentation_node]: segmenting", 240), launch.output()[-4000:]
        names = {"r1": [], "r2": []}

        def all_up() -> bool:
            executor.spin_once(timeout_sec=0.1)
            graph = node.get_node_names_and_namespaces()
            for ns in names:
                names[ns] = sorted(n for n, space in graph if space == f"/{ns}")
            return all(len(v) == len(STACK_NODES) for v in names.values())

        assert wait_until(all_up, 60), names
        for ns, stack in names.items():
            assert stack == sorted(STACK_NODES)
            for name in stack:
                topics = [t for t, _ in node.get_subscriber_names_and_types_by_node(name, f"/{ns}")]
                topics += [t for t, _ in node.get_publisher_names_and_types_by_node(name, f"/{ns}")]
                stray = [t for t in topics if not t.startswith(f"/{ns}/") and t not in GLOBAL_TOPICS]
                assert not stray, f"/{ns}/{name} uses {stray} outside its namespace"
        image = Image(height=120, width=160, encoding="rgb8", step=480)
        image.header.frame_id = "camera_color_optical_frame"
        image.data = np.full((120, 160, 3), 90, np.uint8).tobytes()

        def r1_segmented() -> bool:
            image.header.stamp = node.get_clock().now().to_msg()
            color.publish(image)
            executor.spin_once(timeout_sec=0.2)
            return masks["r1"] >= 3

        assert wait_until(r1_segmented, 120, period_s=0.3), masks
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.1)
        assert masks["r2"] == 0, masks
    node.destroy_node()


STACK_NODES = ("segmentation_node", "costmap_node", "planner_node", "controller_node", "safety_node")


def test_replay_launch_gives_the_output_of_rvn_replay(deployment: dict[str, Any]) -> None:
    from robot_vision_nav.replay.compare import Tolerances, compare_summaries, format_table
    from robot_vision_nav.replay.replay import summarize_bag

    root, env = deployment["root"], deployment["env"]
    bag = REPO / "test" / "data" / "bags" / "sim_db3"
    reference = root / "rvn_replay_out"
    replayed = in_deployment(
        deployment, [str(deployment["rvn"]), "replay", str(bag), "--out", str(reference)], timeout_s=600
    )
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    # Slowly (10x the bag's duration, 1.3 s a camera frame): not lock-step, so every node must finish each
    # frame before the next.
    out = root / "replay_launch_out"
    args = ["robot_vision_nav", "replay.launch.py", f"bag:={bag}", f"out_bag:={out}", "rate:=0.1", "delay:=1.0"]
    with launched(deployment["ros2"], args, env, root, root / "replay_launch.log") as launch:
        assert launch.proc.wait(timeout=600) == 0, launch.output()[-4000:]
        output = launch.output()
    assert f"played 245 messages of {bag}" in output  # no rosbag2 here: the package's own player (rvn bag play)
    results = compare_summaries(summarize_bag(reference), summarize_bag(out), Tolerances())
    table = format_table(results)
    print(table)
    (root / "replay_launch_vs_rvn_replay.txt").write_text(table)
    assert all(r.passed for r in results), table
    assert all(r.golden == r.replayed == r.matched for r in results), table


def test_missing_launch_system_skips_on_a_fresh_machine_and_fails_where_shared_has_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import importlib.util

    from test import ros2_launch_helpers

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "launch_ros" else real(name, *a))
    monkeypatch.delenv("RVN_REQUIRE_ROS2_LAUNCH", raising=False)
    monkeypatch.setattr(ros2_launch_helpers, "SHARED_LAUNCH", tmp_path / "absent")
    with pytest.raises(pytest.skip.Exception, match=r"launch system is not installed .*\(launch_ros"):
        ros2_launch_helpers.require_ros2_launch()
    monkeypatch.setattr(ros2_launch_helpers, "SHARED_LAUNCH", tmp_path)
    with pytest.raises(pytest.fail.Exception, match="a skipped launch test is a defect"):
        ros2_launch_helpers.require_ros2_launch()


def test_perception_launch_turns_camera_frames_into_an_obstacle_cloud(
    deployment: dict[str, Any], ros_context: Any
) -> None:
    """perception.launch.py alone (segmentation + semantic obstacles), fed camera frames: a cloud for Nav2."""
    import numpy as np
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from sensor_msgs.msg import CameraInfo, Image, PointCloud2

    from robot_vision_nav.core.geometry import CameraMount, Pose2D
    from robot_vision_nav.ros.image import numpy_to_image
    from robot_vision_nav.ros.messages import intrinsics_to_camera_info, point_cloud_to_xyz, stamp_to_ns
    from robot_vision_nav.ros.qos import LISTEN_QOS, SENSOR_QOS
    from robot_vision_nav.sim.synthetic import Box, Scene, d435_intrinsics, render

    root, env = deployment["root"], deployment["env"]
    k = d435_intrinsics(320, 240)
    mount = CameraMount(0.1, 0.0, 0.5, 0.0, 0.35, 0.0)  # the shipped camera_mount_xyzrpy
    frame = render(Scene(boxes=(Box(2.0, 0.0, 0.4, 0.6, 0.5),)), k, mount, Pose2D(0.0, 0.0, 0.0))
    driver = Node("perception_driver", namespace="/robot1", context=ros_context)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(driver)
    pubs = {
        "color": driver.create_publisher(Image, "camera/color/image_raw", SENSOR_QOS),
        "depth": driver.create_publisher(Image, "camera/aligned_depth_to_color/image_raw", SENSOR_QOS),
        "info": driver.create_publisher(CameraInfo, "camera/color/camera_info", SENSOR_QOS),
    }
    clouds: list[Any] = []
    driver.create_subscription(PointCloud2, "segmentation/obstacles", clouds.append, LISTEN_QOS)
    published: set[int] = set()
    try:
        with launched(
            deployment["ros2"],
            ["robot_vision_nav", "perception.launch.py", "namespace:=robot1", "device:=cpu", "autostart:=false"],
            env,
            root,
            root / "perception_launch.log",
        ) as launch:
            # autostart:=false: both wait unconfigured until `ros2 lifecycle` (a lifecycle manager) starts them.
            # The two nodes side by side: each `ros2` call spends seconds starting and discovering.
            def start_up(name: str) -> None:
                assert launch.wait_for_output(f"robot1.{name}]: autostart is false", 180), launch.output()[-4000:]
                node = f"/robot1/{name}"
                get = ros2_lifecycle(deployment, "get", node)
                assert get.stdout.startswith("unconfigured"), get.stdout + get.stderr
                for transition in ("configure", "activate"):
                    done = ros2_lifecycle(deployment, "set", node, transition)
                    assert "Transitioning successful" in done.stdout, done.stdout + done.stderr
                get = ros2_lifecycle(deployment, "get", node)
                assert get.stdout.startswith("active"), get.stdout + get.stderr

            with concurrent.futures.ThreadPoolExecutor(2) as pool:
                for started in [pool.submit(start_up, n) for n in ("segmentation_node", "semantic_obstacles_node")]:
                    started.result()  # re-raises a failed assertion of that node
            ready = "semantic obstacles on /robot1/segmentation/obstacles"
            assert launch.wait_for_output(ready, 180), launch.output()[-4000:]
            assert launch.wait_for_output("robot1.segmentation_node]: segmenting", 180), launch.output()[-4000:]
            assert "costmap_node" not in launch.output() and "planner_node" not in launch.output()
            deadline = time.monotonic() + 120
            stamp = 1_000_000_000
            while not clouds and time.monotonic() < deadline:
                stamp += 100_000_000
                pubs["color"].publish(numpy_to_image(frame.rgb, "rgb8", stamp, "camera_color_optical_frame"))
                pubs["depth"].publish(numpy_to_image(frame.depth_mm(), "16UC1", stamp, "camera_color_optical_frame"))
                pubs["info"].publish(intrinsics_to_camera_info(k, "camera_color_optical_frame", stamp))
                published.add(stamp)
                end = time.monotonic() + 0.3
                while time.monotonic() < end:
                    executor.spin_once(timeout_sec=0.05)
            assert clouds, launch.output()[-4000:]
            msg = clouds[0]
            assert msg.header.frame_id == "base_link" and stamp_to_ns(msg.header.stamp) in published
            points = point_cloud_to_xyz(msg)
            face = (np.abs(points[:, 0] - 1.8) < 0.05) & (np.abs(points[:, 1]) < 0.33) & (points[:, 2] > 0.04)
            assert face.sum() >= 10, points  # the box from depth alone, whatever the network makes of the colours
            assert launch.interrupt(timeout_s=60) == 0, launch.output()[-4000:]
            assert "process has died" not in launch.output(), launch.output()[-4000:]
    finally:
        executor.shutdown()
        driver.destroy_node()
