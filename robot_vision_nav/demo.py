"""The built-in demo: a robot drives a scripted arc through an analytic warehouse aisle.

Until the simulator exists this is `rvn demo` / `make demo`: every frame is ray-cast exactly by
`sim.synthetic` (RGB, depth, traversability mask), folded into a `RollingCostmap`, and the final map
is checked against what the scene says it must be (the painted keep-out patch lethal, the drivable
lane line not). Deterministic: no randomness, and times are stamps, not clock reads (only the
reported update timings vary between runs). Also holds the small helpers `rvn` shares with it:
costmap pictures, cell counts and atomic file writes. Must never import ROS.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from robot_vision_nav.core.costmap import (
    INSCRIBED_INFLATED_OBSTACLE,
    LETHAL,
    LETHAL_OBSTACLE,
    NO_INFORMATION,
    UNKNOWN,
    CostmapConfig,
    RollingCostmap,
)
from robot_vision_nav.core.geometry import CameraMount, PinholeIntrinsics, Pose2D
from robot_vision_nav.core.visualize import costs_to_rgb, draw_robot, upscale
from robot_vision_nav.sim.synthetic import Box, FloorPatch, RGBDFrame, Scene, d435_intrinsics, render

IMAGE_WIDTH = 320
IMAGE_HEIGHT = 240
FRAME_PERIOD_NS = 100_000_000  # 10 Hz
PICTURE_SCALE = 3  # pixels per cell in costmap.png
SPEED_M_S = 1.0
YAW_RATE_RAD_S = 0.1
START_POSE = Pose2D(0.0, 0.0, -0.2)
MAX_FRAMES = 50  # the scripted drive lasts 5 s, less than the costmap's obstacle decay time

WALL_RGB = (175, 170, 160)
RACK_RGB = (40, 80, 170)
PALLET_RGB = (150, 110, 60)
KEEPOUT_RGB = (200, 30, 30)
LANE_RGB = (240, 200, 20)

# The painted floor areas the final check is about, in odom metres: a keep-out patch passed on the
# right, another ahead at the end of the drive, and a drivable yellow lane line on the left.
KEEPOUT_PATCHES = (
    FloorPatch(2.0, -1.6, 3.0, -0.8, drivable=False, colour_rgb=KEEPOUT_RGB),
    FloorPatch(5.6, -1.0, 6.6, -0.2, drivable=False, colour_rgb=KEEPOUT_RGB),
)
LANE_PATCH = FloorPatch(-1.0, 1.0, 9.0, 1.1, drivable=True, colour_rgb=LANE_RGB)
# Keep-out cells seen this close (horizontally, from the camera) must end up lethal. At 320x240 the
# floor's pixel rows are about d^2 / (camera height * fy) apart: 4 cm at 2.5 m, under one 5 cm cell,
# so every such cell gets the costmap's `min_points_per_cell`; farther, rows spread past a cell and
# some cells are cleared without a mark until the robot comes closer, as in Nav2.
KEEPOUT_CHECK_RANGE_M = 2.5


def warehouse_scene() -> Scene:
    """A warehouse aisle: side walls, an end wall, two racks, two pallets, a keep-out patch and a lane line."""
    boxes = (
        Box(4.0, 3.25, 12.0, 0.1, 1.2, WALL_RGB),  # left wall
        Box(4.0, -3.25, 12.0, 0.1, 1.2, WALL_RGB),  # right wall
        Box(9.0, 0.0, 0.1, 6.4, 1.2, WALL_RGB),  # end wall
        Box(3.5, 2.6, 2.0, 0.6, 1.8, RACK_RGB),  # rack along the left wall
        Box(5.2, -2.6, 2.4, 0.6, 1.8, RACK_RGB),  # rack along the right wall
        Box(1.2, -2.2, 0.6, 0.6, 0.6, PALLET_RGB),
        Box(7.4, 0.5, 0.8, 0.8, 1.0, PALLET_RGB),
    )
    return Scene(boxes=boxes, patches=(*KEEPOUT_PATCHES, LANE_PATCH))


def arc_pose(stamp_ns: int) -> Pose2D:
    """The scripted drive: constant speed and yaw rate from START_POSE, a gentle left arc (`stamp_ns` from 0)."""
    t = stamp_ns * 1e-9
    yaw0 = START_POSE.yaw_rad
    yaw = yaw0 + YAW_RATE_RAD_S * t
    radius = SPEED_M_S / YAW_RATE_RAD_S
    x = START_POSE.x_m + radius * (math.sin(yaw) - math.sin(yaw0))
    y = START_POSE.y_m - radius * (math.cos(yaw) - math.cos(yaw0))
    return Pose2D(x, y, yaw, stamp_ns)


def cell_counts(costs: NDArray[np.uint8]) -> dict[str, int]:
    """Cells per Nav2 cost band: free (0), inflated (1..252), inscribed (253), lethal (254), unknown (255)."""
    hist = np.bincount(costs.ravel(), minlength=256)
    return {
        "free": int(hist[0]),
        "inflated": int(hist[1:INSCRIBED_INFLATED_OBSTACLE].sum()),
        "inscribed": int(hist[INSCRIBED_INFLATED_OBSTACLE]),
        "lethal": int(hist[LETHAL_OBSTACLE]),
        "unknown": int(hist[NO_INFORMATION]),
    }


def costmap_picture(costmap: RollingCostmap, pose: Pose2D, scale: int = PICTURE_SCALE) -> NDArray[np.uint8]:
    """The costmap as an RGB picture (+y up), `scale` pixels per cell, with the robot drawn at `pose`."""
    picture = upscale(costs_to_rgb(costmap.costs), scale)
    draw_robot(
        picture, costmap.origin_m, costmap.resolution_m, (pose.x_m, pose.y_m, pose.yaw_rad),
        costmap.config.robot_radius_m, scale,
    )  # fmt: skip
    return picture


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same folder and `os.replace`.

    A reader never sees a half-written file, and a failure leaves whatever was there before.
    """
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(data)
        os.chmod(tmp_name, 0o644)  # mkstemp makes it 0600; a picture is for everyone to read
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def encode_image(image: NDArray[np.uint8], suffix: str = ".png", rgb: bool = True) -> bytes:
    """Encode an image for a file with `suffix` (RGB pictures are converted to OpenCV's BGR)."""
    pixels = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if rgb and image.ndim == 3 else image
    ok, buffer = cv2.imencode(suffix, pixels)
    if not ok:
        raise ValueError(f"OpenCV could not encode a {image.shape} {image.dtype} image as {suffix}")
    return buffer.tobytes()


