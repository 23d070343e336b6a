"""Which bag topic feeds which input of the stack, and which outputs a replay records.

The stack's inputs have fixed names (ARCHITECTURE.md); a bag from another robot names them
otherwise (a RealSense driver publishes `/camera/camera/color/image_raw`). A topic map is a YAML
file `stack input: bag topic`; inputs it does not name are looked up under their own name, then
under image_transport's `/compressed` (colour) or `/compressedDepth` (depth) suffix. ROS-free.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from robot_vision_nav.replay.errors import BagError
from robot_vision_nav.ros import topics

if TYPE_CHECKING:
    from robot_vision_nav.replay.bags import TopicInfo

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED = "sensor_msgs/msg/CompressedImage"

COLOR = topics.COLOR_IMAGE
DEPTH = topics.DEPTH_IMAGE
CAMERA_INFO = topics.CAMERA_INFO
ODOM = topics.ODOM
GOAL = topics.GOAL_POSE

# stack input -> the bag types that can feed it (a CompressedImage is decoded to an Image)
INPUT_TYPES: dict[str, tuple[str, ...]] = {
    COLOR: (IMAGE, COMPRESSED),
    DEPTH: (IMAGE, COMPRESSED),
    CAMERA_INFO: ("sensor_msgs/msg/CameraInfo",),
    ODOM: ("nav_msgs/msg/Odometry",),
    GOAL: ("geometry_msgs/msg/PoseStamped",),
}
REQUIRED_INPUTS = (COLOR, DEPTH, CAMERA_INFO, ODOM)  # without a goal the stack still segments and maps
_SUFFIXES = {COLOR: ("", "/compressed"), DEPTH: ("", "/compressedDepth", "/compressed")}

TWIST = "geometry_msgs/msg/Twist"
TWIST_STAMPED = "geometry_msgs/msg/TwistStamped"

# stack output topic (as written to the output bag) -> (type, comparison stream or "");
# /cmd_vel as the stack publishes it by default (`use_stamped_cmd_vel: true`), see `output_types`.
# Bags recorded before that default carry Twist on /cmd_vel: a bag is always read with the type its
# own metadata names, and the comparison reads the twist of either.
OUTPUTS: dict[str, tuple[str, str]] = {
    f"/{topics.TRAVERSABLE}": (IMAGE, "mask"),
    f"/{topics.LOCAL_COSTMAP}": ("nav_msgs/msg/OccupancyGrid", "costmap"),
    f"/{topics.PLAN}": ("nav_msgs/msg/Path", "plan"),
    f"/{topics.CMD_VEL}": (TWIST_STAMPED, "cmd_vel"),
    f"/{topics.PLANNER_STATUS}": ("std_msgs/msg/String", ""),
    f"/{topics.CONTROLLER_STATUS}": ("std_msgs/msg/String", ""),
}
STREAM_TOPICS = {stream: topic for topic, (_type, stream) in OUTPUTS.items() if stream}


def output_types(stamped_cmd_vel: bool) -> dict[str, tuple[str, str]]:
    """OUTPUTS with /cmd_vel as the stack publishes it: TwistStamped, or Twist (`use_stamped_cmd_vel: false`)."""
    return {**OUTPUTS, "/cmd_vel": (TWIST_STAMPED if stamped_cmd_vel else TWIST, "cmd_vel")}


@dataclass(frozen=True)
class InputTopic:
    """One stack input and the bag topic feeding it."""

    stack_topic: str  # relative, as the nodes subscribe: camera/color/image_raw
    bag_topic: str
    msgtype: str

    @property
    def compressed(self) -> bool:
        """The bag holds CompressedImage for it (decoded before publishing)."""
        return self.msgtype == COMPRESSED


def load_topic_map(path: Path | str) -> dict[str, str]:
    """Read a topic map file: a YAML mapping `stack input: bag topic`.

    Raises:
        BagError: the file is missing or not such a mapping, or names an input the stack does not have.

    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError as err:
        raise BagError(f"topic map {path}: no such file") from err
    except (OSError, yaml.YAMLError) as err:
        raise BagError(f"topic map {path}: not readable YAML: {err}") from err
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise BagError(
            f"topic map {path}: expected a mapping of stack input to bag topic, "
            f"e.g. '{COLOR}: /camera/camera/color/image_raw'"
        )
    out: dict[str, str] = {}
    for key, value in data.items():
        name = key.strip("/")
        if name not in INPUT_TYPES:
            raise BagError(f"topic map {path}: '{key}' is not an input of the stack; inputs: {', '.join(INPUT_TYPES)}")
        topic = value if value.startswith("/") else "/" + value
        out[name] = topic
    return out


def resolve_inputs(
    topics: Mapping[str, TopicInfo], bag: str, topic_map: Mapping[str, str] | None = None, map_source: str = ""
) -> dict[str, InputTopic]:
    """Pick the bag topic of every stack input.

    Args:
        topics: the bag's topics (`BagReader.topics()`).
        bag: the bag's path, for messages.
        topic_map: `stack input -> bag topic` (`load_topic_map`); inputs it leaves out use the defaults.
        map_source: the topic map's file name, for messages.

    Raises:
        BagError: a mapped topic is not in the bag, a required input has no topic, or a topic has a
            type that cannot feed its input.

    """
    topic_map = dict(topic_map or {})
    chosen: dict[str, InputTopic] = {}
    for name, types in INPUT_TYPES.items():
        if name in topic_map:
            bag_topic = topic_map[name]
            if bag_topic not in topics:
                raise BagError(
                    f"topic map {map_source or '(given)'}: {name} -> {bag_topic}, but {bag} has no topic {bag_topic}; "
                    f"its topics: {', '.join(topics) or 'none'}"
                )
        else:
            candidates = [f"/{name}{suffix}" for suffix in _SUFFIXES.get(name, ("",))]
            found = [c for c in candidates if c in topics]
            if not found:
                if name in REQUIRED_INPUTS:
                    raise BagError(
                        f"{bag}: no {name} topic (looked for {', '.join(candidates)}); record it, or name the bag's "
                        "topic for it in a --topics-map file"
                    )
                continue
            bag_topic = found[0]
        msgtype = topics[bag_topic].msgtype
        if msgtype not in types:
            raise BagError(
                f"{bag}: topic {bag_topic} is {msgtype}, which cannot feed {name} (expected {' or '.join(types)})"
            )
        chosen[name] = InputTopic(name, bag_topic, msgtype)
    used: dict[str, str] = {}
    for item in chosen.values():
        if item.bag_topic in used:
            raise BagError(
                f"{bag}: topic {item.bag_topic} cannot feed both {used[item.bag_topic]} and {item.stack_topic}"
            )
        used[item.bag_topic] = item.stack_topic
    return chosen
