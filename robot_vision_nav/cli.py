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
DEMO_MAX_FRAMES = 50  # robot_vision_nav.demo.MAX_FRAMES, repeated so `rvn --help` needs no numba (a test ties them)


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
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number in {lo}..{hi} ({unit}), got {text!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"must be in {lo}..{hi} ({unit}), got {value}")
        return value

    return parse


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
    from robot_vision_nav.demo import cell_counts, costmap_picture, encode_image, write_bytes_atomic

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
    result = module.run(quick=args.quick)
    if args.json:
        print(json.dumps(result))
    else:
        common.print_table(result)
    return 0


# ---------------------------------------------------------------------------------------- demo
def _demo(args: argparse.Namespace) -> int:
    from robot_vision_nav.demo import format_summary, run_demo

    out_dir = Path(args.out)
    if out_dir.exists() and not out_dir.is_dir():
        raise CliError(f"argument --out: {str(out_dir)!r} exists and is not a folder")
    try:
        summary = run_demo(out_dir, frames=args.frames)
    except OSError as err:
        raise CliError(f"cannot write into {str(out_dir)!r}: {err.strerror or err}") from err
    print(json.dumps(summary) if args.json else format_summary(summary))
    return 0 if summary["keepout_lethal"] and not summary["lane_lethal"] else 1


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
    p.set_defaults(handler=_bench)

    p = sub.add_parser(
        "demo",
        help="the built-in warehouse drive: RGB-D frames to a costmap, checked",
        description="Drive a scripted arc through a built-in warehouse aisle at 10 Hz (320x240 RGB-D), build the "
        "rolling costmap (10 m, 0.05 m cells) and write costmap.png, camera.png, mask.png and summary.json. "
        "Exits 1 if the keep-out patches are not lethal or the drivable lane line is.",
    )
    p.add_argument("--out", default="out/demo", metavar="DIR", help="output folder (default out/demo)")
    p.add_argument(
        "--frames",
        type=_int_in(1, DEMO_MAX_FRAMES, "frames at 10 Hz"),
        default=40,
        metavar="N",
        help=f"frames to drive, 0.1 s apart (1..{DEMO_MAX_FRAMES}, default 40)",
    )
    p.add_argument("--json", action="store_true", help="print summary.json's content as one JSON line")
    p.set_defaults(handler=_demo)
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
