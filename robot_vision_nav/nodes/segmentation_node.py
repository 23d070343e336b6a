"""segmentation_node: camera image -> traversability mask, class ids and a colour overlay (SegNet).

Subscribes (sensor-data QoS, newest only, so a slow GPU drops stale frames instead of queuing them):
  camera/color/image_raw      sensor_msgs/Image rgb8 | bgr8; with image_transport: compressed,
                              <that>/compressed (sensor_msgs/CompressedImage JPEG | PNG, decoded:
                              ros/transport.py)
Publishes (sensor-data QoS, each with the input image's header and size):
  segmentation/traversable    sensor_msgs/Image mono8, 255 = drivable (a drivable class, confident enough)
  segmentation/labels         sensor_msgs/Image mono8 class ids (the model card's label set)
  segmentation/overlay        sensor_msgs/Image rgb8, class colours over the image; only computed
                              while someone subscribes
  /diagnostics                diagnostic_msgs/DiagnosticArray: fps, processing latency p50/p99
                              (conversion in to publish), frames skipped, out of order and dropped, device,
                              GPU memory

The network and its pre/post-processing are `core.segmentation.inference.Segmenter`; this node only
converts messages, reads parameters, times the work and reports. A model file that is missing, does
not match its card, or predicts other classes than `expected_labels` stops the node at start-up with
a message naming the file (and the classes). Bad input (wrong encoding, empty image, truncated data,
a compressed payload that does not decode) and any failure inside the engine get a throttled
warning naming the topic; that frame has no outputs and the node keeps running. The wall clock is
read only for timing and log throttling.
"""

from __future__ import annotations

import gc
import re
import sys
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticStatus
from sensor_msgs.msg import Image

from robot_vision_nav.core.clock import StampOrder
from robot_vision_nav.core.config import ConfigError, param, validate_fields
from robot_vision_nav.core.segmentation.inference import (
    ModelCard,
    Segmenter,
    SegmenterConfig,
    SegmenterError,
    load_model,
    resolve_device,
)
from robot_vision_nav.core.segmentation.labels import LabelError
from robot_vision_nav.core.segmentation.model import SegNet
from robot_vision_nav.core.units import NS_PER_S
from robot_vision_nav.core.visualize import overlay_labels
from robot_vision_nav.gpu_monitor import GpuMonitor, find_stats
from robot_vision_nav.package_files import PackageFileError, load_label_set, package_file
from robot_vision_nav.ros.diagnostics import DiagnosticsReporter
from robot_vision_nav.ros.entry import run_node
from robot_vision_nav.ros.image import ImageConversionError, image_to_numpy, numpy_to_image, to_rgb
from robot_vision_nav.ros.latency import InputAges, behind_message, diagnostics_period_param, max_input_age_param
from robot_vision_nav.ros.lifecycle import ManagedNode, autostart_param
from robot_vision_nav.ros.messages import stamp_to_ns
from robot_vision_nav.ros.params import ParameterError
from robot_vision_nav.ros.qos import SENSOR_QOS
from robot_vision_nav.ros.transport import IMAGE_TRANSPORTS, ImageInput, check_transport, image_transport_param
from robot_vision_nav.ros.warn import ThrottledWarnings, warn_throttle_param

NODE_NAME = "segmentation_node"
IMAGE_TOPIC = "camera/color/image_raw"
TRAVERSABLE_TOPIC = "segmentation/traversable"
LABELS_TOPIC = "segmentation/labels"
OVERLAY_TOPIC = "segmentation/overlay"

DEFAULT_MODEL = "segnet_warehouse.safetensors"
COLOR_ENCODINGS = ("rgb8", "bgr8")
DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?")
WARMUP_ITERATIONS = 3
LATENCY_WINDOW = 300  # frames in the rolling latency window: 10 s at 30 Hz
GAP_WINDOW = 50  # stamp gaps kept to estimate the camera period
MIN_GAPS = 5  # gaps needed before frames are counted as dropped
TIME_JUMP_NS = NS_PER_S  # a stamp gap above 1 s, or backwards, is a restarted clock or a pause, not drops


