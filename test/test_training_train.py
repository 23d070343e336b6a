"""training.train on tiny image folders: learning, exact resume, crash safety, bad input, the loss and schedule."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812

from robot_vision_nav.core.segmentation.inference import Segmenter, SegmenterConfig
from robot_vision_nav.training import checkpoint as checkpoint_module
from robot_vision_nav.training.checkpoint import (
    TrainingError,
    export_checkpoint,
    load_training_checkpoint,
    model_from_checkpoint,
    save_checkpoint,
)
from robot_vision_nav.training.datasets import EvalSamples, TrainingSamples, eval_collate, image_folder
from robot_vision_nav.training.evaluate import evaluate as engine_evaluate
from robot_vision_nav.training.loop import segmentation_loss
from robot_vision_nav.training.optim import lr_factor
from robot_vision_nav.training.train import evaluate, main
from test.segmentation_helpers import write_gray
from test.training_helpers import SIZE, block_pair, train_args, write_split_folder


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_split_folder(tmp_path_factory.mktemp("data"), train=8, val=2)


@pytest.fixture(scope="module")
def trained(data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A 4-epoch run on the block pictures (the run the other tests compare against or export)."""
    out = tmp_path_factory.mktemp("run")
    summary = main(train_args(data, out, "--epochs", "4"))
    return out, summary