def patch_cells(patch: FloorPatch, resolution_m: float, *, whole: bool) -> NDArray[np.int64]:
    """World-grid cells (N, 2) = (ix, iy) wholly inside a floor patch (`whole`) or overlapping it at all.

    Cell (ix, iy) covers [ix, ix + 1) x [iy, iy + 1) times the resolution: the costmap's world-fixed grid.
    """
    eps = 1e-9  # patch edges on cell edges count as on them, not one float wobble off
    if whole:
        xs = range(math.ceil(patch.x_min_m / resolution_m - eps), math.floor(patch.x_max_m / resolution_m + eps))
        ys = range(math.ceil(patch.y_min_m / resolution_m - eps), math.floor(patch.y_max_m / resolution_m + eps))
    else:
        xs = range(math.floor(patch.x_min_m / resolution_m + eps), math.ceil(patch.x_max_m / resolution_m - eps))
        ys = range(math.floor(patch.y_min_m / resolution_m + eps), math.ceil(patch.y_max_m / resolution_m - eps))
    grid = np.array([(ix, iy) for iy in ys for ix in xs], dtype=np.int64)
    return grid.reshape(-1, 2)


def window_states(costmap: RollingCostmap, cells: NDArray[np.int64]) -> NDArray[np.int8]:
    """Obstacle-layer state of world-grid cells (N, 2); UNKNOWN for cells outside the window."""
    res = costmap.resolution_m
    col0, row0 = (round(v / res) for v in costmap.origin_m)
    rows, cols = costmap.shape
    c = cells[:, 0] - col0
    r = cells[:, 1] - row0
    inside = (r >= 0) & (r < rows) & (c >= 0) & (c < cols)
    states = np.full(len(cells), UNKNOWN, dtype=np.int8)
    states[inside] = costmap.state[r[inside], c[inside]]
    return states


