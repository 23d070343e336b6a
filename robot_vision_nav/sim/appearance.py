"""Appearance and camera randomisation for simulator training data: `rvn sim-dataset --randomize`.

A generated world (`sim.world.generate_world`) has one house look: grey concrete, yellow/black
hazard stripes, blue or orange racks, a few lights of similar strength. `randomize_appearance`
redraws that look over much wider ranges without touching any geometry or class: lighting (count,
direction, intensity, colour temperature, headlight), floor texture, zone textures, and the
colours of walls, racks, boxes, pallets, posts, markings and people. Keep-out zones stay painted
patterns (stripes or solid paint) but in varied colours, and markings draw from the same colours,
so colour alone never tells a zone from a marking; some floors are flat and some paint shows the
concrete's grain, so texture alone never tells floor from paint. `jittered_mount` moves the camera per frame.
`RandomizeConfig` also raises how many posts, people and zones a world may hold, and what share of
a dataset's frames face one of them (`sim.dataset.frame_poses`).

Everything is a pure function of the world and a numpy Generator: the same seeds give the same
look. The default path (`rvn sim-dataset` without `--randomize`) never calls this module. Must
never import ROS or MuJoCo.
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from robot_vision_nav.core.config import ConfigError, param, validate_fields
from robot_vision_nav.sim.world_types import RGBA, Light, Part, Texture, World, WorldConfig, round_coord

_r = round_coord
RGB8 = tuple[int, int, int]

# Paint colours (0..1 RGB) shared by keep-out zones and drivable markings: no colour belongs to one class.
PAINT = {
    "yellow": (0.95, 0.8, 0.1),
    "white": (0.93, 0.93, 0.9),
    "red": (0.82, 0.12, 0.1),
    "orange": (0.95, 0.45, 0.08),
    "blue": (0.1, 0.3, 0.8),
    "green": (0.1, 0.6, 0.25),
    "black": (0.1, 0.1, 0.1),
}
# Second stripe colour of a zone pattern.
STRIPE_B = ("black", "white", "black", "white", "yellow", "red", "blue")
# Share of randomised floors that are flat (no grain, faint stains, no seams), and of solid keep-out zones
# whose paint shows the grain of the floor under it: texture alone never tells floor from paint.
FLAT_FLOOR_SHARE = 0.3
TEXTURED_PAINT_SHARE = 0.5
# Epoxy floor tints (RGB offsets added to the grey level).
EPOXY_TINTS = ((-15.0, 10.0, -5.0), (-15.0, -3.0, 15.0), (20.0, -5.0, -20.0), (12.0, 6.0, -10.0), (-5.0, -5.0, -5.0))


@dataclass(frozen=True)
class RandomizeConfig:
    """How `rvn sim-dataset --randomize` varies worlds and camera frames."""

    mount_height_jitter_m: float = param(
        0.10, "camera mount height jitter per frame: uniform within +-this around the default", unit="m",
        min_value=0.0, max_value=0.3,
    )  # fmt: skip
    mount_pitch_jitter_rad: float = param(
        0.10, "camera mount pitch jitter per frame: uniform within +-this around the default", unit="rad",
        min_value=0.0, max_value=0.3,
    )  # fmt: skip
    aim_share: float = param(
        0.6, "share of the random-place frames that face a person, post or keep-out zone", min_value=0.0,
        max_value=1.0,
    )  # fmt: skip
    aim_min_m: float = param(1.0, "nearest distance of an aimed frame's camera to its target", unit="m",
                             min_value=0.5, max_value=10.0)  # fmt: skip
    aim_max_m: float = param(4.0, "farthest distance of an aimed frame's camera to its target", unit="m",
                             min_value=0.5, max_value=10.0)  # fmt: skip
    aim_wall_share: float = param(
        0.0, "share of the aimed frames that face a wall instead (close walls fill the frame as close people "
        "do)", min_value=0.0, max_value=1.0,
    )  # fmt: skip
    aim_marking_share: float = param(
        0.0, "share of the other aimed frames that face a floor marking (a crosswalk stripe, a lane line) instead",
        min_value=0.0, max_value=1.0,
    )  # fmt: skip
    look_share: float = param(
        1.0, "share of the worlds whose look is randomised; the rest keep the default look (the held-out "
        "worlds' look) with this config's posts, zones, people, aiming and mount jitter", min_value=0.0,
        max_value=1.0,
    )  # fmt: skip
    max_posts: int = param(12, "most building columns and bollards per world", min_value=0, max_value=40)
    max_zones: int = param(8, "most painted keep-out zones per world", min_value=0, max_value=40)
    max_people: int = param(6, "most people per world", min_value=0, max_value=10)

    def __post_init__(self) -> None:
        validate_fields(self)
        if self.aim_min_m > self.aim_max_m:
            raise ConfigError(f"aim_min_m ({self.aim_min_m:g} m) must not exceed aim_max_m ({self.aim_max_m:g} m)")

    def world_config(self, robot_radius_m: float) -> WorldConfig:
        """The WorldConfig of a randomised dataset's worlds: more posts, zones and people."""
        return WorldConfig(
            max_posts=self.max_posts,
            max_zones=self.max_zones,
            max_people=self.max_people,
            robot_radius_m=robot_radius_m,
        )


def jittered_mount(mount_xyzrpy: tuple[float, ...], config: RandomizeConfig, rng: np.random.Generator
                   ) -> tuple[float, ...]:  # fmt: skip
    """The mount with height and pitch moved by uniform jitter (x, y, roll, yaw unchanged), rounded to 0.1 mm/urad."""
    x, y, z, roll, pitch, yaw = (float(v) for v in mount_xyzrpy)
    dz = float(rng.uniform(-config.mount_height_jitter_m, config.mount_height_jitter_m))
    dp = float(rng.uniform(-config.mount_pitch_jitter_rad, config.mount_pitch_jitter_rad))
    return (x, y, round(z + dz, 4), roll, round(pitch + dp, 6), yaw)


def _hsv(rng: np.random.Generator, hue: tuple[float, float], sat: tuple[float, float], val: tuple[float, float]
         ) -> tuple[float, float, float]:  # fmt: skip
    h = float(rng.uniform(*hue)) % 1.0
    return colorsys.hsv_to_rgb(h, float(rng.uniform(*sat)), float(rng.uniform(*val)))


def _rgba(rgb: tuple[float, float, float] | np.ndarray[Any, Any], rng: np.random.Generator, jitter: float) -> RGBA:
    c = np.clip(np.asarray(rgb, np.float64) + rng.uniform(-jitter, jitter, 3), 0.0, 1.0)
    return (_r(c[0]), _r(c[1]), _r(c[2]), 1.0)


def _rgb8(rgb: tuple[float, float, float], rng: np.random.Generator, jitter: float) -> RGB8:
    c = np.clip((np.asarray(rgb, np.float64) + rng.uniform(-jitter, jitter, 3)) * 255.0, 0.0, 255.0)
    return (int(c[0]), int(c[1]), int(c[2]))


def _paint(rng: np.random.Generator, names: tuple[str, ...] = tuple(PAINT)) -> str:
    return str(names[int(rng.integers(len(names)))])


def _class_colour(label: str, rng: np.random.Generator) -> RGBA:
    """A new colour for one part (or one group of parts that shared a colour) of class `label`."""
    if label == "wall":  # painted block or cladding: any hue, mostly muted
        rgb = _hsv(rng, (0.0, 1.0), (0.0, 0.55), (0.25, 0.95))
    elif label == "rack":  # blue, orange, green, yellow, grey, red uprights and beams
        rgb = _hsv(rng, (0.0, 1.0), (0.0, 1.0), (0.2, 0.95))
    elif label == "box":  # mostly cardboard, also totes and shrink-wrapped loads
        rgb = (_hsv(rng, (0.05, 0.12), (0.3, 0.7), (0.4, 0.9)) if rng.uniform() < 0.65
               else _hsv(rng, (0.0, 1.0), (0.0, 0.9), (0.2, 1.0)))  # fmt: skip
    elif label == "pallet":  # wood, blue or red hire pallets, grey or black plastic
        rgb = (_hsv(rng, (0.06, 0.11), (0.35, 0.65), (0.35, 0.8)) if rng.uniform() < 0.55
               else _hsv(rng, (0.0, 1.0), (0.0, 0.8), (0.1, 0.8)))  # fmt: skip
    elif label == "post":  # yellow, grey concrete, red, blue, black, orange, green
        rgb = PAINT[_paint(rng)] if rng.uniform() < 0.6 else _hsv(rng, (0.0, 1.0), (0.0, 0.4), (0.2, 0.9))
    elif label == "marking":
        rgb = PAINT[_paint(rng)]
    elif label == "person":  # clothing: anything, high-visibility yellow-green or orange often
        rgb = (_hsv(rng, (0.1, 0.22), (0.8, 1.0), (0.8, 1.0)) if rng.uniform() < 0.3
               else _hsv(rng, (0.0, 1.0), (0.0, 0.9), (0.1, 0.9)))  # fmt: skip
    else:  # ceiling and anything else: greys
        v = float(rng.uniform(0.3, 0.85))
        rgb = (v, v, v)
    return _rgba(rgb, rng, 0.04)


def _recolour(parts: tuple[Part, ...], rng: np.random.Generator) -> tuple[Part, ...]:
    """Every part gets a new colour of its class; parts that shared a colour still share one (a wall, a rack)."""
    colours: dict[tuple[str, RGBA], RGBA] = {}
    out = []
    for p in parts:
        if p.material:  # zones: their look is the texture
            out.append(p)
            continue
        key = (p.label, p.rgba)
        if key not in colours:
            colours[key] = _class_colour(p.label, rng)
        out.append(replace(p, rgba=colours[key]))
    return tuple(out)


