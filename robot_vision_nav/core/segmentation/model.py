"""SegNet (Badrinarayanan, Kendall and Cipolla, TPAMI 2017) and its smaller and ResNet variants.

The paper's network: an encoder of VGG16's 13 convolutional layers (3x3, batch norm, ReLU) in
five stages of (2, 2, 3, 3, 3) layers and (64, 128, 256, 512, 512) channels, each stage ending in
2x2/2 max-pooling that keeps the argmax indices; a mirrored decoder whose stages upsample with
those indices (max-unpooling: each value goes back to where its maximum came from, the other
three positions are zero) and then densify the sparse map with trainable convolutions; a per-pixel
K-class classifier (3x3 convolution, as in the authors' Caffe model; soft-max is in the loss).

Variants, all from one small `SegNetConfig` (name, classes, encoder, width, stages):
- `width` multiplies every channel count (rounded to a multiple of 8 so fp16 tensor cores stay
  fed) and `stages` drops the deepest stages: CPU-friendly networks of the same shape.
- `context` adds a small context block at the bottleneck of the pooling encoders (not the
  paper's): parallel 1x1, 3x3 dilated (3 and 6) and image-pooling branches, joined by a 1x1
  convolution that is added to the bottleneck. SegNet's receptive field is local; a wall filling
  the frame and a person filling it differ in what is around them, not in their pixels. The join
  starts at zero, so a network fine-tuned from a parent without the block starts as the parent.
- encoder `basic` is SegNet-Basic in the paper's sense: four stages of one 7x7 convolution of 64
  channels each (times `width`), 1x1 classifier.
- encoders `resnet18` / `resnet50` take torchvision's ResNet. A ResNet downsamples by pooling only
  once (the stem's 3x3/2 max-pool), elsewhere by strided convolution, so the decoder unpools with
  indices at that pooling (its 3x3 windows overlap: where several share a maximum, the largest
  value goes back, see `unpool_overlapping`) and upsamples 2x bilinearly where a strided
  convolution halved the map; each decoder stage is two 3x3 conv-BN-ReLU layers. Output stride 32.

Inputs of any size work: the forward pass pads right and bottom with zeros (the normalised mean
colour) to a multiple of the total stride and crops the logits back.

Encoder weights: `load_encoder_weights(model, path)` copies ImageNet weights from a local file
(torchvision's `vgg16_bn-*.pth` / `resnet*-*.pth` state dicts, or safetensors). Nothing here ever
downloads. This module must never import ROS.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812 (the PyTorch convention)
from torch import Tensor, nn

ENCODERS = ("vgg16_bn", "basic", "resnet18", "resnet50")
VGG_CHANNELS = (64, 128, 256, 512, 512)
VGG_CONVS = (2, 2, 3, 3, 3)
BASIC_CHANNELS = 64
BASIC_KERNEL = 7
BASIC_MAX_STAGES = 6
RESNET_CHANNELS = {"resnet18": (64, 64, 128, 256, 512), "resnet50": (64, 256, 512, 1024, 2048)}


class ModelError(ValueError):
    """A model configuration or weight file that cannot be used, with what was expected."""


@dataclass(frozen=True)
class SegNetConfig:
    """Everything that decides a SegNet variant's architecture (its weights' shapes).

    Attributes:
        name: the variant's name, for model cards and logs.
        num_classes: K, the classifier's output channels.
        encoder: `vgg16_bn` (the paper's), `basic` (SegNet-Basic), `resnet18` or `resnet50`.
        width: channel multiplier for `vgg16_bn` and `basic` (1.0 is the paper's widths).
        stages: encoder/decoder stages for `vgg16_bn` (1..5) and `basic` (1..6); ResNets use 5.
        in_channels: input channels (3 for RGB).
        context: a context block at the bottleneck (`vgg16_bn` and `basic` only; see the module
            docstring).

    """

    name: str = "segnet"
    num_classes: int = 11
    encoder: str = "vgg16_bn"
    width: float = 1.0
    stages: int = 5
    in_channels: int = 3
    context: bool = False

    def __post_init__(self) -> None:
        # Types first: a card or YAML may hold "11" or 2.5, which would pass the range checks below
        # (or fail them with a TypeError) and only break deep inside nn.Conv2d.
        for key in ("num_classes", "stages", "in_channels"):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ModelError(f"{key} {value!r} must be an integer")
        if not isinstance(self.width, int | float) or isinstance(self.width, bool):
            raise ModelError(f"width {self.width!r} must be a number")
        if not isinstance(self.context, bool):
            raise ModelError(f"context {self.context!r} must be true or false")
        if not isinstance(self.name, str) or not isinstance(self.encoder, str):
            raise ModelError(f"name {self.name!r} and encoder {self.encoder!r} must be strings")
        if self.encoder not in ENCODERS:
            raise ModelError(f"encoder {self.encoder!r} is not one of {', '.join(ENCODERS)}")
        if not 1 <= self.num_classes <= 255:
            raise ModelError(f"num_classes {self.num_classes} is outside [1, 255] (255 is the ignore label)")
        if not (math.isfinite(self.width) and 0.0 < self.width <= 4.0):
            raise ModelError(f"width {self.width} is outside (0, 4]")
        if self.in_channels < 1:
            raise ModelError(f"in_channels {self.in_channels} must be at least 1")
        max_stages = {"vgg16_bn": 5, "basic": BASIC_MAX_STAGES}.get(self.encoder, 5)
        if not 1 <= self.stages <= max_stages:
            raise ModelError(f"stages {self.stages} is outside [1, {max_stages}] for encoder {self.encoder!r}")
        if self.encoder.startswith("resnet") and (self.width != 1.0 or self.stages != 5):
            raise ModelError(f"encoder {self.encoder!r} has fixed widths and 5 stages (got width {self.width}, "
                             f"stages {self.stages})")  # fmt: skip
        if self.encoder.startswith("resnet") and self.context:
            raise ModelError(f"encoder {self.encoder!r} has no context block (it is for vgg16_bn and basic)")

    @property
    def stride(self) -> int:
        """Total downsampling: input sizes are padded to a multiple of it."""
        return 32 if self.encoder.startswith("resnet") else 2**self.stages

    def to_dict(self) -> dict[str, Any]:
        """The config as plain data (model cards)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SegNetConfig:
        """A config from plain data; unknown keys are refused by name."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ModelError(f"unknown model config keys {unknown}; expected {sorted(known)}")
        return cls(**data)


# Named variants. `segnet` is the paper's; the small ones trade depth and width for CPU speed.
VARIANTS: dict[str, dict[str, Any]] = {
    "segnet": {"encoder": "vgg16_bn", "width": 1.0, "stages": 5},
    "segnet_basic": {"encoder": "basic", "width": 1.0, "stages": 4},
    "segnet_small": {"encoder": "vgg16_bn", "width": 0.25, "stages": 4},
    "segnet_small_ctx": {"encoder": "vgg16_bn", "width": 0.25, "stages": 4, "context": True},
    "segnet_tiny": {"encoder": "vgg16_bn", "width": 0.125, "stages": 4},
    "segnet_resnet18": {"encoder": "resnet18", "width": 1.0, "stages": 5},
    "segnet_resnet50": {"encoder": "resnet50", "width": 1.0, "stages": 5},
}


def variant(name: str, num_classes: int, **overrides: Any) -> SegNetConfig:
    """The config of a named variant (see VARIANTS) with K classes."""
    if name not in VARIANTS:
        raise ModelError(f"unknown SegNet variant {name!r}; known: {', '.join(VARIANTS)}")
    return SegNetConfig(name=name, num_classes=num_classes, **{**VARIANTS[name], **overrides})


def scaled(channels: int, width: float) -> int:
    """`channels * width` rounded to a multiple of 8 (at least 8)."""
    return max(8, int(round(channels * width / 8.0)) * 8)


def conv_bn_relu(cin: int, cout: int, kernel: int = 3) -> nn.Sequential:
    """Convolution, batch norm, ReLU.

    The convolution keeps its bias (redundant before batch norm) because VGG16-BN's has one:
    torchvision's ImageNet weights then load one to one, and the encoder has exactly VGG16's
    14,714,688 convolution parameters.
    """
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, padding=kernel // 2),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class _PoolStage(nn.Module):
    """An encoder stage of SegNet: convolutions, then 2x2/2 max-pooling that returns its indices."""

    def __init__(self, layers: Sequence[nn.Module]) -> None:
        super().__init__()
        self.convs = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        x = self.convs(x)
        return F.max_pool2d(x, kernel_size=2, stride=2, return_indices=True)


class _UnpoolStage(nn.Module):
    """A decoder stage of SegNet: max-unpooling with the encoder's indices, then convolutions."""

    def __init__(self, layers: Sequence[nn.Module]) -> None:
        super().__init__()
        self.convs = nn.Sequential(*layers)

    def forward(self, x: Tensor, indices: Tensor) -> Tensor:
        x = F.max_unpool2d(x, indices, kernel_size=(2, 2), stride=(2, 2))
        out: Tensor = self.convs(x)
        return out


class SegNet(nn.Module):
    """SegNet and its variants: (N, C, H, W) normalised images -> (N, K, H, W) logits."""

    def __init__(self, config: SegNetConfig) -> None:
        super().__init__()
        self.config = config
        if config.encoder.startswith("resnet"):
            self.impl: nn.Module = _ResNetSegNet(config)
        else:
            self.impl = _PoolSegNet(config)
        _init_weights(self)
        context = getattr(self.impl, "context", None)
        if isinstance(context, _Context):
            context.zero_join()

    def forward(self, x: Tensor) -> Tensor:
        """Logits (N, K, H, W) for normalised images (N, C, H, W) of any size."""
        if x.dim() != 4 or x.shape[1] != self.config.in_channels:
            raise ModelError(f"expected input (N, {self.config.in_channels}, H, W), got {tuple(x.shape)}")
        h, w = x.shape[-2:]
        s = self.config.stride
        pad_h, pad_w = (-h) % s, (-w) % s
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h))
        logits: Tensor = self.impl(x)
        if pad_h or pad_w:
            logits = logits[..., :h, :w]
        return logits


