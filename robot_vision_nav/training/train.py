"""Train a SegNet: `python -m robot_vision_nav.training.train ...`, `rvn train ...`, or under torchrun.

The shape of torchvision's references/segmentation/train.py (`main(args)`, `train_one_epoch`,
`evaluate`; DDP from RANK / WORLD_SIZE / LOCAL_RANK; rank 0 alone writes), and what it adds:

- Reproducible. Epoch e's data order is a function of (seed, e) (a seeded DistributedSampler,
  also for one process) and each sample's augmentation of (seed, e, index) (`TrainingSamples`),
  whatever the worker count. A checkpoint holds the model, optimiser, scheduler, scaler, epoch,
  iteration, class weights and RNG states, so `--resume` continues exactly as the uninterrupted
  run would have (the same losses, to the bit on CPU).
- The loss is cross-entropy with 255 ignored and median-frequency class weights, summed over the
  labelled pixels and divided by their total weight over the whole global batch (one all_reduce of
  two numbers per step): under DDP the gradient is the combined batch's even when processes hold
  different shares of ignored pixels or of heavily weighted classes.
- Batch norm under DDP: SyncBatchNorm on CUDA. PyTorch's SyncBatchNorm runs on GPUs only, so on
  CPU (gloo) each process normalises with its own batch's statistics, and a warning says so;
  `--freeze-bn` (running statistics, affine still trained) makes a CPU run equal to one process
  with the combined batch.
- Evaluation each epoch over the validation split: the image resized to the input size as the
  inference engine does it, the prediction brought back to the labels' resolution with the
  engine's nearest-neighbour rule, counted in a confusion matrix on the device and summed across
  processes (global accuracy, class accuracy, mIoU, per-class and drivable IoU from
  `core.segmentation.metrics`), so the numbers are what `rvn eval` reports for the exported model.
- Checkpoints (`checkpoint.pth` every epoch, `model_best.pth` at the best mIoU) are written
  atomically and read with `weights_only=True` (see `training.checkpoint`); `metrics.csv` gets a
  row per epoch and `train.log` every log line.

Must never import ROS.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import logging
import math
import os
import random
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F  # noqa: N812 (the PyTorch convention)
from torch import Tensor, nn
from torch.utils.data import DataLoader, DistributedSampler, Sampler

from robot_vision_nav.core.segmentation.inference import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    SegmenterError,
    nearest_indices,
    resolve_device,
)
from robot_vision_nav.core.segmentation.labels import IGNORE_INDEX, LabelError
from robot_vision_nav.core.segmentation.metrics import ConfusionMatrix, MetricsError
from robot_vision_nav.core.segmentation.model import (
    ModelError,
    SegNetConfig,
    build_model,
    load_encoder_weights,
    variant,
)
from robot_vision_nav.training.checkpoint import (
    CHECKPOINT_FORMAT,
    LOG,
    TrainingError,
    checkpoint_config,
    load_state,
    load_training_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from robot_vision_nav.training.datasets import (
    DatasetError,
    EvalSamples,
    TrainingData,
    TrainingSamples,
    count_class_pixels,
    eval_collate,
    median_frequency_weights,
    open_training_data,
)
from robot_vision_nav.training.options import (
    DEFAULT_INPUT_SIZE,
    args_to_dict,
    build_train_parser,
    canonical_command,
)
from robot_vision_nav.training.transforms import TrainTransform, TransformError

__all__ = ["TrainingError", "evaluate", "main", "train_one_epoch"]

CHECKPOINT = "checkpoint.pth"
BEST = "model_best.pth"
METRICS_CSV = "metrics.csv"
TRAIN_LOG = "train.log"
POLY_POWER = 0.9
WARMUP_START = 0.01  # the warm-up's first learning rate, as a fraction of --lr (torchvision's lr_warmup_decay)
SCORE_FIELDS = ("global_acc", "class_acc", "miou", "drivable_iou")


# ------------------------------------------------------------------------------------ distributed
@dataclass(frozen=True)
class Distributed:
    """Where this process stands in a torchrun job (a job of one when not started by torchrun)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        """Whether there is more than this process (DDP, reductions across processes)."""
        return self.world_size > 1

    @property
    def main(self) -> bool:
        """Whether this process writes files (rank 0)."""
        return self.rank == 0


