"""`rvn bag frames`: colour, aligned depth, camera and the robot's pose per frame, out of a bag.

The bag's topics are found as `rvn replay` finds them (`replay.topics.resolve_inputs`: the stack's
names, image_transport's compressed variants, or a topic map), and images are decoded by the same
code that feeds a replay, so a frame is what the stack saw. Two passes: the first reads odometry,
camera_info and the image stamps and picks the frames (a depth image within `max_skew_s` of the
colour image, a pose interpolated between two odometry messages around its stamp, never
extrapolated; then every N-th, or one each `min_motion_m` of travel); the second decodes and
writes only those. The folder (layout: `training.frame_folder`) is written under a temporary name
beside `out` and renamed when complete: a failure leaves nothing, and an existing folder is never
replaced.
"""

from __future__ import annotations

import bisect
import math
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from numpy.typing import NDArray

from robot_vision_nav.core.geometry import (
    CameraMount,
    PinholeIntrinsics,
    Pose2D,
    interpolate_pose,
    yaw_from_quaternion,
)
from robot_vision_nav.core.projection import camera_mount_param
from robot_vision_nav.core.units import MM_PER_M, NS_PER_S
from robot_vision_nav.replay.bags import BagReader
from robot_vision_nav.replay.errors import BagError
from robot_vision_nav.replay.topics import CAMERA_INFO, COLOR, DEPTH, ODOM, InputTopic, load_topic_map, resolve_inputs
from robot_vision_nav.ros import topics as stack_topics
from robot_vision_nav.training.frame_folder import (
    CAMERA_FILE,
    DEPTH_DIR,
    FRAME_FIELDS,
    FRAMES_FILE,
    IMAGES_DIR,
    ODOMETRY_FIELDS,
    ODOMETRY_FILE,
    TRUTH_DIR,
    CameraFile,
    write_poses_csv,
)

if TYPE_CHECKING:
    from sensor_msgs.msg import Image

TRUTH_TOPIC = "/" + stack_topics.SIM_LABELS  # the simulator's ground-truth class ids (mono8)
DEFAULT_MOUNT = CameraMount.from_sequence(camera_mount_param().default)  # the stack's camera_mount_xyzrpy
DEFAULT_MOUNT_SOURCE = "the stack's default camera_mount_xyzrpy"
MAX_POSE_GAP_S = 0.5  # odometry messages further apart than this around a frame give it no pose


@dataclass(frozen=True)
class FramesOptions:
    """What `rvn bag frames` does; see its --help."""

    bag: Path
    out: Path
    every: int = 1
    min_motion_m: float = 0.0
    max_skew_s: float = 0.02
    mount: CameraMount = field(default_factory=lambda: DEFAULT_MOUNT)
    mount_source: str = DEFAULT_MOUNT_SOURCE
    topics_map: str = ""
    prefix: str | None = None  # file name prefix; None: the bag's name


@dataclass(frozen=True)
class FramesInfo:
    """What was written, and why the other colour images were not."""

    out: str
    frames: int
    color_images: int
    no_depth: int  # no depth image within max_skew_s
    no_pose: int  # no odometry around the stamp
    thinned: int  # left out by --every / --min-motion
    truth: bool
    size: tuple[int, int]

    def as_dict(self) -> dict[str, object]:
        """For --json."""
        return {
            "out": self.out, "frames": self.frames, "color_images": self.color_images, "no_depth": self.no_depth,
            "no_pose": self.no_pose, "thinned": self.thinned, "truth": self.truth, "size": list(self.size),
        }  # fmt: skip

    def format(self) -> str:
        """One line for people."""
        left = f"{self.no_depth} without depth, {self.no_pose} without a pose, {self.thinned} thinned out"
        truth = ", with ground truth" if self.truth else ""
        return (
            f"wrote {self.frames} frames ({self.size[0]}x{self.size[1]} px{truth}) of {self.color_images} colour "
            f"images to {self.out}; {left}"
        )


