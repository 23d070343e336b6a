"""bench soak: the closed loop in the simulator for N minutes: memory growth, latency drift, stalls.

The simulator (sim_node, real_time mode: sim time follows wall time as on a robot) and the stack's
nodes (`ros.bringup.stack_nodes`) run one process per node, as `rvn run --sim --processes` and
`ros2 launch` start them, so the resident memory of each node is its own (in one process a leak
would hide in the sum, and not say whose it is).
The bench process holds one listener node; it drives the robot back and forth along the world's
route (world 1: its goal, then its start, then its goal, ...), a new goal the moment the last one
succeeded, failed or timed out, as `rvn goto` does (`ros.goto.StackWatcher` and
`core.goal_tracker`), so the robot never idles.

Measured, all on the bench process's wall clock (`time.monotonic`):
  memory    VmRSS of every node process from /proc/PID/status every few seconds; after the warm-up
            the least-squares slope (MiB/min) and the growth it implies over the run. A process
            grows "beyond noise" when that growth exceeds both GROWTH_TOLERANCE_MIB and three
            residual standard deviations of the fit.
  latency   per frame, from the arrival of its camera_info (published with the image, same stamp)
            to the arrival of each stage's output carrying that stamp: segmentation/traversable,
            local_costmap/costmap (every third frame at publish_rate_hz 5), plan (about once a
            second) and cmd_vel, the command the base gets: the first TwistStamped stamped at or
            after the frame that arrives after its plan did (the controller answers the next
            odometry tick, up to 50 ms later, and the safety layer passes it on with its stamp).
            p50/p95/p99/max over the run after the warm-up.
  stalls    while a goal is being driven (after the warm-up), any gap between two arrivals of a
            stage's output longer than its nominal period (from the config YAMLs) + STALL_GAP_S.

The peer measured in the same run is the run's own first window: each row compares the stage's
latency in the last window (ours) with the first window right after the warm-up (peer);
speedup = first p50 / last p50 and p99_ratio = first p99 / last p99, so ~1.0 means no drift and
< 1 means the loop got slower. Memory compares the last window's mean RSS with the first's.

The default run is 10 minutes (`rvn bench soak --minutes M` for another length, `--quick` for
24 s); warm-up and windows are a fifth of the run, at most 60 s each. The nodes' stderr goes to
log files in a fresh folder (their count of warnings and errors is reported). Whatever happens,
Ctrl-C included, the robot is sent a goal at its own pose, the node commanding the base is
stopped first and alone (its last command a zero velocity), then every other node process;
Ctrl-C ends the soak early and reports what was measured.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from bisect import bisect_left
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")

from bench.common import machine

DEFAULT_MINUTES = 10.0
QUICK_S = 24.0
WARMUP_S = 60.0  # at most; a fifth of a shorter run
WINDOW_S = 60.0  # first and last window compared; at most, a fifth of a shorter run
SAMPLE_PERIOD_S = 5.0  # RSS sampling, at most; at least six samples per window
WORLD_SEED = 1
STAGES = ("segmentation", "costmap", "plan", "cmd_vel")
STREAMS = ("camera", *STAGES)  # what stalls are counted on
STALL_GAP_S = 1.0
GROWTH_TOLERANCE_MIB = 5.0
READY_TIMEOUT_S = 180.0  # wall time for five processes to import torch, load the model and talk
COMMAND_MATCH_S = 2.0  # a cmd_vel later than this after the plan answers another frame
GOAL_RETRY_S = 1.0  # wall time after a failed goal before the next one
CLOCK_STALL_S = 10.0  # no /clock for this long (wall): the goal is failed and the next one sent


# ---------------------------------------------------------------------------------------- pure helpers
def percentiles(values_ms: Sequence[float]) -> dict[str, float]:
    """{"n", "p50", "p95", "p99", "max"} of latencies in ms (linear interpolation); {"n": 0} when empty."""
    if len(values_ms) == 0:
        return {"n": 0}
    a = np.asarray(values_ms, np.float64)
    p50, p95, p99 = np.percentile(a, [50, 95, 99])
    return {"n": len(a), "p50": round(float(p50), 2), "p95": round(float(p95), 2), "p99": round(float(p99), 2),
            "max": round(float(a.max()), 2)}  # fmt: skip


def rss_trend(times_s: ArrayLike, rss_mib: ArrayLike) -> dict[str, float]:
    """Least-squares line through (time, RSS): slope (MiB/min), the growth it implies over the span, residual sd.

    Returns NaN slope and growth for fewer than two samples or a zero time span.
    """
    t = np.asarray(times_s, np.float64).ravel()
    y = np.asarray(rss_mib, np.float64).ravel()
    span_s = float(t.max() - t.min()) if len(t) else 0.0
    if len(t) < 2 or span_s <= 0.0:
        return {"slope_mib_per_min": math.nan, "growth_mib": math.nan, "residual_sd_mib": math.nan, "span_s": span_s}
    minutes = (t - t.mean()) / 60.0
    slope = float((minutes * (y - y.mean())).sum() / (minutes * minutes).sum())
    residual = y - (y.mean() + slope * minutes)
    sd = float(np.sqrt((residual**2).sum() / max(len(t) - 2, 1)))
    return {"slope_mib_per_min": slope, "growth_mib": slope * span_s / 60.0, "residual_sd_mib": sd, "span_s": span_s}


def is_growing(trend: Mapping[str, float], tolerance_mib: float = GROWTH_TOLERANCE_MIB) -> bool:
    """Growth beyond noise: the fitted growth over the span exceeds `tolerance_mib` and 3 residual sd."""
    growth = trend["growth_mib"]
    if not math.isfinite(growth):
        return False
    return growth > max(tolerance_mib, 3.0 * trend["residual_sd_mib"])


def find_stalls(
    arrivals_s: Sequence[float], active: Sequence[tuple[float, float]], threshold_s: float
) -> list[tuple[float, float]]:
    """Gaps longer than `threshold_s` in a stream's arrival times, within the `active` (start, end) intervals.

    The start and end of each interval count as arrivals, so a stream silent from the start of an
    interval, or since its last message before the end, stalls too.

    Returns:
        (start s, gap s) of each stall, in time order.

    """
    times = sorted(arrivals_s)
    stalls: list[tuple[float, float]] = []
    for start, end in active:
        if end <= start:
            continue
        lo, hi = bisect_left(times, start), bisect_left(times, end)
        edges = [start, *times[lo:hi], end]
        stalls += [(a, b - a) for a, b in pairwise(edges) if b - a > threshold_s]
    return stalls


def clip_intervals(intervals: Sequence[tuple[float, float]], lo: float, hi: float) -> list[tuple[float, float]]:
    """The parts of the intervals inside [lo, hi]; empty ones dropped."""
    out = [(max(a, lo), min(b, hi)) for a, b in intervals]
    return [(a, b) for a, b in out if b > a]


def stage_latencies(
    camera: Mapping[int, float], outputs: Mapping[str, Mapping[int, float]], commands: Sequence[tuple[float, int]]
) -> dict[str, list[tuple[float, float]]]:
    """(camera arrival s, latency ms) of each frame at each stage, from arrival times keyed by stamp (ns).

    Args:
        camera: stamp -> arrival of the frame's camera_info.
        outputs: "segmentation", "costmap", "plan" -> (stamp -> arrival of that output).
        commands: (arrival s, stamp ns) of every cmd_vel, in arrival order.

    The cmd_vel latency of a frame is to the first command that arrives after the frame's plan,
    within COMMAND_MATCH_S, with a stamp at or after the frame's.

    """
    out: dict[str, list[tuple[float, float]]] = {s: [] for s in STAGES}
    cmd_t = [t for t, _ in commands]
    for stamp, t_cam in sorted(camera.items()):
        for stage in ("segmentation", "costmap", "plan"):
            t = outputs.get(stage, {}).get(stamp)
            if t is not None:
                out[stage].append((t_cam, (t - t_cam) * 1e3))
        t_plan = outputs.get("plan", {}).get(stamp)
        if t_plan is None:
            continue
        for i in range(bisect_left(cmd_t, t_plan), len(commands)):
            t, cmd_stamp = commands[i]
            if t - t_plan > COMMAND_MATCH_S:
                break
            if cmd_stamp >= stamp:
                out["cmd_vel"].append((t_cam, (t - t_cam) * 1e3))
                break
    return out


def in_window(samples: Sequence[tuple[float, float]], start: float, end: float) -> list[float]:
    """Values of (time, value) samples with start <= time <= end."""
    return [v for t, v in samples if start <= t <= end]


def windows(duration_s: float) -> tuple[float, float, float]:
    """(warm-up s, window s, RSS sample period s) for a run of `duration_s`: a fifth each, capped."""
    warmup = min(WARMUP_S, duration_s / 5.0)
    window = min(WINDOW_S, duration_s / 5.0)
    return warmup, window, min(SAMPLE_PERIOD_S, window / 6.0)


def read_rss_mib(pid: int) -> float | None:
    """VmRSS of process `pid` in MiB (/proc/PID/status); None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0  # kB
    return None


