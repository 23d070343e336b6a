"""The input side of a node that maps depth: depth + traversability mask + camera_info, matched by stamp.

costmap_node and semantic_obstacles_node take their camera the same way, and `DepthSetInput` is that
way, once: it subscribes (depth raw or compressedDepth through ros/transport.py, the mask, the
camera_info), matches the three by stamp (ros/sync.py; without the mask, depth + camera_info; with
`use_confidence`, segmentation's confidence image is a fourth input, subscribed only then),
restarts the matching when time jumps back (a looped bag, a restarted simulator: TIME_JUMP_CONFIRM
stamps in a row more than TIME_JUMP_NS older than the newest), names the partner input that keeps
depth frames from being used, checks encodings and sizes, decodes, undistorts or refuses a distorted
camera (ros/lens.py) and looks up the camera mount (ros/tf.py). What comes through reaches the node
as one `DepthSet`; a frame that does not gets the node's throttled warning naming its topic and
is counted in `skipped`.

What it must never do: read the wall clock to decide which frames are used (a replay must repeat),
or drop a frame without saying so. It imports rclpy: nodes import it, launch-time code must not.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from diagnostic_msgs.msg import DiagnosticStatus
from numpy.typing import NDArray
from rclpy.node import Node
from rclpy.subscription import Subscription
from sensor_msgs.msg import CameraInfo, Image

from robot_vision_nav.core.clock import StampOrder, StampVerdict
from robot_vision_nav.core.config import param
from robot_vision_nav.core.geometry import CameraMount, PinholeIntrinsics
from robot_vision_nav.core.pacing import StepTimes
from robot_vision_nav.core.units import NS_PER_S
from robot_vision_nav.ros.diagnostics import idle_health, step_values
from robot_vision_nav.ros.image import ImageConversionError, image_to_numpy
from robot_vision_nav.ros.latency import InputAges, behind_message
from robot_vision_nav.ros.lens import DistortedImageError, LensCorrection
from robot_vision_nav.ros.messages import (
    CameraInfoError,
    camera_info_distortion,
    camera_info_to_intrinsics,
    stamp_to_ns,
)
from robot_vision_nav.ros.qos import SENSOR_QOS
from robot_vision_nav.ros.sync import ApproximateTimeSync
from robot_vision_nav.ros.tf import CameraMountSource, TfReader, check_mount_source
from robot_vision_nav.ros.transport import DEPTH_TRANSPORTS, ImageInput, check_transport

DEPTH_ENCODINGS = ("16UC1", "mono16", "32FC1")
MASK_ENCODINGS = ("mono8", "8UC1")
INPUT_NAMES = {0: "depth", 1: "mask", 2: "camera_info", 3: "confidence"}  # add's topic index -> name in diagnostics
TIME_JUMP_NS = NS_PER_S  # stamps more than 1 s older than the newest: a clock that restarted, not jitter, ...
# ... once this many in a row on one input are that old. One stale frame (a late retransmission, an
# old buffer flushed) is followed by current ones again: it is refused as out of order, nothing restarts.
TIME_JUMP_CONFIRM = 3


# The matching parameters of every node that reads a depth set, declared once (costmap_node,
# semantic_obstacles_node): the same name, meaning and range wherever they appear.
def sync_queue_size_param() -> int:
    """`sync_queue_size`: messages kept per input while matching."""
    field: int = param(  # a dataclass field typed as its default, as dataclasses.field is
        20,
        "messages kept per input while matching depth, mask and camera_info; reach back far enough for the "
        "slowest mask (20 frames = 1.3 s at 15 Hz), else a late segmentation starves the node",
        min_value=1,
        max_value=100,
    )
    return field


def sync_slop_param() -> float:
    """`sync_slop_s`: the largest stamp difference within one set."""
    field: float = param(  # a dataclass field typed as its default, as dataclasses.field is
        0.05,
        "largest stamp difference within one matched depth/mask/camera_info set",
        unit="s",
        min_value=0.0,
        max_value=1.0,
    )
    return field


def input_timeout_param() -> float:
    """`input_timeout_s`: how long without a processed set before diagnostics warn."""
    field: float = param(  # a dataclass field typed as its default, as dataclasses.field is
        1.0,
        "diagnostics warn when no depth set was processed for this long",
        unit="s",
        min_value=0.01,
        max_value=60.0,
    )
    return field


class DepthInputFields(Protocol):
    """The depth-input parameters of a node's config (costmap_node's, semantic_obstacles_node's)."""

    @property
    def sync_queue_size(self) -> int: ...  # noqa: D102

    @property
    def sync_slop_s(self) -> float: ...  # noqa: D102

    @property
    def depth_transport(self) -> str: ...  # noqa: D102

    @property
    def rectify_distorted(self) -> bool: ...  # noqa: D102

    @property
    def base_frame(self) -> str: ...  # noqa: D102

    @property
    def camera_mount_source(self) -> str: ...  # noqa: D102


