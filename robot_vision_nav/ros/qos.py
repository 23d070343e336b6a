"""The QoS profiles every node uses, so publishers and subscribers on one topic always match.

A node must never build its own QoSProfile for a topic listed here: a reliable subscriber on a
best-effort publisher receives nothing, and a volatile subscriber misses a latched costmap.
"""

from __future__ import annotations

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

# Camera images and derived masks: a late frame is worth less than none, so keep only the newest
# and never retransmit. Best effort also matches what camera drivers (qos_profile_sensor_data)
# offer, which a reliable subscriber would not.
SENSOR_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=ReliabilityPolicy.BEST_EFFORT,
    durability=DurabilityPolicy.VOLATILE,
)

# State that a late joiner needs at once ("latched"): the last message is kept for it.
LATCHED_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)

# Costmaps as Nav2 publishes them: a late-joining RViz or planner gets the last grid at once.
MAP_QOS = LATCHED_QOS

# The plan is latched like a map: a controller that starts late still gets the current one.
PLAN_QOS = LATCHED_QOS

# Plans, goals and velocity commands: every message matters, and a short queue absorbs a burst
# without letting stale commands pile up.
COMMAND_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=10,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)

# A recorder or replay driver listening to outputs however they are offered: best effort matches
# reliable and transient-local publishers too, and a deep queue drains between executor passes.
LISTEN_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=1000,
    reliability=ReliabilityPolicy.BEST_EFFORT,
    durability=DurabilityPolicy.VOLATILE,
)

# The e-stop: every message matters, and a volatile reliable subscriber matches what a button
# node, `ros2 topic pub` (reliable, volatile) and a latched (transient-local) publisher all offer:
# the command profile, named so the call site says why.
E_STOP_QOS = COMMAND_QOS

# rclpy's own default (reliable, keep last 10), named so call sites say they chose it.
DEFAULT_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=10,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)

# /clock as a simulator publishes it: reliable, so recorders get every tick, and depth 1 (rclpy's
# own time source subscribes best effort, depth 1, which matches a reliable publisher).
CLOCK_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)

# /tf and /tf_static as tf2_ros's broadcasters offer them (and its listener asks): dynamic
# transforms reliable with a deep queue, static ones latched so a late listener gets the tree.
TF_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=100,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)
TF_STATIC_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)
# /tf heard only as a trigger (controller_node with robot_pose_source tf looks the pose up in its TF
# buffer): best effort matches any publisher, and only the newest message matters.
TF_TRIGGER_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=10,
    reliability=ReliabilityPolicy.BEST_EFFORT,
    durability=DurabilityPolicy.VOLATILE,
)
