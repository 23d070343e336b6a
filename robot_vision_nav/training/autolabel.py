"""Traversability labels from geometry and driving, without a person: `rvn autolabel`.

For each frame of a frames folder (`training.frame_folder`):

1. Depth pixels within `max_range_m` become points in base_link (camera model + mount).
2. A floor plane z = a x + b y + c is fitted to the points near z = 0 (least squares, twice, the second
   time on the first fit's inliers); with too few floor points the mount's own floor (z = 0) is used.
3. Height above that plane sorts the pixels:
   - floor height (|h| <= `floor_tolerance_m` + `floor_tolerance_per_m` x range) *and* under the robot's
     footprint swept along the whole odometry trajectory (odometry.csv): ANY_DRIVABLE (253), the robot drove there;
   - `min_obstacle_height_m` <= h <= `max_obstacle_height_m`, or below the floor by more than
     `min_obstacle_height_m` (a drop): ANY_NOT_DRIVABLE (254);
   - everything else, including floor the robot never drove over (paint geometry cannot see, such as
     keep-out zones) and pixels without depth: IGNORE_INDEX (255).
4. Labels from a person (`DIR/human/NAME.png`, train ids, 255 unlabelled) win wherever they label.

253 and 254 are set labels: "one of the drivable classes" / "one of the others" (the training loss
sums the probabilities of the set). The sweep uses the footprint radius less `footprint_margin_m`, so
odometry drift at its edge does not call a rack's foot drivable. ROS-free, numpy only.
"""

from __future__ import annotations

import functools
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from robot_vision_nav.core.geometry import CameraMount, PinholeIntrinsics, Pose2D
from robot_vision_nav.core.projection import DepthProjector
from robot_vision_nav.core.segmentation.labels import ANY_DRIVABLE, ANY_NOT_DRIVABLE, IGNORE_INDEX, LabelSet
from robot_vision_nav.core.units import MM_PER_M
from robot_vision_nav.files import write_bytes_atomic
from robot_vision_nav.training.autolabel_config import AutolabelConfig as AutolabelConfig  # re-exported
from robot_vision_nav.training.autolabel_config import AutolabelError as AutolabelError  # re-exported
from robot_vision_nav.training.frame_folder import (
    DEPTH_DIR,
    HUMAN_DIR,
    LABELS_DIR,
    TRUTH_DIR,
    read_camera,
    read_frames,
    read_odometry,
)

MIN_FLOOR_POINTS = 200  # fewer points near z = 0 than this: the mount's floor, not a fitted one


class SweptArea:
    """The floor the robot's footprint covered along a trajectory, rasterised in the odometry frame."""

    def __init__(self, trajectory: NDArray[np.float64], radius_m: float, resolution_m: float) -> None:
        """`trajectory`: Nx3 x_m, y_m, yaw_rad in stamp order (odometry.csv)."""
        if trajectory.ndim != 2 or trajectory.shape[1] != 3 or len(trajectory) == 0:
            raise AutolabelError(f"the trajectory needs at least one x, y, yaw row, got shape {trajectory.shape}")
        xy = trajectory[:, :2]
        # Densify: consecutive poses further apart than half a cell get points in between (segment i
        # gets steps[i] points at fractions 1/steps[i] .. 1 of the way to the next pose).
        steps = np.maximum(1, np.ceil(np.hypot(*np.diff(xy, axis=0).T) / (0.5 * resolution_m)).astype(np.int64))
        segment = np.repeat(np.arange(len(steps)), steps)
        k = np.arange(len(segment)) - np.repeat(np.cumsum(steps) - steps, steps) + 1
        fraction = (k / np.repeat(steps, steps))[:, None]
        points = np.concatenate([xy[:1], xy[segment] + (xy[segment + 1] - xy[segment]) * fraction])
        self.resolution_m = resolution_m
        self.origin = points.min(axis=0) - radius_m - resolution_m
        size = np.ceil((points.max(axis=0) + radius_m + resolution_m - self.origin) / resolution_m).astype(int) + 1
        self.covered = np.zeros((int(size[1]), int(size[0])), dtype=np.bool_)
        r = int(math.floor(radius_m / resolution_m))
        dy, dx = np.mgrid[-r : r + 1, -r : r + 1]
        disk = (dx * dx + dy * dy) * resolution_m**2 <= radius_m**2
        offsets = np.stack([dy[disk], dx[disk]], axis=1)
        centres = np.unique(np.floor((points - self.origin) / resolution_m).astype(int)[:, ::-1], axis=0)
        cells = (centres[:, None, :] + offsets[None, :, :]).reshape(-1, 2)
        self.covered[cells[:, 0], cells[:, 1]] = True

    def contains(self, x_m: NDArray[np.float64], y_m: NDArray[np.float64]) -> NDArray[np.bool_]:
        """True where (x, y) in the odometry frame lies in a covered cell."""
        col = np.floor((x_m - self.origin[0]) / self.resolution_m).astype(np.int64)
        row = np.floor((y_m - self.origin[1]) / self.resolution_m).astype(np.int64)
        rows, cols = self.covered.shape
        inside = (row >= 0) & (row < rows) & (col >= 0) & (col < cols)
        out = np.zeros(x_m.shape, dtype=np.bool_)
        out[inside] = self.covered[row[inside], col[inside]]
        return out


