"""Training checkpoints: what one holds, writing it atomically, reading it back checked, exporting it.

A checkpoint is one `torch.save` dict of tensors and plain Python data (str, int, float, bool,
None, lists, tuples, dicts), so `torch.load(..., weights_only=True)` reads it and no pickled code
ever runs:

    format          robot_vision_nav/checkpoint/1
    model           the bare network's state dict (no DDP `module.` prefix; SyncBatchNorm keeps
                    BatchNorm2d's tensor names, so it loads into a plain SegNet)
    optimizer, lr_scheduler, scaler     their state dicts
    epoch           epochs completed; a resumed run starts at this (0-based) epoch
    iteration       optimiser steps taken
    args            the run's options as plain data; argv: the process's sys.argv; command: the
                    canonical command with every option explicit (`training.options`)
    architecture    SegNetConfig.to_dict(); labels: LabelSet.to_dict(); input_size: [H, W] px;
                    normalization: {mean, std} on RGB in 0..1
    class_weights   K floats (median frequency balancing) or None
    data            what the model was trained and validated on (with `mix`: {root, fraction, ...}
                    of `--mix-data`)
    parent          only when fine-tuned (`--init`): the parent model's file name, sha256,
                    architecture and its own training command and parent (`training.finetune`)
    metrics         the epoch's validation scores (fractions; None where undefined), best_miou
    train_time_s    seconds spent training and validating, over every resumed run
    world_size      processes of the run; rng: rank 0's torch / CUDA / numpy / python RNG states
    versions        torch and torchvision

Files are written through a temporary file in the same folder, flushed to disk, then renamed: an
exception or a kill while saving leaves the previous checkpoint as it was. `export_checkpoint`
turns a checkpoint into a model file (`NAME.safetensors` + `NAME.card.yaml`) for the engine.
Must never import ROS.
"""

from __future__ import annotations

import logging
import os
import random
import secrets
from pathlib import Path
from typing import Any

import numpy as np
import torch

from robot_vision_nav.core.segmentation.inference import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ModelCard,
    SegmenterError,
    save_model,
    sha256_of,
)
from robot_vision_nav.core.segmentation.labels import LabelError, LabelSet, parse_label_set
from robot_vision_nav.core.segmentation.model import ModelError, SegNet, SegNetConfig, build_model

LOG = logging.getLogger("robot_vision_nav.training")
CHECKPOINT_FORMAT = "robot_vision_nav/checkpoint/1"
REQUIRED_KEYS = ("model", "epoch", "iteration", "args", "architecture", "labels", "input_size")
FP16_MAX = float(torch.finfo(torch.float16).max)


class TrainingError(ValueError):
    """A training run, checkpoint or export that cannot go on, with what was wrong and what was expected."""


