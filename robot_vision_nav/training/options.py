"""The training command's options, shared by `rvn train` and `python -m robot_vision_nav.training.train`.

Kept free of torch (and of everything heavy) so that `rvn --help` stays quick: the parser is built
here, the work happens in `training.train`. `canonical_command` writes the parsed options back as
one command with every value explicit, which is what a model card records as "the exact training
command" (the raw `sys.argv` is kept beside it). Must never import ROS.
"""

from __future__ import annotations

import argparse
import math
import shlex
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

# core.segmentation.model.VARIANTS, repeated so `rvn --help` needs no torch (a test ties them).
MODEL_VARIANTS = (
    "segnet", "segnet_basic", "segnet_small", "segnet_small_ctx", "segnet_tiny", "segnet_resnet18", "segnet_resnet50",
)  # fmt: skip
TRAIN_DATASETS = ("camvid", "cityscapes", "synthetic", "folder")
OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("poly", "cosine")
# The network's input size (H, W) when --input-size is not given: CamVid as in the SegNet paper,
# Cityscapes at half resolution, the warehouse at the robot camera's 320x240.
DEFAULT_INPUT_SIZE = {"camvid": (360, 480), "cityscapes": (512, 1024), "synthetic": (240, 320), "folder": (240, 320)}
# Options that are not part of what a run computes: left out of the canonical command.
NOT_IN_COMMAND = frozenset({"handler", "command", "argv", "program", "json"})
# The appearance augmentations: None (off) unless given; `--appearance` gives those not given these values.
APPEARANCE_OPTIONS = ("exposure", "gamma", "noise", "blur")
APPEARANCE_PRESET = {"exposure": 2.0, "gamma": 1.25, "noise": 6.0, "blur": 0.3}
# Options recorded only when given (their value when not given): a run without them records, and
# so its canonical command reads, what it did before they existed.
UNRECORDED_DEFAULTS: dict[str, Any] = {
    "init": None, "freeze_encoder": False, "mix_data": None, "mix_fraction": None,  # fine-tuning
    **dict.fromkeys(APPEARANCE_OPTIONS),
}  # fmt: skip


