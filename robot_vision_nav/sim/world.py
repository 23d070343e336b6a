"""Warehouse worlds generated from a seed, with a guaranteed route, written out as MJCF for MuJoCo.

A world is a walled warehouse floor: racks in rows with aisles between them, pallets, carton stacks,
posts and bollards; flat keep-out zones painted on the floor (hazard stripes, red, red/white) that
must not be driven on; drivable paint (lane lines, dashes, arrows, crossings, parking boxes, stop
lines) in overlapping colours (yellow and red paint exists on both sides), so a network must learn
meaning rather than "colour = danger"; optionally people walking back and forth; lights, floor and
paint vary per seed. Every world carries a start pose and a goal joined by a route that a grid
planner (`core.planner.plan_cells`) found on the world's occupancy, inflated by the robot radius
plus a margin, with keep-out zones as lethal: a robot that follows it touches neither an obstacle
nor a zone (checked again by the tests with the exact footprints).

Everything is a pure function of (seed, WorldConfig): the same seed gives the same World and the
same XML, byte for byte. Coordinates are rounded to 0.1 mm when generated, so the XML carries
exactly the numbers the footprints use. The world frame has its origin at the centre of the floor,
x along the long side, z up; the floor is z = 0. This module must never import ROS or MuJoCo (the
MJCF is plain text; `sim.sim` compiles it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from robot_vision_nav.core.config import ConfigError, param, validate_fields
from robot_vision_nav.core.geometry import Pose2D, wrap_angle
from robot_vision_nav.core.planner import PlannerConfig, plan_cells
from robot_vision_nav.sim.camera import CameraConfig, fovy_deg, mujoco_camera_axes
from robot_vision_nav.sim.robot import RobotConfig

# The warehouse label set's class names (config/labels/warehouse.yaml), in id order.
CLASS_NAMES: tuple[str, ...] = (
    "floor", "marking", "keep_out", "wall", "rack", "box", "pallet", "post", "person", "robot", "other",
)  # fmt: skip

ZONE_STYLES = ("hazard", "red", "red_white")
TOP_VIEW_GROUP = 3  # geom group of the ceiling: hidden in the top view, seen by the robot's camera
OWN_BODY_GROUP = 2  # geom group of the robot's own body: hidden from its own camera, seen in the top view
FLOOR_Z_M = 0.0
PAINT_HALF_THICKNESS_M = 0.001  # markings are 2 mm slabs: flat for the robot, above the floor for the renderer
ZONE_HALF_THICKNESS_M = 0.0015  # zones are 3 mm: where one is painted over a marking, the zone shows
OCC_FREE, OCC_LETHAL = 0, 100
_R = 4  # decimals kept for generated coordinates (0.1 mm)

RGBA = tuple[float, float, float, float]
XY = tuple[float, float]


class WorldError(ValueError):
    """A world that cannot be generated (no route found) or a configuration that makes none possible."""


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
        return local @ np.array([[c, s], [-s, c]]) + (self.x_m, self.y_m)

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

    `tile_m` is the floor distance one copy of the texture covers.
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


# ---------------------------------------------------------------------------------------- geometry
def _r(value: float) -> float:
    return round(float(value), _R)


def occupancy(
    length_m: float,
    width_m: float,
    footprints: Iterable[Footprint],
    resolution_m: float,
) -> tuple[NDArray[np.int8], XY]:
    """Rasterise footprints into OccupancyGrid values over the floor (0 free, 100 lethal).

    A cell is lethal when a footprint covers any part of it (shapes are grown by half a cell
    diagonal before filling), and cells outside the floor are lethal, so a free cell is truly free.

    Returns:
        (values with row 0 at the lowest y, origin (x, y) of the lower-left corner of cell (0, 0)).

    """
    cols = math.ceil(length_m / resolution_m)
    rows = math.ceil(width_m / resolution_m)
    origin = (-cols * resolution_m / 2.0, -rows * resolution_m / 2.0)
    values = np.zeros((rows, cols), np.uint8)
    grow = resolution_m * math.sqrt(0.5)
    for fp in footprints:
        g = fp.inflated(grow)
        if fp.circle:
            centre = ((fp.x_m - origin[0]) / resolution_m - 0.5, (fp.y_m - origin[1]) / resolution_m - 0.5)
            cv2.circle(values, (round(centre[0] * 16), round(centre[1] * 16)), round(g.half_x_m / resolution_m * 16),
                       OCC_LETHAL, -1, lineType=cv2.LINE_8, shift=4)  # fmt: skip
        else:
            pts = (g.corners() - origin) / resolution_m - 0.5
            cv2.fillPoly(values, [np.round(pts * 16).astype(np.int32)], OCC_LETHAL, lineType=cv2.LINE_8, shift=4)
    # The floor edge: cells reaching past the walls' inner faces.
    edge_x = math.ceil((cols * resolution_m - length_m) / 2.0 / resolution_m)
    edge_y = math.ceil((rows * resolution_m - width_m) / 2.0 / resolution_m)
    if edge_x:
        values[:, :edge_x] = OCC_LETHAL
        values[:, cols - edge_x :] = OCC_LETHAL
    if edge_y:
        values[:edge_y, :] = OCC_LETHAL
        values[rows - edge_y :, :] = OCC_LETHAL
    return values.astype(np.int8), origin


def inflate(values: NDArray[np.int8], radius_m: float, resolution_m: float) -> NDArray[np.int8]:
    """Every cell whose centre is within `radius_m` of a lethal cell's centre becomes lethal."""
    free = (values != OCC_LETHAL).astype(np.uint8)
    dist_cells = cv2.distanceTransform(free, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    out = np.where(dist_cells * resolution_m <= radius_m, OCC_LETHAL, OCC_FREE).astype(np.int8)
    return out


def _cell_to_xy(rc: NDArray[np.intp], origin: XY, res: float) -> NDArray[np.float64]:
    return np.stack([origin[0] + (rc[:, 1] + 0.5) * res, origin[1] + (rc[:, 0] + 0.5) * res], axis=1)


def _xy_to_cell(x: float, y: float, origin: XY, res: float) -> tuple[int, int]:
    return int((y - origin[1]) // res), int((x - origin[0]) // res)


def _corners_only(path: NDArray[np.float64]) -> NDArray[np.float64]:
    """Drop the points of a grid path that lie on a straight line between their neighbours."""
    if len(path) <= 2:
        return path
    keep = [0]
    for i in range(1, len(path) - 1):
        d0 = path[i] - path[keep[-1]]
        d1 = path[i + 1] - path[i]
        if abs(d0[0] * d1[1] - d0[1] * d1[0]) > 1e-9 or d0 @ d1 < 0:
            keep.append(i)
    keep.append(len(path) - 1)
    return path[keep]


# ---------------------------------------------------------------------------------------- generation
class _Builder:
    """Collects parts and footprints while the generator places things, with overlap checks."""

    def __init__(self, rng: np.random.Generator, length_m: float, width_m: float) -> None:
        self.rng = rng
        self.length_m = length_m
        self.width_m = width_m
        self.parts: list[Part] = []
        self.obstacles: list[Footprint] = []
        self.zones: list[Zone] = []
        self.markings: list[Footprint] = []

    def u(self, lo: float, hi: float) -> float:
        return float(self.rng.uniform(lo, hi))

    def inside(self, fp: Footprint, margin_m: float = 0.0) -> bool:
        corners = (
            fp.corners() if not fp.circle else np.array([[fp.x_m, fp.y_m]]) + fp.half_x_m * np.array([[-1, -1], [1, 1]])
        )
        return bool(
            np.all(np.abs(corners[:, 0]) <= self.length_m / 2 - margin_m)
            and np.all(np.abs(corners[:, 1]) <= self.width_m / 2 - margin_m)
        )

    @staticmethod
    def overlaps(fp: Footprint, others: Iterable[Footprint], clearance_m: float) -> bool:
        """Conservative overlap test: samples the outline of `fp` grown by the clearance against each shape."""
        grown = fp.inflated(clearance_m)
        if grown.circle:
            ang = np.linspace(0.0, 2 * math.pi, 24, endpoint=False)
            pts = np.stack([grown.x_m + grown.half_x_m * np.cos(ang), grown.y_m + grown.half_x_m * np.sin(ang)], 1)
        else:
            c = grown.corners()
            t = np.linspace(0.0, 1.0, 12, endpoint=False)[:, None]
            pts = np.concatenate([c[i] + t * (c[(i + 1) % 4] - c[i]) for i in range(4)])
        pts = np.concatenate([pts, [[grown.x_m, grown.y_m]]])
        for other in others:
            if np.any(other.distance(pts[:, 0], pts[:, 1]) <= 0.0):
                return True
            if np.any(grown.distance(*other.corners().T) <= 0.0) or grown.distance(other.x_m, other.y_m) <= 0.0:
                return True
        return False

    def add(self, part: Part) -> None:
        self.parts.append(part)


def _rgb(rng: np.random.Generator, base: tuple[float, float, float], jitter: float) -> RGBA:
    c = np.clip(np.asarray(base) + rng.uniform(-jitter, jitter, 3), 0.0, 1.0)
    return (_r(c[0]), _r(c[1]), _r(c[2]), 1.0)


def _box(label: str, x: float, y: float, z: float, hx: float, hy: float, hz: float, yaw: float, rgba: RGBA,
         material: str = "", group: int = 0) -> Part:  # fmt: skip
    return Part(label, "box", _r(x), _r(y), _r(z), (_r(hx), _r(hy), _r(hz)), _r(yaw), rgba, material, group)


def _local(fp: Footprint, lx: float, ly: float) -> XY:
    c, s = math.cos(fp.yaw_rad), math.sin(fp.yaw_rad)
    return fp.x_m + c * lx - s * ly, fp.y_m + s * lx + c * ly


def _walls(b: _Builder, height_m: float) -> None:
    t = 0.2
    rng = b.rng
    wall_rgba = _rgb(rng, (0.72, 0.72, 0.68), 0.08)
    band_rgba = _rgb(rng, (0.25, 0.35, 0.55), 0.1)
    hl, hw = b.length_m / 2, b.width_m / 2
    for x, y, hx, hy in ((0.0, hw + t / 2, hl + t, t / 2), (0.0, -hw - t / 2, hl + t, t / 2),
                         (hl + t / 2, 0.0, t / 2, hw), (-hl - t / 2, 0.0, t / 2, hw)):  # fmt: skip
        b.obstacles.append(Footprint("wall", _r(x), _r(y), _r(hx), _r(hy)))
        b.add(_box("wall", x, y, height_m / 2, hx, hy, height_m / 2, 0.0, wall_rgba))
        # A painted band at the bottom (on the inner face): walls do not all look like one grey slab.
        inward = (-np.sign(x) * 0.01 if hx < hy else 0.0, -np.sign(y) * 0.01 if hy < hx else 0.0)
        b.add(_box("wall", x + inward[0], y + inward[1], 0.6, hx, hy, 0.6, 0.0, band_rgba))
    b.add(_box("other", 0.0, 0.0, height_m + 0.05, hl + t, hw + t, 0.05, 0.0, _rgb(rng, (0.6, 0.6, 0.62), 0.05),
               group=TOP_VIEW_GROUP))  # fmt: skip


def _rack(b: _Builder, fp: Footprint, height_m: float) -> None:
    """Uprights, shelf boards and cartons of one rack, along its footprint's long (local x) axis."""
    rng = b.rng
    upright = _rgb(rng, (0.15, 0.3, 0.65), 0.08) if rng.uniform() < 0.6 else _rgb(rng, (0.85, 0.45, 0.1), 0.06)
    beam = _rgb(rng, (0.9, 0.5, 0.1), 0.06)
    bays = max(1, round(2 * fp.half_x_m / 2.7))
    levels = int(rng.integers(3, 6))
    level_h = height_m / levels
    u = 0.04
    for i in range(bays + 1):
        lx = -fp.half_x_m + u + i * (2 * fp.half_x_m - 2 * u) / bays
        for ly in (-fp.half_y_m + u, fp.half_y_m - u):
            x, y = _local(fp, lx, ly)
            b.add(_box("rack", x, y, height_m / 2, u, u, height_m / 2, fp.yaw_rad, upright))
    for k in range(levels):
        z = 0.12 + k * level_h
        x, y = _local(fp, 0.0, 0.0)
        b.add(_box("rack", x, y, z, fp.half_x_m, fp.half_y_m, 0.025, fp.yaw_rad, beam))
        if k == levels - 1 and z + 0.3 > height_m:
            continue
        # Cartons on this level: a few per bay, some bays empty.
        bay_len = 2 * fp.half_x_m / bays
        for i in range(bays):
            if rng.uniform() < 0.3:
                continue
            for _ in range(int(rng.integers(1, 4))):
                w = b.u(0.25, min(0.5, bay_len / 3))
                d = b.u(0.3, fp.half_y_m * 2 - 0.1)
                h = b.u(0.2, min(0.6, level_h - 0.15))
                lx = -fp.half_x_m + i * bay_len + b.u(w, bay_len - w)
                ly = b.u(-fp.half_y_m + d / 2, fp.half_y_m - d / 2)
                x, y = _local(fp, lx, ly)
                b.add(_box("box", x, y, z + 0.025 + h / 2, w / 2, d / 2, h / 2, fp.yaw_rad + b.u(-0.08, 0.08),
                           _rgb(rng, (0.72, 0.55, 0.35), 0.08)))  # fmt: skip


def _racks(b: _Builder, height_m: float) -> list[tuple[float, float]]:
    """Rows of racks along x with aisles between them; returns the aisles as (y_min, y_max)."""
    rng = b.rng
    hl, hw = b.length_m / 2, b.width_m / 2
    region_top = -hw + b.u(0.45, 0.85) * b.width_m  # racks fill y up to here; open floor beyond
    x_lo = -hl + b.u(0.0, 1.0) * (rng.uniform() < 0.4) + 0.1
    x_hi = hl - b.u(2.5, 4.0)
    if rng.uniform() < 0.5:
        x_lo, x_hi = -x_hi, -x_lo
    aisles: list[tuple[float, float]] = []
    y = -hw
    single = rng.uniform() < 0.6  # a single-depth rack against the wall first
    while True:
        depth = b.u(0.8, 1.1) if single else b.u(1.6, 2.2)
        if y + depth > region_top:
            break
        row_h = min(b.u(2.0, 3.5), height_m - 0.3)
        x = x_lo
        while x < x_hi - 2.0:
            length = min(b.u(3.0, 8.0), x_hi - x)
            fp = Footprint("rack", _r(x + length / 2), _r(y + depth / 2), _r(length / 2), _r(depth / 2))
            b.obstacles.append(fp)
            _rack(b, fp, row_h)
            x += length + b.u(1.6, 2.6)
        aisle = b.u(1.8, 3.0)
        aisles.append((y + depth, min(y + depth + aisle, hw)))
        y += depth + aisle
        single = False
    return aisles


def _place(
    b: _Builder, make: Callable[[], Footprint], tries: int, clearance_m: float, avoid_zones: bool = True
) -> Footprint | None:
    for _ in range(tries):
        fp: Footprint = make()
        if not b.inside(fp, 0.05):
            continue
        others = b.obstacles + ([z.area for z in b.zones] if avoid_zones else [])
        if not b.overlaps(fp, others, clearance_m):
            return fp
    return None


def _aisle_markings(b: _Builder, aisles: list[tuple[float, float]]) -> None:
    rng = b.rng
    hl = b.length_m / 2
    for y0, y1 in aisles:
        if y1 - y0 < 1.2 or rng.uniform() < 0.25:
            continue
        colour = _rgb(rng, (0.95, 0.8, 0.1), 0.05) if rng.uniform() < 0.6 else _rgb(rng, (0.92, 0.92, 0.9), 0.04)
        w = b.u(0.05, 0.1)
        # One centre line, or edge lines 0.2 m off the racks; solid or dashed.
        ys = [(y0 + y1) / 2] if rng.uniform() < 0.5 else [y0 + 0.2, y1 - 0.2]
        dashed = rng.uniform() < 0.35
        x_a, x_b = -hl + 0.3, hl - 0.3
        for yl in ys:
            if dashed:
                x = x_a
                while x + 0.6 < x_b:
                    _add_marking(b, Footprint("marking", _r(x + 0.3), _r(yl), 0.3, _r(w / 2)), colour)
                    x += 1.0
            else:
                _add_marking(b, Footprint("marking", 0.0, _r(yl), _r((x_b - x_a) / 2), _r(w / 2)), colour)


def _add_marking(b: _Builder, fp: Footprint, rgba: RGBA, z_extra: float = 0.0) -> None:
    b.markings.append(fp)
    b.add(_box("marking", fp.x_m, fp.y_m, PAINT_HALF_THICKNESS_M + z_extra, fp.half_x_m, fp.half_y_m,
               PAINT_HALF_THICKNESS_M, fp.yaw_rad, rgba))  # fmt: skip


def _marking(b: _Builder) -> None:
    """One free-standing drivable marking: arrow, crossing, parking box or a (red or white) stop line."""
    rng = b.rng
    kind = rng.choice(["arrow", "crossing", "parking", "stop_line", "line"])
    hl, hw = b.length_m / 2, b.width_m / 2
    for _ in range(30):
        x, y = b.u(-hl + 1.0, hl - 1.0), b.u(-hw + 1.0, hw - 1.0)
        yaw = float(rng.choice([0.0, math.pi / 2, math.pi, -math.pi / 2]))
        if kind == "arrow":
            size = (0.9, 0.35)
        elif kind == "crossing":
            size = (0.9, b.u(0.8, 1.6))
        elif kind == "parking":
            size = (b.u(0.7, 1.2), b.u(0.5, 0.9))
        elif kind == "stop_line":
            size = (0.08, b.u(0.6, 1.5))
        else:
            size = (b.u(1.0, 3.0), 0.05)
        fp = Footprint("marking", _r(x), _r(y), _r(size[0]), _r(size[1]), yaw)
        if not b.inside(fp, 0.1) or b.overlaps(fp, [z.area for z in b.zones], 0.15):
            continue
        if b.overlaps(fp, b.obstacles, 0.05):
            continue
        white = _rgb(rng, (0.93, 0.93, 0.9), 0.04)
        yellow = _rgb(rng, (0.95, 0.8, 0.1), 0.05)
        red = _rgb(rng, (0.8, 0.12, 0.1), 0.06)
        colour = [white, yellow][int(rng.integers(0, 2))]
        if kind == "arrow":  # a shaft and a chevron head, all rectangles
            sx, sy = _local(fp, -0.2, 0.0)
            _add_marking(b, Footprint("marking", _r(sx), _r(sy), 0.5, 0.07, yaw), colour)
            for side in (-1.0, 1.0):
                ang = yaw + side * 2.4  # the two strokes of ">" pointing along +x of the arrow
                hx, hy = _local(fp, 0.5 + 0.17 * math.cos(side * 2.4), 0.17 * math.sin(side * 2.4))
                _add_marking(b, Footprint("marking", _r(hx), _r(hy), 0.2, 0.06, _r(wrap_angle(ang))), colour)
        elif kind == "crossing":
            n = max(2, int(2 * fp.half_y_m / 0.3))
            for i in range(n):
                ly = -fp.half_y_m + (i + 0.5) * 2 * fp.half_y_m / n
                sx, sy = _local(fp, 0.0, ly)
                _add_marking(b, Footprint("marking", _r(sx), _r(sy), fp.half_x_m, 0.08, yaw), white)
        elif kind == "parking":
            t = 0.04
            for lx, ly, ax, ay in ((0.0, fp.half_y_m - t, fp.half_x_m, t), (0.0, -fp.half_y_m + t, fp.half_x_m, t),
                                   (-fp.half_x_m + t, 0.0, t, fp.half_y_m)):  # fmt: skip
                sx, sy = _local(fp, lx, ly)
                _add_marking(b, Footprint("marking", _r(sx), _r(sy), ax, ay, yaw), yellow)
        elif kind == "stop_line":
            _add_marking(b, fp, red if rng.uniform() < 0.6 else white)
        else:
            _add_marking(b, fp, colour if rng.uniform() < 0.7 else red)
        return


def _zone(b: _Builder, rng: np.random.Generator) -> None:
    hl, hw = b.length_m / 2, b.width_m / 2
    style = str(rng.choice(ZONE_STYLES))

    def make() -> Footprint:
        hx, hy = b.u(0.4, 1.3), b.u(0.35, 1.0)
        if rng.uniform() < 0.5:
            hx, hy = hy, hx
        against_wall = rng.uniform() < 0.3
        x = b.u(-hl + hx, hl - hx)
        y = (hw - hy) * float(rng.choice([-1.0, 1.0])) if against_wall else b.u(-hw + hy, hw - hy)
        return Footprint("keep_out", _r(x), _r(y), _r(hx), _r(hy))

    fp = _place(b, make, 60, 0.0)
    if fp is None:
        return
    b.zones.append(Zone(fp, style))
    material = {"hazard": "zone_hazard", "red": "zone_red", "red_white": "zone_red_white"}[style]
    b.add(_box("keep_out", fp.x_m, fp.y_m, ZONE_HALF_THICKNESS_M, fp.half_x_m, fp.half_y_m, ZONE_HALF_THICKNESS_M,
               fp.yaw_rad, (1.0, 1.0, 1.0, 1.0), material))  # fmt: skip


def _clutter(b: _Builder, config: WorldConfig, height_m: float) -> None:
    rng = b.rng
    hl, hw = b.length_m / 2, b.width_m / 2
    clearance = 2 * config.robot_radius_m + 0.3  # leave room to drive between things

    for _ in range(int(rng.integers(0, config.max_posts + 1))):
        if rng.uniform() < 0.5:  # building column, square concrete or painted
            s = b.u(0.15, 0.22)

            def column(s: float = s) -> Footprint:
                return Footprint("post", _r(b.u(-hl, hl)), _r(b.u(-hw, hw)), _r(s), _r(s))

            fp = _place(b, column, 30, clearance)
            if fp is not None:
                b.obstacles.append(fp)
                colour = _rgb(rng, (0.95, 0.75, 0.1), 0.05) if rng.uniform() < 0.5 else _rgb(rng, (0.6, 0.6, 0.6), 0.1)
                b.add(_box("post", fp.x_m, fp.y_m, height_m / 2, s, s, height_m / 2, 0.0, colour))
        else:  # bollard
            r = b.u(0.05, 0.1)

            def bollard(r: float = r) -> Footprint:
                return Footprint("post", _r(b.u(-hl, hl)), _r(b.u(-hw, hw)), _r(r), _r(r), circle=True)

            fp = _place(b, bollard, 30, clearance)
            if fp is not None:
                b.obstacles.append(fp)
                h = b.u(0.8, 1.2)
                b.add(Part("post", "cylinder", fp.x_m, fp.y_m, _r(h / 2), (fp.half_x_m, _r(h / 2)), 0.0,
                           _rgb(rng, (0.95, 0.78, 0.1), 0.05)))  # fmt: skip

    for _ in range(int(rng.integers(1, config.max_pallets + 1)) if config.max_pallets else 0):
        yaw = float(rng.choice([0.0, math.pi / 2])) + b.u(-0.15, 0.15)

        def pallet(yaw: float = yaw) -> Footprint:
            return Footprint("pallet", _r(b.u(-hl, hl)), _r(b.u(-hw, hw)), 0.6, 0.4, _r(yaw))

        fp = _place(b, pallet, 30, clearance)
        if fp is None:
            continue
        b.obstacles.append(fp)
        wood = _rgb(rng, (0.62, 0.45, 0.26), 0.07)
        for ly in (-0.35, 0.0, 0.35):  # three stringers under the deck
            x, y = _local(fp, 0.0, ly)
            b.add(_box("pallet", x, y, 0.05, 0.6, 0.05, 0.05, fp.yaw_rad, wood))
        b.add(_box("pallet", fp.x_m, fp.y_m, 0.122, 0.6, 0.4, 0.022, fp.yaw_rad, wood))
        if rng.uniform() < 0.6:  # loaded
            h = b.u(0.3, 1.2)
            b.add(_box("box", fp.x_m, fp.y_m, 0.144 + h / 2, b.u(0.45, 0.58), b.u(0.3, 0.38), h / 2, fp.yaw_rad,
                       _rgb(rng, (0.7, 0.55, 0.35), 0.08)))  # fmt: skip

    for _ in range(int(rng.integers(1, config.max_box_stacks + 1)) if config.max_box_stacks else 0):
        s = b.u(0.2, 0.35)
        yaw = b.u(-math.pi, math.pi)

        def stack(s: float = s, yaw: float = yaw) -> Footprint:
            return Footprint("box", _r(b.u(-hl, hl)), _r(b.u(-hw, hw)), _r(s), _r(s * b.u(0.7, 1.0)), _r(yaw))

        fp = _place(b, stack, 30, clearance)
        if fp is None:
            continue
        b.obstacles.append(fp)
        z = 0.0
        for _level in range(int(rng.integers(1, 4))):
            h = b.u(0.25, 0.5)
            b.add(_box("box", fp.x_m, fp.y_m, z + h / 2, fp.half_x_m, fp.half_y_m, h / 2, fp.yaw_rad + b.u(-0.1, 0.1)
                       * (z > 0), _rgb(rng, (0.72, 0.56, 0.36), 0.1)))  # fmt: skip
            z += h


def _textures(rng: np.random.Generator) -> tuple[Texture, ...]:
    grey = float(rng.uniform(105, 175))
    tint = rng.uniform(-12, 12, 3)
    if rng.uniform() < 0.25:  # epoxy-coated floor, green-grey or blue-grey
        tint += rng.choice([np.array([-15.0, 10.0, -5.0]), np.array([-15.0, -3.0, 15.0])])
    r, g, b = (int(v) for v in np.clip(grey + tint, 40, 230))
    floor_rgb = (r, g, b)
    tile = float(rng.uniform(3.0, 5.0))
    seeds = rng.integers(0, 2**31 - 1, 4)
    return (
        Texture(
            "floor",
            "concrete",
            int(seeds[0]),
            512,
            floor_rgb,
            amount=float(rng.uniform(0.3, 1.0)),
            seam_px=int(rng.choice([0, 128, 256])),
            tile_m=_r(tile),
        ),
        Texture(
            "zone_hazard",
            "stripes",
            int(seeds[1]),
            64,
            (235, 190, 20),
            (25, 25, 25),
            float(rng.uniform(0, 1)),
            tile_m=_r(rng.uniform(0.4, 0.6)),
        ),
        Texture(
            "zone_red",
            "paint",
            int(seeds[2]),
            64,
            (int(rng.uniform(180, 225)), 30, 30),
            amount=float(rng.uniform(0, 1)),
            tile_m=1.0,
        ),
        Texture(
            "zone_red_white",
            "stripes",
            int(seeds[3]),
            64,
            (205, 35, 35),
            (235, 235, 230),
            float(rng.uniform(0, 1)),
            tile_m=_r(rng.uniform(0.4, 0.6)),
        ),
    )


def _lights(rng: np.random.Generator) -> tuple[tuple[Light, ...], tuple[float, float]]:
    lights = []
    for _ in range(int(rng.integers(1, 4))):
        az = rng.uniform(-math.pi, math.pi)
        tilt = rng.uniform(0.0, 0.6)
        direction = (math.sin(tilt) * math.cos(az), math.sin(tilt) * math.sin(az), -math.cos(tilt))
        level = rng.uniform(0.25, 0.6)
        warm = rng.uniform(-0.08, 0.08)
        lights.append(Light(tuple(_r(v) for v in direction), (_r(level + warm), _r(level), _r(level - warm)),  # type: ignore[arg-type]
                            _r(rng.uniform(0.0, 0.3))))  # fmt: skip
    headlight = (_r(rng.uniform(0.25, 0.45)), _r(rng.uniform(0.1, 0.3)))
    return tuple(lights), headlight


def _start_goal(
    b: _Builder, config: WorldConfig, zones: list[Footprint]
) -> tuple[Pose2D, XY, tuple[XY, ...], NDArray[np.int8], XY] | None:
    res = config.grid_resolution_m
    raw, origin = occupancy(b.length_m, b.width_m, [*b.obstacles, *zones], res)
    clearance = config.robot_radius_m + config.route_margin_m
    grid = inflate(raw, clearance, res)
    free = (grid == OCC_FREE).astype(np.uint8)
    count, comp = cv2.connectedComponents(free, connectivity=8)
    if count <= 1:
        return None
    sizes = np.bincount(comp.ravel())[1:]
    biggest = 1 + int(np.argmax(sizes))
    cells = np.argwhere(comp == biggest)
    rng = b.rng
    planner = PlannerConfig(cost_weight=0.0, smooth=False)
    for _ in range(20):
        s = cells[int(rng.integers(len(cells)))]
        sxy = _cell_to_xy(s[None], origin, res)[0]
        d = np.hypot(*(_cell_to_xy(cells, origin, res) - sxy).T)
        far = cells[d >= config.min_route_m]
        if len(far) == 0:
            continue
        g = far[int(rng.integers(len(far)))]
        found, path, _, _ = plan_cells(grid, (int(s[0]), int(s[1])), (int(g[0]), int(g[1])), planner)
        if not found:
            continue
        cells_xy = _cell_to_xy(path, origin, res)
        route = _corners_only(cells_xy)
        # Face the route 1 m ahead (not its first corner, which may be one cell away).
        along = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(cells_xy, axis=0).T))])
        look = cells_xy[min(int(np.searchsorted(along, 1.0)), len(cells_xy) - 1)]
        yaw = math.atan2(look[1] - route[0][1], look[0] - route[0][0]) if len(cells_xy) > 1 else 0.0
        start = Pose2D(_r(route[0][0]), _r(route[0][1]), _r(yaw))
        goal = (_r(route[-1][0]), _r(route[-1][1]))
        return start, goal, tuple((_r(x), _r(y)) for x, y in route), raw, origin
    return None


