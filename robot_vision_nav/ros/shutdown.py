"""The last thing a node that commands the wheels does: send zero and make sure it arrived.

A process that exits right after publishing can take the message with it, so the final zero is
followed by a bounded wait until every reliable subscriber (the base driver) has acknowledged it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from rclpy.duration import Duration

if TYPE_CHECKING:
    from rclpy.node import Node
    from rclpy.publisher import Publisher
    from rclpy.type_support import MsgT

FINAL_ZERO_ACK_TIMEOUT_S = 1.0  # how long shutdown waits for the final zero to be acknowledged


def send_final_zero(node: Node, publisher: Publisher[MsgT], send_zero: Callable[[], None]) -> None:
    """Call `send_zero` (which publishes zero velocity on `publisher`) and wait for the acknowledgements.

    Never raises: at shutdown the context may already be gone, and nothing more can be sent then.
    """
    try:
        send_zero()
        if not publisher.wait_for_all_acked(Duration(seconds=FINAL_ZERO_ACK_TIMEOUT_S)):
            node.get_logger().warning("final zero velocity command not acknowledged by every subscriber")
    except Exception as err:
        node.get_logger().debug(f"could not send the final zero command: {err}")
