"""The inference engine: a model file in, class ids, confidence and the traversable mask out.

A model is two files side by side: `NAME.safetensors` (the weights; safetensors holds tensors
only, so loading it can never run code, unlike a pickle) and `NAME.card.yaml`, its model card:

    format: robot_vision_nav/model-card/1
    architecture: {name, num_classes, encoder, width, stages, in_channels}   (SegNetConfig)
    labels: {name, ignore_index, [void_ids], classes: [{id, name, color, drivable, [label_id]}, ...]}
    input: {height, width}                  the size the network runs at
    normalization: {mean: [r, g, b], std: [r, g, b], [dither: s]}   on RGB scaled to 0..1; dither:
                                            a fixed noise pattern of std s (8-bit levels) added to every input
    weights: {file, sha256}                 the weights file is checked against it on load
    metrics / training: free-form (what it scored, the exact command that trained it)

`Segmenter` runs one RGB image (uint8 HxWx3) at a time, the way a camera delivers them:
- CUDA (`device: auto` picks it when present, or `cuda` / `cuda:N`): fp16 autocast,
  channels_last, cuDNN benchmark, pinned host memory with a non-blocking copy, preprocessing on
  the GPU (uint8 HWC -> float NCHW, normalisation, resize), warm-up iterations at start so the
  first camera frame does not pay for cuDNN's algorithm search.
- CPU: fp32, channels_last (mkldnn is ~1.3-1.7x faster so on small-channel SegNets here), batch
  norm folded into the convolutions, `threads` intra-op threads.
- optional `backend: onnxruntime` (CPU, CUDA or TensorRT execution providers) on an exported
  `.onnx` (see `core.segmentation.export`), and `compile: true` for torch.compile; when the
  package is missing the error says which one and how to install it.

Outputs are resized back to the camera image with nearest-neighbour (labels are not pictures): the
class id of each pixel, the soft-max probability of that class (its confidence), and the mask:
255 where the soft-max probability of the drivable classes together is above
`confidence_threshold`, else 0 (1 marks nothing drivable). Summing matters where the network
hesitates between drivable classes (floor or marking at a paint edge): each alone may be unsure
while the pixel is surely drivable, and an unsure pixel called "not drivable" becomes a lethal
cell in the costmap.
No clock is read and nothing is random: the same image gives the same outputs. This module must
never import ROS.
"""

from __future__ import annotations

import copy
import hashlib
import math
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
import yaml
from numpy.typing import NDArray
from torch import Tensor, nn

from robot_vision_nav.core.segmentation.labels import LabelError, LabelSet, parse_label_set
from robot_vision_nav.core.segmentation.model import SegNet, SegNetConfig, build_model

CARD_FORMAT = "robot_vision_nav/model-card/1"
CARD_SUFFIX = ".card.yaml"
DITHER_SEED = 20261205  # the input dither pattern's seed: part of what a card with `dither` means
MAX_DITHER = 8.0  # 8-bit levels
CARD_KEYS = ("format", "architecture", "labels", "input", "normalization", "weights")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
BACKENDS = ("torch", "onnxruntime")
ORT_PROVIDERS = {
    "cpu": ["CPUExecutionProvider"],
    "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
    "tensorrt": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
}


class SegmenterError(ValueError):
    """A model file, device or input the engine cannot use, with what was expected."""


# ------------------------------------------------------------------------------------ model files
@dataclass(frozen=True)
class ModelCard:
    """What a weights file is: architecture, label set, input size, normalisation, checksum."""

    architecture: SegNetConfig
    labels: LabelSet
    input_height: int
    input_width: int
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    weights_file: str = ""
    sha256: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    dither: float = 0.0  # std (8-bit levels) of the fixed input pattern (`input_dither`); 0: none

    def to_dict(self) -> dict[str, Any]:
        """The card as the YAML file holds it."""
        return {
            "format": CARD_FORMAT,
            "architecture": self.architecture.to_dict(),
            "labels": self.labels.to_dict(),
            "input": {"height": self.input_height, "width": self.input_width},
            "normalization": {
                "mean": list(self.mean),
                "std": list(self.std),
                **({"dither": self.dither} if self.dither else {}),
            },
            "weights": {"file": self.weights_file, "sha256": self.sha256},
            **self.extra,
        }


