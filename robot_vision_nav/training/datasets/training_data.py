"""A dataset's training and validation splits, and the class weights counted over them.

`open_training_data` gives the splits: CamVid's and Cityscapes' own, an image folder's train/ and
val/ (or, without them, its last images in name order held out), or generated synthetic frames
rendered into memory once, the validation frames from their own range of the seed.
`count_class_pixels` and `median_frequency_weights` give the SegNet paper's class weights. Must
never import ROS.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

import numpy as np
from numpy.typing import NDArray

from robot_vision_nav.core.segmentation.labels import IGNORE_INDEX, LabelSet
from robot_vision_nav.training.datasets.cityscapes import CityscapesDataset
from robot_vision_nav.training.datasets.folders import camvid, image_folder
from robot_vision_nav.training.datasets.readers import DatasetError, Sample, SegmentationDataset, read_labels
from robot_vision_nav.training.datasets.synthetic import SYNTHETIC_SIZE, SyntheticWarehouse

SYNTHETIC_TRAIN_FRAMES = 200
SYNTHETIC_VAL_FIRST = 1_000_000  # a seed's validation frames start here: never one of its training frames
VAL_FRACTION = 0.1
TRAINING_DATASETS = ("camvid", "cityscapes", "synthetic", "folder")

# What a dataset description may hold: JSON-ready data.
JsonValue: TypeAlias = "str | int | float | bool | Sequence[JsonValue] | Mapping[str, JsonValue] | None"


class Subset:
    """Some samples of a dataset, in the given order, with its name and label set."""

    def __init__(self, dataset: SegmentationDataset, indices: Sequence[int], name: str | None = None) -> None:
        self.dataset = dataset
        self.indices = list(indices)
        self.name = name or dataset.name
        self.label_set = dataset.label_set

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> Sample:
        return self.dataset[self.indices[index]]

    def read_labels(self, index: int) -> NDArray[np.uint8]:
        """Sample `index`'s labels (without the image where the dataset can)."""
        return read_labels(self.dataset, self.indices[index])


class InMemoryDataset:
    """Samples held in memory: generated frames rendered once, then read every epoch."""

    def __init__(self, name: str, label_set: LabelSet, samples: Sequence[Sample]) -> None:
        self.name = name
        self.label_set = label_set
        self.samples = list(samples)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> Sample:
        rgb, labels = self.samples[index]
        return rgb.copy(), labels.copy()

    def read_labels(self, index: int) -> NDArray[np.uint8]:
        """Sample `index`'s labels."""
        return self.samples[index][1].copy()


def render_in_memory(
    dataset: SegmentationDataset, progress: Callable[[int, int], None] | None = None
) -> InMemoryDataset:
    """Every sample of `dataset` read (or rendered) once into memory."""
    samples = []
    for i in range(len(dataset)):
        samples.append(dataset[i])
        if progress is not None:
            progress(i + 1, len(dataset))
    return InMemoryDataset(dataset.name, dataset.label_set, samples)


@dataclass(frozen=True)
class TrainingData:
    """The training and validation splits of one dataset, and a description for the model card."""

    train: SegmentationDataset
    val: SegmentationDataset
    label_set: LabelSet
    description: dict[str, JsonValue]


def _first(dataset: SegmentationDataset, limit: int | None) -> SegmentationDataset:
    return dataset if limit is None or limit >= len(dataset) else Subset(dataset, range(limit))


def _folder_splits(
    root: Path, label_set: str, val_fraction: float
) -> tuple[SegmentationDataset, SegmentationDataset, dict[str, str]]:
    """train/ and val/ (each images/ + labels/), or one images/ + labels/ split by file name order."""
    if (root / "train").is_dir() or (root / "val").is_dir():
        for split in ("train", "val"):
            if not ((root / split / "images").is_dir() and (root / split / "labels").is_dir()):
                raise DatasetError(
                    f"folder: {str(root / split)!r} has no images/ and labels/ folders (expected ROOT/train/images, "
                    "ROOT/train/labels, ROOT/val/images and ROOT/val/labels)"
                )
        train = image_folder(root / "train", label_set)
        val = image_folder(root / "val", label_set)
        return train, val, {"train_split": "train/", "val_split": "val/"}
    if not ((root / "images").is_dir() and (root / "labels").is_dir()):
        raise DatasetError(
            f"folder: {str(root)!r} has neither train/ and val/ (each with images/ and labels/) nor images/ and "
            "labels/ folders"
        )
    everything = image_folder(root, label_set)
    n = len(everything)
    n_val = max(1, math.ceil(n * val_fraction))
    if n - n_val < 1:
        raise DatasetError(
            f"folder: {str(root)!r} has {n} image(s); a training and a validation split need at least 2 (or give "
            "train/ and val/ folders)"
        )
    names = [p[0].name for p in everything.pairs]
    described = {"train_split": f"images/ in name order up to {names[n - n_val - 1]}",
                 "val_split": f"images/ from {names[n - n_val]} on (--val-fraction {val_fraction:g})"}  # fmt: skip
    return Subset(everything, range(n - n_val)), Subset(everything, range(n - n_val, n)), described