@dataclass(frozen=True)
class SegmentationNodeConfig:
    """The node's parameters: which model, where it runs, how its output is read."""

    model_path: str = param(
        "",
        "model weights (.safetensors) with NAME.card.yaml beside it; empty: the shipped "
        f"models/{DEFAULT_MODEL} (package share directory, else the source checkout)",
    )
    expected_labels: str = param(
        "",
        "label set name (warehouse, cityscapes, camvid) or YAML path whose classes the model must "
        "predict in order, else the node does not start; empty: no check",
    )
    device: str = param("auto", "where the network runs: auto (CUDA when present), cpu, cuda or cuda:N")
    input_height: int = param(
        0,
        "network input height (images are resized to it); 0: the model card's; set both or neither",
        unit="px",
        min_value=0,
        max_value=4096,
    )
    input_width: int = param(
        0,
        "network input width (images are resized to it); 0: the model card's; set both or neither",
        unit="px",
        min_value=0,
        max_value=4096,
    )
    drivable_classes: tuple[str, ...] = param(
        (), "class names the robot may drive on; empty: the classes the model's label set marks drivable"
    )
    confidence_threshold: float = param(
        0.3,
        "a pixel is traversable only if the soft-max probability of the drivable classes together is above this",
        min_value=0.0,
        max_value=1.0,
    )
    threads: int = param(
        0,
        "CPU intra-op threads for inference (process-wide); 0 leaves torch's default",
        min_value=0,
        max_value=256,
    )
    deterministic: bool = param(
        False,
        "CUDA: cuDNN's deterministic algorithms, no autotuning, so one image gives one mask every run "
        "(rvn replay sets it; a little slower); no effect on CPU, which is deterministic anyway",
    )
    overlay_alpha: float = param(
        0.5,
        "weight of the class colours in the overlay: 0 the image only, 1 the colours only",
        min_value=0.0,
        max_value=1.0,
    )
    input_timeout_s: float = param(
        1.0, "diagnostics warn when no image was segmented for this long", unit="s", min_value=0.01, max_value=60.0
    )
    diagnostics_period_s: float = diagnostics_period_param()
    warn_throttle_s: float = warn_throttle_param()
    max_input_age_s: float = max_input_age_param()
    image_transport: str = image_transport_param()
    autostart: bool = autostart_param()

    def __post_init__(self) -> None:
        validate_fields(self)
        check_transport("image_transport", self.image_transport, IMAGE_TRANSPORTS)
        if not DEVICE_PATTERN.fullmatch(self.device):
            raise ConfigError(f"parameter 'device' = {self.device!r} is not one of auto, cpu, cuda, cuda:N")
        for name in ("input_height", "input_width"):
            value = getattr(self, name)
            if 0 < value < 8:
                raise ConfigError(f"parameter '{name}' = {value} is below 8 px; allowed 0 (the card's) or [8, 4096] px")
        if (self.input_height == 0) != (self.input_width == 0):
            raise ConfigError(
                f"parameters 'input_height' = {self.input_height} and 'input_width' = {self.input_width} must "
                "both be 0 (the model card's size) or both be set"
            )


def resolve_model_path(model_path: str) -> Path:
    """The model file a `model_path` parameter means; ParameterError when the default is missing."""
    if model_path:
        return Path(model_path).expanduser()
    try:
        return package_file("models", DEFAULT_MODEL)
    except PackageFileError as err:
        raise ParameterError(
            f"parameter 'model_path' is empty (the shipped default model) but {err}; put a trained model there "
            "or set model_path"
        ) from err


@dataclass(frozen=True)
class _Engine:
    """A prepared Segmenter and what it was made from (kept for cheap rebuilds)."""

    segmenter: Segmenter
    model: SegNet
    card: ModelCard
    path: Path
    device_name: str


def _load(config: SegmentationNodeConfig) -> tuple[SegNet, ModelCard, Path]:
    """The model and card `config` names, checked against `expected_labels`; ParameterError if unusable."""
    path = resolve_model_path(config.model_path)
    expected = None
    if config.expected_labels:
        try:
            expected = load_label_set(config.expected_labels)
        except LabelError as err:
            raise ParameterError(f"parameter 'expected_labels' = {config.expected_labels!r}: {err}") from err
    try:
        model, card = load_model(path, expected)
    except SegmenterError as err:
        raise ParameterError(f"parameter 'model_path' = {config.model_path!r}: {err}") from err
    return model, card, path