def plain_only(value: Any) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and plain_only(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(plain_only(v) for v in value)
    return value is None or isinstance(value, bool | int | float | str)


def test_a_few_iterations_lower_the_loss_and_write_every_file(trained: tuple[Path, dict[str, Any]]) -> None:
    out, summary = trained
    history = summary["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3, 4] and summary["iterations"] == 8
    assert history[-1]["train_loss"] < 0.8 * history[0]["train_loss"]
    assert {p.name for p in out.iterdir()} >= {"checkpoint.pth", "model_best.pth", "metrics.csv", "train.log"}
    ckpt = torch.load(out / "checkpoint.pth", map_location="cpu", weights_only=True)
    assert ckpt["epoch"] == 4 and ckpt["iteration"] == 8 and plain_only(ckpt["args"])
    assert ckpt["args"]["input_size"] == list(SIZE) and ckpt["command"].startswith("python -m ")
    assert len(ckpt["class_weights"]) == 11 and set(ckpt["rng"]) == {"torch", "cuda", "numpy", "python"}
    assert 0.0 <= ckpt["metrics"]["miou"] <= 1.0 and set(ckpt["metrics"]["iou"]) >= {"floor", "keep_out"}
    with (out / "metrics.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["1", "2", "3", "4"]
    assert float(rows[-1]["train_loss"]) == pytest.approx(history[-1]["train_loss"])
    assert {"val_miou", "val_global_acc", "val_class_acc", "iou_floor", "train_images_per_s"} <= set(rows[0])
    log = (out / "train.log").read_text()
    assert "img/s" in log and "loss" in log and "mIoU" in log


def test_resume_after_a_crash_mid_epoch_matches_the_uninterrupted_run(
    data: Path, trained: tuple[Path, dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference_dir, reference = trained
    original = TrainingSamples.__getitem__
    fetched = {"epoch 3": 0}

    def crashing(self: TrainingSamples, key: Any) -> Any:
        if key[0] == 2:  # 0-based: the third epoch, after its first batch
            fetched["epoch 3"] += 1
            if fetched["epoch 3"] > 4:
                raise RuntimeError("simulated crash")
        return original(self, key)

    monkeypatch.setattr(TrainingSamples, "__getitem__", crashing)
    with pytest.raises(RuntimeError, match="simulated crash"):
        main(train_args(data, tmp_path, "--epochs", "4"))
    monkeypatch.setattr(TrainingSamples, "__getitem__", original)
    # The last good checkpoint (epoch 2) is intact, and no temporary file is left behind.
    ckpt = load_training_checkpoint(tmp_path / "checkpoint.pth")
    assert ckpt["epoch"] == 2 and ckpt["iteration"] == 4
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []

    resumed = main(train_args(data, tmp_path, "--epochs", "4", "--resume", str(tmp_path / "checkpoint.pth")))
    assert [h["epoch"] for h in resumed["history"]] == [3, 4]
    for got, want in zip(resumed["history"], reference["history"][2:], strict=True):
        assert got["losses"] == want["losses"]  # exactly: the same data, augmentation and optimiser state
    final = torch.load(tmp_path / "checkpoint.pth", weights_only=True)["model"]
    expected = torch.load(reference_dir / "checkpoint.pth", weights_only=True)["model"]
    assert all(torch.equal(final[k], expected[k]) for k in expected)
    with (tmp_path / "metrics.csv").open(newline="") as f:
        assert [r["epoch"] for r in csv.DictReader(f)] == ["1", "2", "3", "4"]


def test_a_crash_while_saving_keeps_the_previous_checkpoint(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    main(train_args(data, tmp_path, "--epochs", "1"))
    before = (tmp_path / "checkpoint.pth").read_bytes()
    real_save = torch.save

    def broken_save(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
        real_save({"half": "written"}, f)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint_module.torch, "save", broken_save)
    with pytest.raises(TrainingError, match=r"cannot write checkpoint .*checkpoint\.pth.*No space left"):
        main(train_args(data, tmp_path, "--epochs", "2", "--resume", str(tmp_path / "checkpoint.pth")))
    monkeypatch.setattr(checkpoint_module.torch, "save", real_save)
    assert (tmp_path / "checkpoint.pth").read_bytes() == before
    assert load_training_checkpoint(tmp_path / "checkpoint.pth")["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_a_checkpoint_of_another_architecture_is_refused_naming_the_file(
    data: Path, trained: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    ckpt_path = str(trained[0] / "checkpoint.pth")
    with pytest.raises(TrainingError, match=r"checkpoint.*checkpoint\.pth' holds a segnet_tiny network.*segnet_small"):
        main(train_args(data, tmp_path, "--model", "segnet_small", "--resume", ckpt_path))
    # Weights that do not fit the architecture the checkpoint claims: named, with the tensor.
    ckpt = load_training_checkpoint(ckpt_path)
    ckpt["architecture"]["width"] = 0.25
    save_checkpoint(ckpt, tmp_path / "tampered.pth")
    with pytest.raises(TrainingError, match=r"tampered\.pth' does not fit the segnet_tiny architecture: .*size"):
        export_checkpoint(tmp_path / "tampered.pth", tmp_path / "m.safetensors")
    torch.save({"model": {}}, tmp_path / "foreign.pth")
    with pytest.raises(TrainingError, match=r"foreign\.pth' is not a robot_vision_nav training checkpoint"):
        load_training_checkpoint(tmp_path / "foreign.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a zip")
    with pytest.raises(TrainingError, match=r"cannot read checkpoint .*junk\.pth"):
        load_training_checkpoint(tmp_path / "junk.pth")


def test_bad_training_data_errors_name_the_file(data: Path, tmp_path: Path) -> None:
    bad = write_split_folder(tmp_path / "bad", train=4, val=1)
    _, labels = block_pair(2)
    write_gray(bad / "train" / "labels" / "f002.png", labels[:, :-8])
    with pytest.raises(TrainingError, match=r"f002\.png' is 48x32 but its labels .*f002\.png' are 40x32"):
        main(train_args(bad, tmp_path / "run1", "--no-class-weights", "--epochs", "1", "--workers", "1"))
    labels[5, 5] = 77
    write_gray(bad / "train" / "labels" / "f002.png", labels)
    with pytest.raises(TrainingError, match=r"f002\.png' holds id 77"):
        main(train_args(bad, tmp_path / "run2", "--epochs", "1"))
    with pytest.raises(TrainingError, match=r"has neither train/ and val/"):
        main(train_args(bad / "train" / "labels", tmp_path / "run3"))
    with pytest.raises(TrainingError, match=r"already holds a checkpoint\.pth"):
        main(train_args(data, tmp_path / "run4", "--epochs", "1"))
        main(train_args(data, tmp_path / "run4", "--epochs", "1"))
    with pytest.raises(TrainingError, match="not one full batch of --batch-size 16"):
        main(train_args(data, tmp_path / "run5", "--batch-size", "16"))
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, tmp_path / "vgg.pth")
    with pytest.raises(TrainingError, match=r"vgg\.pth.*(feature tensors|shape)"):
        main(train_args(data, tmp_path / "run6", "--encoder-weights", str(tmp_path / "vgg.pth")))
    with pytest.raises(TrainingError, match=r"encoder weights file .*missing\.pth' does not exist"):
        main(train_args(data, tmp_path / "run7", "--encoder-weights", str(tmp_path / "missing.pth")))


def test_loss_is_the_weighted_mean_over_labelled_pixels() -> None:
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 5, 6, 7, generator=gen)
    target = torch.randint(0, 5, (2, 6, 7), generator=gen)
    target[0, :2] = 255
    weight = torch.rand(5, generator=gen) + 0.1
    loss, value = segmentation_loss(logits, target, weight)
    want = F.cross_entropy(logits, target, weight=weight, ignore_index=255)
    assert torch.allclose(loss, want, atol=1e-6) and torch.allclose(value, want, atol=1e-6)
    plain, _ = segmentation_loss(logits, target, None)
    assert torch.allclose(plain, F.cross_entropy(logits, target, ignore_index=255), atol=1e-6)


def test_set_labels_count_the_summed_probability_of_their_set() -> None:
    """253 / 254 (rvn autolabel) mean "one of the drivable classes" / "one of the others"."""
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(1, 4, 3, 5, generator=gen, requires_grad=True)
    drivable = torch.tensor([True, True, False, False])
    target = torch.full((1, 3, 5), 255)
    target[0, 0] = 253
    target[0, 1, :2] = 254
    target[0, 2] = torch.tensor([0, 1, 2, 3, 255])
    loss, value = segmentation_loss(logits, target, None, drivable=drivable)
    p = logits.softmax(dim=1)[0]
    want = torch.cat([
        -p[:2, 0].sum(dim=0).log(),  # ANY_DRIVABLE row
        -p[2:, 1, :2].sum(dim=0).log(),  # ANY_NOT_DRIVABLE pixels
        -p[[0, 1, 2, 3], 2, [0, 1, 2, 3]].log(),  # class labels
    ]).mean()  # fmt: skip
    assert torch.allclose(loss, want, atol=1e-6) and torch.allclose(value, want, atol=1e-6)
    loss.backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()
    # Without `drivable` they are ignored like 255 (every other dataset).
    plain, _ = segmentation_loss(logits.detach(), target, None)
    only_classes = torch.where(target >= 253, 255, target)
    assert torch.allclose(plain, F.cross_entropy(logits.detach(), only_classes, ignore_index=255), atol=1e-6)


def test_schedule_warms_up_then_decays_to_zero() -> None:
    assert lr_factor(0, 100, 10, "poly") == pytest.approx(0.01)
    assert lr_factor(5, 100, 10, "poly") == pytest.approx(0.01 + 0.99 * 0.5)
    assert lr_factor(10, 100, 10, "poly") == 1.0 and lr_factor(100, 100, 10, "poly") == 0.0
    assert lr_factor(55, 100, 10, "cosine") == pytest.approx(0.5)
    assert lr_factor(55, 100, 10, "poly") == pytest.approx(0.5**0.9)


def test_training_evaluation_scores_what_rvn_eval_scores(
    data: Path, trained: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    ckpt_path = trained[0] / "model_best.pth"
    ckpt = load_training_checkpoint(ckpt_path)
    model, labels = model_from_checkpoint(ckpt, ckpt_path)
    val = image_folder(data / "val")
    # At another resolution than the network's: predictions are resized back, as the engine does.
    loader = torch.utils.data.DataLoader(EvalSamples(val, (24, 32)), batch_size=2, collate_fn=eval_collate)
    ours = evaluate(model, loader, torch.device("cpu"), labels.num_classes)
    export_checkpoint(ckpt_path, tmp_path / "m.safetensors")
    engine = Segmenter.from_file(tmp_path / "m.safetensors", SegmenterConfig(device="cpu", input_height=24,
                                                                              input_width=32))  # fmt: skip
    theirs, images = engine_evaluate(engine, val)
    assert images == 2 and ours.labelled_pixels == theirs.labelled_pixels
    # Folded batch norm and channels_last in the engine move logits by ~1e-6: a near-tie may flip.
    mine = ours.scores(labels.names, labels.drivable_lut())
    assert abs(mine.global_acc - theirs.global_acc) < 0.002
    assert np.isfinite(mine.miou) and abs(mine.miou - theirs.miou) < 0.01


def test_loader_processes_do_not_change_the_run(
    data: Path, trained: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    summary = main(train_args(data, tmp_path, "--epochs", "4", "--workers", "2"))
    assert [h["losses"] for h in summary["history"]] == [h["losses"] for h in trained[1]["history"]]


def test_amp_on_cpu_trains_in_bfloat16(data: Path, tmp_path: Path) -> None:
    summary = main(train_args(data, tmp_path, "--epochs", "1", "--amp"))
    assert np.isfinite(summary["history"][0]["train_loss"]) and summary["metrics"]["labelled_pixels"] > 0
    assert torch.load(tmp_path / "checkpoint.pth", weights_only=True)["scaler"] == {}  # no scaler for bfloat16


def test_a_folder_of_set_labels_only_trains_without_class_weights(tmp_path: Path) -> None:
    """`rvn autolabel` output names no class: training runs on the set labels, every pixel weight 1."""
    data = write_split_folder(tmp_path / "data")
    for path in (data / "train" / "labels").iterdir():
        labels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        sets = np.where(np.isin(labels, (0, 1)), 253, np.where(labels == 255, 255, 254)).astype(np.uint8)
        write_gray(path, sets)
    summary = main(train_args(data, tmp_path / "run"))
    assert summary["epochs"] == 2 and all(math.isfinite(v) for h in summary["history"] for v in h["losses"])
    assert "class weights: none (the training labels name no class" in (tmp_path / "run" / "train.log").read_text()
    assert summary["history"][-1]["val_drivable_iou"] is not None  # validation still scores its class labels


def test_crop_size_trains_on_windows_of_the_input_size_frame(
    data: Path, trained: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    """--crop-size: the rescale is the input size's, each sample only a window of it."""
    from robot_vision_nav.training.transforms import TrainTransform

    rgb, labels = block_pair(np.random.default_rng(3), SIZE)
    still = TrainTransform(SIZE, (1.0, 1.0), 0.0, 0.0, crop=(16, 24))
    image, window = still(rgb, labels, torch.Generator().manual_seed(5))
    assert image.shape == (16, 24, 3) and window.shape == (16, 24)
    matches = [
        (y, x) for y in range(SIZE[0] - 16 + 1) for x in range(SIZE[1] - 24 + 1)
        if np.array_equal(labels[y : y + 16, x : x + 24], window) and np.array_equal(rgb[y : y + 16, x : x + 24], image)
    ]  # fmt: skip
    assert matches, "the crop is not a window of the unscaled frame"
    summary = main(train_args(data, tmp_path, "--epochs", "1", "--crop-size", "16", "24"))
    assert np.isfinite(summary["history"][0]["train_loss"])
    assert summary["metrics"]["labelled_pixels"] == trained[1]["metrics"]["labelled_pixels"]  # whole frames
    with pytest.raises(TrainingError, match="--crop-size 40 24 is larger than the input size 32 48"):
        main(train_args(data, tmp_path / "big", "--crop-size", "40", "24"))


def test_channels_last_gives_the_same_run_and_a_plain_checkpoint(
    data: Path, trained: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    summary = main(train_args(data, tmp_path, "--epochs", "4", "--channels-last"))
    ours = np.array([v for h in summary["history"] for v in h["losses"]])
    theirs = np.array([v for h in trained[1]["history"] for v in h["losses"]])
    # NHWC kernels sum in another order: the first steps agree to float precision, then drift apart
    # as any two float orders do at this learning rate, to the same place.
    assert np.allclose(ours[:2], theirs[:2], rtol=1e-5) and abs(ours[-1] - theirs[-1]) < 0.05 * theirs[-1]
    state = load_training_checkpoint(str(tmp_path / "checkpoint.pth"))["model"]
    assert all(t.is_contiguous() for t in state.values())  # loads into any model, exports as it is


def test_class_weight_power_softens_the_median_frequency_weights(
    data: Path, trained: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    main(train_args(data, tmp_path, "--epochs", "1", "--class-weight-power", "0.5"))
    full = load_training_checkpoint(str(trained[0] / "checkpoint.pth"))["class_weights"]
    half = load_training_checkpoint(str(tmp_path / "checkpoint.pth"))["class_weights"]
    assert full is not None and half is not None and len(full) == len(half)
    assert np.allclose(half, np.sqrt(full)) and not np.allclose(half, full)
    assert "class weights (median frequency ^ 0.5)" in (tmp_path / "train.log").read_text()
