"""`rvn sim-dataset` with and without `--randomize`: the default unchanged, the randomised look seeded, the
camera mount jittered and recorded, depth and labels still exact, frames aimed at rare classes."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from robot_vision_nav.cli import main
from robot_vision_nav.core.geometry import Pose2D
from robot_vision_nav.sim import dataset as dataset_module
from robot_vision_nav.sim import textures
from robot_vision_nav.sim.appearance import RandomizeConfig, jittered_mount, randomize_appearance
from robot_vision_nav.sim.camera import CameraConfig
from robot_vision_nav.sim.dataset import FRAME_SPACING_S, frame_poses, scene_seed
from robot_vision_nav.sim.robot import RobotConfig
from robot_vision_nav.sim.sim import SimConfig, Simulator
from robot_vision_nav.sim.world import generate_world
from robot_vision_nav.sim.world_types import Texture, WorldConfig

TINY = ["--width", "64", "--height", "48"]
DEFAULT_MOUNT = CameraConfig().mount_xyzrpy
# sha256 of manifest.json of `rvn sim-dataset --scenes 2 --frames 3 --seed 5 --width 64 --height 48`, written at
# 50f43f7 (before --randomize existed): world seeds, stamps, poses and camera poses of the default dataset.
DEFAULT_MANIFEST_SHA256 = "288e78f04853a5216cb49517df652cd13be86d77803762efa2d8311efec7a0de"


def dataset(tmp_path: Path, name: str, *extra: str) -> tuple[Path, dict[str, Any]]:
    out = tmp_path / name
    assert main(["sim-dataset", "--scenes", "2", "--frames", "3", "--seed", "5", *TINY, "--out", str(out), *extra]) == 0
    return out, json.loads((out / "manifest.json").read_text())


def imread(path: Path, flags: int = cv2.IMREAD_UNCHANGED) -> np.ndarray[Any, Any]:
    image = cv2.imread(str(path), flags)
    assert image is not None, path
    return image


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def assert_frames_are_plain_renders(out: Path, manifest: dict[str, Any], config: WorldConfig | None = None) -> None:
    """Every frame's labels, image and depth equal a plain Simulator's render of its world (generated with
    `config`) at the recorded pose and time: no recolouring, no mount jitter."""
    steps = round(FRAME_SPACING_S / SimConfig().step_s)
    for scene in sorted({e["scene"] for e in manifest["frames"]}):
        entries = [e for e in manifest["frames"] if e["scene"] == scene]
        world = generate_world(entries[0]["world_seed"], config)
        with Simulator(
            world, camera=CameraConfig(width_px=64, height_px=48), noise_seed=entries[0]["world_seed"]
        ) as sim:
            for f, e in enumerate(entries):
                sim.set_pose(Pose2D(e["pose"]["x_m"], e["pose"]["y_m"], e["pose"]["yaw_rad"]))
                sim.set_time(f * steps)
                frame = sim.render()
                assert np.array_equal(imread(out / e["labels"]), frame.labels)
                assert np.array_equal(imread(out / e["image"], cv2.IMREAD_COLOR)[..., ::-1], frame.rgb)
                assert np.array_equal(imread(out / e["depth"]), frame.depth_mm())


def test_default_dataset_is_unchanged_and_uses_no_randomisation(tmp_path: Path) -> None:
    out, manifest = dataset(tmp_path, "a")
    assert hashlib.sha256((out / "manifest.json").read_bytes()).hexdigest() == DEFAULT_MANIFEST_SHA256
    assert "randomize" not in manifest and all("mount" not in e for e in manifest["frames"])
    # Pixels: what a plain Simulator on the default world renders at the recorded pose and time.
    assert_frames_are_plain_renders(out, manifest)


def test_randomized_dataset_is_deterministic_and_records_mount_and_settings(tmp_path: Path) -> None:
    a, manifest = dataset(tmp_path, "a", "--randomize")
    b, _ = dataset(tmp_path, "b", "--randomize")
    assert files(a) == files(b)
    assert list(manifest)[-2:] == ["randomize", "frames"]  # the settings come before the long frame list
    settings = manifest["randomize"]
    assert settings["mount_height_jitter_m"] == 0.1 and settings["mount_pitch_jitter_rad"] == 0.1
    assert settings["max_people"] == RandomizeConfig().max_people and 0 < settings["aim_share"] <= 1
    assert [s["scene"] for s in settings["scenes"]] == [0, 1]
    assert {t["name"] for t in settings["scenes"][0]["textures"]} == {"floor", "zone_hazard", "zone_red",
                                                                      "zone_red_white"}  # fmt: skip
    mounts = [e["mount"] for e in manifest["frames"]]
    x, y, z, roll, pitch, yaw = DEFAULT_MOUNT
    for m in mounts:
        assert (m["x_m"], m["y_m"], m["roll_rad"], m["yaw_rad"]) == (x, y, roll, yaw)
        assert abs(m["z_m"] - z) <= 0.1 + 1e-9 and abs(m["pitch_rad"] - pitch) <= 0.1 + 1e-9
    assert len({(m["z_m"], m["pitch_rad"]) for m in mounts}) == len(mounts)
    default, _ = dataset(tmp_path, "default")
    assert all(files(a)[n] != files(default)[n] for n in files(a) if n.startswith("images/"))


def test_set_changes_a_randomisation_setting_and_the_manifest_records_it(tmp_path: Path) -> None:
    plain, _ = dataset(tmp_path, "plain", "--randomize")
    near, manifest = dataset(tmp_path, "near", "--randomize", "--set", "aim_min_m=0.5", "--set", "max_people=9")
    settings = manifest["randomize"]
    assert settings["aim_min_m"] == 0.5 and settings["max_people"] == 9
    assert settings["aim_max_m"] == RandomizeConfig().aim_max_m  # the others keep their defaults
    assert files(near) != files(plain)


def test_look_share_zero_keeps_the_default_look_with_the_randomised_worlds_contents(tmp_path: Path) -> None:
    still = ["--set", "mount_height_jitter_m=0", "--set", "mount_pitch_jitter_rad=0", "--set", "max_people=9"]
    out, manifest = dataset(tmp_path, "default_look", "--randomize", "--set", "look_share=0", *still)
    settings = manifest["randomize"]
    assert settings["look_share"] == 0 and [s["look"] for s in settings["scenes"]] == ["default", "default"]
    # Pixels: the randomised worlds' contents (more people, posts, zones) in the plain look, no recolouring.
    assert_frames_are_plain_renders(out, manifest, RandomizeConfig(max_people=9).world_config(RobotConfig().radius_m))
    randomised, _ = dataset(tmp_path, "randomised", "--randomize", *still)
    assert all(files(out)[n] != files(randomised)[n] for n in files(out) if n.startswith("images/"))


def test_randomized_depth_labels_and_camera_pose_agree_with_the_jittered_mount(tmp_path: Path) -> None:
    out, manifest = dataset(tmp_path, "a", "--randomize")
    for e in manifest["frames"]:
        depth_m = imread(out / e["depth"]).astype(np.float64) / 1000.0
        labels = imread(out / e["labels"])
        k, t = e["intrinsics"], np.asarray(e["T_world_camera"])
        assert t[2, 3] == pytest.approx(e["mount"]["z_m"], abs=1e-9)
        assert math.asin(-t[2, 2]) == pytest.approx(e["mount"]["pitch_rad"], abs=1e-7)  # optical z dips by pitch
        vv, uu = np.mgrid[0 : k["height"], 0 : k["width"]]
        flat = (labels <= 2) & (depth_m > 0)  # floor, marking, keep_out: paint within 3 mm of z = 0
        assert flat.sum() > 100
        d = depth_m[flat]
        rays = np.stack([(uu[flat] - k["cx"]) / k["fx"] * d, (vv[flat] - k["cy"]) / k["fy"] * d, d], axis=1)
        z_world = rays @ t[2, :3] + t[2, 3]
        assert np.abs(z_world).max() < 0.005, e["name"]


def test_set_camera_mount_renders_what_a_compiled_mount_renders() -> None:
    world = generate_world(3)
    mount = (0.1, 0.0, 0.58, 0.0, 0.27, 0.0)
    small = CameraConfig(width_px=96, height_px=72)
    with Simulator(world, camera=replace(small, mount_xyzrpy=mount)) as sim:
        want = sim.render()
    with Simulator(world, camera=small) as sim:
        default = sim.render()
        sim.set_camera_mount(mount)
        got = sim.render()
        sim.set_camera_mount(small.mount_xyzrpy)
        back = sim.render()
    for a, b in ((want, got), (default, back)):
        assert np.array_equal(a.rgb, b.rgb) and np.array_equal(a.labels, b.labels)
        assert np.array_equal(a.depth_m, b.depth_m) and np.array_equal(a.T_world_optical, b.T_world_optical)
    assert not np.array_equal(default.labels, got.labels)


def test_randomized_look_keeps_every_class_where_it_was() -> None:
    world = generate_world(scene_seed(5, 0), RandomizeConfig().world_config(0.25))
    looked = randomize_appearance(world, np.random.default_rng(1))
    assert looked == randomize_appearance(world, np.random.default_rng(1))
    assert [(p.label, p.shape, p.x_m, p.y_m, p.z_m, p.size, p.material) for p in looked.parts] == [
        (p.label, p.shape, p.x_m, p.y_m, p.z_m, p.size, p.material) for p in world.parts
    ]
    assert (looked.obstacles, looked.zones, looked.route_xy) == (world.obstacles, world.zones, world.route_xy)
    assert looked.lights != world.lights and looked.textures != world.textures
    small = CameraConfig(width_px=96, height_px=72)
    with Simulator(world, camera=small) as a, Simulator(looked, camera=small) as b:
        fa, fb = a.render(), b.render()
    assert np.array_equal(fa.labels, fb.labels) and np.array_equal(fa.depth_m, fb.depth_m)
    assert np.abs(fa.rgb.astype(int) - fb.rgb.astype(int)).mean() > 5


def test_randomized_paint_colours_never_tell_zones_from_markings() -> None:
    stripe_colours, marking_colours = set(), set()
    for s in range(8):
        looked = randomize_appearance(generate_world(s), np.random.default_rng(s))
        stripe_colours |= {tuple(round(v / 64) for v in t.rgb_a) for t in looked.textures if t.name != "floor"}
        marking_colours |= {
            tuple(round(v * 255 / 64) for v in p.rgba[:3]) for p in looked.parts if p.label == "marking"
        }
        assert all(p.material for p in looked.parts if p.label == "keep_out")  # zones stay painted patterns
    assert len(stripe_colours & marking_colours) >= 3


def test_randomized_texture_never_tells_floor_from_paint() -> None:
    """Some floors are flat as paint and some solid zones carry the floor's grain, so a network must use colour
    and shape: the shipped model read the analytic renderer's flat floors as keep-out paint."""
    floors, paints = [], []
    for s in range(16):
        looked = randomize_appearance(generate_world(s, RandomizeConfig().world_config(0.25)), np.random.default_rng(s))
        floors += [t for t in looked.textures if t.name == "floor"]
        paints += [t for t in looked.textures if t.name != "floor" and t.kind != "stripes"]

    def grain(t: Texture) -> float:  # spread of the texture's brightness, 0..255
        return float(textures.concrete(t.seed, 128, t.rgb_a, t.amount, t.seam_px, t.stains).mean(axis=2).std())

    flat = [t for t in floors if t.amount <= 0.15 and t.stains <= 0.3 and t.seam_px == 0]
    rough_paint = [t for t in paints if t.kind == "concrete"]
    assert flat and rough_paint and len(flat) < len(floors) and len(rough_paint) < len(paints)
    assert max(grain(t) for t in flat) < min(grain(t) for t in rough_paint)
    # The house floor's pixels are those from before the stains knob existed (sha256 written at d84ce21).
    house = next(t for t in generate_world(5).textures if t.name == "floor")
    pixels = textures.concrete(house.seed, 64, house.rgb_a, house.amount, house.seam_px, house.stains).tobytes()
    assert hashlib.sha256(pixels).hexdigest() == "1819beb82914a68092ee8216c157be87401fd74a5b9a782d8974fd57c2ebb3cb"