def _movers(b: _Builder, config: WorldConfig, raw: NDArray[np.int8], origin: XY, start: Pose2D, goal: XY
            ) -> tuple[Mover, ...]:  # fmt: skip
    rng = b.rng
    res = config.grid_resolution_m
    movers: list[Mover] = []
    hl, hw = b.length_m / 2, b.width_m / 2
    n = int(rng.integers(0, config.max_people + 1)) if config.max_people else 0
    for _ in range(n):
        radius = _r(b.u(0.2, 0.26))
        grid = inflate(raw, radius + 0.05, res)
        for _try in range(40):
            a = np.array([b.u(-hl + 0.5, hl - 0.5), b.u(-hw + 0.5, hw - 0.5)])
            ang = b.u(-math.pi, math.pi)
            length = b.u(2.0, 6.0)
            bb = a + length * np.array([math.cos(ang), math.sin(ang)])
            t = np.linspace(0.0, 1.0, max(2, int(length / res) * 2))[:, None]
            pts = a + t * (bb - a)
            rc = np.floor((pts[:, ::-1] - origin[::-1]) / res).astype(np.int64)
            if np.any(rc < 0) or np.any(rc[:, 0] >= grid.shape[0]) or np.any(rc[:, 1] >= grid.shape[1]):
                continue
            if np.any(grid[rc[:, 0], rc[:, 1]] != OCC_FREE):
                continue
            # Keep people away from the start and the goal so a run never begins or ends in a collision.
            seg = _segment_distance(np.array([[start.x_m, start.y_m], goal]), a, bb)
            if np.any(seg < 1.5):
                continue
            colour = _rgb(rng, tuple(rng.choice([(0.2, 0.3, 0.6), (0.9, 0.5, 0.1), (0.3, 0.3, 0.3), (0.1, 0.5, 0.3)])),
                          0.05)  # fmt: skip
            movers.append(Mover((_r(a[0]), _r(a[1])), (_r(bb[0]), _r(bb[1])), _r(b.u(0.4, 1.2)), radius,
                                _r(b.u(1.55, 1.85)), _r(b.u(0.0, 1.0)), colour))  # fmt: skip
            break
    return tuple(movers)


