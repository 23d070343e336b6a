"""A rolling local costmap in the odom frame with Nav2's cost semantics.

One update takes a depth image (+ traversability mask, + optionally segmentation's confidence) and
the robot pose at its stamp and:
  1. moves the window so the robot stays at its centre, keeping every cell it already knew;
  2. projects and classifies the pixels (see `projection`); with `min_floor_confidence` > 0, floor
     the mask calls drivable with less confidence than that is unsure: no reading, like a pixel
     without depth, and a cell whose floor pixels are mostly unsure is not cleared in this update
     (a ray passing over it to surer floor farther on proves no obstacle stands there, but says
     nothing about the floor: unknown stays unknown);
  3. clears by ray-tracing from the camera: each clearing ray's horizontal part is binned by
     azimuth, the farthest ground or obstacle hit per bin is kept, and every cell of the window
     closer than that along its bin becomes free (equivalent to tracing every ray, in O(cells)),
     except in the blind zone in front of the nearest hit where the rays pass too high to have
     seen a low obstacle (a curb under the camera's view is remembered, not erased);
  4. marks obstacle cells lethal with at least `min_points_per_cell` hits (rejects single-pixel
     depth noise), and keep-out cells when their not-drivable floor pixels are at least
     `keepout_min_fraction` of the cell's floor pixels and either that many hits or at least as
     many as the drivable ones (far away a floor cell gets a single pixel row, and a painted zone
     must not vanish there; near, a few misclassified pixels among many drivable ones must not
     close the floor); lets obstacles that have not been seen for
     `obstacle_decay_s` fade back to unknown;
  5. inflates exactly as Nav2's InflationLayer does: 254 lethal, 253 within the inscribed radius,
     floor(252 * exp(-cost_scaling_factor * (d - inscribed_radius))) out to the inflation radius,
     with unknown cells left unknown unless the cost is at least inscribed (`inflate_unknown`
     false) or any cost (`inflate_unknown` true);
  6. converts costs to OccupancyGrid values with Nav2's costmap_2d_publisher table:
     0 -> 0, 1..252 -> 1 + 97 * (c - 1) // 251, 253 -> 99, 254 -> 100, 255 -> -1.

Grids are (rows, cols) = (y, x) with row 0 at the lowest y, the OccupancyGrid layout. Times are
message stamps in ns, never a clock read here, so replaying the same inputs gives the same map.
The image and cell loops are numba-compiled: fused single passes over the image and the grid,
where numpy would build many full-size temporaries per update (bench/costmap measures both: the
numpy/scipy version of these steps is ~2.3x slower at 5 cm). This module must never import ROS.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numba
import numpy as np
from numpy.typing import NDArray

from robot_vision_nav.core.config import ConfigError, param, validate_fields
from robot_vision_nav.core.geometry import CameraMount, PinholeIntrinsics, Pose2D
from robot_vision_nav.core.grid import Grid
from robot_vision_nav.core.projection import (
    GROUND,
    KEEPOUT,
    NO_IMAGE,
    OBSTACLE,
    OVERHEAD,
    UNSURE,
    DepthProjector,
    ProjectionConfig,
    _classify,
    _sure,
    camera_mount_param,
    check_projection_fields,
    drop_off_param,
    max_depth_param,
    max_obstacle_height_param,
    min_depth_param,
    min_obstacle_height_param,
)

# Nav2 cost values (nav2_costmap_2d/cost_values.hpp).
FREE_SPACE = 0
INSCRIBED_INFLATED_OBSTACLE = 253
LETHAL_OBSTACLE = 254
NO_INFORMATION = 255

# Cell states of the obstacle layer. Both lethal states cost LETHAL_OBSTACLE; they differ in what
# may clear them: a ray passing over a painted keep-out cell says nothing about the paint (only
# pixels landing in the cell do), while it does prove that no obstacle stands there.
UNKNOWN = -1
FREE = 0
LETHAL = 1  # an obstacle with height (or a drop-off)
LETHAL_KEEPOUT = 2  # floor the traversability mask calls not drivable


def nav2_cost_translation_table() -> NDArray[np.int8]:
    """Nav2's cost -> OccupancyGrid value table (costmap_2d_publisher.cpp), index = cost."""
    table = np.empty(256, dtype=np.int8)
    table[0] = 0
    for cost in range(1, 253):
        table[cost] = 1 + (97 * (cost - 1)) // 251
    table[253] = 99
    table[254] = 100
    table[255] = -1
    return table


COST_TO_OCCUPANCY = nav2_cost_translation_table()


