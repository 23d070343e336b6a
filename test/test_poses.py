"""core.poses.PoseBuffer: the robot pose at another input's stamp, and the clock-restart rule."""

from __future__ import annotations

import pytest

from robot_vision_nav.core.geometry import Pose2D
from robot_vision_nav.core.poses import OUT_OF_ORDER, PoseBuffer
from robot_vision_nav.core.units import NS_PER_S

MS = NS_PER_S // 1000


def filled(*stamps_ms: int) -> PoseBuffer:
    buffer = PoseBuffer()
    for t in stamps_ms:
        assert buffer.add(Pose2D(t / 1000.0, 0.0, 0.0, t * MS)) == ""
    return buffer


def test_the_pose_between_two_is_interpolated_and_stamped_with_the_asked_stamp() -> None:
    buffer = PoseBuffer()
    buffer.add(Pose2D(0.0, 0.0, 0.0, 100 * MS))
    buffer.add(Pose2D(1.0, 2.0, 0.4, 200 * MS))
    pose = buffer.at(150 * MS, 200 * MS)
    assert pose is not None
    assert (pose.x_m, pose.y_m, pose.yaw_rad, pose.stamp_ns) == (0.5, 1.0, pytest.approx(0.2), 150 * MS)


def test_beyond_the_newest_the_nearest_is_used_within_the_age_and_never_extrapolated() -> None:
    buffer = filled(100, 200)
    pose = buffer.at(250 * MS, 100 * MS)
    assert pose is not None and (pose.x_m, pose.stamp_ns) == (0.2, 250 * MS)
    assert buffer.at(350 * MS, 100 * MS) is None  # 150 ms from the newest: stale
    assert buffer.gap_s(350 * MS) == pytest.approx(0.15)
    assert buffer.at(50 * MS, 100 * MS) is not None and buffer.at(-100 * MS, 100 * MS) is None


def test_an_empty_buffer_has_no_pose_and_no_gap() -> None:
    buffer = PoseBuffer()
    assert len(buffer) == 0 and buffer.at(0, NS_PER_S) is None and buffer.gap_s(0) is None


def test_an_older_pose_is_out_of_order_and_dropped() -> None:
    buffer = filled(100, 200)
    assert buffer.add(Pose2D(9.0, 9.0, 0.0, 150 * MS)) == OUT_OF_ORDER
    assert [p.stamp_ns for p in buffer] == [100 * MS, 200 * MS]
    assert buffer.add(Pose2D(0.2, 0.0, 0.0, 200 * MS)) == ""  # the same stamp again is kept


def test_one_pose_from_long_ago_is_dropped_and_confirm_of_them_start_over() -> None:
    buffer = filled(10_000, 10_100, 10_200)
    assert buffer.add(Pose2D(0.0, 0.0, 0.0, 1_000 * MS)) == OUT_OF_ORDER  # a late retransmission
    assert len(buffer) == 3
    assert buffer.add(Pose2D(0.0, 0.0, 0.0, 1_100 * MS)) == OUT_OF_ORDER
    assert buffer.add(Pose2D(0.0, 0.0, 0.0, 1_200 * MS)) == ""  # the third in a row: the clock restarted
    assert [p.stamp_ns for p in buffer] == [1_200 * MS]
    # An in-between good pose starts the count over.
    buffer = filled(10_000)
    buffer.add(Pose2D(0.0, 0.0, 0.0, 1_000 * MS))
    buffer.add(Pose2D(0.0, 0.0, 0.0, 10_100 * MS))
    buffer.add(Pose2D(0.0, 0.0, 0.0, 1_100 * MS))
    buffer.add(Pose2D(0.0, 0.0, 0.0, 1_200 * MS))
    assert [p.stamp_ns for p in buffer] == [10_000 * MS, 10_100 * MS]
    buffer.forget_jumps()
    buffer.add(Pose2D(0.0, 0.0, 0.0, 1_300 * MS))
    assert len(buffer) == 2


def test_capacity_keeps_the_newest() -> None:
    buffer = PoseBuffer(capacity=3)
    for t in range(5):
        buffer.add(Pose2D(float(t), 0.0, 0.0, t * MS))
    assert [p.stamp_ns for p in buffer] == [2 * MS, 3 * MS, 4 * MS]
    buffer.clear()
    assert len(buffer) == 0
