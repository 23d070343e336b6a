"""`rvn costmap` and `rvn plan`: one depth frame to a costmap picture; a path on a Nav2 or MovingAI map.

OpenCV, numpy and numba load inside the handlers; this module must never import ROS at module level.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, cast

from robot_vision_nav.cli.common import CliError, camera_mount, check_out_path, finite, int_in, positive

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from robot_vision_nav.cli.common import Subparsers
    from robot_vision_nav.core.grid import Grid


# ---------------------------------------------------------------------------------------- costmap
def _read_depth(path: Path, scale_m_per_unit: float | None) -> tuple[NDArray[np.float32], str]:
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


def _read_mask(path: Path, depth_shape: tuple[int, int], depth_path: Path) -> NDArray[np.uint8]:
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
    return cast("NDArray[np.uint8]", mask)  # its dtype is checked above; OpenCV's stubs cannot know it


def _costmap(args: argparse.Namespace) -> int:
    from robot_vision_nav.core.config import ConfigError, check_value, param_info
    from robot_vision_nav.core.costmap import CostmapConfig, RollingCostmap
    from robot_vision_nav.core.geometry import GeometryError, PinholeIntrinsics, Pose2D
    from robot_vision_nav.core.projection import DepthInputError
    from robot_vision_nav.core.visualize import cell_counts, costmap_picture
    from robot_vision_nav.files import encode_image, write_bytes_atomic

    out = Path(args.out)
    check_out_path(out)
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


def _load_plan_map(path: Path) -> Grid:
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


# ---------------------------------------------------------------------------------------- parsers
def register(sub: Subparsers) -> None:
    """Add `rvn costmap` and `rvn plan` to `sub`."""
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
        type=positive("m per unit"),
        default=None,
        metavar="M_PER_UNIT",
        help="metres per depth unit (default: 0.001 for integer images, i.e. millimetres; 1.0 for float)",
    )
    p.add_argument(
        "--mask", metavar="M.png", help="traversability mask, mono8 PNG of the depth's size: 255 drivable, 0 keep-out"
    )
    p.add_argument("--fx", type=positive("px"), required=True, help="focal length along x (px, > 0)")
    p.add_argument("--fy", type=positive("px"), required=True, help="focal length along y (px, > 0)")
    p.add_argument("--cx", type=finite("px"), required=True, help="principal point x (px)")
    p.add_argument("--cy", type=finite("px"), required=True, help="principal point y (px)")
    p.add_argument(
        "--mount",
        type=camera_mount,
        required=True,
        metavar="x,y,z,roll,pitch,yaw",
        help="camera body pose in base_link: x, y, z (m), roll, pitch, yaw (rad); pitch > 0 looks down; "
        "e.g. 0.1,0,0.5,0,0.35,0",
    )
    p.add_argument("--out", required=True, metavar="G.png", help="costmap picture to write (replaced atomically)")
    p.add_argument("--resolution", type=positive("m"), default=0.05, metavar="M", help="cell size (m, default 0.05)")
    p.add_argument(
        "--size",
        type=positive("m"),
        default=10.0,
        metavar="M",
        help="side of the square window centred on the robot (m, default 10)",
    )
    p.add_argument(
        "--scale",
        type=int_in(1, 20, "px per cell"),
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
    p.add_argument("--start", required=True, nargs=2, type=finite("m, or cells for .map"), metavar=("X", "Y"),
                   help="start: metres (YAML) or cell column and line (.map)")  # fmt: skip
    p.add_argument("--goal", required=True, nargs=2, type=finite("m, or cells for .map"), metavar=("X", "Y"),
                   help="goal: metres (YAML) or cell column and line (.map); outside the map, the plan ends at the "
                   "best edge cell toward it")  # fmt: skip
    p.add_argument("--cost-weight", type=finite("dimensionless"), default=3.0, metavar="W",
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
