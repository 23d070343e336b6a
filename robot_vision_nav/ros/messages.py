"""Small conversions between ROS messages and the core types: stamps, camera info, odometry, grids, clouds, twists.

Every stamp crosses this boundary as integer nanoseconds, so core/ never sees a ROS type. These
helpers must never read a clock (a stamp always comes from a message or an argument, so a bag
replay gives the same output), never silently repair a bad message, and never loop over cells in
Python.
"""

from __future__ import annotations

import array as _pyarray
import math
from typing import Any

import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import PoseStamped, Quaternion, Twist, TwistStamped
from nav_msgs.msg import OccupancyGrid, Odometry, Path
from numpy.typing import NDArray
from sensor_msgs.msg import CameraInfo, PointCloud2, PointField

from robot_vision_nav.core.geometry import (
    MAX_POSITION_M,
    GeometryError,
    PinholeIntrinsics,
    Pose2D,
    yaw_from_quaternion,
    yaw_to_quaternion,
)
from robot_vision_nav.core.grid import Grid, GridError
from robot_vision_nav.core.rectify import Distortion
from robot_vision_nav.core.units import NS_PER_S

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1


MAX_RAY_ANGLE_DEG = 85.0  # half of the widest field of view a pinhole model is believed for (170 deg)


class CameraInfoError(ValueError):
    """A CameraInfo message that does not describe a usable pinhole camera."""


_MAX_STAMP_NS = _INT32_MAX * NS_PER_S + NS_PER_S - 1  # the latest time a builtin_interfaces/Time holds


def stamp_to_ns(stamp: Time) -> int:
    """Integer nanoseconds of a builtin_interfaces/Time (the rosbags/rclpy convention).

    Always a time `ns_to_stamp` can write back: a stamp past the latest one a Time can hold (sec
    2**31 - 1 with nanosec >= 1e9, which no valid message carries) reads as that latest time, so a
    node that re-stamps an output with an input's time cannot fail on a malformed input.
    """
    return min(int(stamp.sec) * NS_PER_S + int(stamp.nanosec), _MAX_STAMP_NS)


def yaw_orientation(yaw_rad: float) -> Quaternion:
    """A geometry_msgs/Quaternion for a rotation by `yaw_rad` about z (a planar heading)."""
    x, y, z, w = yaw_to_quaternion(yaw_rad)
    return Quaternion(x=x, y=y, z=z, w=w)


def ns_to_stamp(ns: int) -> Time:
    """Convert integer nanoseconds to a builtin_interfaces/Time; nanosec is always in [0, 1e9).

    Raises:
        ValueError: The seconds do not fit the message's int32 `sec` field.

    """
    sec, nanosec = divmod(int(ns), NS_PER_S)
    if not _INT32_MIN <= sec <= _INT32_MAX:
        raise ValueError(f"stamp {ns} ns is outside the int32 seconds range of builtin_interfaces/Time")
    return Time(sec=sec, nanosec=nanosec)


