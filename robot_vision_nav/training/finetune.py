"""Fine-tuning a shipped or exported model: `rvn train --init MODEL.safetensors [--freeze-encoder] [--mix-data DIR]`.

`load_parent` reads the model file and its card and refuses one that cannot be the start of this
run (another architecture, label set or input normalisation), each with one message naming the
file and both values; `parent_record` is what the checkpoint and so the exported card keep of it
(`training.parent`: file name, sha256, architecture, and the parent's own training command and
parent, so a chain of fine-tunings stays traceable). `freeze_encoder` stops the encoder's
parameters from training; `train_one_epoch` keeps its batch norm in eval mode. Must never import
ROS.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from robot_vision_nav.core.segmentation.inference import ModelCard, SegmenterError, load_model, read_card, sha256_of
from robot_vision_nav.core.segmentation.labels import LabelSet
from robot_vision_nav.core.segmentation.model import VARIANTS, SegNet, SegNetConfig, encoder_modules, variant
from robot_vision_nav.training.checkpoint import LOG, TrainingError, warn_resume_differs
from robot_vision_nav.training.options import plain

MIX_DATASETS = ("folder", "synthetic")  # image folders of one label set, as the mix folder is


@dataclass(frozen=True)
class Parent:
    """The model a run starts from: its float32 weights, its card and what the run records of it."""

    path: Path
    state: dict[str, Tensor]
    card: ModelCard
    record: dict[str, Any]  # plain data: `parent_record`


def check_finetune_options(args: argparse.Namespace) -> None:
    """Refuse combinations of --init, --freeze-encoder and --mix-data / --mix-fraction that cannot work.

    Raises:
        TrainingError: naming the options and why.

    """
    if args.init and args.resume:
        raise TrainingError(
            f"--init {args.init!r} and --resume {args.resume!r} exclude each other: the checkpoint already holds "
            "the weights (and remembers the model it started from)"
        )
    if args.init and args.encoder_weights:
        raise TrainingError(
            f"--init {args.init!r} and --encoder-weights {args.encoder_weights!r} exclude each other: the model "
            "already holds trained encoder weights"
        )
    if (args.mix_data is None) != (args.mix_fraction is None):
        raise TrainingError("--mix-data DIR and --mix-fraction F go together (F in (0, 1): the mix folder's share)")
    if args.mix_data is not None and args.dataset not in MIX_DATASETS:
        raise TrainingError(
            f"--mix-data goes with --dataset {' or '.join(MIX_DATASETS)} (image folders of one label set), not "
            f"--dataset {args.dataset}"
        )
    if args.freeze_encoder and not (args.init or args.encoder_weights or args.resume):
        LOG.warning("--freeze-encoder without --init or --encoder-weights: the encoder stays randomly initialised")


def _describe(config: SegNetConfig) -> str:
    context = ", context block" if config.context else ""
    return f"{config.name} network ({config.encoder}, width {config.width:g}, {config.stages} stages{context})"


def _model_hint(theirs: SegNetConfig) -> str:
    for name in VARIANTS:
        if variant(name, theirs.num_classes, in_channels=theirs.in_channels) == replace(theirs, name=name):
            return f"pass --model {name}"
    return "no --model builds it (its card's architecture is not one of the named variants)"


def load_parent(
    path: str | Path,
    config: SegNetConfig,
    model_option: str,
    labels: LabelSet,
    mean: tuple[float, float, float],
    std: tuple[float, float, float],
) -> Parent:
    """The model file `path` (with its card), checked against the run; its weights as float32.

    Args:
        path: `--init`: an exported `.safetensors` with its `.card.yaml` beside it.
        config: the architecture the run builds (`--model` with the dataset's class count).
        model_option: the `--model` value, for the message.
        labels: the dataset's label set.
        mean: the run's input normalisation (RGB in 0..1).
        std: the run's input normalisation.

    Raises:
        TrainingError: a missing or unreadable file or card, or a card whose architecture, class
            names or normalisation differ from the run's (naming the file and both values).

    """
    path = Path(path)
    where = str(path)
    if not path.is_file():
        raise TrainingError(f"--init: model file {where!r} does not exist")
    try:
        card = read_card(path)
    except SegmenterError as err:
        raise TrainingError(f"--init: {err}") from err
    theirs = card.architecture
    # The name is a label: weights of the same shapes fit whatever the card calls them. A parent
    # without the context block fits a run with one: the block starts at zero (prepare_model).
    grown = replace(theirs, num_classes=config.num_classes, name=config.name, context=theirs.context or config.context)
    if grown != config:
        raise TrainingError(
            f"--init {where!r} holds a {_describe(theirs)}; --model {model_option} builds a {_describe(config)}: "
            f"{_model_hint(theirs)}"
        )
    if card.labels.names != labels.names:
        raise TrainingError(
            f"--init {where!r} predicts the {card.labels.num_classes} classes of {card.labels.name!r} "
            f"({', '.join(card.labels.names)}), the dataset's label set {labels.name!r} has {labels.num_classes} "
            f"({', '.join(labels.names)}): fine-tune on labels of the model's classes (--label-set)"
        )
    if not (_close(card.mean, mean) and _close(card.std, std)):
        raise TrainingError(
            f"--init {where!r} was trained on images normalised with mean {list(card.mean)} and std "
            f"{list(card.std)}; training normalises with mean {list(mean)} and std {list(std)}"
        )
    try:
        model, card = load_model(path)
    except SegmenterError as err:
        raise TrainingError(f"--init: {err}") from err
    state = {k: v.float() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    return Parent(path, state, card, parent_record(path, card))


def _close(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return len(a) == len(b) and all(math.isclose(x, y, rel_tol=0.0, abs_tol=1e-6) for x, y in zip(a, b, strict=True))


def parent_record(path: Path, card: ModelCard) -> dict[str, Any]:
    """`training.parent` of a fine-tuned model: the parent file's name and sha256, its architecture, its lineage."""
    record: dict[str, Any] = {
        "file": path.name,
        "sha256": sha256_of(path),
        "architecture": card.architecture.to_dict(),
    }
    training = card.extra.get("training")
    if isinstance(training, dict):
        for key in ("command", "parent"):
            if training.get(key):
                record[key] = training[key]
    out: dict[str, Any] = plain(record)
    return out


def freeze_encoder(model: SegNet) -> int:
    """Take the encoder's parameters out of training (no gradient); return how many values they hold."""
    frozen = 0
    for module in encoder_modules(model):
        for p in module.parameters():
            p.requires_grad_(False)
            frozen += p.numel()
    return frozen


def frozen_modules(model: nn.Module, frozen: bool) -> list[nn.Module]:
    """The modules `train_one_epoch` keeps in eval mode: the encoder's when it is frozen, else none."""
    if not frozen:
        return []
    if not isinstance(model, SegNet):
        raise TrainingError(f"--freeze-encoder needs a SegNet, got {type(model).__name__}")
    return encoder_modules(model)


def check_resume_finetune(ckpt: dict[str, Any], path: str, args: argparse.Namespace) -> None:
    """A resumed run freezes as its checkpoint's did (no other optimiser state fits); other mixing is warned of."""
    old = ckpt.get("args") or {}
    then = bool(old.get("freeze_encoder", False))
    if then != bool(args.freeze_encoder):
        raise TrainingError(
            f"checkpoint {path!r} was trained {'with' if then else 'without'} --freeze-encoder: resume it "
            f"{'with' if then else 'without'} it (its optimiser state holds {'no' if then else 'the'} encoder "
            "parameters)"
        )
    for key in ("mix_data", "mix_fraction"):
        if old.get(key) != getattr(args, key):
            warn_resume_differs(key, getattr(args, key), old.get(key))