def _prepare(config: SegmentationNodeConfig, model: SegNet, card: ModelCard, path: Path, warmup: bool) -> _Engine:
    """A Segmenter for `model` with the node's settings; ParameterError naming the parameter at fault."""
    try:
        card.labels.ids_of(config.drivable_classes)
    except LabelError as err:
        raise ParameterError(f"parameter 'drivable_classes' = {list(config.drivable_classes)!r}: {err}") from err
    try:
        device = resolve_device(config.device)
    except SegmenterError as err:
        raise ParameterError(f"parameter 'device' = {config.device!r}: {err}") from err
    engine_config = SegmenterConfig(
        device=config.device,
        input_height=config.input_height,
        input_width=config.input_width,
        confidence_threshold=config.confidence_threshold,
        drivable_classes=config.drivable_classes,
        threads=config.threads,
        deterministic=config.deterministic,
        warmup_iterations=WARMUP_ITERATIONS if warmup else 0,
    )
    try:
        segmenter = Segmenter(model, card, engine_config)
    except SegmenterError as err:
        raise ParameterError(f"cannot prepare model {str(path)!r}: {err}") from err
    except Exception as err:  # e.g. CUDA out of memory during warm-up: one line, not a traceback
        raise ParameterError(f"cannot prepare model {str(path)!r} on {device}: {type(err).__name__}: {err}") from err
    device_name = str(device)
    if device.type == "cuda":
        import torch

        device_name += f" ({torch.cuda.get_device_name(device)})"
    return _Engine(segmenter, model, card, path, device_name)


