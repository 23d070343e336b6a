"""The synthetic warehouse as a dataset: `sim.synthetic_aisles` frames, one generator per frame.

Frame i comes from its own generator, `numpy.random.default_rng([seed, first + i])`, so frame i is
the same whatever the frame count. The aisles, the renderer and the exact labeller are in `sim/`;
this module checks the arguments and numbers the frames. Must never import ROS.
"""

from __future__ import annotations

import numpy as np

from robot_vision_nav.sim.synthetic import d435_intrinsics
from robot_vision_nav.sim.synthetic_aisles import random_aisle, render_labelled
from robot_vision_nav.training.datasets.readers import DatasetError, Sample, dataset_label_set

SYNTHETIC_SIZE = (240, 320)  # (height, width) px, the demo camera's
SYNTHETIC_FRAMES = 16


class SyntheticWarehouse:
    """Random warehouse aisles rendered analytically, labelled exactly (see `sim.synthetic_aisles`).

    Args:
        frames: number of frames.
        seed: frame i is drawn from `numpy.random.default_rng([seed, first + i])`.
        height: image height in pixels.
        width: image width in pixels.
        first: the index of frame 0 in the seed's sequence (training's validation frames start far
            along it, so they never repeat a training frame).

    """

    name = "synthetic"

    def __init__(
        self, frames: int = SYNTHETIC_FRAMES, seed: int = 0, height: int = SYNTHETIC_SIZE[0],
        width: int = SYNTHETIC_SIZE[1], first: int = 0,
    ) -> None:  # fmt: skip
        if frames < 1:
            raise DatasetError(f"synthetic: frames must be at least 1, got {frames}")
        if height < 8 or width < 8:
            raise DatasetError(f"synthetic: image size {height}x{width} is below 8x8")
        if seed < 0:
            raise DatasetError(f"synthetic: seed must be >= 0, got {seed}")
        if first < 0:
            raise DatasetError(f"synthetic: first frame must be >= 0, got {first}")
        self.first = first
        self.frames = frames
        self.seed = seed
        self.size = (height, width)
        self.label_set = dataset_label_set("warehouse")
        self._ids = dict(zip(self.label_set.names, range(self.label_set.num_classes), strict=True))

    def __len__(self) -> int:
        return self.frames

    def __getitem__(self, index: int) -> Sample:
        if not 0 <= index < self.frames:
            raise IndexError(index)
        rng = np.random.default_rng([self.seed, self.first + index])
        scene, placed, mount, pose = random_aisle(rng)
        intrinsics = d435_intrinsics(self.size[1], self.size[0])
        return render_labelled(scene, placed, intrinsics, mount, pose, self._ids)
