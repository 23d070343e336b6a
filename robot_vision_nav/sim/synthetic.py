"""Analytic RGB-D scenes: a floor, boxes and painted floor patches, ray-cast exactly.

Used where a known answer is needed (costmap tests put a box of known size at a known place and
check the cells, and bench/costmap its frames; `synthetic_aisles` labels its frames exactly for
training). Every pixel's ray is intersected
with the floor plane z = 0 and with each axis-aligned box (slab method), in the odom frame; the
traversability mask is 0 where the nearest hit is a keep-out patch on the floor, 255 elsewhere.
Deterministic, numpy only; this module must never import ROS.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from robot_vision_nav.core.geometry import CameraMount, PinholeIntrinsics, Pose2D, rotation_from_rpy
from robot_vision_nav.core.units import MM_PER_M

MASK_DRIVABLE = 255
MASK_KEEPOUT = 0


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in odom: centre (x, y), footprint size and top height.

    `base_m` lifts its underside off the floor (a shelf board, a table top).
    """

    x_m: float
    y_m: float
    size_x_m: float
    size_y_m: float
    height_m: float
    colour_rgb: tuple[int, int, int] = (150, 110, 60)
    base_m: float = 0.0


@dataclass(frozen=True)
class FloorPatch:
    """A flat rectangle painted on the floor in odom; `drivable` False makes it a keep-out zone."""

    x_min_m: float
    y_min_m: float
    x_max_m: float
    y_max_m: float
    drivable: bool = False
    colour_rgb: tuple[int, int, int] = (200, 30, 30)


@dataclass(frozen=True)
class Scene:
    """Boxes and floor patches on an infinite floor."""

    boxes: tuple[Box, ...] = ()
    patches: tuple[FloorPatch, ...] = ()
    floor_rgb: tuple[int, int, int] = field(default=(128, 128, 128))


@dataclass(frozen=True)
class RGBDFrame:
    """One rendered frame: colour (rgb8), depth in metres (0 where no hit), mask (255 drivable)."""

    rgb: NDArray[np.uint8]
    depth_m: NDArray[np.float32]
    mask: NDArray[np.uint8]

    def depth_mm(self) -> NDArray[np.uint16]:
        """Depth as a 16UC1 image in millimetres (0 = invalid), as RealSense drivers publish it."""
        return np.clip(np.round(self.depth_m * MM_PER_M), 0, 65535).astype(np.uint16)


def d435_intrinsics(width: int = 640, height: int = 480) -> PinholeIntrinsics:
    """RealSense D435 colour-like intrinsics (69 x 42 degrees field of view) at a given size."""
    fx = (width / 2.0) / math.tan(math.radians(69.4) / 2.0)
    fy = (height / 2.0) / math.tan(math.radians(42.5) / 2.0)
    return PinholeIntrinsics(fx, fy, (width - 1) / 2.0, (height - 1) / 2.0, width, height)


def render(
    scene: Scene,
    intrinsics: PinholeIntrinsics,
    mount: CameraMount,
    pose: Pose2D,
    max_range_m: float = 20.0,
) -> RGBDFrame:
    """Ray-cast the scene from a camera on a robot at `pose`.

    Depth is the optical-axis distance (what depth cameras publish), 0 where nothing is hit
    within `max_range_m`.
    """
    k = intrinsics
    u = (np.arange(k.width) - k.cx) / k.fx
    v = (np.arange(k.height) - k.cy) / k.fy
    uu, vv = np.meshgrid(u, v)
    optical = np.stack([uu, vv, np.ones_like(uu)], axis=-1)  # z = 1: t along the ray is the depth
    r_odom_base = rotation_from_rpy(0.0, 0.0, pose.yaw_rad)
    rays = optical @ (r_odom_base @ mount.rotation_base_optical()).T
    origin = r_odom_base @ mount.translation_m() + np.array([pose.x_m, pose.y_m, 0.0])

    t_hit = np.full(uu.shape, np.inf)
    colour = np.zeros((*uu.shape, 3), dtype=np.float64)
    mask = np.full(uu.shape, MASK_DRIVABLE, dtype=np.uint8)

    with np.errstate(divide="ignore", invalid="ignore"):
        t_floor = np.where(rays[..., 2] < 0, -origin[2] / rays[..., 2], np.inf)
    floor_hit = np.isfinite(t_floor)
    t_hit[floor_hit] = t_floor[floor_hit]
    colour[floor_hit] = scene.floor_rgb
    fx_pts = origin[0] + t_floor * rays[..., 0]
    fy_pts = origin[1] + t_floor * rays[..., 1]
    for patch in scene.patches:
        inside = floor_hit & (fx_pts >= patch.x_min_m) & (fx_pts <= patch.x_max_m)
        inside &= (fy_pts >= patch.y_min_m) & (fy_pts <= patch.y_max_m)
        colour[inside] = patch.colour_rgb
        mask[inside] = MASK_DRIVABLE if patch.drivable else MASK_KEEPOUT

    for box in scene.boxes:
        lo = np.array([box.x_m - box.size_x_m / 2, box.y_m - box.size_y_m / 2, box.base_m])
        hi = np.array([box.x_m + box.size_x_m / 2, box.y_m + box.size_y_m / 2, box.height_m])
        with np.errstate(divide="ignore", invalid="ignore"):
            t1 = (lo - origin) / rays
            t2 = (hi - origin) / rays
        t_near = np.nanmax(np.minimum(t1, t2), axis=-1)
        t_far = np.nanmin(np.maximum(t1, t2), axis=-1)
        hit = (t_near <= t_far) & (t_far > 0) & (t_near > 0) & (t_near < t_hit)
        t_hit[hit] = t_near[hit]
        colour[hit] = box.colour_rgb
        mask[hit] = MASK_DRIVABLE  # not floor: the mask speaks only of the ground

    valid = t_hit <= max_range_m
    depth = np.where(valid, t_hit, 0.0).astype(np.float32)
    # Simple shading by distance so pictures read as 3-D.
    shade = np.where(valid, np.clip(1.2 - 0.08 * np.where(valid, t_hit, 0.0), 0.35, 1.0), 0.0)
    rgb = np.clip(colour * shade[..., None], 0, 255).astype(np.uint8)
    rgb[~valid] = (40, 40, 60)
    return RGBDFrame(rgb=rgb, depth_m=depth, mask=mask)
