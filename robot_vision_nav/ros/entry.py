"""The standard node entry point shared by every node's `main`.

rclpy.init, spin, and a `finally` that destroys the node and calls rclpy.try_shutdown; Ctrl-C and
external shutdown end quietly, a bad parameter ends the process with one line and exit code 1.
The executor is built before the node so that a Ctrl-C right after the node reports itself ready
cannot land inside the executor's constructor (rclpy then prints a traceback at exit).

rclpy's own signal handler shuts the context down on SIGINT before our `finally` runs, and then a
node can no longer publish; the controller must send a last zero command on the way out. So
rclpy's handler is off: SIGINT raises KeyboardInterrupt as in any Python program, SIGTERM (what
`ros2 launch` sends second) is turned into the same, and the node is destroyed while the context
still works.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from types import FrameType

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node

from robot_vision_nav.ros.params import ParameterError


def run_node(make_node: Callable[[], Node], name: str, args: list[str] | None = None) -> int:
    """Create the node with `make_node` and spin it until shutdown; return the exit code."""
    rclpy.init(args=args, signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
    previous_sigterm = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
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
        signal.signal(signal.SIGTERM, previous_sigterm)
    return 0


def _raise_keyboard_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt
