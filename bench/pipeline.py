"""Per-stage latency of the whole stack, camera stamp to cmd_vel, in one process vs one process per node.

A driver node replays pre-rendered simulator frames (world 1, 320x240, the robot moved along the
world's route) as a camera would: colour, aligned depth, camera_info and odometry with one stamp.
For each frame it records the wall time from publishing the image until
  segmentation  segmentation/traversable with that stamp arrives,
  costmap       local_costmap/costmap with that stamp arrives,
  planner       plan with that stamp arrives,
  controller    the TwistStamped answering the next control tick (odometry 50 ms later, sent the
                moment the plan arrived) arrives;
`total` is the sum: camera stamp to the first command that used it. The next frame goes out when
the previous one was answered (or after a timeout), so `loop Hz` is the closed-loop rate the stack
sustains on this machine. The costmap publishes every update and the planner replans on every
costmap here (publish_rate_hz 0, replan_period_s 0.05), so every frame passes every stage.

Ours: `rvn run`, the stack in one process on rclpy's EventsExecutor. Peer: `rvn run --processes`,
one process per node over Fast DDS shared memory. The driver is a process of its own in both, as a
camera driver would be. p50 and p99 per stage; speedup = peer p50 / ours p50.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")

from bench.common import machine

STAGES = ("segmentation", "costmap", "planner", "controller", "total")
FRAMES = 60
QUICK_FRAMES = 12
ANSWER_TIMEOUT_S = 3.0
CONTROL_STEP_NS = 50_000_000
BENCH_PARAMS = {
    "costmap_node": {"publish_rate_hz": 0.0},
    "planner_node": {"replan_period_s": 0.05},
}  # cmd_vel is TwistStamped (carrying the odometry stamp it answers) by the stack's default, `/**`


def render_frames(count: int) -> tuple[list[Any], Any, tuple[float, float]]:
    """`count` frames along world 1's route: (frames, intrinsics, goal)."""
    from robot_vision_nav.core.geometry import Pose2D
    from robot_vision_nav.sim.sim import Simulator
    from robot_vision_nav.sim.world import generate_world

    world = generate_world(1)
    route = np.asarray(world.route_xy)
    seg_len = np.hypot(*np.diff(route, axis=0).T)
    along = np.concatenate([[0.0], np.cumsum(seg_len)])
    frames = []
    with Simulator(world) as sim:
        for i, s in enumerate(np.linspace(0.0, min(along[-1], 0.1 * count), count, endpoint=False)):
            k = min(int(np.searchsorted(along, s, side="right")) - 1, len(route) - 2)
            t = (s - along[k]) / max(seg_len[k], 1e-9)
            x, y = route[k] + t * (route[k + 1] - route[k])
            yaw = math.atan2(*(route[k + 1] - route[k])[::-1])
            stamp = (i + 1) * 200_000_000
            sim.set_pose(Pose2D(float(x), float(y), yaw, stamp))
            frame = sim.render()
            frames.append((stamp, Pose2D(float(x), float(y), yaw, stamp), frame.rgb, frame.depth_mm()))
        intrinsics = sim.intrinsics
    return frames, intrinsics, world.goal_xy


class Driver:
    """Publishes the frames and times each stage's answer (wall clock, this process)."""

    def __init__(self, context: Any) -> None:
        from geometry_msgs.msg import PoseStamped, TwistStamped
        from nav_msgs.msg import OccupancyGrid, Odometry, Path
        from rclpy.node import Node
        from sensor_msgs.msg import CameraInfo, Image

        from robot_vision_nav.ros.qos import COMMAND_QOS, MAP_QOS, PLAN_QOS, SENSOR_QOS

        self.node = Node("bench_pipeline_driver", context=context)
        n = self.node
        self.pub_rgb = n.create_publisher(Image, "camera/color/image_raw", SENSOR_QOS)
        self.pub_depth = n.create_publisher(Image, "camera/aligned_depth_to_color/image_raw", SENSOR_QOS)
        self.pub_info = n.create_publisher(CameraInfo, "camera/color/camera_info", SENSOR_QOS)
        self.pub_odom = n.create_publisher(Odometry, "odom", SENSOR_QOS)
        self.pub_goal = n.create_publisher(PoseStamped, "goal_pose", 10)
        self.arrivals: dict[tuple[str, int], float] = {}
        self.lock = threading.Lock()
        self.pending_pose: dict[int, Any] = {}
        n.create_subscription(Image, "segmentation/traversable", lambda m: self._got("segmentation", m), SENSOR_QOS)
        n.create_subscription(OccupancyGrid, "local_costmap/costmap", lambda m: self._got("costmap", m), MAP_QOS)
        n.create_subscription(Path, "plan", self._on_plan, PLAN_QOS)
        n.create_subscription(TwistStamped, "cmd_vel", lambda m: self._got("controller", m), COMMAND_QOS)

    def _got(self, stage: str, msg: Any) -> None:
        from robot_vision_nav.ros.messages import stamp_to_ns

        with self.lock:
            self.arrivals.setdefault((stage, stamp_to_ns(msg.header.stamp)), time.perf_counter())

    def _on_plan(self, msg: Any) -> None:
        from robot_vision_nav.ros.messages import pose2d_to_odometry, stamp_to_ns

        self._got("planner", msg)
        stamp = stamp_to_ns(msg.header.stamp)
        pose = self.pending_pose.pop(stamp, None)
        if pose is not None:  # the next control tick, at once: the controller answers it with this plan
            self.pub_odom.publish(pose2d_to_odometry(pose, 0.0, 0.0, "odom", "base_link", stamp + CONTROL_STEP_NS))


