"""core/segmentation/inference: model files, the Segmenter engine, ONNX Runtime, CUDA, end to end.

The end-to-end test trains a small SegNet for a couple of seconds on constructed images (a red
disc, "keep_out", on a green floor, with pixel noise) using a normalisation that is not the default
one, saves it, loads it through `Segmenter.from_file` and segments images it never saw, at the
network's size and at twice it: the card's normalisation, the checksum, batch-norm folding and the
nearest-neighbour resize back all have to be right for the mask to come out near-perfect.
"""

from __future__ import annotations

import copy
import os
import re
import sys
import warnings
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812
import yaml
from numpy.typing import NDArray
from torch import nn

from robot_vision_nav.core.segmentation.inference import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ModelCard,
    Segmenter,
    SegmenterConfig,
    SegmenterError,
    card_path,
    load_checkpoint,
    load_model,
    resolve_device,
    save_model,
)
from robot_vision_nav.core.segmentation.labels import LabelClass, LabelSet
from robot_vision_nav.core.segmentation.model import SegNet, SegNetConfig, build_model, variant
from robot_vision_nav.package_files import load_label_set

H, W = 64, 96  # the trained network's input size
# Far from ImageNet's (the default): with ImageNet's instead the trained network scores ~0.85.
MEAN, STD = (0.3, 0.6, 0.4), (0.08, 0.08, 0.08)
FLOOR, KEEP_OUT = 0, 1
TWO_CLASSES = LabelSet(
    "disc_world",
    (LabelClass(FLOOR, "floor", (128, 128, 128), True), LabelClass(KEEP_OUT, "keep_out", (220, 30, 30), False)),
)
CPU = SegmenterConfig(device="cpu", warmup_iterations=0)


def scene(seed: int, scale: int = 1) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """A noisy RGB image (H*scale x W*scale) of a red disc on a green floor, and its labels."""
    rng = np.random.default_rng(seed)
    cy, cx, r = rng.uniform(16, 48), rng.uniform(20, 76), rng.uniform(10, 20)
    yy, xx = np.mgrid[: H * scale, : W * scale] / scale
    disc = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
    rgb = np.where(disc[..., None], np.array([200.0, 60.0, 40.0]), np.array([70.0, 140.0, 90.0]))
    rgb += rng.normal(0.0, 12.0, rgb.shape)
    return np.clip(rgb, 0, 255).astype(np.uint8), disc.astype(np.uint8)


def normalised(images: list[NDArray[np.uint8]], mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255.0
    return (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)


def randomize_batch_norm(model: nn.Module, seed: int = 0) -> None:
    """Distinct BN statistics, so that a wrong fold (or none) changes the logits."""
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


def card_for(model: SegNet, labels: LabelSet, size: tuple[int, int], **kwargs: Any) -> ModelCard:
    return ModelCard(model.config, labels, size[0], size[1], **kwargs)


def count_batch_norms(model: nn.Module) -> int:
    return sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())


@pytest.fixture(scope="module")
def trained() -> SegNet:
    """A 2-stage, width-0.125 SegNet trained to tell the disc from the floor (~2 s on two cores)."""
    torch.manual_seed(0)
    model = build_model(SegNetConfig(name="disc", num_classes=2, width=0.125, stages=2))
    data = [scene(seed) for seed in range(8)]
    x = normalised([rgb for rgb, _ in data], MEAN, STD)
    y = torch.from_numpy(np.stack([labels for _, labels in data])).long()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    model.train()
    for step in range(120):
        batch = torch.arange(4 * step, 4 * step + 4) % len(data)
        loss = F.cross_entropy(model(x[batch]), y[batch])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


@pytest.fixture(scope="module")
def random_tiny() -> SegNet:
    """segnet_tiny with warehouse's 11 classes, random weights and batch-norm statistics."""
    torch.manual_seed(1)
    model = build_model(variant("segnet_tiny", 11))
    randomize_batch_norm(model)
    return model.eval()


@pytest.fixture
def saved(random_tiny: SegNet, tmp_path: Path) -> Path:
    path = tmp_path / "tiny.safetensors"
    save_model(random_tiny, path, load_label_set("warehouse"), (32, 48))
    return path


def random_rgb(height: int, width: int, seed: int = 0) -> NDArray[np.uint8]:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


