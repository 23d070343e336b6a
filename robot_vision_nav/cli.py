"""`rvn`: the one command line of robot_vision_nav, one subcommand per job.

Every subcommand documents its units in `--help`, answers bad input with exit status 2 and one line
`rvn <subcommand>: error: ...` on stderr naming what was wrong and what was expected (never a
traceback), and has `--json` where a machine reads the result. Files are written atomically (a
temporary file in the same folder, then `os.replace`), so a failure never leaves half a picture.
Heavy imports (numba, OpenCV) happen inside the subcommands, so `rvn --help` stays quick.
This module must never import ROS at module level: `rvn costmap` and `rvn bench` work without it.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import robot_vision_nav

EXIT_USAGE = 2
REPO = Path(robot_vision_nav.__file__).resolve().parents[1]
BENCH_DIR = REPO / "bench"
BENCH_HELPERS = {"__init__", "common"}


class CliError(Exception):
    """Bad input found after parsing: reported as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line (no usage block), pointing at --help."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


# ---------------------------------------------------------------------------------------- values
def _number(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number {what}, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number {what}, got {text!r}")
    return value


def _positive(unit: str) -> Callable[[str], float]:
    def parse(text: str) -> float:
        value = _number(text, f"> 0 ({unit})")
        if value <= 0.0:
            raise argparse.ArgumentTypeError(f"must be > 0 ({unit}), got {text!r}")
        return value

    return parse


def _finite(unit: str) -> Callable[[str], float]:
    return lambda text: _number(text, f"({unit})")


def _int_in(lo: int, hi: int, unit: str) -> Callable[[str], int]:
    # One implementation for every command: training.options imports no torch, so --help stays fast.
    from robot_vision_nav.training.options import int_in

    return int_in(lo, hi, unit)


def _mount(text: str) -> tuple[float, ...]:
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 6:
        raise argparse.ArgumentTypeError(
            f"needs 6 comma-separated numbers x,y,z,roll,pitch,yaw (m, rad), got {len(parts)} in {text!r}"
        )
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"needs 6 numbers x,y,z,roll,pitch,yaw (m, rad), got {text!r}") from None
    if not all(math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError(f"needs 6 finite numbers x,y,z,roll,pitch,yaw (m, rad), got {text!r}")
    return values


def _glue_negative_values(argv: Sequence[str], options: Sequence[str]) -> list[str]:
    """Turn `--mount -0.1,0,...` into `--mount=-0.1,0,...`: argparse would take the value for an option."""
    out: list[str] = []
    it = iter(argv)
    for arg in it:
        if arg in options:
            value = next(it, None)
            if value is not None and value.startswith("-") and "," in value:
                out.append(f"{arg}={value}")
                continue
            out.append(arg)
            if value is not None:
                out.append(value)
        else:
            out.append(arg)
    return out


# ---------------------------------------------------------------------------------------- costmap
def _read_depth(path: Path, scale_m_per_unit: float | None) -> tuple[Any, str]:
    """Depth image in metres (float32, HxW) and a description of what was read."""
    import cv2
    import numpy as np

    if not path.is_file():
        raise CliError(f"depth file {str(path)!r} not found")
    if path.suffix.lower() == ".npy":
        try:
            raw = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise CliError(f"cannot read depth array {str(path)!r}: {err}") from err
    else:
        raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if raw is None:
            raise CliError(
                f"cannot read depth image {str(path)!r}: not an image OpenCV can decode (expected a 16-bit PNG)"
            )
    if raw.ndim == 3:
        raise CliError(f"depth {str(path)!r} has {raw.shape[2]} channels; expected a single-channel 16-bit depth image")
    if raw.ndim != 2:
        raise CliError(f"depth {str(path)!r} has shape {raw.shape}; expected a 2-D (single-channel) depth image")
    if raw.dtype == np.uint8 or raw.dtype == np.int8:
        raise CliError(f"depth {str(path)!r} is 8-bit; expected 16-bit integer depth (or float32 metres)")
    if not (np.issubdtype(raw.dtype, np.integer) or np.issubdtype(raw.dtype, np.floating)):
        raise CliError(f"depth {str(path)!r} has dtype {raw.dtype}; expected 16-bit integers or float32")
    floating = np.issubdtype(raw.dtype, np.floating)
    scale = scale_m_per_unit if scale_m_per_unit is not None else (1.0 if floating else 0.001)
    depth_m = raw.astype(np.float32) * np.float32(scale)
    return depth_m, f"{raw.dtype} x {scale:g} m/unit"


def _read_mask(path: Path, depth_shape: tuple[int, int], depth_path: Path) -> Any:
    import cv2
    import numpy as np

    if not path.is_file():
        raise CliError(f"mask file {str(path)!r} not found")
    mask = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if mask is None:
        raise CliError(f"cannot read mask {str(path)!r}: not an image OpenCV can decode (expected a mono8 PNG)")
    if mask.ndim != 2 or mask.dtype != np.uint8:
        channels = mask.shape[2] if mask.ndim == 3 else 1
        raise CliError(
            f"mask {str(path)!r} is {mask.dtype} with {channels} channels; expected mono8 (one 8-bit channel, "
            "255 = drivable)"
        )
    if mask.shape != depth_shape:
        raise CliError(
            f"mask {str(path)!r} is {mask.shape[1]}x{mask.shape[0]} but depth {str(depth_path)!r} is "
            f"{depth_shape[1]}x{depth_shape[0]}; expected the same size"
        )
    return mask


def _check_out_path(path: Path, what: str = "--out") -> None:
    import cv2

    if not path.parent.is_dir():
        raise CliError(f"argument {what}: folder {str(path.parent)!r} does not exist")
    if path.is_dir():
        raise CliError(f"argument {what}: {str(path)!r} is a folder; expected a picture file name such as map.png")
    if not cv2.haveImageWriter(str(path)):
        raise CliError(f"argument {what}: OpenCV cannot write {path.suffix or 'files without a suffix'!r}; use .png")


def _costmap(args: argparse.Namespace) -> int:
    from robot_vision_nav.core.config import ConfigError, check_value, param_info
    from robot_vision_nav.core.costmap import CostmapConfig, RollingCostmap
    from robot_vision_nav.core.geometry import GeometryError, PinholeIntrinsics, Pose2D
    from robot_vision_nav.core.projection import DepthInputError
    from robot_vision_nav.core.visualize import cell_counts, costmap_picture
    from robot_vision_nav.files import encode_image, write_bytes_atomic

    out = Path(args.out)
    _check_out_path(out)
    depth, depth_text = _read_depth(Path(args.depth), args.depth_scale)
    mask = _read_mask(Path(args.mask), depth.shape, Path(args.depth)) if args.mask else None
    settings = {"width_m": args.size, "height_m": args.size, "resolution_m": args.resolution,
                "camera_mount_xyzrpy": args.mount}  # fmt: skip
    flags = {"width_m": "--size", "height_m": "--size", "resolution_m": "--resolution",
             "camera_mount_xyzrpy": "--mount"}  # fmt: skip
    info = param_info(CostmapConfig)
    try:
        for name, value in settings.items():
            try:
                check_value(name, value, info[name])
            except ConfigError as err:
                raise CliError(f"argument {flags[name]}: {err}") from err
        config = CostmapConfig(**settings)
        height, width = depth.shape
        intrinsics = PinholeIntrinsics(args.fx, args.fy, args.cx, args.cy, width, height)
        costmap = RollingCostmap(config)
        pose = Pose2D(0.0, 0.0, 0.0)
        stats = costmap.update(depth, intrinsics, pose, 0, mask)
        picture = costmap_picture(costmap, pose, args.scale)
        data = encode_image(picture, out.suffix)
    except (ConfigError, GeometryError, DepthInputError) as err:
        raise CliError(str(err)) from err
    try:
        write_bytes_atomic(out, data)
    except OSError as err:
        raise CliError(f"cannot write {str(out)!r}: {err.strerror or err}") from err

    rows, cols = costmap.shape
    cells = cell_counts(costmap.costs)
    pixels = {"valid": stats.valid_pixels, "ground": stats.ground_pixels, "obstacle": stats.obstacle_pixels,
              "keepout": stats.keepout_pixels, "overhead": stats.overhead_pixels}  # fmt: skip
    if args.json:
        result = {"cells": cells, "resolution_m": costmap.resolution_m, "size_cells": [rows, cols],
                  "out": str(out), "pixels": pixels}  # fmt: skip
        print(json.dumps(result))
    else:
        print(f"depth {width}x{height} ({depth_text}), mask: {'yes' if mask is not None else 'none'}")
        print("pixels: " + ", ".join(f"{k} {v}" for k, v in pixels.items()))
        print(f"costmap {cols}x{rows} cells at {costmap.resolution_m:g} m: " + ", ".join(
            f"{k} {v}" for k, v in cells.items()))  # fmt: skip
        print(f"wrote {out} ({picture.shape[1]}x{picture.shape[0]} px, robot at the origin facing +x)")
    return 0


# ---------------------------------------------------------------------------------------- plan
MAP_SUFFIXES = (".yaml", ".yml", ".map")


def _load_plan_map(path: Path) -> Any:
    from robot_vision_nav.core.maps import MapError, load_map_yaml, load_movingai_map

    if path.suffix.lower() not in MAP_SUFFIXES:
        raise CliError(f"argument --map: {str(path)!r} is neither a Nav2 map YAML (.yaml) nor a MovingAI .map file")
    if not path.is_file():
        raise CliError(f"argument --map: file {str(path)!r} not found")
    try:
        return load_movingai_map(path) if path.suffix.lower() == ".map" else load_map_yaml(path)
    except MapError as err:
        raise CliError(str(err)) from err


def _plan(args: argparse.Namespace) -> int:
    import time

    import numpy as np

    from robot_vision_nav.core.config import ConfigError
    from robot_vision_nav.core.grid import Grid
    from robot_vision_nav.core.planner import PlannerConfig, PlannerError, plan

    path = Path(args.map)
    grid = _load_plan_map(path)
    in_cells = path.suffix.lower() == ".map"
    points = {"--start": args.start, "--goal": args.goal}
    if in_cells:
        # MovingAI cells: x = column, y = line from the top; a .map Grid centres cell (y, x) on the
        # world point (x, y) (core.maps), so cell numbers are world coordinates as they are.
        for flag, (x, y) in points.items():
            if not (float(x).is_integer() and float(y).is_integer()):
                raise CliError(f"argument {flag}: a .map takes whole cell numbers X Y (column, line), got {x:g} {y:g}")
        rows, cols = grid.shape
        x, y = args.start
        if not (0 <= x < cols and 0 <= y < rows):
            raise CliError(f"argument --start: cell ({x:g}, {y:g}) is outside the {cols} x {rows} map "
                           "(columns x lines)")  # fmt: skip
    try:
        config = PlannerConfig(cost_weight=args.cost_weight, any_angle=args.any_angle, smooth=args.smooth)
    except ConfigError as err:
        raise CliError(f"argument --cost-weight: {err}") from err
    # Load (or compile) the numba kernels before timing, so time_ms is the plan alone.
    plan(Grid(np.zeros((3, 3), dtype=np.int8), 1.0), (0.5, 0.5), (2.5, 2.5), config)
    start = time.perf_counter()
    try:
        result = plan(grid, points["--start"], points["--goal"], config)
    except PlannerError as err:
        raise CliError(str(err)) from err
    time_ms = (time.perf_counter() - start) * 1e3
    path_out = result.path_xy
    unit = "cells" if in_cells else "m"
    if args.json:
        print(json.dumps({
            "found": result.found, "length": result.length_m, "expansions": result.expansions,
            "time_ms": round(time_ms, 4), "path": path_out.tolist(), "status": str(result.status),
        }))  # fmt: skip
    else:
        print(f"{result.status}: {result.message}")
        if result.found:
            print(f"length {result.length_m:.6g} {unit}, {len(path_out)} points, {result.expansions} cells expanded, "
                  f"{time_ms:.3f} ms")  # fmt: skip
    return 0 if result.found else 1


# ---------------------------------------------------------------------------------------- bench
def bench_names(bench_dir: Path | None = None) -> list[str]:
    """Benchmarks in `bench_dir` (default: the checkout's bench/): its .py files but the package and helpers."""
    bench_dir = BENCH_DIR if bench_dir is None else bench_dir
    if not bench_dir.is_dir():
        return []
    return sorted(p.stem for p in bench_dir.glob("*.py") if p.stem not in BENCH_HELPERS)


def _bench(args: argparse.Namespace) -> int:
    names = bench_names()
    if not BENCH_DIR.is_dir():
        raise CliError(f"no bench/ folder at {str(BENCH_DIR)!r}; benchmarks run from a source checkout")
    if args.name not in names:
        available = ", ".join(names) if names else "none"
        raise CliError(f"unknown benchmark {args.name!r}; available: {available}")
    # Benchmarks import `bench.common`, so the checkout root must be importable; an editable install
    # maps only the package itself.
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    try:
        module = importlib.import_module(f"bench.{args.name}")
        common = importlib.import_module("bench.common")
    except ModuleNotFoundError as err:
        raise CliError(
            f"benchmark {args.name!r} needs module {err.name!r}: install requirements-bench.txt ({err})"
        ) from err
    if not callable(getattr(module, "run", None)):
        raise CliError(f"benchmark {args.name!r} ({module.__file__}) has no run(quick=...) function")
    options: dict[str, Any] = {"quick": args.quick}
    if args.minutes is not None:
        import inspect

        if "minutes" not in inspect.signature(module.run).parameters:
            raise CliError(f"benchmark {args.name!r} has no --minutes: only benchmarks that run for a time (soak)")
        options["minutes"] = args.minutes
    result = module.run(**options)
    if args.json:
        print(json.dumps(result))
    else:  # a bench with its own table (p50/p99 per stage) says so with print_result
        getattr(module, "print_result", common.print_table)(result)
    return 0


# ---------------------------------------------------------------------------------------- perception
def _load_segmenter(model: str, device: str, expected_labels: Any = None) -> Any:
    """A Segmenter for `model` on `device`; every failure a CliError naming the file or device."""
    from robot_vision_nav.core.segmentation.inference import Segmenter, SegmenterConfig, SegmenterError

    try:
        # One warm-up call, so a reported time is the steady one, not the first call's set-up (oneDNN primitive
        # creation on CPU, cuDNN's algorithm search on CUDA: hundreds of ms).
        return Segmenter.from_file(model, SegmenterConfig(device=device, warmup_iterations=1), expected_labels)
    except SegmenterError as err:
        raise CliError(str(err)) from err


def _read_rgb_image(path: Path) -> Any:
    import cv2

    if not path.is_file():
        raise CliError(f"image file {str(path)!r} not found")
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise CliError(f"cannot read image {str(path)!r}: not an image OpenCV can decode")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _segment(args: argparse.Namespace) -> int:
    import time

    import numpy as np

    from robot_vision_nav.core.segmentation.inference import SegmenterError
    from robot_vision_nav.core.visualize import overlay_labels
    from robot_vision_nav.files import encode_image, write_bytes_atomic

    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise CliError(f"argument --out: {str(out)!r} must be a .png (class ids need lossless 8-bit pixels)")
    _check_out_path(out)
    overlay_path = Path(args.overlay) if args.overlay else None
    if overlay_path is not None:
        _check_out_path(overlay_path, "--overlay")
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
        dataset = open_dataset(args.dataset, args.data_root, args.split, frames=frames, seed=args.seed)
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
    for flag, value in (("--out", args.out), ("--fp16", args.fp16 or None)):
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
        card = export_checkpoint(args.checkpoint, out, fp16=args.fp16)
    except TrainingError as err:
        raise CliError(str(err)) from err
    result: dict[str, Any] = {
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


# ---------------------------------------------------------------------------------------- train
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


# ---------------------------------------------------------------------------------------- demo
def _demo(args: argparse.Namespace) -> int:
    from robot_vision_nav.demo import DemoOptions, format_table, run_demo
    from robot_vision_nav.ros.bringup import BringupError

    out_dir = Path(args.out)
    if out_dir.exists() and not out_dir.is_dir():
        raise CliError(f"argument --out: {str(out_dir)!r} exists and is not a folder")
    options = DemoOptions(
        scenes=args.scenes, seed=args.seed, ablation=args.ablation, params_file=args.params or "",
        model=args.model or "", device=args.device or "", localized=args.localized,
    )  # fmt: skip
    interactive = sys.stderr.isatty()

    def progress(line: str) -> None:
        if line.endswith("\n"):
            print(("\r\033[K" if interactive else "") + line.rstrip(), file=sys.stderr, flush=True)
        elif interactive:
            print("\r\033[K" + line, end="", file=sys.stderr, flush=True)

    try:
        summary = run_demo(out_dir, options, progress=progress)
    except BringupError as err:
        raise CliError(str(err)) from err
    except OSError as err:
        raise CliError(f"cannot write into {str(out_dir)!r}: {err.strerror or err}") from err
    print(json.dumps(summary) if args.json else format_table(summary))
    return 0


def _run(args: argparse.Namespace) -> int:
    from robot_vision_nav.ros.bringup import BringupError, BringupOptions, stack_nodes
    from robot_vision_nav.ros.runner import run_in_process, run_processes
    from robot_vision_nav.ros.security import NetworkOptions

    try:
        network = NetworkOptions(
            domain_id=-1 if args.domain_id is None else args.domain_id, discovery_range=args.discovery_range,
            static_peers=args.static_peers, keystore=args.keystore, enclave=args.enclave,
            strategy=args.security_strategy,
        )  # fmt: skip
        specs = stack_nodes(
            BringupOptions(
                params_file=args.params or "", sim=args.sim, world_seed=args.world_seed, device=args.device or "",
                model=args.model or "", namespace=args.namespace or "", use_sim_time=args.use_sim_time,
                log_level=args.log_level, navigator=args.navigator, camera=args.camera,
            )
        )  # fmt: skip
    except BringupError as err:
        raise CliError(str(err)) from err
    if args.navigator and importlib.util.find_spec("nav2_msgs") is None:
        raise CliError(
            "argument --navigator: nav2_msgs is not installed (apt install ros-$ROS_DISTRO-nav2-msgs); "
            "without it, send goals with rvn goto or on goal_pose"
        )
    for note in network.notes():
        print(f"rvn run: note: {note}", file=sys.stderr)
    if args.processes:
        return run_processes(specs, network)
    return run_in_process(specs, args.executor, network)


# ---------------------------------------------------------------------------------------- simulator


def _sim_camera(args: argparse.Namespace) -> Any:
    from robot_vision_nav.sim.camera import CameraConfig

    return CameraConfig(width_px=args.width, height_px=args.height, depth_noise=getattr(args, "depth_noise", False))


def _sim_view(args: argparse.Namespace) -> int:
    out = Path(args.out)
    _check_out_path(out)
    from robot_vision_nav.files import encode_image, write_bytes_atomic
    from robot_vision_nav.sim.sim import Simulator
    from robot_vision_nav.sim.view import sim_view_picture
    from robot_vision_nav.sim.world import WorldError, generate_world

    try:
        world = generate_world(args.seed)
    except WorldError as err:
        raise CliError(str(err)) from err
    with Simulator(world, camera=_sim_camera(args)) as sim:
        picture = sim_view_picture(sim)
    try:
        write_bytes_atomic(out, encode_image(picture, out.suffix))
    except OSError as err:
        raise CliError(f"cannot write {str(out)!r}: {err.strerror or err}") from err
    summary = {
        "seed": world.seed, "length_m": world.length_m, "width_m": world.width_m, "zones": len(world.zones),
        "people": len(world.movers), "obstacles": len(world.obstacles), "route_m": round(world.route_length_m(), 3),
        "start": [world.start.x_m, world.start.y_m, world.start.yaw_rad], "goal": list(world.goal_xy),
        "out": str(out),
    }  # fmt: skip
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"warehouse seed {world.seed}: {world.length_m:g} x {world.width_m:g} m, {len(world.zones)} keep-out "
              f"zones, {len(world.movers)} people, route {summary['route_m']:.1f} m")  # fmt: skip
        print(f"wrote {out} ({picture.shape[1]}x{picture.shape[0]} px)")
    return 0


def _sim_dataset(args: argparse.Namespace) -> int:
    from robot_vision_nav.sim.dataset import stderr_progress, write_dataset
    from robot_vision_nav.sim.world import WorldError

    out_dir = Path(args.out)
    if out_dir.exists() and not out_dir.is_dir():
        raise CliError(f"argument --out: {str(out_dir)!r} exists and is not a folder")
    try:
        manifest = write_dataset(out_dir, args.scenes, args.frames, args.seed, _sim_camera(args), stderr_progress)
    except WorldError as err:
        raise CliError(str(err)) from err
    except OSError as err:
        raise CliError(f"cannot write into {str(out_dir)!r}: {err.strerror or err}") from err
    count = len(manifest["frames"])
    if args.json:
        print(json.dumps({"out": str(out_dir), "frames": count, "scenes": args.scenes, "seed": args.seed}))
    else:
        print(f"wrote {count} frames ({args.scenes} scenes x {args.frames}) to {out_dir}/ (manifest.json)")
    return 0


def _add_stack_arguments(p: argparse.ArgumentParser) -> None:
    """--params, --model and --device: what `rvn demo` and `rvn run` give the stack's node list."""
    p.add_argument("--params", metavar="FILE", help="the stack's parameter YAML (default config/robot_vision_nav.yaml)")
    p.add_argument("--model", metavar="M", help="segmentation weights (default the YAML's: the shipped model)")
    p.add_argument("--device", metavar="D", help="segmentation device: auto, cpu, cuda, cuda:N (default the YAML's)")


def _add_network_arguments(p: argparse.ArgumentParser) -> None:
    """`rvn run`'s domain, discovery and SROS2 options: the launch files' (ros.security), checked in the handler."""
    g = p.add_argument_group("network and security (ros.security; the launch arguments of the same names)")
    g.add_argument(
        "--domain-id",
        type=_int_in(0, 232, "ROS domain ID"),
        metavar="N",
        help="ROS_DOMAIN_ID of every node, 0..232 (0..101 is safe on Linux; default the environment's)",
    )
    g.add_argument(
        "--discovery-range",
        default="",
        metavar="RANGE",
        help="ROS_AUTOMATIC_DISCOVERY_RANGE: LOCALHOST, SUBNET, SYSTEM_DEFAULT or OFF (default the "
        "environment's, LOCALHOST where unset; Kilted ignores ROS_LOCALHOST_ONLY)",
    )
    g.add_argument(
        "--static-peers",
        default="",
        metavar="PEERS",
        help="ROS_STATIC_PEERS: hosts or addresses separated by ';' (default the environment's)",
    )
    g.add_argument(
        "--keystore",
        default="",
        metavar="DIR",
        help="SROS2 keystore (ros2 security create_keystore DIR): authenticated, encrypted DDS "
        "(default the environment's ROS_SECURITY_*: none, no security)",
    )
    g.add_argument(
        "--enclave",
        default="/robot_vision_nav",
        metavar="NAME",
        help="with --keystore: the enclave of every node (ros2 security create_enclave DIR NAME; "
        "default /robot_vision_nav)",
    )
    g.add_argument(
        "--security-strategy",
        default="Enforce",
        choices=("Enforce", "Permissive"),
        help="with --keystore: Enforce (default: a node without valid keys does not start) or Permissive",
    )


def _add_sim_parsers(sub: Any) -> None:
    """`rvn sim-view` and `rvn sim-dataset`."""

    def camera_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--width", type=_int_in(16, 1280, "px"), default=320, metavar="PX",
                       help="camera image width (px, default 320; 640 for 640x480)")  # fmt: skip
        p.add_argument("--height", type=_int_in(16, 960, "px"), default=240, metavar="PX",
                       help="camera image height (px, default 240; 480 for 640x480)")  # fmt: skip

    p = sub.add_parser(
        "sim-view",
        help="look at a generated warehouse: top view, camera frame, depth and labels",
        description="Generate the MuJoCo warehouse for --seed and write one picture: the floor from above with the "
        "route (green), start (blue circle), goal (green star), keep-out zones (red outlines), people's paths "
        "(magenta) and the robot, beside the robot camera's colour frame at the start, its depth (0..10 m, near "
        "bright, invalid black) and its ground-truth labels with the class legend.",
    )
    p.add_argument("--seed", type=_int_in(0, 2**31 - 1, "world seed"), default=0, metavar="S",
                   help="world seed (default 0)")  # fmt: skip
    p.add_argument("--out", required=True, metavar="PNG", help="picture to write (replaced atomically)")
    camera_args(p)
    p.add_argument("--json", action="store_true",
                   help='print one JSON object {"seed", "length_m", "width_m", "zones", "people", "obstacles", '
                   '"route_m", "start": [x, y, yaw], "goal": [x, y], "out"}')  # fmt: skip
    p.set_defaults(handler=_sim_view)

    p = sub.add_parser(
        "sim-dataset",
        help="write a synthetic RGB-D segmentation dataset from the MuJoCo warehouse",
        description="Render --scenes generated warehouses x --frames camera frames each into DIR: images/NAME.png "
        "(RGB), labels/NAME.png (warehouse class ids, 255 ignore), depth/NAME.png (16-bit, millimetres, 0 invalid) "
        "and manifest.json (per frame: files, world seed, sim time, intrinsics in px, true pose in m/rad and "
        "T_world_camera). Files are written atomically, the manifest last; progress goes to stderr. The same "
        "seed writes the same bytes.",
    )
    p.add_argument("--scenes", type=_int_in(1, 100000, "worlds"), required=True, metavar="N",
                   help="number of generated worlds")  # fmt: skip
    p.add_argument("--frames", type=_int_in(1, 100000, "frames per world"), required=True, metavar="M",
                   help="frames per world")  # fmt: skip
    p.add_argument("--out", required=True, metavar="DIR", help="dataset folder (created if missing)")
    p.add_argument("--seed", type=_int_in(0, 2**31 - 1, "dataset seed"), default=0, metavar="S",
                   help="dataset seed (default 0)")  # fmt: skip
    camera_args(p)
    p.add_argument("--depth-noise", action="store_true", help="add D435-like depth noise and dropouts (seeded)")
    p.add_argument("--json", action="store_true", help='print one JSON object {"out", "frames", "scenes", "seed"}')
    p.set_defaults(handler=_sim_dataset)


