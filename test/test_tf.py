"""TF: the camera mount from base_link -> the image's frame, sim_node's tree, and the path without tf2_ros.

The CameraMountSource tests feed a real tf2_ros Buffer directly (no network); the node tests run
sim_node, costmap_node and safety_node over real rclpy with TF published by tf2_ros's broadcasters.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import pytest
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter

from robot_vision_nav.core.geometry import (
    BODY_FROM_OPTICAL,
    CameraMount,
    Transform3D,
    mount_body_transform,
    mount_difference,
)
from robot_vision_nav.ros.tf import CameraMountSource, TfReader, transform_stamped
from test.tf_helpers import require_tf

MOUNT = CameraMount(0.1, 0.0, 0.5, 0.0, 0.35, 0.0)
OPTICAL = "camera_color_optical_frame"


class Logs:
    def __init__(self) -> None:
        self.info: list[str] = []
        self.warnings: list[str] = []


class NoTf:
    """A TfReader where tf2_ros is not installed."""

    available = False

    def lookup(self, target: str, source: str, stamp_ns: int | None = None) -> tuple[None, str]:
        return None, "tf2_ros is not installed (No module named 'tf2_ros')"


def source_for(reader: Any) -> tuple[CameraMountSource, Logs]:
    logs = Logs()
    return CameraMountSource(reader, logs.info.append, logs.warnings.append), logs


# ---------------------------------------------------------------------------- without tf2_ros (runs everywhere)
def test_without_tf2_ros_auto_uses_the_parameter_silently() -> None:
    mounts, logs = source_for(NoTf())
    found = mounts.mount("base_link", OPTICAL, "auto", MOUNT)
    assert (found.mount, found.source, found.problem) == (MOUNT, "parameter", "")
    assert logs.warnings == []


def test_without_tf2_ros_tf_only_skips_the_frame_and_says_why() -> None:
    mounts, _ = source_for(NoTf())
    found = mounts.mount("base_link", OPTICAL, "tf", MOUNT)
    assert found.mount is None
    assert "camera_mount_source is tf" in found.problem and "tf2_ros is not installed" in found.problem


def test_parameter_source_never_reads_tf() -> None:
    mounts, _ = source_for(NoTf())
    assert mounts.mount("base_link", OPTICAL, "parameter", MOUNT).source == "parameter"


@pytest.mark.parametrize("bad", ["sideways", "", "TF"])
def test_unknown_mount_source_is_refused_by_name(bad: str) -> None:
    from robot_vision_nav.core.config import ConfigError
    from robot_vision_nav.nodes.costmap_params import CostmapNodeConfig

    with pytest.raises(ConfigError, match="camera_mount_source"):
        CostmapNodeConfig(camera_mount_source=bad)


# ---------------------------------------------------------------------------- with a real tf2_ros Buffer
def _static_chain(buffer: Any, mount: CameraMount, optical: str = OPTICAL) -> None:
    from builtin_interfaces.msg import Time

    stamp = Time()
    buffer.set_transform_static(
        transform_stamped("base_link", "camera_link", mount_body_transform(mount), stamp), "test"
    )
    buffer.set_transform_static(transform_stamped("camera_link", optical, BODY_FROM_OPTICAL, stamp), "test")


class BufferOnly(TfReader):
    """A TfReader over a tf2_ros Buffer the test fills itself (no node, no listener)."""

    def __init__(self) -> None:
        import tf2_ros
        from rclpy.duration import Duration

        self.buffer = tf2_ros.Buffer(cache_time=Duration(seconds=10.0))
        self.listener = None


def test_mount_comes_from_the_driver_tf_chain() -> None:
    require_tf()
    reader = BufferOnly()
    tilted = CameraMount(0.12, -0.03, 0.45, 0.01, 0.4, -0.05)
    _static_chain(reader.buffer, tilted)
    mounts, logs = source_for(reader)
    found = mounts.mount("base_link", OPTICAL, "tf", MOUNT)
    assert found.source == "tf" and found.mount is not None
    distance, angle = mount_difference(found.mount, tilted)
    assert distance < 1e-6 and angle < 1e-6
    assert any("camera mount from TF base_link -> camera_color_optical_frame" in m for m in logs.info)


def test_disagreeing_parameter_is_named_once_and_tf_wins() -> None:
    require_tf()
    reader = BufferOnly()
    moved = CameraMount(0.1, 0.0, 0.55, 0.0, 0.35, 0.0)  # 5 cm higher than the parameter says
    _static_chain(reader.buffer, moved)
    mounts, logs = source_for(reader)
    for _ in range(3):
        found = mounts.mount("base_link", OPTICAL, "auto", MOUNT)
        assert found.mount is not None and mount_difference(found.mount, moved)[0] < 1e-6
    assert len(logs.warnings) == 1
    text = logs.warnings[0]
    assert "differs from camera_mount_xyzrpy" in text and "5.0 cm" in text and "0.550" in text


def test_agreeing_parameter_within_a_centimetre_is_not_a_warning() -> None:
    require_tf()
    reader = BufferOnly()
    _static_chain(reader.buffer, CameraMount(0.1, 0.005, 0.5, 0.0, 0.35 + math.radians(0.3), 0.0))
    mounts, logs = source_for(reader)
    assert mounts.mount("base_link", OPTICAL, "auto", MOUNT).source == "tf"
    assert logs.warnings == []


def test_frame_nobody_publishes_falls_back_once_in_auto_and_skips_in_tf() -> None:
    require_tf()
    reader = BufferOnly()
    _static_chain(reader.buffer, MOUNT)
    mounts, logs = source_for(reader)
    for _ in range(3):
        found = mounts.mount("base_link", "camera_depth_optical_frame", "auto", MOUNT)
        assert (found.mount, found.source) == (MOUNT, "parameter")
    assert len(logs.warnings) == 1 and "camera_depth_optical_frame" in logs.warnings[0]
    skipped = mounts.mount("base_link", "camera_depth_optical_frame", "tf", MOUNT)
    assert skipped.mount is None and "camera_depth_optical_frame" in skipped.problem
    empty = mounts.mount("base_link", "", "tf", MOUNT)
    assert empty.mount is None and "no frame_id" in empty.problem


def test_a_moved_camera_is_noticed() -> None:
    require_tf()
    reader = BufferOnly()
    _static_chain(reader.buffer, MOUNT)
    mounts, logs = source_for(reader)
    mounts.mount("base_link", OPTICAL, "tf", MOUNT)
    _static_chain(reader.buffer, CameraMount(0.1, 0.0, 0.5, 0.0, 0.5, 0.0))  # re-tilted
    found = mounts.mount("base_link", OPTICAL, "tf", MOUNT)
    assert found.mount is not None and found.mount.pitch_rad == pytest.approx(0.5)
    assert any("camera mount changed" in m for m in logs.info)


# ---------------------------------------------------------------------------- nodes over real rclpy
def _spin_until(executor: Any, done: Callable[[], bool], timeout_s: float) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        executor.spin_once(timeout_sec=0.02)
        if done():
            return True
    return False


@pytest.mark.ros
def test_sim_node_publishes_the_tree_a_real_robot_has(ros_context: object) -> None:
    """odom -> base_link as the odometry says, world -> odom, and the static camera chain of the sim's mount."""
    require_tf()
    import tf2_ros
    from nav_msgs.msg import Odometry

    from robot_vision_nav.nodes.sim_node import SimNode
    from robot_vision_nav.ros.messages import odometry_to_pose2d
    from robot_vision_nav.ros.qos import SENSOR_QOS
    from robot_vision_nav.ros.tf import transform_from_msg

    mount = [0.12, 0.0, 0.45, 0.0, 0.3, 0.0]
    sim = SimNode(
        context=ros_context,
        parameter_overrides=[
            Parameter("step_mode", value="fast"),
            Parameter("mount_xyzrpy", value=mount),
            Parameter("width_px", value=64),
            Parameter("height_px", value=48),
        ],
    )
    listener_node = Node("tf_reader", context=ros_context)
    buffer = tf2_ros.Buffer()
    tf2_ros.TransformListener(buffer, listener_node)
    odoms: list[Odometry] = []
    listener_node.create_subscription(Odometry, "/odom", odoms.append, SENSOR_QOS)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(sim)
    executor.add_node(listener_node)
    try:
        assert _spin_until(
            executor,
            lambda: (
                buffer.can_transform("base_link", OPTICAL, rclpy_time_zero())
                and buffer.can_transform("world", "base_link", rclpy_time_zero())
                and len(odoms) > 20
            ),
            30.0,
        ), "sim_node's TF never arrived"
        optical = transform_from_msg(buffer.lookup_transform("base_link", OPTICAL, rclpy_time_zero()))
        from robot_vision_nav.core.geometry import mount_from_optical_transform

        distance, angle = mount_difference(mount_from_optical_transform(optical), CameraMount(*mount))
        assert distance < 1e-6 and angle < 1e-6
        last = odometry_to_pose2d(odoms[-1])
        from rclpy.time import Time

        # The TF of that step may still be on its way (another topic): wait for it.
        assert _spin_until(
            executor, lambda: buffer.can_transform("odom", "base_link", Time(nanoseconds=last.stamp_ns)), 10.0
        )
        odom_base = transform_from_msg(buffer.lookup_transform("odom", "base_link", Time(nanoseconds=last.stamp_ns)))
        x, y, yaw = odom_base.apply_to_pose2d(0.0, 0.0, 0.0)
        assert (x, y) == pytest.approx((last.x_m, last.y_m), abs=1e-6)
        assert math.remainder(yaw - last.yaw_rad, 2 * math.pi) == pytest.approx(0.0, abs=1e-6)
    finally:
        executor.shutdown()
        sim.destroy_node()
        listener_node.destroy_node()