def faces_one_of(pose: Pose2D, targets: list[tuple[float, float]], range_m: tuple[float, float]) -> bool:
    """Whether `pose` is `range_m` from one of `targets` and faces it (within 0.8 rad)."""
    return any(
        range_m[0] - 1e-6 <= math.hypot(tx - pose.x_m, ty - pose.y_m) <= range_m[1] + 1e-6
        and abs(math.remainder(math.atan2(ty - pose.y_m, tx - pose.x_m) - pose.yaw_rad, math.tau)) < 0.8
        for tx, ty in targets
    )


def test_aimed_frames_face_a_person_post_or_zone_within_range() -> None:
    world = generate_world(scene_seed(5, 1), RandomizeConfig().world_config(0.25))
    plain = frame_poses(world, 8, np.random.default_rng(0))
    assert frame_poses(world, 8, np.random.default_rng(0), 0.0, [0.0] * 8) == plain
    times = [0.5 * f for f in range(8)]
    aimed = frame_poses(world, 8, np.random.default_rng(0), 1.0, times, (1.0, 4.0))
    for k in range(1, 8, 2):
        p = aimed[k]
        targets = [m.pose_at(times[k])[:2] for m in world.movers]
        targets += [(fp.x_m, fp.y_m) for fp in world.obstacles if fp.label == "post"]
        targets += [(z.area.x_m, z.area.y_m) for z in world.zones]
        assert faces_one_of(p, targets, (1.0, 4.0)), k


