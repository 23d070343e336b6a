"""costmap_node over real rclpy: a test node publishes depth, mask, camera_info and odometry on real
topics and reads the OccupancyGrid, /rosout warnings and /diagnostics back."""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from nav_msgs.msg import OccupancyGrid, Odometry
from rclpy.parameter import Parameter
from sensor_msgs.msg import CameraInfo, Image

from robot_vision_nav.core.costmap import LETHAL, CostmapConfig, RollingCostmap, UpdateStats
from robot_vision_nav.core.geometry import Pose2D
from robot_vision_nav.core.projection import DepthProjector, PointFilter
from robot_vision_nav.core.rectify import Distortion, Undistorter
from robot_vision_nav.nodes.costmap_node import CostmapNode
from robot_vision_nav.ros.image import numpy_to_image
from robot_vision_nav.ros.messages import ns_to_stamp, occupancy_grid_to_numpy, stamp_to_ns
from robot_vision_nav.ros.qos import MAP_QOS, SENSOR_QOS
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

SCENE = Scene(boxes=(Box(2.0, 0.3, 0.4, 0.4, 0.6),), patches=(FloorPatch(1.2, -0.9, 1.6, -0.3),))
POSE = Pose2D(0.0, 0.0, 0.0)
ODOM = "/odom"


def odometry(pose: Pose2D, stamp_ns: int) -> Odometry:
    msg = Odometry()
    msg.header.stamp = ns_to_stamp(stamp_ns)
    msg.header.frame_id = "odom"
    msg.child_frame_id = "base_link"
    msg.pose.pose.position.x = pose.x_m
    msg.pose.pose.position.y = pose.y_m
    msg.pose.pose.orientation.z = math.sin(pose.yaw_rad / 2.0)
    msg.pose.pose.orientation.w = math.cos(pose.yaw_rad / 2.0)
    return msg


class Harness(DepthNodeHarness):
    """costmap_node plus a driver node in one executor; helpers publish inputs and wait for outputs."""

    def __init__(self, context: Any, overrides: list[Parameter]) -> None:
        # The camera mount is the parameter unless a test says otherwise: TF is test_tf.py's subject, and
        # `auto` would skip the first second of frames while it listens for a camera TF nobody sends.
        params = [Parameter("camera_mount_source", value="parameter"), *overrides]
        super().__init__(CostmapNode(context=context, parameter_overrides=params), context)
        self.pub_odom = self.driver.create_publisher(Odometry, ODOM, SENSOR_QOS)
        self.grids: list[OccupancyGrid] = []
        self.driver.create_subscription(OccupancyGrid, "/local_costmap/costmap", self.grids.append, MAP_QOS)
        frame = render(SCENE, K, CostmapConfig().mount, POSE)
        self.depth_mm = frame.depth_mm()
        self.mask = frame.mask

    def publish(self, stamp_ns: int, *, odom: bool = True, **camera: Any) -> None:
        """Odometry at `stamp_ns` (unless `odom` is false), then the camera (DepthNodeHarness.publish)."""
        if odom:
            self.pub_odom.publish(odometry(POSE, stamp_ns))
        self.spin_until(lambda: False, 0.03)
        super().publish(stamp_ns, **camera)

    def grid_at(self, stamp_ns: int) -> OccupancyGrid | None:
        for g in self.grids:
            if stamp_to_ns(g.header.stamp) == stamp_ns:
                return g
        return None

    def publish_until_grid(
        self, first_stamp_ns: int, tries: int = 40, info: Callable[[int], CameraInfo] | None = None
    ) -> int:
        """Publish good frames with rising stamps until one comes back as a costmap (discovery)."""
        for i in range(tries):
            stamp = first_stamp_ns + i * 100_000_000
            self.publish(stamp, info=None if info is None else info(stamp))
            if self.spin_until(lambda s=stamp: self.grid_at(s) is not None, 0.25):
                return stamp
        raise AssertionError("no costmap came back from costmap_node")


@pytest.fixture
def harness(ros_context: Any) -> Iterator[Harness]:
    h = Harness(
        ros_context,
        [
            Parameter("publish_rate_hz", value=0.0),
            Parameter("warn_throttle_s", value=0.0),
            Parameter("diagnostics_period_s", value=0.2),
        ],
    )
    try:
        yield h
    finally:
        h.close()


def test_node_publishes_costmap_with_expected_lethal_cells_frame_and_stamp(harness: Harness) -> None:
    stamp = harness.publish_until_grid(5 * SEC)
    grid = harness.grid_at(stamp)
    assert grid is not None
    assert grid.header.frame_id == "odom"
    assert grid.info.resolution == pytest.approx(0.05)
    assert (grid.info.width, grid.info.height) == (200, 200)
    values = occupancy_grid_to_numpy(grid)
    # The same inputs through the core give the same map, cell for cell.
    expected = RollingCostmap(CostmapConfig())
    expected.update(harness.depth_mm, K, Pose2D(0.0, 0.0, 0.0, stamp), stamp, harness.mask)
    np.testing.assert_array_equal(values, expected.occupancy)
    # And the lethal cells are where the box face and the keep-out patch are.
    ox, oy = grid.info.origin.position.x, grid.info.origin.position.y
    rows, cols = np.nonzero(values == 100)
    xs, ys = ox + (cols + 0.5) * 0.05, oy + (rows + 0.5) * 0.05
    # Only faces are seen (front, and the side toward the camera): inside the footprint +- a cell.
    box_face = (xs >= 1.75) & (xs <= 2.25) & (ys >= 0.05) & (ys <= 0.55)
    keepout = (xs >= 1.15) & (xs <= 1.65) & (ys >= -0.95) & (ys <= -0.25)
    assert box_face.sum() >= 5 and keepout.sum() >= 20
    assert (box_face | keepout).all()
    # Diagnostics report the update.
    assert harness.spin_until(
        lambda: any(
            kv.key == "updates" and int(kv.value) > 0 for d in harness.diagnostics for s in d.status for kv in s.values
        )
    )


def check_bad_input(harness: Harness, publish_bad: Callable[[int], None], *words: str) -> None:
    good = harness.publish_until_grid(5 * SEC)
    before = occupancy_grid_to_numpy(harness.grid_at(good))
    bad = good + SEC
    publish_bad(bad)
    expect_warning(harness, *words)
    harness.spin_until(lambda: False, 0.2)
    assert harness.grid_at(bad) is None  # nothing published from the bad frame
    # The node is still running and kept what it knew: a good frame later gives the same map.
    later = harness.publish_until_grid(bad + SEC)
    np.testing.assert_array_equal(occupancy_grid_to_numpy(harness.grid_at(later)), before)


def test_wrong_depth_encoding_is_warned_and_skipped(harness: Harness) -> None:
    def bad(stamp: int) -> None:
        harness.publish(stamp, depth=np.zeros((K.height, K.width), np.uint8), depth_encoding="mono8")

    check_bad_input(harness, bad, DEPTH, "wrong encoding 'mono8'")


