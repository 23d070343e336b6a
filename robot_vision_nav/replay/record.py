"""`rvn record`: the stack's inputs and outputs written to a rosbag2 mcap bag.

With the built-in simulator (the default), the node list of `ros.bringup` runs in this process as
`rvn demo` runs it (one executor, the simulator stepping flat out so slow perception slows the
clock, not the robot), the world's goal is sent on goal_pose, and the recording ends after
`seconds` of sim time or at the goal. With `live=True` the stack runs on whatever publishes the
camera and odometry topics (a camera driver, `ros2 bag play`) for `seconds` of wall time, or until
Ctrl-C. Each message is written with the recorder's clock as its log time (sim time with the
simulator), into a bag that appears under its name only when complete.

`compress=True` stores colour as image_transport's `.../compressed` (JPEG) and depth as
`.../compressedDepth` (PNG), as a robot's recorder usually does: bags a tenth of the size, which is
what the regression bags committed under test/data/bags use.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, cast

from robot_vision_nav.replay.bags import BagInfo, BagWriter, read_info
from robot_vision_nav.replay.errors import BagError
from robot_vision_nav.replay.images import encode_compressed_color, encode_compressed_depth
from robot_vision_nav.replay.topics import CAMERA_INFO, COLOR, DEPTH, GOAL, ODOM
from robot_vision_nav.ros.topics import SIM_LABELS

if TYPE_CHECKING:
    from builtin_interfaces.msg import Time as TimeMsg
    from rclpy.context import Context
    from sensor_msgs.msg import Image
    from std_msgs.msg import String

    from robot_vision_nav.nodes.planner_node import PlannerNode
    from robot_vision_nav.nodes.sim_node import SimNode
    from robot_vision_nav.ros.runner import InProcessStack

RECORDED_INPUTS: dict[str, str] = {
    "/" + COLOR: "sensor_msgs/msg/Image",
    "/" + DEPTH: "sensor_msgs/msg/Image",
    "/" + CAMERA_INFO: "sensor_msgs/msg/CameraInfo",
    "/" + ODOM: "nav_msgs/msg/Odometry",
    "/" + GOAL: "geometry_msgs/msg/PoseStamped",
}
JPEG_QUALITY = 90


@dataclass(frozen=True)
class RecordOptions:
    """What `rvn record` does; see its --help."""

    out: Path
    seconds: float = 10.0
    live: bool = False
    world_seed: int = 1
    compress: bool = False
    params_file: str = ""
    sim_params_file: str = ""
    model: str = ""
    device: str = ""
    extra_parameters: dict[str, dict[str, object]] = field(default_factory=dict)
    ground_truth: bool = False  # the simulator's class ids on /sim/labels too (for `rvn bag frames`)


class _Recorder:
    """Subscribes to every input and output topic and writes each message as it comes.

    `outputs` are the stack's (`replay.stack_output_types`): /cmd_vel with the type it publishes.
    """

    def __init__(
        self,
        context: Context,
        writer: BagWriter,
        compress: bool,
        use_sim_time: bool,
        outputs: dict[str, tuple[str, str]],
        ground_truth: bool = False,
    ) -> None:
        from rclpy.node import Node
        from rclpy.parameter import Parameter

        from robot_vision_nav.replay.replay import message_class, subscribe_raw
        from robot_vision_nav.ros.qos import LISTEN_QOS

        self.node = Node(
            "rvn_record", context=context, parameter_overrides=[Parameter("use_sim_time", value=use_sim_time)]
        )
        self.writer = writer
        self.compress = compress
        self.error: BaseException | None = None
        self.skipped: dict[str, int] = {}
        self.status = ""
        qos = LISTEN_QOS
        topics = {**RECORDED_INPUTS, **{t: msgtype for t, (msgtype, _s) in outputs.items()}}
        if ground_truth:
            topics["/" + SIM_LABELS] = "sensor_msgs/msg/Image"  # class ids, lossless (never compressed)
        for topic, msgtype in topics.items():
            image_in = compress and topic in ("/" + COLOR, "/" + DEPTH)
            if image_in:
                bag_topic = topic + ("/compressed" if topic == "/" + COLOR else "/compressedDepth")
                writer.add_topic(bag_topic, "sensor_msgs/msg/CompressedImage")
                callback = self._compressing(bag_topic)
                self.node.create_subscription(message_class(msgtype), topic, callback, qos)
            else:
                writer.add_topic(topic, msgtype)
                subscribe_raw(self.node, msgtype, topic, self._raw(topic), qos)
        from std_msgs.msg import String

        self.node.create_subscription(String, "/controller_status", self._on_status, 10)

    def _now_ns(self) -> int:
        return int(self.node.get_clock().now().nanoseconds)

    def _raw(self, topic: str) -> Callable[[bytes], None]:
        def write(raw: bytes) -> None:
            self._guard(topic, lambda: self.writer.write(topic, self._now_ns(), raw))

        return write

    def _compressing(self, bag_topic: str) -> Callable[[Image], None]:
        from rclpy.serialization import serialize_message
        from sensor_msgs.msg import CompressedImage

        from robot_vision_nav.ros.image import image_to_numpy

        def write(msg: Image) -> None:
            def do() -> None:
                try:
                    array = image_to_numpy(msg)
                    if bag_topic.endswith("compressedDepth"):
                        fmt, data = encode_compressed_depth(array, msg.encoding)
                    else:
                        from robot_vision_nav.ros.image import to_rgb

                        fmt, data = encode_compressed_color(to_rgb(array, msg.encoding), "jpeg", JPEG_QUALITY)
                except ValueError as err:  # one frame that will not encode (odd encoding, bad size): skip it
                    self.skipped[bag_topic] = self.skipped.get(bag_topic, 0) + 1
                    if self.skipped[bag_topic] == 1:
                        self.node.get_logger().warning(f"{bag_topic}: frame not recorded: {err} (warned once)")
                    return
                out = CompressedImage(header=msg.header, format=fmt, data=data)
                self.writer.write(bag_topic, self._now_ns(), serialize_message(out))

            self._guard(bag_topic, do)

        return write

    def _guard(self, topic: str, work: Callable[[], None]) -> None:
        if self.error is not None:
            return
        try:
            work()
        except Exception as err:  # surfaced by record(): a bag that cannot be written stops the recording
            self.error = err if isinstance(err, BagError) else BagError(f"{self.writer.path}: topic {topic}: {err}")

    def _on_status(self, msg: String) -> None:
        self.status = str(msg.data)


def record(options: RecordOptions, progress: Callable[[str], None] | None = None) -> BagInfo:
    """Record a bag; returns its `BagInfo`. Ctrl-C (SIGINT) ends the recording and keeps the bag.

    While recording, SIGINT only sets a stop flag the loop polls: an interrupt raised inside a
    callback could cut a message write in half, and a second Ctrl-C must not lose the bag.

    Raises:
        BagError: the output path exists or cannot be written, or a message could not be written.
        BringupError / ParameterError: the parameters are refused.

    """
    import rclpy
    from rclpy.context import Context

    from robot_vision_nav.replay.replay import stack_output_types
    from robot_vision_nav.ros.bringup import BringupOptions, stack_nodes
    from robot_vision_nav.ros.messages import ns_to_stamp
    from robot_vision_nav.ros.runner import InProcessStack, apply_ros_environment

    if not options.live and options.seconds <= 0:
        raise BagError(f"{options.out}: --seconds must be > 0 with the simulator (got {options.seconds:g})")
    extra = {k: dict(v) for k, v in options.extra_parameters.items()}
    if not options.live:
        extra.setdefault("sim_node", {}).update({"step_mode": "fast", "publish_labels": options.ground_truth})
    elif options.ground_truth:
        raise BagError(f"{options.out}: --ground-truth needs the simulator (it records /{SIM_LABELS}), not --live")
    specs = stack_nodes(
        BringupOptions(
            params_file=options.params_file,
            sim_params_file=options.sim_params_file,
            model=options.model,
            device=options.device,
            sim=not options.live,
            world_seed=options.world_seed if not options.live else -1,
            log_level="warn",
            extra_parameters=extra,
        )
    )
    stop = threading.Event()
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set()) if in_main_thread else None
    writer: BagWriter | None = None
    context: Context | None = None
    stack: InProcessStack | None = None
    try:
        writer = BagWriter(options.out, custom_data={"rvn.recorded_by": "rvn record"})
        apply_ros_environment()
        context = Context()
        rclpy.init(context=context, args=[], signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
        stack = InProcessStack(specs, context, "events")
        recorder = _Recorder(
            context, writer, options.compress, use_sim_time=not options.live, outputs=stack_output_types(stack),
            ground_truth=options.ground_truth,
        )  # fmt: skip
        stack.executor.add_node(recorder.node)
        if not stop.is_set():
            if options.live:
                _record_live(stack, recorder, options, progress, stop)
            else:
                _record_sim(stack, recorder, options, progress, ns_to_stamp, stop)
        if stop.is_set() and progress is not None:
            progress("interrupted: closing the bag")
        if recorder.error is not None:
            raise recorder.error
    except BaseException:
        if writer is not None:
            writer.abort()
        writer = None
        raise
    finally:
        try:
            if stack is not None:
                stack.close()
            if context is not None:
                rclpy.try_shutdown(context=context)
        finally:
            try:
                if writer is not None:
                    writer.close()
                    info = read_info(options.out)
            finally:
                if previous is not None:
                    signal.signal(signal.SIGINT, previous)
    return info


def _record_sim(
    stack: InProcessStack,
    recorder: _Recorder,
    options: RecordOptions,
    progress: Callable[[str], None] | None,
    ns_to_stamp: Callable[[int], TimeMsg],
    stop: threading.Event,
) -> None:
    from geometry_msgs.msg import PoseStamped

    from robot_vision_nav.ros.messages import yaw_orientation

    stepper = cast("SimNode", stack.nodes["sim_node"]).stepper  # the simulator and its sim time
    planner = cast("PlannerNode", stack.nodes["planner_node"])
    world = stepper.sim.world
    goal_pub = recorder.node.create_publisher(PoseStamped, "/" + GOAL, 10)
    deadline = time.monotonic() + 10.0
    while goal_pub.get_subscription_count() < 2 and time.monotonic() < deadline:  # planner and recorder
        stack.executor.spin_once(timeout_sec=0.05)
    start_ns = stepper.stamp_ns
    goal = PoseStamped()
    goal.header.frame_id = planner.node_config.global_frame
    goal.header.stamp = ns_to_stamp(start_ns)
    (x0, y0), (x1, y1) = world.route_xy[-2], world.goal_xy
    yaw = math.atan2(y1 - y0, x1 - x0)
    goal.pose.position.x, goal.pose.position.y = float(x1), float(y1)
    goal.pose.orientation = yaw_orientation(yaw)
    goal_pub.publish(goal)
    next_report = time.monotonic()
    while (stepper.stamp_ns - start_ns) / 1e9 < options.seconds and recorder.error is None and not stop.is_set():
        stack.executor.spin_once(timeout_sec=0.1)
        if recorder.status == "goal_reached":
            break
        if progress is not None and time.monotonic() >= next_report:
            next_report = time.monotonic() + 1.0
            progress(f"recording: t = {(stepper.stamp_ns - start_ns) / 1e9:5.1f} s of {options.seconds:g} s sim time")


def _record_live(
    stack: InProcessStack,
    recorder: _Recorder,
    options: RecordOptions,
    progress: Callable[[str], None] | None,
    stop: threading.Event,
) -> None:
    started = time.monotonic()
    next_report = started
    while (options.seconds <= 0 or time.monotonic() - started < options.seconds) and recorder.error is None:
        if stop.is_set():
            break
        stack.executor.spin_once(timeout_sec=0.1)
        if progress is not None and time.monotonic() >= next_report:
            next_report = time.monotonic() + 1.0
            counts = ", ".join(f"{t} {n}" for t, n in recorder.writer.counts.items() if n)
            progress(f"recording: {time.monotonic() - started:5.1f} s; {counts or 'nothing received yet'}")
