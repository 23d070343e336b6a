"""Shared ROS glue: image conversion, message building, QoS profiles, parameters, synchronisation."""
