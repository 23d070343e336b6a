"""rosbag2 / ROS 1 bag reading, writing, lock-step replay and regression comparison."""
