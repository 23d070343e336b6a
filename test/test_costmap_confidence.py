"""`min_floor_confidence`: floor the mask calls drivable with too little confidence is unknown (core only, no ROS).

The confidence image is made from the projected points of a rendered frame, so which floor is
unsure is known in world coordinates.
"""

from __future__ import annotations

import numpy as np
import pytest

from robot_vision_nav.core.config import ConfigError
from robot_vision_nav.core.costmap import FREE, LETHAL, LETHAL_KEEPOUT, UNKNOWN, CostmapConfig, RollingCostmap
from robot_vision_nav.core.geometry import Pose2D
from robot_vision_nav.core.projection import (
    GROUND,
    KEEPOUT,
    OBSTACLE,
    UNSURE,
    DepthInputError,
    DepthProjector,
    PointFilter,
)
from robot_vision_nav.sim.synthetic import Box, FloorPatch, RGBDFrame, Scene, d435_intrinsics, render

K = d435_intrinsics(320, 240)
POSE = Pose2D(0.0, 0.0, 0.0)
SURE, UNSURE_VALUE = 250, 60  # mono8: 0.98 and 0.24
BAND = (1.5, 2.2)  # x (m) of the unsure floor band across the aisle


def frame_of(scene: Scene) -> RGBDFrame:
    return render(scene, K, CostmapConfig().mount, POSE)


def band_confidence(frame: RGBDFrame, x_range: tuple[float, float] = BAND) -> np.ndarray:
    """SURE everywhere but on pixels whose point lies in `x_range` (base_link x, m): UNSURE_VALUE there."""
    points, _ = DepthProjector(K, CostmapConfig().mount).classify(frame.depth_m, None, PointFilter())
    x = np.nan_to_num(points[..., 0], nan=-1.0)
    return np.where((x >= x_range[0]) & (x <= x_range[1]), UNSURE_VALUE, SURE).astype(np.uint8)


def mapped(config: CostmapConfig, frame: RGBDFrame, confidence: np.ndarray | None) -> RollingCostmap:
    cm = RollingCostmap(config)
    cm.update(frame.depth_mm(), K, POSE, 1, frame.mask, confidence=confidence)
    return cm


def test_unsure_drivable_floor_stays_unknown_while_confident_floor_is_free() -> None:
    frame = frame_of(Scene())
    confidence = band_confidence(frame)
    on = mapped(CostmapConfig(min_floor_confidence=0.6), frame, confidence)
    inside, near, beyond = on.world_to_cell(1.85, 0.0), on.world_to_cell(1.0, 0.0), on.world_to_cell(3.0, 0.0)
    # Rays to the sure floor beyond pass over the band: they clear nothing there.
    assert on.state[inside] == UNKNOWN and on.occupancy[inside] == -1
    assert on.state[near] == FREE and on.state[beyond] == FREE
    # The same frame, all of it sure (or the option off): the band is free floor.
    all_sure = mapped(CostmapConfig(min_floor_confidence=0.6), frame, np.full_like(confidence, SURE))
    off = mapped(CostmapConfig(), frame, confidence)
    assert all_sure.state[inside] == FREE and off.state[inside] == FREE
    # Only the band's cells differ: unknown in one map, free in the other.
    differ = on.state != off.state
    assert differ.sum() > 50
    assert (on.state[differ] == UNKNOWN).all() and (off.state[differ] == FREE).all()


def test_unsure_pixels_are_counted_and_neither_clear_nor_mark() -> None:
    frame = frame_of(Scene())
    unsure_everywhere = np.zeros(frame.mask.shape, np.uint8)
    cm = RollingCostmap(CostmapConfig(min_floor_confidence=0.6, footprint_clearing=False))
    stats = cm.update(frame.depth_mm(), K, POSE, 1, frame.mask, confidence=unsure_everywhere)
    assert stats.ground_pixels == 0 and stats.unsure_pixels == stats.valid_pixels > 10_000
    assert stats.cleared_cells == 0 and stats.marked_cells == 0 and (cm.state == UNKNOWN).all()
    # A floor once seen sure and free stays free when it is seen unsure later.
    cm.update(frame.depth_mm(), K, POSE, 2, frame.mask, confidence=np.full_like(unsure_everywhere, SURE))
    free = cm.state.copy()
    assert (free == FREE).sum() > 100
    cm.update(frame.depth_mm(), K, POSE, 3, frame.mask, confidence=unsure_everywhere)
    np.testing.assert_array_equal(cm.state, free)


def test_an_obstacle_or_keepout_in_unsure_floor_is_never_lost() -> None:
    scene = Scene(
        boxes=(Box(1.85, 0.3, 0.3, 0.3, 0.5),),
        patches=(FloorPatch(1.6, -0.8, 2.1, -0.3, drivable=False),),
    )
    frame = frame_of(scene)
    nothing_sure = np.zeros(frame.mask.shape, np.uint8)
    on = mapped(CostmapConfig(min_floor_confidence=1.0), frame, nothing_sure)
    off = mapped(CostmapConfig(), frame, None)
    for state in (LETHAL, LETHAL_KEEPOUT):
        assert (off.state == state).sum() > 5
        assert (on.state[off.state == state] == state).all(), state
    np.testing.assert_array_equal(on.occupancy[off.occupancy == 100], 100)


