"""Stamp, camera info, odometry and occupancy grid helpers against real ROS message types."""

from __future__ import annotations

import math

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Twist, TwistStamped
from nav_msgs.msg import OccupancyGrid, Odometry
from sensor_msgs.msg import CameraInfo

from robot_vision_nav.core.geometry import GeometryError, PinholeIntrinsics, Pose2D
from robot_vision_nav.ros.messages import (
    CameraInfoError,
    camera_info_distortion,
    camera_info_to_intrinsics,
    ns_to_stamp,
    occupancy_grid,
    occupancy_grid_to_numpy,
    odometry_to_pose2d,
    stamp_to_ns,
    twist_message,
    twist_velocity,
)


@pytest.mark.parametrize("ns", [0, 1, 999_999_999, 1_000_000_000, 1_732_600_000_123_456_789, -1])
def test_stamp_roundtrip_is_exact(ns: int) -> None:
    stamp = ns_to_stamp(ns)
    assert isinstance(stamp, Time)
    assert 0 <= stamp.nanosec < 1_000_000_000
    assert stamp_to_ns(stamp) == ns


def test_stamp_splits_seconds_and_nanoseconds() -> None:
    stamp = ns_to_stamp(12_000_000_345)
    assert (stamp.sec, stamp.nanosec) == (12, 345)
    assert stamp_to_ns(Time(sec=3, nanosec=7)) == 3_000_000_007


def test_stamp_outside_int32_seconds_is_refused() -> None:
    with pytest.raises(ValueError, match="int32"):
        ns_to_stamp(2**31 * 1_000_000_000)


@pytest.mark.parametrize(
    ("sec", "nanosec"),
    [(2**31 - 1, 1_000_000_000), (2**31 - 1, 2**32 - 1), (-(2**31), 0), (-(2**31), 2**32 - 1), (5, 2**32 - 1)],
)
def test_any_received_stamp_can_be_written_back(sec: int, nanosec: int) -> None:
    # A node re-stamps outputs with an input's time; a malformed nanosec (>= 1e9) at the last second
    # made the planner's marker stamp raise out of its odometry handler (found by fuzzing).
    ns = stamp_to_ns(Time(sec=sec, nanosec=nanosec))
    back = ns_to_stamp(ns)
    assert 0 <= back.nanosec < 1_000_000_000
    if sec == 2**31 - 1:
        assert (back.sec, back.nanosec) == (2**31 - 1, 999_999_999)
    else:
        assert ns == sec * 1_000_000_000 + nanosec


def camera_info(k: list[float], width: int = 640, height: int = 480) -> CameraInfo:
    msg = CameraInfo(width=width, height=height)
    msg.k = np.array(k, dtype=np.float64)
    return msg


def test_camera_info_gives_intrinsics_from_k() -> None:
    msg = camera_info([615.0, 0.0, 320.5, 0.0, 616.0, 240.25, 0.0, 0.0, 1.0])
    assert camera_info_to_intrinsics(msg) == PinholeIntrinsics(
        fx=615.0, fy=616.0, cx=320.5, cy=240.25, width=640, height=480
    )


@pytest.mark.parametrize(
    ("k", "usable"),
    [
        ([150.0, 0.0, 319.5, 0.0, 150.0, 239.5, 0.0, 0.0, 1.0], True),  # 130 deg across: a wide lens
        ([30.0, 0.0, 319.5, 0.0, 30.0, 239.5, 0.0, 0.0, 1.0], True),  # 84.6 deg off axis at the edge
        ([1e-8, 0.0, 319.5, 0.0, 1e-8, 239.5, 0.0, 0.0, 1.0], False),
        ([600.0, 0.0, 1e5, 0.0, 600.0, 239.5, 0.0, 0.0, 1.0], False),  # principal point far outside
        ([600.0, 0.0, 319.5, 0.0, 1e-3, 239.5, 0.0, 0.0, 1.0], False),
    ],
)
def test_camera_info_whose_pixels_look_past_85_degrees_is_refused(k: list[float], usable: bool) -> None:
    msg = camera_info(k)
    if usable:
        assert camera_info_to_intrinsics(msg).fx == k[0]
    else:
        with pytest.raises(CameraInfoError, match="off the optical axis; a pinhole camera sees less than 85 deg"):
            camera_info_to_intrinsics(msg)


