"""Fine-tuning from an exported model: --init, --freeze-encoder, --mix-data / --mix-fraction and the card's lineage."""

from __future__ import annotations

import argparse
import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml

from robot_vision_nav import cli
from robot_vision_nav.core.segmentation.inference import card_path, load_model, save_model, sha256_of
from robot_vision_nav.core.segmentation.model import build_model, variant
from robot_vision_nav.training import train as train_module
from robot_vision_nav.training.checkpoint import TrainingError, export_checkpoint, load_training_checkpoint
from robot_vision_nav.training.datasets import (
    TrainingSamples,
    count_class_pixels,
    image_folder,
    median_frequency_weights,
)
from robot_vision_nav.training.datasets.mixing import MixedTrainingSamples, mix_draw, mix_samples_per_epoch
from robot_vision_nav.training.datasets.readers import dataset_label_set
from robot_vision_nav.training.distributed import EpochSampler
from robot_vision_nav.training.finetune import check_resume_finetune
from robot_vision_nav.training.options import build_train_parser
from robot_vision_nav.training.prepare import check_resume
from robot_vision_nav.training.train import main
from robot_vision_nav.training.transforms import TrainTransform
from test.segmentation_helpers import write_gray, write_rgb
from test.training_helpers import SIZE, block_pair, train_args, write_split_folder

WALL = 3  # every mix-folder pixel: a blue wall, which no site picture is throughout
ENCODER = "impl.encoders."
State = dict[str, torch.Tensor]


class FirstStepError(Exception):
    """Ends a run at its first epoch, once the test has what it came for."""


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_split_folder(tmp_path_factory.mktemp("data"), train=8, val=2)


@pytest.fixture(scope="module")
def mix_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five simulator-like frames: all wall, so a sample's labels tell which folder it came from."""
    root = tmp_path_factory.mktemp("mix")
    for i in range(5):
        rgb = np.zeros((*SIZE, 3), dtype=np.uint8)
        rgb[..., 2] = 255 - i
        write_rgb(root / "images" / f"m{i:03d}.png", rgb)
        write_gray(root / "labels" / f"m{i:03d}.png", np.full(SIZE, WALL, dtype=np.uint8))
    return root


