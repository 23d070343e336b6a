"""The standard node entry point shared by every node's `main`.

rclpy.init, spin, and a `finally` that destroys the node and calls rclpy.try_shutdown; Ctrl-C and
external shutdown end quietly, a bad parameter ends the process with one line and exit code 1.
The executor is built before the node so that a Ctrl-C right after the node reports itself ready
cannot land inside the executor's constructor (rclpy then prints a traceback at exit).
"""

from __future__ import annotations

from collections.abc import Callable

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node

from robot_vision_nav.ros.params import ParameterError


def run_node(make_node: Callable[[], Node], name: str, args: list[str] | None = None) -> int:
    """Create the node with `make_node` and spin it until shutdown; return the exit code."""
    rclpy.init(args=args)
    node: Node | None = None
    try:
        executor = SingleThreadedExecutor()
        node = make_node()
        executor.add_node(node)
        executor.spin()
    except ParameterError as err:
        rclpy.logging.get_logger(name).fatal(f"refusing to start: {err}")
        return 1
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