def points_in_base(
    depth_m: NDArray[np.float32], intrinsics: PinholeIntrinsics, mount: CameraMount
) -> NDArray[np.float64]:
    """HxWx3 points in base_link of every pixel (NaN where depth is 0 or not finite)."""
    h, w = depth_m.shape
    if (w, h) != (intrinsics.width, intrinsics.height):
        raise AutolabelError(f"depth is {w}x{h} px, the camera {intrinsics.width}x{intrinsics.height}")
    z = depth_m.astype(np.float64)
    z = np.where(np.isfinite(z) & (z > 0.0), z, np.nan)
    rays, origin = _rays(intrinsics, mount)
    base: NDArray[np.float64] = rays * z[..., None] + origin
    return base


@functools.lru_cache(maxsize=4)
def _rays(intrinsics: PinholeIntrinsics, mount: CameraMount) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """HxWx3 rays in base_link per metre of depth and the camera origin: the costmap's, made once per camera."""
    projector = DepthProjector(intrinsics, mount)
    return np.moveaxis(projector.rays, 0, -1).astype(np.float64), projector.t_base_camera


def fit_floor(points: NDArray[np.float64], search_m: float) -> tuple[float, float, float] | None:
    """(a, b, c) of the floor z = a x + b y + c from Nx3 base_link points near z = 0; None with too few."""
    near = points[np.abs(points[:, 2]) <= search_m]
    for _ in range(2):
        if len(near) < MIN_FLOOR_POINTS:
            return None
        design = np.column_stack([near[:, 0], near[:, 1], np.ones(len(near))])
        coef, *_ = np.linalg.lstsq(design, near[:, 2], rcond=None)
        residual = near[:, 2] - design @ coef
        near = near[np.abs(residual) <= max(0.02, 2.5 * float(np.std(residual)))]
    a, b, c = (float(v) for v in coef)
    if math.hypot(a, b) > 0.2:  # more than ~11 degrees: not the floor the robot stands on
        return None
    return a, b, c


def label_frame(
    depth_m: NDArray[np.float32],
    intrinsics: PinholeIntrinsics,
    mount: CameraMount,
    pose: Pose2D,
    swept: SweptArea,
    config: AutolabelConfig,
) -> tuple[NDArray[np.uint8], bool]:
    """HxW labels of one frame: ANY_DRIVABLE, ANY_NOT_DRIVABLE or IGNORE_INDEX (see the module docstring).

    Also whether the floor plane was fitted (False: too few floor points, the mount's z = 0 was used).
    """
    points = points_in_base(depth_m, intrinsics, mount)
    rng = np.linalg.norm(points - mount.translation_m(), axis=-1)
    valid = np.isfinite(rng) & (rng <= config.max_range_m)
    flat = points[valid]
    plane = fit_floor(flat, config.floor_search_m)
    a, b, c = plane or (0.0, 0.0, 0.0)
    height = points[..., 2] - (a * points[..., 0] + b * points[..., 1] + c)
    tolerance = config.floor_tolerance_m + config.floor_tolerance_per_m * rng
    floor = valid & (np.abs(height) <= tolerance)
    obstacle = valid & (
        ((height >= config.min_obstacle_height_m) & (height <= config.max_obstacle_height_m))
        | (height <= -config.min_obstacle_height_m)
    )
    labels = np.full(depth_m.shape, IGNORE_INDEX, dtype=np.uint8)
    labels[obstacle] = ANY_NOT_DRIVABLE
    if floor.any():
        bx, by = points[..., 0][floor], points[..., 1][floor]
        cos, sin = math.cos(pose.yaw_rad), math.sin(pose.yaw_rad)
        wx, wy = pose.x_m + cos * bx - sin * by, pose.y_m + sin * bx + cos * by
        drove = swept.contains(wx, wy)
        rows, cols = np.nonzero(floor)
        labels[rows[drove], cols[drove]] = ANY_DRIVABLE
    return labels, plane is not None


def merge_human(auto: NDArray[np.uint8], human: NDArray[np.uint8] | None) -> NDArray[np.uint8]:
    """`auto` with a person's labels put over it wherever they label (not IGNORE_INDEX)."""
    if human is None:
        return auto
    if human.shape != auto.shape:
        raise AutolabelError(f"human labels are {human.shape[1]}x{human.shape[0]} px, the frame {auto.shape[1]}x"
                             f"{auto.shape[0]}")  # fmt: skip
    return np.where(human != IGNORE_INDEX, human, auto).astype(np.uint8)


@dataclass
class LabelScores:
    """How labels compare with ground truth: per-label precision and the fraction of pixels labelled."""

    pixels: int = 0
    drivable: int = 0  # pixels labelled ANY_DRIVABLE
    drivable_right: int = 0  # ... whose true class is drivable
    not_drivable: int = 0
    not_drivable_right: int = 0
    classes: int = 0  # pixels labelled with a class id (a person's labels)
    classes_right: int = 0

    def add(self, labels: NDArray[np.uint8], truth: NDArray[np.uint8], drivable_lut: NDArray[np.bool_]) -> None:
        """Count one frame; truth pixels at IGNORE_INDEX are left out."""
        known = truth != IGNORE_INDEX
        true_drivable = drivable_lut[truth]
        self.pixels += int(known.sum())
        d = known & (labels == ANY_DRIVABLE)
        n = known & (labels == ANY_NOT_DRIVABLE)
        k = known & (labels < ANY_DRIVABLE)
        self.drivable += int(d.sum())
        self.drivable_right += int((d & true_drivable).sum())
        self.not_drivable += int(n.sum())
        self.not_drivable_right += int((n & ~true_drivable).sum())
        self.classes += int(k.sum())
        self.classes_right += int((k & (labels == truth)).sum())

    def as_dict(self) -> dict[str, float | int | None]:
        """Precision of each label (None where nothing got it) and the fractions labelled."""

        def ratio(a: int, b: int) -> float | None:
            return a / b if b else None

        return {
            "pixels": self.pixels,
            "drivable_precision": ratio(self.drivable_right, self.drivable),
            "not_drivable_precision": ratio(self.not_drivable_right, self.not_drivable),
            "class_precision": ratio(self.classes_right, self.classes),
            "labelled_fraction": ratio(self.drivable + self.not_drivable + self.classes, self.pixels),
            "drivable_fraction": ratio(self.drivable, self.pixels),
            "not_drivable_fraction": ratio(self.not_drivable, self.pixels),
        }


@dataclass(frozen=True)
class AutolabelSummary:
    """What `rvn autolabel` did: frames, settings, and scores against truth/ where the folder has it."""

    folder: str
    frames: int
    human_frames: int
    floor_fits: int  # frames whose floor plane was fitted (the others used z = 0)
    labelled: dict[str, float | int | None]  # fractions over all pixels
    truth: dict[str, float | int | None] | None
    config: dict[str, float]

    def as_dict(self) -> dict[str, object]:
        """For --json and autolabel.json."""
        return asdict(self)


