"""core/segmentation/model: SegNet's size against the paper, encoder weights, unpooling, shapes, config.

The paper's encoder is VGG16's 13 convolutions, so its parameter count is checked exactly. Encoder
weights are loaded from torchvision state dicts made here with `weights=None` (nothing is ever
downloaded) and given random batch-norm statistics, so a copy in the wrong order cannot pass.
"""

from __future__ import annotations

import copy
import functools
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812
import torchvision
from safetensors.torch import save_file
from torch import Tensor, nn

from robot_vision_nav.core.segmentation.model import (
    VARIANTS,
    ModelError,
    SegNet,
    SegNetConfig,
    _PoolSegNet,
    _PoolStage,
    _ResNetSegNet,
    _UnpoolStage,
    build_model,
    count_parameters,
    encoder_modules,
    load_encoder_weights,
    unpool_overlapping,
    variant,
)

VGG16_CONV_PARAMETERS = 14_714_688  # VGG16's 13 conv layers, weights + biases (SegNet paper: 14.7M)
SEGNET_CAMVID_PARAMETERS = 29_486_411  # whole network, 11 classes (the paper quotes 29.5M)


def randomize_batch_norm(model: nn.Module, seed: int = 0) -> None:
    """Give every BatchNorm2d distinct affine parameters and running statistics."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                assert m.running_mean is not None and m.running_var is not None
                n = m.num_features
                m.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(n, generator=gen) * 0.1)
                m.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)


@functools.cache
def built(name: str, num_classes: int) -> SegNet:
    """A variant in eval mode, built once per test session (for tests that only run it)."""
    torch.manual_seed(0)
    return build_model(variant(name, num_classes)).eval()


def convs_and_norms(module: nn.Module) -> list[nn.Module]:
    return [m for m in module.modules() if isinstance(m, nn.Conv2d | nn.BatchNorm2d)]


@pytest.fixture(scope="module")
def tv_vgg16_bn() -> nn.Module:
    model = torchvision.models.vgg16_bn(weights=None)
    randomize_batch_norm(model, seed=1)
    return model


# ------------------------------------------------------------------------------------ size
def test_segnet_encoder_has_exactly_vgg16_convolution_parameters() -> None:
    model = build_model(variant("segnet", 11))
    encoder = encoder_modules(model)
    convs = [m for stage in encoder for m in stage.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 13
    assert all(c.kernel_size == (3, 3) for c in convs)
    assert [c.out_channels for c in convs] == [64, 64, 128, 128, 256, 256, 256] + [512] * 6
    assert count_parameters(encoder, conv_only=True) == VGG16_CONV_PARAMETERS
    # The whole network is the paper's 29.5M (encoder + mirrored decoder + 11-class classifier).
    assert count_parameters(model) == SEGNET_CAMVID_PARAMETERS
    assert round(count_parameters(model) / 1e6, 1) == 29.5


def test_encoder_parameter_count_matches_torchvision_vgg16_bn_features(tv_vgg16_bn: nn.Module) -> None:
    theirs = count_parameters(tv_vgg16_bn.features, conv_only=True)
    assert theirs == VGG16_CONV_PARAMETERS
    ours = count_parameters(encoder_modules(build_model(variant("segnet", 11))))
    assert ours == count_parameters(tv_vgg16_bn.features)


def test_count_parameters_skips_frozen_parameters() -> None:
    model = build_model(variant("segnet_tiny", 2))
    total = count_parameters(model)
    classifier = model.impl.classifier
    assert isinstance(classifier, nn.Conv2d)
    classifier.weight.requires_grad_(False)
    assert count_parameters(model) == total - classifier.weight.numel()


# ------------------------------------------------------------------------- encoder weights
@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_vgg_encoder_loads_torchvision_vgg16_bn_weights_in_layer_order(
    tv_vgg16_bn: nn.Module, tmp_path: Path, suffix: str
) -> None:
    path = tmp_path / f"vgg16_bn{suffix}"
    state = tv_vgg16_bn.state_dict()
    if suffix == ".safetensors":  # stores keys sorted as text: features.10 before features.2
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:
        torch.save(state, path)
    model = build_model(variant("segnet", 11))

    copied = load_encoder_weights(model, path)

    assert copied == 13 * 2 + 13 * 4  # conv weight+bias, BN weight/bias/mean/var
    ours = [m for stage in encoder_modules(model) for m in convs_and_norms(stage)]
    theirs = convs_and_norms(tv_vgg16_bn.features)
    assert len(ours) == len(theirs) == 26
    first_conv = ours[0]
    assert isinstance(first_conv, nn.Conv2d)
    assert torch.equal(first_conv.weight, state["features.0.weight"])
    last_bn = ours[-1]
    assert isinstance(last_bn, nn.BatchNorm2d) and last_bn.running_var is not None
    assert torch.equal(last_bn.running_var, state["features.41.running_var"])
    for mine, tv in zip(ours, theirs, strict=True):
        for (name, a), (_, b) in zip(mine.state_dict().items(), tv.state_dict().items(), strict=True):
            assert torch.equal(a, b), name


def test_vgg_weights_for_other_widths_are_refused_naming_both_shapes(tv_vgg16_bn: nn.Module, tmp_path: Path) -> None:
    path = tmp_path / "vgg16_bn_features.pth"
    torch.save({k: v for k, v in tv_vgg16_bn.state_dict().items() if k.startswith("features.")}, path)
    model = build_model(variant("segnet_small", 11))  # width 0.25: 16 channels where VGG has 64
    with pytest.raises(ModelError, match=r"features\.0\.weight.*\(64, 3, 3, 3\).*\(16, 3, 3, 3\)"):
        load_encoder_weights(model, path)


def test_vgg_weights_with_too_few_feature_tensors_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "partial.pth"
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, path)
    with pytest.raises(ModelError, match=r"1 feature tensors, the encoder needs 78"):
        load_encoder_weights(build_model(variant("segnet", 11)), path)


def test_basic_encoder_has_no_imagenet_weights(tmp_path: Path) -> None:
    path = tmp_path / "any.pth"
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, path)
    model = build_model(variant("segnet_basic", 11))
    with pytest.raises(ModelError, match="encoder 'basic' has no ImageNet counterpart"):
        load_encoder_weights(model, path)
    with pytest.raises(ModelError, match="encoder 'basic' has no ImageNet counterpart"):
        load_encoder_weights(model, tmp_path / "absent.pth")  # said before any file is read


def test_resnet18_encoder_loads_torchvision_resnet18_weights(tmp_path: Path) -> None:
    tv = torchvision.models.resnet18(weights=None)
    randomize_batch_norm(tv, seed=2)
    path = tmp_path / "resnet18.pth"
    torch.save(tv.state_dict(), path)
    model = build_model(variant("segnet_resnet18", 19))
    impl = model.impl
    assert isinstance(impl, _ResNetSegNet)

    copied = load_encoder_weights(model, path)

    assert copied == len([k for k in tv.state_dict() if not k.startswith("fc.")])
    assert torch.equal(impl.backbone.conv1.weight, tv.conv1.weight)
    assert torch.equal(impl.backbone.layer4[1].bn2.running_var, tv.layer4[1].bn2.running_var)
    for key, value in impl.backbone.state_dict().items():
        assert torch.equal(value, tv.state_dict()[key]), key


def test_resnet_encoder_refuses_weights_of_another_network(tmp_path: Path) -> None:
    path = tmp_path / "vgg_like.pth"
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3), "features.0.bias": torch.zeros(64)}, path)
    with pytest.raises(ModelError, match=r"do not fit resnet18: missing \['conv1\.weight'"):
        load_encoder_weights(build_model(variant("segnet_resnet18", 19)), path)


def test_missing_or_foreign_encoder_files_are_named(tmp_path: Path) -> None:
    model = build_model(variant("segnet", 11))
    with pytest.raises(ModelError, match=r"nothing\.pth' does not exist"):
        load_encoder_weights(model, tmp_path / "nothing.pth")
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a pickle at all")
    with pytest.raises(ModelError, match=r"cannot read encoder weights .*garbage\.pth"):
        load_encoder_weights(model, garbage)
    a_list = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], a_list)
    with pytest.raises(ModelError, match=r"hold a list, expected a state dict"):
        load_encoder_weights(model, a_list)


# -------------------------------------------------------------------------------- unpooling
def test_unpooling_restores_values_at_argmax_positions() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randperm(2 * 3 * 6 * 8, generator=gen).float().view(2, 3, 6, 8)  # distinct: one argmax each
    pool, unpool = _PoolStage([nn.Identity()]), _UnpoolStage([nn.Identity()])

    pooled, indices = pool(x)
    restored = unpool(pooled, indices)

    assert pooled.shape == (2, 3, 3, 4) and restored.shape == x.shape
    windows = x.numpy().reshape(2, 3, 3, 2, 4, 2).transpose(0, 1, 2, 4, 3, 5).reshape(2, 3, 3, 4, 4)
    expected = np.zeros((2, 3, 3, 4, 4), dtype=np.float32)
    best = windows.argmax(axis=-1)
    np.put_along_axis(expected, best[..., None], windows.max(axis=-1)[..., None], axis=-1)
    expected_map = expected.reshape(2, 3, 3, 4, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(2, 3, 6, 8)
    np.testing.assert_array_equal(restored.numpy(), expected_map)
    assert int((restored != 0).sum()) == pooled.numel()  # one value per 2x2 window, three zeros


def test_decoder_unpools_with_the_encoders_own_indices() -> None:
    torch.manual_seed(0)
    model = build_model(variant("segnet_tiny", 3)).eval()
    impl = model.impl
    assert isinstance(impl, _PoolSegNet)
    encoder_indices: list[Tensor] = []
    decoder_calls: list[tuple[Tensor, Tensor]] = []
    unpooled: list[Tensor] = []

    def save_encoder(_m: nn.Module, _args: Any, out: tuple[Tensor, Tensor]) -> None:
        encoder_indices.append(out[1])

    def save_decoder_input(_m: nn.Module, args: tuple[Tensor, Tensor]) -> None:
        decoder_calls.append((args[0], args[1]))

    def save_unpooled(_m: nn.Module, args: tuple[Tensor]) -> None:
        unpooled.append(args[0])

    for enc in impl.encoders:
        enc.register_forward_hook(save_encoder)
    for dec in impl.decoders:
        dec.register_forward_pre_hook(save_decoder_input)
        assert isinstance(dec, _UnpoolStage)
        dec.convs.register_forward_pre_hook(save_unpooled)
    with torch.no_grad():
        model(torch.randn(1, 3, 32, 48))

    assert len(decoder_calls) == len(encoder_indices) == 4
    for (x, idx), enc_idx, up in zip(decoder_calls, reversed(encoder_indices), unpooled, strict=True):
        assert idx is enc_idx
        assert up.shape[-2:] == (2 * x.shape[-2], 2 * x.shape[-1])
        flat_up, flat_idx, flat_x = up.flatten(2), idx.flatten(2), x.flatten(2)
        # Every pooled value sits at its index and nothing is anywhere else.
        assert torch.equal(flat_up.gather(2, flat_idx), flat_x)
        placed = torch.zeros_like(flat_up, dtype=torch.bool).scatter_(2, flat_idx, True)
        assert not bool(flat_up[~placed].any())


def test_overlapping_unpooling_keeps_the_largest_of_shared_maxima() -> None:
    # 3x3/2 windows overlap: here two windows share the same maximum position (index 5).
    x = torch.tensor([[[[1.0, 7.0], [3.0, 2.0]]]])
    indices = torch.tensor([[[[5, 5], [0, 15]]]])
    out = unpool_overlapping(x, indices, (4, 4))
    expected = torch.zeros(1, 1, 16)
    expected[0, 0, 5], expected[0, 0, 0], expected[0, 0, 15] = 7.0, 3.0, 2.0
    assert torch.equal(out, expected.view(1, 1, 4, 4))


def test_overlapping_unpooling_matches_max_unpool_without_shared_maxima() -> None:
    torch.manual_seed(0)
    stem = torch.randn(2, 4, 16, 16)
    pooled, indices = F.max_pool2d(stem, 3, 2, 1, return_indices=True)
    # Pooled values: windows that share a maximum carry the same value there, so both must agree.
    expected = F.max_unpool2d(pooled, indices, 3, 2, 1, output_size=(16, 16))
    assert torch.equal(unpool_overlapping(pooled, indices, (16, 16)), expected)
    assert bool((indices.flatten(2)[..., :, None] == indices.flatten(2)[..., None, :]).sum() > indices.numel())


@pytest.mark.parametrize("name", ["segnet_tiny", "segnet_resnet18"])
def test_logits_do_not_depend_on_memory_layout(name: str) -> None:
    # The engine runs channels_last on CPU and CUDA; the decoder's unpooling must not care.
    model = copy.deepcopy(built(name, 3))
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        reference = model(x)
        model.to(memory_format=torch.channels_last)
        torch.testing.assert_close(
            model(x.contiguous(memory_format=torch.channels_last)), reference, atol=1e-4, rtol=1e-4
        )


# --------------------------------------------------------------------------------- shapes
SMALL_VARIANTS = [name for name in VARIANTS if name != "segnet"]


@pytest.mark.parametrize("name", SMALL_VARIANTS)
@pytest.mark.parametrize("size", [(1, 1), (37, 53)])
def test_logits_have_the_input_size_for_sizes_not_divisible_by_the_stride(name: str, size: tuple[int, int]) -> None:
    model = built(name, 5)
    assert model.config.stride in (16, 32)
    with torch.no_grad():
        out = model(torch.randn(2, 3, *size))
    assert out.shape == (2, 5, *size)
    assert bool(torch.isfinite(out).all())


def test_full_segnet_logits_have_the_input_size() -> None:
    model = build_model(variant("segnet", 11)).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 35, 47))
    assert out.shape == (1, 11, 35, 47)


def test_camera_sized_input_keeps_its_size() -> None:
    model = build_model(variant("segnet_tiny", 4)).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 240, 321))
    assert out.shape == (1, 4, 240, 321)


def test_padding_goes_right_and_bottom_so_the_top_left_is_unchanged() -> None:
    # An input already a multiple of the stride, extended by zeros (the normalised mean colour)
    # right and bottom, must give the same logits over the original area as the padded input.
    torch.manual_seed(0)
    model = build_model(variant("segnet_tiny", 3)).eval()
    x = torch.randn(1, 3, 32, 48)
    with torch.no_grad():
        full = model(F.pad(x[..., :30, :40], (0, 8, 0, 2)))
        cropped = model(x[..., :30, :40])
    torch.testing.assert_close(cropped, full[..., :30, :40])


def test_input_with_wrong_channels_is_refused() -> None:
    model = build_model(variant("segnet_tiny", 3))
    with pytest.raises(ModelError, match=r"expected input \(N, 3, H, W\), got \(1, 4, 16, 16\)"):
        model(torch.zeros(1, 4, 16, 16))
    with pytest.raises(ModelError, match=r"got \(3, 16, 16\)"):
        model(torch.zeros(3, 16, 16))


def test_width_rounds_channels_to_multiples_of_eight() -> None:
    model = build_model(variant("segnet_tiny", 3))
    convs = [m for stage in encoder_modules(model) for m in stage.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [8, 8, 16, 16, 32, 32, 32, 64, 64, 64]
    assert model.config.stride == 16


# --------------------------------------------------------------------------------- config
@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"encoder": "vgg19"}, r"encoder 'vgg19' is not one of vgg16_bn, basic, resnet18, resnet50"),
        ({"num_classes": 0}, r"num_classes 0 is outside \[1, 255\]"),
        ({"num_classes": 256}, r"num_classes 256 is outside \[1, 255\]"),
        ({"num_classes": "11"}, r"num_classes '11' must be an integer"),
        ({"num_classes": 2.5}, r"num_classes 2.5 must be an integer"),
        ({"num_classes": True}, r"num_classes True must be an integer"),
        ({"width": 0.0}, r"width 0.0 is outside \(0, 4\]"),
        ({"width": 4.5}, r"width 4.5 is outside \(0, 4\]"),
        ({"width": math.nan}, r"width nan is outside"),
        ({"width": "1"}, r"width '1' must be a number"),
        ({"stages": 0}, r"stages 0 is outside \[1, 5\] for encoder 'vgg16_bn'"),
        ({"stages": 6}, r"stages 6 is outside \[1, 5\] for encoder 'vgg16_bn'"),
        ({"encoder": "basic", "stages": 7}, r"stages 7 is outside \[1, 6\] for encoder 'basic'"),
        ({"in_channels": 0}, r"in_channels 0 must be at least 1"),
        ({"encoder": "resnet18", "width": 0.5}, r"encoder 'resnet18' has fixed widths and 5 stages"),
        ({"encoder": "resnet50", "stages": 4}, r"encoder 'resnet50' has fixed widths and 5 stages"),
        ({"context": 1}, r"context 1 must be true or false"),
        ({"encoder": "resnet18", "context": True}, r"encoder 'resnet18' has no context block"),
    ],
)
def test_bad_config_is_refused_naming_the_field(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ModelError, match=message):
        SegNetConfig(**fields)


def test_config_from_dict_refuses_unknown_keys_by_name() -> None:
    data = variant("segnet_small", 11).to_dict()
    assert SegNetConfig.from_dict(data) == variant("segnet_small", 11)
    with pytest.raises(ModelError, match=r"unknown model config keys \['depth'\]"):
        SegNetConfig.from_dict({**data, "depth": 3})


def test_variant_applies_overrides_and_refuses_unknown_names() -> None:
    cfg = variant("segnet_tiny", 7, stages=2)
    assert (cfg.name, cfg.num_classes, cfg.width, cfg.stages, cfg.stride) == ("segnet_tiny", 7, 0.125, 2, 4)
    with pytest.raises(ModelError, match=r"unknown SegNet variant 'segnet_huge'; known: segnet, segnet_basic"):
        variant("segnet_huge", 11)


def test_every_variant_builds_a_segnet_with_its_encoder() -> None:
    for name in SMALL_VARIANTS:
        model = built(name, 5)
        assert isinstance(model, SegNet)
        expected = _ResNetSegNet if name.startswith("segnet_resnet") else _PoolSegNet
        assert isinstance(model.impl, expected), name


# ------------------------------------------------------------------------------------ context block
def test_the_context_block_starts_at_zero_so_a_grown_network_is_its_parent() -> None:
    torch.manual_seed(1)
    parent = build_model(variant("segnet_small", 11))
    randomize_batch_norm(parent)
    grown = build_model(variant("segnet_small_ctx", 11))
    own = grown.state_dict()
    block = {k: v for k, v in own.items() if k.startswith("impl.context.")}
    assert block and set(own) == set(parent.state_dict()) | set(block)
    assert not block["impl.context.join.weight"].any() and not block["impl.context.join.bias"].any()
    grown.load_state_dict({**parent.state_dict(), **block})
    parent.eval()
    grown.eval()
    x = torch.randn(1, 3, 96, 128, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(grown(x), parent(x), rtol=0.0, atol=0.0)
        nn.init.normal_(grown.impl.context.join.weight, std=0.05)
        assert not torch.allclose(grown(x), parent(x), atol=1e-4)


def test_the_context_block_lets_one_corner_of_the_image_reach_the_opposite_one() -> None:
    """A change in the top-left 16x16 pixels moves the bottom-right logits only through the block."""
    size = (240, 320)
    x = torch.randn(1, 3, *size, generator=torch.Generator().manual_seed(3))
    y = x.clone()
    y[..., :16, :16] += 3.0
    moved = {}
    for name in ("segnet_small", "segnet_small_ctx"):
        torch.manual_seed(4)
        model = build_model(variant(name, 11))
        if name.endswith("_ctx"):
            nn.init.normal_(model.impl.context.join.weight, std=0.05)
        model.eval()
        with torch.no_grad():
            moved[name] = (model(x) - model(y))[..., -16:, -16:].abs().max().item()
    assert moved["segnet_small"] == 0.0 and moved["segnet_small_ctx"] > 1e-4