def nav2_inflation_cost(
    distance_cells: float, resolution_m: float, inscribed_radius_m: float, cost_scaling_factor: float
) -> int:
    """Nav2 InflationLayer::computeCost for a cell `distance_cells` from the nearest lethal cell."""
    if distance_cells == 0:
        return LETHAL_OBSTACLE
    if distance_cells * resolution_m <= inscribed_radius_m:
        return INSCRIBED_INFLATED_OBSTACLE
    factor = math.exp(-1.0 * cost_scaling_factor * (distance_cells * resolution_m - inscribed_radius_m))
    return int((INSCRIBED_INFLATED_OBSTACLE - 1) * factor)


def inflation_cell_radius(inflation_radius_m: float, resolution_m: float) -> int:
    """Nav2's cell_inflation_radius_ = Costmap2D::cellDistance(r) = ceil(r / resolution).

    Computed in doubles exactly as Nav2 does, so a radius that is not a whole number of cells
    in binary floating point rounds the same way here and there.
    """
    return max(0, math.ceil(inflation_radius_m / resolution_m))


def inflation_cost_table(
    resolution_m: float, inscribed_radius_m: float, inflation_radius_m: float, cost_scaling_factor: float
) -> NDArray[np.uint8]:
    """Nav2 inflation cost by squared distance in cells, index 0 .. cell radius^2; farther cells cost 0."""
    radius_cells = inflation_cell_radius(inflation_radius_m, resolution_m)
    return np.array(
        [
            nav2_inflation_cost(math.sqrt(d2), resolution_m, inscribed_radius_m, cost_scaling_factor)
            for d2 in range(radius_cells * radius_cells + 1)
        ],
        dtype=np.uint8,
    )


# The distance of every cell when nothing is lethal: farther than any inflation radius, and small
# enough that its square is still a finite float32.
NO_LETHAL_DISTANCE_CELLS = 1.0e6


def lethal_distance_cells(lethal: NDArray[np.bool_]) -> NDArray[np.float32]:
    """Euclidean distance in cells from each cell's centre to the nearest lethal cell's centre (0 on them).

    OpenCV's exact transform (Felzenszwalb): each value is the float32 square root of an integer,
    so `round(d * d)` gives back the squared distance. With no lethal cell every value is
    NO_LETHAL_DISTANCE_CELLS.
    """
    if not lethal.any():
        return np.full(lethal.shape, NO_LETHAL_DISTANCE_CELLS, dtype=np.float32)
    not_lethal = (~lethal).astype(np.uint8)
    return np.asarray(cv2.distanceTransform(not_lethal, cv2.DIST_L2, cv2.DIST_MASK_PRECISE), dtype=np.float32)


def inflation_costs(
    lethal: NDArray[np.bool_],
    resolution_m: float,
    inscribed_radius_m: float,
    inflation_radius_m: float,
    cost_scaling_factor: float,
) -> NDArray[np.uint8]:
    """Nav2 InflationLayer costs of a fully known grid from its lethal cells.

    254 on lethal cells, 253 within the inscribed radius, floor(252 exp(-cost_scaling_factor
    (d - inscribed_radius))) out to Nav2's cell inflation radius, 0 beyond (as `RollingCostmap`
    inflates known cells). `COST_TO_OCCUPANCY[costs]` gives the OccupancyGrid values.
    """
    table = inflation_cost_table(resolution_m, inscribed_radius_m, inflation_radius_m, cost_scaling_factor)
    dist = lethal_distance_cells(lethal).astype(np.float64)
    d2 = np.floor(dist * dist + 0.5).astype(np.int64)  # exact: EDT distances are square roots of integers
    costs = np.full(lethal.shape, FREE_SPACE, dtype=np.uint8)
    near = d2 < len(table)
    costs[near] = table[d2[near]]
    return costs


def grow_lethal(lethal: NDArray[np.bool_], radius_m: float, resolution_m: float) -> NDArray[np.bool_]:
    """Cells whose centre lies within `radius_m` of a lethal cell's centre (lethal cells included).

    Compared in float32, the precision of `lethal_distance_cells`: a cell exactly `radius_m`
    away may fall on either side, always the same side for the same numbers.
    """
    return np.asarray(lethal_distance_cells(lethal) * resolution_m <= radius_m, dtype=np.bool_)