# ------------------------------------------------------------------------------- end to end
def test_trained_model_segments_new_images_nearly_perfectly_after_save_and_load(
    trained: SegNet, tmp_path: Path
) -> None:
    path = tmp_path / "disc.safetensors"
    card = save_model(trained, path, TWO_CLASSES, (H, W), mean=MEAN, std=STD, extra={"training": {"steps": 120}})
    assert (card.mean, card.std) == (MEAN, STD)
    segmenter = Segmenter.from_file(path, SegmenterConfig(device="cpu", warmup_iterations=1), TWO_CLASSES)
    assert segmenter.card.extra == {"training": {"steps": 120}}

    for seed in (100, 101, 102):
        rgb, truth = scene(seed)
        out = segmenter.segment(rgb)
        assert np.mean(out.labels == truth) > 0.98, seed
        assert np.mean((out.traversable == 255) == (truth == FLOOR)) > 0.98, seed

    # A camera at twice the network's resolution: resized down for the network, labels back up.
    rgb, truth = scene(103, scale=2)
    out = segmenter.segment(rgb)
    assert out.labels.shape == out.traversable.shape == out.confidence.shape == (2 * H, 2 * W)
    assert np.mean(out.labels == truth) > 0.97


def test_wrong_normalisation_would_be_noticed(trained: SegNet) -> None:
    # The end-to-end test relies on the card's normalisation; with ImageNet's instead the same
    # network must do clearly worse, or that test would not prove the card is used.
    right = Segmenter(trained, card_for(trained, TWO_CLASSES, (H, W), mean=MEAN, std=STD), CPU)
    wrong = Segmenter(trained, card_for(trained, TWO_CLASSES, (H, W)), CPU)
    scenes = [scene(seed) for seed in (100, 101, 102)]
    assert np.mean([np.mean(right.segment(rgb).labels == truth) for rgb, truth in scenes]) > 0.98
    assert np.mean([np.mean(wrong.segment(rgb).labels == truth) for rgb, truth in scenes]) < 0.95


# ------------------------------------------------------------------------------ model files
def test_saved_model_loads_back_with_identical_logits(random_tiny: SegNet, saved: Path) -> None:
    model, card = load_model(saved)
    assert card.architecture == random_tiny.config
    assert card.labels == load_label_set("warehouse")
    assert (card.input_height, card.input_width) == (32, 48)
    assert (card.mean, card.std) == (IMAGENET_MEAN, IMAGENET_STD)
    assert card.weights_file == "tiny.safetensors" and len(card.sha256) == 64
    assert not model.training
    x = torch.randn(1, 3, 32, 48)
    with torch.no_grad():
        assert torch.equal(model(x), random_tiny(x))


def test_save_leaves_exactly_the_weights_and_the_card(saved: Path) -> None:
    assert sorted(os.listdir(saved.parent)) == ["tiny.card.yaml", "tiny.safetensors"]
    assert card_path(saved) == saved.parent / "tiny.card.yaml"
    assert yaml.safe_load(card_path(saved).read_text())["format"] == "robot_vision_nav/model-card/1"


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600)])
def test_saved_files_get_the_umask_mode_like_any_other_file(
    random_tiny: SegNet, tmp_path: Path, umask: int, mode: int
) -> None:
    # Temporary files are 0600; a model must stay readable by other users and containers.
    old = os.umask(umask)
    try:
        path = tmp_path / "m.safetensors"
        save_model(random_tiny, path, load_label_set("warehouse"), (32, 48))
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == mode
    assert card_path(path).stat().st_mode & 0o777 == mode


def test_failed_write_leaves_no_partial_file(
    random_tiny: SegNet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import safetensors.torch

    def half_write(_state: dict[str, torch.Tensor], filename: str, metadata: dict[str, str]) -> None:
        Path(filename).write_bytes(b"\x00" * 100)
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.torch, "save_file", half_write)
    path = tmp_path / "m.safetensors"
    with pytest.raises(OSError, match="disk full"):
        save_model(random_tiny, path, load_label_set("warehouse"), (32, 48))
    assert not path.exists()
    assert os.listdir(tmp_path) == []