def camera_info_to_intrinsics(msg: CameraInfo) -> PinholeIntrinsics:
    """Pinhole intrinsics from the K matrix and size of a CameraInfo message.

    Args:
        msg: A sensor_msgs/CameraInfo; K is row-major 3x3 [fx 0 cx; 0 fy cy; 0 0 1].

    Returns:
        The intrinsics (pixels) and image size.

    Raises:
        CameraInfoError: Zero width or height, an all-zero K (an uncalibrated driver publishes
            that), values PinholeIntrinsics refuses (chained), or a K that puts some pixel more than
            MAX_RAY_ANGLE_DEG off the optical axis (a tiny focal length, a principal point far
            outside the image).

    """
    width, height = int(msg.width), int(msg.height)
    if width == 0 or height == 0:
        raise CameraInfoError(f"camera_info image size must be > 0, got {width}x{height}")
    k = np.asarray(msg.k, dtype=np.float64)
    if k.shape != (9,):
        raise CameraInfoError(f"camera_info K must have 9 values (row-major 3x3), got {k.size}")
    if not np.any(k):
        raise CameraInfoError("camera_info K is all zeros: the camera is uncalibrated, expected fx, fy > 0")
    try:
        intrinsics = PinholeIntrinsics(
            fx=float(k[0]), fy=float(k[4]), cx=float(k[2]), cy=float(k[5]), width=width, height=height
        )
    except GeometryError as err:
        raise CameraInfoError(f"camera_info K is not a usable pinhole camera: {err}") from err
    # A pixel's ray leaves the optical axis at atan(offset / focal length). Past MAX_RAY_ANGLE_DEG no
    # pinhole camera sees; such a K (fx = 1e-8) sends every point of a wall 0.4 m away off to 1e9 m,
    # where no safety zone or costmap cell is: the robot would drive blind (found by fuzzing).
    reach_x = max(abs(intrinsics.cx), abs(width - 1 - intrinsics.cx)) / intrinsics.fx
    reach_y = max(abs(intrinsics.cy), abs(height - 1 - intrinsics.cy)) / intrinsics.fy
    widest = math.degrees(math.atan(max(reach_x, reach_y)))
    if not widest <= MAX_RAY_ANGLE_DEG:
        raise CameraInfoError(
            f"camera_info K (fx={intrinsics.fx:g}, fy={intrinsics.fy:g}, cx={intrinsics.cx:g}, cy={intrinsics.cy:g}) "
            f"puts pixels of the {width}x{height} image {widest:.1f} deg off the optical axis; a pinhole camera sees "
            f"less than {MAX_RAY_ANGLE_DEG:g} deg off its axis"
        )
    return intrinsics


def camera_info_distortion(msg: CameraInfo) -> Distortion:
    """The lens distortion a CameraInfo declares: its `distortion_model` and D, as they are.

    `camera_info_to_intrinsics` reads K only; a non-zero D (`Distortion.is_zero` false) means the
    image is not the pinhole camera K describes (see `ros.lens`).
    """
    return Distortion(str(msg.distortion_model), tuple(float(v) for v in msg.d))


def same_frame(a: str, b: str) -> bool:
    """Whether two frame ids name the same frame (tf2 drops a leading slash: `/odom` is `odom`)."""
    return a.lstrip("/") == b.lstrip("/")


def odometry_in_frame(msg: Odometry, frame: str) -> tuple[Pose2D | None, str]:
    """The pose of an Odometry in `frame` (an empty frame_id is taken as it), or (None, the problem).

    The one check every node that reads odometry makes: a pose in another frame, against a map or
    plan in this one, would put the robot anywhere.
    """
    if msg.header.frame_id and not same_frame(msg.header.frame_id, frame):
        return None, f"wrong frame: odometry is in '{msg.header.frame_id}', expected '{frame}'"
    try:
        return odometry_to_pose2d(msg), ""
    except ValueError as err:
        return None, f"bad pose: {err}"


def odometry_to_pose2d(msg: Odometry) -> Pose2D:
    """Return the planar pose (x, y, yaw) of an Odometry message, stamped with its header stamp.

    Raises:
        ValueError: Position or orientation contains NaN or infinity, the quaternion is not unit
            length (an all-zero one is a driver that never set it), or the position is absurdly far.

    """
    p = msg.pose.pose.position
    q = msg.pose.pose.orientation
    values = (p.x, p.y, q.x, q.y, q.z, q.w)
    if not all(math.isfinite(v) for v in values):
        raise ValueError(
            f"odometry pose must be finite, got position ({p.x}, {p.y}) orientation ({q.x}, {q.y}, {q.z}, {q.w})"
        )
    norm = math.sqrt(q.x * q.x + q.y * q.y + q.z * q.z + q.w * q.w)
    if abs(norm - 1.0) > 0.01:
        raise ValueError(f"odometry orientation must be a unit quaternion, got norm {norm:.4f}")
    return Pose2D(
        x_m=float(p.x),
        y_m=float(p.y),
        yaw_rad=yaw_from_quaternion(q.x, q.y, q.z, q.w),
        stamp_ns=stamp_to_ns(msg.header.stamp),
    )