def test_camera_info_with_all_zero_k_is_refused_as_uncalibrated() -> None:
    with pytest.raises(CameraInfoError, match="K is all zeros"):
        camera_info_to_intrinsics(camera_info([0.0] * 9))


@pytest.mark.parametrize(("width", "height"), [(0, 480), (640, 0)])
def test_camera_info_with_zero_size_is_refused(width: int, height: int) -> None:
    msg = camera_info([615.0, 0.0, 320.0, 0.0, 615.0, 240.0, 0.0, 0.0, 1.0], width, height)
    with pytest.raises(CameraInfoError, match=rf"size must be > 0, got {width}x{height}"):
        camera_info_to_intrinsics(msg)


def test_camera_info_with_negative_focal_length_chains_the_geometry_error() -> None:
    msg = camera_info([-615.0, 0.0, 320.0, 0.0, 615.0, 240.0, 0.0, 0.0, 1.0])
    with pytest.raises(CameraInfoError, match="focal lengths") as info:
        camera_info_to_intrinsics(msg)
    assert isinstance(info.value.__cause__, GeometryError)


def odometry(x: float, y: float, yaw: float, stamp_ns: int) -> Odometry:
    msg = Odometry()
    msg.header.stamp = ns_to_stamp(stamp_ns)
    msg.pose.pose.position.x = x
    msg.pose.pose.position.y = y
    msg.pose.pose.position.z = 0.3
    msg.pose.pose.orientation.z = math.sin(yaw / 2.0)
    msg.pose.pose.orientation.w = math.cos(yaw / 2.0)
    return msg


@pytest.mark.parametrize("yaw", [0.0, 0.5, -2.0, math.pi / 2, 3.1])
def test_odometry_gives_pose2d_with_yaw_from_quaternion(yaw: float) -> None:
    pose = odometry_to_pose2d(odometry(1.5, -2.25, yaw, 42_000_000_017))
    assert isinstance(pose, Pose2D)
    assert (pose.x_m, pose.y_m, pose.stamp_ns) == (1.5, -2.25, 42_000_000_017)
    assert pose.yaw_rad == pytest.approx(yaw, abs=1e-12)


def test_odometry_yaw_ignores_roll_and_pitch_free_quaternion_scaling() -> None:
    # A quaternion about z alone, as diff-drive odometry publishes; yaw of 90 degrees.
    msg = odometry(0.0, 0.0, 0.0, 0)
    msg.pose.pose.orientation.z = math.sqrt(0.5)
    msg.pose.pose.orientation.w = math.sqrt(0.5)
    assert odometry_to_pose2d(msg).yaw_rad == pytest.approx(math.pi / 2)


@pytest.mark.parametrize("field", ["x", "qz"])
def test_odometry_with_nan_pose_is_refused(field: str) -> None:
    msg = odometry(1.0, 2.0, 0.3, 5)
    if field == "x":
        msg.pose.pose.position.x = math.nan
    else:
        msg.pose.pose.orientation.z = math.nan
    with pytest.raises(ValueError, match="odometry pose must be finite"):
        odometry_to_pose2d(msg)


def test_occupancy_grid_roundtrip_keeps_values_origin_resolution_frame_and_stamp() -> None:
    rng = np.random.default_rng(0)
    values = rng.integers(-1, 101, (30, 40)).astype(np.int8)
    msg = occupancy_grid(values, 0.05, -1.25, 3.5, "odom", 1_732_600_000_123_456_789)
    assert isinstance(msg, OccupancyGrid)
    assert (msg.info.width, msg.info.height) == (40, 30)
    assert msg.info.resolution == pytest.approx(0.05)
    origin = msg.info.origin
    assert (origin.position.x, origin.position.y, origin.position.z) == (-1.25, 3.5, 0.0)
    assert (origin.orientation.x, origin.orientation.y, origin.orientation.z, origin.orientation.w) == (
        0.0,
        0.0,
        0.0,
        1.0,
    )
    assert msg.header.frame_id == "odom"
    assert stamp_to_ns(msg.header.stamp) == 1_732_600_000_123_456_789
    assert stamp_to_ns(msg.info.map_load_time) == 1_732_600_000_123_456_789

    out = occupancy_grid_to_numpy(msg)
    assert out.dtype == np.int8 and out.shape == (30, 40)
    np.testing.assert_array_equal(out, values)


