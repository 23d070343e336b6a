"""One training epoch and one evaluation pass, torchvision's `train_one_epoch` and `evaluate`, and the loss.

The loss is cross-entropy with 255 ignored and class weights, summed over the labelled pixels and
divided by their total weight over the whole global batch (one all_reduce of two numbers per
step), so under DDP the gradient is the combined batch's. Evaluation counts a confusion matrix on
the device at the labels' resolution, with the inference engine's nearest-neighbour rule, summed
across processes. Must never import ROS.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F  # noqa: N812 (the PyTorch convention)
from torch import Tensor, nn
from torch.utils.data import DataLoader

from robot_vision_nav.core.segmentation.inference import nearest_indices
from robot_vision_nav.core.segmentation.labels import ANY_DRIVABLE, ANY_NOT_DRIVABLE, IGNORE_INDEX
from robot_vision_nav.core.segmentation.metrics import ConfusionMatrix
from robot_vision_nav.training.checkpoint import LOG, TrainingError


def segmentation_loss(
    logits: Tensor,
    target: Tensor,
    weight: Tensor | None,
    *,
    distributed: bool = False,
    world_size: int = 1,
    drivable: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Weighted cross-entropy over the labelled pixels of the global batch.

    Args:
        logits: (N, K, H, W) float logits.
        target: (N, H, W) int64 class ids, 255 ignored.
        weight: K class weights, or None for 1 each.
        distributed: sum the normaliser across processes (all_reduce).
        world_size: number of processes (DDP averages gradients over them).
        drivable: K bools (the label set's drivable classes): the set labels ANY_DRIVABLE and
            ANY_NOT_DRIVABLE (`rvn autolabel`) then count, each pixel -log of the summed probability
            of its set, weight 1. None: they are ignored like 255. Both sets must be non-empty.

    Returns:
        The loss to back-propagate (this process's share: summed over its pixels, divided by the
        global total weight, times world_size to undo DDP's averaging) and the global mean loss,
        detached, for logging.

    """
    set_total = set_count = None
    if drivable is not None:
        set_total, set_count = set_label_loss(logits, target, drivable)
    target = torch.where((target == ANY_DRIVABLE) | (target == ANY_NOT_DRIVABLE), IGNORE_INDEX, target)
    total = F.cross_entropy(logits, target, weight=weight, ignore_index=IGNORE_INDEX, reduction="sum")
    valid = target != IGNORE_INDEX
    if weight is None:
        denom = valid.sum().to(total.dtype)
    else:
        # Indexing with the ignore label mapped to an extra zero weight: no boolean mask, no host sync.
        extended = torch.cat((weight.to(total.dtype), weight.new_zeros(1, dtype=total.dtype)))
        denom = extended[torch.where(valid, target, weight.numel())].sum()
    if set_total is not None and set_count is not None:
        total = total + set_total
        denom = denom + set_count.to(denom.dtype)
    stats = torch.stack((total.detach(), denom.detach()))
    if distributed:
        dist.all_reduce(stats)
    norm = stats[1].clamp_min(1e-12)
    return total * (world_size / norm), stats[0] / norm


def set_label_loss(logits: Tensor, target: Tensor, drivable: Tensor) -> tuple[Tensor, Tensor]:
    """Summed -log P(set) over the pixels labelled ANY_DRIVABLE / ANY_NOT_DRIVABLE, and their count.

    P(set) is the soft-max probability summed over the set's classes (log-sum-exp of their logits
    less that of all logits), so the network learns "one of these" without being told which.
    """
    log_all = torch.logsumexp(logits, dim=1)
    mask = drivable.view(1, -1, 1, 1)
    very_negative = torch.finfo(logits.dtype).min  # not -inf: a gradient through it stays finite
    log_drivable = torch.logsumexp(logits.masked_fill(~mask, very_negative), dim=1) - log_all
    log_other = torch.logsumexp(logits.masked_fill(mask, very_negative), dim=1) - log_all
    is_drivable, is_other = target == ANY_DRIVABLE, target == ANY_NOT_DRIVABLE
    zero = logits.new_zeros(())
    total = -(torch.where(is_drivable, log_drivable, zero) + torch.where(is_other, log_other, zero)).sum()
    return total, (is_drivable | is_other).sum()


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
    loader: DataLoader[tuple[Tensor, Tensor]],
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
    drivable: Tensor | None = None,
    frozen: Sequence[nn.Module] = (),
    channels_last: bool = False,
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
        drivable: K bools, the drivable classes: train on the set labels too (`segmentation_loss`).
        frozen: modules kept in eval mode (`--freeze-encoder`'s encoder: its batch norm uses and
            keeps its running statistics).
        channels_last: hand the images over in NHWC memory format (`--channels-last`).

    Raises:
        TrainingError: the loss is not finite (checked at each progress line and at the end).

    """
    model.train()
    if freeze_bn:
        _freeze_batch_norm(model)
    for module in frozen:
        module.eval()
    distributed = world_size > 1
    losses: list[Tensor] = []
    start = window_start = time.perf_counter()
    window_images = images_seen = 0
    n = len(loader)
    width = len(str(n))
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    for i, (images, targets) in enumerate(loader):
        images = images.to(device, non_blocking=True, memory_format=memory_format)
        targets = targets.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            logits = model(images)
        loss, value = segmentation_loss(
            logits.float(), targets, class_weights, distributed=distributed, world_size=world_size, drivable=drivable
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


@torch.inference_mode()
def evaluate(
    model: nn.Module,
    loader: DataLoader[tuple[Tensor, Tensor]],
    device: torch.device,
    num_classes: int,
    *,
    amp_dtype: torch.dtype | None = None,
    distributed: bool = False,
    channels_last: bool = False,
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
        channels_last: hand the images over in NHWC memory format (`--channels-last`).

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
        memory_format = torch.channels_last if channels_last else torch.contiguous_format
        for images, labels in loader:
            images = images.to(device, non_blocking=True, memory_format=memory_format)
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
