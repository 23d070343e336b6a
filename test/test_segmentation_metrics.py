"""core.segmentation.metrics against hand-computed confusion matrices and a per-pixel reference."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from robot_vision_nav.core.segmentation.metrics import ConfusionMatrix, MetricsError

# 3 classes; the 255 pixel (predicted 2) must not count anywhere.
TARGET = np.array([[0, 0, 1], [1, 2, 255]], dtype=np.uint8)
PRED = np.array([[0, 1, 1], [1, 0, 2]], dtype=np.uint8)
# Counted (true, pred): (0,0) (0,1) (1,1) (1,1) (2,0).


def lut(*ids: int) -> np.ndarray:
    table = np.zeros(256, dtype=bool)
    table[list(ids)] = True
    return table


def small() -> ConfusionMatrix:
    cm = ConfusionMatrix(3)
    cm.update(PRED, TARGET)
    return cm


def test_confusion_matrix_counts_pairs_and_skips_ignore() -> None:
    cm = small()
    assert cm.matrix.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    assert cm.labelled_pixels == 5


def test_hand_computed_scores() -> None:
    cm = small()
    assert cm.global_accuracy() == pytest.approx(3 / 5)
    assert cm.class_recall() == pytest.approx([1 / 2, 1.0, 0.0])
    assert cm.class_accuracy() == pytest.approx(0.5)
    # class 0: TP 1, FP 1 (true 2), FN 1; class 1: TP 2, FP 1; class 2: TP 0, FN 1 (its prediction is on void)
    assert cm.iou() == pytest.approx([1 / 3, 2 / 3, 0.0])
    assert cm.mean_iou() == pytest.approx(1 / 3)


def test_binary_drivable_iou() -> None:
    cm = small()
    # drivable {1}: pred in at 3 pixels, true in at 2, both at 2 -> 2 / 3
    assert cm.binary_iou(lut(1)) == pytest.approx(2 / 3)
    # drivable {0, 1}: true in 4, pred in 5, both 4 -> 4 / 5
    assert cm.binary_iou(lut(0, 1)) == pytest.approx(4 / 5)
    assert math.isnan(ConfusionMatrix(3).binary_iou(lut(1)))


def test_binary_iou_matches_direct_mask_computation() -> None:
    rng = np.random.default_rng(1)
    target = rng.integers(0, 6, size=(40, 50)).astype(np.uint8)
    target[rng.random(target.shape) < 0.1] = 255
    pred = rng.integers(0, 5, size=target.shape)
    table = lut(1, 3)
    cm = ConfusionMatrix(5)
    cm.update(pred, target)
    valid = target < 5
    p, t = table[pred] & valid, table[target] & valid
    assert cm.binary_iou(table) == pytest.approx((p & t).sum() / (p | t).sum())


def test_absent_class_is_nan_excluded_from_means_and_null_in_json() -> None:
    cm = ConfusionMatrix(4)
    cm.update(PRED, TARGET)  # class 3 appears nowhere
    assert math.isnan(cm.iou()[3]) and math.isnan(cm.class_recall()[3])
    assert cm.mean_iou() == pytest.approx(1 / 3)
    assert cm.class_accuracy() == pytest.approx(0.5)
    scores = cm.scores(["a", "b", "c", "d"], lut(1)).to_dict()
    assert scores["iou"] == {"a": pytest.approx(1 / 3), "b": pytest.approx(2 / 3), "c": 0.0, "d": None}
    assert json.loads(json.dumps(scores, allow_nan=False))["iou"]["d"] is None


def test_predicted_but_absent_class_counts_in_miou_not_in_class_accuracy() -> None:
    cm = ConfusionMatrix(3)
    cm.update(np.array([0, 0, 2, 2]), np.array([0, 0, 0, 0]))
    assert cm.iou()[1] != cm.iou()[1]  # NaN: nowhere
    assert cm.iou()[[0, 2]] == pytest.approx([0.5, 0.0])
    assert cm.mean_iou() == pytest.approx(0.25)
    assert cm.class_accuracy() == pytest.approx(0.5)


def test_ground_truth_outside_the_classes_is_ignored_and_bad_predictions_are_wrong() -> None:
    cm = ConfusionMatrix(3)
    cm.update(np.array([0, 1, 2, 7, 255]), np.array([0, 1, 5, 2, 1]))
    # true 5 (>= K) is dropped; prediction 7 and 255 are wrong for classes 2 and 1
    assert cm.labelled_pixels == 4
    assert cm.global_accuracy() == pytest.approx(2 / 4)
    assert cm.iou() == pytest.approx([1.0, 0.5, 0.0])


def test_matches_a_per_pixel_reference_and_accumulates() -> None:
    rng = np.random.default_rng(0)
    k = 7
    cm = ConfusionMatrix(k)
    reference = np.zeros((k, k), dtype=np.int64)
    for _ in range(3):
        target = rng.integers(0, k, size=(9, 13)).astype(np.uint8)
        target[rng.random(target.shape) < 0.2] = 255
        pred = rng.integers(0, k, size=target.shape).astype(np.uint8)
        cm.update(pred, target)
        for t, p in zip(target.ravel(), pred.ravel(), strict=True):
            if t != 255:
                reference[t, p] += 1
    assert (cm.matrix == reference).all()
    tp = np.diag(reference)
    iou = tp / (reference.sum(0) + reference.sum(1) - tp)
    assert cm.iou() == pytest.approx(iou)
    assert cm.global_accuracy() == pytest.approx(tp.sum() / reference.sum())
    other = ConfusionMatrix(k)
    other.merge(cm)
    other.merge(cm)
    assert (other.matrix == 2 * reference).all()
    other.reset()
    assert other.labelled_pixels == 0


def test_no_labelled_pixels_gives_nan_scores() -> None:
    cm = ConfusionMatrix(3)
    cm.update(np.zeros((2, 2), dtype=np.uint8), np.full((2, 2), 255, dtype=np.uint8))
    scores = cm.scores(["a", "b", "c"], lut(0))
    assert math.isnan(scores.global_acc) and math.isnan(scores.miou) and math.isnan(scores.class_acc)
    assert scores.to_dict()["global_acc"] is None


@pytest.mark.parametrize(
    ("pred", "target", "words"),
    [
        (np.zeros((2, 3), dtype=np.uint8), np.zeros((3, 2), dtype=np.uint8), "shape"),
        (np.zeros((2, 2), dtype=np.float32), np.zeros((2, 2), dtype=np.uint8), "integer"),
    ],
)
def test_bad_inputs_raise_metrics_error(pred: np.ndarray, target: np.ndarray, words: str) -> None:
    with pytest.raises(MetricsError, match=words):
        ConfusionMatrix(3).update(pred, target)


def test_bad_construction_and_merge_and_names() -> None:
    with pytest.raises(MetricsError):
        ConfusionMatrix(0)
    with pytest.raises(MetricsError):
        ConfusionMatrix(3).merge(ConfusionMatrix(4))
    with pytest.raises(MetricsError):
        small().scores(["a", "b"], lut(0))
    with pytest.raises(MetricsError):
        small().binary_iou(np.zeros(2, dtype=bool))
