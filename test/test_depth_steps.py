"""The costmap and obstacle steps, pacing by stamps and step timing (core only, no ROS)."""

from __future__ import annotations

import numpy as np

from robot_vision_nav.core.costmap import CostmapConfig
from robot_vision_nav.core.depth_steps import (
    NO_VALID_DEPTH,
    NO_VALID_DEPTH_CLOUD,
    Built,
    CostmapStep,
    ObstacleStep,
    Skipped,
    Updated,
)
from robot_vision_nav.core.geometry import Pose2D
from robot_vision_nav.core.obstacle_cloud import ObstacleCloudConfig
from robot_vision_nav.core.pacing import RatePacer, StepTimes
from robot_vision_nav.sim.synthetic import Box, Scene, d435_intrinsics, render

MS = 1_000_000
K = d435_intrinsics(160, 120)


def test_a_pacer_lets_one_event_per_period_through() -> None:
    pacer = RatePacer(5.0)  # 200 ms
    taken = [t for t in range(0, 1000, 50) if pacer.take(t * MS)]
    assert taken == [0, 200, 400, 600, 800]


def test_a_pacer_without_a_rate_lets_everything_through() -> None:
    pacer = RatePacer(0.0)
    assert all(pacer.take(t * MS) for t in (0, 0, 1, 1))


def test_a_fraction_lets_an_early_source_through_at_the_full_rate() -> None:
    strict, lenient = RatePacer(20.0), RatePacer(20.0, fraction=0.9)  # 50 ms; 45 ms with the fraction
    stamps = [t * 48 * MS for t in range(10)]  # a source a little faster than 20 Hz
    assert sum(strict.take(s) for s in stamps) == 5
    assert sum(lenient.take(s) for s in stamps) == 10


def test_due_records_nothing_and_an_older_stamp_is_not_due_until_reset() -> None:
    pacer = RatePacer(10.0)
    assert pacer.due(5 * MS) and pacer.due(5 * MS) and pacer.last_ns is None
    assert pacer.take(1000 * MS)
    assert not pacer.due(10 * MS)  # a clock that jumped back: the caller resets
    pacer.reset()
    assert pacer.take(10 * MS)


def test_step_times_report_nan_before_the_first_run_then_last_and_median() -> None:
    times = StepTimes()
    assert (times.last_ms(), times.median_ms(), times.idle_s(), times.count) == ("nan", "nan", None, 0)
    times.done(times.start())
    assert times.count == 1 and float(times.last_ms()) >= 0.0 and times.idle_s() is not None


def frame(stamp_ns: int, pose: Pose2D, config: CostmapConfig) -> tuple[np.ndarray, np.ndarray]:
    f = render(Scene(boxes=(Box(2.0, 0.0, 0.4, 0.4, 0.5),)), K, config.mount, pose)
    return f.depth_mm(), f.mask


def test_costmap_step_publishes_at_its_rate_and_counts_what_it_let_out() -> None:
    config = CostmapConfig()
    step = CostmapStep(config, publish_rate_hz=5.0)
    pose = Pose2D(0.0, 0.0, 0.0)
    results = []
    for t in range(0, 500, 100):  # 10 Hz of frames, 5 Hz of maps
        depth, mask = frame(t * MS, pose, config)
        results.append(step.on_frame(depth, K, pose, t * MS, mask, config.mount))
    assert all(isinstance(r, Updated) for r in results)
    assert [r.publish for r in results if isinstance(r, Updated)] == [True, False, True, False, True]
    assert step.published == 3 and step.times.count == 5


def test_costmap_step_skips_a_bad_frame_and_says_why_keeping_the_map() -> None:
    config = CostmapConfig()
    step = CostmapStep(config, publish_rate_hz=0.0)
    pose = Pose2D(0.0, 0.0, 0.0)
    depth, mask = frame(0, pose, config)
    step.on_frame(depth, K, pose, 0, mask, config.mount)
    before = step.costmap.occupancy.copy()
    result = step.on_frame(depth[:10], K, pose, 100 * MS, mask, config.mount)  # the wrong size for K
    assert isinstance(result, Skipped) and result.reason.startswith("bad input:")
    assert np.array_equal(step.costmap.occupancy, before) and step.times.count == 1


def test_costmap_step_reports_a_frame_without_valid_depth_and_does_not_publish_it() -> None:
    config = CostmapConfig()
    step = CostmapStep(config, publish_rate_hz=0.0)
    pose = Pose2D(0.0, 0.0, 0.0)
    _, mask = frame(0, pose, config)
    result = step.on_frame(np.zeros((K.height, K.width), np.uint16), K, pose, 0, mask, config.mount)
    assert isinstance(result, Updated) and not result.publish and result.problem == NO_VALID_DEPTH
    assert step.published == 0


def test_costmap_step_restart_forgets_the_map_and_the_last_publish() -> None:
    config = CostmapConfig()
    step = CostmapStep(config, publish_rate_hz=1.0)
    pose = Pose2D(0.0, 0.0, 0.0)
    depth, mask = frame(0, pose, config)
    step.on_frame(depth, K, pose, 5000 * MS, mask, config.mount)
    step.restart()
    assert (step.costmap.occupancy == -1).all()
    result = step.on_frame(depth, K, pose, 10 * MS, mask, config.mount)  # earlier than the last: after a restart
    assert isinstance(result, Updated) and result.publish


def test_obstacle_step_builds_a_cloud_and_skips_a_bad_frame() -> None:
    config = ObstacleCloudConfig()
    step = ObstacleStep(config)
    depth, mask = frame(0, Pose2D(0.0, 0.0, 0.0), CostmapConfig())
    built = step.on_frame(depth, K, mask, config.mount)
    assert isinstance(built, Built) and built.problem == "" and built.cloud.points.shape[0] > 0
    skipped = step.on_frame(depth[:10], K, mask, config.mount)
    assert isinstance(skipped, Skipped) and skipped.reason.startswith("bad input:")
    assert step.times.count == 1 and step.last_cloud is built.cloud


def test_obstacle_step_reports_a_frame_without_valid_depth() -> None:
    config = ObstacleCloudConfig()
    built = ObstacleStep(config).on_frame(np.zeros((K.height, K.width), np.uint16), K, None, config.mount)
    assert isinstance(built, Built) and built.problem == NO_VALID_DEPTH_CLOUD


def test_an_older_stamp_is_due_when_the_pacer_says_so() -> None:
    pacer = RatePacer(20.0, fraction=0.9, older_is_due=True)
    assert pacer.take(1000 * MS) and not pacer.take(1010 * MS)
    assert pacer.take(5 * MS)  # a clock that jumped back: taken at once