def test_aimed_wall_frames_face_a_wall_up_close_and_cost_no_draws_when_off() -> None:
    world = generate_world(scene_seed(5, 1), RandomizeConfig().world_config(0.25))
    times = [0.5 * f for f in range(12)]
    aimed = frame_poses(world, 12, np.random.default_rng(0), 1.0, times, (0.5, 1.5))
    assert frame_poses(world, 12, np.random.default_rng(0), 1.0, times, (0.5, 1.5), 0.0) == aimed
    walls = frame_poses(world, 12, np.random.default_rng(0), 1.0, times, (0.5, 1.5), 1.0)
    points = dataset_module._wall_points(world)
    assert len(points) > 20
    for k in range(1, 12, 2):
        assert faces_one_of(walls[k], points, (0.5, 1.5)), k


def test_aimed_marking_frames_face_floor_paint_and_cost_no_draws_when_off() -> None:
    world = generate_world(scene_seed(5, 1), RandomizeConfig().world_config(0.25))
    times = [0.5 * f for f in range(12)]
    aimed = frame_poses(world, 12, np.random.default_rng(0), 1.0, times, (1.0, 3.0))
    assert frame_poses(world, 12, np.random.default_rng(0), 1.0, times, (1.0, 3.0), 0.0, 0.0) == aimed
    paint = frame_poses(world, 12, np.random.default_rng(0), 1.0, times, (1.0, 3.0), 0.0, 1.0)
    points = [(p.x_m, p.y_m) for p in world.parts if p.label == "marking"]
    assert len(points) > 5
    for k in range(1, 12, 2):
        assert faces_one_of(paint[k], points, (1.0, 3.0)), k
    # Walls win where both are asked for every aimed frame.
    both = frame_poses(world, 12, np.random.default_rng(0), 1.0, times, (0.5, 1.5), 1.0, 1.0)
    for k in range(1, 12, 2):
        assert faces_one_of(both[k], dataset_module._wall_points(world), (0.5, 1.5)), k


def test_jittered_mount_stays_within_the_configured_range() -> None:
    config = RandomizeConfig(mount_height_jitter_m=0.05, mount_pitch_jitter_rad=0.02)
    rng = np.random.default_rng(0)
    mounts = np.array([jittered_mount(DEFAULT_MOUNT, config, rng) for _ in range(200)])
    assert np.abs(mounts[:, 2] - DEFAULT_MOUNT[2]).max() <= 0.05 + 1e-9
    assert np.abs(mounts[:, 4] - DEFAULT_MOUNT[4]).max() <= 0.02 + 1e-9
    assert mounts[:, 2].std() > 0.02
