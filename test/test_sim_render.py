"""The simulated RGB-D camera: deterministic frames, depth that is the true ray distance, labels where
the geometry projects, camera_info intrinsics that reproduce the rendered projection."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator

import numpy as np
import pytest

from robot_vision_nav.core.geometry import Pose2D
from robot_vision_nav.package_files import load_label_set
from robot_vision_nav.sim.camera import CameraConfig, camera_intrinsics, fovy_deg
from robot_vision_nav.sim.sim import Frame, Simulator
from robot_vision_nav.sim.world import build_world, generate_world
from robot_vision_nav.sim.world_types import Footprint, Zone

IDS = {name: i for i, name in enumerate(load_label_set("warehouse").names)}
SMALL = CameraConfig(width_px=160, height_px=120)

# A known scene: robot at the origin facing +x, a box whose front face is the plane
# x = 4 (y from -0.5 to 0.5), 0.6 m tall, a hazard-striped keep-out zone ahead on the right.
BOX = Footprint("box", 4.25, 0.0, 0.25, 0.5)
BOX_HEIGHT_M = 0.6
ZONE = Zone(Footprint("keep_out", 1.8, -0.6, 0.4, 0.3), "hazard")


def digest(frame: Frame) -> str:
    h = hashlib.sha256()
    for a in (frame.rgb, frame.depth_m, frame.labels):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def known() -> Iterator[tuple[Simulator, Frame]]:
    world = build_world(10.0, 8.0, [(BOX, BOX_HEIGHT_M)], [ZONE], start=Pose2D(0.0, 0.0, 0.0), goal_xy=(4.2, 2.8))
    with Simulator(world, camera=CameraConfig()) as sim:
        yield sim, sim.render()


def pixel_rays(sim: Simulator, frame: Frame) -> tuple[np.ndarray, np.ndarray]:
    """World-frame ray per pixel (scaled so its optical z is 1: t along it is the depth) and the origin."""
    k = sim.intrinsics
    uu, vv = np.meshgrid(np.arange(k.width), np.arange(k.height))
    optical = np.stack([(uu - k.cx) / k.fx, (vv - k.cy) / k.fy, np.ones(uu.shape)], axis=-1)
    t = frame.T_world_optical
    return optical @ t[:3, :3].T, t[:3, 3]


def test_intrinsics_are_d435_like_square_pixels_centred() -> None:
    for w, h in ((320, 240), (640, 480)):
        k = camera_intrinsics(CameraConfig(width_px=w, height_px=h))
        assert math.degrees(2 * math.atan(w / 2 / k.fx)) == pytest.approx(69.4)
        assert k.fx == k.fy and (k.cx, k.cy) == ((w - 1) / 2, (h - 1) / 2)
        assert fovy_deg(CameraConfig(width_px=w, height_px=h)) == pytest.approx(54.9, abs=0.1)


def test_depth_is_the_ray_distance_to_the_box_face_within_1cm(known: tuple[Simulator, Frame]) -> None:
    sim, frame = known
    rays, origin = pixel_rays(sim, frame)
    t = (4.0 - origin[0]) / rays[..., 0]
    hit = origin + t[..., None] * rays
    on_face = (t > 0) & (np.abs(hit[..., 1]) < 0.48) & (hit[..., 2] > 0.02) & (hit[..., 2] < BOX_HEIGHT_M - 0.02)
    assert on_face.sum() > 500
    assert np.all(frame.labels[on_face] == IDS["box"])
    err = np.abs(frame.depth_m[on_face] - t[on_face])
    assert err.max() < 0.01


def test_keep_out_labels_fall_where_the_zone_projects(known: tuple[Simulator, Frame]) -> None:
    sim, frame = known
    rays, origin = pixel_rays(sim, frame)
    t = (0.003 - origin[2]) / rays[..., 2]  # the zone's painted top
    x, y = origin[0] + t * rays[..., 0], origin[1] + t * rays[..., 1]
    d = ZONE.area.distance(x, y)
    inside = (t > 0) & (d == 0)
    # Pixels whose centre ray lands more than 2 cm from the outline are unambiguous.
    grown = ZONE.area.inflated(0.02).distance(x, y)
    shrunk = ZONE.area.inflated(-0.02).distance(x, y)
    sure_in = (t > 0) & (shrunk == 0)
    sure_out = ~((t > 0) & (grown == 0))
    assert sure_in.sum() > 300
    labelled = frame.labels == IDS["keep_out"]
    assert np.all(labelled[sure_in]) and not np.any(labelled[sure_out])
    assert abs(int(labelled.sum()) - int(inside.sum())) < 0.05 * inside.sum()
    # The floor around it is floor, and the zone's depth is the floor's.
    assert np.all(frame.labels[sure_out & (t > 0) & (t < 3.5)] == IDS["floor"])
    assert np.abs(frame.depth_m[sure_in] - t[sure_in]).max() < 0.01


def test_camera_info_projects_a_box_corner_onto_the_rendered_corner(known: tuple[Simulator, Frame]) -> None:
    sim, frame = known
    k = sim.intrinsics
    t_optical_world = np.linalg.inv(frame.T_world_optical)
    for corner_y in (0.5, -0.5):  # top front corners of the box
        p = t_optical_world @ np.array([4.0, corner_y, BOX_HEIGHT_M, 1.0])
        u, v = k.fx * p[0] / p[2] + k.cx, k.fy * p[1] / p[2] + k.cy
        assert 3 <= u < k.width - 3 and 3 <= v < k.height - 3
        inward = -1 if corner_y < 0 else 1  # the face lies to the image-right of the left corner
        iu, iv = round(u), round(v)
        assert frame.labels[iv + 2, iu + 2 * inward] == IDS["box"]
        assert frame.labels[iv - 2, iu + 2 * inward] != IDS["box"]  # above the top edge
        assert frame.labels[iv + 2, iu - 2 * inward] != IDS["box"]  # beside the side edge
        assert frame.depth_m[iv + 2, iu + 2 * inward] == pytest.approx(p[2], abs=0.03)


def test_same_seed_same_frames_different_seed_different_frames() -> None:
    digests = []
    for seed in (21, 21, 22):
        with Simulator(generate_world(seed), camera=SMALL) as sim:
            sim.command(0.4, 0.3)
            for _ in range(20):
                sim.step()
            digests.append(digest(sim.render()))
    assert digests[0] == digests[1] != digests[2]


def test_frame_contents_and_ranges() -> None:
    with Simulator(generate_world(2), camera=SMALL) as sim:
        frame = sim.render()
        assert frame.rgb.shape == (120, 160, 3) and frame.rgb.dtype == np.uint8
        assert frame.depth_m.shape == (120, 160) and frame.depth_m.dtype == np.float32
        assert frame.labels.shape == (120, 160) and frame.labels.dtype == np.uint8
        valid = frame.depth_m[frame.depth_m > 0]
        assert valid.size > 0.5 * frame.depth_m.size
        assert valid.min() >= SMALL.min_depth_m and valid.max() <= SMALL.max_depth_m
        assert frame.labels.max() < len(IDS)  # the warehouse is closed: every pixel has a class
        assert IDS["floor"] in frame.labels
        mm = frame.depth_mm()
        assert mm.dtype == np.uint16 and np.all((mm == 0) == (frame.depth_m == 0))
        top = sim.render_top()
        assert top.ndim == 3 and max(top.shape[:2]) == 800


def test_depth_noise_is_seeded_and_keeps_the_range() -> None:
    noisy = CameraConfig(width_px=160, height_px=120, depth_noise=True, depth_dropout=0.05)
    frames = []
    for noise_seed in (3, 3, 4):
        with Simulator(generate_world(2), camera=noisy, noise_seed=noise_seed) as sim:
            frames.append(sim.render())
    with Simulator(generate_world(2), camera=SMALL) as sim:
        clean = sim.render()
    assert np.array_equal(frames[0].depth_m, frames[1].depth_m)
    assert not np.array_equal(frames[0].depth_m, frames[2].depth_m)
    both = (frames[0].depth_m > 0) & (clean.depth_m > 0)
    rel = np.abs(frames[0].depth_m[both] - clean.depth_m[both]) / clean.depth_m[both] ** 2
    assert 0.0 < np.median(rel) < 0.01
    dropped = (clean.depth_m > 0) & (frames[0].depth_m == 0)
    assert 0.02 < dropped.sum() / (clean.depth_m > 0).sum() < 0.1
    assert np.array_equal(frames[0].labels, clean.labels) and np.array_equal(frames[0].rgb, clean.rgb)


def test_640x480_is_available() -> None:
    with Simulator(generate_world(2), camera=CameraConfig(width_px=640, height_px=480)) as sim:
        frame = sim.render()
    assert frame.rgb.shape == (480, 640, 3) and frame.labels.shape == (480, 640)