class _Context(nn.Module):
    """The bottleneck's context block: x + join(cat(1x1, 3x3 dilated 3, 3x3 dilated 6, image pooling)).

    Each branch has a quarter of the channels; the image-pooling branch (the map's mean, a 1x1
    convolution, ReLU) is broadcast over the map. `join` starts at zero (see `zero_join`).
    """

    DILATIONS = (3, 6)

    def __init__(self, channels: int) -> None:
        super().__init__()
        c = max(8, channels // 4)
        branches = [conv_bn_relu(channels, c, 1)]
        for d in self.DILATIONS:
            conv = nn.Conv2d(channels, c, 3, padding=d, dilation=d)
            branches.append(nn.Sequential(conv, nn.BatchNorm2d(c), nn.ReLU(inplace=True)))
        self.branches = nn.ModuleList(branches)
        self.image = nn.Sequential(nn.Conv2d(channels, c, 1), nn.ReLU(inplace=True))
        self.join = nn.Conv2d(c * (len(branches) + 1), channels, 1)

    def zero_join(self) -> None:
        """The block adds nothing until training moves `join` (the network is then its parent)."""
        nn.init.zeros_(self.join.weight)
        if self.join.bias is not None:
            nn.init.zeros_(self.join.bias)

    def forward(self, x: Tensor) -> Tensor:
        parts = [b(x) for b in self.branches]
        parts.append(self.image(x.mean(dim=(2, 3), keepdim=True)).expand(-1, -1, x.shape[2], x.shape[3]))
        out: Tensor = x + self.join(torch.cat(parts, dim=1))
        return out


class _PoolSegNet(nn.Module):
    """The paper's layout: pooling encoder stages with indices, unpooling decoder stages."""

    def __init__(self, config: SegNetConfig) -> None:
        super().__init__()
        if config.encoder == "basic":
            channels = [scaled(BASIC_CHANNELS, config.width)] * config.stages
            convs = [1] * config.stages
            kernel, classifier_kernel = BASIC_KERNEL, 1
        else:
            channels = [scaled(c, config.width) for c in VGG_CHANNELS[: config.stages]]
            convs = list(VGG_CONVS[: config.stages])
            kernel, classifier_kernel = 3, 3
        encoders = []
        cin = config.in_channels
        for c, n in zip(channels, convs, strict=True):
            layers = [conv_bn_relu(cin if i == 0 else c, c, kernel) for i in range(n)]
            encoders.append(_PoolStage(layers))
            cin = c
        decoders = []
        # Decoder stage i mirrors encoder stage i: n-1 convolutions at its width, the last one
        # narrowing to the width of the stage above (stage 0 keeps its own).
        for i in reversed(range(config.stages)):
            c, n = channels[i], convs[i]
            out = channels[i - 1] if i > 0 else c
            layers = [conv_bn_relu(c, c if j < n - 1 else out, kernel) for j in range(n)]
            decoders.append(_UnpoolStage(layers))
        self.encoders = nn.ModuleList(encoders)
        self.context = _Context(channels[-1]) if config.context else None
        self.decoders = nn.ModuleList(decoders)
        self.classifier = nn.Conv2d(channels[0], config.num_classes, classifier_kernel, padding=classifier_kernel // 2)

    def forward(self, x: Tensor) -> Tensor:
        indices = []
        for enc in self.encoders:
            x, idx = enc(x)
            indices.append(idx)
        if self.context is not None:
            x = self.context(x)
        for dec, idx in zip(self.decoders, reversed(indices), strict=True):
            x = dec(x, idx)
        out: Tensor = self.classifier(x)
        return out


class _ResNetSegNet(nn.Module):
    """A torchvision ResNet encoder with a SegNet-style decoder (see the module docstring)."""

    def __init__(self, config: SegNetConfig) -> None:
        super().__init__()
        import torchvision

        backbone = getattr(torchvision.models, config.encoder)(weights=None)
        if config.in_channels != 3:
            backbone.conv1 = nn.Conv2d(config.in_channels, 64, 7, stride=2, padding=3, bias=False)
        self.backbone = backbone
        del self.backbone.fc
        ch = RESNET_CHANNELS[config.encoder]  # stem, layer1..layer4
        # Upsampling stages from layer4 down to layer1 (1/32 -> 1/4), then unpool to 1/2.
        self.up = nn.ModuleList(
            nn.Sequential(conv_bn_relu(ch[i], ch[i - 1]), conv_bn_relu(ch[i - 1], ch[i - 1])) for i in range(4, 1, -1)
        )
        self.to_stem = conv_bn_relu(ch[1], ch[0])  # layer1's width down to the stem's for unpooling
        self.stem_dec = nn.Sequential(conv_bn_relu(ch[0], ch[0]), conv_bn_relu(ch[0], ch[0]))
        self.head = nn.Sequential(conv_bn_relu(ch[0], ch[0]), nn.Conv2d(ch[0], config.num_classes, 3, padding=1))

    def forward(self, x: Tensor) -> Tensor:
        b = self.backbone
        stem = b.relu(b.bn1(b.conv1(x)))  # 1/2
        x, idx = F.max_pool2d(stem, kernel_size=3, stride=2, padding=1, return_indices=True)  # 1/4
        x = b.layer1(x)
        x = b.layer4(b.layer3(b.layer2(x)))  # 1/32
        for stage in self.up:
            x = stage(F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False))
        x = self.to_stem(x)  # 1/4, stem width
        # Back to 1/2 through the stem pooling's own indices.
        x = unpool_overlapping(x, idx, stem.shape[-2:])
        x = self.stem_dec(x)
        x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)  # 1/1
        out: Tensor = self.head(x)
        return out