def card_path(weights: str | Path) -> Path:
    """The card beside a weights file: `x.safetensors` -> `x.card.yaml`."""
    p = Path(weights)
    return p.with_name(p.name.removesuffix(".safetensors").removesuffix(".onnx") + CARD_SUFFIX)


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _atomic_write(path: Path, write: Any) -> None:
    """Write through a temporary file in the same folder and rename: never a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Not tempfile.mkstemp, whose files are 0600 (and safetensors' save_file also replaces the file
    # with a 0600 one): a model that no other user or container can read. Created as open() does,
    # the umask decides the mode, and the mode is put back after writing.
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            break
        except FileExistsError:
            continue
    try:
        mode = tmp.stat().st_mode & 0o777
        write(tmp)
        tmp.chmod(mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def parse_card(data: Any, where: str) -> ModelCard:
    """A ModelCard from parsed YAML; `where` names the file in errors."""
    if not isinstance(data, dict) or data.get("format") != CARD_FORMAT:
        raise SegmenterError(f"{where}: not a model card (expected 'format: {CARD_FORMAT}')")
    try:
        arch = SegNetConfig.from_dict(dict(data["architecture"]))
        labels = parse_label_set(data["labels"], f"{where}: labels")
        inp = data["input"]
        norm = data.get("normalization", {})
        weights = data.get("weights", {})
        mean = tuple(float(v) for v in norm.get("mean", IMAGENET_MEAN))
        std = tuple(float(v) for v in norm.get("std", IMAGENET_STD))
        card = ModelCard(
            arch,
            labels,
            int(inp["height"]),
            int(inp["width"]),
            (mean[0], mean[1], mean[2]),
            (std[0], std[1], std[2]),
            str(weights.get("file", "")),
            str(weights.get("sha256", "")),
            {
                k: v
                for k, v in data.items()
                if k not in ("format", "architecture", "labels", "input", "normalization", "weights")
            },
            _card_dither(norm.get("dither", 0.0), where),
        )
    except (KeyError, TypeError, ValueError, IndexError) as err:
        raise SegmenterError(f"{where}: bad model card: {err}") from err
    if card.labels.num_classes != arch.num_classes:
        raise SegmenterError(
            f"{where}: the architecture has {arch.num_classes} classes, the label set "
            f"{card.labels.name!r} {card.labels.num_classes}"
        )
    if card.input_height < 8 or card.input_width < 8:
        raise SegmenterError(f"{where}: input size {card.input_height}x{card.input_width} is below 8x8")
    if any(s <= 0 for s in card.std):
        raise SegmenterError(f"{where}: normalization std {card.std} must be positive")
    return card


def _card_dither(value: Any, where: str) -> float:
    """A card's normalization.dither: a number 0..MAX_DITHER (8-bit levels); anything else names the field."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= MAX_DITHER:
        raise SegmenterError(
            f"{where}: normalization.dither must be a number 0..{MAX_DITHER:g} (8-bit levels), got {value!r}"
        )
    return float(value)