@dataclass(frozen=True)
class CostmapConfig(ProjectionConfig):
    """Everything that shapes the local costmap; `costmap_node` fills it from its parameters."""

    width_m: float = param(10.0, "side of the rolling window along x", unit="m", min_value=0.5, max_value=200.0)
    height_m: float = param(10.0, "side of the rolling window along y", unit="m", min_value=0.5, max_value=200.0)
    resolution_m: float = param(0.05, "cell size", unit="m", min_value=0.005, max_value=1.0)
    camera_mount_xyzrpy: tuple[float, ...] = camera_mount_param()
    min_depth_m: float = min_depth_param()
    max_depth_m: float = max_depth_param(10.0)
    min_obstacle_height_m: float = min_obstacle_height_param()
    max_obstacle_height_m: float = max_obstacle_height_param()
    drop_off_depth_m: float = drop_off_param()
    obstacle_max_range_m: float = param(
        4.0,
        "obstacles farther (horizontally, from the camera) are not marked",
        unit="m",
        min_value=0.0,
        max_value=100.0,
    )
    raytrace_max_range_m: float = param(
        5.0,
        "clearing rays stop at this horizontal range from the camera",
        unit="m",
        min_value=0.0,
        max_value=100.0,
    )
    min_points_per_cell: int = param(
        2,
        "hits needed in one update to mark a cell (rejects single-pixel noise)",
        unit="points",
        min_value=1,
        max_value=100000,
    )
    use_traversability_mask: bool = param(
        True, "ground the segmentation mask calls not drivable becomes lethal (false: depth only)"
    )
    keepout_min_fraction: float = param(
        0.5,
        "a cell becomes keep-out only when not-drivable pixels are at least this share of the floor pixels "
        "that fell in it in one update (rejects scattered misclassified pixels; 0: any min_points_per_cell)",
        min_value=0.0,
        max_value=1.0,
    )
    keepout_max_range_m: float = param(
        2.5,
        "floor the mask calls not drivable farther than this (horizontally, from the camera) is unsure: it "
        "neither marks keep-out nor lets its cell be cleared (a far pixel covers a long patch of floor, and "
        "a few wrong ones there make streaks of keep-out cells); at or above obstacle_max_range_m: off",
        unit="m",
        min_value=0.0,
        max_value=100.0,
    )
    mask_drivable_threshold: int = param(
        128, "mask values at or above this are drivable (mono8, 255 = drivable)", min_value=1, max_value=255
    )
    min_floor_confidence: float = param(
        0.0,
        "floor the mask calls drivable but segmentation/confidence puts below this (soft-max probability) is "
        "unknown, neither cleared nor marked; obstacles and keep-out stay; needs use_traversability_mask; 0: off "
        "(the confidence topic is then not subscribed)",
        min_value=0.0,
        max_value=1.0,
    )
    obstacle_decay_s: float = param(
        5.0,
        "obstacles not seen again for this long fade to unknown; 0 keeps them",
        unit="s",
        min_value=0.0,
        max_value=3600.0,
    )
    robot_radius_m: float = param(
        0.25, "circular footprint radius, Nav2's inscribed radius", unit="m", min_value=0.01, max_value=10.0
    )
    inflation_radius_m: float = param(
        0.55, "costs spread this far from lethal cells", unit="m", min_value=0.0, max_value=20.0
    )
    cost_scaling_factor: float = param(
        3.0, "exponential decay rate of inflated cost", unit="1/m", min_value=0.0, max_value=100.0
    )
    inflate_unknown: bool = param(False, "let inflation give cost to unknown cells (Nav2 inflate_unknown)")
    track_unknown_space: bool = param(True, "publish never-seen cells as unknown (-1); false: as free (0)")
    footprint_clearing: bool = param(True, "cells under the robot footprint are free at every update")

    def __post_init__(self) -> None:
        validate_fields(self)
        check_projection_fields(self)
        if self.inflation_radius_m < self.robot_radius_m:
            raise ConfigError(
                f"parameter 'inflation_radius_m' = {self.inflation_radius_m} must be at least "
                f"'robot_radius_m' = {self.robot_radius_m} (Nav2 inflates at least to the inscribed radius)"
            )
        if min(self.width_cells, self.height_cells) < 3:
            raise ConfigError(
                f"window {self.width_m} x {self.height_m} m at resolution {self.resolution_m} m has fewer than "
                "3 cells per side"
            )

    @property
    def width_cells(self) -> int:
        """Window columns."""
        return round(self.width_m / self.resolution_m)

    @property
    def height_cells(self) -> int:
        """Window rows."""
        return round(self.height_m / self.resolution_m)

    @property
    def uses_confidence(self) -> bool:
        """Whether updates take segmentation's confidence image: a mask and a minimum above 0."""
        return self.use_traversability_mask and self.min_floor_confidence > 0.0


@dataclass(frozen=True)
class UpdateStats:
    """What one update saw: pixel counts per class and cells changed."""

    valid_pixels: int
    ground_pixels: int
    obstacle_pixels: int
    keepout_pixels: int
    overhead_pixels: int
    marked_cells: int
    cleared_cells: int
    shift_cells: tuple[int, int]
    unsure_pixels: int = 0  # drivable floor below min_floor_confidence: no reading


@numba.njit(cache=True, nogil=True)
def _scan_kernel(
    depth: NDArray[np.generic],
    scale: float,
    mask: NDArray[np.uint8],
    use_mask: bool,
    threshold: int,
    conf: NDArray[np.uint8],
    use_conf: bool,
    min_conf: float,
    rays: NDArray[np.float32],
    hfac: NDArray[np.float32],
    bins: NDArray[np.int32],
    t: NDArray[np.float64],
    min_d: float,
    max_d: float,
    min_h: float,
    max_h: float,
    drop: float,
    mark_range: float,
    clear_range: float,
    keepout_range: float,
    cos_yaw: float,
    sin_yaw: float,
    robot_x: float,
    robot_y: float,
    origin_x: float,
    origin_y: float,
    inv_res: float,
    fy: float,
    hits: NDArray[np.int32],
    bin_range: NDArray[np.float32],
    bin_near: NDArray[np.float32],
    counts: NDArray[np.int64],
) -> None:
    """One pass over the image: per-cell hits, per-azimuth-bin clearing range, class counts.

    hits[0] counts obstacle points per cell, hits[1] keep-out points, hits[2] drivable ground,
    hits[3] unsure ground (drivable, confidence below `min_conf` in mono8 units, or not drivable farther
    than `keepout_range`: it does not clear).
    A floor pixel stands for a patch of floor about (H^2 + R^2) / (H * fy) long along its ray (H the
    camera height, R the range): far away that is longer than a cell, and counting the pixel in one
    cell only would leave cells between pixel rows unobserved (a painted zone would show stripes
    of never-marked cells). Such pixels are spread over their patch at half-cell steps.
    """
    res = 1.0 / inv_res
    cam_h = t[2]
    # Floor patch length of a pixel = (H^2 + R^2) * inv_h_fy; a camera at or below the floor has none.
    inv_h_fy = 1.0 / (cam_h * fy) if cam_h > 0.0 else 0.0
    cam_x = robot_x + cos_yaw * t[0] - sin_yaw * t[1]
    cam_y = robot_y + sin_yaw * t[0] + cos_yaw * t[1]
    h, w = depth.shape
    rows, cols = hits.shape[1], hits.shape[2]
    for v in range(h):
        for u in range(w):
            z = float(depth[v, u]) * scale
            if not (z > 0.0 and z >= min_d and z <= max_d):  # also false for NaN; 0 is "no reading"
                continue
            counts[0] += 1
            pz = t[2] + z * rays[2, v, u]
            drivable = (not use_mask) or mask[v, u] >= threshold
            cls = _classify(pz, drivable, _sure(conf, use_conf, min_conf, v, u), min_h, max_h, drop)
            counts[cls] += 1
            if cls == OVERHEAD:
                continue  # rays over the robot's height prove nothing about the floor below
            hr = z * hfac[v, u]
            if cls != UNSURE:  # unsure floor clears nothing, like a pixel without depth
                b = bins[v, u]
                reach = hr if hr < clear_range else clear_range
                if reach > bin_range[b]:
                    bin_range[b] = reach
                if hr < bin_near[b]:
                    bin_near[b] = hr
            if hr > mark_range:
                continue
            layer = 0 if cls == OBSTACLE else (1 if cls == KEEPOUT else (2 if cls == GROUND else 3))
            if layer == 1 and hr > keepout_range:
                layer = 3  # far not-drivable floor: unsure, after it has lengthened its clearing ray
            patch = (cam_h * cam_h + hr * hr) * inv_h_fy if layer != 0 else 0.0
            weight = 1
            if layer >= 2 and patch < 0.5 * res:
                # Dense floor (two or more pixel rows per cell): drivable pixels only feed the
                # keep-out vote (and unsure ones the no-clearing vote), so one in four is counted,
                # four times. Keep-out pixels all count.
                if (u | v) & 1:
                    continue
                weight = 4
            px = t[0] + z * rays[0, v, u]
            py = t[1] + z * rays[1, v, u]
            wx = robot_x + cos_yaw * px - sin_yaw * py
            wy = robot_y + sin_yaw * px + cos_yaw * py
            c = int(math.floor((wx - origin_x) * inv_res))
            r = int(math.floor((wy - origin_y) * inv_res))
            if 0 <= r < rows and 0 <= c < cols:
                hits[layer, r, c] += weight
            if patch <= res:
                continue
            n = int(patch * inv_res * 2.0)  # samples at half-cell spacing across the patch
            ux, uy = (wx - cam_x) / hr, (wy - cam_y) / hr
            for k in range(n + 1):
                offset = (k / n - 0.5) * patch
                c = int(math.floor((wx + offset * ux - origin_x) * inv_res))
                r = int(math.floor((wy + offset * uy - origin_y) * inv_res))
                if 0 <= r < rows and 0 <= c < cols:
                    hits[layer, r, c] += 1


@numba.njit(cache=True, nogil=True)
def _cell_kernel(
    state: NDArray[np.int8],
    last_seen: NDArray[np.int64],
    hits: NDArray[np.int32],
    bin_range: NDArray[np.float32],
    bin_near: NDArray[np.float32],
    blind_factor: float,
    bin_width: float,
    cam_x: float,
    cam_y: float,
    robot_yaw: float,
    origin_x: float,
    origin_y: float,
    res: float,
    min_points: int,
    keepout_fraction: float,
    stamp_ns: int,
    decay_ns: int,
    robot_x: float,
    robot_y: float,
    footprint_radius: float,
    use_unsure: bool,
) -> tuple[int, int]:
    """Clear along the binned rays, mark hits, decay stale obstacles, clear the footprint.

    With `use_unsure`, a cell with more unsure floor hits (layer 3) than drivable ones is not cleared.
    """
    rows, cols = state.shape
    n_bins = bin_range.shape[0]
    # Bounding box of the swept wedge: the camera and both arc ends of every bin that saw
    # something. Only cells inside it need the per-cell azimuth test (about a quarter of the
    # window for a forward camera, instead of a full circle of max range).
    max_reach = 0.0
    x_lo, x_hi, y_lo, y_hi = cam_x, cam_x, cam_y, cam_y
    for b in range(n_bins):
        reach = bin_range[b]
        if reach <= 0.0:
            continue
        if reach > max_reach:
            max_reach = reach
        for edge in (b, b + 1):
            a = edge * bin_width - math.pi + robot_yaw
            x = cam_x + reach * math.cos(a)
            y = cam_y + reach * math.sin(a)
            x_lo, x_hi = min(x_lo, x), max(x_hi, x)
            y_lo, y_hi = min(y_lo, y), max(y_hi, y)
    cleared = 0
    if max_reach > 0.0:
        c0 = max(0, int(math.floor((x_lo - origin_x) / res)) - 1)
        c1 = min(cols - 1, int(math.floor((x_hi - origin_x) / res)) + 1)
        r0 = max(0, int(math.floor((y_lo - origin_y) / res)) - 1)
        r1 = min(rows - 1, int(math.floor((y_hi - origin_y) / res)) + 1)
        reach2 = max_reach * max_reach
        for r in range(r0, r1 + 1):
            dy = origin_y + (r + 0.5) * res - cam_y
            for c in range(c0, c1 + 1):
                dx = origin_x + (c + 0.5) * res - cam_x
                d2 = dx * dx + dy * dy
                if d2 > reach2:
                    continue
                a = math.atan2(dy, dx) - robot_yaw + math.pi  # azimuth in base_link (+pi), as binned
                if a < 0.0:
                    a += 2.0 * math.pi
                elif a >= 2.0 * math.pi:
                    a -= 2.0 * math.pi
                b = int(a / bin_width)
                if b >= n_bins:
                    b = n_bins - 1
                br = bin_range[b]
                near = bin_near[b] * blind_factor
                if near * near <= d2 <= br * br and (state[r, c] == LETHAL or state[r, c] == UNKNOWN):
                    if use_unsure and hits[3, r, c] > hits[2, r, c]:
                        continue  # mostly unsure floor: neither cleared nor marked
                    state[r, c] = FREE
                    cleared += 1
    marked = 0
    for r in range(rows):
        for c in range(cols):
            keepout = hits[1, r, c]
            ground = hits[2, r, c]
            if hits[0, r, c] >= min_points:
                state[r, c] = LETHAL
                last_seen[r, c] = stamp_ns
                marked += 1
            elif (keepout >= min_points or (keepout > 0 and keepout >= ground)) and keepout >= keepout_fraction * (
                keepout + ground
            ):
                state[r, c] = LETHAL_KEEPOUT
                last_seen[r, c] = stamp_ns
                marked += 1
            elif state[r, c] == LETHAL_KEEPOUT and ground > keepout:
                state[r, c] = FREE  # the floor there is seen drivable now
            elif decay_ns > 0 and state[r, c] >= LETHAL and stamp_ns - last_seen[r, c] > decay_ns:
                state[r, c] = UNKNOWN
    if footprint_radius > 0.0:
        rad_cells = int(math.ceil(footprint_radius / res)) + 1
        rc = int(math.floor((robot_y - origin_y) / res))
        cc = int(math.floor((robot_x - origin_x) / res))
        fr2 = footprint_radius * footprint_radius
        for r in range(max(0, rc - rad_cells), min(rows, rc + rad_cells + 1)):
            dy = origin_y + (r + 0.5) * res - robot_y
            for c in range(max(0, cc - rad_cells), min(cols, cc + rad_cells + 1)):
                dx = origin_x + (c + 0.5) * res - robot_x
                if dx * dx + dy * dy <= fr2:
                    state[r, c] = FREE
    return marked, cleared


