"""The semantic obstacle cloud (core, no ROS): what it holds, where, at which height, and what it leaves out."""

from __future__ import annotations

import numpy as np
import pytest

from robot_vision_nav.core.config import ConfigError
from robot_vision_nav.core.costmap import LETHAL, CostmapConfig, RollingCostmap
from robot_vision_nav.core.geometry import CameraMount, Pose2D
from robot_vision_nav.core.obstacle_cloud import ObstacleCloudBuilder, ObstacleCloudConfig
from robot_vision_nav.core.projection import DepthInputError
from robot_vision_nav.sim.synthetic import Box, FloorPatch, Scene, d435_intrinsics, render

K = d435_intrinsics(320, 240)
POSE = Pose2D(0.0, 0.0, 0.0)
BOX = Box(x_m=2.0, y_m=0.3, size_x_m=0.4, size_y_m=0.6, height_m=0.5)
PATCH = FloorPatch(1.2, -0.9, 1.6, -0.3)


def cloud_of(scene: Scene, config: ObstacleCloudConfig | None = None, *, mm: bool = True) -> np.ndarray:
    cfg = ObstacleCloudConfig() if config is None else config
    frame = render(scene, K, cfg.mount, POSE)
    points = ObstacleCloudBuilder(cfg).build(frame.depth_mm() if mm else frame.depth_m, K, frame.mask).points
    assert points.dtype == np.float32 and points.ndim == 2 and points.shape[1] == 3 and points.flags.c_contiguous
    return points


def test_box_face_points_are_where_the_box_is_at_their_own_height() -> None:
    pts = cloud_of(Scene(boxes=(BOX,)))
    assert len(pts) > 50
    # The face toward the camera (x = 1.8) and the side the camera sees; never behind the box.
    assert pts[:, 0].min() >= 1.8 - 0.03 and pts[:, 0].max() <= 2.2
    assert pts[:, 1].min() >= 0.0 - 0.03 and pts[:, 1].max() <= 0.6 + 0.03
    assert pts[:, 2].min() >= 0.05 - 0.01 and pts[:, 2].max() <= 0.5 + 0.01
    assert np.ptp(pts[:, 2]) > 0.3  # heights kept: a VoxelLayer sees how tall it is


def test_keepout_floor_is_raised_to_keepout_height_only_through_the_mask() -> None:
    pts = cloud_of(Scene(patches=(PATCH,)))
    assert len(pts) > 20
    np.testing.assert_allclose(pts[:, 2], 0.1)
    inside = (pts[:, 0] > 1.2 - 0.03) & (pts[:, 0] < 1.6 + 0.03) & (pts[:, 1] > -0.93) & (pts[:, 1] < -0.27)
    assert inside.all()
    assert len(cloud_of(Scene(patches=(PATCH,)), ObstacleCloudConfig(use_traversability_mask=False))) == 0
    assert len(cloud_of(Scene(patches=(PATCH,)), ObstacleCloudConfig(keepout_height_m=0.3))[:, 2]) > 20
    np.testing.assert_allclose(cloud_of(Scene(patches=(PATCH,)), ObstacleCloudConfig(keepout_height_m=0.3))[:, 2], 0.3)


def test_drivable_floor_and_markings_give_no_points() -> None:
    assert len(cloud_of(Scene())) == 0
    assert len(cloud_of(Scene(patches=(FloorPatch(1.2, -0.9, 1.6, -0.3, drivable=True),)))) == 0


def test_drop_off_points_are_raised_where_they_land_as_the_costmap_marks_them() -> None:
    # The floor 0.3 m lower than the mount says (the camera rendered at 0.8 m, believed at 0.5 m):
    # every floor pixel is a drop-off.
    cfg = ObstacleCloudConfig()
    frame = render(Scene(), K, CameraMount(0.1, 0.0, 0.8, 0.0, 0.35, 0.0), POSE)
    cloud = ObstacleCloudBuilder(cfg).build(frame.depth_mm(), K, frame.mask)
    assert cloud.drop_off_pixels > 0 and cloud.drop_off_pixels == cloud.obstacle_pixels
    assert len(cloud.points) > 100
    np.testing.assert_allclose(cloud.points[:, 2], cfg.keepout_height_m)
    # The costmap marks the same places lethal.
    costmap = RollingCostmap(CostmapConfig(camera_mount_xyzrpy=cfg.camera_mount_xyzrpy))
    costmap.update(frame.depth_mm(), K, POSE, 1, frame.mask)
    cells = {costmap.world_to_cell(float(x), float(y)) for x, y in cloud.points[:, :2]}
    lethal = sum(costmap.state[c] == LETHAL for c in cells if c is not None)
    assert lethal >= 0.95 * len(cells)