def test_failed_overwrite_keeps_the_previous_model(
    random_tiny: SegNet, saved: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import safetensors.torch

    before = saved.read_bytes()

    def fail(*_args: Any, **_kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.torch, "save_file", fail)
    with pytest.raises(OSError):
        save_model(random_tiny, saved, load_label_set("warehouse"), (32, 48))
    assert saved.read_bytes() == before
    load_model(saved)  # still consistent with its card


def test_save_refuses_a_wrong_suffix_or_class_count(random_tiny: SegNet, tmp_path: Path) -> None:
    with pytest.raises(SegmenterError, match=r"must end in \.safetensors"):
        save_model(random_tiny, tmp_path / "m.pt", load_label_set("warehouse"), (32, 48))
    with pytest.raises(SegmenterError, match=r"label set 'cityscapes' has 19 classes, the model 11"):
        save_model(random_tiny, tmp_path / "m.safetensors", load_label_set("cityscapes"), (32, 48))
    assert os.listdir(tmp_path) == []


def test_changed_weights_are_refused_by_the_checksum(saved: Path) -> None:
    data = bytearray(saved.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit of one weight
    saved.write_bytes(bytes(data))
    with pytest.raises(SegmenterError, match=r"tiny\.safetensors' has sha256 .* its card says"):
        load_model(saved)


def test_missing_card_is_named(saved: Path) -> None:
    card_path(saved).unlink()
    with pytest.raises(SegmenterError, match="model card") as info:
        load_model(saved)
    assert str(saved.parent / "tiny.card.yaml") in str(info.value)


def test_missing_model_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SegmenterError, match=r"absent\.safetensors' does not exist"):
        load_model(tmp_path / "absent.safetensors")


def test_expected_labels_that_differ_from_the_card_are_refused_naming_both(saved: Path) -> None:
    # CamVid and the warehouse both have 11 classes: only the names tell them apart.
    with pytest.raises(SegmenterError) as info:
        load_model(saved, expected_labels=load_label_set("camvid"))
    message = str(info.value)
    assert str(saved) in message
    assert "floor, marking, keep_out" in message and "'warehouse'" in message
    assert "sky, building, pole" in message and "'camvid'" in message
    with pytest.raises(SegmenterError, match="'camvid'"):
        Segmenter.from_file(saved, CPU, expected_labels=load_label_set("camvid"))


def edit_card(path: Path, **changes: Any) -> None:
    card = card_path(path)
    data = yaml.safe_load(card.read_text())
    for dotted, value in changes.items():
        section, key = dotted.split("__")
        data[section][key] = value
    card.write_text(yaml.safe_dump(data, sort_keys=False))


def test_card_whose_architecture_and_labels_disagree_is_refused(saved: Path) -> None:
    edit_card(saved, architecture__num_classes=12)
    with pytest.raises(SegmenterError, match=r"tiny\.card\.yaml: the architecture has 12 classes, the label set"):
        load_model(saved)


def test_card_with_a_bad_architecture_is_refused_naming_the_field(saved: Path) -> None:
    edit_card(saved, architecture__stages="4")
    with pytest.raises(SegmenterError, match=r"tiny\.card\.yaml: bad model card: stages '4' must be an integer"):
        load_model(saved)


def top_left_share(x: torch.Tensor) -> float:
    """Share of 2x2 max-pooling windows of `x` whose maximum is taken at the window's first (top-left) position."""
    _, indices = F.max_pool2d(x, 2, return_indices=True)
    width = x.shape[-1]
    rows, cols = indices // width, indices % width
    return float(((rows % 2 == 0) & (cols % 2 == 0)).float().mean())


def test_a_cards_input_dither_breaks_max_pooling_ties_on_a_flat_image_and_is_fixed(
    random_tiny: SegNet, saved: Path, tmp_path: Path
) -> None:
    """On a perfectly flat image every pooling window ties and the first position wins everywhere: the grid
    SegNet's decoder then draws. The card's dither breaks the ties as camera noise does, the same every time."""
    dithered = tmp_path / "dithered.safetensors"
    card = save_model(random_tiny, dithered, load_label_set("warehouse"), (32, 48), dither=1.0)
    assert yaml.safe_load(card_path(dithered).read_text())["normalization"]["dither"] == 1.0
    assert "dither" not in yaml.safe_load(card_path(saved).read_text())["normalization"]  # old cards as they were
    config = SegmenterConfig(device="cpu", warmup_iterations=0)
    plain, a, b = Segmenter.from_file(saved, config), Segmenter.from_file(dithered, config), Segmenter(
        random_tiny, card, config)  # fmt: skip
    flat = torch.from_numpy(np.full((32, 48, 3), 128, np.uint8))
    x_plain, x_a = plain.preprocess(flat), a.preprocess(flat)
    assert top_left_share(x_plain) == 1.0
    assert 0.15 < top_left_share(x_a) < 0.35  # about one in four, as with noise
    levels = (x_a - x_plain) * torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255.0  # back to 8-bit levels
    assert 0.85 < float(levels.std()) < 1.15 and abs(float(levels.mean())) < 0.1
    assert torch.equal(x_a, b.preprocess(flat))  # one fixed pattern, whichever engine loads the card
    image = random_rgb(32, 48)
    assert np.array_equal(a.segment(image).labels, b.segment(image).labels)
    assert not torch.equal(a.logits(a.preprocess(torch.from_numpy(image))),
                           plain.logits(plain.preprocess(torch.from_numpy(image))))  # fmt: skip


def test_a_card_with_a_dither_out_of_range_is_refused_naming_the_file(saved: Path, random_tiny: SegNet) -> None:
    for bad in (9.0, -1, True, None, "1"):
        edit_card(saved, normalization__dither=bad)
        with pytest.raises(SegmenterError, match=rf"tiny\.card\.yaml: normalization.dither must be a number 0..8 "
                           rf"\(8-bit levels\), got {re.escape(repr(bad))}$"):  # fmt: skip
            load_model(saved)
    with pytest.raises(SegmenterError, match=r"input dither -1.0 must be within 0..8"):
        save_model(random_tiny, saved.with_name("x.safetensors"), load_label_set("warehouse"), (32, 48), dither=-1.0)
    assert not saved.with_name("x.safetensors").exists()


def test_weights_that_do_not_fit_the_card_name_the_tensor(saved: Path) -> None:
    edit_card(saved, architecture__width=0.25)  # same layers, twice the channels
    with pytest.raises(SegmenterError, match=r"does not fit .*size mismatch for impl\.encoders\.0"):
        load_model(saved)


def test_corrupt_safetensors_file_gives_a_clear_error(saved: Path) -> None:
    saved.write_bytes(b"\xff" * 64)
    edit_card(saved, weights__sha256="")  # no checksum to catch it first
    with pytest.raises(SegmenterError, match=r"tiny\.safetensors' is not a readable safetensors file"):
        load_model(saved)


class NotPlainData:
    def __init__(self) -> None:
        self.value = 1


def test_load_checkpoint_reads_plain_data(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.pth"
    torch.save({"model": {"w": torch.ones(2)}, "epoch": 3, "args": {"lr": 0.01}}, path)
    data = load_checkpoint(path)
    assert data["epoch"] == 3 and torch.equal(data["model"]["w"], torch.ones(2))


def test_load_checkpoint_refuses_pickled_objects(tmp_path: Path) -> None:
    path = tmp_path / "evil.pth"
    torch.save({"model": NotPlainData()}, path)
    with pytest.raises(SegmenterError, match=r"cannot read checkpoint .*evil\.pth' \(weights_only\)"):
        load_checkpoint(path)


def test_load_checkpoint_refuses_non_dicts_and_missing_files(tmp_path: Path) -> None:
    path = tmp_path / "list.pth"
    torch.save([torch.ones(1)], path)
    with pytest.raises(SegmenterError, match="holds a list, expected a dict"):
        load_checkpoint(path)
    with pytest.raises(SegmenterError, match=r"absent\.pth"):
        load_checkpoint(tmp_path / "absent.pth")


# --------------------------------------------------------------------------------- engine
def test_same_image_gives_the_same_outputs_twice(random_tiny: SegNet) -> None:
    segmenter = Segmenter(random_tiny, card_for(random_tiny, load_label_set("warehouse"), (32, 48)), CPU)
    rgb = random_rgb(40, 60)
    first, second = segmenter.segment(rgb), segmenter.segment(rgb.copy())
    np.testing.assert_array_equal(first.labels, second.labels)
    np.testing.assert_array_equal(first.confidence, second.confidence)
    np.testing.assert_array_equal(first.traversable, second.traversable)
    assert first.labels.dtype == np.uint8 and first.confidence.dtype == np.float32


def test_labels_of_a_2x_camera_image_repeat_in_2x2_blocks(random_tiny: SegNet) -> None:
    segmenter = Segmenter(random_tiny, card_for(random_tiny, load_label_set("warehouse"), (32, 48)), CPU)
    small = random_rgb(32, 48)
    big = np.repeat(np.repeat(small, 2, axis=0), 2, axis=1)
    at_input, at_camera = segmenter.segment(small), segmenter.segment(big)

    assert at_camera.labels.shape == (64, 96)
    assert len(np.unique(at_input.labels)) > 1  # a block pattern to get right
    for got, want in (
        (at_camera.labels, at_input.labels),
        (at_camera.confidence, at_input.confidence),
        (at_camera.traversable, at_input.traversable),
    ):
        np.testing.assert_array_equal(got, np.repeat(np.repeat(want, 2, axis=0), 2, axis=1))


def test_labels_resize_back_with_opencvs_nearest_rule(random_tiny: SegNet) -> None:
    segmenter = Segmenter(random_tiny, card_for(random_tiny, load_label_set("warehouse"), (32, 48)), CPU)
    rgb = random_rgb(45, 70, seed=3)
    with torch.no_grad():
        low = segmenter.logits(segmenter.preprocess(torch.from_numpy(rgb))).argmax(1)[0].numpy().astype(np.uint8)
    expected = cv2.resize(low, (70, 45), interpolation=cv2.INTER_NEAREST)
    np.testing.assert_array_equal(segmenter.segment(rgb).labels, expected)


def test_input_size_override_runs_the_network_at_that_size(random_tiny: SegNet) -> None:
    config = SegmenterConfig(device="cpu", warmup_iterations=1, input_height=16, input_width=24)
    segmenter = Segmenter(random_tiny, card_for(random_tiny, load_label_set("warehouse"), (32, 48)), config)
    assert segmenter.input_size == (16, 24)
    assert segmenter.preprocess(torch.from_numpy(random_rgb(40, 60))).shape == (1, 3, 16, 24)
    assert segmenter.segment(random_rgb(40, 60)).labels.shape == (40, 60)


def test_confidence_threshold_one_gives_an_empty_mask_even_when_soft_max_saturates(trained: SegNet) -> None:
    confident = copy.deepcopy(trained)
    classifier = confident.impl.classifier
    assert isinstance(classifier, nn.Conv2d) and classifier.bias is not None
    with torch.no_grad():  # same argmax, logit margins far past float32's soft-max resolution
        classifier.weight.mul_(100.0)
        classifier.bias.mul_(100.0)
    card = card_for(confident, TWO_CLASSES, (H, W), mean=MEAN, std=STD)
    rgb, _ = scene(100)

    # With two classes, P(drivable) > 0.5 is exactly "the argmax is floor".
    everything = Segmenter(
        confident, card, SegmenterConfig(device="cpu", warmup_iterations=0, confidence_threshold=0.5)
    )
    out = everything.segment(rgb)
    assert np.count_nonzero(out.confidence == 1.0) > 0  # the case that matters
    np.testing.assert_array_equal(out.traversable, np.where(out.labels == FLOOR, 255, 0))
    assert out.traversable.any()

    nothing = Segmenter(confident, card, SegmenterConfig(device="cpu", warmup_iterations=0, confidence_threshold=1.0))
    assert not nothing.segment(rgb).traversable.any()


def test_threshold_applies_to_the_summed_probability_of_the_drivable_classes(random_tiny: SegNet) -> None:
    labels = load_label_set("warehouse")
    card = card_for(random_tiny, labels, (32, 48))
    rgb = random_rgb(32, 48, seed=5)
    engine = Segmenter(random_tiny, card, SegmenterConfig(device="cpu", warmup_iterations=0))
    with torch.inference_mode():
        probs = torch.softmax(engine.logits(engine.preprocess(engine._to_device(rgb))), dim=1)[0].numpy()
    lut = labels.drivable_lut()[: probs.shape[0]]
    drivable_p = probs[lut].sum(axis=0)  # the network runs at the image size here: no resizing
    threshold = float(np.median(drivable_p))  # half the pixels on each side: the test cannot pass vacuously
    config = SegmenterConfig(device="cpu", warmup_iterations=0, confidence_threshold=threshold)
    mask = Segmenter(random_tiny, card, config).segment(rgb).traversable
    np.testing.assert_array_equal(mask, np.where(drivable_p > threshold, 255, 0))
    assert 0 < np.count_nonzero(mask) < mask.size


def test_drivable_classes_override_changes_the_mask(trained: SegNet) -> None:
    card = card_for(trained, TWO_CLASSES, (H, W), mean=MEAN, std=STD)
    rgb, _ = scene(101)
    default = Segmenter(trained, card, CPU).segment(rgb)
    config = SegmenterConfig(device="cpu", warmup_iterations=0, drivable_classes=("keep_out",))
    swapped = Segmenter(trained, card, config).segment(rgb)
    np.testing.assert_array_equal(default.labels, swapped.labels)
    np.testing.assert_array_equal(default.traversable, np.where(default.labels == FLOOR, 255, 0))
    np.testing.assert_array_equal(swapped.traversable, np.where(swapped.labels == KEEP_OUT, 255, 0))
    assert default.traversable.any() and swapped.traversable.any()


def test_unknown_drivable_class_is_refused(trained: SegNet) -> None:
    config = SegmenterConfig(device="cpu", warmup_iterations=0, drivable_classes=("grass",))
    with pytest.raises(SegmenterError, match=r"no class 'grass'; its classes are floor, keep_out"):
        Segmenter(trained, card_for(trained, TWO_CLASSES, (H, W)), config)


@pytest.mark.parametrize(
    ("image", "problem"),
    [
        (np.zeros((32, 48, 3), dtype=np.float32), r"uint8 HxWx3, got float32 \(32, 48, 3\)"),
        (np.zeros((32, 48), dtype=np.uint8), r"uint8 HxWx3, got uint8 \(32, 48\)"),
        (np.zeros((32, 48, 4), dtype=np.uint8), r"uint8 HxWx3, got uint8 \(32, 48, 4\)"),
        (np.zeros((0, 0, 3), dtype=np.uint8), r"image is empty \(0x0\)"),
        (np.zeros((0, 48, 3), dtype=np.uint8), r"image is empty \(0x48\)"),
        ([[0, 0, 0]], r"got list"),
    ],
    ids=["float", "2-D", "4 channels", "0x0", "0 rows", "list"],
)
def test_bad_images_are_refused_naming_the_problem(random_tiny: SegNet, image: Any, problem: str) -> None:
    segmenter = Segmenter(random_tiny, card_for(random_tiny, load_label_set("warehouse"), (32, 48)), CPU)
    with pytest.raises(SegmenterError, match=problem):
        segmenter.segment(image)


def test_read_only_images_are_segmented_without_a_warning(random_tiny: SegNet) -> None:
    segmenter = Segmenter(random_tiny, card_for(random_tiny, load_label_set("warehouse"), (32, 48)), CPU)
    rgb = random_rgb(32, 48)
    frozen = np.frombuffer(rgb.tobytes(), dtype=np.uint8).reshape(rgb.shape)  # how a ROS message's bytes arrive
    assert not frozen.flags.writeable
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        labels = segmenter.segment(frozen).labels
    np.testing.assert_array_equal(labels, segmenter.segment(rgb).labels)


def test_non_contiguous_images_are_accepted(random_tiny: SegNet) -> None:
    segmenter = Segmenter(random_tiny, card_for(random_tiny, load_label_set("warehouse"), (32, 48)), CPU)
    bgr = random_rgb(32, 48)
    rgb_view = bgr[..., ::-1]  # how a bgr8 camera image becomes RGB without a copy
    np.testing.assert_array_equal(segmenter.segment(rgb_view).labels, segmenter.segment(rgb_view.copy()).labels)


@pytest.mark.parametrize("name", ["segnet_tiny", "segnet_basic", "segnet_small_ctx", "segnet_resnet18"])
def test_batch_norm_folding_keeps_the_logits(name: str) -> None:
    torch.manual_seed(2)
    model = build_model(variant(name, 5))
    if name.endswith("_ctx"):  # the context block's join starts at zero: make its folded branches count
        nn.init.normal_(model.impl.context.join.weight, std=0.05)
    randomize_batch_norm(model, seed=3)
    model.eval()
    batch_norms = count_batch_norms(model)
    labels = LabelSet("five", tuple(LabelClass(i, f"c{i}", (i, i, i), i == 0) for i in range(5)))
    segmenter = Segmenter(model, card_for(model, labels, (32, 32)), CPU)

    assert count_batch_norms(segmenter.model) == 0
    assert count_batch_norms(model) == batch_norms  # the caller's network is left alone
    assert model.impl is not segmenter.model.impl
    x = segmenter.preprocess(torch.from_numpy(random_rgb(32, 32)))
    with torch.no_grad():
        reference = model(x)
    folded = segmenter.logits(x)
    assert reference.abs().max() > 0.1  # not a degenerate network
    torch.testing.assert_close(folded, reference, atol=1e-4, rtol=1e-4)


def test_segmenter_leaves_the_callers_model_trainable(trained: SegNet) -> None:
    model = copy.deepcopy(trained)
    Segmenter(model, card_for(model, TWO_CLASSES, (H, W)), CPU)
    assert all(p.requires_grad for p in model.parameters())
    assert count_batch_norms(model) == count_batch_norms(trained)


@pytest.mark.parametrize("device", ["cuda", "cuda:0", "auto-but-not"])
def test_unavailable_or_unknown_device_is_refused_naming_it(
    random_tiny: SegNet, device: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # the same test on a GPU host
    config = SegmenterConfig(device=device, warmup_iterations=0)
    with pytest.raises(SegmenterError, match=f"device '{device}'"):
        Segmenter(random_tiny, card_for(random_tiny, load_label_set("warehouse"), (32, 48)), config)


@pytest.mark.parametrize("cuda", [False, True], ids=["no-cuda", "cuda"])
def test_auto_device_picks_cuda_only_when_present(cuda: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)  # both machines, whatever this one is
    monkeypatch.setattr(torch.cuda, "device_count", lambda: int(cuda))
    assert resolve_device("auto").type == ("cuda" if cuda else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    if cuda:
        assert resolve_device("cuda:0") == torch.device("cuda:0")
        with pytest.raises(SegmenterError, match=r"device 'cuda:1': only 1 CUDA device\(s\) present"):
            resolve_device("cuda:1")
    with pytest.raises(SegmenterError, match=r"device 'gpu' is not one of auto, cpu, cuda, cuda:N"):
        resolve_device("gpu")


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"confidence_threshold": 1.5}, r"confidence_threshold 1.5 is outside \[0, 1\]"),
        ({"confidence_threshold": float("nan")}, r"confidence_threshold nan"),
        ({"backend": "tensorrt"}, r"backend 'tensorrt' is not one of torch, onnxruntime"),
        ({"onnx_provider": "rocm"}, r"onnx_provider 'rocm' is not one of cpu, cuda, tensorrt"),
        ({"threads": -1}, r"threads -1 must be >= 0"),
        ({"input_height": 32}, r"input_height and input_width must both be 0"),
    ],
)
def test_bad_segmenter_config_is_refused_naming_the_field(fields: dict[str, Any], problem: str) -> None:
    with pytest.raises(SegmenterError, match=problem):
        SegmenterConfig(**fields)


