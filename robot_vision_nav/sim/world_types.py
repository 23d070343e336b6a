"""What a warehouse world is made of: `World`, its parts, footprints, zones, people, lights, textures.

Plain frozen dataclasses, the vocabulary shared by the generator (`sim.world`), the occupancy
raster and route planner (`sim.occupancy`), the MJCF writer (`sim.mjcf`) and the simulator. The
world frame has its origin at the centre of the floor, x along the long side, z up; the floor is
z = 0. Generated coordinates are rounded to 0.1 mm (`round_coord`), so the XML carries exactly the
numbers the footprints use. Every part's `label` is a class name of the warehouse label set
(`LABEL_SET`, config/labels/warehouse.yaml). This module must never import ROS or MuJoCo.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from robot_vision_nav.core.config import ConfigError, param, validate_fields
from robot_vision_nav.core.geometry import Pose2D, wrap_angle

LABEL_SET = "warehouse"  # config/labels/warehouse.yaml: the classes every part's label is one of
ZONE_STYLES = ("hazard", "red", "red_white")
TOP_VIEW_GROUP = 3  # geom group of the ceiling: hidden in the top view, seen by the robot's camera
FLOOR_Z_M = 0.0
COORD_DECIMALS = 4  # decimals kept for generated coordinates (0.1 mm)

RGBA = tuple[float, float, float, float]
XY = tuple[float, float]


def round_coord(value: float) -> float:
    """A generated coordinate or size rounded to COORD_DECIMALS (0.1 mm)."""
    return round(float(value), COORD_DECIMALS)


@dataclass(frozen=True)
class WorldConfig:
    """What a generated warehouse may contain; the seed picks the rest."""

    min_length_m: float = param(14.0, "shortest floor length along x", unit="m", min_value=6.0, max_value=60.0)
    max_length_m: float = param(22.0, "longest floor length along x", unit="m", min_value=6.0, max_value=60.0)
    min_width_m: float = param(10.0, "narrowest floor width along y", unit="m", min_value=5.0, max_value=60.0)
    max_width_m: float = param(16.0, "widest floor width along y", unit="m", min_value=5.0, max_value=60.0)
    max_pallets: int = param(6, "most pallets (some loaded with cartons)", min_value=0, max_value=40)
    max_box_stacks: int = param(6, "most stacks of cartons on the floor", min_value=0, max_value=40)
    max_posts: int = param(5, "most building columns and bollards", min_value=0, max_value=40)
    max_zones: int = param(5, "most painted keep-out zones", min_value=0, max_value=40)
    max_markings: int = param(8, "most drivable markings besides aisle lane lines", min_value=0, max_value=60)
    max_people: int = param(2, "most people walking back and forth (0: a static world)", min_value=0, max_value=10)
    robot_radius_m: float = param(
        0.25, "footprint radius the route is planned for", unit="m", min_value=0.05, max_value=2.0
    )
    route_margin_m: float = param(
        0.1, "extra clearance of the route beyond the robot radius", unit="m", min_value=0.0, max_value=2.0
    )
    min_route_m: float = param(5.0, "shortest straight-line start-goal distance", unit="m", min_value=0.5, max_value=50)
    grid_resolution_m: float = param(
        0.05, "cell size of the occupancy grid the route is planned on", unit="m", min_value=0.01, max_value=0.5
    )

    def __post_init__(self) -> None:
        validate_fields(self)
        if self.min_length_m > self.max_length_m or self.min_width_m > self.max_width_m:
            raise ConfigError(
                f"floor size range is empty: length {self.min_length_m}..{self.max_length_m} m, "
                f"width {self.min_width_m}..{self.max_width_m} m (min must be <= max)"
            )


@dataclass(frozen=True)
class Part:
    """One MuJoCo geom of the world: its warehouse class, shape, pose and look.

    `size` holds MuJoCo's half-sizes (box: 3 half-extents, cylinder: radius and half-height,
    sphere: radius).
    """

    label: str
    shape: str
    x_m: float
    y_m: float
    z_m: float
    size: tuple[float, ...]
    yaw_rad: float = 0.0
    rgba: RGBA = (0.5, 0.5, 0.5, 1.0)
    material: str = ""
    group: int = 0


@dataclass(frozen=True)
class Footprint:
    """A 2-D shape on the floor: a rectangle (centre, half-extents, yaw) or a circle (`half_x_m` = radius)."""

    label: str
    x_m: float
    y_m: float
    half_x_m: float
    half_y_m: float
    yaw_rad: float = 0.0
    circle: bool = False

    def corners(self) -> NDArray[np.float64]:
        """(4, 2) corners of the rectangle (of the bounding square for a circle), counter-clockwise."""
        c, s = math.cos(self.yaw_rad), math.sin(self.yaw_rad)
        local = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float64) * (self.half_x_m, self.half_y_m)
        corners: NDArray[np.float64] = local @ np.array([[c, s], [-s, c]]) + (self.x_m, self.y_m)
        return corners

    def distance(self, x_m: NDArray[np.float64] | float, y_m: NDArray[np.float64] | float) -> NDArray[np.float64]:
        """Distance (m) from point(s) to the shape, 0 inside it."""
        dx = np.asarray(x_m, np.float64) - self.x_m
        dy = np.asarray(y_m, np.float64) - self.y_m
        if self.circle:
            return np.maximum(np.hypot(dx, dy) - self.half_x_m, 0.0)
        c, s = math.cos(self.yaw_rad), math.sin(self.yaw_rad)
        lx, ly = c * dx + s * dy, -s * dx + c * dy
        return np.hypot(np.maximum(np.abs(lx) - self.half_x_m, 0.0), np.maximum(np.abs(ly) - self.half_y_m, 0.0))

    def inflated(self, margin_m: float) -> Footprint:
        """The same shape grown by `margin_m` on every side (corners stay square: a conservative bound)."""
        return Footprint(
            self.label,
            self.x_m,
            self.y_m,
            self.half_x_m + margin_m,
            self.half_y_m + margin_m,
            self.yaw_rad,
            self.circle,
        )


@dataclass(frozen=True)
class Zone:
    """A painted keep-out zone: its rectangle on the floor and its paint style (one of ZONE_STYLES)."""

    area: Footprint
    style: str


@dataclass(frozen=True)
class Mover:
    """A person walking back and forth between `a_xy` and `b_xy` at constant speed.

    Its position is a pure function of time, so a frame at a given stamp is reproducible.
    """

    a_xy: XY
    b_xy: XY
    speed_mps: float
    radius_m: float
    height_m: float
    phase: float
    rgba: RGBA

    def pose_at(self, t_s: float) -> tuple[float, float, float]:
        """(x, y, yaw) in metres and radians at sim time `t_s`."""
        ax, ay = self.a_xy
        bx, by = self.b_xy
        length = math.hypot(bx - ax, by - ay)
        if length <= 0.0:
            return ax, ay, 0.0
        period = 2.0 * length / self.speed_mps
        u = ((t_s / period + self.phase) % 1.0) * 2.0  # 0..1 going to b, 1..2 coming back
        f = u if u <= 1.0 else 2.0 - u
        yaw = math.atan2(by - ay, bx - ax) + (0.0 if u <= 1.0 else math.pi)
        return ax + f * (bx - ax), ay + f * (by - ay), wrap_angle(yaw)

    def footprint_at(self, t_s: float) -> Footprint:
        """The person's circle on the floor at `t_s`."""
        x, y, _ = self.pose_at(t_s)
        return Footprint("person", x, y, self.radius_m, self.radius_m, 0.0, circle=True)


