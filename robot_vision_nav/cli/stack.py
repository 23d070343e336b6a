"""`rvn demo` and `rvn run`: the whole stack, in the closed loop of the built-in world or on its own.

rclpy and the nodes load inside the handlers; this module must never import ROS at module level.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from robot_vision_nav.cli.common import CliError, add_stack_arguments, int_in

if TYPE_CHECKING:
    from robot_vision_nav.cli.common import Subparsers


def _demo(args: argparse.Namespace) -> int:
    from robot_vision_nav.demo import DemoOptions, format_table, run_demo
    from robot_vision_nav.ros.bringup import BringupError

    out_dir = Path(args.out)
    if out_dir.exists() and not out_dir.is_dir():
        raise CliError(f"argument --out: {str(out_dir)!r} exists and is not a folder")
    options = DemoOptions(
        scenes=args.scenes, seed=args.seed, ablation=args.ablation, params_file=args.params or "",
        model=args.model or "", device=args.device or "", localized=args.localized,
    )  # fmt: skip
    interactive = sys.stderr.isatty()

    def progress(line: str) -> None:
        if line.endswith("\n"):
            print(("\r\033[K" if interactive else "") + line.rstrip(), file=sys.stderr, flush=True)
        elif interactive:
            print("\r\033[K" + line, end="", file=sys.stderr, flush=True)

    try:
        summary = run_demo(out_dir, options, progress=progress)
    except BringupError as err:
        raise CliError(str(err)) from err
    except OSError as err:
        raise CliError(f"cannot write into {str(out_dir)!r}: {err.strerror or err}") from err
    print(json.dumps(summary) if args.json else format_table(summary))
    return 0


def _run(args: argparse.Namespace) -> int:
    from robot_vision_nav.ros.bringup import BringupError, BringupOptions, stack_nodes
    from robot_vision_nav.ros.runner import run_in_process, run_processes
    from robot_vision_nav.ros.security import NetworkOptions

    try:
        network = NetworkOptions(
            domain_id=-1 if args.domain_id is None else args.domain_id, discovery_range=args.discovery_range,
            static_peers=args.static_peers, keystore=args.keystore, enclave=args.enclave,
            strategy=args.security_strategy,
        )  # fmt: skip
        specs = stack_nodes(
            BringupOptions(
                params_file=args.params or "", sim=args.sim, world_seed=args.world_seed, device=args.device or "",
                model=args.model or "", namespace=args.namespace or "", use_sim_time=args.use_sim_time,
                log_level=args.log_level, navigator=args.navigator, camera=args.camera,
            )
        )  # fmt: skip
    except BringupError as err:
        raise CliError(str(err)) from err
    if args.navigator and importlib.util.find_spec("nav2_msgs") is None:
        raise CliError(
            "argument --navigator: nav2_msgs is not installed (apt install ros-$ROS_DISTRO-nav2-msgs); "
            "without it, send goals with rvn goto or on goal_pose"
        )
    for note in network.notes():
        print(f"rvn run: note: {note}", file=sys.stderr)
    if args.processes:
        return run_processes(specs, network)
    return run_in_process(specs, args.executor, network)


def _add_network_arguments(p: argparse.ArgumentParser) -> None:
    """`rvn run`'s domain, discovery and SROS2 options: the launch files' (ros.security), checked in the handler."""
    g = p.add_argument_group("network and security (ros.security; the launch arguments of the same names)")
    g.add_argument(
        "--domain-id",
        type=int_in(0, 232, "ROS domain ID"),
        metavar="N",
        help="ROS_DOMAIN_ID of every node, 0..232 (0..101 is safe on Linux; default the environment's)",
    )
    g.add_argument(
        "--discovery-range",
        default="",
        metavar="RANGE",
        help="ROS_AUTOMATIC_DISCOVERY_RANGE: LOCALHOST, SUBNET, SYSTEM_DEFAULT or OFF (default the "
        "environment's, LOCALHOST where unset; Kilted ignores ROS_LOCALHOST_ONLY)",
    )
    g.add_argument(
        "--static-peers",
        default="",
        metavar="PEERS",
        help="ROS_STATIC_PEERS: hosts or addresses separated by ';' (default the environment's)",
    )
    g.add_argument(
        "--keystore",
        default="",
        metavar="DIR",
        help="SROS2 keystore (ros2 security create_keystore DIR): authenticated, encrypted DDS "
        "(default the environment's ROS_SECURITY_*: none, no security)",
    )
    g.add_argument(
        "--enclave",
        default="/robot_vision_nav",
        metavar="NAME",
        help="with --keystore: the enclave of every node (ros2 security create_enclave DIR NAME; "
        "default /robot_vision_nav)",
    )
    g.add_argument(
        "--security-strategy",
        default="Enforce",
        choices=("Enforce", "Permissive"),
        help="with --keystore: Enforce (default: a node without valid keys does not start) or Permissive",
    )


# ---------------------------------------------------------------------------------------- parsers
def register(sub: Subparsers) -> None:
    """Add `rvn demo` and `rvn run` to `sub`."""
    p = sub.add_parser(
        "demo",
        help="the closed loop: the whole stack drives to the goal in generated warehouses",
        description="For each world seed S..S+N-1 the simulator, segmentation (the shipped SegNet weights), costmap, "
        "planner and controller run in this process over rclpy; a goal is sent on goal_pose and the robot drives "
        "until the controller reports goal_reached or the scene's time limit (30 s + 3x the shortest route at cruise "
        "speed) passes. Prints a table per scene (success, time, path length vs the shortest route, minimum "
        "clearance to obstacles and people, collisions, keep-out violations, loop rate = camera frames folded into "
        "the costmap per wall second) and totals; writes DIR/summary.png and DIR/summary.json.",
    )
    p.add_argument(
        "--scenes", type=int_in(1, 1000, "scenes"), default=10, metavar="N", help="worlds to drive (default 10)"
    )
    p.add_argument(
        "--seed", type=int_in(0, 999_000, "seed"), default=1, metavar="S", help="first world seed (default 1)"
    )
    p.add_argument("--out", default="out/demo", metavar="DIR", help="output folder (default out/demo)")
    p.add_argument(
        "--ablation",
        choices=("none", "depth-only"),
        default="none",
        help="depth-only: the costmap ignores segmentation (every pixel drivable), to measure what perception is worth",
    )
    p.add_argument("--localized", action="store_true",
                   help="drive as a robot with a localiser: the wheel odometry drifts, the simulator publishes map -> "
                   "odom (as AMCL or SLAM would), the goal is sent in map and the nodes take the robot pose from TF "
                   "(robot_pose_source tf); needs tf2_ros")  # fmt: skip
    add_stack_arguments(p)
    p.add_argument("--json", action="store_true", help="print summary.json's content as one JSON line")
    p.set_defaults(handler=_demo)

    p = sub.add_parser(
        "run",
        help="the stack without ros2 launch: in one process, or one process per node",
        description="Start segmentation, costmap, planner and controller (and with --sim the built-in simulator) "
        "from the same node list as launch/bringup.launch.py. Ctrl-C stops every node, and the controller's last "
        "message is a zero velocity command. A node that refuses its parameters stops the rest (exit 1).",
    )
    add_stack_arguments(p)
    p.add_argument("--sim", action="store_true", help="also run the simulator (sim_node) and use sim time")
    p.add_argument("--world-seed", type=int_in(-1, 999_999, "world seed"), default=-1, metavar="S",
                   help="with --sim: the warehouse seed (default config/sim.yaml's)")  # fmt: skip
    p.add_argument("--processes", action="store_true", help="one process per node (Fast DDS shared memory)")
    p.add_argument("--navigator", action="store_true",
                   help="also run navigator_node: Nav2's navigate_to_pose action (needs nav2_msgs)")  # fmt: skip
    p.add_argument(
        "--executor",
        choices=("events", "single", "multi"),
        default="events",
        help="in one process: rclpy's EventsExecutor (default), SingleThreaded or MultiThreaded",
    )
    p.add_argument("--namespace", metavar="NS", help="push every node into this namespace")
    p.add_argument("--camera", default="default", metavar="NAME",
                   help="camera driver whose colour, depth and camera_info topics the stack reads: default (the "
                   "stack's camera/color/image_raw, ...) or realsense (realsense2_camera 4.x with "
                   "align_depth.enable:=true: camera/camera/color/image_raw, ...); --params can set "
                   "image_transport / depth_transport for its compressed topics")  # fmt: skip
    p.add_argument("--use-sim-time", action="store_true", help="follow /clock (a bag or an external simulator)")
    p.add_argument("--log-level", choices=("debug", "info", "warn", "error", "fatal"), default="info")
    _add_network_arguments(p)
    p.set_defaults(handler=_run)
