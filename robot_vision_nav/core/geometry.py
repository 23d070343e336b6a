"""Frames, poses and camera models shared by the core algorithms.

Conventions (REP-103/105): metres, radians, seconds; `base_link` is x forward, y left, z up; the
camera optical frame is z forward, x right, y down. Timestamps are integer nanoseconds. Nothing
here reads a clock: every time comes in as an argument, so the same inputs give the same outputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

# Rotation from the camera optical frame (z forward, x right, y down) to the camera body frame
# (x forward, y left, z up): the fixed rotation every ROS camera driver publishes as
# <camera>_link -> <camera>_optical_frame (rpy = -pi/2, 0, -pi/2).
R_BODY_OPTICAL: NDArray[np.float64] = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]], dtype=np.float64)


MAX_POSITION_M = 1.0e6  # farther than any odometry drifts; beyond it grid indices overflow


class GeometryError(ValueError):
    """A pose, camera model or transform that cannot be used, with what was expected."""


def rotation_from_rpy(roll_rad: float, pitch_rad: float, yaw_rad: float) -> NDArray[np.float64]:
    """Rotation matrix R = Rz(yaw) @ Ry(pitch) @ Rx(roll), the ROS/URDF fixed-axis convention."""
    cr, sr = math.cos(roll_rad), math.sin(roll_rad)
    cp, sp = math.cos(pitch_rad), math.sin(pitch_rad)
    cy, sy = math.cos(yaw_rad), math.sin(yaw_rad)
    return np.array(
        [
            [cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
            [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
            [-sp, cp * sr, cp * cr],
        ],
        dtype=np.float64,
    )


def yaw_from_quaternion(x: float, y: float, z: float, w: float) -> float:
    """Yaw (rotation about z) of a quaternion, in radians in (-pi, pi].

    The w^2 + x^2 - y^2 - z^2 form is the same as 1 - 2(y^2 + z^2) for a unit quaternion and stays
    right for one of any length, so a slightly denormalised quaternion does not skew the yaw.
    """
    return math.atan2(2.0 * (w * z + x * y), w * w + x * x - y * y - z * z)


def yaw_to_quaternion(yaw_rad: float) -> tuple[float, float, float, float]:
    """The unit quaternion (x, y, z, w) of a rotation by `yaw_rad` about z; `yaw_from_quaternion`'s inverse."""
    return 0.0, 0.0, math.sin(yaw_rad / 2.0), math.cos(yaw_rad / 2.0)


def wrap_angle(angle_rad: float) -> float:
    """The same angle in [-pi, pi)."""
    return (angle_rad + math.pi) % (2.0 * math.pi) - math.pi


@dataclass(frozen=True)
class Pose2D:
    """A planar pose of base_link in the odom frame at one instant."""

    x_m: float
    y_m: float
    yaw_rad: float
    stamp_ns: int = 0

    def __post_init__(self) -> None:
        if not all(math.isfinite(v) for v in (self.x_m, self.y_m, self.yaw_rad)):
            raise GeometryError(f"pose must be finite, got x={self.x_m}, y={self.y_m}, yaw={self.yaw_rad}")
        if max(abs(self.x_m), abs(self.y_m)) > MAX_POSITION_M:
            raise GeometryError(
                f"pose ({self.x_m}, {self.y_m}) is more than {MAX_POSITION_M:g} m from the origin: not odometry"
            )


def interpolate_pose(a: Pose2D, b: Pose2D, stamp_ns: int) -> Pose2D:
    """Pose at `stamp_ns` by linear interpolation (shortest-way for yaw) between two stamped poses.

    Outside [a.stamp_ns, b.stamp_ns] the nearer pose is returned unchanged: extrapolating odometry
    invents motion that never happened.
    """
    if a.stamp_ns > b.stamp_ns:
        a, b = b, a
    if stamp_ns <= a.stamp_ns or b.stamp_ns == a.stamp_ns:
        return Pose2D(a.x_m, a.y_m, a.yaw_rad, stamp_ns)
    if stamp_ns >= b.stamp_ns:
        return Pose2D(b.x_m, b.y_m, b.yaw_rad, stamp_ns)
    t = (stamp_ns - a.stamp_ns) / (b.stamp_ns - a.stamp_ns)
    dyaw = wrap_angle(b.yaw_rad - a.yaw_rad)
    return Pose2D(
        a.x_m + t * (b.x_m - a.x_m),
        a.y_m + t * (b.y_m - a.y_m),
        wrap_angle(a.yaw_rad + t * dyaw),
        stamp_ns,
    )


