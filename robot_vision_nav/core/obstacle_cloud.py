"""Depth + traversability mask -> the obstacle points a Nav2 obstacle layer marks (N x 3, base_link).

Nav2's ObstacleLayer and VoxelLayer mark a cell for every point of an observation cloud whose height
lies between their `min_obstacle_height` and `max_obstacle_height`. This module builds that cloud
from one depth frame with the same classification and the same marking rules as our own costmap
(`core.costmap`), so Nav2 sees what `costmap_node` would mark:

- **obstacles**: points between `min_obstacle_height_m` and `max_obstacle_height_m`, at their height;
- **drop-offs**: points more than `drop_off_depth_m` below the floor, which the costmap marks as
  obstacles where they land; below the floor, Nav2 would drop them, so they are raised to
  `keepout_height_m`;
- **keep-out floor**: floor the traversability mask calls not drivable, which the costmap marks
  lethal; it has no height, so it is raised to `keepout_height_m` (above Nav2's usual
  `min_obstacle_height`) and marks a Nav2 costmap like a low obstacle.

Like the costmap, only points within `obstacle_max_range_m` (horizontally, from the camera) are
kept. With `voxel_size_m` > 0 the cloud is also filtered and downsampled on a grid of that size in
base_link, mirroring the costmap's per-cell rules: an obstacle column (a `voxel_size_m` square of
floor) is kept only with at least `min_points_per_cell` obstacle points (single-pixel depth noise);
a keep-out column only when its not-drivable floor points are at least `keepout_min_fraction` of
its floor points and either `min_points_per_cell` or as many as the drivable ones (scattered
misclassified pixels). Each kept voxel becomes one point, the mean of its points; the output is
sorted by voxel, so the same frame always gives the same bytes. With `voxel_size_m` = 0 every
point is published as it is and those two rules do not apply.

Differences from the costmap that remain (measured by `bench/semantic_obstacles_agreement.py`):
its cells are in odom and ours in base_link, so they do not line up; and far away, where floor
pixel rows land more than a cell apart, the costmap spreads each floor pixel over the patch it
sees, while the cloud keeps one point per pixel (Nav2 then marks stripes a cell or two apart).

This module must never import ROS.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from robot_vision_nav.core.config import ConfigError, param, validate_fields
from robot_vision_nav.core.geometry import CameraMount, PinholeIntrinsics
from robot_vision_nav.core.projection import (
    GROUND,
    INVALID,
    KEEPOUT,
    OBSTACLE,
    DepthProjector,
    ProjectionConfig,
    camera_mount_param,
    check_projection_fields,
    drop_off_param,
    max_depth_param,
    max_obstacle_height_param,
    min_depth_param,
    min_obstacle_height_param,
)

MIN_VOXEL_M = 0.005  # the costmap's finest resolution; finer grids would only cost time
# Voxel indices are packed into one int64 key, 21 bits per axis: +-2^20 voxels of 5 mm = +-5 km,
# far beyond any depth (100 m at most) plus mount (10 m at most).
_KEY_BITS = 21
_KEY_OFFSET = 1 << (_KEY_BITS - 1)


@dataclass(frozen=True)
class ObstacleCloudConfig(ProjectionConfig):
    """What shapes the semantic obstacle cloud; `semantic_obstacles_node` fills it from its parameters."""

    camera_mount_xyzrpy: tuple[float, ...] = camera_mount_param()
    min_depth_m: float = min_depth_param()
    max_depth_m: float = max_depth_param(10.0)
    min_obstacle_height_m: float = min_obstacle_height_param()
    max_obstacle_height_m: float = max_obstacle_height_param()
    drop_off_depth_m: float = drop_off_param()
    obstacle_max_range_m: float = param(
        4.0,
        "points farther (horizontally, from the camera) are left out, as costmap_node marks",
        unit="m",
        min_value=0.0,
        max_value=100.0,
    )
    keepout_max_range_m: float = param(
        2.5,
        "keep-out floor farther (horizontally, from the camera) is left out, as costmap_node leaves it unsure "
        "(its keepout_max_range_m); at or above obstacle_max_range_m: off",
        unit="m",
        min_value=0.0,
        max_value=100.0,
    )
    use_traversability_mask: bool = param(
        True, "floor the segmentation mask calls not drivable is published as keep-out (false: depth only)"
    )
    mask_drivable_threshold: int = param(
        128, "mask values at or above this are drivable (mono8, 255 = drivable)", min_value=1, max_value=255
    )
    keepout_height_m: float = param(
        0.1,
        "height given to keep-out floor and drop-off points, so that a Nav2 obstacle layer marks them: keep it "
        "between that layer's min_obstacle_height and max_obstacle_height; at most max_obstacle_height_m",
        unit="m",
        min_value=0.0,
        max_value=10.0,
    )
    voxel_size_m: float = param(
        0.025,
        "grid of the filtering and downsampling in base_link (one point per voxel; half of a 5 cm costmap cell, "
        "so each cell an obstacle covers gets a point); 0 publishes every point, unfiltered; else at least 0.005",
        unit="m",
        min_value=0.0,
        max_value=1.0,
    )
    min_points_per_cell: int = param(
        2,
        "obstacle points needed in one voxel_size_m column to publish it (rejects single-pixel noise, as "
        "costmap_node's min_points_per_cell); with voxel_size_m 0 not applied",
        unit="points",
        min_value=1,
        max_value=100000,
    )
    keepout_min_fraction: float = param(
        0.5,
        "a column is keep-out only when not-drivable pixels are at least this share of its floor pixels (as "
        "costmap_node's keepout_min_fraction); with voxel_size_m 0 not applied",
        min_value=0.0,
        max_value=1.0,
    )

    def __post_init__(self) -> None:
        validate_fields(self)
        check_projection_fields(self)
        if self.keepout_height_m > self.max_obstacle_height_m:
            raise ConfigError(
                f"parameter 'keepout_height_m' = {self.keepout_height_m} must be at most "
                f"'max_obstacle_height_m' = {self.max_obstacle_height_m}"
            )
        if 0.0 < self.voxel_size_m < MIN_VOXEL_M:
            raise ConfigError(
                f"parameter 'voxel_size_m' = {self.voxel_size_m} must be 0 (off) or at least {MIN_VOXEL_M} m"
            )


@dataclass(frozen=True)
class ObstacleCloud:
    """One frame's cloud and what went into it.

    Attributes:
        points: (N, 3) float32 x, y, z in base_link, C-contiguous.
        valid_pixels: pixels with a depth in range.
        obstacle_pixels: obstacle pixels (drop-offs included) within range, before filtering.
        drop_off_pixels: of those, the drop-offs.
        keepout_pixels: not-drivable floor pixels within range, before filtering.

    """

    points: NDArray[np.float32]
    valid_pixels: int
    obstacle_pixels: int
    drop_off_pixels: int
    keepout_pixels: int


def _keys(index: NDArray[np.int64]) -> NDArray[np.int64]:
    """One int64 per row of (N, k) voxel indices, k <= 3, equal exactly when the rows are."""
    key = np.zeros(index.shape[0], dtype=np.int64)
    for axis in range(index.shape[1]):
        key = (key << _KEY_BITS) | (index[:, axis] + _KEY_OFFSET)
    return key


def _voxel_means(points: NDArray[np.float32], voxel_m: float) -> NDArray[np.float32]:
    """The mean point of each occupied voxel, ordered by voxel."""
    if points.shape[0] == 0:
        return np.empty((0, 3), dtype=np.float32)
    keys = _keys(np.floor(points / voxel_m).astype(np.int64))
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    out = np.empty((counts.shape[0], 3), dtype=np.float32)
    for axis in range(3):
        out[:, axis] = np.bincount(inverse, weights=points[:, axis].astype(np.float64)) / counts
    return out


def _column_keys(points: NDArray[np.float32], voxel_m: float) -> NDArray[np.int64]:
    """The key of the voxel_m x voxel_m floor column each point stands in."""
    return _keys(np.floor(points[:, :2] / voxel_m).astype(np.int64))


def _count_in(keys: NDArray[np.int64], columns: NDArray[np.int64]) -> NDArray[np.int64]:
    """How many of `keys` fall in each of the sorted unique `columns` (keys outside them are ignored)."""
    if columns.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    pos = np.searchsorted(columns, keys)
    pos = np.minimum(pos, columns.shape[0] - 1)
    hit = columns[pos] == keys
    return np.bincount(pos[hit], minlength=columns.shape[0]).astype(np.int64)


class ObstacleCloudBuilder:
    """Builds the semantic obstacle cloud of depth frames; keeps the ray table of the last camera and mount.

    Args:
        config: mount, filters, keep-out height, voxel grid.

    """

    def __init__(self, config: ObstacleCloudConfig) -> None:
        self.config = config
        self._projector: DepthProjector | None = None

    def reconfigure(self, config: ObstacleCloudConfig) -> None:
        """Use a new config from the next frame on."""
        self.config = config

    def projector_for(self, intrinsics: PinholeIntrinsics, mount: CameraMount) -> DepthProjector:
        """The ray table for this camera model and mount, rebuilt only when either changes."""
        if self._projector is None or not self._projector.matches(intrinsics, mount):
            self._projector = DepthProjector(intrinsics, mount)
        return self._projector

    def build(
        self,
        depth: NDArray[np.generic],
        intrinsics: PinholeIntrinsics,
        mask: NDArray[np.uint8] | None = None,
        mount: CameraMount | None = None,
    ) -> ObstacleCloud:
        """The cloud of one depth frame (and its traversability mask).

        Args:
            depth: HxW uint16 millimetres (16UC1) or float32 metres (32FC1).
            intrinsics: the depth image's camera model; its size must match the image.
            mask: HxW mono8 traversability (255 = drivable); ignored when the config says so.
            mount: the camera pose in base_link for this frame; None: `camera_mount_xyzrpy`.

        Raises:
            DepthInputError: wrong dtype, or depth, mask and camera model of different sizes.

        """
        cfg = self.config
        projector = self.projector_for(intrinsics, cfg.mount if mount is None else mount)
        use_mask = cfg.use_traversability_mask and mask is not None
        points, classes = projector.classify(depth, mask if use_mask else None, cfg.point_filter)
        t = projector.t_base_camera
        # Horizontal range from the camera, as the costmap measures it (NaN for invalid pixels: never in range).
        reach = np.hypot(points[..., 0] - t[0], points[..., 1] - t[1])
        in_range = reach <= cfg.obstacle_max_range_m
        # Keep-out floor (and the drivable floor that votes against it) only within the keep-out range.
        in_keepout_range = reach <= min(cfg.obstacle_max_range_m, cfg.keepout_max_range_m)
        obstacle = points[(classes == OBSTACLE) & in_range]
        keepout = points[(classes == KEEPOUT) & in_keepout_range]
        drop_off = obstacle[:, 2] < -cfg.drop_off_depth_m
        counts = (obstacle.shape[0], int(np.count_nonzero(drop_off)), keepout.shape[0])
        obstacle[drop_off, 2] = cfg.keepout_height_m
        keepout[:, 2] = cfg.keepout_height_m
        if cfg.voxel_size_m > 0.0:
            near_ground = (classes == GROUND) & in_keepout_range
            ground = points[near_ground] if keepout.shape[0] else np.empty((0, 3), np.float32)
            obstacle = self._dense_obstacles(obstacle)
            keepout = self._voted_keepout(keepout, ground)
        return ObstacleCloud(
            points=np.ascontiguousarray(np.concatenate([obstacle, keepout]), dtype=np.float32),
            valid_pixels=int(np.count_nonzero(classes != INVALID)),
            obstacle_pixels=int(counts[0]),
            drop_off_pixels=int(counts[1]),
            keepout_pixels=int(counts[2]),
        )

    def _dense_obstacles(self, obstacle: NDArray[np.float32]) -> NDArray[np.float32]:
        """Voxel means of the obstacle points in columns with at least `min_points_per_cell` of them."""
        voxel = self.config.voxel_size_m
        if obstacle.shape[0] == 0:
            return obstacle
        _, inverse, counts = np.unique(_column_keys(obstacle, voxel), return_inverse=True, return_counts=True)
        return _voxel_means(obstacle[counts[inverse] >= self.config.min_points_per_cell], voxel)

    def _voted_keepout(self, keepout: NDArray[np.float32], ground: NDArray[np.float32]) -> NDArray[np.float32]:
        """Voxel means of keep-out points in columns where the costmap's keep-out vote passes."""
        cfg = self.config
        if keepout.shape[0] == 0:
            return keepout
        columns, inverse, n_keepout = np.unique(
            _column_keys(keepout, cfg.voxel_size_m), return_inverse=True, return_counts=True
        )
        n_ground = _count_in(_column_keys(ground, cfg.voxel_size_m), columns)
        # costmap._cell_kernel's rule, per column instead of per cell.
        passes = ((n_keepout >= cfg.min_points_per_cell) | (n_keepout >= n_ground)) & (
            n_keepout >= cfg.keepout_min_fraction * (n_keepout + n_ground)
        )
        return _voxel_means(keepout[passes[inverse]], cfg.voxel_size_m)


def warm_up(config: ObstacleCloudConfig) -> None:
    """Compile the projection kernel now instead of on the first depth frame.

    Both depth encodings (16UC1 mm, 32FC1 m), with and without a mask, on a 4x4 image: seconds the
    first time, then numba's cache.
    """
    tiny = PinholeIntrinsics(fx=2.0, fy=2.0, cx=2.0, cy=2.0, width=4, height=4)
    builder = ObstacleCloudBuilder(config)
    mask = np.full((4, 4), 255, np.uint8)
    for depth in (np.full((4, 4), 1000, np.uint16), np.ones((4, 4), np.float32)):
        for with_mask in (mask, None):
            builder.build(depth, tiny, with_mask)
