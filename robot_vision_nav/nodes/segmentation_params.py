"""segmentation_node's own parameters: one dataclass, read by the node and by the parameter table."""

from __future__ import annotations

from dataclasses import dataclass

from robot_vision_nav.core.config import param, validate_fields
from robot_vision_nav.package_files import DEFAULT_MODEL
from robot_vision_nav.ros.latency import diagnostics_period_param, max_input_age_param
from robot_vision_nav.ros.lifecycle import autostart_param
from robot_vision_nav.ros.segmentation_engine import check_engine_fields
from robot_vision_nav.ros.transport import IMAGE_TRANSPORTS, check_transport, image_transport_param
from robot_vision_nav.ros.warn import warn_throttle_param


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
        check_engine_fields(self)