def _segment_distance(
    points: NDArray[np.float64], a: NDArray[np.float64], b: NDArray[np.float64]
) -> NDArray[np.float64]:
    ab = b - a
    t = np.clip(((points - a) @ ab) / max(float(ab @ ab), 1e-12), 0.0, 1.0)
    return np.hypot(*(points - (a + t[:, None] * ab)).T)


def generate_world(seed: int, config: WorldConfig | None = None) -> World:
    """Generate the warehouse for `seed`.

    Args:
        seed: any non-negative integer; the same seed and config give the same world.
        config: what the world may contain (default WorldConfig()).

    Returns:
        The world, with a start, a goal and a route free of obstacles and keep-out zones for a
        robot of `config.robot_radius_m` (plus `route_margin_m`).

    Raises:
        WorldError: a negative seed, or no layout with a route after many attempts (a config
            that leaves no room to drive).

    """
    if seed < 0:
        raise WorldError(f"seed must be >= 0, got {seed}")
    config = WorldConfig() if config is None else config
    rng = np.random.default_rng(seed)
    for _attempt in range(10):
        length = _r(round(rng.uniform(config.min_length_m, config.max_length_m), 1))
        width = _r(round(rng.uniform(config.min_width_m, config.max_width_m), 1))
        height = _r(rng.uniform(4.5, 7.0))
        b = _Builder(rng, length, width)
        _walls(b, height)
        aisles = _racks(b, height)
        _aisle_markings(b, aisles)
        for _ in range(int(rng.integers(1, config.max_zones + 1)) if config.max_zones else 0):
            _zone(b, rng)
        for _ in range(int(rng.integers(2, config.max_markings + 1)) if config.max_markings >= 2 else 0):
            _marking(b)
        _clutter(b, config, height)
        found = _start_goal(b, config, [z.area for z in b.zones])
        if found is None:
            continue
        start, goal, route, raw, origin = found
        movers = _movers(b, config, raw, origin, start, goal)
        lights, headlight = _lights(rng)
        textures = _textures(rng)
        return World(
            seed=seed,
            length_m=length,
            width_m=width,
            height_m=height,
            parts=tuple(b.parts),
            obstacles=tuple(b.obstacles),
            zones=tuple(b.zones),
            markings=tuple(b.markings),
            movers=movers,
            lights=lights,
            headlight=headlight,
            textures=textures,
            start=start,
            goal_xy=goal,
            route_xy=route,
            robot_radius_m=config.robot_radius_m,
            route_clearance_m=config.robot_radius_m + config.route_margin_m,
        )
    raise WorldError(
        f"no warehouse layout with a start-goal route of >= {config.min_route_m} m for seed {seed} after 10 attempts; "
        "allow a larger floor or fewer obstacles"
    )


def plan_route(
    length_m: float,
    width_m: float,
    shapes: Iterable[Footprint],
    start_xy: XY,
    goal_xy: XY,
    config: WorldConfig | None = None,
) -> tuple[XY, ...] | None:
    """The grid route between two points around `shapes` (obstacles and zones), or None when there is none.

    Planned like the generator's: `plan_cells` on the occupancy inflated by robot radius + margin;
    the exact start and goal replace the first and last cell centres.
    """
    config = WorldConfig() if config is None else config
    res = config.grid_resolution_m
    raw, origin = occupancy(length_m, width_m, shapes, res)
    grid = inflate(raw, config.robot_radius_m + config.route_margin_m, res)
    s = _xy_to_cell(*start_xy, origin, res)
    g = _xy_to_cell(*goal_xy, origin, res)
    rows, cols = grid.shape
    if not (0 <= s[0] < rows and 0 <= s[1] < cols and 0 <= g[0] < rows and 0 <= g[1] < cols):
        return None
    found, path, _, _ = plan_cells(grid, s, g, PlannerConfig(cost_weight=0.0, smooth=False))
    if not found:
        return None
    route = _corners_only(_cell_to_xy(path, origin, res))
    route[0], route[-1] = start_xy, goal_xy
    return tuple((_r(x), _r(y)) for x, y in route)