@numba.njit(cache=True, nogil=True)
def _cost_kernel(
    state: NDArray[np.int8],
    dist: NDArray[np.float32],
    lut: NDArray[np.uint8],
    inflate_unknown: bool,
    track_unknown: bool,
    table: NDArray[np.int8],
    costs: NDArray[np.uint8],
    occupancy: NDArray[np.int8],
) -> None:
    """Inflation costs from exact distances (via squared-distance table) and OccupancyGrid values."""
    rows, cols = state.shape
    max_d2 = lut.shape[0] - 1
    for r in range(rows):
        for c in range(cols):
            s = state[r, c]
            if s >= LETHAL:
                cost = LETHAL_OBSTACLE
            else:
                d = dist[r, c]
                d2 = int(d * d + 0.5)  # exact: EDT distances are square roots of integers
                cost = int(lut[d2]) if d2 <= max_d2 else FREE_SPACE
                # Nav2 InflationLayer: unknown stays unknown unless the inflated cost is high enough.
                keeps_unknown = not (cost > FREE_SPACE if inflate_unknown else cost >= INSCRIBED_INFLATED_OBSTACLE)
                if s == UNKNOWN and track_unknown and keeps_unknown:
                    cost = NO_INFORMATION
            costs[r, c] = cost
            occupancy[r, c] = table[cost]