def test_occupancy_grid_preserves_unknown_free_inscribed_and_lethal() -> None:
    values = np.array([[-1, 0], [99, 100]], dtype=np.int8)
    msg = occupancy_grid(values, 0.1, 0.0, 0.0, "odom", 0)
    assert list(msg.data) == [-1, 0, 99, 100]
    np.testing.assert_array_equal(occupancy_grid_to_numpy(msg), values)


def test_occupancy_grid_row_zero_is_lowest_y_and_x_runs_fastest() -> None:
    values = np.zeros((3, 4), dtype=np.int8)
    values[0, 3] = 100  # lowest y, highest x
    msg = occupancy_grid(values, 1.0, 0.0, 0.0, "odom", 0)
    assert list(msg.data).index(100) == 3


def test_occupancy_grid_to_numpy_does_not_alias_message_data() -> None:
    msg = occupancy_grid(np.zeros((2, 2), dtype=np.int8), 1.0, 0.0, 0.0, "odom", 0)
    out = occupancy_grid_to_numpy(msg)
    out[0, 0] = 100
    assert msg.data[0] == 0


@pytest.mark.parametrize(
    ("values", "resolution", "match"),
    [
        (np.zeros((2, 2), dtype=np.int16), 0.05, "int8"),
        (np.zeros(4, dtype=np.int8), 0.05, "2-D"),
        (np.zeros((2, 2), dtype=np.int8), 0.0, "resolution_m"),
        (np.zeros((2, 2), dtype=np.int8), math.nan, "resolution_m"),
    ],
)
def test_occupancy_grid_refuses_bad_values_or_resolution(values: np.ndarray, resolution: float, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        occupancy_grid(values, resolution, 0.0, 0.0, "odom", 0)


def test_occupancy_grid_to_numpy_refuses_size_mismatch() -> None:
    msg = occupancy_grid(np.zeros((2, 3), dtype=np.int8), 1.0, 0.0, 0.0, "odom", 0)
    msg.info.width = 4
    with pytest.raises(ValueError, match="6 cells, expected width 4 x height 2 = 8"):
        occupancy_grid_to_numpy(msg)


def test_grid_from_msg_keeps_values_origin_frame_and_stamp() -> None:
    from robot_vision_nav.ros.messages import grid_from_msg

    values = np.array([[-1, 0, 50], [99, 100, 0]], dtype=np.int8)
    grid = grid_from_msg(occupancy_grid(values, 0.1, -2.0, 3.0, "odom", 5_000_000_123))
    np.testing.assert_array_equal(grid.values, values)
    assert (grid.resolution_m, grid.origin_x_m, grid.origin_y_m) == pytest.approx((0.1, -2.0, 3.0))
    assert grid.frame_id == "odom" and grid.stamp_ns == 5_000_000_123
    assert grid.world_to_cell(-1.75, 3.15) == (1, 2)
    assert grid.value_at(-1.75, 3.15) == 0 and grid.value_at(-1.85, 3.15) == 100
    assert grid.value_at(100.0, 0.0) == -1


@pytest.mark.parametrize("resolution", [0.0, -0.05, 1e-30, 0.0009, float("nan"), float("inf")])
def test_grid_from_msg_refuses_a_resolution_no_costmap_has(resolution: float) -> None:
    # 1e-30 m cells once made the controller's path check allocate 1e29 samples (found by fuzzing).
    from robot_vision_nav.ros.messages import grid_from_msg

    msg = occupancy_grid(np.zeros((4, 4), np.int8), 0.05, 0.0, 0.0, "odom", 1)
    msg.info.resolution = resolution
    with pytest.raises(ValueError, match=r"grid resolution must be finite and at least 0\.001 m"):
        grid_from_msg(msg)


def test_odometry_yaw_is_right_for_a_slightly_denormalised_quaternion_and_refuses_zero() -> None:
    import math

    from nav_msgs.msg import Odometry

    from robot_vision_nav.ros.messages import odometry_to_pose2d

    msg = Odometry()
    scale = 1.005
    msg.pose.pose.orientation.z, msg.pose.pose.orientation.w = scale * math.sin(0.5), scale * math.cos(0.5)
    assert odometry_to_pose2d(msg).yaw_rad == pytest.approx(1.0, abs=1e-12)
    msg.pose.pose.orientation.z = msg.pose.pose.orientation.w = 0.0
    with pytest.raises(ValueError, match="unit quaternion"):
        odometry_to_pose2d(msg)
    msg.pose.pose.orientation.w = 1.0
    msg.pose.pose.position.x = 1e307
    with pytest.raises(ValueError, match="not odometry"):
        odometry_to_pose2d(msg)


def test_8uc1_mask_reads_as_mono8() -> None:
    from robot_vision_nav.ros.image import image_to_numpy, numpy_to_image

    mask = np.arange(12, dtype=np.uint8).reshape(3, 4)
    np.testing.assert_array_equal(image_to_numpy(numpy_to_image(mask, "8UC1")), mask)


def test_camera_info_distortion_is_the_model_and_d_as_given() -> None:
    info = CameraInfo(width=640, height=480, distortion_model="plumb_bob", d=[0.1, -0.02, 0.0, 0.0, 0.003])
    distortion = camera_info_distortion(info)
    assert distortion.model == "plumb_bob" and distortion.coefficients == (0.1, -0.02, 0.0, 0.0, 0.003)
    assert not distortion.is_zero
    # A RealSense D435's colour stream: zeros, under librealsense's model name or plumb_bob alike.
    assert camera_info_distortion(CameraInfo(distortion_model="inverse_brown_conrady", d=[0.0] * 5)).is_zero
    assert camera_info_distortion(CameraInfo()).is_zero  # no model, no D: an uncalibrated driver's default


def test_odometry_in_frame_takes_its_frame_with_or_without_a_slash_and_names_any_other() -> None:
    from robot_vision_nav.ros.messages import odometry_in_frame, pose2d_to_odometry, same_frame

    msg = pose2d_to_odometry(Pose2D(1.0, 2.0, 0.5, 7), 0.0, 0.0, "odom", "base_link")
    for frame_id in ("odom", "/odom", ""):  # an empty frame_id is taken as the expected one
        msg.header.frame_id = frame_id
        pose, problem = odometry_in_frame(msg, "odom")
        assert problem == "" and pose is not None
        assert (pose.x_m, pose.y_m, pose.yaw_rad, pose.stamp_ns) == (1.0, 2.0, pytest.approx(0.5), 7)
    msg.header.frame_id = "map"
    assert odometry_in_frame(msg, "odom") == (None, "wrong frame: odometry is in 'map', expected 'odom'")
    msg.header.frame_id = "odom"
    msg.pose.pose.orientation.w = 0.0
    msg.pose.pose.orientation.z = 0.0
    pose, problem = odometry_in_frame(msg, "odom")
    assert pose is None and problem.startswith("bad pose: ") and "unit quaternion" in problem
    assert same_frame("/odom", "odom") and not same_frame("odom", "map")


def test_a_velocity_command_round_trips_as_twist_and_as_twist_stamped() -> None:
    plain = twist_message(0.4, -0.2)
    assert type(plain) is Twist and twist_velocity(plain) == (0.4, -0.2, None)
    stamped = twist_message(0.4, -0.2, "base_footprint", ns_to_stamp(12_000_000_345))
    assert isinstance(stamped, TwistStamped) and stamped.header.frame_id == "base_footprint"
    assert twist_velocity(stamped) == (0.4, -0.2, 12_000_000_345)
    assert (stamped.twist.linear.y, stamped.twist.angular.x) == (0.0, 0.0)  # planar: nothing else set
