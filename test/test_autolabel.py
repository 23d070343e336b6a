"""rvn autolabel: traversability labels from depth, the camera model and where the robot drove.

A synthetic scene with known answers: a flat floor and one box, seen by the stack's default camera
mount, the robot driving straight along x. Depth is ray-cast here, independently of the code under
test, and every label is checked against the scene's own geometry.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from robot_vision_nav.core.geometry import CameraMount, PinholeIntrinsics, Pose2D
from robot_vision_nav.core.segmentation.labels import ANY_DRIVABLE, ANY_NOT_DRIVABLE, IGNORE_INDEX
from robot_vision_nav.package_files import load_label_set
from robot_vision_nav.training.autolabel import (
    AutolabelConfig,
    AutolabelError,
    LabelScores,
    SweptArea,
    autolabel_folder,
    fit_floor,
    label_frame,
    merge_human,
)
from robot_vision_nav.training.frame_folder import (
    CAMERA_FILE,
    FRAME_FIELDS,
    FRAMES_FILE,
    ODOMETRY_FIELDS,
    ODOMETRY_FILE,
    CameraFile,
    FrameFolderError,
    write_poses_csv,
)

K = PinholeIntrinsics(60.0, 60.0, 39.5, 29.5, 80, 60)
MOUNT = CameraMount(0.1, 0.0, 0.5, 0.0, 0.35, 0.0)
BOX = ((2.0, 2.6), (-0.2, 0.5), (0.0, 0.6))  # x, y, z ranges in the odometry frame (m)
FLOOR_ID, BOX_ID = 0, 5  # warehouse floor and box


def render(pose: Pose2D) -> tuple[NDArray[np.float32], NDArray[np.uint8], NDArray[np.float64]]:
    """Depth (m), true class ids and the world x, y, z hit by each pixel's ray, for base_link at `pose`."""
    v, u = np.mgrid[0 : K.height, 0 : K.width].astype(np.float64)
    rays_optical = np.stack([(u - K.cx) / K.fx, (v - K.cy) / K.fy, np.ones_like(u)], axis=-1)
    r_base = MOUNT.rotation_base_optical()
    c, s = math.cos(pose.yaw_rad), math.sin(pose.yaw_rad)
    r_world = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]) @ r_base
    origin = np.array([pose.x_m, pose.y_m, 0.0]) + np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]) @ MOUNT.translation_m()
    d = rays_optical @ r_world.T  # world direction per unit optical z
    t_floor = np.where(d[..., 2] < -1e-9, -origin[2] / np.where(d[..., 2] < -1e-9, d[..., 2], -1.0), np.inf)
    # slab test against the box
    t_near = np.full(u.shape, -np.inf)
    t_far = np.full(u.shape, np.inf)
    for axis, (lo, hi) in enumerate(BOX):
        with np.errstate(divide="ignore", invalid="ignore"):
            t1 = (lo - origin[axis]) / d[..., axis]
            t2 = (hi - origin[axis]) / d[..., axis]
        t_near = np.maximum(t_near, np.nan_to_num(np.minimum(t1, t2), nan=-np.inf))
        t_far = np.minimum(t_far, np.nan_to_num(np.maximum(t1, t2), nan=np.inf))
    hit_box = (t_near <= t_far) & (t_near > 0) & (t_near < t_floor)
    t = np.where(hit_box, t_near, t_floor)
    t = np.where(np.isfinite(t), t, 0.0)
    truth = np.where(hit_box, BOX_ID, FLOOR_ID).astype(np.uint8)
    truth[t == 0.0] = IGNORE_INDEX
    world = origin + d * t[..., None]
    return t.astype(np.float32), truth, world  # t is the optical z: the depth image


TRAJECTORY = np.array([(x, 0.0, 0.0) for x in np.arange(0.0, 1.5, 0.05)])
POSE = Pose2D(0.0, 0.0, 0.0, 0)


def test_labels_follow_the_geometry_and_the_drive() -> None:
    depth, truth, world = render(POSE)
    config = AutolabelConfig()
    swept = SweptArea(TRAJECTORY, config.robot_radius_m - config.footprint_margin_m, config.sweep_resolution_m)
    labels, fitted = label_frame(depth, K, MOUNT, POSE, swept, config)
    assert fitted
    rng = np.linalg.norm(world - np.array([0.1, 0.0, 0.5]), axis=-1)
    near = (depth > 0) & (rng <= config.max_range_m - 0.05)
    radius = config.robot_radius_m - config.footprint_margin_m
    # distance from the segment the robot drove (x 0..1.45 at y = 0), two cells clear of the swept edge
    along = np.maximum(np.maximum(-world[..., 0], 0.0), world[..., 0] - TRAJECTORY[-1, 0])
    from_path = np.hypot(along, world[..., 1])
    under_sweep = (truth == FLOOR_ID) & (from_path <= radius - 0.04) & near
    off_sweep = (truth == FLOOR_ID) & (from_path >= radius + 0.04)
    box_face = (truth == BOX_ID) & (world[..., 2] > 0.12) & near
    assert under_sweep.sum() > 100 and box_face.sum() > 50 and off_sweep.sum() > 100
    assert (labels[under_sweep] == ANY_DRIVABLE).all()
    assert (labels[off_sweep] != ANY_DRIVABLE).all()
    assert (labels[off_sweep & near] == IGNORE_INDEX).all()  # floor never driven: no claim either way
    assert (labels[box_face] == ANY_NOT_DRIVABLE).all()
    assert (labels[depth == 0] == IGNORE_INDEX).all()
    assert (labels[rng > config.max_range_m + 0.05] == IGNORE_INDEX).all()
    scores = LabelScores()
    scores.add(labels, truth, load_label_set("warehouse").drivable_lut())
    result = scores.as_dict()
    assert result["drivable_precision"] == 1.0 and result["not_drivable_precision"] == 1.0
    assert 0.0 < result["labelled_fraction"] < 1.0  # type: ignore[operator]


