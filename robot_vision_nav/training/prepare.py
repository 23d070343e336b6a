"""What a training run sets up before its first step, and what a resumed run restores.

The network (initial, ImageNet-initialised, a parent model's (`--init`) or a checkpoint's, its
encoder frozen on `--freeze-encoder`) on its device, DDP-wrapped under torchrun with SyncBatchNorm
on CUDA; the median-frequency class weights, counted in shares across processes (with a mix
folder, over an epoch's expected share of it too); the training loader (the training split, plus
an epoch's draw from `--mix-data`) and the validation loader; and, on `--resume`, the checkpoint
checked against the options and its optimiser, scheduler, scaler and RNG states put back. Must
never import ROS.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.utils.data import DataLoader

from robot_vision_nav.core.segmentation.inference import IMAGENET_MEAN, IMAGENET_STD
from robot_vision_nav.core.segmentation.labels import LabelSet
from robot_vision_nav.core.segmentation.model import SegNetConfig, build_model, load_encoder_weights
from robot_vision_nav.training.checkpoint import (
    LOG,
    TrainingError,
    checkpoint_config,
    load_state,
    set_rng_state,
    warn_resume_differs,
)
from robot_vision_nav.training.datasets import (
    EvalSamples,
    SegmentationDataset,
    TrainingData,
    TrainingSamples,
    count_class_pixels,
    eval_collate,
    median_frequency_weights,
)
from robot_vision_nav.training.datasets.mixing import MixedTrainingSamples
from robot_vision_nav.training.distributed import Distributed, EpochSampler, ShardSampler
from robot_vision_nav.training.finetune import freeze_encoder
from robot_vision_nav.training.options import APPEARANCE_OPTIONS, args_to_dict
from robot_vision_nav.training.transforms import TrainTransform

# A checkpoint as torch.load reads it: plain data of whatever shape its writer gave it.
Checkpoint: TypeAlias = dict[str, Any]


@dataclass
class Progress:
    """Where a run stands: what a checkpoint restores and each epoch advances."""

    epoch: int = 0  # epochs completed
    iteration: int = 0
    best_miou: float = -math.inf
    train_time_s: float = 0.0
    # The last validation: SegmentationScores.to_dict() (typed dict[str, Any] in core) with split, images, epoch.
    scores: dict[str, Any] = field(default_factory=dict)

    @property
    def best(self) -> float | None:
        """The best mIoU so far, None before any defined one."""
        return self.best_miou if math.isfinite(self.best_miou) else None


def prepare_model(
    args: argparse.Namespace, config: SegNetConfig, ckpt: Checkpoint | None, where: Distributed,
    device: torch.device, init: Mapping[str, Tensor] | None = None,
) -> tuple[nn.Module, nn.Module]:  # fmt: skip
    """The network (initial, ImageNet-initialised, `init`'s weights or resumed) on `device`; DDP-wrapped and bare.

    With `--freeze-encoder` the encoder's parameters are taken out of training before DDP wraps
    the network (DDP then neither waits for nor reduces their gradients).
    """
    torch.manual_seed(args.seed)  # the same initial weights in every process, whatever ran before
    net = build_model(config)
    if ckpt is not None:
        load_state(net, ckpt["model"], args.resume)
        if args.encoder_weights:
            LOG.info("--encoder-weights ignored: resuming from %s", args.resume)
    elif init is not None:
        state = dict(init)
        # A parent without the context block (load_parent allows it): the block keeps its fresh
        # weights, its join at zero, so training starts from the parent's function.
        grown = {k: v for k, v in net.state_dict().items() if k.startswith("impl.context.") and k not in state}
        if grown:
            LOG.info("init: %s has no context block; the new block starts at zero (%d tensors)", args.init, len(grown))
        load_state(net, {**grown, **state}, args.init)
    elif args.encoder_weights:
        copied = load_encoder_weights(net, args.encoder_weights)
        LOG.info("encoder: %d tensors from %s", copied, args.encoder_weights)
    if args.freeze_encoder:
        values = freeze_encoder(net)
        LOG.info("encoder frozen: %d parameter values and its batch norm statistics stay as they are", values)
    model: nn.Module = net.to(device)
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    cuda = device.type == "cuda"
    if where.enabled and cuda and args.sync_bn:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)  # type: ignore[no-untyped-call]
    elif where.enabled and not args.freeze_bn:
        LOG.warning(
            "batch norm statistics are per process%s; the run differs from one process with the combined batch "
            "(--freeze-bn avoids that)", " (PyTorch's SyncBatchNorm is GPU-only)" if not cuda else "",
        )  # fmt: skip
    if not where.enabled:
        return model, model
    return nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if cuda else None), model


def class_weights_for(
    args: argparse.Namespace, data: TrainingData, ckpt: Checkpoint | None, where: Distributed,
    device: torch.device, mix: SegmentationDataset | None = None, mix_count: int = 0,
) -> list[float] | None:  # fmt: skip
    """Median frequency weights: the checkpoint's, or counted over the training labels (None when off).

    Each process counts its share of the labels and the counts are summed, so every process gets
    the same weights for 1/world_size of the reading. With a mix folder whose `mix_count` samples
    join each epoch, its counts are added scaled by mix_count / len(mix): an epoch's expected counts.
    """
    if not args.class_weights:
        return None
    if ckpt is not None and ckpt.get("class_weights") is not None:
        weights = [float(w) for w in ckpt["class_weights"]]
    else:
        k = data.label_set.num_classes
        counts = count_class_pixels(data.train, range(where.rank, len(data.train), where.world_size), k)
        if mix is not None:
            mixed = count_class_pixels(mix, range(where.rank, len(mix), where.world_size), k)
            counts = np.concatenate((counts, mixed))  # one all_reduce for both
        if where.enabled:
            shared = torch.from_numpy(counts).to(device)
            dist.all_reduce(shared)
            counts = shared.cpu().numpy()
        if mix is not None:
            counts = counts[:2] + np.rint(counts[2:] * (mix_count / len(mix))).astype(np.int64)
        if args.dataset == "folder" and not counts[0].any():
            # Only `rvn autolabel`'s set labels (253 / 254): no class to balance, every pixel weighs 1.
            LOG.info("class weights: none (the training labels name no class, only drivable / not drivable sets)")
            return None
        weights = (median_frequency_weights(counts) ** args.class_weight_power).tolist()
    power = "" if args.class_weight_power == 1.0 else f" ^ {args.class_weight_power:g}"
    LOG.info("class weights (median frequency%s): %s", power,
             ", ".join(f"{n} {w:.3g}" for n, w in zip(data.label_set.names, weights, strict=True)))  # fmt: skip
    return weights


def loaders(
    args: argparse.Namespace, data: TrainingData, input_size: tuple[int, int], where: Distributed, cuda: bool,
    mix: SegmentationDataset | None = None,
) -> tuple[DataLoader[tuple[Tensor, Tensor]], EpochSampler, DataLoader[tuple[Tensor, Tensor]]]:  # fmt: skip
    """The training loader (augmented, full batches, order by (seed, epoch)) and the validation loader.

    With `mix` (`--mix-data`), each training epoch is the training split plus that epoch's draw
    from it (`MixedTrainingSamples`); validation is the dataset's alone.
    """
    transform = TrainTransform(
        input_size,
        tuple(args.scale_range),
        0.5 if args.flip else 0.0,
        args.jitter,
        exposure=_or_off(args.exposure, 1.0),
        gamma=_or_off(args.gamma, 1.0),
        noise=_or_off(args.noise, 0.0),
        blur_prob=_or_off(args.blur, 0.0),
        crop=None if args.crop_size is None else (args.crop_size[0], args.crop_size[1]),
        flatten_prob=_or_off(args.flatten, 0.0),
    )
    train_set: TrainingSamples
    if mix is None:
        train_set = TrainingSamples(data.train, transform, args.seed, IMAGENET_MEAN, IMAGENET_STD)
    else:
        train_set = MixedTrainingSamples(data.train, mix, args.mix_fraction, transform, args.seed, IMAGENET_MEAN,
                                         IMAGENET_STD)  # fmt: skip
    sampler = EpochSampler(train_set, num_replicas=where.world_size, rank=where.rank, shuffle=True, seed=args.seed)
    if len(sampler) < args.batch_size:
        raise TrainingError(
            f"the training split has {len(train_set)} images: not one full batch of --batch-size {args.batch_size} "
            f"for each of {where.world_size} process(es)"
        )
    options: dict[str, Any] = {"num_workers": args.workers, "pin_memory": cuda}  # DataLoader's keyword arguments
    if args.workers:
        # forkserver, not fork: forking a process that already runs threads (rclpy's DDS threads in
        # a node or a test session, torch's own pools) can copy a held lock into the worker, which
        # then waits forever. A forkserver child starts from a fresh, single-threaded interpreter.
        options.update(persistent_workers=True, worker_init_fn=_worker_init, multiprocessing_context="forkserver")
    train = DataLoader(train_set, batch_size=args.batch_size, sampler=sampler, drop_last=True, **options)
    val_set = EvalSamples(data.val, input_size, IMAGENET_MEAN, IMAGENET_STD, args.input_dither)
    val_sampler = ShardSampler(len(val_set), where.rank, where.world_size)
    val = DataLoader(val_set, batch_size=args.batch_size, sampler=val_sampler, collate_fn=eval_collate, **options)
    return train, sampler, val


def _or_off(value: float | None, off: float) -> float:
    """An appearance option's value, or the transform's value that turns it off where it was not given."""
    return off if value is None else float(value)


def _worker_init(_: int) -> None:
    import cv2

    cv2.setNumThreads(1)  # the loader's processes already run in parallel; OpenCV threads would oversubscribe


def restore(
    ckpt: Checkpoint,
    path: str,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler,
) -> Progress:
    """Optimiser, scheduler, scaler and RNG states from a checkpoint; where its run stood."""
    try:
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["lr_scheduler"])
        if scaler.is_enabled() and ckpt.get("scaler"):
            scaler.load_state_dict(ckpt["scaler"])
    except (KeyError, ValueError, RuntimeError) as err:
        raise TrainingError(f"checkpoint {path!r}: optimiser or scheduler state does not fit: {err}") from err
    if ckpt.get("rng"):
        set_rng_state(ckpt["rng"])
    best = ckpt.get("best_miou")
    return Progress(
        int(ckpt["epoch"]), int(ckpt["iteration"]), -math.inf if best is None else float(best),
        float(ckpt.get("train_time_s", 0.0)), dict(ckpt.get("metrics") or {}),
    )  # fmt: skip


def check_resume(ckpt: Checkpoint, path: str, config: SegNetConfig, labels: LabelSet, args: argparse.Namespace) -> None:
    """Refuse a checkpoint of another network or label set; warn of options that make the run differ."""
    theirs, their_labels = checkpoint_config(ckpt, path)
    if theirs != config:
        raise TrainingError(
            f"checkpoint {path!r} holds a {theirs.name} network ({theirs.encoder}, width {theirs.width:g}, "
            f"{theirs.stages} stages, {theirs.num_classes} classes); --model {args.model} builds {config.name} "
            f"({config.encoder}, width {config.width:g}, {config.stages} stages, {config.num_classes} classes)"
        )
    if their_labels.names != labels.names:
        raise TrainingError(
            f"checkpoint {path!r} was trained on {their_labels.name!r} classes, the dataset has {labels.name!r}"
        )
    old = ckpt.get("args") or {}
    given = args_to_dict(args)
    for key in ("seed", "batch_size", "input_size", "epochs", "scale_range", "jitter", "flip"):
        if key in old and old[key] != given.get(key):
            warn_resume_differs(key, given.get(key), old[key])
    for key in APPEARANCE_OPTIONS:  # a checkpoint without the key was trained without it
        now, then = given.get(key), old.get(key)
        if now != then:
            warn_resume_differs(key, "off" if now is None else now, "off" if then is None else then)
