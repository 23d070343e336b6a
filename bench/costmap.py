"""bench/costmap: one full costmap update against the pipelines a user would otherwise write.

One update = 640x480 16UC1 depth + mono8 traversability mask -> a 10 m x 10 m window: projection,
classification, marking, clearing, Nav2 inflation and OccupancyGrid values. It is timed for
`RollingCostmap.update` and, in the same run, for two peers written here (a peer is not product
code, so it lives in bench/), plainly and vectorised, as a competent numpy/scipy user would:

- "open3d": `PointCloud.create_from_depth_image` with the intrinsic and the base_link extrinsic,
  height classes and the mask in numpy, `voxel_down_sample` at the grid resolution for the points
  to mark, then the shared numpy tail below.
- "numpy": the same with a vectorised pinhole projection (normalised pixel grids cached per camera
  model, as any user would) and per-cell hit counts by `np.bincount`.

The shared tail: clearing bins each ray's horizontal part by azimuth from the camera
(`np.maximum.at` over points into bins, then a vectorised test over the cells within reach),
marking by flat cell indices, obstacle decay, footprint clearing, inflation by
`scipy.ndimage.distance_transform_edt` and Nav2's cost formula, then Nav2's OccupancyGrid table.

So that the comparison is honest, each peer's final map is checked against ours: at least
`MIN_LETHAL_AGREEMENT` of our lethal cells must have a lethal cell in the peer's map at most one
cell away (`agreement` per row; one cell because Open3D's voxel grid is anchored at the cloud's
min bound, not at the map's cells). `agreement_exact` and `identical_cells` are reported as well.

Run: `python -m bench.costmap [--json] [--quick]` (or `rvn bench costmap`).
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import math
import sys
from collections.abc import Iterator
from dataclasses import replace
from types import ModuleType
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from bench.common import machine, print_table, row, time_call
from robot_vision_nav.core.costmap import LETHAL, CostmapConfig, RollingCostmap
from robot_vision_nav.core.geometry import PinholeIntrinsics, Pose2D
from robot_vision_nav.sim.synthetic import Box, FloorPatch, Scene, d435_intrinsics, render

NAME = "costmap"
IMAGE_W, IMAGE_H = 640, 480
WINDOW_M = 10.0
RESOLUTIONS_M = (0.05, 0.02, 0.01)
REPEATS = {0.05: 30, 0.02: 15, 0.01: 8}
QUICK_REPEATS = 2
MIN_LETHAL_AGREEMENT = 0.90
SCENE_SEED = 20240611
OPEN3D_MISSING = "open3d not installed: make bench-deps"

# Peer cell states, the same values as the costmap's obstacle layer.
P_UNKNOWN, P_FREE, P_LETHAL = -1, 0, 1


# ---------------------------------------------------------------------------------------- scene
def warehouse_scene(seed: int = SCENE_SEED) -> Scene:
    """Aisle racks, scattered pallets and cartons, a table, an overhead beam and a keep-out patch."""
    rng = np.random.default_rng(seed)
    boxes = [
        Box(x_m=3.5, y_m=2.2, size_x_m=3.0, size_y_m=0.6, height_m=1.8),  # racks on both sides of the aisle
        Box(x_m=3.5, y_m=-2.2, size_x_m=3.0, size_y_m=0.6, height_m=1.8),
        Box(x_m=2.2, y_m=0.9, size_x_m=0.8, size_y_m=0.6, height_m=0.75, base_m=0.7),  # table top
        Box(x_m=4.0, y_m=0.0, size_x_m=0.2, size_y_m=6.0, height_m=2.5, base_m=2.2),  # beam: overhead
    ]
    for _ in range(6):  # pallets and cartons in front of the robot, inside the field of view
        x = float(rng.uniform(1.3, 4.5))
        y = float(rng.uniform(-0.5, 0.5) * x)
        boxes.append(Box(x_m=x, y_m=y, size_x_m=float(rng.uniform(0.3, 0.8)), size_y_m=float(rng.uniform(0.3, 0.8)),
                         height_m=float(rng.uniform(0.2, 1.2))))  # fmt: skip
    keepout = FloorPatch(x_min_m=1.0, y_min_m=-1.0, x_max_m=1.8, y_max_m=-0.3, drivable=False)
    return Scene(boxes=tuple(boxes), patches=(keepout,))


def make_frame(cfg: CostmapConfig) -> tuple[NDArray[np.uint16], NDArray[np.uint8], PinholeIntrinsics, Pose2D]:
    """The benchmark's input, rendered once: 16UC1 depth (mm), mask, camera model, pose at the origin."""
    k = d435_intrinsics(IMAGE_W, IMAGE_H)
    pose = Pose2D(0.0, 0.0, 0.0)
    frame = render(warehouse_scene(), k, cfg.mount, pose)
    return frame.depth_mm(), frame.mask, k, pose


