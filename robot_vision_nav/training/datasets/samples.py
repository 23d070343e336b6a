"""The torch datasets the training loop loads: augmented training samples, validation samples, their collate.

Augmentation itself is `training.transforms`; here each sample gets its own seeded generator, so a
sample's augmentation does not depend on the worker, rank or resume that loads it. Must never
import ROS.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.utils.data

from robot_vision_nav.core.segmentation.inference import dither_pattern
from robot_vision_nav.training.datasets.readers import DatasetError, SegmentationDataset
from robot_vision_nav.training.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    TrainTransform,
    TransformError,
    check_pair,
    eval_image,
    normalize,
)


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """The augmentation seed of sample `index` in `epoch` of a run seeded `seed` (63 bits)."""
    state = np.random.SeedSequence([seed, epoch, index]).generate_state(1, np.uint64)
    return int(state[0]) & ((1 << 63) - 1)


class TrainingSamples(torch.utils.data.Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Augmented training samples: `(epoch, index)` -> (normalised float32 3xHxW, int64 HxW labels).

    The augmentation of sample `index` in `epoch` is drawn from its own generator seeded by
    `sample_seed(seed, epoch, index)`: the same whatever worker, rank or resume loads it. A plain
    `index` means epoch 0.
    """

    def __init__(
        self,
        dataset: SegmentationDataset,
        transform: TrainTransform,
        seed: int,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
    ) -> None:
        self.dataset = dataset
        self.transform = transform
        self.seed = seed
        self.mean = tuple(mean)
        self.std = tuple(std)

    def __len__(self) -> int:
        return len(self.dataset)

    def source(self, epoch: int, slot: int) -> tuple[SegmentationDataset, int]:
        """The dataset and the index in it that fill `slot` of `epoch`: here the sample `slot` itself."""
        del epoch  # every epoch holds the same samples; a subclass may draw others
        return self.dataset, slot

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        epoch, slot = key if isinstance(key, tuple) else (0, key)
        dataset, index = self.source(epoch, slot)
        rgb, labels = dataset[index]
        generator = torch.Generator().manual_seed(sample_seed(self.seed, epoch, slot))
        try:
            image, out = self.transform(rgb, labels, generator)
        except TransformError as err:
            raise DatasetError(f"{dataset.name} sample {index}: {err}") from err
        return normalize(image, self.mean, self.std), torch.from_numpy(out.astype(np.int64))


class EvalSamples(torch.utils.data.Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Validation samples: index -> (image resized as the engine does, normalised; uint8 labels at full size)."""

    def __init__(
        self,
        dataset: SegmentationDataset,
        size: tuple[int, int],
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        dither: float = 0.0,
    ) -> None:
        self.dataset = dataset
        self.size = (int(size[0]), int(size[1]))
        self.mean = tuple(mean)
        self.std = tuple(std)
        # The model's input dither (its card's normalization.dither): validated as the engine will run it.
        self.dither = dither_pattern(dither, self.size) if dither else None

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        rgb, labels = self.dataset[index]
        try:
            check_pair(rgb, labels)
        except TransformError as err:
            raise DatasetError(f"{self.dataset.name} sample {index}: {err}") from err
        image = eval_image(rgb, self.size, self.mean, self.std, self.dither)
        return image, torch.from_numpy(np.ascontiguousarray(labels))


def eval_collate(
    batch: Sequence[tuple[torch.Tensor, torch.Tensor]],
) -> tuple[torch.Tensor, torch.Tensor | list[torch.Tensor]]:
    """Stack the images; stack the labels too when they share one size, else keep them as a list."""
    images = torch.stack([b[0] for b in batch])
    labels = [b[1] for b in batch]
    if all(t.shape == labels[0].shape for t in labels):
        return images, torch.stack(labels)
    return images, labels
