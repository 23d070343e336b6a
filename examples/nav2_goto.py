#!/usr/bin/env python3
"""Drive robot_vision_nav with Nav2's Python API: nav2_simple_commander's BasicNavigator.goToPose().

Runs in the container (where nav2_msgs and nav2_simple_commander are installed), beside a running
stack with its navigate_to_pose server, for example:

    ros2 launch robot_vision_nav sim.launch.py navigator:=true    # the simulator, the stack, the action server
    python3 examples/nav2_goto.py 2.0 0.5 --use-sim-time
    python3 examples/nav2_goto.py 2.0 0.5 --frame world --use-sim-time   # the simulator's TF: world -> odom

Two differences from a Nav2 bring-up:
- Wait with `navigator.waitUntilNav2Active(navigator='navigator_node', localizer='robot_localization')`:
  the defaults wait for the lifecycle nodes `amcl` and `bt_navigator`, which this stack does not
  have. navigator_node is a lifecycle node (active with its default autostart), and
  `robot_localization` tells BasicNavigator not to wait for a localiser's lifecycle state.
  `setInitialPose()` is not needed: the stack has no AMCL of its own.
- Goals may be in `odom` or in any frame TF connects to it (`map` from AMCL or SLAM, `world` from
  the simulator); a frame TF does not reach ends the goal FAILED with the planner's
  goal_frame_unknown reason in the result's error_msg.

Exit status: 0 when the goal succeeded, 1 otherwise.
"""

from __future__ import annotations

import argparse
import math
import sys

import rclpy
from geometry_msgs.msg import PoseStamped
from nav2_simple_commander.robot_navigator import BasicNavigator, TaskResult
from rclpy.duration import Duration
from rclpy.parameter import Parameter


def main() -> int:
    """Send one goal with BasicNavigator, print progress, return 0 on success."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("x", type=float, help="goal x (m) in --frame")
    parser.add_argument("y", type=float, help="goal y (m) in --frame")
    parser.add_argument("--frame", default="odom", help="the goal's frame_id (default odom; map with a localiser)")
    parser.add_argument("yaw", type=float, nargs="?", default=0.0, help="goal heading (rad, default 0)")
    parser.add_argument("--timeout", type=float, default=120.0, help="cancel after this many seconds (default 120)")
    parser.add_argument("--use-sim-time", action="store_true", help="follow /clock (the simulator)")
    args = parser.parse_args()

    rclpy.init()
    navigator = BasicNavigator()
    if args.use_sim_time:
        navigator.set_parameters([Parameter("use_sim_time", Parameter.Type.BOOL, True)])
    try:
        goal = PoseStamped()
        goal.header.frame_id = args.frame
        goal.header.stamp = navigator.get_clock().now().to_msg()
        goal.pose.position.x, goal.pose.position.y = args.x, args.y
        goal.pose.orientation.z, goal.pose.orientation.w = math.sin(args.yaw / 2.0), math.cos(args.yaw / 2.0)

        navigator.waitUntilNav2Active(navigator="navigator_node", localizer="robot_localization")
        if not navigator.goToPose(goal):
            print("goal rejected by navigate_to_pose", file=sys.stderr)
            return 1
        shown = 0
        while not navigator.isTaskComplete():
            feedback = navigator.getFeedback()
            if feedback is None:
                continue
            elapsed = Duration.from_msg(feedback.navigation_time)
            if shown % 10 == 0:
                print(f"{feedback.distance_remaining:.2f} m to go, {elapsed.nanoseconds / 1e9:.1f} s")
            shown += 1
            if elapsed > Duration(seconds=args.timeout):
                navigator.cancelTask()  # the server sends a goal at the robot's pose: it stops there

        result = navigator.getResult()
        if result == TaskResult.SUCCEEDED:
            print("goal succeeded")
            return 0
        error = navigator.getTaskError() if hasattr(navigator, "getTaskError") else ""
        print(f"goal {result.name.lower()} {error}".rstrip(), file=sys.stderr)
        return 1
    finally:
        navigator.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    sys.exit(main())
