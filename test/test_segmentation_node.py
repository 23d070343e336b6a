"""segmentation_node over real rclpy: a test node publishes camera images on real topics and reads the
mask, labels, overlay, /rosout warnings and /diagnostics back. Tiny models (segnet_tiny, 48x64
input) keep every frame in milliseconds on a CPU; a model whose classifier ignores the image makes
the expected mask known without training anything."""

from __future__ import annotations

import array as pyarray
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import Log
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image

from robot_vision_nav.core.segmentation.step import confidence_mono8
from robot_vision_nav.nodes.segmentation_node import SegmentationNode
from robot_vision_nav.ros import segmentation_engine
from robot_vision_nav.ros.image import image_to_numpy, numpy_to_image
from robot_vision_nav.ros.messages import ns_to_stamp, stamp_to_ns
from robot_vision_nav.ros.params import ParameterError
from robot_vision_nav.ros.qos import SENSOR_QOS
from test.segmentation_helpers import constant_model, random_model

pytestmark = pytest.mark.ros

REPO = Path(__file__).resolve().parents[1]
SEC = 1_000_000_000
INPUT = (48, 64)  # network input, HxW
H, W = 120, 160  # camera images: not the network's size, so the resize back is exercised
FRAME = "camera_color_optical_frame"
IMAGE, TRAVERSABLE, LABELS, OVERLAY, CONFIDENCE = (
    "/camera/color/image_raw",
    "/segmentation/traversable",
    "/segmentation/labels",
    "/segmentation/overlay",
    "/segmentation/confidence",
)
FLOOR, MARKING, WALL = 0, 1, 3  # warehouse class ids
FLOOR_RGB = (128, 128, 128)