def distributed_from_env(env: dict[str, str] | None = None) -> Distributed:
    """RANK, WORLD_SIZE and LOCAL_RANK as torchrun sets them (absent: one process)."""
    env = dict(os.environ if env is None else env)
    if "RANK" not in env and "WORLD_SIZE" not in env:
        return Distributed()
    try:
        rank, world = int(env.get("RANK", "0")), int(env.get("WORLD_SIZE", "1"))
        local = int(env.get("LOCAL_RANK", "0"))
    except ValueError as err:
        raise TrainingError(f"RANK, WORLD_SIZE and LOCAL_RANK must be whole numbers: {err}") from err
    if world < 1 or not 0 <= rank < world or local < 0:
        raise TrainingError(f"RANK {rank} / WORLD_SIZE {world} / LOCAL_RANK {local}: expected 0 <= RANK < WORLD_SIZE")
    return Distributed(rank, world, local)


def select_device(name: str, where: Distributed) -> torch.device:
    """`--device`: auto, cpu, cuda or cuda:N; under torchrun `auto` and `cuda` mean cuda:LOCAL_RANK."""
    if where.enabled and name.startswith("cuda:"):
        raise TrainingError(
            f"--device {name}: under torchrun each process takes cuda:LOCAL_RANK; give --device cuda or auto (and "
            "CUDA_VISIBLE_DEVICES to choose the GPUs)"
        )
    if where.enabled and name in ("auto", "cuda") and torch.cuda.is_available():
        name = f"cuda:{where.local_rank}"
    try:
        return resolve_device(name)
    except SegmenterError as err:
        raise TrainingError(f"--device: {err}") from err


def _init_process_group(where: Distributed, device: torch.device) -> None:
    missing = [k for k in ("MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
    if missing:
        raise TrainingError(f"WORLD_SIZE is {where.world_size} but {' and '.join(missing)} are not set (use torchrun)")
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend, rank=where.rank, world_size=where.world_size)
    LOG.info("distributed: rank %d of %d, backend %s, device %s", where.rank, where.world_size, backend, device)


class EpochSampler(DistributedSampler[Any]):
    """DistributedSampler that yields `(epoch, index)`: the dataset seeds each sample's augmentation with both.

    The order of epoch e is `torch.randperm` seeded with seed + e (DistributedSampler's rule),
    shared by every rank, each taking every world_size-th index.
    """

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch = self.epoch
        return ((epoch, int(i)) for i in super().__iter__())


class ShardSampler(Sampler[int]):
    """Indices rank, rank + world, ...: every validation sample scored exactly once across processes."""

    def __init__(self, length: int, rank: int = 0, world_size: int = 1) -> None:
        self.indices = range(rank, length, world_size)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def _worker_init(_: int) -> None:
    import cv2

    cv2.setNumThreads(1)  # the loader's processes already run in parallel; OpenCV threads would oversubscribe


# ------------------------------------------------------------------------------------ loss, schedule
def segmentation_loss(
    logits: Tensor, target: Tensor, weight: Tensor | None, *, distributed: bool = False, world_size: int = 1
) -> tuple[Tensor, Tensor]:
    """Weighted cross-entropy over the labelled pixels of the global batch.

    Args:
        logits: (N, K, H, W) float logits.
        target: (N, H, W) int64 class ids, 255 ignored.
        weight: K class weights, or None for 1 each.
        distributed: sum the normaliser across processes (all_reduce).
        world_size: number of processes (DDP averages gradients over them).

    Returns:
        The loss to back-propagate (this process's share: summed over its pixels, divided by the
        global total weight, times world_size to undo DDP's averaging) and the global mean loss,
        detached, for logging.

    """
    total = F.cross_entropy(logits, target, weight=weight, ignore_index=IGNORE_INDEX, reduction="sum")
    valid = target != IGNORE_INDEX
    if weight is None:
        denom = valid.sum().to(total.dtype)
    else:
        # Indexing with the ignore label mapped to an extra zero weight: no boolean mask, no host sync.
        extended = torch.cat((weight.to(total.dtype), weight.new_zeros(1, dtype=total.dtype)))
        denom = extended[torch.where(valid, target, weight.numel())].sum()
    stats = torch.stack((total.detach(), denom.detach()))
    if distributed:
        dist.all_reduce(stats)
    norm = stats[1].clamp_min(1e-12)
    return total * (world_size / norm), stats[0] / norm


def lr_factor(step: int, total: int, warmup: int, schedule: str) -> float:
    """The learning rate at optimiser step `step` as a fraction of the peak.

    Linear warm-up from WARMUP_START over `warmup` steps, then poly ((1 - t)^0.9) or cosine decay
    over the remaining steps, t going 0 -> 1.
    """
    if step < warmup:
        return WARMUP_START + (1.0 - WARMUP_START) * step / warmup
    t = min(1.0, (step - warmup) / max(1, total - warmup))
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * t))
    return float((1.0 - t) ** POLY_POWER)