# ------------------------------------------------------------------------------------------ writing
def save_checkpoint(state: dict[str, Any], path: str | Path) -> None:
    """`torch.save` `state` to `path` atomically: a temporary file, fsync, rename.

    Raises:
        TrainingError: the folder cannot be written (the message names the file).

    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tmp.open("wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as err:
        raise TrainingError(f"cannot write checkpoint {str(path)!r}: {err.strerror or err}") from err
    finally:
        tmp.unlink(missing_ok=True)  # only there when something failed before the rename


def rng_state() -> dict[str, Any]:
    """The global RNG states of this process as tensors and plain data (torch, CUDA, numpy, python)."""
    np_state = np.random.get_state(legacy=False)
    # Only when CUDA is already in use: asking would start it (and take GPU memory) otherwise.
    cuda_in_use = torch.cuda.is_available() and torch.cuda.is_initialized()  # type: ignore[no-untyped-call]
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if cuda_in_use else [],
        "numpy": {
            "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "python": random.getstate(),
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore `rng_state()`'s states (CUDA only where as many devices are present)."""
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda") or []
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
    n = state["numpy"]
    np.random.set_state(("MT19937", n["key"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))


# ------------------------------------------------------------------------------------------ reading
def load_training_checkpoint(path: str | Path) -> dict[str, Any]:
    """A training checkpoint read with `weights_only=True` and checked for its keys.

    Raises:
        TrainingError: the file is missing, unreadable, not plain data, or not a training checkpoint.

    """
    path = Path(path)
    if not path.is_file():
        raise TrainingError(f"checkpoint {str(path)!r} does not exist")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated zip, pickled code refused by weights_only, ...
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise TrainingError(f"cannot read checkpoint {str(path)!r} (weights_only): {first}") from err
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise TrainingError(
            f"{str(path)!r} is not a robot_vision_nav training checkpoint (expected a dict with format "
            f"{CHECKPOINT_FORMAT!r}, as `rvn train` writes)"
        )
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise TrainingError(f"checkpoint {str(path)!r} lacks {', '.join(missing)}")
    return data


def warn_resume_differs(option: str, now: object, then: object) -> None:
    """Log that a resumed run's `--option` is `now` where the checkpoint's run had `then`."""
    LOG.warning(
        "resuming with --%s %s (the checkpoint's run had %s): the run will not match an uninterrupted one",
        option.replace("_", "-"), now, then,
    )  # fmt: skip


def checkpoint_config(ckpt: dict[str, Any], path: str | Path) -> tuple[SegNetConfig, LabelSet]:
    """The architecture and label set a checkpoint was trained with."""
    try:
        config = SegNetConfig.from_dict(dict(ckpt["architecture"]))
        labels = parse_label_set(ckpt["labels"], f"{path}: labels")
    except (ModelError, LabelError, TypeError, ValueError) as err:
        raise TrainingError(f"checkpoint {str(path)!r}: bad architecture or labels: {err}") from err
    if labels.num_classes != config.num_classes:
        raise TrainingError(
            f"checkpoint {str(path)!r}: {config.num_classes} output classes but {labels.num_classes} labels"
        )
    return config, labels


def load_state(model: torch.nn.Module, state: dict[str, torch.Tensor], path: str | Path) -> None:
    """`model.load_state_dict(state)`, a mismatch being a TrainingError that names the file and a tensor."""
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        detail = " ".join(line.strip() for line in str(err).splitlines()[:2])
        name = getattr(getattr(model, "config", None), "name", type(model).__name__)
        raise TrainingError(f"checkpoint {str(path)!r} does not fit the {name} architecture: {detail}") from err


def model_from_checkpoint(ckpt: dict[str, Any], path: str | Path) -> tuple[SegNet, LabelSet]:
    """The trained network (eval mode, CPU) and its label set."""
    config, labels = checkpoint_config(ckpt, path)
    model = build_model(config)
    load_state(model, ckpt["model"], path)
    return model.eval(), labels


# ------------------------------------------------------------------------------------------ export
def card_extra(ckpt: dict[str, Any], path: Path, weights_dtype: str) -> dict[str, Any]:
    """What a model card says beyond the engine's keys: training command, lineage, data, metrics, time."""
    args = dict(ckpt.get("args") or {})
    training = {
        "command": ckpt.get("command", ""),
        "argv": list(ckpt.get("argv") or []),
        "epochs": int(ckpt["epoch"]),
        "iterations": int(ckpt["iteration"]),
        "time_s": round(float(ckpt.get("train_time_s", 0.0)), 1),
        "world_size": int(ckpt.get("world_size", 1)),
        "batch_size_per_process": args.get("batch_size"),
        "optimizer": args.get("optimizer"),
        "lr": args.get("lr"),
        "schedule": args.get("schedule"),
        "seed": args.get("seed"),
        "class_weights": ckpt.get("class_weights"),
        "versions": dict(ckpt.get("versions") or {}),
        "checkpoint": {"file": path.name, "sha256": sha256_of(path)},
    }
    if ckpt.get("parent") is not None or args.get("freeze_encoder"):
        # Only for fine-tuned or frozen runs: a card from scratch keeps the keys it always had.
        training["parent"] = ckpt.get("parent")
        training["freeze_encoder"] = bool(args.get("freeze_encoder", False))
    metrics = dict(ckpt.get("metrics") or {})
    return {"weights_dtype": weights_dtype, "metrics": metrics, "training": training, "data": ckpt.get("data") or {}}


def export_checkpoint(checkpoint: str | Path, out: str | Path, *, fp16: bool = False, dither: float | None = None
                      ) -> ModelCard:  # fmt: skip
    """Write a checkpoint's network as `out` (.safetensors) and its model card; return the card.

    Args:
        checkpoint: a `checkpoint.pth` / `model_best.pth` written by training.
        out: the `.safetensors` file to write (its card `NAME.card.yaml` goes beside it).
        fp16: store float16 tensors (half the size); `load_model` makes them float32 again.
        dither: the card's input dither (std in 8-bit levels; `inference.dither_pattern`); None: the
            checkpoint's (`rvn train --input-dither`, or its --init model's), 0: none.

    Raises:
        TrainingError: an unreadable checkpoint, one that does not fit its own architecture, a
            tensor outside float16's range with `fp16`, or an output path the engine refuses.

    """
    path = Path(checkpoint)
    ckpt = load_training_checkpoint(path)
    model, labels = model_from_checkpoint(ckpt, path)
    if fp16:
        for name, tensor in model.state_dict().items():
            if tensor.is_floating_point() and tensor.numel() and float(tensor.abs().max()) > FP16_MAX:
                raise TrainingError(
                    f"checkpoint {str(path)!r}: {name} holds {float(tensor.abs().max()):.3g}, beyond float16's "
                    f"{FP16_MAX:g}; export without --fp16"
                )
        model = model.half()
    norm = ckpt.get("normalization") or {}
    size = ckpt["input_size"]
    try:
        return save_model(
            model,
            out,
            labels,
            (int(size[0]), int(size[1])),
            mean=norm.get("mean", IMAGENET_MEAN),
            std=norm.get("std", IMAGENET_STD),
            extra=card_extra(ckpt, path, "float16" if fp16 else "float32"),
            dither=float(norm.get("dither", 0.0)) if dither is None else dither,
        )
    except SegmenterError as err:
        raise TrainingError(str(err)) from err
    except OSError as err:
        raise TrainingError(f"cannot write {str(out)!r}: {err.strerror or err}") from err