def test_a_drop_below_the_floor_is_not_drivable_and_no_depth_is_ignored() -> None:
    depth, _truth, _world = render(POSE)
    depth = depth.copy()
    depth[40:45, 10:20] *= 1.6  # a hole: the floor seen further away than it is, i.e. below it
    depth[50:52, 50:60] = 0.0
    config = AutolabelConfig()
    swept = SweptArea(TRAJECTORY, 0.2, 0.02)
    labels, _ = label_frame(depth, K, MOUNT, POSE, swept, config)
    assert (labels[40:45, 10:20] == ANY_NOT_DRIVABLE).all()
    assert (labels[50:52, 50:60] == IGNORE_INDEX).all()


def test_the_floor_plane_is_fitted_where_the_mount_is_off() -> None:
    rng = np.random.default_rng(1)
    xy = rng.uniform([0.5, -2.0], [4.0, 2.0], size=(2000, 2))
    z = 0.02 * xy[:, 0] - 0.01 * xy[:, 1] + 0.04 + rng.normal(0.0, 0.003, 2000)
    points = np.column_stack([xy, z])
    clutter = np.column_stack([rng.uniform(1.0, 3.0, (300, 2)), rng.uniform(0.3, 1.5, 300)])
    a, b, c = fit_floor(np.concatenate([points, clutter]), 0.15) or (9.0, 9.0, 9.0)
    assert (a, b, c) == pytest.approx((0.02, -0.01, 0.04), abs=0.003)
    assert fit_floor(points[:50], 0.15) is None  # too few points: the caller uses z = 0


def test_the_swept_area_is_the_footprint_along_the_path() -> None:
    swept = SweptArea(np.array([(0.0, 0.0, 0.0), (2.0, 0.0, 1.0)]), 0.3, 0.02)  # two poses: densified between
    x = np.array([0.0, 1.0, 1.0, 1.0, 2.25, 2.4, -0.5])
    y = np.array([0.0, 0.25, 0.35, -0.25, 0.0, 0.0, 0.0])
    assert swept.contains(x, y).tolist() == [True, True, False, True, True, False, False]
    with pytest.raises(AutolabelError, match="trajectory"):
        SweptArea(np.zeros((0, 3)), 0.3, 0.02)


def test_human_labels_win_where_they_label() -> None:
    auto = np.array([[ANY_DRIVABLE, ANY_NOT_DRIVABLE, IGNORE_INDEX]], dtype=np.uint8)
    human = np.array([[2, IGNORE_INDEX, 8]], dtype=np.uint8)
    assert merge_human(auto, human).tolist() == [[2, ANY_NOT_DRIVABLE, 8]]
    with pytest.raises(AutolabelError, match="human labels are 2x1 px, the frame 3x1"):
        merge_human(auto, human[:, :2])


def test_settings_are_checked() -> None:
    with pytest.raises(AutolabelError, match="max_range_m must be a finite number >= 0"):
        AutolabelConfig(max_range_m=-1.0)
    with pytest.raises(AutolabelError, match=r"robot_radius_m 0\.05 must be larger than footprint_margin_m"):
        AutolabelConfig(robot_radius_m=0.05)


def write_folder(root: Path, n: int = 3, truth: bool = True) -> Path:
    """A frames folder as `rvn bag frames` writes it, of the synthetic scene."""
    root.mkdir()
    for sub in ("images", "depth", *(("truth",) if truth else ())):
        (root / sub).mkdir()
    rows = []
    for i in range(n):
        pose = Pose2D(0.1 * i, 0.0, 0.0, 1_000_000 * i)
        depth, labels, _ = render(pose)
        name = f"f{i:06d}"
        cv2.imwrite(str(root / "depth" / f"{name}.png"), np.rint(depth * 1000).astype(np.uint16))
        cv2.imwrite(str(root / "images" / f"{name}.png"), np.zeros((K.height, K.width, 3), np.uint8))
        if truth:
            cv2.imwrite(str(root / "truth" / f"{name}.png"), labels)
        rows.append((name, pose))
    (root / CAMERA_FILE).write_text(CameraFile(K, MOUNT, "test").to_yaml())
    (root / FRAMES_FILE).write_text(write_poses_csv(rows, FRAME_FIELDS))
    odometry = [Pose2D(x, y, yaw, i) for i, (x, y, yaw) in enumerate(TRAJECTORY)]
    (root / ODOMETRY_FILE).write_text(write_poses_csv(odometry, ODOMETRY_FIELDS))
    return root


