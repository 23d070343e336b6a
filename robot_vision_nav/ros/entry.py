"""The standard node entry point shared by every node's `main`.

rclpy.init, spin, and a `finally` that destroys the node and calls rclpy.try_shutdown; Ctrl-C and
external shutdown end quietly, a bad parameter ends the process with one line and exit code 1.
The executor is built before the node so that a Ctrl-C right after the node reports itself ready
cannot land inside the executor's constructor (rclpy then prints a traceback at exit).

rclpy's own signal handler shuts the context down on SIGINT before our `finally` runs, and then a
node can no longer publish; the controller must send a last zero command on the way out. So
rclpy's handler is off: while the node is being made, SIGINT and SIGTERM (what `ros2 launch`
sends second) raise KeyboardInterrupt; once it spins they only set a stop flag the spin loop polls,
and the node is destroyed while the context still works.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node

from robot_vision_nav.ros.params import ParameterError

SPIN_POLL_S = 0.05  # how often the spin loop looks at the stop flag a signal sets


def run_node(make_node: Callable[[], Node], name: str, args: list[str] | None = None) -> int:
    """Create the node with `make_node` and spin it until shutdown; return the exit code."""
    rclpy.init(args=args, signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
    stop = threading.Event()
    # Spinning, SIGINT/SIGTERM only set a flag that the spin loop checks every SPIN_POLL_S: an
    # exception raised at an arbitrary bytecode could land inside rclpy's Task constructor and
    # leave a half-built object whose __del__ prints a traceback at exit.
    previous_int = signal.signal(signal.SIGINT, _raise_keyboard_interrupt)
    previous_term = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    node: Node | None = None
    try:
        executor = SingleThreadedExecutor()
        node = make_node()
        executor.add_node(node)
        signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
        signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
        while not stop.is_set() and rclpy.ok():
            executor.spin_once(timeout_sec=SPIN_POLL_S)
    except ParameterError as err:
        rclpy.logging.get_logger(name).fatal(f"refusing to start: {err}")
        return 1
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        # A second Ctrl-C during the shutdown must not cut the controller's final zero command.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
        signal.signal(signal.SIGINT, previous_int)
        signal.signal(signal.SIGTERM, previous_term)
    return 0


def _raise_keyboard_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt
