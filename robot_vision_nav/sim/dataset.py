"""Synthetic RGB-D segmentation datasets from the MuJoCo warehouse: `rvn sim-dataset`.

Layout (the image-folder format `training.datasets.image_folder` reads, plus depth and poses):
  DIR/images/NAME.png   colour, 8-bit RGB
  DIR/labels/NAME.png   warehouse class ids, 8-bit single channel (255 = ignore)
  DIR/depth/NAME.png    depth, 16-bit single channel, millimetres (0 = invalid)
  DIR/manifest.json     what made it (seed, sizes, camera, label set) and, per frame, the files,
                        the world seed, sim time, intrinsics, the true base pose and T_world_camera
                        (4x4, camera optical frame in the world)
NAME is `sSSSS_fFFFF` (scene, frame). Scene i uses world seed `default_rng([seed, i])`, so scene i
is the same whatever the scene count. Each scene's frames are taken along its route (heading
along it, jittered) and at random free places with random headings, at advancing sim times so
people move between frames. With a `RandomizeConfig` (`--randomize`, `sim.appearance`) each world
holds more posts, people and zones and gets a randomised look (`default_rng([seed, i, 2])`), a
share of the random places face one of those, the camera mount is jittered per frame
(`default_rng([seed, i, 3])`), and the manifest adds the settings, each scene's lights and
textures (`randomize`) and each frame's `mount`; without it nothing of this runs. Every file is
written atomically and the manifest last, so a manifest never names a file that is not complete.
Deterministic for a seed: the same command writes the same bytes. Must never import ROS.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from robot_vision_nav.core.geometry import Pose2D
from robot_vision_nav.core.grid import OCC_FREE
from robot_vision_nav.sim.appearance import RandomizeConfig, appearance_summary, jittered_mount, randomize_appearance
from robot_vision_nav.sim.camera import CameraConfig
from robot_vision_nav.sim.occupancy import inflate_occupancy, world_occupancy
from robot_vision_nav.sim.robot import RobotConfig
from robot_vision_nav.sim.sim import SimConfig, Simulator
from robot_vision_nav.sim.world import generate_world
from robot_vision_nav.sim.world_types import LABEL_SET, World, WorldConfig

MANIFEST_VERSION = 1
FRAME_SPACING_S = 0.5  # sim time between a scene's frames: people move on


def scene_seed(seed: int, scene: int) -> int:
    """World seed of scene `scene` of a dataset made with `seed`."""
    return int(np.random.default_rng([seed, scene]).integers(0, 2**31 - 1))


def frame_poses(
    world: World,
    count: int,
    rng: np.random.Generator,
    aim_share: float = 0.0,
    times_s: list[float] | None = None,
    aim_range_m: tuple[float, float] = (1.0, 4.0),
    aim_wall_share: float = 0.0,
    aim_marking_share: float = 0.0,
) -> list[Pose2D]:
    """`count` robot poses: half along the route (heading along it, jittered), half at random free places.

    Random places are free cells of the occupancy (keep-out zones included) inflated by the robot
    radius plus 5 cm, so the footprint never overlaps an obstacle or a zone; each faces another
    random free place. With `aim_share` > 0, that share of the random places instead faces a
    target (a person where it stands at `times_s[k]`, a post or a keep-out zone; first the kind,
    then one of that kind) from a free place `aim_range_m` away; with 0 the poses are the same as
    without these arguments. `aim_wall_share` of the aimed frames face a point on a wall instead
    (with 0, the default, no random number is drawn for it: the poses stay as they were), and
    `aim_marking_share` of the others a floor marking's part (a crosswalk stripe, a lane line: drivable
    paint that a network can take for a keep-out zone; also drawn only when above 0).
    """
    route = np.asarray(world.route_xy, np.float64)
    seg = np.hypot(*np.diff(route, axis=0).T) if len(route) > 1 else np.zeros(0)
    total = float(seg.sum())
    grid, origin = world_occupancy(world, 0.05, zones=True)
    free = np.argwhere(inflate_occupancy(grid, world.robot_radius_m + 0.05, 0.05) == OCC_FREE)
    walls = _wall_points(world) if aim_wall_share > 0.0 else []
    markings = [(p.x_m, p.y_m) for p in world.parts if p.label == "marking"] if aim_marking_share > 0.0 else []
    poses: list[Pose2D] = []
    for k in range(count):
        if k % 2 == 0 and total > 0.0:
            s = float(rng.uniform(0.0, total))
            i = min(int(np.searchsorted(np.cumsum(seg), s)), len(seg) - 1)
            f = (s - (np.cumsum(seg)[i] - seg[i])) / max(seg[i], 1e-9)
            x, y = route[i] + f * (route[i + 1] - route[i])
            yaw = math.atan2(*(route[i + 1] - route[i])[::-1]) + float(rng.normal(0.0, 0.3))
        else:
            aimed = None
            if aim_share > 0.0 and rng.uniform() < aim_share:
                t_s = times_s[k] if times_s is not None else 0.0
                at_wall = aim_wall_share > 0.0 and rng.uniform() < aim_wall_share
                at_marking = not at_wall and aim_marking_share > 0.0 and rng.uniform() < aim_marking_share
                points = walls if at_wall else markings if at_marking else None
                aimed = _aimed_pose(world, free, origin, t_s, aim_range_m, rng, points)
            if aimed is not None:
                x, y, yaw = aimed
            else:
                (r, c), (r2, c2) = free[rng.integers(len(free), size=2)]
                x = origin[0] + (c + 0.5) * 0.05
                y = origin[1] + (r + 0.5) * 0.05
                # Facing another free place, not a random direction: a wall at 30 cm teaches nothing.
                yaw = (math.atan2(float(r2 - r), float(c2 - c)) if (r2, c2) != (r, c)
                       else float(rng.uniform(-3.1, 3.1)))  # fmt: skip
        poses.append(Pose2D(float(x), float(y), math.atan2(math.sin(yaw), math.cos(yaw))))
    return poses


def _aimed_pose(
    world: World,
    free: np.ndarray[Any, Any],
    origin: tuple[float, float],
    t_s: float,
    range_m: tuple[float, float],
    rng: np.random.Generator,
    points: list[tuple[float, float]] | None = None,
) -> tuple[float, float, float] | None:
    """(x, y, yaw) of a free place `range_m` from a person, post or zone (or one of `points`) facing it, or None."""
    if points is not None:
        kinds = [points]
    else:
        kinds = [
            [m.pose_at(t_s)[:2] for m in world.movers],
            [(fp.x_m, fp.y_m) for fp in world.obstacles if fp.label == "post"],
            [(z.area.x_m, z.area.y_m) for z in world.zones],
        ]
    kinds = [k for k in kinds if k]
    if not kinds:
        return None
    targets = kinds[int(rng.integers(len(kinds)))]
    tx, ty = targets[int(rng.integers(len(targets)))]
    xy = np.asarray(origin, np.float64) + (free[:, ::-1] + 0.5) * 0.05
    d = np.hypot(xy[:, 0] - tx, xy[:, 1] - ty)
    near = np.flatnonzero((d >= range_m[0]) & (d <= range_m[1]))
    if len(near) == 0:
        return None
    x, y = xy[near[int(rng.integers(len(near)))]]
    yaw = math.atan2(ty - y, tx - x) + float(rng.normal(0.0, 0.15))
    return float(x), float(y), yaw


def _wall_points(world: World, spacing_m: float = 0.5) -> list[tuple[float, float]]:
    """Points every `spacing_m` along the middle of each wall box's long axis (what an aimed wall frame faces)."""
    points = []
    for p in world.parts:
        if p.label != "wall" or p.shape != "box":
            continue
        along_x = p.size[0] >= p.size[1]
        half = p.size[0] if along_x else p.size[1]
        yaw = p.yaw_rad if along_x else p.yaw_rad + math.pi / 2
        for t in np.arange(-half, half + 1e-9, spacing_m):
            points.append((p.x_m + float(t) * math.cos(yaw), p.y_m + float(t) * math.sin(yaw)))
    return points


def _write_png(path: Path, image: np.ndarray, rgb: bool) -> None:
    from robot_vision_nav.files import encode_image, write_bytes_atomic

    write_bytes_atomic(path, encode_image(image, ".png", rgb=rgb))


def write_dataset(
    out_dir: Path,
    scenes: int,
    frames: int,
    seed: int,
    camera: CameraConfig | None = None,
    progress: Callable[[str], None] | None = None,
    randomize: RandomizeConfig | None = None,
) -> dict[str, Any]:
    """Render `scenes` worlds x `frames` frames into `out_dir` (see the module docstring).

    Args:
        out_dir: dataset folder; created with its sub-folders if missing.
        scenes: number of worlds, >= 1.
        frames: frames per world, >= 1.
        seed: dataset seed.
        camera: resolution, field of view, mount and depth model (default CameraConfig()).
        progress: called with one line per scene (e.g. printing to stderr).
        randomize: randomised look, camera mount jitter and more posts, people and zones (see
            `sim.appearance`); None (default) writes the default worlds, byte for byte as before.

    Returns:
        The manifest that was written to `out_dir/manifest.json`.

    Raises:
        ValueError: scenes or frames < 1, or a negative seed.
        OSError: a file cannot be written.

    """
    if scenes < 1 or frames < 1 or seed < 0:
        raise ValueError(f"scenes and frames must be >= 1 and seed >= 0, got {scenes}, {frames}, {seed}")
    camera = CameraConfig() if camera is None else camera
    out_dir = Path(out_dir)
    for sub in ("images", "labels", "depth"):
        (out_dir / sub).mkdir(parents=True, exist_ok=True)
    robot = RobotConfig()
    sim_config = SimConfig()
    entries: list[dict[str, Any]] = []
    steps_between = max(1, round(FRAME_SPACING_S / sim_config.step_s))
    scene_looks: list[dict[str, Any]] = []
    world_config = WorldConfig(robot_radius_m=robot.radius_m)
    if randomize is not None:
        world_config = randomize.world_config(robot.radius_m)
    for scene in range(scenes):
        world_seed = scene_seed(seed, scene)
        world = generate_world(world_seed, world_config)
        rng = np.random.default_rng([seed, scene, 1])
        times_s = [f * steps_between * sim_config.step_s for f in range(frames)]
        if randomize is None:
            poses = frame_poses(world, frames, rng)
        else:
            # Its own stream, so look_share 1 draws nothing and writes the bytes it wrote before it existed.
            if randomize.look_share >= 1.0 or np.random.default_rng([seed, scene, 4]).uniform() < randomize.look_share:
                world = randomize_appearance(world, np.random.default_rng([seed, scene, 2]))
                scene_looks.append({"scene": scene, "world_seed": world_seed, **appearance_summary(world)})
            else:
                scene_looks.append({"scene": scene, "world_seed": world_seed, "look": "default"})
            poses = frame_poses(world, frames, rng, randomize.aim_share, times_s,
                                (randomize.aim_min_m, randomize.aim_max_m), randomize.aim_wall_share,
                                randomize.aim_marking_share)  # fmt: skip
            mount_rng = np.random.default_rng([seed, scene, 3])
        with Simulator(world, robot, camera, sim_config, noise_seed=world_seed) as sim:
            k = sim.intrinsics
            for f, pose in enumerate(poses):
                if randomize is not None:
                    sim.set_camera_mount(jittered_mount(camera.mount_xyzrpy, randomize, mount_rng))
                sim.set_pose(pose)
                sim.set_time(f * steps_between)
                frame = sim.render()
                name = f"s{scene:04d}_f{f:04d}"
                _write_png(out_dir / "images" / f"{name}.png", frame.rgb, rgb=True)
                _write_png(out_dir / "labels" / f"{name}.png", frame.labels, rgb=False)
                _write_png(out_dir / "depth" / f"{name}.png", frame.depth_mm(), rgb=False)
                entry = {
                    "name": name,
                    "image": f"images/{name}.png",
                    "labels": f"labels/{name}.png",
                    "depth": f"depth/{name}.png",
                    "scene": scene,
                    "world_seed": world_seed,
                    "stamp_ns": frame.stamp_ns,
                    "intrinsics": {"fx": k.fx, "fy": k.fy, "cx": k.cx, "cy": k.cy, "width": k.width,
                                   "height": k.height},
                    "pose": {"x_m": frame.pose.x_m, "y_m": frame.pose.y_m, "yaw_rad": frame.pose.yaw_rad},
                    "T_world_camera": [[round(float(v), 9) for v in row] for row in frame.T_world_optical],
                }  # fmt: skip
                if randomize is not None:
                    m = sim.camera_config.mount
                    entry["mount"] = {"x_m": m.x_m, "y_m": m.y_m, "z_m": m.z_m, "roll_rad": m.roll_rad,
                                      "pitch_rad": m.pitch_rad, "yaw_rad": m.yaw_rad}  # fmt: skip
                entries.append(entry)
        if progress is not None:
            progress(f"scene {scene + 1}/{scenes} (world seed {world_seed}): {frames} frames")
    from robot_vision_nav.package_files import load_label_set

    manifest: dict[str, Any] = {
        "version": MANIFEST_VERSION,
        "generator": "rvn sim-dataset",
        "seed": seed,
        "scenes": scenes,
        "frames_per_scene": frames,
        "label_set": LABEL_SET,
        "classes": list(load_label_set(LABEL_SET).names),
        "ignore_index": 255,
        "depth_scale_m": 0.001,
        "camera_frame": "optical (z forward, x right, y down)",
        "camera": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(camera).items()},
    }
    if randomize is not None:
        # After "frames" would bury it; before it, and only when asked, so a default manifest is unchanged.
        manifest["randomize"] = {**asdict(randomize), "scenes": scene_looks}
    manifest["frames"] = entries
    from robot_vision_nav.files import write_bytes_atomic

    write_bytes_atomic(out_dir / "manifest.json", (json.dumps(manifest, indent=1) + "\n").encode())
    return manifest


def stderr_progress(line: str) -> None:
    """Print a progress line on stderr."""
    print(line, file=sys.stderr, flush=True)