class SegmentationNode(ManagedNode):
    """The thin ROS wrapper around Segmenter, a managed node (ros/lifecycle.py).

    Configure loads the model onto its device (and warms it up); cleanup lets it go, so a node
    cleaned up by a lifecycle manager holds no GPU memory.

    Raises:
        ParameterError: a bad parameter, or (with autostart) a model that is missing, unreadable,
            mismatched with its card, or predicting other classes than `expected_labels`.

    """

    def __init__(self, **node_kwargs: Any) -> None:
        super().__init__(NODE_NAME, **node_kwargs)
        self._params = self.declare_config([SegmentationNodeConfig], self._on_config, check=self._check_config)
        self.start(self._params.get(SegmentationNodeConfig).autostart)

    def configure(self) -> None:
        """Load the model; make the publishers, the image subscription and the diagnostics timer."""
        self.config: SegmentationNodeConfig = self._params.get(SegmentationNodeConfig)
        self.engine = _prepare(self.config, *_load(self.config), warmup=True)
        self._pending_engine: _Engine | None = None
        self._palette = self.engine.card.labels.palette()

        self._latency_ms: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self._gaps_ns: deque[int] = deque(maxlen=GAP_WINDOW)
        self._last_stamp_ns: int | None = None
        self._order = StampOrder(NS_PER_S, confirm=3, confirm_jump=1)  # frames reordered in transport are not segmented
        self._last_processed_wall: float | None = None
        self._diag_wall = time.monotonic()
        # GPU utilisation, memory and temperature in /diagnostics (NVML), where a driver exists.
        self._gpu = GpuMonitor()
        self._processed_at_diag = 0
        self.received = 0
        self.processed = 0
        self.skipped = 0
        self.out_of_order = 0
        self.dropped = 0
        self.overlays_published = 0
        self._warnings = ThrottledWarnings(self.get_logger())
        self.ages = InputAges()

        self._pub_traversable = self.create_publisher(Image, TRAVERSABLE_TOPIC, SENSOR_QOS)
        self._pub_labels = self.create_publisher(Image, LABELS_TOPIC, SENSOR_QOS)
        self._pub_overlay = self.create_publisher(Image, OVERLAY_TOPIC, SENSOR_QOS)
        self._diagnostics = DiagnosticsReporter(self, "segmentation")
        self._image_in = ImageInput(
            self, IMAGE_TOPIC, self.config.image_transport, self._on_image, self._on_undecodable, SENSOR_QOS
        )
        self._topic = self._image_in.topic  # <colour>/compressed with that transport
        self._diag_timer = self.create_timer(self.config.diagnostics_period_s, self._publish_diagnostics)
        self.get_logger().info(f"segmenting {self._topic} with {self._describe(self.engine)}")

    def cleanup(self) -> None:
        """Let the model go (and its GPU memory with it)."""
        del self.engine
        self._pending_engine = None
        release_device_memory()

    @staticmethod
    def _describe(engine: _Engine) -> str:
        seg, card = engine.segmenter, engine.card
        drivable = [card.labels.names[i] for i in np.flatnonzero(seg.drivable_lut)]
        return (
            f"{card.architecture.name} '{engine.path}' ({card.labels.name}, {card.labels.num_classes} classes, "
            f"drivable: {', '.join(drivable) or 'none'}, confidence > {seg.config.confidence_threshold:g}) "
            f"on {engine.device_name} at "
            f"{seg.input_size[0]}x{seg.input_size[1]} (HxW)"
        )

    # ------------------------------------------------------------------ configuration
    def _check_config(self, cls: type[Any], config: SegmentationNodeConfig) -> None:
        """Build the engine an update needs before it is accepted; a model that fails refuses it."""
        old = self.config
        self._pending_engine = None
        reload = (
            old.model_path,
            old.expected_labels,
            old.device,
            old.input_height,
            old.input_width,
            old.deterministic,
        ) != (
            config.model_path,
            config.expected_labels,
            config.device,
            config.input_height,
            config.input_width,
            config.deterministic,
        )
        if reload:
            # A fresh copy from disk: the running engine stays untouched until the update is
            # committed, and a model that no longer loads refuses the update.
            self._pending_engine = _prepare(config, *_load(config), warmup=True)
        elif (old.drivable_classes, old.confidence_threshold, old.threads) != (
            config.drivable_classes,
            config.confidence_threshold,
            config.threads,
        ):
            # Same weights, same device: only the lookup table and threshold change, no reload.
            e = self.engine
            self._pending_engine = _prepare(config, e.model, e.card, e.path, warmup=False)

    def _on_config(self, cls: type[Any], config: SegmentationNodeConfig) -> None:
        old = self.config
        self.config = config
        engine, self._pending_engine = self._pending_engine, None
        if engine is not None:
            self.engine = engine
            self._palette = engine.card.labels.palette()
            self.get_logger().info(f"segmentation parameters updated: now {self._describe(engine)}")
        if old.diagnostics_period_s != config.diagnostics_period_s:
            self.destroy_timer(self._diag_timer)
            self._diag_timer = self.create_timer(config.diagnostics_period_s, self._publish_diagnostics)
        if old.image_transport != config.image_transport:
            self._image_in.switch(config.image_transport)
            self._topic = self._image_in.topic
            self.get_logger().info(f"segmenting {self._topic} now")

    # ------------------------------------------------------------------ images
    def _warn(self, problem: str) -> None:
        """Warn naming the topic, throttled per kind of problem (ros/warn.py)."""
        self._warnings.warn(self._topic, problem, self.config.warn_throttle_s)

    def _skip(self, problem: str) -> None:
        self.skipped += 1
        self._warn(problem)

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

    def _on_undecodable(self, topic: str, problem: str) -> None:
        """A compressed frame that does not decode: counted as received, skipped with a warning."""
        self.received += 1
        self._skip(f"{problem}; frame skipped")

    def _on_image(self, msg: Image) -> None:
        started = time.perf_counter()
        self.received += 1
        stamp_ns = stamp_to_ns(msg.header.stamp)
        self.ages.record("image", self.get_clock().now().nanoseconds, stamp_ns)
        self._count_gaps(stamp_ns)
        if self._order.reordered(stamp_ns):
            # Its mask would be older than one already published, and the costmap refuses it: not
            # segmenting it saves the GPU for the next frame.
            self.out_of_order += 1
            return
        if msg.encoding not in COLOR_ENCODINGS:
            self._skip(f"wrong encoding '{msg.encoding}', expected rgb8 or bgr8; frame skipped")
            return
        try:
            rgb = to_rgb(image_to_numpy(msg), msg.encoding)
        except ImageConversionError as err:
            self._skip(f"bad image: {err}; frame skipped")
            return
        try:
            result = self.engine.segmenter.segment(rgb)
        except SegmenterError as err:
            self._skip(f"frame skipped: {err}")
            return
        except Exception as err:  # last resort (e.g. CUDA out of memory): one lost frame, not the node
            self._skip(f"frame skipped, segmentation failed: {type(err).__name__}: {err}")
            return
        stamp, frame_id = msg.header.stamp, msg.header.frame_id
        self._pub_traversable.publish(numpy_to_image(result.traversable, "mono8", stamp, frame_id))
        self._pub_labels.publish(numpy_to_image(result.labels, "mono8", stamp, frame_id))
        if self._pub_overlay.get_subscription_count() > 0:
            overlay = overlay_labels(rgb, result.labels, self._palette, self.config.overlay_alpha)
            self._pub_overlay.publish(numpy_to_image(overlay, "rgb8", stamp, frame_id))
            self.overlays_published += 1
        self._latency_ms.append((time.perf_counter() - started) * 1e3)
        self.processed += 1
        self._order.take(stamp_ns)
        self._last_processed_wall = time.monotonic()

    # ------------------------------------------------------------------ diagnostics
    def _gpu_values(self, engine: _Engine) -> dict[str, str]:
        """NVML's reading of the GPU the network runs on, or why there is none."""
        index = _gpu_index(engine.device_name)
        if index is None:
            return {"gpu": "none (segmenting on the CPU)"}
        import torch  # only here, on a CUDA device: the node's module stays importable without it

        try:
            uuid = str(torch.cuda.get_device_properties(index).uuid)
        except (AttributeError, RuntimeError, AssertionError):
            uuid = ""
        stats = find_stats(self._gpu.read(), uuid, index)
        if stats is None:
            return {"gpu": f"cuda:{index}, no NVML reading ({self._gpu.reason or 'device not matched in NVML'})"}
        return stats.as_diagnostics()

    def _publish_diagnostics(self) -> None:
        now = time.monotonic()
        elapsed = now - self._diag_wall
        fps = (self.processed - self._processed_at_diag) / elapsed if elapsed > 0 else 0.0
        self._diag_wall, self._processed_at_diag = now, self.processed
        status = self._diagnostics.status()
        timeout = self.config.input_timeout_s
        problem = self._warnings.take_last_problem()
        last_problem = f"last problem: {problem}" if problem else ""
        if self._last_processed_wall is None or now - self._last_processed_wall > timeout:
            status.level = DiagnosticStatus.WARN
            # Name the topic: a camera remapped to a topic nobody publishes must be findable from here.
            status.message = f"no image segmented from {self._topic} for {timeout} s"
            if self.received == 0:
                status.message += "; nothing received on it yet"
            if last_problem:
                status.message += f"; {last_problem}"
        elif last_problem:
            status.level, status.message = DiagnosticStatus.WARN, last_problem
        elif behind := behind_message(self.ages, self.config.max_input_age_s):
            status.level, status.message = DiagnosticStatus.WARN, behind
        else:
            status.level, status.message = DiagnosticStatus.OK, f"{fps:.1f} fps"
        engine = self.engine
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
            "device": engine.device_name,
            "gpu_memory_mb": f"{engine.segmenter.cuda_memory_mb():.1f}",
            "model": engine.path.name,
            "architecture": engine.card.architecture.name,
            "label_set": engine.card.labels.name,
            "input_size_hw": f"{engine.segmenter.input_size[0]}x{engine.segmenter.input_size[1]}",
            **self._gpu_values(engine),
            **dict(self.ages.key_values()),
        }
        self._diagnostics.publish(status, values)


def release_device_memory() -> None:
    """Give the memory of dropped models back to the device (CUDA's caching allocator keeps it otherwise)."""
    gc.collect()  # a model held in a reference cycle goes only with a collection
    torch = sys.modules.get("torch")  # loaded with the model; never imported here for this
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def _gpu_index(device_name: str) -> int | None:
    """The CUDA index of a device name ('cuda (NVIDIA ...)' -> 0, 'cuda:2 (...)' -> 2), None for the CPU."""
    match = re.match(r"cuda(?::(\d+))?", device_name)
    if match is None:
        return None
    return int(match.group(1) or 0)


def main(args: list[str] | None = None) -> int:
    """Run segmentation_node until shutdown; a bad parameter or model ends it with one line (exit 1)."""
    return run_node(SegmentationNode, NODE_NAME, args)


if __name__ == "__main__":
    raise SystemExit(main())
