"""Velocity-command topics whose message type follows `use_stamped_cmd_vel`.

The stack sends geometry_msgs/TwistStamped on its command topics, or Twist with
`use_stamped_cmd_vel: false` (a Humble-era base that takes only Twist). A node that sends or takes
commands makes its publisher or subscription here, on COMMAND_QOS; `switch` remakes it with the
other type on the same topic when the parameter changes. A publisher remade is a new publisher:
what the old one sent is not resent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from geometry_msgs.msg import Twist, TwistStamped

from robot_vision_nav.ros.messages import ns_to_stamp, twist_message
from robot_vision_nav.ros.qos import COMMAND_QOS

if TYPE_CHECKING:
    from rclpy.node import Node
    from rclpy.publisher import Publisher
    from rclpy.subscription import Subscription


class CommandPublisher:
    """A node's velocity-command publisher on `topic` (relative: remaps and namespace apply)."""

    def __init__(self, node: Node, topic: str, stamped: bool) -> None:
        self._node = node
        self._topic = topic
        self.stamped = stamped
        self.publisher: Publisher[Twist | TwistStamped] = self._advertise()

    def _advertise(self) -> Publisher[Twist | TwistStamped]:
        return self._node.create_publisher(TwistStamped if self.stamped else Twist, self._topic, COMMAND_QOS)

    def switch(self, stamped: bool) -> None:
        """Publish TwistStamped or Twist from now on (a no-op when that is the type already)."""
        if stamped == self.stamped:
            return
        self._node.destroy_publisher(self.publisher)
        self.stamped = stamped
        self.publisher = self._advertise()

    def send(self, linear_mps: float, angular_rps: float, frame_id: str, stamp_ns: int | None) -> None:
        """Publish one command: a Twist, or a TwistStamped in `frame_id` stamped `stamp_ns` (None: now)."""
        frame = frame_id if self.stamped else None
        at = self._node.get_clock().now().to_msg() if stamp_ns is None else ns_to_stamp(stamp_ns)
        self.publisher.publish(twist_message(linear_mps, angular_rps, frame, at))


class CommandSubscription:
    """A node's velocity-command subscription on `topic`; `callback` takes Twist or TwistStamped."""

    def __init__(self, node: Node, topic: str, callback: Callable[[Twist | TwistStamped], None], stamped: bool) -> None:
        self._node = node
        self._topic = topic
        self._callback = callback
        self.stamped = stamped
        self.subscription: Subscription[Twist | TwistStamped] = self._subscribe()

    def _subscribe(self) -> Subscription[Twist | TwistStamped]:
        return self._node.create_subscription(
            TwistStamped if self.stamped else Twist, self._topic, self._callback, COMMAND_QOS
        )

    def switch(self, stamped: bool) -> None:
        """Take TwistStamped or Twist from now on (a no-op when that is the type already)."""
        if stamped == self.stamped:
            return
        self._node.destroy_subscription(self.subscription)
        self.stamped = stamped
        self.subscription = self._subscribe()