class MaskAndMountFields(Protocol):
    """The fields of an algorithm's config a depth set reads (CostmapConfig, ObstacleCloudConfig)."""

    @property
    def use_traversability_mask(self) -> bool: ...  # noqa: D102

    @property
    def mount(self) -> CameraMount: ...  # noqa: D102


def check_depth_input_fields(config: DepthInputFields) -> None:
    """Refuse a camera_mount_source or depth_transport that is not one of its words, naming it."""
    check_mount_source(config.camera_mount_source)
    check_transport("depth_transport", config.depth_transport, DEPTH_TRANSPORTS)


@dataclass(frozen=True)
class DepthSetSettings:
    """What the input side reads from its node's parameters; the node hands in a new one on each change."""

    use_mask: bool  # use_traversability_mask: without it a set is depth + camera_info
    sync_queue_size: int
    sync_slop_s: float
    depth_transport: str
    rectify_distorted: bool
    base_frame: str
    camera_mount_source: str
    mount: CameraMount  # camera_mount_xyzrpy: the mount when TF has none (or is not asked)
    use_confidence: bool = False  # with the mask: segmentation's confidence image is a fourth input

    @classmethod
    def of(
        cls, node_config: DepthInputFields, algorithm_config: MaskAndMountFields, *, confidence: bool = False
    ) -> DepthSetSettings:
        """From a node's own config and its algorithm's config (CostmapConfig, ObstacleCloudConfig).

        Both nodes name these parameters alike: the fields of the same names are read. `confidence`:
        the algorithm wants the confidence image (costmap_node's min_floor_confidence > 0); only
        together with the mask.
        """
        return cls(
            use_mask=algorithm_config.use_traversability_mask,
            sync_queue_size=node_config.sync_queue_size,
            sync_slop_s=node_config.sync_slop_s,
            depth_transport=node_config.depth_transport,
            rectify_distorted=node_config.rectify_distorted,
            base_frame=node_config.base_frame,
            camera_mount_source=node_config.camera_mount_source,
            mount=algorithm_config.mount,
            use_confidence=confidence and algorithm_config.use_traversability_mask,
        )


@dataclass(frozen=True)
class DepthSet:
    """One matched, checked and decoded camera frame, ready for the core."""

    stamp_ns: int  # the depth image's stamp
    depth: (
        NDArray[np.uint16] | NDArray[np.float32]
    )  # HxW uint16 (mm) or float32 (m), undistorted when the camera declared a lens
    mask: NDArray[np.uint8] | None  # HxW uint8, 255 = drivable; None without use_traversability_mask
    intrinsics: PinholeIntrinsics
    mount: CameraMount  # the camera in base_frame at stamp_ns
    mount_source: str  # "tf" or "parameter"
    topics: tuple[str, str, str]  # depth (as subscribed), mask, camera_info: for the node's warnings
    confidence: NDArray[np.uint8] | None = None  # HxW mono8, 255 x probability; None without use_confidence