def rclpy_time_zero() -> Any:
    from rclpy.time import Time

    return Time()


def _publish_static_mount(node: Node, mount: CameraMount) -> Any:
    import tf2_ros
    from builtin_interfaces.msg import Time

    broadcaster = tf2_ros.StaticTransformBroadcaster(node)
    broadcaster.sendTransform(
        [
            transform_stamped("base_link", "camera_link", mount_body_transform(mount), Time()),
            transform_stamped("camera_link", OPTICAL, BODY_FROM_OPTICAL, Time()),
        ]
    )
    return broadcaster


@pytest.mark.ros
def test_costmap_node_places_obstacles_with_the_tf_mount(ros_context: object) -> None:
    """camera_mount_source tf with a wrong camera_mount_xyzrpy: no costmap until TF has the mount, then the
    same map, cell for cell, as the core makes with the right mount."""
    require_tf()
    import numpy as np

    from robot_vision_nav.core.costmap import CostmapConfig, RollingCostmap
    from robot_vision_nav.core.geometry import Pose2D
    from robot_vision_nav.ros.messages import occupancy_grid_to_numpy
    from test.test_costmap_node import Harness, K

    wrong = [0.5, 0.3, 1.2, 0.2, 0.0, 0.4]
    h = Harness(
        ros_context,
        [Parameter("camera_mount_source", value="tf"), Parameter("camera_mount_xyzrpy", value=wrong),
         Parameter("publish_rate_hz", value=0.0), Parameter("warn_throttle_s", value=0.0)],
    )  # fmt: skip
    sec = 1_000_000_000
    try:
        h.publish(1 * sec)
        assert h.spin_until(lambda: any("camera_mount_source is tf" in m for m in h.logs), 10.0), h.logs
        assert not h.grids, "a frame was used without a camera mount"
        _publish_static_mount(h.driver, MOUNT)
        assert h.spin_until(lambda: h.node._tf.buffer.can_transform("base_link", OPTICAL, rclpy_time_zero()), 10.0)
        h.publish(2 * sec)
        assert h.spin_until(lambda: h.grid_at(2 * sec) is not None, 10.0), h.logs[-5:]
        values = occupancy_grid_to_numpy(h.grid_at(2 * sec))
        assert h.spin_until(
            lambda: any("camera mount from TF base_link -> camera_color_optical_frame" in m for m in h.logs), 10.0
        )
    finally:
        h.close()
    expected = RollingCostmap(CostmapConfig())  # the default mount is MOUNT
    expected.update(h.depth_mm, K, Pose2D(0.0, 0.0, 0.0, 2 * sec), 2 * sec, h.mask)
    np.testing.assert_array_equal(values, expected.occupancy)
    assert (values == 100).sum() > 20