def floor_points_in_view(
    points_xy_m: NDArray[np.float64],
    frame: RGBDFrame,
    intrinsics: PinholeIntrinsics,
    mount: CameraMount,
    pose: Pose2D,
    max_range_m: float,
) -> NDArray[np.bool_]:
    """Which floor points (odom x, y; z = 0) the frame shows unoccluded within `max_range_m` of the camera.

    Ground truth from the scene, independent of the costmap: a point is seen when it projects into
    the image and the rendered depth at that pixel is its own depth (nothing in front of it).
    """
    cos_yaw, sin_yaw = math.cos(pose.yaw_rad), math.sin(pose.yaw_rad)
    dx = points_xy_m[:, 0] - pose.x_m
    dy = points_xy_m[:, 1] - pose.y_m
    base = np.stack([cos_yaw * dx + sin_yaw * dy, -sin_yaw * dx + cos_yaw * dy, np.zeros_like(dx)], axis=-1)
    rel = base - mount.translation_m()
    optical = rel @ mount.rotation_base_optical()  # row vectors: R^T applied to each point
    z = optical[:, 2]
    ahead = z > 1e-6
    safe_z = np.where(ahead, z, 1.0)
    u = np.rint(intrinsics.fx * optical[:, 0] / safe_z + intrinsics.cx).astype(np.int64)
    v = np.rint(intrinsics.fy * optical[:, 1] / safe_z + intrinsics.cy).astype(np.int64)
    in_image = ahead & (u >= 0) & (u < intrinsics.width) & (v >= 0) & (v < intrinsics.height)
    rendered = np.zeros_like(z)
    rendered[in_image] = frame.depth_m[v[in_image], u[in_image]]
    # The nearest pixel centre sees a floor point up to half a pixel row away: allow that depth step.
    unoccluded = np.abs(rendered - z) <= 0.02 + 0.02 * z
    near = np.hypot(rel[:, 0], rel[:, 1]) <= max_range_m
    return in_image & unoccluded & near