def read_card(weights: str | Path) -> ModelCard:
    """The model card beside `weights`, checked (not the weights themselves)."""
    path = card_path(weights)
    if not path.is_file():
        raise SegmenterError(f"model card {str(path)!r} for {str(weights)!r} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise SegmenterError(f"cannot read model card {str(path)!r}: {err}") from err
    return parse_card(data, str(path))


def save_model(
    model: SegNet,
    path: str | Path,
    labels: LabelSet,
    input_size: tuple[int, int],
    *,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    extra: dict[str, Any] | None = None,
    dither: float = 0.0,
) -> ModelCard:
    """Write `path` (.safetensors) and its card, each atomically; return the card."""
    if not 0.0 <= dither <= MAX_DITHER:
        raise SegmenterError(f"input dither {dither} must be within 0..{MAX_DITHER:g} (8-bit levels)")
    from safetensors.torch import save_file

    path = Path(path)
    if path.suffix != ".safetensors":
        raise SegmenterError(f"model path {str(path)!r} must end in .safetensors")
    if labels.num_classes != model.config.num_classes:
        raise SegmenterError(
            f"label set {labels.name!r} has {labels.num_classes} classes, the model {model.config.num_classes}"
        )
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    _atomic_write(path, lambda tmp: save_file(state, str(tmp), metadata={"format": CARD_FORMAT}))
    card = ModelCard(
        model.config,
        labels,
        int(input_size[0]),
        int(input_size[1]),
        (float(mean[0]), float(mean[1]), float(mean[2])),
        (float(std[0]), float(std[1]), float(std[2])),
        path.name,
        sha256_of(path),
        dict(extra or {}),
        float(dither),
    )
    text = yaml.safe_dump(card.to_dict(), sort_keys=False)
    _atomic_write(card_path(path), lambda tmp: tmp.write_text(text))
    return card


def load_model(path: str | Path, expected_labels: LabelSet | None = None) -> tuple[SegNet, ModelCard]:
    """The network and card of a model file, checked against the card's checksum and shapes.

    `expected_labels`, when given, must name the same classes in the same order as the card's, or
    a SegmenterError names the file and both class lists.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise SegmenterError(f"model file {str(path)!r} does not exist")
    card = read_card(path)
    check_labels(card, expected_labels, path)
    digest = sha256_of(path)
    if card.sha256 and digest != card.sha256:
        raise SegmenterError(
            f"model file {str(path)!r} has sha256 {digest[:16]}..., its card says {card.sha256[:16]}...: "
            "the weights were changed or the card belongs to another file"
        )
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as err:
        raise SegmenterError(f"model file {str(path)!r} is not a readable safetensors file: {err}") from err
    model = build_model(card.architecture)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        # The first line only says "Error(s) in loading state_dict"; the next one names the tensor.
        detail = " ".join(line.strip() for line in str(err).splitlines()[:2])
        raise SegmenterError(
            f"model file {str(path)!r} does not fit its card's architecture {card.architecture.name!r}: {detail}"
        ) from err
    return model.eval(), card


def check_labels(card: ModelCard, expected: LabelSet | None, path: str | Path) -> None:
    """Raise SegmenterError unless `expected` (if given) has the card's classes in order."""
    if expected is not None and expected.names != card.labels.names:
        raise SegmenterError(
            f"model {str(path)!r} predicts {card.labels.num_classes} classes of {card.labels.name!r} "
            f"({', '.join(card.labels.names)}), expected {expected.num_classes} of {expected.name!r} "
            f"({', '.join(expected.names)})"
        )


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """A training checkpoint, read with `weights_only=True`: tensors and plain data, never code."""
    try:
        data = torch.load(Path(path), map_location="cpu", weights_only=True)
    except Exception as err:
        raise SegmenterError(f"cannot read checkpoint {str(path)!r} (weights_only): {err}") from err
    if not isinstance(data, dict):
        raise SegmenterError(f"checkpoint {str(path)!r} holds a {type(data).__name__}, expected a dict")
    return data


# ----------------------------------------------------------------------------------------- engine
@dataclass(frozen=True)
class SegmenterConfig:
    """How to run a model: device, size, thresholds, backend."""

    device: str = "auto"
    input_height: int = 0  # 0: the card's
    input_width: int = 0
    confidence_threshold: float = 0.5
    drivable_classes: tuple[str, ...] = ()  # empty: the label set's own drivable classes
    threads: int = 0  # CPU intra-op threads; 0 leaves torch's setting
    fp16: bool = True  # autocast on CUDA
    channels_last: bool = True
    compile: bool = False
    backend: str = "torch"
    onnx_path: str = ""  # the exported model for backend onnxruntime
    onnx_provider: str = "cpu"  # cpu | cuda | tensorrt
    warmup_iterations: int = 3
    deterministic: bool = False  # CUDA: cuDNN deterministic algorithms, no benchmark autotuning

    def __post_init__(self) -> None:
        if not (math.isfinite(self.confidence_threshold) and 0.0 <= self.confidence_threshold <= 1.0):
            raise SegmenterError(f"confidence_threshold {self.confidence_threshold} is outside [0, 1]")
        if self.backend not in BACKENDS:
            raise SegmenterError(f"backend {self.backend!r} is not one of {', '.join(BACKENDS)}")
        if self.onnx_provider not in ORT_PROVIDERS:
            raise SegmenterError(f"onnx_provider {self.onnx_provider!r} is not one of {', '.join(ORT_PROVIDERS)}")
        for name in ("input_height", "input_width", "threads", "warmup_iterations"):
            if getattr(self, name) < 0:
                raise SegmenterError(f"{name} {getattr(self, name)} must be >= 0")
        if (self.input_height == 0) != (self.input_width == 0):
            raise SegmenterError("input_height and input_width must both be 0 (the card's size) or both set")


@dataclass(frozen=True)
class Segmentation:
    """One image's result at the camera's resolution."""

    labels: NDArray[np.uint8]  # HxW class ids
    confidence: NDArray[np.float32]  # HxW soft-max probability of that class
    traversable: NDArray[np.uint8]  # HxW, 255 drivable and confidence > threshold, 0 otherwise


def resolve_device(name: str) -> torch.device:
    """`auto` (CUDA when present), `cpu`, `cuda` or `cuda:N`, checked against what this machine has."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or (name.startswith("cuda:") and name[5:].isdigit()):
        if not torch.cuda.is_available():
            raise SegmenterError(f"device {name!r} asked for, but torch sees no CUDA device (use 'auto' or 'cpu')")
        dev = torch.device(name)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise SegmenterError(f"device {name!r}: only {torch.cuda.device_count()} CUDA device(s) present")
        return dev
    raise SegmenterError(f"device {name!r} is not one of auto, cpu, cuda, cuda:N")


def fold_batch_norm(model: nn.Module) -> nn.Module:
    """Fold every eval-mode BatchNorm2d into the Conv2d right before it (inference only).

    Saves a pass over every activation; the folded network computes the same function to float
    rounding. Works on the conv-BN-ReLU Sequentials SegNet is built of and on torchvision ResNets.
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    def visit(parent: nn.Module) -> None:
        names = list(parent._modules)
        for i, name in enumerate(names):
            child = parent._modules[name]
            if child is None:
                continue
            visit(child)
            if isinstance(child, nn.BatchNorm2d) and i > 0:
                prev = parent._modules[names[i - 1]]
                if isinstance(prev, nn.Conv2d) and isinstance(parent, nn.Sequential):
                    parent._modules[names[i - 1]] = fuse_conv_bn_eval(prev, child)
                    parent._modules[name] = nn.Identity()

    visit(model)
    # torchvision ResNet blocks hold conv/bn as attributes, not in Sequentials.
    for m in model.modules():
        for conv_name, bn_name in (("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3")):
            conv, bn = getattr(m, conv_name, None), getattr(m, bn_name, None)
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                setattr(m, conv_name, fuse_conv_bn_eval(conv, bn))
                setattr(m, bn_name, nn.Identity())
        down = getattr(m, "downsample", None)
        if (
            isinstance(down, nn.Sequential)
            and len(down) == 2
            and isinstance(down[0], nn.Conv2d)
            and isinstance(down[1], nn.BatchNorm2d)
        ):
            down[0] = fuse_conv_bn_eval(down[0], down[1])
            down[1] = nn.Identity()
    return model


def dither_pattern(std: float, size: tuple[int, int]) -> Tensor:
    """The fixed input dither of a card: 1x3xHxW Gaussian noise of `std` 8-bit levels, the same on every device.

    SegNet's decoder puts each value back where max pooling found the maximum. Over a perfectly
    flat patch (a synthetic render, a JPEG's smooth blocks, a saturated wall) every pooling window
    ties, the first position wins everywhere, and the decoder sees a regular grid it never met in
    training (camera noise breaks those ties): the analytic renderer's flat floors came out
    keep-out, person and rack in a grid. A fixed pattern of about one level breaks the ties as
    sensor noise does and keeps the engine deterministic (one seed, drawn on the CPU).
    """
    generator = torch.Generator().manual_seed(DITHER_SEED)
    return torch.randn((1, 3, size[0], size[1]), generator=generator) * float(std)


def nearest_indices(src: int, dst: int, device: torch.device) -> Tensor:
    """Source index of each destination index for nearest-neighbour resizing (OpenCV's rule)."""
    return torch.clamp(
        (torch.arange(dst, device=device, dtype=torch.float64) * (src / dst)).floor().long(), max=src - 1
    )


class Segmenter:
    """A loaded model on a device; `segment(rgb)` gives a Segmentation. See the module docstring."""

    def __init__(self, model: SegNet, card: ModelCard, config: SegmenterConfig | None = None) -> None:
        self.config = config or SegmenterConfig()
        self.card = card
        self.labels = card.labels
        cfg = self.config
        try:
            self.drivable_lut = card.labels.drivable_lut(cfg.drivable_classes or None)
        except LabelError as err:
            raise SegmenterError(str(err)) from err
        self.device = resolve_device(cfg.device)
        self.cuda = self.device.type == "cuda"
        self.input_size = (cfg.input_height or card.input_height, cfg.input_width or card.input_width)
        if self.input_size[0] < 8 or self.input_size[1] < 8:
            raise SegmenterError(f"input size {self.input_size[0]}x{self.input_size[1]} is below 8x8")
        if cfg.threads and not self.cuda:
            torch.set_num_threads(cfg.threads)
        self.fp16 = self.cuda and cfg.fp16
        self._mean = torch.tensor(card.mean, device=self.device).view(1, 3, 1, 1) * 255.0
        self._inv_std = 1.0 / (torch.tensor(card.std, device=self.device).view(1, 3, 1, 1) * 255.0)
        self._dither: Tensor | None = None  # the card's fixed input noise, normalised (dither_pattern)
        if card.dither:
            self._dither = dither_pattern(card.dither, self.input_size).to(self.device) * self._inv_std
        self._lut = torch.from_numpy(self.drivable_lut).to(self.device)
        self._pinned: Tensor | None = None
        self._index_cache: dict[tuple[int, int, int, int], tuple[Tensor, Tensor]] = {}
        self._ort: Any = None
        # A copy: folding batch norm, freezing and moving the network must not change the caller's
        # model (which may go on training, or be compared against this engine).
        model = copy.deepcopy(model).eval()
        for p in model.parameters():
            p.requires_grad_(False)
        self.model: nn.Module = model
        if cfg.backend == "onnxruntime":
            self._ort = _ort_session(cfg)
        else:
            net: nn.Module = fold_batch_norm(model.to(self.device))
            if cfg.channels_last:
                net = net.to(memory_format=torch.channels_last)
            if self.cuda:
                # Autotuning picks the fastest algorithm per shape, and it can change between runs
                # (two H200 replays of one bag differed); deterministic mode trades that speed for
                # one answer per image. Both flags are process-wide in torch.
                torch.backends.cudnn.benchmark = not cfg.deterministic
                torch.backends.cudnn.deterministic = cfg.deterministic
            if cfg.compile:
                net = _compiled(net)
            self.model = net
            if cfg.compile:
                # torch.compile compiles lazily, at the first call: fail here, with the hint, and
                # not on the first camera frame.
                try:
                    self.segment(np.zeros((*self.input_size, 3), dtype=np.uint8))
                except Exception as err:
                    raise SegmenterError(f"torch.compile failed ({err}); set compile: false") from err
        for _ in range(cfg.warmup_iterations):
            self.segment(np.zeros((*self.input_size, 3), dtype=np.uint8))

    @classmethod
    def from_file(
        cls, path: str | Path, config: SegmenterConfig | None = None, expected_labels: LabelSet | None = None
    ) -> Segmenter:
        """Load a model file (with its card) and prepare it; see `load_model` for the checks."""
        model, card = load_model(path, expected_labels)
        return cls(model, card, config)

    # -- stages ---------------------------------------------------------------------------------
    def _to_device(self, rgb: NDArray[np.uint8]) -> Tensor:
        # torch warns on read-only arrays (PIL's np.asarray, np.frombuffer over bytes): it cannot
        # promise not to write. Nothing here writes; copying such an array (about 20 us at 480x640)
        # keeps the warning out of the log. The node's images are writable (ros.image copies).
        host = torch.from_numpy(rgb if rgb.flags.writeable else rgb.copy())
        if not self.cuda:
            return host
        if self._pinned is None or self._pinned.shape != host.shape:
            self._pinned = torch.empty(host.shape, dtype=torch.uint8).pin_memory()
        self._pinned.copy_(host)
        return self._pinned.to(self.device, non_blocking=True)

    def preprocess(self, rgb: Tensor) -> Tensor:
        """uint8 HxWx3 on the device -> normalised float 1x3xhxw at the network's input size."""
        x = rgb.permute(2, 0, 1).unsqueeze(0).float()
        if tuple(x.shape[-2:]) != self.input_size:
            x = F.interpolate(x, size=self.input_size, mode="bilinear", align_corners=False, antialias=False)
        x = (x - self._mean) * self._inv_std
        if self._dither is not None:
            x = x + self._dither
        if self.config.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def logits(self, x: Tensor) -> Tensor:
        """The network's logits (float32) for a preprocessed batch."""
        if self._ort is not None:
            out = np.asarray(self._ort.run(None, {"image": x.contiguous().cpu().numpy()})[0])
            return torch.from_numpy(out).to(self.device)
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.float16, enabled=self.fp16):
            y: Tensor = self.model(x)
        return y.float()

    def _resize_indices(self, h: int, w: int, out_h: int, out_w: int) -> tuple[Tensor, Tensor]:
        key = (h, w, out_h, out_w)
        if key not in self._index_cache:
            self._index_cache[key] = (nearest_indices(h, out_h, self.device), nearest_indices(w, out_w, self.device))
        return self._index_cache[key]

    def segment(self, rgb: NDArray[np.uint8]) -> Segmentation:
        """Segment one RGB image (uint8, HxWx3); the outputs have its height and width."""
        if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            got = f"{rgb.dtype} {rgb.shape}" if isinstance(rgb, np.ndarray) else type(rgb).__name__
            raise SegmenterError(f"expected an RGB image as uint8 HxWx3, got {got}")
        height, width = rgb.shape[:2]
        if height == 0 or width == 0:
            raise SegmenterError(f"image is empty ({height}x{width})")
        with torch.inference_mode():
            x = self.preprocess(self._to_device(np.ascontiguousarray(rgb)))
            logits = self.logits(x)
            probs = torch.softmax(logits, dim=1)
            conf, labels = probs.max(dim=1)
            drivable_weights = self._lut[: probs.shape[1]].to(probs.dtype).view(1, -1, 1, 1)
            drivable_p = (probs * drivable_weights).sum(dim=1)[0]
            conf, labels = conf[0], labels[0].to(torch.uint8)
            if (height, width) != tuple(labels.shape):
                rows, cols = self._resize_indices(labels.shape[0], labels.shape[1], height, width)
                labels = labels.index_select(0, rows).index_select(1, cols)
                conf = conf.index_select(0, rows).index_select(1, cols)
                drivable_p = drivable_p.index_select(0, rows).index_select(1, cols)
            # Strictly above: soft-max rounds to exactly 1.0 in float32 once the logit margin passes
            # ~17, so ">=" would let threshold 1.0 through; ">" makes 1.0 "trust nothing".
            mask = drivable_p > self.config.confidence_threshold
            mask_u8 = mask.to(torch.uint8) * 255
            # One device-to-host copy (one wait for the GPU): labels, mask and the confidence's
            # float32 bytes in a single uint8 buffer.
            conf_bytes = conf.float().contiguous().view(torch.uint8).reshape(-1)
            packed = torch.cat((labels.reshape(-1), mask_u8.reshape(-1), conf_bytes)).cpu().numpy()
        n = height * width
        labels_np = packed[:n].reshape(height, width)
        mask_np = packed[n : 2 * n].reshape(height, width)
        conf_np = packed[2 * n :].view(np.float32).reshape(height, width)
        return Segmentation(labels_np, conf_np, mask_np)

    def cuda_memory_mb(self) -> float:
        """CUDA memory allocated by torch on this engine's device, MiB (0 on CPU)."""
        return torch.cuda.memory_allocated(self.device) / 2**20 if self.cuda else 0.0


