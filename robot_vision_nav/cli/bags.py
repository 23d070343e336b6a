"""`rvn bag info|play|record`, `rvn record` and `rvn replay`: inspect, play, record and replay bags.

rosbags, rclpy and the stack load inside the handlers (`rvn bag info` needs no ROS install); this module
must never import ROS at module level.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from robot_vision_nav.cli.common import (
    CliError,
    Parser,
    add_stack_arguments,
    finite,
    int_in,
    positive,
    yaml_assignment,
)

if TYPE_CHECKING:
    from robot_vision_nav.cli.common import Subparsers


def _progress_printer() -> Callable[[str], None]:
    interactive = sys.stderr.isatty()

    def progress(line: str) -> None:
        if interactive:
            print("\r\033[K" + line, end="", file=sys.stderr, flush=True)

    return progress


def _bag_info(args: argparse.Namespace) -> int:
    from robot_vision_nav.replay.bags import read_info
    from robot_vision_nav.replay.errors import BagError

    try:
        info = read_info(Path(args.bag))
    except BagError as err:
        raise CliError(str(err)) from err
    print(json.dumps(info.as_dict()) if args.json else info.format())
    return 0


def _bag_frames(args: argparse.Namespace) -> int:
    from robot_vision_nav.core.geometry import CameraMount, GeometryError
    from robot_vision_nav.replay.errors import BagError
    from robot_vision_nav.replay.frames import DEFAULT_MOUNT, DEFAULT_MOUNT_SOURCE, FramesOptions, extract_frames

    if args.every is not None and args.min_motion is not None:
        raise CliError("argument --every: not allowed with --min-motion (choose one way to thin the frames)")
    try:
        mount = CameraMount.from_sequence([float(v) for v in args.mount.split(",")]) if args.mount else DEFAULT_MOUNT
    except (ValueError, GeometryError) as err:
        raise CliError(f"argument --mount: {err} (expected x,y,z,roll,pitch,yaw in m and rad)") from err
    options = FramesOptions(
        bag=Path(args.bag), out=Path(args.out), every=args.every or 1, min_motion_m=args.min_motion or 0.0,
        max_skew_s=args.max_skew, mount=mount,
        mount_source="--mount" if args.mount else DEFAULT_MOUNT_SOURCE, topics_map=args.topics_map or "",
        prefix=args.prefix,
    )  # fmt: skip
    printer = _progress_printer()
    try:
        info = extract_frames(options, lambda done, total: printer(f"frames: {done}/{total} images written"))
    except BagError as err:
        raise CliError(str(err)) from err
    if sys.stderr.isatty():
        print("\r\033[K", end="", file=sys.stderr)
    print(json.dumps(info.as_dict()) if args.json else info.format())
    return 0


def _bag_play(args: argparse.Namespace) -> int:
    from robot_vision_nav.replay.errors import BagError
    from robot_vision_nav.replay.live import PlayOptions, play
    from robot_vision_nav.replay.replay import ReplayError

    subscribers = []
    for item in args.subscribers:
        name, sep, count = item.partition("=")
        if not sep or not count.isdigit():
            raise CliError(f"argument --subscribers: expected INPUT=N (e.g. odom=3), got {item!r}")
        subscribers.append((name.strip("/"), int(count)))
    try:
        options = PlayOptions(
            Path(args.bag), args.rate, args.delay, Path(args.topics_map) if args.topics_map else None,
            args.namespace, args.wait, subscribers=tuple(subscribers),
        )  # fmt: skip
        play(options, log=lambda line: print(line, file=sys.stderr))
    except (BagError, ReplayError) as err:
        raise CliError(str(err)) from err
    return 0


def _bag_record(args: argparse.Namespace) -> int:
    from robot_vision_nav.replay.errors import BagError
    from robot_vision_nav.replay.launch_plan import replay_output_topics
    from robot_vision_nav.replay.live import RecordOptions, record, topic_counts_line

    topics = tuple(args.topics) or tuple(replay_output_topics(args.namespace))
    try:
        counts = record(RecordOptions(Path(args.out), topics, not args.wall_time, args.seconds))
    except BagError as err:
        raise CliError(str(err)) from err
    print(f"{args.out}: {topic_counts_line(counts)}", file=sys.stderr)
    return 0


def _set_values(items: Sequence[str]) -> dict[str, dict[str, Any]]:
    """`NODE.PARAM=VALUE` (VALUE as YAML) -> {node: {param: value}}."""
    # Any: a parameter value is whatever YAML reads (a number, string, list, ...), as the options take it.
    form = "NODE.PARAM=VALUE (e.g. costmap_node.x=0.6)"
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        name, value = yaml_assignment(item, form)
        node, dot, param = name.partition(".")
        if not dot or not node or not param:
            raise CliError(f"argument --set: expected {form}, got {item!r}")
        out.setdefault(node, {})[param] = value
    return out


def _record(args: argparse.Namespace) -> int:
    from robot_vision_nav.replay.errors import BagError
    from robot_vision_nav.replay.record import RecordOptions, record
    from robot_vision_nav.ros.bringup import BringupError
    from robot_vision_nav.ros.params import ParameterError

    options = RecordOptions(
        out=Path(args.out), seconds=args.seconds, live=args.live, world_seed=args.world_seed, compress=args.compress,
        params_file=args.params or "", sim_params_file=args.sim_params or "", model=args.model or "",
        device=args.device or "", extra_parameters=_set_values(args.set), ground_truth=args.ground_truth,
    )  # fmt: skip
    printer = _progress_printer()
    try:
        info = record(options, progress=printer)
    except (BagError, BringupError, ParameterError) as err:
        raise CliError(str(err)) from err
    if sys.stderr.isatty():
        print("\r\033[K", end="", file=sys.stderr)
    print(json.dumps(info.as_dict()) if args.json else info.format())
    return 0


def _replay(args: argparse.Namespace) -> int:
    if args.suite:
        return _replay_suite(args)
    suite_only = [o for o, v in (("--report", args.report), ("--out-bags", args.out_bags),
                  ("--workers", args.workers != 1), ("--bag-timeout", args.bag_timeout),
                  ("--ray", args.ray is not None), ("--shard", args.shard),
                  ("--update-goldens", args.update_goldens)) if v]  # fmt: skip
    if suite_only:
        raise CliError(f"argument {suite_only[0]}: only with --suite")
    if not args.bag:
        raise CliError("the following arguments are required: BAG (or --suite SUITE.yaml)")
    return _replay_bag(args)


def _replay_suite(args: argparse.Namespace) -> int:
    from robot_vision_nav.cli.suite import run_suite_command

    return run_suite_command(args)


def _replay_bag(args: argparse.Namespace) -> int:
    from robot_vision_nav.replay.compare import CompareError, Tolerances, format_table, results_json, write_summary
    from robot_vision_nav.replay.errors import BagError
    from robot_vision_nav.replay.replay import ReplayError, ReplayOptions, replay
    from robot_vision_nav.ros.bringup import BringupError
    from robot_vision_nav.ros.params import ParameterError

    tolerances = Tolerances()
    if args.tolerances:
        import yaml

        try:
            values = yaml.safe_load(Path(args.tolerances).read_text()) or {}
        except (OSError, yaml.YAMLError) as err:
            raise CliError(f"argument --tolerances: cannot read {args.tolerances!r}: {err}") from err
        if not isinstance(values, dict):
            raise CliError(f"argument --tolerances: {args.tolerances!r} is not a mapping of tolerance: value")
        try:
            tolerances = Tolerances.from_mapping(values, args.tolerances)
        except ValueError as err:
            raise CliError(str(err)) from err
    if args.summary and Path(args.summary).exists():
        raise CliError(f"argument --summary: {args.summary!r} exists already; not overwritten")
    if args.summary and not Path(args.summary).parent.is_dir():
        raise CliError(f"argument --summary: folder {str(Path(args.summary).parent)!r} does not exist")
    options = ReplayOptions(
        bag=Path(args.bag), out_bag=Path(args.out) if args.out else None,
        topics_map=Path(args.topics_map) if args.topics_map else None,
        check=Path(args.check) if args.check else None, tolerances=tolerances, params_file=args.params or "",
        model=args.model or "", device=args.device or "", extra_parameters=_set_values(args.set),
        lock_step=args.lock_step,
    )  # fmt: skip
    interactive = sys.stderr.isatty() and not args.no_progress

    def progress(done: int, total: int, bag_s: float, duration_s: float) -> None:
        if interactive and (done == total or done % 20 == 0):
            width = 30
            filled = round(width * done / max(total, 1))
            print(f"\r\033[Kreplay [{'#' * filled}{'.' * (width - filled)}] {done}/{total} messages, "
                  f"{bag_s:6.2f} of {duration_s:.2f} s", end="", file=sys.stderr, flush=True)  # fmt: skip

    try:
        result = replay(options, progress=progress)
        if args.summary:
            write_summary(Path(args.summary), result.summary)
    except (BagError, CompareError, ReplayError, BringupError, ParameterError) as err:
        raise CliError(str(err)) from err
    except OSError as err:
        raise CliError(f"argument --summary: cannot write {args.summary!r}: {err.strerror or err}") from err
    finally:
        if interactive:
            print("\r\033[K", end="", file=sys.stderr, flush=True)
    if args.json:
        out: dict[str, object] = {
            "bag": result.bag, "out_bag": result.out_bag, "bag_duration_s": round(result.bag_duration_s, 6),
            "wall_s": round(result.wall_s, 3), "realtime_factor": round(result.realtime_factor, 3),
            "inputs": result.inputs, "outputs": result.outputs,
        }  # fmt: skip
        if result.check is not None:
            out |= {"golden": result.golden, "passed": result.passed, "check": results_json(result.check)}
        print(json.dumps(out))
    else:
        print(f"replayed {result.bag}: {sum(result.inputs.values())} input messages, {result.bag_duration_s:.2f} s of "
              f"bag in {result.wall_s:.2f} s wall ({result.realtime_factor:.2f}x real time)")  # fmt: skip
        print("outputs: " + ", ".join(f"{t} {n}" for t, n in result.outputs.items()))
        if result.out_bag:
            print(f"wrote {result.out_bag}")
        if result.check is not None:
            print(f"check against {result.golden}:")
            print(format_table(result.check))
            print("PASS" if result.passed else "FAIL: the replay differs from the golden beyond tolerance")
    return 0 if result.passed else 1


# ---------------------------------------------------------------------------------------- parsers
def register(sub: Subparsers) -> None:
    """Add `rvn bag` (info, play, record), `rvn record` and `rvn replay` to `sub`."""
    p = sub.add_parser(
        "bag",
        help="inspect a bag (rosbag2 sqlite3 or mcap, ROS 1 .bag)",
        description="Bag tools that need no ROS install (the rosbags library).",
    )
    bag_sub = p.add_subparsers(dest="bag_command", metavar="COMMAND", required=True, parser_class=Parser)
    q = bag_sub.add_parser(
        "info",
        help="topics, types, counts, duration and storage of a bag, like ros2 bag info",
        description="Print a bag's storage (sqlite3, mcap, rosbag1), size, duration (s, from the messages' log "
        "times), start and end (s since the epoch, or sim time), message count and each topic's type and count. "
        "BAG is a rosbag2 folder (with metadata.yaml), a .mcap file or a ROS 1 .bag file.",
    )
    q.add_argument("bag", metavar="BAG", help="rosbag2 folder, .mcap file or ROS 1 .bag file")
    q.add_argument("--json", action="store_true", help="print one JSON object")
    q.set_defaults(handler=_bag_info)
    q = bag_sub.add_parser(
        "play",
        help="publish a bag's stack inputs and /clock to a running stack, like ros2 bag play --clock",
        description="Publish the stack's inputs from BAG (colour Image or CompressedImage, decoded; depth; "
        "camera_info; odom; goal_pose) on a wall-clock schedule, with /clock at each message's log time, to a stack "
        "running on sim time in other processes (replay.launch.py player:=rvn). Waits up to --wait s for a "
        "subscriber on every input, then --delay s. Not lock-step: `rvn replay` is the deterministic replay.",
    )
    q.add_argument("bag", metavar="BAG", help="rosbag2 folder, .mcap file or ROS 1 .bag file")
    q.add_argument("--rate", type=positive("x"), default=1.0, metavar="R",
                   help="play rate, > 0 (0.5 = half speed; default 1)")  # fmt: skip
    q.add_argument("--delay", type=finite("s"), default=0.0, metavar="S",
                   help="seconds >= 0 to wait after the stack subscribes (default 0)")  # fmt: skip
    q.add_argument("--wait", type=finite("s"), default=60.0, metavar="S",
                   help="seconds to wait for a subscriber on every input (default 60)")  # fmt: skip
    q.add_argument("--topics-map", metavar="FILE",
                   help="YAML 'stack input: bag topic' for a bag that names the inputs otherwise")  # fmt: skip
    q.add_argument("--namespace", default="", metavar="NS", help="publish the inputs under this namespace")
    q.add_argument("--subscribers", action="append", default=[], metavar="INPUT=N",
                   help="wait for N subscribers on a stack input (e.g. odom=3) before playing; repeatable; "
                   "default 1 each")  # fmt: skip
    q.set_defaults(handler=_bag_play)
    q = bag_sub.add_parser(
        "frames",
        help="colour, aligned depth, camera and robot pose per frame out of a bag, for labelling and training",
        description="Write a frames folder OUT: images/NAME.png (RGB), depth/NAME.png (16-bit mm, 0 = none), "
        "camera.yaml (size, fx fy cx cy, distortion, frame ids, the camera mount in base_link), frames.csv (name, "
        "stamp_ns, x_m, y_m, yaw_rad: base_link in the odometry frame at the image's stamp, interpolated between "
        "odometry messages), odometry.csv (every odometry pose) and, for a bag recorded with `rvn record "
        "--ground-truth`, truth/NAME.png (the simulator's class ids). A colour image becomes a frame when a depth "
        "image is within --max-skew of it and odometry brackets its stamp. Topics are found as `rvn replay` finds "
        "them (--topics-map for other names). `rvn autolabel OUT` labels it; `rvn train --dataset folder "
        "--data-root OUT` trains on it. OUT appears only when complete and is never overwritten.",
    )
    q.add_argument("bag", metavar="BAG", help="rosbag2 folder, .mcap file or ROS 1 .bag file")
    q.add_argument("--out", required=True, metavar="DIR", help="the frames folder to write (must not exist)")
    q.add_argument("--every", type=int_in(1, 1_000_000, "--every"), metavar="N",
                   help="keep every N-th usable frame (default: every one)")  # fmt: skip
    q.add_argument("--min-motion", type=positive("m"), metavar="M",
                   help="keep a frame once base_link moved M metres since the last one kept "
                   "(not with --every)")  # fmt: skip
    q.add_argument("--max-skew", type=finite("s"), default=0.02, metavar="S",
                   help="largest |colour stamp - depth stamp| of a frame (s, default 0.02)")  # fmt: skip
    q.add_argument("--mount", metavar="X,Y,Z,R,P,Y",
                   help="camera body pose in base_link (m, rad; pitch > 0 looks down); default the stack's "
                   "camera_mount_xyzrpy 0.1,0,0.5,0,0.35,0")  # fmt: skip
    q.add_argument("--topics-map", metavar="FILE",
                   help="YAML 'stack input: bag topic' for a bag that names the inputs otherwise")  # fmt: skip
    q.add_argument("--prefix", metavar="TEXT",
                   help="file name prefix (default: the bag's name and '_'); frames are "
                   "PREFIX000000.png, ...")  # fmt: skip
    q.add_argument("--json", action="store_true", help="print one JSON object")
    q.set_defaults(handler=_bag_frames)
    q = bag_sub.add_parser(
        "record",
        help="record topics of a running stack into a new mcap bag, like ros2 bag record",
        description="Subscribe to each TOPIC with the type its publishers offer and write every message into a new "
        "mcap bag OUT, with the node clock (sim time, /clock, unless --wall-time) as log time, until Ctrl-C / SIGINT "
        "or --seconds. The bag appears under OUT only when complete; an existing OUT is never overwritten.",
    )
    q.add_argument("out", metavar="OUT", help="output bag folder (must not exist)")
    q.add_argument("topics", metavar="TOPIC", nargs="*",
                   help="topics to record (default: the stack's outputs, under --namespace)")  # fmt: skip
    q.add_argument("--namespace", default="", metavar="NS", help="the stack's namespace, for the default topics")
    q.add_argument("--wall-time", action="store_true", help="log times from the wall clock, not /clock")
    q.add_argument("--seconds", type=finite("s"), default=0.0, metavar="S",
                   help="stop after S wall seconds (default 0: until Ctrl-C)")  # fmt: skip
    q.set_defaults(handler=_bag_record)

    p = sub.add_parser(
        "record",
        help="run the simulator (or a live source) with the stack and record inputs and outputs to a bag",
        description="Write a rosbag2 mcap bag (zstd chunks) of the stack's inputs (camera colour, depth, camera_info, "
        "odom, goal_pose) and outputs (segmentation/traversable, local_costmap/costmap, plan, cmd_vel, planner and "
        "controller status). By default the built-in simulator runs the world of --world-seed with the world's goal, "
        "for --seconds of sim time or until the goal is reached; with --live the stack runs on whatever publishes the "
        "camera and odom topics (a driver, a bag being played) for --seconds of wall time (0: until Ctrl-C). The bag "
        "appears under OUT only when complete; Ctrl-C ends the recording and keeps it; an existing OUT is never "
        "overwritten.",
    )
    p.add_argument("out", metavar="OUT", help="output bag folder (must not exist)")
    p.add_argument("--seconds", type=finite("s"), default=10.0, metavar="S",
                   help="how long (s; sim time, or wall time with --live; 0 with --live: until Ctrl-C; "
                   "default 10)")  # fmt: skip
    p.add_argument("--world-seed", type=int_in(0, 999_999, "world seed"), default=1, metavar="N",
                   help="the simulated warehouse (default 1)")  # fmt: skip
    p.add_argument("--live", action="store_true", help="no simulator: record the stack on live topics")
    p.add_argument("--compress", action="store_true",
                   help="colour as .../compressed (JPEG), depth as .../compressedDepth (PNG): "
                   "~10x smaller bags")  # fmt: skip
    p.add_argument("--ground-truth", action="store_true",
                   help="also record the simulator's class ids (sim/labels, mono8): `rvn bag frames` writes them "
                   "to truth/ to measure labels and models against")  # fmt: skip
    p.add_argument("--sim-params", metavar="FILE", help="the simulator's YAML (default config/sim.yaml)")
    p.add_argument("--set", action="append", default=[], metavar="NODE.PARAM=VALUE",
                   help="override one parameter (VALUE in YAML), e.g. sim_node.camera_rate_hz=5.0; "
                   "repeatable")  # fmt: skip
    add_stack_arguments(p)
    p.add_argument("--json", action="store_true", help="print the bag's info as one JSON object")
    p.set_defaults(handler=_record)

    p = sub.add_parser(
        "replay",
        help="feed a bag through the stack in lock-step (deterministic), write the outputs, compare with a golden",
        description="Publish the bag's input topics (colour Image or CompressedImage, depth Image or compressedDepth, "
        "camera_info, odom, goal_pose) one message at a time through segmentation, costmap, planner and controller "
        "in this process, with /clock from the messages' log times, each message processed fully before the next: the "
        "same bag and parameters give byte-identical outputs on one machine. --out writes the outputs as an mcap bag "
        "(only when complete); --check compares with a golden output bag or summary JSON, per stream: mask IoU, "
        "costmap cells agreeing, plan Hausdorff distance (m), cmd_vel largest difference; exit status 1 on a "
        "regression, 2 on bad input (a corrupt bag, a missing topic, a topic map naming a missing topic).",
    )
    p.add_argument("bag", metavar="BAG", nargs="?", help="rosbag2 folder, .mcap file or ROS 1 .bag file")
    s = p.add_argument_group("suites (many bags, one report; instead of BAG)")
    s.add_argument("--suite", metavar="SUITE.yaml",
                   help="replay every bag of a suite file (bags, goldens per device class, tolerances, parameters, "
                   "topic maps; see replay/suite.py) and write one report: exit 0 all passed, 1 a regression or a "
                   "bag that could not run, 2 bad input, naming it")  # fmt: skip
    s.add_argument("--report", metavar="DIR",
                   help="with --suite: the report folder (junit.xml, summary.md, summaries/; created, must not hold "
                   "a report yet; default replay-report)")  # fmt: skip
    s.add_argument("--out-bags", action="store_true", help="with --suite: also write each bag's output bag "
                   "to DIR/bags/NAME")  # fmt: skip
    s.add_argument("--workers", type=int_in(1, 256, "processes"), default=1, metavar="N",
                   help="with --suite: replay N bags at once, each in a fresh process with DDS discovery off and "
                   "its own ROS domain (default 1: one after the other in this process)")  # fmt: skip
    s.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                   help="with --suite: one Ray task per bag on the cluster at ADDRESS (ray://HOST:10001, or auto on "
                   "a cluster node), or on a local Ray instance (loopback only) when no ADDRESS is given; the "
                   "bags, goldens and model must be at the same paths on every node (a shared mount); needs "
                   "pip install robot_vision_nav[ray]")  # fmt: skip
    s.add_argument(
        "--bag-timeout",
        type=positive("s"),
        metavar="S",
        help="with --suite: run each bag in a worker process (also with --workers 1) and stop one still running "
        "after S s, counted from the worker's start (its imports and model load, seconds, included); that bag "
        "is an error, the others go on",
    )
    s.add_argument("--shard", metavar="K/N",
                   help="with --suite: only bags K, K+N, K+2N, ... of the suite (K from 0), for a CI matrix or a "
                   "Kubernetes Indexed Job (K = $JOB_COMPLETION_INDEX) that fans the suite out itself")  # fmt: skip
    s.add_argument("--update-goldens", action="store_true",
                   help="with --suite: replay and write each bag's golden for the device class it ran on (the "
                   "suite's file for that class, or goldens/CLASS/NAME.json beside the suite), saying which "
                   "changed")  # fmt: skip
    p.add_argument("--topics-map", metavar="FILE",
                   help="YAML 'stack input: bag topic', e.g. camera/color/image_raw: /camera/camera/color/image_raw "
                   "(see config/topics_realsense.yaml)")  # fmt: skip
    p.add_argument("--out", metavar="OUT_BAG", help="write the outputs as a new mcap bag (must not exist)")
    p.add_argument("--check", metavar="GOLDEN", help="golden output bag or summary .json to compare with")
    p.add_argument("--tolerances", metavar="FILE",
                   help="YAML of tolerances: mask_iou_min, costmap_agreement_min, path_hausdorff_max_m, "
                   "cmd_vel_max_diff, unmatched_max")  # fmt: skip
    p.add_argument("--summary", metavar="FILE", help="write the outputs' summary JSON (a golden for --check)")
    p.add_argument("--set", action="append", default=[], metavar="NODE.PARAM=VALUE",
                   help="override one parameter (VALUE in YAML), e.g. costmap_node.inflation_radius_m=0.6; "
                   "repeatable")  # fmt: skip
    add_stack_arguments(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.add_argument("--lock-step", choices=("direct", "executor"), default="direct",
                   help="how the stack is settled after each message: direct (the stack's callbacks round by round "
                   "on one reused wait set, default) or executor (rclpy's SingleThreadedExecutor, the slower "
                   "reference; both give the same output bytes)")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print the result (and the check) as one JSON object")
    p.set_defaults(handler=_replay)
