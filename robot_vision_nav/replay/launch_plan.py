"""replay.launch.py's planning: its arguments, the stack's options and the bag play / record command lines.

`replay_plan` turns the launch file's resolved arguments into a `ReplayPlan`: the `BringupOptions`
of the stack (`ros.bringup.stack_nodes` gives its nodes, on sim time) and the `ros2 bag play` /
`ros2 bag record` command lines (`bag_play_command`, `bag_record_command`), or their `rvn bag`
counterparts (`rvn_play_command`, `rvn_record_command`). `replay_parameters` is what every replay
sets, `rvn replay` too. Plain data and no rclpy: it runs under the launch file's Python.

It depends on `ros.bringup` and `replay.topics`, never the other way round: bring-up knows nothing of bags.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from robot_vision_nav.replay.errors import BagError
from robot_vision_nav.replay.topics import INPUT_TYPES, OUTPUTS, load_topic_map
from robot_vision_nav.ros.bringup import (
    CAMERA_INFO_TOPIC,
    COLOR_TOPIC,
    DEPTH_TOPIC,
    GOAL_TOPIC,
    NODE_KINDS,
    ODOM_TOPIC,
    STACK,
    BringupError,
    BringupOptions,
)
from robot_vision_nav.ros.launch_files import launch_arguments, options_from_launch_values

# replay.launch.py's own arguments; it adds REPLAY_STACK_ARGUMENTS from LAUNCH_ARGUMENTS, and sets
# use_sim_time (the nodes follow the bag's --clock). The topic arguments are left out: the topics
# map renames the bag's topics to the stack's inputs instead of renaming what the stack subscribes.
REPLAY_LAUNCH_ARGUMENTS: tuple[tuple[str, str, str], ...] = (
    ("bag", "", "the rosbag2 to play (a bag folder, or one .mcap / .db3 file); required"),
    ("out_bag", "", "record the stack's outputs into this new folder (mcap); '' = record nothing"),
    ("rate", "1.0", "play rate, > 0: 0.5 plays at half speed (a slow machine keeps up with every frame)"),
    (
        "player",
        "auto",
        "who plays and records the bag: ros2bag (ros2 bag play / record), rvn (rvn bag play / record: rclpy and "
        "rosbags only; decodes compressed images, reads ROS 1 bags) or auto (ros2bag where rosbag2 is installed)",
    ),
    ("delay", "5.0", "seconds >= 0 that ros2 bag play waits before publishing, while the nodes start"),
    (
        "topics_map",
        "",
        "YAML file 'stack input: bag topic' (as rvn replay --topics-map reads) for a bag that names "
        "the inputs otherwise; '' = the bag uses the stack's names",
    ),
)
PLAYERS = ("auto", "ros2bag", "rvn")
REPLAY_STACK_ARGUMENTS = ("params_file", "namespace", "device", "model", "log_level", "rviz")
COMPRESSED_SUFFIXES = ("/compressed", "/compressedDepth")  # image_transport's; ros2 bag play does not decode


@dataclass(frozen=True)
class ReplayPlan:
    """What replay.launch.py starts: the stack's options and the `ros2 bag` command lines."""

    options: BringupOptions
    play: list[str]
    record: list[str] | None  # None: no out_bag given


def replay_launch_arguments(share_dir: str | os.PathLike[str] | None = None) -> list[tuple[str, str, str]]:
    """The (name, default, description) of each argument of replay.launch.py (see `launch_arguments`)."""
    stack = [a for a in launch_arguments(share_dir) if a[0] in REPLAY_STACK_ARGUMENTS]
    return [*REPLAY_LAUNCH_ARGUMENTS, *stack]


