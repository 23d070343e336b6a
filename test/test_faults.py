"""Fault injection over real processes: the simulator and the stack run as `rvn run --processes`
starts them (one process per node); the test kills and restarts nodes, changes parameters under
load and watches what reaches the base.

Measured numbers (stop time after a kill, recovery time) are printed with `-s` and go into the
issue's table; the assertions hold the contract: zero velocity within the controller's timeout,
nothing but zero until the stack is whole again, and motion again once it is.
"""

from __future__ import annotations

import itertools
import math
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from geometry_msgs.msg import PoseStamped, Twist
from rcl_interfaces.msg import SetParametersResult
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.parameter_client import AsyncParameterClient
from rosgraph_msgs.msg import Clock

from robot_vision_nav.ros.bringup import BringupOptions, NodeSpec, resolved_parameter, stack_nodes
from robot_vision_nav.ros.messages import stamp_to_ns
from robot_vision_nav.ros.qos import CLOCK_QOS, COMMAND_QOS
from robot_vision_nav.ros.runner import start_processes, stop_processes
from robot_vision_nav.sim.world import generate_world

pytestmark = pytest.mark.ros

SEED = 43
START_TIMEOUT_S = 120.0  # torch import and model load on a loaded 2-core machine
MOVING_MPS = 0.05


@dataclass
class Command:
    t: float  # monotonic s at receipt
    v: float
    w: float
    sim_ns: int = 0  # the simulator's /clock when it arrived

    @property
    def zero(self) -> bool:
        return self.v == 0.0 and self.w == 0.0


@dataclass
class Watch:
    """The test's node: sends the goal, records what the controller and the safety layer publish."""

    node: Node
    executor: SingleThreadedExecutor
    base: list[Command] = field(default_factory=list)  # /cmd_vel: what the wheels get
    nav: list[Command] = field(default_factory=list)  # /cmd_vel_nav: the controller's output
    clock_ns: int = 0  # the newest /clock: the nodes' timeouts run on it, and it lags wall time under load

    def spin(self, seconds: float) -> None:
        self.until(lambda: False, seconds)

    def until(self, done: Callable[[], bool], timeout_s: float) -> bool:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            self.executor.spin_once(timeout_sec=0.02)
            if done():
                return True
        return False

    def moving_since(self, t0: float) -> bool:
        return any(c.t > t0 and abs(c.v) > MOVING_MPS for c in self.base)


