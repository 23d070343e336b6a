"""`rvn segment`, `rvn eval` and `rvn export`: a model on one image, on a dataset, to ONNX or from a checkpoint.

torch, OpenCV and the datasets load inside the handlers, so `rvn --help` imports none of them; this module
must never import ROS at module level.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from robot_vision_nav.cli.common import CliError, check_out_path, float_in, int_in

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from robot_vision_nav.cli.common import Subparsers
    from robot_vision_nav.core.segmentation.inference import Segmenter
    from robot_vision_nav.core.segmentation.labels import LabelSet


def _load_segmenter(model: str, device: str, expected_labels: LabelSet | None = None) -> Segmenter:
    """A Segmenter for `model` on `device`; every failure a CliError naming the file or device."""
    from robot_vision_nav.core.segmentation.inference import Segmenter, SegmenterConfig, SegmenterError

    try:
        # One warm-up call, so a reported time is the steady one, not the first call's set-up (oneDNN primitive
        # creation on CPU, cuDNN's algorithm search on CUDA: hundreds of ms).
        return Segmenter.from_file(model, SegmenterConfig(device=device, warmup_iterations=1), expected_labels)
    except SegmenterError as err:
        raise CliError(str(err)) from err


def _read_rgb_image(path: Path) -> NDArray[np.uint8]:
    import cv2

    if not path.is_file():
        raise CliError(f"image file {str(path)!r} not found")
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise CliError(f"cannot read image {str(path)!r}: not an image OpenCV can decode")
    return cast("NDArray[np.uint8]", cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))  # IMREAD_COLOR decodes to 8 bits


def _segment(args: argparse.Namespace) -> int:
    import time

    import numpy as np

    from robot_vision_nav.core.segmentation.inference import SegmenterError
    from robot_vision_nav.core.visualize import overlay_labels
    from robot_vision_nav.files import encode_image, write_bytes_atomic

    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise CliError(f"argument --out: {str(out)!r} must be a .png (class ids need lossless 8-bit pixels)")
    check_out_path(out)
    overlay_path = Path(args.overlay) if args.overlay else None
    if overlay_path is not None:
        check_out_path(overlay_path, "--overlay")
    if not Path(args.model).is_file():
        raise CliError(f"argument --model: model file {args.model!r} not found")
    rgb = _read_rgb_image(Path(args.image))
    segmenter = _load_segmenter(args.model, args.device)
    start = time.perf_counter()
    try:
        result = segmenter.segment(rgb)
    except SegmenterError as err:
        raise CliError(f"{args.image}: {err}") from err
    time_ms = (time.perf_counter() - start) * 1e3
    labels = result.labels
    label_set = segmenter.labels
    files = [(out, encode_image(labels, ".png", rgb=False))]
    if overlay_path is not None:
        blend = overlay_labels(rgb, labels, label_set.palette(), 0.5)  # the node's overlay, half and half
        files.append((overlay_path, encode_image(blend, overlay_path.suffix)))
    for path, data in files:
        try:
            write_bytes_atomic(path, data)
        except OSError as err:
            raise CliError(f"cannot write {str(path)!r}: {err.strerror or err}") from err

    counts = np.bincount(labels.ravel(), minlength=label_set.num_classes)[: label_set.num_classes]
    classes = {name: int(n) for name, n in zip(label_set.names, counts, strict=True)}
    pixels = int(labels.size)
    drivable = float(counts[segmenter.drivable_lut[: label_set.num_classes]].sum()) / pixels
    traversable = float(np.count_nonzero(result.traversable)) / pixels
    if args.json:
        print(json.dumps({"classes": classes, "drivable_fraction": drivable, "traversable_fraction": traversable,
                          "time_ms": round(time_ms, 4), "size": [labels.shape[1], labels.shape[0]],
                          "out": str(out), "overlay": str(overlay_path) if overlay_path else None}))  # fmt: skip
    else:
        print(f"{args.image}: {labels.shape[1]}x{labels.shape[0]} px, {label_set.name} ({label_set.num_classes} "
              f"classes) on {segmenter.device}, {time_ms:.1f} ms")  # fmt: skip
        for name, n in sorted(classes.items(), key=lambda item: -item[1]):
            if n:
                print(f"  {name:<16} {n:>9} px  {100.0 * n / pixels:6.2f} %")
        print(f"drivable classes {100.0 * drivable:.2f} %, traversable (confidence > "
              f"{segmenter.config.confidence_threshold:g}) {100.0 * traversable:.2f} %")  # fmt: skip
        print(f"wrote {out}" + (f" and {overlay_path}" if overlay_path else ""))
    return 0


def _format_score(value: float | None) -> str:
    return "   n/a" if value is None else f"{100.0 * value:6.2f}"


def _eval(args: argparse.Namespace) -> int:
    from robot_vision_nav.training.datasets import SYNTHETIC_FRAMES, DatasetError, open_dataset
    from robot_vision_nav.training.evaluate import evaluate

    if args.dataset != "synthetic" and args.data_root is None:
        raise CliError(f"argument --data-root: dataset {args.dataset!r} needs its folder")
    if not Path(args.model).is_file():
        raise CliError(f"argument --model: model file {args.model!r} not found")
    frames = args.limit if args.limit is not None else SYNTHETIC_FRAMES
    try:
        dataset = open_dataset(
            args.dataset, args.data_root, args.split, frames=frames, seed=args.seed, labels_dir=args.labels_dir
        )
    except DatasetError as err:
        raise CliError(str(err)) from err
    segmenter = _load_segmenter(args.model, args.device, dataset.label_set)
    show_progress = sys.stderr.isatty() and not args.json

    def progress(done: int, total: int) -> None:
        print(f"\rrvn eval: {done}/{total} images", end="\n" if done == total else "", file=sys.stderr, flush=True)

    try:
        scores, images = evaluate(segmenter, dataset, args.limit, progress if show_progress else None)
    except DatasetError as err:
        raise CliError(str(err)) from err
    result = scores.to_dict()
    split = None if args.dataset == "synthetic" else args.split  # synthetic data has no splits
    result.update({"images": images, "dataset": args.dataset, "split": split, "model": args.model})
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{dataset.name}{f' {split}' if split else ''}: {images} images, {result['labelled_pixels']} labelled "
          f"pixels, model {args.model}")  # fmt: skip
    print(f"global accuracy  {_format_score(result['global_acc'])} %")
    print(f"class accuracy   {_format_score(result['class_acc'])} %")
    print(f"mIoU             {_format_score(result['miou'])} %")
    print(f"drivable IoU     {_format_score(result['drivable_iou'])} %")
    print("per-class IoU (%; n/a: class in neither ground truth nor prediction)")
    for name, value in result["iou"].items():
        print(f"  {name:<16} {_format_score(value)}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from robot_vision_nav.core.segmentation.export import ExportError, export_onnx
    from robot_vision_nav.core.segmentation.inference import SegmenterError, load_model

    if (args.height is None) != (args.width is None):
        raise CliError("arguments --height and --width go together (or leave both out for the card's size)")
    if args.checkpoint is not None:
        return _export_checkpoint(args)
    if args.model is None or args.onnx is None:
        raise CliError(
            "give --model M.safetensors --onnx OUT.onnx (a model to ONNX) or --checkpoint CKPT --out M.safetensors "
            "(a training checkpoint to a model)"
        )
    checkpoint_only = (("--out", args.out), ("--fp16", args.fp16 or None), ("--input-dither", args.input_dither))
    for flag, value in checkpoint_only:
        if value is not None:
            raise CliError(f"argument {flag} goes with --checkpoint (exporting a training checkpoint)")
    if not Path(args.model).is_file():
        raise CliError(f"argument --model: model file {args.model!r} not found")
    try:
        model, card = load_model(args.model)
    except SegmenterError as err:
        raise CliError(str(err)) from err
    height = args.height if args.height is not None else card.input_height
    width = args.width if args.width is not None else card.input_width
    try:
        result = export_onnx(model, card, args.onnx, height, width, opset=args.opset)
    except ExportError as err:
        raise CliError(str(err)) from err
    if args.json:
        print(json.dumps({"onnx": str(result.onnx_path), "card": str(result.card_path),
                          "card_written": result.card_written, "height": result.height, "width": result.width,
                          "opset": result.opset, "max_abs_diff": result.max_abs_diff}))  # fmt: skip
        return 0
    print(f"wrote {result.onnx_path} (input 1x3x{height}x{width} 'image', output 'logits', opset {result.opset})")
    if args.opset is not None and result.opset != args.opset:
        print(f"note: opset {args.opset} was asked for; torch's exporter wrote opset {result.opset}")
    print(f"card: {result.card_path}" + ("" if result.card_written else " (the source model's own, unchanged)"))
    if result.max_abs_diff is None:
        print("not verified: onnxruntime is not installed (pip install onnxruntime)")
    else:
        print(f"onnxruntime vs torch: max |logit difference| {result.max_abs_diff:.3g}")
    return 0


def _export_checkpoint(args: argparse.Namespace) -> int:
    """`rvn export --checkpoint CKPT --out M.safetensors [--fp16] [--onnx OUT.onnx]`."""
    if args.model is not None:
        raise CliError("arguments --model and --checkpoint exclude each other (export one or the other)")
    if args.out is None:
        raise CliError("argument --out: --checkpoint needs the model file to write, e.g. --out models/NAME.safetensors")
    out = Path(args.out)
    if out.suffix != ".safetensors":
        raise CliError(f"argument --out: {str(out)!r} must end in .safetensors")
    if not out.parent.is_dir():
        raise CliError(f"argument --out: folder {str(out.parent)!r} does not exist")
    if args.onnx is not None and Path(args.onnx).suffix != ".onnx":
        raise CliError(f"argument --onnx: {args.onnx!r} must end in .onnx")
    from robot_vision_nav.core.segmentation.export import ExportError, export_onnx
    from robot_vision_nav.core.segmentation.inference import SegmenterError, card_path, load_model
    from robot_vision_nav.training.checkpoint import TrainingError, export_checkpoint

    try:
        card = export_checkpoint(args.checkpoint, out, fp16=args.fp16, dither=args.input_dither)
    except TrainingError as err:
        raise CliError(str(err)) from err
    result: dict[str, Any] = {  # Any: JSON values of mixed types, read back below
        "model": str(out), "card": str(card_path(out)), "sha256": card.sha256, "bytes": out.stat().st_size,
        "dtype": "float16" if args.fp16 else "float32", "height": card.input_height, "width": card.input_width,
        "metrics": card.extra.get("metrics"), "onnx": None, "max_abs_diff": None,
    }  # fmt: skip
    if args.onnx is not None:
        try:
            model, card = load_model(out)
            height = args.height if args.height is not None else card.input_height
            width = args.width if args.width is not None else card.input_width
            onnx = export_onnx(model, card, args.onnx, height, width, opset=args.opset)
        except (SegmenterError, ExportError) as err:
            raise CliError(str(err)) from err
        result.update(onnx=str(onnx.onnx_path), max_abs_diff=onnx.max_abs_diff)
    if args.json:
        print(json.dumps(result))
        return 0
    miou = (result["metrics"] or {}).get("miou")
    score = "" if miou is None else f", val mIoU {100 * miou:.2f} %"
    print(f"wrote {out} ({result['dtype']}, {result['bytes'] / 2**20:.2f} MiB) and {result['card']}: "
          f"{card.architecture.name}, {card.labels.num_classes} {card.labels.name} classes, input "
          f"{card.input_width}x{card.input_height} px{score}")  # fmt: skip
    if result["onnx"] is not None:
        diff = result["max_abs_diff"]
        print(f"wrote {result['onnx']}" + ("" if diff is None else f" (onnxruntime vs torch: max |logit difference| "
                                               f"{diff:.3g})"))  # fmt: skip
    return 0


# ---------------------------------------------------------------------------------------- parsers
def register(sub: Subparsers) -> None:
    """Add `rvn segment`, `rvn eval` and `rvn export` to `sub`."""
    p = sub.add_parser(
        "segment",
        help="class ids (and a colour overlay) for one image",
        description="Segment one image with a model (NAME.safetensors beside NAME.card.yaml) exactly as the "
        "segmentation node would: resized to the model's input size, class ids resized back with nearest-neighbour. "
        "Writes the class ids as a single-channel PNG of the image's size (pixel value = class id).",
    )
    p.add_argument("--model", required=True, metavar="M", help="model weights NAME.safetensors (card beside it)")
    p.add_argument("--image", required=True, metavar="IMG", help="input picture (PNG, JPEG, ...; read as RGB)")
    p.add_argument("--out", required=True, metavar="OUT.png", help="class-id PNG to write (replaced atomically)")
    p.add_argument("--overlay", metavar="OVERLAY.png", help="also write the image blended 50/50 with class colours")
    p.add_argument("--device", default="auto", metavar="D", help="auto (CUDA when present), cpu, cuda or cuda:N")
    p.add_argument("--json", action="store_true",
                   help='print one JSON object {"classes": {name: pixels}, "drivable_fraction", '
                   '"traversable_fraction", "time_ms", "size": [width px, height px], "out", "overlay"}; '
                   "fractions of the image's pixels, time in ms")  # fmt: skip
    p.set_defaults(handler=_segment)

    p = sub.add_parser(
        "eval",
        help="accuracy, class accuracy, mIoU, per-class and drivable IoU of a model on a dataset",
        description="Score a model on a dataset through the inference engine, at the dataset's resolution. "
        "Ground truth 255 (void) is ignored. Global accuracy: correct / labelled pixels; class accuracy: mean "
        "per-class recall over classes in the ground truth; mIoU: mean IoU over classes in the ground truth or "
        "the prediction; drivable IoU: IoU of the label set's drivable classes taken together. Scores are "
        "fractions 0..1 in --json, percent otherwise. The model's classes must be the dataset's.",
    )
    p.add_argument("--dataset", required=True, choices=("camvid", "cityscapes", "synthetic"),
                   help="camvid: SegNet tutorial layout (SPLIT/, SPLITannot/); cityscapes: leftImg8bit/ and gtFine/; "
                   "synthetic: generated warehouse frames, or --data-root with images/ and labels/")  # fmt: skip
    p.add_argument("--data-root", metavar="DIR", help="the dataset's folder (optional for synthetic)")
    p.add_argument("--labels-dir", default="labels", metavar="NAME",
                   help="synthetic with --data-root: the sub-folder of labels (default labels; truth for a frames "
                   "folder's ground truth, human for a person's)")  # fmt: skip
    p.add_argument("--model", required=True, metavar="M", help="model weights NAME.safetensors (card beside it)")
    p.add_argument("--split", default="test", choices=("train", "val", "test"), help="split to score (default test)")
    p.add_argument("--limit", type=int_in(1, 10**9, "images"), metavar="N",
                   help="score the first N images only (synthetic: frames to generate, default 16)")  # fmt: skip
    p.add_argument("--seed", type=int_in(0, 2**31 - 1, "seed"), default=0, metavar="S",
                   help="seed of the generated synthetic frames (default 0)")  # fmt: skip
    p.add_argument("--device", default="auto", metavar="D", help="auto (CUDA when present), cpu, cuda or cuda:N")
    p.add_argument("--json", action="store_true",
                   help='print one JSON object {"global_acc", "class_acc", "miou", "iou": {name: IoU or null}, '
                   '"drivable_iou", "labelled_pixels", "images", "dataset", "split", "model"} '
                   "(fractions 0..1)")  # fmt: skip
    p.set_defaults(handler=_eval)

    p = sub.add_parser(
        "export",
        help="export a model to ONNX (checked with onnxruntime), or a training checkpoint to a model file",
        description="Export NAME.safetensors to ONNX at a fixed input size (input 'image' 1x3xHxW normalised, output "
        "'logits' 1xKxHxW) with torch's dynamo exporter (needs onnx and onnxscript), written atomically with its "
        "model card beside it, then run in onnxruntime (when installed) against torch on a random input. "
        "With --checkpoint CKPT --out M.safetensors: write a training checkpoint's network and its model card "
        "(and, with --onnx, the ONNX file too).",
    )
    p.add_argument("--onnx", metavar="OUT.onnx", help="ONNX file to write (replaced atomically)")
    p.add_argument("--model", metavar="M", help="model weights NAME.safetensors (card beside it)")
    p.add_argument("--checkpoint", metavar="CKPT",
                   help="instead of --model: a training checkpoint (checkpoint.pth / model_best.pth of `rvn train`) "
                   "to write as --out with its model card (architecture, labels, input size, normalisation, the "
                   "training command, data, final metrics, training time); --onnx then also exports it")  # fmt: skip
    p.add_argument("--out", metavar="M.safetensors", help="with --checkpoint: the model file to write (atomically)")
    p.add_argument("--fp16", action="store_true",
                   help="with --checkpoint: store float16 weights (half the size; loaded back as float32)")  # fmt: skip
    p.add_argument("--input-dither", type=float_in(0.0, 8.0, "8-bit levels"), metavar="S",
                   help="with --checkpoint: the card asks the engine to add a fixed noise pattern of std S (8-bit "
                   "levels, e.g. 1) to every input: breaks SegNet's max-pooling ties on perfectly flat image "
                   "patches, as camera noise does; 0 for none (default: the checkpoint's, from `rvn train "
                   "--input-dither` or its --init model)")  # fmt: skip
    p.add_argument("--height", type=int_in(8, 8192, "px"), metavar="H", help="input height (px; default the card's)")
    p.add_argument("--width", type=int_in(8, 8192, "px"), metavar="W", help="input width (px; default the card's)")
    p.add_argument("--opset", type=int_in(7, 100, "ONNX opset"), metavar="N",
                   help="ONNX opset version (default: torch's)")  # fmt: skip
    p.add_argument("--json", action="store_true",
                   help='print one JSON object {"onnx", "card", "card_written", "height", "width" (px), "opset", '
                   '"max_abs_diff" (null when not verified)}; with --checkpoint {"model", "card", "sha256", "bytes", '
                   '"dtype", "height", "width" (px), "metrics", "onnx", "max_abs_diff"}')  # fmt: skip
    p.set_defaults(handler=_export)