def _lights(rng: np.random.Generator) -> tuple[tuple[Light, ...], tuple[float, float]]:
    """1..5 directional lights of any direction within 57 deg of straight down, dim to bright, warm to cool."""
    count = int(rng.integers(1, 6))
    brightness = float(rng.uniform(0.6, 1.5)) / math.sqrt(count)
    lights = []
    for _ in range(count):
        az = rng.uniform(-math.pi, math.pi)
        tilt = rng.uniform(0.0, 1.0)
        direction = (_r(math.sin(tilt) * math.cos(az)), _r(math.sin(tilt) * math.sin(az)), _r(-math.cos(tilt)))
        level = brightness * float(rng.uniform(0.2, 0.7))
        warm = float(rng.uniform(-0.25, 0.25))  # colour temperature: sodium-warm .. LED-cool
        diffuse = (_r(level * (1 + warm)), _r(level), _r(level * (1 - warm)))
        lights.append(Light(direction, diffuse, _r(rng.uniform(0.0, 0.5))))
    headlight = (_r(rng.uniform(0.15, 0.55)), _r(rng.uniform(0.05, 0.45)))
    return tuple(lights), headlight


def _textures(old: tuple[Texture, ...], rng: np.random.Generator) -> tuple[Texture, ...]:
    """Floor and zone textures redrawn over wider ranges; names (and so materials) unchanged."""
    out = []
    for t in old:
        seed = int(rng.integers(0, 2**31 - 1))
        if t.name == "floor":
            grey = float(rng.uniform(60, 215))
            tint = rng.uniform(-20, 20, 3)
            if rng.uniform() < 0.35:  # epoxy-coated
                tint += np.asarray(EPOXY_TINTS[int(rng.integers(len(EPOXY_TINTS)))]) * float(rng.uniform(1.0, 2.5))
            r, g, b = (int(v) for v in np.clip(grey + tint, 25, 240))
            seam_px = int(rng.choice([0, 0, 64, 128, 256]))
            if rng.uniform() < FLAT_FLOOR_SHARE:  # sealed, painted or new floor: flat as paint, barely stained
                amount, stains, seam_px = float(rng.uniform(0.0, 0.15)), float(rng.uniform(0.0, 0.3)), 0
            else:
                amount, stains = float(rng.uniform(0.0, 1.6)), float(rng.uniform(0.2, 1.5))
            out.append(replace(t, seed=seed, rgb_a=(r, g, b), amount=amount, seam_px=seam_px, stains=_r(stains),
                               tile_m=_r(rng.uniform(1.5, 6.0))))  # fmt: skip
        elif t.kind == "stripes":  # hazard patterns in any of the paint colours
            first = _paint(rng, ("yellow", "red", "orange", "blue", "green", "white"))
            second = _paint(rng, tuple(n for n in STRIPE_B if n != first))
            rgb_a, rgb_b = _rgb8(PAINT[first], rng, 0.05), _rgb8(PAINT[second], rng, 0.05)
            out.append(replace(t, seed=seed, rgb_a=rgb_a, rgb_b=rgb_b, amount=float(rng.uniform(0.0, 1.0)),
                               tile_m=_r(rng.uniform(0.3, 0.8))))  # fmt: skip
        else:  # solid keep-out paint: smooth, or thin paint that shows the concrete's grain and stains
            solid = _paint(rng, ("red", "orange", "yellow", "blue", "green"))
            rgb = _rgb8(PAINT[solid], rng, 0.06)
            if rng.uniform() < TEXTURED_PAINT_SHARE:
                out.append(replace(t, kind="concrete", seed=seed, rgb_a=rgb, amount=float(rng.uniform(0.4, 1.6)),
                                   stains=_r(rng.uniform(0.0, 1.0))))  # fmt: skip
            else:
                out.append(replace(t, seed=seed, rgb_a=rgb, amount=float(rng.uniform(0.0, 1.0))))
    return tuple(out)


def randomize_appearance(world: World, rng: np.random.Generator) -> World:
    """The same world (geometry, classes, route, people's paths) with a new look drawn from `rng`."""
    lights, headlight = _lights(rng)
    textures = _textures(world.textures, rng)
    parts = _recolour(world.parts, rng)
    movers = tuple(replace(m, rgba=_class_colour("person", rng)) for m in world.movers)
    return replace(world, parts=parts, movers=movers, lights=lights, headlight=headlight, textures=textures)


def appearance_summary(world: World) -> dict[str, Any]:
    """Lights, headlight and textures of a world, for a dataset manifest."""
    return {
        "lights": [{"direction": list(li.direction), "diffuse": list(li.diffuse), "specular": li.specular}
                   for li in world.lights],
        "headlight": {"ambient": world.headlight[0], "diffuse": world.headlight[1]},
        "textures": [{"name": t.name, "kind": t.kind, "rgb_a": list(t.rgb_a), "rgb_b": list(t.rgb_b),
                      "amount": round(t.amount, 4), "seam_px": t.seam_px, "tile_m": t.tile_m,
                      "stains": t.stains} for t in world.textures],
    }  # fmt: skip