def bag_play_command(
    bag: str | os.PathLike[str],
    rate: float = 1.0,
    remaps: Sequence[tuple[str, str]] = (),
    topics: Sequence[str] = (),
    delay_s: float = 0.0,
) -> list[str]:
    """`ros2 bag play BAG --clock ...`: publishes /clock from the bag's stamps for use_sim_time nodes.

    Args:
        bag: the bag folder or file.
        rate: play rate, > 0 (1.0 = as recorded).
        remaps: (bag topic, topic to publish it on) pairs.
        topics: play only these bag topics (before remapping); () = every topic.
        delay_s: seconds to wait before the first message, >= 0.

    Raises:
        BringupError: a rate or delay out of range, naming it.

    """
    if not (math.isfinite(rate) and rate > 0):
        raise BringupError(f"rate {rate} must be > 0 (1.0 plays the bag as recorded)")
    if not (math.isfinite(delay_s) and delay_s >= 0):
        raise BringupError(f"delay {delay_s} must be >= 0 seconds")
    cmd = ["ros2", "bag", "play", str(bag), "--clock"]
    if rate != 1.0:
        cmd += ["--rate", _number(rate)]
    if delay_s:
        cmd += ["--delay", _number(delay_s)]
    if topics:
        cmd += ["--topics", *topics]
    if remaps:
        # One --remap with every rule: ros2 bag play keeps only the last --remap it is given.
        cmd += ["--remap", *(f"{src}:={dst}" for src, dst in remaps)]
    return cmd


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def bag_record_command(out_bag: str | os.PathLike[str], topics: Sequence[str]) -> list[str]:
    """`ros2 bag record -s mcap -o OUT_BAG TOPICS...`: the stack's outputs into a new mcap bag.

    Raises:
        BringupError: `out_bag` exists already (ros2 bag record refuses it too, after the stack has
            started), or no topics are given.

    """
    out = Path(out_bag).expanduser()
    if out.exists():
        raise BringupError(
            f"out_bag {out} already exists; ros2 bag record writes a new folder: remove it or name another"
        )
    if not topics:
        raise BringupError("ros2 bag record needs at least one topic")
    # --use-sim-time: log times from the played bag's /clock, as rvn replay writes them (a golden
    # recorded here then matches `rvn replay --check` by time).
    return ["ros2", "bag", "record", "-s", "mcap", "--use-sim-time", "-o", str(out), *topics]


def input_subscribers(nodes: Sequence[str]) -> dict[str, int]:
    """How many of `nodes` subscribe to each stack input (what a player waits for before its first message)."""
    takers = [NODE_KINDS[n] for n in nodes if n != "sim_node"]  # the simulator publishes the inputs
    return {
        t: sum(t in k.topics for k in takers)
        for t in (COLOR_TOPIC, DEPTH_TOPIC, CAMERA_INFO_TOPIC, ODOM_TOPIC, GOAL_TOPIC)
    }


def rvn_play_command(
    bag: str | os.PathLike[str],
    rate: float,
    delay_s: float,
    topics_map: str = "",
    namespace: str = "",
    subscribers: Mapping[str, int] | None = None,
) -> list[str]:
    """`rvn bag play BAG ...` (replay.live): the stack's inputs and /clock, CompressedImage decoded.

    Raises:
        BringupError: a rate or delay out of range, naming it.

    """
    bag_play_command(bag, rate=rate, delay_s=delay_s)  # the same checks of rate and delay
    cmd = ["rvn", "bag", "play", str(bag), "--rate", _number(rate), "--delay", _number(delay_s)]
    if topics_map:
        cmd += ["--topics-map", str(Path(topics_map).expanduser())]
    if namespace.strip("/"):
        cmd += ["--namespace", namespace.strip("/")]
    for topic, count in (subscribers or {}).items():
        cmd += ["--subscribers", f"{topic}={count}"]
    return cmd


def rvn_record_command(out_bag: str | os.PathLike[str], topics: Sequence[str]) -> list[str]:
    """`rvn bag record OUT TOPICS...` (replay.live): what `bag_record_command` records, without rosbag2.

    Raises:
        BringupError: `out_bag` exists already, or no topics are given.

    """
    bag_record_command(out_bag, topics)  # the same checks
    return ["rvn", "bag", "record", str(Path(out_bag).expanduser()), *topics]


def replay_input_topics(
    topic_map: Mapping[str, str], namespace: str = "", source: str = "topics map"
) -> list[tuple[str, str]]:
    """(bag topic, topic the stack subscribes) of each stack input, in `replay.topics.INPUT_TYPES` order.

    Inputs the map leaves out are played under their own name (/camera/color/image_raw, ...).

    Raises:
        BringupError: the map feeds an input from a compressed image topic, which ros2 bag play
            would publish as CompressedImage where the stack expects Image.

    """
    ns = namespace.strip("/")
    pairs: list[tuple[str, str]] = []
    for name in INPUT_TYPES:
        bag_topic = topic_map.get(name, f"/{name}")
        if bag_topic.endswith(COMPRESSED_SUFFIXES):
            raise BringupError(
                f"{source}: {name} -> {bag_topic} is a compressed image topic, which ros2 bag play publishes "
                "undecoded; run `ros2 run image_transport republish` to decode it beside this launch "
                "(and map the raw topic it publishes), or use `rvn replay`, which decodes"
            )
        pairs.append((bag_topic, f"/{ns}/{name}" if ns else f"/{name}"))
    sources = [src for src, _ in pairs]
    for src in sources:
        if sources.count(src) > 1:
            fed = ", ".join(dst for s, dst in pairs if s == src)
            raise BringupError(f"{source}: bag topic {src} feeds more than one input ({fed}); give each its own")
    return pairs


