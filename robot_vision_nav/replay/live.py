"""`rvn bag play` and `rvn bag record`: a bag into a running stack and its outputs into a bag, across processes.

`ros2 bag play` / `ros2 bag record` do this where rosbag2 is installed (the container); these need only
rclpy and the rosbags library, so replay.launch.py runs everywhere the stack does (`player:=rvn`, the
default where `ros2 bag` is missing).

The player publishes the stack's inputs the way `rvn replay` feeds them, on a wall-clock schedule
(`rate`): before each message whose log time is later than the clock, `/clock` at that time (no
ticks in between, so the nodes' sim-time timers fire at the same instants as in `rvn replay`);
CompressedImage inputs decoded to Image; the topics map and namespace applied; messages of one
instant at least 20 ms apart, in bag order (a node in another process handles a frame's
camera_info before its depth, as in `rvn replay`). It first waits for the expected subscribers on
every input it will publish (the stack is starting), then for `delay_s`.

The recorder subscribes to the named topics with whatever type their publishers offer (found in
the graph), writes each message with the node clock's time (sim time with `use_sim_time`) as its
log time, and closes the bag when it is interrupted (SIGINT, as `ros2 launch` stops it): the bag
appears complete or not at all.

Not lock-step: a node still busy when the next message comes may drop it, as on a robot. Played
slowly enough that every cascade ends before the next message (test/test_ros2_launch.py uses
rate 0.05 on a 2 s bag), the outputs match `rvn replay`'s within its comparison tolerances.
"""

from __future__ import annotations

import math
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from robot_vision_nav.core.units import NS_PER_S
from robot_vision_nav.replay.bags import BagReader, BagWriter
from robot_vision_nav.replay.errors import BagError
from robot_vision_nav.replay.replay import ReplayError, input_message, input_publishers, subscribe_raw
from robot_vision_nav.replay.topics import load_topic_map, resolve_inputs

if TYPE_CHECKING:
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.subscription import Subscription
    from rclpy.type_support import Msg

SUBSCRIBER_WAIT_S = 60.0
POLL_S = 0.01
CLOCK_LEAD_S = 0.25
MESSAGE_GAP_S = 0.02


def _sleep_until(when: float) -> None:
    while (left := when - time.monotonic()) > 0:
        time.sleep(min(left, 0.05))