def run_demo(out_dir: Path, frames: int = 40) -> dict[str, Any]:
    """Drive the scripted arc for `frames` frames (10 Hz) and write the results into `out_dir`.

    Writes `costmap.png` (final costmap, 3 px per cell, robot drawn), `camera.png` (last RGB frame),
    `mask.png` (last traversability mask, 255 = drivable) and `summary.json` (the returned dict), each
    atomically.

    Args:
        out_dir: folder for the four files; created if missing.
        frames: number of frames, at least 1; the path is the same, only cut shorter.

    Returns:
        frames, update timings (ms), final cell counts, and the keep-out / lane checks:
        `keepout_lethal` is true when every cell wholly inside the keep-out patch that was seen is
        lethal (and some were seen); `lane_lethal` is true when any cell touching the lane line is.

    Raises:
        ValueError: `frames` below 1.

    """
    if not 1 <= frames <= MAX_FRAMES:
        raise ValueError(f"frames must be 1..{MAX_FRAMES} (the scripted drive is {MAX_FRAMES / 10:g} s), got {frames}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    scene = warehouse_scene()
    intrinsics = d435_intrinsics(IMAGE_WIDTH, IMAGE_HEIGHT)
    config = CostmapConfig(width_m=10.0, height_m=10.0, resolution_m=0.05)
    costmap = RollingCostmap(config)
    keepout_cells = np.concatenate([patch_cells(p, config.resolution_m, whole=True) for p in KEEPOUT_PATCHES])
    keepout_centres = (keepout_cells + 0.5) * config.resolution_m
    seen_near = np.zeros(len(keepout_cells), dtype=bool)

    # Compile the numba kernels and build the ray table outside the timed loop, on a throw-away map.
    first = render(scene, intrinsics, config.mount, arc_pose(0))
    RollingCostmap(config).update(first.depth_mm(), intrinsics, arc_pose(0), 0, first.mask)

    update_ms: list[float] = []
    pose = arc_pose(0)
    frame = first
    for i in range(frames):
        stamp_ns = i * FRAME_PERIOD_NS
        pose = arc_pose(stamp_ns)
        frame = first if i == 0 else render(scene, intrinsics, config.mount, pose)
        depth = frame.depth_mm()
        t0 = time.perf_counter()
        costmap.update(depth, intrinsics, pose, stamp_ns, frame.mask)
        update_ms.append((time.perf_counter() - t0) * 1e3)
        seen_near |= floor_points_in_view(keepout_centres, frame, intrinsics, config.mount, pose, KEEPOUT_CHECK_RANGE_M)

    keepout_states = window_states(costmap, keepout_cells)
    lane_states = window_states(costmap, patch_cells(LANE_PATCH, costmap.resolution_m, whole=False))
    keepout = {
        "cells": len(keepout_cells),
        "seen": int((keepout_states != UNKNOWN).sum()),
        "lethal": int((keepout_states >= LETHAL).sum()),
        "check_range_m": KEEPOUT_CHECK_RANGE_M,
        "seen_in_range": int(seen_near.sum()),
        "lethal_in_range": int((seen_near & (keepout_states >= LETHAL)).sum()),
    }
    lane = {
        "cells": len(lane_states),
        "seen": int((lane_states != UNKNOWN).sum()),
        "lethal": int((lane_states >= LETHAL).sum()),
    }
    rows, cols = costmap.shape
    summary: dict[str, Any] = {
        "frames": frames,
        "image_size": [IMAGE_WIDTH, IMAGE_HEIGHT],
        "update_ms": {
            "median": round(float(np.median(update_ms)), 3),
            "p90": round(float(np.percentile(update_ms, 90)), 3),
        },
        "final_pose": {"x_m": round(pose.x_m, 4), "y_m": round(pose.y_m, 4), "yaw_rad": round(pose.yaw_rad, 4)},
        "resolution_m": costmap.resolution_m,
        "size_cells": [rows, cols],
        "origin_m": [round(v, 4) for v in costmap.origin_m],
        "cells": cell_counts(costmap.costs),
        "keepout": keepout,
        "keepout_lethal": 0 < keepout["seen_in_range"] == keepout["lethal_in_range"],
        "lane": lane,
        "lane_lethal": lane["lethal"] > 0,
        "files": {name: str(out_dir / f"{name}.png") for name in ("costmap", "camera", "mask")},
    }
    summary["files"]["summary"] = str(out_dir / "summary.json")

    write_bytes_atomic(out_dir / "costmap.png", encode_image(costmap_picture(costmap, pose)))
    write_bytes_atomic(out_dir / "camera.png", encode_image(frame.rgb))
    write_bytes_atomic(out_dir / "mask.png", encode_image(frame.mask, rgb=False))
    write_bytes_atomic(out_dir / "summary.json", (json.dumps(summary, indent=2) + "\n").encode())
    return summary


def format_summary(summary: dict[str, Any]) -> str:
    """The demo's result as a small table for people."""
    cells = summary["cells"]
    keepout, lane = summary["keepout"], summary["lane"]
    near = (
        f"{keepout['lethal_in_range']} of {keepout['seen_in_range']} cells seen within {keepout['check_range_m']:g} m"
    )
    rows = [
        ("frames", f"{summary['frames']} at 10 Hz, {summary['image_size'][0]}x{summary['image_size'][1]} RGB-D"),
        ("update ms", f"median {summary['update_ms']['median']:.2f}, p90 {summary['update_ms']['p90']:.2f}"),
        ("final pose", "x {x_m:.2f} m, y {y_m:.2f} m, yaw {yaw_rad:.2f} rad".format(**summary["final_pose"])),
        ("cells", ", ".join(f"{name} {n}" for name, n in cells.items())),
        (
            "keep-out lethal",
            f"{summary['keepout_lethal']} ({near}; {keepout['lethal']} of {keepout['seen']} seen at all)",
        ),
        ("lane lethal", f"{summary['lane_lethal']} ({lane['lethal']} of {lane['seen']} seen cells)"),
        ("costmap", summary["files"]["costmap"]),
        ("summary", summary["files"]["summary"]),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)