# ---------------------------------------------------------------------------------------- goto
GOTO_FLAGS = {"tolerance_m": "--tolerance", "timeout_s": "--timeout", "patience_s": "--patience"}


def _goto(args: argparse.Namespace) -> int:
    import time

    from robot_vision_nav.core.goal_tracker import GoalTrackerConfig

    frames = {"--frame": args.frame, "--global-frame": args.global_frame, "--base-frame": args.base_frame}
    for flag, value in frames.items():
        if not value.strip("/ "):
            raise CliError(f"argument {flag}: must name a frame, e.g. odom")
    try:
        GoalTrackerConfig(tolerance_m=args.tolerance, timeout_s=args.timeout, patience_s=args.patience)
    except ValueError as err:
        message = str(err)
        for name, flag in GOTO_FLAGS.items():
            message = message.replace(f"parameter '{name}'", f"argument {flag}")
        raise CliError(message) from err
    from robot_vision_nav.ros.goto import format_progress, format_result, goto

    live = sys.stderr.isatty()
    shown = {"line": "", "width": 0, "key": "", "at": -math.inf}

    def progress(feedback: Any) -> None:
        line = f"rvn goto: {format_progress(feedback)}"
        if live:  # one line rewritten in place
            print("\r" + line.ljust(int(shown["width"])), end="", file=sys.stderr, flush=True)
            shown["width"] = max(int(shown["width"]), len(line))
            return
        key, now = f"{feedback.planner_status}/{feedback.controller_status}", time.monotonic()
        if key != shown["key"] or now - float(shown["at"]) >= 5.0:  # a log gets a line per change, or every 5 s
            shown["key"], shown["at"] = key, now
            print(line, file=sys.stderr, flush=True)

    try:
        result = goto(
            args.x,
            args.y,
            args.yaw,
            frame=args.frame,
            timeout_s=args.timeout,
            tolerance_m=args.tolerance,
            progress=progress,
            use_sim_time=args.use_sim_time,
            patience_s=args.patience,
            wait_s=args.wait,
            pose_from_tf=(args.global_frame, args.base_frame) if args.robot_pose_source == "tf" else None,
        )
    except KeyboardInterrupt:
        if live:
            print(file=sys.stderr)
        print("rvn goto: interrupted; sent a goal at the robot's pose so that it stops", file=sys.stderr)
        raise
    if live:
        print(file=sys.stderr)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"rvn goto: {format_result(result)}")
    return 0 if result["result"] == "succeeded" else 1