def test_points_beyond_the_range_or_overhead_are_left_out() -> None:
    far = Box(x_m=4.6, y_m=0.0, size_x_m=0.4, size_y_m=0.6, height_m=0.5)  # face 4.3 m from the camera
    assert len(cloud_of(Scene(boxes=(far,)))) == 0
    assert len(cloud_of(Scene(boxes=(far,)), ObstacleCloudConfig(obstacle_max_range_m=5.0))) > 20
    shelf = Box(x_m=2.0, y_m=0.0, size_x_m=0.4, size_y_m=0.6, height_m=2.6, base_m=2.1)  # above 2.0 m
    assert len(cloud_of(Scene(boxes=(shelf,)))) == 0


def test_keepout_floor_beyond_the_keepout_range_is_left_out_as_the_costmap_leaves_it_unsure() -> None:
    far = Scene(patches=(FloorPatch(3.0, -0.5, 3.8, 0.5),), boxes=(Box(x_m=3.4, y_m=1.0, size_x_m=0.4,
                                                                        size_y_m=0.4, height_m=0.5),))  # fmt: skip
    pts = cloud_of(far)  # keepout_max_range_m 2.5 by default: the box marks, the paint does not
    assert len(pts) > 20 and (pts[:, 1] > 0.7).all()
    off = cloud_of(far, ObstacleCloudConfig(keepout_max_range_m=4.0))
    paint = off[off[:, 1] < 0.6]
    assert len(paint) > 50 and (paint[:, 0] > 3.0 - 0.05).all()
    np.testing.assert_allclose(paint[:, 2], 0.1)


def test_voxels_hold_one_point_each_and_the_same_frame_gives_the_same_bytes() -> None:
    scene = Scene(boxes=(BOX,), patches=(PATCH,))
    raw = cloud_of(scene, ObstacleCloudConfig(voxel_size_m=0.0))
    pts = cloud_of(scene, ObstacleCloudConfig(voxel_size_m=0.05))
    assert len(pts) < len(raw) / 5
    keys = np.floor(pts / 0.05).astype(np.int64)
    assert len(np.unique(keys, axis=0)) == len(pts)  # a mean stays inside its voxel
    assert cloud_of(scene).tobytes() == cloud_of(scene).tobytes()
    # Every raw point has a published point in its voxel (nothing lost but the duplicates).
    raw_keys = {tuple(k) for k in np.floor(raw / 0.05).astype(np.int64)}
    assert raw_keys == {tuple(k) for k in keys}


def test_millimetre_and_metre_depth_give_the_same_cloud() -> None:
    scene = Scene(boxes=(BOX,), patches=(PATCH,))
    frame = render(scene, K, ObstacleCloudConfig().mount, POSE)
    metres = np.round(frame.depth_m * 1000.0).astype(np.float32) / 1000.0  # the same readings
    builder = ObstacleCloudBuilder(ObstacleCloudConfig())
    np.testing.assert_allclose(
        builder.build(frame.depth_mm(), K, frame.mask).points, builder.build(metres, K, frame.mask).points, atol=1e-5
    )