# ------------------------------------------------------------------------------------ ONNX
@pytest.fixture(scope="module")
def onnx_file(trained: SegNet, tmp_path_factory: pytest.TempPathFactory) -> Path:
    for package in ("onnx", "onnxscript", "onnxruntime"):
        pytest.importorskip(package)
    path = tmp_path_factory.mktemp("onnx") / "disc.onnx"
    torch.onnx.export(
        copy.deepcopy(trained).eval(),
        (torch.zeros(1, 3, H, W),),
        str(path),
        dynamo=True,
        input_names=["image"],
        output_names=["logits"],
        verbose=False,
    )
    return path


def test_onnxruntime_backend_gives_the_torch_backends_labels(trained: SegNet, onnx_file: Path) -> None:
    card = card_for(trained, TWO_CLASSES, (H, W), mean=MEAN, std=STD)
    config = SegmenterConfig(device="cpu", warmup_iterations=1, backend="onnxruntime", onnx_path=str(onnx_file))
    ort_engine, torch_engine = Segmenter(trained, card, config), Segmenter(trained, card, CPU)
    for rgb, _ in (scene(100), scene(101, scale=2)):
        by_ort, by_torch = ort_engine.segment(rgb), torch_engine.segment(rgb)
        assert np.mean(by_ort.labels == by_torch.labels) > 0.999
        np.testing.assert_allclose(by_ort.confidence, by_torch.confidence, atol=1e-3)
        np.testing.assert_array_equal(by_ort.labels.shape, rgb.shape[:2])


