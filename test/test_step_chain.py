"""The nodes' core steps chained as the stack chains them, without rclpy: a replay repeats exactly.

Depth frames of a synthetic aisle go through CostmapStep; each published map through PlanStep; each
pose through ControlStep. Run twice on the same inputs the chain gives the same maps, plans and
commands bit for bit: the determinism `rvn replay --check` relies on holds in the core, where no
executor or clock can disturb it.
"""

from __future__ import annotations

import numpy as np

from robot_vision_nav.core.control_step import ControlStep, Timeouts
from robot_vision_nav.core.controller import Command, ControllerConfig
from robot_vision_nav.core.costmap import CostmapConfig
from robot_vision_nav.core.depth_steps import CostmapStep, Updated
from robot_vision_nav.core.geometry import Pose2D
from robot_vision_nav.core.grid import Grid
from robot_vision_nav.core.plan_step import Planned, PlanStep
from robot_vision_nav.core.planner import PlannerConfig
from robot_vision_nav.sim.synthetic import Box, Scene, d435_intrinsics, render

MS = 1_000_000
K = d435_intrinsics(160, 120)
SCENE = Scene(boxes=(Box(2.5, 0.2, 0.4, 0.6, 0.5), Box(1.5, -1.2, 0.3, 0.3, 0.8)))
GOAL = (3.5, 0.0, 0.0)


def run_chain() -> list[tuple[str, bytes]]:
    costmap_config = CostmapConfig()
    costmaps = CostmapStep(costmap_config, publish_rate_hz=5.0)
    plans = PlanStep(PlannerConfig(), replan_period_s=0.5, odom_max_age_s=0.2, goal_tolerance_m=0.5)
    control = ControlStep(ControllerConfig(), 20.0, Timeouts(plan_s=2.0, odom_s=0.5, costmap_s=1.0))
    out: list[tuple[str, bytes]] = []
    pose = Pose2D(0.0, 0.0, 0.0, 0)
    for k in range(30):  # 3 s at 10 Hz of camera frames, 20 Hz of poses
        stamp = k * 100 * MS
        pose = Pose2D(pose.x_m, pose.y_m, pose.yaw_rad, stamp)
        frame = render(SCENE, K, costmap_config.mount, pose)
        result = costmaps.on_frame(frame.depth_mm(), K, pose, stamp, frame.mask, costmap_config.mount)
        if isinstance(result, Updated) and result.publish:
            cm = costmaps.costmap
            ox, oy = cm.origin_m
            grid = Grid(cm.occupancy.copy(), cm.resolution_m, ox, oy, stamp_ns=stamp)
            out.append(("map", grid.values.tobytes()))
            control.grid = grid
            control.received("costmap", stamp)
            planned = plans.on_costmap(grid, GOAL, pose, "odometry", " received yet")
            if isinstance(planned, Planned) and planned.plan.found:
                out.append(("plan", planned.plan.path_xy.tobytes()))
                control.set_plan(planned.plan.path_xy, GOAL[2])
                control.received("plan", stamp)
        for half in (0, 50 * MS):  # the robot moves by what it is told, as a perfect base would
            t = stamp + half
            pose = Pose2D(pose.x_m, pose.y_m, pose.yaw_rad, t)
            control.received("odom", t)
            command = control.on_pose(pose, t, enabled=True)
            if isinstance(command, Command):
                out.append(("cmd", np.array([command.linear_mps, command.angular_rps]).tobytes()))
                yaw = pose.yaw_rad + command.angular_rps * 0.05
                pose = Pose2D(
                    pose.x_m + command.linear_mps * 0.05 * np.cos(yaw),
                    pose.y_m + command.linear_mps * 0.05 * np.sin(yaw),
                    yaw,
                    t,
                )
    return out


def test_the_chained_steps_repeat_bit_for_bit_and_drive_toward_the_goal() -> None:
    first, second = run_chain(), run_chain()
    assert first == second
    commands = [np.frombuffer(b) for kind, b in first if kind == "cmd"]
    assert len(commands) > 20 and max(v for v, _ in commands) > 0.1, "the chain never drove"
    assert {kind for kind, _ in first} == {"map", "plan", "cmd"}
