"""RViz markers the nodes draw on `~/markers` (visualization_msgs/MarkerArray)."""

from __future__ import annotations

from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

from robot_vision_nav.core.geometry import Pose2D
from robot_vision_nav.ros.messages import ns_to_stamp, yaw_orientation

FOOTPRINT_HEIGHT_M = 0.1  # a flat disc: it shows the footprint without hiding the costmap under it
GOAL_ARROW_M = (0.5, 0.08, 0.08)  # length, shaft width, head height


def planner_markers(
    frame_id: str, pose: Pose2D, goal: tuple[float, float, float] | None, footprint_radius_m: float
) -> MarkerArray:
    """The goal arrow (deleted when there is no goal) and the robot footprint at `pose`, stamped with it."""
    header = Marker().header
    header.frame_id = frame_id
    header.stamp = ns_to_stamp(pose.stamp_ns)
    footprint = Marker(header=header, ns="footprint", id=0, type=Marker.CYLINDER, action=Marker.ADD)
    footprint.pose.position.x, footprint.pose.position.y = pose.x_m, pose.y_m
    footprint.pose.position.z = FOOTPRINT_HEIGHT_M / 2.0
    footprint.pose.orientation.w = 1.0
    diameter = 2.0 * footprint_radius_m
    footprint.scale.x, footprint.scale.y, footprint.scale.z = diameter, diameter, FOOTPRINT_HEIGHT_M
    footprint.color = ColorRGBA(r=0.2, g=0.4, b=1.0, a=0.5)
    arrow = Marker(header=header, ns="goal", id=0, type=Marker.ARROW)
    if goal is None:
        arrow.action = Marker.DELETE  # a refused or absent goal leaves no arrow behind
    else:
        x, y, yaw = goal
        arrow.action = Marker.ADD
        arrow.pose.position.x, arrow.pose.position.y = x, y
        arrow.pose.orientation = yaw_orientation(yaw)
        arrow.scale.x, arrow.scale.y, arrow.scale.z = GOAL_ARROW_M
        arrow.color = ColorRGBA(r=0.1, g=0.9, b=0.2, a=1.0)
    return MarkerArray(markers=[arrow, footprint])