@pytest.fixture(scope="module")
def parents(data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A one-epoch run exported as float32 and as float16 model files: the models to fine-tune."""
    out = tmp_path_factory.mktemp("parent")
    main(train_args(data, out / "run", "--epochs", "1"))
    export_checkpoint(out / "run" / "checkpoint.pth", out / "parent.safetensors")
    export_checkpoint(out / "run" / "checkpoint.pth", out / "parent16.safetensors", fp16=True)
    return {"float32": out / "parent.safetensors", "float16": out / "parent16.safetensors"}


@pytest.fixture(scope="module")
def child(
    data: Path, mix_dir: Path, parents: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, Any]]:
    """One epoch fine-tuned from the float32 parent, encoder frozen, half of each epoch from the mix folder."""
    out = tmp_path_factory.mktemp("child")
    options = ["--init", str(parents["float32"]), "--freeze-encoder", "--mix-data", str(mix_dir), "--mix-fraction",
               "0.5", "--epochs", "1"]  # fmt: skip
    summary = main(train_args(data, out, *options))
    return out, dict(summary)


def logits_at_start(monkeypatch: pytest.MonkeyPatch, args: argparse.Namespace) -> tuple[torch.Tensor, State]:
    """The network's logits on a fixed batch, and its state, as training is about to take its first step."""
    seen: dict[str, Any] = {}

    def first_epoch(model: torch.nn.Module, *_: Any, **__: Any) -> Any:
        model.eval()
        with torch.no_grad():
            seen["logits"] = model(fixed_batch())
        seen["state"] = {k: v.clone() for k, v in model.state_dict().items()}
        raise FirstStepError

    monkeypatch.setattr(train_module, "train_one_epoch", first_epoch)
    with pytest.raises(FirstStepError):
        main(args)
    return seen["logits"], seen["state"]


def fixed_batch() -> torch.Tensor:
    return torch.randn(2, 3, *SIZE, generator=torch.Generator().manual_seed(7))


# ------------------------------------------------------------------------------------------ --init
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_init_starts_from_the_parents_weights_and_outputs(
    dtype: str, data: Path, parents: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parent, _ = load_model(parents[dtype])  # float16 files load as float32
    with torch.no_grad():
        want = parent(fixed_batch())
    logits, state = logits_at_start(monkeypatch, train_args(data, tmp_path, "--init", str(parents[dtype])))
    assert all(v.dtype == torch.float32 for v in state.values() if v.is_floating_point())
    for name, tensor in parent.state_dict().items():
        assert torch.equal(state[name], tensor), name
    torch.testing.assert_close(logits, want, rtol=0.0, atol=1e-6)
    # Without --init the same seed starts elsewhere: the comparison above is not vacuous.
    fresh, _ = logits_at_start(monkeypatch, train_args(data, tmp_path / "fresh"))
    assert not torch.allclose(fresh, want, atol=1e-3)


def small_parent(path: Path, name: str) -> Path:
    """A freshly initialised `name` (segnet_small or segnet_small_ctx) saved as a model file for the folder data."""
    torch.manual_seed(5)
    model = build_model(variant(name, 11))
    if name.endswith("_ctx"):
        torch.nn.init.normal_(model.impl.context.join.weight, std=0.05)
    save_model(model, path, dataset_label_set("warehouse"), SIZE)
    return path


def test_a_parent_without_the_context_block_grows_one_that_starts_at_zero(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path = small_parent(tmp_path / "small.safetensors", "segnet_small")
    parent, _ = load_model(path)
    with torch.no_grad():
        want = parent(fixed_batch())
    args = train_args(data, tmp_path / "run", "--model", "segnet_small_ctx", "--init", str(path))
    with caplog.at_level(logging.INFO):
        logits, state = logits_at_start(monkeypatch, args)
    assert "has no context block; the new block starts at zero" in caplog.text
    assert not state["impl.context.join.weight"].any()
    for name, tensor in parent.state_dict().items():
        assert torch.equal(state[name], tensor), name
    torch.testing.assert_close(logits, want, rtol=0.0, atol=1e-6)
    # The other way round the block's weights would be thrown away: refused by name.
    ctx = small_parent(tmp_path / "ctx.safetensors", "segnet_small_ctx")
    with pytest.raises(TrainingError) as info:
        main(train_args(data, tmp_path / "back", "--model", "segnet_small", "--init", str(ctx)))
    assert "holds a segnet_small_ctx network (vgg16_bn, width 0.25, 4 stages, context block)" in str(info.value)
    assert str(info.value).endswith("pass --model segnet_small_ctx")


def copy_with_card(model: Path, to: Path, change: dict[str, Any]) -> Path:
    """`model` and its card copied to `to`, the card's top-level keys in `change` replaced (weights unchanged)."""
    shutil.copy(model, to)
    card = yaml.safe_load(card_path(model).read_text())
    card.update(change)
    card_path(to).write_text(yaml.safe_dump(card, sort_keys=False))
    return to


def test_each_bad_init_is_one_error_naming_the_file_and_both_values(
    data: Path, parents: dict[str, Path], tmp_path: Path
) -> None:
    parent = parents["float32"]
    card = yaml.safe_load(card_path(parent).read_text())

    def refused(*options: str) -> str:
        with pytest.raises(TrainingError) as info:
            main(train_args(data, tmp_path / "run", *options))
        assert not (tmp_path / "run" / "checkpoint.pth").exists()
        return str(info.value)

    message = refused("--init", str(parent), "--model", "segnet_small")
    assert "parent.safetensors' holds a segnet_tiny network (vgg16_bn, width 0.125, 4 stages)" in message
    assert "--model segnet_small builds a segnet_small network (vgg16_bn, width 0.25" in message
    assert message.endswith("pass --model segnet_tiny")

    labels = {**card["labels"], "name": "site"}
    labels["classes"] = [{**c, "name": "ground"} if c["name"] == "floor" else c for c in labels["classes"]]
    renamed = copy_with_card(parent, tmp_path / "renamed.safetensors", {"labels": labels})
    message = refused("--init", str(renamed))
    assert "renamed.safetensors' predicts the 11 classes of 'site' (ground, marking," in message
    assert "the dataset's label set 'warehouse' has 11 (floor, marking," in message

    other = copy_with_card(parent, tmp_path / "other.safetensors",
                           {"normalization": {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}})  # fmt: skip
    message = refused("--init", str(other))
    assert "other.safetensors' was trained on images normalised with mean [0.5, 0.5, 0.5] and std [0.5, 0.5, 0.5]" in (
        message
    )
    assert "training normalises with mean [0.485, 0.456, 0.406] and std [0.229, 0.224, 0.225]" in message

    assert "--init: model file" in refused("--init", str(tmp_path / "missing.safetensors"))
    message = refused("--init", str(parent), "--resume", str(tmp_path / "checkpoint.pth"))
    assert "--init" in message and "--resume" in message and "exclude each other" in message
    message = refused("--init", str(parent), "--encoder-weights", str(tmp_path / "vgg.pth"))
    assert "--encoder-weights" in message and "exclude each other" in message
    assert "go together" in refused("--mix-data", str(tmp_path))
    assert "go together" in refused("--mix-fraction", "0.5")
    assert "has neither images/ and labels/" in refused("--mix-data", str(data / "train" / "labels"),
                                                         "--mix-fraction", "0.5")  # fmt: skip


def test_mix_fraction_must_be_strictly_between_0_and_1(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_train_parser()
    for value in ("0", "1", "1.5"):
        with pytest.raises(SystemExit):
            parser.parse_args(["--dataset", "folder", "--mix-fraction", value])
        assert "must be in (0, 1) (fraction of each epoch)" in capsys.readouterr().err
    assert parser.parse_args(["--dataset", "folder", "--mix-fraction", "0.25"]).mix_fraction == 0.25


# ------------------------------------------------------------------------------------ --freeze-encoder
def test_freeze_encoder_keeps_the_encoder_to_the_bit_and_trains_the_decoder(
    child: tuple[Path, dict[str, Any]], parents: dict[str, Path]
) -> None:
    out, summary = child
    assert summary["iterations"] == 4  # (8 + 8 mix samples) / batch 4
    parent = load_model(parents["float32"])[0].state_dict()
    ckpt = load_training_checkpoint(out / "checkpoint.pth")
    trained = ckpt["model"]
    encoder = [k for k in parent if k.startswith(ENCODER)]
    assert any(k.endswith("running_mean") for k in encoder)  # batch norm statistics are compared too
    for name in encoder:
        assert torch.equal(trained[name], parent[name]), name
    decoder_convs = [k for k in parent if not k.startswith(ENCODER) and k.endswith(".weight") and parent[k].ndim == 4]
    assert len(decoder_convs) >= 5
    for name in decoder_convs:
        assert not torch.equal(trained[name], parent[name]), name
    # The optimiser holds the decoder's parameters only.
    in_optimiser = sum(len(g["params"]) for g in ckpt["optimizer"]["param_groups"])
    net = load_model(parents["float32"])[0]
    assert in_optimiser == sum(1 for k, _ in net.named_parameters() if not k.startswith(ENCODER))


def test_resuming_a_frozen_run_unfrozen_is_refused(data: Path, child: tuple[Path, dict[str, Any]]) -> None:
    out, _ = child
    with pytest.raises(TrainingError, match=r"trained with --freeze-encoder: resume it with it"):
        main(train_args(data, out, "--epochs", "2", "--resume", str(out / "checkpoint.pth")))


# ------------------------------------------------------------------------------------ --mix-data
def test_resuming_with_other_options_warns_of_each_by_name(caplog: pytest.LogCaptureFixture) -> None:
    labels = dataset_label_set("warehouse")
    config = variant("segnet_tiny", labels.num_classes)
    old = {"seed": 0, "batch_size": 4, "exposure": 2.0, "freeze_encoder": False, "mix_data": "sim", "mix_fraction": 0.5}
    ckpt = {"architecture": config.to_dict(), "labels": labels.to_dict(), "args": old}
    args = build_train_parser().parse_args(["--dataset", "folder", "--batch-size", "2", "--noise", "3"])
    with caplog.at_level(logging.WARNING):
        check_resume(ckpt, "ckpt.pth", config, labels, args)
        check_resume_finetune(ckpt, "ckpt.pth", args)
    tail = "(the checkpoint's run had {}): the run will not match an uninterrupted one"
    expected = [("batch-size 2", "4"), ("exposure off", "2.0"), ("noise 3.0", "off"), ("mix-data None", "sim"),
                ("mix-fraction None", "0.5")]  # fmt: skip
    assert caplog.messages == [f"resuming with --{now} {tail.format(then)}" for now, then in expected]


def test_mix_adds_its_share_of_samples_to_each_epoch_drawn_by_seed_and_epoch(data: Path, mix_dir: Path) -> None:
    site, mix = image_folder(data / "train"), image_folder(mix_dir)
    transform = TrainTransform(SIZE, (0.5, 2.0), 0.5, 0.2)
    assert [mix_samples_per_epoch(8, f) for f in (0.2, 0.5, 0.75)] == [2, 8, 24]

    few = MixedTrainingSamples(site, mix, 0.2, transform, seed=3)  # 2 of 5: without replacement
    assert len(few) == 10 and len(set(few.draw(0).tolist())) == 2
    many = MixedTrainingSamples(site, mix, 0.5, transform, seed=3)  # 8 of 5: with replacement
    assert len(many) == 16 and set(many.draw(0).tolist()) <= set(range(5))
    # Deterministic in (seed, epoch): another instance (a loader worker, a resumed run) draws the same.
    again = MixedTrainingSamples(site, mix, 0.5, transform, seed=3)
    assert [again.draw(e).tolist() for e in range(4)] == [many.draw(e).tolist() for e in range(4)]
    assert len({tuple(many.draw(e).tolist()) for e in range(4)}) > 1  # a fresh draw each epoch
    assert mix_draw(5, 8, 4, 0).tolist() != mix_draw(5, 8, 3, 0).tolist()

    # Slots 0..7 are the training split, augmented as without mixing; slots 8..15 are all-wall mix samples.
    plain = TrainingSamples(site, transform, seed=3)
    for slot in range(8):
        assert many.source(1, slot) == (site, slot)
        image, labels = many[(1, slot)]
        want_image, want_labels = plain[(1, slot)]
        assert torch.equal(image, want_image) and torch.equal(labels, want_labels)
    for slot in range(8, 16):
        assert many.source(1, slot) == (mix, int(many.draw(1)[slot - 8]))
        _, labels = many[(1, slot)]
        assert set(np.unique(labels.numpy()).tolist()) <= {WALL, 255} and (labels == WALL).any()

    # Sharded over two processes by EpochSampler, the epoch's slots are covered once each.
    shards = [list(EpochSampler(many, num_replicas=2, rank=r, shuffle=True, seed=3)) for r in range(2)]
    assert sorted(slot for shard in shards for _, slot in shard) == list(range(16))


def test_a_mixed_run_trains_on_both_folders_and_validates_on_the_data_root_alone(
    data: Path, mix_dir: Path, child: tuple[Path, dict[str, Any]]
) -> None:
    out, summary = child
    ckpt = load_training_checkpoint(out / "checkpoint.pth")
    assert ckpt["data"]["mix"] == {"root": str(mix_dir), "fraction": 0.5, "images": 5, "samples_per_epoch": 8,
                                   "replacement": True}  # fmt: skip
    assert ckpt["data"]["train_images"] == 8 and ckpt["data"]["val_images"] == 2
    assert summary["metrics"]["images"] == 2 and summary["metrics"]["labelled_pixels"] == sum(
        int((block_pair(1000 + i)[1] < 11).sum()) for i in range(2)
    )
    # Class weights count an epoch's expected pixels: the training split plus 8/5 of the mix folder.
    site = count_class_pixels(image_folder(data / "train"), range(8), 11)
    mixed = count_class_pixels(image_folder(mix_dir), range(5), 11)
    want = median_frequency_weights(site + np.rint(mixed * (8 / 5)).astype(np.int64))
    assert ckpt["class_weights"] == want.tolist()
    assert ckpt["args"]["mix_fraction"] == 0.5 and "--mix-data" in ckpt["command"]


def test_a_mixed_run_is_the_same_with_loader_processes(data: Path, mix_dir: Path, tmp_path: Path) -> None:
    options = ["--mix-data", str(mix_dir), "--mix-fraction", "0.2", "--epochs", "1", "--no-class-weights"]
    inline = main(train_args(data, tmp_path / "inline", *options))
    workers = main(train_args(data, tmp_path / "workers", *options, "--workers", "2"))
    assert inline["iterations"] == 2  # (8 + 2) // 4: full batches only
    assert [h["losses"] for h in workers["history"]] == [h["losses"] for h in inline["history"]]


# ------------------------------------------------------------------------------------------ lineage
def test_the_exported_card_records_the_lineage(
    data: Path, mix_dir: Path, parents: dict[str, Path], child: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    out, summary = child
    parent_card = yaml.safe_load(card_path(parents["float32"]).read_text())
    model = tmp_path / "child.safetensors"
    export_checkpoint(out / "checkpoint.pth", model)
    card = yaml.safe_load(card_path(model).read_text())
    parent = card["training"]["parent"]
    assert parent == {
        "file": "parent.safetensors", "sha256": sha256_of(parents["float32"]),
        "architecture": parent_card["architecture"], "command": parent_card["training"]["command"],
    }  # fmt: skip
    assert card["training"]["freeze_encoder"] is True
    assert card["data"]["mix"]["root"] == str(mix_dir) and card["data"]["mix"]["fraction"] == 0.5
    assert summary["parent"] == parent and "--init" in card["training"]["command"]
    # The keys a card always had are still there, in their order.
    assert list(card)[:9] == ["format", "architecture", "labels", "input", "normalization", "weights",
                              "weights_dtype", "metrics", "training"]  # fmt: skip
    assert list(card["training"])[:14] == list(parent_card["training"])[:14]

    # A second generation keeps the whole chain.
    grandchild = main(train_args(data, tmp_path / "run2", "--init", str(model), "--epochs", "1"))
    export_checkpoint(tmp_path / "run2" / "checkpoint.pth", tmp_path / "grandchild.safetensors")
    lineage = yaml.safe_load(card_path(tmp_path / "grandchild.safetensors").read_text())["training"]
    assert lineage["parent"]["sha256"] == sha256_of(model) and lineage["parent"]["parent"] == parent
    assert lineage["freeze_encoder"] is False and grandchild["parent"] == lineage["parent"]


def test_a_parents_input_dither_is_kept_validated_with_and_exported_unless_overridden(
    data: Path, parents: dict[str, Path], tmp_path: Path
) -> None:
    """Fine-tuning a dithered model (the engine adds its card's fixed input noise) must not lose the dither."""
    model, card = load_model(parents["float32"])
    dithered = tmp_path / "dithered.safetensors"
    save_model(model, dithered, card.labels, (card.input_height, card.input_width), dither=1.5)
    main(train_args(data, tmp_path / "run", "--init", str(dithered), "--epochs", "1"))
    ckpt = load_training_checkpoint(tmp_path / "run" / "checkpoint.pth")
    assert ckpt["normalization"]["dither"] == 1.5
    export_checkpoint(tmp_path / "run" / "checkpoint.pth", tmp_path / "kept.safetensors")
    assert load_model(tmp_path / "kept.safetensors")[1].dither == 1.5
    export_checkpoint(tmp_path / "run" / "checkpoint.pth", tmp_path / "none.safetensors", dither=0.0)
    assert load_model(tmp_path / "none.safetensors")[1].dither == 0.0
    main(train_args(data, tmp_path / "own", "--init", str(dithered), "--input-dither", "0.5", "--epochs", "1"))
    own = load_training_checkpoint(tmp_path / "own" / "checkpoint.pth")
    assert own["normalization"]["dither"] == 0.5 and "--input-dither 0.5" in own["command"]


def test_a_run_from_scratch_records_no_lineage(data: Path, tmp_path: Path) -> None:
    summary = main(train_args(data, tmp_path / "run", "--epochs", "1"))
    ckpt = load_training_checkpoint(tmp_path / "run" / "checkpoint.pth")
    assert "parent" not in summary and "parent" not in ckpt and "mix" not in ckpt["data"]
    assert not {"init", "freeze_encoder", "mix_data", "mix_fraction"} & set(ckpt["args"])
    export_checkpoint(tmp_path / "run" / "checkpoint.pth", tmp_path / "m.safetensors")
    card = yaml.safe_load(card_path(tmp_path / "m.safetensors").read_text())
    assert "parent" not in card["training"] and "freeze_encoder" not in card["training"]


# ------------------------------------------------------------------------------------------ the CLI
def test_rvn_train_help_shows_the_fine_tuning_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["train", "--help"]) == 0
    text = capsys.readouterr().out
    for option in ("--init MODEL", "--freeze-encoder", "--mix-data DIR", "--mix-fraction F"):
        assert option in text


def test_rvn_train_names_the_parent_in_its_summary(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    summary = {"epochs": 1, "iterations": 2, "train_time_s": 1.0, "best_miou": 0.5, "checkpoint": "c.pth",
               "parent": {"file": "segnet_warehouse.safetensors", "sha256": "c32e3581edfb6a37" + "0" * 48}}  # fmt: skip
    monkeypatch.setattr(train_module, "main", lambda args: summary)
    argv = ["train", "--dataset", "folder", "--data-root", str(tmp_path), "--init", "m.safetensors"]
    assert cli.main(argv) == 0
    assert (
        capsys.readouterr()
        .out.strip()
        .endswith("c.pth; fine-tuned from segnet_warehouse.safetensors (sha256 c32e3581edfb...)")
    )