@pytest.mark.ros
def test_safety_node_holds_the_robot_while_tf_lacks_the_camera(ros_context: object) -> None:
    """camera_mount_source tf and nobody publishes the camera frame: the base gets zero, and the reason is
    named; once TF has the camera the same free view lets commands through."""
    require_tf()
    from test.test_safety_node import FAR, LEVEL_MOUNT, SafetyRig

    rig = SafetyRig(ros_context, [Parameter("camera_mount_source", value="tf")])
    try:
        rig.camera(FAR)
        assert rig.command(0.3, 0.0) == (0.0, 0.0)
        assert rig.logged("camera_mount_source is tf", 5.0), rig.logs[-5:]
        assert any(OPTICAL in line for line in rig.logs if "camera_mount_source is tf" in line)
        _publish_static_mount(rig.driver, CameraMount(*LEVEL_MOUNT))
        assert rig.spin_until(lambda: rig.node._tf.buffer.can_transform("base_link", OPTICAL, rclpy_time_zero()), 10.0)
        rig.camera(FAR)
        assert rig.command(0.3, 0.0) == (pytest.approx(0.3), 0.0)
        assert rig.logged("camera mount from TF", 5.0)
    finally:
        rig.close()


@pytest.mark.ros
def test_semantic_obstacles_node_takes_the_tf_mount(ros_context: object) -> None:
    """The obstacle cloud for Nav2 is placed with the TF mount (a wrong camera_mount_xyzrpy is not used),
    and no cloud comes out while TF lacks the camera."""
    require_tf()
    from robot_vision_nav.core.geometry import Pose2D
    from robot_vision_nav.core.obstacle_cloud import ObstacleCloudBuilder, ObstacleCloudConfig
    from robot_vision_nav.ros.messages import point_cloud_to_xyz
    from robot_vision_nav.sim.synthetic import Scene, render
    from test.test_obstacles_node import BOX, PATCH, Harness, K

    wrong = [0.5, 0.3, 1.2, 0.2, 0.0, 0.4]
    h = Harness(
        ros_context,
        [
            Parameter("camera_mount_source", value="tf"),
            Parameter("camera_mount_xyzrpy", value=wrong),
            Parameter("warn_throttle_s", value=0.0),
        ],
    )
    frame = render(Scene(boxes=(BOX,), patches=(PATCH,)), K, MOUNT, Pose2D(0.0, 0.0, 0.0))
    h.depth_mm, h.mask = frame.depth_mm(), frame.mask
    sec = 1_000_000_000
    try:
        h.publish(1 * sec)
        assert h.spin_until(lambda: any("camera_mount_source is tf" in m for m in h.logs), 10.0), h.logs[-5:]
        assert not h.clouds
        _publish_static_mount(h.driver, MOUNT)
        assert h.spin_until(lambda: h.node._tf.buffer.can_transform("base_link", OPTICAL, rclpy_time_zero()), 10.0)
        stamp = h.publish_until_cloud(2 * sec)
        points = point_cloud_to_xyz(h.cloud_at(stamp))
    finally:
        h.close()
    expected = ObstacleCloudBuilder(ObstacleCloudConfig()).build(frame.depth_mm(), K, frame.mask)  # default = MOUNT
    assert len(points) > 20 and points.tobytes() == expected.points.tobytes()


