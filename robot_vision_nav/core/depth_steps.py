"""What costmap_node and semantic_obstacles_node do with one depth set, without ROS.

`CostmapStep.on_frame` folds a depth image (and its mask and confidence) taken at a pose into the
rolling map and says what became of it: `Updated` (with whether the publish rate lets this map out
now, and a problem to report when the frame held no valid depth) or `Skipped` (with the reason).
The node only converts messages, finds the pose and the camera mount, calls this and publishes. A
replay gives the same maps on any machine: nothing here reads the wall clock, except to time the
update for /diagnostics. `ObstacleStep.on_frame` does the same for the obstacle cloud: `Built` or `Skipped`.

This module must never import ROS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

from robot_vision_nav.core.costmap import CostmapConfig, RollingCostmap, UpdateStats
from robot_vision_nav.core.geometry import CameraMount, PinholeIntrinsics, Pose2D
from robot_vision_nav.core.obstacle_cloud import ObstacleCloud, ObstacleCloudBuilder, ObstacleCloudConfig
from robot_vision_nav.core.pacing import RatePacer, StepTimes
from robot_vision_nav.core.projection import DepthInputError

T = TypeVar("T")

NO_VALID_DEPTH = (
    "no valid depth: every pixel is 0, NaN, inf or out of range; nothing marked or cleared, last costmap kept"
)
NO_VALID_DEPTH_CLOUD = "no valid depth: every pixel is 0, NaN, inf or out of range; no cloud published for this frame"


@dataclass(frozen=True)
class Updated:
    """A frame folded into the map. `publish`: the rate lets the map out now; `problem`: say it."""

    stats: UpdateStats
    publish: bool
    problem: str = ""


@dataclass(frozen=True)
class Built:
    """An obstacle cloud built from a frame; `problem`: say it (and publish nothing)."""

    cloud: ObstacleCloud
    problem: str = ""


@dataclass(frozen=True)
class Skipped:
    """A frame not folded in (the map is as it was), and why."""

    reason: str


def _timed(times: StepTimes, what: str, work: Callable[[], T]) -> T | Skipped:
    """`work()` timed into `times`; a frame it refuses (or fails on) is Skipped, saying why."""
    started = times.start()
    try:
        result = work()
    except DepthInputError as err:
        return Skipped(f"bad input: {err}")
    except Exception as err:  # last resort: a frame nobody foresaw must not end the node
        return Skipped(f"frame skipped, {what} failed: {type(err).__name__}: {err}")
    times.done(started)
    return result


class CostmapStep:
    """The rolling map, its publish pacing and the update times of costmap_node.

    Args:
        config: the map's parameters.
        publish_rate_hz: maps let out per second of stamp time (0: every update); assign
            `pacer.rate_hz` when it changes.

    """

    def __init__(self, config: CostmapConfig, publish_rate_hz: float) -> None:
        self.costmap = RollingCostmap(config)
        self.pacer = RatePacer(publish_rate_hz)
        self.times = StepTimes()
        self.published = 0  # maps the pacer let out

    def on_frame(
        self,
        depth: NDArray[np.generic],
        intrinsics: PinholeIntrinsics,
        pose: Pose2D,
        stamp_ns: int,
        mask: NDArray[np.uint8] | None,
        mount: CameraMount,
        confidence: NDArray[np.uint8] | None = None,
    ) -> Updated | Skipped:
        """Fold one frame in (see the module docstring); a map that is let out is recorded as published."""
        stats = _timed(
            self.times,
            "update",
            lambda: self.costmap.update(depth, intrinsics, pose, stamp_ns, mask, mount, confidence),
        )
        if isinstance(stats, Skipped):
            return stats
        if stats.valid_pixels == 0:
            return Updated(stats, publish=False, problem=NO_VALID_DEPTH)
        publish = self.pacer.take(stamp_ns)
        self.published += publish
        return Updated(stats, publish)

    def restart(self) -> None:
        """Forget the map and the last publish stamp (time jumped back, the frame changed)."""
        self.pacer.reset()
        self.costmap.reset()


class ObstacleStep:
    """The obstacle cloud builder and the build times of semantic_obstacles_node."""

    def __init__(self, config: ObstacleCloudConfig) -> None:
        self.builder = ObstacleCloudBuilder(config)
        self.times = StepTimes()
        self.last_cloud: ObstacleCloud | None = None

    def on_frame(
        self,
        depth: NDArray[np.generic],
        intrinsics: PinholeIntrinsics,
        mask: NDArray[np.uint8] | None,
        mount: CameraMount,
    ) -> Built | Skipped:
        """The cloud of one frame in base_frame; a frame without valid depth comes with a problem."""
        cloud = _timed(self.times, "cloud", lambda: self.builder.build(depth, intrinsics, mask, mount))
        if isinstance(cloud, Skipped):
            return cloud
        self.last_cloud = cloud
        return Built(cloud, NO_VALID_DEPTH_CLOUD if cloud.valid_pixels == 0 else "")
