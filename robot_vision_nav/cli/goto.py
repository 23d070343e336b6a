"""`rvn goto X Y [YAW]`: send a goal to the running stack and follow it to the end.

rclpy loads inside the handler (robot_vision_nav.ros.goto); this module must never import ROS at module level.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import TYPE_CHECKING

from robot_vision_nav.cli.common import CliError, finite, positive

if TYPE_CHECKING:
    from robot_vision_nav.cli.common import Subparsers
    from robot_vision_nav.core.goal_tracker import GoalFeedback

GOTO_FLAGS = {"tolerance_m": "--tolerance", "timeout_s": "--timeout", "patience_s": "--patience"}


def _goto(args: argparse.Namespace) -> int:
    import time

    from robot_vision_nav.core.goal_tracker import GoalTrackerConfig

    frames = {"--frame": args.frame, "--global-frame": args.global_frame, "--base-frame": args.base_frame}
    for flag, value in frames.items():
        if not value.strip("/ "):
            raise CliError(f"argument {flag}: must name a frame, e.g. odom")
    try:
        GoalTrackerConfig(tolerance_m=args.tolerance, timeout_s=args.timeout, patience_s=args.patience)
    except ValueError as err:
        message = str(err)
        for name, flag in GOTO_FLAGS.items():
            message = message.replace(f"parameter '{name}'", f"argument {flag}")
        raise CliError(message) from err
    from robot_vision_nav.ros.goto import format_progress, format_result, goto

    live = sys.stderr.isatty()
    width = 0  # of the longest line shown live
    last_key, last_at = "", -math.inf  # statuses of the last logged line, and when (monotonic s)

    def progress(feedback: GoalFeedback) -> None:
        nonlocal width, last_key, last_at
        line = f"rvn goto: {format_progress(feedback)}"
        if live:  # one line rewritten in place
            print("\r" + line.ljust(width), end="", file=sys.stderr, flush=True)
            width = max(width, len(line))
            return
        key, now = f"{feedback.planner_status}/{feedback.controller_status}", time.monotonic()
        if key != last_key or now - last_at >= 5.0:  # a log gets a line per change, or every 5 s
            last_key, last_at = key, now
            print(line, file=sys.stderr, flush=True)

    try:
        result = goto(
            args.x,
            args.y,
            args.yaw,
            frame=args.frame,
            timeout_s=args.timeout,
            tolerance_m=args.tolerance,
            progress=progress,
            use_sim_time=args.use_sim_time,
            patience_s=args.patience,
            wait_s=args.wait,
            pose_from_tf=(args.global_frame, args.base_frame) if args.robot_pose_source == "tf" else None,
        )
    except KeyboardInterrupt:
        if live:
            print(file=sys.stderr)
        print("rvn goto: interrupted; sent a goal at the robot's pose so that it stops", file=sys.stderr)
        raise
    if live:
        print(file=sys.stderr)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"rvn goto: {format_result(result)}")
    return 0 if result["result"] == "succeeded" else 1


def register(sub: Subparsers) -> None:
    """Add `rvn goto` to `sub`."""
    p = sub.add_parser(
        "goto",
        help="send a goal to the running stack (as RViz's 2D Goal Pose does) and follow it to the end",
        description="Publish a geometry_msgs/PoseStamped on goal_pose once the planner listens, then follow odom, "
        "planner_status and controller_status until the goal is reached (the controller says goal_reached with the "
        "robot within --tolerance), fails (the planner refuses the goal, or finds no path for --patience seconds) "
        "or times out. A progress line goes to stderr, the result to stdout. Exit status 0 on success, 1 on failure "
        "or timeout, 2 on bad arguments, 130 on Ctrl-C (which first sends a goal at the robot's pose, so it stops).",
    )
    p.add_argument("x", type=finite("m"), metavar="X", help="goal x (m) in --frame")
    p.add_argument("y", type=finite("m"), metavar="Y", help="goal y (m) in --frame")
    p.add_argument("yaw", type=finite("rad"), nargs="?", default=None, metavar="YAW",
                   help="goal heading (rad, counter-clockwise from +x; default: the heading from the robot to the "
                   "goal, so it does not turn on the spot at the end)")  # fmt: skip
    p.add_argument("--frame", default="odom", metavar="FRAME",
                   help="frame_id of the goal (default odom, the planner's global_frame); another frame, such as "
                   "map, needs TF to connect it to odom (goal_frame_unknown otherwise)")  # fmt: skip
    p.add_argument("--timeout", type=finite("s"), default=120.0, metavar="S",
                   help="give up after S seconds (simulated with --use-sim-time; default 120, 0 = never)")  # fmt: skip
    p.add_argument("--tolerance", type=positive("m"), default=0.3, metavar="M",
                   help="success needs the robot within M metres of the goal (straight line; default 0.3, keep it at "
                   "least the controller's xy_goal_tolerance_m)")  # fmt: skip
    p.add_argument("--patience", type=finite("s"), default=5.0, metavar="S",
                   help="fail when the planner finds no path (no_path, start_blocked, goal_blocked) for S seconds "
                   "(default 5)")  # fmt: skip
    p.add_argument("--wait", type=positive("s"), default=10.0, metavar="S",
                   help="wait up to S wall seconds for the planner, controller and the robot pose to be there "
                   "(default 10)")  # fmt: skip
    p.add_argument("--use-sim-time", action="store_true",
                   help="follow /clock (the simulator's time) for the timeout and patience")  # fmt: skip
    p.add_argument("--robot-pose-source", choices=("odom", "tf"), default="odom",
                   help="where the robot pose comes from, as the stack's robot_pose_source: odom (the odom topic, "
                   "default) or tf (TF --global-frame -> --base-frame)")  # fmt: skip
    p.add_argument("--global-frame", default="odom", metavar="FRAME",
                   help="with --robot-pose-source tf: the planner's global_frame (default odom)")  # fmt: skip
    p.add_argument("--base-frame", default="base_link", metavar="FRAME",
                   help="with --robot-pose-source tf: the robot body frame (default base_link)")  # fmt: skip
    p.add_argument("--json", action="store_true",
                   help='print one JSON line {"result": "succeeded" | "failed" | "timed_out", "reason", "time_s" '
                   '(s), "distance_m" (m left, straight line; null without odometry)}')  # fmt: skip
    p.set_defaults(handler=_goto)