def soak_parameters() -> dict[str, dict[str, Any]]:
    """Parameters given on top of the YAMLs.

    TwistStamped commands wherever a node has the choice, so the stamp of the odometry a command
    answers reaches cmd_vel; no ground-truth labels from the simulator (nothing here reads them).
    """
    from robot_vision_nav.ros.bringup import NODE_KINDS, STACK

    out: dict[str, dict[str, Any]] = {"sim_node": {"publish_labels": False}}
    for name in ("sim_node", *STACK):
        if "use_stamped_cmd_vel" in NODE_KINDS[name].parameter_names():
            out.setdefault(name, {})["use_stamped_cmd_vel"] = True
    return out


def read_cpu_s(pid: int) -> float | None:
    """User + system CPU time of process `pid` in s (/proc/PID/stat); None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()  # after "pid (comm)": state is field 3, utime 14, stime 15
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def nominal_periods() -> dict[str, float]:
    """Each stream's nominal period (s) from the config YAMLs: camera_rate_hz, publish_rate_hz, replan, control."""
    import yaml

    from robot_vision_nav.package_files import package_file
    from robot_vision_nav.ros.bringup import SIM_PARAMS, STACK_PARAMS

    stack = yaml.safe_load(package_file("config", STACK_PARAMS).read_text())
    sim = yaml.safe_load(package_file("config", SIM_PARAMS).read_text())["sim_node"]["ros__parameters"]
    camera = 1.0 / float(sim["camera_rate_hz"])
    costmap_hz = float(stack["costmap_node"]["ros__parameters"]["publish_rate_hz"])
    costmap = 1.0 / costmap_hz if costmap_hz > 0 else camera
    return {
        "camera": camera,
        "segmentation": camera,
        "costmap": costmap,
        # a replan waits for the first costmap at least replan_period_s after the last plan
        "plan": float(stack["planner_node"]["ros__parameters"]["replan_period_s"]) + costmap,
        "cmd_vel": 1.0 / float(stack["controller_node"]["ros__parameters"]["control_rate_hz"]),
    }


