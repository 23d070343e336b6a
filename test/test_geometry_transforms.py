"""Rigid transforms as TF gives them: quaternions, camera mounts from optical frames, goals across frames."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robot_vision_nav.core.geometry import (
    BODY_FROM_OPTICAL,
    R_BODY_OPTICAL,
    CameraMount,
    GeometryError,
    Transform3D,
    mount_body_transform,
    mount_difference,
    mount_from_optical_transform,
    quaternion_from_rotation,
    rotation_from_quaternion,
    rotation_from_rpy,
    rpy_from_rotation,
)

angles = st.floats(-math.pi, math.pi, allow_nan=False)
pitches = st.floats(-1.5, 1.5, allow_nan=False)  # away from gimbal lock, where rpy is not unique
lengths = st.floats(-5.0, 5.0, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(angles, pitches, angles)
def test_rpy_round_trips_through_matrix_and_quaternion(roll: float, pitch: float, yaw: float) -> None:
    r = rotation_from_rpy(roll, pitch, yaw)
    q = quaternion_from_rotation(r)
    assert math.isclose(sum(c * c for c in q), 1.0, rel_tol=1e-9)
    np.testing.assert_allclose(rotation_from_quaternion(*q), r, atol=1e-9)
    np.testing.assert_allclose(rotation_from_rpy(*rpy_from_rotation(r)), r, atol=1e-9)


def test_quaternion_of_a_known_rotation() -> None:
    # 90 degrees about z: (0, 0, sin 45, cos 45), as `ros2 run tf2_ros static_transform_publisher --yaw 1.5708` gives.
    q = quaternion_from_rotation(rotation_from_rpy(0.0, 0.0, math.pi / 2))
    np.testing.assert_allclose(q, (0.0, 0.0, math.sqrt(0.5), math.sqrt(0.5)), atol=1e-12)
    # The optical frame's fixed rotation is the one every camera driver publishes: rpy (-pi/2, 0, -pi/2).
    np.testing.assert_allclose(R_BODY_OPTICAL, rotation_from_rpy(-math.pi / 2, 0.0, -math.pi / 2), atol=1e-12)


@pytest.mark.parametrize("bad", [(0.0, 0.0, 0.0, 0.0), (math.nan, 0.0, 0.0, 1.0), (0.0, 0.0, math.inf, 1.0)])
def test_zero_or_non_finite_quaternion_is_refused(bad: tuple[float, float, float, float]) -> None:
    with pytest.raises(GeometryError, match="quaternion"):
        Transform3D((0.0, 0.0, 0.0), bad)


@settings(max_examples=100, deadline=None)
@given(lengths, lengths, lengths, st.floats(-0.5, 0.5), st.floats(-1.0, 1.2), angles)
def test_mount_survives_the_driver_tf_chain(
    x: float, y: float, z: float, roll: float, pitch: float, yaw: float
) -> None:
    """base_link -> camera_link -> camera_color_optical_frame, composed as tf2 does, gives back the mount."""
    mount = CameraMount(x, y, z, roll, pitch, yaw)
    base_from_optical = mount_body_transform(mount).compose(BODY_FROM_OPTICAL)
    back = mount_from_optical_transform(base_from_optical)
    distance, angle = mount_difference(mount, back)
    assert distance < 1e-9 and angle < 1e-6
    np.testing.assert_allclose(back.rotation_base_optical(), mount.rotation_base_optical(), atol=1e-9)


def test_mount_from_optical_transform_reads_the_default_d435_mount() -> None:
    # A camera 0.5 m up, 0.1 m forward, pitched 0.35 rad down: its optical z axis points forward and down.
    mount = CameraMount(0.1, 0.0, 0.5, 0.0, 0.35, 0.0)
    tf = mount_body_transform(mount).compose(BODY_FROM_OPTICAL)
    optical_z_in_base = tf.rotation() @ np.array([0.0, 0.0, 1.0])
    np.testing.assert_allclose(optical_z_in_base, [math.cos(0.35), 0.0, -math.sin(0.35)], atol=1e-12)
    back = mount_from_optical_transform(tf)
    assert (back.x_m, back.y_m, back.z_m) == pytest.approx((0.1, 0.0, 0.5))
    assert (back.roll_rad, back.pitch_rad, back.yaw_rad) == pytest.approx((0.0, 0.35, 0.0), abs=1e-12)


def test_mount_difference_measures_distance_and_angle() -> None:
    a = CameraMount(0.1, 0.0, 0.5, 0.0, 0.35, 0.0)
    b = CameraMount(0.1, 0.02, 0.5, 0.0, 0.35 + math.radians(1.0), 0.0)
    distance, angle = mount_difference(a, b)
    assert distance == pytest.approx(0.02)
    assert math.degrees(angle) == pytest.approx(1.0, abs=1e-6)


@settings(max_examples=100, deadline=None)
@given(lengths, lengths, angles, lengths, lengths, angles)
def test_planar_pose_through_a_map_to_odom_transform(
    tx: float, ty: float, tyaw: float, x: float, y: float, yaw: float
) -> None:
    """A goal in `map` lands where the planar rigid motion puts it in `odom`, and back again."""
    odom_from_map = Transform3D.from_matrix(rotation_from_rpy(0.0, 0.0, tyaw), np.array([tx, ty, 0.0]))
    gx, gy, gyaw = odom_from_map.apply_to_pose2d(x, y, yaw)
    c, s = math.cos(tyaw), math.sin(tyaw)
    assert (gx, gy) == pytest.approx((tx + c * x - s * y, ty + s * x + c * y), abs=1e-9)
    assert math.remainder(gyaw - (yaw + tyaw), 2 * math.pi) == pytest.approx(0.0, abs=1e-9)
    bx, by, byaw = odom_from_map.inverse().apply_to_pose2d(gx, gy, gyaw)
    assert (bx, by) == pytest.approx((x, y), abs=1e-7)
    assert math.remainder(byaw - yaw, 2 * math.pi) == pytest.approx(0.0, abs=1e-7)


def test_a_transform_that_stands_the_heading_up_is_refused() -> None:
    upright = Transform3D.from_matrix(rotation_from_rpy(0.0, -math.pi / 2, 0.0), np.zeros(3))
    with pytest.raises(GeometryError, match="vertical"):
        upright.apply_to_pose2d(0.0, 0.0, 0.0)


@pytest.mark.parametrize("yaw", [0.0, 0.5, -1.2, math.pi - 1e-9, -math.pi + 1e-9, 3.0])
def test_yaw_to_quaternion_is_the_inverse_of_yaw_from_quaternion(yaw: float) -> None:
    from robot_vision_nav.core.geometry import yaw_from_quaternion, yaw_to_quaternion

    x, y, z, w = yaw_to_quaternion(yaw)
    assert (x, y) == (0.0, 0.0) and math.hypot(z, w) == pytest.approx(1.0)
    assert yaw_from_quaternion(x, y, z, w) == pytest.approx(yaw)