# ---------------------------------------------------------------------------------------- peers
def _nav2_occupancy_table() -> NDArray[np.int8]:
    cost = np.arange(256)
    table = np.where(cost == 0, 0, 1 + (97 * (cost - 1)) // 251)
    table[253], table[254], table[255] = 99, 100, -1
    return table.astype(np.int8)


class PeerCostmap:
    """The same rolling-window update written with numpy/scipy (and optionally Open3D for points).

    Args:
        config: the costmap configuration, read exactly as `RollingCostmap` reads it.
        intrinsics: the depth camera model.
        backend: "numpy" (meshgrid projection, bincount marking) or "open3d" (Open3D's
            depth-to-points and voxel filter).
        o3d: the imported open3d module, for backend "open3d".

    """

    def __init__(self, config: CostmapConfig, intrinsics: PinholeIntrinsics, backend: str,
                 o3d: ModuleType | None = None) -> None:  # fmt: skip
        if backend not in ("numpy", "open3d") or (backend == "open3d" and o3d is None):
            raise ValueError(f"backend must be 'numpy' or 'open3d' (with the module), got {backend!r}")
        self.cfg, self.k, self.backend, self.o3d = config, intrinsics, backend, o3d
        self.res = config.resolution_m
        self.rows, self.cols = config.height_cells, config.width_cells
        self.state = np.full((self.rows, self.cols), P_UNKNOWN, dtype=np.int8)
        self.last_seen_ns = np.zeros((self.rows, self.cols), dtype=np.int64)
        self.costs = np.full((self.rows, self.cols), 255, dtype=np.uint8)
        self.occupancy = np.full((self.rows, self.cols), -1, dtype=np.int8)
        mount = config.mount
        self.r_base_optical = mount.rotation_base_optical()
        self.t_base_camera = mount.translation_m()
        # Depth limits in the image's own unit (mm), so validity is one pass over uint16.
        self.min_mm, self.max_mm = config.min_depth_m * 1000.0, config.max_depth_m * 1000.0
        # Azimuth bins as wide as one cell at the ray-trace range, but never narrower than one pixel
        # column (narrower bins leave unswept spokes far away).
        hfov = 2.0 * math.atan((intrinsics.width / 2.0) / intrinsics.fx)
        bin_width = max(self.res / (2.0 * max(config.raytrace_max_range_m, 1e-3)), 1.05 * hfov / intrinsics.width)
        self.n_bins = math.ceil(2.0 * math.pi / bin_width)
        self.bin_width = 2.0 * math.pi / self.n_bins
        self.inflation_cells = max(0, math.ceil(config.inflation_radius_m / self.res - 1e-9))
        self.table = _nav2_occupancy_table()
        if backend == "numpy":
            # Each pixel's ray (z = 1 in the optical frame) rotated into base_link, once per camera model.
            u = (np.arange(intrinsics.width) - intrinsics.cx) / intrinsics.fx
            v = (np.arange(intrinsics.height) - intrinsics.cy) / intrinsics.fy
            uu, vv = np.meshgrid(u, v)
            optical = np.stack((uu.ravel(), vv.ravel(), np.ones(uu.size)))
            self.rays = (self.r_base_optical @ optical).astype(np.float32)  # (3, H*W)
        else:
            assert o3d is not None
            self.o3d_intrinsic = o3d.camera.PinholeCameraIntrinsic(
                intrinsics.width, intrinsics.height, intrinsics.fx, intrinsics.fy, intrinsics.cx, intrinsics.cy
            )
            t_base_optical = np.eye(4)
            t_base_optical[:3, :3], t_base_optical[:3, 3] = self.r_base_optical, self.t_base_camera
            self.o3d_extrinsic = np.linalg.inv(t_base_optical)  # Open3D wants world (base_link) -> camera

    # -------------------------------------------------------------------- depth -> points
    def open3d_points(self, depth_mm: NDArray[np.uint16]) -> NDArray[np.float64]:
        """Open3D's depth-to-points alone: one base_link point per pixel, row-major, NaN where invalid.

        `project_valid_depth_only=False` keeps the pixel correspondence, so the mask indexes straight
        in; an RGBD image would carry the mask as a colour channel converted to float.
        """
        assert self.o3d is not None
        pcd = self.o3d.geometry.PointCloud.create_from_depth_image(
            self.o3d.geometry.Image(depth_mm), self.o3d_intrinsic, self.o3d_extrinsic, depth_scale=1000.0,
            depth_trunc=self.cfg.max_depth_m, stride=1, project_valid_depth_only=False,
        )  # fmt: skip
        return np.asarray(pcd.points)

    def points(self, depth_mm: NDArray[np.uint16]) -> tuple[list[NDArray[np.floating]], NDArray[np.bool_]]:
        """x, y, z in base_link of the valid pixels (three (N,) arrays) and the flat pixel mask."""
        flat = depth_mm.ravel()
        valid = (flat >= self.min_mm) & (flat <= self.max_mm)
        if self.backend == "open3d":
            xyz = self.open3d_points(depth_mm)
            return [xyz[:, i][valid] for i in range(3)], valid
        z = flat[valid].astype(np.float32) * np.float32(1e-3)
        return [np.float32(self.t_base_camera[i]) + self.rays[i][valid] * z for i in range(3)], valid

    # -------------------------------------------------------------------- update
    def update(self, depth_mm: NDArray[np.uint16], mask: NDArray[np.uint8], pose: Pose2D, stamp_ns: int) -> None:
        """One full update: points, classes, clearing, marking, decay, footprint, inflation, values."""
        cfg, res = self.cfg, self.res
        (px, py, pz), valid = self.points(depth_mm)
        drivable = mask.ravel()[valid] >= cfg.mask_drivable_threshold if cfg.use_traversability_mask else True
        overhead = pz > cfg.max_obstacle_height_m
        obstacle = (pz >= cfg.min_obstacle_height_m) | (pz < -cfg.drop_off_depth_m)
        ground = ~overhead & ~obstacle & drivable
        # Horizontal part of each ray from the camera, in base_link.
        dx = px - px.dtype.type(self.t_base_camera[0])
        dy = py - py.dtype.type(self.t_base_camera[1])
        hr = np.sqrt(dx * dx + dy * dy)

        # Window origin snapped to whole cells of a world-fixed grid, robot at the centre.
        ox = (math.floor(pose.x_m / res) - self.cols // 2) * res
        oy = (math.floor(pose.y_m / res) - self.rows // 2) * res
        c, s = math.cos(pose.yaw_rad), math.sin(pose.yaw_rad)

        # Clearing: farthest reach per azimuth bin over non-overhead rays, then every cell within it.
        ray = ~overhead
        bins = ((np.arctan2(dy[ray], dx[ray]) + math.pi) / self.bin_width).astype(np.int64)
        np.clip(bins, 0, self.n_bins - 1, out=bins)
        bin_range = np.zeros(self.n_bins, dtype=hr.dtype)  # same dtype: ufunc.at's fast path
        np.maximum.at(bin_range, bins, np.minimum(hr[ray], cfg.raytrace_max_range_m))
        cam_x = pose.x_m + c * self.t_base_camera[0] - s * self.t_base_camera[1]
        cam_y = pose.y_m + s * self.t_base_camera[0] + c * self.t_base_camera[1]
        reach = float(bin_range.max(initial=0.0))
        if reach > 0.0:
            c0 = max(0, math.floor((cam_x - reach - ox) / res))
            c1 = min(self.cols - 1, math.floor((cam_x + reach - ox) / res))
            r0 = max(0, math.floor((cam_y - reach - oy) / res))
            r1 = min(self.rows - 1, math.floor((cam_y + reach - oy) / res))
            ys = (oy + (np.arange(r0, r1 + 1) + 0.5) * res - cam_y)[:, None]
            xs = (ox + (np.arange(c0, c1 + 1) + 0.5) * res - cam_x)[None, :]
            azimuth = (np.arctan2(ys, xs) - pose.yaw_rad + math.pi) % (2.0 * math.pi)
            cell_bin = np.minimum((azimuth / self.bin_width).astype(np.int64), self.n_bins - 1)
            sub = self.state[r0 : r1 + 1, c0 : c1 + 1]
            sub[xs * xs + ys * ys <= bin_range[cell_bin] ** 2] = P_FREE

        # Marking: obstacles and keep-out ground within range, in odom cells.
        mark = ~overhead & ~ground & (hr <= cfg.obstacle_max_range_m)
        mx, my = px[mark], py[mark]
        if self.backend == "open3d":
            assert self.o3d is not None
            # One point (the centroid) per occupied voxel: there is no per-cell hit count, so one voxel
            # marks its cell. The voxel grid is anchored at the cloud's min bound, not at the map's
            # cells, so a centroid can land one cell off (see `lethal_agreement`).
            cloud = self.o3d.geometry.PointCloud(self.o3d.utility.Vector3dVector(np.stack((mx, my, pz[mark]), 1)))
            centroids = np.asarray(cloud.voxel_down_sample(res).points)
            mx, my = centroids[:, 0], centroids[:, 1]
            min_points = 1
        else:
            min_points = cfg.min_points_per_cell
        wx = pose.x_m + c * mx - s * my
        wy = pose.y_m + s * mx + c * my
        col = np.floor((wx - ox) / res).astype(np.int64)
        rw = np.floor((wy - oy) / res).astype(np.int64)
        inside = (col >= 0) & (col < self.cols) & (rw >= 0) & (rw < self.rows)
        hits = np.bincount(rw[inside] * self.cols + col[inside], minlength=self.rows * self.cols)
        marked = (hits >= min_points).reshape(self.rows, self.cols)
        self.state[marked] = P_LETHAL
        self.last_seen_ns[marked] = stamp_ns
        decay_ns = round(cfg.obstacle_decay_s * 1e9)
        if decay_ns > 0:
            self.state[(self.state == P_LETHAL) & (stamp_ns - self.last_seen_ns > decay_ns)] = P_UNKNOWN

        # Footprint clearing: cells whose centre is under the robot.
        if cfg.footprint_clearing:
            rad = math.ceil(cfg.robot_radius_m / res) + 1
            rc, cc = math.floor((pose.y_m - oy) / res), math.floor((pose.x_m - ox) / res)
            fr0, fr1 = max(0, rc - rad), min(self.rows, rc + rad + 1)
            fc0, fc1 = max(0, cc - rad), min(self.cols, cc + rad + 1)
            fy = (oy + (np.arange(fr0, fr1) + 0.5) * res - pose.y_m)[:, None]
            fx = (ox + (np.arange(fc0, fc1) + 0.5) * res - pose.x_m)[None, :]
            self.state[fr0:fr1, fc0:fc1][fx * fx + fy * fy <= cfg.robot_radius_m**2] = P_FREE

        self._inflate()

    def _inflate(self) -> None:
        """Nav2 InflationLayer costs from exact Euclidean distances, then OccupancyGrid values."""
        cfg, res = self.cfg, self.res
        lethal = self.state == P_LETHAL
        # Exact Euclidean distance to the nearest lethal cell, in metres (none lethal: nothing inflated).
        dist_m = ndimage.distance_transform_edt(~lethal) * res if lethal.any() else np.full(lethal.shape, np.inf)
        with np.errstate(over="ignore"):
            decayed = np.floor(252.0 * np.exp(-cfg.cost_scaling_factor * (dist_m - cfg.robot_radius_m)))
        cost = np.where(dist_m <= cfg.robot_radius_m, 253, decayed)
        cost[dist_m > self.inflation_cells * res + 1e-9] = 0
        cost[lethal] = 254
        if cfg.track_unknown_space:
            keeps_unknown = cost <= 0 if cfg.inflate_unknown else cost < 253
            cost[(self.state == P_UNKNOWN) & keeps_unknown] = 255
        self.costs = cost.astype(np.uint8)
        self.occupancy = self.table[self.costs]


# ---------------------------------------------------------------------------------------- run
def _import_open3d() -> ModuleType | None:
    try:
        import open3d
    except (ImportError, OSError):  # OSError: libusb-1.0 missing at import time
        return None
    module: ModuleType = open3d
    return module


def lethal_agreement(ours: NDArray[np.int8], peer: NDArray[np.int8], tolerance_cells: int = 0) -> float:
    """Fraction of our lethal (100) cells with a peer lethal cell at most `tolerance_cells` away (Chebyshev)."""
    mine = ours == 100
    theirs = peer == 100
    if tolerance_cells > 0:
        side = 2 * tolerance_cells + 1
        theirs = ndimage.binary_dilation(theirs, structure=np.ones((side, side), dtype=bool))
    return float(np.count_nonzero(mine & theirs) / max(1, int(np.count_nonzero(mine))))


def run(quick: bool = False) -> dict[str, Any]:
    """Time ours and the peers at each resolution; return the bench JSON object."""
    o3d = _import_open3d()
    notes: list[str] = [] if o3d is not None else [OPEN3D_MISSING]
    peers = ["open3d", "numpy"] if o3d is not None else ["numpy"]
    resolutions = RESOLUTIONS_M[:1] if quick else RESOLUTIONS_M
    base = CostmapConfig(width_m=WINDOW_M, height_m=WINDOW_M)
    depth, mask, k, pose = make_frame(base)
    rows: list[dict[str, Any]] = []

    for res in resolutions:
        cfg = replace(base, resolution_m=res)
        repeats = QUICK_REPEATS if quick else REPEATS[res]
        warmup = 1 if quick else 3
        cells = f"{cfg.width_cells}x{cfg.height_cells}"
        case = f"update {IMAGE_W}x{IMAGE_H} -> {cells} @ {res * 100:g} cm"
        stamps = itertools.count(1, 33_000_000)
        cm = RollingCostmap(cfg)
        cm.update(depth, k, pose, next(stamps), mask)  # numba compiles (or loads its cache) here

        def ours(cm: RollingCostmap = cm, stamps: Iterator[int] = stamps) -> None:
            cm.update(depth, k, pose, next(stamps), mask)

        ours_ms = time_call(ours, repeats, warmup)
        for name in peers:
            peer = PeerCostmap(cfg, k, name, o3d)

            def theirs(peer: PeerCostmap = peer, stamps: Iterator[int] = stamps) -> None:
                peer.update(depth, mask, pose, next(stamps))

            peer_ms = time_call(theirs, repeats, warmup)
            # Checked within one cell: Open3D's voxel grid is not aligned with the map's cells.
            agreement = lethal_agreement(cm.occupancy, peer.occupancy, tolerance_cells=1)
            rows.append(row(
                case, ours_ms, name, peer_ms, resolution_m=res, cells=cfg.width_cells * cfg.height_cells,
                agreement=round(agreement, 4), agreement_ok=agreement >= MIN_LETHAL_AGREEMENT,
                agreement_exact=round(lethal_agreement(cm.occupancy, peer.occupancy), 4),
                identical_cells=round(float(np.mean(cm.occupancy == peer.occupancy)), 4),
                ours_lethal=int(np.count_nonzero(cm.state >= LETHAL)),
                peer_lethal=int(np.count_nonzero(peer.state == P_LETHAL)),
            ))  # fmt: skip

    # Depth -> points alone, for reference. Ours also classifies every pixel in the same pass; Open3D's
    # is create_from_depth_image (every pixel); numpy's is the valid pixels' points.
    cfg = replace(base, resolution_m=RESOLUTIONS_M[0])
    projector = RollingCostmap(cfg).projector_for(k)
    flt = cfg.point_filter
    repeats = QUICK_REPEATS if quick else REPEATS[RESOLUTIONS_M[0]]
    ours_ms = time_call(lambda: projector.classify(depth, mask, flt), repeats, warmup=2)
    for name in peers:
        peer = PeerCostmap(cfg, k, name, o3d)
        to_points = peer.open3d_points if name == "open3d" else peer.points
        peer_ms = time_call(functools.partial(to_points, depth), repeats, warmup=2)
        rows.append(row(f"depth->points {IMAGE_W}x{IMAGE_H}", ours_ms, name, peer_ms))

    return {"bench": NAME, "machine": machine(), "rows": rows, "notes": notes}


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.costmap [--json] [--quick]`; exit 1 if a peer's map disagrees with ours."""
    parser = argparse.ArgumentParser(prog="bench.costmap", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--quick", action="store_true", help="2 repeats, 5 cm only (a smoke test)")
    args = parser.parse_args(argv)
    result = run(quick=args.quick)
    if args.json:
        for note in result["notes"]:
            print(note, file=sys.stderr)
        print(json.dumps(result))
    else:
        print_table(result)
    sys.stdout.flush()
    bad = [r for r in result["rows"] if r.get("agreement_ok") is False]
    for r in bad:
        print(
            f"{r['case']}: only {r['agreement']:.1%} of our lethal cells have a lethal cell within one cell "
            f"for {r['peer']} (need {MIN_LETHAL_AGREEMENT:.0%}): the maps are not comparable",
            file=sys.stderr,
        )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