# ---------------------------------------------------------------------------------------- the run
class Listener:
    """The bench's node: arrival times of every stage's output, and the goal watcher."""

    def __init__(self, context: Any) -> None:
        from geometry_msgs.msg import TwistStamped
        from nav_msgs.msg import OccupancyGrid, Path
        from rclpy.node import Node
        from rclpy.parameter import Parameter
        from sensor_msgs.msg import CameraInfo, Image

        from robot_vision_nav.ros.goto import StackWatcher
        from robot_vision_nav.ros.qos import LISTEN_QOS

        self.node = Node(
            "rvn_bench_soak",
            context=context,
            use_global_arguments=False,
            parameter_overrides=[Parameter("use_sim_time", Parameter.Type.BOOL, True)],
        )
        self.watcher = StackWatcher(self.node)
        self.camera: dict[int, float] = {}
        self.outputs: dict[str, dict[int, float]] = {"segmentation": {}, "costmap": {}, "plan": {}}
        self.commands: list[tuple[float, int, bool]] = []  # (arrival s, stamp ns, zero velocity)
        n = self.node
        # LISTEN_QOS (best effort, deep queue) matches every publisher and drops nothing while busy.
        n.create_subscription(CameraInfo, "camera/color/camera_info", self._on_camera, LISTEN_QOS)
        n.create_subscription(Image, "segmentation/traversable", lambda m: self._got("segmentation", m), LISTEN_QOS)
        n.create_subscription(OccupancyGrid, "local_costmap/costmap", lambda m: self._got("costmap", m), LISTEN_QOS)
        n.create_subscription(Path, "plan", lambda m: self._got("plan", m), LISTEN_QOS)
        n.create_subscription(TwistStamped, "cmd_vel", self._on_cmd, LISTEN_QOS)

    @staticmethod
    def _stamp(msg: Any) -> int:
        return int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)

    def _on_camera(self, msg: Any) -> None:
        self.camera.setdefault(self._stamp(msg), time.monotonic())

    def _got(self, stage: str, msg: Any) -> None:
        self.outputs[stage].setdefault(self._stamp(msg), time.monotonic())

    def _on_cmd(self, msg: Any) -> None:
        zero = msg.twist.linear.x == 0.0 and msg.twist.angular.z == 0.0
        self.commands.append((time.monotonic(), self._stamp(msg), zero))

    def arrivals(self, stream: str) -> list[float]:
        """Arrival times of one stream (camera, a stage or cmd_vel), sorted."""
        if stream == "camera":
            return sorted(self.camera.values())
        if stream == "cmd_vel":
            return [t for t, _, _ in self.commands]
        return sorted(self.outputs[stream].values())