def test_onnxruntime_backend_without_the_package_says_so(trained: SegNet, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime -> ImportError
    config = SegmenterConfig(device="cpu", backend="onnxruntime", onnx_path="model.onnx")
    with pytest.raises(SegmenterError, match=r"backend 'onnxruntime' needs the onnxruntime package"):
        Segmenter(trained, card_for(trained, TWO_CLASSES, (H, W)), config)


def test_onnxruntime_backend_without_a_model_file_names_onnx_path(trained: SegNet, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    config = SegmenterConfig(device="cpu", backend="onnxruntime", onnx_path=str(tmp_path / "absent.onnx"))
    with pytest.raises(SegmenterError, match=r"needs onnx_path to an exported model; .*absent\.onnx' is not a file"):
        Segmenter(trained, card_for(trained, TWO_CLASSES, (H, W)), config)


# ------------------------------------------------------------------------------------ CUDA
@pytest.mark.cuda
def test_cuda_fp16_labels_match_cpu_fp32(trained: SegNet) -> None:
    card = card_for(trained, TWO_CLASSES, (H, W), mean=MEAN, std=STD)
    gpu = Segmenter(trained, card, SegmenterConfig(device="cuda", fp16=True, warmup_iterations=2))
    cpu = Segmenter(trained, card, CPU)
    assert gpu.fp16 and gpu.device.type == "cuda"
    for rgb, truth in (scene(100), scene(101, scale=2)):
        on_gpu, on_cpu = gpu.segment(rgb), cpu.segment(rgb)
        assert np.mean(on_gpu.labels == on_cpu.labels) >= 0.99
        assert np.mean(on_gpu.labels == truth) > 0.97
        assert on_gpu.labels.shape == rgb.shape[:2]


@pytest.mark.cuda
def test_cuda_channels_last_and_pinned_memory_path_runs(random_tiny: SegNet) -> None:
    card = card_for(random_tiny, load_label_set("warehouse"), (32, 48))
    config = SegmenterConfig(device="cuda", channels_last=True, fp16=False, warmup_iterations=1)
    gpu = Segmenter(random_tiny, card, config)
    cpu = Segmenter(random_tiny, card, CPU)
    for size in ((48, 64), (48, 64), (30, 50)):  # the pinned buffer is reused, then replaced
        rgb = random_rgb(*size)
        out = gpu.segment(rgb)
        assert gpu._pinned is not None and gpu._pinned.is_pinned()
        assert gpu._pinned.shape == (*size, 3)
        assert out.labels.shape == size
        # An untrained net's class scores are near ties on noise: cuDNN's algorithms and TF32 flip a
        # few of them (98.3% agreed on an H200). Fidelity is test_cuda_fp16_labels_match_cpu_fp32's job.
        assert np.mean(out.labels == cpu.segment(rgb).labels) >= 0.95
    assert gpu.cuda_memory_mb() > 0.0


@pytest.mark.cuda
def test_absent_cuda_device_index_is_refused(random_tiny: SegNet) -> None:
    config = SegmenterConfig(device="cuda:99", warmup_iterations=0)
    with pytest.raises(SegmenterError, match=r"device 'cuda:99': only \d+ CUDA device\(s\) present"):
        Segmenter(random_tiny, card_for(random_tiny, load_label_set("warehouse"), (32, 48)), config)


@pytest.mark.cuda
def test_cuda_deterministic_mode_gives_one_mask_per_image(trained: SegNet) -> None:
    card = card_for(trained, TWO_CLASSES, (H, W), mean=MEAN, std=STD)
    config = SegmenterConfig(device="cuda", fp16=True, deterministic=True, warmup_iterations=1)
    first, second = Segmenter(trained, card, config), Segmenter(trained, card, config)
    assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
    for rgb, _truth in (scene(100), scene(101, scale=2)):
        a, b = first.segment(rgb), second.segment(rgb)
        assert np.array_equal(a.labels, b.labels) and np.array_equal(a.traversable, b.traversable)