def unpool_overlapping(x: Tensor, indices: Tensor, size: Sequence[int]) -> Tensor:
    """Max-unpooling for overlapping pooling windows (the ResNet stem's 3x3/2): an (N, C, H, W) map.

    Overlapping windows share maxima, so `indices` repeat (about a third of them for 3x3/2), and
    `F.max_unpool2d` then keeps whichever value it happens to write last: the result changes with
    memory layout (channels_last), device and ONNX Runtime. Here a position that several windows
    point at takes the largest of their values, the same everywhere; other positions are zero.
    """
    n, c = x.shape[:2]
    out = x.new_zeros(n, c, int(size[0]) * int(size[1]))
    out = out.scatter_reduce(2, indices.flatten(2), x.flatten(2), reduce="amax", include_self=False)
    return out.view(n, c, int(size[0]), int(size[1]))


def _init_weights(model: nn.Module) -> None:
    """He initialisation for convolutions (as the paper), unit scale and zero shift for batch norm."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def build_model(config: SegNetConfig) -> SegNet:
    """The network for a config, freshly initialised."""
    return SegNet(config)


def encoder_modules(model: SegNet) -> list[nn.Module]:
    """The encoder's modules (what ImageNet weights initialise)."""
    impl = model.impl
    if isinstance(impl, _PoolSegNet):
        return list(impl.encoders)
    assert isinstance(impl, _ResNetSegNet)
    return [impl.backbone]