@dataclass(frozen=True)
class PinholeIntrinsics:
    """A rectified pinhole camera: focal lengths and principal point in pixels, image size.

    Distortion is not modelled: aligned depth from RGB-D drivers is published rectified.
    """

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    def __post_init__(self) -> None:
        if not (math.isfinite(self.fx) and math.isfinite(self.fy) and self.fx > 0.0 and self.fy > 0.0):
            raise GeometryError(f"focal lengths must be finite and > 0, got fx={self.fx}, fy={self.fy}")
        if not (math.isfinite(self.cx) and math.isfinite(self.cy)):
            raise GeometryError(f"principal point must be finite, got cx={self.cx}, cy={self.cy}")
        if self.width <= 0 or self.height <= 0:
            raise GeometryError(f"image size must be > 0, got {self.width}x{self.height}")

    def scaled_to(self, width: int, height: int) -> PinholeIntrinsics:
        """The same camera for an image resized to `width` x `height` (e.g. a half-size mask)."""
        sx, sy = width / self.width, height / self.height
        return PinholeIntrinsics(
            self.fx * sx, self.fy * sy, (self.cx + 0.5) * sx - 0.5, (self.cy + 0.5) * sy - 0.5, width, height
        )


@dataclass(frozen=True)
class CameraMount:
    """Pose of the camera body frame (x forward, y left, z up) in base_link.

    Positive pitch tilts the camera down toward the floor (right-hand rule about y).
    """

    x_m: float = 0.0
    y_m: float = 0.0
    z_m: float = 0.0
    roll_rad: float = 0.0
    pitch_rad: float = 0.0
    yaw_rad: float = 0.0

    def __post_init__(self) -> None:
        values = (self.x_m, self.y_m, self.z_m, self.roll_rad, self.pitch_rad, self.yaw_rad)
        if not all(math.isfinite(v) for v in values):
            raise GeometryError(f"camera mount must be finite, got {values}")

    @classmethod
    def from_sequence(cls, values: tuple[float, ...] | list[float]) -> CameraMount:
        """Build from [x, y, z, roll, pitch, yaw] (m, rad), the form used in parameters and the CLI."""
        if len(values) != 6:
            raise GeometryError(f"camera mount needs 6 values x,y,z,roll,pitch,yaw, got {len(values)}")
        return cls(*(float(v) for v in values))

    def rotation_base_optical(self) -> NDArray[np.float64]:
        """Rotation taking optical-frame vectors into base_link."""
        return rotation_from_rpy(self.roll_rad, self.pitch_rad, self.yaw_rad) @ R_BODY_OPTICAL

    def translation_m(self) -> NDArray[np.float64]:
        """Camera origin in base_link."""
        return np.array([self.x_m, self.y_m, self.z_m], dtype=np.float64)


# ---------------------------------------------------------------------------- rigid transforms
# TF gives a transform as a translation and a unit quaternion (x, y, z, w); these functions turn it
# into the stack's types. A TF lookup target <- source maps points of `source` into `target`.


def rotation_from_quaternion(x: float, y: float, z: float, w: float) -> NDArray[np.float64]:
    """Rotation matrix of a quaternion (normalised here; a zero or non-finite one is refused).

    Raises:
        GeometryError: a quaternion of zero length or with a non-finite component.

    """
    n = math.sqrt(x * x + y * y + z * z + w * w)
    if not (math.isfinite(n) and n > 1e-9):
        raise GeometryError(f"quaternion ({x}, {y}, {z}, {w}) is zero or not finite")
    x, y, z, w = x / n, y / n, z / n, w / n
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ],
        dtype=np.float64,
    )


