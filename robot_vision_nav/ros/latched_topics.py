"""Latched topics a node keeps current for whoever joins late: a state word, polygons for RViz.

Both publish on LATCHED_QOS, so a late RViz or `ros2 topic echo` still gets the last message.
`LatchedText` is a std_msgs/String sent when its text changes (and again on demand, after the
node was inactive); `LatchedPolygons` is one geometry_msgs/PolygonStamped per topic, (x, y) points
in metres at z = 0 in the frame handed in, each message stamped with the node clock as it goes out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from geometry_msgs.msg import Point32, PolygonStamped
from std_msgs.msg import String

from robot_vision_nav.ros.qos import LATCHED_QOS

if TYPE_CHECKING:
    from rclpy.node import Node


class LatchedText:
    """A std_msgs/String on the latched `topic`; `text` is what was (or, before `republish`, will be) shown."""

    def __init__(self, node: Node, topic: str, text: str) -> None:
        self.text = text
        self._pub = node.create_publisher(String, topic, LATCHED_QOS)

    def show(self, text: str) -> None:
        """Publish `text` unless it is the text shown already."""
        if text != self.text:
            self.text = text
            self._pub.publish(String(data=text))

    def republish(self) -> None:
        """Publish the text shown again (a lifecycle publisher drops what is published while inactive)."""
        self._pub.publish(String(data=self.text))


class LatchedPolygons:
    """One latched PolygonStamped publisher per topic of `topics` (relative: remaps and namespace apply)."""

    def __init__(self, node: Node, topics: Sequence[str]) -> None:
        self._node = node
        self._pubs = [node.create_publisher(PolygonStamped, topic, LATCHED_QOS) for topic in topics]

    def publish(self, polygons: Sequence[Iterable[Iterable[float]]], frame_id: str) -> None:
        """Publish each polygon ((x, y) points, m) in `frame_id` on its topic, in the order the topics were given."""
        for pub, points in zip(self._pubs, polygons, strict=True):
            msg = PolygonStamped()
            msg.header.frame_id = frame_id
            msg.header.stamp = self._node.get_clock().now().to_msg()
            msg.polygon.points = [Point32(x=float(x), y=float(y), z=0.0) for x, y in points]
            pub.publish(msg)
