"""Property-based fuzzing of every node's message handlers and parameter callbacks over real rclpy.

Real node instances in a real rclpy Context get hypothesis-built messages, random and malformed
(wrong sizes, steps and encodings, NaN/inf, empty messages, declared sizes far beyond their data,
wrong frames, zero/negative/backward stamps, inconsistent grids, unusable camera_info, non-unit
quaternions), handed straight to their subscription callbacks, mixed with valid ones so the deep
paths run too. The house rule is checked: no exception leaves a handler, nothing published holds
NaN or infinity (and every published message serialises: the real `publish` runs), and the
controller never sends a non-zero cmd_vel because of garbage. Parameter updates of the wrong type,
out of range or non-finite are refused and leave the config as it was; the reason names the
parameter.

What each node published is taken by wrapping its publishers' `publish` (the original still runs):
that ties each message to the handler call that caused it, which a subscription spun afterwards
cannot. The controller's cmd_vel is also received by a real subscription and compared with what
was recorded. navigator_node is built on test_msgs' Fibonacci action (nav2_msgs is not installed
here) with Nav2Adapter's own conversions. `make test-all` also runs the `slow` variants.
"""

from __future__ import annotations

import array
import contextlib
import math
import os
import resource
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, TypeVar

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"

import numpy as np
import pytest
import rclpy
import torch
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseStamped, Twist, TwistStamped
from hypothesis import HealthCheck, Phase, currently_in_test_context, given, settings
from hypothesis import event as hypothesis_event
from hypothesis import strategies as st
from nav_msgs.msg import OccupancyGrid, Odometry
from nav_msgs.msg import Path as PathMsg
from numpy.typing import NDArray
from rclpy.action.server import GoalResponse
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.impl.logging_severity import LoggingSeverity
from rclpy.logging import get_logger_level, set_logger_level
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.task import Future
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Bool, String

from robot_vision_nav.core.config import param_info
from robot_vision_nav.nodes.controller_node import ControllerNode
from robot_vision_nav.nodes.costmap_node import CostmapNode
from robot_vision_nav.nodes.navigator_node import NavigatorNode
from robot_vision_nav.nodes.planner_node import PlannerNode
from robot_vision_nav.nodes.safety_node import SafetyNode
from robot_vision_nav.nodes.segmentation_node import SegmentationNode
from robot_vision_nav.nodes.sim_node import SimNode
from robot_vision_nav.ros.action_goal import ActionGoal
from robot_vision_nav.ros.image import ImageConversionError, image_to_numpy
from robot_vision_nav.ros.messages import CameraInfoError, camera_info_to_intrinsics
from robot_vision_nav.ros.nav2_action import GoalTarget, Nav2Adapter
from robot_vision_nav.ros.qos import COMMAND_QOS
from test.segmentation_helpers import constant_model
from test.test_fuzz_conversions import allocation_limit

pytestmark = pytest.mark.ros

NS = 1_000_000_000
BASE_NS = 1_000 * NS  # where valid stamps start
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
FLOAT32_MAX = float(np.finfo(np.float32).max)
HUGE_U32 = [2**16, 2**31 - 1, 2**32 - 1]

# Examples per test: the quick run stays within ~40 s on the 2-core dev box; `slow` runs many more.
# No `explain` phase: on a failure it replays the example hundreds of times (minutes here) for a hint.
PHASES = (Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink)
QUICK = settings(max_examples=80, deadline=None, phases=PHASES, suppress_health_check=[HealthCheck.too_slow])
MANY = settings(max_examples=300, deadline=None, phases=PHASES, suppress_health_check=[HealthCheck.too_slow])

NASTY = [0.0, -0.0, math.nan, math.inf, -math.inf, 1e300, -1e300, 1.7e308, -1.7e308, 1e-300, 3.5e38, 1e7]
nasty_floats = st.one_of(st.sampled_from(NASTY), st.floats(allow_nan=True, allow_infinity=True))
small_floats = st.floats(-5.0, 5.0)
frames = st.one_of(st.sampled_from(["odom", "/odom", "", "map", "base_link", "odom ", "ödom"]), st.text(max_size=8))
quaternions = st.one_of(
    st.floats(-4.0, 4.0).map(lambda yaw: (0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2))),
    st.sampled_from(
        [
            (0.0, 0.0, 0.0, 0.0),
            (0.0, 0.0, 0.0, math.nan),
            (math.inf, 0.0, 0.0, 1.0),
            (0.0, 0.0, 0.0, 2.0),
            (1e200, 0.0, 0.0, 1e200),
            (0.0, 0.0, 1e300, 1e300),
            (0.0, 0.0, 1e300, -1e300),
            (1e300, 1e300, 0.0, 0.0),
            (0.0, 0.0, 1e-200, 1e-200),
            (0.0, 0.0, 0.0, -1.0),
        ]
    ),
    st.tuples(nasty_floats, nasty_floats, nasty_floats, nasty_floats),
)


# --- stamps: a clock the actions move, sometimes backwards, to zero or negative -------------------

# A time op moves the example's clock: mostly steps forward; else none, back a little or a lot, jumps
# to zero, negative or the ends of int32 seconds, or (1 in 10) a raw stamp whose nanosec may be
# >= 1e9 (malformed, as a buggy driver writes it).
ODD_TIME_OPS = [
    ("step", 0),
    ("step", -1),
    ("step", -20_000_000),
    ("step", -2 * NS),
    ("step", 5 * NS),
    ("set", 0),
    ("set", -NS),
    ("set", INT32_MIN * NS),
    ("set", INT32_MAX * NS + NS - 1),
    ("set", 1),
]
TIME_OPS = [("step", 50_000_000)] * 12 + [("step", 100_000_000)] * 4 + ODD_TIME_OPS
raw_stamps = st.tuples(st.just("raw"), st.tuples(st.integers(INT32_MIN, INT32_MAX), st.integers(0, 2**32 - 1)))
time_ops = st.integers(0, 9).flatmap(lambda k: raw_stamps if k == 0 else st.sampled_from(TIME_OPS))


class Clock:
    """The stamp of an example's next message, moved by time ops."""

    def __init__(self, base_ns: int = BASE_NS) -> None:
        self.ns = base_ns
        self.raw: tuple[int, int] | None = None

    def apply(self, op: tuple[str, Any]) -> None:
        kind, value = op
        self.raw = None
        if kind == "step":
            self.ns += value
        elif kind == "set":
            self.ns = value
        else:
            self.raw = value

    def stamp_ns(self) -> int:
        stamp = self.stamp()
        return int(stamp.sec) * NS + int(stamp.nanosec)

    def stamp(self) -> Time:
        if self.raw is not None:
            return Time(sec=self.raw[0], nanosec=self.raw[1])
        sec, nanosec = divmod(self.ns, NS)
        return Time(sec=min(max(sec, INT32_MIN), INT32_MAX), nanosec=nanosec)


# --- message builders ----------------------------------------------------------------------------


def image_msg(height: int, width: int, step: int, encoding: str, data: bytes, bigendian: int = 0) -> Image:
    msg = Image(height=height, width=width, step=step, encoding=encoding, is_bigendian=bigendian)
    msg.data = array.array("B", data)
    return msg


def odometry(x: float, y: float, quat: tuple[float, float, float, float], frame: str = "odom") -> Odometry:
    msg = Odometry()
    msg.header.frame_id = frame
    msg.child_frame_id = "base_link"
    msg.pose.pose.position.x, msg.pose.pose.position.y = x, y
    o = msg.pose.pose.orientation
    o.x, o.y, o.z, o.w = quat
    return msg


def grid_msg(
    width: int,
    height: int,
    data: NDArray[Any] | list[int],
    resolution: float = 0.1,
    origin: tuple[float, float] = (-2.0, -2.0),
    quat: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 1.0),
    frame: str = "odom",
) -> OccupancyGrid:
    msg = OccupancyGrid()
    msg.header.frame_id = frame
    msg.info.width, msg.info.height = width, height
    # float32 on the wire: a double beyond its range is infinite there (and would fail serialisation here)
    if abs(resolution) > FLOAT32_MAX:
        resolution = math.copysign(math.inf, resolution)
    msg.info.resolution = resolution if not math.isfinite(resolution) else float(np.float32(resolution))
    msg.info.origin.position.x, msg.info.origin.position.y = origin
    o = msg.info.origin.orientation
    o.x, o.y, o.z, o.w = quat
    msg.data = array.array("b", bytes(np.asarray(data, dtype=np.int64).astype(np.int8).tobytes()))
    return msg