# ---------------------------------------------------------------------------------------- bags
def _progress_printer() -> Callable[[str], None]:
    interactive = sys.stderr.isatty()

    def progress(line: str) -> None:
        if interactive:
            print("\r\033[K" + line, end="", file=sys.stderr, flush=True)

    return progress


def _bag_info(args: argparse.Namespace) -> int:
    from robot_vision_nav.replay.bags import BagError, read_info

    try:
        info = read_info(Path(args.bag))
    except BagError as err:
        raise CliError(str(err)) from err
    print(json.dumps(info.as_dict()) if args.json else info.format())
    return 0


def _bag_play(args: argparse.Namespace) -> int:
    from robot_vision_nav.replay.bags import BagError
    from robot_vision_nav.replay.live import PlayOptions, play
    from robot_vision_nav.replay.replay import ReplayError

    subscribers = []
    for item in args.subscribers:
        name, sep, count = item.partition("=")
        if not sep or not count.isdigit():
            raise CliError(f"argument --subscribers: expected INPUT=N (e.g. odom=3), got {item!r}")
        subscribers.append((name.strip("/"), int(count)))
    try:
        options = PlayOptions(
            Path(args.bag), args.rate, args.delay, Path(args.topics_map) if args.topics_map else None,
            args.namespace, args.wait, subscribers=tuple(subscribers),
        )  # fmt: skip
        play(options, log=lambda line: print(line, file=sys.stderr))
    except (BagError, ReplayError) as err:
        raise CliError(str(err)) from err
    return 0