def quaternion_from_rotation(r: NDArray[np.float64]) -> tuple[float, float, float, float]:
    """The unit quaternion (x, y, z, w) of a rotation matrix, with w >= 0."""
    m = np.asarray(r, dtype=np.float64)
    trace = float(m[0, 0] + m[1, 1] + m[2, 2])
    if trace > 0.0:
        s = 2.0 * math.sqrt(trace + 1.0)
        q = ((m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s, 0.25 * s)
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = 2.0 * math.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        q = (0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s, (m[2, 1] - m[1, 2]) / s)
    elif m[1, 1] > m[2, 2]:
        s = 2.0 * math.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        q = ((m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s, (m[0, 2] - m[2, 0]) / s)
    else:
        s = 2.0 * math.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        q = ((m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s, (m[1, 0] - m[0, 1]) / s)
    sign = -1.0 if q[3] < 0.0 else 1.0
    return (float(sign * q[0]), float(sign * q[1]), float(sign * q[2]), float(sign * q[3]))


def rpy_from_rotation(r: NDArray[np.float64]) -> tuple[float, float, float]:
    """Roll, pitch, yaw (rad) with R = Rz(yaw) Ry(pitch) Rx(roll); pitch in [-pi/2, pi/2]."""
    m = np.asarray(r, dtype=np.float64)
    pitch = math.asin(max(-1.0, min(1.0, -float(m[2, 0]))))
    if abs(float(m[2, 0])) < 1.0 - 1e-9:
        roll = math.atan2(float(m[2, 1]), float(m[2, 2]))
        yaw = math.atan2(float(m[1, 0]), float(m[0, 0]))
    else:  # gimbal lock: only roll - yaw (or roll + yaw) is defined; put it all in yaw
        roll = 0.0
        yaw = math.atan2(-float(m[0, 1]), float(m[1, 1]))
    return roll, pitch, yaw


@dataclass(frozen=True)
class Transform3D:
    """A rigid transform target <- source: p_target = rotation @ p_source + translation.

    Attributes:
        translation_m: the source frame's origin in the target frame (x, y, z).
        quaternion_xyzw: the source frame's orientation in the target frame, unit, (x, y, z, w).

    """

    translation_m: tuple[float, float, float] = (0.0, 0.0, 0.0)
    quaternion_xyzw: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 1.0)

    def __post_init__(self) -> None:
        if not all(math.isfinite(v) for v in self.translation_m):
            raise GeometryError(f"transform translation must be finite, got {self.translation_m}")
        rotation_from_quaternion(*self.quaternion_xyzw)  # refuses a zero or non-finite quaternion

    @classmethod
    def from_matrix(cls, rotation: NDArray[np.float64], translation: NDArray[np.float64]) -> Transform3D:
        """From a rotation matrix and a translation vector."""
        t = np.asarray(translation, dtype=np.float64)
        return cls((float(t[0]), float(t[1]), float(t[2])), quaternion_from_rotation(rotation))

    def rotation(self) -> NDArray[np.float64]:
        """The rotation matrix."""
        return rotation_from_quaternion(*self.quaternion_xyzw)

    def compose(self, other: Transform3D) -> Transform3D:
        """Self ∘ other: with self = A <- B and other = B <- C, the transform A <- C."""
        r = self.rotation()
        return Transform3D.from_matrix(r @ other.rotation(), r @ np.asarray(other.translation_m) + self.translation_m)

    def inverse(self) -> Transform3D:
        """The transform source <- target."""
        r_t = self.rotation().T
        return Transform3D.from_matrix(r_t, -r_t @ np.asarray(self.translation_m))

    def apply_to_pose2d(self, x_m: float, y_m: float, yaw_rad: float) -> tuple[float, float, float]:
        """A planar pose (z = 0) in the source frame, as a planar pose in the target frame.

        The position is transformed in 3-D and projected onto the target's xy-plane; the yaw is that
        of the pose's x axis once rotated (REP-105 frames are level: a tilted map frame is unusual).
        """
        r = self.rotation()
        p = r @ np.array([x_m, y_m, 0.0]) + np.asarray(self.translation_m)
        heading = r @ np.array([math.cos(yaw_rad), math.sin(yaw_rad), 0.0])
        if math.hypot(float(heading[0]), float(heading[1])) < 1e-9:
            raise GeometryError("transform turns the pose's heading vertical: no planar yaw in the target frame")
        return float(p[0]), float(p[1]), math.atan2(float(heading[1]), float(heading[0]))


def mount_from_optical_transform(base_from_optical: Transform3D) -> CameraMount:
    """The camera mount (body pose in base_link) from TF's base_link <- camera optical frame transform."""
    r_base_body = base_from_optical.rotation() @ R_BODY_OPTICAL.T
    roll, pitch, yaw = rpy_from_rotation(r_base_body)
    x, y, z = base_from_optical.translation_m
    return CameraMount(x, y, z, roll, pitch, yaw)


def mount_body_transform(mount: CameraMount) -> Transform3D:
    """base_link <- camera body frame (camera_link) of a mount, as a driver's URDF publishes it."""
    r = rotation_from_rpy(mount.roll_rad, mount.pitch_rad, mount.yaw_rad)
    return Transform3D.from_matrix(r, mount.translation_m())


# camera_link <- camera optical frame: rotation only (rpy = -pi/2, 0, -pi/2).
BODY_FROM_OPTICAL = Transform3D.from_matrix(R_BODY_OPTICAL, np.zeros(3))


def mount_difference(a: CameraMount, b: CameraMount) -> tuple[float, float]:
    """How far apart two mounts are: the distance between origins (m) and the rotation angle between them (rad)."""
    distance = float(np.linalg.norm(a.translation_m() - b.translation_m()))
    r = a.rotation_base_optical().T @ b.rotation_base_optical()
    angle = math.acos(max(-1.0, min(1.0, (float(np.trace(r)) - 1.0) / 2.0)))
    return distance, angle