def camera_image(seed: int = 0) -> np.ndarray:
    """A random RGB picture: enough structure for a random network to predict several classes."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (H // 8, W // 8, 3), dtype=np.uint8)
    return np.ascontiguousarray(np.repeat(np.repeat(small, 8, axis=0), 8, axis=1))


@pytest.fixture
def floor_model(tmp_path: Path) -> Path:
    """A warehouse model that predicts `floor` (drivable) everywhere, soft-max ~0.94."""
    return constant_model(tmp_path / "floor.safetensors", "warehouse", FLOOR, INPUT)


@pytest.fixture
def random_warehouse_model(tmp_path: Path) -> Path:
    return random_model(tmp_path / "random.safetensors", "warehouse", INPUT)


class Harness:
    """segmentation_node plus a driver node in one executor; helpers publish images and wait for outputs."""

    def __init__(self, context: Any, model: Path, **params: Any) -> None:
        overrides = [
            Parameter("model_path", value=str(model)),
            Parameter("device", value="cpu"),
            Parameter("warn_throttle_s", value=0.0),
        ] + [Parameter(k, value=v) for k, v in params.items()]
        self.node = SegmentationNode(context=context, parameter_overrides=overrides)
        self.driver = Node("driver", context=context)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self.executor.add_node(self.driver)
        d = self.driver
        self.pub_image = d.create_publisher(Image, IMAGE, SENSOR_QOS)
        self.pub_compressed = d.create_publisher(CompressedImage, IMAGE + "/compressed", SENSOR_QOS)
        self.traversable: list[Image] = []
        self.labels: list[Image] = []
        self.overlays: list[Image] = []
        self.logs: list[str] = []
        self.diagnostics: list[DiagnosticArray] = []
        d.create_subscription(Image, TRAVERSABLE, self.traversable.append, SENSOR_QOS)
        d.create_subscription(Image, LABELS, self.labels.append, SENSOR_QOS)
        rosout_qos = QoSProfile(
            depth=100, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
        )
        d.create_subscription(Log, "/rosout", lambda m: self.logs.append(f"{m.name}: {m.msg}"), rosout_qos)
        d.create_subscription(DiagnosticArray, "/diagnostics", self.diagnostics.append, 10)
        self.overlay_sub: Any = None
        self.wait_for_input()
        for pub in (self.node._pub_traversable, self.node._pub_labels):
            assert self.spin_until(lambda pub=pub: pub.get_subscription_count() > 0)

    def wait_for_input(self) -> None:
        """Until the node subscribes to the topic of its image_transport (raw or <image>/compressed)."""
        inbound = self.pub_compressed if self.node.config.image_transport == "compressed" else self.pub_image
        assert self.spin_until(lambda: inbound.get_subscription_count() > 0)

    def subscribe_overlay(self) -> None:
        self.overlay_sub = self.driver.create_subscription(Image, OVERLAY, self.overlays.append, SENSOR_QOS)
        assert self.spin_until(lambda: self.node._pub_overlay.get_subscription_count() > 0)

    def unsubscribe_overlay(self) -> None:
        self.driver.destroy_subscription(self.overlay_sub)
        assert self.spin_until(lambda: self.node._pub_overlay.get_subscription_count() == 0)

    def spin_until(self, done: Callable[[], bool], timeout_s: float = 5.0) -> bool:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            self.executor.spin_once(timeout_sec=0.02)
            if done():
                return True
        return False

    def send(self, msg: Image | CompressedImage) -> None:
        """Publish one image (raw or compressed) and spin until the node has handled it (processed or skipped)."""
        handled = self.node.step.received
        (self.pub_compressed if isinstance(msg, CompressedImage) else self.pub_image).publish(msg)
        assert self.spin_until(lambda: self.node.step.received > handled), "image never reached the node"

    def segment(self, rgb: np.ndarray, stamp_ns: int, encoding: str = "rgb8") -> tuple[Image, Image]:
        """Send an image and return its (traversable, labels) messages."""
        return self.segment_message(numpy_to_image(rgb, encoding, stamp_ns, FRAME), stamp_ns)

    def segment_message(self, msg: Image | CompressedImage, stamp_ns: int) -> tuple[Image, Image]:
        """Send a message and return the (traversable, labels) messages stamped `stamp_ns`."""
        self.send(msg)

        def arrived() -> bool:
            return any(stamp_to_ns(m.header.stamp) == stamp_ns for m in self.traversable) and any(
                stamp_to_ns(m.header.stamp) == stamp_ns for m in self.labels
            )

        assert self.spin_until(arrived), f"no outputs for stamp {stamp_ns}; logs: {self.logs}"
        mask = next(m for m in self.traversable if stamp_to_ns(m.header.stamp) == stamp_ns)
        labels = next(m for m in self.labels if stamp_to_ns(m.header.stamp) == stamp_ns)
        return mask, labels

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        self.driver.destroy_node()


@pytest.fixture
def make_harness(ros_context: Any) -> Iterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def make(model: Path, **params: Any) -> Harness:
        made.append(Harness(ros_context, model, **params))
        return made[-1]

    try:
        yield make
    finally:
        for h in made:
            h.close()


def test_rgb8_image_gives_mask_and_labels_with_its_stamp_frame_and_size(
    make_harness: Callable[..., Harness], floor_model: Path
) -> None:
    h = make_harness(floor_model, expected_labels="warehouse")
    mask_msg, labels_msg = h.segment(camera_image(), 5 * SEC + 123)
    for msg in (mask_msg, labels_msg):
        assert msg.encoding == "mono8"
        assert (msg.height, msg.width) == (H, W)
        assert stamp_to_ns(msg.header.stamp) == 5 * SEC + 123 and msg.header.frame_id == FRAME
    assert (image_to_numpy(mask_msg) == 255).all()
    assert (image_to_numpy(labels_msg) == FLOOR).all()
    # /rosout is transient local: the start-up line arrives, but maybe a few spins later.
    assert h.spin_until(lambda: any("segmenting /camera/color/image_raw with segnet_tiny" in line for line in h.logs))


def test_overlay_is_computed_only_while_someone_subscribes(
    make_harness: Callable[..., Harness], floor_model: Path
) -> None:
    h = make_harness(floor_model, overlay_alpha=0.5)
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[...] = (200, 50, 0)
    h.segment(rgb, 1 * SEC)
    assert h.node.step.overlays_published == 0

    h.subscribe_overlay()
    h.segment(rgb, 2 * SEC)
    assert h.spin_until(lambda: len(h.overlays) == 1)
    overlay = h.overlays[0]
    assert overlay.encoding == "rgb8" and (overlay.height, overlay.width) == (H, W)
    assert stamp_to_ns(overlay.header.stamp) == 2 * SEC and overlay.header.frame_id == FRAME
    # Half the image, half the floor colour (128, 128, 128).
    assert (image_to_numpy(overlay) == (164, 89, 64)).all()
    assert h.node.step.overlays_published == 1

    h.unsubscribe_overlay()
    h.segment(rgb, 3 * SEC)
    assert h.node.step.overlays_published == 1


def test_bgr8_twin_gives_exactly_the_mask_and_labels_of_its_rgb8_image(
    make_harness: Callable[..., Harness], random_warehouse_model: Path
) -> None:
    # 2 of 11 classes drivable: a random model's drivable probability is near 2/11 = 0.18, so a
    # threshold there splits this image.
    h = make_harness(random_warehouse_model, confidence_threshold=0.18)
    rgb = camera_image(seed=3)
    mask_rgb, labels_rgb = h.segment(rgb, 1 * SEC, "rgb8")
    mask_bgr, labels_bgr = h.segment(np.ascontiguousarray(rgb[:, :, ::-1]), 2 * SEC, "bgr8")
    mask = image_to_numpy(mask_rgb)
    assert set(np.unique(mask)) == {0, 255}, "the random model should call part of this image drivable"
    assert np.array_equal(image_to_numpy(mask_bgr), mask)
    assert np.array_equal(image_to_numpy(labels_bgr), image_to_numpy(labels_rgb))
    # The same bytes read as rgb8 are another picture: the channel order really was honoured.
    _, labels_swapped = h.segment(np.ascontiguousarray(rgb[:, :, ::-1]), 3 * SEC, "rgb8")
    assert not np.array_equal(image_to_numpy(labels_swapped), image_to_numpy(labels_rgb))


def compressed_colour(rgb: np.ndarray, stamp_ns: int, codec: str = "png") -> CompressedImage:
    """What compressed_image_transport publishes for an rgb8 image: OpenCV gets BGR, format says so."""
    ok, data = cv2.imencode(f".{codec}", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    msg = CompressedImage(format=f"rgb8; {codec} compressed bgr8")
    msg.header.stamp = ns_to_stamp(stamp_ns)
    msg.header.frame_id = FRAME
    msg.data = pyarray.array("B", data.tobytes())
    return msg


def test_compressed_images_give_the_mask_and_labels_of_the_raw_image(
    make_harness: Callable[..., Harness], random_warehouse_model: Path
) -> None:
    h = make_harness(random_warehouse_model, confidence_threshold=0.18, image_transport="compressed")
    assert h.spin_until(lambda: any(f"segmenting {IMAGE}/compressed with" in line for line in h.logs))
    rgb = camera_image(seed=3)
    mask_png, labels_png = h.segment_message(compressed_colour(rgb, 1 * SEC + 7), 1 * SEC + 7)
    for msg in (mask_png, labels_png):  # the compressed message's header and the image's size
        assert (msg.height, msg.width) == (H, W) and msg.header.frame_id == FRAME
    mask_jpeg, _ = h.segment_message(compressed_colour(rgb, 2 * SEC, "jpeg"), 2 * SEC)
    assert image_to_numpy(mask_jpeg).shape == (H, W)
    # The same picture raw, after switching the transport at run time: the same mask and labels (PNG is lossless).
    assert h.node.set_parameters([Parameter("image_transport", value="raw")])[0].successful
    h.wait_for_input()
    mask_raw, labels_raw = h.segment(rgb, 3 * SEC)
    assert set(np.unique(image_to_numpy(mask_raw))) == {0, 255}
    assert np.array_equal(image_to_numpy(mask_png), image_to_numpy(mask_raw))
    assert np.array_equal(image_to_numpy(labels_png), image_to_numpy(labels_raw))
    refused = h.node.set_parameters([Parameter("image_transport", value="theora")])[0]
    assert not refused.successful and "image_transport" in refused.reason and "raw, compressed" in refused.reason


def test_a_compressed_image_that_does_not_decode_is_skipped_with_a_warning_naming_its_topic(
    make_harness: Callable[..., Harness], floor_model: Path
) -> None:
    h = make_harness(floor_model, image_transport="compressed")
    bad = compressed_colour(camera_image(), SEC)
    bad.data = bad.data[:40]  # a PNG cut short
    h.send(bad)
    assert h.spin_until(lambda: any(f"{IMAGE}/compressed: undecodable CompressedImage" in m for m in h.logs)), h.logs
    unknown = compressed_colour(camera_image(), 2 * SEC)
    unknown.format = "rgb8; theora"
    h.send(unknown)
    assert h.spin_until(lambda: any("unknown CompressedImage format 'rgb8; theora'" in m for m in h.logs)), h.logs
    assert h.node.step.skipped == 2 and h.node.step.processed == 0 and not h.traversable
    mask, _ = h.segment_message(compressed_colour(camera_image(), 7 * SEC), 7 * SEC)
    assert (image_to_numpy(mask) == 255).all()


def bad_images() -> list[tuple[str, Image, str]]:
    depth = numpy_to_image(np.full((H, W), 1000, np.uint16), "16UC1", SEC, FRAME)
    mono = numpy_to_image(np.zeros((H, W), np.uint8), "mono8", SEC, FRAME)
    empty = Image(height=0, width=0, encoding="rgb8", step=0)
    truncated = numpy_to_image(camera_image(), "rgb8", SEC, FRAME)
    truncated.data = truncated.data[: W * 3 * 10]  # ten rows of 120
    return [
        ("16UC1", depth, "wrong encoding '16UC1', expected rgb8 or bgr8"),
        ("mono8", mono, "wrong encoding 'mono8', expected rgb8 or bgr8"),
        ("0x0", empty, "image size must be > 0, got 0x0"),
        ("truncated", truncated, f"data has {W * 3 * 10} B, expected >= step {W * 3} x height {H}"),
    ]


def test_bad_images_are_skipped_with_a_warning_naming_the_topic_and_the_node_keeps_running(
    make_harness: Callable[..., Harness], floor_model: Path
) -> None:
    h = make_harness(floor_model)
    for name, msg, words in bad_images():
        h.send(msg)
        assert h.spin_until(lambda words=words: any(f"{IMAGE}: " in m and words in m for m in h.logs)), (name, h.logs)
    assert h.node.step.skipped == 4 and h.node.step.processed == 0
    assert not h.traversable and not h.labels
    mask, _ = h.segment(camera_image(), 7 * SEC)
    assert (image_to_numpy(mask) == 255).all()


def test_a_frame_older_than_the_last_segmented_one_is_not_segmented(
    make_harness: Callable[..., Harness], floor_model: Path
) -> None:
    h = make_harness(floor_model)
    h.segment(camera_image(), 5 * SEC)
    h.send(numpy_to_image(camera_image(), "rgb8", 5 * SEC - SEC // 10, FRAME))  # reordered by 100 ms
    h.spin_until(lambda: False, 0.3)
    assert h.node.step.out_of_order == 1 and h.node.step.processed == 1
    assert [stamp_to_ns(m.header.stamp) for m in h.traversable] == [5 * SEC]
    h.segment(camera_image(), 5 * SEC)  # the same stamp again (a duplicate) is segmented
    h.segment(camera_image(), 2 * SEC)  # 3 s back: a restarted clock, segmented
    h.segment(camera_image(), 2 * SEC + SEC // 15)
    assert h.node.step.out_of_order == 1 and h.node.step.processed == 4
    # A 0.2 s bag played in a loop: every frame of the second pass is less than 1 s older than the
    # newest segmented, and after two of them the third is taken as the new timeline it is.
    for i in range(3):
        h.send(numpy_to_image(camera_image(), "rgb8", 2 * SEC - SEC // 10 + i * SEC // 30, FRAME))  # all older
    h.spin_until(lambda: len(h.traversable) == 5, 2.0)
    assert h.node.step.out_of_order == 3 and h.node.step.processed == 5
    assert stamp_to_ns(h.traversable[-1].header.stamp) == 2 * SEC - SEC // 10 + 2 * SEC // 30


def test_an_engine_failure_skips_the_frame_with_a_warning_and_the_next_frame_works(
    make_harness: Callable[..., Harness], floor_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = make_harness(floor_model)

    def boom(rgb: np.ndarray) -> Any:
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr(h.node.engine.segmenter, "segment", boom)
    h.send(numpy_to_image(camera_image(), "rgb8", SEC, FRAME))
    assert h.spin_until(lambda: any("segmentation failed: RuntimeError: CUDA out of memory" in m for m in h.logs))
    assert h.node.step.skipped == 1 and not h.traversable
    monkeypatch.undo()
    h.segment(camera_image(), 2 * SEC)


def test_missing_model_file_stops_start_up_naming_the_file(ros_context: Any, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.safetensors"
    with pytest.raises(ParameterError, match=f"'model_path'.*model file '{missing}' does not exist"):
        SegmentationNode(context=ros_context, parameter_overrides=[Parameter("model_path", value=str(missing))])


def test_missing_default_model_stops_start_up_naming_where_it_was_looked_for(
    ros_context: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from robot_vision_nav import package_files

    share = tmp_path / "share"
    monkeypatch.setattr(package_files, "share_dirs", lambda: [share])
    looked = share / "models" / package_files.DEFAULT_MODEL
    with pytest.raises(ParameterError, match="'model_path' is empty") as err:
        SegmentationNode(context=ros_context)
    assert str(looked) in str(err.value)


def test_model_predicting_other_classes_than_expected_stops_start_up(ros_context: Any, floor_model: Path) -> None:
    overrides = [Parameter("model_path", value=str(floor_model)), Parameter("expected_labels", value="camvid")]
    with pytest.raises(ParameterError) as err:
        SegmentationNode(context=ros_context, parameter_overrides=overrides)
    text = str(err.value)
    assert str(floor_model) in text
    assert "'warehouse' (floor, marking, keep_out" in text and "'camvid' (sky, building, pole, road" in text


def test_unknown_drivable_class_stops_start_up_listing_the_model_classes(ros_context: Any, floor_model: Path) -> None:
    overrides = [Parameter("model_path", value=str(floor_model)), Parameter("drivable_classes", value=["grass"])]
    with pytest.raises(ParameterError, match=r"'drivable_classes' = \['grass'\].*its classes are floor, marking"):
        SegmentationNode(context=ros_context, parameter_overrides=overrides)


def test_main_exits_with_one_line_when_the_model_is_missing(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.safetensors"
    env = dict(os.environ, ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    cmd = [sys.executable, "-m", "robot_vision_nav.nodes.segmentation_node", "--ros-args", "-p"]
    result = subprocess.run(
        [*cmd, f"model_path:={missing}"], capture_output=True, text=True, timeout=60, env=env, cwd=REPO
    )
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert "refusing to start" in out and f"model file '{missing}' does not exist" in out
    assert "Traceback" not in out


def test_bad_parameter_updates_are_refused_naming_parameter_value_and_range(
    make_harness: Callable[..., Harness], floor_model: Path
) -> None:
    h = make_harness(floor_model)
    node = h.node
    (result,) = node.set_parameters([Parameter("confidence_threshold", value=1.5)])
    assert not result.successful
    assert "confidence_threshold" in result.reason and "1.5" in result.reason and "Max: 1.0" in result.reason
    (result,) = node.set_parameters([Parameter("drivable_classes", value=["floor", "grass"])])
    assert not result.successful and "'drivable_classes'" in result.reason and "'grass'" in result.reason
    (result,) = node.set_parameters([Parameter("device", value="gpu")])
    assert not result.successful and "'device' = 'gpu'" in result.reason
    (result,) = node.set_parameters([Parameter("model_path", value="/nonexistent/m.safetensors")])
    assert not result.successful and "'/nonexistent/m.safetensors' does not exist" in result.reason
    assert node.config.confidence_threshold == 0.3 and node.config.drivable_classes == ()
    assert node.get_parameter("model_path").value == str(floor_model)
    mask, _ = h.segment(camera_image(), SEC)
    assert (image_to_numpy(mask) == 255).all()


def test_drivable_classes_and_threshold_apply_on_the_next_frame_without_reloading_the_model(
    make_harness: Callable[..., Harness],
    floor_model: Path,
    random_warehouse_model: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    h = make_harness(floor_model)
    loads: list[Path] = []
    real_load = segmentation_engine.load_model
    monkeypatch.setattr(segmentation_engine, "load_model", lambda path, *a: loads.append(path) or real_load(path, *a))
    rgb = camera_image()

    def mask_at(stamp_ns: int) -> np.ndarray:
        return image_to_numpy(h.segment(rgb, stamp_ns)[0])

    assert (mask_at(1 * SEC) == 255).all()
    assert h.node.set_parameters([Parameter("drivable_classes", value=["marking", "wall"])])[0].successful
    assert (mask_at(2 * SEC) == 0).all()
    # An empty list needs its type spelled out: rclpy would call a bare [] a byte array.
    assert h.node.set_parameters([Parameter("drivable_classes", Parameter.Type.STRING_ARRAY, [])])[0].successful
    assert h.node.config.drivable_classes == ()
    assert (mask_at(3 * SEC) == 255).all()
    # The floor wins with soft-max ~0.94: a stricter threshold leaves nothing traversable.
    assert h.node.set_parameters([Parameter("confidence_threshold", value=0.95)])[0].successful
    assert (mask_at(4 * SEC) == 0).all()
    assert loads == []
    # Another model file is loaded, checked and swapped in for the next frame.
    assert h.node.set_parameters([Parameter("model_path", value=str(random_warehouse_model))])[0].successful
    assert loads == [random_warehouse_model]
    assert h.node.engine.path == random_warehouse_model
    assert h.spin_until(lambda: any("now segnet_tiny" in m and "random.safetensors" in m for m in h.logs))


def test_diagnostics_report_rate_latency_counts_device_and_model(
    make_harness: Callable[..., Harness], floor_model: Path
) -> None:
    h = make_harness(floor_model, diagnostics_period_s=0.1)
    for i in range(5):
        h.segment(camera_image(), (1 + i) * SEC // 10 + SEC)
    h.send(Image(height=0, width=0, encoding="rgb8", step=0))

    def values() -> dict[str, str]:
        for array in reversed(h.diagnostics):
            for status in array.status:
                if status.name.startswith("segmentation_node"):
                    return {kv.key: kv.value for kv in status.values}
        return {}

    assert h.spin_until(lambda: values().get("frames_skipped") == "1")
    v = values()
    assert v["frames_processed"] == "5" and v["frames_received"] == "6"
    assert 0.0 < float(v["latency_ms_p50"]) <= float(v["latency_ms_p99"])
    assert float(v["fps"]) >= 0.0
    assert v["device"] == "cpu" and v["gpu_memory_mb"] == "0.0"
    assert v["gpu"] == "none (segmenting on the CPU)"  # NVML values appear only for a CUDA device
    assert v["model"] == "floor.safetensors" and v["architecture"] == "segnet_tiny" and v["label_set"] == "warehouse"
    assert v["input_size_hw"] == "48x64"
    assert "frames_dropped_estimate" in v and "overlays_published" in v


def test_dropped_frames_are_estimated_from_gaps_in_the_stamps(
    make_harness: Callable[..., Harness], floor_model: Path
) -> None:
    h = make_harness(floor_model)
    stamps = [SEC + i * SEC // 10 for i in range(7)] + [SEC + 9 * SEC // 10]  # 0.7 and 0.8 s never came
    for stamp in stamps:
        h.segment(camera_image(), stamp)
    assert h.node.step.dropped == 2


def test_confidence_is_computed_and_published_only_while_someone_subscribes(
    make_harness: Callable[..., Harness], floor_model: Path
) -> None:
    h = make_harness(floor_model)
    rgb = camera_image()
    h.segment(rgb, 1 * SEC)
    assert h.node.step.confidences_published == 0 and h.node._pub_confidence.get_subscription_count() == 0

    confidences: list[Image] = []
    sub = h.driver.create_subscription(Image, CONFIDENCE, confidences.append, SENSOR_QOS)
    assert h.spin_until(lambda: h.node._pub_confidence.get_subscription_count() > 0)
    h.segment(rgb, 2 * SEC + 7)
    assert h.spin_until(lambda: len(confidences) == 1)
    msg = confidences[0]
    assert msg.encoding == "mono8" and (msg.height, msg.width) == (H, W)
    assert stamp_to_ns(msg.header.stamp) == 2 * SEC + 7 and msg.header.frame_id == FRAME
    # round(255 x the soft-max probability of the class in segmentation/labels), pixel for pixel.
    expected = confidence_mono8(h.node.engine.segmenter.segment(rgb).confidence)
    np.testing.assert_array_equal(image_to_numpy(msg), expected)
    assert 200 < int(expected.min()) == int(expected.max()) < 255  # the constant model: ~0.94 everywhere
    assert h.node.step.confidences_published == 1

    h.driver.destroy_subscription(sub)
    assert h.spin_until(lambda: h.node._pub_confidence.get_subscription_count() == 0)
    h.segment(rgb, 3 * SEC)
    assert h.node.step.confidences_published == 1 and len(confidences) == 1
