"""sim_node's messages: /clock and odometry stamped and framed, TF that puts the robot at its true pose
whatever the odometry says, the camera chain of the mount, and camera images built one at a time."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from robot_vision_nav.core.geometry import CameraMount, PinholeIntrinsics, Pose2D, mount_difference
from robot_vision_nav.ros.image import image_to_numpy
from robot_vision_nav.ros.messages import camera_info_to_intrinsics, odometry_to_pose2d, stamp_to_ns
from robot_vision_nav.ros.sim_messages import SimFrames, camera_messages, camera_tf, robot_tf, state_messages
from robot_vision_nav.sim.sim import Frame, StepResult
from test.tf_helpers import require_tf

FRAMES = SimFrames("world", "odom", "base_link", "camera_link", "camera_color_optical_frame")
STAMP_NS = 1_230_000_000
# The true pose, and an odometry that has drifted from it.
RESULT = StepResult(
    stamp_ns=STAMP_NS,
    pose=Pose2D(2.0, -1.0, 0.7, STAMP_NS),
    odom=Pose2D(1.8, -0.6, 0.4, STAMP_NS),
    linear_mps=0.5,
    angular_rps=0.2,
    odom_linear_mps=0.45,
    odom_angular_rps=0.25,
    collided_with=(),
    in_keep_out=False,
    camera_due=True,
)
K = PinholeIntrinsics(fx=30.0, fy=30.0, cx=16.0, cy=12.0, width=32, height=24)


def frame() -> Frame:
    depth = np.linspace(0.0, 5.0, 24 * 32, dtype=np.float32).reshape(24, 32)
    rgb = np.arange(24 * 32 * 3, dtype=np.uint8).reshape(24, 32, 3)
    labels = (np.arange(24 * 32) % 7).astype(np.uint8).reshape(24, 32)
    return Frame(STAMP_NS, rgb, depth, labels, RESULT.pose, np.eye(4))


def test_state_messages_are_clock_then_odometry_then_the_true_pose_all_at_the_step_stamp() -> None:
    clock, odom, truth = state_messages(RESULT, FRAMES, STAMP_NS)
    assert stamp_to_ns(clock.clock) == STAMP_NS
    assert (odom.header.frame_id, odom.child_frame_id, truth.header.frame_id) == ("odom", "base_link", "world")
    for msg, pose in ((odom, RESULT.odom), (truth, RESULT.pose)):
        back = odometry_to_pose2d(msg)
        assert (back.x_m, back.y_m, back.yaw_rad, back.stamp_ns) == pytest.approx(tuple(vars(pose).values()))
    assert (odom.twist.twist.linear.x, odom.twist.twist.angular.z) == (0.45, 0.25)
    assert (truth.twist.twist.linear.x, truth.twist.twist.angular.z) == (0.5, 0.2)


def test_robot_tf_puts_base_link_at_the_true_pose_however_the_odometry_drifted() -> None:
    require_tf()
    from robot_vision_nav.ros.tf import transform_from_msg

    world_odom, odom_base = robot_tf(RESULT, FRAMES, STAMP_NS).transforms
    assert (world_odom.header.frame_id, world_odom.child_frame_id) == ("world", "odom")
    assert (odom_base.header.frame_id, odom_base.child_frame_id) == ("odom", "base_link")
    assert {stamp_to_ns(t.header.stamp) for t in (world_odom, odom_base)} == {STAMP_NS}
    assert transform_from_msg(odom_base).apply_to_pose2d(0.0, 0.0, 0.0) == pytest.approx((1.8, -0.6, 0.4))
    world_base = transform_from_msg(world_odom).compose(transform_from_msg(odom_base))
    assert world_base.apply_to_pose2d(0.0, 0.0, 0.0) == pytest.approx((2.0, -1.0, 0.7))


def test_camera_tf_chains_base_link_camera_link_and_the_optical_frame_of_the_mount() -> None:
    require_tf()
    from robot_vision_nav.core.geometry import mount_from_optical_transform
    from robot_vision_nav.ros.tf import transform_from_msg

    mount = CameraMount(0.12, 0.02, 0.45, 0.0, 0.3, -0.1)
    body, optical = camera_tf(mount, FRAMES, STAMP_NS).transforms
    assert [(t.header.frame_id, t.child_frame_id) for t in (body, optical)] == [
        ("base_link", "camera_link"),
        ("camera_link", "camera_color_optical_frame"),
    ]
    chained = transform_from_msg(body).compose(transform_from_msg(optical))
    distance, angle = mount_difference(mount_from_optical_transform(chained), mount)
    assert distance < 1e-9 and angle < 1e-9


@pytest.mark.parametrize(("encoding", "labels"), [("16UC1", True), ("32FC1", False)])
def test_camera_messages_are_colour_info_depth_and_labels_in_the_camera_frame(encoding: str, labels: bool) -> None:
    f = frame()
    msgs = list(camera_messages(f, K, "cam", STAMP_NS, encoding, labels))
    assert len(msgs) == (4 if labels else 3)
    assert {m.header.frame_id for m in msgs} == {"cam"} and {stamp_to_ns(m.header.stamp) for m in msgs} == {STAMP_NS}
    color, info, depth = msgs[:3]
    assert color.encoding == "rgb8" and np.array_equal(image_to_numpy(color), f.rgb)
    assert camera_info_to_intrinsics(info) == K
    assert depth.encoding == encoding
    expected = f.depth_mm() if encoding == "16UC1" else f.depth_m
    assert np.array_equal(image_to_numpy(depth), expected)
    if labels:
        assert msgs[3].encoding == "mono8" and np.array_equal(image_to_numpy(msgs[3]), f.labels)


def test_camera_messages_build_each_image_only_when_asked_for() -> None:
    class NoDepth(Frame):
        def depth_mm(self) -> NDArray[np.uint16]:
            raise AssertionError("depth converted before it was asked for")

    f = frame()
    images = camera_messages(NoDepth(*vars(f).values()), K, "cam", STAMP_NS, "16UC1", True)
    assert next(images).encoding == "rgb8"
    assert camera_info_to_intrinsics(next(images)) == K
    with pytest.raises(AssertionError, match="before it was asked for"):
        next(images)
