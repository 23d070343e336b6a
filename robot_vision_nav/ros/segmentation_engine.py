"""segmentation_node's engine: the model its parameters name, loaded, checked and made ready on its device.

`check_engine_fields` refuses a device name or an input size that cannot be meant (ConfigError,
from the config dataclass). `load` reads the model file (the shipped default when `model_path` is
empty) and checks its classes against `expected_labels`; `prepare` makes a
`core.segmentation.inference.Segmenter` of it with the node's settings, warmed up; `updated` says
what a parameter update needs: the model again from disk, a new Segmenter around the loaded one
(other drivable classes, threshold or threads), or nothing. Each of these fails with a
ParameterError naming the parameter at fault (or the model file): the node refuses its start, or the
update, with it. `engine_values` is the engine's part of /diagnostics, NVML's reading of its GPU
included; `release_device_memory` hands a dropped model's memory back.
"""

from __future__ import annotations

import gc
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from robot_vision_nav.core.config import ConfigError
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
from robot_vision_nav.gpu_monitor import GpuMonitor, find_stats
from robot_vision_nav.package_files import DEFAULT_MODEL, PackageFileError, load_label_set, package_file
from robot_vision_nav.ros.params import ParameterError

DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?")
WARMUP_ITERATIONS = 3
# Parameters whose change needs the model again from disk, and those a new Segmenter around it serves.
RELOAD = ("model_path", "expected_labels", "device", "input_height", "input_width", "deterministic")
REBUILD = ("drivable_classes", "confidence_threshold", "threads")


class EngineParameters(Protocol):
    """The parameters of segmentation_node that make its engine (SegmentationNodeConfig describes each)."""

    @property
    def model_path(self) -> str: ...  # noqa: D102
    @property
    def expected_labels(self) -> str: ...  # noqa: D102
    @property
    def device(self) -> str: ...  # noqa: D102
    @property
    def input_height(self) -> int: ...  # noqa: D102
    @property
    def input_width(self) -> int: ...  # noqa: D102
    @property
    def drivable_classes(self) -> tuple[str, ...]: ...  # noqa: D102
    @property
    def confidence_threshold(self) -> float: ...  # noqa: D102
    @property
    def threads(self) -> int: ...  # noqa: D102
    @property
    def deterministic(self) -> bool: ...  # noqa: D102


@dataclass(frozen=True)
class Engine:
    """A prepared Segmenter and what it was made from (kept for cheap rebuilds)."""

    segmenter: Segmenter
    model: SegNet
    card: ModelCard
    path: Path
    device_name: str


def check_engine_fields(config: EngineParameters) -> None:
    """Refuse a `device` that is not a device name, and an input size below 8 px or given half (ConfigError)."""
    if not DEVICE_PATTERN.fullmatch(config.device):
        raise ConfigError(f"parameter 'device' = {config.device!r} is not one of auto, cpu, cuda, cuda:N")
    for name in ("input_height", "input_width"):
        value = getattr(config, name)
        if 0 < value < 8:
            raise ConfigError(f"parameter '{name}' = {value} is below 8 px; allowed 0 (the card's) or [8, 4096] px")
    if (config.input_height == 0) != (config.input_width == 0):
        raise ConfigError(
            f"parameters 'input_height' = {config.input_height} and 'input_width' = {config.input_width} must "
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


def load(config: EngineParameters) -> tuple[SegNet, ModelCard, Path]:
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


def prepare(config: EngineParameters, model: SegNet, card: ModelCard, path: Path, warmup: bool) -> Engine:
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
        device_name += f" ({torch.cuda.get_device_name(device)})"
    return Engine(segmenter, model, card, path, device_name)


def updated(old: EngineParameters, new: EngineParameters, engine: Engine) -> Engine | None:
    """The engine parameters `new` need in place of `engine` (made with `old`); None: `engine` serves.

    A changed model, device or size loads a fresh copy from disk (the running engine stays untouched
    until the update is committed, and a model that no longer loads refuses the update); a changed
    lookup table, threshold or thread count only makes a new Segmenter around the loaded model.
    """
    if any(getattr(old, name) != getattr(new, name) for name in RELOAD):
        return prepare(new, *load(new), warmup=True)
    if any(getattr(old, name) != getattr(new, name) for name in REBUILD):
        return prepare(new, engine.model, engine.card, engine.path, warmup=False)
    return None


def describe(engine: Engine) -> str:
    """One line for the log: the model, its classes, what is drivable, the device and the input size."""
    seg, card = engine.segmenter, engine.card
    drivable = [card.labels.names[i] for i in np.flatnonzero(seg.drivable_lut)]
    return (
        f"{card.architecture.name} '{engine.path}' ({card.labels.name}, {card.labels.num_classes} classes, "
        f"drivable: {', '.join(drivable) or 'none'}, confidence > {seg.config.confidence_threshold:g}) "
        f"on {engine.device_name} at "
        f"{seg.input_size[0]}x{seg.input_size[1]} (HxW)"
    )


def engine_values(engine: Engine, gpu: GpuMonitor) -> dict[str, str]:
    """The engine's /diagnostics key/values: device, memory, model, and NVML's reading of its GPU."""
    seg = engine.segmenter
    return {
        "device": engine.device_name,
        "gpu_memory_mb": f"{seg.cuda_memory_mb():.1f}",
        "model": engine.path.name,
        "architecture": engine.card.architecture.name,
        "label_set": engine.card.labels.name,
        "input_size_hw": f"{seg.input_size[0]}x{seg.input_size[1]}",
        **gpu_values(engine, gpu),
    }


def gpu_values(engine: Engine, gpu: GpuMonitor) -> dict[str, str]:
    """NVML's reading of the GPU the network runs on, or why there is none."""
    index = gpu_index(engine.device_name)
    if index is None:
        return {"gpu": "none (segmenting on the CPU)"}
    try:
        uuid = str(torch.cuda.get_device_properties(index).uuid)
    except (AttributeError, RuntimeError, AssertionError):
        uuid = ""
    stats = find_stats(gpu.read(), uuid, index)
    if stats is None:
        return {"gpu": f"cuda:{index}, no NVML reading ({gpu.reason or 'device not matched in NVML'})"}
    return stats.as_diagnostics()


def gpu_index(device_name: str) -> int | None:
    """The CUDA index of a device name ('cuda (NVIDIA ...)' -> 0, 'cuda:2 (...)' -> 2), None for the CPU."""
    match = re.match(r"cuda(?::(\d+))?", device_name)
    if match is None:
        return None
    return int(match.group(1) or 0)


def release_device_memory() -> None:
    """Give the memory of dropped models back to the device (CUDA's caching allocator keeps it otherwise)."""
    gc.collect()  # a model held in a reference cycle goes only with a collection
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
