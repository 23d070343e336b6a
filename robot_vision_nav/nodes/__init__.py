"""Thin rclpy nodes: parameters, QoS, message <-> numpy, timing and diagnostics; no algorithms."""
