"""The stack's topic names, defined once (as ros/qos.py does for QoS).

Relative names take the node's namespace and remaps, as ROS 2 nodes' topics should; the absolute
ones (/clock, /tf, /tf_static, /diagnostics) are global by ROS convention. `~/markers` is private to
each node. Launch-time code imports this module too: it must never import rclpy.
"""

from __future__ import annotations

from typing import Final

# The camera (RealSense driver names, aligned depth).
COLOR_IMAGE: Final = "camera/color/image_raw"
CAMERA_INFO: Final = "camera/color/camera_info"
DEPTH_IMAGE: Final = "camera/aligned_depth_to_color/image_raw"

# Perception.
TRAVERSABLE: Final = "segmentation/traversable"
LABELS: Final = "segmentation/labels"
OVERLAY: Final = "segmentation/overlay"
CONFIDENCE: Final = "segmentation/confidence"
OBSTACLES: Final = "segmentation/obstacles"

# Navigation.
ODOM: Final = "odom"
LOCAL_COSTMAP: Final = "local_costmap/costmap"
GOAL_POSE: Final = "goal_pose"
PLAN: Final = "plan"
PLANNER_STATUS: Final = "planner_status"
CMD_VEL: Final = "cmd_vel"
CONTROLLER_STATUS: Final = "controller_status"
E_STOP: Final = "e_stop"
MARKERS: Final = "~/markers"

# The simulator's ground truth.
SIM_LABELS: Final = "sim/labels"
SIM_GROUND_TRUTH: Final = "sim/ground_truth"

# Global by convention.
CLOCK: Final = "/clock"
TF: Final = "/tf"
TF_STATIC: Final = "/tf_static"
DIAGNOSTICS: Final = "/diagnostics"
