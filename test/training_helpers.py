"""Shared by the training tests: tiny image/label folders whose labels are a function of the colours."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from robot_vision_nav.training.options import build_train_parser
from test.segmentation_helpers import write_gray, write_rgb

# Corners of the RGB cube: a bilinear blend of two or more of them is never exactly another one,
# so a pixel whose colour is exactly a palette entry came from that entry's block alone.
PALETTE = {
    (255, 0, 0): 2,  # keep_out
    (0, 255, 0): 0,  # floor
    (0, 0, 255): 3,  # wall
    (255, 255, 0): 1,  # marking
    (255, 255, 255): 255,  # unlabelled
}
COLOURS = np.array(list(PALETTE), dtype=np.uint8)
CLASS_OF = np.array(list(PALETTE.values()), dtype=np.uint8)
SIZE = (32, 48)  # (H, W) px of the tiny images and the tiny network's input


def block_pair(seed: int, size: tuple[int, int] = SIZE, block: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """A picture of `block`-px squares of palette colours and its labels (the colour's class)."""
    rng = np.random.default_rng(seed)
    h, w = size
    pick = rng.integers(0, len(COLOURS), size=(-(-h // block), -(-w // block)))
    pick = np.repeat(np.repeat(pick, block, axis=0), block, axis=1)[:h, :w]
    return COLOURS[pick].copy(), CLASS_OF[pick].copy()


def write_folder(root: Path, count: int, *, start: int = 0, size: tuple[int, int] = SIZE) -> Path:
    """`root/images/fNNN.png` and `root/labels/fNNN.png` of `count` block pictures (seeds start.. )."""
    for i in range(start, start + count):
        rgb, labels = block_pair(i, size)
        write_rgb(root / "images" / f"f{i:03d}.png", rgb)
        write_gray(root / "labels" / f"f{i:03d}.png", labels)
    return root


def write_split_folder(root: Path, train: int = 8, val: int = 2) -> Path:
    """`root/train/{images,labels}` and `root/val/{images,labels}`."""
    write_folder(root / "train", train)
    write_folder(root / "val", val, start=1000)
    return root


def train_args(data: Path, out: Path, *extra: str) -> argparse.Namespace:
    """Parsed options of a tiny CPU run on a folder dataset (one process, no loader workers)."""
    argv = [
        "--model", "segnet_tiny", "--dataset", "folder", "--data-root", str(data), "--input-size", str(SIZE[0]),
        str(SIZE[1]), "--batch-size", "4", "--epochs", "2", "--workers", "0", "--device", "cpu", "--output-dir",
        str(out), "--print-freq", "1", "--lr", "0.05", *extra,
    ]  # fmt: skip
    return build_train_parser().parse_args(argv)