def test_single_pixel_noise_is_rejected_like_the_costmap_does() -> None:
    frame = render(Scene(), K, ObstacleCloudConfig().mount, POSE)
    depth = frame.depth_mm()
    depth[120, 160] = 1000  # one pixel 1 m away on the optical axis: 0.16 m above the floor, an "obstacle"
    one = ObstacleCloudBuilder(ObstacleCloudConfig()).build(depth, K, frame.mask)
    assert one.obstacle_pixels == 1 and len(one.points) == 0
    kept = ObstacleCloudBuilder(ObstacleCloudConfig(min_points_per_cell=1)).build(depth, K, frame.mask)
    assert len(kept.points) == 1
    costmap = RollingCostmap(CostmapConfig())
    costmap.update(depth, K, POSE, 1, frame.mask)
    assert not (costmap.state == LETHAL).any()


def test_scattered_misread_floor_pixels_are_mostly_not_keep_out_as_in_the_costmap() -> None:
    frame = render(Scene(), K, ObstacleCloudConfig().mount, POSE)
    mask = frame.mask.copy()
    mask[120:, ::7] = 0  # every 7th column of the floor misread: 14 % of each cell's floor pixels
    voted = ObstacleCloudBuilder(ObstacleCloudConfig()).build(frame.depth_mm(), K, mask)
    unvoted = ObstacleCloudBuilder(ObstacleCloudConfig(voxel_size_m=0.0)).build(frame.depth_mm(), K, mask)
    assert voted.keepout_pixels == unvoted.keepout_pixels == len(unvoted.points) > 5000
    # What survives the vote is where a cell's floor is mostly misread (the image's edge column).
    assert len(voted.points) < 0.005 * voted.keepout_pixels
    costmap = RollingCostmap(CostmapConfig())
    costmap.update(frame.depth_mm(), K, POSE, 1, mask)
    assert (costmap.state >= LETHAL).sum() < 20
    every = RollingCostmap(CostmapConfig(keepout_min_fraction=0.0, min_points_per_cell=1))
    every.update(frame.depth_mm(), K, POSE, 1, mask)
    assert (every.state >= LETHAL).sum() > 500  # without the vote both would close the floor


def test_mount_given_per_frame_replaces_the_parameter() -> None:
    frame = render(Scene(boxes=(BOX,)), K, CameraMount(0.1, 0.0, 0.5, 0.0, 0.35, 0.0), POSE)
    builder = ObstacleCloudBuilder(ObstacleCloudConfig(camera_mount_xyzrpy=(0.0, 0.0, 0.5, 0.0, 0.35, 0.0)))
    moved = builder.build(frame.depth_mm(), K, frame.mask, CameraMount(1.1, 0.0, 0.5, 0.0, 0.35, 0.0)).points
    plain = builder.build(frame.depth_mm(), K, frame.mask).points
    assert moved[:, 0].min() == pytest.approx(plain[:, 0].min() + 1.1, abs=0.03)


def test_bad_inputs_raise_depth_input_error() -> None:
    builder = ObstacleCloudBuilder(ObstacleCloudConfig())
    with pytest.raises(DepthInputError, match="camera_info says 320x240"):
        builder.build(np.zeros((10, 10), np.uint16), K)
    with pytest.raises(DepthInputError, match="uint16"):
        builder.build(np.zeros((240, 320), np.int32), K)
    with pytest.raises(DepthInputError, match="mask"):
        builder.build(np.zeros((240, 320), np.uint16), K, np.zeros((120, 160), np.uint8))
    assert builder.build(np.zeros((240, 320), np.uint16), K).valid_pixels == 0


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"keepout_height_m": 2.5}, "'keepout_height_m' = 2.5 must be at most 'max_obstacle_height_m' = 2.0"),
        ({"voxel_size_m": 0.001}, "'voxel_size_m' = 0.001 must be 0 (off) or at least 0.005"),
        ({"voxel_size_m": 2.0}, "'voxel_size_m' = 2.0 is outside the allowed range [0, 1] m"),
        ({"min_obstacle_height_m": 2.5}, "'max_obstacle_height_m' = 2.0 must be greater"),
        ({"camera_mount_xyzrpy": (0.0, 0.0, 0.5)}, "'camera_mount_xyzrpy' needs 6 values"),
    ],
)
def test_config_refuses_bad_values_naming_parameter_value_and_range(kwargs: dict, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        ObstacleCloudConfig(**kwargs)
    assert words in str(err.value)