def build_world(
    length_m: float,
    width_m: float,
    solids: Iterable[tuple[Footprint, float]] = (),
    zones: Iterable[Zone] = (),
    markings: Iterable[Footprint] = (),
    start: Pose2D | None = None,
    goal_xy: XY | None = None,
    movers: Iterable[Mover] = (),
    seed: int = 0,
    config: WorldConfig | None = None,
) -> World:
    """A hand-made world for tests and known-answer checks.

    Walls, plain boxes (footprint + height; class from the footprint's label), zones, yellow
    markings, people, one light and default textures.

    Raises:
        WorldError: no route between `start` and `goal_xy` (both default to points near the
            left and right walls on the centre line).

    """
    config = WorldConfig() if config is None else config
    rng = np.random.default_rng(seed)
    b = _Builder(rng, length_m, width_m)
    height = 4.0
    _walls(b, height)
    colours = {"box": (0.7, 0.5, 0.3, 1.0), "pallet": (0.6, 0.45, 0.25, 1.0), "post": (0.95, 0.75, 0.1, 1.0),
               "rack": (0.15, 0.3, 0.65, 1.0)}  # fmt: skip
    for fp, h in solids:
        b.obstacles.append(fp)
        rgba = colours.get(fp.label, (0.5, 0.5, 0.5, 1.0))
        if fp.circle:
            b.add(Part(fp.label, "cylinder", fp.x_m, fp.y_m, _r(h / 2), (fp.half_x_m, _r(h / 2)), 0.0, rgba))
        else:
            b.add(_box(fp.label, fp.x_m, fp.y_m, h / 2, fp.half_x_m, fp.half_y_m, h / 2, fp.yaw_rad, rgba))
    material = {"hazard": "zone_hazard", "red": "zone_red", "red_white": "zone_red_white"}
    for z in zones:
        b.zones.append(z)
        a = z.area
        b.add(_box("keep_out", a.x_m, a.y_m, ZONE_HALF_THICKNESS_M, a.half_x_m, a.half_y_m, ZONE_HALF_THICKNESS_M,
                   a.yaw_rad, (1.0, 1.0, 1.0, 1.0), material[z.style]))  # fmt: skip
    for m in markings:
        _add_marking(b, m, (0.95, 0.8, 0.1, 1.0))
    start = Pose2D(_r(-length_m / 2 + 1.0), 0.0, 0.0) if start is None else start
    goal_xy = (_r(length_m / 2 - 1.0), 0.0) if goal_xy is None else goal_xy
    route = plan_route(length_m, width_m, [*b.obstacles, *[z.area for z in b.zones]], (start.x_m, start.y_m), goal_xy,
                       config)  # fmt: skip
    if route is None:
        raise WorldError(f"no route from ({start.x_m}, {start.y_m}) to {goal_xy} in the hand-made world")
    return World(
        seed=seed,
        length_m=length_m,
        width_m=width_m,
        height_m=height,
        parts=tuple(b.parts),
        obstacles=tuple(b.obstacles),
        zones=tuple(b.zones),
        markings=tuple(b.markings),
        movers=tuple(movers),
        lights=(Light((0.3, 0.2, -0.93), (0.5, 0.5, 0.5), 0.1),),
        headlight=(0.35, 0.2),
        textures=_textures(np.random.default_rng(seed)),
        start=start,
        goal_xy=goal_xy,
        route_xy=route,
        robot_radius_m=config.robot_radius_m,
        route_clearance_m=config.robot_radius_m + config.route_margin_m,
    )