def autolabel_folder(
    folder: Path,
    config: AutolabelConfig,
    label_set: LabelSet,
    *,
    replace: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> AutolabelSummary:
    """Write `folder/labels/` (and `folder/autolabel.json`) for every frame of a frames folder.

    `label_set` is the one human/ and truth/ hold ids of (which classes are drivable, for the scores).
    The labels are written to a temporary folder and swapped in when all are done: a failure leaves the
    folder as it was. `replace` allows replacing an existing labels/.

    Raises:
        AutolabelError / FrameFolderError: a file is missing or does not read, sizes disagree, or labels/
            exists without `replace`.

    """
    import cv2

    folder = Path(folder)
    camera = read_camera(folder)
    frames = read_frames(folder)
    swept = SweptArea(read_odometry(folder), config.robot_radius_m - config.footprint_margin_m,
                      config.sweep_resolution_m)  # fmt: skip
    out = folder / LABELS_DIR
    if out.exists() and not replace:
        raise AutolabelError(f"{out} already exists; pass --replace to write new labels over it")
    k = camera.intrinsics
    drivable_lut = label_set.drivable_lut()

    def read(sub: str, name: str, required: bool) -> NDArray[Any] | None:  # Any: uint8 or uint16 as stored
        path = folder / sub / f"{name}.png"
        if not path.is_file():
            if required:
                raise AutolabelError(f"{path}: no such file (frames.csv names frame {name})")
            return None
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if image is None or image.ndim != 2:
            raise AutolabelError(f"{path}: not a single-channel PNG")
        if image.shape != (k.height, k.width):
            raise AutolabelError(
                f"{path}: {image.shape[1]}x{image.shape[0]} px, but camera.yaml says {k.width}x{k.height}"
            )
        return np.asarray(image)

    tmp = Path(tempfile.mkdtemp(prefix=".labels.", suffix=".partial", dir=folder))
    scores = LabelScores()
    label_counts = np.zeros(256, dtype=np.int64)  # every pixel of every frame, by label value
    human_frames = fits = 0
    try:
        for i, frame in enumerate(frames):
            depth = read(DEPTH_DIR, frame.name, True)
            assert depth is not None
            if depth.dtype != np.uint16:
                raise AutolabelError(f"{folder / DEPTH_DIR / frame.name}.png: expected 16-bit millimetres")
            depth_m = depth.astype(np.float32) / MM_PER_M
            labels, fitted = label_frame(depth_m, k, camera.mount, frame.pose, swept, config)
            fits += fitted
            human = read(HUMAN_DIR, frame.name, False)
            if human is not None:
                bad = sorted(set(np.unique(human).tolist()) - {*range(label_set.num_classes), IGNORE_INDEX})
                if bad:
                    raise AutolabelError(
                        f"{folder / HUMAN_DIR / frame.name}.png: values {bad[:5]} are not class ids 0.."
                        f"{label_set.num_classes - 1} of {label_set.name!r} or {IGNORE_INDEX}"
                    )
                human_frames += 1
                labels = merge_human(labels, human.astype(np.uint8))
            truth = read(TRUTH_DIR, frame.name, False)
            label_counts += np.bincount(labels.ravel(), minlength=256)
            if truth is not None:
                scores.add(labels, truth.astype(np.uint8), drivable_lut)
            if not cv2.imwrite(str(tmp / f"{frame.name}.png"), labels):
                raise AutolabelError(f"cannot write {tmp / frame.name}.png")
            if progress is not None:
                progress(i + 1, len(frames))
        summary = AutolabelSummary(
            str(folder), len(frames), human_frames, fits,
            _fractions(label_counts),
            scores.as_dict() if scores.pixels else None, asdict(config),
        )  # fmt: skip
        os.chmod(tmp, 0o755)
        for path in tmp.iterdir():
            os.chmod(path, 0o644)
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=".labels.", suffix=".old", dir=folder))
            os.rename(out, old / "labels")
            os.rename(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    write_bytes_atomic(folder / "autolabel.json", (json.dumps(summary.as_dict(), indent=2) + "\n").encode())
    return summary


def _fractions(counts: NDArray[np.int64]) -> dict[str, float | int | None]:
    """The share of pixels labelled at all, drivable and not drivable, from counts by label value."""
    total = int(counts.sum())
    if not total:
        return {"labelled_fraction": None, "drivable_fraction": None, "not_drivable_fraction": None}
    return {
        "labelled_fraction": (total - int(counts[IGNORE_INDEX])) / total,
        "drivable_fraction": int(counts[ANY_DRIVABLE]) / total,
        "not_drivable_fraction": int(counts[ANY_NOT_DRIVABLE]) / total,
    }