def _check_options(options: FramesOptions) -> None:
    if options.every < 1:
        raise BagError(f"--every must be >= 1, got {options.every}")
    if not (math.isfinite(options.min_motion_m) and options.min_motion_m >= 0.0):
        raise BagError(f"--min-motion must be >= 0 m, got {options.min_motion_m}")
    if not (math.isfinite(options.max_skew_s) and options.max_skew_s >= 0.0):
        raise BagError(f"--max-skew must be >= 0 s, got {options.max_skew_s}")
    if options.out.exists():
        raise BagError(f"{options.out} already exists; frames go into a new folder (nothing is replaced)")
    if not options.out.parent.is_dir():
        raise BagError(f"{options.out.parent}: no such folder for {options.out}")


@dataclass
class _Index:
    """Pass one: what the frames are chosen from.

    `color`, `depth` and `truth` hold each image topic's stamps in the bag's message order, so pass two
    knows a message's stamp from its position without deserialising it again.
    """

    poses: list[Pose2D] = field(default_factory=list)
    camera_info: Any = None  # Any: the first rosbags sensor_msgs/CameraInfo
    color: list[int] = field(default_factory=list)
    depth: list[int] = field(default_factory=list)
    truth: list[int] = field(default_factory=list)
    odom_frame: str = ""


def _index(reader: BagReader, inputs: dict[str, InputTopic], with_truth: bool) -> _Index:
    from robot_vision_nav.ros.messages import stamp_to_ns

    index = _Index()
    wanted = {inputs[n].bag_topic: n for n in (COLOR, DEPTH, CAMERA_INFO, ODOM)}
    if with_truth:
        wanted[TRUTH_TOPIC] = TRUTH_DIR
    for topic, msgtype, _log_ns, cdr in reader.messages(wanted):
        name = wanted[topic]
        msg = reader.deserialize(cdr, msgtype, topic)
        stamp = stamp_to_ns(msg.header.stamp)
        if name == ODOM:
            p, q = msg.pose.pose.position, msg.pose.pose.orientation
            yaw = yaw_from_quaternion(q.x, q.y, q.z, q.w)
            if all(math.isfinite(v) for v in (p.x, p.y, yaw)):
                index.poses.append(Pose2D(float(p.x), float(p.y), yaw, stamp))
                index.odom_frame = index.odom_frame or str(msg.header.frame_id)
        elif name == CAMERA_INFO:
            if index.camera_info is None:
                index.camera_info = msg
        elif name == COLOR:
            index.color.append(stamp)
        elif name == DEPTH:
            index.depth.append(stamp)
        else:
            index.truth.append(stamp)
    index.poses.sort(key=lambda p: p.stamp_ns)
    return index


def _intrinsics(info: Any, bag: Path, topic: str) -> PinholeIntrinsics:  # Any: rosbags sensor_msgs/CameraInfo
    k = [float(v) for v in info.k]
    try:
        return PinholeIntrinsics(k[0], k[4], k[2], k[5], int(info.width), int(info.height))
    except ValueError as err:
        raise BagError(f"{bag}: topic {topic}: not a usable camera_info: {err}") from err


def _pose_at(poses: list[Pose2D], stamps: list[int], stamp_ns: int) -> Pose2D | None:
    """The pose at `stamp_ns`, interpolated between the odometry messages around it (none: None)."""
    i = bisect.bisect_left(stamps, stamp_ns)
    if i < len(stamps) and stamps[i] == stamp_ns:
        return poses[i]
    if i == 0 or i == len(stamps):
        return None
    before, after = poses[i - 1], poses[i]
    if after.stamp_ns - before.stamp_ns > MAX_POSE_GAP_S * NS_PER_S:
        return None
    return interpolate_pose(before, after, stamp_ns)


def _nearest(stamps: list[int], stamp_ns: int, max_ns: int) -> int | None:
    i = bisect.bisect_left(stamps, stamp_ns)
    near = [stamps[j] for j in (i - 1, i) if 0 <= j < len(stamps) and abs(stamps[j] - stamp_ns) <= max_ns]
    return min(near, key=lambda s: abs(s - stamp_ns)) if near else None


@dataclass(frozen=True)
class _Chosen:
    name: str
    color_ns: int
    depth_ns: int
    pose: Pose2D