@dataclass(frozen=True)
class Light:
    """A directional light: direction it shines (world), diffuse and specular RGB."""

    direction: tuple[float, float, float]
    diffuse: tuple[float, float, float]
    specular: float


@dataclass(frozen=True)
class Texture:
    """A procedural texture (`sim.textures`): kind `concrete`, `stripes` or `paint`, its seed and colours.

    `tile_m` is the floor distance one copy of the texture covers; `stains` how dark a concrete
    texture's stains are (1 the house floor's, 0 none).
    """

    name: str
    kind: str
    seed: int
    size_px: int
    rgb_a: tuple[int, int, int]
    rgb_b: tuple[int, int, int] = (0, 0, 0)
    amount: float = 0.5
    seam_px: int = 0
    tile_m: float = 1.0
    stains: float = 1.0


@dataclass(frozen=True)
class World:
    """One generated warehouse.

    Attributes:
        seed: the seed it was generated from.
        length_m: inner floor size along x (the floor spans [-length/2, length/2]).
        width_m: inner floor size along y.
        height_m: wall and ceiling height.
        parts: every static geom (walls, ceiling, racks, loads, posts, paint).
        obstacles: footprints of everything that stands on the floor (walls included): collisions.
        zones: the keep-out zones.
        markings: footprints of the drivable paint (for pictures and tests).
        movers: people walking on straight paths.
        lights: directional lights (besides the camera headlight).
        headlight: ambient and diffuse level of the camera headlight.
        textures: procedural textures the materials use.
        start: start pose of base_link (world frame), facing along the route.
        goal_xy: goal position.
        route_xy: the planned route, start first, goal last (corners of the grid path).
        robot_radius_m: footprint radius the route was planned for.
        route_clearance_m: radius the occupancy was inflated by for the route (radius + margin).

    """

    seed: int
    length_m: float
    width_m: float
    height_m: float
    parts: tuple[Part, ...]
    obstacles: tuple[Footprint, ...]
    zones: tuple[Zone, ...]
    markings: tuple[Footprint, ...]
    movers: tuple[Mover, ...]
    lights: tuple[Light, ...]
    headlight: tuple[float, float]
    textures: tuple[Texture, ...]
    start: Pose2D
    goal_xy: XY
    route_xy: tuple[XY, ...]
    robot_radius_m: float
    route_clearance_m: float

    def route_length_m(self) -> float:
        """Length of the route polyline."""
        pts = np.asarray(self.route_xy, np.float64)
        return float(np.sum(np.hypot(*np.diff(pts, axis=0).T))) if len(pts) > 1 else 0.0