def open_training_data(
    name: str,
    root: str | Path | None = None,
    *,
    label_set: str = "warehouse",
    val_fraction: float = VAL_FRACTION,
    synthetic_frames: int = SYNTHETIC_TRAIN_FRAMES,
    data_seed: int = 0,
    limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> TrainingData:
    """The training and validation splits of a dataset, checked for layout.

    Args:
        name: `camvid`, `cityscapes`, `synthetic` or `folder`.
        root: the dataset's folder (optional for `synthetic`: frames are then rendered into memory).
        label_set: the label set of a `folder` dataset (its labels hold that set's train ids).
        val_fraction: folders without train/ and val/: the last fraction of the images (in file name
            order) is the validation split.
        synthetic_frames: generated synthetic training frames (a tenth as many validation frames,
            at least one, from the seed's frames `SYNTHETIC_VAL_FIRST` on).
        data_seed: seed of the generated synthetic frames.
        limit: keep only the first `limit` samples of each split.
        progress: called as `progress(done, total)` while synthetic frames are rendered.

    Raises:
        DatasetError: unknown name, missing root, a folder of the wrong layout, or an empty split.

    """
    if name not in TRAINING_DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; expected one of {', '.join(TRAINING_DATASETS)}")
    description: dict[str, JsonValue] = {"dataset": name, "root": None if root is None else str(root)}
    train: SegmentationDataset
    val: SegmentationDataset
    if name == "synthetic" and root is None:
        frames = synthetic_frames if limit is None else min(limit, synthetic_frames)
        val_frames = max(1, frames // 10)
        total = frames + val_frames

        def report(done: int, _: int, offset: int = 0) -> None:
            if progress is not None:
                progress(offset + done, total)

        train = render_in_memory(SyntheticWarehouse(frames, data_seed), report)
        val = render_in_memory(SyntheticWarehouse(val_frames, data_seed, first=SYNTHETIC_VAL_FIRST),
                               lambda done, n: report(done, n, frames))  # fmt: skip
        description["synthetic"] = {
            "renderer": "sim.synthetic (analytic)",
            "seed": data_seed,
            "size": list(SYNTHETIC_SIZE),
            "train_frames": [0, frames],
            "val_frames": [SYNTHETIC_VAL_FIRST, SYNTHETIC_VAL_FIRST + val_frames],
        }
    else:
        if root is None:
            raise DatasetError(f"{name} needs the dataset's root folder (--data-root)")
        folder = Path(root)
        if not folder.is_dir():
            raise DatasetError(f"{name}: root folder {str(folder)!r} does not exist")
        if name == "camvid":
            for sub in ("train", "trainannot", "val", "valannot"):
                if not (folder / sub).is_dir():
                    raise DatasetError(
                        f"camvid: {str(folder)!r} has no {sub}/ folder (expected the SegNet tutorial layout: train/, "
                        "trainannot/, val/, valannot/)"
                    )
            train, val = camvid(folder, "train"), camvid(folder, "val")
            description.update(train_split="train", val_split="val")
        elif name == "cityscapes":
            train, val = CityscapesDataset(folder, "train"), CityscapesDataset(folder, "val")
            description.update(train_split="train", val_split="val")
        else:
            train, val, split = _folder_splits(folder, "warehouse" if name == "synthetic" else label_set,
                                               val_fraction)  # fmt: skip
            description.update(split)
            manifest = folder / "manifest.json"
            if manifest.is_file():
                description["manifest"] = str(manifest)
    train, val = _first(train, limit), _first(val, limit)
    if train.label_set.names != val.label_set.names:
        raise DatasetError(f"{name}: the training and validation splits have different label sets")
    description.update(label_set=train.label_set.name, train_images=len(train), val_images=len(val), limit=limit)
    return TrainingData(train, val, train.label_set, description)


# ------------------------------------------------------------------------------------ class weights
def count_class_pixels(
    dataset: SegmentationDataset, indices: Iterable[int], num_classes: int, ignore_index: int = IGNORE_INDEX
) -> NDArray[np.int64]:
    """What median frequency balancing needs, summed over `indices` (so shards add up).

    Returns:
        int64 array (2, K): row 0 the pixels of each class; row 1, for each class, the labelled
        pixels (ids 0..K-1, not `ignore_index`) of the images where the class is present.

    """
    out = np.zeros((2, num_classes), dtype=np.int64)
    for i in indices:
        counts = np.bincount(read_labels(dataset, i).ravel(), minlength=256)[:num_classes].astype(np.int64)
        out[0] += counts
        out[1] += np.where(counts > 0, counts.sum(), 0)
    del ignore_index  # 255 >= K: never counted above
    return out


def median_frequency_weights(counts: NDArray[np.int64]) -> NDArray[np.float64]:
    """Class weights by median frequency balancing (Eigen and Fergus 2015, as in the SegNet paper).

    freq(c) = pixels of c / labelled pixels of the images where c is present (255 ignored);
    weight(c) = median over present classes of freq / freq(c). A class absent from every training
    label gets weight 1 (no pixel of it reaches the loss anyway).

    Args:
        counts: `count_class_pixels`'s (2, K) array.

    Raises:
        DatasetError: no class is present at all.

    """
    class_px, image_px = counts.astype(np.float64)
    present = image_px > 0
    if not present.any():
        raise DatasetError("the training labels hold no labelled pixel (everything is 255 / ignore)")
    freq = class_px[present] / image_px[present]
    weights = np.ones(counts.shape[1], dtype=np.float64)
    weights[present] = float(np.median(freq)) / freq
    return weights