def replay_output_topics(namespace: str = "") -> list[str]:
    """The stack outputs a replay records (`replay.topics.OUTPUTS`), moved into `namespace`."""
    ns = namespace.strip("/")
    return [f"/{ns}{topic}" if ns else topic for topic in OUTPUTS]


def replay_parameters(extra: Mapping[str, Mapping[str, object]]) -> dict[str, dict[str, object]]:
    """`extra` plus what every replay sets unless told otherwise (rvn replay and replay.launch.py alike).

    A replay publishes the stack's inputs, not the bag's /tf: the depth nodes place the camera with
    camera_mount_xyzrpy (`auto` would skip the first second of frames listening for a TF that never
    comes, and the outputs would depend on it).
    """
    out = {node: dict(values) for node, values in extra.items()}
    for node in ("costmap_node", "safety_node"):
        out.setdefault(node, {}).setdefault("camera_mount_source", "parameter")
    return out


def replay_plan(values: Mapping[str, str]) -> ReplayPlan:
    """The stack's options and the play / record command lines from replay.launch.py's resolved arguments.

    Raises:
        BringupError: no bag or a missing one, a rate or delay that is not a number in range, an
            unreadable or wrong topics map (the cause chained), a compressed input topic, an out_bag
            that exists, or a bad stack argument.

    """
    defaults = {name: default for name, default, _ in REPLAY_LAUNCH_ARGUMENTS}

    def text(name: str) -> str:
        return str(values.get(name, defaults[name])).strip()

    def number(name: str) -> float:
        try:
            return float(text(name))
        except ValueError as err:
            raise BringupError(f"launch argument {name}:={text(name)!r} is not a number") from err

    if not text("bag"):
        raise BringupError("launch argument bag is required: bag:=PATH of the rosbag2 to play")
    bag = Path(text("bag")).expanduser()
    if not bag.exists():
        raise BringupError(f"launch argument bag:={bag}: no such bag folder or file")
    player = text("player").lower()
    if player not in PLAYERS:
        raise BringupError(f"launch argument player:={text('player')!r} is not one of {', '.join(PLAYERS)}")
    if player == "auto":
        player = "ros2bag" if importlib.util.find_spec("ros2bag") is not None else "rvn"
    if bag.suffix == ".bag" and player == "ros2bag":
        raise BringupError(
            f"launch argument bag:={bag}: ros2 bag play reads no ROS 1 bags; use player:=rvn or rvn replay {bag}"
        )
    stack_values = {name: value for name, value in values.items() if name in REPLAY_STACK_ARGUMENTS}
    options = options_from_launch_values({**stack_values, "use_sim_time": "true"})
    options = dataclasses.replace(options, extra_parameters=replay_parameters(options.extra_parameters))
    topic_map: dict[str, str] = {}
    if text("topics_map"):
        try:
            topic_map = load_topic_map(Path(text("topics_map")).expanduser())
        except BagError as err:
            raise BringupError(f"launch argument topics_map: {err}") from err
    rate, delay = number("rate"), number("delay")
    if player == "rvn":
        subscribers = input_subscribers(STACK)
        play = rvn_play_command(bag, rate, delay, text("topics_map"), options.namespace, subscribers)
        record = (
            rvn_record_command(text("out_bag"), replay_output_topics(options.namespace)) if text("out_bag") else None
        )
        return ReplayPlan(options, play, record)
    inputs = replay_input_topics(topic_map, options.namespace, source=f"topics_map {text('topics_map')}")
    play = bag_play_command(
        bag,
        rate=rate,
        remaps=[(src, dst) for src, dst in inputs if src != dst],
        # Only the inputs: a robot's bag often holds its own /cmd_vel, /plan or /clock as well,
        # which would mix with the stack's in the output bag.
        topics=[src for src, _ in inputs],
        delay_s=delay,
    )
    record = bag_record_command(text("out_bag"), replay_output_topics(options.namespace)) if text("out_bag") else None
    return ReplayPlan(options, play, record)
