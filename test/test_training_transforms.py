"""Appearance augmentation in training.transforms: exposure, gamma, blur and noise on the image alone.

The geometry and colour jitter of `TrainTransform` are tested in test_training_data.py.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from robot_vision_nav import cli
from robot_vision_nav.core.segmentation.inference import card_path
from robot_vision_nav.training.checkpoint import export_checkpoint, load_training_checkpoint
from robot_vision_nav.training.options import (
    APPEARANCE_PRESET,
    args_to_dict,
    build_train_parser,
    canonical_command,
    recorded_options,
)
from robot_vision_nav.training.train import main
from robot_vision_nav.training.transforms import (
    TrainTransform,
    TransformError,
    add_noise,
    gaussian_blur,
    linear_to_srgb,
    motion_blur,
    motion_kernel,
    srgb_to_linear,
    tone_lut,
)
from test.training_helpers import SIZE, block_pair, train_args, write_split_folder

ALL_ON = {"exposure": 2.0, "gamma": 1.5, "noise": 6.0, "blur_prob": 1.0}


def appearance(settings: Mapping[str, float], size: tuple[int, int] = SIZE, *, still: bool = False) -> TrainTransform:
    """A transform with appearance `settings`; `still`: no rescale, flip or jitter, so only they change the image."""
    geometry = TrainTransform(size, (1.0, 1.0), 0.0, 0.0) if still else TrainTransform(size, (0.7, 1.6))
    return dataclasses.replace(
        geometry,
        exposure=settings.get("exposure", 1.0),
        gamma=settings.get("gamma", 1.0),
        noise=settings.get("noise", 0.0),
        blur_prob=settings.get("blur_prob", 0.0),
    )


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def flat(value: float, size: tuple[int, int] = SIZE) -> tuple[np.ndarray, np.ndarray]:
    return np.full((*size, 3), value, dtype=np.uint8), np.zeros(size, dtype=np.uint8)


def step_edge() -> np.ndarray:
    """A black | white vertical edge at column 24 as float32 0..255."""
    image = np.zeros((*SIZE, 3), dtype=np.float32)
    image[:, 24:] = 255.0
    return image


def transition_px(image: np.ndarray) -> int:
    """Pixels of the middle row neither black nor white (within 1 %)."""
    row = image[SIZE[0] // 2, :, 0]
    return int(((row > 2.55) & (row < 252.45)).sum())


# ------------------------------------------------------------------------------------------- defaults
@pytest.mark.parametrize(
    ("transform", "digest"),
    [
        # sha256 of six samples, computed with the transform as it was before the appearance steps.
        (TrainTransform(SIZE), "15d618bef9a419a3daa813428469b1f0a866e09bc5ce3bba095e6d5841edf8a6"),
        (
            TrainTransform(SIZE, (0.4, 2.5), 0.5, 0.0),
            "cff973b16b10812df43efa3b397e403c68c5a515c15506ba287c9686e8c88792",
        ),
        (TrainTransform((240, 320)), "4b76cb86080309fdd5dbf6ec93733d140a2d540416d8a2c3c9653357a5cc66c4"),
        (
            TrainTransform(SIZE, exposure=1.0, gamma=1.0, noise=0.0, blur_prob=0.0),
            "15d618bef9a419a3daa813428469b1f0a866e09bc5ce3bba095e6d5841edf8a6",
        ),
    ],
)
def test_without_appearance_the_samples_are_the_ones_from_before(transform: TrainTransform, digest: str) -> None:
    h = hashlib.sha256()
    for seed in range(6):
        rgb, labels = block_pair(seed, (60, 90))
        image, out = transform(rgb, labels, gen(seed))
        h.update(image.tobytes())
        h.update(out.tobytes())
        h.update(str((image.dtype, image.shape, out.dtype)).encode())
    assert h.hexdigest() == digest


# ------------------------------------------------------------------------------------------- each option
@pytest.mark.parametrize("option", [{"exposure": 2.0}, {"gamma": 1.5}, {"noise": 6.0}, {"blur_prob": 1.0}, ALL_ON])
def test_each_option_changes_the_image_and_never_the_labels(option: dict[str, float]) -> None:
    plain = TrainTransform(SIZE, (0.7, 1.6))
    changed = appearance(option)
    for seed in range(4):
        rgb, labels = block_pair(seed)
        a_img, a_lab = plain(rgb, labels, gen(seed))
        b_img, b_lab = changed(rgb, labels, gen(seed))
        assert np.array_equal(b_lab, a_lab) and b_lab.dtype == np.uint8
        assert not np.array_equal(b_img, a_img)
        assert b_img.dtype == np.float32 and b_img.shape == (*SIZE, 3) and b_img.flags.c_contiguous
        assert b_img.min() >= 0.0 and b_img.max() <= 255.0 and np.isfinite(b_img).all()
    assert np.array_equal(rgb, block_pair(3)[0]) and np.array_equal(labels, block_pair(3)[1])  # inputs untouched


def test_appearance_is_a_function_of_the_generator_seed() -> None:
    rgb, labels = block_pair(1)
    t = appearance(ALL_ON)
    a, b, c = t(rgb, labels, gen(1)), t(rgb, labels, gen(1)), t(rgb, labels, gen(2))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_settings_outside_their_ranges_are_refused() -> None:
    for bad in ({"exposure": 0.5}, {"gamma": float("nan")}, {"noise": -1.0}, {"blur_prob": 1.5}):
        with pytest.raises(TransformError, match=next(iter(bad))):
            appearance(bad)
    with pytest.raises(TransformError, match="length"):
        motion_kernel(0, 0.0)


# ------------------------------------------------------------------------------------------- exposure, gamma
def test_exposure_is_a_gain_in_linear_light_clipped_at_white() -> None:
    v = np.arange(256, dtype=np.float64) / 255.0
    assert np.allclose(linear_to_srgb(srgb_to_linear(v)), v, atol=1e-12)
    assert np.allclose(tone_lut(1.0, 1.0), np.arange(256), atol=1e-3)
    lut = tone_lut(2.0, 1.0).astype(np.float64) / 255.0
    assert np.allclose(srgb_to_linear(lut), np.minimum(1.0, 2.0 * srgb_to_linear(v)), atol=1e-6)
    assert lut[0] == 0.0 and (lut[200:] == 1.0).all()  # saturates: 200/255 is 0.58 in linear light
    assert np.allclose(tone_lut(1.0, 2.0) / 255.0, v**2, atol=1e-6)


@pytest.mark.parametrize(("option", "limit"), [("exposure", 2.0), ("gamma", 1.5)])
def test_exposure_and_gamma_draws_are_log_uniform_within_their_range(option: str, limit: float) -> None:
    rgb, labels = flat(100)
    v = srgb_to_linear(np.array(100 / 255.0)) if option == "exposure" else np.array(100 / 255.0)
    logs = []
    for seed in range(60):
        image, out = appearance({option: limit}, still=True)(rgb, labels, gen(seed))
        assert (out == 0).all() and np.ptp(image) == 0.0  # a flat image stays flat
        w = image[0, 0, 0] / 255.0
        # gain = w / v in linear light; power = log w / log v
        logs.append(np.log(srgb_to_linear(np.array(w)) / v) if option == "exposure" else np.log(np.log(w) / np.log(v)))
    logs_arr = np.array(logs) / np.log(limit)
    assert logs_arr.min() >= -1.0 - 1e-4 and logs_arr.max() <= 1.0 + 1e-4
    assert logs_arr.min() < -0.7 and logs_arr.max() > 0.7 and abs(logs_arr.mean()) < 0.25


# ------------------------------------------------------------------------------------------- blur
def test_blur_widens_a_step_edge() -> None:
    edge = step_edge()
    assert transition_px(edge) == 0
    narrow, wide = transition_px(gaussian_blur(edge, 0.5)), transition_px(gaussian_blur(edge, 1.5))
    assert 0 < narrow < wide
    across, along = motion_blur(edge, 9, 0.0), motion_blur(edge, 9, 90.0)
    assert transition_px(across) == 8  # a 9 px box across the edge: 8 mixed pixels
    assert np.allclose(along, edge, atol=1e-3)  # along the edge nothing changes
    assert 0 < transition_px(motion_blur(edge, 5, 45.0)) < transition_px(across)


@pytest.mark.parametrize(("length", "angle"), [(3, 0.0), (4, 30.0), (9, 90.0), (9, 137.0)])
def test_motion_kernel_is_a_centred_line_that_sums_to_one(length: int, angle: float) -> None:
    k = motion_kernel(length, angle)
    assert k.shape[0] == k.shape[1] == length | 1 and k.dtype == np.float32
    assert k.sum() == pytest.approx(1.0, abs=1e-6) and (k >= 0).all()
    assert np.allclose(k, k[::-1, ::-1], atol=1e-6)  # symmetric about the centre: no shift
    c = k.shape[0] // 2
    ys, xs = np.mgrid[: k.shape[0], : k.shape[1]]
    a = np.radians(angle)
    along, across = (xs - c) * np.cos(a) - (ys - c) * np.sin(a), (xs - c) * np.sin(a) + (ys - c) * np.cos(a)
    # Spread along the line: a uniform segment of length - 1 (plus the bilinear spread); little across.
    assert (k * along**2).sum() == pytest.approx((length - 1) ** 2 / 12 + (length > 1) * 0.1, abs=0.25)
    assert (k * across**2).sum() < 0.3  # bilinear spreading adds at most 0.25 px²


def test_blur_comes_with_its_probability_and_widens_edges_in_the_transform() -> None:
    rgb = np.zeros((*SIZE, 3), dtype=np.uint8)
    rgb[:, 24:] = 255
    labels = np.zeros(SIZE, dtype=np.uint8)
    plain = appearance({}, still=True)(rgb, labels, gen(0))[0]
    blurred = [
        not np.array_equal(appearance({"blur_prob": 0.3}, still=True)(rgb, labels, gen(s))[0], plain)
        for s in range(200)
    ]
    assert 0.2 < np.mean(blurred) < 0.4
    widths = [transition_px(appearance({"blur_prob": 1.0}, still=True)(rgb, labels, gen(s))[0]) for s in range(20)]
    assert np.mean(widths) > 2 and max(widths) >= 6


# ------------------------------------------------------------------------------------------- noise
def test_noise_std_is_the_one_asked_for_on_a_flat_image() -> None:
    image = np.full((240, 320, 3), 128.0, dtype=np.float32)
    field = torch.randn(image.shape, generator=gen(0)).numpy()
    noisy = add_noise(image, 8.0, field)
    assert noisy.std() == pytest.approx(8.0, rel=0.02) and noisy.mean() == pytest.approx(128.0, abs=0.1)
    assert add_noise(np.zeros_like(image), 8.0, field).min() == 0.0  # clipped at black


def test_noise_std_in_the_transform_is_drawn_uniformly_up_to_the_limit() -> None:
    rgb, labels = flat(128, (120, 160))
    t = appearance({"noise": 10.0}, (120, 160), still=True)
    stds = np.array([t(rgb, labels, gen(s))[0].std() for s in range(40)])
    assert stds.max() <= 10.0 * 1.03 and stds.min() < 2.5 and stds.max() > 7.5
    assert stds.mean() == pytest.approx(5.0, abs=1.5)


# ------------------------------------------------------------------------------------------- options
def test_options_are_off_by_default_and_the_preset_fills_what_is_not_given() -> None:
    parser = build_train_parser()
    base = ["--dataset", "folder"]
    args = parser.parse_args(base)
    assert (args.exposure, args.gamma, args.noise, args.blur) == (None, None, None, None)
    assert not {"exposure", "gamma", "noise", "blur", "appearance"} & set(recorded_options(args_to_dict(args)))
    assert "--exposure" not in canonical_command(recorded_options(args_to_dict(args)))
    preset = parser.parse_args([*base, "--appearance"])
    assert {k: getattr(preset, k) for k in APPEARANCE_PRESET} == APPEARANCE_PRESET
    for argv in (["--noise", "0", "--appearance"], ["--appearance", "--noise", "0"]):
        mixed = parser.parse_args([*base, *argv])
        assert mixed.noise == 0.0 and mixed.exposure == APPEARANCE_PRESET["exposure"]
    command = canonical_command(recorded_options(args_to_dict(preset)))
    assert "--appearance" not in command and "--exposure 2.0 --gamma 1.25 --noise 6.0 --blur 0.3" in command
    again = parser.parse_args(command.split()[2:])
    assert args_to_dict(again) == args_to_dict(preset)
    for bad in (["--exposure", "0.5"], ["--gamma", "5"], ["--noise", "-1"], ["--blur", "2"]):
        with pytest.raises(SystemExit):
            parser.parse_args([*base, *bad])


def test_rvn_train_with_every_appearance_option_records_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    data = write_split_folder(tmp_path / "data", train=4, val=1)
    argv = ["train", "--model", "segnet_tiny", "--dataset", "folder", "--data-root", str(data), "--input-size",
            str(SIZE[0]), str(SIZE[1]), "--epochs", "1", "--batch-size", "4", "--workers", "0", "--device", "cpu",
            "--output-dir", str(tmp_path / "out"), "--appearance", "--gamma", "1.5", "--json"]  # fmt: skip
    capsys.readouterr()
    assert cli.main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    flags = "--exposure 2.0 --gamma 1.5 --noise 6.0 --blur 0.3"
    assert flags in result["command"] and "--appearance" not in result["command"]
    ckpt = load_training_checkpoint(tmp_path / "out" / "checkpoint.pth")
    assert {k: ckpt["args"][k] for k in ("exposure", "gamma", "noise", "blur")} == {
        "exposure": 2.0, "gamma": 1.5, "noise": 6.0, "blur": 0.3
    }  # fmt: skip
    export_checkpoint(tmp_path / "out" / "checkpoint.pth", tmp_path / "m.safetensors")
    card = yaml.safe_load(card_path(tmp_path / "m.safetensors").read_text())
    assert flags in card["training"]["command"]
    # The same run without them learns from other pixels.
    plain = main(train_args(data, tmp_path / "plain", "--epochs", "1"))
    assert plain["history"][0]["train_loss"] != result["history"][0]["train_loss"]
    # A resume without them is warned of.
    with caplog.at_level(logging.WARNING):
        main(train_args(data, tmp_path / "out", "--resume", str(tmp_path / "out" / "checkpoint.pth")))
    assert "resuming with --exposure off (the checkpoint's run had 2.0)" in caplog.text


def test_flatten_smooths_texture_keeps_edges_and_changes_no_other_draw() -> None:
    from robot_vision_nav.training.transforms import flatten_texture

    rng = np.random.default_rng(0)
    image = np.full((48, 64, 3), 120.0, np.float32)
    image[:, 32:] = 220.0  # an edge between two flat regions...
    textured = image + rng.normal(0.0, 12.0, image.shape).astype(np.float32)  # ...under a fine texture
    flat = flatten_texture(textured)
    assert flat[:, 4:28].std() < 0.35 * textured[:, 4:28].std()  # the texture is mostly gone
    assert abs(flat[:, 36:60].mean() - flat[:, 4:28].mean() - 100.0) < 5.0  # the edge is where it was
    assert abs(float(flat[:, 30:34, 0].mean()) - float(textured[:, 30:34, 0].mean())) < 10.0
    # Off, or on with probability 0, the samples are the ones from before; on, only the image changes.
    rgb, labels = block_pair(np.random.default_rng(1), SIZE)
    base = appearance(ALL_ON)
    a = base(rgb, labels, gen(7))
    b = dataclasses.replace(base, flatten_prob=1.0)(rgb, labels, gen(7))
    assert np.array_equal(a[1], b[1]) and not np.array_equal(a[0], b[0])
    with pytest.raises(TransformError, match=r"flatten_prob 1.5 is outside \[0, 1\]"):
        dataclasses.replace(base, flatten_prob=1.5)
