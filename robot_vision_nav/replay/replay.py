"""`rvn replay`: a bag's inputs through the real nodes in lock-step, so one bag gives one answer.

`ros2 bag play` publishes on a wall-clock schedule, and whatever a node is still busy with when the
next frame comes is dropped: two plays of one bag give two answers. Here the stack
(segmentation, costmap, planner, controller: the nodes of `ros.bringup`, with `use_sim_time`) runs
in this process on one SingleThreadedExecutor beside a driver node, and the driver publishes one
bag message at a time:

1. when the message's log time is later than the clock, `/clock` is published at that time (what
   `ros2 bag play --clock` does) and every callback it makes ready (timers on sim time) runs;
2. the message is published (a CompressedImage decoded to the Image the nodes take) and the
   executor runs until nothing is ready any more: the message, everything it caused downstream,
   and the driver's own subscriptions to the outputs, which write each output with the clock as
   its log time.

Fast DDS delivers between endpoints of one process synchronously, inside `publish()`, so "nothing
ready" means the cascade is over. Given the same bag and parameters every callback sees the same
messages and the same clock in the same order, and the output bag is byte-identical (on one
machine: floating point may differ across CPUs and GPUs; `--check` compares with tolerances).
"""

from __future__ import annotations

import importlib
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, cast

from robot_vision_nav.core.units import NS_PER_S
from robot_vision_nav.replay.bags import TYPESTORE_ROS2, BagReader, BagWriter
from robot_vision_nav.replay.compare import (
    StreamResult,
    Summary,
    SummaryBuilder,
    Tolerances,
    compare_summaries,
    load_summary,
)
from robot_vision_nav.replay.errors import BagError
from robot_vision_nav.replay.images import CompressedImageError, decode_compressed
from robot_vision_nav.replay.topics import (
    COLOR,
    GOAL,
    OUTPUTS,
    STREAM_TOPICS,
    InputTopic,
    load_topic_map,
    output_types,
    resolve_inputs,
)

if TYPE_CHECKING:
    from rclpy.context import Context
    from rclpy.executors import Executor, SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.publisher import Publisher
    from rclpy.qos import QoSProfile
    from rclpy.subscription import Subscription
    from rclpy.type_support import Msg

    from robot_vision_nav.nodes.controller_node import ControllerNode
    from robot_vision_nav.nodes.safety_node import SafetyNode
    from robot_vision_nav.nodes.segmentation_node import SegmentationNode
    from robot_vision_nav.ros.runner import InProcessStack

MAX_CALLBACKS_PER_MESSAGE = 100_000  # a cascade longer than this is a feedback loop, not a replay
MATCH_TIMEOUT_S = 10.0
LOCK_STEPS = ("direct", "executor")  # --lock-step: replay.lockstep's, or rclpy's executor (the reference)


class ReplayError(Exception):
    """The replay cannot run or went wrong; the message names the bag, topic or node."""


@dataclass(frozen=True)
class ReplayOptions:
    """What `rvn replay` does; see its --help."""

    bag: Path
    out_bag: Path | None = None
    topics_map: Path | None = None
    check: Path | None = None
    tolerances: Tolerances = field(default_factory=Tolerances)
    params_file: str = ""
    model: str = ""
    device: str = ""
    extra_parameters: dict[str, dict[str, object]] = field(default_factory=dict)
    log_level: str = "error"
    lock_step: str = "direct"  # "direct" (replay.lockstep) or "executor" (rclpy's, the reference)


@dataclass
class ReplayResult:
    """What a replay did and (with --check) how it compared."""

    bag: str
    out_bag: str | None
    bag_duration_s: float
    wall_s: float
    inputs: dict[str, int]  # bag topic -> messages published
    outputs: dict[str, int]  # output topic -> messages received
    summary: Summary
    check: list[StreamResult] | None = None
    golden: str | None = None
    segmentation_s: float = 0.0  # of wall_s: the segmentation node's frames, arrival to publish
    device_class: str = "cpu"  # where the segmentation ran: cpu, cuda-fp16 or cuda-fp32 (goldens per class)

    @property
    def realtime_factor(self) -> float:
        """Bag seconds replayed per wall second (> 1: faster than real time)."""
        return self.bag_duration_s / self.wall_s if self.wall_s > 0 else math.inf

    @property
    def passed(self) -> bool:
        """No check asked for, or every stream within tolerance."""
        return self.check is None or all(row.passed for row in self.check)