def _spin(executor: Any, stop: threading.Event) -> None:
    while not stop.is_set():
        executor.spin_once(timeout_sec=0.05)


def _bench_params_file() -> Path:
    """The stack's YAML with BENCH_PARAMS on top, in a temporary file (`rvn run --params`)."""
    import tempfile

    import yaml

    from robot_vision_nav.package_files import package_file
    from robot_vision_nav.ros.bringup import STACK_PARAMS

    data = yaml.safe_load(package_file("config", STACK_PARAMS).read_text())
    for node, values in BENCH_PARAMS.items():
        data[node]["ros__parameters"].update(values)
    fd, name = tempfile.mkstemp(prefix="rvn_bench_pipeline_", suffix=".yaml")
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump(data, f, sort_keys=False)  # in file order: the `/**` section stays last
    return Path(name)


def measure(mode: str, frames: list[Any], intrinsics: Any, goal: tuple[float, float]) -> dict[str, Any]:
    """Run the stack in `mode` ('in-process' or 'processes') and time every frame's stages."""
    import rclpy
    from geometry_msgs.msg import PoseStamped
    from rclpy.context import Context

    from robot_vision_nav.ros.image import numpy_to_image
    from robot_vision_nav.ros.messages import intrinsics_to_camera_info, pose2d_to_odometry
    from robot_vision_nav.ros.runner import apply_ros_environment, make_executor, ros_environment, stop_processes

    apply_ros_environment()
    params = _bench_params_file()
    command = [sys.executable, "-m", "robot_vision_nav.cli", "run", "--params", str(params), "--log-level", "error"]
    if mode == "processes":
        command.append("--processes")
    context = Context()
    rclpy.init(context=context, args=[])
    stack = subprocess.Popen(command, env=ros_environment(), stdout=subprocess.DEVNULL)
    stop = threading.Event()
    try:
        driver = Driver(context)
        executor = make_executor("events", context)
        executor.add_node(driver.node)
        spinner = threading.Thread(target=_spin, args=(executor, stop), daemon=True)
        spinner.start()
        deadline = time.monotonic() + 60.0
        while driver.pub_goal.get_subscription_count() == 0 or driver.pub_rgb.get_subscription_count() == 0:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{mode}: the stack did not come up within 60 s")
            time.sleep(0.05)
        first_pose = frames[0][1]
        driver.pub_odom.publish(pose2d_to_odometry(first_pose, 0.0, 0.0, "odom", "base_link", frames[0][0] - 1000))
        goal_msg = PoseStamped()
        goal_msg.header.frame_id = "odom"
        goal_msg.pose.position.x, goal_msg.pose.position.y = float(goal[0]), float(goal[1])
        goal_msg.pose.orientation.w = 1.0
        time.sleep(0.5)
        driver.pub_goal.publish(goal_msg)
        sent: dict[int, float] = {}
        cycle_s: list[float] = []
        for stamp, pose, rgb, depth in frames:
            driver.pending_pose[stamp] = pose
            started = time.perf_counter()
            driver.pub_odom.publish(pose2d_to_odometry(pose, 0.0, 0.0, "odom", "base_link", stamp))
            driver.pub_depth.publish(numpy_to_image(depth, "16UC1", stamp, "camera_color_optical_frame"))
            driver.pub_info.publish(intrinsics_to_camera_info(intrinsics, "camera_color_optical_frame", stamp))
            sent[stamp] = time.perf_counter()
            driver.pub_rgb.publish(numpy_to_image(rgb, "rgb8", stamp, "camera_color_optical_frame"))
            wait_until = time.perf_counter() + ANSWER_TIMEOUT_S
            while ("controller", stamp + CONTROL_STEP_NS) not in driver.arrivals and time.perf_counter() < wait_until:
                time.sleep(0.001)
            cycle_s.append(time.perf_counter() - started)
    finally:
        stop.set()
        if "spinner" in locals():
            spinner.join(timeout=5.0)
        stop_processes([stack])
        params.unlink(missing_ok=True)
        rclpy.try_shutdown(context=context)
    latencies: dict[str, list[float]] = {s: [] for s in STAGES}
    keys = {"segmentation": 0, "costmap": 0, "planner": 0, "controller": CONTROL_STEP_NS}
    answered = 0
    for stamp, t0 in list(sent.items())[2:]:  # the first frames pay for warm-up and the first plan
        got = {s: driver.arrivals.get((s, stamp + dk)) for s, dk in keys.items()}
        if any(v is None for v in got.values()):
            continue
        answered += 1
        previous = t0
        for stage in ("segmentation", "costmap", "planner", "controller"):
            t = got[stage]
            assert t is not None
            latencies[stage].append((t - previous) * 1e3)
            previous = max(previous, t)
        latencies["total"].append((previous - t0) * 1e3)
    return {
        "mode": mode,
        "frames": len(sent) - 2,
        "answered": answered,
        "loop_hz": round(1.0 / float(np.mean(cycle_s[2:])), 2) if len(cycle_s) > 2 else 0.0,
        "latency_ms": {
            s: {"p50": round(float(np.percentile(v, 50)), 2), "p99": round(float(np.percentile(v, 99)), 2)}
            for s, v in latencies.items()
            if v
        },
    }


