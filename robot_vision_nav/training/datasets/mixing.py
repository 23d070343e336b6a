"""A second image folder mixed into every training epoch by a fixed share (`rvn train --mix-data --mix-fraction`).

Site frames are few and simulator frames are many: an epoch is the whole training split (N
samples, slots 0..N-1) plus M = round(F / (1 - F) x N) samples of the mix folder (slots N..N+M-1),
so the mix folder makes up the fraction F of it. Which mix samples fill those slots is drawn
afresh for each epoch from (seed, epoch) alone, without replacement where the mix folder holds at
least M samples, with replacement otherwise. The slots are a plain dataset of N + M items, so
`EpochSampler` shuffles and shards them across processes as it does any training split, and each
slot's augmentation is seeded by (seed, epoch, slot) as `TrainingSamples` seeds a sample's: a mix
sample drawn twice in one epoch is augmented twice, differently. Must never import ROS.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from robot_vision_nav.training.datasets.folders import image_folder
from robot_vision_nav.training.datasets.readers import DatasetError, SegmentationDataset
from robot_vision_nav.training.datasets.samples import TrainingSamples
from robot_vision_nav.training.datasets.training_data import JsonValue, Subset
from robot_vision_nav.training.transforms import IMAGENET_MEAN, IMAGENET_STD, TrainTransform

LOG = logging.getLogger("robot_vision_nav.training")  # the training log's (training.checkpoint.LOG)
MIX_STREAM = 0x6D6978  # "mix": keeps the draw's seed apart from every augmentation seed (seed, epoch, index)


def mix_samples_per_epoch(train_samples: int, fraction: float) -> int:
    """M = round(F / (1 - F) x N): the mix samples that make up `fraction` of an epoch of N training samples."""
    if not 0.0 < fraction < 1.0:
        raise DatasetError(f"mix fraction {fraction!r} must be in (0, 1)")
    return int(round(fraction / (1.0 - fraction) * train_samples))


def mix_folder(root: str | Path, label_set: str) -> SegmentationDataset:
    """The mix folder's samples: `ROOT/images` + `ROOT/labels`, or its `ROOT/train/` split."""
    folder = Path(root)
    if not folder.is_dir():
        raise DatasetError(f"--mix-data: folder {str(folder)!r} does not exist")
    if (folder / "images").is_dir() and (folder / "labels").is_dir():
        return image_folder(folder, label_set)
    if (folder / "train" / "images").is_dir() and (folder / "train" / "labels").is_dir():
        return image_folder(folder / "train", label_set)
    raise DatasetError(
        f"--mix-data: {str(folder)!r} has neither images/ and labels/ nor train/images/ and train/labels/ folders "
        "(the layout `rvn sim-dataset` writes)"
    )


def open_mix(
    root: str | Path, label_set: str, train_samples: int, fraction: float, limit: int | None = None
) -> tuple[SegmentationDataset, int, dict[str, JsonValue]]:
    """The mix folder (its first `limit` samples), the samples it adds to each epoch, and its description.

    Raises:
        DatasetError: no such folder, the wrong layout, or no images.

    """
    mix = mix_folder(root, label_set)
    if limit is not None and limit < len(mix):
        mix = Subset(mix, range(limit))
    count = mix_samples_per_epoch(train_samples, fraction)
    replacement = count > len(mix)
    LOG.info("mix: every epoch of %d samples holds %d (%.1f %%) of the %d images of %s, drawn %s replacement",
             train_samples + count, count, 100 * count / max(1, train_samples + count), len(mix), root,
             "with" if replacement else "without")  # fmt: skip
    if count == 0:
        LOG.warning(
            "--mix-fraction %g of %d training images rounds to no mix sample per epoch", fraction, train_samples
        )
    described: dict[str, JsonValue] = {
        "root": str(root), "fraction": fraction, "images": len(mix), "samples_per_epoch": count,
        "replacement": replacement,
    }  # fmt: skip
    return mix, count, described


def mix_draw(mix_size: int, count: int, seed: int, epoch: int) -> NDArray[np.int64]:
    """The mix samples (indices into the mix folder) of `epoch`: `count` of `mix_size`, a function of (seed, epoch).

    Without replacement when the folder holds `count` or more samples, with replacement otherwise.
    """
    if mix_size < 1:
        raise DatasetError("the mix folder holds no samples")
    rng = np.random.default_rng(np.random.SeedSequence([seed, epoch, MIX_STREAM]))
    return rng.choice(mix_size, size=count, replace=count > mix_size).astype(np.int64)


class MixedTrainingSamples(TrainingSamples):
    """`TrainingSamples` of the training split followed by an epoch's draw from a mix folder: `(epoch, slot)` keyed.

    Slots 0..N-1 are the training split's samples, augmented exactly as `TrainingSamples` would;
    slots N..N+M-1 are `mix_draw(len(mix), M, seed, epoch)`'s samples of the mix folder. Only
    `source` differs: `TrainingSamples.__getitem__` loads, augments (seeded by the slot) and normalises.
    """

    def __init__(
        self,
        dataset: SegmentationDataset,
        mix: SegmentationDataset,
        fraction: float,
        transform: TrainTransform,
        seed: int,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
    ) -> None:
        super().__init__(dataset, transform, seed, mean, std)
        self.mix = mix
        self.fraction = fraction
        self.mix_count = mix_samples_per_epoch(len(dataset), fraction)
        self._drawn: tuple[int, NDArray[np.int64]] | None = None  # the last epoch's draw: a worker asks per sample

    def __len__(self) -> int:
        return len(self.dataset) + self.mix_count

    def draw(self, epoch: int) -> NDArray[np.int64]:
        """Indices into the mix folder of slots N, N+1, ... in `epoch`."""
        if self._drawn is None or self._drawn[0] != epoch:
            self._drawn = (epoch, mix_draw(len(self.mix), self.mix_count, self.seed, epoch))
        return self._drawn[1]

    def source(self, epoch: int, slot: int) -> tuple[SegmentationDataset, int]:
        """The dataset (training split or mix folder) and the index in it that fill `slot` of `epoch`."""
        n = len(self.dataset)
        if not 0 <= slot < n + self.mix_count:
            raise IndexError(f"slot {slot} is outside 0..{n + self.mix_count - 1}")
        return (self.dataset, slot) if slot < n else (self.mix, int(self.draw(epoch)[slot - n]))
