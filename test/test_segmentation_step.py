"""core.segmentation.step without ROS or a network: a fake engine whose answer is known, frames given
by stamp, and what the step counts, skips, overlays and reports."""

from __future__ import annotations

import time

import numpy as np
import pytest
from numpy.typing import NDArray

from robot_vision_nav.core.segmentation.inference import Segmentation, SegmenterError
from robot_vision_nav.core.segmentation.step import SegmentationStep, Segmented, Skipped, confidence_mono8

SEC = 1_000_000_000
H, W = 4, 6
FLOOR = 2


class FakeEngine:
    """Calls every pixel class FLOOR, drivable; or raises `error` when one is set."""

    def __init__(self) -> None:
        self.error: Exception | None = None
        self.calls = 0

    def segment(self, rgb: NDArray[np.uint8]) -> Segmentation:
        self.calls += 1
        if self.error is not None:
            raise self.error
        h, w = rgb.shape[:2]
        labels = np.full((h, w), FLOOR, np.uint8)
        return Segmentation(labels, np.ones((h, w), np.float32), np.full((h, w), 255, np.uint8))


def palette() -> NDArray[np.uint8]:
    table = np.zeros((256, 3), np.uint8)
    table[FLOOR] = (128, 128, 128)
    return table


def image(value: tuple[int, int, int] = (200, 50, 0)) -> NDArray[np.uint8]:
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[...] = value
    return rgb


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def step(engine: FakeEngine) -> SegmentationStep:
    return SegmentationStep(engine, palette(), overlay_alpha=0.5)


def frame(step: SegmentationStep, stamp_ns: int, overlay: bool = False) -> Segmented | Skipped | None:
    """What the node does with one decoded frame: None when it was refused by stamp."""
    if not step.arrive(stamp_ns):
        return None
    result = step.on_image(image(), overlay)
    if isinstance(result, Segmented):
        step.done(stamp_ns, result)
    return result


def test_a_frame_gives_the_engine_mask_and_labels_and_is_counted(step: SegmentationStep) -> None:
    result = frame(step, SEC)
    assert isinstance(result, Segmented)
    assert (result.traversable == 255).all() and (result.labels == FLOOR).all() and result.overlay is None
    assert (step.received, step.processed, step.skipped, step.out_of_order) == (1, 1, 0, 0)
    assert step.order.newest_ns == SEC


def test_the_overlay_is_made_and_counted_only_when_wanted(step: SegmentationStep) -> None:
    assert isinstance(frame(step, SEC), Segmented)
    assert step.overlays_published == 0
    result = frame(step, 2 * SEC, overlay=True)
    assert isinstance(result, Segmented) and result.overlay is not None
    assert (result.overlay == (164, 89, 64)).all()  # half the image, half the floor colour
    assert step.overlays_published == 1
    step.overlay_alpha = 1.0
    result = frame(step, 3 * SEC, overlay=True)
    assert isinstance(result, Segmented) and result.overlay is not None
    assert (result.overlay == (128, 128, 128)).all()


