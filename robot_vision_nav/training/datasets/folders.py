"""Images and label PNGs paired by file name: CamVid (SegNet tutorial layout) and plain image folders.

- CamVid: `ROOT/{train,val,test}/*.png` images and `ROOT/{train,val,test}annot/*.png`
  single-channel label PNGs with ids 0..10 and 11 = void (CamVid label set: void -> 255).
- An image folder: `ROOT/images/NAME.png|.jpg` with `ROOT/labels/NAME.png` already in train ids
  (the format `rvn sim-dataset` writes; warehouse label set unless told otherwise).

A label value the label set does not know is refused with the file's name, never mapped to
"ignore" in silence. This module must never import ROS.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from robot_vision_nav.core.segmentation.labels import ANY_DRIVABLE, ANY_NOT_DRIVABLE, IGNORE_INDEX, LabelSet
from robot_vision_nav.training.datasets.readers import (
    IMAGE_SUFFIXES,
    SPLITS,
    DatasetError,
    Sample,
    check_sizes,
    dataset_label_set,
    images_in,
    read_label_png,
    read_rgb,
)


class PairedFolderDataset:
    """Images and label PNGs paired by file stem, labels mapped through `label_set.to_train_ids`.

    Args:
        name: dataset name for messages.
        label_set: the classes; `to_train_ids` maps raw label values (CamVid: 11 -> 255).
        image_dir: folder of images.
        label_dir: folder of `STEM.png` label images.
        map_ids: map label values through `to_train_ids` (False: the files already hold train ids,
            and values other than 0..K-1 and 255 are refused).

    """

    def __init__(self, name: str, label_set: LabelSet, image_dir: Path, label_dir: Path, *, map_ids: bool) -> None:
        self.name = name
        self.label_set = label_set
        self.map_ids = map_ids
        for folder in (image_dir, label_dir):
            if not folder.is_dir():
                raise DatasetError(f"{name}: folder {str(folder)!r} does not exist")
        images = images_in(image_dir)
        if not images:
            raise DatasetError(f"{name}: no images ({', '.join(IMAGE_SUFFIXES)}) in {str(image_dir)!r}")
        labels = {p.stem: p for p in label_dir.glob("*.png")}
        self.pairs: list[tuple[Path, Path]] = []
        for image in images:
            label = labels.get(image.stem)
            if label is None:
                raise DatasetError(
                    f"{name}: image {str(image)!r} has no annotation {str(label_dir / (image.stem + '.png'))!r}"
                )
            self.pairs.append((image, label))

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> Sample:
        image, label = self.pairs[index]
        rgb = read_rgb(image)
        raw = read_label_png(label)
        check_sizes(rgb, raw, image, label)
        return rgb, self._train_ids(raw, label)

    def read_labels(self, index: int) -> NDArray[np.uint8]:
        """Sample `index`'s labels alone (train ids, 255 void), without decoding its image."""
        label = self.pairs[index][1]
        return self._train_ids(read_label_png(label), label)

    def _train_ids(self, raw: NDArray[np.uint8], label: Path) -> NDArray[np.uint8]:
        """Raw label values -> train ids; a value the label set does not know is refused, naming the file."""
        known = self._known_ids()
        bad = ~known[raw]
        if bad.any():
            values = sorted({int(v) for v in np.unique(raw[bad])})
            if self.map_ids:
                expected = f"the dataset ids of {self.label_set.name!r} ({_ranges(np.flatnonzero(known))})"
            else:
                expected = (
                    f"class ids 0..{self.label_set.num_classes - 1} of {self.label_set.name!r}, {ANY_DRIVABLE} / "
                    f"{ANY_NOT_DRIVABLE} (any drivable / any other class) or {IGNORE_INDEX} (ignore)"
                )
            raise DatasetError(
                f"label image {str(label)!r} holds id {values[-1]} (ids outside the class set: {values[:8]}); "
                f"expected {expected}"
            )
        return self.label_set.to_train_ids(raw) if self.map_ids else raw

    def _known_ids(self) -> NDArray[np.bool_]:
        """A 256-entry table: True for the raw label values this dataset may hold."""
        known = np.zeros(256, dtype=np.bool_)
        known[self.label_set.ignore_index] = True
        if not self.map_ids:
            known[: self.label_set.num_classes] = True
            known[[ANY_DRIVABLE, ANY_NOT_DRIVABLE]] = True  # set labels (`rvn autolabel`)
            return known
        ids = [c.label_id if c.label_id is not None else c.id for c in self.label_set.classes]
        known[ids] = True
        known[list(self.label_set.void_ids)] = True
        return known


def _ranges(ids: NDArray[np.intp]) -> str:
    """Sorted ids as "0..11, 255"."""
    parts: list[str] = []
    start = prev = None
    for v in (int(i) for i in ids):
        if prev is not None and v == prev + 1:
            prev = v
            continue
        if start is not None:
            parts.append(f"{start}..{prev}" if prev != start else f"{start}")
        start = prev = v
    if start is not None:
        parts.append(f"{start}..{prev}" if prev != start else f"{start}")
    return ", ".join(parts)


def camvid(root: str | Path, split: str = "test") -> PairedFolderDataset:
    """CamVid in the SegNet tutorial layout: `ROOT/SPLIT/*.png` with `ROOT/SPLITannot/*.png`."""
    if split not in SPLITS:
        raise DatasetError(f"camvid: split {split!r} is not one of {', '.join(SPLITS)}")
    root = Path(root)
    return PairedFolderDataset(
        "camvid", dataset_label_set("camvid"), root / split, root / f"{split}annot", map_ids=True
    )


def image_folder(root: str | Path, label_set: str = "warehouse", labels_dir: str = "labels") -> PairedFolderDataset:
    """`ROOT/images/*` with `ROOT/<labels_dir>/*.png` holding train ids of `label_set` (255 ignore).

    `labels_dir` picks another folder of labels for the same images: a frames folder's `truth/` or `human/`.
    """
    root = Path(root)
    return PairedFolderDataset(f"folder:{root.name}", dataset_label_set(label_set), root / "images", root / labels_dir,
                               map_ids=False)  # fmt: skip
