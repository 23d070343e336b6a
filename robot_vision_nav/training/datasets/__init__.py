"""Segmentation datasets for evaluation and training: CamVid, Cityscapes, the synthetic warehouse, image folders.

Every dataset is a sequence of `(rgb, labels)` pairs, `rgb` uint8 HxWx3 in RGB order and `labels`
uint8 HxW holding the label set's channel ids (0..K-1) with 255 where the ground truth is void, and
has `label_set` (the classes a model must predict to be scored on it) and `name`. Order is sorted
by file name, so runs are repeatable. A label value the label set does not know is refused with
the file's name, never mapped to "ignore" in silence. Nothing here downloads; this package must
never import ROS.

By source: `folders` (CamVid in the SegNet tutorial layout, image folders as `rvn sim-dataset`
writes them), `cityscapes` (through torchvision), `synthetic` (warehouse aisles rendered and
labelled by `sim.synthetic_aisles` from a seed, frame i from its own generator `[seed, i]`, so
frame i is the same whatever the frame count); `readers` holds what they share. `open_dataset`
(here) picks one by name for evaluation. For training: `training_data.open_training_data` gives
a dataset's training and validation splits and `count_class_pixels` / `median_frequency_weights`
the SegNet paper's class weights; `samples.TrainingSamples` and `samples.EvalSamples` are the
torch datasets the training loop loads (augmentation in `training.transforms`).
"""

from __future__ import annotations

from pathlib import Path

from robot_vision_nav.training.datasets.cityscapes import CityscapesDataset
from robot_vision_nav.training.datasets.folders import PairedFolderDataset, camvid, image_folder
from robot_vision_nav.training.datasets.readers import (
    IMAGE_SUFFIXES,
    SPLITS,
    DatasetError,
    Sample,
    SegmentationDataset,
    read_label_png,
    read_labels,
    read_rgb,
)
from robot_vision_nav.training.datasets.samples import EvalSamples, TrainingSamples, eval_collate, sample_seed
from robot_vision_nav.training.datasets.synthetic import SYNTHETIC_FRAMES, SYNTHETIC_SIZE, SyntheticWarehouse
from robot_vision_nav.training.datasets.training_data import (
    SYNTHETIC_TRAIN_FRAMES,
    SYNTHETIC_VAL_FIRST,
    TRAINING_DATASETS,
    VAL_FRACTION,
    InMemoryDataset,
    Subset,
    TrainingData,
    count_class_pixels,
    median_frequency_weights,
    open_training_data,
    render_in_memory,
)

__all__ = [
    "DATASETS",
    "IMAGE_SUFFIXES",
    "SPLITS",
    "SYNTHETIC_FRAMES",
    "SYNTHETIC_SIZE",
    "SYNTHETIC_TRAIN_FRAMES",
    "SYNTHETIC_VAL_FIRST",
    "TRAINING_DATASETS",
    "VAL_FRACTION",
    "CityscapesDataset",
    "DatasetError",
    "EvalSamples",
    "InMemoryDataset",
    "PairedFolderDataset",
    "Sample",
    "SegmentationDataset",
    "Subset",
    "SyntheticWarehouse",
    "TrainingData",
    "TrainingSamples",
    "camvid",
    "count_class_pixels",
    "eval_collate",
    "image_folder",
    "median_frequency_weights",
    "open_dataset",
    "open_training_data",
    "read_label_png",
    "read_labels",
    "read_rgb",
    "render_in_memory",
    "sample_seed",
]

DATASETS = ("camvid", "cityscapes", "synthetic")


def open_dataset(
    name: str,
    root: str | Path | None = None,
    split: str = "test",
    *,
    frames: int = SYNTHETIC_FRAMES,
    seed: int = 0,
    labels_dir: str = "labels",
) -> SegmentationDataset:
    """A dataset by name: `camvid` / `cityscapes` (need `root`), `synthetic` (generated, or a folder).

    Args:
        name: `camvid`, `cityscapes` or `synthetic`.
        root: the dataset folder. For `synthetic`, a folder with `images/` and `labels/` is read as
            an image folder; None generates frames.
        split: `train`, `val` or `test` (camvid, cityscapes).
        frames: generated synthetic frames.
        seed: seed of the generated synthetic frames.
        labels_dir: `synthetic` with a folder: the labels' sub-folder (`truth` for a frames folder's ground truth).

    Raises:
        DatasetError: unknown name, missing root, or a dataset that cannot be read.

    """
    if name not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}")
    if name == "synthetic":
        if root is None:
            return SyntheticWarehouse(frames=frames, seed=seed)
        folder = Path(root)
        if not ((folder / "images").is_dir() and (folder / labels_dir).is_dir()):
            raise DatasetError(
                f"synthetic: {str(folder)!r} has no images/ and {labels_dir}/ folders (leave the root out to generate "
                "frames)"
            )
        return image_folder(folder, labels_dir=labels_dir)
    if root is None:
        raise DatasetError(f"{name} needs the dataset's root folder")
    if not Path(root).is_dir():
        raise DatasetError(f"{name}: root folder {str(root)!r} does not exist")
    if name == "camvid":
        return camvid(root, split)
    return CityscapesDataset(root, split)