def test_frames_reordered_in_transport_are_not_segmented_but_duplicates_and_restarts_are(
    step: SegmentationStep, engine: FakeEngine
) -> None:
    frame(step, 5 * SEC)
    assert frame(step, 5 * SEC - SEC // 10) is None  # 100 ms back: reordered
    assert step.out_of_order == 1 and engine.calls == 1
    assert isinstance(frame(step, 5 * SEC), Segmented)  # a duplicate stamp
    assert isinstance(frame(step, 2 * SEC), Segmented)  # 3 s back: a restarted clock
    # A short bag in a loop: the third older frame in a row is the new timeline.
    older = [2 * SEC - SEC // 10 + i * SEC // 30 for i in range(3)]
    assert [frame(step, s) is None for s in older] == [True, True, False]
    assert step.out_of_order == 3 and step.processed == 4 and step.received == 7


def test_a_stamp_is_taken_only_once_its_outputs_are_done(step: SegmentationStep) -> None:
    assert step.arrive(SEC)
    result = step.on_image(image(), overlay=False)
    assert isinstance(result, Segmented) and step.order.newest_ns is None and step.processed == 0
    step.done(SEC, result)
    assert step.order.newest_ns == SEC and step.processed == 1


def test_dropped_frames_are_estimated_from_the_gaps_and_a_time_jump_restarts_the_estimate(
    step: SegmentationStep,
) -> None:
    stamps = [SEC + i * SEC // 10 for i in range(7)] + [SEC + 9 * SEC // 10]  # 0.7 and 0.8 s never came
    for stamp in stamps:
        frame(step, stamp)
    assert step.dropped == 2
    # A pause of 5 s is no drop, and the estimate starts over: too few gaps to count a drop yet.
    for stamp in (7 * SEC, 7 * SEC + SEC // 10, 7 * SEC + 4 * SEC // 10):
        frame(step, stamp)
    assert step.dropped == 2


def test_an_engine_failure_skips_the_frame_with_its_reason(step: SegmentationStep, engine: FakeEngine) -> None:
    engine.error = SegmenterError("image is empty (0x0)")
    assert frame(step, SEC) == Skipped("frame skipped: image is empty (0x0)")
    engine.error = RuntimeError("CUDA out of memory")
    assert frame(step, 2 * SEC) == Skipped("frame skipped, segmentation failed: RuntimeError: CUDA out of memory")
    assert (step.received, step.skipped, step.processed) == (2, 2, 0)
    assert step.order.newest_ns is None  # nothing came out: no stamp to compare the next one with
    engine.error = None
    assert isinstance(frame(step, SEC // 2), Segmented)


def test_frames_the_node_cannot_decode_are_counted(step: SegmentationStep) -> None:
    assert step.arrive(SEC)
    assert step.skip("wrong encoding 'mono8'") == Skipped("wrong encoding 'mono8'")
    assert step.undecodable("undecodable CompressedImage; frame skipped").reason.startswith("undecodable")
    assert (step.received, step.skipped, step.processed) == (2, 2, 0)


def test_the_report_warns_naming_the_topic_until_a_frame_is_segmented(step: SegmentationStep) -> None:
    report = step.report("/camera/color/image_raw", 1.0, "", "")
    assert not report.ok
    assert report.message == "no image segmented from /camera/color/image_raw for 1.0 s; nothing received on it yet"
    assert report.values["latency_ms_p50"] == "nan" and report.values["latency_window_frames"] == "0"
    step.undecodable("bad")
    report = step.report("/camera/color/image_raw", 1.0, "bad", "")
    assert report.message == "no image segmented from /camera/color/image_raw for 1.0 s; last problem: bad"


def test_the_report_after_frames_gives_rate_latency_and_counts_in_order(step: SegmentationStep) -> None:
    for i in range(3):
        frame(step, SEC + i * SEC // 10)
    time.sleep(0.01)
    report = step.report("/image", 1.0, "", "")
    assert report.ok and report.message.endswith(" fps") and float(report.message.split()[0]) > 0
    assert list(report.values) == [
        "fps",
        "latency_ms_p50",
        "latency_ms_p99",
        "latency_window_frames",
        "frames_received",
        "frames_processed",
        "frames_skipped",
        "frames_out_of_order",
        "frames_dropped_estimate",
        "overlays_published",
    ]
    values = report.values
    assert 0.0 <= float(values["latency_ms_p50"]) <= float(values["latency_ms_p99"])
    assert (values["latency_window_frames"], values["frames_received"], values["frames_processed"]) == ("3", "3", "3")
    # The rate is of the frames since the last report: none since.
    assert step.report("/image", 1.0, "", "").values["fps"] == "0.00"


def test_the_report_gives_the_last_problem_then_a_late_input_before_the_rate(step: SegmentationStep) -> None:
    frame(step, SEC)
    behind = "falling behind: inputs older than max_input_age_s = 0.5 s on arrival (image 900 ms)"
    report = step.report("/image", 1.0, "bad image", behind)
    assert (report.ok, report.message) == (False, "last problem: bad image")
    report = step.report("/image", 1.0, "", behind)
    assert (report.ok, report.message) == (False, behind)


# ------------------------------------------------------------------ confidence image
def test_confidence_mono8_is_255_times_the_probability_rounded_and_nan_is_unsure() -> None:
    probs = np.array([[0.0, 1.0, 0.5, 0.6], [0.998, 0.002, 1.0000001, np.nan]], np.float32)
    out = confidence_mono8(probs)
    assert out.dtype == np.uint8 and out.shape == probs.shape
    # round(255 p): 127.5 rounds to even (128 in float32: 0.5 * 255 = 127.5 exactly), 0.6 -> 153.
    assert out.tolist() == [[0, 255, 128, 153], [254, 1, 255, 0]]


def test_confidence_mono8_leaves_its_input_alone_and_clips_infinities() -> None:
    probs = np.array([[np.inf, -np.inf, np.nan, 0.25]], np.float32)
    before = probs.copy()
    assert confidence_mono8(probs).tolist() == [[255, 0, 0, 64]]
    np.testing.assert_array_equal(probs, before)  # NaN included: the conversion works on its own copy


def test_the_confidence_image_is_made_and_counted_only_when_wanted() -> None:
    class Unsure(FakeEngine):
        def segment(self, rgb: NDArray[np.uint8]) -> Segmentation:
            result = super().segment(rgb)
            confidence = np.full(rgb.shape[:2], 0.4, np.float32)
            confidence[0, 0] = 0.9
            return Segmentation(result.labels, confidence, result.traversable)

    step = SegmentationStep(Unsure(), palette(), overlay_alpha=0.5)
    assert step.arrive(SEC)
    plain = step.on_image(image(), overlay=False)
    assert isinstance(plain, Segmented) and plain.confidence is None
    step.done(SEC, plain)
    assert step.arrive(2 * SEC)
    wanted = step.on_image(image(), overlay=False, confidence=True)
    assert isinstance(wanted, Segmented) and wanted.confidence is not None and wanted.overlay is None
    assert wanted.confidence.shape == (H, W) and wanted.confidence[0, 0] == 230
    assert (wanted.confidence.ravel()[1:] == 102).all()
    step.done(2 * SEC, wanted)
    assert step.confidences_published == 1 and step.overlays_published == 0
    # /diagnostics keeps its keys: the confidence is counted on the step only.
    assert "confidences_published" not in step.report("camera", 1.0, "", "").values