class RollingCostmap:
    """The local costmap: a window of `CostmapConfig.width_m` x `height_m` following the robot.

    Args:
        config: window size, resolution, camera mount, filters, inflation.

    """

    def __init__(self, config: CostmapConfig) -> None:
        self.config = config
        self._projector: DepthProjector | None = None
        self._allocate()
        self._build_inflation_table()
        self._recompute_costs()

    def _allocate(self) -> None:
        rows, cols = self.shape
        self.state = np.full((rows, cols), UNKNOWN, dtype=np.int8)
        self.last_seen_ns = np.zeros((rows, cols), dtype=np.int64)
        self.costs = np.full((rows, cols), NO_INFORMATION, dtype=np.uint8)
        self.occupancy = np.full((rows, cols), -1, dtype=np.int8)
        self._hits = np.zeros((4, rows, cols), dtype=np.int32)  # obstacle, keep-out, ground, unsure ground
        self._origin_cell: tuple[int, int] | None = None  # (col, row) of cell (0, 0) in the world grid

    # ------------------------------------------------------------------ window
    @property
    def resolution_m(self) -> float:
        """Cell size in metres."""
        return self.config.resolution_m

    @property
    def origin_m(self) -> tuple[float, float]:
        """World (odom) position of the lower-left corner of cell (0, 0)."""
        ox, oy = self._origin_cell if self._origin_cell is not None else (0, 0)
        return ox * self.config.resolution_m, oy * self.config.resolution_m

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols) of the window."""
        return self.config.height_cells, self.config.width_cells

    def world_to_cell(self, x_m: float, y_m: float) -> tuple[int, int] | None:
        """(row, col) of the cell holding a world point, or None outside the window."""
        ox, oy = self.origin_m
        res = self.config.resolution_m
        c, r = math.floor((x_m - ox) / res), math.floor((y_m - oy) / res)
        rows, cols = self.shape
        return (r, c) if 0 <= r < rows and 0 <= c < cols else None

    def cell_center(self, row: int, col: int) -> tuple[float, float]:
        """World (odom) position of a cell's centre."""
        ox, oy = self.origin_m
        res = self.config.resolution_m
        return ox + (col + 0.5) * res, oy + (row + 0.5) * res

    def recenter(self, x_m: float, y_m: float) -> tuple[int, int]:
        """Move the window so (x, y) is at its centre; cells still inside keep their content.

        The origin is snapped to whole cells of a world-fixed grid, so a cell covers the same
        piece of floor before and after a move. Returns the shift (cols, rows).
        """
        res = self.config.resolution_m
        rows, cols = self.shape
        new = (math.floor(x_m / res) - cols // 2, math.floor(y_m / res) - rows // 2)
        if self._origin_cell is None:
            self._origin_cell = new
            return (0, 0)
        dc, dr = new[0] - self._origin_cell[0], new[1] - self._origin_cell[1]
        if dc == 0 and dr == 0:
            return (0, 0)
        for grid, fill in ((self.state, UNKNOWN), (self.last_seen_ns, 0)):
            moved = np.full_like(grid, fill)
            # old cell (r, c) becomes new cell (r - dr, c - dc)
            src_r = slice(max(dr, 0), rows + min(dr, 0))
            src_c = slice(max(dc, 0), cols + min(dc, 0))
            dst_r = slice(max(-dr, 0), rows + min(-dr, 0))
            dst_c = slice(max(-dc, 0), cols + min(-dc, 0))
            if src_r.start < src_r.stop and src_c.start < src_c.stop:
                moved[dst_r, dst_c] = grid[src_r, src_c]
            grid[...] = moved
        self._origin_cell = new
        return (dc, dr)

    # ------------------------------------------------------------------ update
    def projector_for(self, intrinsics: PinholeIntrinsics, mount: CameraMount | None = None) -> DepthProjector:
        """The ray table for this camera model and mount (default: the config's), rebuilt only when either changes."""
        mount = self.config.mount if mount is None else mount
        if self._projector is None or not self._projector.matches(intrinsics, mount):
            bin_width = self.config.resolution_m / (2.0 * max(self.config.raytrace_max_range_m, 1e-3))
            self._projector = DepthProjector(intrinsics, mount, bin_width_rad=bin_width)
        return self._projector

    def update(
        self,
        depth: NDArray[np.generic],
        intrinsics: PinholeIntrinsics,
        pose: Pose2D,
        stamp_ns: int,
        mask: NDArray[np.uint8] | None = None,
        mount: CameraMount | None = None,
        confidence: NDArray[np.uint8] | None = None,
    ) -> UpdateStats:
        """Fold one depth frame (and its traversability mask) taken at `pose` into the map.

        Args:
            depth: HxW uint16 millimetres (16UC1) or float32 metres (32FC1).
            intrinsics: the depth image's camera model; its size must match the image.
            pose: base_link in odom at the image's stamp.
            stamp_ns: the image's stamp; obstacle ages are measured against it.
            mask: HxW mono8 traversability (255 = drivable); ignored when the config says so.
            mount: the camera pose in base_link for this frame (from TF); None: `camera_mount_xyzrpy`.
            confidence: HxW mono8, 255 x the soft-max probability of each pixel's class; used with the
                mask when `min_floor_confidence` > 0 (without it every drivable pixel counts as sure).

        Raises:
            DepthInputError: wrong dtype, or depth, mask, confidence and camera model of different sizes.

        """
        cfg = self.config
        projector = self.projector_for(intrinsics, mount)
        use_mask = cfg.use_traversability_mask and mask is not None
        use_conf = use_mask and cfg.uses_confidence and confidence is not None
        scale = projector.check_inputs(depth, mask if use_mask else None, confidence if use_conf else None)
        shift = self.recenter(pose.x_m, pose.y_m)
        ox, oy = self.origin_m
        cos_yaw, sin_yaw = math.cos(pose.yaw_rad), math.sin(pose.yaw_rad)
        t = projector.t_base_camera
        cam_x = pose.x_m + cos_yaw * t[0] - sin_yaw * t[1]
        cam_y = pose.y_m + sin_yaw * t[0] + cos_yaw * t[1]
        # Far not-drivable floor is unsure only with the mask and a keep-out range short of the marking range.
        far_unsure = use_mask and cfg.keepout_max_range_m < cfg.obstacle_max_range_m
        use_unsure = use_conf or far_unsure
        # Unsure floor (layer 3) is only written and read with use_unsure: without it the off path clears
        # no more than it did before that layer existed.
        self._hits[: 4 if use_unsure else 3].fill(0)
        bin_range = np.zeros(projector.n_bins, dtype=np.float32)
        bin_near = np.full(projector.n_bins, np.inf, dtype=np.float32)
        counts = np.zeros(UNSURE + 1, dtype=np.int64)
        flt = cfg.point_filter
        _scan_kernel(
            np.ascontiguousarray(depth), scale, mask if (use_mask and mask is not None) else NO_IMAGE, use_mask,
            flt.mask_drivable_threshold, confidence if (use_conf and confidence is not None) else NO_IMAGE, use_conf,
            cfg.min_floor_confidence * 255.0, projector.rays, projector.horizontal_factor, projector.bin_index, t,
            flt.min_depth_m, flt.max_depth_m, flt.min_obstacle_height_m, flt.max_obstacle_height_m,
            flt.drop_off_depth_m, cfg.obstacle_max_range_m, cfg.raytrace_max_range_m,
            cfg.keepout_max_range_m,  # at or beyond obstacle_max_range_m it never applies (marking stops first)
            cos_yaw, sin_yaw, pose.x_m, pose.y_m, ox, oy, 1.0 / cfg.resolution_m, intrinsics.fy, self._hits,
            bin_range, bin_near, counts,
        )  # fmt: skip
        # A ray to the nearest hit of a bin at range Rn starts at the camera height H and is still
        # higher than min_obstacle_height until Rn * (1 - min_h / H): an obstacle lower than the
        # ray there (a curb in the blind zone in front of the robot) would not have blocked it, so
        # those cells are not cleared. Nav2's 2-D obstacle layer clears them and forgets curbs.
        blind_factor = max(0.0, 1.0 - cfg.min_obstacle_height_m / t[2]) if t[2] > 0.0 else 0.0
        marked, cleared = _cell_kernel(
            self.state, self.last_seen_ns, self._hits, bin_range, bin_near, blind_factor, projector.bin_width_rad,
            cam_x, cam_y,
            pose.yaw_rad, ox, oy, cfg.resolution_m, cfg.min_points_per_cell, cfg.keepout_min_fraction, int(stamp_ns),
            int(round(cfg.obstacle_decay_s * 1e9)), pose.x_m, pose.y_m,
            cfg.robot_radius_m if cfg.footprint_clearing else 0.0, use_unsure,
        )  # fmt: skip
        self._recompute_costs()
        return UpdateStats(
            valid_pixels=int(counts[0]), ground_pixels=int(counts[GROUND]), obstacle_pixels=int(counts[OBSTACLE]),
            keepout_pixels=int(counts[KEEPOUT]), overhead_pixels=int(counts[OVERHEAD]), marked_cells=int(marked),
            cleared_cells=int(cleared), shift_cells=shift, unsure_pixels=int(counts[UNSURE]),
        )  # fmt: skip

    def mark_lethal(self, rows: NDArray[np.intp], cols: NDArray[np.intp], stamp_ns: int) -> None:
        """Mark cells lethal directly (tests, and layers that know obstacles without depth)."""
        self.state[rows, cols] = LETHAL
        self.last_seen_ns[rows, cols] = stamp_ns
        self._recompute_costs()

    def grid(self, stamp_ns: int = 0, frame_id: str = "odom") -> Grid:
        """A snapshot of the published values (a copy), as the planner and controller read them."""
        ox, oy = self.origin_m
        return Grid(self.occupancy.copy(), self.resolution_m, ox, oy, frame_id, stamp_ns)

    def reconfigure(self, config: CostmapConfig) -> bool:
        """Switch to a new config; keep the map when the grid (size, resolution) is unchanged.

        Returns True when the map was kept, False when the grid changed and it starts unknown.
        """
        old = self.config
        self.config = config
        self._projector = None
        self._build_inflation_table()
        if (old.width_cells, old.height_cells, old.resolution_m) == (
            config.width_cells,
            config.height_cells,
            config.resolution_m,
        ):
            self._recompute_costs()
            return True
        self._allocate()
        self._recompute_costs()
        return False

    def reset(self) -> None:
        """Forget everything: every cell unknown."""
        self.state.fill(UNKNOWN)
        self.last_seen_ns.fill(0)
        self._recompute_costs()

    # ------------------------------------------------------------------ inflation
    def _build_inflation_table(self) -> None:
        cfg = self.config
        self._cost_lut = inflation_cost_table(
            cfg.resolution_m, cfg.robot_radius_m, cfg.inflation_radius_m, cfg.cost_scaling_factor
        )

    def _recompute_costs(self) -> None:
        dist = lethal_distance_cells(self.state >= LETHAL)
        _cost_kernel(
            self.state, dist, self._cost_lut, self.config.inflate_unknown, self.config.track_unknown_space,
            COST_TO_OCCUPANCY, self.costs, self.occupancy,
        )  # fmt: skip


def warm_up(config: CostmapConfig) -> None:
    """Compile the projection, marking and cost kernels now instead of on the first depth frame.

    Both depth encodings (16UC1 mm, 32FC1 m), with and without a mask, on a 4x4 image and a
    throw-away map of the same configuration: seconds the first time, then numba's cache.
    """
    tiny = PinholeIntrinsics(fx=2.0, fy=2.0, cx=2.0, cy=2.0, width=4, height=4)
    costmap = RollingCostmap(config)
    mask = np.full((4, 4), 255, np.uint8)
    for depth in (np.full((4, 4), 1000, np.uint16), np.ones((4, 4), np.float32)):
        for with_mask in (mask, None):
            costmap.update(depth, tiny, Pose2D(0.0, 0.0, 0.0), 0, with_mask)
