"""SegNet perception: the model, label sets and the inference engine (ROS-free)."""
