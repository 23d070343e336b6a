"""The emergency stop's topic: std_msgs/Bool, heard in every lifecycle state, its changes logged.

True engages the stop, false releases it; the topic is reliable (E_STOP_QOS), so `ros2 topic pub
--once` works. The subscription is made ungated (ros/lifecycle.py): an e-stop said while the node
is inactive still holds once it is active. What an engaged stop does is the node's step's call;
this module subscribes and says what happened.
"""

from __future__ import annotations

from collections.abc import Callable

from std_msgs.msg import Bool

from robot_vision_nav.ros.lifecycle import ManagedNode
from robot_vision_nav.ros.qos import E_STOP_QOS


class EStopInput:
    """The e-stop subscription on `topic` (relative: remaps and namespace apply); `callback` takes each Bool."""

    def __init__(self, node: ManagedNode, topic: str, callback: Callable[[Bool], None]) -> None:
        self._logger = node.get_logger()
        self.topic = node.resolve_topic_name(topic)
        with node.ungated():
            node.create_subscription(Bool, topic, callback, E_STOP_QOS)

    def engaged_at_start(self, why: str) -> None:
        """Warn that the node starts with the e-stop engaged, `why`, and how to release it."""
        self._logger.warning(f"e-stop engaged at start ({why}): publish false on {self.topic} to release")

    def changed(self, engaged: bool) -> None:
        """Log that the e-stop was engaged (an error) or released (a warning)."""
        if engaged:  # rclpy refuses two severities from one call site: one call each
            self._logger.error("e-stop ENGAGED: zero velocity until released")
        else:
            self._logger.warning("e-stop released")