def count_parameters(modules: nn.Module | Sequence[nn.Module], conv_only: bool = False) -> int:
    """Trainable parameters of modules; `conv_only` counts convolution weights and biases only."""
    items = [modules] if isinstance(modules, nn.Module) else list(modules)
    total = 0
    for module in items:
        for m in module.modules():
            if conv_only and not isinstance(m, nn.Conv2d):
                continue
            params = m.parameters(recurse=False) if conv_only else []
            total += sum(p.numel() for p in params if p.requires_grad)
        if not conv_only:
            total += sum(p.numel() for p in module.parameters() if p.requires_grad)
    return total


def _read_state_dict(path: Path) -> dict[str, Tensor]:
    if not path.is_file():
        raise ModelError(f"encoder weights file {str(path)!r} does not exist")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a corrupt or foreign file: say which
        raise ModelError(f"cannot read encoder weights {str(path)!r}: {err}") from err
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ModelError(f"encoder weights {str(path)!r} hold a {type(state).__name__}, expected a state dict")
    return state


def load_encoder_weights(model: SegNet, path: str | Path) -> int:
    """Copy ImageNet encoder weights from a local torchvision-format file; return tensors copied.

    vgg16_bn: the file's `features.*` convolution and batch-norm tensors are copied in order onto
    the encoder's (widths and stages must be the paper's for their shapes to match). ResNets: the
    backbone loads the file with `fc.*` dropped. A shape mismatch is a ModelError naming the layer.
    """
    cfg = model.config
    if cfg.encoder == "basic":
        raise ModelError("encoder 'basic' has no ImageNet counterpart; train it from scratch")
    state = _read_state_dict(Path(path))
    if cfg.encoder.startswith("resnet"):
        impl = model.impl
        assert isinstance(impl, _ResNetSegNet)
        backbone_state = {k: v for k, v in state.items() if not k.startswith("fc.")}
        try:
            missing, unexpected = impl.backbone.load_state_dict(backbone_state, strict=False)
        except RuntimeError as err:
            raise ModelError(f"encoder weights {str(path)!r} do not fit {cfg.encoder}: {err}") from err
        if missing or unexpected:
            raise ModelError(
                f"encoder weights {str(path)!r} do not fit {cfg.encoder}: missing {missing[:3]}, "
                f"unexpected {unexpected[:3]}"
            )
        return len(backbone_state)
    # VGG: pair the file's feature tensors with ours in order, layer kind by layer kind.
    ours = [t for m in encoder_modules(model) for t in _conv_bn_tensors(m)]
    # In layer order, not file order: safetensors stores keys sorted as text (features.10 before
    # features.2, bias before weight), so the file's order cannot be trusted.
    theirs = sorted(
        ((k, v) for k, v in state.items() if k.startswith("features.") and not k.endswith("num_batches_tracked")),
        key=_torchvision_order,
    )
    if len(theirs) < len(ours):
        raise ModelError(
            f"encoder weights {str(path)!r} have {len(theirs)} feature tensors, the encoder needs {len(ours)} "
            "(expected torchvision's vgg16_bn state dict)"
        )
    with torch.no_grad():
        for (name, target), (key, value) in zip(ours, theirs, strict=False):
            if target.shape != value.shape:
                raise ModelError(
                    f"encoder weights {str(path)!r}: {key} has shape {tuple(value.shape)}, encoder {name} needs "
                    f"{tuple(target.shape)} (ImageNet weights fit width 1.0 only)"
                )
            target.copy_(value)
    return len(ours)