def _number(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number {what}, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number {what}, got {text!r}")
    return value


def float_in(
    lo: float, hi: float, unit: str, *, lo_open: bool = False, hi_open: bool = False
) -> Callable[[str], float]:
    """An argparse type: a finite number in [lo, hi] (`lo_open` / `hi_open` leave an end out)."""
    bracket = "(" if lo_open else "["
    closing = ")" if hi_open else "]"

    def parse(text: str) -> float:
        value = _number(text, f"in {bracket}{lo:g}, {hi:g}{closing} ({unit})")
        if value < lo or value > hi or (lo_open and value == lo) or (hi_open and value == hi):
            raise argparse.ArgumentTypeError(f"must be in {bracket}{lo:g}, {hi:g}{closing} ({unit}), got {text!r}")
        return value

    return parse


def int_in(lo: int, hi: int, unit: str) -> Callable[[str], int]:
    """An argparse type: a whole number in lo..hi."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number in {lo}..{hi} ({unit}), got {text!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"must be in {lo}..{hi} ({unit}), got {value}")
        return value

    return parse


class AppearancePreset(argparse.Action):
    """`--appearance`: set each appearance option not given on the command line to its preset value.

    It stores nothing itself, so the recorded options (and the canonical command) hold the values.
    """

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        """Fill in the preset (argparse calls this where `--appearance` stands)."""
        for key, value in APPEARANCE_PRESET.items():
            if getattr(namespace, key, None) is None:
                setattr(namespace, key, value)


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    """Add every training option to `p` (the same for `rvn train` and `python -m ...train`)."""
    g = p.add_argument_group("model and data")
    g.add_argument("--model", default="segnet", choices=MODEL_VARIANTS, help="SegNet variant (default segnet)")
    g.add_argument("--dataset", required=True, choices=TRAIN_DATASETS,
                   help="camvid: SegNet tutorial layout (train/, trainannot/, val/, valannot/); cityscapes: "
                   "leftImg8bit/ and gtFine/ (train, val); synthetic: warehouse frames rendered from --data-seed "
                   "into memory, or --data-root with images/ and labels/ (what `rvn sim-dataset` writes); folder: "
                   "--data-root with train/ and val/ each holding images/ and labels/, or images/ and labels/ "
                   "split by --val-fraction")  # fmt: skip
    g.add_argument("--data-root", metavar="DIR", help="the dataset's folder (optional for synthetic)")
    g.add_argument(
        "--label-set",
        default="warehouse",
        metavar="NAME",
        help="label set of a folder dataset (config/labels/NAME.yaml or a path; default warehouse)",
    )
    g.add_argument(
        "--val-fraction",
        type=float_in(0.0, 0.5, "fraction of images", lo_open=True),
        default=0.1,
        metavar="F",
        help="folder datasets without train/ and val/: the last F of the images, in file "
        "name order, are the validation split (default 0.1; `rvn sim-dataset` names sort by scene)",
    )
    g.add_argument("--synthetic-frames", type=int_in(1, 10**6, "frames"), default=200, metavar="N",
                   help="generated synthetic training frames (default 200; a tenth as many validation frames "
                   "from a separate range of the same seed)")  # fmt: skip
    g.add_argument(
        "--data-seed",
        type=int_in(0, 2**31 - 1, "seed"),
        default=0,
        metavar="S",
        help="seed of the generated synthetic frames (default 0)",
    )
    g.add_argument("--input-size", type=int_in(8, 8192, "px"), nargs=2, metavar=("H", "W"),
                   help="network input height and width (px): the training crop and the model card's input size "
                   "(default: camvid 360 480, cityscapes 512 1024, synthetic and folder 240 320)")  # fmt: skip
    g.add_argument("--crop-size", type=int_in(8, 8192, "px"), nargs=2, metavar=("H", "W"),
                   help="train on random H x W crops of each rescaled frame instead of the whole input size "
                   "(at most --input-size; the scales stay the engine's, each sample costs H*W pixels; "
                   "default: the input size)")  # fmt: skip
    g.add_argument("--encoder-weights", metavar="FILE",
                   help="local ImageNet weights for the encoder (torchvision's vgg16_bn-*.pth / resnet*-*.pth "
                   "or .safetensors); never downloaded")  # fmt: skip
    g.add_argument("--init", metavar="MODEL", help="fine-tune: start from an exported model (MODEL.safetensors with "
                   "its MODEL.card.yaml, e.g. models/segnet_warehouse.safetensors or an `rvn export` output); its "
                   "architecture, classes and normalisation must match the run's")  # fmt: skip
    g.add_argument("--freeze-encoder", action="store_true",
                   help="the encoder's weights and batch norm statistics stay as initialised (--init or "
                   "--encoder-weights); only the decoder and classifier train")  # fmt: skip
    g.add_argument("--mix-data", metavar="DIR",
                   help="a second image folder (images/ and labels/ in the same label set, or its train/ split; "
                   "e.g. `rvn sim-dataset` frames) mixed into every training epoch; validation stays on "
                   "--data-root")  # fmt: skip
    g.add_argument("--mix-fraction", type=float_in(0.0, 1.0, "fraction of each epoch", lo_open=True, hi_open=True),
                   metavar="F", help="with --mix-data: its share of each training epoch; an epoch is the training "
                   "split plus F/(1-F) times as many --mix-data samples, drawn afresh each epoch (with replacement "
                   "only where --mix-data holds fewer)")  # fmt: skip
    g.add_argument(
        "--limit",
        type=int_in(1, 10**9, "images"),
        metavar="N",
        help="use only the first N images of each split (tiny runs)",
    )

    g = p.add_argument_group("optimisation")
    g.add_argument(
        "--epochs",
        type=int_in(1, 100000, "epochs"),
        default=30,
        metavar="N",
        help="epochs to train to (default 30; with --resume the total, not the number added)",
    )
    g.add_argument(
        "--batch-size",
        type=int_in(1, 4096, "images per process"),
        default=8,
        metavar="N",
        help="images per batch on each process (per GPU under torchrun; default 8)",
    )
    g.add_argument(
        "--optimizer",
        default="sgd",
        choices=OPTIMIZERS,
        help="sgd: SGD with momentum, as SegNet was trained (default); adamw",
    )
    g.add_argument(
        "--lr",
        type=float_in(0.0, 10.0, "learning rate", lo_open=True),
        default=0.01,
        metavar="LR",
        help="peak learning rate (default 0.01)",
    )
    g.add_argument(
        "--momentum",
        type=float_in(0.0, 0.999, "SGD momentum"),
        default=0.9,
        metavar="M",
        help="SGD momentum (default 0.9; AdamW uses betas 0.9, 0.999)",
    )
    g.add_argument(
        "--weight-decay",
        type=float_in(0.0, 1.0, "per step"),
        default=5e-4,
        metavar="WD",
        help="weight decay on convolution weights (not on biases and batch norm; default 5e-4)",
    )
    g.add_argument(
        "--schedule",
        default="poly",
        choices=SCHEDULES,
        help="learning rate decay per iteration after warm-up: poly (1 - t)^0.9 (default), cosine",
    )
    g.add_argument(
        "--warmup-iters",
        type=int_in(0, 10**8, "iterations"),
        default=0,
        metavar="N",
        help="linear warm-up from 1%% of --lr over the first N iterations (default 0)",
    )
    g.add_argument(
        "--no-class-weights",
        dest="class_weights",
        action="store_false",
        help="plain cross-entropy (default: median frequency balancing, weights from the training labels)",
    )
    g.add_argument("--class-weight-power", type=float_in(0.0, 2.0, "exponent"), default=1.0, metavar="P",
                   help="median frequency weights raised to P: 1 as in the SegNet paper (default), 0.5 softens "
                   "them (rare classes still count more, the floor less down-weighted), 0 is plain "
                   "cross-entropy")  # fmt: skip
    g.add_argument("--scale-range", type=float_in(0.05, 8.0, "x input size"), nargs=2, default=(0.5, 2.0),
                   metavar=("MIN", "MAX"), help="random rescale of each image to a factor of the input size before "
                   "the crop (default 0.5 2.0)")  # fmt: skip
    g.add_argument("--jitter", type=float_in(0.0, 0.9, "relative"), default=0.2, metavar="J",
                   help="colour jitter on the image only: brightness, contrast and saturation each scaled by a "
                   "factor in [1 - J, 1 + J] (default 0.2; 0 turns it off)")  # fmt: skip
    g.add_argument("--no-flip", dest="flip", action="store_false", help="no random horizontal flips")
    g.add_argument("--exposure", type=float_in(1.0, 16.0, "max gain"), metavar="F",
                   help="appearance: exposure on the image only, linear intensity (sRGB decoded) times a "
                   "log-uniform gain in [1/F, F], clipped at white (default off)")  # fmt: skip
    g.add_argument("--gamma", type=float_in(1.0, 4.0, "max power"), metavar="G",
                   help="appearance: the image's values in 0..1 raised to a log-uniform power in [1/G, G], after "
                   "--exposure and before --jitter (default off)")  # fmt: skip
    g.add_argument("--noise", type=float_in(0.0, 64.0, "0..255 units"), metavar="S",
                   help="appearance: additive Gaussian noise on the image, last, of a standard deviation drawn "
                   "uniformly in [0, S] (0..255 units; signal-independent; default off)")  # fmt: skip
    g.add_argument("--blur", type=float_in(0.0, 1.0, "probability"), metavar="P",
                   help="appearance: with probability P a blur of the image, Gaussian (sigma 0.5..1.5 px) or "
                   "motion (3..9 px long, any angle) at equal odds, before --noise (default off)")  # fmt: skip
    g.add_argument("--flatten", type=float_in(0.0, 1.0, "probability"), metavar="P",
                   help="appearance: with probability P the image's fine texture is smoothed away, edges kept "
                   "(bilateral filter), after --blur and before --noise: a network that must not tell floor "
                   "from flat paint by texture alone (default off)")  # fmt: skip
    g.add_argument("--input-dither", type=float_in(0.0, 8.0, "8-bit levels"), metavar="S",
                   help="the model's input dither: a fixed noise pattern of S 8-bit levels the engine adds to every "
                   "input (breaks SegNet's max-pooling ties on perfectly flat patches); validation here adds it, the "
                   "checkpoint records it and `rvn export` writes it into the card (default: the --init model's, "
                   "else none)")  # fmt: skip
    g.add_argument("--appearance", action=AppearancePreset, nargs=0, default=argparse.SUPPRESS,
                   help="appearance randomisation preset: each of --exposure 2 --gamma 1.25 --noise 6 --blur 0.3 "
                   "not given otherwise")  # fmt: skip
    g.add_argument("--freeze-bn", action="store_true",
                   help="batch norm keeps (and uses) its running statistics; its scale and shift still train "
                   "(small per-process batches, fine-tuning)")  # fmt: skip
    g.add_argument(
        "--no-sync-bn",
        dest="sync_bn",
        action="store_false",
        help="under torchrun on CUDA: per-GPU batch norm statistics (default: SyncBatchNorm)",
    )

    g = p.add_argument_group("run")
    g.add_argument(
        "--output-dir",
        default="runs/train",
        metavar="DIR",
        help="checkpoint.pth, model_best.pth, metrics.csv and train.log go here (default runs/train)",
    )
    g.add_argument("--resume", metavar="CKPT", help="continue from a checkpoint.pth (exactly: same data order, "
                   "augmentation and optimiser state as an uninterrupted run)")  # fmt: skip
    g.add_argument(
        "--seed",
        type=int_in(0, 2**31 - 1, "seed"),
        default=0,
        metavar="S",
        help="seed of the initial weights, data order and augmentation (default 0)",
    )
    g.add_argument(
        "--device",
        default="auto",
        metavar="D",
        help="auto (CUDA when present; cuda:LOCAL_RANK under torchrun), cpu, cuda or cuda:N",
    )
    g.add_argument(
        "--amp",
        action="store_true",
        help="mixed precision: float16 autocast with a gradient scaler on CUDA, bfloat16 autocast on CPU",
    )
    g.add_argument(
        "--channels-last",
        action="store_true",
        help="NHWC memory format for the network and its inputs (faster convolutions with --amp on recent "
        "CPUs and tensor-core GPUs; the exported weights are the same)",
    )
    g.add_argument(
        "--workers",
        type=int_in(0, 256, "processes"),
        default=4,
        metavar="N",
        help="data loading processes per training process (default 4; 0 loads in the main process)",
    )
    g.add_argument(
        "--print-freq",
        type=int_in(1, 10**6, "iterations"),
        default=10,
        metavar="N",
        help="a progress line (loss, images/s) every N iterations (default 10)",
    )
    g.add_argument(
        "--deterministic",
        action="store_true",
        help="deterministic CUDA kernels (no cuDNN autotuning; slower); CPU runs are deterministic anyway",
    )
    g.add_argument(
        "--tensorboard",
        action="store_true",
        help="also log to TensorBoard in the output folder (needs the tensorboard package)",
    )


def build_train_parser(prog: str = "python -m robot_vision_nav.training.train") -> argparse.ArgumentParser:
    """The stand-alone training parser (torchrun starts this one)."""
    p = argparse.ArgumentParser(
        prog=prog,
        description="Train a SegNet on CamVid, Cityscapes, the synthetic warehouse or an image folder. Under torchrun "
        "(RANK, WORLD_SIZE, LOCAL_RANK set) it runs DistributedDataParallel; rank 0 alone writes.",
    )
    add_train_arguments(p)
    p.add_argument("--json", action="store_true", help="print one JSON object summarising the run at the end")
    return p


def plain(value: Any) -> Any:
    """`value` as plain data a `weights_only` checkpoint and a YAML card can hold (paths as strings)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    raise TypeError(f"{type(value).__name__} {value!r} is not plain data")


def args_to_dict(args: argparse.Namespace) -> dict[str, Any]:
    """The run's options as a dict of str/int/float/bool/list/None (no handler functions)."""
    return {k: plain(v) for k, v in sorted(vars(args).items()) if not callable(v)}


def recorded_options(options: dict[str, Any]) -> dict[str, Any]:
    """`options` without the fine-tuning and appearance options not given (UNRECORDED_DEFAULTS)."""
    return {k: v for k, v in options.items() if not (k in UNRECORDED_DEFAULTS and v == UNRECORDED_DEFAULTS[k])}


def canonical_command(options: dict[str, Any], program: Sequence[str] = ("rvn", "train")) -> str:
    """One shell command with every option of `options` explicit: it reproduces the run.

    Args:
        options: `args_to_dict` of a parsed training command.
        program: the words that start the command.

    """
    parser = build_train_parser()
    words = list(program)
    for action in parser._actions:  # argparse has no public list of its actions
        if not action.option_strings or action.dest in NOT_IN_COMMAND or action.dest not in options:
            continue
        value = options[action.dest]
        flag = action.option_strings[0]
        if isinstance(action, argparse._StoreTrueAction | argparse._StoreFalseAction):
            if bool(value) == bool(action.const):
                words.append(flag)
        elif value is None:
            continue
        elif isinstance(value, list | tuple):
            words += [flag, *(_word(v) for v in value)]
        else:
            words += [flag, _word(value)]
    return shlex.join(words)


def _word(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)
