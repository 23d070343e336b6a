"""The safety layer between the controller and the base: raw depth, polygons, an e-stop, timeouts.

It trusts nothing upstream. Segmentation can call a box floor and the planner can route through
it; this layer looks only at the depth image, projected into base_link with the camera mount,
and at what lies inside two polygons around the footprint (Nav2's collision monitor semantics):

- a point cloud with at least `min_points` obstacle points inside the **stop** polygon: every
  command becomes zero (but for turning in place, with `stop_allows_rotation`);
- else at least `min_points` inside the **slow-down** polygon: every command is scaled by
  `slowdown_ratio`;
- else the command passes unchanged.

A depth frame in which fewer than `min_valid_depth_fraction` of the pixels hold a depth within
range is **blind** and stops the robot like the stop zone: a covered lens, a failed sensor, or
something nearer than the camera's minimum range filling the view all read as "no points", which
the polygons alone would take for a free path.

Obstacle points are those the costmap would call obstacles (between `min_obstacle_height_m` and
`max_obstacle_height_m` above the floor, or a drop-off below it), so a clean floor never stops the
robot. `SafetyGate` adds what does not need depth: an e-stop that holds until it is released, and
zero velocity when the command, the depth or the camera model is older than its timeout (or has
never arrived: the gate starts stopped). Times are integers in ns handed in by the caller (the
node clock); nothing here reads a clock. This module must never import ROS.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from robot_vision_nav.core.clock import is_fresh
from robot_vision_nav.core.config import ConfigError, param, validate_fields
from robot_vision_nav.core.geometry import CameraMount, PinholeIntrinsics
from robot_vision_nav.core.projection import (
    INVALID,
    OBSTACLE,
    DepthProjector,
    PointFilter,
    camera_mount_param,
    check_projection_fields,
    drop_off_param,
    max_depth_param,
    max_obstacle_height_param,
    min_depth_param,
    min_obstacle_height_param,
)


class SafetyError(ValueError):
    """A polygon, depth image or camera model the safety layer cannot use, saying why."""


class Action(enum.IntEnum):
    """What the layer does to a command, in increasing severity."""

    FREE = 0
    SLOWDOWN = 1
    STOP = 2


def polygon_from_flat(values: tuple[float, ...] | list[float], name: str) -> NDArray[np.float64]:
    """An (N, 2) polygon from the flat parameter form [x0, y0, x1, y1, ...] (m, base_link).

    Raises:
        SafetyError: an odd count, fewer than 3 vertices, a non-finite value or zero area, naming `name`.

    """
    flat = [float(v) for v in values]
    if len(flat) % 2 or len(flat) < 6:
        raise SafetyError(f"{name} needs x, y pairs of at least 3 vertices, got {len(flat)} values")
    if not all(math.isfinite(v) for v in flat):
        raise SafetyError(f"{name} must be finite, got {flat}")
    poly = np.asarray(flat, dtype=np.float64).reshape(-1, 2)
    x, y = poly[:, 0], poly[:, 1]
    area = 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))
    if area < 1e-6:
        raise SafetyError(f"{name} encloses no area: {flat}")
    return poly


def points_in_polygon(points_xy: NDArray[np.floating], polygon: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Which of the (N, 2) points lie inside `polygon` (even-odd rule; boundary points may go either way)."""
    pts = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
    inside = np.zeros(len(pts), dtype=bool)
    if not len(pts):
        return inside
    px, py = pts[:, 0], pts[:, 1]
    x0, y0 = polygon[:, 0], polygon[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    for ax, ay, bx, by in zip(x0, y0, x1, y1, strict=True):  # a handful of edges; vectorised over points
        crosses = (ay > py) != (by > py)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_at = ax + (py - ay) * (bx - ax) / (by - ay)
        inside ^= crosses & (px < x_at)
    return inside


@dataclass(frozen=True)
class SafetyConfig:
    """The safety layer's parameters; `safety_node` fills it from ROS parameters."""

    stop_polygon_xy: tuple[float, ...] = param(
        (0.0, -0.27, 0.65, -0.27, 0.65, 0.27, 0.0, 0.27),
        "stop zone in base_link as x0, y0, x1, y1, ... (at least 3 vertices): obstacle points inside stop the robot",
        unit="m",
        min_value=-20.0,
        max_value=20.0,
    )
    slowdown_polygon_xy: tuple[float, ...] = param(
        (0.0, -0.32, 1.0, -0.32, 1.0, 0.32, 0.0, 0.32),
        "slow-down zone in base_link as x0, y0, x1, y1, ...: obstacle points inside scale the command",
        unit="m",
        min_value=-20.0,
        max_value=20.0,
    )
    slowdown_ratio: float = param(
        0.5, "commands are multiplied by this while the slow-down zone holds obstacles", min_value=0.0, max_value=1.0
    )
    stop_allows_rotation: bool = param(
        True,
        "in the stop zone only the linear velocity is zeroed: a round robot turning in place sweeps no new "
        "ground, and turning is how it gets away from what stopped it; false zeroes rotation too (Nav2)",
    )
    min_points: int = param(
        4, "obstacle points a zone must hold before it acts (rejects single-pixel noise)", min_value=1, max_value=100000
    )
    use_depth: bool = param(
        True,
        "check the polygons against depth; false: only the e-stop and the timeouts (a camera that sees no near range)",
    )
    min_valid_depth_fraction: float = param(
        0.1,
        "a depth frame with fewer pixels in [min_depth_m, max_depth_m] than this fraction of the image is blind "
        "and stops the robot like the stop zone (a covered lens, a failed sensor, something nearer than the "
        "camera's minimum range filling the view); 0 never calls a frame blind",
        min_value=0.0,
        max_value=1.0,
    )
    # The projection's parameters as costmap_node declares them (bringup checks the mounts agree).
    camera_mount_xyzrpy: tuple[float, ...] = camera_mount_param()
    min_depth_m: float = min_depth_param()
    max_depth_m: float = max_depth_param(3.0)
    min_obstacle_height_m: float = min_obstacle_height_param()
    max_obstacle_height_m: float = max_obstacle_height_param()
    drop_off_depth_m: float = drop_off_param()
    cmd_timeout_s: float = param(
        0.5, "a command older than this is stale: zero velocity", unit="s", min_value=0.01, max_value=10.0
    )
    depth_timeout_s: float = param(
        0.5,
        "depth (or camera_info) received longer ago, or stamped earlier, than this is stale: zero velocity",
        unit="s",
        min_value=0.01,
        max_value=10.0,
    )
    stop_polygon: NDArray[np.float64] = field(init=False, repr=False, compare=False)
    slowdown_polygon: NDArray[np.float64] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        validate_fields(self)
        check_projection_fields(self)
        for name in ("stop_polygon_xy", "slowdown_polygon_xy"):
            try:
                poly = polygon_from_flat(getattr(self, name), f"parameter '{name}'")
            except SafetyError as err:
                raise ConfigError(str(err)) from err
            object.__setattr__(self, name.removesuffix("_xy"), poly)

    # Cached: DepthSafety reads both on every depth frame, and a config never changes.
    @cached_property
    def mount(self) -> CameraMount:
        """The camera mount as geometry reads it."""
        return CameraMount.from_sequence(self.camera_mount_xyzrpy)

    @cached_property
    def point_filter(self) -> PointFilter:
        """The projection's view of this config."""
        return PointFilter(
            min_depth_m=self.min_depth_m,
            max_depth_m=self.max_depth_m,
            min_obstacle_height_m=self.min_obstacle_height_m,
            max_obstacle_height_m=self.max_obstacle_height_m,
            drop_off_depth_m=self.drop_off_depth_m,
        )


@dataclass(frozen=True)
class Verdict:
    """What one depth frame says: the action and the evidence for it."""

    action: Action
    stop_points: int = 0
    slowdown_points: int = 0
    nearest_m: float = math.inf  # horizontal distance from base_link's origin to the nearest zone point
    valid_fraction: float = 1.0  # pixels with a depth in range, of the whole image
    blind: bool = False  # too few valid pixels to judge: the action is STOP

    @property
    def name(self) -> str:
        """free, slowdown or stop."""
        return self.action.name.lower()


def judge_points(points_xyz: NDArray[np.floating], config: SafetyConfig) -> Verdict:
    """The verdict for obstacle points (N, 3) already in base_link (heights already filtered)."""
    xy = np.asarray(points_xyz, dtype=np.float64).reshape(-1, 3)[:, :2]
    xy = xy[np.isfinite(xy).all(axis=1)]
    in_stop = points_in_polygon(xy, config.stop_polygon)
    in_slow = points_in_polygon(xy, config.slowdown_polygon) | in_stop
    n_stop, n_slow = int(in_stop.sum()), int(in_slow.sum())
    nearest = float(np.hypot(xy[in_slow, 0], xy[in_slow, 1]).min()) if n_slow else math.inf
    if n_stop >= config.min_points:
        action = Action.STOP
    elif n_slow >= config.min_points:
        action = Action.SLOWDOWN
    else:
        action = Action.FREE
    return Verdict(action, n_stop, n_slow, nearest)


def check_depth_size(depth: NDArray[np.generic], intrinsics: PinholeIntrinsics) -> None:
    """Refuse a depth image that is not 2-D of the camera model's size.

    Raises:
        SafetyError: naming both sizes.

    """
    if depth.ndim != 2 or depth.shape != (intrinsics.height, intrinsics.width):
        size = f"{depth.shape[1]}x{depth.shape[0]}" if depth.ndim == 2 else f"of shape {depth.shape}"
        raise SafetyError(f"depth image is {size}, camera_info says {intrinsics.width}x{intrinsics.height}")


class DepthSafety:
    """Depth image -> Verdict, with the per-pixel rays of the last camera model cached."""

    def __init__(self, config: SafetyConfig) -> None:
        self.config = config
        self._projector: DepthProjector | None = None

    def reconfigure(self, config: SafetyConfig) -> None:
        """Use new parameters from the next frame on (a new mount rebuilds the rays)."""
        self.config = config

    def warm_up(self) -> None:
        """Compile the projection kernel now (about a second, once per process) instead of on the first frame."""
        tiny = PinholeIntrinsics(fx=1.0, fy=1.0, cx=0.5, cy=0.5, width=2, height=2)
        for depth in (np.ones((2, 2), np.float32), np.ones((2, 2), np.uint16)):
            DepthSafety(self.config).judge(depth, tiny)

    def judge(
        self, depth: NDArray[np.generic], intrinsics: PinholeIntrinsics, mount: CameraMount | None = None
    ) -> Verdict:
        """The verdict of one depth image (16UC1 mm or 32FC1 m) seen through `intrinsics`.

        `mount` is the camera pose in base_link for this image (from TF); None: `camera_mount_xyzrpy`.

        Raises:
            SafetyError: a depth image of another size than the camera model, or of another dtype.

        """
        # Before the rays are built: they are sized from the camera model, which may declare any
        # size (65536 x 65536 is 32 GiB per array) while the image holds a few pixels.
        check_depth_size(depth, intrinsics)
        mount = self.config.mount if mount is None else mount
        if self._projector is None or not self._projector.matches(intrinsics, mount):
            self._projector = DepthProjector(intrinsics, mount)
        try:
            points, classes = self._projector.classify(depth, None, self.config.point_filter)
        except ValueError as err:
            raise SafetyError(str(err)) from err
        valid = float(np.count_nonzero(classes != INVALID)) / classes.size
        if valid < self.config.min_valid_depth_fraction:
            return Verdict(Action.STOP, valid_fraction=valid, blind=True)
        return replace(judge_points(points[classes == OBSTACLE], self.config), valid_fraction=valid)


@dataclass(frozen=True)
class GateOutput:
    """The command to send to the base and why it is what it is."""

    linear_mps: float
    angular_rps: float
    state: str  # free, slowdown, stop, e_stop, stale: <inputs>

    @property
    def is_zero(self) -> bool:
        """Whether the robot is told to stand still."""
        return self.linear_mps == 0.0 and self.angular_rps == 0.0


class SafetyGate:
    """The layer's state: e-stop, input ages and the last verdict; turns commands into safe ones.

    The gate starts stopped: until a command, a depth verdict and (with `use_depth`) a camera
    model have arrived within their timeouts, every output is zero.
    """

    def __init__(self, config: SafetyConfig) -> None:
        self.config = config
        self.e_stop = False
        self.verdict: Verdict | None = None
        self._cmd_ns: int | None = None
        self._depth_ns: int | None = None

    def reconfigure(self, config: SafetyConfig) -> None:
        """New parameters, effective for the next command."""
        self.config = config

    def set_e_stop(self, engaged: bool) -> bool:
        """Engage (True) or release (False) the e-stop; returns whether it changed."""
        changed = engaged != self.e_stop
        self.e_stop = engaged
        return changed

    def on_verdict(self, verdict: Verdict, received_ns: int, stamp_ns: int) -> None:
        """A depth frame's verdict; its age counts from the older of its stamp and its receipt."""
        self.verdict = verdict
        self._depth_ns = min(received_ns, stamp_ns)

    def on_command(self, received_ns: int) -> None:
        """A command from the controller arrived (call before `filter`)."""
        self._cmd_ns = received_ns

    def forget_depth(self) -> None:
        """Drop the last verdict (bad depth frame, changed camera): stopped until the next good one."""
        self.verdict = None
        self._depth_ns = None

    def stale(self, now_ns: int) -> list[str]:
        """The inputs that are not fresh (`core.clock.is_fresh`): 'cmd_vel', 'depth'; 'clock' alone at 0."""
        if now_ns <= 0:
            return ["clock"]
        cfg = self.config
        out = []
        if not is_fresh(self._cmd_ns, now_ns, cfg.cmd_timeout_s):
            out.append("cmd_vel")
        if cfg.use_depth and not is_fresh(self._depth_ns, now_ns, cfg.depth_timeout_s):
            out.append("depth")
        return out

    def filter(self, linear_mps: float, angular_rps: float, now_ns: int) -> GateOutput:
        """The command the base gets for the controller's (linear, angular) at time `now_ns`."""
        if self.e_stop:
            return GateOutput(0.0, 0.0, "e_stop")
        if not (math.isfinite(linear_mps) and math.isfinite(angular_rps)):
            return GateOutput(0.0, 0.0, "stop: non-finite command")
        stale = self.stale(now_ns)
        if stale:
            return GateOutput(0.0, 0.0, f"stale: {', '.join(stale)}")
        if not self.config.use_depth:
            return GateOutput(float(linear_mps), float(angular_rps), "free")
        assert self.verdict is not None  # not stale, so a verdict arrived
        action = self.verdict.action
        if action == Action.STOP:
            angular = float(angular_rps) if self.config.stop_allows_rotation else 0.0
            return GateOutput(0.0, angular, "stop: depth blind" if self.verdict.blind else "stop")
        if action == Action.SLOWDOWN:
            ratio = self.config.slowdown_ratio
            return GateOutput(float(linear_mps) * ratio, float(angular_rps) * ratio, "slowdown")
        return GateOutput(float(linear_mps), float(angular_rps), "free")