def _bag_record(args: argparse.Namespace) -> int:
    from robot_vision_nav.replay.bags import BagError
    from robot_vision_nav.replay.live import RecordOptions, record, topic_counts_line
    from robot_vision_nav.ros.bringup import replay_output_topics

    topics = tuple(args.topics) or tuple(replay_output_topics(args.namespace))
    try:
        counts = record(RecordOptions(Path(args.out), topics, not args.wall_time, args.seconds))
    except BagError as err:
        raise CliError(str(err)) from err
    print(f"{args.out}: {topic_counts_line(counts)}", file=sys.stderr)
    return 0


def _set_values(items: Sequence[str]) -> dict[str, dict[str, Any]]:
    """`NODE.PARAM=VALUE` (VALUE as YAML) -> {node: {param: value}}."""
    import yaml

    out: dict[str, dict[str, Any]] = {}
    for item in items:
        name, sep, text = item.partition("=")
        node, dot, param = name.partition(".")
        if not sep or not dot or not node or not param:
            raise CliError(f"argument --set: expected NODE.PARAM=VALUE (e.g. costmap_node.x=0.6), got {item!r}")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise CliError(f"argument --set: {item!r}: the value is not YAML: {err}") from err
        out.setdefault(node, {})[param] = value
    return out


def _record(args: argparse.Namespace) -> int:
    from robot_vision_nav.replay.bags import BagError
    from robot_vision_nav.replay.record import RecordOptions, record
    from robot_vision_nav.ros.bringup import BringupError
    from robot_vision_nav.ros.params import ParameterError

    options = RecordOptions(
        out=Path(args.out), seconds=args.seconds, live=args.live, world_seed=args.world_seed, compress=args.compress,
        params_file=args.params or "", sim_params_file=args.sim_params or "", model=args.model or "",
        device=args.device or "", extra_parameters=_set_values(args.set),
    )  # fmt: skip
    printer = _progress_printer()
    try:
        info = record(options, progress=printer)
    except (BagError, BringupError, ParameterError) as err:
        raise CliError(str(err)) from err
    if sys.stderr.isatty():
        print("\r\033[K", end="", file=sys.stderr)
    print(json.dumps(info.as_dict()) if args.json else info.format())
    return 0