def world_occupancy(world: World, resolution_m: float = 0.05, *, zones: bool = True) -> tuple[NDArray[np.int8], XY]:
    """The world's static occupancy (0 free, 100 lethal; zones lethal unless `zones` is False) and grid origin."""
    shapes = [*world.obstacles, *([z.area for z in world.zones] if zones else [])]
    return occupancy(world.length_m, world.width_m, shapes, resolution_m)


# ---------------------------------------------------------------------------------------- MJCF
TOP_VIEW_MAX_PX = 800  # longest side of the top-view picture; the offscreen buffer is made to fit it
ROBOT_BODY = "robot"
CAMERA_NAME = "rgbd"
TOP_CAMERA_NAME = "top"
VIEW_EXTENT_M = 10.0  # MuJoCo's statistic/extent: near and far planes are given relative to it
ZNEAR_M = 0.02
ZFAR_M = 100.0


def _f(*values: float) -> str:
    return " ".join(format(float(v), ".10g") for v in values)


def top_view_size(world: World) -> tuple[int, int, float]:
    """(width_px, height_px, metres per pixel) of the top view: floor and walls, longest side TOP_VIEW_MAX_PX."""
    span_x, span_y = world.length_m + 0.6, world.width_m + 0.6
    m_per_px = max(span_x, span_y) / TOP_VIEW_MAX_PX
    return round(span_x / m_per_px), round(span_y / m_per_px), m_per_px


