"""semantic_obstacles_node over real rclpy: a test node publishes depth, mask and camera_info on real
topics and reads the PointCloud2, /rosout warnings and /diagnostics back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from rclpy.parameter import Parameter
from sensor_msgs.msg import CameraInfo, PointCloud2

from robot_vision_nav.core.geometry import Pose2D
from robot_vision_nav.core.obstacle_cloud import ObstacleCloudBuilder, ObstacleCloudConfig
from robot_vision_nav.core.rectify import Distortion, Undistorter
from robot_vision_nav.nodes.obstacles_node import SemanticObstaclesNode, SemanticObstaclesNodeConfig
from robot_vision_nav.ros.bringup import file_parameters
from robot_vision_nav.ros.messages import point_cloud_to_xyz, stamp_to_ns
from robot_vision_nav.ros.parameter_table import NODE_PARAMETERS
from robot_vision_nav.ros.qos import LISTEN_QOS
from robot_vision_nav.sim.synthetic import Box, FloorPatch, Scene, render
from test.depth_node_helpers import (
    DEPTH,
    INFO,
    MASK,
    PLUMB_BOB,
    SEC,
    DepthNodeHarness,
    K,
    camera_info,
    distorted_info,
    expect_warning,
)

pytestmark = pytest.mark.ros

REPO = Path(__file__).resolve().parents[1]
PARAMS = REPO / "config" / "robot_vision_nav.yaml"
BOX = Box(2.0, 0.3, 0.4, 0.4, 0.6)
PATCH = FloorPatch(1.2, -0.9, 1.6, -0.3)
CLOUD = "/segmentation/obstacles"


class Harness(DepthNodeHarness):
    """semantic_obstacles_node plus a driver node in one executor; helpers publish inputs and wait for clouds."""

    def __init__(self, context: Any, overrides: list[Parameter], scene: Scene | None = None) -> None:
        params = [Parameter("camera_mount_source", value="parameter"), *overrides]  # as test_costmap_node's
        super().__init__(SemanticObstaclesNode(context=context, parameter_overrides=params), context)
        self.clouds: list[PointCloud2] = []
        self.driver.create_subscription(PointCloud2, CLOUD, self.clouds.append, LISTEN_QOS)
        frame = render(
            Scene(boxes=(BOX,), patches=(PATCH,)) if scene is None else scene,
            K,
            self.node.cloud_config.mount,
            Pose2D(0.0, 0.0, 0.0),
        )
        self.depth_mm = frame.depth_mm()
        self.mask = frame.mask

    def cloud_at(self, stamp_ns: int) -> PointCloud2 | None:
        for c in self.clouds:
            if stamp_to_ns(c.header.stamp) == stamp_ns:
                return c
        return None

    def publish_until_cloud(
        self, first_stamp_ns: int, tries: int = 40, info: Callable[[int], CameraInfo] | None = None
    ) -> int:
        """Publish good frames with rising stamps until one comes back as a cloud (discovery)."""
        for i in range(tries):
            stamp = first_stamp_ns + i * 100_000_000
            self.publish(stamp, info=None if info is None else info(stamp))
            if self.spin_until(lambda s=stamp: self.cloud_at(s) is not None, 0.25):
                return stamp
        raise AssertionError("no cloud came back from semantic_obstacles_node")


@pytest.fixture
def harness(ros_context: Any) -> Iterator[Harness]:
    h = Harness(ros_context, [Parameter("warn_throttle_s", value=0.0), Parameter("diagnostics_period_s", value=0.2)])
    try:
        yield h
    finally:
        h.close()


def test_cloud_holds_the_obstacle_and_the_raised_keepout_floor_in_base_link(harness: Harness) -> None:
    stamp = harness.publish_until_cloud(5 * SEC)
    msg = harness.cloud_at(stamp)
    assert msg is not None
    assert msg.header.frame_id == "base_link" and stamp_to_ns(msg.header.stamp) == stamp
    points = point_cloud_to_xyz(msg)
    # The same inputs through the core give the same cloud, point for point.
    expected = ObstacleCloudBuilder(ObstacleCloudConfig()).build(harness.depth_mm, K, harness.mask)
    assert points.tobytes() == expected.points.tobytes()
    x, y, z = points.T
    box = (x >= 1.8 - 0.03) & (x <= 2.2) & (y >= 0.1 - 0.03) & (y <= 0.5 + 0.03) & (z > 0.04) & (z < 0.62)
    keepout = (x >= 1.2 - 0.03) & (x <= 1.6 + 0.03) & (y >= -0.93) & (y <= -0.27) & (np.abs(z - 0.1) < 1e-6)
    assert box.sum() >= 10 and keepout.sum() >= 10
    assert (box | keepout).all()
    assert z[box].max() > 0.4  # obstacles keep their height
    assert harness.spin_until(
        lambda: any(
            kv.key == "published" and int(kv.value) > 0
            for d in harness.diagnostics
            for s in d.status
            for kv in s.values
        )
    )


def test_base_frame_and_keepout_height_follow_the_parameters(ros_context: Any) -> None:
    h = Harness(ros_context, [Parameter("base_frame", value="robot_base"), Parameter("keepout_height_m", value=0.3)])
    try:
        msg = h.cloud_at(h.publish_until_cloud(5 * SEC))
        assert msg is not None and msg.header.frame_id == "robot_base"
        z = point_cloud_to_xyz(msg)[:, 2]
        assert np.isclose(z, 0.3).sum() >= 10 and not np.isclose(z, 0.1).any()
        refused = h.node.set_parameters([Parameter("keepout_height_m", value=2.5)])[0]
        assert (
            not refused.successful
            and "keepout_height_m" in refused.reason
            and "max_obstacle_height_m" in refused.reason
        )
    finally:
        h.close()


def test_nothing_in_view_gives_an_empty_cloud(ros_context: Any) -> None:
    h = Harness(ros_context, [], scene=Scene())
    try:
        msg = h.cloud_at(h.publish_until_cloud(5 * SEC))
        assert msg is not None and msg.width == 0 and msg.header.frame_id == "base_link"
    finally:
        h.close()


def check_bad_input(harness: Harness, publish_bad: Callable[[int], None], *words: str) -> None:
    good = harness.publish_until_cloud(5 * SEC)
    bad = good + SEC
    publish_bad(bad)
    expect_warning(harness, *words)
    harness.spin_until(lambda: False, 0.2)
    assert harness.cloud_at(bad) is None  # nothing published from the bad frame
    later = harness.publish_until_cloud(bad + SEC)  # and the node still runs
    assert point_cloud_to_xyz(harness.cloud_at(later)).tobytes() == point_cloud_to_xyz(harness.cloud_at(good)).tobytes()


def test_wrong_depth_encoding_is_warned_and_gives_no_cloud(harness: Harness) -> None:
    def bad(stamp: int) -> None:
        harness.publish(stamp, depth=np.zeros((K.height, K.width), np.uint8), depth_encoding="mono8")

    check_bad_input(harness, bad, DEPTH, "wrong encoding 'mono8'")


def test_depth_and_mask_of_different_sizes_are_warned_and_give_no_cloud(harness: Harness) -> None:
    def bad(stamp: int) -> None:
        harness.publish(stamp, mask=np.full((K.height // 2, K.width // 2), 255, np.uint8))

    check_bad_input(harness, bad, MASK, "size mismatch")


def test_depth_of_another_size_than_camera_info_is_warned_and_gives_no_cloud(harness: Harness) -> None:
    def bad(stamp: int) -> None:
        small = np.full((K.height // 2, K.width // 2), 1000, np.uint16)
        harness.publish(stamp, depth=small, mask=np.full(small.shape, 255, np.uint8))

    check_bad_input(harness, bad, DEPTH, "size mismatch")


def test_zero_camera_info_is_warned_and_gives_no_cloud(harness: Harness) -> None:
    def bad(stamp: int) -> None:
        info = camera_info(K, stamp)
        info.k = [0.0] * 9
        harness.publish(stamp, info=info)

    check_bad_input(harness, bad, INFO, "camera_info")


def test_all_nan_depth_is_warned_and_gives_no_cloud(harness: Harness) -> None:
    def bad(stamp: int) -> None:
        harness.publish(stamp, depth=np.full((K.height, K.width), np.nan, np.float32), depth_encoding="32FC1")

    check_bad_input(harness, bad, DEPTH, "no valid depth")


def test_out_of_order_stamps_are_warned_and_skipped(harness: Harness) -> None:
    def bad(stamp: int) -> None:
        harness.publish(stamp - 3 * SEC // 2)  # half a second older than the frame already processed

    check_bad_input(harness, bad, "out of order")


# ------------------------------------------------------------------ compressed depth, lens distortion
def test_compressed_depth_gives_the_cloud_of_the_raw_frame(ros_context: Any) -> None:
    h = Harness(
        ros_context, [Parameter("warn_throttle_s", value=0.0), Parameter("depth_transport", value="compressedDepth")]
    )
    try:
        stamp = h.publish_until_cloud(5 * SEC)
        expected = ObstacleCloudBuilder(ObstacleCloudConfig()).build(h.depth_mm, K, h.mask)
        assert point_cloud_to_xyz(h.cloud_at(stamp)).tobytes() == expected.points.tobytes()  # lossless PNG
        check_bad_input(
            h,
            lambda s: h.publish(s, payload=("16UC1; compressedDepth rvl", bytes(48))),
            DEPTH + "/compressedDepth: undecodable CompressedImage",
            "rvl",
        )
    finally:
        h.close()


def test_a_distorted_camera_gives_no_cloud_and_says_what_to_do(harness: Harness) -> None:
    check_bad_input(
        harness,
        lambda stamp: harness.publish(stamp, info=distorted_info(stamp)),
        f"{INFO}: distorted image refused",
        "plumb_bob D = [-0.12, 0.05, 0.001, -0.0005, 0.01]",
        "rectify_distorted: true",
    )


def test_zero_distortion_passes_and_rectify_distorted_undistorts_depth_and_mask(ros_context: Any) -> None:
    h = Harness(ros_context, [Parameter("rectify_distorted", value=True)])
    try:
        # A D435's colour camera_info: inverse_brown_conrady (or plumb_bob) with zeros is no distortion.
        stamp = h.publish_until_cloud(5 * SEC, info=lambda s: distorted_info(s, "inverse_brown_conrady", (0.0,) * 5))
        plain = ObstacleCloudBuilder(ObstacleCloudConfig()).build(h.depth_mm, K, h.mask)
        assert point_cloud_to_xyz(h.cloud_at(stamp)).tobytes() == plain.points.tobytes()
        stamp = h.publish_until_cloud(stamp + SEC, info=distorted_info)
        lens, undistorter = Distortion("plumb_bob", PLUMB_BOB), Undistorter()
        depth, mask = undistorter.undistort(h.depth_mm, K, lens), undistorter.undistort(h.mask, K, lens)
        expected = ObstacleCloudBuilder(ObstacleCloudConfig()).build(depth, K, mask)
        assert point_cloud_to_xyz(h.cloud_at(stamp)).tobytes() == expected.points.tobytes()
        assert expected.points.tobytes() != plain.points.tobytes()  # the lens moved points
        assert not any("distorted image refused" in line for line in h.logs)
    finally:
        h.close()


# ------------------------------------------------------------------ the shipped params file
def test_params_file_gives_the_node_its_declared_defaults() -> None:
    # What rcl gives the node from the shared file: the `/**` section, then its own.
    given = file_parameters(yaml.safe_load(PARAMS.read_text()), "semantic_obstacles_node")
    declared = NODE_PARAMETERS["semantic_obstacles_node"]
    assert set(declared) <= set(given), sorted(set(declared) - set(given))
    for name, default in declared.items():
        value = given[name]
        assert (tuple(value) if isinstance(value, list) else value) == default, name
        assert type(value) is (list if isinstance(default, tuple) else type(default)), name
    assert set(SemanticObstaclesNodeConfig.__dataclass_fields__) <= set(declared)


def test_node_starts_from_the_params_file_and_stops_cleanly_on_ctrl_c() -> None:
    env = dict(os.environ, ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    cmd = [sys.executable, "-m", "robot_vision_nav.nodes.obstacles_node", "--ros-args", "--params-file", str(PARAMS)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=REPO)
    try:
        deadline = time.monotonic() + 30.0
        assert proc.stdout is not None
        line = ""
        while time.monotonic() < deadline and "semantic obstacles on" not in line:
            line = proc.stdout.readline()
            assert line or proc.poll() is None, "the node exited"
        assert "semantic obstacles on /segmentation/obstacles in 'base_link'" in line
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10.0) == 0
        assert "Traceback" not in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
