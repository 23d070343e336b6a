"""The frames folder: what `rvn bag frames` writes and `rvn autolabel`, `rvn train` and `rvn eval` read.

    DIR/camera.yaml        the camera: size, fx fy cx cy, distortion, frame ids, the mount in base_link,
                           where the mount came from, the bag and its topics
    DIR/frames.csv         one row per frame: name, stamp_ns, x_m, y_m, yaw_rad (base_link in the
                           odometry frame at the colour image's stamp, interpolated between odometry messages)
    DIR/odometry.csv       every odometry pose of the bag: stamp_ns, x_m, y_m, yaw_rad (where the robot drove)
    DIR/images/NAME.png    colour, 8-bit RGB
    DIR/depth/NAME.png     aligned depth, 16-bit millimetres, 0 = no depth
    DIR/truth/NAME.png     ground-truth class ids where the bag has them (the simulator's sim/labels)
    DIR/human/NAME.png     labels from a person (`rvn labels import --out DIR/human`), train ids, 255 unlabelled
    DIR/labels/NAME.png    training labels (`rvn autolabel`): train ids, 255 ignored, and the two set labels
                           ANY_DRIVABLE / ANY_NOT_DRIVABLE

`images/` + `labels/` is the image-folder dataset layout `rvn train --dataset folder` reads. ROS-free.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from numpy.typing import NDArray

from robot_vision_nav.core.geometry import CameraMount, GeometryError, PinholeIntrinsics, Pose2D

CAMERA_FILE = "camera.yaml"
FRAMES_FILE = "frames.csv"
ODOMETRY_FILE = "odometry.csv"
IMAGES_DIR, DEPTH_DIR, TRUTH_DIR, HUMAN_DIR, LABELS_DIR = "images", "depth", "truth", "human", "labels"
FRAME_FIELDS = ("name", "stamp_ns", "x_m", "y_m", "yaw_rad")
ODOMETRY_FIELDS = ("stamp_ns", "x_m", "y_m", "yaw_rad")


class FrameFolderError(ValueError):
    """A frames folder that is missing a file or holds one that does not read, naming it."""


@dataclass(frozen=True)
class CameraFile:
    """camera.yaml: the camera of every frame in the folder."""

    intrinsics: PinholeIntrinsics
    mount: CameraMount
    mount_source: str  # "--mount", or what gave the default
    frame_id: str = ""
    odom_frame: str = ""
    distortion_model: str = ""
    distortion: tuple[float, ...] = ()
    bag: str = ""
    topics: dict[str, str] | None = None

    def to_yaml(self) -> str:
        """The file's text."""
        k = self.intrinsics
        m = self.mount
        data = {
            "width": k.width,
            "height": k.height,
            "fx": k.fx,
            "fy": k.fy,
            "cx": k.cx,
            "cy": k.cy,
            "distortion_model": self.distortion_model,
            "distortion": list(self.distortion),
            "frame_id": self.frame_id,
            "odom_frame": self.odom_frame,
            "mount_xyzrpy": [m.x_m, m.y_m, m.z_m, m.roll_rad, m.pitch_rad, m.yaw_rad],
            "mount_source": self.mount_source,
            "bag": self.bag,
            "topics": dict(self.topics or {}),
        }
        text: str = yaml.safe_dump(data, sort_keys=False)
        return "# written by `rvn bag frames`; sizes px, mount m and rad (pitch > 0 looks down)\n" + text


def read_camera(folder: Path) -> CameraFile:
    """DIR/camera.yaml, checked."""
    path = Path(folder) / CAMERA_FILE
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError as err:
        raise FrameFolderError(f"{path}: no such file (is {folder} a folder `rvn bag frames` wrote?)") from err
    except (OSError, yaml.YAMLError) as err:
        raise FrameFolderError(f"{path}: not readable YAML: {err}") from err
    try:
        intrinsics = PinholeIntrinsics(
            float(data["fx"]), float(data["fy"]), float(data["cx"]), float(data["cy"]),
            int(data["width"]), int(data["height"]),
        )  # fmt: skip
        mount = CameraMount.from_sequence([float(v) for v in data["mount_xyzrpy"]])
        return CameraFile(
            intrinsics, mount, str(data.get("mount_source", "")), str(data.get("frame_id", "")),
            str(data.get("odom_frame", "")), str(data.get("distortion_model", "")),
            tuple(float(v) for v in data.get("distortion", [])), str(data.get("bag", "")),
            {str(a): str(b) for a, b in (data.get("topics") or {}).items()},
        )  # fmt: skip
    except (KeyError, TypeError, ValueError, AttributeError, GeometryError) as err:
        raise FrameFolderError(f"{path}: not a camera file: {err!r}") from err


@dataclass(frozen=True)
class Frame:
    """One row of frames.csv."""

    name: str
    pose: Pose2D  # base_link in the odometry frame at the image's stamp


def write_poses_csv(rows: list[tuple[str, Pose2D]] | list[Pose2D], fields: tuple[str, ...]) -> str:
    """frames.csv (rows of (name, pose)) or odometry.csv (rows of poses) as text; full float precision."""
    lines = [",".join(fields)]
    for row in rows:
        name, pose = row if isinstance(row, tuple) else ("", row)
        values = [str(int(pose.stamp_ns)), *(repr(float(v)) for v in (pose.x_m, pose.y_m, pose.yaw_rad))]
        lines.append(",".join([name, *values] if fields[0] == "name" else values))
    return "\n".join(lines) + "\n"


def _read_csv(path: Path, fields: tuple[str, ...]) -> list[dict[str, str]]:
    try:
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            if tuple(reader.fieldnames or ()) != fields:
                raise FrameFolderError(f"{path}: expected the columns {','.join(fields)}, got {reader.fieldnames}")
            return list(reader)
    except FileNotFoundError as err:
        raise FrameFolderError(f"{path}: no such file (is {path.parent} a folder `rvn bag frames` wrote?)") from err


def _pose(row: dict[str, str], path: Path, line: int) -> Pose2D:
    try:
        pose = Pose2D(float(row["x_m"]), float(row["y_m"]), float(row["yaw_rad"]), int(row["stamp_ns"]))
    except (TypeError, ValueError) as err:
        raise FrameFolderError(f"{path}, line {line}: not a pose: {err}") from err
    if not all(math.isfinite(v) for v in (pose.x_m, pose.y_m, pose.yaw_rad)):
        raise FrameFolderError(f"{path}, line {line}: pose is not finite")
    return pose


def read_frames(folder: Path) -> list[Frame]:
    """DIR/frames.csv in file order."""
    path = Path(folder) / FRAMES_FILE
    rows = _read_csv(path, FRAME_FIELDS)
    return [Frame(r["name"], _pose(r, path, i + 2)) for i, r in enumerate(rows)]


def read_odometry(folder: Path) -> NDArray[np.float64]:
    """DIR/odometry.csv as an Nx3 array of x_m, y_m, yaw_rad in stamp order."""
    path = Path(folder) / ODOMETRY_FILE
    rows = _read_csv(path, ODOMETRY_FIELDS)
    poses = sorted((_pose(r, path, i + 2) for i, r in enumerate(rows)), key=lambda p: p.stamp_ns)
    return np.array([(p.x_m, p.y_m, p.yaw_rad) for p in poses], dtype=np.float64).reshape(-1, 3)
