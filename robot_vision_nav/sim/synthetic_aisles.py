"""Random warehouse aisles for `sim.synthetic`'s analytic renderer, and their exact per-pixel labels.

`random_aisle` draws one aisle from a numpy generator: walls, racks, boxes, pallets, posts,
keep-out patches and lane markings, a camera mount and a robot pose. The same generator state
gives the same aisle, draw for draw, so a seeded frame is the same on every machine.

Labels (warehouse label set). The renderer knows a floor plane, floor patches (drivable or
keep-out) and boxes; it returns RGB, depth and a mask that is 0 on keep-out patches. It does not
say which box a pixel hit, so the generator keeps a class for each box it places and
`render_labelled` renders again to find out: the floor and patches alone (boxes are where the
depth differs from that), and each box class alone (a box pixel gets the class whose depth
matches). Floor is `floor` (0), a drivable patch `marking` (1), a keep-out patch `keep_out` (2);
boxes are `wall` (3), `rack` (4), `box` (5), `pallet` (6) or `post` (7) as placed. Pixels that hit
nothing within range (the backdrop above the horizon) are 255: no surface, nothing to score.

Deterministic, numpy only; this module must never import ROS.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from robot_vision_nav.core.geometry import CameraMount, PinholeIntrinsics, Pose2D
from robot_vision_nav.core.segmentation.labels import IGNORE_INDEX
from robot_vision_nav.sim.synthetic import MASK_KEEPOUT, Box, FloorPatch, Scene, render


@dataclass(frozen=True)
class PlacedBox:
    """A box of the synthetic scene and the warehouse class it stands for."""

    box: Box
    label: str


def random_aisle(rng: np.random.Generator) -> tuple[Scene, list[PlacedBox], CameraMount, Pose2D]:
    """A random aisle: walls, racks, boxes, pallets, posts, keep-out patches and lane markings."""

    def grey(lo: int, hi: int) -> tuple[int, int, int]:
        v = int(rng.integers(lo, hi))
        return (v, v, v + int(rng.integers(-6, 7)))

    def jitter(rgb: tuple[int, int, int], amount: int = 25) -> tuple[int, int, int]:
        r, g, b = (int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255)) for c in rgb)
        return (r, g, b)

    half = float(rng.uniform(2.0, 3.5))  # half the aisle width, m
    end = float(rng.uniform(8.0, 14.0))
    wall_h = float(rng.uniform(1.2, 3.0))
    wall_rgb = jitter((175, 170, 160))
    placed = [
        PlacedBox(Box(end / 2, half + 0.05, end + 2.0, 0.1, wall_h, wall_rgb), "wall"),
        PlacedBox(Box(end / 2, -half - 0.05, end + 2.0, 0.1, wall_h, wall_rgb), "wall"),
        PlacedBox(Box(end + 0.05, 0.0, 0.1, 2 * half + 0.2, wall_h, wall_rgb), "wall"),
    ]
    for _ in range(int(rng.integers(0, 4))):
        depth = float(rng.uniform(0.5, 0.8))
        side = 1.0 if rng.random() < 0.5 else -1.0
        y = side * (half - depth / 2)
        placed.append(PlacedBox(Box(float(rng.uniform(1.5, end - 1.0)), y, float(rng.uniform(1.5, 3.0)), depth,
                                    float(rng.uniform(1.5, 2.5)), jitter((40, 80, 170))), "rack"))  # fmt: skip

    def floor_spot(margin: float) -> tuple[float, float]:
        return float(rng.uniform(1.2, end - margin)), float(rng.uniform(-half + margin, half - margin))

    for _ in range(int(rng.integers(0, 4))):
        x, y = floor_spot(0.5)
        s = float(rng.uniform(0.3, 0.6))
        placed.append(PlacedBox(Box(x, y, s, s * float(rng.uniform(0.8, 1.2)), s, jitter((190, 140, 70))), "box"))
    for _ in range(int(rng.integers(0, 3))):
        x, y = floor_spot(0.8)
        placed.append(PlacedBox(Box(x, y, float(rng.uniform(0.8, 1.2)), float(rng.uniform(0.8, 1.2)),
                                    float(rng.uniform(0.12, 0.2)), jitter((140, 90, 40))), "pallet"))  # fmt: skip
    for _ in range(int(rng.integers(0, 3))):
        x, y = floor_spot(0.3)
        placed.append(PlacedBox(Box(x, y, 0.15, 0.15, float(rng.uniform(1.0, 2.5)), jitter((250, 150, 30))), "post"))

    patches = []
    for _ in range(int(rng.integers(0, 3))):
        x, y = floor_spot(1.0)
        sx, sy = float(rng.uniform(0.6, 1.5)), float(rng.uniform(0.6, 1.5))
        patches.append(FloorPatch(x, y, x + sx, y + sy, drivable=False, colour_rgb=jitter((200, 30, 30), 20)))
    for _ in range(int(rng.integers(0, 3))):
        y = float(rng.uniform(-half + 0.3, half - 0.4))
        patches.append(FloorPatch(-1.0, y, end, y + float(rng.uniform(0.08, 0.15)), drivable=True,
                                  colour_rgb=jitter((240, 200, 20), 15)))  # fmt: skip
    scene = Scene(boxes=tuple(p.box for p in placed), patches=tuple(patches), floor_rgb=grey(100, 160))
    mount = CameraMount(0.1, 0.0, float(rng.uniform(0.35, 0.7)), 0.0, float(rng.uniform(0.1, 0.35)), 0.0)
    pose = Pose2D(0.0, float(rng.uniform(-half / 3, half / 3)), float(rng.uniform(-0.35, 0.35)))
    return scene, placed, mount, pose


def render_labelled(
    scene: Scene,
    placed: Sequence[PlacedBox],
    intrinsics: PinholeIntrinsics,
    mount: CameraMount,
    pose: Pose2D,
    class_ids: dict[str, int],
) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """Render `scene` and label every pixel with a warehouse class id (see the module docstring).

    Args:
        scene: a scene whose boxes are `placed`'s, in order.
        placed: each box with its class name.
        intrinsics: camera intrinsics (sets the image size).
        mount: camera mount on the robot.
        pose: robot pose in odom.
        class_ids: class name -> id (floor, marking, keep_out and every name in `placed`).

    Returns:
        RGB uint8 HxWx3 and labels uint8 HxW (255 where no surface is within range).

    """
    full = render(scene, intrinsics, mount, pose)
    # Floor and patches only, every patch made keep-out: its mask marks all patch pixels.
    flat_patches = tuple(FloorPatch(p.x_min_m, p.y_min_m, p.x_max_m, p.y_max_m, False) for p in scene.patches)
    flat = render(Scene(patches=flat_patches), intrinsics, mount, pose)
    hit = full.depth_m > 0
    on_box = hit & (full.depth_m != flat.depth_m)
    on_floor = hit & ~on_box
    labels = np.full(full.depth_m.shape, IGNORE_INDEX, dtype=np.uint8)
    labels[on_floor] = class_ids["floor"]
    on_patch = on_floor & (flat.mask == MASK_KEEPOUT)
    labels[on_patch & (full.mask != MASK_KEEPOUT)] = class_ids["marking"]  # the last patch painted wins
    labels[on_patch & (full.mask == MASK_KEEPOUT)] = class_ids["keep_out"]
    todo = on_box.copy()
    for name in dict.fromkeys(p.label for p in placed):
        group = tuple(p.box for p in placed if p.label == name)
        alone = render(Scene(boxes=group), intrinsics, mount, pose)
        mine = todo & (alone.depth_m == full.depth_m)
        labels[mine] = class_ids[name]
        todo &= ~mine
    labels[todo] = class_ids.get("other", IGNORE_INDEX)
    return full.rgb, labels