_TENSOR_ORDER = {"weight": 0, "bias": 1, "running_mean": 2, "running_var": 3}


def _torchvision_order(item: tuple[str, Tensor]) -> tuple[int, int, str]:
    """Sort key of a `features.<layer>.<tensor>` entry: layer index, then torchvision's tensor order."""
    _, layer, kind = [*item[0].split(".", 2), "", ""][:3]
    return (int(layer) if layer.isdigit() else -1, _TENSOR_ORDER.get(kind, len(_TENSOR_ORDER)), kind)


def _conv_bn_tensors(module: nn.Module) -> list[tuple[str, Tensor]]:
    """(name, tensor) of every conv weight and BN weight/bias/running stats, in torchvision's order."""
    out: list[tuple[str, Tensor]] = []
    for name, m in module.named_modules():
        if isinstance(m, nn.Conv2d):
            out.append((f"{name}.weight", m.weight))
            if m.bias is not None:
                out.append((f"{name}.bias", m.bias))
        elif isinstance(m, nn.BatchNorm2d):
            assert m.running_mean is not None and m.running_var is not None
            out += [(f"{name}.weight", m.weight), (f"{name}.bias", m.bias)]
            out += [(f"{name}.running_mean", m.running_mean), (f"{name}.running_var", m.running_var)]
    return out
