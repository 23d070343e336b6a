"""Cityscapes fine annotations through `torchvision.datasets.Cityscapes`, label ids mapped to the 19 train ids.

Layout: `leftImg8bit/{split}/{city}/*_leftImg8bit.png` and `gtFine/{split}/{city}/*_gtFine_labelIds.png`
(`Cityscapes(root, split, mode='fine', target_type='semantic')`); ids outside the 19 train ids map
to 255. Nothing here downloads; this module must never import ROS.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from robot_vision_nav.training.datasets.readers import (
    SPLITS,
    DatasetError,
    Sample,
    check_sizes,
    dataset_label_set,
    read_label_png,
)


class CityscapesDataset:
    """Cityscapes fine annotations through torchvision, label ids mapped to the 19 train ids.

    Args:
        root: the folder holding `leftImg8bit/` and `gtFine/`.
        split: `train`, `val` or `test` (the public test labels are all void: everything is ignored).

    """

    name = "cityscapes"

    def __init__(self, root: str | Path, split: str = "val") -> None:
        try:
            from torchvision.datasets import Cityscapes
        except ImportError as err:
            raise DatasetError("cityscapes needs torchvision (pip install torchvision)") from err
        if split not in SPLITS:
            raise DatasetError(f"cityscapes: split {split!r} is not one of {', '.join(SPLITS)}")
        self.label_set = dataset_label_set("cityscapes")
        try:
            self._ds = Cityscapes(str(root), split=split, mode="fine", target_type="semantic")
        except (RuntimeError, ValueError, OSError) as err:
            raise DatasetError(
                f"cityscapes: no usable {split!r} split under {str(root)!r} (expected leftImg8bit/{split}/CITY/"
                f"*_leftImg8bit.png and gtFine/{split}/CITY/*_gtFine_labelIds.png): {err}"
            ) from err
        # torchvision lists folders in os.listdir order; sort for repeatable runs.
        self._order = sorted(range(len(self._ds.images)), key=lambda i: self._ds.images[i])
        if not self._order:
            raise DatasetError(f"cityscapes: no images under {str(Path(root) / 'leftImg8bit' / split)!r}")
        for i in self._order:
            target = Path(self._ds.targets[i][0])
            if not target.is_file():
                raise DatasetError(f"cityscapes: image {self._ds.images[i]!r} has no annotation {str(target)!r}")

    def __len__(self) -> int:
        return len(self._order)

    def __getitem__(self, index: int) -> Sample:
        i = self._order[index]
        try:
            image, target = self._ds[i]
        except OSError as err:
            raise DatasetError(f"cityscapes: cannot read {self._ds.images[i]!r} or its labels: {err}") from err
        rgb = np.ascontiguousarray(np.asarray(image, dtype=np.uint8))
        ids = np.asarray(target)
        if ids.ndim != 2:
            raise DatasetError(f"cityscapes: labels {self._ds.targets[i][0]!r} are not a single-channel id image")
        labels = self.label_set.to_train_ids(ids)
        check_sizes(rgb, labels, Path(self._ds.images[i]), Path(self._ds.targets[i][0]))
        return rgb, labels

    def read_labels(self, index: int) -> NDArray[np.uint8]:
        """Sample `index`'s train ids alone, without decoding its image."""
        return self.label_set.to_train_ids(read_label_png(Path(self._ds.targets[self._order[index]][0])))
