"""What segmentation_node does with each camera frame, without ROS.

`SegmentationStep` takes a frame in three calls, because the node decodes the message between the
first two: `arrive` counts it, estimates the frames that never came from the gaps in the stamps,
and refuses one reordered in transport (its mask would be older than one already published, and the
costmap refuses it: not segmenting it saves the GPU for the next frame); `on_image` runs the engine
and, when someone wants them, the colour overlay and the confidence image (`confidence_mono8`), and
says what became of the frame: `Segmented` or `Skipped` (with the reason); `done`, once the node
has published, records the latency (message in to publish) and the stamp. `report` is the step's part of /diagnostics.

The wall clock is read only for the latency, the frame rate and the idle check. This module must
never import ROS.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from robot_vision_nav.core.clock import StampOrder
from robot_vision_nav.core.segmentation.inference import Segmentation, SegmenterError
from robot_vision_nav.core.units import NS_PER_S
from robot_vision_nav.core.visualize import overlay_labels

LATENCY_WINDOW = 300  # frames in the rolling latency window: 10 s at 30 Hz
GAP_WINDOW = 50  # stamp gaps kept to estimate the camera period
MIN_GAPS = 5  # gaps needed before frames are counted as dropped
TIME_JUMP_NS = NS_PER_S  # a stamp gap above 1 s, or backwards, is a restarted clock or a pause, not drops


class Segments(Protocol):
    """What the step needs of an engine (`core.segmentation.inference.Segmenter`)."""

    def segment(self, rgb: NDArray[np.uint8]) -> Segmentation:
        """The labels and traversable mask of one RGB image (uint8 HxWx3)."""
        ...


def confidence_mono8(confidence: NDArray[np.float32]) -> NDArray[np.uint8]:
    """Soft-max probabilities (HxW, 0..1) as mono8: round(255 x p); NaN (no answer) is 0, i.e. unsure."""
    scaled = confidence * np.float32(255.0)  # the one float temporary: the steps below work in place
    np.nan_to_num(scaled, copy=False, nan=0.0)
    np.clip(scaled, 0.0, 255.0, out=scaled)
    np.rint(scaled, out=scaled)
    out: NDArray[np.uint8] = scaled.astype(np.uint8)
    return out


@dataclass(frozen=True)
class Segmented:
    """A frame's outputs at its size; `overlay` and `confidence` are None when nobody wants them.

    `overlay`: the class colours over the image; `confidence`: mono8, round(255 x the soft-max
    probability of each pixel's class), as `confidence_mono8` makes it.
    """

    traversable: NDArray[np.uint8]
    labels: NDArray[np.uint8]
    overlay: NDArray[np.uint8] | None
    confidence: NDArray[np.uint8] | None = None


@dataclass(frozen=True)
class Skipped:
    """A frame with no outputs, and why (the warning text)."""

    reason: str


@dataclass(frozen=True)
class Report:
    """The step's health and key/values for /diagnostics."""

    ok: bool
    message: str
    values: dict[str, str]


class SegmentationStep:
    """The engine, the frame counts and timing of segmentation_node.

    Args:
        segmenter: the engine; assign `segmenter` and `palette` when it is replaced.
        palette: 256x3 RGB class colours of the overlay (`LabelSet.palette()`).
        overlay_alpha: weight of the class colours in the overlay; assign it when it changes.

    """

    def __init__(self, segmenter: Segments, palette: NDArray[np.uint8], overlay_alpha: float) -> None:
        self.segmenter = segmenter
        self.palette = palette
        self.overlay_alpha = overlay_alpha
        # Frames reordered in transport are not segmented; each frame stands alone (core.clock).
        self.order = StampOrder(NS_PER_S, confirm=3, confirm_jump=1)
        self.received = 0
        self.processed = 0
        self.skipped = 0
        self.out_of_order = 0
        self.dropped = 0  # estimated from the stamp gaps
        self.overlays_published = 0
        self.confidences_published = 0  # not in /diagnostics: its key set stays what it was
        self._gaps_ns: deque[int] = deque(maxlen=GAP_WINDOW)
        self._last_stamp_ns: int | None = None
        self._latency_ms: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self.busy_s = 0.0  # wall time of all processed frames, arrival to publish (what bounds a replay)
        self._started = 0.0  # time.perf_counter() when the frame in hand arrived
        self._last_processed_wall: float | None = None
        self._report_wall = time.monotonic()
        self._processed_at_report = 0

    def arrive(self, stamp_ns: int) -> bool:
        """A frame stamped `stamp_ns` came in; False: reordered in transport, counted, not to be segmented."""
        self._started = time.perf_counter()
        self.received += 1
        self._count_gaps(stamp_ns)
        if self.order.reordered(stamp_ns):
            self.out_of_order += 1
            return False
        return True

    def skip(self, reason: str) -> Skipped:
        """The frame in hand is given up (bad input, engine failure): counted."""
        self.skipped += 1
        return Skipped(reason)

    def undecodable(self, reason: str) -> Skipped:
        """A frame whose payload did not decode, so it has no stamp: received and skipped."""
        self.received += 1
        return self.skip(reason)

    def on_image(self, rgb: NDArray[np.uint8], overlay: bool, confidence: bool = False) -> Segmented | Skipped:
        """Segment the frame that `arrive` took (RGB uint8 HxWx3); `overlay`, `confidence`: someone wants it."""
        try:
            result = self.segmenter.segment(rgb)
        except SegmenterError as err:
            return self.skip(f"frame skipped: {err}")
        except Exception as err:  # last resort (e.g. CUDA out of memory): one lost frame, not the node
            return self.skip(f"frame skipped, segmentation failed: {type(err).__name__}: {err}")
        colours = overlay_labels(rgb, result.labels, self.palette, self.overlay_alpha) if overlay else None
        sure = confidence_mono8(result.confidence) if confidence else None
        return Segmented(result.traversable, result.labels, colours, sure)

    def done(self, stamp_ns: int, segmented: Segmented) -> None:
        """The outputs of the frame stamped `stamp_ns` are published: its latency, counts and stamp."""
        self.overlays_published += segmented.overlay is not None
        self.confidences_published += segmented.confidence is not None
        seconds = time.perf_counter() - self._started
        self._latency_ms.append(seconds * 1e3)
        self.busy_s += seconds
        self.processed += 1
        self.order.take(stamp_ns)
        self._last_processed_wall = time.monotonic()

    def _count_gaps(self, stamp_ns: int) -> None:
        """Estimate frames that never reached us (camera, DDS, or newer ones replacing them while busy)."""
        last, self._last_stamp_ns = self._last_stamp_ns, stamp_ns
        if last is None:
            return
        gap = stamp_ns - last
        if gap <= 0 or gap > TIME_JUMP_NS:
            self._gaps_ns.clear()
            return
        if len(self._gaps_ns) >= MIN_GAPS:
            # A low percentile, not the median: when most frames are dropped the median is a multiple.
            period = float(np.percentile(np.fromiter(self._gaps_ns, np.int64), 10))
            self.dropped += max(0, round(gap / period) - 1)
        self._gaps_ns.append(gap)

    def report(self, topic: str, timeout_s: float, last_problem: str, behind: str) -> Report:
        """Health and counts since the last report (the frame rate is measured between two calls).

        Not healthy when no frame was segmented for `timeout_s` (naming `topic`), after a problem
        (`last_problem`, the last warning since the last report), or when inputs are `behind`.
        """
        now = time.monotonic()
        elapsed = now - self._report_wall
        fps = (self.processed - self._processed_at_report) / elapsed if elapsed > 0 else 0.0
        self._report_wall, self._processed_at_report = now, self.processed
        last = f"last problem: {last_problem}" if last_problem else ""
        if self._last_processed_wall is None or now - self._last_processed_wall > timeout_s:
            # Name the topic: a camera remapped to a topic nobody publishes must be findable from here.
            message = f"no image segmented from {topic} for {timeout_s} s"
            if self.received == 0:
                message += "; nothing received on it yet"
            if last:
                message += f"; {last}"
            ok = False
        elif last or behind:
            ok, message = False, last or behind
        else:
            ok, message = True, f"{fps:.1f} fps"
        if self._latency_ms:
            p50, p99 = np.percentile(np.fromiter(self._latency_ms, np.float64), [50, 99])
            latency = {"latency_ms_p50": f"{p50:.2f}", "latency_ms_p99": f"{p99:.2f}"}
        else:
            latency = {"latency_ms_p50": "nan", "latency_ms_p99": "nan"}
        values = {
            "fps": f"{fps:.2f}",
            **latency,
            "latency_window_frames": str(len(self._latency_ms)),
            "frames_received": str(self.received),
            "frames_processed": str(self.processed),
            "frames_skipped": str(self.skipped),
            "frames_out_of_order": str(self.out_of_order),
            "frames_dropped_estimate": str(self.dropped),
            "overlays_published": str(self.overlays_published),
        }
        return Report(ok, message, values)