def test_off_gives_the_map_of_no_confidence_at_all() -> None:
    scene = Scene(boxes=(Box(2.0, 0.3, 0.4, 0.4, 0.6),), patches=(FloorPatch(1.2, -0.9, 1.6, -0.3),))
    frame = frame_of(scene)
    confidence = band_confidence(frame, (0.0, 10.0))  # every floor pixel unsure
    reference = mapped(CostmapConfig(), frame, None)
    for config in (CostmapConfig(), CostmapConfig(min_floor_confidence=0.6, use_traversability_mask=False)):
        same = mapped(config, frame, confidence)
        np.testing.assert_array_equal(same.state, mapped(config, frame, None).state)
        np.testing.assert_array_equal(same.occupancy, mapped(config, frame, None).occupancy)
    np.testing.assert_array_equal(mapped(CostmapConfig(), frame, confidence).occupancy, reference.occupancy)
    # A config that asks for the confidence, given none, maps as if every pixel were sure.
    asked = mapped(CostmapConfig(min_floor_confidence=0.6), frame, None)
    np.testing.assert_array_equal(asked.occupancy, reference.occupancy)


def test_projection_calls_unsure_only_drivable_floor_below_the_minimum() -> None:
    scene = Scene(boxes=(Box(2.0, 0.3, 0.4, 0.4, 0.6),), patches=(FloorPatch(1.2, -0.9, 1.6, -0.3),))
    frame = frame_of(scene)
    projector = DepthProjector(K, CostmapConfig().mount)
    _, plain = projector.classify(frame.depth_m, frame.mask, PointFilter())
    confidence = np.full(frame.mask.shape, 152, np.uint8)  # 152 / 255 = 0.596
    confidence[:, : K.width // 2] = 153  # exactly 0.6: sure
    _, classes = projector.classify(frame.depth_m, frame.mask, PointFilter(), confidence, 0.6)
    left, right = np.zeros(plain.shape, bool), np.zeros(plain.shape, bool)
    left[:, : K.width // 2], right[:, K.width // 2 :] = True, True
    assert (plain == GROUND).sum() > 1000 and ((plain == OBSTACLE).sum() > 50) and (plain == KEEPOUT).sum() > 50
    np.testing.assert_array_equal(classes[left], plain[left])
    expected = np.where(plain == GROUND, UNSURE, plain)
    np.testing.assert_array_equal(classes[right], expected[right])
    # Without the mask there is nothing to be unsure of.
    _, depth_only = projector.classify(frame.depth_m, None, PointFilter(), confidence, 0.6)
    np.testing.assert_array_equal(depth_only, projector.classify(frame.depth_m, None, PointFilter())[1])


def test_a_confidence_image_of_the_wrong_size_or_type_is_refused_naming_it() -> None:
    frame = frame_of(Scene())
    cm = RollingCostmap(CostmapConfig(min_floor_confidence=0.5))
    for bad in (np.zeros((10, 10), np.uint8), np.zeros(frame.mask.shape, np.float32)):
        with pytest.raises(DepthInputError, match="confidence image must be mono8"):
            cm.update(frame.depth_mm(), K, POSE, 1, frame.mask, confidence=bad)  # type: ignore[arg-type]
    # Unused (the option is off), it is not even looked at.
    RollingCostmap(CostmapConfig()).update(
        frame.depth_mm(), K, POSE, 1, frame.mask, confidence=np.zeros((1, 1), np.uint8)
    )


def test_min_floor_confidence_outside_0_1_is_refused_naming_it() -> None:
    for bad in (-0.1, 1.5):
        with pytest.raises(ConfigError, match=f"min_floor_confidence.*{bad}"):
            CostmapConfig(min_floor_confidence=bad)
    assert not CostmapConfig().uses_confidence
    assert CostmapConfig(min_floor_confidence=0.6).uses_confidence
    assert not CostmapConfig(min_floor_confidence=0.6, use_traversability_mask=False).uses_confidence


def test_after_warm_up_nothing_compiles_on_the_first_frame_with_a_confidence_image() -> None:
    from test.numba_helpers import compiled_by

    setup = (
        "from robot_vision_nav.core import costmap as module\n"
        "module.warm_up(module.CostmapConfig(min_floor_confidence=0.6))"
    )
    workload = """
import numpy as np
from robot_vision_nav.core.geometry import PinholeIntrinsics, Pose2D
intr = PinholeIntrinsics(fx=100.0, fy=100.0, cx=80.0, cy=60.0, width=160, height=120)
costmap = module.RollingCostmap(module.CostmapConfig(min_floor_confidence=0.6))
rng = np.random.default_rng(0)
depth = rng.integers(300, 5000, (120, 160)).astype(np.uint16)
confidence = rng.integers(0, 256, (120, 160)).astype(np.uint8)
costmap.update(depth, intr, Pose2D(0.0, 0.0, 0.2), 1, np.full((120, 160), 255, np.uint8), confidence=confidence)
"""
    assert compiled_by(setup, workload) == []
