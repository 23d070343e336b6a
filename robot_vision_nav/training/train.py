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
- Fine-tuning (`training.finetune`): `--init MODEL.safetensors` starts from an exported model
  checked against the run, `--freeze-encoder` trains the decoder alone, `--mix-data DIR
  --mix-fraction F` adds a second image folder's samples to every epoch
  (`datasets.mixing`); the checkpoint, and so the exported card, records the parent model.

The parts live beside this module: `distributed` (torchrun, devices, samplers), `prepare` (model,
class weights, loaders, resuming), `optim` (optimiser, schedule), `loop` (`train_one_epoch`,
`evaluate`, the loss) and `logs` (train.log, metrics.csv, TensorBoard).

Must never import ROS.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NotRequired, TypedDict

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor

from robot_vision_nav.core.segmentation.inference import IMAGENET_MEAN, IMAGENET_STD, SegmenterError
from robot_vision_nav.core.segmentation.labels import LabelError
from robot_vision_nav.core.segmentation.metrics import MetricsError
from robot_vision_nav.core.segmentation.model import ModelError, variant
from robot_vision_nav.training.checkpoint import (
    CHECKPOINT_FORMAT,
    LOG,
    TrainingError,
    load_training_checkpoint,
    rng_state,
    save_checkpoint,
)
from robot_vision_nav.training.datasets import DatasetError, SegmentationDataset, open_training_data
from robot_vision_nav.training.datasets.mixing import open_mix
from robot_vision_nav.training.distributed import (
    Distributed,
    distributed_from_env,
    join_process_group,
    select_device,
)
from robot_vision_nav.training.finetune import (
    Parent,
    check_finetune_options,
    check_resume_finetune,
    frozen_modules,
    load_parent,
)
from robot_vision_nav.training.logs import (
    METRICS_CSV,
    SCORE_FIELDS,
    TensorBoard,
    append_csv,
    csv_fields,
    logging_to,
    trim_csv,
)
from robot_vision_nav.training.loop import evaluate, train_one_epoch
from robot_vision_nav.training.optim import build_optimizer, lr_factor
from robot_vision_nav.training.options import (
    DEFAULT_INPUT_SIZE,
    args_to_dict,
    build_train_parser,
    canonical_command,
    recorded_options,
)
from robot_vision_nav.training.prepare import (
    Checkpoint,
    Progress,
    check_resume,
    class_weights_for,
    loaders,
    prepare_model,
    restore,
)
from robot_vision_nav.training.transforms import TransformError

__all__ = ["TrainingError", "distributed_from_env", "evaluate", "main", "run", "summary_json", "train_one_epoch"]

CHECKPOINT = "checkpoint.pth"
BEST = "model_best.pth"


class TrainSummary(TypedDict):
    """What `main` returns (see there)."""

    output_dir: str
    epochs: int
    iterations: int
    best_miou: float | None
    metrics: dict[str, Any]  # Progress.scores: core's SegmentationScores.to_dict() is dict[str, Any]
    train_time_s: float
    checkpoint: str
    best: str
    command: str
    history: list[dict[str, float | list[float] | None]]
    parent: NotRequired[dict[str, Any]]  # fine-tuned runs only: `finetune.parent_record` (plain data)


def _one_line(err: BaseException) -> str:
    """An error's message on one line; a DataLoader worker's re-raised one as its original last line."""
    text = str(err).strip()
    if "Original Traceback" in text:
        last = [line for line in text.splitlines() if line.strip()][-1].strip()
        return last.split(": ", 1)[1] if ": " in last and last.split(": ", 1)[0].endswith("Error") else last
    return " ".join(text.splitlines())