def occupancy_grid(
    values: NDArray[np.int8],
    resolution_m: float,
    origin_x_m: float,
    origin_y_m: float,
    frame_id: str,
    stamp_ns: int,
) -> OccupancyGrid:
    """Build a nav_msgs/OccupancyGrid holding `values` (Nav2 costs: -1 unknown, 0 free .. 100 lethal).

    Args:
        values: int8 HxW; row 0 is the lowest y, column 0 the lowest x (map convention).
        resolution_m: Cell edge length, > 0.
        origin_x_m: x of the outer corner of cell (0, 0) in `frame_id`.
        origin_y_m: y of the outer corner of cell (0, 0) in `frame_id`.
        frame_id: Frame the grid is fixed in, e.g. `odom`.
        stamp_ns: Header stamp and map_load_time, in ns.

    Returns:
        The message with info.width = W, info.height = H and an identity origin orientation.

    Raises:
        ValueError: values is not a 2-D int8 array, or the resolution or origin is not usable.

    """
    arr = np.asarray(values)
    if arr.dtype != np.int8 or arr.ndim != 2:
        raise ValueError(f"grid values must be a 2-D int8 array, got {arr.ndim}-D {arr.dtype}")
    if not (math.isfinite(resolution_m) and resolution_m > 0.0):
        raise ValueError(f"grid resolution_m must be finite and > 0, got {resolution_m}")
    if not (math.isfinite(origin_x_m) and math.isfinite(origin_y_m)):
        raise ValueError(f"grid origin must be finite, got ({origin_x_m}, {origin_y_m})")

    msg = OccupancyGrid()
    msg.header.stamp = ns_to_stamp(stamp_ns)
    msg.header.frame_id = frame_id
    msg.info.map_load_time = ns_to_stamp(stamp_ns)
    msg.info.resolution = float(resolution_m)
    msg.info.height, msg.info.width = int(arr.shape[0]), int(arr.shape[1])
    msg.info.origin.position.x = float(origin_x_m)
    msg.info.origin.position.y = float(origin_y_m)
    msg.info.origin.position.z = 0.0
    msg.info.origin.orientation.w = 1.0
    # array.array('b') from the raw bytes is a memcpy and is stored as-is even with
    # ROS_PYTHON_CHECK_FIELDS=1 (which refuses `bytes` for int8[]). Measured for 200x200 on the
    # 2-core dev box: ~3 us, against ~0.9 ms for values.tolist().
    data = _pyarray.array("b")
    data.frombytes(np.ascontiguousarray(arr).reshape(-1).data)
    msg.data = data
    return msg


def occupancy_grid_to_numpy(msg: OccupancyGrid) -> NDArray[np.int8]:
    """Return the cells of an OccupancyGrid as an int8 HxW array (row 0 = lowest y), owning its memory.

    Raises:
        ValueError: len(data) is not info.width x info.height.

    """
    width, height = int(msg.info.width), int(msg.info.height)
    data: Any = msg.data
    try:
        flat = np.frombuffer(data, dtype=np.int8)
    except TypeError:
        flat = np.asarray(data, dtype=np.int8)
    if flat.size != width * height:
        raise ValueError(
            f"occupancy grid data has {flat.size} cells, expected width {width} x height {height} = {width * height}"
        )
    return flat.reshape(height, width).copy()