def run(quick: bool = False) -> dict[str, Any]:
    """Both modes on the same frames; one row per stage."""
    frames, intrinsics, goal = render_frames(QUICK_FRAMES if quick else FRAMES)
    ours = measure("in-process", frames, intrinsics, goal)
    peer = measure("processes", frames, intrinsics, goal)
    rows = []
    for stage in STAGES:
        a, b = ours["latency_ms"].get(stage), peer["latency_ms"].get(stage)
        if a is None or b is None:
            continue
        rows.append({
            "case": f"{stage} (camera stamp ->)" if stage == "total" else stage,
            "ours_ms": a["p50"], "ours_p99_ms": a["p99"], "peer": "processes", "peer_ms": b["p50"],
            "peer_p99_ms": b["p99"], "speedup": round(b["p50"] / a["p50"], 3) if a["p50"] > 0 else None,
        })  # fmt: skip
    return {
        "bench": "pipeline",
        "machine": machine(),
        "rows": rows,
        "ours": {k: v for k, v in ours.items() if k != "latency_ms"},
        "peer": {k: v for k, v in peer.items() if k != "latency_ms"},
        "notes": [
            f"closed loop: in-process {ours['loop_hz']} Hz ({ours['answered']}/{ours['frames']} frames answered), "
            f"processes {peer['loop_hz']} Hz ({peer['answered']}/{peer['frames']})",
        ],
    }


def print_result(result: dict[str, Any]) -> None:
    """The table for people: p50 / p99 per stage in both modes."""
    print(f"bench pipeline on {result['machine']}")
    header = f"{'stage':<28} {'in-process p50/p99 ms':>22}  {'processes p50/p99 ms':>22} {'speedup':>8}"
    print(header)
    print("-" * len(header))
    for r in result["rows"]:
        print(
            f"{r['case']:<28} {r['ours_ms']:>10.1f} /{r['ours_p99_ms']:>9.1f}  {r['peer_ms']:>10.1f} /"
            f"{r['peer_p99_ms']:>9.1f} {r['speedup']:>7.2f}x"
        )
    for note in result["notes"]:
        print(note)


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.pipeline [--json] [--quick]`."""
    parser = argparse.ArgumentParser(prog="bench.pipeline", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_FRAMES} frames (a smoke test)")
    args = parser.parse_args(argv)
    result = run(quick=args.quick)
    if args.json:
        print(json.dumps(result))
        return 0
    print_result(result)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main())
