"""ROS-free algorithms on numpy/torch. Nothing below this package may import rclpy or ROS messages."""
