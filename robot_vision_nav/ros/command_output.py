"""A node's velocity command output: Twist or TwistStamped on one topic, and a status beside it.

Commands go out as geometry_msgs/TwistStamped in `base_frame`, stamped with the input they answer
(a zero the node sends on its own: the node clock), or as Twist where `use_stamped_cmd_vel` is
false (a Humble-era base). The message follows the publisher's type, not the parameter: the zero
sent before a type switch still goes out as the type the base listens to. The status
(std_msgs/String) is published only when it changes. When to stop is the node's call, never this
module's.
"""

from __future__ import annotations

from typing import Any

from geometry_msgs.msg import Twist, TwistStamped
from rclpy.node import Node
from rclpy.publisher import Publisher
from std_msgs.msg import String

from robot_vision_nav.core.controller import Command
from robot_vision_nav.ros.velocity_topics import CommandPublisher


class CommandOutput:
    """The command publisher (ros/velocity_topics.py), the status publisher and the count of commands sent.

    Args:
        node: the node (a managed node's publishers are lifecycle publishers: silent while inactive).
        config: the node's config: use_stamped_cmd_vel, base_frame. A changed config goes to
            `reconfigure`.
        topic, status_topic: where the commands and the status go.

    """

    def __init__(self, node: Node, config: Any, topic: str, status_topic: str) -> None:  # Any: a node config
        self._node = node
        self.config = config
        self._topic = topic
        self.status = ""
        self.commands = 0
        self._cmd = CommandPublisher(node, topic, config.use_stamped_cmd_vel)
        self._status_pub = node.create_publisher(String, status_topic, 10)

    @property
    def publisher(self) -> Publisher[Twist | TwistStamped]:
        """The cmd_vel publisher (remade when use_stamped_cmd_vel changes)."""
        return self._cmd.publisher

    def describe(self) -> str:
        """What is published where, for the node's start-up line: "TwistStamped in base_link on /cmd_vel"."""
        cfg = self.config
        kind = f"TwistStamped in {cfg.base_frame}" if cfg.use_stamped_cmd_vel else "Twist"
        return f"{kind} on {self._node.resolve_topic_name(self._topic)}"

    def reconfigure(self, config: Any) -> None:  # Any: as in the constructor
        """Take a changed config; a new message type sends zero on the old publisher, then replaces it."""
        old, self.config = self.config, config
        if old.use_stamped_cmd_vel != config.use_stamped_cmd_vel:
            self.zero("switching_message_type")
            self._cmd.switch(config.use_stamped_cmd_vel)

    def send(self, command: Command, stamp_ns: int | None) -> None:
        """Publish `command`, stamped `stamp_ns` (None: the node clock now), and its status."""
        self.commands += 1
        self.set_status(command.status)
        self._cmd.send(command.linear_mps, command.angular_rps, self.config.base_frame, stamp_ns)

    def zero(self, status: str) -> None:
        """Publish zero velocity, stamped with the node clock, and `status`."""
        self.set_status(status)
        self._cmd.send(0.0, 0.0, self.config.base_frame, None)

    def set_status(self, status: str) -> None:
        """Publish `status` if it is not the status already published."""
        if status != self.status:
            self.status = status
            self._status_pub.publish(String(data=status))
