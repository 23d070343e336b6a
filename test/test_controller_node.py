"""controller_node over real rclpy, beyond test_nav_nodes: parameter changes on an active node."""

from __future__ import annotations

from typing import Any

import pytest
from geometry_msgs.msg import Twist, TwistStamped
from rclpy.parameter import Parameter
from std_msgs.msg import String

from robot_vision_nav.nodes.controller_node import ControllerNode
from test.test_nav_nodes import controller_rig

pytestmark = pytest.mark.ros


def test_switching_cmd_vel_type_at_run_time_sends_zero_as_the_old_type_then_switches(ros_context: Any) -> None:
    rig = controller_rig(ros_context)
    statuses: list[str] = []
    rig.driver.create_subscription(String, "/controller_status", lambda m: statuses.append(m.data), 10)
    node = rig.nodes[0]
    assert isinstance(node, ControllerNode)
    sent: list[Any] = []

    def spy_on_publisher() -> None:
        publisher = node._cmd_pub
        publish = publisher.publish

        def spy(msg: Any) -> None:
            sent.append(msg)
            publish(msg)

        publisher.publish = spy  # type: ignore[method-assign]

    try:
        spy_on_publisher()
        (result,) = node.set_parameters([Parameter("use_stamped_cmd_vel", value=False)])
        assert result.successful, result.reason
        assert node._cmd_pub.msg_type is Twist
        # The zero before the switch goes out on the old publisher, as its type, in base_frame.
        assert [type(m) for m in sent] == [TwistStamped]
        assert sent[0].header.frame_id == "base_link" and sent[0].twist.linear.x == sent[0].twist.angular.z == 0.0
        assert rig.spin_until(lambda: "switching_message_type" in statuses, 5.0), statuses
        spy_on_publisher()
        (back,) = node.set_parameters([Parameter("use_stamped_cmd_vel", value=True)])
        assert back.successful, back.reason
        assert node._cmd_pub.msg_type is TwistStamped
        assert [type(m) for m in sent] == [TwistStamped, Twist]
    finally:
        rig.close()