class Stack:
    """The simulator and the stack as processes, on this test's ROS domain and loopback."""

    def __init__(self) -> None:
        self.specs: list[NodeSpec] = stack_nodes(BringupOptions(sim=True, world_seed=SEED, device="cpu"))
        self.procs = start_processes(self.specs, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def index(self, name: str) -> int:
        return next(i for i, s in enumerate(self.specs) if s.name == name)

    def kill(self, name: str) -> None:
        proc = self.procs[self.index(name)]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def restart(self, name: str) -> None:
        i = self.index(name)
        self.procs[i] = start_processes([self.specs[i]], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)[0]

    def alive(self) -> list[str]:
        return [s.name for s, p in zip(self.specs, self.procs, strict=True) if p.poll() is None]

    def stop(self) -> list[int]:
        return stop_processes(self.procs, grace_s=10.0)


@pytest.fixture
def running(ros_context: Any) -> Iterator[tuple[Stack, Watch]]:
    node = Node("fault_watch", context=ros_context)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(node)
    watch = Watch(node, executor)
    node.create_subscription(
        Twist,
        "/cmd_vel",
        lambda m: watch.base.append(Command(time.monotonic(), m.linear.x, m.angular.z, watch.clock_ns)),
        COMMAND_QOS,
    )
    node.create_subscription(Clock, "/clock", lambda m: setattr(watch, "clock_ns", stamp_to_ns(m.clock)), CLOCK_QOS)
    node.create_subscription(
        Twist,
        "/cmd_vel_nav",
        lambda m: watch.nav.append(Command(time.monotonic(), m.linear.x, m.angular.z)),
        COMMAND_QOS,
    )
    goal_pub = node.create_publisher(PoseStamped, "/goal_pose", 10)
    stack = Stack()
    try:
        assert watch.until(lambda: goal_pub.get_subscription_count() > 0, START_TIMEOUT_S), "no planner came up"
        gx, gy = generate_world(SEED).goal_xy
        goal = PoseStamped()
        goal.header.frame_id = "odom"
        goal.pose.position.x, goal.pose.position.y = gx, gy
        goal.pose.orientation.w = 1.0
        end = time.monotonic() + START_TIMEOUT_S
        while not watch.moving_since(0.0) and time.monotonic() < end:
            goal_pub.publish(goal)
            watch.spin(1.0)
        assert watch.moving_since(0.0), f"the robot never drove; alive: {stack.alive()}"
        yield stack, watch
    finally:
        codes = stack.stop()
        watch.spin(0.5)  # the last zero may still be on its way
        executor.shutdown()
        node.destroy_node()
        for spec, proc in zip(stack.specs, stack.procs, strict=True):
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            assert "Traceback" not in err, f"{spec.name}:\n{err[-3000:]}"
        assert all(c in (0, -signal.SIGKILL) for c in codes), codes


def set_remote(watch: Watch, node_name: str, name: str, value: Any) -> tuple[SetParametersResult, float]:
    """`ros2 param set`'s path: the node's set_parameters service; the result and when it arrived."""
    client = AsyncParameterClient(watch.node, node_name)
    assert watch.until(client.services_are_ready, 10.0), f"/{node_name} parameter services never appeared"
    future = client.set_parameters([Parameter(name, value=value)])
    assert watch.until(future.done, 10.0), f"/{node_name}/set_parameters did not answer"
    response = future.result()
    assert response is not None
    return response.results[0], time.monotonic()


def test_killing_segmentation_stops_the_robot_in_time_and_a_restart_recovers(running: tuple[Stack, Watch]) -> None:
    stack, watch = running
    timeout_s = float(resolved_parameter(stack.specs[0].params_files[0], "controller_node", "costmap_timeout_s", {}))
    watch.spin(2.0)
    assert watch.moving_since(time.monotonic() - 2.0), "the robot was not driving before the kill"
    killed, killed_sim = time.monotonic(), watch.clock_ns
    stack.kill("segmentation_node")
    # The costmap needs the mask, so it stops; the controller's watchdog sees it stale after
    # costmap_timeout_s and sends zero; the safety layer passes the zero to the base.
    assert watch.until(lambda: any(c.t > killed and c.zero for c in watch.base), timeout_s + 3.0)
    first_zero = next(c for c in watch.base if c.t > killed and c.zero)
    stop_ms = (first_zero.t - killed) * 1e3
    stop_sim_ms = (first_zero.sim_ns - killed_sim) / 1e6
    watch.spin(2.0)  # dead a while longer: nothing but zero may reach the base
    after = [c for c in watch.base if c.t > first_zero.t]
    assert all(c.zero for c in after), [c for c in after if not c.zero][:3]
    restarted = time.monotonic()
    stack.restart("segmentation_node")
    assert watch.until(lambda: watch.moving_since(restarted), START_TIMEOUT_S), "no motion after the restart"
    recovery_s = next(c.t for c in watch.base if c.t > restarted and abs(c.v) > MOVING_MPS) - restarted
    print(f"\nsegmentation killed: zero at the base after {stop_sim_ms:.0f} ms of sim time ({stop_ms:.0f} ms wall; "
          f"costmap_timeout_s {timeout_s} s); moving again {recovery_s:.1f} s after the restart")  # fmt: skip
    # The watchdogs run on sim time (wall time may pass faster on a loaded machine): the timeout, the
    # costmap's publish period (0.2 s) and the watchdog's (0.05 s), and a /clock tick of slack.
    assert stop_sim_ms < (timeout_s + 0.2 + 0.05 + 0.1) * 1e3, (stop_sim_ms, stop_ms)
    assert sorted(stack.alive()) == sorted(s.name for s in stack.specs)


def test_killing_the_controller_stops_the_base_through_the_safety_layer(running: tuple[Stack, Watch]) -> None:
    stack, watch = running
    cmd_timeout_s = float(resolved_parameter(stack.specs[0].params_files[0], "safety_node", "cmd_timeout_s", {}))
    killed, killed_sim = time.monotonic(), watch.clock_ns
    stack.kill("controller_node")  # no goodbye zero: SIGKILL
    assert watch.until(lambda: any(c.t > killed and c.zero for c in watch.base), cmd_timeout_s + 3.0)
    first_zero = next(c for c in watch.base if c.t > killed and c.zero)
    stop_ms = (first_zero.t - killed) * 1e3
    stop_sim_ms = (first_zero.sim_ns - killed_sim) / 1e6
    watch.spin(1.0)
    assert watch.base[-1].zero and not watch.moving_since(killed + stop_ms / 1e3)
    restarted = time.monotonic()
    stack.restart("controller_node")
    assert watch.until(lambda: watch.moving_since(restarted), START_TIMEOUT_S), "no motion after the restart"
    print(f"\ncontroller killed: zero at the base after {stop_sim_ms:.0f} ms of sim time ({stop_ms:.0f} ms wall; "
          f"safety cmd_timeout_s {cmd_timeout_s} s)")  # fmt: skip
    # The safety watchdog runs on sim time: the timeout, its period (0.05 s) and a /clock tick of slack.
    assert stop_sim_ms < (cmd_timeout_s + 0.05 + 0.1) * 1e3, (stop_sim_ms, stop_ms)


def test_parameter_changes_under_load_take_effect_next_cycle_and_bad_ones_are_refused(
    running: tuple[Stack, Watch],
) -> None:
    stack, watch = running
    limit = 0.3  # cruise is 0.5 m/s; the controller refuses a cruise below its regulated minimum (0.25)
    assert watch.until(lambda: any(abs(c.v) > limit + 0.05 for c in watch.nav[-5:]), 30.0), "never cruising"
    bad, _ = set_remote(watch, "controller_node", "desired_linear_vel_mps", -1.0)
    assert not bad.successful and "desired_linear_vel_mps" in bad.reason, bad.reason
    nan, _ = set_remote(watch, "controller_node", "desired_linear_vel_mps", math.nan)
    assert not nan.successful and "desired_linear_vel_mps" in nan.reason, nan.reason
    wrong_type, _ = set_remote(watch, "safety_node", "slowdown_ratio", "half")
    assert not wrong_type.successful
    watch.spin(1.0)
    assert watch.until(lambda: max(abs(c.v) for c in watch.nav[-5:]) > limit + 0.05, 10.0), "refused value applied?"
    result, answered = set_remote(watch, "controller_node", "desired_linear_vel_mps", limit)
    assert result.successful, result.reason
    watch.spin(1.5)
    after = [c for c in watch.nav if c.t > answered]
    assert len(after) >= 5
    # One command may have been on its way when the answer came; from the next cycle on the speed
    # only falls (at the controller's deceleration limit) until it is within the new limit.
    falling = after[1:]
    speeds = [abs(c.v) for c in falling]
    assert all(b <= a + 1e-6 or b <= limit + 1e-6 for a, b in itertools.pairwise(speeds)), speeds[:20]
    settled = [c for c in falling if c.t > answered + 0.5]
    assert settled and all(abs(c.v) <= limit + 1e-6 for c in settled), [c.v for c in settled][:10]
    assert sorted(stack.alive()) == sorted(s.name for s in stack.specs)