def golden_summary(path: Path) -> Summary:
    """The summary to compare with: a summary JSON file, or computed from a golden output bag.

    Raises:
        BagError / CompareError: the golden cannot be read.

    """
    path = Path(path)
    if path.is_file() and path.suffix == ".json":
        return load_summary(path)
    return summarize_bag(path)


def summarize_bag(path: Path) -> Summary:
    """The comparison summary of the output streams of the bag at `path`."""
    builder = SummaryBuilder()
    with BagReader(path) as bag:
        present = bag.topics()
        wanted = {topic: stream for stream, topic in STREAM_TOPICS.items() if topic in present}
        if not wanted:
            raise BagError(f"{path}: none of the output topics {', '.join(STREAM_TOPICS.values())}; not a golden bag")
        for topic, msgtype, log_ns, cdr in bag.messages(wanted):
            try:
                builder.add(wanted[topic], log_ns, bag.deserialize(cdr, msgtype, topic))
            except ValueError as err:
                raise BagError(f"{path}: topic {topic} at {log_ns / NS_PER_S:.3f} s: {err}") from err
    return builder.summary(Path(path).name)


class _Driver:
    """The replay's own node: /clock and input publishers, raw subscriptions to every output."""

    def __init__(
        self,
        context: Context,
        inputs: dict[str, InputTopic],
        on_output: Callable[[str, bytes], None],
        outputs: dict[str, tuple[str, str]],
    ) -> None:
        from rclpy.node import Node
        from rosgraph_msgs.msg import Clock

        from robot_vision_nav.ros.qos import CLOCK_QOS, LISTEN_QOS

        self.node = Node("rvn_replay", context=context)
        self.clock_pub = self.node.create_publisher(Clock, "/clock", CLOCK_QOS)
        self.publishers, self.classes = input_publishers(self.node, inputs)
        listen = LISTEN_QOS  # every output, however its publisher offers it
        self.subscriptions = []
        for topic, (msgtype, _stream) in outputs.items():
            self.subscriptions.append(subscribe_raw(self.node, msgtype, topic, _bind(on_output, topic), listen))


def _bind(on_output: Callable[[str, bytes], None], topic: str) -> Callable[[bytes], None]:
    return lambda raw: on_output(topic, raw)


def subscribe_raw(
    node: Node, msgtype: str, topic: str, callback: Callable[[bytes], None], qos: QoSProfile
) -> Subscription[Msg]:
    """A subscription to `topic` (of type `msgtype`) that hands `callback` each message as its CDR bytes."""
    # rclpy's types say the callback gets the message; with raw=True it gets the serialized bytes.
    return node.create_subscription(
        message_class(msgtype), topic, cast("Callable[[Msg], None]", callback), qos, raw=True
    )


def input_publishers(
    node: Node, inputs: dict[str, InputTopic], namespace: str = ""
) -> tuple[dict[str, Publisher[Msg]], dict[str, type[Msg]]]:
    """A publisher and the message class the stack takes for each input (CompressedImage: Image), by stack topic.

    Sensor inputs with the sensor-data QoS the nodes subscribe with, the goal reliable (as RViz sends it).
    """
    from robot_vision_nav.ros.qos import COMMAND_QOS, SENSOR_QOS

    ns = namespace.strip("/")
    publishers: dict[str, Publisher[Msg]] = {}
    classes: dict[str, type[Msg]] = {}
    for name, item in inputs.items():
        classes[name] = message_class("sensor_msgs/msg/Image" if item.compressed else item.msgtype)
        qos = COMMAND_QOS if name == GOAL else SENSOR_QOS
        publishers[name] = node.create_publisher(classes[name], f"/{ns}/{name}" if ns else f"/{name}", qos)
    return publishers, classes