@dataclass(frozen=True)
class PlayOptions:
    """What `rvn bag play` does; see its --help."""

    bag: Path
    rate: float = 1.0
    delay_s: float = 0.0
    topics_map: Path | None = None
    namespace: str = ""
    wait_s: float = SUBSCRIBER_WAIT_S
    linger_s: float = 2.0
    # Stack input (camera/color/image_raw, ...) -> how many subscribers to wait for (default 1):
    # every node of the stack that takes it, so none misses the first messages.
    subscribers: tuple[tuple[str, int], ...] = ()

    def __post_init__(self) -> None:
        if not (math.isfinite(self.rate) and self.rate > 0):
            raise BagError(f"rate {self.rate} must be > 0 (1.0 plays the bag as recorded)")
        for name in ("delay_s", "wait_s", "linger_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise BagError(f"{name.removesuffix('_s')} {value} must be >= 0 seconds")


def play(options: PlayOptions, context: Context | None = None, log: Callable[[str], None] = print) -> dict[str, int]:
    """Publish the bag's stack inputs and /clock on schedule; the count published per input topic.

    Args:
        options: the bag and how to play it.
        context: an initialised rclpy context (None: this function initialises and shuts down its own).
        log: where progress lines go.

    Raises:
        BagError: the bag or topic map is unusable, a compressed image cannot be decoded.
        ReplayError: no subscriber appears on an input within `wait_s`.

    """
    import rclpy
    from rosgraph_msgs.msg import Clock

    from robot_vision_nav.ros.messages import ns_to_stamp
    from robot_vision_nav.ros.qos import CLOCK_QOS

    topic_map = load_topic_map(options.topics_map) if options.topics_map else {}
    own = context is None
    if own:
        from rclpy.context import Context

        from robot_vision_nav.ros.runner import apply_ros_environment

        apply_ros_environment()
        context = Context()
        rclpy.init(context=context, args=[])
    node = None
    try:
        with BagReader(options.bag) as reader:
            inputs = resolve_inputs(reader.topics(), str(options.bag), topic_map, str(options.topics_map or ""))
            node = rclpy.create_node("rvn_bag_play", context=context, start_parameter_services=False)
            clock_pub = node.create_publisher(Clock, "/clock", CLOCK_QOS)
            publishers, classes = input_publishers(node, inputs, options.namespace)
            wanted = dict(options.subscribers)
            deadline = time.monotonic() + options.wait_s
            while missing := [
                f"{p.topic_name} ({p.get_subscription_count()} of {wanted.get(name, 1)})"
                for name, p in publishers.items()
                if p.get_subscription_count() < wanted.get(name, 1)
            ]:
                if time.monotonic() > deadline:
                    raise ReplayError(
                        f"{options.bag}: too few subscribers on {', '.join(missing)} within {options.wait_s} s"
                    )
                time.sleep(0.1)
            time.sleep(options.delay_s)
            by_bag_topic = {item.bag_topic: item for item in inputs.values()}
            published = dict.fromkeys(by_bag_topic, 0)
            clock_ns = 0
            first_ns: int | None = None
            started = time.monotonic()
            previous_due = started
            for bag_topic, msgtype, log_ns, cdr in reader.messages(by_bag_topic):
                item = by_bag_topic[bag_topic]
                first_ns = log_ns if first_ns is None else first_ns
                due = started + (log_ns - first_ns) / NS_PER_S / options.rate
                if log_ns > clock_ns:
                    # /clock first, half-way from the previous message (at most CLOCK_LEAD_S early):
                    # the sim-time timers it makes due run before the message arrives, in the order
                    # `rvn replay` runs them (clock, settle, message).
                    _sleep_until(due - min(CLOCK_LEAD_S, (due - previous_due) / 2))
                    clock_ns = log_ns
                    clock_pub.publish(Clock(clock=ns_to_stamp(clock_ns)))
                # Messages of one instant (colour, camera_info, depth of a frame) go out in bag
                # order MESSAGE_GAP_S apart, so another process handles them in that order too.
                due = max(due, previous_due + MESSAGE_GAP_S)
                _sleep_until(due)
                previous_due = due
                msg = input_message(reader, item, msgtype, cdr, classes[item.stack_topic], options.bag)
                publishers[item.stack_topic].publish(msg)
                published[bag_topic] += 1
            # The last frame's cascade (segmentation, costmap, plan, command) finishes before we go.
            time.sleep(options.linger_s)
            log(f"played {sum(published.values())} messages of {options.bag} at rate {options.rate:g}")
            return published
    finally:
        if node is not None:
            node.destroy_node()
        if own:
            rclpy.try_shutdown(context=context)


@dataclass(frozen=True)
class RecordOptions:
    """What `rvn bag record` does; see its --help."""

    out: Path
    topics: tuple[str, ...]
    use_sim_time: bool = True
    seconds: float = 0.0  # wall seconds; 0 = until interrupted


def record(
    options: RecordOptions, context: Context | None = None, stop: Callable[[], bool] | None = None
) -> dict[str, int]:
    """Record `options.topics` into a new mcap bag until interrupted (or `stop()`, or `seconds`); counts per topic.

    Raises:
        BagError: the output exists or cannot be written, or no topic is given.

    """
    import rclpy
    from rclpy.parameter import Parameter

    from robot_vision_nav.ros.qos import LISTEN_QOS

    if not options.topics:
        raise BagError("rvn bag record needs at least one topic")
    topics = tuple(t if t.startswith("/") else f"/{t}" for t in options.topics)
    writer = BagWriter(options.out, custom_data={"rvn.recorded_by": "rvn bag record"})
    own = context is None
    node: Node | None = None
    executor: SingleThreadedExecutor | None = None
    subscriptions: dict[str, Subscription[Msg]] = {}
    interrupted = False

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        nonlocal interrupted
        interrupted = True

    def on_message(node: Node, topic: str) -> Callable[[bytes], None]:
        return lambda raw: writer.write(topic, node.get_clock().now().nanoseconds, raw)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)} if own else {}
    started = time.monotonic()
    next_lookup = 0.0
    try:  # from here on a failure removes the partial bag: OUT appears complete or not at all
        if own:
            from rclpy.context import Context

            from robot_vision_nav.ros.runner import apply_ros_environment

            apply_ros_environment()
            context = Context()
            rclpy.init(context=context, args=[], signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
        node = rclpy.create_node(
            "rvn_bag_record",
            context=context,
            parameter_overrides=[Parameter("use_sim_time", value=options.use_sim_time)],
            start_parameter_services=False,
        )
        executor = rclpy.executors.SingleThreadedExecutor(context=context)
        executor.add_node(node)
        while not interrupted and not (stop is not None and stop()):
            if options.seconds and time.monotonic() - started >= options.seconds:
                break
            if len(subscriptions) < len(topics) and time.monotonic() >= next_lookup:
                next_lookup = time.monotonic() + 0.5
                offered = dict(node.get_topic_names_and_types())
                for topic in topics:
                    if topic not in subscriptions and offered.get(topic):
                        msgtype = offered[topic][0]
                        writer.add_topic(topic, msgtype)
                        subscriptions[topic] = subscribe_raw(node, msgtype, topic, on_message(node, topic), LISTEN_QOS)
            executor.spin_once(timeout_sec=POLL_S)
        for _ in range(100):  # what is already in the queues belongs to the recording
            executor.spin_once(timeout_sec=0.0)
        writer.close()
    except BaseException:
        writer.abort()
        raise
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if executor is not None:
            executor.shutdown(timeout_sec=0.0)
        if node is not None:
            node.destroy_node()
        if own and context is not None:
            rclpy.try_shutdown(context=context)
    return {topic: writer.counts.get(topic, 0) for topic in topics}


def topic_counts_line(counts: dict[str, int]) -> str:
    """`topic: n, ...` for a progress line."""
    return ", ".join(f"{topic}: {n}" for topic, n in counts.items())
