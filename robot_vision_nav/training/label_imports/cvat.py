"""CVAT's "Segmentation mask 1.1" export (the Pascal VOC segmentation layout) -> train-id label images.

The export, as an unzipped folder or the .zip CVAT downloads (files at its top or in one folder):

    labelmap.txt                      # label : color (RGB) : 'body' parts : actions, `#` comments
    ImageSets/Segmentation/*.txt      # item names without suffix, one a line (optional)
    SegmentationClass/NAME.png        # one colour per class (RGB, palette or grey)
    SegmentationObject/NAME.png       # instance colours: not read

Each colour of a class mask is looked up in labelmap.txt and its class name mapped through the
mapping YAML. A colour labelmap.txt lacks is an error naming the file and the colour, except
black (0, 0, 0) where labelmap.txt gives it no class: CVAT's unlabelled background, written as
ignore. Every class labelmap.txt names must be mapped, and every item an ImageSets list names
must have its mask. This module must never import ROS.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import cv2
import numpy as np
from numpy.typing import NDArray

from robot_vision_nav.training.label_imports.mapping import ClassMapping, ImportedLabel, LabelImportError

LABELMAP = "labelmap.txt"
MASK_DIR = "SegmentationClass"
LISTS_DIR = "ImageSets/Segmentation"
_BLACK = 0  # (0, 0, 0) packed: CVAT's background where labelmap.txt gives it no class

Color = tuple[int, int, int]


class _Export:
    """The files of an export, as paths relative to its top, from a folder or a .zip."""

    def __init__(self, src: Path) -> None:
        self.src = src
        self._zip: zipfile.ZipFile | None = None
        if src.is_dir():
            self.names = sorted(p.relative_to(src).as_posix() for p in src.rglob("*") if p.is_file())
        elif src.is_file():
            try:
                self._zip = zipfile.ZipFile(src)
            except (zipfile.BadZipFile, OSError) as err:
                raise LabelImportError(
                    f"CVAT export {str(src)!r} is neither a folder nor a readable .zip: {err}"
                ) from err
            self.names = sorted(n for n in self._zip.namelist() if not n.endswith("/"))
        else:
            raise LabelImportError(f"CVAT export {str(src)!r} does not exist (expected a folder or the .zip)")

    def close(self) -> None:
        """Close the .zip, if any."""
        if self._zip is not None:
            self._zip.close()

    def where(self, name: str) -> str:
        """`name` as a user finds it: a path in the folder, or `ZIP:member`."""
        return f"{self.src}:{name}" if self._zip is not None else str(self.src / name)

    def read(self, name: str) -> bytes:
        """The bytes of file `name`."""
        try:
            if self._zip is not None:
                return self._zip.read(name)
            return (self.src / name).read_bytes()
        except (OSError, zipfile.BadZipFile, KeyError) as err:
            raise LabelImportError(f"cannot read {self.where(name)!r}: {err}") from err


@dataclass(frozen=True)
class LabelMap:
    """labelmap.txt: class name -> colour, in file order."""

    colors: dict[str, Color]
    where: str


def parse_labelmap(text: str, where: str) -> LabelMap:
    """labelmap.txt's `name:r,g,b:parts:actions` lines (blank and `#` lines skipped); `where` names the file."""
    colors: dict[str, Color] = {}
    owner: dict[Color, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        # A class name may hold ':'; the three fields after it never do.
        fields = line.rsplit(":", 3)
        at = f"{where} line {number}"
        if len(fields) != 4:
            raise LabelImportError(f"{at}: {line!r}, expected 'name:r,g,b:parts:actions'")
        name, color_text = fields[0], fields[1]
        try:
            values = [int(v) for v in color_text.split(",")]
        except ValueError:
            values = []
        if len(values) != 3 or not all(0 <= v <= 255 for v in values):
            raise LabelImportError(f"{at}: colour {color_text!r} of {name!r}, expected r,g,b with integers 0..255")
        color = (values[0], values[1], values[2])
        if name in colors:
            raise LabelImportError(f"{at}: class {name!r} is listed twice")
        if color in owner:
            raise LabelImportError(f"{at}: {name!r} has the colour {color} of {owner[color]!r}; colours must differ")
        colors[name] = color
        owner[color] = name
    if not colors:
        raise LabelImportError(f"{where} lists no class")
    return LabelMap(colors, where)


def _pack(rgb: NDArray[np.uint8]) -> NDArray[np.int32]:
    """HxWx3 RGB -> HxW of r << 16 | g << 8 | b."""
    wide = rgb.astype(np.int32)
    return (wide[..., 0] << 16) | (wide[..., 1] << 8) | wide[..., 2]


def decode_mask(data: bytes, where: str) -> NDArray[np.uint8]:
    """A class-mask PNG as HxWx3 RGB: palette and grey masks expanded, an alpha channel dropped."""
    raw = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise LabelImportError(f"cannot decode the mask {where!r}: not an image OpenCV reads")
    if raw.dtype != np.uint8:
        raise LabelImportError(f"mask {where!r} is {raw.dtype}; expected 8-bit colours")
    if raw.ndim == 2:
        return np.repeat(raw[:, :, None], 3, axis=2)
    if raw.shape[2] == 4:
        raw = raw[:, :, :3]
    return np.ascontiguousarray(raw[:, :, ::-1])  # OpenCV decodes to BGR


def mask_to_train_ids(
    rgb: NDArray[np.uint8], labelmap: LabelMap, mapping: ClassMapping, where: str
) -> NDArray[np.uint8]:
    """A colour-coded class mask -> train ids; a colour labelmap.txt lacks raises LabelImportError naming it."""
    packed = _pack(rgb)
    codes, inverse = np.unique(packed, return_inverse=True)
    by_code = {(r << 16) | (g << 8) | b: name for name, (r, g, b) in labelmap.colors.items()}
    lut = np.empty(len(codes), dtype=np.uint8)
    for i, code in enumerate(int(c) for c in codes):
        name = by_code.get(code)
        if name is not None:
            lut[i] = mapping.train_ids[name]
        elif code == _BLACK:
            lut[i] = mapping.ignore_index
        else:
            color = (code >> 16, (code >> 8) & 255, code & 255)
            count = int(np.count_nonzero(packed == code))
            raise LabelImportError(
                f"mask {where!r} holds colour {color} ({count} pixels) that {labelmap.where!r} gives no class; "
                f"its colours are {', '.join(f'{n} {c}' for n, c in labelmap.colors.items())}"
            )
    return lut[inverse.reshape(packed.shape)]


def _top(export: _Export) -> PurePosixPath:
    """The folder of the export holding labelmap.txt: its top, or the one folder a .zip wraps it in."""
    found = [PurePosixPath(n).parent for n in export.names if PurePosixPath(n).name == LABELMAP]
    top = [p for p in found if not p.parts]
    found = top or [p for p in found if len(p.parts) == 1]
    if len(found) != 1:
        why = "no" if not found else "more than one"
        raise LabelImportError(
            f"{why} {LABELMAP} at the top of {str(export.src)!r}; expected CVAT's 'Segmentation mask 1.1' export "
            f"({LABELMAP}, {MASK_DIR}/*.png) as a folder or its .zip"
        )
    return found[0]


def read_cvat(src: Path, mapping: ClassMapping) -> Iterator[ImportedLabel]:
    """The labels of a CVAT "Segmentation mask 1.1" export (folder or .zip), one per `SegmentationClass/*.png`.

    Raises:
        LabelImportError: no labelmap.txt, an unmapped class, a colour labelmap.txt lacks, an item
            listed in ImageSets without its mask, an unreadable mask.

    """
    export = _Export(Path(src))
    try:
        top = _top(export)
        labelmap_name = (top / LABELMAP).as_posix()
        try:
            text = export.read(labelmap_name).decode("utf-8")
        except UnicodeDecodeError as err:
            raise LabelImportError(f"{export.where(labelmap_name)!r} is not UTF-8 text: {err}") from err
        labelmap = parse_labelmap(text, export.where(labelmap_name))
        mapping.require(labelmap.colors, repr(labelmap.where))
        mask_dir = top / MASK_DIR
        masks = {
            PurePosixPath(n).relative_to(mask_dir).with_suffix("").as_posix(): n
            for n in export.names
            if PurePosixPath(n).is_relative_to(mask_dir) and PurePosixPath(n).suffix.lower() == ".png"
        }
        lists_dir = top / LISTS_DIR
        for list_name in (n for n in export.names if PurePosixPath(n).parent == lists_dir and n.endswith(".txt")):
            for item in export.read(list_name).decode("utf-8", errors="replace").split():
                if item not in masks:
                    raise LabelImportError(
                        f"{export.where(list_name)!r} lists {item!r} but its mask "
                        f"{export.where((mask_dir / (item + '.png')).as_posix())!r} is missing"
                    )
        if not masks:
            raise LabelImportError(f"no masks {MASK_DIR}/*.png in {str(export.src)!r}")
        for item, name in sorted(masks.items()):
            where = export.where(name)
            rgb = decode_mask(export.read(name), where)
            yield ImportedLabel(PurePosixPath(item).name, mask_to_train_ids(rgb, labelmap, mapping, where), where)
    finally:
        export.close()