def _choose(index: _Index, options: FramesOptions, prefix: str) -> tuple[list[_Chosen], int, int, int]:
    stamps = [p.stamp_ns for p in index.poses]
    depth_stamps = sorted(index.depth)
    max_skew_ns = round(options.max_skew_s * NS_PER_S)
    chosen: list[_Chosen] = []
    no_depth = no_pose = thinned = 0
    usable = 0
    last: Pose2D | None = None
    for color_ns in sorted(set(index.color)):
        depth_ns = _nearest(depth_stamps, color_ns, max_skew_ns)
        if depth_ns is None:
            no_depth += 1
            continue
        pose = _pose_at(index.poses, stamps, color_ns)
        if pose is None:
            no_pose += 1
            continue
        usable += 1
        if (usable - 1) % options.every:
            thinned += 1
            continue
        if last is not None and options.min_motion_m > 0.0:
            moved = math.hypot(pose.x_m - last.x_m, pose.y_m - last.y_m)
            if moved < options.min_motion_m:
                thinned += 1
                continue
        last = pose
        chosen.append(_Chosen(f"{prefix}{len(chosen):06d}", color_ns, depth_ns, pose))
    return chosen, no_depth, no_pose, thinned


def _depth_mm(image: Image) -> NDArray[np.uint16]:
    from robot_vision_nav.ros.image import image_to_numpy

    array = image_to_numpy(image)
    if array.dtype == np.uint16:
        return array
    metres = np.nan_to_num(array.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    return np.clip(np.rint(metres * MM_PER_M), 0, np.iinfo(np.uint16).max).astype(np.uint16)


def _write_png(path: Path, image: NDArray[Any], *, rgb: bool) -> None:  # Any: uint8 or uint16 pixels
    import cv2

    pixels = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if rgb else image
    if not cv2.imwrite(str(path), pixels):
        raise BagError(f"cannot write {path}")


def extract_frames(options: FramesOptions, progress: Callable[[int, int], None] | None = None) -> FramesInfo:
    """Write the frames folder `options.out` from `options.bag`; see the module docstring.

    Raises:
        BagError: the bag cannot be read, lacks colour, depth, camera_info or odometry, a frame does not
            decode or has another size than camera_info says, or `out` exists; nothing is left behind.

    """
    from robot_vision_nav.replay.replay import input_message, message_class
    from robot_vision_nav.ros.image import image_to_numpy, to_rgb

    _check_options(options)
    bag = options.bag
    topic_map = load_topic_map(options.topics_map) if options.topics_map else {}
    with BagReader(bag) as reader:
        bag_topics = reader.topics()
        inputs = resolve_inputs(bag_topics, str(bag), topic_map, options.topics_map)
        for name in (COLOR, DEPTH, CAMERA_INFO, ODOM):  # resolve_inputs insists on these; say so here too
            if name not in inputs:
                raise BagError(f"{bag}: no {name} topic")
        with_truth = TRUTH_TOPIC in bag_topics
        index = _index(reader, inputs, with_truth)
        for name, found in ((COLOR, index.color), (DEPTH, index.depth), (ODOM, index.poses)):
            if not found:
                raise BagError(f"{bag}: topic {inputs[name].bag_topic} has no messages; it is needed for frames")
        if index.camera_info is None:
            raise BagError(f"{bag}: topic {inputs[CAMERA_INFO].bag_topic} has no messages; it is needed for frames")
        intrinsics = _intrinsics(index.camera_info, bag, inputs[CAMERA_INFO].bag_topic)
        prefix = options.prefix if options.prefix is not None else f"{bag.name.removesuffix(bag.suffix) or bag.name}_"
        chosen, no_depth, no_pose, thinned = _choose(index, options, prefix)
        if not chosen:
            raise BagError(
                f"{bag}: no frame has a depth image within {options.max_skew_s} s and odometry around it "
                f"({len(index.color)} colour images, {no_depth} without depth, {no_pose} without a pose)"
            )
        # Where each image message goes, by its stamp (a depth image may serve two colour frames).
        targets_of: dict[str, dict[int, list[_Chosen]]] = {COLOR: {}, DEPTH: {}, TRUTH_DIR: {}}
        for c in chosen:
            for name, stamp in ((COLOR, c.color_ns), (DEPTH, c.depth_ns), (TRUTH_DIR, c.color_ns)):
                targets_of[name].setdefault(stamp, []).append(c)
        truth = with_truth and set(targets_of[TRUTH_DIR]) <= set(index.truth)
        stamps_of = {COLOR: index.color, DEPTH: index.depth, TRUTH_DIR: index.truth}
        seen = dict.fromkeys(stamps_of, 0)

        tmp = Path(tempfile.mkdtemp(prefix=f".{options.out.name}.", suffix=".partial", dir=options.out.parent))
        try:
            for sub in (IMAGES_DIR, DEPTH_DIR, *((TRUTH_DIR,) if truth else ())):
                (tmp / sub).mkdir()
            wanted = {inputs[COLOR].bag_topic: COLOR, inputs[DEPTH].bag_topic: DEPTH}
            if truth:
                wanted[TRUTH_TOPIC] = TRUTH_DIR
            image_class = message_class("sensor_msgs/msg/Image")
            done = 0
            total = len(chosen) * len(wanted)
            for topic, msgtype, _log_ns, cdr in reader.messages(wanted):
                name = wanted[topic]
                stamp = stamps_of[name][seen[name]]  # the same messages in the same order as pass one
                seen[name] += 1
                targets = targets_of[name].pop(stamp, [])  # a repeated stamp is written once
                if not targets:
                    continue
                item = inputs[name] if name != TRUTH_DIR else InputTopic(TRUTH_DIR, TRUTH_TOPIC, msgtype)
                image = cast("Image", input_message(reader, item, msgtype, cdr, image_class, bag))
                if (int(image.width), int(image.height)) != (intrinsics.width, intrinsics.height):
                    raise BagError(
                        f"{bag}: topic {topic}: image {image.width}x{image.height} at {stamp} ns, but camera_info "
                        f"says {intrinsics.width}x{intrinsics.height} (depth must be aligned to colour)"
                    )
                for target in targets:
                    try:
                        if name == COLOR:
                            _write_png(tmp / IMAGES_DIR / f"{target.name}.png", to_rgb(image_to_numpy(image),
                                       image.encoding), rgb=True)  # fmt: skip
                        elif name == DEPTH:
                            _write_png(tmp / DEPTH_DIR / f"{target.name}.png", _depth_mm(image), rgb=False)
                        else:
                            _write_png(tmp / TRUTH_DIR / f"{target.name}.png", image_to_numpy(image), rgb=False)
                    except ValueError as err:  # an encoding the stack cannot read
                        raise BagError(f"{bag}: topic {topic}: {err}") from err
                    done += 1
                    if progress is not None:
                        progress(done, total)
            for c in chosen:
                for sub in (IMAGES_DIR, DEPTH_DIR, *((TRUTH_DIR,) if truth else ())):
                    if not (tmp / sub / f"{c.name}.png").is_file():
                        raise BagError(f"{bag}: frame {c.name} ({c.color_ns} ns) has no {sub} image in the bag")
            info = index.camera_info
            camera = CameraFile(
                intrinsics, options.mount, options.mount_source, str(info.header.frame_id), index.odom_frame,
                str(info.distortion_model), tuple(float(v) for v in info.d), str(bag),
                {n: inputs[n].bag_topic for n in (COLOR, DEPTH, CAMERA_INFO, ODOM)},
            )  # fmt: skip
            (tmp / CAMERA_FILE).write_text(camera.to_yaml())
            (tmp / FRAMES_FILE).write_text(write_poses_csv([(c.name, c.pose) for c in chosen], FRAME_FIELDS))
            (tmp / ODOMETRY_FILE).write_text(write_poses_csv(index.poses, ODOMETRY_FIELDS))
            os.chmod(tmp, 0o755)  # mkdtemp's 0700; what is inside was made with the usual umask
            if options.out.exists():
                raise BagError(f"{options.out} appeared while writing; frames left unwritten")
            os.rename(tmp, options.out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return FramesInfo(
        str(options.out), len(chosen), len(set(index.color)), no_depth, no_pose, thinned, truth,
        (intrinsics.width, intrinsics.height),
    )  # fmt: skip
