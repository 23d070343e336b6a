"""TF for the stack's nodes: where the camera is on the robot, and goals given in other frames.

tf2_ros is not on the package index: an apt-installed ROS 2 (the container) has it, and CI builds it
from source (`../shared/ros2-src`). Where it cannot be imported every node still runs: the camera
mount comes from `camera_mount_xyzrpy` and goals must be in the planner's frame, and the node says
so once at start-up. Nothing here reads the wall clock to decide a result: a lookup asks for the
newest transform (camera mounts are rigid) or the transform at a message's stamp.

What it must never do: block a callback waiting for a transform (a node has one thread), or use a
mount or goal it could not establish without saying so.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import yaml

from robot_vision_nav.core.config import ConfigError, param
from robot_vision_nav.core.geometry import (
    CameraMount,
    GeometryError,
    Transform3D,
    mount_difference,
    mount_from_optical_transform,
)
from robot_vision_nav.ros.lifecycle import ungated
from robot_vision_nav.ros.messages import stamp_to_ns

if TYPE_CHECKING:
    from builtin_interfaces.msg import Time as TimeMsg
    from geometry_msgs.msg import Transform, TransformStamped
    from rclpy.clock import JumpHandle
    from rclpy.node import Node
    from tf2_ros import Buffer, TransformListener

try:  # a ROS-only package: the container and CI have it, a pip-only machine does not
    import tf2_ros
    from rclpy.clock import JumpThreshold
    from rclpy.duration import Duration
    from rclpy.time import Time

    TF_IMPORT_ERROR: str | None = None
except ImportError as _err:  # pragma: no cover - which branch runs depends on the machine
    tf2_ros = None
    TF_IMPORT_ERROR = f"tf2_ros is not installed ({_err})"

MOUNT_SOURCES = ("auto", "tf", "parameter")
# Beyond these a TF mount and camera_mount_xyzrpy are two different mounts, not rounding (the 1 cm / 0.5 deg).
MOUNT_AGREE_M = 0.01
MOUNT_AGREE_RAD = math.radians(0.5)
# A mount that moves by less than this between lookups is the same mount (float noise of a re-published static).
MOUNT_SAME_M = 1e-4
MOUNT_SAME_RAD = 1e-4
TF_GRACE_S = 1.0  # `auto` waits this long (node clock) for the camera's TF before it uses the parameter


def tf_available() -> bool:
    """Whether tf2_ros can be imported here."""
    return tf2_ros is not None


def camera_mount_source_param() -> str:
    """`camera_mount_source`: where costmap, safety and obstacle nodes get the camera pose from."""
    field: str = param(  # a dataclass field typed as its default, as dataclasses.field is
        "auto",
        "where the camera pose in base_frame comes from: auto (TF base_frame -> the image's frame_id when TF has "
        "it, else camera_mount_xyzrpy), tf (TF only: frames wait until it is there), parameter "
        "(camera_mount_xyzrpy only, TF not read)",
    )
    return field


def base_frame_param() -> str:
    """`base_frame`: the robot body frame at floor level (REP-105 base_link, REP-120 base_footprint)."""
    field: str = param(  # a dataclass field typed as its default, as dataclasses.field is
        "base_link",
        "the robot body frame, at floor level (base_footprint where base_link is raised): the camera pose is "
        "looked up in it and heights above the floor are measured from its z = 0",
    )
    return field


def check_mount_source(value: str) -> None:
    """Refuse a `camera_mount_source` that is not one of MOUNT_SOURCES, naming it."""
    if value not in MOUNT_SOURCES:
        raise ConfigError(f"parameter 'camera_mount_source' = {value!r} is not one of {', '.join(MOUNT_SOURCES)}")


def transform_from_msg(msg: TransformStamped | Transform) -> Transform3D:
    """A geometry_msgs/TransformStamped (or Transform) as the core's Transform3D.

    Raises:
        GeometryError: a non-finite translation or a zero / non-finite rotation.

    """
    tf = getattr(msg, "transform", msg)
    t, q = tf.translation, tf.rotation
    return Transform3D((float(t.x), float(t.y), float(t.z)), (float(q.x), float(q.y), float(q.z), float(q.w)))


def transform_stamped(parent: str, child: str, transform: Transform3D, stamp: TimeMsg) -> TransformStamped:
    """A geometry_msgs/TransformStamped parent <- child (what /tf and /tf_static carry)."""
    from geometry_msgs.msg import TransformStamped

    msg = TransformStamped()
    msg.header.frame_id = parent
    msg.header.stamp = stamp
    msg.child_frame_id = child
    tx, ty, tz = transform.translation_m
    msg.transform.translation.x, msg.transform.translation.y, msg.transform.translation.z = tx, ty, tz
    qx, qy, qz, qw = transform.quaternion_xyzw
    r = msg.transform.rotation
    r.x, r.y, r.z, r.w = qx, qy, qz, qw
    return msg


class TfReader:
    """A tf2_ros Buffer and TransformListener on `node`, made on the first lookup; None's without tf2_ros.

    The listener's subscriptions live on the node and are served by its executor. They are made only
    when a transform is first needed: a node whose camera mount is the parameter, or a planner that
    only gets `odom` goals, never decodes the robot's /tf traffic. `/tf` and `/tf_static` are
    absolute, as everywhere in ROS; a namespaced stack remaps them (`/tf:=tf`). The buffer is
    cleared when the node's clock jumps back (a looped bag, a restarted simulator), as tf2_ros does
    for a buffer on a node's clock.
    """

    def __init__(self, node: Node) -> None:
        self._node: Node | None = node
        self.buffer: Buffer | None = None
        self.listener: TransformListener | None = None
        self._jump_handle: JumpHandle | None = None

    @property
    def available(self) -> bool:
        """Whether transforms can be looked up at all (tf2_ros is installed)."""
        return tf2_ros is not None and getattr(self, "_node", True) is not None

    def listen(self) -> bool:
        """Start listening now (the first lookup does it anyway); False without tf2_ros."""
        return self._listening() is not None

    def _listening(self) -> Buffer | None:
        """The buffer, made with its listener on the first call; None without tf2_ros."""
        node = getattr(self, "_node", None)
        if self.buffer is None and tf2_ros is not None and node is not None:
            self.buffer = tf2_ros.Buffer(cache_time=Duration(seconds=10.0))
            with ungated(node):  # a managed node's static transforms arrive once, in any state
                self.listener = tf2_ros.TransformListener(self.buffer, node)
            buffer = self.buffer
            self._jump_handle = node.get_clock().create_jump_callback(
                JumpThreshold(min_forward=None, min_backward=Duration(seconds=-1), on_clock_change=True),
                post_callback=lambda _jump: buffer.clear(),
            )
        return self.buffer

    def is_below(self, frame: str, ancestor: str) -> bool:
        """Whether `frame` hangs below `ancestor` in the tree TF has now (moves with it: base_link below odom)."""
        buffer = self._listening()
        if buffer is None:
            return False
        frame, ancestor = frame.lstrip("/"), ancestor.lstrip("/")
        try:
            tree = yaml.safe_load(buffer.all_frames_as_yaml()) or {}
        except yaml.YAMLError:
            return False
        for _ in range(256):  # a tree deeper than this is a loop
            if frame == ancestor:
                return True
            entry = tree.get(frame)
            if not isinstance(entry, dict) or not entry.get("parent"):
                return False
            frame = str(entry["parent"])
        return False

    def lookup(self, target: str, source: str, stamp_ns: int | None = None) -> tuple[Transform3D | None, str]:
        """Target <- source at `stamp_ns` (None: the newest), or (None, why not) without waiting.

        A stamp newer than the newest transform (the odom -> base_link of a slower driver) falls
        back to the newest one: planar goals and rigid mounts do not need sub-period accuracy.
        """
        transform, _, why = self.lookup_stamped(target, source, stamp_ns)
        return transform, why

    def lookup_stamped(
        self, target: str, source: str, stamp_ns: int | None = None
    ) -> tuple[Transform3D | None, int, str]:
        """As `lookup`, with the stamp the transform is valid at (ns; 0 for a static-only chain).

        That is `stamp_ns` when TF could interpolate to it, else the newest transform's own stamp:
        a caller that needs a fresh pose (the robot's odom -> base_link) tells a stopped publisher
        from a slow one by it, instead of silently using whatever TF last heard.
        """
        buffer = self._listening()
        if buffer is None:
            return None, 0, TF_IMPORT_ERROR or "tf2_ros is not installed"
        target, source = target.lstrip("/"), source.lstrip("/")
        if not source:
            return None, 0, "the message has no frame_id"
        if target == source:
            return Transform3D(), stamp_ns or 0, ""
        times = [Time(nanoseconds=stamp_ns), Time()] if stamp_ns is not None and stamp_ns > 0 else [Time()]
        why = ""
        for when in times:
            try:
                msg = buffer.lookup_transform(target, source, when)
            except tf2_ros.ExtrapolationException as err:
                why = f"no transform {target} <- {source} at that time: {err}"
                continue
            except tf2_ros.TransformException as err:
                return None, 0, f"no transform {target} <- {source}: {_first_line(err)}"
            try:
                transform = transform_from_msg(msg)
            except GeometryError as err:
                return None, 0, f"transform {target} <- {source} unusable: {err}"
            return transform, stamp_to_ns(msg.header.stamp), ""
        return None, 0, why

    def close(self) -> None:
        """Drop the listener's subscriptions (before the node is destroyed)."""
        if self.listener is not None:
            self.listener.unregister()
            self.listener = None
        if self._jump_handle is not None:
            self._jump_handle.unregister()
            self._jump_handle = None
        self._node = None  # no new listener on a node that is going away


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


@dataclass
class MountResult:
    """The mount to use for a frame (None: skip it) and, when something is off, what to say."""

    mount: CameraMount | None
    source: str  # "tf", "parameter" or "" when there is none
    problem: str = ""


class CameraMountSource:
    """The camera pose in base_frame for each image, from TF or from `camera_mount_xyzrpy`.

    Args:
        reader: the node's TfReader.
        info: logs a message about the mount (found, changed: at most once per CHANGE_LOG_S);
            the node's logger.info.
        warn_once: logs a one-off warning (mounts disagree, TF lacks the camera); the node's
            logger.warning.

    """

    CHANGE_LOG_S = 5.0  # a camera on a pan-tilt unit moves every frame: its log line does not

    def __init__(self, reader: TfReader, info: Callable[[str], object], warn_once: Callable[[str], object]) -> None:
        self.reader = reader
        self._info = info
        self._warn_once = warn_once
        self._tf_mounts: dict[str, CameraMount] = {}  # per image frame, the last mount TF gave
        self._disagreed: dict[str, CameraMount] = {}  # per image frame, the TF mount last warned about
        self._fell_back: set[str] = set()  # image frames whose mount TF did not give: said once each
        self._waiting_since_ns: dict[str, int] = {}  # per image frame, the first frame TF could not place
        self._changed_logged_at = -math.inf

    def mount(
        self,
        base_frame: str,
        frame_id: str,
        source: str,
        fallback: CameraMount,
        stamp_ns: int | None = None,
        now_ns: int | None = None,
    ) -> MountResult:
        """The mount of the camera whose image is in `frame_id` (an optical frame, REP-103).

        Args:
            base_frame: the robot body frame.
            frame_id: the image header's frame_id.
            source: auto, tf or parameter (`camera_mount_source`).
            fallback: camera_mount_xyzrpy.
            stamp_ns: the image stamp (a pan-tilt camera moves; a rigid mount gives the same at any time).
            now_ns: the node clock; with it, `auto` waits up to TF_GRACE_S for TF before it falls back
                to the parameter (at start-up the first frames come before /tf_static has been heard),
                and those frames are skipped (the safety layer holds the robot meanwhile).

        """
        if source == "parameter" or (source == "auto" and not self.reader.available):
            return MountResult(fallback, "parameter")  # no tf2_ros: the node said so once at start-up
        tf_mount, why = self._from_tf(base_frame, frame_id, stamp_ns)
        if tf_mount is None:
            last = self._tf_mounts.get(frame_id)
            if source == "tf" and last is None:
                return MountResult(None, "", f"camera_mount_source is tf and {why}; frame skipped")
            if last is not None:  # TF had the camera and lost it (a driver restarting): the camera did not move
                return MountResult(last, "tf", f"{why}; using the last camera mount TF gave")
            if now_ns is not None:
                since = self._waiting_since_ns.setdefault(frame_id, now_ns)
                if 0 <= now_ns - since < round(TF_GRACE_S * 1e9):
                    return MountResult(None, "")  # TF may not have been heard yet: skip quietly a moment
            if frame_id not in self._fell_back:
                # Once per frame: a robot without a camera TF (the parameter is its mount) hears it once.
                self._fell_back.add(frame_id)
                self._warn_once(f"camera mount: {why}; using camera_mount_xyzrpy until TF has it")
            return MountResult(fallback, "parameter")
        self._fell_back.discard(frame_id)
        if source == "auto":
            distance, angle = mount_difference(tf_mount, fallback)
            disagree = distance > MOUNT_AGREE_M or angle > MOUNT_AGREE_RAD
            if disagree and self._disagreed.get(frame_id) != tf_mount:
                self._disagreed[frame_id] = tf_mount
                self._warn_once(
                    f"camera mount from TF {base_frame} -> {frame_id} = {_mount_text(tf_mount)} differs from "
                    f"camera_mount_xyzrpy = {_mount_text(fallback)} by {distance * 100:.1f} cm and "
                    f"{math.degrees(angle):.2f} deg; using TF (fix or drop the parameter to silence this)"
                )
        return MountResult(tf_mount, "tf")

    def _from_tf(self, base_frame: str, frame_id: str, stamp_ns: int | None) -> tuple[CameraMount | None, str]:
        transform, why = self.reader.lookup(base_frame, frame_id, stamp_ns)
        if transform is None:
            return None, why
        try:
            mount = mount_from_optical_transform(transform)
        except GeometryError as err:
            return None, f"transform {base_frame} <- {frame_id} unusable: {err}"
        old = self._tf_mounts.get(frame_id)
        if old is None:
            self._info(f"camera mount from TF {base_frame} -> {frame_id}: {_mount_text(mount)}")
        else:
            distance, angle = mount_difference(old, mount)
            if distance <= MOUNT_SAME_M and angle <= MOUNT_SAME_RAD:
                mount = old  # the same mount: keep the object, so the ray tables stay cached
            elif time.monotonic() - self._changed_logged_at >= self.CHANGE_LOG_S:  # paces logging only
                self._changed_logged_at = time.monotonic()
                self._info(f"camera mount changed in TF {base_frame} -> {frame_id}: now {_mount_text(mount)}")
        self._tf_mounts[frame_id] = mount
        return mount, ""


def _mount_text(mount: CameraMount) -> str:
    return (
        f"[{mount.x_m:.3f}, {mount.y_m:.3f}, {mount.z_m:.3f}, {mount.roll_rad:.3f}, "
        f"{mount.pitch_rad:.3f}, {mount.yaw_rad:.3f}]"
    )