@contextmanager
def _signals_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt in the block, as Ctrl-C does (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    from robot_vision_nav.ros.runner import sigterm_as_interrupt

    with sigterm_as_interrupt():
        yield


@contextmanager
def _no_interrupts() -> Iterator[None]:
    """A second Ctrl-C must not cut the shutdown short (the controller's zero command, the process stops)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _foreign_publishers(node: Any) -> str:
    """What publishes /clock or cmd_vel besides our simulator and stack ("" when nothing)."""
    extra = [
        f"{count} publishers on {topic}"
        for topic in ("/clock", node.resolve_topic_name("cmd_vel"))
        if (count := node.count_publishers(topic)) > 1
    ]
    return ", ".join(extra)


def _count_log(path: Path) -> dict[str, int]:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return {"warnings": 0, "errors": 0}
    return {
        "warnings": sum("[WARN]" in line for line in lines),
        "errors": sum("[ERROR]" in line or "[FATAL]" in line or "Traceback" in line for line in lines),
    }


def _tail(path: Path, lines: int = 5) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def soak(duration_s: float, device: str = "", log_dir: Path | None = None) -> dict[str, Any]:
    """Run the closed loop for `duration_s` of wall time (after start-up) and collect the raw measurements."""
    import rclpy
    from rclpy.context import Context

    from robot_vision_nav.core.goal_tracker import GoalState, GoalTrackerConfig
    from robot_vision_nav.demo import GOAL_MARGIN_M, SCENE_TIME_BASE_S, SCENE_TIME_FACTOR
    from robot_vision_nav.ros.bringup import BringupOptions, stack_nodes
    from robot_vision_nav.ros.runner import apply_ros_environment, make_executor, start_processes, stop_processes
    from robot_vision_nav.sim.world import generate_world

    warmup_s, _, sample_s = windows(duration_s)
    specs = stack_nodes(
        BringupOptions(sim=True, world_seed=WORLD_SEED, device=device, extra_parameters=soak_parameters())
    )  # fmt: skip
    world = generate_world(WORLD_SEED)
    goals = [world.goal_xy, (world.start.x_m, world.start.y_m)]
    route_m = world.route_length_m()
    # The controller's xy_goal_tolerance_m (0.25 m in the YAML) + the demo's margin, and the demo's time limit.
    tracker_config = GoalTrackerConfig(
        tolerance_m=0.25 + GOAL_MARGIN_M, timeout_s=SCENE_TIME_BASE_S + SCENE_TIME_FACTOR * route_m / 0.5
    )
    log_dir = Path(tempfile.mkdtemp(prefix="rvn_soak_")) if log_dir is None else log_dir
    log_dir.mkdir(parents=True, exist_ok=True)
    logs = {spec.name: log_dir / f"{spec.name}.log" for spec in specs}

    apply_ros_environment()
    context = Context()
    rclpy.init(context=context, args=[], signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
    procs: list[subprocess.Popen[Any]] = []
    files = [open(logs[spec.name], "w") for spec in specs]  # noqa: SIM115 (closed in finally)
    listener: Listener | None = None
    executor: Any = None
    rss: list[tuple[float, dict[str, float]]] = []
    goal_log: list[dict[str, Any]] = []
    active: list[tuple[float, float]] = []
    interrupted = False
    ended_early = ""
    foreign_seen = ""
    t0 = t_end = t_launch = math.nan
    tracker: Any = None
    goal_sent = 0.0
    sim0_ns = sim1_ns = 0
    final_zero: bool | None = None
    cpu0: dict[int, float | None] = {}
    cpu1: dict[int, float | None] = {}
    try:
        with _signals_as_interrupt():
            try:
                t_launch = time.monotonic()
                for spec, f in zip(specs, files, strict=True):
                    procs += start_processes([spec], stdout=f, stderr=subprocess.STDOUT)
                listener = Listener(context)
                executor = make_executor("events", context)
                executor.add_node(listener.node)
                watcher = listener.watcher

                def spin_for(seconds: float) -> None:
                    end = time.monotonic() + seconds
                    while time.monotonic() < end:
                        executor.spin_once(timeout_sec=0.02)

                # Up: the watcher sees planner, controller, odometry and /clock, and a costmap came through perception.
                deadline = time.monotonic() + READY_TIMEOUT_S
                while watcher.missing(use_sim_time=True) or not listener.outputs["costmap"]:
                    dead = [(s, p) for s, p in zip(specs, procs, strict=True) if p.poll() is not None]
                    if dead:
                        spec, proc = dead[0]
                        raise RuntimeError(
                            f"{spec.name} exited with code {proc.returncode} during start-up; its log "
                            f"{logs[spec.name]} ends:\n{_tail(logs[spec.name])}"
                        )
                    if time.monotonic() > deadline:
                        what = watcher.missing(use_sim_time=True) or "no costmap yet"
                        raise RuntimeError(f"the stack did not come up within {READY_TIMEOUT_S:g} s: {what}")
                    executor.spin_once(timeout_sec=0.05)
                spin_for(0.3)  # discovery is not symmetric: let the planner match our goal publisher
                if foreign := _foreign_publishers(listener.node):
                    raise RuntimeError(
                        f"{foreign}: another simulator or stack shares ROS domain "
                        f"{os.environ.get('ROS_DOMAIN_ID', '0')} on this machine and would mix into the measurements; "
                        "set ROS_DOMAIN_ID to a free domain"
                    )

                t0 = time.monotonic()
                cpu0 = {p.pid: read_cpu_s(p.pid) for p in procs} | {0: time.process_time()}
                sim0_ns = watcher.now_ns()
                next_sample = t0
                goal_index = 0
                tracker = None
                goal_sent = next_goal_at = t0
                clock_seen = (sim0_ns, t0)
                while True:
                    now = time.monotonic()
                    if tracker is None and now >= next_goal_at:
                        x, y = goals[goal_index % len(goals)]
                        tracker = watcher.send_goal(x, y, None, "odom", tracker_config)
                        goal_sent = now
                    executor.spin_once(timeout_sec=0.02)
                    now = time.monotonic()
                    sim_ns = watcher.now_ns()
                    if sim_ns != clock_seen[0]:
                        clock_seen = (sim_ns, now)
                    elif tracker is not None and now - clock_seen[1] > CLOCK_STALL_S:
                        tracker.fail(sim_ns, f"no /clock for {CLOCK_STALL_S:g} s")
                    if tracker is not None and tracker.update(sim_ns) != GoalState.RUNNING:
                        outcome = tracker.outcome(sim_ns)
                        active.append((goal_sent - t0, now - t0))
                        goal_log.append({"goal": goal_index, **outcome.as_dict(), "wall_s": round(now - goal_sent, 2)})
                        goal_index += 1
                        tracker = None
                        if outcome.state != GoalState.SUCCEEDED:  # a goal refused at once is not resent at 50 Hz
                            next_goal_at = now + GOAL_RETRY_S
                    if now >= next_sample:
                        next_sample += sample_s
                        if not foreign_seen and (foreign := _foreign_publishers(listener.node)):
                            foreign_seen = f"{foreign} from {now - t0:.0f} s on"
                        rss.append(
                            (
                                now - t0,
                                {s.name: read_rss_mib(p.pid) or math.nan for s, p in zip(specs, procs, strict=True)},
                            )
                        )
                        gone = [s.name for s, p in zip(specs, procs, strict=True) if p.poll() is not None]
                        if gone:
                            ended_early = f"{', '.join(gone)} exited after {now - t0:.0f} s"
                            break
                    if now - t0 >= duration_s:
                        break
                t_end = time.monotonic()
                cpu1 = {p.pid: read_cpu_s(p.pid) for p in procs} | {0: time.process_time()}
                if tracker is not None:
                    active.append((goal_sent - t0, t_end - t0))
                sim1_ns = watcher.now_ns()
            except KeyboardInterrupt:
                interrupted = True
                t_end = time.monotonic()
                if tracker is not None and math.isfinite(t0):
                    active.append((goal_sent - t0, t_end - t0))
                if listener is not None:
                    sim1_ns = listener.watcher.now_ns()
    finally:
        with _no_interrupts():
            try:
                if listener is not None and executor is not None:
                    listener.watcher.send_stop("odom")  # what rvn goto does on Ctrl-C: a goal at the robot's pose
                    spin_end = time.monotonic() + 0.3
                    while time.monotonic() < spin_end:
                        executor.spin_once(timeout_sec=0.02)
                    count = len(listener.commands)
                    # The node commanding the base (the last one started) first and alone: its last command is a zero.
                    stop_processes(procs[-1:])
                    spin_end = time.monotonic() + 1.0
                    while time.monotonic() < spin_end:
                        executor.spin_once(timeout_sec=0.02)
                    if len(listener.commands) > count:
                        final_zero = listener.commands[-1][2]
            finally:
                # Once the node commanding the base is down the others may go together (SIGINT to all, then
                # stop_processes waits for each and escalates): seconds saved per node on a busy machine.
                if procs and procs[-1].poll() is not None:
                    for proc in procs[:-1]:
                        if proc.poll() is None:
                            proc.send_signal(signal.SIGINT)
                stop_processes(procs)
                for f in files:
                    f.close()
                if executor is not None:
                    executor.shutdown(timeout_sec=1.0)
                if listener is not None:
                    listener.node.destroy_node()
                rclpy.try_shutdown(context=context)
    t_done = time.monotonic()
    assert listener is not None
    wall_s = t_end - t0 if math.isfinite(t0) and math.isfinite(t_end) else 0.0

    def cpu_pct(pid: int) -> float | None:
        a, b = cpu0.get(pid), cpu1.get(pid)
        return round(100.0 * (b - a) / wall_s, 1) if a is not None and b is not None and wall_s > 0 else None

    return {
        "t0": t0,
        "duration_s": duration_s,
        "warmup_s": warmup_s,
        "sample_s": sample_s,
        "listener": listener,
        "rss": rss,
        "goals": goal_log,
        "active": active,
        "interrupted": interrupted,
        "ended_early": ended_early,
        "foreign": foreign_seen,
        "sim_s": (sim1_ns - sim0_ns) / 1e9,
        "processes": [
            {
                "name": s.name,
                "pid": p.pid,
                "exit_code": p.returncode,
                "cpu_pct": cpu_pct(p.pid),
                **_count_log(logs[s.name]),
            }
            for s, p in zip(specs, procs, strict=True)
        ],
        "listener_cpu_pct": cpu_pct(0),
        "log_dir": str(log_dir),
        "final_cmd_zero": final_zero,
        "wall_s": wall_s,
        "startup_s": t0 - t_launch if math.isfinite(t0) else math.nan,
        "shutdown_s": t_done - t_end if math.isfinite(t_end) else math.nan,
    }


# ---------------------------------------------------------------------------------------- the report
def _round(value: float, digits: int = 3) -> float | None:
    return round(value, digits) if math.isfinite(value) else None


def summarize(raw: dict[str, Any]) -> dict[str, Any]:
    """The bench result from the raw measurements of `soak`."""
    listener: Listener = raw["listener"]
    t0 = raw["t0"]
    warmup_s = raw["warmup_s"]
    _, window_s, _ = windows(raw["duration_s"])
    end_s = raw["wall_s"]
    first = (warmup_s, warmup_s + window_s)
    last = (max(first[0], end_s - window_s), end_s)

    camera = {stamp: t - t0 for stamp, t in listener.camera.items()}
    outputs = {stage: {stamp: t - t0 for stamp, t in d.items()} for stage, d in listener.outputs.items()}
    commands = [(t - t0, stamp) for t, stamp, _ in listener.commands]
    lat = stage_latencies(camera, outputs, commands)
    after = {stage: [(t, v) for t, v in samples if warmup_s <= t <= end_s] for stage, samples in lat.items()}

    rows = []
    latency = {}
    for stage in STAGES:
        latency[stage] = percentiles([v for _, v in after[stage]])
        a = percentiles(in_window(lat[stage], *last))
        b = percentiles(in_window(lat[stage], *first))
        if not (a["n"] and b["n"]):
            continue
        rows.append({
            "case": f"camera -> {stage}", "ours_ms": a["p50"], "ours_p99_ms": a["p99"], "peer": "first window",
            "peer_ms": b["p50"], "peer_p99_ms": b["p99"],
            "speedup": round(b["p50"] / a["p50"], 3) if a["p50"] > 0 else None,
            "p99_ratio": round(b["p99"] / a["p99"], 3) if a["p99"] > 0 else None, "n_last": a["n"], "n_first": b["n"],
        })  # fmt: skip

    names = [p["name"] for p in raw["processes"]]
    memory = []
    for name in [*names, "total"]:
        if name == "total":
            series = [(t, sum(v.values())) for t, v in raw["rss"]]
        else:
            series = [(t, v[name]) for t, v in raw["rss"]]
        series = [(t, v) for t, v in series if math.isfinite(v)]
        steady = [(t, v) for t, v in series if t >= warmup_s]
        trend = rss_trend([t for t, _ in steady], [v for _, v in steady])
        first_mib = in_window(series, *first)
        last_mib = in_window(series, *last)
        f_mean = float(np.mean(first_mib)) if first_mib else math.nan
        l_mean = float(np.mean(last_mib)) if last_mib else math.nan
        memory.append({
            "process": name, "samples": len(series),
            "rss_start_mib": _round(series[0][1], 1) if series else None,
            "rss_first_window_mib": _round(f_mean, 1), "rss_last_window_mib": _round(l_mean, 1),
            "rss_end_mib": _round(series[-1][1], 1) if series else None,
            "slope_mib_per_min": _round(trend["slope_mib_per_min"]), "growth_mib": _round(trend["growth_mib"], 2),
            "residual_sd_mib": _round(trend["residual_sd_mib"]),
            "ratio": _round(l_mean / f_mean, 4) if f_mean > 0 else None,
            "growing": is_growing(trend) if name != "total" else is_growing(trend, GROWTH_TOLERANCE_MIB * len(names)),
        })  # fmt: skip

    periods = nominal_periods()
    driving = clip_intervals(raw["active"], warmup_s, end_s)
    driven_s = sum(b - a for a, b in driving)
    stalls: dict[str, Any] = {}
    for stream in STREAMS:
        threshold = periods[stream] + STALL_GAP_S
        found = find_stalls([t - t0 for t in listener.arrivals(stream)], driving, threshold)
        stalls[stream] = {
            "threshold_s": round(threshold, 3),
            "count": len(found),
            "longest_s": round(max((g for _, g in found), default=0.0), 3),
            "total_s": round(sum(g for _, g in found), 3),
            "first": [{"at_s": round(a, 2), "gap_s": round(g, 3)} for a, g in found[:10]],
        }

    outcomes = [g["result"] for g in raw["goals"]]
    goals = {
        "finished": len(outcomes),
        **{state: outcomes.count(state) for state in ("succeeded", "failed", "timed_out")},
        "log": raw["goals"],
    }
    growing = [m for m in memory if m["growing"] and m["process"] != "total"]
    stall_count = sum(s["count"] for s in stalls.values())
    verdict = []
    if growing:
        verdict.append("RSS GROWTH: " + ", ".join(
            f"{m['process']} +{m['growth_mib']:.1f} MiB ({m['slope_mib_per_min']:+.2f} MiB/min)" for m in growing
        ))  # fmt: skip
    else:
        verdict.append(f"no RSS growth beyond noise (> {GROWTH_TOLERANCE_MIB:g} MiB and 3 sd of the fit)")
    verdict.append(f"{stall_count} stall(s)" if stall_count else "no stall")
    if raw["final_cmd_zero"] is False:
        verdict.append("LAST cmd_vel NOT ZERO")
    notes = [
        f"{raw['wall_s'] / 60:.1f} min closed loop, world {WORLD_SEED}, one process per node; "
        f"warm-up {warmup_s:.0f} s; windows {window_s:.0f} s (first: {first[0]:.0f}-{first[1]:.0f} s, "
        f"last: {last[0]:.0f}-{last[1]:.0f} s); "
        f"RSS every {raw['sample_s']:.1f} s",
        f"sim time {raw['sim_s']:.1f} s in {raw['wall_s']:.1f} s wall (real-time factor "
        f"{raw['sim_s'] / raw['wall_s'] if raw['wall_s'] else 0:.2f}); driving {driven_s:.0f} s after warm-up; "
        f"goals finished {goals['finished']}: {goals['succeeded']} succeeded, {goals['failed']} failed, "
        f"{goals['timed_out']} timed out; start-up {raw['startup_s']:.0f} s, shutdown {raw['shutdown_s']:.0f} s",
        "verdict: " + "; ".join(verdict),
    ]
    if raw["interrupted"]:
        notes.append("interrupted (Ctrl-C): the numbers cover the run so far")
    if raw["foreign"]:
        notes.append(f"UNRELIABLE: {raw['foreign']} (another simulator or stack on this ROS domain)")
    if raw["ended_early"]:
        notes.append(f"ENDED EARLY: {raw['ended_early']}")
    cpu = ", ".join(f"{p['name']} {p['cpu_pct']:.0f}" for p in raw["processes"] if p["cpu_pct"] is not None)
    if cpu:
        notes.append(f"CPU % of one core over the run: {cpu}; this bench's listener {raw['listener_cpu_pct']:.0f}")
    warn = {p["name"]: p["warnings"] for p in raw["processes"] if p["warnings"]}
    errors = {p["name"]: p["errors"] for p in raw["processes"] if p["errors"]}
    notes.append(f"node logs in {raw['log_dir']}: warnings {warn or 'none'}, errors {errors or 'none'}")
    return {
        "bench": "soak",
        "machine": machine(),
        "rows": rows,
        "duration_s": round(raw["wall_s"], 1),
        "startup_s": _round(raw["startup_s"], 1),
        "shutdown_s": _round(raw["shutdown_s"], 1),
        "warmup_s": warmup_s,
        "window_s": window_s,
        "sample_period_s": raw["sample_s"],
        "time_base": "wall (time.monotonic of the bench process)",
        "interrupted": raw["interrupted"],
        "ended_early": raw["ended_early"],
        "sim_real_time_factor": round(raw["sim_s"] / raw["wall_s"], 3) if raw["wall_s"] else None,
        "latency_ms": latency,
        "memory": memory,
        "rss_samples": {
            "t_s": [round(t, 2) for t, _ in raw["rss"]],
            **{name: [_round(v[name], 2) for _, v in raw["rss"]] for name in names},
        },
        "stalls": stalls,
        "goals": goals,
        "final_cmd_zero": raw["final_cmd_zero"],
        "processes": raw["processes"],
        "listener_cpu_pct": raw["listener_cpu_pct"],
        "log_dir": raw["log_dir"],
        "verdict": "; ".join(verdict),
        "notes": notes,
    }


def run(
    quick: bool = False, minutes: float | None = None, device: str = "", log_dir: Path | None = None
) -> dict[str, Any]:
    """Soak for `minutes` (default DEFAULT_MINUTES; QUICK_S seconds when quick and no minutes are given)."""
    if minutes is not None and not (math.isfinite(minutes) and minutes > 0):
        raise ValueError(f"minutes must be > 0, got {minutes}")
    duration_s = minutes * 60.0 if minutes is not None else QUICK_S if quick else DEFAULT_MINUTES * 60.0
    return summarize(soak(duration_s, device=device, log_dir=log_dir))


def _ms(value: Any) -> str:
    return f"{value:.1f}" if isinstance(value, (int, float)) else "-"


def print_result(result: dict[str, Any]) -> None:
    """The tables for people: latency per stage and its drift, RSS per process, stalls, the verdict."""
    print(f"bench soak on {result['machine']}")
    print(result["notes"][0])
    print()
    print("latency, ms of wall time from the frame's camera_info arrival; whole run after warm-up, and drift:")
    print("last window (ours) against the first window after warm-up (peer); ratio = first / last, ~1.0 = no drift")
    header = (
        f"{'stage':<24} {'n':>6} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7}   {'first p50/p99':>15}  "
        f"{'last p50/p99':>15}  {'ratio p50':>9} {'p99':>6}"
    )
    print(header)
    print("-" * len(header))
    rows = {r["case"]: r for r in result["rows"]}
    for stage in STAGES:
        p = result["latency_ms"][stage]
        r = rows.get(f"camera -> {stage}")
        drift = ""
        if r is not None:
            drift = (
                f"   {_ms(r['peer_ms']):>7}/{_ms(r['peer_p99_ms']):>7}"
                f"  {_ms(r['ours_ms']):>7}/{_ms(r['ours_p99_ms']):>7}"
                f"  {r['speedup'] or 0:>8.2f}x {r['p99_ratio'] or 0:>5.2f}x"
            )
        print(
            f"{'camera -> ' + stage:<24} {p['n']:>6} {_ms(p.get('p50')):>7} {_ms(p.get('p95')):>7} "
            f"{_ms(p.get('p99')):>7} {_ms(p.get('max')):>7}{drift}"
        )
    print()
    print("memory, VmRSS MiB per node process; slope and growth from a least-squares fit after warm-up:")
    header = (
        f"{'process':<20} {'start':>8} {'first win':>10} {'last win':>9} {'end':>8} {'MiB/min':>9} "
        f"{'growth':>8} {'sd':>6} {'ratio':>7}  verdict"
    )
    print(header)
    print("-" * len(header))
    for m in result["memory"]:

        def f(key: str, spec: str = ".1f", m: dict[str, Any] = m) -> str:
            value = m[key]
            return "-" if value is None else format(value, spec)

        print(
            f"{m['process']:<20} {f('rss_start_mib'):>8} {f('rss_first_window_mib'):>10} {f('rss_last_window_mib'):>9} "
            f"{f('rss_end_mib'):>8} {f('slope_mib_per_min', '+.3f'):>9} {f('growth_mib', '+.1f'):>8} "
            f"{f('residual_sd_mib', '.2f'):>6} {f('ratio', '.3f'):>7}  {'GROWING' if m['growing'] else 'flat'}"
        )
    print()
    print("stalls while driving a goal (after warm-up): gaps longer than nominal period + 1 s")
    for stream, s in result["stalls"].items():
        detail = f", longest {s['longest_s']:.2f} s, total {s['total_s']:.2f} s" if s["count"] else ""
        print(f"  {stream:<14} > {s['threshold_s']:.2f} s: {s['count']}{detail}")
    print(f"last cmd_vel a zero velocity: {result['final_cmd_zero']}")
    for note in result["notes"][1:]:
        print(note)


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.soak [--json] [--quick] [--minutes M] [--device D]`."""
    parser = argparse.ArgumentParser(prog="bench.soak", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_S:g} s (a smoke run)")
    parser.add_argument(
        "--minutes", type=float, default=None, help=f"length of the soak (min, default {DEFAULT_MINUTES:g})"
    )
    parser.add_argument("--device", default="", help="segmentation device (default the YAML's: auto)")
    args = parser.parse_args(argv)
    result = run(quick=args.quick, minutes=args.minutes, device=args.device)
    if args.json:
        print(json.dumps(result))
    else:
        print_result(result)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main())