def test_a_folder_is_labelled_all_or_nothing(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "frames")
    summary = autolabel_folder(folder, AutolabelConfig(), load_label_set("warehouse"))
    assert summary.frames == 3 and summary.floor_fits == 3
    assert summary.truth is not None and summary.truth["drivable_precision"] == 1.0
    assert summary.truth["not_drivable_precision"] == 1.0
    written = sorted(p.name for p in (folder / "labels").iterdir())
    assert written == ["f000000.png", "f000001.png", "f000002.png"]
    labels = cv2.imread(str(folder / "labels" / "f000001.png"), cv2.IMREAD_UNCHANGED)
    assert labels.dtype == np.uint8 and set(np.unique(labels)) <= {ANY_DRIVABLE, ANY_NOT_DRIVABLE, IGNORE_INDEX}
    assert json.loads((folder / "autolabel.json").read_text())["frames"] == 3
    with pytest.raises(AutolabelError, match="labels already exists; pass --replace"):
        autolabel_folder(folder, AutolabelConfig(), load_label_set("warehouse"))

    # A person's label of the wrong size: one message naming the file, and the old labels untouched.
    (folder / "human").mkdir()
    cv2.imwrite(str(folder / "human" / "f000002.png"), np.full((10, 10), 2, np.uint8))
    before = {p.name: p.read_bytes() for p in (folder / "labels").iterdir()}
    with pytest.raises(AutolabelError, match=r"human/f000002.png: 10x10 px, but camera.yaml says 80x60"):
        autolabel_folder(folder, AutolabelConfig(), load_label_set("warehouse"), replace=True)
    assert {p.name: p.read_bytes() for p in (folder / "labels").iterdir()} == before
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) == []

    # A person's keep-out paint is kept over the geometry's labels, and scored as a class label.
    paint = np.full((K.height, K.width), IGNORE_INDEX, np.uint8)
    paint[55:, :] = 2
    cv2.imwrite(str(folder / "human" / "f000002.png"), paint)
    summary = autolabel_folder(folder, AutolabelConfig(), load_label_set("warehouse"), replace=True)
    assert summary.human_frames == 1
    labels = cv2.imread(str(folder / "labels" / "f000002.png"), cv2.IMREAD_UNCHANGED)
    assert (labels[55:, :] == 2).all()


def test_bad_folders_are_named(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "frames", n=2, truth=False)
    (folder / "depth" / "f000001.png").unlink()
    with pytest.raises(AutolabelError, match=r"depth/f000001.png: no such file \(frames.csv names frame f000001\)"):
        autolabel_folder(folder, AutolabelConfig(), load_label_set("warehouse"))
    assert not (folder / "labels").exists()
    (folder / FRAMES_FILE).write_text("name,stamp\nx,1\n")
    with pytest.raises(FrameFolderError, match=r"frames\.csv: expected the columns name,stamp_ns,x_m,y_m,yaw_rad"):
        autolabel_folder(folder, AutolabelConfig(), load_label_set("warehouse"))
    with pytest.raises(FrameFolderError, match=r"camera\.yaml: no such file"):
        autolabel_folder(tmp_path, AutolabelConfig(), load_label_set("warehouse"))


def test_the_command_line(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "frames")
    rvn = [sys.executable, "-m", "robot_vision_nav.cli"]
    done = subprocess.run([*rvn, "autolabel", str(folder), "--json"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["truth"]["drivable_precision"] == 1.0
    done = subprocess.run([*rvn, "autolabel", str(folder)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert (
        done.stderr.strip()
        == f"rvn autolabel: error: {folder / 'labels'} already exists; pass --replace to write new labels over it"
    )
    done = subprocess.run([*rvn, "autolabel", str(tmp_path / "none")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "frames folder" in done.stderr and "not found" in done.stderr


def test_eval_scores_a_frames_folder_against_its_ground_truth(tmp_path: Path) -> None:
    """`rvn eval --labels-dir truth`: a model scored on a frames folder's truth/, not its set labels."""
    folder = write_folder(tmp_path / "frames")
    model = Path(__file__).parents[1] / "models" / "segnet_warehouse.safetensors"
    args = [*RVN_EVAL, "--data-root", str(folder), "--model", str(model), "--device", "cpu", "--json"]
    done = subprocess.run([*args, "--labels-dir", "truth"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    truth = [cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in sorted((folder / "truth").iterdir())]
    assert json.loads(done.stdout)["labelled_pixels"] == sum(int((t != IGNORE_INDEX).sum()) for t in truth)
    done = subprocess.run([*args, "--labels-dir", "human"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "has no images/ and human/ folders" in done.stderr


RVN_EVAL = [sys.executable, "-m", "robot_vision_nav.cli", "eval", "--dataset", "synthetic"]