def input_message(reader: BagReader, item: InputTopic, msgtype: str, cdr: bytes, cls: type[Msg], bag: Path) -> Msg:
    """The rclpy message the stack takes for one bag message of input `item`: CompressedImage decoded to Image.

    Raises:
        BagError: a frame that does not decode, or CDR that is not a valid `msgtype`, naming the bag and topic.

    """
    from rclpy.serialization import deserialize_message

    from robot_vision_nav.ros.image import numpy_to_image
    from robot_vision_nav.ros.messages import ns_to_stamp, stamp_to_ns

    if item.compressed:
        compressed = reader.deserialize(cdr, msgtype, item.bag_topic)
        try:
            image = decode_compressed(compressed.format, compressed.data, item.bag_topic)
        except CompressedImageError as err:
            raise BagError(f"{bag}: {err}") from err
        stamp = ns_to_stamp(stamp_to_ns(compressed.header.stamp))
        decoded: Msg = numpy_to_image(image.array, image.encoding, stamp, compressed.header.frame_id)
        return decoded
    try:
        return deserialize_message(cdr, cls)
    except Exception as err:
        raise BagError(f"{bag}: topic {item.bag_topic}: not a valid {msgtype} message: {err}") from err


def message_class(msgtype: str) -> type[Msg]:
    """The rclpy message class of a ROS 2 type name (`sensor_msgs/msg/Image`)."""
    package, kind, name = msgtype.split("/")
    cls: type[Msg] = getattr(importlib.import_module(f"{package}.{kind}"), name)
    return cls


def lock_step_executor(context: Context) -> SingleThreadedExecutor:
    """A SingleThreadedExecutor that visits its nodes in the order they were added.

    rclpy keeps an executor's nodes in a set, ordered by object address: which of two ready nodes
    runs first could differ from one process to the next. Here it cannot.
    """
    from rclpy.executors import SingleThreadedExecutor

    class LockStepExecutor(SingleThreadedExecutor):
        def __init__(self) -> None:
            super().__init__(context=context)
            self.ordered: list[Node] = []

        def add_node(self, node: Node) -> bool:
            added = bool(super().add_node(node))
            if added:
                self.ordered.append(node)
            return added

        def remove_node(self, node: Node) -> None:
            super().remove_node(node)
            self.ordered = [n for n in self.ordered if n is not node]

        def get_nodes(self) -> list[Node]:
            return list(self.ordered)

    return LockStepExecutor()


def settle(executor: Executor, what: str) -> int:
    """Run ready callbacks, wait set after wait set, until a wait finds nothing ready; returns how many ran.

    With a zero timeout rclpy ends each wait set's batch with TimeoutException even when the batch
    did work, and that work publishes more (mask -> costmap -> plan -> command): only an empty
    batch means the cascade is over.

    Raises:
        ReplayError: more than MAX_CALLBACKS_PER_MESSAGE callbacks (a feedback loop).

    """
    from rclpy.executors import TimeoutException

    ran = 0
    while True:
        batch = 0
        try:
            while True:
                handler, _entity, _node = executor.wait_for_ready_callbacks(timeout_sec=0.0)
                handler()
                error = handler.exception()
                if error is not None:
                    raise error
                batch += 1
                ran += 1
                if ran > MAX_CALLBACKS_PER_MESSAGE:
                    raise ReplayError(f"{what}: more than {MAX_CALLBACKS_PER_MESSAGE} callbacks without settling")
        except TimeoutException:
            if batch == 0:
                return ran