def build_optimizer(model: nn.Module, args: argparse.Namespace) -> torch.optim.Optimizer:
    """SGD with momentum (SegNet's) or AdamW; weight decay on weights of 2+ dimensions only.

    Biases and batch-norm scales and shifts are not decayed: shrinking them towards 0 regularises
    nothing and fights the normalisation.
    """
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if args.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=args.lr, betas=(0.9, 0.999))
    return torch.optim.SGD(groups, lr=args.lr, momentum=args.momentum)


# ------------------------------------------------------------------------------------ one epoch
@dataclass(frozen=True)
class EpochStats:
    """What one training epoch did."""

    epoch: int  # 0-based
    losses: list[float]  # global mean loss of each iteration
    images: int  # images seen, all processes together
    time_s: float
    lr: float  # after the last step

    @property
    def mean_loss(self) -> float:
        """Mean of the iterations' losses (NaN for an empty epoch)."""
        return float(np.mean(self.losses)) if self.losses else math.nan


def _freeze_batch_norm(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()


def train_one_epoch(
    model: nn.Module,
    loader: DataLoader[Any],
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler,
    device: torch.device,
    epoch: int,
    *,
    epochs: int,
    class_weights: Tensor | None = None,
    amp_dtype: torch.dtype | None = None,
    freeze_bn: bool = False,
    print_freq: int = 10,
    world_size: int = 1,
) -> EpochStats:
    """One pass over `loader`: forward, weighted loss, backward, optimiser and scheduler step per batch.

    Args:
        model: the network, DDP-wrapped under torchrun.
        loader: batches of (normalised images, int64 labels).
        optimizer: its optimiser.
        scheduler: stepped once per iteration.
        scaler: gradient scaler (enabled for float16 autocast only).
        device: where the model is.
        epoch: 0-based epoch, for the progress lines.
        epochs: total epochs, for the progress lines.
        class_weights: K loss weights on `device`, or None.
        amp_dtype: autocast dtype (float16 / bfloat16), None for float32.
        freeze_bn: keep batch norm in eval mode (running statistics).
        print_freq: iterations between progress lines (loss, learning rate, images/s).
        world_size: processes in the job (>1: losses are reduced across them).

    Raises:
        TrainingError: the loss is not finite (checked at each progress line and at the end).

    """
    model.train()
    if freeze_bn:
        _freeze_batch_norm(model)
    distributed = world_size > 1
    losses: list[Tensor] = []
    start = window_start = time.perf_counter()
    window_images = images_seen = 0
    n = len(loader)
    width = len(str(n))
    for i, (images, targets) in enumerate(loader):
        images = images.to(device, non_blocking=True)
        targets = targets.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            logits = model(images)
        loss, value = segmentation_loss(
            logits.float(), targets, class_weights, distributed=distributed, world_size=world_size
        )
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()  # type: ignore[no-untyped-call]
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        losses.append(value)
        batch_images = images.shape[0] * world_size
        window_images += batch_images
        images_seen += batch_images
        if (i + 1) % print_freq == 0 or i + 1 == n:
            current = float(value)  # one host sync per progress line, not per step
            if not math.isfinite(current):
                raise TrainingError(
                    f"the loss is {current} at epoch {epoch + 1}, iteration {i + 1}: lower --lr, add --warmup-iters "
                    "or turn off --amp"
                )
            elapsed = time.perf_counter() - window_start
            LOG.info(
                "epoch %d/%d [%*d/%d] loss %.4f lr %.3g %.1f img/s",
                epoch + 1, epochs, width, i + 1, n, current, optimizer.param_groups[0]["lr"],
                window_images / max(elapsed, 1e-9),
            )  # fmt: skip
            window_start, window_images = time.perf_counter(), 0
    values = torch.stack(losses).tolist() if losses else []
    return EpochStats(epoch, values, images_seen, time.perf_counter() - start, optimizer.param_groups[0]["lr"])


# ------------------------------------------------------------------------------------ evaluation
@torch.inference_mode()
def evaluate(
    model: nn.Module,
    loader: DataLoader[Any],
    device: torch.device,
    num_classes: int,
    *,
    amp_dtype: torch.dtype | None = None,
    distributed: bool = False,
) -> ConfusionMatrix:
    """Count (true, predicted) pixels over `loader` at the labels' resolution, summed over processes.

    Args:
        model: the bare network (not DDP-wrapped: processes may hold different sample counts).
        loader: batches of (images at the input size, uint8 labels at their own size: a tensor, or
            a list when sizes differ), as `EvalSamples` and `eval_collate` make them.
        device: where the model is.
        num_classes: K.
        amp_dtype: autocast dtype, None for float32.
        distributed: all_reduce the counts (every process must call this).

    Returns:
        The confusion matrix of the whole validation split (labels 255 and >= K not counted).

    """
    was_training = model.training
    model.eval()
    k = num_classes
    counts = torch.zeros(k * k + 1, dtype=torch.int64, device=device)  # the last bin: pixels not counted
    index_cache: dict[tuple[int, int, int, int], tuple[Tensor, Tensor]] = {}

    def count(pred: Tensor, truth: Tensor) -> None:
        if pred.shape[-2:] != truth.shape[-2:]:
            key = (pred.shape[-2], pred.shape[-1], truth.shape[-2], truth.shape[-1])
            if key not in index_cache:
                index_cache[key] = (nearest_indices(key[0], key[2], device), nearest_indices(key[1], key[3], device))
            rows, cols = index_cache[key]
            pred = pred.index_select(-2, rows).index_select(-1, cols)
        t = truth.long()
        bins = torch.where(t < k, t * k + pred, k * k)
        counts.add_(torch.bincount(bins.reshape(-1), minlength=k * k + 1))

    try:
        for images, labels in loader:
            images = images.to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
                pred = model(images).argmax(dim=1)
            if isinstance(labels, Tensor):
                count(pred, labels.to(device, non_blocking=True))
            else:
                for p, t in zip(pred, labels, strict=True):
                    count(p, t.to(device, non_blocking=True))
        if distributed:
            dist.all_reduce(counts)
    finally:
        model.train(was_training)
    return ConfusionMatrix.from_matrix(counts[: k * k].view(k, k).cpu().numpy())


# ------------------------------------------------------------------------------------ files
def _csv_fields(class_names: Sequence[str]) -> list[str]:
    return [
        "epoch", "iteration", "lr", "train_loss", "train_images_per_s", "epoch_time_s",
        *(f"val_{f}" for f in SCORE_FIELDS), *(f"iou_{n}" for n in class_names),
    ]  # fmt: skip


def _append_csv(path: Path, row: dict[str, Any], fields: list[str]) -> None:
    new = not path.is_file() or path.stat().st_size == 0
    with path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        if new:
            writer.writeheader()
        writer.writerow({k: "" if row.get(k) is None else row[k] for k in fields})


def _trim_csv(path: Path, last_epoch: int) -> None:
    """Keep the rows of epochs up to `last_epoch` (a resumed run rewrites the later ones)."""
    if not path.is_file():
        return
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return
    kept = [rows[0]] + [r for r in rows[1:] if r and r[0].isdigit() and int(r[0]) <= last_epoch]
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", newline="") as f:
        csv.writer(f).writerows(kept)
    os.replace(tmp, path)


@contextlib.contextmanager
def _logging_to(output_dir: Path | None, rank: int) -> Iterator[None]:
    """INFO to the console (rank 0; others warnings only) and to output_dir/train.log while training."""
    handlers: list[logging.Handler] = []
    if not logging.getLogger().handlers:  # an application that set up logging gets our records through it
        console = logging.StreamHandler(sys.stderr)
        console.setLevel(logging.INFO if rank == 0 else logging.WARNING)
        console.setFormatter(logging.Formatter("%(message)s" if rank == 0 else f"[rank {rank}] %(message)s"))
        handlers.append(console)
    if output_dir is not None:
        output_dir.mkdir(parents=True, exist_ok=True)
        log_file = logging.FileHandler(output_dir / TRAIN_LOG, encoding="utf-8")
        log_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        handlers.append(log_file)
    level = LOG.level
    LOG.setLevel(logging.INFO)
    for h in handlers:
        LOG.addHandler(h)
    try:
        yield
    finally:
        for h in handlers:
            LOG.removeHandler(h)
            h.close()
        LOG.setLevel(level)


class _TensorBoard:
    """Epoch scalars to TensorBoard when asked for and installed; nothing otherwise."""

    def __init__(self, wanted: bool, folder: Path) -> None:
        self.writer: Any = None
        if not wanted:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            LOG.warning("--tensorboard: the tensorboard package is not installed; metrics.csv has the same numbers")
            return
        self.writer = SummaryWriter(str(folder))

    def epoch(self, step: int, values: dict[str, float | None]) -> None:
        if self.writer is not None:
            for key, value in values.items():
                if value is not None and math.isfinite(value):
                    self.writer.add_scalar(key, value, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


# ------------------------------------------------------------------------------------ main
def _one_line(err: BaseException) -> str:
    """An error's message on one line; a DataLoader worker's re-raised one as its original last line."""
    text = str(err).strip()
    if "Original Traceback" in text:
        last = [line for line in text.splitlines() if line.strip()][-1].strip()
        return last.split(": ", 1)[1] if ": " in last and last.split(": ", 1)[0].endswith("Error") else last
    return " ".join(text.splitlines())


def _command_program(where: Distributed, program: Sequence[str] | None) -> tuple[str, ...]:
    """How the canonical command starts: torchrun ... -m ..., `program` (rvn train), or python -m ...."""
    module = "robot_vision_nav.training.train"
    if where.enabled:
        local = int(os.environ.get("LOCAL_WORLD_SIZE", str(where.world_size)))
        nodes = max(1, where.world_size // max(1, local))
        return ("torchrun", *(("--nnodes", str(nodes)) if nodes > 1 else ()), "--nproc-per-node", str(local), "-m",
                module)  # fmt: skip
    return tuple(program) if program else ("python", "-m", module)


def _check_resume(ckpt: dict[str, Any], path: str, config: Any, labels: Any, args: argparse.Namespace) -> None:
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
    for key in ("seed", "batch_size", "input_size", "epochs", "scale_range", "jitter", "flip"):
        if key in old and old[key] != args_to_dict(args).get(key):
            LOG.warning(
                "resuming with --%s %s (the checkpoint's run had %s): the run will not match an uninterrupted one",
                key.replace("_", "-"), args_to_dict(args).get(key), old[key],
            )  # fmt: skip


def main(args: argparse.Namespace) -> dict[str, Any]:
    """Train as `args` say (the options of `training.options`); return a summary of the run.

    Started by torchrun (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT set), every process
    calls this; DDP with NCCL on GPUs, gloo on CPU; rank 0 alone writes files.

    Returns:
        output_dir, epochs, iterations, best_miou, metrics (the last epoch's validation scores),
        train_time_s, checkpoint and best (paths), history (per epoch: losses, lr, scores).

    Raises:
        TrainingError: bad options, data, weights or checkpoint, a non-finite loss, a failed write;
            the message names the file or option and what was expected.

    """
    where = distributed_from_env()
    output_dir = Path(args.output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise TrainingError(f"--output-dir {str(output_dir)!r} exists and is not a folder")
    with _logging_to(output_dir if where.main else None, where.rank):
        try:
            device = select_device(args.device, where)
            if where.enabled:
                _init_process_group(where, device)
            result = _train(args, where, device)
            if where.enabled:
                # Both ranks leave together: one tearing its group down while the other still talks
                # to it aborted a process once ("terminate called without an active exception").
                dist.barrier()
            return result
        except (DatasetError, ModelError, LabelError, TransformError, MetricsError, SegmenterError) as err:
            raise TrainingError(_one_line(err)) from err
        finally:
            if where.enabled and dist.is_initialized():
                dist.destroy_process_group()


@dataclass
class _Progress:
    """Where a run stands: what a checkpoint restores and each epoch advances."""

    epoch: int = 0  # epochs completed
    iteration: int = 0
    best_miou: float = -math.inf
    train_time_s: float = 0.0
    scores: dict[str, Any] = field(default_factory=dict)  # the last validation

    @property
    def best(self) -> float | None:
        """The best mIoU so far, None before any defined one."""
        return self.best_miou if math.isfinite(self.best_miou) else None


def _prepare_model(
    args: argparse.Namespace, config: SegNetConfig, ckpt: dict[str, Any] | None, where: Distributed,
    device: torch.device,
) -> tuple[nn.Module, nn.Module]:  # fmt: skip
    """The network (initial, ImageNet-initialised or resumed) on `device`; DDP-wrapped and the bare one."""
    torch.manual_seed(args.seed)  # the same initial weights in every process, whatever ran before
    net = build_model(config)
    if ckpt is not None:
        load_state(net, ckpt["model"], args.resume)
        if args.encoder_weights:
            LOG.info("--encoder-weights ignored: resuming from %s", args.resume)
    elif args.encoder_weights:
        copied = load_encoder_weights(net, args.encoder_weights)
        LOG.info("encoder: %d tensors from %s", copied, args.encoder_weights)
    model: nn.Module = net.to(device)
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


def _class_weights(
    args: argparse.Namespace, data: TrainingData, ckpt: dict[str, Any] | None, where: Distributed,
    device: torch.device,
) -> list[float] | None:  # fmt: skip
    """Median frequency weights: the checkpoint's, or counted over the training labels (None when off).

    Each process counts its share of the labels and the counts are summed, so every process gets
    the same weights for 1/world_size of the reading.
    """
    if not args.class_weights:
        return None
    if ckpt is not None and ckpt.get("class_weights") is not None:
        weights = [float(w) for w in ckpt["class_weights"]]
    else:
        k = data.label_set.num_classes
        counts = count_class_pixels(data.train, range(where.rank, len(data.train), where.world_size), k)
        if where.enabled:
            shared = torch.from_numpy(counts).to(device)
            dist.all_reduce(shared)
            counts = shared.cpu().numpy()
        weights = median_frequency_weights(counts).tolist()
    LOG.info("class weights (median frequency): %s",
             ", ".join(f"{n} {w:.3g}" for n, w in zip(data.label_set.names, weights, strict=True)))  # fmt: skip
    return weights


def _loaders(
    args: argparse.Namespace, data: TrainingData, input_size: tuple[int, int], where: Distributed, cuda: bool
) -> tuple[DataLoader[Any], EpochSampler, DataLoader[Any]]:
    """The training loader (augmented, full batches, order by (seed, epoch)) and the validation loader."""
    transform = TrainTransform(input_size, tuple(args.scale_range), 0.5 if args.flip else 0.0, args.jitter)
    train_set = TrainingSamples(data.train, transform, args.seed, IMAGENET_MEAN, IMAGENET_STD)
    sampler = EpochSampler(train_set, num_replicas=where.world_size, rank=where.rank, shuffle=True, seed=args.seed)
    if len(sampler) < args.batch_size:
        raise TrainingError(
            f"the training split has {len(train_set)} images: not one full batch of --batch-size {args.batch_size} "
            f"for each of {where.world_size} process(es)"
        )
    options: dict[str, Any] = {"num_workers": args.workers, "pin_memory": cuda}
    if args.workers:
        # forkserver, not fork: forking a process that already runs threads (rclpy's DDS threads in
        # a node or a test session, torch's own pools) can copy a held lock into the worker, which
        # then waits forever. A forkserver child starts from a fresh, single-threaded interpreter.
        options.update(persistent_workers=True, worker_init_fn=_worker_init, multiprocessing_context="forkserver")
    train = DataLoader(train_set, batch_size=args.batch_size, sampler=sampler, drop_last=True, **options)
    val_set = EvalSamples(data.val, input_size, IMAGENET_MEAN, IMAGENET_STD)
    val_sampler = ShardSampler(len(val_set), where.rank, where.world_size)
    val = DataLoader(val_set, batch_size=args.batch_size, sampler=val_sampler, collate_fn=eval_collate, **options)
    return train, sampler, val


def _restore(
    ckpt: dict[str, Any], path: str, optimizer: torch.optim.Optimizer, scheduler: Any, scaler: torch.amp.GradScaler
) -> _Progress:
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
    return _Progress(
        int(ckpt["epoch"]), int(ckpt["iteration"]), -math.inf if best is None else float(best),
        float(ckpt.get("train_time_s", 0.0)), dict(ckpt.get("metrics") or {}),
    )  # fmt: skip


def _train(args: argparse.Namespace, where: Distributed, device: torch.device) -> dict[str, Any]:
    output_dir = Path(args.output_dir)
    if args.scale_range[0] > args.scale_range[1]:
        raise TrainingError(f"--scale-range {args.scale_range[0]:g} {args.scale_range[1]:g}: expected MIN <= MAX")
    if not args.resume and (output_dir / CHECKPOINT).exists():
        raise TrainingError(
            f"--output-dir {str(output_dir)!r} already holds a {CHECKPOINT}: --resume it, or choose another folder"
        )
    input_size = tuple(args.input_size or DEFAULT_INPUT_SIZE[args.dataset])
    args.input_size = list(input_size)
    argv = list(getattr(args, "argv", None) or sys.argv)
    options = {k: v for k, v in args_to_dict(args).items() if k not in ("argv", "program")}
    command = canonical_command(options, _command_program(where, getattr(args, "program", None)))
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    cuda = device.type == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = not args.deterministic
    if args.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    amp_dtype = (torch.float16 if cuda else torch.bfloat16) if args.amp else None
    LOG.info("command: %s", command)
    LOG.info("torch %s on %s, %d process(es)", torch.__version__, device, where.world_size)
    if args.amp and not cuda:
        LOG.info("--amp on CPU: bfloat16 autocast without a gradient scaler (bfloat16 has float32's range)")

    def progress(done: int, total: int) -> None:
        if done == total or done % 50 == 0:
            LOG.info("rendering synthetic frames: %d/%d", done, total)

    data = open_training_data(
        args.dataset, args.data_root, label_set=args.label_set, val_fraction=args.val_fraction,
        synthetic_frames=args.synthetic_frames, data_seed=args.data_seed, limit=args.limit, progress=progress,
    )  # fmt: skip
    labels = data.label_set
    k = labels.num_classes
    LOG.info("data: %s, %d training and %d validation images, %d classes of %r, input %dx%d px",
             args.dataset, len(data.train), len(data.val), k, labels.name, input_size[1], input_size[0])  # fmt: skip

    ckpt = load_training_checkpoint(args.resume) if args.resume else None
    config = variant(args.model, k)
    if ckpt is not None:
        _check_resume(ckpt, str(args.resume), config, labels, args)
    model, bare = _prepare_model(args, config, ckpt, where, device)
    weights = _class_weights(args, data, ckpt, where, device)
    class_weights = None if weights is None else torch.tensor(weights, dtype=torch.float32, device=device)
    train_loader, sampler, val_loader = _loaders(args, data, input_size, where, cuda)

    optimizer = build_optimizer(model, args)
    total_iters = args.epochs * len(train_loader)
    warmup = min(args.warmup_iters, total_iters)

    def factor(step: int) -> float:
        return lr_factor(step, total_iters, warmup, args.schedule)

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    run = _Progress()
    if ckpt is not None:
        run = _restore(ckpt, str(args.resume), optimizer, scheduler, scaler)
        LOG.info("resumed from %s: %d epoch(s), %d iteration(s) done", args.resume, run.epoch, run.iteration)
        if where.main:
            _trim_csv(output_dir / METRICS_CSV, run.epoch)
        if run.epoch >= args.epochs:
            LOG.info("nothing to do: the checkpoint has %d epoch(s), --epochs is %d", run.epoch, args.epochs)

    fields = _csv_fields(labels.names)
    board = _TensorBoard(args.tensorboard and where.main, output_dir)
    history: list[dict[str, Any]] = []
    try:
        for epoch in range(run.epoch, args.epochs):
            sampler.set_epoch(epoch)
            stats = train_one_epoch(
                model, train_loader, optimizer, scheduler, scaler, device, epoch, epochs=args.epochs,
                class_weights=class_weights, amp_dtype=amp_dtype, freeze_bn=args.freeze_bn,
                print_freq=args.print_freq, world_size=where.world_size,
            )  # fmt: skip
            eval_start = time.perf_counter()
            matrix = evaluate(bare, val_loader, device, k, amp_dtype=amp_dtype, distributed=where.enabled)
            seconds = stats.time_s + time.perf_counter() - eval_start
            scores = matrix.scores(labels.names, labels.drivable_lut())
            miou = scores.miou if math.isfinite(scores.miou) else -math.inf
            improved = miou > run.best_miou
            run = _Progress(
                epoch + 1, run.iteration + len(stats.losses), max(run.best_miou, miou), run.train_time_s + seconds,
                {"split": "val", "images": len(data.val), "epoch": epoch + 1, **scores.to_dict()},
            )  # fmt: skip
            speed = stats.images / max(stats.time_s, 1e-9)
            LOG.info(
                "epoch %d/%d: train loss %.4f, %.1f img/s; val global %.2f %%, class %.2f %%, mIoU %.2f %%, "
                "drivable IoU %.2f %% (%.1f s)", epoch + 1, args.epochs, stats.mean_loss, speed,
                100 * scores.global_acc, 100 * scores.class_acc, 100 * scores.miou, 100 * scores.drivable_iou, seconds,
            )  # fmt: skip
            LOG.info("  IoU %%: %s", ", ".join(f"{n} {100 * v:.1f}" for n, v in scores.iou.items()))
            row = {
                "epoch": epoch + 1, "iteration": run.iteration, "lr": stats.lr, "train_loss": stats.mean_loss,
                "train_images_per_s": round(speed, 2), "epoch_time_s": round(seconds, 3),
                **{f"val_{f}": run.scores[f] for f in SCORE_FIELDS},
                **{f"iou_{n}": v for n, v in run.scores["iou"].items()},
            }  # fmt: skip
            if where.main:
                state = {
                    "format": CHECKPOINT_FORMAT, "model": bare.state_dict(), "optimizer": optimizer.state_dict(),
                    "lr_scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(), "epoch": run.epoch,
                    "iteration": run.iteration, "args": options, "argv": argv, "command": command,
                    "architecture": config.to_dict(), "labels": labels.to_dict(), "input_size": list(input_size),
                    "normalization": {"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)},
                    "class_weights": weights, "data": data.description, "metrics": run.scores,
                    "best_miou": run.best, "train_time_s": run.train_time_s, "world_size": where.world_size,
                    "rng": rng_state(),
                    "versions": {"torch": str(torch.__version__), "torchvision": _torchvision_version()},
                }  # fmt: skip
                save_checkpoint(state, output_dir / CHECKPOINT)
                if improved:
                    save_checkpoint(state, output_dir / BEST)
                _append_csv(output_dir / METRICS_CSV, row, fields)
                board.epoch(epoch + 1, {"train/loss": stats.mean_loss, "train/lr": stats.lr,
                                        **{f"val/{f}": run.scores[f] for f in SCORE_FIELDS}})  # fmt: skip
            history.append({**row, "losses": stats.losses})
    finally:
        board.close()
    return {
        "output_dir": str(output_dir), "epochs": args.epochs, "iterations": run.iteration, "best_miou": run.best,
        "metrics": run.scores, "train_time_s": round(run.train_time_s, 3), "checkpoint": str(output_dir / CHECKPOINT),
        "best": str(output_dir / BEST), "command": command, "history": history,
    }  # fmt: skip


def _torchvision_version() -> str:
    try:
        import torchvision
    except ImportError:
        return "not installed"
    return str(torchvision.__version__)


def summary_json(summary: dict[str, Any]) -> str:
    """The run's summary as one JSON line, without the per-iteration losses."""
    compact = {**summary, "history": [{k: v for k, v in h.items() if k != "losses"} for h in summary["history"]]}
    return json.dumps(compact)


def run(argv: Sequence[str] | None = None) -> int:
    """`python -m robot_vision_nav.training.train`: parse, train; 0 on success, 2 with one line on bad input."""
    parser = build_train_parser()
    args = parser.parse_args(argv)
    args.argv = [sys.executable, "-m", "robot_vision_nav.training.train", *(sys.argv[1:] if argv is None else argv)]
    args.program = ("python", "-m", "robot_vision_nav.training.train")
    try:
        summary = main(args)
    except TrainingError as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    if args.json and distributed_from_env().main:
        print(summary_json(summary))
    return 0


if __name__ == "__main__":
    sys.exit(run())