def _contiguous(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """A state dict in the default memory format (a --channels-last run's tensors are NHWC)."""
    return {k: v.contiguous() for k, v in state.items()}


def _command_program(where: Distributed, program: Sequence[str] | None) -> tuple[str, ...]:
    """How the canonical command starts: torchrun ... -m ..., `program` (rvn train), or python -m ...."""
    module = "robot_vision_nav.training.train"
    if where.enabled:
        local = int(os.environ.get("LOCAL_WORLD_SIZE", str(where.world_size)))
        nodes = max(1, where.world_size // max(1, local))
        return ("torchrun", *(("--nnodes", str(nodes)) if nodes > 1 else ()), "--nproc-per-node", str(local), "-m",
                module)  # fmt: skip
    return tuple(program) if program else ("python", "-m", module)


def main(args: argparse.Namespace) -> TrainSummary:
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
    with logging_to(output_dir if where.main else None, where.rank):
        try:
            device = select_device(args.device, where)
            if where.enabled:
                join_process_group(where, device)
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


def _train(args: argparse.Namespace, where: Distributed, device: torch.device) -> TrainSummary:
    output_dir = Path(args.output_dir)
    if args.scale_range[0] > args.scale_range[1]:
        raise TrainingError(f"--scale-range {args.scale_range[0]:g} {args.scale_range[1]:g}: expected MIN <= MAX")
    if not args.resume and (output_dir / CHECKPOINT).exists():
        raise TrainingError(
            f"--output-dir {str(output_dir)!r} already holds a {CHECKPOINT}: --resume it, or choose another folder"
        )
    check_finetune_options(args)
    input_size = tuple(args.input_size or DEFAULT_INPUT_SIZE[args.dataset])
    args.input_size = list(input_size)
    if args.crop_size is not None and not (args.crop_size[0] <= input_size[0] and args.crop_size[1] <= input_size[1]):
        raise TrainingError(
            f"--crop-size {args.crop_size[0]} {args.crop_size[1]} is larger than the input size "
            f"{input_size[0]} {input_size[1]} (H W): a crop is part of an input-size frame"
        )
    argv = list(getattr(args, "argv", None) or sys.argv)
    given = {k: v for k, v in args_to_dict(args).items() if k not in ("argv", "program")}
    options = recorded_options(given)
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
    description = data.description
    mix: SegmentationDataset | None = None
    mix_count = 0
    if args.mix_data is not None:
        label_set = "warehouse" if args.dataset == "synthetic" else args.label_set  # as the dataset's folders
        mix, mix_count, described = open_mix(args.mix_data, label_set, len(data.train), args.mix_fraction, args.limit)
        description = {**description, "mix": described}

    ckpt = load_training_checkpoint(args.resume) if args.resume else None
    config = variant(args.model, k)
    parent: Parent | None = None
    if ckpt is not None:
        check_resume(ckpt, str(args.resume), config, labels, args)
        check_resume_finetune(ckpt, str(args.resume), args)
    elif args.init:
        parent = load_parent(args.init, config, args.model, labels, IMAGENET_MEAN, IMAGENET_STD)
        LOG.info("init: %s (%s, sha256 %s)", args.init, parent.card.architecture.name, parent.record["sha256"])
        if (parent.card.input_height, parent.card.input_width) != input_size:
            LOG.info("init: the model was trained at %dx%d px, this run trains at %dx%d px",
                     parent.card.input_width, parent.card.input_height, input_size[1], input_size[0])  # fmt: skip
    args.input_dither = input_dither(args, parent, ckpt)
    if args.input_dither:
        LOG.info("input dither: %g 8-bit levels (the card's normalization.dither; validation adds it)",
                 args.input_dither)  # fmt: skip
    # What the checkpoint records of the model this run started from (a resumed run keeps its own).
    lineage = parent.record if parent is not None else (ckpt or {}).get("parent")
    model, bare = prepare_model(args, config, ckpt, where, device, None if parent is None else parent.state)
    frozen = frozen_modules(bare, args.freeze_encoder)
    weights = class_weights_for(args, data, ckpt, where, device, mix, mix_count)
    class_weights = None if weights is None else torch.tensor(weights, dtype=torch.float32, device=device)
    train_loader, sampler, val_loader = loaders(args, data, input_size, where, cuda, mix)
    # An image folder may hold `rvn autolabel`'s set labels; the other datasets hold class ids only.
    lut = labels.drivable_lut()[:k]
    folders = args.dataset == "folder" or mix is not None
    set_labels = torch.tensor(lut, device=device) if folders and 0 < lut.sum() < k else None

    optimizer = build_optimizer(model, args)
    total_iters = args.epochs * len(train_loader)
    warmup = min(args.warmup_iters, total_iters)

    def factor(step: int) -> float:
        return lr_factor(step, total_iters, warmup, args.schedule)

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    run = Progress()
    if ckpt is not None:
        run = restore(ckpt, str(args.resume), optimizer, scheduler, scaler)
        LOG.info("resumed from %s: %d epoch(s), %d iteration(s) done", args.resume, run.epoch, run.iteration)
        if where.main:
            trim_csv(output_dir / METRICS_CSV, run.epoch)
        if run.epoch >= args.epochs:
            LOG.info("nothing to do: the checkpoint has %d epoch(s), --epochs is %d", run.epoch, args.epochs)

    fields = csv_fields(labels.names)
    board = TensorBoard(args.tensorboard and where.main, output_dir)
    history: list[dict[str, float | list[float] | None]] = []
    try:
        for epoch in range(run.epoch, args.epochs):
            sampler.set_epoch(epoch)
            stats = train_one_epoch(
                model, train_loader, optimizer, scheduler, scaler, device, epoch, epochs=args.epochs,
                class_weights=class_weights, amp_dtype=amp_dtype, freeze_bn=args.freeze_bn,
                print_freq=args.print_freq, world_size=where.world_size, drivable=set_labels, frozen=frozen,
                channels_last=args.channels_last,
            )  # fmt: skip
            eval_start = time.perf_counter()
            matrix = evaluate(bare, val_loader, device, k, amp_dtype=amp_dtype, distributed=where.enabled,
                              channels_last=args.channels_last)  # fmt: skip
            seconds = stats.time_s + time.perf_counter() - eval_start
            scores = matrix.scores(labels.names, labels.drivable_lut())
            miou = scores.miou if math.isfinite(scores.miou) else -math.inf
            improved = miou > run.best_miou
            run = Progress(
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
            row: dict[str, float | None] = {
                "epoch": epoch + 1, "iteration": run.iteration, "lr": stats.lr, "train_loss": stats.mean_loss,
                "train_images_per_s": round(speed, 2), "epoch_time_s": round(seconds, 3),
                **{f"val_{f}": run.scores[f] for f in SCORE_FIELDS},
                **{f"iou_{n}": v for n, v in run.scores["iou"].items()},
            }  # fmt: skip
            if where.main:
                state = {
                    "format": CHECKPOINT_FORMAT, "model": _contiguous(bare.state_dict()),
                    "optimizer": optimizer.state_dict(),
                    "lr_scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(), "epoch": run.epoch,
                    "iteration": run.iteration, "args": options, "argv": argv, "command": command,
                    "architecture": config.to_dict(), "labels": labels.to_dict(), "input_size": list(input_size),
                    "normalization": {"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD),
                                      **({"dither": args.input_dither} if args.input_dither else {})},
                    "class_weights": weights, "data": description, "metrics": run.scores,
                    "best_miou": run.best, "train_time_s": run.train_time_s, "world_size": where.world_size,
                    "rng": rng_state(),
                    "versions": {"torch": str(torch.__version__), "torchvision": _torchvision_version()},
                }  # fmt: skip
                if lineage is not None:
                    state["parent"] = lineage
                save_checkpoint(state, output_dir / CHECKPOINT)
                if improved:
                    save_checkpoint(state, output_dir / BEST)
                append_csv(output_dir / METRICS_CSV, row, fields)
                board.epoch(epoch + 1, {"train/loss": stats.mean_loss, "train/lr": stats.lr,
                                        **{f"val/{f}": run.scores[f] for f in SCORE_FIELDS}})  # fmt: skip
            history.append({**row, "losses": stats.losses})
    finally:
        board.close()
    summary: TrainSummary = {
        "output_dir": str(output_dir), "epochs": args.epochs, "iterations": run.iteration, "best_miou": run.best,
        "metrics": run.scores, "train_time_s": round(run.train_time_s, 3), "checkpoint": str(output_dir / CHECKPOINT),
        "best": str(output_dir / BEST), "command": command, "history": history,
    }  # fmt: skip
    if lineage is not None:
        summary["parent"] = lineage
    return summary


def _torchvision_version() -> str:
    try:
        import torchvision
    except ImportError:
        return "not installed"
    return str(torchvision.__version__)


def summary_json(summary: TrainSummary) -> str:
    """The run's summary as one JSON line, without the per-iteration losses."""
    compact = {**summary, "history": [{k: v for k, v in h.items() if k != "losses"} for h in summary["history"]]}
    return json.dumps(compact)


def input_dither(args: argparse.Namespace, parent: Parent | None, ckpt: Checkpoint | None) -> float:
    """The model's input dither: --input-dither, else a resumed checkpoint's, else the --init model's, else 0."""
    if args.input_dither is not None:
        return float(args.input_dither)
    if ckpt is not None:
        return float((ckpt.get("normalization") or {}).get("dither", 0.0))
    return parent.card.dither if parent is not None else 0.0


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
