"""`rvn train`: the training entry point (robot_vision_nav.training.train) with a one-line summary.

torch loads inside the handler; this module must never import ROS at module level.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from robot_vision_nav.cli.common import CliError

if TYPE_CHECKING:
    from robot_vision_nav.cli.common import Subparsers


def _train(args: argparse.Namespace) -> int:
    from robot_vision_nav.training.checkpoint import TrainingError
    from robot_vision_nav.training.train import distributed_from_env, main, summary_json

    args.program = ("rvn", "train")
    args.argv = ["rvn", *sys.argv[1:]] if Path(sys.argv[0]).name == "rvn" else None
    try:
        summary = main(args)
    except TrainingError as err:
        raise CliError(str(err)) from err
    if args.json:
        if distributed_from_env().main:
            print(summary_json(summary))
        return 0
    best = summary["best_miou"]
    print(f"trained to epoch {summary['epochs']} ({summary['iterations']} iterations, "
          f"{summary['train_time_s']:.1f} s); best val mIoU {'n/a' if best is None else f'{100 * best:.2f} %'}; "
          f"{summary['checkpoint']}")  # fmt: skip
    return 0


def register(sub: Subparsers) -> None:
    """Add `rvn train` to `sub`."""
    from robot_vision_nav.training.options import add_train_arguments

    p = sub.add_parser(
        "train",
        help="train a SegNet (CamVid, Cityscapes, synthetic warehouse, image folder); torchrun for several GPUs",
        description="Train a SegNet variant with SGD (or AdamW), poly or cosine decay per iteration, median-frequency "
        "class weights and cross-entropy ignoring 255; evaluate on the validation split every epoch (global and "
        "class accuracy, mIoU, per-class IoU); write checkpoint.pth (every epoch), model_best.pth (best mIoU), "
        "metrics.csv and train.log into --output-dir. Sizes in px, times in s. For several GPUs: torchrun "
        "--nproc-per-node N -m robot_vision_nav.training.train ... (the same options). `rvn export --checkpoint` "
        "turns a checkpoint into a model file.",
    )
    add_train_arguments(p)
    p.add_argument("--json", action="store_true",
                   help='print one JSON object at the end {"output_dir", "epochs", "iterations", "best_miou", '
                   '"metrics", "train_time_s" (s), "checkpoint", "best", "command", "history"}')  # fmt: skip
    p.set_defaults(handler=_train)