def test_depth_and_mask_of_different_sizes_are_warned_and_skipped(harness: Harness) -> None:
    def bad(stamp: int) -> None:
        harness.publish(stamp, mask=np.full((K.height // 2, K.width // 2), 255, np.uint8))

    check_bad_input(harness, bad, MASK, "size mismatch")


def test_zero_camera_info_is_warned_and_skipped(harness: Harness) -> None:
    def bad(stamp: int) -> None:
        info = camera_info(K, stamp)
        info.k = [0.0] * 9
        harness.publish(stamp, info=info)

    check_bad_input(harness, bad, INFO, "camera_info")


def test_all_nan_depth_is_warned_and_last_costmap_kept(harness: Harness) -> None:
    def bad(stamp: int) -> None:
        harness.publish(stamp, depth=np.full((K.height, K.width), np.nan, np.float32), depth_encoding="32FC1")

    check_bad_input(harness, bad, DEPTH, "no valid depth")


def test_stale_odometry_is_warned_and_skipped(harness: Harness) -> None:
    def bad(stamp: int) -> None:
        harness.pub_odom.publish(odometry(POSE, stamp - SEC // 2))  # older than odom_max_age_s = 0.2 s
        harness.spin_until(lambda: False, 0.05)
        harness.publish(stamp, odom=False)

    check_bad_input(harness, bad, ODOM, "stale odometry")


def test_out_of_order_stamps_are_warned_and_skipped(harness: Harness) -> None:
    def bad(stamp: int) -> None:
        harness.publish(stamp - 3 * SEC // 2)  # half a second older than the frame already processed

    check_bad_input(harness, bad, "out of order")


def test_missing_camera_info_is_reported(ros_context: Any) -> None:
    h = Harness(
        ros_context,
        [
            Parameter("diagnostics_period_s", value=0.1),
            Parameter("input_timeout_s", value=0.2),
            Parameter("sync_queue_size", value=5),
        ],
    )
    try:
        for i in range(9):  # more depth frames than the synchroniser queues (5)
            h.pub_odom.publish(odometry(POSE, (i + 1) * SEC))
            h.pub_depth.publish(numpy_to_image(h.depth_mm, "16UC1", (i + 1) * SEC))
            h.pub_mask.publish(numpy_to_image(h.mask, "mono8", (i + 1) * SEC))
            h.spin_until(lambda: False, 0.1)
        assert not h.grids
        expect_warning(h, INFO, "nothing received yet")
        assert h.spin_until(
            lambda: any(
                s.level == s.WARN and "no depth set processed" in s.message for d in h.diagnostics for s in d.status
            )
        )
    finally:
        h.close()


def test_parameter_update_is_validated_and_applied(harness: Harness) -> None:
    harness.publish_until_grid(5 * SEC)
    bad = harness.node.set_parameters([Parameter("resolution_m", value=-1.0)])[0]
    assert not bad.successful and "resolution_m" in bad.reason and "-1.0" in bad.reason
    inconsistent = harness.node.set_parameters([Parameter("inflation_radius_m", value=0.1)])[0]
    assert not inconsistent.successful and "inflation_radius_m" in inconsistent.reason
    wrong_type = harness.node.set_parameters([Parameter("min_points_per_cell", value=2.5)])[0]
    assert not wrong_type.successful
    assert harness.node.map_config.resolution_m == 0.05
    ok = harness.node.set_parameters([Parameter("resolution_m", value=0.1)])[0]
    assert ok.successful
    stamp = harness.publish_until_grid(20 * SEC)
    grid = harness.grid_at(stamp)
    assert grid is not None and grid.info.resolution == pytest.approx(0.1) and grid.info.width == 100
    assert (occupancy_grid_to_numpy(grid) == 100).any()


def test_depth_only_mode_ignores_the_mask(ros_context: Any) -> None:
    h = Harness(
        ros_context, [Parameter("publish_rate_hz", value=0.0), Parameter("use_traversability_mask", value=False)]
    )
    try:
        stamp = h.publish_until_grid(5 * SEC)
        expected = RollingCostmap(CostmapConfig(use_traversability_mask=False))
        expected.update(h.depth_mm, K, Pose2D(0.0, 0.0, 0.0, stamp), stamp, None)
        np.testing.assert_array_equal(occupancy_grid_to_numpy(h.grid_at(stamp)), expected.occupancy)
        assert expected.state[expected.world_to_cell(1.4, -0.6)] < LETHAL
    finally:
        h.close()


def test_mask_stamped_outside_the_slop_is_named(ros_context: Any) -> None:
    harness = Harness(
        ros_context,
        [
            Parameter("publish_rate_hz", value=0.0),
            Parameter("warn_throttle_s", value=0.0),
            Parameter("sync_queue_size", value=5),  # 0.5 s of frames: the mask is later than the queue reaches
        ],
    )
    try:
        _mask_late(harness)
    finally:
        harness.close()


def _mask_late(harness: Harness) -> None:
    for i in range(12):  # more depth frames than the sync queue holds
        stamp = (i + 1) * SEC // 10
        harness.pub_odom.publish(odometry(POSE, stamp))
        harness.pub_depth.publish(numpy_to_image(harness.depth_mm, "16UC1", stamp))
        harness.pub_mask.publish(numpy_to_image(harness.mask, "mono8", stamp + SEC // 2))  # 0.5 s late
        harness.pub_info.publish(camera_info(K, stamp))
        harness.spin_until(lambda: False, 0.05)
    expect_warning(harness, MASK, "no message within sync_slop_s")
    assert not any(INFO in line and "sync_slop_s" in line for line in harness.logs)  # not blamed: it was on time
    assert not harness.grids


def test_time_jump_back_restarts_the_map_instead_of_stalling(harness: Harness) -> None:
    harness.publish_until_grid(100 * SEC)
    restarted = harness.publish_until_grid(1 * SEC)  # a looped bag: stamps start over
    assert harness.grid_at(restarted) is not None
    expect_warning(harness, "costmap restarted", "time jumped back")


def test_turned_robot_places_the_box_through_odometry_yaw(ros_context: Any) -> None:
    turned = Pose2D(1.0, 0.5, 0.6)
    h = Harness(ros_context, [Parameter("publish_rate_hz", value=0.0)])
    try:
        frame = render(SCENE, K, CostmapConfig().mount, turned)
        for i in range(40):
            stamp = (5 + i) * SEC // 10
            h.pub_odom.publish(odometry(turned, stamp))
            h.spin_until(lambda: False, 0.03)
            h.pub_depth.publish(numpy_to_image(frame.depth_mm(), "16UC1", stamp))
            h.pub_mask.publish(numpy_to_image(frame.mask, "mono8", stamp))
            h.pub_info.publish(camera_info(K, stamp))
            if h.spin_until(lambda s=stamp: h.grid_at(s) is not None, 0.25):
                break
        grid = h.grid_at(stamp)
        assert grid is not None
        expected = RollingCostmap(CostmapConfig())
        expected.update(frame.depth_mm(), K, Pose2D(1.0, 0.5, 0.6, stamp), stamp, frame.mask)
        np.testing.assert_array_equal(occupancy_grid_to_numpy(grid), expected.occupancy)
        assert (expected.state >= LETHAL).sum() > 10
    finally:
        h.close()


def test_a_mask_half_a_second_late_still_makes_costmaps_with_the_default_queue(harness: Harness) -> None:
    # A slow segmentation (a loaded CPU) answers late: each mask carries the stamp of the frame it
    # came from, half a second ago. The depth queue must still hold that frame, or the costmap
    # starves and the robot stands still until the load goes away (what bench/soak found).
    masks: list[int] = []
    for i in range(20):
        stamp = (i + 1) * SEC // 10
        harness.pub_odom.publish(odometry(POSE, stamp))
        harness.pub_depth.publish(numpy_to_image(harness.depth_mm, "16UC1", stamp))
        harness.pub_info.publish(camera_info(K, stamp))
        if stamp > SEC // 2:
            late = stamp - SEC // 2
            harness.pub_mask.publish(numpy_to_image(harness.mask, "mono8", late))
            masks.append(late)
        harness.spin_until(lambda: False, 0.05)
    assert harness.spin_until(lambda: len(harness.grids) >= 5, 2.0), len(harness.grids)
    assert all(g is not None for g in (harness.grid_at(m) for m in masks[:3]))


def test_one_stale_odometry_message_keeps_the_poses_three_restart_them(harness: Harness) -> None:
    harness.publish_until_grid(10 * SEC)
    poses = [p.stamp_ns for p in harness.node._pose.poses]
    harness.pub_odom.publish(odometry(POSE, poses[-1] - 5 * SEC))  # one old message (a late retransmission)
    harness.spin_until(lambda: False, 0.1)
    assert [p.stamp_ns for p in harness.node._pose.poses] == poses, "one stale odometry message threw the poses away"
    for i in range(3):  # a restarted clock: it keeps coming
        harness.pub_odom.publish(odometry(POSE, 1 * SEC + i * SEC // 10))
        harness.spin_until(lambda: False, 0.1)
    assert [p.stamp_ns for p in harness.node._pose.poses][-1] == 1 * SEC + 2 * SEC // 10
    assert all(p.stamp_ns < 2 * SEC for p in harness.node._pose.poses)


# ------------------------------------------------------------------ compressed depth, lens distortion
COMPRESSED = [Parameter("publish_rate_hz", value=0.0), Parameter("warn_throttle_s", value=0.0)]


def test_compressed_depth_gives_the_costmap_of_the_raw_frame_and_the_transport_switches_at_run_time(
    ros_context: Any,
) -> None:
    h = Harness(ros_context, [*COMPRESSED, Parameter("depth_transport", value="compressedDepth")])
    try:
        assert h.node._topics[0] == DEPTH + "/compressedDepth"  # image_transport's name, beside the raw topic
        stamp = h.publish_until_grid(5 * SEC)
        expected = RollingCostmap(CostmapConfig())
        expected.update(h.depth_mm, K, Pose2D(0.0, 0.0, 0.0, stamp), stamp, h.mask)
        np.testing.assert_array_equal(occupancy_grid_to_numpy(h.grid_at(stamp)), expected.occupancy)  # lossless
        bad = h.node.set_parameters([Parameter("depth_transport", value="compressed")])[0]
        assert not bad.successful and "depth_transport" in bad.reason and "raw, compressedDepth" in bad.reason
        assert h.node.set_parameters([Parameter("depth_transport", value="raw")])[0].successful
        assert h.node._topics[0] == DEPTH
        assert h.grid_at(h.publish_until_grid(stamp + SEC)) is not None  # raw frames on the base topic now
    finally:
        h.close()


@pytest.mark.parametrize(
    ("fmt", "data", "words"),
    [
        ("16UC1; compressedDepth png", struct.pack("<iff", 0, 0.0, 0.0) + b"\x89PNG\r\n\x1a\n cut off", "PNG"),
        ("16UC1; compressedDepth rvl", bytes(64), "rvl"),
        ("16UC1; compressedDepth png", b"", "empty"),
    ],
    ids=["corrupt", "rvl", "empty"],
)
def test_compressed_depth_that_does_not_decode_is_warned_naming_its_topic_and_skipped(
    ros_context: Any, fmt: str, data: bytes, words: str
) -> None:
    h = Harness(ros_context, [*COMPRESSED, Parameter("depth_transport", value="compressedDepth")])
    try:
        check_bad_input(
            h, lambda stamp: h.publish(stamp, payload=(fmt, data)), DEPTH + "/compressedDepth: undecodable", words
        )
    finally:
        h.close()


def test_a_distorted_camera_is_refused_naming_the_model_the_coefficients_and_what_to_do(harness: Harness) -> None:
    check_bad_input(
        harness,
        lambda stamp: harness.publish(stamp, info=distorted_info(stamp)),
        f"{INFO}: distorted image refused",
        "plumb_bob D = [-0.12, 0.05, 0.001, -0.0005, 0.01]",
        "rectified or aligned stream",
        "rectify_distorted: true",
    )


@pytest.mark.parametrize("model", ["plumb_bob", "inverse_brown_conrady", "rational_polynomial", "equidistant", ""])
def test_zero_distortion_in_any_model_is_used_as_it_is_without_a_warning(ros_context: Any, model: str) -> None:
    # A RealSense D435's colour camera_info: plumb_bob (or librealsense's inverse_brown_conrady), D all zeros.
    h = Harness(ros_context, COMPRESSED)
    try:
        stamp = h.publish_until_grid(5 * SEC, info=lambda s: distorted_info(s, model, (0.0,) * 5))
        expected = RollingCostmap(CostmapConfig())
        expected.update(h.depth_mm, K, Pose2D(0.0, 0.0, 0.0, stamp), stamp, h.mask)
        np.testing.assert_array_equal(occupancy_grid_to_numpy(h.grid_at(stamp)), expected.occupancy)
        assert not any("distort" in line for line in h.logs), h.logs
    finally:
        h.close()


def test_rectify_distorted_undistorts_depth_and_mask_before_mapping(ros_context: Any) -> None:
    h = Harness(ros_context, [*COMPRESSED, Parameter("rectify_distorted", value=True)])
    try:
        stamp = h.publish_until_grid(5 * SEC, info=distorted_info)
        lens, undistorter = Distortion("plumb_bob", PLUMB_BOB), Undistorter()
        expected = RollingCostmap(CostmapConfig())
        depth, mask = undistorter.undistort(h.depth_mm, K, lens), undistorter.undistort(h.mask, K, lens)
        expected.update(depth, K, Pose2D(0.0, 0.0, 0.0, stamp), stamp, mask)
        np.testing.assert_array_equal(occupancy_grid_to_numpy(h.grid_at(stamp)), expected.occupancy)
        as_pinhole = RollingCostmap(CostmapConfig())
        as_pinhole.update(h.depth_mm, K, Pose2D(0.0, 0.0, 0.0, stamp), stamp, h.mask)
        assert not np.array_equal(as_pinhole.occupancy, expected.occupancy)  # the lens moved cells
        assert not any("distorted image refused" in line for line in h.logs)
    finally:
        h.close()


# ------------------------------------------------------------------ segmentation's confidence (min_floor_confidence)
CONFIDENCE = "/segmentation/confidence"
CONFIDENT = [Parameter("publish_rate_hz", value=0.0), Parameter("warn_throttle_s", value=0.0)]


def unsure_band(depth_mm: np.ndarray) -> np.ndarray:
    """Confidence 250 (0.98) everywhere but 60 (0.24) on pixels whose point lies 1.5..2.2 m ahead."""
    points, _ = DepthProjector(K, CostmapConfig().mount).classify(depth_mm, None, PointFilter())
    x = np.nan_to_num(points[..., 0], nan=-1.0)
    return np.where((x >= 1.5) & (x <= 2.2), 60, 250).astype(np.uint8)


class ConfidenceHarness(Harness):
    """Harness that also publishes segmentation/confidence (`confidence`, None: not at all)."""

    def __init__(self, context: Any, overrides: list[Parameter[Any]]) -> None:
        super().__init__(context, overrides)
        self.pub_confidence = self.driver.create_publisher(Image, CONFIDENCE, SENSOR_QOS)
        self.confidence: np.ndarray | None = unsure_band(self.depth_mm)

    def publish(self, stamp_ns: int, *, odom: bool = True, confidence: Any = None, **camera: Any) -> None:
        super().publish(stamp_ns, odom=odom, **camera)
        image = self.confidence if confidence is None else confidence
        if isinstance(image, Image):
            self.pub_confidence.publish(image)
        elif image is not None:
            self.pub_confidence.publish(numpy_to_image(image, "mono8", stamp_ns))

    def expected(self, stamp_ns: int, config: CostmapConfig, **frame: Any) -> np.ndarray:
        """The core's map of the harness's frame (depth, mask, confidence overridable), as the node should publish."""
        cm = RollingCostmap(config)
        inputs = {"depth": self.depth_mm, "mask": self.mask, "confidence": self.confidence, **frame}
        cm.update(inputs["depth"], K, Pose2D(0.0, 0.0, 0.0, stamp_ns), stamp_ns, inputs["mask"],
                  confidence=inputs["confidence"])  # fmt: skip
        return cm.occupancy


def test_with_min_floor_confidence_the_costmap_waits_for_the_confidence_and_uses_it(ros_context: Any) -> None:
    h = ConfidenceHarness(
        ros_context,
        [*CONFIDENT, Parameter("min_floor_confidence", value=0.6), Parameter("diagnostics_period_s", value=0.1),
         Parameter("input_timeout_s", value=0.2), Parameter("sync_queue_size", value=5)],
    )  # fmt: skip
    try:
        assert h.spin_until(lambda: h.pub_confidence.get_subscription_count() > 0)
        silent, h.confidence = h.confidence, None
        for i in range(9):  # depth, mask and camera_info, more than the queue holds, but no confidence
            h.publish((i + 1) * SEC // 10)
            h.spin_until(lambda: False, 0.05)
        assert not h.grids
        expect_warning(h, CONFIDENCE, "nothing received yet")
        assert h.spin_until(
            lambda: any(
                s.level == s.WARN and "no depth set processed" in s.message and CONFIDENCE in s.message
                for d in h.diagnostics
                for s in d.status
            )
        ), [s.message for d in h.diagnostics[-3:] for s in d.status]
        h.confidence = silent
        stamp = h.publish_until_grid(5 * SEC)
        config = CostmapConfig(min_floor_confidence=0.6)
        np.testing.assert_array_equal(occupancy_grid_to_numpy(h.grid_at(stamp)), h.expected(stamp, config))
        # The unsure band made a difference: without the confidence it would be free floor.
        assert (h.expected(stamp, config) != h.expected(stamp, CostmapConfig())).sum() > 20
        assert h.spin_until(
            lambda: any("confidence from /segmentation/confidence" in line for line in h.logs)
        )  # the start-up line says where it comes from
    finally:
        h.close()


def test_min_floor_confidence_set_at_run_time_subscribes_and_unsubscribes_the_confidence(ros_context: Any) -> None:
    h = ConfidenceHarness(ros_context, CONFIDENT)
    try:
        first = h.publish_until_grid(5 * SEC)  # off: the confidence published is not even subscribed
        assert h.pub_confidence.get_subscription_count() == 0
        np.testing.assert_array_equal(occupancy_grid_to_numpy(h.grid_at(first)), h.expected(first, CostmapConfig()))
        bad = h.node.set_parameters([Parameter("min_floor_confidence", value=1.5)])[0]
        assert not bad.successful and "min_floor_confidence" in bad.reason and "1.5" in bad.reason
        stats: list[UpdateStats] = []
        update = h.node.step.costmap.update

        def spy(*args: Any, **kwargs: Any) -> UpdateStats:
            stats.append(update(*args, **kwargs))
            return stats[-1]

        h.node.step.costmap.update = spy
        assert h.node.set_parameters([Parameter("min_floor_confidence", value=0.6)])[0].successful
        assert h.spin_until(lambda: h.pub_confidence.get_subscription_count() > 0)
        expect_warning(h, "depth sets matched afresh", "confidence from /segmentation/confidence")
        stamp = h.publish_until_grid(first + SEC)
        # The map is kept: the band seen free before stays free (unsure floor neither clears nor marks) ...
        kept = RollingCostmap(CostmapConfig())
        kept.update(h.depth_mm, K, Pose2D(0.0, 0.0, 0.0, first), first, h.mask)
        kept.reconfigure(CostmapConfig(min_floor_confidence=0.6))
        kept.update(h.depth_mm, K, Pose2D(0.0, 0.0, 0.0, stamp), stamp, h.mask, confidence=h.confidence)
        np.testing.assert_array_equal(occupancy_grid_to_numpy(h.grid_at(stamp)), kept.occupancy)
        # ... and the node used the confidence: its unsure pixels were counted.
        assert stats[-1].unsure_pixels > 100
        assert h.node.set_parameters([Parameter("min_floor_confidence", value=0.0)])[0].successful
        assert h.spin_until(lambda: h.pub_confidence.get_subscription_count() == 0)
        expect_warning(h, "depth sets matched afresh", "no confidence")
        h.confidence = None
        assert h.grid_at(h.publish_until_grid(stamp + SEC)) is not None  # depth, mask, camera_info are enough again
        assert stats[-1].unsure_pixels == 0
    finally:
        h.close()


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda s: numpy_to_image(np.zeros((K.height, K.width), np.uint16), "16UC1", s), "wrong encoding '16UC1'"),
        (lambda s: numpy_to_image(np.zeros((K.height // 2, K.width // 2), np.uint8), "mono8", s), "size mismatch"),
    ],
    ids=["encoding", "size"],
)
def test_a_bad_confidence_image_is_warned_naming_its_topic_and_skipped(
    ros_context: Any, make: Callable[[int], Image], words: str
) -> None:
    h = ConfidenceHarness(ros_context, [*CONFIDENT, Parameter("min_floor_confidence", value=0.6)])
    try:
        check_bad_input(h, lambda stamp: h.publish(stamp, confidence=make(stamp)), f"{CONFIDENCE}: ", words)
    finally:
        h.close()


def test_rectify_distorted_undistorts_the_confidence_as_the_mask(ros_context: Any) -> None:
    h = ConfidenceHarness(
        ros_context,
        [*CONFIDENT, Parameter("rectify_distorted", value=True), Parameter("min_floor_confidence", value=0.6)],
    )
    try:
        stamp = h.publish_until_grid(5 * SEC, info=distorted_info)
        lens, undistorter = Distortion("plumb_bob", PLUMB_BOB), Undistorter()
        assert h.confidence is not None
        undistorted = {
            name: undistorter.undistort(image, K, lens)
            for name, image in (("depth", h.depth_mm), ("mask", h.mask), ("confidence", h.confidence))
        }
        expected = h.expected(stamp, CostmapConfig(min_floor_confidence=0.6), **undistorted)
        np.testing.assert_array_equal(occupancy_grid_to_numpy(h.grid_at(stamp)), expected)
        as_it_was = h.expected(
            stamp, CostmapConfig(min_floor_confidence=0.6), depth=undistorted["depth"], mask=undistorted["mask"]
        )
        assert not np.array_equal(as_it_was, expected)  # the confidence was undistorted too
    finally:
        h.close()
