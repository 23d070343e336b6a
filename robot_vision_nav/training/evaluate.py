"""Score a segmentation model on a dataset: the engine's labels against the ground truth.

Each image goes through `Segmenter.segment` exactly as a camera frame would (resized to the
network's input, labels resized back with nearest-neighbour), so the scores are those of the
deployed engine at the dataset's resolution. Counting is `core.segmentation.metrics`. Must never
import ROS.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from robot_vision_nav.core.segmentation.metrics import ConfusionMatrix, SegmentationScores
from robot_vision_nav.training.datasets import DatasetError, SegmentationDataset


def evaluate(
    segmenter: Any,
    dataset: SegmentationDataset,
    limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[SegmentationScores, int]:
    """Run `segmenter` (a core.segmentation.inference.Segmenter) over `dataset` and score it.

    Args:
        segmenter: the engine; its label set must be the dataset's (checked by class names).
        dataset: samples of RGB images and train-id labels.
        limit: score only the first `limit` samples (None: all).
        progress: called as `progress(done, total)` after every image.

    Returns:
        The scores and the number of images scored.

    Raises:
        DatasetError: a sample that cannot be read, or a label set that differs from the model's.

    """
    labels = dataset.label_set
    if segmenter.labels.names != labels.names:
        raise DatasetError(
            f"the model predicts {segmenter.labels.name!r} classes ({', '.join(segmenter.labels.names)}), "
            f"the dataset has {labels.name!r} ({', '.join(labels.names)})"
        )
    total = len(dataset) if limit is None else min(limit, len(dataset))
    matrix = ConfusionMatrix(labels.num_classes, labels.ignore_index)
    for i in range(total):
        rgb, truth = dataset[i]
        matrix.update(segmenter.segment(rgb).labels, truth)
        if progress is not None:
            progress(i + 1, total)
    return matrix.scores(labels.names, labels.drivable_lut()), total