def replay(options: ReplayOptions, progress: Callable[[int, int, float, float], None] | None = None) -> ReplayResult:
    """Replay `options.bag` through the stack in lock-step; see the module docstring.

    Args:
        options: the bag, the output bag, the golden and the stack's parameters.
        progress: called as `progress(done, total, bag_s, bag_duration_s)` after each input message.

    Raises:
        BagError: the bag, the topic map or the output bag is unusable (names the file and topic).
        ReplayError: the stack would not start or a message could not be fed.
        BringupError / ParameterError: the parameters are refused.

    """
    import rclpy
    from rclpy.context import Context
    from rosgraph_msgs.msg import Clock

    from robot_vision_nav.replay.launch_plan import replay_parameters
    from robot_vision_nav.ros.bringup import BringupOptions, stack_nodes
    from robot_vision_nav.ros.messages import ns_to_stamp
    from robot_vision_nav.ros.runner import InProcessStack, apply_ros_environment

    if options.lock_step not in LOCK_STEPS:
        raise ReplayError(f"unknown lock-step {options.lock_step!r}; expected one of {', '.join(LOCK_STEPS)}")
    bag_path = Path(options.bag)
    topic_map = load_topic_map(options.topics_map) if options.topics_map else {}
    golden = golden_summary(options.check) if options.check is not None else None
    # One image, one mask: on CUDA that needs cuDNN's deterministic algorithms (unless asked otherwise).
    extra = replay_parameters(options.extra_parameters)  # the camera mount: the parameter (no bag /tf)
    extra.setdefault("segmentation_node", {}).setdefault("deterministic", True)
    specs = stack_nodes(
        BringupOptions(
            params_file=options.params_file,
            model=options.model,
            device=options.device,
            use_sim_time=True,
            log_level=options.log_level,
            extra_parameters=extra,
        )
    )
    reader = BagReader(bag_path)
    reader.open()
    writer: BagWriter | None = None
    context: Context | None = None
    stack: InProcessStack | None = None
    try:
        inputs = resolve_inputs(reader.topics(), str(bag_path), topic_map, str(options.topics_map or ""))
        by_bag_topic = {item.bag_topic: item for item in inputs.values()}
        info = reader.info()
        total = sum(reader.topics()[t].count for t in by_bag_topic)
        out = None if options.out_bag is None else Path(options.out_bag)
        if out is not None and (out.exists() or not out.parent.is_dir()):
            BagWriter(out)  # refuses with the reason, before the stack takes seconds to start

        builder = SummaryBuilder()
        clock_ns = 0
        kinds: dict[str, tuple[str, str]] = dict(OUTPUTS)
        outputs = dict.fromkeys(OUTPUTS, 0)

        def on_output(topic: str, raw: bytes) -> None:
            outputs[topic] += 1
            if writer is not None:
                writer.write(topic, clock_ns, raw)
            msgtype, stream = kinds[topic]
            if stream:
                try:
                    builder.add(stream, clock_ns, TYPESTORE_ROS2.deserialize_cdr(raw, msgtype))
                except Exception as err:
                    where = f"{bag_path}: output {topic} at {clock_ns / NS_PER_S:.3f} s"
                    raise ReplayError(f"{where} is unusable: {err}") from err

        apply_ros_environment()
        # Lock-step needs publish() to deliver before it returns (Fast DDS's synchronous mode, its default).
        os.environ["RMW_FASTRTPS_PUBLICATION_MODE"] = "SYNCHRONOUS"
        context = Context()
        rclpy.init(context=context, args=[], signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
        stack = InProcessStack(specs, context, "single")
        kinds = stack_output_types(stack)
        if options.out_bag is not None:
            writer = BagWriter(options.out_bag, custom_data={"rvn.replay_of": bag_path.name})
            for topic, (msgtype, _stream) in kinds.items():
                writer.add_topic(topic, msgtype)
        driver = _Driver(context, inputs, on_output, kinds)
        executor = lock_step_executor(context)
        for node in stack.nodes.values():
            stack.executor.remove_node(node)
            executor.add_node(node)
        stack.executor.shutdown(timeout_sec=0.0)
        stack.executor = executor
        executor.add_node(driver.node)
        _wait_for_matches(driver, executor, bag_path)
        step = _settler(options.lock_step, context, executor)

        published = dict.fromkeys(by_bag_topic, 0)
        started = time.perf_counter()
        first_ns: int | None = None
        for done, (bag_topic, msgtype, log_ns, cdr) in enumerate(reader.messages(by_bag_topic), start=1):
            item = by_bag_topic[bag_topic]
            if first_ns is None:
                first_ns = log_ns
            if log_ns > clock_ns:
                clock_ns = log_ns
                driver.clock_pub.publish(Clock(clock=ns_to_stamp(clock_ns)))
                step(f"{bag_path}: /clock at {clock_ns / NS_PER_S:.3f} s")
            msg = input_message(reader, item, msgtype, cdr, driver.classes[item.stack_topic], bag_path)
            driver.publishers[item.stack_topic].publish(msg)
            step(f"{bag_path}: topic {bag_topic} at {log_ns / NS_PER_S:.3f} s")
            published[bag_topic] += 1
            if progress is not None:
                progress(done, total, (log_ns - (first_ns or log_ns)) / NS_PER_S, info.duration_ns / NS_PER_S)
        wall_s = time.perf_counter() - started
        segmentation = cast("SegmentationNode | None", stack.nodes.get("segmentation_node"))
        color = inputs.get(COLOR)
        if segmentation is not None and color is not None and segmentation.step.received != published[color.bag_topic]:
            raise ReplayError(
                f"{bag_path}: {published[color.bag_topic]} colour frames published but segmentation received "
                f"{segmentation.step.received}: messages were lost, so this is no lock-step replay (another RMW, or "
                "Fast DDS in asynchronous publication mode?)"
            )
        # Outputs end here: the controller's zero command on shutdown is not part of the replay.
        executor.remove_node(driver.node)
        driver.node.destroy_node()
        if writer is not None:
            writer.close()
        summary = builder.summary(bag_path.name)
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        reader.close()
        if stack is not None:
            stack.close()
        if context is not None:
            rclpy.try_shutdown(context=context)
    result = ReplayResult(
        bag=str(bag_path),
        out_bag=str(options.out_bag) if options.out_bag is not None else None,
        bag_duration_s=info.duration_ns / NS_PER_S,
        wall_s=wall_s,
        inputs=published,
        outputs=outputs,
        summary=summary,
        segmentation_s=segmentation.step.busy_s if segmentation is not None else 0.0,
        device_class=_device_class(segmentation),
    )
    if golden is not None:
        result.check = compare_summaries(golden, summary, options.tolerances)
        result.golden = str(options.check)
    return result


def _device_class(segmentation: SegmentationNode | None) -> str:
    """Where the stack's segmentation ran, as a suite names goldens: cpu, cuda-fp16 or cuda-fp32."""
    segmenter = None if segmentation is None else segmentation.step.segmenter
    if not getattr(segmenter, "cuda", False):  # the engine (Segmenter) says; a stand-in engine is CPU
        return "cpu"
    return "cuda-fp16" if getattr(segmenter, "fp16", False) else "cuda-fp32"


def _settler(kind: str, context: Context, executor: Executor) -> Callable[[str], int]:
    """settle-after-each-message for `--lock-step`: the direct one (`replay.lockstep`), or rclpy's executor."""
    if kind == "executor":
        return lambda what: settle(executor, what)
    from robot_vision_nav.replay.lockstep import DirectLockStep, LockStepError

    nodes = executor.get_nodes()  # the stack's nodes in start order, then the driver (lock_step_executor)
    direct = DirectLockStep(context, nodes, MAX_CALLBACKS_PER_MESSAGE)

    def step(what: str) -> int:
        try:
            return direct.settle(what)
        except LockStepError as err:
            raise ReplayError(str(err)) from err

    return step


def stack_output_types(stack: InProcessStack) -> dict[str, tuple[str, str]]:
    """The outputs (`topics.output_types`) of a started `InProcessStack`, /cmd_vel typed as it publishes it."""
    # /cmd_vel comes from the safety layer (the controller's goes to cmd_vel_nav); both use one type.
    last = cast(
        "SafetyNode | ControllerNode | None", stack.nodes.get("safety_node") or stack.nodes.get("controller_node")
    )
    return output_types(last is None or bool(last.node_config.use_stamped_cmd_vel))


def _wait_for_matches(driver: _Driver, executor: Executor, bag: Path) -> None:
    """Discovery inside one process is immediate, but wait for it rather than assume it."""
    deadline = time.monotonic() + MATCH_TIMEOUT_S
    while True:
        missing = [name for name, pub in driver.publishers.items() if pub.get_subscription_count() == 0]
        if not missing:
            return
        if time.monotonic() > deadline:
            raise ReplayError(f"{bag}: no node subscribes to {', '.join(missing)} within {MATCH_TIMEOUT_S} s")
        executor.spin_once(timeout_sec=0.01)
