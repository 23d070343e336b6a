"""Overload: the camera runs at twice what segmentation can process, for a minute, into
segmentation_node and costmap_node as separate processes. Keep-last-1 subscriptions must drop the
surplus instead of queuing it: output latency stays bounded and flat, and neither process's
memory grows.

The numbers (input rate, processing rate, latency p50/p99 per output, RSS slope) are printed with
`-s` for the issue's table.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from nav_msgs.msg import OccupancyGrid, Odometry
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image

from robot_vision_nav.core.geometry import PinholeIntrinsics, Pose2D
from robot_vision_nav.ros.bringup import BringupOptions, stack_nodes
from robot_vision_nav.ros.image import numpy_to_image
from robot_vision_nav.ros.messages import intrinsics_to_camera_info, pose2d_to_odometry, stamp_to_ns
from robot_vision_nav.ros.qos import MAP_QOS, SENSOR_QOS
from robot_vision_nav.ros.runner import start_processes, stop_processes

pytestmark = pytest.mark.ros

# The issue asks for "camera at 2x the processing rate for a minute": that minute runs under `make test-all`
# (slow); `make test` holds the same bounds for half of it, the memory slope still over 20 s of load.
LOAD_S = 60.0
SHORT_LOAD_S = 30.0
WARMUP_S = 8.0
K = PinholeIntrinsics(fx=277.0, fy=277.0, cx=159.5, cy=119.5, width=320, height=240)  # the simulator's camera


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"no VmRSS for {pid}")


def slope_mb_per_min(samples: list[tuple[float, float]]) -> float:
    t, m = np.array(samples).T
    return float(np.polyfit(t / 60.0, m, 1)[0])


class Camera(Node):
    """Colour, depth, camera_info and odometry at one rate, all stamped with the wall clock now."""

    def __init__(self, context: Any) -> None:
        super().__init__("overload_camera", context=context)
        rng = np.random.default_rng(0)
        self.rgb = rng.integers(0, 255, (K.height, K.width, 3), dtype=np.uint8)
        self.depth = np.full((K.height, K.width), 3000, np.uint16)  # a wall 3 m away
        self.pubs = {
            "color": self.create_publisher(Image, "/camera/color/image_raw", SENSOR_QOS),
            "depth": self.create_publisher(Image, "/camera/aligned_depth_to_color/image_raw", SENSOR_QOS),
            "info": self.create_publisher(CameraInfo, "/camera/color/camera_info", SENSOR_QOS),
            "odom": self.create_publisher(Odometry, "/odom", SENSOR_QOS),
        }
        self.sent = 0
        self.mask_age_ms: list[tuple[float, float]] = []  # (monotonic s, age ms)
        self.costmap_age_ms: list[tuple[float, float]] = []
        self.create_subscription(Image, "/segmentation/traversable", self._on_mask, SENSOR_QOS)
        self.create_subscription(OccupancyGrid, "/local_costmap/costmap", self._on_costmap, MAP_QOS)

    def _age(self, stamp: Any) -> float:
        return (self.get_clock().now().nanoseconds - stamp_to_ns(stamp)) / 1e6

    def _on_mask(self, msg: Image) -> None:
        self.mask_age_ms.append((time.monotonic(), self._age(msg.header.stamp)))

    def _on_costmap(self, msg: OccupancyGrid) -> None:
        self.costmap_age_ms.append((time.monotonic(), self._age(msg.header.stamp)))

    def frame(self) -> None:
        stamp = self.get_clock().now().nanoseconds
        self.pubs["odom"].publish(pose2d_to_odometry(Pose2D(0.0, 0.0, 0.0, stamp), 0.0, 0.0, "odom", "base_link"))
        self.pubs["info"].publish(intrinsics_to_camera_info(K, "camera_color_optical_frame", stamp))
        self.pubs["depth"].publish(numpy_to_image(self.depth, "16UC1", stamp, "camera_color_optical_frame"))
        self.pubs["color"].publish(numpy_to_image(self.rgb, "rgb8", stamp, "camera_color_optical_frame"))
        self.sent += 1


def stream(camera: Camera, executor: SingleThreadedExecutor, rate_hz: float, seconds: float, on_tick: Any) -> None:
    period = 1.0 / rate_hz
    start = time.monotonic()
    next_frame = start
    next_tick = start
    while (now := time.monotonic()) < start + seconds:
        if now >= next_frame:
            camera.frame()
            next_frame += period
            if next_frame < now - period:  # the publisher itself fell behind: do not burst to catch up
                next_frame = now + period
        if now >= next_tick:
            on_tick()
            next_tick += 2.0
        executor.spin_once(timeout_sec=max(0.0, min(next_frame, next_tick) - time.monotonic()))


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q)) if values else float("nan")


# The slope bound, MB/min: a queue of 320x240 frames at the surplus rate would grow by hundreds of MB a
# minute. Over the short run's 20 s one allocator step of a few MB reads as 20 MB/min (seen once), so it
# gets a looser bound, still far below a queue's; the minute holds 10 MB/min.
@pytest.mark.parametrize(
    ("load_s", "slope_bound"),
    [pytest.param(SHORT_LOAD_S, 60.0, id="30s"), pytest.param(LOAD_S, 10.0, id="minute", marks=pytest.mark.slow)],
)
def test_camera_at_twice_the_processing_rate_keeps_latency_and_memory_bounded(
    ros_context: Any, load_s: float, slope_bound: float
) -> None:
    specs = [s for s in stack_nodes(BringupOptions(device="cpu")) if s.name in ("segmentation_node", "costmap_node")]
    procs = start_processes(specs, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    camera = Camera(ros_context)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(camera)
    rss: dict[str, list[tuple[float, float]]] = {s.name: [] for s in specs}
    try:
        end = time.monotonic() + 120.0
        while time.monotonic() < end and camera.pubs["color"].get_subscription_count() == 0:
            executor.spin_once(timeout_sec=0.1)
        assert camera.pubs["color"].get_subscription_count() > 0, "segmentation_node never subscribed"
        # Capacity: publish faster than anyone can segment and count what comes out.
        stream(camera, executor, 60.0, WARMUP_S, lambda: None)
        warm = [t for t, _ in camera.mask_age_ms if t > time.monotonic() - WARMUP_S / 2]
        capacity_hz = len(warm) / (WARMUP_S / 2)
        assert capacity_hz > 0.5, f"segmentation produced {len(warm)} masks in {WARMUP_S / 2} s"
        input_hz = 2.0 * capacity_hz
        load_start = time.monotonic()
        sent_before = camera.sent

        def sample() -> None:
            for spec, proc in zip(specs, procs, strict=True):
                assert proc.poll() is None, f"{spec.name} died under load"
                rss[spec.name].append((time.monotonic() - load_start, rss_mb(proc.pid)))

        stream(camera, executor, input_hz, load_s, sample)
        sent = camera.sent - sent_before
        masks = [(t - load_start, a) for t, a in camera.mask_age_ms if t >= load_start]
        costmaps = [(t - load_start, a) for t, a in camera.costmap_age_ms if t >= load_start]
        processed_hz = len(masks) / load_s
        thirds = [[a for t, a in masks if i * load_s / 3 <= t < (i + 1) * load_s / 3] for i in range(3)]
        report = {
            "input_hz": round(sent / load_s, 1),
            "capacity_hz": round(capacity_hz, 1),
            "processed_hz": round(processed_hz, 1),
            "mask_ms_p50": round(percentile([a for _, a in masks], 50), 1),
            "mask_ms_p99": round(percentile([a for _, a in masks], 99), 1),
            "mask_ms_p50_first_third": round(percentile(thirds[0], 50), 1),
            "mask_ms_p50_last_third": round(percentile(thirds[2], 50), 1),
            "mask_ms_max": round(max((a for _, a in masks), default=float("nan")), 1),
            "costmap_ms_p99": round(percentile([a for _, a in costmaps], 99), 1),
            **{f"rss_mb_{n}": round(s[-1][1], 1) for n, s in rss.items()},
            # After 10 s of load: start-up allocations (numba, torch caches) are done by then.
            **{f"rss_slope_mb_per_min_{n}": round(slope_mb_per_min([x for x in s if x[0] >= 10.0]), 2)
               for n, s in rss.items()},
        }  # fmt: skip
        print(f"\noverload for {load_s:.0f} s: {report}")
        windows = [[a for t, a in masks if w <= t < w + 5.0] for w in range(0, int(load_s), 5)]
        print("mask age p50/max per 5 s:", [(round(percentile(w, 50)), round(max(w, default=0))) for w in windows])
        assert sent / load_s > 1.7 * capacity_hz, f"the camera did not reach twice the capacity: {report}"
        assert processed_hz > 0.3 * capacity_hz, f"segmentation starved under load: {report}"
        # Keep-last-1, per mask: the frame it came from was the newest when the previous mask went
        # out, so its age is at most the gap since that mask plus an input period (plus transport).
        # A queue breaks this at once: its frames wait for every frame ahead of them.
        input_period_ms = 1000.0 / input_hz
        gaps = np.diff([t for t, _ in masks]) * 1e3
        ages = np.array([a for _, a in masks[1:]])
        within = float(np.mean(ages <= gaps + 2 * input_period_ms + 250.0)) if len(ages) else 0.0
        report["masks_within_keep_last_bound"] = round(within, 3)
        assert within >= 0.98, report
        # Flat, not growing: a queue would make the last third's typical latency a multiple of the first's.
        # (Medians: a p99 of a third is a handful of frames, which a neighbour's CPU burst can move.)
        assert report["mask_ms_p50_last_third"] < 1.5 * report["mask_ms_p50_first_third"] + 50.0, report
        assert costmaps and report["costmap_ms_p99"] < report["mask_ms_p99"] + 500.0, report
        for name in rss:
            assert report[f"rss_slope_mb_per_min_{name}"] < slope_bound, report
    finally:
        codes = stop_processes(procs)
        executor.shutdown()
        camera.destroy_node()
        for spec, proc in zip(specs, procs, strict=True):
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            assert "Traceback" not in err, f"{spec.name}:\n{err[-3000:]}"
        assert codes == [0] * len(procs), codes