def grid_from_msg(msg: OccupancyGrid) -> Grid:
    """An OccupancyGrid as a core Grid (values copied, origin and stamp kept).

    Raises:
        ValueError: the data size does not match, the resolution or origin is unusable (not
            finite, or farther than MAX_POSITION_M from the frame's origin, where cell indices of
            points near the robot overflow), or the origin is rotated or its orientation not finite
            (the core grids are axis-aligned with their frame, as Nav2's are).

    """
    p = msg.info.origin.position
    if max(abs(p.x), abs(p.y)) > MAX_POSITION_M:
        raise ValueError(f"occupancy grid origin ({p.x}, {p.y}) is more than {MAX_POSITION_M:g} m from the origin")
    q = msg.info.origin.orientation
    # `not <=` so a NaN yaw (a NaN or infinite quaternion) is refused too, not taken as axis-aligned.
    if not abs(yaw_from_quaternion(q.x, q.y, q.z, q.w)) <= 1e-6:
        raise ValueError(
            f"occupancy grid origin orientation ({q.x}, {q.y}, {q.z}, {q.w}) is rotated or not finite;"
            " only axis-aligned grids are supported"
        )
    try:
        return Grid(
            occupancy_grid_to_numpy(msg),
            float(msg.info.resolution),
            float(msg.info.origin.position.x),
            float(msg.info.origin.position.y),
            msg.header.frame_id,
            stamp_to_ns(msg.header.stamp),
        )
    except GridError as err:
        raise ValueError(str(err)) from err


