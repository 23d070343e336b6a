"""`rvn run`: the stack with the simulator as a user starts it, driven by a goal, stopped by Ctrl-C:
exit 0, every process gone, and the last velocity command zero."""

from __future__ import annotations

import math
import signal
import subprocess
import sys
import time

import pytest
from geometry_msgs.msg import PoseStamped, TwistStamped
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node

from robot_vision_nav.ros.messages import stamp_to_ns
from robot_vision_nav.ros.qos import COMMAND_QOS
from robot_vision_nav.ros.runner import ros_environment
from robot_vision_nav.sim.world import generate_world

pytestmark = pytest.mark.ros

SEED = 43


@pytest.mark.parametrize("mode", [[], ["--processes"]], ids=["in-process", "processes"])
def test_ctrl_c_stops_the_moving_robot_with_a_zero_command(ros_context: object, mode: list[str]) -> None:
    node = Node("rvn_run_test", context=ros_context)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(node)
    commands: list[tuple[float, float]] = []
    headers: list[tuple[str, int]] = []  # (frame_id, stamp ns) of each command

    def on_cmd(msg: TwistStamped) -> None:  # the stack's default: stamped, as Kilted's bases take it
        commands.append((msg.twist.linear.x, msg.twist.angular.z))
        headers.append((msg.header.frame_id, stamp_to_ns(msg.header.stamp)))

    node.create_subscription(TwistStamped, "/cmd_vel", on_cmd, COMMAND_QOS)
    goal_pub = node.create_publisher(PoseStamped, "/goal_pose", 10)
    command = [sys.executable, "-m", "robot_vision_nav.cli", "run", "--sim", "--world-seed", str(SEED), *mode]
    proc = subprocess.Popen(command, env=ros_environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 90.0
        while goal_pub.get_subscription_count() == 0 and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.1)
        assert goal_pub.get_subscription_count() > 0, "the planner never subscribed to goal_pose"
        gx, gy = generate_world(SEED).goal_xy
        goal = PoseStamped()
        goal.header.frame_id = "odom"
        goal.pose.position.x, goal.pose.position.y = gx, gy
        goal.pose.orientation.w = 1.0
        moving = False
        while not moving and time.monotonic() < deadline:
            goal_pub.publish(goal)
            end = time.monotonic() + 1.0
            while time.monotonic() < end:
                executor.spin_once(timeout_sec=0.05)
            moving = any(abs(v) > 0.05 for v, _ in commands)
        assert moving, f"the robot never drove: {commands[-5:]}"
        proc.send_signal(signal.SIGINT)
        end = time.monotonic() + 30.0
        while proc.poll() is None and time.monotonic() < end:
            executor.spin_once(timeout_sec=0.05)
        for _ in range(20):  # the last messages may still be on their way
            executor.spin_once(timeout_sec=0.05)
        output = proc.stdout.read() if proc.stdout and proc.poll() is not None else ""
        assert proc.returncode == 0, output[-2000:]
        assert "Traceback" not in output, output[-2000:]
        assert commands[-1] == (0.0, 0.0), commands[-5:]
        assert all(math.isfinite(v) and math.isfinite(w) for v, w in commands)
        # In base_frame, stamped in sim time with the odometry each command answers (never 0: the clock runs).
        assert {frame for frame, _ in headers} == {"base_link"}
        moving_stamps = [t for (v, _), (_, t) in zip(commands, headers, strict=True) if abs(v) > 0.05]
        assert moving_stamps and all(t > 0 for t in moving_stamps)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        node.destroy_node()


def test_camera_option_reads_a_driver_preset_and_refuses_an_unknown_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from robot_vision_nav import cli
    from robot_vision_nav.ros import runner
    from robot_vision_nav.ros.bringup import NodeSpec

    started: list[NodeSpec] = []

    def run_in_process(specs: list[NodeSpec], executor: str, network: object) -> int:
        started.extend(specs)
        return 0

    monkeypatch.setattr(runner, "run_in_process", run_in_process)  # the node list only: nothing starts
    assert cli.main(["run", "--camera", "realsense"]) == 0
    seg = started[0]
    assert seg.name == "segmentation_node"
    assert seg.remappings == (("camera/color/image_raw", "camera/camera/color/image_raw"),)
    assert cli.main(["run", "--camera", "zed"]) == cli.EXIT_USAGE
    assert "rvn run: error: camera 'zed' is not one of default, realsense" in capsys.readouterr().err