def pose_stamped(x: float, y: float, quat: tuple[float, float, float, float], frame: str = "odom") -> PoseStamped:
    msg = PoseStamped()
    msg.header.frame_id = frame
    msg.pose.position.x, msg.pose.position.y = x, y
    o = msg.pose.orientation
    o.x, o.y, o.z, o.w = quat
    return msg


def yaw_quat(yaw: float) -> tuple[float, float, float, float]:
    return (0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2))


def pick_flaw(draw: st.DrawFn, flawed: bool | None, kinds: list[str], valid_weight: int = 1) -> str:
    """Which flaw a message gets: "none" when `flawed` is False, one of `kinds` when True, else either
    ("none" weighted `valid_weight` against each kind: the deep paths need valid messages too)."""
    if flawed is False:
        return "none"
    if flawed:
        return draw(st.sampled_from(kinds))
    return draw(st.sampled_from(["none"] * valid_weight + kinds))


# --- what a node published ------------------------------------------------------------------------


def non_finite_fields(msg: Any, path: str = "") -> list[str]:
    """Dotted paths of every NaN or infinite float anywhere in a ROS message."""
    if hasattr(msg, "get_fields_and_field_types"):
        return [
            bad
            for name in msg.get_fields_and_field_types()
            for bad in non_finite_fields(getattr(msg, name), f"{path}.{name}")
        ]
    if isinstance(msg, float):
        return [] if math.isfinite(msg) else [f"{path} = {msg}"]
    if isinstance(msg, array.array | np.ndarray):
        values = np.asarray(msg)
        if values.dtype.kind == "f" and not np.all(np.isfinite(values)):
            return [f"{path} has non-finite values"]
        return []
    if isinstance(msg, list | tuple):
        return [bad for i, item in enumerate(msg) for bad in non_finite_fields(item, f"{path}[{i}]")]
    return []


class Tap:
    """Records every message a node publishes, with the topic, and still publishes it for real."""

    def __init__(self, node: Node) -> None:
        self.messages: list[tuple[str, Any]] = []
        for pub in list(node.publishers):
            self.wrap(pub)

    def wrap(self, pub: Any) -> None:
        original, topic = pub.publish, pub.topic_name

        def publish(msg: Any) -> None:
            self.messages.append((topic, msg))
            original(msg)

        pub.publish = publish

    def on(self, topic: str) -> list[Any]:
        return [m for t, m in self.messages if t == topic]

    def check_finite(self) -> None:
        for topic, msg in self.messages:
            bad = non_finite_fields(msg)
            assert not bad, f"published on {topic} with non-finite fields {bad}: {msg}"


def event(text: str) -> None:
    """Count a kind of example for --hypothesis-show-statistics; the plain tests reuse the runners."""
    if currently_in_test_context():
        hypothesis_event(text)


@pytest.fixture(scope="module")
def context() -> Iterator[Context]:
    """One rclpy context for the module: nodes are cheap to make in it, a context is not."""
    ctx = Context()
    rclpy.init(context=ctx)
    try:
        yield ctx
    finally:
        rclpy.try_shutdown(context=ctx)


N = TypeVar("N", bound=Node)


@contextlib.contextmanager
def fresh(make: Callable[[], N]) -> Iterator[N]:
    """A new node (for one example: no state leaks between examples), destroyed afterwards.

    Its log shows errors only meanwhile (thousands of bad messages would each earn a warning); the
    level is restored after, as other test modules read the node's warnings from /rosout.
    """
    node = make()
    logger = node.get_logger().name
    level = get_logger_level(logger)
    set_logger_level(logger, LoggingSeverity.ERROR)
    try:
        yield node
    finally:
        node.destroy_node()
        set_logger_level(logger, level)


# --- segmentation_node: camera images -------------------------------------------------------------

SEG_INPUT = (16, 24)


@pytest.fixture(scope="module")
def segmentation(context: Context, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SegmentationNode]:
    model = constant_model(tmp_path_factory.mktemp("fuzz_model") / "floor.safetensors", "warehouse", 0, SEG_INPUT)
    # One torch thread: two fight over the 2 cores (10x slower per image, measured). `threads` is
    # process-wide, so the value before is restored for the modules that run after this one.
    threads_before = torch.get_num_threads()
    overrides = [Parameter(k, value=v) for k, v in {"model_path": str(model), "device": "cpu", "threads": 1}.items()]
    try:
        with fresh(lambda: SegmentationNode(context=context, parameter_overrides=overrides)) as node:
            # The overlay is only computed for a subscriber: pretend there is one so that path runs too.
            node._pub_overlay.get_subscription_count = lambda: 1  # type: ignore[method-assign]
            yield node
    finally:
        torch.set_num_threads(threads_before)


