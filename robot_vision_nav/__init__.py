"""robot_vision_nav: a ROS 2 camera-to-wheels local navigation stack in Python."""

__version__ = "0.1.0"