def _replay(args: argparse.Namespace) -> int:
    from robot_vision_nav.replay.bags import BagError
    from robot_vision_nav.replay.compare import CompareError, Tolerances, format_table, results_json, write_summary
    from robot_vision_nav.replay.replay import ReplayError, ReplayOptions, replay
    from robot_vision_nav.ros.bringup import BringupError
    from robot_vision_nav.ros.params import ParameterError

    tolerances = Tolerances()
    if args.tolerances:
        import yaml

        try:
            values = yaml.safe_load(Path(args.tolerances).read_text()) or {}
        except (OSError, yaml.YAMLError) as err:
            raise CliError(f"argument --tolerances: cannot read {args.tolerances!r}: {err}") from err
        if not isinstance(values, dict):
            raise CliError(f"argument --tolerances: {args.tolerances!r} is not a mapping of tolerance: value")
        try:
            tolerances = Tolerances.from_mapping(values, args.tolerances)
        except ValueError as err:
            raise CliError(str(err)) from err
    if args.summary and Path(args.summary).exists():
        raise CliError(f"argument --summary: {args.summary!r} exists already; not overwritten")
    if args.summary and not Path(args.summary).parent.is_dir():
        raise CliError(f"argument --summary: folder {str(Path(args.summary).parent)!r} does not exist")
    options = ReplayOptions(
        bag=Path(args.bag), out_bag=Path(args.out) if args.out else None,
        topics_map=Path(args.topics_map) if args.topics_map else None,
        check=Path(args.check) if args.check else None, tolerances=tolerances, params_file=args.params or "",
        model=args.model or "", device=args.device or "", extra_parameters=_set_values(args.set),
    )  # fmt: skip
    interactive = sys.stderr.isatty() and not args.no_progress

    def progress(done: int, total: int, bag_s: float, duration_s: float) -> None:
        if interactive and (done == total or done % 20 == 0):
            width = 30
            filled = round(width * done / max(total, 1))
            print(f"\r\033[Kreplay [{'#' * filled}{'.' * (width - filled)}] {done}/{total} messages, "
                  f"{bag_s:6.2f} of {duration_s:.2f} s", end="", file=sys.stderr, flush=True)  # fmt: skip

    try:
        result = replay(options, progress=progress)
        if args.summary:
            write_summary(Path(args.summary), result.summary)
    except (BagError, CompareError, ReplayError, BringupError, ParameterError) as err:
        raise CliError(str(err)) from err
    except OSError as err:
        raise CliError(f"argument --summary: cannot write {args.summary!r}: {err.strerror or err}") from err
    finally:
        if interactive:
            print("\r\033[K", end="", file=sys.stderr, flush=True)
    if args.json:
        out: dict[str, Any] = {
            "bag": result.bag, "out_bag": result.out_bag, "bag_duration_s": round(result.bag_duration_s, 6),
            "wall_s": round(result.wall_s, 3), "realtime_factor": round(result.realtime_factor, 3),
            "inputs": result.inputs, "outputs": result.outputs,
        }  # fmt: skip
        if result.check is not None:
            out |= {"golden": result.golden, "passed": result.passed, "check": results_json(result.check)}
        print(json.dumps(out))
    else:
        print(f"replayed {result.bag}: {sum(result.inputs.values())} input messages, {result.bag_duration_s:.2f} s of "
              f"bag in {result.wall_s:.2f} s wall ({result.realtime_factor:.2f}x real time)")  # fmt: skip
        print("outputs: " + ", ".join(f"{t} {n}" for t, n in result.outputs.items()))
        if result.out_bag:
            print(f"wrote {result.out_bag}")
        if result.check is not None:
            print(f"check against {result.golden}:")
            print(format_table(result.check))
            print("PASS" if result.passed else "FAIL: the replay differs from the golden beyond tolerance")
    return 0 if result.passed else 1


def _doctor(args: argparse.Namespace) -> int:
    from robot_vision_nav.doctor import FAIL, DoctorOptions, format_table, run_checks

    options = DoctorOptions(
        params_file=args.params or "", device=args.device or "",
        model=args.model or "", quick=args.quick,
    )  # fmt: skip
    rows = run_checks(options)
    failed = any(r.status == FAIL for r in rows)
    if args.json:
        print(json.dumps({"ok": not failed, "checks": [r.as_dict() for r in rows]}))
    else:
        print(format_table(rows))
    return 1 if failed else 0


def _monitor(args: argparse.Namespace) -> int:
    from robot_vision_nav.monitor import run_monitor

    return run_monitor(args.once, args.json, args.period, args.wait, use_ros=not args.no_ros)


