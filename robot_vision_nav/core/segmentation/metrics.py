"""Segmentation scores from a confusion matrix: global and class-average accuracy, IoU, drivable IoU.

`ConfusionMatrix` accumulates, over any number of images, how many pixels of true class i were
predicted as class j (one `np.bincount` per image, no Python loop over pixels). Ground-truth pixels
labelled 255 (the ignore index) or any id >= K are left out of every score. A prediction outside
0..K-1 on a labelled pixel is kept as wrong for every class (an extra column), never dropped, so a
broken model cannot score by predicting "nothing".

Conventions (the SegNet paper's, and what CamVid / Cityscapes tables report):
- global accuracy: correctly labelled pixels / labelled pixels.
- class-average accuracy: mean over classes present in the ground truth of that class's recall
  (correct / true pixels of the class).
- IoU of class c: TP / (TP + FP + FN); undefined (NaN, `null` in JSON) when the class appears in
  neither the ground truth nor the prediction.
- mIoU: mean IoU over the classes where it is defined, i.e. present in the ground truth or the
  prediction. A class predicted but never true counts, with IoU 0; one absent everywhere does not
  drag the mean to 0. Over a whole benchmark split every class is present and this is the plain
  mean over the K classes that the papers report.
- drivable IoU: the binary IoU of "drivable" (the label set's drivable classes, through its 256-entry
  lut) between the predicted and the true class ids, over the same labelled pixels.

numpy only; this module must never import ROS.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from robot_vision_nav.core.segmentation.labels import IGNORE_INDEX


class MetricsError(ValueError):
    """Inputs the confusion matrix cannot count: shape mismatch, bad class count or lut."""


@dataclass(frozen=True)
class SegmentationScores:
    """Scores of one evaluation; every ratio is in [0, 1], NaN where undefined (no pixels to judge)."""

    global_acc: float
    class_acc: float
    miou: float
    iou: dict[str, float]  # class name -> IoU, NaN for classes absent everywhere
    drivable_iou: float
    labelled_pixels: int

    def to_dict(self) -> dict[str, Any]:
        """The scores as JSON-ready data: NaN becomes None (`null`), which JSON allows and NaN is not."""
        return {
            "global_acc": _or_none(self.global_acc),
            "class_acc": _or_none(self.class_acc),
            "miou": _or_none(self.miou),
            "iou": {name: _or_none(v) for name, v in self.iou.items()},
            "drivable_iou": _or_none(self.drivable_iou),
            "labelled_pixels": self.labelled_pixels,
        }


def _or_none(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def _ratio(num: NDArray[np.float64], den: NDArray[np.float64]) -> NDArray[np.float64]:
    """Elementwise num / den, NaN where den is 0 (no division warning)."""
    out = np.full(np.shape(num), np.nan, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _nanmean(values: NDArray[np.float64]) -> float:
    defined = values[~np.isnan(values)]
    return float(defined.mean()) if defined.size else math.nan


class ConfusionMatrix:
    """Counts of (true class, predicted class) pixels over K classes, accumulated image by image.

    Args:
        num_classes: K, the model's classes (ids 0..K-1).
        ignore_index: ground-truth label left out of the scores (255).

    """

    def __init__(self, num_classes: int, ignore_index: int = IGNORE_INDEX) -> None:
        if not 1 <= num_classes <= 255:
            raise MetricsError(f"num_classes {num_classes} is outside [1, 255]")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        # Rows: true class. Columns: predicted class, plus one for predictions outside 0..K-1.
        self._counts = np.zeros((num_classes, num_classes + 1), dtype=np.int64)

    @classmethod
    def from_matrix(cls, matrix: ArrayLike, ignore_index: int = IGNORE_INDEX) -> ConfusionMatrix:
        """A matrix holding given counts: K x K ([i, j] = true i predicted j) or K x (K + 1) as kept here.

        For counts accumulated elsewhere, e.g. on a GPU and summed across training processes.

        Raises:
            MetricsError: the array is not K x K or K x (K + 1), or holds negative or non-integer counts.

        """
        counts = np.asarray(matrix)
        if counts.ndim != 2 or counts.shape[1] not in (counts.shape[0], counts.shape[0] + 1):
            raise MetricsError(f"expected a K x K or K x (K + 1) count matrix, got shape {counts.shape}")
        if counts.size and (not np.issubdtype(counts.dtype, np.integer) or int(counts.min()) < 0):
            raise MetricsError(f"counts must be non-negative integers, got {counts.dtype}")
        out = cls(counts.shape[0], ignore_index)
        out._counts[:, : counts.shape[1]] = counts
        return out

    @property
    def matrix(self) -> NDArray[np.int64]:
        """The K x K confusion matrix: [i, j] = pixels of true class i predicted as class j."""
        return self._counts[:, : self.num_classes].copy()

    @property
    def labelled_pixels(self) -> int:
        """Pixels counted so far (ground truth in 0..K-1)."""
        return int(self._counts.sum())

    def reset(self) -> None:
        """Forget every count."""
        self._counts[:] = 0

    def update(self, pred: ArrayLike, target: ArrayLike) -> None:
        """Count one image (or a batch): predicted and true class ids of the same shape.

        Args:
            pred: predicted class ids, any integer array.
            target: true class ids of the same shape; `ignore_index` and ids >= K are not counted.

        Raises:
            MetricsError: the shapes differ or an array is not integer.

        """
        p = np.asarray(pred)
        t = np.asarray(target)
        if p.shape != t.shape:
            raise MetricsError(f"prediction shape {p.shape} differs from ground-truth shape {t.shape}")
        for what, a in (("prediction", p), ("ground truth", t)):
            if a.size and not np.issubdtype(a.dtype, np.integer):
                raise MetricsError(f"{what} must hold integer class ids, got {a.dtype}")
        k = self.num_classes
        t = t.ravel().astype(np.int64)
        p = p.ravel().astype(np.int64)
        keep = (t >= 0) & (t < k) & (t != self.ignore_index)
        t, p = t[keep], p[keep]
        p = np.where((p >= 0) & (p < k), p, k)  # anything else: the "no class" column
        self._counts += np.bincount(t * (k + 1) + p, minlength=k * (k + 1)).reshape(k, k + 1)

    def merge(self, other: ConfusionMatrix) -> None:
        """Add another matrix's counts (e.g. from another worker) to this one."""
        if other.num_classes != self.num_classes:
            raise MetricsError(f"cannot merge a {other.num_classes}-class matrix into a {self.num_classes}-class one")
        self._counts += other._counts

    # -- scores -----------------------------------------------------------------------------------
    def _true_pred_tp(self) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        c = self._counts.astype(np.float64)
        k = self.num_classes
        return c.sum(axis=1), c[:, :k].sum(axis=0), np.diag(c[:, :k]).copy()

    def global_accuracy(self) -> float:
        """Correct pixels / labelled pixels (NaN when nothing was labelled)."""
        total = self._counts.sum()
        return float(np.trace(self._counts[:, : self.num_classes]) / total) if total else math.nan

    def class_recall(self) -> NDArray[np.float64]:
        """Per-class recall (TP / true pixels), NaN for classes absent from the ground truth."""
        true, _, tp = self._true_pred_tp()
        return _ratio(tp, true)

    def class_accuracy(self) -> float:
        """Mean recall over the classes present in the ground truth."""
        return _nanmean(self.class_recall())

    def iou(self) -> NDArray[np.float64]:
        """Per-class IoU TP / (TP + FP + FN), NaN for classes in neither ground truth nor prediction."""
        true, pred, tp = self._true_pred_tp()
        return _ratio(tp, true + pred - tp)

    def mean_iou(self) -> float:
        """Mean IoU over the classes present in the ground truth or the prediction."""
        return _nanmean(self.iou())

    def binary_iou(self, lut: ArrayLike) -> float:
        """IoU of the pixel set "class is in lut" between prediction and ground truth.

        Args:
            lut: boolean table indexed by class id (at least K entries; a 256-entry drivable lut
                fits). Predictions outside 0..K-1 count as outside the set.

        Returns:
            |pred in set and true in set| / |pred in set or true in set|, NaN when both are empty.

        """
        table = np.asarray(lut, dtype=np.bool_).ravel()
        if table.size < self.num_classes:
            raise MetricsError(f"lut has {table.size} entries, needs at least the {self.num_classes} classes")
        inside = np.append(table[: self.num_classes], False)  # the "no class" column is outside
        c = self._counts
        both = int(c[inside[:-1]][:, inside].sum())
        true_in = int(c[inside[:-1]].sum())
        pred_in = int(c[:, inside].sum())
        union = true_in + pred_in - both
        return both / union if union else math.nan

    def scores(self, class_names: Sequence[str], drivable_lut: ArrayLike) -> SegmentationScores:
        """Every score at once, IoU keyed by `class_names` (K names in id order)."""
        if len(class_names) != self.num_classes:
            raise MetricsError(f"{len(class_names)} class names given for {self.num_classes} classes")
        ious = self.iou()
        return SegmentationScores(
            global_acc=self.global_accuracy(),
            class_acc=self.class_accuracy(),
            miou=self.mean_iou(),
            iou={name: float(v) for name, v in zip(class_names, ious, strict=True)},
            drivable_iou=self.binary_iou(drivable_lut),
            labelled_pixels=self.labelled_pixels,
        )
