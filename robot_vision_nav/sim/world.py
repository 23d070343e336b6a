"""Warehouse worlds generated from a seed, with a guaranteed route.

A world (`sim.world_types.World`) is a walled warehouse floor: racks in rows with aisles between
them, pallets, carton stacks, posts and bollards; flat keep-out zones painted on the floor (hazard
stripes, red, red/white) that must not be driven on; drivable paint (lane lines, dashes, arrows,
crossings, parking boxes, stop lines) in overlapping colours (yellow and red paint exists on both
sides), so a network must learn meaning rather than "colour = danger"; optionally people walking
back and forth; lights, floor and paint vary per seed. Every world carries a start pose and a goal
joined by a route that a grid planner (`core.planner.plan_cells`) found on the world's occupancy
(`sim.occupancy`), inflated by the robot radius plus a margin, with keep-out zones as lethal: a
robot that follows it touches neither an obstacle nor a zone (checked again by the tests with the
exact footprints). `sim.mjcf` writes a world out for MuJoCo.

Everything is a pure function of (seed, WorldConfig): the same seed gives the same World and the
same XML, byte for byte. Coordinates are rounded to 0.1 mm when generated, so the XML carries
exactly the numbers the footprints use. This module must never import ROS or MuJoCo.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import cv2
import numpy as np
from numpy.typing import NDArray

from robot_vision_nav.core.geometry import Pose2D, wrap_angle
from robot_vision_nav.core.grid import OCC_FREE
from robot_vision_nav.core.planner import PlannerConfig, plan_cells
from robot_vision_nav.sim.occupancy import (
    cell_to_xy,
    corners_only,
    inflate_occupancy,
    occupancy,
    plan_route,
)
from robot_vision_nav.sim.world_types import (
    RGBA,
    TOP_VIEW_GROUP,
    XY,
    ZONE_STYLES,
    Footprint,
    Light,
    Mover,
    Part,
    Texture,
    World,
    WorldConfig,
    Zone,
    round_coord,
)

PAINT_HALF_THICKNESS_M = 0.001  # markings are 2 mm slabs: flat for the robot, above the floor for the renderer
ZONE_HALF_THICKNESS_M = 0.0015  # zones are 3 mm: where one is painted over a marking, the zone shows
_r = round_coord  # the generator rounds nearly every number it makes


class WorldError(ValueError):
    """A world that cannot be generated (no route found) or a configuration that makes none possible."""


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
    grid = inflate_occupancy(raw, clearance, res)
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
        sxy = cell_to_xy(s[None], origin, res)[0]
        d = np.hypot(*(cell_to_xy(cells, origin, res) - sxy).T)
        far = cells[d >= config.min_route_m]
        if len(far) == 0:
            continue
        g = far[int(rng.integers(len(far)))]
        found, path, _, _ = plan_cells(grid, (int(s[0]), int(s[1])), (int(g[0]), int(g[1])), planner)
        if not found:
            continue
        cells_xy = cell_to_xy(path, origin, res)
        route = corners_only(cells_xy)
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
        grid = inflate_occupancy(raw, radius + 0.05, res)
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
    distance: NDArray[np.float64] = np.hypot(*(points - (a + t[:, None] * ab)).T)
    return distance


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