def _add_env_parsers(sub: Any) -> None:
    """`rvn doctor` and `rvn monitor`."""
    p = sub.add_parser(
        "doctor",
        help="check what the stack depends on: Python, torch, CUDA, GPU, cuDNN, fp16, ROS, optional parts, models",
        description="Print a table of checks: Python; torch against requirements.txt's pin; the CUDA runtime, each "
        "GPU with its compute capability and memory, the driver (NVML), cuDNN; whether fp16 autocast works; the ROS "
        "distro, rclpy, the RMW and the discovery range; optional parts (cv_bridge, tf2_ros, launch, launch_ros, "
        "rosbag2_py, nav2_simple_commander, TensorRT, ONNX Runtime and its providers, NVML); each shipped model file "
        "against the SHA-256 in its card; the params file. Status ok, warn, missing (optional, absent) or FAIL "
        "(something the configuration needs, e.g. CUDA for device: cuda): exit status 1 on any FAIL.",
    )
    p.add_argument("--params", metavar="FILE", help="the stack's parameter YAML (default config/robot_vision_nav.yaml)")
    p.add_argument("--device", metavar="D",
                   help="the segmentation device to check for (default $RVN_DEVICE, else the YAML's)")  # fmt: skip
    p.add_argument("--model", metavar="M",
                   help="the weights the stack loads (default $RVN_MODEL, else the YAML's model_path)")  # fmt: skip
    p.add_argument("--quick", action="store_true", help="skip the GPU compute check (for a HEALTHCHECK)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=_doctor)

    p = sub.add_parser(
        "monitor",
        help="live GPU utilisation/memory/temperature (NVML) and the nodes' /diagnostics in one table",
        description="Refresh every --period seconds: one row per GPU (utilisation %%, memory used/total MiB, "
        "temperature C, power W; from NVML, without nvidia-smi) and one per /diagnostics status (level, fps, latency "
        "p50/p99 ms, message, and the segmentation node's GPU). Ctrl-C stops; --once prints one snapshot after "
        "--wait seconds of listening.",
    )
    p.add_argument("--once", action="store_true", help="one snapshot, then exit")
    p.add_argument("--period", type=_positive("s"), default=1.0, metavar="S", help="refresh period (s, default 1)")
    p.add_argument("--wait", type=_positive("s"), default=3.0, metavar="S",
                   help="with --once: listen this long before printing (s, default 3)")  # fmt: skip
    p.add_argument("--no-ros", action="store_true", help="GPUs only: do not listen to /diagnostics")
    p.add_argument("--json", action="store_true", help="one JSON object per snapshot")
    p.set_defaults(handler=_monitor)


def _add_bag_parsers(sub: Any) -> None:
    """`rvn bag info`, `rvn record` and `rvn replay`."""
    p = sub.add_parser(
        "bag",
        help="inspect a bag (rosbag2 sqlite3 or mcap, ROS 1 .bag)",
        description="Bag tools that need no ROS install (the rosbags library).",
    )
    bag_sub = p.add_subparsers(dest="bag_command", metavar="COMMAND", required=True, parser_class=_Parser)
    q = bag_sub.add_parser(
        "info",
        help="topics, types, counts, duration and storage of a bag, like ros2 bag info",
        description="Print a bag's storage (sqlite3, mcap, rosbag1), size, duration (s, from the messages' log "
        "times), start and end (s since the epoch, or sim time), message count and each topic's type and count. "
        "BAG is a rosbag2 folder (with metadata.yaml), a .mcap file or a ROS 1 .bag file.",
    )
    q.add_argument("bag", metavar="BAG", help="rosbag2 folder, .mcap file or ROS 1 .bag file")
    q.add_argument("--json", action="store_true", help="print one JSON object")
    q.set_defaults(handler=_bag_info)
    q = bag_sub.add_parser(
        "play",
        help="publish a bag's stack inputs and /clock to a running stack, like ros2 bag play --clock",
        description="Publish the stack's inputs from BAG (colour Image or CompressedImage, decoded; depth; "
        "camera_info; odom; goal_pose) on a wall-clock schedule, with /clock at each message's log time, to a stack "
        "running on sim time in other processes (replay.launch.py player:=rvn). Waits up to --wait s for a "
        "subscriber on every input, then --delay s. Not lock-step: `rvn replay` is the deterministic replay.",
    )
    q.add_argument("bag", metavar="BAG", help="rosbag2 folder, .mcap file or ROS 1 .bag file")
    q.add_argument("--rate", type=_positive("x"), default=1.0, metavar="R",
                   help="play rate, > 0 (0.5 = half speed; default 1)")  # fmt: skip
    q.add_argument("--delay", type=_finite("s"), default=0.0, metavar="S",
                   help="seconds >= 0 to wait after the stack subscribes (default 0)")  # fmt: skip
    q.add_argument("--wait", type=_finite("s"), default=60.0, metavar="S",
                   help="seconds to wait for a subscriber on every input (default 60)")  # fmt: skip
    q.add_argument("--topics-map", metavar="FILE",
                   help="YAML 'stack input: bag topic' for a bag that names the inputs otherwise")  # fmt: skip
    q.add_argument("--namespace", default="", metavar="NS", help="publish the inputs under this namespace")
    q.add_argument("--subscribers", action="append", default=[], metavar="INPUT=N",
                   help="wait for N subscribers on a stack input (e.g. odom=3) before playing; repeatable; "
                   "default 1 each")  # fmt: skip
    q.set_defaults(handler=_bag_play)
    q = bag_sub.add_parser(
        "record",
        help="record topics of a running stack into a new mcap bag, like ros2 bag record",
        description="Subscribe to each TOPIC with the type its publishers offer and write every message into a new "
        "mcap bag OUT, with the node clock (sim time, /clock, unless --wall-time) as log time, until Ctrl-C / SIGINT "
        "or --seconds. The bag appears under OUT only when complete; an existing OUT is never overwritten.",
    )
    q.add_argument("out", metavar="OUT", help="output bag folder (must not exist)")
    q.add_argument("topics", metavar="TOPIC", nargs="*",
                   help="topics to record (default: the stack's outputs, under --namespace)")  # fmt: skip
    q.add_argument("--namespace", default="", metavar="NS", help="the stack's namespace, for the default topics")
    q.add_argument("--wall-time", action="store_true", help="log times from the wall clock, not /clock")
    q.add_argument("--seconds", type=_finite("s"), default=0.0, metavar="S",
                   help="stop after S wall seconds (default 0: until Ctrl-C)")  # fmt: skip
    q.set_defaults(handler=_bag_record)

    p = sub.add_parser(
        "record",
        help="run the simulator (or a live source) with the stack and record inputs and outputs to a bag",
        description="Write a rosbag2 mcap bag (zstd chunks) of the stack's inputs (camera colour, depth, camera_info, "
        "odom, goal_pose) and outputs (segmentation/traversable, local_costmap/costmap, plan, cmd_vel, planner and "
        "controller status). By default the built-in simulator runs the world of --world-seed with the world's goal, "
        "for --seconds of sim time or until the goal is reached; with --live the stack runs on whatever publishes the "
        "camera and odom topics (a driver, a bag being played) for --seconds of wall time (0: until Ctrl-C). The bag "
        "appears under OUT only when complete; Ctrl-C ends the recording and keeps it; an existing OUT is never "
        "overwritten.",
    )
    p.add_argument("out", metavar="OUT", help="output bag folder (must not exist)")
    p.add_argument("--seconds", type=_finite("s"), default=10.0, metavar="S",
                   help="how long (s; sim time, or wall time with --live; 0 with --live: until Ctrl-C; "
                   "default 10)")  # fmt: skip
    p.add_argument("--world-seed", type=_int_in(0, 999_999, "world seed"), default=1, metavar="N",
                   help="the simulated warehouse (default 1)")  # fmt: skip
    p.add_argument("--live", action="store_true", help="no simulator: record the stack on live topics")
    p.add_argument("--compress", action="store_true",
                   help="colour as .../compressed (JPEG), depth as .../compressedDepth (PNG): "
                   "~10x smaller bags")  # fmt: skip
    p.add_argument("--sim-params", metavar="FILE", help="the simulator's YAML (default config/sim.yaml)")
    p.add_argument("--set", action="append", default=[], metavar="NODE.PARAM=VALUE",
                   help="override one parameter (VALUE in YAML), e.g. sim_node.camera_rate_hz=5.0; "
                   "repeatable")  # fmt: skip
    _add_stack_arguments(p)
    p.add_argument("--json", action="store_true", help="print the bag's info as one JSON object")
    p.set_defaults(handler=_record)

    p = sub.add_parser(
        "replay",
        help="feed a bag through the stack in lock-step (deterministic), write the outputs, compare with a golden",
        description="Publish the bag's input topics (colour Image or CompressedImage, depth Image or compressedDepth, "
        "camera_info, odom, goal_pose) one message at a time through segmentation, costmap, planner and controller "
        "in this process, with /clock from the messages' log times, each message processed fully before the next: the "
        "same bag and parameters give byte-identical outputs on one machine. --out writes the outputs as an mcap bag "
        "(only when complete); --check compares with a golden output bag or summary JSON, per stream: mask IoU, "
        "costmap cells agreeing, plan Hausdorff distance (m), cmd_vel largest difference; exit status 1 on a "
        "regression, 2 on bad input (a corrupt bag, a missing topic, a topic map naming a missing topic).",
    )
    p.add_argument("bag", metavar="BAG", help="rosbag2 folder, .mcap file or ROS 1 .bag file")
    p.add_argument("--topics-map", metavar="FILE",
                   help="YAML 'stack input: bag topic', e.g. camera/color/image_raw: /camera/camera/color/image_raw "
                   "(see config/topics_realsense.yaml)")  # fmt: skip
    p.add_argument("--out", metavar="OUT_BAG", help="write the outputs as a new mcap bag (must not exist)")
    p.add_argument("--check", metavar="GOLDEN", help="golden output bag or summary .json to compare with")
    p.add_argument("--tolerances", metavar="FILE",
                   help="YAML of tolerances: mask_iou_min, costmap_agreement_min, path_hausdorff_max_m, "
                   "cmd_vel_max_diff, unmatched_max")  # fmt: skip
    p.add_argument("--summary", metavar="FILE", help="write the outputs' summary JSON (a golden for --check)")
    p.add_argument("--set", action="append", default=[], metavar="NODE.PARAM=VALUE",
                   help="override one parameter (VALUE in YAML), e.g. costmap_node.inflation_radius_m=0.6; "
                   "repeatable")  # fmt: skip
    _add_stack_arguments(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.add_argument("--json", action="store_true", help="print the result (and the check) as one JSON object")
    p.set_defaults(handler=_replay)


def _add_goto_parser(sub: Any) -> None:
    p = sub.add_parser(
        "goto",
        help="send a goal to the running stack (as RViz's 2D Goal Pose does) and follow it to the end",
        description="Publish a geometry_msgs/PoseStamped on goal_pose once the planner listens, then follow odom, "
        "planner_status and controller_status until the goal is reached (the controller says goal_reached with the "
        "robot within --tolerance), fails (the planner refuses the goal, or finds no path for --patience seconds) "
        "or times out. A progress line goes to stderr, the result to stdout. Exit status 0 on success, 1 on failure "
        "or timeout, 2 on bad arguments, 130 on Ctrl-C (which first sends a goal at the robot's pose, so it stops).",
    )
    p.add_argument("x", type=_finite("m"), metavar="X", help="goal x (m) in --frame")
    p.add_argument("y", type=_finite("m"), metavar="Y", help="goal y (m) in --frame")
    p.add_argument("yaw", type=_finite("rad"), nargs="?", default=None, metavar="YAW",
                   help="goal heading (rad, counter-clockwise from +x; default: the heading from the robot to the "
                   "goal, so it does not turn on the spot at the end)")  # fmt: skip
    p.add_argument("--frame", default="odom", metavar="FRAME",
                   help="frame_id of the goal (default odom, the planner's global_frame); another frame, such as "
                   "map, needs TF to connect it to odom (goal_frame_unknown otherwise)")  # fmt: skip
    p.add_argument("--timeout", type=_finite("s"), default=120.0, metavar="S",
                   help="give up after S seconds (simulated with --use-sim-time; default 120, 0 = never)")  # fmt: skip
    p.add_argument("--tolerance", type=_positive("m"), default=0.3, metavar="M",
                   help="success needs the robot within M metres of the goal (straight line; default 0.3, keep it at "
                   "least the controller's xy_goal_tolerance_m)")  # fmt: skip
    p.add_argument("--patience", type=_finite("s"), default=5.0, metavar="S",
                   help="fail when the planner finds no path (no_path, start_blocked, goal_blocked) for S seconds "
                   "(default 5)")  # fmt: skip
    p.add_argument("--wait", type=_positive("s"), default=10.0, metavar="S",
                   help="wait up to S wall seconds for the planner, controller and the robot pose to be there "
                   "(default 10)")  # fmt: skip
    p.add_argument("--use-sim-time", action="store_true",
                   help="follow /clock (the simulator's time) for the timeout and patience")  # fmt: skip
    p.add_argument("--robot-pose-source", choices=("odom", "tf"), default="odom",
                   help="where the robot pose comes from, as the stack's robot_pose_source: odom (the odom topic, "
                   "default) or tf (TF --global-frame -> --base-frame)")  # fmt: skip
    p.add_argument("--global-frame", default="odom", metavar="FRAME",
                   help="with --robot-pose-source tf: the planner's global_frame (default odom)")  # fmt: skip
    p.add_argument("--base-frame", default="base_link", metavar="FRAME",
                   help="with --robot-pose-source tf: the robot body frame (default base_link)")  # fmt: skip
    p.add_argument("--json", action="store_true",
                   help='print one JSON line {"result": "succeeded" | "failed" | "timed_out", "reason", "time_s" '
                   '(s), "distance_m" (m left, straight line; null without odometry)}')  # fmt: skip
    p.set_defaults(handler=_goto)


# ---------------------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    """The `rvn` argument parser with every subcommand."""
    parser = _Parser(
        prog="rvn",
        description="robot_vision_nav: camera-to-wheels local navigation. Units: metres, radians, seconds, pixels.",
    )
    parser.add_argument("--version", action="version", version=f"rvn {robot_vision_nav.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)

    p = sub.add_parser(
        "costmap",
        help="one depth frame (+ traversability mask) to a costmap picture and cell counts",
        description="Project one depth image (and optional traversability mask) with the robot at the origin facing "
        "+x, build the local costmap (Nav2 costs) and write it as a picture: free white, inflation yellow to red, "
        "inscribed purple, lethal black, unknown grey, +y up, robot blue.",
    )
    p.add_argument(
        "--depth",
        required=True,
        metavar="D.png",
        help="depth image: 16-bit PNG (read unchanged), or float32 .tiff/.npy; 0 = no reading",
    )
    p.add_argument(
        "--depth-scale",
        type=_positive("m per unit"),
        default=None,
        metavar="M_PER_UNIT",
        help="metres per depth unit (default: 0.001 for integer images, i.e. millimetres; 1.0 for float)",
    )
    p.add_argument(
        "--mask", metavar="M.png", help="traversability mask, mono8 PNG of the depth's size: 255 drivable, 0 keep-out"
    )
    p.add_argument("--fx", type=_positive("px"), required=True, help="focal length along x (px, > 0)")
    p.add_argument("--fy", type=_positive("px"), required=True, help="focal length along y (px, > 0)")
    p.add_argument("--cx", type=_finite("px"), required=True, help="principal point x (px)")
    p.add_argument("--cy", type=_finite("px"), required=True, help="principal point y (px)")
    p.add_argument(
        "--mount",
        type=_mount,
        required=True,
        metavar="x,y,z,roll,pitch,yaw",
        help="camera body pose in base_link: x, y, z (m), roll, pitch, yaw (rad); pitch > 0 looks down; "
        "e.g. 0.1,0,0.5,0,0.35,0",
    )
    p.add_argument("--out", required=True, metavar="G.png", help="costmap picture to write (replaced atomically)")
    p.add_argument("--resolution", type=_positive("m"), default=0.05, metavar="M", help="cell size (m, default 0.05)")
    p.add_argument(
        "--size",
        type=_positive("m"),
        default=10.0,
        metavar="M",
        help="side of the square window centred on the robot (m, default 10)",
    )
    p.add_argument(
        "--scale",
        type=_int_in(1, 20, "px per cell"),
        default=3,
        metavar="PX_PER_CELL",
        help="picture pixels per cell (1..20, default 3)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object: cells per cost band, resolution_m, size_cells [rows, cols], out, pixels per class",
    )
    p.set_defaults(handler=_costmap)

    p = sub.add_parser(
        "plan",
        help="plan a path on a Nav2 map YAML (metres) or a MovingAI .map (cells)",
        description="Plan from --start to --goal on a map: A* (jump point search where every usable cell costs "
        "the same) on the 8-connected grid, no corner cutting, lethal and inscribed cells refused. Nav2 map YAML: "
        "coordinates in metres in the map frame. MovingAI .map: whole cell numbers X Y = column, line from the top "
        "of the file (as .scen files give them), and the path is printed in the same cells. With --cost-weight 0, "
        "no --any-angle and no --smooth, the length is the optimal 8-connected length MovingAI lists. Exits 1 when "
        "no path exists.",
    )
    p.add_argument("--map", required=True, metavar="MAP", help="Nav2 map_server YAML (.yaml) or MovingAI .map file")
    p.add_argument("--start", required=True, nargs=2, type=_finite("m, or cells for .map"), metavar=("X", "Y"),
                   help="start: metres (YAML) or cell column and line (.map)")  # fmt: skip
    p.add_argument("--goal", required=True, nargs=2, type=_finite("m, or cells for .map"), metavar=("X", "Y"),
                   help="goal: metres (YAML) or cell column and line (.map); outside the map, the plan ends at the "
                   "best edge cell toward it")  # fmt: skip
    p.add_argument("--cost-weight", type=_finite("dimensionless"), default=3.0, metavar="W",
                   help="step cost = length * (1 + W * value / 98) on inflated cells (0..1000, default 3; 0 = "
                   "shortest path)")  # fmt: skip
    p.add_argument("--any-angle", action="store_true", help="Theta*-style straight segments at any heading")
    p.add_argument(
        "--smooth",
        action="store_true",
        help="smooth the path (never into a refused cell); off by default: lengths stay comparable",
    )
    p.add_argument("--json", action="store_true",
                   help='print one JSON object {"found", "length", "expansions", "time_ms", "path": [[x, y], ...], '
                   '"status"} (length in metres or cells)')  # fmt: skip
    p.set_defaults(handler=_plan)

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
    p.add_argument("--model", required=True, metavar="M", help="model weights NAME.safetensors (card beside it)")
    p.add_argument("--split", default="test", choices=("train", "val", "test"), help="split to score (default test)")
    p.add_argument("--limit", type=_int_in(1, 10**9, "images"), metavar="N",
                   help="score the first N images only (synthetic: frames to generate, default 16)")  # fmt: skip
    p.add_argument("--seed", type=_int_in(0, 2**31 - 1, "seed"), default=0, metavar="S",
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
    p.add_argument("--height", type=_int_in(8, 8192, "px"), metavar="H", help="input height (px; default the card's)")
    p.add_argument("--width", type=_int_in(8, 8192, "px"), metavar="W", help="input width (px; default the card's)")
    p.add_argument("--opset", type=_int_in(7, 100, "ONNX opset"), metavar="N",
                   help="ONNX opset version (default: torch's)")  # fmt: skip
    p.add_argument("--json", action="store_true",
                   help='print one JSON object {"onnx", "card", "card_written", "height", "width" (px), "opset", '
                   '"max_abs_diff" (null when not verified)}; with --checkpoint {"model", "card", "sha256", "bytes", '
                   '"dtype", "height", "width" (px), "metrics", "onnx", "max_abs_diff"}')  # fmt: skip
    p.set_defaults(handler=_export)

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

    names = bench_names()
    p = sub.add_parser(
        "bench",
        help="run a benchmark from bench/",
        description="Run bench/NAME.py: ours against peers measured in the same run, times in ms.",
    )
    p.add_argument("name", metavar="NAME", help=f"benchmark name (available: {', '.join(names) or 'none'})")
    p.add_argument(
        "--json",
        action="store_true",
        help='print one JSON object {"bench", "machine", "rows": [{"case", "ours_ms", "peer", "peer_ms", "speedup"}]}',
    )
    p.add_argument("--quick", action="store_true", help="fewer repeats and cases (a smoke run, seconds)")
    p.add_argument(
        "--minutes",
        type=_positive("min"),
        default=None,
        metavar="M",
        help="how long a benchmark that runs for a time goes on (min, > 0; soak: default 10, --quick 0.4)",
    )
    p.set_defaults(handler=_bench)

    p = sub.add_parser(
        "demo",
        help="the closed loop: the whole stack drives to the goal in generated warehouses",
        description="For each world seed S..S+N-1 the simulator, segmentation (the shipped SegNet weights), costmap, "
        "planner and controller run in this process over rclpy; a goal is sent on goal_pose and the robot drives "
        "until the controller reports goal_reached or the scene's time limit (30 s + 3x the shortest route at cruise "
        "speed) passes. Prints a table per scene (success, time, path length vs the shortest route, minimum "
        "clearance to obstacles and people, collisions, keep-out violations, loop rate = camera frames folded into "
        "the costmap per wall second) and totals; writes DIR/summary.png and DIR/summary.json.",
    )
    p.add_argument(
        "--scenes", type=_int_in(1, 1000, "scenes"), default=10, metavar="N", help="worlds to drive (default 10)"
    )
    p.add_argument(
        "--seed", type=_int_in(0, 999_000, "seed"), default=1, metavar="S", help="first world seed (default 1)"
    )
    p.add_argument("--out", default="out/demo", metavar="DIR", help="output folder (default out/demo)")
    p.add_argument(
        "--ablation",
        choices=("none", "depth-only"),
        default="none",
        help="depth-only: the costmap ignores segmentation (every pixel drivable), to measure what perception is worth",
    )
    p.add_argument("--localized", action="store_true",
                   help="drive as a robot with a localiser: the wheel odometry drifts, the simulator publishes map -> "
                   "odom (as AMCL or SLAM would), the goal is sent in map and the nodes take the robot pose from TF "
                   "(robot_pose_source tf); needs tf2_ros")  # fmt: skip
    _add_stack_arguments(p)
    p.add_argument("--json", action="store_true", help="print summary.json's content as one JSON line")
    p.set_defaults(handler=_demo)

    p = sub.add_parser(
        "run",
        help="the stack without ros2 launch: in one process, or one process per node",
        description="Start segmentation, costmap, planner and controller (and with --sim the built-in simulator) "
        "from the same node list as launch/bringup.launch.py. Ctrl-C stops every node, and the controller's last "
        "message is a zero velocity command. A node that refuses its parameters stops the rest (exit 1).",
    )
    _add_stack_arguments(p)
    p.add_argument("--sim", action="store_true", help="also run the simulator (sim_node) and use sim time")
    p.add_argument("--world-seed", type=_int_in(-1, 999_999, "world seed"), default=-1, metavar="S",
                   help="with --sim: the warehouse seed (default config/sim.yaml's)")  # fmt: skip
    p.add_argument("--processes", action="store_true", help="one process per node (Fast DDS shared memory)")
    p.add_argument("--navigator", action="store_true",
                   help="also run navigator_node: Nav2's navigate_to_pose action (needs nav2_msgs)")  # fmt: skip
    p.add_argument(
        "--executor",
        choices=("events", "single", "multi"),
        default="events",
        help="in one process: rclpy's EventsExecutor (default), SingleThreaded or MultiThreaded",
    )
    p.add_argument("--namespace", metavar="NS", help="push every node into this namespace")
    p.add_argument("--camera", default="default", metavar="NAME",
                   help="camera driver whose colour, depth and camera_info topics the stack reads: default (the "
                   "stack's camera/color/image_raw, ...) or realsense (realsense2_camera 4.x with "
                   "align_depth.enable:=true: camera/camera/color/image_raw, ...); --params can set "
                   "image_transport / depth_transport for its compressed topics")  # fmt: skip
    p.add_argument("--use-sim-time", action="store_true", help="follow /clock (a bag or an external simulator)")
    p.add_argument("--log-level", choices=("debug", "info", "warn", "error", "fatal"), default="info")
    _add_network_arguments(p)
    p.set_defaults(handler=_run)
    _add_sim_parsers(sub)
    _add_goto_parser(sub)
    _add_bag_parsers(sub)
    _add_env_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run `rvn` with `argv` (default: the process arguments) and return the exit status."""
    parser = build_parser()
    args_in = _glue_negative_values(sys.argv[1:] if argv is None else argv, ("--mount",))
    try:
        args = parser.parse_args(args_in)
    except SystemExit as exc:  # --help, --version, or a usage error already reported in one line
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else EXIT_USAGE)
    try:
        return int(args.handler(args))
    except CliError as err:
        print(f"rvn {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
