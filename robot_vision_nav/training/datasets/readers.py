"""What every dataset shares: the sample type, the protocol, the error, and the image and label readers.

A label PNG is read unchanged (one 8-bit channel of ids, never a colour picture), and an image and
its labels must have the same size; a file that breaks either rule is refused with its name.
This module must never import ROS.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
from numpy.typing import NDArray

from robot_vision_nav.core.segmentation.labels import LabelError, LabelSet
from robot_vision_nav.package_files import load_label_set

SPLITS = ("train", "val", "test")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")

Sample = tuple[NDArray[np.uint8], NDArray[np.uint8]]


class DatasetError(ValueError):
    """A dataset that cannot be read: missing folder or file, unreadable or mismatched image."""


class SegmentationDataset(Protocol):
    """What evaluation needs of a dataset."""

    name: str
    label_set: LabelSet

    def __len__(self) -> int:
        """Number of samples."""
        ...

    def __getitem__(self, index: int) -> Sample:
        """Sample `index`: RGB uint8 HxWx3 and labels uint8 HxW (train ids, 255 void)."""
        ...


def dataset_label_set(name: str) -> LabelSet:
    """The packaged label set `name`; a missing or bad one is a DatasetError."""
    try:
        return load_label_set(name)
    except LabelError as err:
        raise DatasetError(str(err)) from err


def read_rgb(path: Path) -> NDArray[np.uint8]:
    """An image file as RGB uint8 HxWx3 (OpenCV reads BGR; converted here)."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise DatasetError(f"cannot read image {str(path)!r}: missing, or not an image OpenCV can decode")
    return np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


def read_label_png(path: Path) -> NDArray[np.uint8]:
    """A single-channel 8-bit label PNG as uint8 HxW, unchanged (no colour conversion, no scaling)."""
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise DatasetError(f"cannot read label image {str(path)!r}: missing, or not an image OpenCV can decode")
    if raw.ndim != 2 or raw.dtype != np.uint8:
        channels = raw.shape[2] if raw.ndim == 3 else 1
        raise DatasetError(
            f"label image {str(path)!r} is {raw.dtype} with {channels} channel(s); expected one 8-bit channel of "
            "class ids (not a colour-coded picture)"
        )
    return np.asarray(raw, dtype=np.uint8)


def check_sizes(rgb: NDArray[np.uint8], labels: NDArray[np.uint8], image: Path, label: Path) -> None:
    """Refuse an image whose labels are another size, naming both files."""
    if rgb.shape[:2] != labels.shape:
        raise DatasetError(
            f"image {str(image)!r} is {rgb.shape[1]}x{rgb.shape[0]} but its labels {str(label)!r} are "
            f"{labels.shape[1]}x{labels.shape[0]}; expected the same size"
        )


def images_in(folder: Path) -> list[Path]:
    """The image files directly in `folder`, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def read_labels(dataset: SegmentationDataset, index: int) -> NDArray[np.uint8]:
    """Sample `index`'s labels, through the dataset's `read_labels` (no image decoding) where it has one."""
    reader = getattr(dataset, "read_labels", None)
    return reader(index) if callable(reader) else dataset[index][1]