class Toggling:
    """A TfReader whose camera transform comes and goes (a driver restarting)."""

    available = True

    def __init__(self, transform: Transform3D | None) -> None:
        self.transform = transform

    def lookup(self, target: str, source: str, stamp_ns: int | None = None) -> tuple[Transform3D | None, str]:
        return (self.transform, "") if self.transform is not None else (None, f"no transform {target} <- {source}")


def test_auto_waits_a_second_for_tf_before_the_parameter_and_skips_quietly_meanwhile() -> None:
    mounts, logs = source_for(Toggling(None))
    sec = 1_000_000_000
    for now in (5 * sec, 5 * sec + sec // 2):
        found = mounts.mount("base_link", OPTICAL, "auto", MOUNT, now_ns=now)
        assert (found.mount, found.problem) == (None, "")  # skipped: the safety layer holds the robot
    assert logs.warnings == []
    found = mounts.mount("base_link", OPTICAL, "auto", MOUNT, now_ns=6 * sec + 1)
    assert (found.mount, found.source) == (MOUNT, "parameter")
    assert len(logs.warnings) == 1 and "using camera_mount_xyzrpy" in logs.warnings[0]


def test_a_camera_tf_lost_later_keeps_the_last_tf_mount() -> None:
    tilted = CameraMount(0.12, 0.0, 0.45, 0.0, 0.4, 0.0)
    reader = Toggling(mount_body_transform(tilted).compose(BODY_FROM_OPTICAL))
    mounts, _ = source_for(reader)
    assert mounts.mount("base_link", OPTICAL, "auto", MOUNT, now_ns=1).source == "tf"
    reader.transform = None  # the driver restarts
    for source in ("auto", "tf"):
        found = mounts.mount("base_link", OPTICAL, source, MOUNT, now_ns=10**12)
        assert found.source == "tf" and found.mount is not None
        assert mount_difference(found.mount, tilted)[0] < 1e-9  # not the parameter's mount
        assert "last camera mount TF gave" in found.problem