def _compiled(net: nn.Module) -> nn.Module:
    compile_fn = getattr(torch, "compile", None)
    if compile_fn is None:
        raise SegmenterError("compile: true needs torch.compile (torch >= 2.0)")
    try:
        return compile_fn(net, mode="max-autotune-no-cudagraphs")  # type: ignore[no-any-return]
    except Exception as err:  # e.g. no C compiler for inductor's CPU backend
        raise SegmenterError(f"torch.compile failed ({err}); set compile: false") from err


def _ort_session(cfg: SegmenterConfig) -> Any:
    try:
        import onnxruntime as ort
    except ImportError as err:
        raise SegmenterError(
            "backend 'onnxruntime' needs the onnxruntime package (pip install onnxruntime, or onnxruntime-gpu "
            "for CUDA/TensorRT)"
        ) from err
    if not cfg.onnx_path or not Path(cfg.onnx_path).is_file():
        raise SegmenterError(
            f"backend 'onnxruntime' needs onnx_path to an exported model; {cfg.onnx_path!r} is not a file"
        )
    wanted = ORT_PROVIDERS[cfg.onnx_provider]
    available = ort.get_available_providers()
    if wanted[0] not in available:
        raise SegmenterError(
            f"onnx_provider {cfg.onnx_provider!r} needs {wanted[0]}, which this onnxruntime lacks "
            f"(available: {', '.join(available)})"
        )
    options = ort.SessionOptions()
    if cfg.threads:
        options.intra_op_num_threads = cfg.threads
    return ort.InferenceSession(cfg.onnx_path, options, providers=[p for p in wanted if p in available])