def world_xml(world: World, camera: CameraConfig | None = None, robot: RobotConfig | None = None) -> str:
    """The MJCF of the world with the robot (a mocap body carrying the RGB-D camera) at its start pose.

    Every geom is named `<class>:<n>` with its warehouse class, which is how the segmentation
    table is built; people and the robot are mocap bodies the simulator moves. Contacts are off:
    the simulator is kinematic and scores collisions on the 2-D footprints.
    """
    camera = CameraConfig() if camera is None else camera
    robot = RobotConfig() if robot is None else robot
    top_w, top_h, m_per_px = top_view_size(world)
    counter: dict[str, int] = {}

    def name(label: str) -> str:
        counter[label] = counter.get(label, 0) + 1
        return f"{label}:{counter[label] - 1}"

    lines = [
        f'<mujoco model="warehouse_{world.seed}">',
        '  <compiler angle="radian"/>',
        '  <option timestep="0.01"><flag contact="disable" gravity="disable"/></option>',
        f'  <statistic extent="{_f(VIEW_EXTENT_M)}" center="0 0 1"/>',
        "  <visual>",
        f'    <global offwidth="{max(camera.width_px, top_w)}" offheight="{max(camera.height_px, top_h)}"/>',
        '    <quality shadowsize="0" offsamples="0"/>',
        f'    <map znear="{_f(ZNEAR_M / VIEW_EXTENT_M)}" zfar="{_f(ZFAR_M / VIEW_EXTENT_M)}"/>',
        f'    <headlight ambient="{_f(*[world.headlight[0]] * 3)}" diffuse="{_f(*[world.headlight[1]] * 3)}" '
        'specular="0 0 0"/>',
        "  </visual>",
        '  <default><geom contype="0" conaffinity="0"/></default>',
        "  <asset>",
    ]
    for t in world.textures:
        lines.append(f'    <texture name="{t.name}" type="2d" builtin="flat" width="{t.size_px}" '
                     f'height="{t.size_px}" rgb1="0.5 0.5 0.5"/>')  # fmt: skip
        shiny = ' specular="0.3" shininess="0.3"' if t.name == "floor" else ' specular="0.1" shininess="0.1"'
        lines.append(f'    <material name="{t.name}" texture="{t.name}" texuniform="true" '
                     f'texrepeat="{_f(1.0 / t.tile_m, 1.0 / t.tile_m)}"{shiny}/>')  # fmt: skip
    lines += ["  </asset>", "  <worldbody>"]
    for light in world.lights:
        lines.append(f'    <light directional="true" castshadow="false" pos="0 0 {_f(world.height_m)}" '
                     f'dir="{_f(*light.direction)}" diffuse="{_f(*light.diffuse)}" '
                     f'specular="{_f(*[light.specular] * 3)}"/>')  # fmt: skip
    half = (world.length_m / 2 + 0.3, world.width_m / 2 + 0.3)
    lines.append(f'    <geom name="{name("floor")}" type="plane" size="{_f(*half, 1.0)}" material="floor"/>')
    for p in world.parts:
        look = f'material="{p.material}"' if p.material else f'rgba="{_f(*p.rgba)}"'
        group = f' group="{p.group}"' if p.group else ""
        lines.append(f'    <geom name="{name(p.label)}" type="{p.shape}" pos="{_f(p.x_m, p.y_m, p.z_m)}" '
                     f'size="{_f(*p.size)}" euler="0 0 {_f(p.yaw_rad)}" {look}{group}/>')  # fmt: skip
    for i, m in enumerate(world.movers):
        x, y, yaw = m.pose_at(0.0)
        body_h = m.height_m - 0.25
        capsule = _f(m.radius_m, (body_h - 2 * m.radius_m) / 2)
        lines += [
            f'    <body name="person_{i}" mocap="true" pos="{_f(x, y, 0.0)}" euler="0 0 {_f(yaw)}">',
            f'      <geom name="{name("person")}" type="capsule" size="{capsule}" '
            f'pos="0 0 {_f(body_h / 2)}" rgba="{_f(*m.rgba)}"/>',
            f'      <geom name="{name("person")}" type="sphere" size="0.11" pos="0 0 {_f(m.height_m - 0.12)}" '
            'rgba="0.85 0.68 0.55 1"/>',
            "    </body>",
        ]
    s = world.start
    mount = camera.mount
    axes = mujoco_camera_axes(mount)
    mast_half_m = max(mount.z_m - robot.body_height_m, 0.02) / 2
    lines += [
        f'    <body name="{ROBOT_BODY}" mocap="true" pos="{_f(s.x_m, s.y_m, 0.0)}" euler="0 0 {_f(s.yaw_rad)}">',
        f'      <geom name="{name("robot")}" type="cylinder" size="{_f(robot.radius_m, robot.body_height_m / 2)}" '
        f'pos="0 0 {_f(robot.body_height_m / 2)}" rgba="0.1 0.75 0.65 1" group="{OWN_BODY_GROUP}"/>',
        f'      <geom name="{name("robot")}" type="box" size="0.03 0.06 {_f(mast_half_m)}" '
        f'pos="{_f(mount.x_m - 0.06, mount.y_m, (mount.z_m + robot.body_height_m) / 2)}" rgba="0.2 0.2 0.2 1" '
        f'group="{OWN_BODY_GROUP}"/>',
        f'      <camera name="{CAMERA_NAME}" pos="{_f(mount.x_m, mount.y_m, mount.z_m)}" xyaxes="{_f(*axes)}" '
        f'fovy="{_f(fovy_deg(camera))}"/>',
        "    </body>",
        f'    <camera name="{TOP_CAMERA_NAME}" projection="orthographic" pos="0 0 {_f(world.height_m + 10.0)}" '
        f'xyaxes="1 0 0 0 1 0" fovy="{_f(top_h * m_per_px)}"/>',
        "  </worldbody>",
        "</mujoco>",
    ]
    return "\n".join(lines) + "\n"