def intrinsics_to_camera_info(
    intrinsics: PinholeIntrinsics, frame_id: str, stamp_ns: int, distortion_model: str = "plumb_bob"
) -> CameraInfo:
    """A CameraInfo for a rectified pinhole camera: K and P from the intrinsics, no distortion, R = I.

    The inverse of `camera_info_to_intrinsics` (round-trip tested).
    """
    k = intrinsics
    msg = CameraInfo()
    msg.header.stamp = ns_to_stamp(stamp_ns)
    msg.header.frame_id = frame_id
    msg.width, msg.height = int(k.width), int(k.height)
    msg.distortion_model = distortion_model
    msg.d = [0.0] * 5
    msg.k = [k.fx, 0.0, k.cx, 0.0, k.fy, k.cy, 0.0, 0.0, 1.0]
    msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    msg.p = [k.fx, 0.0, k.cx, 0.0, 0.0, k.fy, k.cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return msg


def pose2d_to_odometry(
    pose: Pose2D,
    linear_mps: float,
    angular_rps: float,
    frame_id: str,
    child_frame_id: str,
    stamp_ns: int | None = None,
) -> Odometry:
    """An Odometry message for a planar pose and body-frame twist (linear x, angular z).

    The stamp is `stamp_ns`, or the pose's own stamp when None. The inverse of `odometry_to_pose2d`
    for the pose (round-trip tested).
    """
    msg = Odometry()
    msg.header.stamp = ns_to_stamp(pose.stamp_ns if stamp_ns is None else stamp_ns)
    msg.header.frame_id = frame_id
    msg.child_frame_id = child_frame_id
    msg.pose.pose.position.x = float(pose.x_m)
    msg.pose.pose.position.y = float(pose.y_m)
    msg.pose.pose.orientation = yaw_orientation(pose.yaw_rad)
    msg.twist.twist.linear.x = float(linear_mps)
    msg.twist.twist.angular.z = float(angular_rps)
    return msg


# ------------------------------------------------------------------ sensor_msgs/PointCloud2
# sensor_msgs_py (point_cloud2.create_cloud_xyz32 / read_points) is not on the package index, so
# clouds are packed here: x, y, z FLOAT32, 12-byte points, one row, little-endian (what Nav2, RViz
# and PCL read on every host they run on).
_XYZ_FIELDS = ("x", "y", "z")
_XYZ_WIRE = np.dtype("<f4")


class PointCloudError(ValueError):
    """A PointCloud2 message that does not hold readable FLOAT32 x, y, z points."""


def xyz_point_cloud(points: NDArray[np.floating[Any]], frame_id: str, stamp_ns: int) -> PointCloud2:
    """Build an unorganised sensor_msgs/PointCloud2 of x, y, z FLOAT32 points.

    Args:
        points: (N, 3) x, y, z in `frame_id`, metres; N may be 0. Every value must be finite: the
            cloud says is_dense = true, and Nav2 would mark a NaN point's cell.
        frame_id: the frame the points are in, e.g. `base_link`.
        stamp_ns: header stamp, ns.

    Returns:
        height 1, width N, fields x, y, z (offsets 0, 4, 8, FLOAT32, count 1), point_step 12,
        row_step 12 N, is_bigendian false, is_dense true.

    Raises:
        ValueError: points is not (N, 3), or holds a NaN or infinity.

    """
    arr = np.asarray(points)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ValueError(f"points must be an (N, 3) array of x, y, z, got shape {arr.shape}")
    wire = np.ascontiguousarray(arr, dtype=_XYZ_WIRE)
    if not np.isfinite(wire).all():
        raise ValueError("points must be finite: a PointCloud2 marked is_dense holds no NaN or infinity")
    msg = PointCloud2()
    msg.header.stamp = ns_to_stamp(stamp_ns)
    msg.header.frame_id = frame_id
    msg.height = 1
    msg.width = int(wire.shape[0])
    msg.fields = [
        PointField(name=name, offset=4 * i, datatype=PointField.FLOAT32, count=1) for i, name in enumerate(_XYZ_FIELDS)
    ]
    msg.is_bigendian = False
    msg.point_step = 12
    msg.row_step = 12 * msg.width
    msg.is_dense = True
    # array.array from the raw bytes: a memcpy, and stored as-is with ROS_PYTHON_CHECK_FIELDS=1 (see occupancy_grid).
    data = _pyarray.array("B")
    data.frombytes(wire.reshape(-1).view(np.uint8).data)
    msg.data = data
    return msg


def point_cloud_to_xyz(msg: PointCloud2) -> NDArray[np.float32]:
    """The x, y, z of every point of a PointCloud2 as an (height * width, 3) float32 array, in row order.

    Reads any layout with FLOAT32 x, y and z fields: other fields around them (intensity, rgb),
    either byte order, several rows with padding (`row_step` > `width * point_step`). NaN points
    of a non-dense cloud are returned as they are.

    Raises:
        PointCloudError: a missing or non-FLOAT32 x, y or z field, a field beyond `point_step`,
            `row_step` shorter than a row, or `data` shorter than `row_step * height`.

    """
    fields = {f.name: f for f in msg.fields}
    height, width = int(msg.height), int(msg.width)
    point_step, row_step = int(msg.point_step), int(msg.row_step)
    for name in _XYZ_FIELDS:
        field = fields.get(name)
        if field is None:
            raise PointCloudError(f"point cloud has no '{name}' field (fields: {', '.join(fields) or 'none'})")
        if field.datatype != PointField.FLOAT32 or field.count != 1:
            raise PointCloudError(
                f"point cloud field '{name}' must be one FLOAT32 ({PointField.FLOAT32}), got datatype "
                f"{field.datatype} count {field.count}"
            )
        if field.offset + 4 > point_step:
            raise PointCloudError(
                f"point cloud field '{name}' at offset {field.offset} lies beyond point_step {point_step}"
            )
    if height * width == 0:
        return np.empty((0, 3), dtype=np.float32)
    if row_step < width * point_step:
        raise PointCloudError(f"row_step {row_step} B is shorter than width {width} x point_step {point_step} B")
    try:
        buffer = np.frombuffer(msg.data, dtype=np.uint8)
    except TypeError:
        buffer = np.asarray(msg.data, dtype=np.uint8)
    if buffer.size < row_step * height:
        raise PointCloudError(f"data has {buffer.size} B, expected >= row_step {row_step} x height {height} B")
    wire = np.dtype(">f4" if msg.is_bigendian else "<f4")
    out = np.empty((height, width, 3), dtype=np.float32)
    for axis, name in enumerate(_XYZ_FIELDS):
        view: NDArray[Any] = np.ndarray(
            shape=(height, width), dtype=wire, buffer=buffer, offset=int(fields[name].offset),
            strides=(row_step, point_step),
        )  # fmt: skip
        out[..., axis] = view
    return out.reshape(-1, 3)


def path_message(points_xy: NDArray[np.float64] | None, frame_id: str, stamp: Time, final_yaw: float | None) -> Path:
    """A nav_msgs/Path through `points_xy` (N, 2); None or no points gives an empty path (stop).

    Each pose faces the next point (the last one the segment before it), except the last, which
    takes `final_yaw` when given (the goal's heading).
    """
    msg = Path()
    msg.header.frame_id = frame_id
    msg.header.stamp = stamp
    if points_xy is None:
        return msg
    headings = np.arctan2(np.diff(points_xy[:, 1]), np.diff(points_xy[:, 0])) if len(points_xy) > 1 else np.zeros(0)
    for i, (x, y) in enumerate(points_xy):
        yaw = float(headings[min(i, len(headings) - 1)]) if len(headings) else 0.0
        if i == len(points_xy) - 1 and final_yaw is not None:
            yaw = final_yaw
        pose = PoseStamped()
        pose.header = msg.header
        pose.pose.position.x, pose.pose.position.y = float(x), float(y)
        pose.pose.orientation = yaw_orientation(yaw)
        msg.poses.append(pose)
    return msg


def twist_message(
    linear_mps: float, angular_rps: float, frame_id: str | None = None, stamp: Time | None = None
) -> Twist | TwistStamped:
    """A planar velocity command: a Twist, or with `frame_id` a TwistStamped in that frame stamped `stamp`."""
    twist = Twist()
    twist.linear.x, twist.angular.z = float(linear_mps), float(angular_rps)
    if frame_id is None:
        return twist
    stamped = TwistStamped(twist=twist)
    stamped.header.frame_id = frame_id
    if stamp is not None:
        stamped.header.stamp = stamp
    return stamped


def twist_velocity(msg: Twist | TwistStamped) -> tuple[float, float, int | None]:
    """Linear x (m/s), angular z (rad/s) and the stamp (ns; None for a Twist) of a velocity command."""
    if isinstance(msg, TwistStamped):
        return float(msg.twist.linear.x), float(msg.twist.angular.z), stamp_to_ns(msg.header.stamp)
    return float(msg.linear.x), float(msg.angular.z), None


def path_points(msg: Path) -> tuple[NDArray[np.float64], float]:
    """A non-empty nav_msgs/Path's (N, 2) x, y and its last pose's yaw (NaN for a non-finite quaternion).

    atan2 makes a finite yaw of some infinite quaternions ((0, 0, inf, ~0) gives 3 pi / 4): the
    receiver refuses NaN instead.
    """
    xy = np.array([[p.pose.position.x, p.pose.position.y] for p in msg.poses], dtype=np.float64)
    q = msg.poses[-1].pose.orientation
    finite = all(math.isfinite(v) for v in (q.x, q.y, q.z, q.w))
    return xy, yaw_from_quaternion(q.x, q.y, q.z, q.w) if finite else math.nan


def grid_in_frame(msg: OccupancyGrid, frame: str) -> tuple[Grid | None, str]:
    """The costmap of `msg` when it is in `frame` and usable; else (None, the problem to warn about).

    A costmap in another frame would be checked against poses in `frame`: it is refused, and the
    receiver's last good one ages out.
    """
    if not same_frame(msg.header.frame_id, frame):
        return None, f"wrong frame '{msg.header.frame_id}', expected '{frame}'"
    try:
        return grid_from_msg(msg), ""
    except ValueError as err:
        return None, f"unusable costmap: {err}"