@st.composite
def camera_images(draw: st.DrawFn) -> Image:
    """Often a valid small rgb8/bgr8 image, else one with its header or data broken."""
    encoding = draw(st.sampled_from(["rgb8", "bgr8"]))
    height, width = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    pad = draw(st.sampled_from([0, 0, 0, 1, 5]))
    step = width * 3 + pad
    data = draw(st.binary(min_size=step * height, max_size=step * height))
    broken = pick_flaw(draw, None, ["encoding", "height", "width", "step", "data", "all"], 6)
    if broken in ("encoding", "all"):
        encoding = draw(
            st.one_of(st.sampled_from(["mono8", "16UC1", "32FC1", "RGB8", "rgba8", ""]), st.text(max_size=8))
        )
    if broken in ("height", "all"):
        height = draw(st.one_of(st.integers(0, 12), st.sampled_from(HUGE_U32)))
    if broken in ("width", "all"):
        width = draw(st.one_of(st.integers(0, 12), st.sampled_from(HUGE_U32)))
    if broken in ("step", "all"):
        step = draw(st.one_of(st.integers(0, 40), st.sampled_from(HUGE_U32)))
    if broken in ("data", "all"):
        data = draw(st.one_of(st.just(b""), st.binary(max_size=64), st.just(data[: len(data) // 2])))
    msg = image_msg(height, width, step, encoding, data, draw(st.integers(0, 1)))
    msg.header.frame_id = draw(frames)
    return msg


def check_segmentation_outputs(tap: Tap, msg: Image) -> None:
    tap.check_finite()
    for topic, out in tap.messages:
        if topic.startswith("/segmentation/"):
            assert (out.height, out.width) == (msg.height, msg.width), topic
            assert out.encoding == ("rgb8" if topic.endswith("overlay") else "mono8")
            assert out.step * out.height == len(out.data)
            assert out.header.frame_id == msg.header.frame_id and out.header.stamp == msg.header.stamp


def run_segmentation(node: SegmentationNode, images: list[tuple[tuple[str, Any], Image]]) -> None:
    tap = Tap(node)
    clock = Clock()
    for op, msg in images:
        clock.apply(op)
        msg.header.stamp = clock.stamp()
        before = len(tap.messages)
        node._on_image(msg)
        event(f"segmentation: {'published' if len(tap.messages) > before else 'skipped'}")
        check_segmentation_outputs(tap, msg)
        tap.messages.clear()


@QUICK
@given(images=st.lists(st.tuples(time_ops, camera_images()), min_size=1, max_size=6))
def test_segmentation_node_survives_any_image_and_publishes_matching_masks(
    segmentation: SegmentationNode, images: list[tuple[tuple[str, Any], Image]]
) -> None:
    run_segmentation(segmentation, images)


@pytest.mark.slow
@MANY
@given(images=st.lists(st.tuples(time_ops, camera_images()), min_size=1, max_size=12))
def test_segmentation_node_survives_any_image_many(
    segmentation: SegmentationNode, images: list[tuple[tuple[str, Any], Image]]
) -> None:
    run_segmentation(segmentation, images)


# --- costmap_node: depth, mask, camera_info, odometry ----------------------------------------------

CAM_W, CAM_H = 8, 6
K_VALID = [6.0, 0.0, 4.0, 0.0, 6.0, 3.0, 0.0, 0.0, 1.0]


@st.composite
def depth_images(draw: st.DrawFn, flawed: bool | None = None) -> Image:
    """An 8 x 6 depth image, every pixel any value (0, NaN, inf, negative, far); often a flawed header."""
    encoding = draw(st.sampled_from(["16UC1", "32FC1", "mono16"]))
    pixels = CAM_W * CAM_H
    if encoding == "32FC1":
        metres = st.one_of(st.sampled_from([1.5, 0.0, -1.0, math.nan, math.inf]), st.floats(-3e38, 3e38))
        data = np.asarray(draw(st.lists(metres, min_size=pixels, max_size=pixels)), dtype=np.float32).tobytes()
        step = CAM_W * 4
    else:
        millimetres = st.one_of(st.just(1500), st.integers(0, 65535))
        data = np.asarray(draw(st.lists(millimetres, min_size=pixels, max_size=pixels)), dtype=np.uint16).tobytes()
        step = CAM_W * 2
    height, width = CAM_H, CAM_W
    broken = pick_flaw(draw, flawed, ["encoding", "size", "step", "data"], 4)
    if broken == "encoding":
        encoding = draw(st.one_of(st.sampled_from(["mono8", "rgb8", "16SC1", "32FC2", ""]), st.text(max_size=6)))
    elif broken == "size":
        height = draw(st.one_of(st.integers(0, 12), st.sampled_from(HUGE_U32)))
        width = draw(st.one_of(st.integers(0, 12), st.sampled_from(HUGE_U32)))
    elif broken == "step":
        step = draw(st.one_of(st.integers(0, 40), st.sampled_from(HUGE_U32)))
    elif broken == "data":
        data = draw(st.one_of(st.just(b""), st.binary(max_size=40)))
    return image_msg(height, width, step, encoding, data, draw(st.sampled_from([0, 0, 1])))


@st.composite
def masks(draw: st.DrawFn, flawed: bool | None = None) -> Image:
    data = draw(
        st.one_of(st.just(b"\xff" * (CAM_W * CAM_H)), st.binary(min_size=CAM_W * CAM_H, max_size=CAM_W * CAM_H))
    )
    msg = image_msg(CAM_H, CAM_W, CAM_W, draw(st.sampled_from(["mono8", "mono8", "8UC1"])), data)
    broken = pick_flaw(draw, flawed, ["encoding", "size", "data"], 3)
    if broken == "encoding":
        msg.encoding = draw(st.one_of(st.sampled_from(["rgb8", "16UC1", ""]), st.text(max_size=6)))
    elif broken == "size":
        msg.height = draw(st.one_of(st.integers(0, 12), st.sampled_from(HUGE_U32)))
        msg.width = draw(st.one_of(st.integers(0, 12), st.sampled_from(HUGE_U32)))
    elif broken == "data":
        msg.data = array.array("B", draw(st.binary(max_size=40)))
    return msg


@st.composite
def camera_infos(draw: st.DrawFn, flawed: bool | None = None) -> CameraInfo:
    msg = CameraInfo(width=CAM_W, height=CAM_H)
    k = list(K_VALID)
    broken = pick_flaw(draw, flawed, ["k_zero", "k_nan", "k_any", "size"], 4)
    if broken == "k_zero":
        k = [0.0] * 9
    elif broken == "k_nan":
        k[draw(st.sampled_from([0, 2, 4, 5]))] = draw(st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -6.0]))
    elif broken == "k_any":
        k = draw(st.lists(nasty_floats, min_size=9, max_size=9))
    elif broken == "size":
        msg.width = draw(st.one_of(st.integers(0, 12), st.sampled_from(HUGE_U32)))
        msg.height = draw(st.one_of(st.integers(0, 12), st.sampled_from(HUGE_U32)))
    msg.k = k
    return msg


@st.composite
def odometries(draw: st.DrawFn, near: tuple[float, float] = (0.0, 0.0), flawed: bool | None = None) -> Odometry:
    """Often a valid pose near `near` in odom, else NaN/inf/far positions, bad quaternions, wrong frames."""
    broken = pick_flaw(draw, flawed, ["position", "quaternion", "frame", "all"], 4)
    x, y = near[0] + draw(st.floats(-0.2, 0.2)), near[1] + draw(st.floats(-0.2, 0.2))
    quat = yaw_quat(draw(st.floats(-0.3, 0.3)))
    frame = draw(st.sampled_from(["odom", "odom", "/odom", ""]))
    if broken in ("position", "all"):
        x, y = draw(nasty_floats), draw(nasty_floats)
    if broken in ("quaternion", "all"):
        quat = draw(quaternions)
    if broken in ("frame", "all"):
        frame = draw(frames)
    msg = odometry(x, y, quat, frame)
    msg.twist.twist.linear.x = draw(st.one_of(st.just(0.3), nasty_floats))
    msg.twist.twist.angular.z = draw(st.one_of(st.just(0.0), nasty_floats))
    return msg


def odom_is_garbage(msg: Odometry, global_frame: str = "odom") -> bool:
    """Values a node must not act on: non-finite, not a unit quaternion, absurdly far, another frame."""
    p, q = msg.pose.pose.position, msg.pose.pose.orientation
    values = (p.x, p.y, q.x, q.y, q.z, q.w)
    if not all(math.isfinite(v) for v in values):
        return True
    with np.errstate(over="ignore"):
        norm = float(np.sqrt(np.sum(np.square(np.asarray(values[2:], dtype=np.float64)))))
    if not abs(norm - 1.0) <= 0.01 or max(abs(p.x), abs(p.y)) > 1e6:
        return True
    return bool(msg.header.frame_id) and msg.header.frame_id.lstrip("/") != global_frame


@st.composite
def costmap_sets(draw: st.DrawFn) -> tuple[str, Image, Image, CameraInfo, Odometry]:
    """Depth, mask, camera_info and odometry at one stamp: all valid half the time, else one or more flawed."""
    which = draw(st.sampled_from(["none"] * 5 + ["depth", "mask", "info", "odom", "any"]))

    def flawed(part: str) -> bool | None:
        return None if which == "any" else which == part

    return (
        "set",
        draw(depth_images(flawed("depth"))),
        draw(masks(flawed("mask"))),
        draw(camera_infos(flawed("info"))),
        draw(odometries(flawed=flawed("odom"))),
    )


costmap_actions = st.lists(
    st.tuples(
        time_ops,
        st.one_of(
            costmap_sets(),
            st.tuples(st.just("depth"), depth_images()),
            st.tuples(st.just("mask"), masks()),
            st.tuples(st.just("info"), camera_infos()),
            st.tuples(st.just("odom"), odometries()),
        ),
    ),
    min_size=1,
    max_size=8,
)


def check_costmap_outputs(tap: Tap) -> None:
    tap.check_finite()
    for grid in tap.on("/local_costmap/costmap"):
        values = np.frombuffer(grid.data, dtype=np.int8)
        assert values.size == grid.info.width * grid.info.height
        assert values.size == 0 or (values.min() >= -1 and values.max() <= 100), "costs outside Nav2's -1..100"
        assert grid.info.resolution > 0 and grid.header.frame_id == "odom"


def run_costmap(node: CostmapNode, actions: list[Any], confidence: bool = False) -> None:
    """`confidence`: the node takes segmentation/confidence too; each set's mask message is sent there as well."""
    tap = Tap(node)
    clock = Clock()
    for op, action in actions:
        clock.apply(op)
        kind, *msgs = action
        for msg in msgs:
            msg.header.stamp = clock.stamp()
        if kind == "set":
            depth, mask, info, odom = msgs
            node._pose._on_odom(odom)
            node._add(0, depth)
            node._add(1, mask)
            node._add(2, info)
            if confidence:
                node._depth_sets.add(3, mask)
        elif kind == "odom":
            node._pose._on_odom(msgs[0])
        else:  # the subscriptions' lambdas call _add with the input's index
            node._add({"depth": 0, "mask": 1, "info": 2}[kind], msgs[0])
        check_costmap_outputs(tap)
    event(f"costmap: {'published' if tap.on('/local_costmap/costmap') else 'nothing published'}")


@QUICK
@given(actions=costmap_actions)
def test_costmap_node_survives_any_input_and_publishes_only_nav2_costs(context: Context, actions: list[Any]) -> None:
    overrides = [Parameter("publish_rate_hz", value=0.0)]  # every update published: more output to check
    with fresh(lambda: CostmapNode(context=context, parameter_overrides=overrides)) as node, address_space_headroom():
        run_costmap(node, actions)


@QUICK
@given(actions=costmap_actions)
def test_costmap_node_with_confidence_survives_any_input_and_publishes_only_nav2_costs(
    context: Context, actions: list[Any]
) -> None:
    overrides = [Parameter("publish_rate_hz", value=0.0), Parameter("min_floor_confidence", value=0.6)]
    with fresh(lambda: CostmapNode(context=context, parameter_overrides=overrides)) as node, address_space_headroom():
        run_costmap(node, actions, confidence=True)


@pytest.mark.slow
@MANY
@given(actions=costmap_actions)
def test_costmap_node_survives_any_input_many(context: Context, actions: list[Any]) -> None:
    overrides = [Parameter("publish_rate_hz", value=0.0)]
    with fresh(lambda: CostmapNode(context=context, parameter_overrides=overrides)) as node, address_space_headroom():
        run_costmap(node, actions)


# --- OccupancyGrid, Path and goals for the planner and the controller --------------------------------

GRID_SIDE = 40  # 4 m at 0.1 m, origin (-2, -2): the valid template


def template_cells() -> NDArray[np.int64]:
    """The valid grid's cells: free, a wall at x = 1 m with a gap between y = -1.5 and -1 m."""
    values = np.zeros(GRID_SIDE * GRID_SIDE, dtype=np.int64)
    values[np.arange(GRID_SIDE) * GRID_SIDE + 30] = 100
    values[5 * GRID_SIDE + 30 : 10 * GRID_SIDE + 30 : GRID_SIDE] = 0
    return values


@dataclass(frozen=True)
class GridSpec:
    """An OccupancyGrid to build: a failure report shows these few fields, not 1600 cells."""

    width: int = GRID_SIDE
    height: int = GRID_SIDE
    spots: tuple[tuple[int, int], ...] = ()  # (index, value) written over the template's cells
    data: tuple[int, ...] | None = None  # replaces the cells altogether
    resolution: float = 0.1
    origin: tuple[float, float] = (-2.0, -2.0)
    quat: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 1.0)
    frame: str = "odom"

    def msg(self) -> OccupancyGrid:
        values = template_cells()
        for i, v in self.spots:
            values[i] = v
        data = values if self.data is None else list(self.data)
        return grid_msg(self.width, self.height, data, self.resolution, self.origin, self.quat, self.frame)


@st.composite
def costmaps(draw: st.DrawFn) -> GridSpec:
    """Often a valid 40 x 40 grid (any int8 values in some), else inconsistent info/data and bad geometry."""
    spots = draw(st.lists(st.tuples(st.integers(0, GRID_SIDE**2 - 1), st.integers(-128, 127)), max_size=20))
    spec = GridSpec(spots=tuple(spots))
    broken = pick_flaw(draw, None, ["size", "data", "resolution", "origin", "orientation", "frame"], 6)
    if broken == "size":
        width = draw(st.one_of(st.integers(0, 50), st.sampled_from(HUGE_U32)))
        height = draw(st.one_of(st.integers(0, 50), st.sampled_from(HUGE_U32)))
        return GridSpec(width, height, spec.spots)
    if broken == "data":
        data = draw(st.one_of(st.just([]), st.lists(st.integers(-128, 127), max_size=60)))
        return GridSpec(data=tuple(data))
    if broken == "resolution":
        resolution = draw(st.one_of(st.sampled_from([0.0, -0.1, math.nan, math.inf, 1e-30, 1e30]), nasty_floats))
        return GridSpec(spots=spec.spots, resolution=resolution)
    if broken == "origin":
        return GridSpec(spots=spec.spots, origin=(draw(nasty_floats), draw(nasty_floats)))
    if broken == "orientation":
        return GridSpec(spots=spec.spots, quat=draw(quaternions))
    if broken == "frame":
        return GridSpec(spots=spec.spots, frame=draw(frames))
    return spec


@st.composite
def goals(draw: st.DrawFn) -> PoseStamped:
    """Often a valid goal inside the template grid, else NaN/inf/huge poses, bad quaternions, other frames."""
    x, y, quat, frame = draw(st.floats(-1.8, 1.8)), draw(st.floats(-1.8, 1.8)), yaw_quat(draw(small_floats)), "odom"
    broken = pick_flaw(draw, None, ["position", "quaternion", "frame"], 6)
    if broken == "position":
        x, y = draw(nasty_floats), draw(nasty_floats)
    elif broken == "quaternion":
        quat = draw(quaternions)
    elif broken == "frame":
        frame = draw(frames)
    return pose_stamped(x, y, quat, frame)


@st.composite
def plans(draw: st.DrawFn) -> tuple[PathMsg, bool]:
    """(a Path, whether it is garbage): often a straight valid path along +x, else empty, NaN, wrong frame."""
    n = draw(st.integers(1, 12))
    xy = [(2.0 * i / max(n - 1, 1), 0.0) for i in range(n)]
    quats = [yaw_quat(0.0)] * n
    frame = draw(st.sampled_from(["odom", "/odom"]))
    broken = pick_flaw(draw, None, ["empty", "nan_point", "quaternion", "frame", "any", "far"], 6)
    garbage = broken in ("empty", "nan_point", "frame")
    if broken == "empty":
        xy, quats = [], []
    elif broken == "nan_point":
        i = draw(st.integers(0, n - 1))
        xy[i] = (draw(st.sampled_from([math.nan, math.inf, -math.inf, 0.0])), draw(st.sampled_from([math.nan, 1.0])))
        garbage = not all(math.isfinite(v) for v in xy[i])
    elif broken == "quaternion":
        quats[-1] = draw(quaternions)
        garbage = not all(math.isfinite(v) for v in quats[-1])
    elif broken == "frame":
        frame = draw(frames)
        garbage = frame.lstrip("/") != "odom"
    elif broken in ("any", "far"):  # random points: garbage when one is not finite
        points = nasty_floats if broken == "any" else st.floats(-1e300, 1e300)
        xy = draw(st.lists(st.tuples(points, points), min_size=0, max_size=6))
        quats = [draw(quaternions) for _ in xy]
        garbage = (
            not xy or not all(math.isfinite(v) for p in xy for v in p) or not all(math.isfinite(v) for v in quats[-1])
        )
    msg = PathMsg()
    msg.header.frame_id = frame
    for (x, y), quat in zip(xy, quats, strict=True):
        msg.poses.append(pose_stamped(x, y, quat, frame))
    return msg, garbage


# --- planner_node -----------------------------------------------------------------------------------

planner_actions = st.lists(
    st.tuples(
        time_ops,
        st.one_of(
            st.tuples(st.just("costmap"), costmaps()),
            st.tuples(st.just("odom"), odometries(near=(-1.5, -1.5))),
            st.tuples(st.just("goal"), goals()),
            # odometry then a costmap at the same stamp, as the running stack sends them: plans get made
            st.tuples(st.just("tick"), st.tuples(odometries(near=(-1.5, -1.5)), costmaps())),
        ),
    ),
    min_size=1,
    max_size=10,
)


def check_planner_outputs(tap: Tap) -> None:
    tap.check_finite()
    for path in tap.on("/plan"):
        assert path.header.frame_id == "odom"
        for pose in path.poses:
            q = pose.pose.orientation
            assert abs(math.hypot(q.x, q.y, q.z, q.w) - 1.0) < 1e-6, f"plan pose with a non-unit quaternion {q}"


def run_planner(node: PlannerNode, actions: list[Any]) -> None:
    tap = Tap(node)
    clock = Clock()
    handlers = {"costmap": node._on_costmap, "odom": node._on_odom, "goal": node._goals.on_goal}
    for op, (kind, payload) in actions:
        clock.apply(op)
        calls = [("odom", payload[0]), ("costmap", payload[1])] if kind == "tick" else [(kind, payload)]
        for handler, spec in calls:
            msg = spec.msg() if isinstance(spec, GridSpec) else spec
            msg.header.stamp = clock.stamp()
            handlers[handler](msg)
            check_planner_outputs(tap)
    event(f"planner: {'planned' if any(p.poses for p in tap.on('/plan')) else 'never planned'}")


def make_planner(context: Context) -> PlannerNode:
    node = PlannerNode(context=context)
    # Markers are only drawn for a subscriber (RViz): pretend there is one so that path runs too.
    node._marker_pub.get_subscription_count = lambda: 1  # type: ignore[method-assign]
    return node


@QUICK
@given(actions=planner_actions)
def test_planner_node_survives_any_input_and_publishes_finite_plans(context: Context, actions: list[Any]) -> None:
    with fresh(lambda: make_planner(context)) as node:
        run_planner(node, actions)


@pytest.mark.slow
@MANY
@given(actions=planner_actions)
def test_planner_node_survives_any_input_many(context: Context, actions: list[Any]) -> None:
    with fresh(lambda: make_planner(context)) as node:
        run_planner(node, actions)


# --- controller_node ---------------------------------------------------------------------------------


@dataclass
class CmdListener:
    """A real subscription to /cmd_vel in the test's context, spun only by the test."""

    node: Node
    executor: SingleThreadedExecutor
    received: list[TwistStamped]

    def catch_up(self, count: int, timeout_s: float = 2.0) -> bool:
        """Spin until `count` commands were received in all; whether exactly that many were."""
        end = time.monotonic() + timeout_s
        while len(self.received) < count and time.monotonic() < end:
            self.executor.spin_once(timeout_sec=0.005)
        return len(self.received) == count


@pytest.fixture(scope="module")
def cmd_listener(context: Context) -> Iterator[CmdListener]:
    node = Node("fuzz_cmd_listener", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    received: list[TwistStamped] = []
    # The base's profile (reliable, depth 10): the test spins it after every handler call, which sends at most two.
    # TwistStamped: the controller's default (use_stamped_cmd_vel).
    node.create_subscription(TwistStamped, "/cmd_vel", received.append, COMMAND_QOS)
    try:
        yield CmdListener(node, executor, received)
    finally:
        executor.shutdown(timeout_sec=1.0)
        node.destroy_node()


controller_actions = st.lists(
    st.tuples(
        time_ops,
        st.one_of(
            st.tuples(st.just("plan"), plans()),
            st.tuples(st.just("odom"), odometries(near=(0.3, 0.0))),
            st.tuples(st.just("costmap"), costmaps()),
        ),
    ),
    min_size=1,
    max_size=12,
)


def twist_of(msg: Twist | TwistStamped) -> Twist:
    """The twist of a command, whichever type it came as."""
    return msg.twist if isinstance(msg, TwistStamped) else msg


def is_zero(msg: Twist | TwistStamped) -> bool:
    twist = twist_of(msg)
    return bool(twist.linear.x == 0.0 and twist.angular.z == 0.0)


def run_controller(node: ControllerNode, tap: Tap, listener: CmdListener, actions: list[Any]) -> None:
    """Feed the actions; after each handler call, what it published on /cmd_vel is checked."""
    clock = Clock()
    # A valid costmap first, so valid plan + odometry can make the robot move: garbage must then stop it.
    node._on_costmap(GridSpec(data=(0,) * GRID_SIDE**2).msg())
    plan_refused = True  # no plan yet: no motion
    moved = 0
    for op, (kind, payload) in actions:
        clock.apply(op)
        before = len(tap.on("/cmd_vel"))
        if kind == "plan":
            msg, garbage = payload
            msg.header.stamp = clock.stamp()
            node._on_plan(msg)
            plan_refused = garbage
        elif kind == "odom":
            msg, garbage = payload, odom_is_garbage(payload)
            msg.header.stamp = clock.stamp()
            node._on_odom(msg)
        else:
            # A costmap never makes the robot move by itself; a refused one keeps the last, which ages out.
            msg, garbage = payload.msg(), True
            msg.header.stamp = clock.stamp()
            node._on_costmap(msg)
        tap.check_finite()
        sent = tap.on("/cmd_vel")[before:]
        moved += sum(not is_zero(t) for t in sent)
        assert not garbage or all(is_zero(t) for t in sent), f"non-zero cmd_vel {sent} after garbage {kind}: {msg}"
        if garbage and kind != "costmap":  # told to stop at once, not merely left running on the last command
            assert sent, f"no zero cmd_vel after garbage {kind}: {msg}"
        assert not plan_refused or all(is_zero(t) for t in sent), f"non-zero cmd_vel {sent} with the plan refused"
        # The same commands, in order, arrive over DDS at a real subscriber.
        assert listener.catch_up(len(tap.on("/cmd_vel"))), "/cmd_vel: not every command published was received"
        got = [(twist_of(t).linear.x, twist_of(t).angular.z) for t in listener.received[before:]]
        assert got == [(twist_of(t).linear.x, twist_of(t).angular.z) for t in sent]
    event(f"controller: {'moved' if moved else 'never moved'}")


@contextlib.contextmanager
def controller_for(context: Context, listener: CmdListener) -> Iterator[tuple[ControllerNode, Tap]]:
    """A fresh controller whose cmd_vel the listener has matched; its final zero is received too."""
    taps: list[Tap] = []
    try:
        with fresh(lambda: ControllerNode(context=context)) as node:
            taps.append(Tap(node))
            end = time.monotonic() + 5.0
            while node._cmd_pub.get_subscription_count() == 0 and time.monotonic() < end:
                listener.executor.spin_once(timeout_sec=0.005)
            listener.received.clear()
            yield node, taps[0]
    finally:
        # destroy_node published the shutdown zero: take it in, failed example or not, so the next
        # example's count starts clean
        received_all = bool(taps) and listener.catch_up(len(taps[0].on("/cmd_vel")))
    assert received_all and is_zero(taps[0].on("/cmd_vel")[-1])


@QUICK
@given(actions=controller_actions)
def test_controller_node_never_moves_on_garbage_and_publishes_finite_commands(
    context: Context, cmd_listener: CmdListener, actions: list[Any]
) -> None:
    with controller_for(context, cmd_listener) as (node, tap):
        run_controller(node, tap, cmd_listener, actions)


@pytest.mark.slow
@MANY
@given(actions=controller_actions)
def test_controller_node_never_moves_on_garbage_many(
    context: Context, cmd_listener: CmdListener, actions: list[Any]
) -> None:
    with controller_for(context, cmd_listener) as (node, tap):
        run_controller(node, tap, cmd_listener, actions)


# --- sim_node: cmd_vel -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sim(context: Context) -> Iterator[SimNode]:
    values = {"step_mode": "fast", "width_px": 32, "height_px": 24, "world_seed": 3}
    with fresh(
        lambda: SimNode(context=context, parameter_overrides=[Parameter(k, value=v) for k, v in values.items()])
    ) as node:
        yield node


@st.composite
def commands(draw: st.DrawFn) -> Twist | TwistStamped:
    twist = Twist()
    twist.linear.x = draw(st.one_of(st.floats(-1.0, 1.0), nasty_floats))
    twist.angular.z = draw(st.one_of(st.floats(-2.0, 2.0), nasty_floats))
    twist.linear.y, twist.angular.x = draw(nasty_floats), draw(nasty_floats)  # ignored by a diff-drive base
    if not draw(st.booleans()):
        return twist
    stamped = TwistStamped(twist=twist)
    stamped.header.frame_id = draw(frames)
    return stamped


def run_sim(node: SimNode, steps: list[tuple[Twist | TwistStamped, int]]) -> None:
    tap = Tap(node)
    for cmd, n_steps in steps:
        node._on_cmd(cmd)
        for _ in range(n_steps):
            node._on_step()
        tap.check_finite()
        tap.messages.clear()


@QUICK
@given(steps=st.lists(st.tuples(commands(), st.integers(0, 4)), min_size=1, max_size=6))
def test_sim_node_survives_any_command_and_keeps_publishing_finite_state(
    sim: SimNode, steps: list[tuple[Twist | TwistStamped, int]]
) -> None:
    run_sim(sim, steps)


@pytest.mark.slow
@MANY
@given(steps=st.lists(st.tuples(commands(), st.integers(0, 6)), min_size=1, max_size=10))
def test_sim_node_survives_any_command_many(sim: SimNode, steps: list[tuple[Twist | TwistStamped, int]]) -> None:
    run_sim(sim, steps)


# --- navigator_node: odometry, status topics, diagnostics, goals, feedback ----------------------------

# NavigateToPose's feedback and result built by Nav2Adapter on plain objects: nav2_msgs is not installed.
NAV2_STAND_IN = SimpleNamespace(Feedback=SimpleNamespace, Result=SimpleNamespace)


class StandInNav2Adapter(Nav2Adapter):
    """Nav2Adapter as is, its feedback built on the stand-in type instead of the served Fibonacci action."""

    def feedback(self, action_type: Any, progress: Any, current_pose: PoseStamped, eta_s: float) -> Any:
        return super().feedback(NAV2_STAND_IN, progress, current_pose, eta_s)


@pytest.fixture(scope="module")
def fibonacci() -> Any:
    return pytest.importorskip("test_msgs.action", reason="ros-kilted-test-msgs not installed").Fibonacci


def make_navigator(context: Context, action_type: Any) -> NavigatorNode:
    return NavigatorNode(action_type=action_type, adapter=StandInNav2Adapter(), context=context)


@pytest.fixture(scope="module")
def navigator(context: Context, fibonacci: Any) -> Iterator[Node]:
    with fresh(lambda: make_navigator(context, fibonacci)) as node:
        yield node


class FakeHandle:
    """What _tick uses of a ServerGoalHandle: its cancel flag and feedback."""

    def __init__(self) -> None:
        self.is_cancel_requested = False
        self.feedback: list[Any] = []

    def publish_feedback(self, msg: Any) -> None:
        self.feedback.append(msg)


def diagnostics_arrays() -> st.SearchStrategy[DiagnosticArray]:
    values = st.lists(
        st.builds(KeyValue, key=st.sampled_from(["status", "x", ""]), value=st.text(max_size=12)), max_size=3
    )
    status = st.builds(
        DiagnosticStatus,
        name=st.one_of(st.sampled_from(["controller_node: controller", ": controller", "x"]), st.text(max_size=12)),
        message=st.text(max_size=10),
        values=values,
    )
    return st.builds(DiagnosticArray, status=st.lists(status, max_size=3))


statuses = st.one_of(
    st.sampled_from(
        ["following", "goal_reached", "no_plan", "stale_input", "found: ok", "no_path: x", "goal_rejected: x"]
    ),
    st.text(max_size=20),
)

navigator_actions = st.lists(
    st.one_of(
        st.tuples(st.just("odom"), odometries(near=(0.5, 0.5))),
        st.tuples(st.just("planner"), statuses),
        st.tuples(st.just("controller"), statuses),
        st.tuples(st.just("diagnostics"), diagnostics_arrays()),
        st.tuples(st.just("goal"), goals()),
        st.tuples(st.just("tick"), st.just(None)),
        st.tuples(st.just("cancel"), st.just(None)),
    ),
    min_size=1,
    max_size=12,
)


def check_feedback(fb: Any) -> None:
    """Nav2's feedback fields: durations within builtin_interfaces' int32/uint32, a finite float32 distance."""
    for duration in (fb.navigation_time, fb.estimated_time_remaining):
        assert 0 <= duration.sec <= INT32_MAX and 0 <= duration.nanosec < NS, duration
    assert math.isfinite(fb.distance_remaining) and abs(fb.distance_remaining) <= FLOAT32_MAX, fb.distance_remaining
    assert not non_finite_fields(fb.current_pose), fb.current_pose


def run_navigator(context: Context, action_type: Any, actions: list[Any]) -> None:
    with fresh(lambda: make_navigator(context, action_type)) as node:
        feed_navigator(node, actions)


def feed_navigator(node: NavigatorNode, actions: list[Any]) -> None:
    tap = Tap(node)
    watcher = node.watcher
    clock = Clock()
    handle: FakeHandle | None = None  # of the goal being followed
    try:
        for kind, payload in actions:
            if kind == "odom":
                clock.apply(("step", 50_000_000))
                payload.header.stamp = clock.stamp()
                watcher._on_odom(payload)
            elif kind == "planner":
                watcher._on_planner(String(data=payload))
            elif kind == "controller":
                watcher._on_controller(String(data=payload))
            elif kind == "diagnostics":
                watcher._on_diagnostics(payload)
            elif kind == "goal":
                request = SimpleNamespace(pose=payload)  # NavigateToPose.Goal's `pose`
                accepted = node._on_goal_request(request) == GoalResponse.ACCEPT
                event(f"navigator: goal {'accepted' if accepted else 'rejected'}")
                if not accepted:
                    continue
                target = node.adapter.target(request)
                assert isinstance(target, GoalTarget) and math.isfinite(target.x_m) and math.isfinite(target.y_m)
                assert target.yaw_rad is None or math.isfinite(target.yaw_rad), target
                # What _execute and _try_send do once the stack is up, without the action round trip.
                handle = FakeHandle()
                goal = ActionGoal(handle, target, Future(), time.monotonic() + 10.0)  # type: ignore[arg-type]
                goal.tracker = watcher.send_goal(
                    target.x_m, target.y_m, target.yaw_rad, target.frame, node.tracker_config
                )
                node._goal = goal
            elif kind == "cancel" and handle is not None:
                handle.is_cancel_requested = True
            else:
                node._tick()
                for fb in handle.feedback if handle is not None else []:
                    check_feedback(fb)
            tap.check_finite()
    finally:
        node._goal = None  # nothing for destroy_node to end: the fake handle cannot abort


@QUICK
@given(actions=navigator_actions)
def test_navigator_node_survives_any_input_and_sends_finite_goals_and_feedback(
    context: Context, fibonacci: Any, actions: list[Any]
) -> None:
    run_navigator(context, fibonacci, actions)


@pytest.mark.slow
@MANY
@given(actions=navigator_actions)
def test_navigator_node_survives_any_input_many(context: Context, fibonacci: Any, actions: list[Any]) -> None:
    run_navigator(context, fibonacci, actions)


# --- safety_node: the controller's command, depth, camera_info, e-stop ----------------------------------


@st.composite
def nav_commands(draw: st.DrawFn) -> Twist:
    twist = Twist()
    twist.linear.x = draw(st.one_of(st.floats(-1.0, 1.0), st.just(0.4), nasty_floats))
    twist.angular.z = draw(st.one_of(st.floats(-2.0, 2.0), st.just(0.0), nasty_floats))
    return twist


safety_actions = st.lists(
    st.tuples(
        time_ops,
        st.one_of(
            st.tuples(st.just("cmd"), nav_commands()),
            st.tuples(st.just("cmd"), nav_commands()),
            st.tuples(st.just("depth"), depth_images()),
            st.tuples(st.just("info"), camera_infos()),
            # camera_info then depth at one stamp, as a camera sends them: verdicts get made
            st.tuples(st.just("frame"), st.tuples(camera_infos(), depth_images())),
            st.tuples(st.just("frame"), st.tuples(camera_infos(False), depth_images(False))),
            st.tuples(st.just("e_stop"), st.booleans()),
        ),
    ),
    min_size=1,
    max_size=12,
)


def depth_is_usable(msg: Image, intrinsics: Any) -> bool:
    """Whether safety_node can judge this depth image with the camera model it holds (the oracle)."""
    if intrinsics is None or msg.encoding not in ("16UC1", "mono16", "32FC1"):
        return False
    try:
        return bool(image_to_numpy(msg).shape == (intrinsics.height, intrinsics.width))
    except ImageConversionError:
        return False


def run_safety(node: SafetyNode, actions: list[Any]) -> None:
    """Feed the actions; the command out is never larger than the command in, and zero while the
    e-stop is engaged or since bad depth or camera_info, until a usable depth frame is judged."""
    tap = Tap(node)
    # Depth is judged against the node clock (a stamp ages it): stamps start at the node's now.
    clock = Clock(node.get_clock().now().nanoseconds)
    intrinsics: Any = None
    depth_lost = True  # no verdict yet
    e_stop = False
    passed = 0
    for op, (kind, payload) in actions:
        clock.apply(op)
        before = len(tap.on("/cmd_vel"))
        if kind == "cmd":
            node._on_cmd(payload)
        elif kind == "e_stop":
            node._on_e_stop(Bool(data=payload))
            e_stop = payload
        for info in [payload] if kind == "info" else [payload[0]] if kind == "frame" else []:
            info.header.stamp = clock.stamp()
            node._on_info(info)
            try:
                intrinsics = camera_info_to_intrinsics(info)
            except CameraInfoError:
                intrinsics, depth_lost = None, True
        for depth in [payload] if kind == "depth" else [payload[1]] if kind == "frame" else []:
            depth.header.stamp = clock.stamp()
            node._on_depth(depth)
            usable = depth_is_usable(depth, intrinsics)
            # usable but out of order: ignored, so a lost verdict stays lost
            depth_lost = not usable or (depth_lost and node.step.depth_order.newest_ns != clock.stamp_ns())
        tap.check_finite()
        sent = tap.on("/cmd_vel")[before:]
        garbage = kind != "cmd" or not (math.isfinite(payload.linear.x) and math.isfinite(payload.angular.z))
        if garbage or e_stop or depth_lost:
            assert all(is_zero(t) for t in sent), f"non-zero {sent} after {kind} (e_stop {e_stop}, lost {depth_lost})"
        else:
            lin, ang = payload.linear.x, payload.angular.z
            for out in map(twist_of, sent):
                assert abs(out.linear.x) <= abs(lin) and out.linear.x * lin >= 0.0, (payload, out)
                assert abs(out.angular.z) <= abs(ang) and out.angular.z * ang >= 0.0, (payload, out)
                passed += not is_zero(out)
    event(f"safety: {'passed a command' if passed else 'passed nothing'}")


@QUICK
@given(actions=safety_actions)
def test_safety_node_never_passes_more_than_asked_and_stops_on_bad_depth_or_e_stop(
    context: Context, actions: list[Any]
) -> None:
    with fresh(lambda: SafetyNode(context=context)) as node, address_space_headroom():
        run_safety(node, actions)


@pytest.mark.slow
@MANY
@given(actions=safety_actions)
def test_safety_node_never_passes_more_than_asked_many(context: Context, actions: list[Any]) -> None:
    with fresh(lambda: SafetyNode(context=context)) as node, address_space_headroom():
        run_safety(node, actions)


# --- the bugs these fuzzers found, pinned as plain examples ------------------------------------------


def stamped(msg: Any, sec: int) -> Any:
    msg.header.stamp = Time(sec=sec)
    return msg


def free_grid(frame: str = "odom", origin: tuple[float, float] = (-2.0, -2.0)) -> OccupancyGrid:
    return GridSpec(data=(0,) * GRID_SIDE**2, origin=origin, frame=frame).msg()


@pytest.mark.parametrize(
    ("x", "quat"),
    [(1.0, (0.0, 0.0, 1e300, 1e300)), (1.7e308, yaw_quat(0.0)), (2e6, yaw_quat(0.0))],
    ids=["quaternion_overflows_to_nan_yaw", "goal_overflows_cell_arithmetic", "goal_beyond_odometry"],
)
def test_planner_refuses_goals_without_a_usable_yaw_or_position(
    context: Context, x: float, quat: tuple[float, float, float, float]
) -> None:
    # Before: a NaN yaw went into the last pose of /plan; 1.7e308 raised OverflowError from the costmap handler.
    with fresh(lambda: make_planner(context)) as node:
        tap = Tap(node)
        node._on_odom(stamped(odometry(-1.5, -1.5, yaw_quat(0.0)), 1000))
        node._goals.on_goal(pose_stamped(x, 0.0, quat))
        node._on_costmap(stamped(free_grid(), 1000))
        tap.check_finite()
        assert node._goal is None
        assert [m.data.split(":")[0] for m in tap.on("/planner_status")] == ["goal_rejected"]


def test_planner_stops_when_the_robot_is_outside_the_costmap_window(context: Context) -> None:
    # Before: PlannerError (start outside the grid) escaped the costmap handler.
    with fresh(lambda: make_planner(context)) as node:
        tap = Tap(node)
        node._on_odom(stamped(odometry(-1.5, -1.5, yaw_quat(0.0)), 1000))
        node._goals.on_goal(pose_stamped(1.0, 0.0, yaw_quat(0.0)))
        node._on_costmap(stamped(free_grid(origin=(0.0, 0.0)), 1000))
        assert tap.on("/planner_status")[-1].data.startswith("no_path: start (-1.5, -1.5) m is outside")
        assert tap.on("/plan")[-1].poses == []


def test_planner_and_controller_refuse_a_costmap_whose_origin_overflows_cell_arithmetic(context: Context) -> None:
    # Before: grid_from_msg took an origin of 1.7e308 (finite), and the goal's cell index raised OverflowError.
    with fresh(lambda: make_planner(context)) as node:
        tap = Tap(node)
        node._on_odom(stamped(odometry(-1.5, -1.5, yaw_quat(0.0)), 1000))
        node._goals.on_goal(pose_stamped(1.0, 0.0, yaw_quat(0.0)))
        node._on_costmap(stamped(free_grid(origin=(1.7e308, 0.0)), 1000))
        assert tap.on("/plan") == []
    with fresh(lambda: ControllerNode(context=context)) as controller:
        controller._on_costmap(stamped(free_grid(origin=(1.7e308, 0.0)), 1000))
        assert controller.step.grid is None


def test_planner_ignores_odometry_in_another_frame(context: Context) -> None:
    with fresh(lambda: make_planner(context)) as node:
        node._on_odom(stamped(odometry(-1.5, -1.5, yaw_quat(0.0), frame="map"), 1000))
        assert node._pose is None
        node._on_odom(stamped(odometry(-1.5, -1.5, yaw_quat(0.0), frame=""), 1000))  # unset: taken as odom
        assert node._pose is not None


def straight_plan(frame: str = "odom") -> PathMsg:
    msg = PathMsg()
    msg.header.frame_id = frame
    msg.poses = [pose_stamped(0.2 * i, 0.0, yaw_quat(0.0), frame) for i in range(11)]
    return msg


def test_controller_stops_on_odometry_or_costmap_in_another_frame(context: Context, cmd_listener: CmdListener) -> None:
    # Before: odometry in 'map' against a plan in 'odom' drove the robot (0.5 m/s), a 'map' costmap was used.
    with controller_for(context, cmd_listener) as (node, tap):
        node._on_costmap(stamped(free_grid(), 1000))
        node._on_plan(straight_plan())
        node._on_odom(stamped(odometry(0.3, 0.0, yaw_quat(0.0)), 1000))
        assert not is_zero(tap.on("/cmd_vel")[-1])  # the valid inputs do move it
        node._on_odom(stamped(odometry(0.3, 0.0, yaw_quat(0.0), frame="map"), 1001))
        assert is_zero(tap.on("/cmd_vel")[-1])
        grid = node.step.grid
        node._on_costmap(stamped(free_grid(frame="map"), 1001))
        assert node.step.grid is grid


def test_controller_refuses_a_plan_whose_final_orientation_is_not_finite(
    context: Context, cmd_listener: CmdListener
) -> None:
    # Before: atan2 turned (0, 0, inf, 1e-300) into a goal yaw of 3 pi / 4 and the plan was followed.
    with controller_for(context, cmd_listener) as (node, tap):
        plan = straight_plan()
        plan.poses[-1].pose.orientation.z, plan.poses[-1].pose.orientation.w = math.inf, 1e-300
        node._on_plan(plan)
        assert not node.step.has_plan and is_zero(tap.on("/cmd_vel")[-1])


def test_navigator_feedback_survives_a_nan_speed_and_refuses_unusable_goals(context: Context, fibonacci: Any) -> None:
    # Before: a NaN twist made _tick raise (round(NaN) in the ETA); a goal at 1e300 overflowed the
    # feedback's Duration; a quaternion of ~1e300 components gave the goal a NaN yaw.
    with fresh(lambda: make_navigator(context, fibonacci)) as node:
        navigator: Any = node
        odom = stamped(odometry(0.0, 0.0, yaw_quat(0.0)), 5)
        odom.twist.twist.linear.x = math.nan
        navigator.watcher._on_odom(odom)
        for x, quat in [(1e300, yaw_quat(0.0)), (1.0, (0.0, 0.0, 1e300, 1e300))]:
            with pytest.raises(ValueError):
                navigator.adapter.target(SimpleNamespace(pose=pose_stamped(x, 0.0, quat)))
        feed_navigator(navigator, [("goal", pose_stamped(3.0, 0.0, yaw_quat(0.0))), ("tick", None)])


# --- declared sizes far beyond the data: no allocation the data does not justify ---------------------


@contextlib.contextmanager
def address_space_headroom(headroom_bytes: int = 1 << 30) -> Iterator[None]:
    """Cap this process's address space at its size now plus `headroom_bytes` meanwhile (Linux).

    An unbounded allocation then fails with MemoryError instead of the OOM killer ending the whole
    test run (it did, before safety_node's fix) and hurting whatever else shares the machine.
    """
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            size = int(statm.read().split()[0]) * resource.getpagesize()
    except OSError:  # no /proc: no cap
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = size + headroom_bytes
    resource.setrlimit(resource.RLIMIT_AS, (cap if hard == resource.RLIM_INFINITY else min(cap, hard), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def spy_warnings(node: Node) -> list[str]:
    """Every warning text the node's `_warn` is given (a swallowed MemoryError shows up in one)."""
    texts: list[str] = []
    warn = node._warn  # type: ignore[attr-defined]

    def spy(*args: Any) -> None:
        texts.append(" ".join(str(a) for a in args))
        warn(*args)

    node._warn = spy  # type: ignore[attr-defined]
    return texts


SIZES = st.sampled_from([*HUGE_U32, 3000, 4000])


@settings(max_examples=30, deadline=None)
@given(
    height=SIZES,
    width=SIZES,
    step=st.one_of(st.integers(0, 64), st.sampled_from(HUGE_U32)),
    data=st.binary(max_size=256),
    encoding=st.sampled_from(["rgb8", "16UC1", "32FC1", "mono8"]),
)
def test_huge_declared_sizes_allocate_nothing_big(
    context: Context,
    segmentation: SegmentationNode,
    height: int,
    width: int,
    step: int,
    data: bytes,
    encoding: str,
) -> None:
    """Images and camera_info declaring up to 2^32 - 1 pixels a side, with a few bytes of data."""
    image = image_msg(height, width, step, encoding, data)
    small_depth = image_msg(CAM_H, CAM_W, CAM_W * 2, "16UC1", bytes(range(96)))
    small_mask = image_msg(CAM_H, CAM_W, CAM_W, "mono8", b"\xff" * (CAM_W * CAM_H))
    info = CameraInfo(width=width, height=height)
    info.k = K_VALID
    grid = grid_msg(width, height, list(data[:64]))
    with (
        fresh(lambda: CostmapNode(context=context)) as costmap,
        fresh(lambda: PlannerNode(context=context)) as planner,
        fresh(lambda: ControllerNode(context=context)) as controller,
        fresh(lambda: SafetyNode(context=context)) as safety,
    ):
        now = safety.get_clock().now().to_msg()
        for msg in (image, small_depth, small_mask, info):
            msg.header.stamp = now
        odom = odometry(0.0, 0.0, yaw_quat(0.0))
        odom.header.stamp = now
        warned = [spy_warnings(node) for node in (segmentation, costmap, planner, controller, safety)]
        with address_space_headroom(), allocation_limit(16 * 1024 * 1024):
            segmentation._on_image(image)
            costmap._pose._on_odom(odom)
            costmap._add(2, info)  # the camera model says huge, the images are small (or say huge too)
            costmap._add(0, small_depth)
            costmap._add(1, small_mask)
            costmap._add(0, image)
            costmap._add(1, image)
            planner._on_costmap(grid)
            controller._on_costmap(grid)
            safety._on_info(info)
            safety._on_depth(small_depth)
            safety._on_depth(image)
        for texts in warned:
            assert not [t for t in texts if "MemoryError" in t], texts


# --- parameter callbacks --------------------------------------------------------------------------

PT = Parameter.Type
# One value of each parameter type: the ones not of a parameter's declared type are "wrong type".
SAMPLE_OF_TYPE: dict[Parameter.Type, st.SearchStrategy[Any]] = {
    PT.BOOL: st.booleans(),
    PT.INTEGER: st.integers(-(2**63), 2**63 - 1),
    PT.DOUBLE: nasty_floats,
    PT.STRING: st.text(max_size=8),
    PT.BYTE_ARRAY: st.lists(st.binary(min_size=1, max_size=1), min_size=1, max_size=3),
    PT.BOOL_ARRAY: st.lists(st.booleans(), min_size=1, max_size=3),
    PT.INTEGER_ARRAY: st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=3),
    PT.DOUBLE_ARRAY: st.lists(nasty_floats, min_size=1, max_size=3),
    PT.STRING_ARRAY: st.lists(st.text(max_size=5), min_size=1, max_size=3),
}


def _outside(info: Any, integer: bool) -> st.SearchStrategy[Any]:
    """Values strictly outside [min_value, max_value] (a non-finite one too for doubles)."""
    options: list[st.SearchStrategy[Any]] = []
    if integer:
        if info.min_value is not None:
            options.append(st.integers(1, 2**40).map(lambda d: int(info.min_value) - d))
        if info.max_value is not None:
            options.append(st.integers(1, 2**40).map(lambda d: int(info.max_value) + d))
        return st.one_of(options) if options else st.nothing()
    options.append(st.sampled_from([math.nan, math.inf, -math.inf]))
    if info.min_value is not None:
        lo = float(info.min_value)
        options.append(st.floats(1e-3 * max(1.0, abs(lo)), 1e300).map(lambda d: lo - d))
    if info.max_value is not None:
        hi = float(info.max_value)
        options.append(st.floats(1e-3 * max(1.0, abs(hi)), 1e300).map(lambda d: hi + d))
    return st.one_of(options)


def bad_values(name: str, declared: Parameter.Type, info: Any) -> st.SearchStrategy[tuple[str, Parameter[Any]]]:
    """("wrong_type" | "bad_value", a Parameter) that the node must refuse."""

    def of_type(t: Parameter.Type) -> st.SearchStrategy[tuple[str, Parameter[Any]]]:
        return SAMPLE_OF_TYPE[t].map(lambda v: ("wrong_type", Parameter(name, t, v)))

    wrong = st.sampled_from([t for t in SAMPLE_OF_TYPE if t != declared]).flatmap(of_type)
    bad: list[st.SearchStrategy[Any]] = []
    if declared in (PT.INTEGER, PT.DOUBLE):
        bad.append(_outside(info, declared == PT.INTEGER))
    elif declared == PT.DOUBLE_ARRAY:
        length = info.length or 3
        good = (info.min_value if info.min_value is not None else 0.0) if info.max_value is None else info.max_value
        bad.append(
            st.tuples(st.integers(0, length - 1), _outside(info, False)).map(
                lambda iv: [float(good)] * iv[0] + [iv[1]] + [float(good)] * (length - 1 - iv[0])
            )
        )
        if info.length is not None:
            lengths = st.integers(1, 12).filter(lambda n: n != info.length)
            bad.append(lengths.map(lambda n: [float(good)] * n))
    if not bad:
        return wrong
    return st.one_of(wrong, st.one_of(bad).map(lambda v: ("bad_value", Parameter(name, declared, v))))


def parameter_updates(node: Node) -> st.SearchStrategy[tuple[str, Parameter[Any]]]:
    specs = [
        (name, node.get_parameter(name).type_, info)
        for cls in node._params.configs  # type: ignore[attr-defined]
        for name, info in param_info(cls).items()
    ]
    return st.sampled_from(specs).flatmap(lambda spec: bad_values(*spec))


def _snapshot(node: Node) -> tuple[dict[type, Any], dict[str, Any]]:
    configs = dict(node._params.configs)  # type: ignore[attr-defined]
    values = {
        name: (list(v) if isinstance(v := node.get_parameter(name).value, array.array | tuple) else v)
        for cls in configs
        for name in param_info(cls)
    }
    return configs, values


PARAM_NODES = ["segmentation", "costmap_node", "planner_node", "controller_node", "sim", "navigator"]


@pytest.fixture(scope="module")
def costmap_node(context: Context) -> Iterator[Node]:
    with fresh(lambda: CostmapNode(context=context)) as node:
        yield node


@pytest.fixture(scope="module")
def planner_node(context: Context) -> Iterator[Node]:
    with fresh(lambda: PlannerNode(context=context)) as node:
        yield node


@pytest.fixture(scope="module")
def controller_node(context: Context) -> Iterator[Node]:
    with fresh(lambda: ControllerNode(context=context)) as node:
        yield node


def _refuse_all(node: Node, updates: list[tuple[str, Parameter[Any]]]) -> None:
    before = _snapshot(node)
    for kind, update in updates:
        event(f"{kind}")
        [result] = node.set_parameters([update])
        assert not result.successful, f"{update.name} = {update.value!r} ({update.type_}) was accepted"
        if kind == "bad_value":
            assert update.name in result.reason, f"reason does not name '{update.name}': {result.reason}"
        assert _snapshot(node) == before, f"refused {update.name} = {update.value!r} changed the config"


@pytest.mark.parametrize("examples", [40, pytest.param(400, marks=pytest.mark.slow, id="many")])
@pytest.mark.parametrize("which", PARAM_NODES)
def test_bad_parameter_updates_are_refused_naming_the_parameter_and_change_nothing(
    request: pytest.FixtureRequest, which: str, examples: int
) -> None:
    node = request.getfixturevalue(which)

    @settings(max_examples=examples, deadline=None)
    @given(updates=st.lists(parameter_updates(node), min_size=1, max_size=3))
    def check(updates: list[tuple[str, Parameter[Any]]]) -> None:
        _refuse_all(node, updates)

    check()


@pytest.mark.parametrize("which", PARAM_NODES)
def test_wrong_type_parameter_update_names_the_parameter(request: pytest.FixtureRequest, which: str) -> None:
    node = request.getfixturevalue(which)
    name = next(n for cls in node._params.configs for n in param_info(cls) if node.get_parameter(n).type_ == PT.DOUBLE)
    [result] = node.set_parameters([Parameter(name, PT.STRING, "fast")])
    assert not result.successful
    assert name in result.reason, result.reason