class DepthSetInput:
    """A node's depth, mask and camera_info subscriptions and what is done with them before the core.

    Args:
        node: the node that subscribes; its clock stamps input ages, its logger the mount messages.
        topics: depth, mask and camera_info as the node names them (relative: remaps and namespace apply).
        tf: the node's TfReader (camera mounts from TF).
        settings: from the node's parameters (`DepthSetSettings.of`); later ones go to `configure`.
        on_set: takes each set that passed every check.
        on_restart: called with the reason after time jumped back (or `restart` was called) and the
            matching started afresh; the node forgets its own time-bound state and says so.
        warn: the node's throttled warning, (topic, problem).
        ages: the node's input ages (/diagnostics); depth, mask and camera_info are recorded here.
        admit: called with the stamp of a set that passed the image checks, before the mount is
            looked up; False skips the set (it is counted; `admit` has warned). costmap_node checks
            its odometry here.
        confidence_topic: segmentation's confidence image, subscribed while `settings.use_confidence`
            (and not otherwise: the segmentation node computes it only for subscribers).

    """

    def __init__(
        self,
        node: Node,
        topics: tuple[str, str, str],
        tf: TfReader,
        settings: DepthSetSettings,
        *,
        on_set: Callable[[DepthSet], None],
        on_restart: Callable[[str], object],
        warn: Callable[[str, str], None],
        ages: InputAges,
        admit: Callable[[int], bool] | None = None,
        confidence_topic: str = "",
    ) -> None:
        self._node = node
        self.settings = settings
        self._on_set = on_set
        self._on_restart = on_restart
        self._warn = warn
        self._ages = ages
        self._admit = admit
        self._mounts = CameraMountSource(tf, node.get_logger().info, node.get_logger().warning)
        self._lens = LensCorrection()
        self.skipped = 0  # frames not handed on, for whatever reason (the node's own skips count here too)
        self.last_stamp_ns: int | None = None  # of the last set the node used (`processed`)
        self._confidence_topic_name = confidence_topic
        self._confidence_topic = node.resolve_topic_name(confidence_topic) if confidence_topic else ""
        self._confidence_sub: Subscription[Image] | None = None
        self._make_sync()
        depth_topic, mask_topic, info_topic = topics
        self._depth_in = ImageInput(
            node, depth_topic, settings.depth_transport, lambda m: self.add(0, m), self.skip, SENSOR_QOS
        )
        self._mask_topic = node.resolve_topic_name(mask_topic)
        self._info_topic = node.resolve_topic_name(info_topic)
        node.create_subscription(Image, mask_topic, lambda m: self.add(1, m), SENSOR_QOS)
        node.create_subscription(CameraInfo, info_topic, lambda m: self.add(2, m), SENSOR_QOS)
        self._subscribe_confidence()

    @property
    def topics(self) -> tuple[str, str, str]:
        """Depth (the one subscribed: <depth>/compressedDepth with that transport), mask, camera_info."""
        return self._depth_in.topic, self._mask_topic, self._info_topic

    @property
    def confidence_topic(self) -> str:
        """The confidence image's topic (resolved), subscribed only while `use_confidence`; '' if none given."""
        return self._confidence_topic

    def _topic(self, index: int) -> str:
        """The topic of input `index` (0 depth, 1 mask, 2 camera_info, 3 confidence)."""
        return self._confidence_topic if index == 3 else self.topics[index]

    @property
    def dropped_sets(self) -> int:
        """Depth frames the matching discarded without a set."""
        return self._sync.dropped_sets

    @property
    def out_of_order(self) -> int:
        """Messages the matching refused as older than one already taken, all inputs together."""
        return sum(self._sync.out_of_order)

    def report(
        self,
        status: DiagnosticStatus,
        times: StepTimes,
        published: int,
        *,
        timeout_s: float,
        max_input_age_s: float,
        last_problem: str,
        now_ns: int,
        extra_silent: Sequence[str] = (),
        values: Mapping[str, str] | None = None,
    ) -> dict[str, str]:
        """Set `status` of a node that maps depth sets, and its key/values: times, counts, `values`, input ages.

        WARN when no set was processed for `timeout_s` (naming the inputs, and `extra_silent`, that
        sent nothing yet), after a problem, or when an input arrives older than `max_input_age_s`.
        """
        silent = self.silent_topics() + list(extra_silent)
        level, message = idle_health(times.idle_s(), timeout_s, "depth set", silent, last_problem)
        if level == DiagnosticStatus.OK and (behind := behind_message(self._ages, max_input_age_s)):
            level, message = DiagnosticStatus.WARN, behind
        status.level, status.message = level, message
        return {
            **step_values(times, self.last_stamp_ns, now_ns),
            "updates": str(times.count),
            "published": str(published),
            "skipped_frames": str(self.skipped),
            "dropped_sets": str(self.dropped_sets),
            "out_of_order": str(self.out_of_order),
            **(values or {}),
            **dict(self._ages.key_values()),
        }

    def silent_topics(self) -> list[str]:
        """The inputs in use that have sent nothing yet (since the last restart)."""
        return [self._topic(i) for i in self._inputs if self._orders[i].newest_ns is None]

    # ------------------------------------------------------------------ configuration
    def _make_sync(self) -> None:
        s = self.settings
        # Without the mask the set is depth + camera_info: input 1 is simply never required; the
        # confidence (3) only comes with the mask.
        self._inputs = ((0, 1, 2, 3) if s.use_confidence else (0, 1, 2)) if s.use_mask else (0, 2)
        self._sync: ApproximateTimeSync[Image | CameraInfo] = ApproximateTimeSync(
            len(self._inputs), s.sync_queue_size, round(s.sync_slop_s * NS_PER_S), self._on_matched, pivot=0
        )
        self._last_out_of_order = [0] * len(self._inputs)
        self._last_missing = [0] * len(self._inputs)
        # Per input: the newest stamp received (the sync refuses older ones) and the count of stale ones.
        self._orders = {i: StampOrder(TIME_JUMP_NS, confirm=None, confirm_jump=TIME_JUMP_CONFIRM) for i in self._inputs}

    def configure(self, settings: DepthSetSettings) -> bool:
        """Take changed parameters; True when the matching started afresh (mask, confidence, queue or slop changed)."""
        old, self.settings = self.settings, settings
        rematch = (old.use_mask, old.use_confidence, old.sync_queue_size, old.sync_slop_s) != (
            settings.use_mask,
            settings.use_confidence,
            settings.sync_queue_size,
            settings.sync_slop_s,
        )
        if rematch:
            self._make_sync()
            self._subscribe_confidence()
        self._depth_in.switch(settings.depth_transport)  # a no-op unless depth_transport changed
        return rematch

    def _subscribe_confidence(self) -> None:
        """Subscribe to the confidence image while it is matched, and only then (it costs its publisher)."""
        wanted = 3 in self._inputs
        if wanted and self._confidence_sub is None:
            if not self._confidence_topic_name:
                raise ValueError("use_confidence needs the confidence_topic of DepthSetInput")
            self._confidence_sub = self._node.create_subscription(
                Image, self._confidence_topic_name, lambda m: self.add(3, m), SENSOR_QOS
            )
        elif not wanted and self._confidence_sub is not None:
            self._node.destroy_subscription(self._confidence_sub)
            self._confidence_sub = None

    def restart(self, reason: str) -> None:
        """Forget the queued inputs and the stamps, then let the node forget its own (`on_restart`)."""
        self._make_sync()
        self.last_stamp_ns = None
        self._on_restart(reason)

    # ------------------------------------------------------------------ inputs
    def add(self, topic_index: int, msg: Image | CameraInfo) -> None:
        """One depth (0), mask (1), camera_info (2) or confidence (3) message, as its subscription hands it over."""
        if topic_index not in self._inputs:
            return
        slot = self._inputs.index(topic_index)
        stamp_ns = stamp_to_ns(msg.header.stamp)
        self._ages.record(INPUT_NAMES[topic_index], self._node.get_clock().now().nanoseconds, stamp_ns)
        newest = self._orders[topic_index].newest_ns
        # Restarting on one stale frame would wipe the node's state for nothing; until the old
        # timeline is confirmed the frame is refused by the sync below as out of order.
        verdict = self._orders[topic_index].check(stamp_ns)
        if verdict is StampVerdict.RESTART and newest is not None:  # (always a newest then)
            self.restart(
                f"time jumped back {(newest - stamp_ns) / NS_PER_S:.1f} s on {self._topic(topic_index)} "
                "(a looped bag or a restarted simulator)"
            )
        # The newest ever, not the last: an out-of-order message must not lower the bar for the next.
        if not verdict.dropped:
            self._orders[topic_index].take(stamp_ns)
        self._sync.add(slot, stamp_ns, msg)
        if self._sync.missing != self._last_missing:
            self._check_partners()
        out_of_order = self._sync.out_of_order[slot]
        if out_of_order != self._last_out_of_order[slot]:
            self._last_out_of_order[slot] = out_of_order
            self._warn(
                self._topic(topic_index),
                f"stamps out of order: {stamp_ns} ns is older than an earlier message; message dropped",
            )

    def _check_partners(self) -> None:
        """Name the input that keeps depth frames from being used: never seen, or out of slop."""
        missing = self._sync.missing
        for slot, index in enumerate(self._inputs[1:], start=1):
            if missing[slot] == self._last_missing[slot]:
                continue
            newest = self._orders[index].newest_ns
            if newest is None:
                self._warn(self._topic(index), f"nothing received yet: {missing[slot]} depth frames dropped waiting")
            else:
                depth = self._orders[0].newest_ns
                depth = newest if depth is None else depth
                self._warn(
                    self._topic(index),
                    f"no message within sync_slop_s = {self.settings.sync_slop_s} s "
                    f"of a depth frame (newest is {(newest - depth) / NS_PER_S:+.3f} s from the newest depth); "
                    f"{missing[slot]} depth frames dropped for it",
                )
        self._last_missing = missing

    def skip(self, topic: str, problem: str) -> None:
        """Count a frame that is not used and warn naming `topic` (the node's own skips come here too)."""
        self.skipped += 1
        self._warn(topic, problem)

    def processed(self, stamp_ns: int) -> None:
        """The node used the set stamped `stamp_ns`: a later set must be newer."""
        self.last_stamp_ns = stamp_ns

    # ------------------------------------------------------------------ a matched set
    def _on_matched(self, msgs: tuple[Image | CameraInfo, ...]) -> None:
        matched = dict(zip(self._inputs, msgs, strict=True))
        depth_msg = matched[0]
        mask_msg = matched.get(1)
        info_msg = matched[2]
        conf_msg = matched.get(3)
        topics = self.topics
        depth_topic, mask_topic, info_topic = topics
        stamp_ns = stamp_to_ns(depth_msg.header.stamp)
        if self.last_stamp_ns is not None and stamp_ns <= self.last_stamp_ns:
            self.skip(
                depth_topic,
                f"stamps out of order: {stamp_ns} ns is not after the last processed "
                f"{self.last_stamp_ns} ns; frame skipped",
            )
            return
        if depth_msg.encoding not in DEPTH_ENCODINGS:
            self.skip(depth_topic, f"wrong encoding '{depth_msg.encoding}', expected 16UC1 (mm) or 32FC1 (m)")
            return
        if mask_msg is not None and mask_msg.encoding not in MASK_ENCODINGS:
            self.skip(mask_topic, f"wrong encoding '{mask_msg.encoding}', expected mono8 (255 = drivable)")
            return
        if conf_msg is not None and conf_msg.encoding not in MASK_ENCODINGS:
            self.skip(
                self._confidence_topic,
                f"wrong encoding '{conf_msg.encoding}', expected mono8 (255 x the soft-max probability)",
            )
            return
        try:
            intrinsics = camera_info_to_intrinsics(info_msg)
        except CameraInfoError as err:
            self.skip(info_topic, f"unusable camera_info: {err}")
            return
        try:
            depth = image_to_numpy(depth_msg)
        except ImageConversionError as err:
            self.skip(depth_topic, f"bad image: {err}")
            return
        try:
            mask = image_to_numpy(mask_msg) if mask_msg is not None else None
        except ImageConversionError as err:
            self.skip(mask_topic, f"bad image: {err}")
            return
        try:
            confidence = image_to_numpy(conf_msg) if conf_msg is not None else None
        except ImageConversionError as err:
            self.skip(self._confidence_topic, f"bad image: {err}")
            return
        if depth.shape != (intrinsics.height, intrinsics.width):
            self.skip(
                depth_topic,
                f"size mismatch: depth is {depth.shape[1]}x{depth.shape[0]}, {info_topic} says "
                f"{intrinsics.width}x{intrinsics.height}",
            )
            return
        if mask is not None and mask.shape != depth.shape:
            self.skip(
                mask_topic,
                f"size mismatch: mask is {mask.shape[1]}x{mask.shape[0]}, depth is {depth.shape[1]}x{depth.shape[0]}",
            )
            return
        if confidence is not None and confidence.shape != depth.shape:
            self.skip(
                self._confidence_topic,
                f"size mismatch: confidence is {confidence.shape[1]}x{confidence.shape[0]}, depth is "
                f"{depth.shape[1]}x{depth.shape[0]}",
            )
            return
        s = self.settings
        try:
            distortion = camera_info_distortion(info_msg)
            depth, mask = self._lens.correct(distortion, intrinsics, depth, mask, s.rectify_distorted)
            if confidence is not None:
                confidence = self._lens.correct_like_mask(distortion, intrinsics, confidence)
        except DistortedImageError as err:
            self.skip(info_topic, f"{err}; frame skipped")
            return
        if self._admit is not None and not self._admit(stamp_ns):
            self.skipped += 1
            return
        now_ns = self._node.get_clock().now().nanoseconds
        found = self._mounts.mount(
            s.base_frame, depth_msg.header.frame_id, s.camera_mount_source, s.mount, stamp_ns, now_ns
        )
        if found.problem:
            self._warn(depth_topic, found.problem)
        if found.mount is None:
            self.skipped += 1
            return
        self._on_set(DepthSet(stamp_ns, depth, mask, intrinsics, found.mount, found.source, topics, confidence))
