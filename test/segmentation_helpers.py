"""Shared by the perception tool tests: a model whose prediction is known, tiny fake dataset trees."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from robot_vision_nav.core.segmentation.inference import save_model
from robot_vision_nav.core.segmentation.model import build_model, variant
from robot_vision_nav.package_files import load_label_set

HEIGHT, WIDTH = 16, 24


def constant_model(path: Path, label_set: str, winner: int, size: tuple[int, int] = (HEIGHT, WIDTH)) -> Path:
    """A segnet_tiny whose classifier ignores its input and makes class `winner` win everywhere.

    The classifier's weights are zero and its bias is 5 for `winner`, 0 elsewhere: every pixel's
    logits are the bias, so the argmax is `winner` whatever the image (soft-max ~0.93 for K = 11).
    """
    labels = load_label_set(label_set)
    model = build_model(variant("segnet_tiny", labels.num_classes))
    classifier = model.impl.classifier
    with torch.no_grad():
        classifier.weight.zero_()
        classifier.bias.zero_()
        classifier.bias[winner] = 5.0
    save_model(model, path, labels, size)
    return path


def random_model(path: Path, label_set: str = "camvid", size: tuple[int, int] = (HEIGHT, WIDTH)) -> Path:
    """A freshly initialised segnet_tiny (input-dependent logits), seeded."""
    torch.manual_seed(0)
    labels = load_label_set(label_set)
    save_model(build_model(variant("segnet_tiny", labels.num_classes)), path, labels, size)
    return path


def write_rgb(path: Path, rgb: np.ndarray) -> None:
    """Write an RGB array as a picture (OpenCV wants BGR)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def write_gray(path: Path, image: np.ndarray) -> None:
    """Write a single-channel 8-bit image unchanged."""
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)


def camvid_labels(seed: int) -> np.ndarray:
    """A 16x24 CamVid annotation: sky rows, road, a pavement strip, a car, void (11) in a corner."""
    labels = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)  # sky
    labels[6:, :] = 3  # road
    labels[6:, :4] = 4  # pavement
    labels[10:14, 8 + seed : 14 + seed] = 8  # car
    labels[:2, :3] = 11  # void
    return labels


def write_camvid_tree(root: Path, split: str = "test", count: int = 2) -> list[np.ndarray]:
    """`root/SPLIT/*.png` and `root/SPLITannot/*.png` in the SegNet tutorial layout; returns the raw labels."""
    out = []
    for i in range(count):
        rgb = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
        rgb[..., 0] = 200  # red in RGB: comes back in channel 0 only if BGR was handled
        rgb[..., 2] = 10 * i
        name = f"0001TP_{i:06d}.png"
        write_rgb(root / split / name, rgb)
        labels = camvid_labels(i)
        write_gray(root / f"{split}annot" / name, labels)
        out.append(labels)
    return out
