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
    parent = summary.get("parent")
    origin = "" if parent is None else f"; fine-tuned from {parent['file']} (sha256 {str(parent['sha256'])[:12]}...)"
    print(f"trained to epoch {summary['epochs']} ({summary['iterations']} iterations, "
          f"{summary['train_time_s']:.1f} s); best val mIoU {'n/a' if best is None else f'{100 * best:.2f} %'}; "
          f"{summary['checkpoint']}{origin}")  # fmt: skip
    return 0


def _autolabel(args: argparse.Namespace) -> int:
    import json

    from robot_vision_nav.core.segmentation.labels import LabelError
    from robot_vision_nav.package_files import load_label_set
    from robot_vision_nav.training.autolabel import autolabel_folder
    from robot_vision_nav.training.autolabel_config import CLI_HELP, AutolabelConfig, AutolabelError
    from robot_vision_nav.training.frame_folder import FrameFolderError

    folder = Path(args.folder)
    if not folder.is_dir():
        raise CliError(f"frames folder {str(folder)!r} not found (write one with `rvn bag frames BAG --out DIR`)")
    try:
        label_set = load_label_set(args.label_set)
        config = AutolabelConfig(**{field: getattr(args, field) for field in CLI_HELP})
        summary = autolabel_folder(folder, config, label_set, replace=args.replace)
    except (AutolabelError, FrameFolderError, LabelError) as err:
        raise CliError(str(err)) from err
    if args.json:
        print(json.dumps(summary.as_dict()))
        return 0
    lab = summary.labelled
    print(f"{folder}: labelled {summary.frames} frames ({summary.human_frames} with human labels, floor plane fitted "
          f"in {summary.floor_fits}); pixels drivable {100 * (lab['drivable_fraction'] or 0):.1f} %, not drivable "
          f"{100 * (lab['not_drivable_fraction'] or 0):.1f} %, labelled {100 * (lab['labelled_fraction'] or 0):.1f} %"
          )  # fmt: skip
    if summary.truth is not None:
        t = summary.truth

        def pct(v: float | int | None) -> str:
            return "n/a" if v is None else f"{100 * v:.2f} %"

        print(f"against truth/: drivable precision {pct(t['drivable_precision'])}, not-drivable precision "
              f"{pct(t['not_drivable_precision'])}, labelled {pct(t['labelled_fraction'])} of the pixels")  # fmt: skip
    print(f"wrote {folder / 'labels'} and {folder / 'autolabel.json'}")
    return 0


def register(sub: Subparsers) -> None:
    """Add `rvn train` and `rvn autolabel` to `sub`."""
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
                   '"metrics", "train_time_s" (s), "checkpoint", "best", "command", "history"}, and "parent" '
                   '(file, sha256, architecture, command) after --init')  # fmt: skip
    p.set_defaults(handler=_train)

    p = sub.add_parser(
        "autolabel",
        help="traversability labels for a frames folder from depth and where the robot drove, no person needed",
        description="Label every frame of a frames folder (`rvn bag frames`): floor-height pixels under the robot's "
        "footprint swept along the odometry trajectory are 253 (any drivable class), pixels at obstacle height or "
        "below a drop are 254 (any other class), the rest 255 (ignored: floor the robot never drove, paint such as "
        "keep-out zones, no depth). Labels in FOLDER/human/NAME.png (train ids, 255 unlabelled; `rvn labels import "
        "--out FOLDER/human`) win where they label. Writes FOLDER/labels/ (all or nothing) and FOLDER/autolabel.json; "
        "with FOLDER/truth/ (a simulator bag recorded with --ground-truth) also the precision of each label and the "
        "fraction labelled. Lengths in m.",
    )
    p.add_argument("folder", metavar="FOLDER", help="a frames folder written by `rvn bag frames`")
    p.add_argument("--label-set", default="warehouse", metavar="NAME|FILE",
                   help="the classes of human/ and truth/ (default warehouse)")  # fmt: skip
    from robot_vision_nav.training.autolabel_config import CLI_HELP, AutolabelConfig

    for field in CLI_HELP:
        default = getattr(AutolabelConfig, field)
        p.add_argument(f"--{field.removesuffix('_m').replace('_', '-')}", dest=field, type=float, default=default,
                       metavar="M", help=f"{CLI_HELP[field]} (m, default {default:g})")  # fmt: skip
    p.add_argument("--replace", action="store_true", help="replace an existing FOLDER/labels/")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(handler=_autolabel)
